"""Vtiger references shown by name: ``<field>__name`` values filled per page with one
``select … where id in (…)`` per referenced module, over loopback against the demo CRM
(both flavours), cached per connection, never sent back, never failing the list."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from urllib.parse import parse_qs

import httpx
import pytest

from crmdesk.backends import open_backend
from crmdesk.backends.vtiger import VtigerBackend, vtql
from crmdesk.backends.vtiger.labels import LabelCache
from crmdesk.core.errors import Unsupported
from crmdesk.core.query import Condition, Op, Query, SortKey
from crmdesk.core.records import PageRequest
from crmdesk.core.schema import FieldType
from crmdesk.demo.server import DemoServer


class Calls:
    """Every request the backend sends: the operation (or REST path tail) and its query."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, bytes]] = []

    async def __call__(self, request: httpx.Request) -> None:
        body = request.read()
        form = parse_qs(body.decode()) if request.method == "POST" else {}
        op = (
            request.url.params.get("operation")
            or form.get("operation", [""])[0]
            or request.url.path.rsplit("/", 1)[-1]
        )
        self.seen.append((op, request.url.params.get("query", ""), body))

    def queries(self, module: str) -> list[str]:
        return [q for op, q, _ in self.seen if op == "query" and f" from {module} " in q]

    def clear(self) -> None:
        self.seen.clear()


@pytest.fixture(params=["webservice", "rest"])
async def vt(
    request: pytest.FixtureRequest, demo_server: DemoServer
) -> AsyncIterator[tuple[VtigerBackend, Calls]]:
    auth = request.param
    backend = open_backend(demo_server.profile("vtiger", auth), demo_server.secrets("vtiger", auth))
    assert isinstance(backend, VtigerBackend)
    calls = Calls()
    backend.transport.client.event_hooks["request"].append(calls)
    await backend.connect()
    try:
        yield backend, calls
    finally:
        await backend.close()


def _owned_query() -> Query:
    return Query(sort=(SortKey("lastname"),))


async def test_describe_declares_a_read_only_name_field_per_reference(
    vt: tuple[VtigerBackend, Calls],
) -> None:
    b, _ = vt
    mdef = await b.describe("Contacts")
    owner = mdef.field("assigned_user_id")
    assert owner is not None
    assert owner.relate_name_field == "assigned_user_id__name"
    account = mdef.field("account_id")
    assert account is not None
    assert account.relate_name_field == "account_id__name"
    name = mdef.field("account_id__name")
    assert name is not None
    assert name.read_only
    assert not name.visible
    assert not name.filterable
    assert not name.sortable
    assert name.type is FieldType.TEXT


async def test_a_page_names_owners_and_accounts_with_one_query_per_module(
    vt: tuple[VtigerBackend, Calls],
) -> None:
    b, calls = vt
    await b.describe("Contacts")
    calls.clear()
    page = await b.list_records("Contacts", _owned_query(), PageRequest(size=40))
    with_account = [r for r in page.records if r.get("account_id")]
    with_owner = [r for r in page.records if r.get("assigned_user_id")]
    assert with_account
    assert with_owner
    # One lookup per referenced module for the whole page.
    assert len(calls.queries("Users")) == 1
    assert len(calls.queries("Accounts")) == 1
    assert "where id in (" in calls.queries("Accounts")[0]
    # The names are the referenced records' own names.
    rec = with_account[0]
    account = await b.get("Accounts", str(rec.get("account_id")))
    assert rec.get("account_id__name") == account.get("accountname")
    owner = await b.get("Users", str(with_owner[0].get("assigned_user_id")))
    full = f"{owner.get('first_name') or ''} {owner.get('last_name') or ''}".strip()
    assert with_owner[0].get("assigned_user_id__name") == (full or owner.get("user_name"))
    # The next page asks only for ids not seen yet: the users are cached.
    calls.clear()
    assert page.next is not None
    second = await b.list_records("Contacts", _owned_query(), PageRequest(40, page.next))
    assert second.records
    assert calls.queries("Users") == []
    assert len(calls.queries("Accounts")) <= 1
    for r in second.records:
        if r.get("assigned_user_id"):
            assert r.get("assigned_user_id__name")


async def test_a_page_of_known_ids_makes_no_lookup_at_all(vt: tuple[VtigerBackend, Calls]) -> None:
    b, calls = vt
    page = await b.list_records("Contacts", _owned_query(), PageRequest(size=20))
    calls.clear()
    again = await b.list_records("Contacts", _owned_query(), PageRequest(size=20))
    assert [op for op, _, _ in calls.seen if op == "query"] == ["query", "query"]  # page + count
    assert [r.values for r in again.records] == [r.values for r in page.records]


