"""The seeds' error tables, row by row: each status / label a seed lists maps to the core
error class a user sees, with the seed's "what to do" in the advice.

Seeds (../shared/seeds/): 000 SuiteCRM "Troubleshooting Common API Issues", 001 SugarCRM
"Status codes & error handling", 002 EspoCRM "Error codes".  Where a real server differs
from its seed (peers/<crm>/README.md) the test follows the server.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from crmdesk.backends.espocrm import wire as espo_wire
from crmdesk.backends.sugarcrm import wire as sugar_wire
from crmdesk.backends.suitecrm.errors import error_for as suite_error_for
from crmdesk.core.errors import (
    AuthError,
    ConfigurationError,
    Conflict,
    CrmError,
    NotFound,
    PermissionDenied,
    ProtocolError,
    ServerError,
    Unavailable,
    ValidationError,
)

# -- SugarCRM (seed 001): status, error label → class, words the advice must carry ------------
SUGAR_TABLE: list[tuple[int, str, type[CrmError], tuple[str, ...]]] = [
    (301, "incorrect_version", ConfigurationError, ("version", "supports")),
    (401, "need_login", AuthError, ("refresh the access token", "client secret")),
    (401, "invalid_grant", AuthError, ("sign in again", "password")),
    (403, "not_authorized", PermissionDenied, ("role", "sign in as a user")),
    (404, "not_found", NotFound, ("deleted", "role")),
    (404, "no_method", NotFound, ("endpoint path and method",)),
    (409, "edit_conflict", Conflict, ("re-apply",)),
    (413, "request_too_large", ValidationError, ("fewer records", "smaller batches")),
    (422, "missing_parameter", ValidationError, ("cannot succeed unchanged",)),
    (422, "invalid_parameter", ValidationError, ("cannot succeed unchanged",)),
    (500, "fatal_error", ServerError, ("retry", "logs", "administrator")),
    (503, "maintenance", Unavailable, ("maintenance", "retry")),
    (503, "service_unavailable", Unavailable, ("wait and retry",)),
]


@pytest.mark.parametrize(("status", "label", "cls", "words"), SUGAR_TABLE)
def test_sugar_error_table(
    status: int, label: str, cls: type[CrmError], words: tuple[str, ...]
) -> None:
    err = sugar_wire.error_from_body(status, {"error": label, "error_message": "Server says so"})
    assert type(err) is cls or isinstance(err, cls), type(err)
    assert err.status == status
    assert err.message == "Server says so"  # the server's error_message is what the user reads
    for word in words:
        assert word in err.advice.lower(), (label, err.advice)


def test_sugar_metadata_out_of_date_is_its_own_error_with_the_new_hash() -> None:
    err = sugar_wire.error_from_body(
        412, {"error": "metadata_out_of_date", "error_message": "", "metadata_hash": "abc"}
    )
    assert isinstance(err, sugar_wire.MetadataOutOfDate)
    assert err.metadata_hash == "abc"


def test_sugar_422_names_the_missing_parameter() -> None:
    err = sugar_wire.error_from_body(
        422, {"error": "missing_parameter", "error_message": "Missing parameter: name"}
    )
    assert isinstance(err, ValidationError)
    assert err.fields == {"name": "Missing parameter: name"}


# -- SuiteCRM (seed 000) -----------------------------------------------------------------------
def _response(status: int, body: str | bytes, ctype: str = "application/vnd.api+json") -> Any:
    request = httpx.Request("GET", "https://crm.example.test/legacy/Api/V8/module/Accounts")
    content = body.encode() if isinstance(body, str) else body
    return httpx.Response(status, headers={"content-type": ctype}, content=content, request=request)


def _jsonapi(status: int, detail: str) -> str:
    return json.dumps({"errors": {"status": status, "title": None, "detail": detail}})


SUITE_TABLE: list[tuple[Any, type[CrmError], tuple[str, ...]]] = [
    (
        _response(401, json.dumps({"error": "access_denied", "message": "denied"})),
        AuthError,
        ("expired or invalid", "oauth2 client"),
    ),
    (
        _response(403, _jsonapi(403, "Not allowed")),
        PermissionDenied,
        ("security group and role",),
    ),
    (
        _response(404, "<html><body>Not Found</body></html>", "text/html"),
        NotFound,
        ("/legacy/", "case-sensitive"),
    ),
    (_response(500, b""), ServerError, ("suitecrm.log", "php extensions")),
    (
        _response(200, "<!DOCTYPE html><html><title>SuiteCRM</title></html>", "text/html"),
        ProtocolError,
        ("web front end", "rebuild .htaccess"),
    ),
]


@pytest.mark.parametrize(("response", "cls", "words"), SUITE_TABLE)
def test_suitecrm_troubleshooting_table(
    response: Any, cls: type[CrmError], words: tuple[str, ...]
) -> None:
    err = suite_error_for(response)
    assert isinstance(err, cls), (type(err), str(err))
    for word in words:
        assert word in err.advice.lower(), err.advice


def test_suitecrm_unknown_module_is_a_permission_error_as_the_real_server_says() -> None:
    """peers/suitecrm: an unknown module answers 400 "[Not Allowed] The API user does not
    have access to this module." — the seed's 403 advice applies."""
    body = _jsonapi(
        400, "[SuiteCRM] [Not Allowed] The API user does not have access to this module."
    )
    err = suite_error_for(_response(400, body))
    assert isinstance(err, PermissionDenied)
    assert "Security Group and Role" in err.advice


# -- EspoCRM (seed 002) ------------------------------------------------------------------------
def test_espocrm_400_without_reason_says_a_required_field_may_be_empty() -> None:
    err = espo_wire.error_for(400, {}, b"", what="POST Account")
    assert isinstance(err, ValidationError)
    assert "required field" in err.advice
    assert "data/logs" in err.advice


def test_espocrm_403_says_access_and_where_to_read_more() -> None:
    err = espo_wire.error_for(403, {"X-Status-Reason": "No edit access."}, b"", what="PUT Account")
    assert isinstance(err, PermissionDenied)
    assert "No edit access." in err.message
    assert "role" in err.advice.lower()
    assert "data/logs" in err.advice


def test_espocrm_404_says_the_record_does_not_exist() -> None:
    err = espo_wire.error_for(404, {}, b"", what="GET Account/nope")
    assert isinstance(err, NotFound)
    assert "not found" in err.message.lower()
    assert "deleted" in err.advice
