"""Pure rules of the form: parsing per type, "did it change", field order, conflicts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from crmdesk.core.records import Record
from crmdesk.core.schema import FieldDef, FieldType, ModuleDef, Option, Section
from crmdesk.ui.forms.values import (
    ParseError,
    conflicts,
    default_values,
    form_sections,
    merge,
    parse_datetime,
    parse_text,
    render_text,
    same_value,
)

TEXT = FieldDef("name", "Name", FieldType.TEXT, required=True, length=5)


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        (FieldType.INT, " 1,234 ", 1234),
        (FieldType.INT, "-7", -7),
        (FieldType.DECIMAL, "1,234.50", Decimal("1234.50")),
        (FieldType.CURRENCY, "99", Decimal("99")),
        (FieldType.DATE, "2024-02-29", date(2024, 2, 29)),
        (FieldType.EMAIL, " a@b.example ", "a@b.example"),
        (FieldType.PHONE, "+1 (555) 010-99 ext 4", "+1 (555) 010-99 ext 4"),
        (FieldType.URL, "https://x.example/a", "https://x.example/a"),
        (FieldType.TEXT, "   ", None),
        (FieldType.MULTILINE, "a\n b\n", "a\n b\n"),
    ],
)
def test_parse_gives_typed_values(kind: FieldType, text: str, expected: object) -> None:
    assert parse_text(FieldDef("f", "F", kind), text) == expected


@pytest.mark.parametrize(
    ("kind", "text", "reason"),
    [
        (FieldType.INT, "12.5", "whole number"),
        (FieldType.INT, "ten", "whole number"),
        (FieldType.DECIMAL, "1.2.3", "number"),
        (FieldType.DATE, "31/12/2024", "YYYY-MM-DD"),
        (FieldType.DATE, "2023-02-29", "YYYY-MM-DD"),
        (FieldType.EMAIL, "nobody", "e-mail"),
        (FieldType.PHONE, "call me", "phone"),
        (FieldType.URL, "http://a b", "spaces"),
    ],
)
def test_parse_refuses_with_a_reason(kind: FieldType, text: str, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parse_text(FieldDef("f", "F", kind), text)


def test_length_is_checked() -> None:
    assert parse_text(TEXT, "abcde") == "abcde"
    with pytest.raises(ParseError, match="At most 5 characters"):
        parse_text(TEXT, "abcdef")


def test_datetimes_are_typed_in_the_users_zone() -> None:
    tz = timezone(timedelta(hours=-5))
    value = parse_datetime("2024-03-01 09:30", tz)
    assert value == datetime(2024, 3, 1, 14, 30, tzinfo=UTC)
    fdef = FieldDef("d", "D", FieldType.DATETIME)
    assert render_text(fdef, datetime(2024, 3, 1, 14, 30, tzinfo=UTC), tz) == "2024-03-01 09:30"
    with pytest.raises(ParseError):
        parse_datetime("tomorrow", tz)


def test_same_value_ignores_formatting_not_content() -> None:
    assert same_value(None, "")
    assert same_value((), None)
    assert same_value(Decimal("1000"), Decimal("1000.00"))
    assert same_value(3, Decimal("3.0"))
    assert same_value(("a", "b"), ("b", "a"))
    assert not same_value(True, 1)
    assert not same_value("a", "A")
    a = datetime(2024, 1, 1, 12, tzinfo=UTC)
    assert same_value(a, a.astimezone(timezone(timedelta(hours=3))))


def test_default_order_name_first_required_next_system_last() -> None:
    mdef = ModuleDef(
        "M",
        "M",
        fields=(
            FieldDef("id", "ID", FieldType.ID, read_only=True),
            FieldDef("date_modified", "Modified", FieldType.DATETIME, read_only=True),
            FieldDef("city", "City", FieldType.TEXT),
            FieldDef("status", "Status", FieldType.ENUM, required=True),
            FieldDef("name", "Name", FieldType.TEXT),
            FieldDef("hidden", "Hidden", FieldType.TEXT, visible=False),
        ),
    )
    sections = form_sections(mdef)
    assert sections == [
        Section("", ("name", "status", "city")),
        Section("System", ("date_modified",)),
    ]


def test_the_crms_layout_is_followed_and_nothing_is_lost() -> None:
    mdef = ModuleDef(
        "M",
        "M",
        fields=(
            FieldDef("name", "Name", FieldType.TEXT),
            FieldDef("a", "A", FieldType.TEXT),
            FieldDef("b", "B", FieldType.TEXT),
            FieldDef("createdAt", "Created", FieldType.DATETIME, read_only=True),
        ),
        layout=(Section("Overview", ("b", "name", "nope")), Section("Details", ("a", "b"))),
    )
    assert form_sections(mdef) == [
        Section("Overview", ("b", "name")),
        Section("Details", ("a",)),
        Section("System", ("createdAt",)),
    ]


def test_defaults_are_typed() -> None:
    mdef = ModuleDef(
        "M",
        "M",
        fields=(
            FieldDef("lat", "Lat", FieldType.DECIMAL, default="0.00000000"),
            FieldDef(
                "kind", "Kind", FieldType.ENUM, default="Single", options=(Option("Single", "S"),)
            ),
            FieldDef("flag", "Flag", FieldType.BOOL, default="1"),
            FieldDef("n", "N", FieldType.INT, default="not a number"),
            FieldDef("ro", "RO", FieldType.TEXT, default="x", read_only=True),
        ),
    )
    assert default_values(mdef) == {"lat": Decimal("0"), "kind": "Single", "flag": True}


def test_conflicts_are_fields_both_sides_changed_differently() -> None:
    mdef = ModuleDef(
        "M",
        "M",
        fields=tuple(FieldDef(n, n.upper(), FieldType.TEXT) for n in ("a", "b", "c", "d")),
    )
    original = Record("M", "1", {"a": "a0", "b": "b0", "c": "c0", "d": "d0"})
    current = Record("M", "1", {"a": "a-theirs", "b": "b0", "c": "same", "d": "d-theirs"})
    mine = {"a": "a-mine", "b": "b-mine", "c": "same"}
    clashes = conflicts(mdef, original, mine, current)
    assert [(c.field.name, c.original, c.mine, c.theirs) for c in clashes] == [
        ("a", "a0", "a-mine", "a-theirs")
    ]
    assert merge(mine, clashes, ["a"]) == {"b": "b-mine", "c": "same"}
    assert merge(mine, clashes, []) == mine
