"""The RFC 8252 loopback listener: real HTTP over 127.0.0.1, the browser played with httpx."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import socket
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from crmdesk.backends.oauth_loopback import (
    CodeGrant,
    authorization_url,
    authorize_in_browser,
)
from crmdesk.backends.redact import MASK, install_log_filter, redact
from crmdesk.core.errors import AuthError, Cancelled, Unavailable

ENDPOINT = "http://127.0.0.1:9/index.php?module=OAuth2AuthCodes&action=authorize"


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


class Browser:
    """An async opener that answers the authorization URL with ``answer(params)`` (a query
    string for the redirect, or None to do nothing) and keeps what it saw."""

    def __init__(self, answer: Callable[[dict[str, str]], str | None]) -> None:
        self.answer = answer
        self.urls: list[str] = []
        self.pages: list[httpx.Response] = []

    async def __call__(self, url: str) -> bool:
        self.urls.append(url)
        params = _query(url)
        query = self.answer(params)
        if query is None:
            return True
        redirect = params["redirect_uri"]
        async with httpx.AsyncClient(trust_env=False) as client:
            # A browser asks for the icon too; then it follows the redirect.
            icon = f"http://{urlsplit(redirect).netloc}/favicon.ico"
            self.pages.append(await client.get(icon))
            self.pages.append(await client.get(f"{redirect}?{query}"))
        return True


def code_back(params: dict[str, str]) -> str:
    return f"code=the-code-1234567&state={params['state']}"


async def test_round_trip_returns_the_code_with_state_and_pkce() -> None:
    browser = Browser(code_back)
    grant = await authorize_in_browser(ENDPOINT, client_id="cid-1", open_browser=browser)
    (url,) = browser.urls
    assert url.startswith(ENDPOINT + "&")  # the endpoint's own query is kept
    params = _query(url)
    assert params["response_type"] == "code"
    assert params["client_id"] == "cid-1"
    redirect = urlsplit(params["redirect_uri"])
    assert (redirect.scheme, redirect.hostname, redirect.path) == ("http", "127.0.0.1", "/callback")
    assert redirect.port
    assert redirect.port > 0
    assert len(params["state"]) >= 32
    assert params["code_challenge_method"] == "S256"
    assert isinstance(grant, CodeGrant)
    assert grant.code == "the-code-1234567"
    assert grant.redirect_uri == params["redirect_uri"]
    assert grant.code_verifier is not None
    assert 43 <= len(grant.code_verifier) <= 128
    digest = hashlib.sha256(grant.code_verifier.encode()).digest()
    assert params["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert "the-code" not in repr(grant)

    icon, page = browser.pages
    assert icon.status_code == 404  # ignored: the flow went on
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    assert "You can close this window" in page.text


async def test_the_listener_is_gone_afterwards() -> None:
    browser = Browser(code_back)
    grant = await authorize_in_browser(ENDPOINT, client_id="c", open_browser=browser)
    async with httpx.AsyncClient(trust_env=False) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(grant.redirect_uri)


async def test_two_sign_ins_get_different_ports_and_states() -> None:
    a, b = Browser(code_back), Browser(code_back)
    await asyncio.gather(
        authorize_in_browser(ENDPOINT, client_id="c", open_browser=a),
        authorize_in_browser(ENDPOINT, client_id="c", open_browser=b),
    )
    pa, pb = _query(a.urls[0]), _query(b.urls[0])
    assert pa["redirect_uri"] != pb["redirect_uri"]
    assert pa["state"] != pb["state"]
    assert pa["code_challenge"] != pb["code_challenge"]


async def test_pkce_can_be_turned_off() -> None:
    browser = Browser(code_back)
    grant = await authorize_in_browser(ENDPOINT, client_id="c", open_browser=browser, pkce=False)
    assert "code_challenge" not in _query(browser.urls[0])
    assert grant.code_verifier is None


async def test_state_mismatch_is_refused() -> None:
    browser = Browser(lambda p: "code=forged-code-999&state=not-the-state")
    with pytest.raises(AuthError) as info:
        await authorize_in_browser(ENDPOINT, client_id="c", open_browser=browser)
    assert "state mismatch" in info.value.message
    page = browser.pages[-1]
    assert page.status_code == 400
    assert "could not complete the sign-in" in page.text
    assert "forged-code" not in str(info.value)


async def test_a_missing_state_is_a_mismatch_too() -> None:
    browser = Browser(lambda p: "code=forged-code-999")
    with pytest.raises(AuthError, match="state mismatch"):
        await authorize_in_browser(ENDPOINT, client_id="c", open_browser=browser)


async def test_access_denied_is_an_auth_error_and_nothing_is_reflected() -> None:
    evil = "%3Cscript%3Ealert(1)%3C%2Fscript%3E+The+user+denied"

    def deny(p: dict[str, str]) -> str:
        return f"error=access_denied&error_description={evil}&state={p['state']}"

    browser = Browser(deny)
    with pytest.raises(AuthError) as info:
        await authorize_in_browser(ENDPOINT, client_id="c", open_browser=browser, crm="SuiteCRM")
    err = info.value
    assert "refused in the browser (access denied)" in err.message
    assert "SuiteCRM" in err.message
    assert err.advice
    assert "authorize crmdesk" in err.advice
    assert err.detail is not None
    assert "<" not in err.detail
    assert "The user denied" in err.detail
    page = browser.pages[-1].text
    assert "script" not in page
    assert "denied" not in page


async def test_an_unknown_error_code_is_not_echoed() -> None:
    browser = Browser(lambda p: f"error=%3Cb%3Ebold&state={p['state']}")
    with pytest.raises(AuthError) as info:
        await authorize_in_browser(ENDPOINT, client_id="c", open_browser=browser)
    assert "(unknown)" in info.value.message
    assert "<b>" not in str(info.value)


async def test_nobody_answering_times_out() -> None:
    browser = Browser(lambda p: None)
    with pytest.raises(AuthError) as info:
        await authorize_in_browser(ENDPOINT, client_id="c", open_browser=browser, give_up_after=0.3)
    assert "not completed within 1 minute" in info.value.message
    assert info.value.advice
    assert "http://127.0.0.1/callback" in info.value.advice


async def test_the_cancel_event_stops_waiting() -> None:
    cancel = asyncio.Event()

    async def open_then_cancel(url: str) -> bool:
        cancel.set()
        return True

    with pytest.raises(Cancelled):
        await authorize_in_browser(
            ENDPOINT, client_id="c", open_browser=open_then_cancel, cancel=cancel
        )


async def test_cancelling_the_task_closes_the_listener() -> None:
    seen: list[str] = []
    opened = asyncio.Event()

    def remember(url: str) -> bool:
        seen.append(url)
        opened.set()
        return True

    task = asyncio.ensure_future(
        authorize_in_browser(ENDPOINT, client_id="c", open_browser=remember)
    )
    await opened.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    port = urlsplit(_query(seen[0])["redirect_uri"]).port
    assert port is not None
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0


async def test_a_port_in_use_is_unavailable_with_advice() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(Unavailable) as info:
            await authorize_in_browser(
                ENDPOINT, client_id="c", open_browser=Browser(code_back), port=port
            )
    assert f"port {port}" in info.value.message
    assert info.value.advice
    assert "redirect port" in info.value.advice


async def test_a_fixed_free_port_is_used() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    browser = Browser(code_back)
    grant = await authorize_in_browser(ENDPOINT, client_id="c", open_browser=browser, port=port)
    assert grant.redirect_uri == f"http://127.0.0.1:{port}/callback"


@pytest.mark.parametrize(
    "opener",
    [
        pytest.param(lambda url: False, id="sync-false"),
        pytest.param(lambda url: 1 / 0, id="sync-raises"),
    ],
)
async def test_no_browser_is_unavailable(opener: Callable[[str], object]) -> None:
    with pytest.raises(Unavailable, match="could not open a web browser"):
        await authorize_in_browser(ENDPOINT, client_id="c", open_browser=opener)  # type: ignore[arg-type]


async def test_an_async_opener_that_fails_is_unavailable() -> None:
    async def broken(url: str) -> bool:
        raise OSError("no display")

    async def refuses(url: str) -> bool:
        return False

    for opener in (broken, refuses):
        with pytest.raises(Unavailable):
            await authorize_in_browser(ENDPOINT, client_id="c", open_browser=opener)


async def test_only_get_on_the_callback_path_counts() -> None:
    statuses: list[int] = []

    async def poke(url: str) -> bool:
        p = _query(url)
        async with httpx.AsyncClient(trust_env=False) as client:
            statuses.append((await client.post(p["redirect_uri"], content=b"x")).status_code)
            r = await client.get(f"{p['redirect_uri']}?code=c-12345&state={p['state']}")
            statuses.append(r.status_code)
        return True

    grant = await authorize_in_browser(ENDPOINT, client_id="c", open_browser=poke)
    assert statuses == [405, 200]
    assert grant.code == "c-12345"


def test_authorization_url_joins_queries() -> None:
    assert authorization_url("http://h/a", {"x": "1 2"}) == "http://h/a?x=1+2"
    assert authorization_url("http://h/a?m=M", {"x": "&"}) == "http://h/a?m=M&x=%26"


async def test_code_and_verifier_never_reach_the_log(caplog: pytest.LogCaptureFixture) -> None:
    install_log_filter()
    caplog.set_level(logging.DEBUG)
    code = "secret-code-" + "z" * 20

    def back(p: dict[str, str]) -> str:
        return f"code={code}&state={p['state']}"

    grant = await authorize_in_browser(ENDPOINT, client_id="c", open_browser=Browser(back))
    assert grant.code == code
    logging.getLogger("crmdesk.test").info("got %s with %s", grant.code, grant.code_verifier)
    assert caplog.records
    assert code not in caplog.text
    assert grant.code_verifier is not None
    assert grant.code_verifier not in caplog.text


def test_codes_and_verifiers_in_urls_and_bodies_are_redacted() -> None:
    url = "GET http://127.0.0.1:5/callback?code=AbC-123_xyz&state=s1 200"
    assert redact(url) == f"GET http://127.0.0.1:5/callback?code={MASK}&state=s1 200"
    assert redact('{"code_verifier": "v-0123456789"}') == f'{{"code_verifier": "{MASK}"}}'
    assert redact("a=1&code_verifier=v-0123456789") == f"a=1&code_verifier={MASK}"
    assert redact("HTTP status code: 404") == "HTTP status code: 404"
