"""Pure parts of the SugarCRM wire format: filters, values, defensive parsing."""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as hs

from crmdesk.backends.sugarcrm import wire
from crmdesk.core.errors import Conflict, CrmError, ProtocolError, Unsupported
from crmdesk.core.query import Condition, Op, Query, SortKey, and_, or_
from crmdesk.core.schema import FieldDef, FieldType, ModuleDef

MDEF = ModuleDef(
    "Contacts",
    "Contacts",
    fields=(
        FieldDef("last_name", "Last", FieldType.TEXT),
        FieldDef("birthdate", "Birthdate", FieldType.DATE),
        FieldDef("date_entered", "Created", FieldType.DATETIME),
        FieldDef("tags", "Tags", FieldType.MULTIENUM),
        FieldDef("amount", "Amount", FieldType.CURRENCY),
    ),
)


@pytest.mark.parametrize(
    ("cond", "expected"),
    [
        (Condition("last_name", Op.EQ, "A"), {"last_name": {"$equals": "A"}}),
        (Condition("last_name", Op.NEQ, "A"), {"last_name": {"$not_equals": "A"}}),
        (Condition("last_name", Op.STARTS, "A"), {"last_name": {"$starts": "A"}}),
        (Condition("last_name", Op.CONTAINS, "A"), {"last_name": {"$contains": "A"}}),
        (Condition("last_name", Op.IN, ("a", "b")), {"last_name": {"$in": ["a", "b"]}}),
        (Condition("last_name", Op.NOT_IN, ("a",)), {"last_name": {"$not_in": ["a"]}}),
        (Condition("amount", Op.LT, Decimal("1.5")), {"amount": {"$lt": "1.5"}}),
        (Condition("amount", Op.LTE, 2), {"amount": {"$lte": 2}}),
        (Condition("amount", Op.GT, 2), {"amount": {"$gt": 2}}),
        (Condition("amount", Op.GTE, 2), {"amount": {"$gte": 2}}),
        (Condition("amount", Op.BETWEEN, (1, 2)), {"amount": {"$between": [1, 2]}}),
        (
            Condition("birthdate", Op.BETWEEN, (date(2020, 1, 1), date(2020, 2, 1))),
            {"birthdate": {"$dateBetween": ["2020-01-01", "2020-02-01"]}},
        ),
        (
            Condition("date_entered", Op.GTE, datetime(2024, 5, 1, 10, 0, tzinfo=UTC)),
            {"date_entered": {"$gte": "2024-05-01T10:00:00+00:00"}},
        ),
        (
            Condition("date_entered", Op.EQ, "last_7_days"),
            {"date_entered": {"$dateRange": "last_7_days"}},
        ),
        (Condition("last_name", Op.EQ, "today"), {"last_name": {"$equals": "today"}}),
        (Condition("last_name", Op.EMPTY), {"last_name": {"$empty": ""}}),
        (Condition("last_name", Op.NOT_EMPTY), {"last_name": {"$not_empty": ""}}),
    ],
)
def test_every_operator_is_encoded(cond: Condition, expected: dict[str, Any]) -> None:
    assert wire.encode_filter(cond, MDEF) == [expected]


def test_groups_and_body() -> None:
    flt = and_(
        Condition("last_name", Op.STARTS, "A"),
        or_(Condition("amount", Op.GT, 1), and_(Condition("amount", Op.LT, 0))),
    )
    assert wire.encode_filter(flt, MDEF) == [
        {"last_name": {"$starts": "A"}},
        {"$or": [{"amount": {"$gt": 1}}, {"$and": [{"amount": {"$lt": 0}}]}]},
    ]
    body = wire.list_body(
        Query(
            filter=flt, sort=(SortKey("last_name"), SortKey("amount", True)), fields=("last_name",)
        ),
        MDEF,
        max_num=50,
        offset=100,
    )
    assert body["order_by"] == "last_name:asc,amount:desc"
    assert body["fields"] == "last_name,my_favorite"
    assert (body["max_num"], body["offset"]) == (50, 100)


