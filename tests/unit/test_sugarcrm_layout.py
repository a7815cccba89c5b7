"""Sugar's record-view panels → form sections, and ``visibility_grid`` → dependent
drop-downs: pure parsing, real shapes and malformed ones."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as hs

from crmdesk.backends.sugarcrm import wire
from crmdesk.core.backend import PicklistDependency
from crmdesk.core.schema import Section


def _meta(panels: Any, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"fields": fields or {}, "views": {"record": {"meta": {"panels": panels}}}}


#: The panels of Sugar's stock Accounts record view (modules/Accounts/clients/base/views/
#: record/record.php), trimmed: the header's buttons, fieldsets, spans, a copy widget.
ACCOUNT_PANELS: list[Any] = [
    {
        "name": "panel_header",
        "header": True,
        "fields": [
            {"name": "picture", "type": "avatar", "size": "large", "dismiss_label": True},
            {"name": "name"},
            {"name": "favorite", "label": "LBL_FAVORITE", "type": "favorite"},
            {"name": "follow", "label": "LBL_FOLLOW", "type": "follow", "readonly": True},
        ],
    },
    {
        "name": "panel_body",
        "label": "LBL_RECORD_BODY",
        "columns": 2,
        "fields": [
            "website",
            "industry",
            "parent_name",
            "account_type",
            "assigned_user_name",
            "phone_office",
            {"name": "tag", "span": 12},
        ],
    },
    {
        "name": "panel_hidden",
        "label": "LBL_RECORD_SHOWMORE",
        "hide": True,
        "fields": [
            {
                "name": "billing_address",
                "type": "fieldset",
                "fields": [
                    {"name": "billing_address_street", "css_class": "address_street"},
                    {"name": "billing_address_city"},
                ],
            },
            {
                "name": "shipping_address",
                "type": "fieldset",
                "fields": [
                    {"name": "copy", "type": "copy", "mapping": {"a": "b"}},
                    {"name": "shipping_address_city"},
                ],
            },
            "email",
            {"name": "description", "span": 12},
            {"span": 6},
            {
                "name": "date_entered_by",
                "type": "fieldset",
                "readonly": True,
                "fields": [
                    {"name": "date_entered"},
                    {"type": "label", "default_value": "LBL_BY"},
                    {"name": "created_by_name"},
                ],
            },
            "team_name",
            "website",  # again: stays in its first section
        ],
    },
]
ACCOUNT_FIELDS = (
    "name",
    "website",
    "industry",
    "parent_id",
    "account_type",
    "assigned_user_id",
    "phone_office",
    "billing_address_street",
    "billing_address_city",
    "shipping_address_city",
    "email1",
    "description",
    "date_entered",
    "created_by",
)
ALIASES = {
    "parent_name": "parent_id",
    "assigned_user_name": "assigned_user_id",
    "created_by_name": "created_by",
    "email": "email1",
}


def test_stock_account_panels_become_sections_in_sugar_order() -> None:
    layout = wire.parse_record_layout(_meta(ACCOUNT_PANELS), ACCOUNT_FIELDS, ALIASES)
    assert layout == (
        Section(
            "Overview",
            (
                "name",  # from the header, which is no section of its own
                "website",
                "industry",
                "parent_id",
                "account_type",
                "assigned_user_id",
                "phone_office",
            ),
        ),
        Section(
            "More information",
            (
                "billing_address_street",
                "billing_address_city",
                "shipping_address_city",
                "email1",
                "description",
                "date_entered",
                "created_by",
            ),
            collapsed=True,  # "hide": true, Sugar's "Show more" panel
        ),
    )


def test_panel_labels_come_from_the_module_strings_first() -> None:
    panels = [
        {"name": "panel_body", "label": "LBL_RECORD_BODY", "fields": ["name"]},
        {"name": "panel_hidden", "label": "LBL_RECORD_SHOWMORE", "fields": ["website"]},
        {"name": "p3", "label": "LBL_RECORDVIEW_PANEL1", "fields": ["industry"]},
        {"name": "p4", "label": "LBL_RECORDVIEW_PANEL2", "fields": ["phone_office"]},
        {"name": "p5", "label": "Billing details", "fields": ["billing_address_city"]},
        {"name": "panel_extra_info", "fields": ["description"]},
    ]
    layout = wire.parse_record_layout(
        _meta(panels),
        ACCOUNT_FIELDS,
        mod_strings={"LBL_RECORD_BODY": "Key facts:", "LBL_RECORDVIEW_PANEL1": "Market"},
        # app_strings hold the toggle's words for the stock keys: not a heading
        app_strings={"LBL_RECORD_SHOWMORE": "Show More", "LBL_RECORDVIEW_PANEL2": "Phones"},
    )
    assert [s.label for s in layout] == [
        "Key facts",
        "More information",
        "Market",
        "Phones",
        "Billing details",
        "Extra info",
    ]


def test_a_lone_header_is_an_overview_section() -> None:
    panels = [{"name": "panel_header", "header": True, "fields": ["picture", "name"]}]
    assert wire.parse_record_layout(_meta(panels), ACCOUNT_FIELDS) == (
        Section("Overview", ("name",)),
    )


def test_a_header_of_buttons_only_adds_nothing() -> None:
    panels = [
        {"name": "panel_header", "header": True, "fields": ["favorite", "follow"]},
        {"name": "panel_body", "label": "LBL_RECORD_BODY", "fields": ["website"]},
    ]
    assert wire.parse_record_layout(_meta(panels), ACCOUNT_FIELDS) == (
        Section("Overview", ("website",)),
    )


def test_fieldsets_expand_into_their_members_only() -> None:
    panels = [
        {
            "name": "panel_header",
            "header": True,
            "fields": [
                {
                    "name": "name",
                    "type": "fullname",
                    "fields": [{"name": "salutation", "type": "enum"}, "first_name", "last_name"],
                }
            ],
        },
        {"name": "panel_body", "label": "LBL_RECORD_BODY", "fields": ["title"]},
    ]
    fields = ("name", "salutation", "first_name", "last_name", "title")
    assert wire.parse_record_layout(_meta(panels), fields) == (
        Section("Overview", ("salutation", "first_name", "last_name", "title")),
    )


@pytest.mark.parametrize(
    "meta",
    [
        {},
        {"views": None},
        {"views": {"record": []}},
        {"views": {"record": {"meta": {"panels": {"0": {}}}}}},
        _meta(None),
        _meta("panels"),
        _meta([None, 3, "panel_body", ["website"]]),
        _meta([{"name": "panel_body"}]),  # no fields
        _meta([{"name": "panel_body", "fields": "website"}]),
        _meta([{"name": "panel_body", "fields": {"0": "website"}}]),
        _meta([{"name": "panel_body", "fields": [None, 7, True, [], {}, {"name": 5}, ""]}]),
        _meta([{"name": "panel_body", "fields": ["not_a_field", {"name": "nor_this"}]}]),
    ],
)
def test_malformed_panels_give_no_sections_and_no_error(meta: Any) -> None:
    assert wire.parse_record_layout(meta, ACCOUNT_FIELDS) == ()


def test_a_malformed_panel_is_skipped_and_the_others_kept() -> None:
    panels = [
        "junk",
        {"name": "panel_body", "label": 42, "fields": ["website", {"fields": "x"}]},
        {"name": "p2", "label": None, "fields": {"a": 1}},
        {"name": "panel_hidden", "label": "LBL_RECORD_SHOWMORE", "fields": ["industry"]},
    ]
    assert wire.parse_record_layout(_meta(panels), ACCOUNT_FIELDS) == (
        Section("Overview", ("website",)),  # no label: named after the stock panel
        Section("More information", ("industry",)),
    )


def test_deeply_nested_fieldsets_stop_without_error() -> None:
    entry: Any = "website"
    for _ in range(200):
        entry = {"name": "x", "fields": [entry]}
    layout = wire.parse_record_layout(_meta([{"name": "p", "fields": [entry]}]), ACCOUNT_FIELDS)
    assert layout == ()


def test_parse_module_reads_the_record_view_with_relate_and_email_aliases() -> None:
    fields = {
        "id": {"name": "id", "type": "id"},
        "name": {"name": "name", "type": "name"},
        "website": {"name": "website", "type": "url"},
        "email": {"name": "email", "type": "email", "source": "non-db"},
        "email1": {"name": "email1", "type": "varchar"},
        "parent_id": {"name": "parent_id", "type": "id", "module": "Accounts"},
        "parent_name": {
            "name": "parent_name",
            "type": "relate",
            "rname": "name",
            "id_name": "parent_id",
            "module": "Accounts",
            "source": "non-db",
        },
        "my_favorite": {"name": "my_favorite", "type": "bool", "source": "non-db"},
        "team_name": {
            "name": "team_name",
            "type": "relate",
            "custom_type": "teamset",
            "rname": "name",
            "id_name": "team_id",
            "module": "Teams",
            "source": "non-db",
        },
    }
    panels = [
        {"name": "panel_header", "header": True, "fields": ["picture", "name", "favorite"]},
        {
            "name": "panel_body",
            "label": "LBL_RECORD_BODY",
            "fields": ["website", "parent_name", "email", "my_favorite", "id", "team_name"],
        },
    ]
    mdef = wire.parse_module("Accounts", _meta(panels, fields))
    assert mdef.layout == (
        Section("Overview", ("name", "website", "parent_id", "email1", "team_name")),
    )
    assert all(mdef.has_field(n) for s in mdef.layout for n in s.fields)


def test_parse_module_without_a_record_view_has_no_layout() -> None:
    mdef = wire.parse_module("Users", {"fields": {"name": {"name": "name", "type": "name"}}})
    assert mdef.layout == ()


# -- visibility_grid --------------------------------------------------------------------


CASE_FIELDS = {
    "_hash": "abc",
    "state": {"name": "state", "type": "enum", "options": "case_state_dom"},
    "status": {
        "name": "status",
        "type": "enum",
        "options": "case_status_dom",
        "visibility_grid": {
            "trigger": "state",
            "values": {
                "": [""],
                "Open": ["New", "Assigned", "Pending Input"],
                "Closed": ["Closed", "Rejected", "Duplicate", "Closed"],
            },
        },
    },
    "priority": {"name": "priority", "type": "enum"},
}


def test_visibility_grid_becomes_a_dependency() -> None:
    deps = wire.parse_visibility_grids(CASE_FIELDS, ["state", "status", "priority"])
    assert deps == [
        PicklistDependency(
            "state",
            "status",
            {
                "": ("",),
                "Open": ("New", "Assigned", "Pending Input"),
                "Closed": ("Closed", "Rejected", "Duplicate"),
            },
        )
    ]


def test_numeric_keys_are_read_as_strings() -> None:
    fields = {
        "level": {
            "name": "level",
            "visibility_grid": {"trigger": "tier", "values": {"1": [1, 2, "3", True, None]}},
        }
    }
    assert wire.parse_visibility_grids(fields) == [
        PicklistDependency("tier", "level", {"1": ("1", "2", "3")})
    ]


@pytest.mark.parametrize(
    "grid",
    [
        None,
        "state",
        ["state", {"Open": ["New"]}],
        {"values": {"Open": ["New"]}},  # no trigger
        {"trigger": "", "values": {"Open": ["New"]}},
        {"trigger": 3, "values": {"Open": ["New"]}},
        {"trigger": "state"},  # no values
        {"trigger": "state", "values": ["New"]},
        {"trigger": "state", "values": {"Open": "New"}},  # no list for any parent value
        {"trigger": "status", "values": {"Open": ["New"]}},  # the field itself
        {"trigger": "nonexistent", "values": {"Open": ["New"]}},  # not a field
    ],
)
def test_malformed_grids_are_skipped(grid: Any) -> None:
    fields = {
        "state": {"name": "state", "type": "enum"},
        "status": {"name": "status", "type": "enum", "visibility_grid": grid},
        "priority": {
            "name": "priority",
            "visibility_grid": {"trigger": "state", "values": {"Open": ["P1"]}},
        },
    }
    deps = wire.parse_visibility_grids(fields, ["state", "status", "priority"])
    assert deps == [PicklistDependency("state", "priority", {"Open": ("P1",)})]


@pytest.mark.parametrize("raw", [None, [], "fields", 3, {"status": "enum"}, {"_hash": {}}])
def test_no_field_definitions_give_no_dependencies(raw: Any) -> None:
    assert wire.parse_visibility_grids(raw) == []


def test_a_grid_on_a_field_the_module_lacks_is_skipped() -> None:
    assert wire.parse_visibility_grids(CASE_FIELDS, ["state", "priority"]) == []


JSONISH = hs.recursive(
    hs.none() | hs.booleans() | hs.integers() | hs.text(max_size=8),
    lambda inner: (
        hs.lists(inner, max_size=4) | hs.dictionaries(hs.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=30,
)


@given(JSONISH, JSONISH)
def test_any_json_parses_without_error(panels: Any, grid: Any) -> None:
    layout = wire.parse_record_layout(_meta(panels), ACCOUNT_FIELDS, ALIASES)
    seen = [n for s in layout for n in s.fields]
    assert len(seen) == len(set(seen))
    assert set(seen) <= set(ACCOUNT_FIELDS)
    assert all(isinstance(s.label, str) for s in layout)
    fields = {"state": {"name": "state"}, "status": {"name": "status", "visibility_grid": grid}}
    for dep in wire.parse_visibility_grids(fields, ["state", "status"]):
        assert all(isinstance(k, str) for k in dep.mapping)
        assert all(isinstance(v, str) for vs in dep.mapping.values() for v in vs)
