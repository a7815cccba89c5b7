"""Sugar's record-view panels and dependent drop-downs, end to end: the demo Sugar serves
them in the real shape and the adapter reads them over loopback HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from crmdesk.backends import open_backend
from crmdesk.backends.sugarcrm import SugarCrmBackend
from crmdesk.core.backend import PicklistDependency
from crmdesk.demo.server import DemoServer

MODULES = ("Accounts", "Contacts", "Leads", "Opportunities", "Cases")


@pytest.fixture
async def sugar(demo_server: DemoServer) -> AsyncIterator[SugarCrmBackend]:
    b = open_backend(demo_server.profile("sugarcrm"), demo_server.secrets("sugarcrm"))
    assert isinstance(b, SugarCrmBackend)
    await b.connect()
    try:
        yield b
    finally:
        await b.close()


@pytest.mark.parametrize("module", MODULES)
async def test_describe_has_the_record_view_sections(sugar: SugarCrmBackend, module: str) -> None:
    mdef = await sugar.describe(module)
    assert [s.label for s in mdef.layout] == ["Overview", "More information"]
    names = [n for s in mdef.layout for n in s.fields]
    assert len(names) == len(set(names))
    for n in names:
        fdef = mdef.field(n)
        assert fdef is not None, n
        assert fdef.visible, n
    # The header's name opens the first section; buttons and the avatar are not fields.
    first = mdef.layout[0].fields
    if module in ("Contacts", "Leads"):
        assert first[:3] == ("salutation", "first_name", "last_name")
    else:
        assert first[0] == "name"
    assert not {"picture", "favorite", "follow", "my_favorite", "email"} & set(names)
    # Every shown field of the catalog is placed somewhere (the rest panel holds them).
    shown = {f.name for f in mdef.fields if f.visible}
    assert shown - set(names) <= {"name"}


async def test_relate_names_and_fieldsets_map_to_fields(sugar: SugarCrmBackend) -> None:
    mdef = await sugar.describe("Accounts")
    overview, more = mdef.layout
    assert overview.fields == (
        "name",
        "website",
        "industry",
        "parent_id",  # parent_name in the view
        "account_type",
        "assigned_user_id",  # assigned_user_name
        "phone_office",
        "email1",  # the email widget
    )
    addr = [n for n in more.fields if n.startswith("billing_address_")]
    assert addr == [
        "billing_address_street",
        "billing_address_city",
        "billing_address_state",
        "billing_address_postalcode",
        "billing_address_country",
    ]
    # "date_entered_by" is <date_entered> by <created_by_name>; the teams between the two.
    assert more.fields[-5:] == (
        "date_entered",
        "created_by",
        "team_name",  # a shown field itself, though its id_name (team_id) is no field
        "date_modified",
        "modified_user_id",
    )


async def test_users_have_no_record_view(sugar: SugarCrmBackend) -> None:
    assert (await sugar.describe("Users")).layout == ()


async def test_the_case_status_depends_on_its_state(sugar: SugarCrmBackend) -> None:
    assert sugar.capabilities.picklist_dependencies
    deps = await sugar.picklist_dependencies("Cases")
    assert deps == [
        PicklistDependency(
            "state",
            "status",
            {
                "Open": ("New", "Assigned", "Pending Input"),
                "Closed": ("Closed", "Rejected", "Duplicate"),
            },
        )
    ]
    mdef = await sugar.describe("Cases")
    status = mdef.field("status")
    assert status is not None
    # The grid speaks Sugar's keys, the same the drop-down offers.
    allowed = {v for vs in deps[0].mapping.values() for v in vs}
    assert allowed <= {o.key for o in status.options}
    assert set(deps[0].mapping) <= {o.key for o in mdef.field("state").options}  # type: ignore[union-attr]
    assert await sugar.picklist_dependencies("Accounts") == []


async def test_the_demo_sends_the_real_panel_shape(sugar: SugarCrmBackend) -> None:
    """``modules.<M>.views.record.meta.panels``: header, body and "show more" panels whose
    entries are names or objects (fieldsets with nested ``fields``)."""
    raw = await sugar.raw_request(
        "GET", "metadata", [("type_filter", "modules"), ("module_filter", "Contacts")]
    )
    assert raw.status == 200
    panels = raw.json["modules"]["Contacts"]["views"]["record"]["meta"]["panels"]
    assert [p["name"] for p in panels] == ["panel_header", "panel_body", "panel_hidden"]
    assert panels[0]["header"] is True
    assert [p.get("label") for p in panels[1:]] == ["LBL_RECORD_BODY", "LBL_RECORD_SHOWMORE"]
    assert {"name": "picture", "type": "avatar"}.items() <= panels[0]["fields"][0].items()
    fieldsets = [f for f in panels[2]["fields"] if isinstance(f, dict) and "fields" in f]
    assert {f["name"] for f in fieldsets} >= {"primary_address", "date_entered_by"}
    grid = raw.json["modules"]["Contacts"]["fields"].get("status", {}).get("visibility_grid")
    assert grid is None
    cases = await sugar.raw_request(
        "GET", "metadata", [("type_filter", "modules"), ("module_filter", "Cases")]
    )
    vardef = cases.json["modules"]["Cases"]["fields"]["status"]
    assert vardef["visibility_grid"]["trigger"] == "state"
    assert vardef["visibility_grid"]["values"]["Open"] == ["New", "Assigned", "Pending Input"]
