"""A broken server over real loopback HTTP: every dialect, list / get / describe / update,
every fault the demo server can inject (HTML page, empty body, truncated body, 500, 502,
503, dropped connection, no answer in time).

Each must end as the right core error, with a message that names the problem and advice,
and the backend must keep working once the server is healthy again.  For a failed save the
record on the server is unchanged (when the request never reached the CRM) and a retry
of the same edit succeeds; nothing the user typed is lost.

Retries are switched off (``transport.retries = 0``) so one injected fault is one failure;
:func:`test_retry_rides_out_one_bad_gateway` checks the default retries separately.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from crmdesk.backends import open_backend
from crmdesk.core.backend import Backend
from crmdesk.core.errors import (
    Conflict,
    CrmError,
    ProtocolError,
    ServerError,
    Unavailable,
)
from crmdesk.core.query import Query
from crmdesk.core.records import PageRequest, Record, Value
from crmdesk.demo.server import DemoServer


@dataclass(frozen=True)
class Flavour:
    name: str
    dialect: str
    auth: str
    module: str
    field: str
    #: Values a new record needs besides ``field``.
    required: dict[str, Value]
    #: (path regex, method or None) per operation; the faults hit only these requests.
    paths: dict[str, tuple[str, str | None]]


FLAVOURS = (
    Flavour(
        "suitecrm",
        "suitecrm",
        "password",
        "Contacts",
        "last_name",
        {},
        {
            "describe": (r"/suitecrm/Api/V8/meta/fields/Contacts$", "GET"),
            "list": (r"/suitecrm/Api/V8/module/Contacts$", "GET"),
            "get": (r"/suitecrm/Api/V8/module/Contacts/[^/]+$", "GET"),
            "update": (r"/suitecrm/Api/V8/module$", "PATCH"),
        },
    ),
    Flavour(
        "sugarcrm",
        "sugarcrm",
        "password",
        "Contacts",
        "last_name",
        {},
        {
            "describe": (r"/sugarcrm/rest/v11_4/(metadata|lang/.*)$", "GET"),
            "list": (r"/sugarcrm/rest/v11_4/Contacts/filter$", "POST"),
            "get": (r"/sugarcrm/rest/v11_4/Contacts/[^/]+$", "GET"),
            "update": (r"/sugarcrm/rest/v11_4/Contacts/[^/]+$", "PUT"),
        },
    ),
    Flavour(
        "espocrm",
        "espocrm",
        "password",
        "Contact",
        "lastName",
        {},
        {
            "describe": (r"/espocrm/api/v1/(Metadata|I18n|Contact/layout/.*)$", "GET"),
            "list": (r"/espocrm/api/v1/Contact$", "GET"),
            "get": (r"/espocrm/api/v1/Contact/[^/]+$", "GET"),
            "update": (r"/espocrm/api/v1/Contact/[^/]+$", "PUT"),
        },
    ),
    Flavour(
        "vtiger-webservice",
        "vtiger",
        "webservice",
        "Contacts",
        "lastname",
        {"assigned_user_id": "19x1"},
        {
            "describe": (r"/vtiger/webservice\.php$", "GET"),
            "list": (r"/vtiger/webservice\.php$", "GET"),
            "get": (r"/vtiger/webservice\.php$", "GET"),
            "update": (r"/vtiger/webservice\.php$", "POST"),
        },
    ),
    Flavour(
        "vtiger-rest",
        "vtiger",
        "rest",
        "Contacts",
        "lastname",
        {"assigned_user_id": "19x1"},
        {
            "describe": (r"/vtiger/restapi/v1/vtiger/default/(describe|relatedtypes)$", "GET"),
            "list": (r"/vtiger/restapi/v1/vtiger/default/query$", "GET"),
            "get": (r"/vtiger/restapi/v1/vtiger/default/retrieve$", "GET"),
            "update": (r"/vtiger/restapi/v1/vtiger/default/revise$", "POST"),
        },
    ),
)

#: fault kind → (error class, words one of which the message must contain)
FAULTS: dict[str, tuple[type[CrmError], tuple[str, ...]]] = {
    "html": (ProtocolError, ("HTML",)),
    "empty": (ProtocolError, ("empty",)),
    "truncated": (ProtocolError, ("cut off",)),
    "status:500": (ServerError, ("500", "failed")),
    "status:502": (Unavailable, ("502", "unavailable", "not reachable")),
    "status:503": (Unavailable, ("503", "unavailable", "not reachable")),
    "drop": (Unavailable, ("broke off", "connection")),
    "delay:2": (Unavailable, ("in time",)),
}
#: Faults the demo server answers before the CRM app sees the request: a failed save
#: there must leave the record exactly as it was.
NEVER_REACHES_CRM = frozenset({"html", "empty", "status:500", "status:502", "status:503", "drop"})
READ_TIMEOUT = 0.6


def _open(server: DemoServer, flavour: Flavour, cache_dir: Path) -> Backend:
    """A backend with its own empty metadata cache (Sugar and EspoCRM keep one between
    sessions; a warm cache would answer ``describe`` without asking the faulty server)."""
    base = server.profile(flavour.dialect, flavour.auth)
    profile = dataclasses.replace(
        base, read_timeout=READ_TIMEOUT, options={**base.options, "cache_dir": str(cache_dir)}
    )
    backend = open_backend(profile, server.secrets(flavour.dialect, flavour.auth))
    backend.transport.retries = 0  # type: ignore[attr-defined]
    return backend


@pytest.fixture(params=FLAVOURS, ids=[f.name for f in FLAVOURS])
def flavour(request: pytest.FixtureRequest) -> Flavour:
    result: Flavour = request.param
    return result


@pytest.fixture
async def backend(
    demo_server: DemoServer, flavour: Flavour, tmp_path: Path
) -> AsyncIterator[Backend]:
    b = _open(demo_server, flavour, tmp_path)
    await b.connect()
    try:
        yield b
    finally:
        demo_server.faults.clear()
        await b.close()


async def _new_record(backend: Backend, flavour: Flavour) -> Record:
    return await backend.create(
        flavour.module, {flavour.field: f"Hostile {uuid.uuid4().hex[:8]}", **flavour.required}
    )


def _check_error(err: CrmError, kind: str) -> None:
    expected, words = FAULTS[kind]
    assert isinstance(err, expected), f"{kind}: {type(err).__name__}: {err}"
    text = f"{err.message} {err.advice}".lower()
    assert any(w.lower() in text for w in words), f"{kind}: message says {err.message!r}"
    assert err.advice, f"{kind}: no advice in {err.message!r}"
    assert "Traceback" not in err.message
    assert "<b>" not in err.message  # no raw HTML from the page in what the user reads


async def _run(backend: Backend, flavour: Flavour, op: str, rec: Record | None) -> Any:
    if op == "describe":
        return await backend.describe(flavour.module)
    if op == "list":
        return await backend.list_records(flavour.module, Query(), PageRequest(size=5))
    assert rec is not None
    if op == "get":
        return await backend.get(flavour.module, rec.id)
    return await backend.update(
        flavour.module, rec.id, {flavour.field: "Hostile saved"}, rec.version
    )


@pytest.mark.parametrize("kind", list(FAULTS))
@pytest.mark.parametrize("op", ["describe", "list", "get"])
async def test_read_fault(
    demo_server: DemoServer, backend: Backend, flavour: Flavour, op: str, kind: str
) -> None:
    rec: Record | None = None
    if op != "describe":
        await backend.describe(flavour.module)  # metadata cached: the fault hits the op itself
        rec = await _new_record(backend, flavour) if op == "get" else None
    regex, method = flavour.paths[op]
    demo_server.faults.inject(regex, kind, times=None, method=method)
    with pytest.raises(CrmError) as info:
        await _run(backend, flavour, op, rec)
    _check_error(info.value, kind)
    demo_server.faults.clear()
    result = await _run(backend, flavour, op, rec)  # the same backend works again
    assert result is not None


@pytest.mark.parametrize("kind", list(FAULTS))
async def test_failed_save_loses_nothing(
    demo_server: DemoServer, backend: Backend, flavour: Flavour, kind: str
) -> None:
    rec = await _new_record(backend, flavour)
    before = await backend.get(flavour.module, rec.id)
    regex, method = flavour.paths["update"]
    demo_server.faults.inject(regex, kind, times=None, method=method)
    with pytest.raises(CrmError) as info:
        await _run(backend, flavour, "update", before)
    _check_error(info.value, kind)
    demo_server.faults.clear()

    after = await backend.get(flavour.module, rec.id)
    if kind in NEVER_REACHES_CRM:
        assert after.values == before.values, "a failed save changed the record"
        assert after.version == before.version
    # The user saves the same edit again: it goes through, or (when the lost answer hid a
    # save that did happen) a Conflict carries the server's record, which holds the edit.
    conflict: Conflict | None = None
    try:
        saved: Record | None = await _run(backend, flavour, "update", before)
    except Conflict as exc:
        conflict, saved = exc, exc.current
    if conflict is not None:
        assert kind not in NEVER_REACHES_CRM, f"retry after {kind} conflicted: {conflict}"
    assert saved is not None
    assert saved.get(flavour.field) == "Hostile saved"
    final = await backend.get(flavour.module, rec.id)
    assert final.get(flavour.field) == "Hostile saved"


async def test_retry_rides_out_one_bad_gateway(demo_server: DemoServer, flavour: Flavour) -> None:
    """With the default retries, one 502 and one dropped connection on a read go unnoticed."""
    b = open_backend(
        demo_server.profile(flavour.dialect, flavour.auth),
        demo_server.secrets(flavour.dialect, flavour.auth),
    )
    b.transport.backoff = 0.01  # type: ignore[attr-defined]
    try:
        await b.connect()
        await b.describe(flavour.module)
        regex, method = flavour.paths["list"]
        demo_server.faults.inject(regex, "status:502", times=1, method=method)
        demo_server.faults.inject(regex, "drop", times=1, method=method)
        page = await b.list_records(flavour.module, Query(), PageRequest(size=5))
        assert page.records
        assert not demo_server.faults.pending()
    finally:
        demo_server.faults.clear()
        await b.close()
