"""SuiteCRM-specific behaviour of the adapter, against the demo server over loopback."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import httpx
import pytest

from crmdesk.backends import open_backend
from crmdesk.backends.redact import MASK, redact
from crmdesk.backends.suitecrm import SuiteCrmBackend
from crmdesk.core import errors as E
from crmdesk.core.connection import ConnectionProfile
from crmdesk.core.query import Condition, Op, Query, SortKey
from crmdesk.core.records import PageRequest, Version
from crmdesk.core.schema import FieldType
from crmdesk.demo.server import DemoServer


def _open(server: DemoServer, auth: str = "password", **secrets: str) -> SuiteCrmBackend:
    s = server.secrets("suitecrm", auth)
    if secrets:
        s = s.with_(**secrets)
    backend = open_backend(server.profile("suitecrm", auth), s)
    assert isinstance(backend, SuiteCrmBackend)
    return backend


@pytest.fixture
async def suite(demo_server: DemoServer) -> AsyncIterator[SuiteCrmBackend]:
    backend = _open(demo_server)
    await backend.connect()
    try:
        yield backend
    finally:
        await backend.close()


async def test_legacy_prefix_is_detected(demo_server: DemoServer) -> None:
    demo_server.suitecrm_legacy_only = True
    backend = _open(demo_server)
    try:
        await backend.connect()
        assert backend.api_root is not None
        assert backend.api_root.endswith("/suitecrm/legacy/Api")
        page = await backend.list_records("Accounts", Query(), PageRequest(size=2))
        assert len(page.records) == 2
    finally:
        await backend.close()


async def test_wrong_base_url_says_legacy(demo_server: DemoServer) -> None:
    profile = demo_server.profile("suitecrm")
    wrong = ConnectionProfile(
        name="x",
        dialect="suitecrm",
        base_url=demo_server.url + "/nothing-here",
        username=profile.username,
        options=profile.options,
    )
    backend = open_backend(wrong, demo_server.secrets("suitecrm"))
    try:
        with pytest.raises(E.NotFound) as info:
            await backend.connect()
        assert "/legacy/" in info.value.advice
    finally:
        await backend.close()


async def test_wrong_password_is_auth_error_without_the_password(
    demo_server: DemoServer, caplog: pytest.LogCaptureFixture
) -> None:
    bad = "Wrong-Pass-" + "x7q9"
    backend = _open(demo_server, password=bad)
    try:
        with caplog.at_level(logging.DEBUG), pytest.raises(E.AuthError) as info:
            await backend.connect()
        err = info.value
        assert bad not in f"{err} {err.detail} {err.advice}"
        assert bad not in caplog.text
    finally:
        await backend.close()


async def test_wrong_client_secret_is_auth_error(demo_server: DemoServer) -> None:
    backend = _open(demo_server, client_secret="not-the-secret-at-all")
    try:
        with pytest.raises(E.AuthError, match="client"):
            await backend.connect()
    finally:
        await backend.close()


async def test_client_credentials_acts_as_the_clients_user(demo_server: DemoServer) -> None:
    backend = _open(demo_server, "client_credentials")
    try:
        await backend.connect()
        assert backend.auth.refresh_token is None
        me = await backend.me()
        assert me.id
        assert "Accounts" in me.access
    finally:
        await backend.close()


async def test_tokens_are_redacted_and_reported(demo_server: DemoServer) -> None:
    backend = _open(demo_server)
    pairs: list[tuple[str, str | None]] = []
    backend.on_tokens = lambda a, r: pairs.append((a, r))
    try:
        await backend.connect()
        assert len(pairs) == 1
        access, refresh = pairs[0]
        assert refresh is not None
        assert redact(f"x {access} y {refresh}") == f"x {MASK} y {MASK}"
    finally:
        await backend.close()


async def test_parallel_requests_after_expiry_refresh_once(
    demo_server: DemoServer, suite: SuiteCrmBackend
) -> None:
    pairs: list[tuple[str, str | None]] = []
    suite.on_tokens = lambda a, r: pairs.append((a, r))
    old_refresh = suite.auth.refresh_token
    demo_server.expire_tokens()
    pages = await asyncio.gather(
        *(suite.list_records("Accounts", Query(), PageRequest(size=1)) for _ in range(6))
    )
    assert all(len(p.records) == 1 for p in pages)
    assert len(pairs) == 1  # one refresh for all six
    assert pairs[0][1] != old_refresh  # the refresh token rotated


async def test_refused_refresh_token_falls_back_to_sign_in(
    demo_server: DemoServer, suite: SuiteCrmBackend
) -> None:
    suite.auth.refresh_token = "def502-not-a-real-refresh-token"
    demo_server.expire_tokens()
    page = await suite.list_records("Accounts", Query(), PageRequest(size=1))
    assert len(page.records) == 1


async def test_close_logs_out(demo_server: DemoServer) -> None:
    backend = _open(demo_server)
    await backend.connect()
    token = backend.auth.access_token
    root = backend.api_root
    await backend.close()
    async with httpx.AsyncClient() as client:
        r = await client.get(
            f"{root}/V8/module/Accounts",
            params={"page[size]": "1"},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert r.status_code == 401


async def test_describe_maps_types_and_uses_the_extension(suite: SuiteCrmBackend) -> None:
    contacts = await suite.describe("Contacts")
    assert contacts.field("lawful_basis").type is FieldType.MULTIENUM  # type: ignore[union-attr]
    source = contacts.field("lead_source")
    assert source is not None
    assert source.type is FieldType.ENUM
    assert source.options  # from the crmdesk vardefs extension
    acc = contacts.field("account_id")
    assert acc is not None
    assert acc.relate_module == "Accounts"
    assert acc.relate_name_field == "account_name"
    assert contacts.link("accounts") is not None
    assert "fields" in contacts.raw
    assert await suite.describe("Contacts") is contacts  # cached per connection


async def test_describe_without_the_extension_falls_back(demo_server: DemoServer) -> None:
    demo_server.faults.inject(r"crmdesk/vardefs", "html:404", times=None)
    backend = _open(demo_server)
    try:
        await backend.connect()
        accounts = await backend.describe("Accounts")
        industry = accounts.field("industry")
        assert industry is not None
        assert industry.type is FieldType.ENUM
        assert industry.options == ()
        assert accounts.field("billing_address_city").label == "Billing address city"  # type: ignore[union-attr]
        await backend.describe("Contacts")
        vardef_hits = [f for f in demo_server.faults.pending() if f.hits]
        assert vardef_hits[0].hits == 1  # asked once per connection, then remembered
    finally:
        await backend.close()


async def test_unsupported_queries_fail_before_any_request(suite: SuiteCrmBackend) -> None:
    with pytest.raises(E.Unsupported):
        await suite.list_records(
            "Accounts", Query(filter=Condition("name", Op.IN, ("a", "b"))), PageRequest()
        )
    with pytest.raises(E.Unsupported):
        await suite.list_records(
            "Accounts", Query(sort=(SortKey("name"), SortKey("industry"))), PageRequest()
        )
    with pytest.raises(E.Unsupported, match="not stored"):
        await suite.list_records(
            "Contacts", Query(filter=Condition("account_name", Op.EQ, "x")), PageRequest()
        )


async def test_best_effort_conflict_and_email_guard(suite: SuiteCrmBackend) -> None:
    rec = await suite.create("Accounts", {"name": "crmdesk conflict test"})
    try:
        with pytest.raises(E.Conflict) as info:
            await suite.update(
                "Accounts", rec.id, {"name": "x"}, Version("2001-01-01T00:00:00+00:00")
            )
        assert info.value.current is not None
        assert info.value.current.id == rec.id
        ok = await suite.update("Accounts", rec.id, {"name": "renamed"}, rec.version)
        assert ok.get("name") == "renamed"
        with pytest.raises(E.ValidationError) as err:
            await suite.update("Accounts", rec.id, {"email1": "a@b.test"})
        assert "email1" in err.value.fields
    finally:
        await suite.delete("Accounts", rec.id)


async def test_unknown_field_on_create_is_a_validation_error(suite: SuiteCrmBackend) -> None:
    with pytest.raises(E.ValidationError) as info:
        await suite.create("Accounts", {"name": "x", "no_such_field": "1"})
    assert "no_such_field" in info.value.fields


async def test_count_is_exact(suite: SuiteCrmBackend) -> None:
    q = Query(filter=Condition("name", Op.STARTS, "A"))
    n = await suite.count("Accounts", q)
    assert n is not None
    seen = 0
    cursor = None
    while True:
        page = await suite.list_records("Accounts", q, PageRequest(size=100, cursor=cursor))
        seen += len(page.records)
        cursor = page.next
        if cursor is None:
            break
    assert n == seen


async def test_raw_request_for_the_console(suite: SuiteCrmBackend) -> None:
    r = await suite.raw_request("GET", "V8/meta/modules")
    assert r.status == 200
    assert r.is_json
    assert isinstance(r.json, dict)
    assert "Accounts" in r.json["data"]["attributes"]
    assert not any(k.lower() == "authorization" for k in r.headers)
    missing = await suite.raw_request("GET", "/Api/V8/no/such/route")
    assert missing.status == 404
    assert not missing.is_json


async def test_search_by_name(suite: SuiteCrmBackend) -> None:
    hits = await suite.search("Acme", ["Accounts", "Contacts"], limit=5)
    assert 0 < len(hits) <= 5
    assert all("acme" in h.label.lower() for h in hits)


async def test_record_text_is_plain(suite: SuiteCrmBackend) -> None:
    name = "A&B <b>bold</b> \"q\" 's'"
    rec = await suite.create("Accounts", {"name": name})
    try:
        page = await suite.list_records(
            "Accounts", Query(filter=Condition("name", Op.EQ, name)), PageRequest(size=5)
        )
        assert [r.get("name") for r in page.records] == [name]
        assert rec.get("name") == name
    finally:
        await suite.delete("Accounts", rec.id)
