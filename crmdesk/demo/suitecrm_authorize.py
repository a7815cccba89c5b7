"""The demo SuiteCRM's authorization-code grant: consent page and code bookkeeping.

SuiteCRM 7 serves the consent page at ``index.php?module=OAuth2AuthCodes&action=authorize``
(``modules/OAuth2AuthCodes``), after its normal login page, and completes it with league's
``AuthCodeGrant``: the browser goes back to the client's redirect URI with ``code`` and
``state``, or with ``error=access_denied`` when the user aborts.  The demo folds login and
consent into one small page: the form posts ``user_name`` / ``username_password`` (the
field names of SuiteCRM's login form) and ``confirmed`` = ``once`` / ``always`` / ``abort``
(the consent buttons), so a test can complete it with a plain HTTP client.

At the token endpoint a code is single-use, lives ten minutes, belongs to one client and
redirect URI, and is checked against its PKCE challenge (``S256`` or ``plain``), with
league's error codes and hints.  The registered redirect URI matches a loopback redirect
on any port (RFC 8252 §7.3).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from crmdesk.demo.server import DemoCredentials
from crmdesk.demo.store import Cond, Store

MODULE = "OAuth2AuthCodes"
CODE_TTL = 600.0
_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")
_INVALID = (
    "The request is missing a required parameter, includes an invalid parameter value, "
    "includes a parameter more than once, or is otherwise malformed."
)
_DENIED = "The resource owner or authorization server denied the request."


class CodeRefused(Exception):
    """A token request the grant refuses: ``(status, error, description, hint)``."""

    def __init__(self, status: int, error: str, description: str, hint: str | None = None):
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.hint = hint


def _invalid(hint: str) -> CodeRefused:
    return CodeRefused(400, "invalid_request", _INVALID, hint)


@dataclass(frozen=True, slots=True)
class Pending:
    client_id: str
    redirect_uri: str
    state: str | None
    challenge: str | None
    method: str


@dataclass(slots=True)
class IssuedCode:
    user_id: str
    client_id: str
    redirect_uri: str
    challenge: str | None
    method: str
    expires_at: float
    revoked: bool = False


def redirect_matches(registered: str, given: str) -> bool:
    """Exact match, except that a loopback IP redirect may use any port (RFC 8252 §7.3)."""
    if given == registered:
        return True
    a, b = urlsplit(registered), urlsplit(given)
    loopback = ("127.0.0.1", "[::1]", "::1")
    return (
        a.scheme == b.scheme == "http"
        and a.hostname in loopback
        and a.hostname == b.hostname
        and (a.path, a.query) == (b.path, b.query)
    )


class AuthCodes:
    """Pending consent requests and issued codes of one demo SuiteCRM (thread-safe)."""

    def __init__(self, store: Store, credentials: DemoCredentials) -> None:
        self.store = store
        self.credentials = credentials
        self._lock = threading.Lock()
        self._pending: dict[str, Pending] = {}
        self._codes: dict[str, IssuedCode] = {}

    # -- the consent page ---------------------------------------------------------------
    async def page(self, request: Request, clients: Mapping[str, tuple[str, str]]) -> Response:
        """``GET`` / ``POST`` ``index.php``; ``clients`` maps client id → (grant, redirect URI)."""
        params: dict[str, str] = dict(request.query_params)
        if request.method == "POST":
            form = (await request.body()).decode("utf-8", "replace")
            params.update(parse_qsl(form, keep_blank_values=True))
        if params.get("module") != MODULE or params.get("action", "").lower() != "authorize":
            return _die(404, "Page not found.")
        if request.method == "POST" and "oauth2authcode_hash" in params:
            return self._confirm(params)
        return self._start(params, clients)

    def _start(self, p: Mapping[str, str], clients: Mapping[str, tuple[str, str]]) -> Response:
        client_id = p.get("client_id", "")
        if p.get("response_type") != "code" or not client_id:
            return _die(400, "The authorization grant type is not supported by the server.")
        grant, registered = clients.get(client_id, ("", ""))
        redirect_uri = p.get("redirect_uri", "") or registered
        if grant != "authorization_code" or not redirect_matches(registered, redirect_uri):
            return _die(400, "Client authentication failed")
        challenge = p.get("code_challenge") or None
        method = p.get("code_challenge_method", "plain")
        if challenge is not None and (
            method not in ("S256", "plain") or not _VERIFIER.match(challenge)
        ):
            return _die(400, _INVALID)
        pending = Pending(client_id, redirect_uri, p.get("state"), challenge, method)
        key = secrets.token_hex(16)
        with self._lock:
            self._pending[key] = pending
        return _form(key, client_id, redirect_uri)

    def _confirm(self, p: Mapping[str, str]) -> Response:
        key = p.get("oauth2authcode_hash", "")
        with self._lock:
            pending = self._pending.get(key)
        if pending is None:
            return _die(400, "No OAuth2 authorization in progress.")
        if p.get("confirmed") not in ("once", "always"):
            with self._lock:
                self._pending.pop(key, None)
            return _back(
                pending,
                error="access_denied",
                error_description=_DENIED,
                hint="The user denied the request",
                message=_DENIED,
            )
        user_id = self._user(p.get("user_name", ""), p.get("username_password", ""))
        if user_id is None:
            return _form(
                key,
                pending.client_id,
                pending.redirect_uri,
                error="You must specify a valid username and password.",
            )
        code = secrets.token_urlsafe(64)
        with self._lock:
            self._pending.pop(key, None)
            self._codes[code] = IssuedCode(
                user_id,
                pending.client_id,
                pending.redirect_uri,
                pending.challenge,
                pending.method,
                time.time() + CODE_TTL,
            )
        return _back(pending, code=code)

    def _user(self, username: str, password: str) -> str | None:
        c = self.credentials
        if username != c.username or not hmac.compare_digest(
            password.encode(), c.password.encode()
        ):
            return None
        users = self.store.list("Users", Cond("user_name", "eq", username), fields=["status"])
        if not users or users[0]["status"] != "Active":
            return None
        return str(users[0]["id"])

    # -- the token endpoint ---------------------------------------------------------------
    def redeem(self, p: Mapping[str, str], client_id: str) -> str:
        """Check a ``grant_type=authorization_code`` request (client already authenticated);
        revoke the code and return its user id."""
        code = p.get("code", "")
        if not code:
            raise _invalid("Check the `code` parameter")
        with self._lock:
            issued = self._codes.get(code)
            if issued is None:
                raise _invalid("Cannot decrypt the authorization code")
            if issued.revoked:
                raise _invalid("Authorization code has been revoked")
            if time.time() >= issued.expires_at:
                raise _invalid("Authorization code has expired")
            if issued.client_id != client_id:
                raise _invalid("Authorization code was not issued to this client")
            if p.get("redirect_uri", "") != issued.redirect_uri:
                raise CodeRefused(400, "invalid_request", "Invalid redirect URI")
            if issued.challenge is not None:
                verifier = p.get("code_verifier", "")
                if not verifier:
                    raise _invalid("Check the `code_verifier` parameter")
                if not _VERIFIER.match(verifier):
                    raise _invalid("Code Verifier must follow the specifications of RFC-7636.")
                if issued.method == "S256":
                    digest = hashlib.sha256(verifier.encode("ascii")).digest()
                    expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
                else:
                    expected = verifier
                if not hmac.compare_digest(expected.encode(), issued.challenge.encode()):
                    raise CodeRefused(
                        400,
                        "invalid_grant",
                        "The provided authorization grant (e.g., authorization code, resource "
                        "owner credentials) or refresh token is invalid, expired, revoked, does "
                        "not match the redirection URI used in the authorization request, or "
                        "was issued to another client.",
                        "Failed to verify `code_verifier`.",
                    )
            issued.revoked = True
            return issued.user_id

    def expire_all(self) -> None:
        with self._lock:
            for issued in self._codes.values():
                issued.expires_at = 0.0


# -- pages --------------------------------------------------------------------------------

_HEAD = (
    '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>SuiteCRM</title></head>\n'
    '<body style="font-family: sans-serif; margin: 2em;">\n'
)


def _die(status: int, message: str) -> Response:
    """SuiteCRM's ``sugar_die``: a bare page with the message (escaped)."""
    body = f"{_HEAD}<p>Invalid Request: {html.escape(message)}</p>\n</body></html>\n"
    return HTMLResponse(body, status)


