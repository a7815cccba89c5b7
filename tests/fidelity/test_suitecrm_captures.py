"""Every real SuiteCRM 7.14 response captured in peers/suitecrm goes through the adapter's
parsing: successes must parse into domain values, errors must become the right core error.
None may escape as an unexpected exception."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from crmdesk.backends.suitecrm.errors import error_for
from crmdesk.backends.suitecrm.parse import (
    parse_fields,
    parse_modules,
    parse_page,
    parse_single,
    parse_token,
    parse_user,
)
from crmdesk.backends.transport import decode_json, looks_like_html
from crmdesk.core import errors as E
from crmdesk.core.records import Page, Record, UserInfo
from crmdesk.core.schema import FieldType, ModuleDef

CAPTURES = Path("/work/shared/peers/suitecrm")
FILES = sorted(CAPTURES.glob("*.json"))

#: capture → the core error its response must become.  Every other capture must parse.
EXPECTED_ERRORS: dict[str, type[E.CrmError]] = {
    "after_logout_token_use": E.AuthError,
    "after_refresh_old_access_token_use": E.AuthError,
    "auth_scheme_lowercase_bearer": E.AuthError,
    "error_bad_token": E.AuthError,
    "error_no_token": E.AuthError,
    "create_account_duplicate_id": E.ValidationError,
    "create_account_missing_type": E.ValidationError,
    "create_account_relationships_in_body": E.ValidationError,
    "create_account_unknown_attribute": E.ValidationError,
    "create_contact_multienum_json_array": E.ValidationError,
    "delete_account_again": E.NotFound,
    "delete_unknown_id": E.NotFound,
    "error_create_empty_body": E.ValidationError,
    "error_create_unknown_module": E.NotFound,
    "error_get_non_uuid_id": E.NotFound,
    "error_get_unknown_id": E.NotFound,
    "error_get_unknown_module": E.NotFound,
    "error_get_unknown_module_record": E.NotFound,
    "error_malformed_json_patch": E.ValidationError,
    "error_method_not_allowed": E.NotFound,
    "error_relationship_delete_unknown_module": E.NotFound,
    "error_unknown_route": E.NotFound,
    "get_after_deleted_flag_patch": E.NotFound,
    "get_deleted_account": E.NotFound,
    "list_accounts_fields_with_spaces": E.ValidationError,
    "list_accounts_filter_bad_logic_operator": E.ValidationError,
    "list_accounts_filter_bad_shape": E.ValidationError,
    "list_accounts_filter_deleted_after_delete": E.NotFound,
    "list_accounts_filter_in_operator": E.ValidationError,
    "list_accounts_filter_relate_field": E.ServerError,
    "list_accounts_filter_unknown_field": E.ValidationError,
    "list_accounts_filter_unknown_operator": E.ValidationError,
    "list_accounts_page_size_negative": E.ValidationError,
    "list_accounts_page_size_0": E.ValidationError,
    "list_accounts_page_number_0": E.ValidationError,
    "list_accounts_sort_two_fields": E.ValidationError,
    "list_contacts_filter_account_id_nondb": E.ServerError,
    "list_module_lowercase_name": E.NotFound,
    "list_trailing_slash": E.NotFound,
    "listview_columns_accounts": E.ServerError,
    "meta_fields_unknown_module": E.PermissionDenied,
    "options_preflight": E.ProtocolError,
    "refresh_with_wrong_client": E.AuthError,
    "relationship_delete_again": E.NotFound,
    "relationship_get_contacts_fields": E.ValidationError,
    "relationship_get_unknown_link": E.NotFound,
    "relationship_get_unknown_record": E.NotFound,
    "relationship_post_array_data": E.ValidationError,
    "relationship_post_unknown_related_id": E.NotFound,
    "token_error_bad_client_secret": E.AuthError,
    "token_error_bad_user_password": E.AuthError,
    "token_error_get_method": E.NotFound,
    "token_error_missing_grant_type": E.ConfigurationError,
    "token_error_unsupported_grant": E.ConfigurationError,
    "token_refresh_reused_old": E.AuthError,
    "update_deleted_record": E.NotFound,
    "update_echo_back_all_attributes": E.ValidationError,
    "update_missing_id": E.ValidationError,
    "update_unknown_id": E.NotFound,
    "update_via_patch_with_id_in_path": E.NotFound,
    "update_via_put_not_routed": E.NotFound,
}


def load(name: str) -> dict[str, Any]:
    return json.loads((CAPTURES / f"{name}.json").read_text())  # type: ignore[no-any-return]


def response_of(cap: dict[str, Any]) -> httpx.Response:
    req = cap["request"]
    url = "http://127.0.0.1:8081" + req["path"]
    if req.get("query_string"):
        url += "?" + req["query_string"]
    headers = {
        k: v
        for k, v in cap.get("headers", {}).items()
        if k.lower() not in {"content-length", "transfer-encoding", "content-encoding"}
    }
    body = cap.get("body")
    if cap["body_is_json"]:
        content = json.dumps(body).encode()
    else:
        content = (body or "").encode() if isinstance(body, str) else b""
    return httpx.Response(
        cap["status"], headers=headers, content=content, request=httpx.Request(req["method"], url)
    )


_DEFS: dict[str, ModuleDef] = {}


def mdef_for(module: str) -> ModuleDef | None:
    if module not in _DEFS:
        path = CAPTURES / f"meta_fields_{module}.json"
        if not path.exists():
            return None
        _DEFS[module] = parse_fields(module, load(f"meta_fields_{module}")["body"])
    return _DEFS[module]


def _int_param(cap: dict[str, Any], key: str, default: int) -> int:
    for k, v in cap["request"].get("query", []):
        if k == key and str(v).lstrip("-").isdigit():
            return int(v)
    return default


async def interpret(cap: dict[str, Any]) -> Any:
    """What the adapter makes of one captured exchange (raises the core error for failures)."""
    response = response_of(cap)
    path: str = cap["request"]["path"]
    method: str = cap["request"]["method"]
    if path.endswith("/access_token"):
        if response.status_code != 200:
            raise error_for(response, token_endpoint=True)
        return parse_token(await decode_json(response))
    if response.status_code not in (200, 201):
        raise error_for(response)
    if looks_like_html(response):
        raise error_for(response)
    body = await decode_json(response)
    parts = path.split("/")[3:]  # after /Api/V8/
    if parts[:2] == ["meta", "modules"]:
        return parse_modules(body)
    if parts[:2] == ["meta", "fields"]:
        return parse_fields(parts[2], body)
    if parts == ["current-user"]:
        return parse_user(body)
    if parts and parts[0] == "module" and method == "GET":
        module = parts[1] if len(parts) > 1 else ""
        size = _int_param(cap, "page[size]", 20)
        number = _int_param(cap, "page[number]", 1)
        if len(parts) >= 5 and parts[3] == "relationships":
            return parse_page(
                body, module=None, mdef=None, page_number=number, page_size=size,
                counts_records=True,
            )  # fmt: skip
        mdef = mdef_for(module)
        if len(parts) == 2 or isinstance(body.get("data"), list):
            return parse_page(body, module=module, mdef=mdef, page_number=number, page_size=size)
        return parse_single(body, module, mdef)
    if parts == ["module"] and method in {"POST", "PATCH"}:
        rtype = body["data"]["type"]
        module = {"Account": "Accounts", "Contact": "Contacts", "Case": "Cases"}.get(rtype, rtype)
        return parse_single(body, module, mdef_for(module))
    assert isinstance(body, dict)
    return body


def test_every_capture_has_an_expectation_that_matches_its_status() -> None:
    names = {p.stem for p in FILES}
    assert len(names) > 150
    assert set(EXPECTED_ERRORS) <= names, set(EXPECTED_ERRORS) - names
    failing = {p.stem for p in FILES if json.loads(p.read_text())["status"] >= 400}
    assert failing <= set(EXPECTED_ERRORS), failing - set(EXPECTED_ERRORS)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
async def test_capture_parses_or_maps_to_core_error(path: Path) -> None:
    cap = load(path.stem)
    expected = EXPECTED_ERRORS.get(path.stem)
    if expected is None:
        result = await interpret(cap)
        assert result is not None
        if isinstance(result, Page):
            for rec in result.records:
                assert rec.id
                for v in rec.values.values():
                    assert not isinstance(v, dict | list)
        return
    with pytest.raises(E.CrmError) as info:
        await interpret(cap)
    err = info.value
    assert type(err) is expected, f"{type(err).__name__}: {err}"
    assert err.message
    text = f"{err} {err.detail or ''}"
    assert "<html" not in text.lower()
    assert "not-the-password" not in text


# -- what the parsed values look like ----------------------------------------------------


async def test_html_entities_are_unescaped_and_values_typed() -> None:
    rec = await interpret(load("create_account"))
    assert isinstance(rec, Record)
    assert rec.module == "Accounts"
    assert rec.values["name"] == "crmdesk Ref & Co <b>Ü</b> \"quoted\" 'single'"
    assert rec.values["date_entered"] == datetime(2026, 11, 23, 7, 27, tzinfo=UTC)
    assert rec.values["deleted"] is False
    assert rec.values["description"] == "line one\nline two"
    assert rec.values["assigned_user_id"] is None  # "" → None
    assert rec.values["jjwg_maps_lat_c"] == Decimal("0E-8")
    assert "contacts" not in rec.values  # link fields are not values
    assert "member_of" not in rec.values
    assert rec.version is not None
    assert rec.version.token == "2026-11-23T07:27:00+00:00"


async def test_multienum_and_dates() -> None:
    rec = await interpret(load("create_contact_multienum_encoded_string"))
    assert rec.values["lawful_basis"] == ("consent", "contract")
    birth = await interpret(load("tz_berlin_user_create_contact_birthdate"))
    assert birth.values["birthdate"] == date(1990, 5, 17)


async def test_opportunity_amount_is_decimal_without_meta_capture() -> None:
    rec = await interpret(load("create_opportunity"))
    # no meta_fields capture for Opportunities: values stay plain text
    assert isinstance(rec.values["name"], str)


async def test_list_page_cursor_and_estimate() -> None:
    page = await interpret(load("list_accounts_page"))  # page 2 of 101, size 20
    assert isinstance(page, Page)
    assert page.total is None
    assert page.next == "3"
    assert page.total_estimate == 101 * 20
    assert {r.module for r in page.records} == {"Accounts"}


async def test_page_past_the_end_and_attributes_as_array() -> None:
    empty = await interpret(load("list_accounts_filter_like_no_wildcard"))
    assert empty.records == []
    assert empty.next is None
    assert empty.total_estimate == 0
    odd = await interpret(load("list_accounts_fields_other_module_key"))
    assert all(r.values == {} for r in odd.records)


async def test_relationship_page_gives_total() -> None:
    page = await interpret(load("relationship_get_contacts_paged"))
    assert page.total == 3
    assert page.next == "3"
    assert page.records[0].module == "Contacts"
    empty = await interpret(load("relationship_get_empty"))
    assert empty.total == 0
    assert empty.records == []


async def test_meta_fields_mapping() -> None:
    contacts = mdef_for("Contacts")
    assert contacts is not None
    acc = contacts.field("account_id")
    assert acc is not None
    assert acc.type is FieldType.RELATE
    assert acc.relate_name_field == "account_name"
    assert acc.relate_module == "Accounts"
    assert not acc.filterable  # non-db: SuiteCRM's SQL breaks on it
    name = contacts.field("account_name")
    assert name is not None
    assert not name.visible
    assert name.read_only
    assert contacts.field("accounts") is None  # link fields are links, not fields
    link = contacts.link("accounts")
    assert link is not None
    assert link.target_module == "Accounts"
    assert contacts.field("lawful_basis").type is FieldType.MULTIENUM  # type: ignore[union-attr]
    assert contacts.field("birthdate").type is FieldType.DATE  # type: ignore[union-attr]
    assert contacts.field("photo").length == 255  # type: ignore[union-attr]
    assert contacts.field("last_name").length == 100  # type: ignore[union-attr]
    assert contacts.field("last_name").required  # type: ignore[union-attr]
    assert contacts.field("date_entered").read_only  # type: ignore[union-attr]
    assert contacts.field("email1").filterable  # type: ignore[union-attr]
    created = contacts.field("created_by")
    assert created is not None
    assert created.type is FieldType.RELATE
    assert created.read_only
    assert created.relate_name_field == "created_by_name"
    assert created.relate_module == "Users"
    assert contacts.field("jjwg_maps_lat_c").custom  # type: ignore[union-attr]
    assert contacts.field("billing_address_city") is None
    assert contacts.field("primary_address_city").label == "Primary address city"  # type: ignore[union-attr]
    accounts = mdef_for("Accounts")
    assert accounts is not None
    member_of = accounts.link("member_of")
    assert member_of is not None
    assert member_of.target_module == "Accounts"
    assert "fields" in accounts.raw


async def test_modules_and_user() -> None:
    mods = await interpret(load("meta_modules"))
    acc = next(m for m in mods if m.name == "Accounts")
    assert acc.access is not None
    assert "edit" in acc.access
    user = await interpret(load("current_user"))
    assert isinstance(user, UserInfo)
    assert user.user_name == "admin"
    assert user.is_admin
    assert user.display_name == "Administrator"


async def test_wrong_password_never_reaches_the_message() -> None:
    cap = load("token_error_bad_user_password")
    err = error_for(response_of(cap), token_endpoint=True)
    assert isinstance(err, E.AuthError)
    assert "not-the-password" not in f"{err} {err.detail} {err.advice}"


async def test_validation_error_names_the_field() -> None:
    with pytest.raises(E.ValidationError) as info:
        await interpret(load("create_account_unknown_attribute"))
    assert "no_such_field" in info.value.fields


async def test_database_failure_advice() -> None:
    with pytest.raises(E.ServerError) as info:
        await interpret(load("list_accounts_filter_relate_field"))
    assert "not stored in the database" in info.value.advice
