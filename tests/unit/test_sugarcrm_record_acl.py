"""Sugar's per-record ``_acl`` (record-level actions, per-field read / write) and its
folded record-view panels: parsed from the samples and from shapes the server source
gives, and end to end against the demo Sugar over loopback HTTP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as hs

from crmdesk.backends import open_backend
from crmdesk.backends.sugarcrm import SugarCrmBackend, wire
from crmdesk.core.errors import PermissionDenied
from crmdesk.core.records import FieldAccess
from crmdesk.core.schema import FieldDef, FieldType, ModuleDef, Section
from crmdesk.demo.server import DemoServer
from crmdesk.demo.sugarcrm import RESTRICTED_ACCOUNTS, SugarApp

SAMPLES = Path("/work/shared/peers/sugarcrm/samples")

ACCOUNTS = ModuleDef(
    "Accounts",
    "Accounts",
    (
        FieldDef("name", "Name", FieldType.TEXT),
        FieldDef("annual_revenue", "Annual revenue", FieldType.TEXT),
        FieldDef("phone_office", "Office phone", FieldType.PHONE),
        FieldDef("email1", "Email", FieldType.EMAIL),
        FieldDef(
            "parent_id",
            "Member of",
            FieldType.RELATE,
            relate_module="Accounts",
            relate_name_field="parent_name",
        ),
    ),
)


def _sample_acls(node: Any) -> Iterator[dict[str, Any]]:
    """Every object with an ``_acl`` anywhere in a sample's body: records, and the link
    objects of relate fields (``assigned_user_link: {full_name, id, _acl}``)."""
    if isinstance(node, dict):
        if "_acl" in node:
            yield node
        for value in node.values():
            yield from _sample_acls(value)
    elif isinstance(node, list):
        for value in node:
            yield from _sample_acls(value)


def _samples_with_acl() -> list[str]:
    return sorted(p.stem for p in SAMPLES.glob("*.json") if '"_acl"' in p.read_text())


# -- parsing ----------------------------------------------------------------------------


def test_the_samples_hold_records_with_acl() -> None:
    # record, filter, create, update, link, bulk, search, conflict …: many shapes.
    assert len(_samples_with_acl()) >= 12


@pytest.mark.parametrize("name", _samples_with_acl())
def test_every_sample_record_with_acl_parses(name: str) -> None:
    body = json.loads((SAMPLES / f"{name}.json").read_text())["body"]
    chunks = list(_sample_acls(body))
    records = [c for c in chunks if "_module" in c or "date_modified" in c]
    assert records, name
    for raw in chunks:
        # Link objects carry PHP's ``"fields": []`` with ``_hash`` beside: nothing per field.
        assert wire.parse_field_acl(raw["_acl"]) is None
    for raw in records:
        rec = wire.parse_record(str(raw.get("_module") or "Accounts"), raw)
        # Every sample's record has the module's rules (``"fields": {}`` or PHP's ``[]``).
        assert rec.field_access is None
        assert rec.access is not None
        assert {"view", "edit", "delete"} <= rec.access
        assert wire.parse_field_acl(raw["_acl"]) is None


def test_the_readme_shape_limits_the_record_and_a_field() -> None:
    """README §5: ``{"edit":"no","delete":"no","fields":{"amount":{"write":"no",…}}}``."""
    raw = {
        "id": "a1",
        "name": "Acme",
        "date_modified": "2024-01-02T03:04:05+00:00",
        "_acl": {
            "edit": "no",
            "delete": "no",
            "fields": {"amount": {"write": "no", "create": "no"}},
        },
        "_module": "Opportunities",
    }
    rec = wire.parse_record("Opportunities", raw)
    assert rec.access is not None
    assert "edit" not in rec.access
    assert "delete" not in rec.access
    assert "view" in rec.access
    assert rec.field_access == FieldAccess(read_only=frozenset({"amount"}))
    assert rec.field_access is not None
    assert rec.field_access.may_read("amount")
    assert not rec.field_access.may_write("amount")
    assert rec.field_access.may_write("name")


def test_a_field_one_may_not_read_may_not_be_written_either() -> None:
    fa = wire.parse_field_acl({"fields": {"phone_office": {"read": "no"}}})
    assert fa is not None
    assert not fa.may_read("phone_office")
    assert not fa.may_write("phone_office")
    assert fa.may_read("name")


def test_acl_names_map_to_the_forms_fields() -> None:
    """A relate's name field stands for its id field; ``email`` for the primary address."""
    fa = wire.parse_field_acl(
        {
            "fields": {
                "parent_name": {"write": "no"},
                "email": {"read": "no", "write": "no"},
                "_hash": "abc",
            }
        },
        ACCOUNTS,
    )
    assert fa is not None
    assert not fa.may_write("parent_id")
    assert not fa.may_write("parent_name")
    assert not fa.may_read("email1")
    assert fa.may_write("name")
    assert "_hash" not in fa.read_only


