"""The demo EspoCRM answers like the real one: captured requests are replayed against it
(same method, path, query, headers and body, with the demo's own ids and credentials) and
the answer's status, content type, X-Status-Reason and JSON shape must match the capture's.

Captures not replayed are listed in NOT_REPRODUCED with the reason; that list is checked.
Nulls are compared loosely (the demo's data differs from the captured instance's: a field
empty here may be filled there); every other type, every key and every format must agree.
The demo runs with optimistic concurrency on, so its records carry ``versionNumber``, the
one attribute the real server adds when OCC is enabled (occ_04); it is left out before
comparing with captures taken while OCC was off.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers.shapes import shape_diff

from crmdesk.demo.server import DemoServer

PEERS = next(
    p
    for p in (
        Path(__file__).resolve().parents[3] / "shared" / "peers" / "espocrm",
        Path("/work/shared/peers/espocrm"),
    )
    if p.is_dir()
)
CAPTURES = sorted(p.stem for p in PEERS.glob("*.json") if p.name != "index.json")

REPLAYED = [
    "app_01_api_index",
    "auth_05_no_auth",
    "auth_10_bad_api_key",
    "auth_11_hmac_wrong_signature",
    "crud_02_get_account",
    "crud_07_put_invalid_enum",
    "crud_10_post_missing_required_name",
    "crud_11_post_invalid_email",
    "crud_14_post_invalid_json",
    "crud_15_post_too_long_varchar",
    "crud_17_put_unknown_id_404",
    "crud_18_delete_unknown_id_404",
    "crud_19_unknown_entity_type",
    "crud_20_unknown_entity_record",
    "crud_25_get_contact",
    "crud_26_create_contact_missing_lastName",
    "crud_28_get_opportunity",
    "crud_29_create_opportunity_missing_required",
    "crud_30_create_opportunity_bad_date",
    "crud_32_get_case",
    "crud_34_get_lead",
    "gs_03_global_search_no_q",
    "list_02_account_page20_select",
    "list_03_account_page20_offset20",
    "list_04_account_offset_past_end",
    "list_05_account_no_select_full_rows",
    "list_07_account_maxsize_201_forbidden",
    "list_08_account_order_asc_lowercase",
    "list_09_account_orderby_unknown_field",
    "list_10_account_select_unknown_field",
    "list_11_account_maxsize_0",
    "list_13_contact_page20",
    "list_14_contact_no_select",
    "list_15_lead_page",
    "list_16_opportunity_page",
    "list_20_account_x_no_total_last_page",
    "list_22_contact_select_link_field_name",
    "list_26_opportunity_select_amount",
    "rel_01_account_contacts",
    "rel_02_account_contacts_select",
    "rel_03_link_contact_single",
    "rel_06_unlink_contact_body_id",
    "rel_07_unlink_contact_query_id",
    "rel_09_account_opportunities",
    "rel_10_account_cases",
    "rel_11_account_unknown_link",
    "rel_12_contact_account_belongsTo_link",
    "rel_14_link_nonexistent_id",
    "types_13_account_trailing_slash",
    "where_01_equals_type_customer",
    "where_05_notin_type",
    "where_06_between_createdAt_dates",
    "where_10_isNull_type",
    "where_11_equals_empty_type",
    "where_12_greaterThan_createdAt",
    "where_15_bad_type",
    "where_16_unknown_attribute",
    "where_24_not_group",
    "where_31_value_array_as_json_string",
    "where_32_isNotNull_industry",
]

_DATA = "depends on the captured instance's data (names, amounts, dates) the demo does not hold"
NOT_REPRODUCED: dict[str, str] = {
    name: reason
    for names, reason in (
        ("acl_", "the demo has one full-access user; roles with limited access are not modelled"),
        ("setup_", "creating roles and API users is administration the demo does not offer"),
        ("occ_", "the demo runs with OCC always on; toggling it per entity is not modelled"),
        ("mass_", "MassAction is not served by the demo"),
        ("meta_", "the demo's Metadata covers the demo's own fields, not the real instance's"),
        ("i18n_", "the demo's I18n covers the demo's own fields, not the real instance's"),
        ("layout_", "the demo's layouts are simplified (same shapes, fewer panels)"),
        ("settings_", "the demo serves only the public Settings subset"),
        ("types_0", "Task is not a demo entity / value echo details of create"),
        ("types_1", "Task is not a demo entity / value echo details of create"),
        ("auth_0", "token sign-in is covered by the adapter tests (tokens are per server)"),
        ("gs_0", _DATA),
        ("where_", _DATA),
        ("list_", _DATA),
        ("rel_", _DATA),
        ("crud_", "create / update answers depend on the values sent; covered by round trips"),
    )
    for name in CAPTURES
    if name.startswith(names) and name not in REPLAYED
}
NOT_REPRODUCED.update(
    {
        "app_02_currency_rates": "CurrencyRate is not served by the demo",
        "auth_12_logout_token": "needs a token; logout is covered by the adapter tests",
        "prefs_01_api_user_preferences": "Preferences are not served by the demo",
        "user_01_get_api_user_self": "the API user of the capture is not a demo user",
        "list_06_account_maxsize_200": "the capture's 200 rows were trimmed (with a note key)",
    }
)

#: Query parameters replaced because they hinge on the captured instance's row count.
PARAM_OVERRIDES = {"list_04_account_offset_past_end": {"offset": "1000000"}}
#: The demo's custom field (EspoCRM names custom fields c…); the captured instance had none.
DEMO_ONLY_KEYS = frozenset({"versionNumber", "cBirthdate"})
#: Maps keyed by record ids: their keys differ between instances by nature.
ID_KEYED = (r"Names$", r"Columns$", r"Types$")

#: capture id → which demo record stands in for it
ID_ROLES = {
    "6b03eb4e3238be27b": "account",
    "6b03eb4eee349125e": "contact",
    "6b03e9f2bcee6b8e0": "contact2",
    "6b03e9f2d2c26b7db": "contact2",
    "6b03eb4f151bdfaa3": "opportunity",
    "6b03eb4f3480ce328": "case",
    "6b03eb4f4792ea689": "lead",
}


def load(name: str) -> dict[str, Any]:
    return json.loads((PEERS / f"{name}.json").read_text("utf-8"))  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def demo(demo_server: DemoServer) -> Iterator[tuple[DemoServer, dict[str, str]]]:
    """Demo records standing in for the captured ones, created over the wire."""
    c = demo_server.credentials
    base = demo_server.base_url("espocrm") + "/api/v1/"
    ids: dict[str, str] = {}
    server_user = demo_server.apps["espocrm"].admin_id()  # type: ignore[attr-defined]
    with httpx.Client(base_url=base, headers={"X-Api-Key": c.api_key}, timeout=10) as client:

        def post(entity: str, body: dict[str, Any]) -> str:
            r = client.post(entity, json=body, headers={"X-Skip-Duplicate-Check": "true"})
            assert r.status_code == 200, (r.status_code, r.headers, r.text)
            return str(r.json()["id"])

        ids["account"] = post(
            "Account",
            {"name": "Crmdesk Capture Test GmbH", "type": "Customer", "industry": "Banking",
             "website": "crmdesk.example.com", "emailAddress": "hello@crmdesk.example.com",
             "phoneNumber": "+49 (30) 123-4567", "billingAddressCity": "Berlin",
             "billingAddressStreet": "Unter den Linden 1", "billingAddressCountry": "Germany",
             "billingAddressPostalCode": "10117", "description": "Created by the test",
             "assignedUserId": server_user},
        )  # fmt: skip
        ids["contact"] = post(
            "Contact",
            {"salutationName": "Dr.", "firstName": "Jürgen", "lastName": "Capture",
             "title": "CTO", "accountId": ids["account"], "emailAddress": "j@crmdesk.example.com",
             "phoneNumber": "+4930111111", "addressCity": "Berlin", "addressStreet": "Street 1"},
        )  # fmt: skip
        ids["contact2"] = post("Contact", {"firstName": "Second", "lastName": "Contact"})
        ids["opportunity"] = post(
            "Opportunity",
            {"name": "Capture Deal", "amount": 12345.67, "closeDate": "2026-12-31",
             "stage": "Proposal/Price Quote", "probability": 50, "accountId": ids["account"]},
        )  # fmt: skip
        link = client.post(
            f"Opportunity/{ids['opportunity']}/contacts", json={"id": ids["contact"]}
        )
        assert link.status_code == 200
        ids["case"] = post(
            "Case",
            {"name": "Capture case", "priority": "High", "type": "User",
             "accountId": ids["account"]},
        )  # fmt: skip
        ids["lead"] = post(
            "Lead",
            {"firstName": "Lea", "lastName": "Capture", "source": "Web Site",
             "emailAddress": "lea.capture@leads.example.com", "accountName": "Lea Corp"},
        )  # fmt: skip
        yield demo_server, ids
        for entity, role in (("Case", "case"), ("Opportunity", "opportunity"),
                             ("Lead", "lead"), ("Contact", "contact"), ("Contact", "contact2"),
                             ("Account", "account")):  # fmt: skip
            client.delete(f"{entity}/{ids[role]}")


def _swap(text: str, ids: dict[str, str]) -> str:
    for cid, role in ID_ROLES.items():
        text = text.replace(cid, ids[role])
    return text


def _auth_headers(auth: str, method: str, rel: str, server: DemoServer) -> dict[str, str]:
    c = server.credentials
    if auth.startswith("none"):
        return {}
    if "X-Hmac" in auth:
        wrong = "wrong" in auth or "bad" in auth
        secret = "not-the-secret" if wrong else c.secret_key
        digest = hmac.new(secret.encode(), f"{method} /{rel}".encode(), hashlib.sha256)
        value = base64.b64encode(f"{c.api_key}:{digest.hexdigest()}".encode()).decode()
        return {"X-Hmac-Authorization": value}
    return {"X-Api-Key": c.api_key}


def _align_nulls(actual: Any, expected: Any) -> Any:
    """Accept null against a scalar (and back): the two instances hold different data."""
    scalar = (str, int, float, bool)
    if actual is None and isinstance(expected, scalar):
        return expected
    if expected is None and isinstance(actual, scalar):
        return None
    if isinstance(actual, dict) and isinstance(expected, dict):
        out = {}
        for k, v in actual.items():
            exp = expected.get(k)
            # an empty id list where the capture has linked records: different data, same shape
            empty_link = k.endswith("Ids") and v == [] and isinstance(exp, list)
            out[k] = exp if empty_link else _align_nulls(v, exp)
        return out
    if isinstance(actual, list) and isinstance(expected, list) and expected:
        return [_align_nulls(v, expected[min(i, len(expected) - 1)]) for i, v in enumerate(actual)]
    return actual


def _strip_version(body: Any) -> Any:
    if isinstance(body, dict):
        return {k: _strip_version(v) for k, v in body.items() if k not in DEMO_ONLY_KEYS}
    if isinstance(body, list):
        return [_strip_version(v) for v in body]
    return body


@pytest.mark.parametrize("name", REPLAYED)
def test_demo_answers_in_the_captured_shape(
    name: str, demo: tuple[DemoServer, dict[str, str]]
) -> None:
    server, ids = demo
    cap = load(name)
    req = cap["request"]
    rel = _swap(req["path"].removeprefix("/api/v1/"), ids)
    method = req["method"]
    headers = {**_auth_headers(str(req["auth"]), method, rel.rstrip("/"), server)}
    if "bad api key" in str(req["auth"]).lower() or name == "auth_10_bad_api_key":
        headers = {"X-Api-Key": "0" * 32}
    headers.update(req.get("extra_headers") or {})
    content: bytes | None = None
    if isinstance(req["body"], str):
        content = req["body"].encode()
    elif req["body"] is not None:
        content = _swap(json.dumps(req["body"]), ids).encode()
        headers["Content-Type"] = "application/json"
    override = PARAM_OVERRIDES.get(name, {})
    params: list[tuple[str, str | int | float | bool | None]] = [
        (str(k), override.get(k, _swap(v, ids))) for k, v in (req["query"] or [])
    ]
    url = server.base_url("espocrm") + "/api/v1/" + rel
    r = httpx.request(method, url, params=params, headers=headers, content=content, timeout=10)

    assert r.status_code == cap["status"], (r.status_code, r.headers, r.text[:300])
    want_ct = str(cap["headers"].get("Content-Type", ""))
    assert ("html" in r.headers.get("content-type", "")) == ("html" in want_ct)
    want_reason = cap["headers"].get("X-Status-Reason")
    got_reason = r.headers.get("x-status-reason")
    assert (got_reason is None) == (want_reason is None), (got_reason, want_reason)
    if want_reason and not want_reason.startswith(("Record ", "Controller ")):
        assert got_reason == want_reason
    if cap["body"] == "" or "html" in want_ct:
        assert r.content.strip() == b"" or "html" in want_ct
        return
    body = _strip_version(r.json())
    expected = cap["body"]
    problems = shape_diff(_align_nulls(body, expected), expected, open_paths=ID_KEYED)
    assert not problems, "\n".join(problems[:20])


def test_not_reproduced_entries_are_real_and_not_replayed() -> None:
    assert set(NOT_REPRODUCED) <= set(CAPTURES)
    assert not set(NOT_REPRODUCED) & set(REPLAYED)
    assert set(REPLAYED) <= set(CAPTURES)
    assert set(CAPTURES) == set(REPLAYED) | set(NOT_REPRODUCED)
