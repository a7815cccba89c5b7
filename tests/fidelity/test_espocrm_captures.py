"""Every capture of a real EspoCRM 8.4.2 in shared/peers/espocrm goes through the adapter's parsers.

2xx answers must parse into domain values (records, pages, module definitions, ACL);
error answers must map to the expected core error.  A new error capture without an entry
in ERRORS fails the suite, so nothing is silently accepted.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from crmdesk.backends.espocrm import wire
from crmdesk.backends.espocrm.metadata import (
    Acl,
    detail_layout,
    list_layout,
    module_def,
    module_infos,
    parse_acl,
)
from crmdesk.backends.transport import decode_json
from crmdesk.core.errors import (
    AuthError,
    Conflict,
    CrmError,
    NotFound,
    PermissionDenied,
    ServerError,
    Unsupported,
    ValidationError,
)
from crmdesk.core.records import Record
from crmdesk.core.schema import FieldType, ModuleDef

PEERS = next(
    (
        p
        for p in (
            Path(__file__).resolve().parents[3] / "shared" / "peers" / "espocrm",
            Path("/work/shared/peers/espocrm"),
        )
        if p.is_dir()
    ),
    None,
)
FILES = sorted(p for p in PEERS.glob("*.json") if p.name != "index.json") if PEERS else []

#: error capture → (core error, the field a ValidationError must name)
ERRORS: dict[str, tuple[type[CrmError], str | None]] = {
    "acl_01_limited_create_account_403": (PermissionDenied, None),
    "acl_02_limited_list_case_403": (PermissionDenied, None),
    "acl_03_limited_read_case_403": (PermissionDenied, None),
    "acl_04_limited_delete_account_403": (PermissionDenied, None),
    "acl_08_limited_read_contact_not_own_403": (PermissionDenied, None),
    "acl_14_limited_link_403": (PermissionDenied, None),
    "app_02_currency_rates": (PermissionDenied, None),
    "auth_04_app_user_basic_wrong_password": (AuthError, None),
    "auth_05_no_auth": (AuthError, None),
    "auth_10_bad_api_key": (AuthError, None),
    "auth_11_hmac_wrong_signature": (AuthError, None),
    "crud_07_put_invalid_enum": (ValidationError, "type"),
    "crud_10_post_missing_required_name": (ValidationError, "name"),
    "crud_11_post_invalid_email": (ValidationError, "emailAddress"),
    "crud_12_post_duplicate_name_409": (Conflict, None),
    "crud_14_post_invalid_json": (ServerError, None),
    "crud_15_post_too_long_varchar": (ValidationError, "name"),
    "crud_17_put_unknown_id_404": (NotFound, None),
    "crud_18_delete_unknown_id_404": (NotFound, None),
    "crud_19_unknown_entity_type": (NotFound, None),
    "crud_20_unknown_entity_record": (NotFound, None),
    "crud_22_get_deleted_account_404": (NotFound, None),
    "crud_23_delete_again_404": (NotFound, None),
    "crud_26_create_contact_missing_lastName": (ValidationError, "lastName"),
    "crud_29_create_opportunity_missing_required": (ValidationError, "amount"),
    "crud_30_create_opportunity_bad_date": (ValidationError, "closeDate"),
    "gs_03_global_search_no_q": (ValidationError, None),
    "list_07_account_maxsize_201_forbidden": (ValidationError, None),
    "list_09_account_orderby_unknown_field": (ValidationError, None),
    "list_22_contact_select_link_field_name": (ServerError, None),
    "occ_06_put_with_stale_version_conflict": (Conflict, None),
    "occ_11_put_with_future_version": (Conflict, None),
    "rel_11_account_unknown_link": (ServerError, None),
    "rel_14_link_nonexistent_id": (NotFound, None),
    "rel_22_put_linkMultiple_teamsIds_invalid": (NotFound, None),
    "types_07_opportunity_amount_comma_string": (ValidationError, "amount"),
    "types_11_opportunity_date_iso_datetime": (ValidationError, "closeDate"),
    "types_13_account_trailing_slash": (NotFound, None),
    "types_14_phone_number_formats": (ValidationError, "phoneNumber"),
    "where_15_bad_type": (ValidationError, None),
    "where_16_unknown_attribute": (ValidationError, None),
    "where_24_not_group": (Unsupported, None),
    "where_31_value_array_as_json_string": (ValidationError, None),
}


def load(name: str) -> dict[str, Any]:
    assert PEERS is not None
    return json.loads((PEERS / f"{name}.json").read_text("utf-8"))  # type: ignore[no-any-return]


def content_of(capture: dict[str, Any]) -> bytes:
    """The body bytes as the server sent them (HTML and empty bodies stay raw)."""
    body = capture["body"]
    ctype = str(capture["headers"].get("Content-Type", ""))
    if body == "" or (isinstance(body, str) and "html" in ctype):
        return str(body).encode()
    return json.dumps(body).encode()


def response_of(capture: dict[str, Any]) -> httpx.Response:
    req = capture["request"]
    return httpx.Response(
        capture["status"],
        headers=capture["headers"],
        content=content_of(capture),
        request=httpx.Request(req["method"], req["url_as_sent"]),
    )


_ACL = parse_acl(load("auth_08_apikey_app_user")["body"]) if PEERS else Acl()
_META = load("meta_01_metadata_api_user_trimmed")["body"] if PEERS else {}
_I18N = load("i18n_01_i18n_trimmed")["body"] if PEERS else {}


def mdef(scope: str) -> ModuleDef | None:
    if scope not in _META.get("entityDefs", {}):
        return None
    return module_def(scope, _META, _I18N, _ACL, currencies=("USD",), default_currency="USD")[0]


def target_scope(parts: list[str]) -> str:
    """Entity of the rows of /E, /E/id or /E/id/link."""
    if len(parts) >= 3:
        link = _META.get("entityDefs", {}).get(parts[0], {}).get("links", {}).get(parts[2], {})
        return str(link.get("entity", ""))
    return parts[0]


async def parse_capture(capture: dict[str, Any]) -> Any:
    """Run one 2xx capture through the parser the adapter uses for that route."""
    req = capture["request"]
    path = req["path"].removeprefix("/api/v1/")
    parts = [p for p in path.split("/") if p]
    query = dict(req["query"] or [])
    body = await decode_json(response_of(capture), allow_empty=True)
    if parts[:2] == ["App", "user"]:
        return parse_acl(body)
    if parts == ["Metadata"] and "key" not in query:
        defs = [module_def(s, body, _I18N, _ACL)[0] for s in body.get("entityDefs", {})]
        return module_infos(body, _I18N, _ACL), defs
    if len(parts) == 3 and parts[1] == "layout":
        scope = mdef(parts[0])
        assert scope is not None
        index = {f.name: f for f in scope.fields}
        fields = _META["entityDefs"][parts[0]]["fields"]
        if parts[2] == "detail":
            return detail_layout(body, index, fields)
        return list_layout(body, index, fields)
    if parts == ["GlobalSearch"]:
        return wire.parse_search_refs(body)
    if isinstance(body, bool):
        return wire.parse_bool_result(body)
    if isinstance(body, dict) and "list" in body:
        entity = target_scope(parts)
        rows, total = wire.parse_list(body)
        return total, [wire.parse_record(mdef(entity), r, entity) for r in rows]
    if isinstance(body, dict) and "id" in body and parts[0] not in ("Settings", "Preferences"):
        return wire.parse_record(mdef(parts[0]), body, parts[0])
    # Settings, Preferences, MassAction, I18n, Metadata?key=…: raw JSON (API console) only
    return body


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
async def test_every_capture_parses_or_maps_to_its_error(path: Path) -> None:
    capture = load(path.stem)
    status = capture["status"]
    if status >= 400:
        assert path.stem in ERRORS, f"new error capture {path.stem}: add its expected error"
        expected, field = ERRORS[path.stem]
        scope = mdef(target_scope([p for p in capture["request"]["path"][8:].split("/") if p]))
        err = wire.error_for(
            status,
            capture["headers"],
            content_of(capture),
            what=f"{capture['request']['method']} {capture['request']['path']}",
            auth_method="api_key",
            module=scope,
        )
        assert type(err) is expected, (err, err.message)
        assert err.message
        assert err.advice
        assert "<" not in err.message  # never HTML in what the user reads
        if field is not None:
            assert isinstance(err, ValidationError)
            assert field in err.fields
    else:
        assert path.stem not in ERRORS
        await parse_capture(capture)


def test_every_error_entry_has_a_capture() -> None:
    assert {p.stem for p in FILES} >= set(ERRORS)


async def test_record_values_are_typed() -> None:
    acc = await parse_capture(load("crud_02_get_account"))
    assert isinstance(acc, Record)
    assert acc.get("createdAt") == datetime(2026, 11, 23, 7, 29, 18, tzinfo=UTC)
    assert acc.get("sicCode") is None
    assert acc.get("teamsIds") == ()
    assert acc.get("assignedUserId") == "6b03e96b0bcf4547e"
    assert acc.get("assignedUserName") == "api-crmdesk"
    assert acc.version is not None
    assert acc.version.token == "m:2026-11-23 07:29:18"

    opp = await parse_capture(load("crud_28_get_opportunity"))
    assert opp.get("amount") == Decimal("12345.67")
    assert opp.get("closeDate") == date(2026, 12, 31)
    assert opp.get("probability") == 50
    assert opp.get("contactsIds") == ("6b03eb4eee349125e",)
    assert opp.get("contactsNames") == ("Jürgen Capture",)

    case = await parse_capture(load("crud_32_get_case"))
    assert case.get("number") == 301
    contact = await parse_capture(load("crud_25_get_contact"))
    assert contact.get("accountType") is None  # "" is "no value"
    assert contact.get("doNotCall") is False


async def test_lists_report_totals_and_no_total_markers() -> None:
    total, rows = await parse_capture(load("list_02_account_page20_select"))
    assert total == 2000
    assert len(rows) == 20
    assert all(isinstance(r.get("createdAt"), datetime) for r in rows)
    assert rows[0].get("type") is None  # empty enum
    total, _ = await parse_capture(load("list_20_account_x_no_total_last_page"))
    assert total == -2
    refs = await parse_capture(load("gs_01_global_search"))
    assert {r.module for r in refs} == {"Opportunity", "Lead", "Contact"}
    assert any(r.label == "Jürgen Capture" for r in refs)


def test_metadata_maps_to_module_defs() -> None:
    acc = mdef("Account")
    assert acc is not None
    assert acc.label == "Accounts"
    name = acc.field("name")
    assert name is not None
    assert name.required
    assert name.length == 249
    assigned = acc.field("assignedUserId")
    assert assigned is not None
    assert assigned.type is FieldType.RELATE
    assert assigned.relate_module == "User"
    assert assigned.relate_name_field == "assignedUserName"
    teams = acc.field("teamsIds")
    assert teams is not None
    assert teams.relate_module == "Team"
    assert teams.read_only
    created = acc.field("createdAt")
    assert created is not None
    assert created.read_only
    assert created.type is FieldType.DATETIME
    typ = acc.field("type")
    assert typ is not None
    assert [o.key for o in typ.options] == [
        "Customer",
        "Investor",
        "Partner",
        "Reseller",
    ]
    assert acc.field("billingAddress") is None
    assert acc.field("billingAddressCity") is not None
    contacts = acc.link("contacts")
    assert contacts is not None
    assert contacts.target_module == "Contact"
    lead = mdef("Lead")
    assert lead is not None
    industry = lead.field("industry")
    assert industry is not None
    assert industry.options
    opp = mdef("Opportunity")
    assert opp is not None
    amount = opp.field("amount")
    assert amount is not None
    assert amount.type is FieldType.CURRENCY
    assert amount.currency == "USD"
    cur = opp.field("amountCurrency")
    assert cur is not None
    assert [o.key for o in cur.options] == ["USD"]
    contact = mdef("Contact")
    assert contact is not None
    assert contact.field("name") is not None
    assert contact.field("name").read_only  # type: ignore[union-attr]
    sal = contact.field("salutationName")
    assert sal is not None
    assert sal.option_label("Dr.") == "Dr."


def test_layouts_map_to_our_field_names() -> None:
    acc = mdef("Account")
    assert acc is not None
    index = {f.name: f for f in acc.fields}
    fields = _META["entityDefs"]["Account"]["fields"]
    sections = detail_layout(load("layout_Account_detail")["body"], index, fields)
    assert sections[0].label == "Overview"
    assert "billingAddressCity" in sections[0].fields
    lead = mdef("Lead")
    assert lead is not None
    cols = list_layout(
        load("layout_Lead_list")["body"],
        {f.name: f for f in lead.fields},
        _META["entityDefs"]["Lead"]["fields"],
    )
    assert cols[:2] == ("name", "status")
    assert "assignedUserId" in cols


def test_acl_hides_fields_and_actions() -> None:
    limited = parse_acl(load("acl_11_limited_app_user_acl")["body"])
    acc, _ = module_def("Account", _META, _I18N, limited)
    assert acc.field("website") is None  # the role cannot read it: the server drops it
    infos = {m.name: m for m in module_infos(_META, _I18N, limited)}
    assert "Case" not in infos  # no read access at all
    assert infos["Account"].access == frozenset({"read"})
    me = limited.user_id
    assert limited.record_access("Contact", {"assignedUserId": me}) == frozenset({"read"})
    assert limited.record_access("Contact", {"assignedUserId": "someone"}) == frozenset()
    full = module_infos(_META, _I18N, _ACL)
    assert {m.name for m in full} >= {"Account", "Contact", "Lead", "Opportunity", "Case"}


def test_conflict_errors_carry_the_server_state() -> None:
    acc = mdef("Account")
    cap = load("occ_06_put_with_stale_version_conflict")
    err = wire.error_for(409, cap["headers"], content_of(cap), module=acc)
    assert isinstance(err, Conflict)
    assert err.current is not None
    assert err.current.get("sicCode") == "1111"
    assert err.current.version is not None
    assert err.current.version.token == "v:1"
    dup = load("crud_12_post_duplicate_name_409")
    err = wire.error_for(409, dup["headers"], content_of(dup), module=acc)
    assert isinstance(err, Conflict)
    assert err.current is not None
    assert err.current.id == "6b03eb4e3238be27b"


def test_validation_error_without_body_reads_the_reason_header() -> None:
    err = wire.error_for(
        400,
        {
            "X-Status-Reason": "Field validation failure; entityType: Account, field: name, "
            "type: maxLength."
        },
        b"",
    )
    assert isinstance(err, ValidationError)
    assert err.fields == {"name": "The value is too long."}