@pytest.mark.parametrize(
    "acl",
    [
        None,
        {},
        {"fields": {}},
        {"fields": []},
        {"fields": [], "admin": "no", "developer": "no", "_hash": "x"},
        {"fields": {"amount": {"create": "no"}}},  # create only: new records, not this one
        {"fields": {"amount": {"write": "yes"}}},
        {"fields": {"amount": "no"}},
        "no",
    ],
)
def test_nothing_to_say_per_field_is_none(acl: Any) -> None:
    assert wire.parse_field_acl(acl, ACCOUNTS) is None


def test_equal_answers_share_one_value() -> None:
    """A page of 100 records with the same rules keeps one FieldAccess, not 100."""
    acl = {"fields": {"amount": {"write": "no"}}}
    first = wire.parse_record("Accounts", {"id": "1", "_acl": acl})
    second = wire.parse_record("Accounts", {"id": "2", "_acl": json.loads(json.dumps(acl))})
    assert first.field_access is not None
    assert first.field_access is second.field_access


JSONS = hs.recursive(
    hs.none() | hs.booleans() | hs.integers() | hs.text(max_size=6),
    lambda inner: hs.lists(inner, max_size=3) | hs.dictionaries(hs.text(max_size=6), inner),
    max_leaves=12,
)


@given(hs.dictionaries(hs.sampled_from(["fields", "edit", "delete", "x"]), JSONS))
def test_any_acl_shape_parses_or_is_none(acl: dict[str, Any]) -> None:
    fa = wire.parse_field_acl(acl, ACCOUNTS)
    assert fa is None or isinstance(fa, FieldAccess)


# -- folded panels ----------------------------------------------------------------------


def _layout(panels: list[Any]) -> tuple[Section, ...]:
    meta = {"views": {"record": {"meta": {"panels": panels}}}}
    return wire.parse_record_layout(meta, ("name", "website", "industry", "phone_office"))


def test_the_show_more_panel_and_studio_collapsed_panels_start_collapsed() -> None:
    """Sugar 12's stock views say ``"hide": true``; Studio saves ``"newTab": false,
    "panelDefault": "collapsed" | "expanded"`` on the panels it touches."""
    layout = _layout(
        [
            {"name": "panel_header", "header": True, "fields": ["name"]},
            {
                "name": "panel_body",
                "label": "LBL_RECORD_BODY",
                "newTab": False,
                "panelDefault": "expanded",
                "fields": ["website"],
            },
            {
                "name": "panel_hidden",
                "label": "LBL_SHOW_MORE",
                "hide": True,
                "fields": ["industry"],
            },
            {
                "newTab": False,
                "panelDefault": "collapsed",
                "name": "LBL_RECORDVIEW_PANEL2",
                "label": "LBL_RECORDVIEW_PANEL2",
                "fields": ["phone_office"],
            },
        ]
    )
    assert [(s.label, s.fields, s.collapsed) for s in layout] == [
        ("Overview", ("name", "website"), False),
        ("More information", ("industry",), True),
        ("Recordview panel2", ("phone_office",), True),
    ]


@pytest.mark.parametrize("flag", [{"hide": False}, {"hide": "0"}, {"panelDefault": "expanded"}])
def test_panels_not_folded_stay_open(flag: dict[str, Any]) -> None:
    layout = _layout([{"name": "p", "label": "Body", "fields": ["website"], **flag}])
    assert layout == (Section("Body", ("website",)),)


@pytest.mark.parametrize("flag", [{"hide": 1}, {"hide": "true"}, {"panelDefault": "Collapsed"}])
def test_php_spellings_of_a_folded_panel(flag: dict[str, Any]) -> None:
    layout = _layout([{"name": "p", "label": "Body", "fields": ["website"], **flag}])
    assert layout == (Section("Body", ("website",), collapsed=True),)


def test_the_records_name_is_never_folded_away() -> None:
    """The header's fields open the next panel, but not when that one starts folded."""
    layout = _layout(
        [
            {"name": "panel_header", "header": True, "fields": ["name"]},
            {"name": "panel_hidden", "label": "LBL_SHOW_MORE", "hide": True, "fields": ["website"]},
        ]
    )
    assert layout == (
        Section("Overview", ("name",)),
        Section("More information", ("website",), collapsed=True),
    )


# -- against the demo Sugar -------------------------------------------------------------