def test_php_params_round_trip() -> None:
    value = [{"name": {"$starts": "A"}}, {"$or": [{"x": "1"}, {"y": {"$in": ["a", "b"]}}]}]
    params = wire.php_params("filter", value)
    assert ("filter[0][name][$starts]", "A") in params
    assert wire.parse_php_params(params) == {"filter": value}


def test_values_are_encoded_for_sugar() -> None:
    tags = FieldDef("tags", "Tags", FieldType.MULTIENUM)
    assert wire.encode_value(None, None) == ""  # null would mean "not sent"
    assert wire.encode_value(None, tags) == []
    assert wire.encode_value(("a", "b"), tags) == ["a", "b"]
    assert wire.encode_value(date(2020, 1, 2), None) == "2020-01-02"
    assert wire.encode_value(Decimal("1.10"), None) == "1.10"
    assert wire.encode_value(datetime(2020, 1, 2, 3, 4, 5), None) == "2020-01-02T03:04:05+00:00"


def test_values_are_parsed_defensively() -> None:
    cur = FieldDef("amount", "Amount", FieldType.CURRENCY)
    flag = FieldDef("flag", "Flag", FieldType.BOOL)
    num = FieldDef("n", "N", FieldType.INT)
    when = FieldDef("w", "W", FieldType.DATETIME)
    multi = FieldDef("m", "M", FieldType.MULTIENUM)
    assert wire.parse_value("25000.000000", cur) == Decimal(25000)
    assert wire.parse_value("", cur) is None
    assert wire.parse_value("1", flag) is True
    assert wire.parse_value("0", flag) is False
    assert wire.parse_value("90", num) == 90
    assert wire.parse_value("n/a", num) is None
    assert wire.parse_value("2016-04-05T10:23:28-04:00", when) == datetime.fromisoformat(
        "2016-04-05T10:23:28-04:00"
    )
    assert wire.parse_value("garbage", when) is None
    assert wire.parse_value("^a^,^b^", multi) == ("a", "b")
    assert wire.parse_value("", FieldDef("t", "T", FieldType.TEXT)) is None


def test_unknown_operator_is_unsupported() -> None:
    cond = Condition("last_name", Op.EQ, "x")
    object.__setattr__(cond, "op", "regex")
    with pytest.raises(Unsupported):
        wire.encode_condition(cond)


JSONS = hs.recursive(
    hs.none() | hs.booleans() | hs.integers() | hs.floats(allow_nan=False) | hs.text(max_size=8),
    lambda kids: (
        hs.lists(kids, max_size=4) | hs.dictionaries(hs.text(max_size=8), kids, max_size=4)
    ),
    max_leaves=20,
)


@given(JSONS)
def test_parsers_never_crash(body: Any) -> None:
    for parse in (
        lambda b: wire.parse_record("Accounts", b, MDEF),
        lambda b: wire.parse_page("Accounts", b, MDEF),
        wire.parse_token,
        wire.parse_me,
        wire.parse_search,
        wire.parse_bulk,
        wire.parse_count,
        lambda b: wire.parse_module_list(b),
    ):
        with contextlib.suppress(ProtocolError):
            parse(body)
    for status in (301, 400, 401, 403, 404, 409, 412, 413, 422, 500, 503, 418):
        assert isinstance(
            wire.error_from_body(status, body, module="Accounts", mdef=MDEF), CrmError
        )


@given(
    hs.dictionaries(hs.sampled_from(["id", "name", "date_modified", "_acl", "amount", "x"]), JSONS)
)
def test_records_with_any_values(body: dict[str, Any]) -> None:
    body["id"] = "abc"
    rec = wire.parse_record("Contacts", body, MDEF)
    assert rec.id == "abc"
    for value in rec.values.values():
        assert not isinstance(value, dict | list)


def test_conflict_with_a_broken_record_still_maps() -> None:
    err = wire.error_from_body(409, {"error": "edit_conflict", "record": {"name": "no id"}})
    assert isinstance(err, Conflict)
    assert err.current is None
