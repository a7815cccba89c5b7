"""SuiteCRM records are read through a parser table built once per module definition: it
must read every field type exactly as ``parse_value`` does, drop links, and keep the text
of attributes the definition does not know."""

from __future__ import annotations

from typing import Any

from crmdesk.backends.common import parse_text, parse_value
from crmdesk.backends.suitecrm.parse import attribute_parsers, parse_record
from crmdesk.core.schema import FieldDef, FieldType, LinkDef, ModuleDef, Option

SAMPLES: tuple[Any, ...] = (
    None,
    "",
    "plain",
    "Smith &amp; Sons &#039;",
    "42",
    "-3.50",
    "1",
    "0",
    "true",
    "2024-02-29",
    "2024-02-29 13:45:00",
    "2024-02-29T13:45:00+01:00",
    "^a^,^b^",
    7,
    2.5,
    True,
    False,
    {"id": "x"},
    ["a", "b"],
)


def module() -> ModuleDef:
    fields = tuple(
        FieldDef(
            f"f_{t.name.lower()}",
            t.name,
            t,
            options=(Option("a", "A"), Option("b", "B")) if "ENUM" in t.name else (),
        )
        for t in FieldType
    )
    links = (LinkDef("contacts", "Contacts", "Contacts"), LinkDef("f_text", "Shadow", "X"))
    return ModuleDef("Things", "Things", fields, links)


def test_every_field_type_reads_as_parse_value_does() -> None:
    mdef = module()
    for raw in SAMPLES:
        attrs = {f.name: raw for f in mdef.fields}
        record = parse_record({"id": "1", "type": "Things", "attributes": attrs}, None, mdef)
        for fdef in mdef.fields:
            if fdef.name == "id":
                continue
            expected = parse_value(fdef.type, raw)
            assert record.values[fdef.name] == expected, (fdef.type, raw)
            assert type(record.values[fdef.name]) is type(expected), (fdef.type, raw)


def test_links_are_dropped_and_unknown_attributes_kept_as_text() -> None:
    mdef = module()
    item = {
        "id": "1",
        "attributes": {
            "contacts": "x",
            "f_text": "a field wins over a link of the same name",
            "extra": "O&#039;Brien",
            "nested": {"a": 1},
        },
    }
    values = parse_record(item, None, mdef).values
    assert "contacts" not in values
    assert values["f_text"] == "a field wins over a link of the same name"
    assert values["extra"] == parse_text("O&#039;Brien") == "O'Brien"
    assert "nested" not in values


def test_the_table_is_built_once_per_definition() -> None:
    mdef = module()
    assert attribute_parsers(mdef) is attribute_parsers(mdef)
    other = module()  # equal, but another object: its own table
    assert attribute_parsers(other) is not attribute_parsers(mdef)