@pytest.fixture
async def sugar(demo_server: DemoServer) -> AsyncIterator[SugarCrmBackend]:
    b = open_backend(demo_server.profile("sugarcrm"), demo_server.secrets("sugarcrm"))
    assert isinstance(b, SugarCrmBackend)
    await b.connect()
    try:
        yield b
    finally:
        await b.close()


def restricted(demo_server: DemoServer, number: str) -> str:
    """The id of the demo account whose ``_acl`` is ``RESTRICTED_ACCOUNTS[number]``."""
    app = demo_server.apps["sugarcrm"]
    assert isinstance(app, SugarApp)
    return {n: rid for rid, n in app.restricted_accounts().items()}[number]


def test_the_demo_restricts_a_few_accounts(demo_server: DemoServer) -> None:
    app = demo_server.apps["sugarcrm"]
    assert isinstance(app, SugarApp)
    assert sorted(app.restricted_accounts().values()) == sorted(RESTRICTED_ACCOUNTS)


async def test_the_demos_acl_has_the_samples_shape(demo_server: DemoServer) -> None:
    """Only "no" entries; module-level action keys and ``fields``; per field read / write /
    create (README §5, SugarBeanApiHelper::getBeanAcl)."""
    sample = json.loads((SAMPLES / "record_account.json").read_text())["body"]
    base = demo_server.base_url("sugarcrm")
    async with httpx.AsyncClient(base_url=f"{base}/rest/v11/") as http:
        c = demo_server.credentials
        login = await http.post(
            "oauth2/token",
            json={
                "grant_type": "password",
                "client_id": "sugar",
                "client_secret": "",
                "username": c.username,
                "password": c.password,
                "platform": "crmdesk",  # not single-session: no other test loses its token
            },
        )
        http.headers["OAuth-Token"] = login.json()["access_token"]
        for number in RESTRICTED_ACCOUNTS:
            body = (await http.get(f"Accounts/{restricted(demo_server, number)}")).json()
            acl = body["_acl"]
            assert list(body)[-2:] == ["_acl", "_module"]  # formatBean's order (README §5)
            assert isinstance(sample["_acl"]["fields"], dict)
            assert isinstance(acl["fields"], dict)
            assert set(acl) <= wire.ACL_ACTIONS | {"fields"}
            assert all(acl[k] == "no" for k in acl if k != "fields")
            for rights in acl["fields"].values():
                assert set(rights) <= {"read", "write", "create"}
                assert set(rights.values()) == {"no"}
            if any(r.get("read") == "no" for r in acl["fields"].values()):
                assert "phone_office" not in body  # Sugar leaves out what one may not read


async def test_restricted_accounts_parse_over_http(
    sugar: SugarCrmBackend, demo_server: DemoServer
) -> None:
    revenue = await sugar.get("Accounts", restricted(demo_server, "0012"))
    assert revenue.field_access == FieldAccess(read_only=frozenset({"annual_revenue"}))
    assert revenue.access is not None
    assert {"edit", "delete"} <= revenue.access

    phone = await sugar.get("Accounts", restricted(demo_server, "0013"))
    assert phone.field_access is not None
    assert not phone.field_access.may_read("phone_office")
    assert not phone.field_access.may_write("annual_revenue")
    assert "phone_office" not in phone.values

    locked = await sugar.get("Accounts", restricted(demo_server, "0014"))
    assert locked.field_access is None
    assert locked.access is not None
    assert "edit" not in locked.access
    assert "delete" not in locked.access

    page_ids = {revenue.id, phone.id, locked.id}
    other = await sugar.create("Accounts", {"name": "ACL control account"})
    try:
        assert other.field_access is None
        assert other.id not in page_ids
    finally:
        await sugar.delete("Accounts", other.id)


async def test_the_demo_refuses_what_the_acl_forbids(
    sugar: SugarCrmBackend, demo_server: DemoServer
) -> None:
    rid = restricted(demo_server, "0012")
    with pytest.raises(PermissionDenied, match="annual_revenue"):
        await sugar.update("Accounts", rid, {"annual_revenue": "1M"})
    locked = restricted(demo_server, "0014")
    with pytest.raises(PermissionDenied):
        await sugar.update("Accounts", locked, {"description": "x"})
    with pytest.raises(PermissionDenied):
        await sugar.delete("Accounts", locked)
    assert (await sugar.get("Accounts", locked)).id == locked


async def test_the_demo_serves_a_collapsed_panel(sugar: SugarCrmBackend) -> None:
    mdef = await sugar.describe("Accounts")
    assert [(s.label, s.collapsed) for s in mdef.layout] == [
        ("Overview", False),
        ("More information", True),
    ]
