"""The SugarCRM adapter against the demo Sugar over real loopback HTTP."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from crmdesk.backends import open_backend
from crmdesk.backends.sugarcrm import MetadataOutOfDate, SugarCrmBackend
from crmdesk.core.connection import ConnectionProfile, Secrets
from crmdesk.core.errors import (
    AuthError,
    ConfigurationError,
    Conflict,
    NotFound,
    Unavailable,
    ValidationError,
)
from crmdesk.core.query import Condition, Op, Query, SortKey, and_, or_
from crmdesk.core.records import PageRequest
from crmdesk.core.schema import FieldType
from crmdesk.demo.server import DemoServer
from crmdesk.demo.sugarcrm import SugarApp


def app(server: DemoServer) -> SugarApp:
    a = server.apps["sugarcrm"]
    assert isinstance(a, SugarApp)
    return a


def make(server: DemoServer, **options: str) -> SugarCrmBackend:
    base = server.profile("sugarcrm")
    profile = ConnectionProfile(
        name=base.name,
        dialect="sugarcrm",
        base_url=options.pop("base_url", base.base_url),
        auth=options.pop("auth", "password"),
        username=base.username,
        options=options,
    )
    b = open_backend(profile, server.secrets("sugarcrm"))
    assert isinstance(b, SugarCrmBackend)
    return b


@pytest.fixture
async def sugar(demo_server: DemoServer) -> AsyncIterator[SugarCrmBackend]:
    b = make(demo_server)
    await b.connect()
    try:
        yield b
    finally:
        await b.close()


@pytest.fixture
def tag() -> str:
    return f"sg{uuid.uuid4().hex[:8]}"


async def test_signs_in_with_a_crmdesk_platform_and_logs_out(demo_server: DemoServer) -> None:
    b = make(demo_server)
    await b.connect()
    token = b._session.access_token
    assert b.platform == "crmdesk"
    assert (await b.me()).user_name == "admin"
    await b.close()
    async with httpx.AsyncClient() as c:
        r = await c.get(f"{b.rest}/ping", headers={"OAuth-Token": token})
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_grant"


async def test_wrong_password_is_an_auth_error(demo_server: DemoServer) -> None:
    profile = demo_server.profile("sugarcrm")
    b = open_backend(profile, Secrets(password="not-the-password"))
    with pytest.raises(AuthError) as info:
        await b.connect()
    assert "not-the-password" not in str(info.value)
    await b.close()


async def test_unregistered_platform_is_a_configuration_error(demo_server: DemoServer) -> None:
    b = make(demo_server, platform="my-unregistered-tool")
    with pytest.raises(ConfigurationError, match="platform"):
        await b.connect()
    await b.close()


async def test_unsupported_version_explains_which_to_use(demo_server: DemoServer) -> None:
    b = make(demo_server, api_version="v12")
    with pytest.raises(ConfigurationError, match=r"between 10 and 11\.16") as info:
        await b.connect()
    assert info.value.status == 301
    await b.close()


async def test_expired_token_is_refreshed_and_refresh_tokens_rotate(
    demo_server: DemoServer,
) -> None:
    b = make(demo_server)
    seen: list[str] = []
    b.on_refresh_token = seen.append
    await b.connect()
    first_refresh = b.refresh_token
    app(demo_server).expire_tokens()
    assert (await b.count("Accounts", Query()) or 0) > 0
    assert b.refresh_token != first_refresh
    assert seen[-1] == b.refresh_token
    async with httpx.AsyncClient() as c:  # the used refresh token is dead
        r = await c.post(
            f"{b.rest}/oauth2/token",
            json={
                "grant_type": "refresh_token",
                "refresh_token": first_refresh,
                "client_id": "sugar",
                "client_secret": "",
                "platform": "crmdesk",
            },
        )
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_grant"
    await b.close()


async def test_refresh_before_expiry(demo_server: DemoServer) -> None:
    demo_server.credentials.token_ttl = 5.0  # inside the refresh margin
    b = make(demo_server)
    seen: list[str] = []
    b.on_refresh_token = seen.append
    await b.connect()
    before = len(seen)
    await b.ping()
    assert len(seen) > before
    await b.close()


async def test_refresh_token_sign_in(demo_server: DemoServer) -> None:
    first = make(demo_server)
    await first.connect()
    stored = first.refresh_token
    await first.transport.aclose()  # no logout: that would revoke the refresh token
    profile = ConnectionProfile(
        name="rt",
        dialect="sugarcrm",
        base_url=demo_server.base_url("sugarcrm"),
        auth="refresh_token",
        username="admin",
    )
    b = open_backend(profile, Secrets(refresh_token=stored))
    await b.connect()
    assert isinstance(b, SugarCrmBackend)
    assert b.refresh_token
    assert b.refresh_token != stored
    await b.close()
    again = open_backend(profile, Secrets(refresh_token=stored))
    with pytest.raises(AuthError):
        await again.connect()
    await again.close()


async def test_describe_maps_vardefs_and_dropdowns(sugar: SugarCrmBackend) -> None:
    cases = await sugar.describe("Cases")
    prio = cases.field("priority")
    assert prio is not None
    assert prio.type is FieldType.ENUM
    assert prio.option_label("P1") == "High"
    status = cases.field("status")
    assert status is not None
    assert [o.key for o in status.options][:2] == ["", "New"]
    acc = await sugar.describe("Accounts")
    assert acc.link("contacts") is not None
    owner = acc.field("assigned_user_id")
    assert owner is not None
    assert owner.type is FieldType.RELATE
    assert owner.relate_module == "Users"
    assert owner.relate_name_field == "assigned_user_name"
    # list view columns from views.list, relate names mapped back to their id fields
    assert acc.list_fields[0] == "name"
    assert "assigned_user_id" in acc.list_fields
    assert "assigned_user_name" not in acc.list_fields
    email = acc.field("email1")
    assert email is not None
    assert email.type is FieldType.EMAIL
    opts = await sugar.options("Cases", "priority")
    assert [(o.key, o.label) for o in opts] == [
        ("", ""),
        ("P1", "High"),
        ("P2", "Medium"),
        ("P3", "Low"),
    ]
    with pytest.raises(NotFound):
        await sugar.describe("Nope")


async def test_crud_with_conflict_and_clearing(sugar: SugarCrmBackend, tag: str) -> None:
    rec = await sugar.create(
        "Opportunities",
        {
            "name": f"{tag} deal",
            "amount": Decimal("1234.50"),
            "date_closed": date(2027, 3, 1),
            "sales_stage": "Prospecting",
            "next_step": "call",
        },
    )
    assert rec.values["amount"] == Decimal("1234.5")
    assert rec.values["date_closed"] == date(2027, 3, 1)
    assert rec.version is not None
    changed = await sugar.update(
        "Opportunities", rec.id, {"next_step": None, "probability": 20}, rec.version
    )
    assert changed.values["next_step"] is None
    assert changed.values["probability"] == 20
    assert changed.version != rec.version
    with pytest.raises(Conflict) as info:
        await sugar.update("Opportunities", rec.id, {"next_step": "stale"}, rec.version)
    assert info.value.current is not None
    assert info.value.current.values["probability"] == 20
    assert (await sugar.get("Opportunities", rec.id)).values["next_step"] is None
    with pytest.raises(ValidationError) as bad:
        await sugar.update("Opportunities", rec.id, {"sales_stage": "Nonsense"})
    assert "sales_stage" in bad.value.fields
    await sugar.delete("Opportunities", rec.id)
    with pytest.raises(NotFound):
        await sugar.get("Opportunities", rec.id)


async def test_filters_sorting_and_paging(sugar: SugarCrmBackend, tag: str) -> None:
    names = ["Alpha", "Bravo", "Charlie", "Delta", "Echo"]
    for i, n in enumerate(names):
        await sugar.create(
            "Contacts",
            {
                "last_name": f"{tag} {n}",
                "first_name": n,
                "birthdate": date(1990, 1, 1 + i),
                "description": "x" if i % 2 else None,
            },
        )
    mine = Condition("last_name", Op.STARTS, tag)

    async def names_for(*conds: Any, size: int = 50) -> list[str]:
        q = Query(filter=and_(mine, *conds), sort=(SortKey("last_name"),))
        page = await sugar.list_records("Contacts", q, PageRequest(size=size))
        return [str(r.values["first_name"]) for r in page.records]

    assert await names_for() == names
    assert await names_for(Condition("last_name", Op.CONTAINS, "arl")) == ["Charlie"]
    assert await names_for(Condition("first_name", Op.IN, ("Bravo", "Echo"))) == ["Bravo", "Echo"]
    assert await names_for(Condition("first_name", Op.NOT_IN, ("Bravo",))) == [
        "Alpha", "Charlie", "Delta", "Echo",
    ]  # fmt: skip
    assert await names_for(
        Condition("birthdate", Op.BETWEEN, (date(1990, 1, 2), date(1990, 1, 3)))
    ) == ["Bravo", "Charlie"]
    assert await names_for(Condition("birthdate", Op.GTE, date(1990, 1, 4))) == ["Delta", "Echo"]
    assert await names_for(Condition("description", Op.EMPTY)) == ["Alpha", "Charlie", "Echo"]
    assert await names_for(Condition("description", Op.NOT_EMPTY)) == ["Bravo", "Delta"]
    assert await names_for(
        or_(Condition("first_name", Op.EQ, "Alpha"), Condition("first_name", Op.EQ, "Echo"))
    ) == ["Alpha", "Echo"]
    assert await names_for(Condition("first_name", Op.NEQ, "Alpha")) == names[1:]
    assert await names_for(SugarCrmBackend.date_range("date_entered", "today")) == names
    assert await names_for(SugarCrmBackend.date_range("date_entered", "last_year")) == []
    q = Query(filter=mine, sort=(SortKey("last_name", descending=True),))
    first = await sugar.list_records("Contacts", q, PageRequest(size=2))
    assert first.total == 5
    assert first.next == "2"
    assert [r.values["first_name"] for r in first.records] == ["Echo", "Delta"]
    last = await sugar.list_records("Contacts", q, PageRequest(size=2, cursor="4"))
    assert last.next is None
    assert [r.values["first_name"] for r in last.records] == ["Alpha"]
    assert await sugar.count("Contacts", Query(filter=mine)) == 5


async def test_relationships(sugar: SugarCrmBackend, tag: str) -> None:
    acc = await sugar.create("Accounts", {"name": f"{tag} account"})
    c1 = await sugar.create("Contacts", {"last_name": f"{tag} one"})
    c2 = await sugar.create("Contacts", {"last_name": f"{tag} two"})
    await sugar.link("Accounts", acc.id, "contacts", c1.id)
    made = await sugar.create_related("Accounts", acc.id, "contacts", {"last_name": f"{tag} new"})
    assert made.module == "Contacts"
    page = await sugar.related("Accounts", acc.id, "contacts", Query(), PageRequest(size=10))
    assert {r.id for r in page.records} == {c1.id, made.id}
    assert page.total == 2
    assert await sugar.related_count("Accounts", acc.id, "contacts", limit=1) == (1, True)
    await sugar.link_many("Accounts", acc.id, "contacts", [c2.id])
    await sugar.unlink("Accounts", acc.id, "contacts", c1.id)
    page = await sugar.related("Accounts", acc.id, "contacts", Query(), PageRequest(size=10))
    assert {r.id for r in page.records} == {c2.id, made.id}
    with pytest.raises(NotFound):
        await sugar.unlink("Accounts", acc.id, "contacts", c1.id)
    with pytest.raises(NotFound):
        await sugar.related("Accounts", acc.id, "nolink", Query(), PageRequest())


async def test_related_count_without_leancount_on_v11(demo_server: DemoServer, tag: str) -> None:
    b = make(demo_server, api_version="v11")
    await b.connect()
    acc = await b.create("Accounts", {"name": f"{tag} v11"})
    assert await b.related_count("Accounts", acc.id, "contacts") == (0, False)
    await b.close()


async def test_favorites_search_and_bulk(sugar: SugarCrmBackend, tag: str) -> None:
    a = await sugar.create("Accounts", {"name": f"{tag} Favourite"})
    b = await sugar.create("Accounts", {"name": f"{tag} Other"})
    await sugar.set_favorite("Accounts", a.id, True)
    assert (await sugar.get("Accounts", a.id)).values["my_favorite"] is True
    refs = await sugar.search(tag, ["Accounts"])
    assert {r.id for r in refs} == {a.id, b.id}
    assert all(r.label.startswith(tag) for r in refs)
    await sugar.set_favorite("Accounts", a.id, False)
    assert (await sugar.get("Accounts", a.id)).values["my_favorite"] is False
    results = await sugar.update_many(
        "Accounts", {a.id: {"industry": "Banking"}, "missing-id": {"industry": "Banking"}}
    )
    assert not isinstance(results[0], Exception)
    assert results[0].values["industry"] == "Banking"
    assert isinstance(results[1], NotFound)
    assert await sugar.delete_many("Accounts", [a.id, b.id]) == [None, None]


async def test_metadata_412_reloads_and_tells_listeners(
    demo_server: DemoServer, tmp_path: Path
) -> None:
    b = make(demo_server, cache_dir=str(tmp_path))
    await b.connect()
    await b.describe("Accounts")
    old_hash = b.metadata_hash
    assert any(p.name.startswith("sugarcrm-") for p in os.scandir(tmp_path))
    calls: list[int] = []
    b.metadata_listeners.append(lambda: calls.append(1))
    app(demo_server).bump_metadata()
    assert (await b.count("Accounts", Query()) or 0) > 0  # 412, reload, replay
    assert calls == [1]
    assert b.metadata_hash != old_hash
    assert (await b.describe("Accounts")).field("name") is not None
    await b.close()
    # A new session starts from the disk cache and sends its hash.
    again = make(demo_server, cache_dir=str(tmp_path))
    await again.connect()
    assert again.metadata_hash == b.metadata_hash
    assert "Accounts" in again._meta["modules"]
    await again.close()


async def test_stale_hash_that_stays_stale_raises(demo_server: DemoServer) -> None:
    b = make(demo_server)
    await b.connect()
    b._meta["_hash"] = "stale"
    b._fetch_base_metadata = _keep_stale(b)  # type: ignore[method-assign]
    with pytest.raises(MetadataOutOfDate):
        await b.ping()
    await b.close()


def _keep_stale(b: SugarCrmBackend) -> Any:
    async def fetch() -> None:
        b._meta["_hash"] = "still-stale"

    return fetch


async def test_maintenance_and_html_answers(
    demo_server: DemoServer, sugar: SugarCrmBackend
) -> None:
    demo_server.faults.inject(r"/sugarcrm/rest/v11_4/Accounts/count", "status:503", times=None)
    with pytest.raises(Unavailable):
        await sugar.count("Accounts", Query())
    demo_server.faults.clear()
    demo_server.faults.inject(r"/sugarcrm/rest/v11_4/ping", "status:500")
    with pytest.raises(Exception) as info:
        await sugar.ping()
    assert type(info.value).__name__ == "ServerError"


async def test_raw_request(sugar: SugarCrmBackend) -> None:
    resp = await sugar.raw_request("GET", "ping")
    assert resp.status == 200
    assert resp.json == "pong"
    missing = await sugar.raw_request("GET", "Accounts/does-not-exist")
    assert missing.status == 404
    assert missing.json["error"] == "not_found"
    assert sugar._session.access_token not in missing.body_text


def test_base_url_forms() -> None:
    from crmdesk.backends.sugarcrm.backend import split_base_url

    assert split_base_url("https://crm.example.com/") == ("https://crm.example.com", "v11_4")
    assert split_base_url("https://x/sugar/rest/v11_8") == ("https://x/sugar", "v11_8")
    assert split_base_url("https://x/rest", "v11") == ("https://x", "v11")
    with pytest.raises(ConfigurationError):
        split_base_url("https://x", "v11.4")


async def test_sync_reports_changes_and_deletions(sugar: SugarCrmBackend, tag: str) -> None:
    from datetime import UTC, datetime, timedelta

    since = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    kept = await sugar.create("Cases", {"name": f"{tag} kept", "priority": "P1"})
    gone = await sugar.create("Cases", {"name": f"{tag} gone"})
    await sugar.delete("Cases", gone.id)
    changes = await sugar.sync("Cases", since)
    assert kept.id in {r.id for r in changes.updated}
    assert gone.id in changes.deleted
    assert gone.id not in {r.id for r in changes.updated}
    assert changes.until is not None
    assert changes.until >= since
    assert not changes.more
    later = await sugar.sync("Cases", changes.until + timedelta(seconds=5))
    assert kept.id not in {r.id for r in later.updated}
