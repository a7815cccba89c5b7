"""Every captured answer of a real Vtiger 8.2 goes through the adapter's own parsing.

Successful answers must parse into typed domain values; failures must map to the right
core error (the table below is the expectation, written from the captures' notes); a
non-JSON HTTP 500 must become Unsupported for optional operations and ServerError else.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from crmdesk.backends.transport import Transport
from crmdesk.backends.vtiger import VtigerBackend, wire
from crmdesk.core.connection import ConnectionProfile, Secrets
from crmdesk.core.errors import (
    AuthError,
    CrmError,
    NotFound,
    PermissionDenied,
    ServerError,
    Unsupported,
    ValidationError,
)
from crmdesk.core.records import Record
from crmdesk.core.schema import FieldType, ModuleDef

PEERS = Path("/work/shared/peers/vtiger")
CAPTURES = sorted(PEERS.glob("*.json"))
#: idPrefix → module on the captured installation (README "Ids").
PREFIXES = {
    "11": "Accounts", "12": "Contacts", "13": "Potentials", "14": "Products", "10": "Leads",
    "17": "HelpDesk", "9": "Calendar", "18": "Events", "19": "Users", "20": "Groups",
    "4": "Quotes", "1": "Campaigns", "2": "Vendors", "15": "Documents",
}  # fmt: skip

E = type[CrmError]
EXPECTED_ERRORS: dict[str, E] = {
    "auth_03_getchallenge_no_username": AuthError,
    "auth_04_getchallenge_unknown_user": AuthError,
    "auth_05_login_wrong_key": AuthError,
    "auth_06_login_reused_token": AuthError,
    "auth_07_login_plain_key": AuthError,
    "auth_08_login_via_GET": AuthError,
    "auth_09_no_session": AuthError,
    "auth_10_bad_session": AuthError,
    "auth_12_missing_operation": ServerError,
    "auth_13_json_body": ServerError,
    "auth_14_extendsession_no_cookie": AuthError,
    "cloudonly_add_picklist": Unsupported,
    "cloudonly_delete_related": Unsupported,
    "cloudonly_describe_partial": Unsupported,
    "cloudonly_lookup": Unsupported,
    "cloudonly_me": Unsupported,
    "cloudonly_tags": ServerError,  # "tags" is no operation crmdesk sends
    "crud_05_create_contact_missing_lastname": ValidationError,
    "crud_06_create_contact_missing_assigned_user": ValidationError,
    "crud_07_create_account_duplicate_name": ValidationError,
    "crud_10_create_contact_reference_wrong_module": ValidationError,
    "crud_11_create_unknown_module": PermissionDenied,
    "crud_12_create_malformed_json": ValidationError,
    "crud_13_create_via_GET": PermissionDenied,
    "crud_32_retrieve_bad_id_format": NotFound,
    "crud_33_retrieve_nonexistent": NotFound,
    "crud_34_retrieve_wrong_module_prefix": NotFound,
    "crud_35_retrieve_unknown_prefix": NotFound,
    "crud_41_update_partial_record": ValidationError,
    "crud_43_update_clear_mandatory": ValidationError,
    "crud_46_revise_clear_mandatory": ValidationError,
    "crud_47_revise_nonexistent": NotFound,
    "crud_61_delete_again": NotFound,
    "crud_62_retrieve_deleted": NotFound,
    "crud_63_delete_nonexistent": NotFound,
    "crud_64_delete_bad_id": NotFound,
    "crud_65_revise_deleted": NotFound,
    "meta_describe_zz_lowercase_module": NotFound,
    "meta_describe_zz_unknown_module": NotFound,
    "patched_convertlead_03_convert_again": ValidationError,
    "patched_logout_02_use_after_logout": AuthError,
    "patched_sync_04_all_modules_recent": Unsupported,
    "patched_sync_05b_modifiedTime_zero": Unsupported,
    "patched_sync_05d_syncType_application_nonadmin": PermissionDenied,
    "patched_sync_06_unknown_module": PermissionDenied,
    "patched_sync_07_iso_modifiedTime": Unsupported,
    "query_15_parentheses": ValidationError,
    "query_16_no_semicolon": ValidationError,
    "query_17_unknown_column": ValidationError,
    "query_18_unknown_column_in_where": ValidationError,
    "query_19_unknown_module": NotFound,
    "query_20_lowercase_keywords_module": NotFound,
    "query_22_order_two_columns_each_direction": ValidationError,
    "query_25_ltgt_operator": ValidationError,
    "query_26_escaped_quote": ValidationError,
    "query_28_empty_string": ServerError,
    "query_30_double_quoted_value": ServerError,
    "query_34_not_like": ValidationError,
    "query_46_reference_without_x": ValidationError,
    "query_48_multiple_statements": ValidationError,
    "query_49_label_column": ValidationError,
    "query_55_lowercase_select_star": NotFound,
    "rel_02_query_related_account_contacts_where": ValidationError,
    "rel_04_query_related_with_limit": ValidationError,
    "rel_05_query_related_where_and_limit": ValidationError,
    "rel_06_retrieve_related_wrong_label": NotFound,
    "rel_20_add_related_deleted_source": ServerError,
    "rel_22_add_related_json_array_ids": ServerError,
    "rel_24_relatedtypes_unknown_module": NotFound,
    "stock_convertlead": Unsupported,
    "stock_files_retrieve": Unsupported,
    "stock_logout": Unsupported,
    "stock_retrieve_inventory": Unsupported,
    "tz_01_create_user_newyork": ValidationError,
    "tz_13_retrieve_admin_user_as_nyuser": NotFound,
    "tz_14_create_user_as_nonadmin": PermissionDenied,
}

#: Operations whose target is one record (the adapter passes its id to the error mapping).
RECORD_OPS = {"retrieve", "revise", "update", "delete", "retrieve_related"}


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _params(cap: dict[str, Any]) -> dict[str, Any]:
    req = cap["request"]
    p = req.get("query") or req.get("form") or {}
    return p if isinstance(p, dict) else {}


_DESCRIBES: dict[str, ModuleDef] = {}


def _describe(module: str) -> ModuleDef | None:
    if module not in _DESCRIBES:
        for name in (f"cf_01_describe_{module}_with_custom_fields", f"meta_describe_{module}"):
            path = PEERS / f"{name}.json"
            if path.exists():
                _DESCRIBES[module] = wire.parse_describe(wire.unwrap(_load(path)["body"]))
                break
        else:
            return None
    return _DESCRIBES[module]


def _module_of(params: dict[str, Any], raw: dict[str, Any]) -> str:
    et = params.get("elementType")
    if isinstance(et, str):
        return et
    return wire.module_for_id(str(raw.get("id", "")), PREFIXES) or "Unknown"


_PY_TYPES: dict[FieldType, tuple[type, ...]] = {
    FieldType.INT: (int,),
    FieldType.DECIMAL: (Decimal,),
    FieldType.CURRENCY: (Decimal,),
    FieldType.BOOL: (bool,),
    FieldType.DATE: (date,),
    FieldType.DATETIME: (datetime,),
    FieldType.MULTIENUM: (tuple,),
}


def _check_record(rec: Record, mdef: ModuleDef | None) -> None:
    assert wire.ID_RE.match(rec.id), rec.id
    if mdef is None:
        return
    for name, value in rec.values.items():
        fd = mdef.field(name)
        if fd is None or value is None:
            continue
        want = _PY_TYPES.get(fd.type)
        if want is not None:
            assert isinstance(value, want), (name, fd.type, value)
        if fd.type is FieldType.DATETIME:
            assert isinstance(value, datetime)
            assert value.tzinfo is not None


def _parse_success(name: str, cap: dict[str, Any]) -> None:
    params = _params(cap)
    op = params.get("operation")
    result = wire.unwrap(cap["body"])
    if op == "getchallenge":
        assert wire.parse_challenge(result).token
    elif op in ("login", "extendsession"):
        assert wire.session_of(result)
        user = wire.parse_user(result)
        assert user.id.startswith("19x")
        assert "sessionName" not in user.extra
    elif op == "listtypes":
        mods = wire.parse_listtypes(result)
        assert mods
        assert all(m.entity for m in mods)
        assert len(wire.parse_listtypes(result, entity_only=False)) >= len(mods)
    elif op == "describe":
        mdef = wire.parse_describe(result)
        assert (mdef.fields and mdef.has_field(mdef.name_field)) or mdef.name_field == "id"
        assert wire.id_prefix_of(result)
        for fd in mdef.fields:
            assert fd.type is not FieldType.UNKNOWN or fd.native_type in (
                "image", "file", "password",
            ), (fd.name, fd.native_type)  # fmt: skip
    elif op == "relatedtypes":
        links = wire.parse_relatedtypes(result)
        assert links
        assert all(lk.target_module for lk in links)
    elif op in ("create", "retrieve", "update", "revise"):
        module = _module_of(params, result)
        mdef = _describe(module)
        _check_record(wire.parse_record(module, result, mdef), mdef)
    elif op == "query":
        rows = wire.parse_rows(result)
        if "count(*)" in params["query"]:
            assert wire.parse_count(result) >= 0
            return
        for row in rows:
            module = _module_of({}, row)
            mdef = _describe(module)
            _check_record(wire.parse_record(module, row, mdef), mdef)
    elif op in ("retrieve_related", "query_related"):
        for row in wire.parse_rows(result):
            module = _module_of({}, row)
            _check_record(wire.parse_record(module, row, _describe(module)), _describe(module))
    elif op == "sync":
        res = wire.parse_sync(result)
        assert res.last_modified is not None
        module = params["elementType"]
        for raw in res.updated:
            _check_record(wire.parse_record(module, raw, _describe(module)), _describe(module))
        assert all(wire.ID_RE.match(d) for d in res.deleted)
    elif op == "delete":
        assert result == {"status": "successful"}
    elif op in ("add_related", "logout"):
        assert isinstance(result, dict)
        assert "message" in result
    elif op == "convertlead":
        assert set(result) == {"Accounts", "Contacts", "Potentials"}
    else:  # pragma: no cover - a new capture with an operation this test does not know
        pytest.fail(f"{name}: no parser for operation {op!r}")


def _backend() -> VtigerBackend:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no network in capture tests")

    client = httpx.AsyncClient(transport=httpx.MockTransport(refuse))
    profile = ConnectionProfile(
        "t", "vtiger", "http://127.0.0.1:9", auth="webservice", username="a"
    )
    return VtigerBackend(profile, Secrets(access_key="k" * 16), Transport(client))


def test_every_error_capture_has_an_expectation() -> None:
    errors = {
        p.stem
        for p in CAPTURES
        if not (isinstance(b := _load(p)["body"], dict) and b.get("success") is True)
    }
    assert errors == set(EXPECTED_ERRORS)


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.stem)
async def test_capture_parses(path: Path) -> None:
    cap = _load(path)
    body = cap["body"]
    params = _params(cap)
    op = str(params.get("operation", ""))
    if isinstance(body, dict) and body.get("success") is True:
        _parse_success(path.stem, cap)
        return
    expected = EXPECTED_ERRORS[path.stem]
    if isinstance(body, dict):
        fault = wire.error_of(body)
        assert fault is not None
        rid = params.get("id") if op in RECORD_OPS else None
        if rid is None and op in ("revise", "update") and "element" in params:
            rid = json.loads(params["element"]).get("id")
        err = wire.map_fault(fault, operation=op, record_id=rid, status=cap["status"])
    else:
        backend = _backend()
        response = httpx.Response(
            cap["status"],
            headers=cap["headers"],
            content=str(body).encode(),
            request=httpx.Request(cap["request"]["method"], "http://127.0.0.1:9/webservice.php"),
        )
        with pytest.raises(CrmError) as info:
            await backend._decode(op, response)
        err = info.value
        if expected is Unsupported:
            assert op in backend.disabled_features() or any(
                op in reason for reason in backend.disabled_features().values()
            )
        await backend.transport.aclose()
    assert type(err) is expected, (path.stem, err)
    assert err.message
    assert err.advice
    assert "<redacted>" not in err.message