def _form(key: str, client_id: str, redirect_uri: str, *, error: str = "") -> Response:
    e = html.escape
    problem = f'<p style="color: #b00020;">{e(error)}</p>\n' if error else ""
    body = (
        f"{_HEAD}<h1>SuiteCRM</h1>\n{problem}"
        "<p>An application asks to access SuiteCRM on your behalf.</p>\n"
        f"<p><strong>Client: {e(client_id)}</strong></p>\n"
        f"<p><strong>Redirect URI: {e(redirect_uri)}</strong></p>\n"
        '<form name="OAuthAuthorizeForm" method="POST" action="index.php">\n'
        f'<input type="hidden" name="module" value="{MODULE}">\n'
        '<input type="hidden" name="action" value="authorize">\n'
        f'<input type="hidden" name="oauth2authcode_hash" value="{e(key)}">\n'
        '<p><label>User name <input name="user_name" autocomplete="username"></label></p>\n'
        '<p><label>Password <input type="password" name="username_password" '
        'autocomplete="current-password"></label></p>\n'
        '<p><button name="confirmed" value="once">Authorize once</button> '
        '<button name="confirmed" value="always">Authorize and remember</button> '
        '<button name="confirmed" value="abort">Abort</button></p>\n'
        "</form>\n</body></html>\n"
    )
    return HTMLResponse(body, 200, headers={"Cache-Control": "no-store"})


def _back(pending: Pending, **params: str) -> Response:
    """302 to the client's redirect URI with ``params`` and the request's ``state``."""
    if pending.state is not None:
        params["state"] = pending.state
    sep = "&" if urlsplit(pending.redirect_uri).query else "?"
    return RedirectResponse(f"{pending.redirect_uri}{sep}{urlencode(params)}", 302)
