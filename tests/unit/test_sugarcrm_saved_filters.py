"""Sugar's saved filters (``Filters`` records, ``filter_id``) against the demo Sugar over
loopback HTTP, and every other dialect refusing them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from crmdesk.backends import open_backend
from crmdesk.backends.sugarcrm import wire
from crmdesk.core.backend import Backend
from crmdesk.core.errors import NotFound, ProtocolError, Unsupported
from crmdesk.core.query import Condition, Op, Query, SavedFilter, and_, or_
from crmdesk.core.records import PageRequest, Record
from crmdesk.demo.server import DemoServer
from crmdesk.demo.sugarcrm import SAVED_FILTERS


def saved(name: str) -> SavedFilter:
    f = next(f for f in SAVED_FILTERS if f["name"] == name)
    return SavedFilter(f["id"], f["name"])


@pytest.fixture
async def sugar(demo_server: DemoServer) -> AsyncIterator[Backend]:
    b = open_backend(demo_server.profile("sugarcrm"), demo_server.secrets("sugarcrm"))
    await b.connect()
    try:
        yield b
    finally:
        await b.close()


async def every(b: Backend, module: str, query: Query) -> list[Record]:
    out: list[Record] = []
    cursor = None
    while True:
        page = await b.list_records(module, query, PageRequest(size=200, cursor=cursor))
        out.extend(page.records)
        if page.next is None:
            return out
        cursor = page.next


async def test_the_saved_filters_of_a_module_by_name(sugar: Backend) -> None:
    assert sugar.capabilities.saved_filters
    assert Op.SAVED in sugar.capabilities.operators
    accounts = await sugar.saved_filters("Accounts")
    assert accounts == [saved("Banking accounts"), saved("Customers & <partners>")]
    assert await sugar.saved_filters("Contacts") == [saved("Contacts named A…")]
    assert await sugar.saved_filters("Leads") == []


async def test_a_saved_filter_lists_what_its_definition_says(sugar: Backend) -> None:
    banking = saved("Banking accounts")
    by_saved = Query(filter=Condition("", Op.SAVED, banking.id), fields=("name", "industry"))
    inline = Query(filter=Condition("industry", Op.EQ, "Banking"), fields=("name", "industry"))
    rows = await every(sugar, "Accounts", by_saved)
    assert rows, "the demo has banking accounts"
    assert {r.get("industry") for r in rows} == {"Banking"}
    assert {r.id for r in rows} == {r.id for r in await every(sugar, "Accounts", inline)}
    first = await sugar.list_records("Accounts", by_saved, PageRequest(size=5))
    assert first.total == len(rows)  # the count takes filter_id too

    # An OR inside the saved definition.
    either = saved("Customers & <partners>")
    types = {
        r.get("account_type")
        for r in await every(sugar, "Accounts", Query(filter=Condition("", Op.SAVED, either.id)))
    }
    assert types == {"Customer", "Partner"}


async def test_a_saved_filter_and_the_bar_s_conditions_are_anded(sugar: Backend) -> None:
    banking = saved("Banking accounts")
    both = and_(Condition("", Op.SAVED, banking.id), Condition("name", Op.STARTS, "A"))
    rows = await every(sugar, "Accounts", Query(filter=both, fields=("name", "industry")))
    expected = await every(
        sugar,
        "Accounts",
        Query(
            filter=and_(Condition("industry", Op.EQ, "Banking"), Condition("name", Op.STARTS, "A"))
        ),
    )
    assert {r.id for r in rows} == {r.id for r in expected}
    assert all(str(r.get("name")).startswith("A") for r in rows)
    page = await sugar.list_records("Accounts", Query(filter=both), PageRequest(size=1))
    assert page.total == len(expected)


async def test_an_unknown_saved_filter_is_not_found(sugar: Backend) -> None:
    query = Query(filter=Condition("", Op.SAVED, "no-such-filter"))
    with pytest.raises(NotFound):
        await sugar.list_records("Accounts", query, PageRequest(size=5))
    # A saved filter of another module is not one of this module's.
    contacts = saved("Contacts named A…")
    with pytest.raises(NotFound):
        await sugar.list_records(
            "Accounts", Query(filter=Condition("", Op.SAVED, contacts.id)), PageRequest(size=5)
        )


async def test_a_saved_filter_inside_an_or_group_is_refused(sugar: Backend) -> None:
    banking = saved("Banking accounts")
    query = Query(
        filter=or_(Condition("", Op.SAVED, banking.id), Condition("name", Op.STARTS, "A"))
    )
    with pytest.raises(Unsupported):
        await sugar.list_records("Accounts", query, PageRequest(size=5))


def test_the_wire_sends_filter_id_beside_the_rest() -> None:
    both = and_(
        Condition("", Op.SAVED, "f1"), Condition("name", Op.STARTS, "A"), Condition("x", Op.EQ, 1)
    )
    body = wire.list_body(Query(filter=both), None, max_num=5, offset=0)
    assert body["filter_id"] == "f1"
    assert body["filter"] == [{"name": {"$starts": "A"}}, {"x": {"$equals": 1}}]
    alone = wire.list_body(Query(filter=Condition("", Op.SAVED, "f2")), None, max_num=5, offset=0)
    assert alone["filter_id"] == "f2"
    assert "filter" not in alone
    twice = and_(Condition("", Op.SAVED, "a"), Condition("", Op.SAVED, "b"))
    with pytest.raises(Unsupported):
        wire.list_body(Query(filter=twice), None, max_num=5, offset=0)


def test_odd_saved_filter_answers() -> None:
    with pytest.raises(ProtocolError):
        wire.parse_saved_filters("<html>", "Accounts")
    body = {
        "records": [
            {"id": "1", "name": "Mine", "module_name": "Accounts"},
            {"name": "no id"},
            "junk",
            {"id": "2", "module_name": "Contacts", "name": "other module"},
            {"id": "3", "name": None},
        ]
    }
    assert wire.parse_saved_filters(body, "Accounts") == [
        SavedFilter("3", "3"),
        SavedFilter("1", "Mine"),
    ]


@pytest.mark.parametrize("dialect", ["suitecrm", "espocrm", "vtiger"])
async def test_other_dialects_refuse_a_saved_filter(demo_server: DemoServer, dialect: str) -> None:
    b = open_backend(demo_server.profile(dialect), demo_server.secrets(dialect))
    await b.connect()
    try:
        assert not b.capabilities.saved_filters
        assert Op.SAVED not in b.capabilities.operators
        with pytest.raises(Unsupported):
            await b.saved_filters("Accounts")
        module = "Account" if dialect == "espocrm" else "Accounts"
        with pytest.raises(Unsupported):
            await b.list_records(
                module, Query(filter=Condition("", Op.SAVED, "f1")), PageRequest(size=5)
            )
    finally:
        await b.close()
