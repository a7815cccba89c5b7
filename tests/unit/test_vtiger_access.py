"""Vtiger's Access grid: ``me().access`` per module from describe's createable / updateable /
deleteable / retrieveable flags (real capture, a scripted restricted user, the demo)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from crmdesk.backends import open_backend
from crmdesk.backends.transport import Transport
from crmdesk.backends.vtiger import wire
from crmdesk.backends.vtiger.backend import VtigerBackend
from crmdesk.core.connection import ConnectionProfile, Secrets
from crmdesk.demo.server import DemoServer

CAPTURE = Path("/work/shared/peers/vtiger/meta_describe_Accounts.json")
FULL = frozenset({"view", "create", "edit", "delete"})


def test_flags_of_a_real_describe() -> None:
    result = json.loads(CAPTURE.read_text())["body"]["result"]
    assert wire.parse_module_access(result) == FULL
    restricted = {**result, "createable": False, "deleteable": "0"}
    assert wire.parse_module_access(restricted) == frozenset({"view", "edit"})
    assert wire.parse_module_access({"name": "Accounts"}) is None
    assert wire.parse_module_access([]) is None


def _restricted(request: httpx.Request) -> httpx.Response:
    """Cloud REST: a sales user who may read Leads only, and change Accounts."""
    params: dict[str, Any] = dict(request.url.params)
    if request.method == "POST":
        params.update({k: v[0] for k, v in parse_qs(request.content.decode()).items()})
    op = request.url.path.rsplit("/", 1)[1]
    if op == "me":
        result: Any = {"id": "19x5", "user_name": "sales", "first_name": "Sal", "is_admin": "off"}
    elif op == "listtypes":
        result = {
            "types": ["Accounts", "Leads", "Currency"],
            "information": {
                "Accounts": {"isEntity": True, "label": "Organizations", "singular": "Org"},
                "Leads": {"isEntity": True, "label": "Leads", "singular": "Lead"},
                "Currency": {"isEntity": False, "label": "Currency", "singular": "Currency"},
            },
        }
    elif op == "describe":
        name = params["elementType"]
        keys = ("retrieveable", "updateable", "createable", "deleteable")
        flags = {
            "Accounts": (True, True, True, False),
            "Leads": (True, False, False, False),
        }[name]
        result = {
            "name": name, "label": name, "idPrefix": "11" if name == "Accounts" else "10",
            "isEntity": True, "labelFields": "name",
            "fields": [{"name": "name", "label": "Name", "type": {"name": "string"}}],
            **dict(zip(keys, flags, strict=True)),
        }  # fmt: skip
    else:
        return httpx.Response(500, headers={"content-type": "text/html"}, content=b"")
    return httpx.Response(200, json={"success": True, "result": result})


async def test_me_carries_the_rights_of_every_entity_module() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path.rsplit("/", 1)[1])
        return _restricted(request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    profile = ConnectionProfile("t", "vtiger", "http://vt.test", auth="rest", username="sales")
    b = VtigerBackend(profile, Secrets(access_key="k"), Transport(client, backoff=0))
    await b.connect()
    user = await b.me()
    assert user.access == {
        "Accounts": frozenset({"view", "edit", "create"}),
        "Leads": frozenset({"view"}),
    }
    assert calls.count("describe") == 2  # entity modules only, once each
    again = await b.me()
    assert again.access == user.access
    assert calls.count("describe") == 2
    await b.close()


@pytest.mark.parametrize("flavour", ["rest", "webservice"])
async def test_demo_access_grid_is_filled(demo_server: DemoServer, flavour: str) -> None:
    be = open_backend(
        demo_server.profile("vtiger", flavour), demo_server.secrets("vtiger", flavour)
    )
    await be.connect()
    try:
        user = await be.me()
        entity = {m.name for m in await be.modules() if m.entity}
        assert user.access["Accounts"] == FULL
        assert set(user.access) == entity
    finally:
        await be.close()
