"""Vtiger's Access grid: ``me().access`` per module from describe's createable / updateable /
deleteable / retrieveable flags (real capture, a scripted restricted user, the demo)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from crmdesk.backends import open_backend
from crmdesk.backends.transport import Transport
from crmdesk.backends.vtiger import wire
from crmdesk.backends.vtiger.backend import EDITION_LIMIT_SERVICES, VtigerBackend
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


async def test_me_answers_at_once_and_full_fills_every_entity_module() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path.rsplit("/", 1)[1])
        return _restricted(request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    profile = ConnectionProfile("t", "vtiger", "http://vt.test", auth="rest", username="sales")
    b = VtigerBackend(profile, Secrets(access_key="k"), Transport(client, backoff=0))
    await b.connect()
    first = await b.me()
    assert first.user_name == "sales"
    assert first.access == {}  # nothing described yet: unknown, not denied
    assert "describe" not in calls
    assert "listtypes" not in calls

    steps: list[tuple[int, int]] = []
    await b.fill_access(lambda done, total: steps.append((done, total)))
    assert steps == [(0, 2), (1, 2), (2, 2)]
    user = await b.me()
    assert user.access == {
        "Accounts": frozenset({"view", "edit", "create"}),
        "Leads": frozenset({"view"}),
    }
    assert calls.count("describe") == 2  # entity modules only, once each
    again = await b.me(full=True)
    assert again.access == user.access
    assert calls.count("describe") == 2
    await b.close()


async def test_full_pass_skips_modules_already_described() -> None:
    described: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/describe"):
            described.append(request.url.params["elementType"])
        return _restricted(request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    profile = ConnectionProfile("t", "vtiger", "http://vt.test", auth="rest", username="sales")
    b = VtigerBackend(profile, Secrets(access_key="k"), Transport(client, backoff=0))
    await b.connect()
    await b.describe("Leads")  # the user opened Leads
    assert (await b.me()).access == {"Leads": frozenset({"view"})}
    user = await b.me(full=True)
    assert set(user.access) == {"Accounts", "Leads"}
    assert described == ["Leads", "Accounts"]
    await b.close()


def _counting(be: object) -> list[str]:
    """The describe calls ``be`` sends from now on (module names), by an event hook."""
    assert isinstance(be, VtigerBackend)
    described: list[str] = []

    async def hook(request: httpx.Request) -> None:
        params = dict(request.url.params)
        if request.method == "POST":
            params.update({k: v[0] for k, v in parse_qs(request.content.decode()).items()})
        op = params.get("operation") or request.url.path.rsplit("/", 1)[1]
        if op == "describe":
            described.append(params["elementType"])

    be.transport.client.event_hooks["request"].append(hook)
    return described


@pytest.mark.parametrize("flavour", ["rest", "webservice"])
async def test_demo_connect_and_me_describe_nothing(demo_server: DemoServer, flavour: str) -> None:
    be = open_backend(
        demo_server.profile("vtiger", flavour), demo_server.secrets("vtiger", flavour)
    )
    described = _counting(be)
    await be.connect()
    try:
        user = await be.me()
        assert user.user_name == demo_server.credentials.username
        assert described == []
        assert user.access == {}
        # Opening a module describes it, and its rights come with it.
        await be.describe("Accounts")
        assert described == ["Accounts"]
        assert (await be.me()).access == {"Accounts": FULL}
        assert described == ["Accounts"]
    finally:
        await be.close()


@pytest.mark.parametrize("flavour", ["rest", "webservice"])
async def test_demo_access_grid_is_filled(demo_server: DemoServer, flavour: str) -> None:
    be = open_backend(
        demo_server.profile("vtiger", flavour), demo_server.secrets("vtiger", flavour)
    )
    described = _counting(be)
    await be.connect()
    try:
        assert isinstance(be, VtigerBackend)
        user = await be.me(full=True)
        entity = {m.name for m in await be.modules() if m.entity}
        assert user.access["Accounts"] == FULL
        assert set(user.access) == entity
        assert sorted(described) == sorted(entity)  # each once
        await be.me(full=True)
        assert sorted(described) == sorted(entity)
    finally:
        await be.close()


async def test_me_asks_the_edition_limits_together_once_the_first_answers() -> None:
    """Cloud REST: the first limit alone (does the server have the call?), then the others at
    once (me() is on the first screen's path); one refused is left out, the order kept."""
    in_flight = peak = 0
    asked: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        if not request.url.path.endswith("/editionLimits"):
            return _restricted(request)
        service = request.url.params["serviceName"]
        asked.append(service)
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.02)
        in_flight -= 1
        if service == "WORKFLOW_LIMIT":
            error = {
                "code": "ACCESS_DENIED",
                "message": "Permission to perform the operation is denied",
            }
            return httpx.Response(200, json={"success": False, "error": error})
        return httpx.Response(200, json={"success": True, "result": {"limit": f"{len(asked)}"}})

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    profile = ConnectionProfile("t", "vtiger", "http://vt.test", auth="rest", username="sales")
    b = VtigerBackend(profile, Secrets(access_key="k"), Transport(client, backoff=0))
    await b.connect()
    user = await b.me()
    await b.close()
    assert asked[0] == "DOCUMENT_UPLOAD_FILE_LIMIT"
    assert sorted(asked) == sorted(EDITION_LIMIT_SERVICES)
    assert peak == len(EDITION_LIMIT_SERVICES) - 1
    shown = [k.removeprefix("Edition limit ") for k in user.extra if k.startswith("Edition")]
    assert shown == [s for s in EDITION_LIMIT_SERVICES if s != "WORKFLOW_LIMIT"]
    assert user.extra["Edition limit DOCUMENT_UPLOAD_FILE_LIMIT"] == "1"


