"""Secrets never reach a log line or an error message."""

from __future__ import annotations

import logging
import secrets as _secrets

import httpx
import pytest

from crmdesk.backends.redact import (
    MASK,
    RedactingFilter,
    install_log_filter,
    redact,
    register_secret,
)
from crmdesk.backends.transport import Transport, decode_json
from crmdesk.core.errors import ProtocolError, Unavailable


def fresh() -> str:
    return "s3cr" + _secrets.token_urlsafe(12)


def test_registered_secret_is_masked_with_its_url_encodings() -> None:
    secret = "p@ss word/+" + _secrets.token_hex(4)
    register_secret(secret)
    text = f"a {secret} b pw=p%40ss%20word%2F%2B{secret[11:]} c p%40ss+word%2F%2B{secret[11:]}"
    out = redact(text)
    assert secret not in out
    assert "p%40ss" not in out
    assert out.count(MASK) == 3


def test_short_values_are_not_registered() -> None:
    register_secret("abc")
    register_secret("")
    register_secret(None)
    assert redact("abc abc") == "abc abc"


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", "eyJhbGci"),
        ("Authorization: Basic YWRtaW46c2VjcmV0", "YWRtaW46"),
        ('{"access_token": "abcdef123456"}', "abcdef123456"),
        ('{"refresh_token":"def50200abc"}', "def50200abc"),
        ("url?client_secret=zzzzyyyy&x=1", "zzzzyyyy"),
        ("password=hunter22 next", "hunter22"),
        ("The password is invalid: not-the-password", "not-the-password"),
        ("sessionName: 5f2d9c8e1a", "5f2d9c8e1a"),
        ("accesskey=KEYKEYKEY", "KEYKEYKEY"),
    ],
)
def test_token_patterns_are_masked_without_registration(text: str, leak: str) -> None:
    out = redact(text)
    assert leak not in out
    assert MASK in out


def test_innocent_text_is_untouched() -> None:
    text = "GET /Api/V8/module/Accounts?page[size]=20 -> 200 (12 ms)"
    assert redact(text) == text


def test_log_records_are_scrubbed_by_the_factory(caplog: pytest.LogCaptureFixture) -> None:
    install_log_filter()
    secret = fresh()
    register_secret(secret)
    log = logging.getLogger("crmdesk.test")
    with caplog.at_level(logging.DEBUG, logger="crmdesk.test"):
        log.info("token %s in args", secret)
        log.warning(f"token {secret} in message")
        log.error("header Authorization: Bearer %s", "eyJhbGciOiJIUzI1NiJ9.e30.abc123")
    assert secret not in caplog.text
    assert "eyJhbGci" not in caplog.text
    assert caplog.text.count(MASK) == 3


def test_other_loggers_are_scrubbed_too(caplog: pytest.LogCaptureFixture) -> None:
    install_log_filter()
    secret = fresh()
    register_secret(secret)
    with caplog.at_level(logging.INFO, logger="httpx"):
        logging.getLogger("httpx").info("HTTP Request: GET http://x/?api_key=%s", secret)
    assert secret not in caplog.text


def test_redacting_filter_on_a_handler() -> None:
    secret = fresh()
    register_secret(secret)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "pw %s", (secret,), None)
    assert RedactingFilter().filter(record)
    assert secret not in record.getMessage()


def test_broken_format_string_still_scrubbed() -> None:
    secret = fresh()
    register_secret(secret)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, f"{secret} %s %s", ("one",), None)
    RedactingFilter().filter(record)
    assert secret not in record.getMessage()


async def test_transport_errors_and_logs_carry_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    install_log_filter()
    secret = fresh()
    register_secret(secret)

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"failed for {request.url}")

    t = Transport(httpx.AsyncClient(transport=httpx.MockTransport(handler)), retries=0)
    with caplog.at_level(logging.DEBUG), pytest.raises(Unavailable) as info:
        await t.request("GET", f"http://127.0.0.1:9/x?api_key={secret}")
    err = info.value
    assert secret not in f"{err} {err.detail}"
    assert secret not in caplog.text


async def test_decode_error_snippet_is_redacted() -> None:
    secret = fresh()
    register_secret(secret)
    response = httpx.Response(
        200,
        content=f'{{"access_token": "{secret}", '.encode(),
        headers={"Content-Type": "application/json"},
        request=httpx.Request("POST", "http://127.0.0.1:9/Api/access_token"),
    )
    with pytest.raises(ProtocolError) as info:
        await decode_json(response)
    assert secret not in f"{info.value} {info.value.detail}"


def test_json_literals_after_secret_keys_stay_valid_json() -> None:
    """``"token": null`` is no secret; masking it would break the JSON the console shows."""
    import json

    text = '{"token": null, "api_key": true, "secret": false, "password": "hunter2x", "n": 1}'
    shown = redact(text)
    data = json.loads(shown)
    assert data["token"] is None
    assert data["api_key"] is True
    assert data["secret"] is False
    assert data["password"] == MASK
    assert redact('{"token": "nullish-but-secret"}') == f'{{"token": "{MASK}"}}'
