"""SuiteCRM's authorization-code grant against the demo server over loopback: the browser
is played with httpx (consent page, credentials, redirect to the app's listener)."""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest

import crmdesk.backends.oauth_loopback as loopback
from crmdesk.backends import open_backend
from crmdesk.backends.suitecrm.backend import SuiteCrmBackend
from crmdesk.core.connection import Secrets
from crmdesk.core.errors import AuthError, Cancelled, CrmError
from crmdesk.demo.browser import DemoBrowser
from crmdesk.demo.server import DemoServer

AUTH = "authorization_code"


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


class _Hidden(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "input" and a.get("type") == "hidden":
            self.fields[a["name"]] = a.get("value", "")


class HttpxBrowser:
    """The user's browser, by hand: GET the consent page, POST the credentials, follow the
    302 to the loopback listener.  Keeps the authorization URL and the redirect."""

    def __init__(self, server: DemoServer) -> None:
        self.server = server
        self.urls: list[str] = []
        self.redirect = ""
        self.final: httpx.Response | None = None

    async def __call__(self, url: str) -> bool:
        self.urls.append(url)
        c = self.server.credentials
        async with httpx.AsyncClient(trust_env=False, timeout=10.0) as client:
            page = await client.get(url)
            assert page.status_code == 200, page.text
            form = _Hidden()
            form.feed(page.text)
            data = {**form.fields, "user_name": c.username, "username_password": c.password}
            answer = await client.post(
                urljoin(url, "index.php"), data={**data, "confirmed": "once"}
            )
            assert answer.status_code == 302
            self.redirect = answer.headers["location"]
            self.final = await client.get(self.redirect)
        return True


@pytest.fixture
async def backends() -> AsyncIterator[list[SuiteCrmBackend]]:
    """Backends a test opens; closed afterwards."""
    opened: list[SuiteCrmBackend] = []
    yield opened
    for b in opened:
        await b.close()


def _open(server: DemoServer, opened: list[SuiteCrmBackend], **secrets: str) -> SuiteCrmBackend:
    base = dict(server.secrets("suitecrm", AUTH))
    backend = open_backend(server.profile("suitecrm", AUTH), Secrets({**base, **secrets}))
    assert isinstance(backend, SuiteCrmBackend)
    opened.append(backend)
    return backend


@pytest.fixture
def pkce_log(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every PKCE verifier the sign-in makes (to search for it afterwards)."""
    made: list[str] = []
    real = loopback.pkce_pair

    def recording() -> tuple[str, str]:
        verifier, challenge = real()
        made.append(verifier)
        return verifier, challenge

    monkeypatch.setattr(loopback, "pkce_pair", recording)
    return made


# -- success ------------------------------------------------------------------------------
async def test_round_trip_in_the_browser(
    demo_server: DemoServer, backends: list[SuiteCrmBackend]
) -> None:
    backend = _open(demo_server, backends)
    browser = HttpxBrowser(demo_server)
    backend.open_browser = browser
    tokens: list[tuple[str, str | None]] = []
    backend.on_tokens = lambda a, r: tokens.append((a, r))

    await backend.connect()
    me = await backend.me()
    assert me.user_name == demo_server.credentials.username

    (url,) = browser.urls
    assert url.startswith(demo_server.base_url("suitecrm") + "/index.php?")
    params = _query(url)
    assert params["module"] == "OAuth2AuthCodes"
    assert params["action"] == "authorize"
    assert params["client_id"] == demo_server.credentials.ac_client_id
    assert params["code_challenge_method"] == "S256"
    assert params["redirect_uri"].startswith("http://127.0.0.1:")
    back = _query(browser.redirect)
    assert back["state"] == params["state"]
    assert browser.final is not None
    assert browser.final.status_code == 200
    assert "You can close this window" in browser.final.text
    assert len(tokens) == 1
    access, refresh = tokens[0]
    assert refresh
    assert back["code"] not in (access, refresh)
    assert "authorization_code" in backend.capabilities.auth_methods


async def test_refresh_rotates_without_the_browser(
    demo_server: DemoServer, backends: list[SuiteCrmBackend]
) -> None:
    backend = _open(demo_server, backends)
    browser = DemoBrowser(demo_server.credentials.username, demo_server.credentials.password)
    backend.open_browser = browser
    tokens: list[tuple[str, str | None]] = []
    backend.on_tokens = lambda a, r: tokens.append((a, r))
    await backend.connect()
    demo_server.expire_tokens()
    await backend.modules()
    await backend.me()
    assert len(tokens) == 2
    assert tokens[0][1] != tokens[1][1]
    assert [v for v in browser.visits if v[0] == "POST"] == [
        ("POST", demo_server.base_url("suitecrm") + "/index.php", 302)
    ]


async def test_a_stored_refresh_token_reconnects_without_the_browser(
    demo_server: DemoServer, backends: list[SuiteCrmBackend]
) -> None:
    first = _open(demo_server, backends)
    first.open_browser = DemoBrowser(
        demo_server.credentials.username, demo_server.credentials.password
    )
    stored: list[str] = []
    first.on_tokens = lambda a, r: stored.append(r or "")
    await first.connect()

    def no_browser(url: str) -> bool:
        raise AssertionError("the browser was opened although a refresh token was stored")

    again = _open(demo_server, backends, refresh_token=stored[-1])
    again.open_browser = no_browser
    await again.connect()
    assert (await again.me()).user_name == demo_server.credentials.username


async def test_suitecrm8_layout_uses_the_legacy_consent_page(
    demo_server: DemoServer, backends: list[SuiteCrmBackend]
) -> None:
    demo_server.suitecrm_legacy_only = True
    backend = _open(demo_server, backends)
    browser = HttpxBrowser(demo_server)
    backend.open_browser = browser
    await backend.connect()
    assert browser.urls[0].startswith(demo_server.base_url("suitecrm") + "/legacy/index.php?")
    assert backend.api_root == demo_server.base_url("suitecrm") + "/legacy/Api"


# -- refusals -----------------------------------------------------------------------------
async def test_denied_in_the_browser(
    demo_server: DemoServer, backends: list[SuiteCrmBackend]
) -> None:
    backend = _open(demo_server, backends)
    c = demo_server.credentials
    backend.open_browser = DemoBrowser(c.username, c.password, consent="abort")
    with pytest.raises(AuthError) as info:
        await backend.connect()
    assert "refused in the browser (access denied)" in info.value.message


async def test_a_forged_state_is_refused(
    demo_server: DemoServer, backends: list[SuiteCrmBackend]
) -> None:
    backend = _open(demo_server, backends)
    c = demo_server.credentials

    def forge(location: str) -> str:
        return location.replace("state=", "state=x")

    browser = DemoBrowser(c.username, c.password, rewrite=forge)
    backend.open_browser = browser
    with pytest.raises(AuthError, match="state mismatch"):
        await backend.connect()
    assert browser.redirect is not None
    assert "code=" in browser.redirect


async def test_a_wrong_password_leaves_the_page_open_until_the_timeout(
    demo_server: DemoServer, backends: list[SuiteCrmBackend]
) -> None:
    backend = _open(demo_server, backends)
    browser = DemoBrowser(demo_server.credentials.username, "not-the-password")
    backend.open_browser = browser
    backend.auth.browser_timeout = 0.5
    with pytest.raises(AuthError, match="not completed within"):
        await backend.connect()
    assert "You must specify a valid username and password." in browser.last_page
    assert browser.redirect is None


async def test_cancel_while_waiting_for_the_browser(
    demo_server: DemoServer, backends: list[SuiteCrmBackend]
) -> None:
    backend = _open(demo_server, backends)
    backend.auth.cancel_browser = cancel = asyncio.Event()

    def user_gives_up(url: str) -> bool:
        asyncio.get_running_loop().call_later(0.05, cancel.set)
        return True

    backend.open_browser = user_gives_up
    with pytest.raises(Cancelled):
        await backend.connect()


async def test_a_wrong_client_secret_is_refused_after_the_browser(
    demo_server: DemoServer, backends: list[SuiteCrmBackend]
) -> None:
    backend = _open(demo_server, backends, client_secret="wrong-secret-123456")
    backend.open_browser = DemoBrowser(
        demo_server.credentials.username, demo_server.credentials.password
    )
    with pytest.raises(AuthError, match="refused the OAuth2 client"):
        await backend.connect()


async def test_a_wrong_verifier_is_refused(
    demo_server: DemoServer, backends: list[SuiteCrmBackend], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = loopback.pkce_pair

    def mismatched() -> tuple[str, str]:
        verifier, _ = real()
        _, challenge = real()
        return verifier, challenge

    monkeypatch.setattr(loopback, "pkce_pair", mismatched)
    backend = _open(demo_server, backends)
    backend.open_browser = DemoBrowser(
        demo_server.credentials.username, demo_server.credentials.password
    )
    with pytest.raises(AuthError) as info:
        await backend.connect()
    assert "refused the authorization code" in info.value.message


# -- the demo server's wire behaviour -----------------------------------------------------
async def _code(server: DemoServer, client: httpx.AsyncClient, **extra: str) -> dict[str, str]:
    """Walk the consent page by hand; the redirect's query (code, state)."""
    c = server.credentials
    params = {
        "module": "OAuth2AuthCodes",
        "action": "authorize",
        "response_type": "code",
        "client_id": c.ac_client_id,
        "redirect_uri": "http://127.0.0.1:9/callback",
        "state": "st-1",
        **extra,
    }
    url = server.base_url("suitecrm") + "/index.php"
    page = await client.get(url, params=params)
    assert page.status_code == 200
    form = _Hidden()
    form.feed(page.text)
    data = {**form.fields, "user_name": c.username, "username_password": c.password}
    answer = await client.post(url, data={**data, "confirmed": "always"})
    assert answer.status_code == 302
    location = answer.headers["location"]
    assert location.startswith("http://127.0.0.1:9/callback?")
    return _query(location)


def _exchange(server: DemoServer, code: str, **extra: str) -> dict[str, str]:
    c = server.credentials
    return {
        "grant_type": "authorization_code",
        "client_id": c.ac_client_id,
        "client_secret": c.ac_client_secret,
        "code": code,
        "redirect_uri": "http://127.0.0.1:9/callback",
        **extra,
    }


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False, timeout=10.0) as c:
        yield c


async def test_wire_codes_are_single_use(
    demo_server: DemoServer, client: httpx.AsyncClient
) -> None:
    back = await _code(demo_server, client)
    assert back["state"] == "st-1"
    token_url = demo_server.base_url("suitecrm") + "/Api/access_token"
    first = await client.post(token_url, json=_exchange(demo_server, back["code"]))
    assert first.status_code == 200
    assert set(first.json()) >= {"access_token", "refresh_token", "expires_in"}
    again = await client.post(token_url, json=_exchange(demo_server, back["code"]))
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_request"
    assert again.json()["hint"] == "Authorization code has been revoked"


async def test_wire_pkce_is_verified(demo_server: DemoServer, client: httpx.AsyncClient) -> None:
    verifier, challenge = loopback.pkce_pair()
    other, _ = loopback.pkce_pair()
    back = await _code(demo_server, client, code_challenge=challenge, code_challenge_method="S256")
    token_url = demo_server.base_url("suitecrm") + "/Api/access_token"
    missing = await client.post(token_url, json=_exchange(demo_server, back["code"]))
    assert missing.status_code == 400
    assert missing.json()["hint"] == "Check the `code_verifier` parameter"
    wrong = await client.post(
        token_url, json=_exchange(demo_server, back["code"], code_verifier=other)
    )
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    assert wrong.json()["hint"] == "Failed to verify `code_verifier`."
    right = await client.post(
        token_url, json=_exchange(demo_server, back["code"], code_verifier=verifier)
    )
    assert right.status_code == 200


async def test_wire_redirect_uri_must_match(
    demo_server: DemoServer, client: httpx.AsyncClient
) -> None:
    back = await _code(demo_server, client)
    token_url = demo_server.base_url("suitecrm") + "/Api/access_token"
    other = _exchange(demo_server, back["code"], redirect_uri="http://127.0.0.1:10/callback")
    r = await client.post(token_url, json=other)
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_request"


async def test_wire_other_clients_cannot_use_the_grant(
    demo_server: DemoServer, client: httpx.AsyncClient
) -> None:
    back = await _code(demo_server, client)
    c = demo_server.credentials
    token_url = demo_server.base_url("suitecrm") + "/Api/access_token"
    body = _exchange(
        demo_server, back["code"], client_id=c.client_id, client_secret=c.client_secret
    )
    r = await client.post(token_url, json=body)
    # As the captured server answered a client not set up for this grant
    # (token_error_unsupported_grant.json): no token, and no hint that the code was good.
    assert r.status_code == 400
    assert r.json()["error"] == "unsupported_grant_type"
    assert "access_token" not in r.json()


@pytest.mark.parametrize(
    ("redirect", "client_id"),
    [
        pytest.param("https://evil.example/callback", None, id="foreign-redirect"),
        pytest.param("http://127.0.0.1:9/other", None, id="other-path"),
        pytest.param("http://127.0.0.1:9/callback", "<script>x</script>", id="unknown-client"),
    ],
)
async def test_wire_bad_authorize_requests_get_an_error_page_not_a_redirect(
    demo_server: DemoServer, client: httpx.AsyncClient, redirect: str, client_id: str | None
) -> None:
    params = {
        "module": "OAuth2AuthCodes",
        "action": "authorize",
        "response_type": "code",
        "client_id": client_id or demo_server.credentials.ac_client_id,
        "redirect_uri": redirect,
        "state": "s",
    }
    r = await client.get(demo_server.base_url("suitecrm") + "/index.php", params=params)
    assert r.status_code == 400
    assert "location" not in r.headers
    assert "<script>" not in r.text
    assert "Invalid Request" in r.text


async def test_wire_the_consent_page_escapes_what_it_shows(
    demo_server: DemoServer, client: httpx.AsyncClient
) -> None:
    params = {
        "module": "OAuth2AuthCodes",
        "action": "authorize",
        "response_type": "code",
        "client_id": demo_server.credentials.ac_client_id,
        "redirect_uri": 'http://127.0.0.1:9/callback?x="><b>',
        "state": "s",
    }
    # The registered URI has no query: refused, and the query is not echoed raw.
    r = await client.get(demo_server.base_url("suitecrm") + "/index.php", params=params)
    assert "<b>" not in r.text
    ok = await client.get(
        demo_server.base_url("suitecrm") + "/index.php",
        params={**params, "redirect_uri": "http://127.0.0.1:9/callback"},
    )
    assert html.escape("http://127.0.0.1:9/callback") in ok.text


# -- secrets ------------------------------------------------------------------------------
async def test_no_secret_in_logs_or_errors(
    demo_server: DemoServer,
    backends: list[SuiteCrmBackend],
    caplog: pytest.LogCaptureFixture,
    pkce_log: list[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "crmdesk"):
        caplog.set_level(logging.DEBUG, logger=name)
    c = demo_server.credentials
    needles: set[str] = {c.ac_client_secret, c.password}
    errors: list[CrmError] = []
    browsers: list[DemoBrowser] = []

    good = _open(demo_server, backends)
    good.open_browser = b = DemoBrowser(c.username, c.password)
    browsers.append(b)
    good.on_tokens = lambda a, r: needles.update({a, r or ""} - {""})
    await good.connect()
    demo_server.expire_tokens()
    await good.modules()  # a refresh: new tokens, logged requests

    for variant in (
        DemoBrowser(c.username, c.password, rewrite=lambda u: u.replace("state=", "state=x")),
        DemoBrowser(c.username, c.password),  # with a wrong client secret, below
    ):
        secret = "wrong-client-secret-98765" if not variant.rewrite else c.ac_client_secret
        needles.add(secret)
        bad = _open(demo_server, backends, client_secret=secret)
        bad.open_browser = variant
        browsers.append(variant)
        with pytest.raises(CrmError) as info:
            await bad.connect()
        errors.append(info.value)

    codes = {_query(br.redirect)["code"] for br in browsers if br.redirect}
    assert len(codes) == 3
    needles |= codes | set(pkce_log)
    assert len(pkce_log) == 3
    logging.getLogger("crmdesk.test").debug("codes %s verifiers %s", codes, pkce_log)

    texts: list[str] = [caplog.text, *(r.getMessage() for r in caplog.records)]
    for e in errors:
        texts += [str(e), repr(e), e.message, e.advice or "", e.detail or ""]
    assert any("HTTP Request" in t for t in texts)
    found = [
        (n[:6], [line for t in texts for line in t.splitlines() if n in line][:2])
        for n in needles
        if any(n in t for t in texts)
    ]
    assert not found, f"secrets leaked: {found}"