async def test_no_edition_limits_when_the_first_is_refused() -> None:
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/editionLimits"):
            asked.append(request.url.params["serviceName"])
        return _restricted(request)  # editionLimits: a 500 HTML page

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    profile = ConnectionProfile("t", "vtiger", "http://vt.test", auth="rest", username="sales")
    b = VtigerBackend(profile, Secrets(access_key="k"), Transport(client, backoff=0))
    await b.connect()
    user = await b.me()
    await b.close()
    assert asked == ["DOCUMENT_UPLOAD_FILE_LIMIT"]
    assert not [k for k in user.extra if k.startswith("Edition")]


def _operations(be: object) -> list[str]:
    """Every operation ``be`` sends from now on, in order, by an event hook on its client."""
    assert isinstance(be, VtigerBackend)
    sent: list[str] = []

    async def hook(request: httpx.Request) -> None:
        params = dict(request.url.params)
        if request.method == "POST":
            params.update({k: v[0] for k, v in parse_qs(request.content.decode()).items()})
        sent.append(params.get("operation") or request.url.path.rsplit("/", 1)[1])

    be.transport.client.event_hooks["request"].append(hook)
    return sent


async def test_demo_me_costs_no_request_on_webservice(demo_server: DemoServer) -> None:
    """webservice.php: the login answer is the user's profile, so me() sends nothing (it
    used to send editionLimits, a Cloud-only call that always fails there); REST asks `me`
    and the limits once.  Both flavours describe the same user."""
    users = {}
    for flavour in ("webservice", "rest"):
        be = open_backend(
            demo_server.profile("vtiger", flavour), demo_server.secrets("vtiger", flavour)
        )
        sent = _operations(be)
        await be.connect()
        try:
            signed_in = list(sent)
            users[flavour] = await be.me()
            first = sent[len(signed_in) :]
            assert await be.me() == users[flavour]
            again = sent[len(signed_in) + len(first) :]
        finally:
            await be.close()
        if flavour == "webservice":
            assert signed_in == ["getchallenge", "login"]
            assert first == []
        else:
            assert signed_in == ["me"]
            assert first == ["editionLimits"] * len(EDITION_LIMIT_SERVICES)
        assert again == []
    ws, rest = users["webservice"], users["rest"]
    assert ws.user_name == rest.user_name == demo_server.credentials.username
    assert ws.id == rest.id
    assert ws.display_name == rest.display_name
    assert ws.display_name != ws.user_name  # first and last name came with the login
    assert ws.email == rest.email != ""
    assert ws.is_admin is rest.is_admin is True
    assert "sessionName" not in ws.extra
    assert not [k for k in ws.extra if k.startswith("Edition")]
    assert rest.extra["Edition limit STORAGE"] == "5GB"