async def test_selected_name_fields_select_their_reference(
    vt: tuple[VtigerBackend, Calls],
) -> None:
    b, calls = vt
    query = Query(fields=("lastname", "account_id", "account_id__name", "assigned_user_id__name"))
    calls.clear()
    page = await b.list_records("Contacts", query, PageRequest(size=30))
    listing = next(q for op, q, _ in calls.seen if op == "query" and "Contacts" in q)
    # Rows come whole (a version hashes the whole record) and are cut to the asked columns,
    # a name field's reference included.
    assert listing.startswith("select * from Contacts")
    shown = {"lastname", "account_id", "account_id__name", "assigned_user_id"}
    assert all(set(r.values) <= shown | {"assigned_user_id__name"} for r in page.records)
    assert all("assigned_user_id" in r.values for r in page.records)
    assert any(r.get("account_id__name") for r in page.records)
    assert all(r.get("assigned_user_id__name") for r in page.records if r.get("assigned_user_id"))


async def test_get_names_references_and_update_never_sends_the_name(
    vt: tuple[VtigerBackend, Calls],
) -> None:
    b, calls = vt
    page = await b.list_records("Contacts", _owned_query(), PageRequest(size=40))
    rec = next(r for r in page.records if r.get("account_id"))
    got = await b.get("Contacts", rec.id)
    assert got.get("account_id__name") == rec.get("account_id__name")
    assert got.get("assigned_user_id__name")
    calls.clear()
    saved = await b.update(
        "Contacts",
        rec.id,
        {"title": "Label check", "account_id__name": "Not a column"},
        got.version,
    )
    revise = [body for op, _, body in calls.seen if op == "revise"]
    assert len(revise) == 1
    element = json.loads(parse_qs(revise[0].decode())["element"][0])
    assert element == {"id": rec.id, "title": "Label check"}
    assert saved.get("account_id__name") == rec.get("account_id__name")


async def test_a_failed_lookup_keeps_the_ids_and_a_later_page_names_them(
    demo_server: DemoServer,
) -> None:
    b = open_backend(demo_server.profile("vtiger", "rest"), demo_server.secrets("vtiger", "rest"))
    assert isinstance(b, VtigerBackend)
    await b.connect()
    try:
        await b.describe("Contacts")
        # Describing Users / Accounts (to learn their id prefixes) fails: a server error.
        demo_server.faults.inject(r"/default/describe$", "status:500", times=None)
        page = await b.list_records("Contacts", _owned_query(), PageRequest(size=20))
        owned = [r for r in page.records if r.get("assigned_user_id")]
        assert owned
        assert all(r.get("assigned_user_id__name") is None for r in owned)
        assert all(str(r.get("assigned_user_id")).startswith("19x") for r in owned)
        demo_server.faults.clear()
        again = await b.list_records("Contacts", _owned_query(), PageRequest(size=20))
        assert all(
            r.get("assigned_user_id__name") for r in again.records if r.get("assigned_user_id")
        )
        assert "describe" not in b.disabled_features()
    finally:
        await b.close()


def test_the_label_cache_is_bounded_and_least_recently_used_goes_first() -> None:
    cache = LabelCache(max_size=3)
    for i in range(3):
        cache.put(f"11x{i}", f"A{i}")
    assert cache.get("11x0") == "A0"  # now the most recent
    cache.put("11x9", "A9")
    assert len(cache) == 3
    assert "11x1" not in cache
    assert "11x0" in cache
    assert cache.get("11x9") == "A9"
    cache.forget("11x0")
    assert "11x0" not in cache


def test_name_fields_cannot_be_filtered_or_sorted() -> None:
    with pytest.raises(Unsupported):
        vtql.build_select("Contacts", flt=Condition("account_id__name", Op.EQ, "Acme"))
    with pytest.raises(Unsupported):
        vtql.build_select("Contacts", sort=(SortKey("assigned_user_id__name"),))
    assert vtql.build_select("Contacts", fields=("account_id__name",)).startswith(
        "select account_id from Contacts"
    )


def test_a_version_ignores_nested_line_items_and_the_label() -> None:
    """A query row has no LineItems and words its label differently from a retrieve of the
    same quote: both must give the same version, or every save would be a false conflict."""
    from crmdesk.backends.vtiger.wire import version_of

    row = {"id": "4x1", "subject": "Q-1", "modifiedtime": "2026-01-02 03:04:05", "label": "Q-1"}
    retrieved = {**row, "label": "Quote Q-1", "LineItems": [{"productid": "14x3", "quantity": "2"}]}
    assert version_of(row) == version_of(retrieved)
    assert version_of(row) != version_of({**row, "subject": "Q-2"})  # a real change still counts
