"""The shared HTTP transport: retries, one refresh on 401, defensive JSON decoding.

Pure client logic, so ``httpx.MockTransport`` stands in for the server.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from crmdesk.backends.transport import Transport, decode_json, html_summary, looks_like_html
from crmdesk.core.errors import ProtocolError, Unavailable

URL = "http://127.0.0.1:9/api/thing"
Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A scripted server: answers with the next response (or raises the next exception)."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def make(handler: Handler, **kw: object) -> Transport:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return Transport(client, backoff=0.001, **kw)  # type: ignore[arg-type]


class FakeAuth:
    """An Authenticator: token ``t1`` until refreshed, then ``t2``."""

    def __init__(self, *, renew: bool = True) -> None:
        self.token = "t1"
        self.refreshes = 0
        self.renew = renew

    async def apply(self, request: httpx.Request) -> None:
        request.headers["Authorization"] = f"Bearer {self.token}"

    async def refresh(self) -> bool:
        self.refreshes += 1
        if self.renew:
            self.token = "t2"
        return self.renew


# -- retries -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_get_is_retried_on_gateway_errors_then_succeeds(status: int) -> None:
    server = Recorder(httpx.Response(status), httpx.Response(200, json={"ok": 1}))
    t = make(server)
    response = await t.request("GET", URL)
    assert response.status_code == 200
    assert len(server.requests) == 2


async def test_retries_are_bounded() -> None:
    server = Recorder(httpx.Response(503))
    t = make(server, retries=2)
    response = await t.request("GET", URL)
    assert response.status_code == 503
    assert len(server.requests) == 3  # first try + 2 retries


async def test_post_is_not_retried() -> None:
    server = Recorder(httpx.Response(503), httpx.Response(200))
    t = make(server)
    response = await t.request("POST", URL, json_body={"a": 1})
    assert response.status_code == 503
    assert len(server.requests) == 1


async def test_post_marked_idempotent_is_retried() -> None:
    server = Recorder(httpx.Response(502), httpx.Response(200))
    t = make(server)
    response = await t.request("POST", URL, json_body={}, idempotent=True)
    assert response.status_code == 200
    assert len(server.requests) == 2


async def test_connection_error_retried_for_get() -> None:
    server = Recorder(httpx.ConnectError("refused"), httpx.Response(200, json={}))
    t = make(server)
    assert (await t.request("GET", URL)).status_code == 200
    assert len(server.requests) == 2


async def test_connection_error_not_retried_for_post_and_becomes_unavailable() -> None:
    server = Recorder(httpx.ConnectError("refused"))
    t = make(server)
    with pytest.raises(Unavailable) as info:
        await t.request("POST", URL, json_body={})
    assert len(server.requests) == 1
    assert "127.0.0.1" in info.value.message


async def test_persistent_connection_error_becomes_unavailable_after_retries() -> None:
    server = Recorder(httpx.ConnectError("refused"))
    t = make(server, retries=2)
    with pytest.raises(Unavailable):
        await t.request("GET", URL)
    assert len(server.requests) == 3


async def test_read_timeout_is_not_retried() -> None:
    server = Recorder(httpx.ReadTimeout("slow"))
    t = make(server)
    with pytest.raises(Unavailable) as info:
        await t.request("GET", URL)
    assert len(server.requests) == 1
    assert "time" in info.value.message


async def test_backoff_grows() -> None:
    delays: list[float] = []

    async def fake_sleep(d: float) -> None:
        delays.append(d)

    server = Recorder(httpx.Response(503))
    t = Transport(httpx.AsyncClient(transport=httpx.MockTransport(server)), backoff=0.5)
    t.pause = fake_sleep
    await t.request("GET", URL)
    assert delays == [0.5, 1.0, 2.0]


async def test_retry_after_is_honoured_but_capped() -> None:
    delays: list[float] = []

    async def fake_sleep(d: float) -> None:
        delays.append(d)

    server = Recorder(
        httpx.Response(503, headers={"Retry-After": "3"}),
        httpx.Response(503, headers={"Retry-After": "9999"}),
        httpx.Response(200),
    )
    t = Transport(httpx.AsyncClient(transport=httpx.MockTransport(server)), backoff=0.1)
    t.pause = fake_sleep
    assert (await t.request("GET", URL)).status_code == 200
    assert delays == [3.0, 10.0]


# -- 401 → one refresh, one replay ----------------------------------------------------------


async def test_401_refreshes_once_and_replays_with_new_token() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers["Authorization"] == "Bearer t2":
            return httpx.Response(200, json={"ok": True})
        return httpx.Response(401, json={"error": "access_denied"})

    auth = FakeAuth()
    seen: list[str] = []

    def recording(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return handler(request)

    t = make(recording, authenticator=auth)
    response = await t.request("GET", URL)
    assert response.status_code == 200
    assert auth.refreshes == 1
    assert seen == ["Bearer t1", "Bearer t2"]


async def test_401_after_refresh_is_returned_not_looped() -> None:
    server = Recorder(httpx.Response(401))
    auth = FakeAuth()
    t = make(server, authenticator=auth)
    response = await t.request("GET", URL)
    assert response.status_code == 401
    assert auth.refreshes == 1
    assert len(server.requests) == 2


async def test_failed_refresh_returns_the_401_without_replay() -> None:
    server = Recorder(httpx.Response(401))
    auth = FakeAuth(renew=False)
    t = make(server, authenticator=auth)
    assert (await t.request("GET", URL)).status_code == 401
    assert len(server.requests) == 1


async def test_no_refresh_for_unauthenticated_requests() -> None:
    server = Recorder(httpx.Response(401))
    auth = FakeAuth()
    t = make(server, authenticator=auth)
    assert (await t.request("POST", URL, auth=False)).status_code == 401
    assert auth.refreshes == 0
    assert "Authorization" not in server.requests[0].headers


async def test_post_is_replayed_after_refresh() -> None:
    """A 401 means the request was never run, so even a POST may be replayed once."""
    bodies: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        if request.headers["Authorization"] == "Bearer t2":
            return httpx.Response(201, json={})
        return httpx.Response(401)

    t = make(handler, authenticator=FakeAuth())
    assert (await t.request("POST", URL, json_body={"x": 1})).status_code == 201
    assert len(bodies) == 2
    assert bodies[0] == bodies[1]


# -- decode_json ------------------------------------------------------------------------------


def _resp(
    status: int, content: bytes, ctype: str = "application/json", **headers: str
) -> httpx.Response:
    return httpx.Response(
        status,
        content=content,
        headers={"Content-Type": ctype, **headers},
        request=httpx.Request("GET", URL),
    )


async def test_decode_json_ok() -> None:
    assert await decode_json(_resp(200, b'{"a": [1, 2]}')) == {"a": [1, 2]}


async def test_decode_json_large_body_parsed_in_thread() -> None:
    big = json.dumps({"data": ["x" * 100] * 5000}).encode()
    assert len(big) > 256 * 1024
    assert len((await decode_json(_resp(200, big)))["data"]) == 5000


async def test_html_page_is_protocol_error_with_summary() -> None:
    page = b"<html><head><title>Login</title></head><body><p>Please sign in</p></body></html>"
    with pytest.raises(ProtocolError) as info:
        await decode_json(_resp(200, page, "text/html"))
    err = info.value
    assert "HTML page instead of JSON" in err.message
    assert err.detail is not None
    assert "Login" in err.detail
    assert "<" not in err.detail
    assert "/legacy" in err.advice


async def test_php_warning_with_json_content_type_is_html() -> None:
    body = b"<br />\n<b>Warning</b>: something in foo.php<br />{}"
    with pytest.raises(ProtocolError, match="HTML"):
        await decode_json(_resp(200, body))


async def test_empty_body_is_protocol_error_unless_allowed() -> None:
    with pytest.raises(ProtocolError, match="empty body"):
        await decode_json(_resp(200, b""))
    with pytest.raises(ProtocolError, match="empty body"):
        await decode_json(_resp(200, b"  \n"))
    assert await decode_json(_resp(200, b""), allow_empty=True) is None


async def test_truncated_body_says_cut_off() -> None:
    full = json.dumps({"data": [{"id": str(i)} for i in range(50)]}).encode()
    with pytest.raises(ProtocolError, match="cut off") as info:
        await decode_json(_resp(200, full[: len(full) // 2]))
    assert info.value.status == 200


async def test_garbage_is_not_valid_json() -> None:
    with pytest.raises(ProtocolError, match="not valid JSON") as info:
        await decode_json(_resp(200, b"Allowed methods: GET"))
    assert info.value.detail == "Allowed methods: GET"


async def test_json_with_trailing_text_is_not_valid_json() -> None:
    with pytest.raises(ProtocolError, match="not valid JSON"):
        await decode_json(_resp(400, b'{"errors": {}}Database failure.'))


async def test_invalid_utf8_is_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        await decode_json(_resp(200, b'{"a": "\xff\xfe"}'))


def test_looks_like_html_sniffs_body_and_header() -> None:
    assert looks_like_html(_resp(200, b"{}", "text/html; charset=UTF-8"))
    assert looks_like_html(_resp(200, b"  <!DOCTYPE html><html>"))
    assert not looks_like_html(_resp(200, b'{"a": "<html>"}'))


def test_html_summary_drops_scripts_and_tags() -> None:
    text = "<html><title>Oops</title><script>var x=1;</script><h1>Not &amp; Found</h1></html>"
    assert html_summary(text) == "Oops Not & Found"
