"""The filter bar's spec → core filter tree, without widgets: the quick field, operators
by type, what each CRM's capabilities refuse, chip texts, typed values."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
from helpers.fake_backend import ACCOUNTS, CONTACTS

from crmdesk.core.backend import Capabilities
from crmdesk.core.errors import Unsupported
from crmdesk.core.query import ALL_OPS, Condition, Op, Period, and_, or_
from crmdesk.core.schema import FieldDef, FieldType, ModuleDef
from crmdesk.ui.filters.model import (
    FAVORITES_ONLY,
    PERIODS,
    FilterSpec,
    build,
    describe,
    favorites_offered,
    filterable_fields,
    offered_ops,
    op_label,
    operators_for,
    parse_list,
    parse_scalar,
    quick_fields,
    quick_op,
    with_condition,
    without,
)

ALL = Capabilities()
SUITE_LIKE = Capabilities(
    operators=ALL_OPS - {Op.IN, Op.NOT_IN, Op.NOT_EMPTY}, nested_filters=False
)
NO_OR = Capabilities(or_filters=False, nested_filters=False)

#: SuiteCRM's Contacts: the name is computed (not filterable), first / last name are.
PEOPLE = ModuleDef(
    "Contacts",
    "Contacts",
    (
        FieldDef("name", "Name", FieldType.TEXT, filterable=False),
        FieldDef("first_name", "First Name", FieldType.TEXT),
        FieldDef("last_name", "Last Name", FieldType.TEXT),
        FieldDef("email1", "Email", FieldType.EMAIL),
    ),
)

BANKING = Condition("industry", Op.EQ, "Banking")
RETAIL = Condition("industry", Op.EQ, "Retail")


def test_quick_text_uses_contains_else_starts_else_eq() -> None:
    assert quick_op(ALL) is Op.CONTAINS
    assert quick_op(Capabilities(operators=frozenset({Op.STARTS, Op.EQ}))) is Op.STARTS
    assert quick_op(Capabilities(operators=frozenset({Op.EQ}))) is Op.EQ
    assert quick_op(Capabilities(operators=frozenset({Op.GT}))) is None
    spec = FilterSpec(quick="acme")
    caps = Capabilities(operators=frozenset({Op.STARTS, Op.EQ}))
    assert build(spec, ACCOUNTS, caps) == Condition("name", Op.STARTS, "acme")


def test_quick_text_on_the_name_field_or_the_name_parts() -> None:
    assert [f.name for f in quick_fields(ACCOUNTS)] == ["name"]
    assert [f.name for f in quick_fields(CONTACTS)] == ["last_name"]
    assert [f.name for f in quick_fields(PEOPLE)] == ["last_name", "first_name"]
    both = or_(
        Condition("last_name", Op.CONTAINS, "ann"), Condition("first_name", Op.CONTAINS, "ann")
    )
    assert build(FilterSpec("ann"), PEOPLE, ALL) == both
    assert build(FilterSpec("ann"), PEOPLE, SUITE_LIKE) == both  # alone: one level of OR
    # With a condition and no groups in groups: the last name only.
    cond = Condition("email1", Op.NOT_EMPTY)
    spec = FilterSpec("ann", (Condition("email1", Op.EMPTY),))
    assert build(spec, PEOPLE, SUITE_LIKE) == and_(
        Condition("last_name", Op.CONTAINS, "ann"), Condition("email1", Op.EMPTY)
    )
    assert build(FilterSpec("ann", (cond,)), PEOPLE, ALL) == and_(both, cond)


def test_all_any_and_what_capabilities_refuse() -> None:
    assert build(FilterSpec(), ACCOUNTS, ALL) is None
    assert build(FilterSpec(conditions=(BANKING,)), ACCOUNTS, ALL) == BANKING
    assert build(FilterSpec(conditions=(BANKING, RETAIL)), ACCOUNTS, ALL) == and_(BANKING, RETAIL)
    anyof = FilterSpec(conditions=(BANKING, RETAIL), mode="or")
    assert build(anyof, ACCOUNTS, ALL) == or_(BANKING, RETAIL)
    assert build(anyof, ACCOUNTS, SUITE_LIKE) == or_(BANKING, RETAIL)
    with pytest.raises(Unsupported, match="only all"):
        build(anyof, ACCOUNTS, NO_OR)
    # Quick text AND (a OR b) needs a group in a group.
    mixed = replace(anyof, quick="acme")
    assert build(mixed, ACCOUNTS, ALL) == and_(
        Condition("name", Op.CONTAINS, "acme"), or_(BANKING, RETAIL)
    )
    with pytest.raises(Unsupported, match="cannot combine"):
        build(mixed, ACCOUNTS, SUITE_LIKE)
    # An operator the CRM lacks is refused before anything is sent.
    with pytest.raises(Unsupported, match="is one of"):
        build(
            FilterSpec(conditions=(Condition("industry", Op.IN, ("Banking",)),)),
            ACCOUNTS,
            SUITE_LIKE,
        )
    with pytest.raises(Unsupported, match="Name"):
        build(FilterSpec(conditions=(Condition("name", Op.EQ, "x"),)), PEOPLE, ALL)


def test_operators_by_type_and_offered_flags() -> None:
    industry = ACCOUNTS.field("industry")
    assert industry is not None
    assert operators_for(industry) == (Op.EQ, Op.NEQ, Op.IN, Op.NOT_IN, Op.EMPTY, Op.NOT_EMPTY)
    flags = dict(offered_ops(industry, SUITE_LIKE))
    assert flags[Op.EQ] is True
    assert flags[Op.IN] is False
    assert flags[Op.NOT_EMPTY] is False
    partner = ACCOUNTS.field("is_partner")
    assert partner is not None
    assert Op.CONTAINS not in operators_for(partner)
    founded = ACCOUNTS.field("founded")
    assert founded is not None
    assert Op.BETWEEN in operators_for(founded)
    assert Op.CONTAINS not in operators_for(founded)
    # Filterable fields: the list columns first, no ids, nothing unfilterable.
    names = [f.name for f in filterable_fields(ACCOUNTS)]
    assert names[: len(ACCOUNTS.list_fields)] == list(ACCOUNTS.list_fields)
    assert "id" not in names
    assert "name" not in [f.name for f in filterable_fields(PEOPLE)]


def test_chip_texts() -> None:
    assert describe(Condition("industry", Op.IN, ("Banking", "Retail")), ACCOUNTS) == (
        "Industry is one of Banking, Retail"
    )
    assert describe(
        Condition("founded", Op.BETWEEN, (date(2020, 1, 1), date(2020, 12, 31))), ACCOUNTS
    ) == ("Founded between 2020-01-01 and 2020-12-31")
    assert (
        describe(Condition("founded", Op.LT, date(2020, 1, 1)), ACCOUNTS)
        == "Founded before 2020-01-01"
    )
    assert describe(Condition("email1", Op.EMPTY), ACCOUNTS) == "Email is empty"
    assert describe(Condition("is_partner", Op.EQ, True), ACCOUNTS) == "Partner is yes"
    assert (
        describe(Condition("name", Op.CONTAINS, "<b>x</b>"), ACCOUNTS) == "Name contains <b>x</b>"
    )


def test_typed_values_and_spec_edits() -> None:
    employees = ACCOUNTS.field("employees")
    revenue = ACCOUNTS.field("annual_revenue")
    city = ACCOUNTS.field("billing_address_city")
    assert employees is not None
    assert revenue is not None
    assert city is not None
    assert parse_scalar(employees, " 1,200 ") == 1200
    assert parse_scalar(revenue, "12.50") == Decimal("12.50")
    with pytest.raises(ValueError, match="whole number"):
        parse_scalar(employees, "many")
    with pytest.raises(ValueError, match="Type a value"):
        parse_scalar(city, "  ")
    assert parse_list(city, "Berlin, Paris,,") == ("Berlin", "Paris")
    spec = with_condition(with_condition(FilterSpec("a"), BANKING), RETAIL)
    assert spec.conditions == (BANKING, RETAIL)
    assert without(spec, 0) == FilterSpec("a", (RETAIL,))
    assert not spec.empty
    assert FilterSpec("  ").empty


SUGAR_LIKE = Capabilities(operators=ALL_OPS | {Op.FAVORITE}, favorites=True)
THIS_MONTH = Condition("founded", Op.PERIOD, "this_month")


def test_periods_are_offered_first_on_date_fields_and_read_naturally() -> None:
    founded, created = ACCOUNTS.field("founded"), ACCOUNTS.field("date_entered")
    assert founded is not None
    assert created is not None
    assert operators_for(founded)[0] is Op.PERIOD
    assert operators_for(created)[0] is Op.PERIOD
    assert op_label(Op.PERIOD, founded) == "within"
    industry = ACCOUNTS.field("industry")
    assert industry is not None
    assert Op.PERIOD not in operators_for(industry)
    assert Op.FAVORITE not in operators_for(industry)
    # Every period of the core is listed, once.
    assert sorted(PERIODS) == sorted(Period)
    assert describe(THIS_MONTH, ACCOUNTS) == "Founded: this month"
    assert describe(Condition("date_entered", Op.PERIOD, "last_7_days"), ACCOUNTS) == (
        "Created: last 7 days"
    )
    # The spec keeps the period, not dates: built as is, resolved when sent.
    assert build(FilterSpec(conditions=(THIS_MONTH,)), ACCOUNTS, ALL) == THIS_MONTH
    with pytest.raises(Unsupported, match="within"):
        build(
            FilterSpec(conditions=(THIS_MONTH,)),
            ACCOUNTS,
            Capabilities(operators=ALL_OPS - {Op.PERIOD}),
        )


def test_favorites_only_is_anded_with_everything_where_offered() -> None:
    assert favorites_offered(SUGAR_LIKE)
    assert not favorites_offered(ALL)  # favorites=False
    assert not favorites_offered(Capabilities(favorites=True))  # the operator is not claimed
    fav = FilterSpec(favorites=True)
    assert not fav.empty
    assert build(fav, ACCOUNTS, SUGAR_LIKE) == FAVORITES_ONLY
    assert Condition("", Op.FAVORITE) == FAVORITES_ONLY
    anyof = FilterSpec("acme", (BANKING, RETAIL), "or", favorites=True)
    assert build(anyof, ACCOUNTS, SUGAR_LIKE) == and_(
        Condition("name", Op.CONTAINS, "acme"), or_(BANKING, RETAIL), FAVORITES_ONLY
    )
    with pytest.raises(Unsupported, match="favorites"):
        build(fav, ACCOUNTS, ALL)
    # Editing the conditions keeps the switch.
    spec = with_condition(fav, BANKING)
    assert spec.favorites
    assert without(spec, 0).favorites
