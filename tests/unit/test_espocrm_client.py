"""EspoCRM adapter: client logic with httpx.MockTransport (sign-in headers, token renewal,
where[] encoding) and wire behaviour against the demo server (no-total paging, disk cache)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from crmdesk.backends import open_backend
from crmdesk.backends.espocrm import EspoCrmBackend, wire
from crmdesk.backends.transport import Transport
from crmdesk.core import errors as E
from crmdesk.core.connection import ConnectionProfile, Secrets
from crmdesk.core.query import Condition, Op, Query, SortKey, or_
from crmdesk.core.records import PageRequest
from crmdesk.demo.server import DemoServer

BASE = "http://crm.test/espo"
PASSWORD = "pw-Very$ecret-1"
API_KEY = "key-0123456789abcdef"
SECRET = "secret-fedcba9876543210"

LIST = {"total": 1, "list": [{"id": "a1", "name": "Acme", "createdAt": "2026-01-02 03:04:05"}]}
APP_USER = {
    "user": {"id": "u1", "userName": "jane", "name": "Jane", "type": "regular", "teamsIds": []},
    "acl": {"table": {"Account": {"read": "all", "edit": "own", "delete": "no", "create": "yes"}}},
    "settings": {"cacheTimestamp": 1},
    "preferences": {},
}


def backend(auth: str, handler: Any, secrets: Secrets) -> EspoCrmBackend:
    profile = ConnectionProfile("t", "espocrm", BASE, auth=auth, username="jane")
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return EspoCrmBackend(profile, secrets, Transport(client, backoff=0.0))


async def test_hmac_signs_method_and_path_without_query() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=LIST)

    b = backend("hmac", handler, Secrets(api_key=API_KEY, secret_key=SECRET))
    await b._send("GET", "Account", params=[("maxSize", 2), ("select", "name")])
    digest = hmac.new(SECRET.encode(), b"GET /Account", hashlib.sha256).hexdigest()
    expected = base64.b64encode(f"{API_KEY}:{digest}".encode()).decode()
    assert seen[0].headers["X-Hmac-Authorization"] == expected
    assert "maxSize=2" in str(seen[0].url)
    await b.close()


async def test_api_key_header_and_401_advice_without_the_key() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["X-Api-Key"] == API_KEY
        return httpx.Response(401, headers={"Content-Type": "text/html"})

    b = backend("api_key", handler, Secrets(api_key=API_KEY))
    with pytest.raises(E.AuthError) as info:
        await b.connect()
    assert "API Users" in info.value.advice
    assert API_KEY not in str(info.value)
    await b.close()


async def test_token_sign_in_then_one_renewal_on_401() -> None:
    calls: list[tuple[str, dict[str, str]]] = []
    tokens = iter(["tok-1", "tok-2"])
    valid: set[str] = set()

    def handler(request: httpx.Request) -> httpx.Response:
        h = dict(request.headers)
        calls.append((request.url.path, h))
        user, _, secret = base64.b64decode(h["espo-authorization"]).decode().partition(":")
        assert user == "jane"
        assert "espo-authorization-create-token-secret" not in h
        if h.get("espo-authorization-by-token") == "true":
            if secret in valid:
                return httpx.Response(200, json=LIST)
            return httpx.Response(401, headers={"Content-Type": "text/html"})
        assert secret == PASSWORD
        token = next(tokens)
        valid.clear()
        valid.add(token)
        return httpx.Response(200, json={**APP_USER, "token": token})

    b = backend("password", handler, Secrets(password=PASSWORD))
    await b.connect()
    body = await b._send("GET", "Account")
    assert body == LIST
    valid.clear()  # the server forgets the token
    body = await b._send("GET", "Account")
    assert body == LIST
    logins = [c for c in calls if c[0].endswith("/App/user")]
    assert len(logins) == 2  # connect + exactly one renewal
    me = await b.me()
    assert me.user_name == "jane"
    assert me.access["Account"] == frozenset({"read", "edit", "create"})
    await b.close()


async def test_wrong_password_is_an_auth_error_without_the_password() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, headers={"Content-Type": "text/html; charset=UTF-8"})

    b = backend("password", handler, Secrets(password=PASSWORD))
    with pytest.raises(E.AuthError) as info:
        await b.connect()
    assert PASSWORD not in str(info.value)
    assert "password" in info.value.advice
    await b.close()


def test_missing_secrets_are_a_configuration_error() -> None:
    with pytest.raises(E.ConfigurationError):
        backend("hmac", lambda r: httpx.Response(200), Secrets(api_key=API_KEY))
    with pytest.raises(E.ConfigurationError):
        backend("oauth", lambda r: httpx.Response(200), Secrets())


def test_where_brackets_match_the_captured_or_group() -> None:
    flt = or_(Condition("type", Op.EQ, "Investor"), Condition("name", Op.CONTAINS, "Robotics"))
    got = wire.bracket_params(wire.where_items(flt, None))
    cap = json.loads(
        (Path("/work/shared/peers/espocrm") / "where_08_or_group.json").read_text("utf-8")
    )
    expected = [(k, v) for k, v in cap["request"]["query"] if k.startswith("where")]
    assert got == expected


def test_where_items_for_each_operator() -> None:
    items = wire.where_items(
        Condition("type", Op.IN, ("Customer", "Partner")), None
    ) + wire.where_items(Condition("description", Op.EMPTY), None)
    assert items[0] == {"type": "in", "attribute": "type", "value": ["Customer", "Partner"]}
    assert items[1]["type"] == "or"  # isNull OR equals "" (empty enums are "")
    params = wire.bracket_params(items)
    assert ("where[0][value][1]", "Partner") in params
    assert ("where[1][value][1][value]", "") in params
    nothing = wire.where_items(Condition("type", Op.IN, ()), None)
    assert nothing == [{"type": "isNull", "attribute": "id"}]


async def test_multi_sort_is_refused() -> None:
    b = backend("api_key", lambda r: httpx.Response(200, json=LIST), Secrets(api_key=API_KEY))
    with pytest.raises(E.Unsupported):
        b._list_params(None, Query(sort=(SortKey("a"), SortKey("b"))), PageRequest())
    _, offset, size = b._list_params(None, Query(), PageRequest(size=500, cursor="40"))
    assert (offset, size) == (40, 200)  # the server refuses more than 200 with a 403
    await b.close()


async def test_raw_request_hides_cookies_and_keys() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={"token": "abcd-secret-token"},
            headers={"Set-Cookie": "auth-token-secret=xyz; HttpOnly"},
        )

    b = backend("api_key", handler, Secrets(api_key=API_KEY))
    raw = await b.raw_request("GET", "/api/v1/App/user")
    assert raw.status == 200
    assert raw.headers["set-cookie"] == "‹redacted›"
    assert "abcd-secret-token" not in raw.body_text
    await b.close()


# -- against the demo server ------------------------------------------------------------


def demo_profile(server: DemoServer, tmp_path: Path, **opts: str) -> ConnectionProfile:
    profile = server.profile("espocrm", "api_key")
    return replace(profile, options={"cache_dir": str(tmp_path), **opts})


async def test_no_total_pages_say_more_instead_of_a_number(
    demo_server: DemoServer, tmp_path: Path
) -> None:
    b = open_backend(
        demo_profile(demo_server, tmp_path, no_total="true"),
        demo_server.secrets("espocrm", "api_key"),
    )
    await b.connect()
    q = Query(sort=(SortKey("name"),))
    first = await b.list_records("Account", q, PageRequest(size=3))
    assert first.total is None
    assert first.has_more
    second = await b.list_records("Account", q, PageRequest(size=3, cursor=first.next))
    assert {r.id for r in first.records}.isdisjoint(r.id for r in second.records)
    assert (await b.count("Account", Query())) is not None  # the count asks for a total
    await b.close()


async def test_metadata_is_cached_on_disk(demo_server: DemoServer, tmp_path: Path) -> None:
    secrets = demo_server.secrets("espocrm", "api_key")
    first = open_backend(demo_profile(demo_server, tmp_path), secrets)
    mdef = await first.describe("Account")
    await first.close()
    assert list((tmp_path / "espocrm").glob("*.json"))
    demo_server.faults.inject(r"/espocrm/api/v1/(Metadata|I18n|Account/layout)", "status:500", None)
    try:
        second = open_backend(demo_profile(demo_server, tmp_path), secrets)
        again = await second.describe("Account")
        assert [f.name for f in again.fields] == [f.name for f in mdef.fields]
        assert again.list_fields == mdef.list_fields
        await second.close()
        third = open_backend(demo_profile(demo_server, tmp_path, metadata_cache="off"), secrets)
        with pytest.raises(E.ServerError):
            await third.describe("Account")
        await third.close()
    finally:
        demo_server.faults.clear()


async def test_validation_and_duplicate_errors_from_the_demo(
    demo_server: DemoServer, tmp_path: Path
) -> None:
    b = open_backend(demo_profile(demo_server, tmp_path), demo_server.secrets("espocrm", "api_key"))
    with pytest.raises(E.ValidationError) as info:
        await b.create("Opportunity", {"name": "No amount"})
    assert "amount" in info.value.fields
    acc = await b.create("Account", {"name": "Duplicate me 7f3a"})
    try:
        with pytest.raises(E.Conflict) as dup:
            await b.create("Account", {"name": "Duplicate me 7f3a"})
        assert dup.value.current is not None
        assert dup.value.current.id == acc.id
        with pytest.raises(E.ValidationError) as bad:
            await b.update("Account", acc.id, {"type": "NotAType"})
        assert set(bad.value.fields) == {"type"}
    finally:
        await b.delete("Account", acc.id)
        await b.close()


def test_query_strings_the_demo_parses(demo_server: DemoServer) -> None:
    """The demo reads PHP bracket arrays the way the real server does (JSON strings refused)."""
    base = demo_server.base_url("espocrm") + "/api/v1/Account"
    key = {"X-Api-Key": demo_server.credentials.api_key}
    ok = httpx.get(base + "?maxSize=1&where[0][type]=in&where[0][attribute]=type"
                   "&where[0][value][]=Customer", headers=key)  # fmt: skip
    assert ok.status_code == 200
    bad = httpx.get(
        base,
        params=[
            ("maxSize", "1"),
            ("where[0][type]", "in"),
            ("where[0][attribute]", "type"),
            ("where[0][value]", '["Customer"]'),
        ],
        headers=key,
    )
    assert bad.status_code == 400
    assert bad.headers["X-Status-Reason"] == "Bad where item 'in'."


def test_link_labels_fall_back_to_field_labels_then_words() -> None:
    from crmdesk.backends.espocrm.metadata import link_defs

    metadata = {
        "entityDefs": {
            "Account": {
                "links": {
                    "contacts": {"type": "hasMany", "entity": "Contact"},
                    "assignedUser": {"type": "belongsTo", "entity": "User"},
                    "billingPartner": {"type": "belongsTo", "entity": "Account"},
                }
            }
        }
    }
    i18n = {
        "Global": {"links": {"contacts": "Contacts"}, "fields": {"assignedUser": "Assigned User"}}
    }
    labels = {link.name: link.label for link in link_defs("Account", metadata, i18n)}
    assert labels == {
        "contacts": "Contacts",
        "assignedUser": "Assigned User",  # no link label: the field's
        "billingPartner": "Billing partner",  # neither: words, never the raw name
    }
