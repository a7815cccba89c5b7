"""Every SugarCRM sample in shared/peers/sugarcrm/samples goes through the adapter's parsers.

Success samples must parse into domain values; error samples must map to the right core
error with Sugar's advice.  A new sample file without an entry here fails the suite.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from crmdesk.backends.sugarcrm import wire
from crmdesk.core.errors import (
    AuthError,
    ConfigurationError,
    Conflict,
    CrmError,
    NotFound,
    PermissionDenied,
    ServerError,
    Unavailable,
    ValidationError,
)
from crmdesk.core.records import Page, Record
from crmdesk.core.schema import FieldType, ModuleDef

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = next(
    (
        p
        for p in (
            ROOT.parent / "shared" / "peers" / "sugarcrm" / "samples",
            ROOT / "shared" / "peers" / "sugarcrm" / "samples",
            Path("/work/shared/peers/sugarcrm/samples"),
        )
        if p.is_dir()
    ),
    None,
)
FILES = sorted(SAMPLES.glob("*.json")) if SAMPLES else []


def load(name: str) -> dict[str, Any]:
    assert SAMPLES is not None
    return json.loads((SAMPLES / f"{name}.json").read_text("utf-8"))  # type: ignore[no-any-return]


def defs() -> dict[str, ModuleDef]:
    meta = load("metadata_modules_excerpt")["body"]
    lang = load("lang_en_us_excerpt")["body"]
    return {
        name: wire.parse_module(
            name,
            m,
            app_list_strings=lang["app_list_strings"],
            mod_strings=lang["mod_strings"].get(name, {}),
            app_strings=lang["app_strings"],
        )
        for name, m in meta["modules"].items()
    }


ERRORS: dict[str, type[CrmError]] = {
    "error_edit_conflict": Conflict,
    "error_fatal": ServerError,
    "error_incorrect_version": ConfigurationError,
    "error_invalid_grant": AuthError,
    "error_invalid_parameter": ValidationError,
    "error_maintenance": Unavailable,
    "error_metadata_out_of_date": wire.MetadataOutOfDate,
    "error_missing_parameter": ValidationError,
    "error_need_login": AuthError,
    "error_no_method": NotFound,
    "error_not_authorized": PermissionDenied,
    "error_not_found": NotFound,
    "error_request_too_large": ValidationError,
    "error_token_bad_password": AuthError,
    "error_token_invalid_refresh": AuthError,
}


def check_record(rec: Record, module: str) -> None:
    assert rec.module == module
    assert rec.id
    assert rec.version is not None
    for key, value in rec.values.items():
        assert not isinstance(value, dict | list), key


def parse_success(name: str, body: Any, mdefs: dict[str, ModuleDef]) -> None:
    acc = mdefs["Accounts"]
    if name in ("token", "token_refresh"):
        tok = wire.parse_token(body)
        assert tok.access_token == body["access_token"]
        assert tok.refresh_token == body["refresh_token"]
        assert tok.expires_in == 3600
        assert body["access_token"] not in repr(tok)
    elif name == "logout":
        assert body == {"success": True}
    elif name == "ping":
        assert body == "pong"
    elif name in ("filter_accounts", "list_empty"):
        page = wire.parse_page("Accounts", body, acc)
        assert len(page.records) == len(body["records"])
        assert page.next == (None if body["next_offset"] == -1 else str(body["next_offset"]))
        for r in page.records:
            check_record(r, "Accounts")
            assert isinstance(r.values["date_modified"], datetime)
    elif name in ("filter_accounts_get_help", "related_list"):
        page = wire.parse_page("Contacts", body, mdefs["Contacts"])
        assert page.next is None
        for r in page.records:
            check_record(r, "Contacts")
            assert "opportunities" not in r.values  # embedded collections are not values
    elif name == "count":
        assert wire.parse_count(body) == 50
    elif name == "leancount":
        assert wire.parse_leancount(body) == (20, True)
    elif name in ("record_account", "record_account_v12_reconstructed", "create_account"):
        rec = wire.parse_record("Accounts", body, acc)
        check_record(rec, "Accounts")
        assert rec.values["name"]
        assert isinstance(rec.values["date_entered"], datetime)
        assert rec.values["account_type"] == "Customer"
        if "email" in body:
            assert rec.values["email"] == tuple(e["email_address"] for e in body["email"])
        if "team_name" in body:
            assert "West" in rec.values["team_name"]  # type: ignore[operator]
        if "my_favorite" in body:
            assert rec.values["my_favorite"] is False
        assert "assigned_user_link" not in rec.values
        assert rec.access is not None
        assert "edit" in rec.access
    elif name == "update_account":
        rec = wire.parse_record("Accounts", body, acc)
        check_record(rec, "Accounts")
        assert rec.values["phone_office"] == "(555) 888-5555"
    elif name == "delete_account":
        assert isinstance(body["id"], str)
    elif name == "enum_account_type":
        opts = wire.parse_enum(body)
        assert [o.key for o in opts][:3] == ["", "Analyst", "Competitor"]
    elif name in ("link_create_related", "link_existing_record", "unlink"):
        primary, related = wire.parse_link_answer(body, "Contacts", mdefs["Contacts"])
        assert primary is not None
        assert primary.id == body["record"]["id"]
        assert [r.id for r in related] == [body["related_record"]["id"]]
    elif name == "link_multiple":
        primary, related = wire.parse_link_answer(body, "Opportunities", mdefs["Opportunities"])
        assert primary is not None
        assert len(related) == 2
        amount = related[0].values["amount"]
        assert amount == Decimal("25000")
        assert related[0].values["date_closed"] == date(2013, 2, 27)
    elif name == "me":
        user = wire.parse_me(body)
        assert user.user_name == "admin"
        assert user.is_admin
        assert user.time_zone == "America/Los_Angeles"
        assert user.email == "admin@example.com"
        assert "Accounts" in user.access
        assert "edit" in user.access["Accounts"]
        assert wire.user_hash(body)
    elif name == "search":
        refs = wire.parse_search(body)
        assert [(r.module, r.label) for r in refs] == [("Accounts", "Acme Corp")]
    elif name == "bulk":
        items = wire.parse_bulk(body)
        assert [s for s, _ in items] == [200, 200, 404]
        check_record(wire.parse_record("Accounts", items[0][1], acc), "Accounts")
        assert isinstance(wire.parse_page("Accounts", items[1][1], acc), Page)
        assert isinstance(wire.error_from_body(items[2][0], items[2][1]), NotFound)
    elif name == "metadata_modules_excerpt":
        mods = wire.parse_module_list(body)
        assert [m.name for m in mods] == ["Accounts", "Contacts", "Opportunities", "Cases", "Calls"]
        at = acc.field("account_type")
        assert at is not None
        assert at.type is FieldType.ENUM
        assert at.option_label("Customer") == "Customer"
        assert len(at.options) == 11
        assert acc.field("date_entered") is not None
        assert acc.field("date_entered").read_only  # type: ignore[union-attr]
        assert acc.link("contacts") is not None
        assert acc.link("member_of").cardinality.value == "one"  # type: ignore[union-attr]
        assert acc.field("contacts") is None  # links are LinkDefs, not fields
        aid = acc.field("assigned_user_id")
        assert aid is not None
        assert aid.type is FieldType.RELATE
        assert aid.relate_name_field == "assigned_user_name"
        cases = mdefs["Cases"]
        prio = cases.field("priority")
        assert prio is not None
        assert prio.option_label("P1") == "High"
        assert cases.field("hours_to_resolution").type is FieldType.DECIMAL  # type: ignore[union-attr]
        assert cases.field("follow_up_datetime").type is FieldType.DATETIME  # type: ignore[union-attr]
        multi = mdefs["Contacts"].field("dp_business_purpose")
        assert multi is not None
        assert multi.type is FieldType.MULTIENUM
        assert multi.options
        assert mdefs["Opportunities"].field("amount").type is FieldType.CURRENCY  # type: ignore[union-attr]
        assert acc.field("name").label == "Name"  # type: ignore[union-attr]
    elif name == "metadata_only_hash":
        assert isinstance(body["_hash"], str)
        assert isinstance(body["modules"]["Accounts"]["_hash"], str)
    elif name == "lang_en_us_excerpt":
        assert "account_type_dom" in body["app_list_strings"]
    else:  # pragma: no cover - a new sample needs a case
        pytest.fail(f"no parser check for sample {name}")


@pytest.mark.skipif(SAMPLES is None, reason="shared/peers/sugarcrm is not beside the repo")
def test_samples_are_there() -> None:
    assert len(FILES) >= 40


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_sample_parses(path: Path) -> None:
    sample = json.loads(path.read_text("utf-8"))
    name = path.stem
    status = sample["status"]
    body = sample["body"]
    if status == 200:
        assert name not in ERRORS
        parse_success(name, body, defs())
        return
    expected = ERRORS[name]
    err = wire.error_from_body(status, body, module="Accounts", mdef=defs()["Accounts"])
    assert type(err) is expected, (name, type(err))
    assert err.status == status
    assert err.advice
    assert err.message == body["error_message"]


def test_edit_conflict_carries_current_record() -> None:
    body = load("error_edit_conflict")["body"]
    err = wire.error_from_body(409, body, module="Accounts", mdef=defs()["Accounts"])
    assert isinstance(err, Conflict)
    assert err.current is not None
    assert err.current.values["name"] == "New Account Name"
    assert err.current.version is not None
    assert err.current.version.token == "2024-05-01T10:07:42+00:00"


def test_parameter_errors_name_the_parameter() -> None:
    err = wire.error_from_body(422, load("error_missing_parameter")["body"])
    assert isinstance(err, ValidationError)
    assert "max_num" in err.fields
    err = wire.error_from_body(422, load("error_invalid_parameter")["body"])
    assert isinstance(err, ValidationError)
    assert "$like" in err.fields


def test_metadata_out_of_date_carries_new_hash() -> None:
    err = wire.error_from_body(412, load("error_metadata_out_of_date")["body"])
    assert isinstance(err, wire.MetadataOutOfDate)
    assert err.metadata_hash == "4d2a3a5cc9e5e2ab4e41b3e8a0f5a5d1"
