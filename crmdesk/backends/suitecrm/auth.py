"""OAuth2 for SuiteCRM API v8: password, client-credentials and authorization-code grants,
rotating refresh.

SuiteCRM rotates *both* tokens on refresh and revokes the old access token, so two
refreshes racing each other log the connection out.  All sign-ins and refreshes go
through one lock, and a caller whose 401 came from a token that has since been
replaced just replays with the new one instead of refreshing again (the token each
request used is remembered per task in a context variable).

The authorization-code grant signs in in the system browser (RFC 8252, see
:mod:`crmdesk.backends.oauth_loopback`): SuiteCRM 7 serves the consent page at
``index.php?module=OAuth2AuthCodes&action=authorize`` of the site (under ``/legacy`` on
SuiteCRM 8), next to the API, and redirects to ``http://127.0.0.1:PORT/callback``.  The
OAuth2 client must be made for that grant with that redirect URI.  PKCE (S256) is sent
unless ``options["pkce"]`` is ``"off"``; ``options["redirect_port"]`` fixes the port for a
server that compares the redirect URI with its port.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

from crmdesk.backends.oauth_loopback import BrowserOpener, authorize_in_browser
from crmdesk.backends.redact import register_secret
from crmdesk.backends.suitecrm.errors import error_for
from crmdesk.backends.suitecrm.parse import parse_token
from crmdesk.backends.transport import Transport, decode_json, looks_like_html
from crmdesk.core.connection import ConnectionProfile, Secrets
from crmdesk.core.errors import AuthError, ConfigurationError, CrmError, ProtocolError

log = logging.getLogger("crmdesk.suitecrm")

GRANTS = ("password", "client_credentials", "authorization_code")
#: The consent page, relative to the site root (the folder that holds ``Api``).
AUTHORIZE_PATH = "index.php?module=OAuth2AuthCodes&action=authorize"
#: How long the user has to sign in in the browser.
BROWSER_TIMEOUT = 300.0
#: Renew this many seconds before the server's expiry.
EXPIRY_MARGIN = 30.0

_used_token: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "suitecrm_used_token", default=None
)

TokenSink = Callable[[str, str | None], None]


class SuiteCrmAuth:
    """The transport's :class:`~crmdesk.backends.transport.Authenticator` for SuiteCRM."""

    def __init__(self, profile: ConnectionProfile, secrets: Secrets, transport: Transport) -> None:
        if profile.auth not in GRANTS:
            raise ConfigurationError(
                f"SuiteCRM has no '{profile.auth}' sign-in.",
                advice="Choose password, client credentials or authorization code in the "
                "connection settings.",
            )
        self.profile = profile
        self.secrets = secrets
        self.transport = transport
        self.base = profile.base_url.rstrip("/")
        #: ``{base}/Api`` or ``{base}/legacy/Api`` once a token endpoint answered.
        self.api_root: str | None = None
        self.access_token: str | None = None
        self.refresh_token: str | None = secrets.get("refresh_token") or None
        self.expires_at = 0.0
        self._margin = EXPIRY_MARGIN
        #: Called with every new (access, refresh) pair, at once, so a caller can store it.
        self.on_tokens: TokenSink | None = None
        #: Opens the consent page for the authorization-code grant (None: the default browser).
        self.open_browser: BrowserOpener | None = None
        #: Set it to stop waiting for the browser (the sign-in raises ``Cancelled``).
        self.cancel_browser: asyncio.Event | None = None
        self.browser_timeout = BROWSER_TIMEOUT
        self._lock = asyncio.Lock()

    # -- Authenticator --------------------------------------------------------------
    async def apply(self, request: httpx.Request) -> None:
        if self.access_token is None or self._expiring():
            seen = self.access_token
            async with self._lock:
                if self.access_token is None or (self.access_token == seen and self._expiring()):
                    await self._renew()
        token = self.access_token
        if token is None:  # pragma: no cover - _renew either sets it or raises
            raise AuthError("Not signed in to SuiteCRM.")
        _used_token.set(token)
        request.headers["Authorization"] = f"Bearer {token}"

    async def refresh(self) -> bool:
        used = _used_token.get()
        async with self._lock:
            if self.access_token is not None and self.access_token != used:
                return True  # another request renewed it meanwhile: just replay
            await self._renew()
        return True

    # -- sign-in --------------------------------------------------------------------
    def _expiring(self) -> bool:
        return bool(self.expires_at) and time.monotonic() >= self.expires_at - self._margin

    async def sign_in(self) -> None:
        async with self._lock:
            if self.refresh_token and (
                self.profile.auth == "authorization_code" or not self._can_login()
            ):
                # Resume without the browser (or the password the user did not keep)
                # while the stored refresh token lasts.
                await self._renew()
            else:
                await self._login()

    async def _renew(self) -> None:
        """Refresh when a refresh token is known, else (or when it is refused) sign in anew."""
        if self.refresh_token:
            try:
                await self._token_call(
                    {
                        "grant_type": "refresh_token",
                        "client_id": self._client_id(),
                        "client_secret": self._secret("client_secret"),
                        "refresh_token": self.refresh_token,
                    }
                )
            except AuthError:
                self.refresh_token = None
                if not self._can_login():
                    raise
                log.info("SuiteCRM refused the refresh token; signing in again")
            else:
                return
        await self._login()

    def _can_login(self) -> bool:
        if self.profile.auth == "authorization_code":
            return True  # the browser asks the user again
        needed = ["client_secret"] + (["password"] if self.profile.auth == "password" else [])
        return all(self.secrets.get(k) for k in needed)

    async def _login(self) -> None:
        if self.profile.auth == "authorization_code":
            await self._authorization_code()
            return
        payload = {
            "grant_type": self.profile.auth,
            "client_id": self._client_id(),
            "client_secret": self._secret("client_secret"),
        }
        if self.profile.auth == "password":
            if not self.profile.username:
                raise ConfigurationError("The SuiteCRM connection has no user name.")
            payload["username"] = self.profile.username
            payload["password"] = self._secret("password")
        await self._token_call(payload)

    async def _authorization_code(self) -> None:
        root = await self._find_api_root()
        site = root[: -len("/Api")]
        grant = await authorize_in_browser(
            f"{site}/{AUTHORIZE_PATH}",
            client_id=self._client_id(),
            pkce=self.profile.options.get("pkce", "S256").lower() not in ("off", "no", "0"),
            open_browser=self.open_browser,
            give_up_after=self.browser_timeout,
            port=self._redirect_port(),
            cancel=self.cancel_browser,
            crm="SuiteCRM",
        )
        payload = {
            "grant_type": "authorization_code",
            "client_id": self._client_id(),
            "code": grant.code,
            "redirect_uri": grant.redirect_uri,
        }
        secret = self.secrets.get("client_secret", "")
        if secret:  # a public client (no secret) relies on PKCE alone
            payload["client_secret"] = secret
        if grant.code_verifier is not None:
            payload["code_verifier"] = grant.code_verifier
        await self._token_call(payload)

    def _redirect_port(self) -> int:
        raw = self.profile.options.get("redirect_port", "").strip()
        if not raw or raw == "0":
            return 0
        if not raw.isdigit() or not 1024 <= int(raw) <= 65535:
            raise ConfigurationError(
                f"The redirect port '{raw}' is not a port number crmdesk can listen on.",
                advice="Enter a number from 1024 to 65535, or leave it empty for a free port.",
            )
        return int(raw)

    async def _find_api_root(self) -> str:
        """``{base}/Api`` or ``{base}/legacy/Api``: where the token endpoint answers.

        Asked with an empty token request, which SuiteCRM answers with an OAuth error
        (JSON); a 404 or an HTML page means the API is not there.
        """
        if self.api_root:
            return self.api_root
        last: CrmError | None = None
        for root in (f"{self.base}/Api", f"{self.base}/legacy/Api"):
            response = await self.transport.request(
                "POST",
                f"{root}/access_token",
                json_body={},
                auth=False,
                idempotent=False,
                headers={"Accept": "application/json"},
            )
            if response.status_code == 404 or looks_like_html(response):
                last = error_for(response, token_endpoint=True)
                continue
            self.api_root = root
            return root
        assert last is not None
        raise last

    def _client_id(self) -> str:
        cid = self.profile.options.get("client_id", "")
        if not cid:
            raise ConfigurationError(
                "The SuiteCRM connection has no OAuth2 client id.",
                advice="Create a client in Admin → OAuth2 Clients and Tokens and enter its id.",
            )
        return cid

    def _secret(self, key: str) -> str:
        value = self.secrets.get(key, "")
        if not value:
            what = "password" if key == "password" else "OAuth2 client secret"
            raise AuthError(f"No {what} is stored for this SuiteCRM connection.")
        return value

    async def _token_call(self, payload: dict[str, str]) -> None:
        roots = (
            [self.api_root] if self.api_root else [f"{self.base}/Api", f"{self.base}/legacy/Api"]
        )
        last: CrmError | None = None
        for root in roots:
            response = await self.transport.request(
                "POST",
                f"{root}/access_token",
                json_body=payload,
                auth=False,
                idempotent=False,
                headers={"Accept": "application/json"},
            )
            if response.status_code == 404 or looks_like_html(response):
                last = error_for(response, token_endpoint=True)
                continue  # SuiteCRM 8 serves the API under /legacy
            if response.status_code != 200:
                raise error_for(response, token_endpoint=True, grant=payload["grant_type"])
            body: Any = await decode_json(response)
            try:
                access, refresh, expires_in = parse_token(body)
            except ValueError as exc:
                raise ProtocolError(
                    f"SuiteCRM's token endpoint answered without a usable token ({exc})."
                ) from None
            self._store(access, refresh, expires_in)
            self.api_root = root
            return
        assert last is not None
        raise last

    def _store(self, access: str, refresh: str | None, expires_in: float) -> None:
        register_secret(access)
        register_secret(refresh)
        self.access_token = access
        if refresh:
            self.refresh_token = refresh
        self.expires_at = time.monotonic() + max(expires_in, 0.0)
        self._margin = min(EXPIRY_MARGIN, max(expires_in, 0.0) / 10)
        if self.on_tokens is not None:
            self.on_tokens(access, self.refresh_token)

    def forget(self) -> None:
        self.access_token = None
        self.expires_at = 0.0
