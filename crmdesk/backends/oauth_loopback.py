"""OAuth2 authorization-code sign-in in the system browser, RFC 8252 style.

A native app cannot keep a redirect page of its own on the web, so it listens for the
redirect itself: a one-shot HTTP listener on ``127.0.0.1`` (an IP literal, never
``localhost``) on a random port, ``redirect_uri=http://127.0.0.1:PORT/callback``.  The
user signs in and consents in their own browser; the CRM redirects the browser to the
listener with ``code`` and ``state``; the listener answers with a fixed "you can close
this window" page and hands the code to the adapter, which exchanges it at the token
endpoint.  ``state`` (random, compared in constant time) ties the answer to this
request; PKCE (RFC 7636, ``S256``) ties the code to this process.

Dialect-neutral: an adapter builds the authorization endpoint URL and calls
:func:`authorize_in_browser`.  Which browser opens is pluggable: pass ``open_browser`` or
set a process-wide default with :func:`set_browser` (the UI may route it through Qt;
tests install a scripted browser).  An opener may be a plain callable (it runs on the
event loop's thread and must return quickly) or an async one (it runs as a task beside
the listener).  The default runs :func:`webbrowser.open` in a worker thread, since a
console browser would block until it quits.

Errors are core errors: :class:`AuthError` when the user refuses, the answer does not
match the request or nobody answered in time; :class:`Unavailable` when the listener
cannot bind or no browser opens; :class:`Cancelled` when ``cancel`` is set.  Cancelling
the awaiting task cancels it like any other (``asyncio.CancelledError``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import html
import inspect
import logging
import re
import secrets
import webbrowser
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from crmdesk.backends.redact import redact, register_secret
from crmdesk.core.errors import AuthError, Cancelled, ConfigurationError, Unavailable

log = logging.getLogger("crmdesk.oauth")

#: Called with the authorization URL.  ``False`` means no browser could be opened.
BrowserOpener = Callable[[str], bool | Awaitable[bool | None] | None]

HOST = "127.0.0.1"
CALLBACK_PATH = "/callback"
DEFAULT_TIMEOUT = 300.0
#: How long one connection to the listener may take to send its request line and headers.
REQUEST_TIMEOUT = 10.0
MAX_REQUEST_BYTES = 16 * 1024
#: After the answer came, how long an async opener may still run before it is cancelled.
BROWSER_GRACE = 2.0
#: RFC 6749 §4.1.2.1 error codes; anything else is reported as "unknown".
_ERROR_CODES = frozenset(
    {
        "invalid_request",
        "unauthorized_client",
        "access_denied",
        "unsupported_response_type",
        "invalid_scope",
        "server_error",
        "temporarily_unavailable",
        "invalid_client",
        "invalid_grant",
    }
)

_PAGE = (
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
    '<meta name="referrer" content="no-referrer"><title>crmdesk sign-in</title></head>'
    '<body style="font-family: sans-serif; margin: 3em;"><h1>{title}</h1><p>{text}</p>'
    "</body></html>\n"
)


async def _system_browser(url: str) -> bool:
    return await asyncio.to_thread(webbrowser.open, url)


_default_opener: BrowserOpener = _system_browser


def set_browser(opener: BrowserOpener | None) -> BrowserOpener:
    """Make ``opener`` the process-wide default (``None``: the system browser); returns
    the previous one so a caller can put it back."""
    global _default_opener
    previous = _default_opener
    _default_opener = opener if opener is not None else _system_browser
    return previous


@contextlib.contextmanager
def using_browser(opener: BrowserOpener) -> Iterator[None]:
    """``with using_browser(fn): ...`` — the default opener for the block."""
    previous = set_browser(opener)
    try:
        yield
    finally:
        set_browser(previous)


def default_browser() -> BrowserOpener:
    return _default_opener


@dataclass(frozen=True, slots=True)
class CodeGrant:
    """What the redirect brought: the code, and what the token request must repeat."""

    code: str
    redirect_uri: str
    #: The PKCE verifier to send as ``code_verifier``; ``None`` when PKCE was off.
    code_verifier: str | None

    def __repr__(self) -> str:
        return f"CodeGrant(redirect_uri={self.redirect_uri!r}, …)"

    __str__ = __repr__


def pkce_pair() -> tuple[str, str]:
    """(verifier, S256 challenge): 64 unreserved characters and ``BASE64URL(SHA256(v))``."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(slots=True)
class _Outcome:
    code: str | None = None
    error: str | None = None
    description: str = ""
    mismatch: bool = False


class LoopbackListener:
    """The one-shot redirect receiver: ``async with LoopbackListener() as ear: ...``.

    ``ear.redirect_uri`` is ready once entered; ``await ear.wait()`` returns the
    first answer on the callback path (other paths, a favicon say, get a 404 and are
    ignored).  The listener closes on exit.
    """

    def __init__(
        self, state: str, *, port: int = 0, path: str = CALLBACK_PATH, crm: str = "the CRM"
    ) -> None:
        self.port = port
        self.path = path
        self.crm = crm
        self._server: asyncio.Server | None = None
        self._state = state
        self._result: asyncio.Future[_Outcome] | None = None

    async def __aenter__(self) -> LoopbackListener:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        self._result = asyncio.get_running_loop().create_future()
        try:
            self._server = await asyncio.start_server(
                self._handle, HOST, self.port, limit=MAX_REQUEST_BYTES
            )
        except OSError as exc:
            where = f"port {self.port}" if self.port else "a free port"
            raise Unavailable(
                f"crmdesk could not listen on {HOST} {where} for the browser's answer "
                f"({exc.strerror or type(exc).__name__}).",
                advice="Another program may be using that port. Close it, or clear the fixed "
                "redirect port in the connection settings so crmdesk picks a free one.",
            ) from None
        self.port = int(self._server.sockets[0].getsockname()[1])

    @property
    def redirect_uri(self) -> str:
        return f"http://{HOST}:{self.port}{self.path}"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._result is not None and not self._result.done():
            self._result.cancel()

    async def wait(self) -> _Outcome:
        assert self._result is not None, "start() first"
        return await asyncio.shield(self._result)

    # -- the tiny HTTP server -------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_TIMEOUT)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            writer.close()
            return
        try:
            line = head.split(b"\r\n", 1)[0].decode("latin-1")
            method, target, _version = line.split(" ", 2)
        except ValueError:
            await self._respond(writer, 400, "Bad request", "crmdesk did not understand this.")
            return
        url = urlsplit(target)
        if url.path != self.path:
            await self._respond(writer, 404, "Not found", "Nothing here.")
            return
        if method != "GET":
            await self._respond(writer, 405, "Method not allowed", "Only GET is accepted.")
            return
        outcome = self._read(url.query)
        if self._result is None or self._result.done():
            await self._respond(
                writer, 409, "Already answered", "This sign-in is already finished or over."
            )
            return
        if outcome.code is not None:
            await self._respond(
                writer,
                200,
                "Signed in",
                f"crmdesk received the sign-in from {self.crm}. You can close this window "
                "and return to crmdesk.",
            )
        else:
            await self._respond(
                writer,
                400,
                "Sign-in not completed",
                "crmdesk could not complete the sign-in. You can close this window; "
                "crmdesk says what went wrong.",
            )
        if not self._result.done():
            self._result.set_result(outcome)

    def _read(self, query: str) -> _Outcome:
        params = parse_qs(query, keep_blank_values=True)
        for code in params.get("code", []):
            register_secret(code)  # also a code that is refused below
        one = {k: v[0] for k, v in params.items() if len(v) == 1}
        state = one.get("state", "")
        if not self._state or not hmac.compare_digest(state.encode(), self._state.encode()):
            return _Outcome(mismatch=True)
        if "error" in params:
            error = one.get("error", "")
            return _Outcome(
                error=error if error in _ERROR_CODES else "unknown",
                description=one.get("error_description", "") or one.get("hint", ""),
            )
        code = one.get("code", "")
        if not code:
            return _Outcome(error="invalid_request", description="no code in the answer")
        return _Outcome(code=code)

    @staticmethod
    async def _respond(writer: asyncio.StreamWriter, status: int, title: str, text: str) -> None:
        body = _PAGE.format(title=html.escape(title), text=html.escape(text)).encode("utf-8")
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
        head = (
            f"HTTP/1.1 {status} {reason.get(status, 'Conflict')}\r\n"
            "Content-Type: text/html; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\n"
            "Cache-Control: no-store\r\n"
            "Referrer-Policy: no-referrer\r\n"
            "X-Content-Type-Options: nosniff\r\n"
            "Connection: close\r\n\r\n"
        )
        try:
            writer.write(head.encode("ascii") + body)
            await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()


def authorization_url(endpoint: str, params: Mapping[str, str]) -> str:
    """``endpoint`` (which may carry a query of its own) plus ``params``."""
    joiner = "&" if urlsplit(endpoint).query else ("" if endpoint.endswith("?") else "?")
    return f"{endpoint}{joiner}{urlencode(dict(params))}"


async def authorize_in_browser(
    endpoint: str,
    *,
    client_id: str,
    scope: str = "",
    pkce: bool = True,
    open_browser: BrowserOpener | None = None,
    give_up_after: float = DEFAULT_TIMEOUT,
    port: int = 0,
    cancel: asyncio.Event | None = None,
    crm: str = "the CRM",
) -> CodeGrant:
    """Run the browser part of the authorization-code grant; return the code to exchange.

    ``endpoint`` is the CRM's authorization URL (its own query kept).  ``port`` 0 picks a
    free port; a fixed one is for servers that register the redirect URI with its port.
    ``give_up_after`` seconds without an answer end it with an :class:`AuthError`.
    """
    if not client_id:
        raise ConfigurationError(f"The connection to {crm} has no OAuth2 client id.")
    opener = open_browser if open_browser is not None else _default_opener
    verifier, challenge = pkce_pair() if pkce else (None, None)
    register_secret(verifier)
    state = secrets.token_urlsafe(32)
    async with LoopbackListener(state, port=port, crm=crm) as ear:
        params = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": ear.redirect_uri,
            "state": state,
        }
        if scope:
            params["scope"] = scope
        if challenge is not None:
            params["code_challenge"] = challenge
            params["code_challenge_method"] = "S256"
        url = authorization_url(endpoint, params)
        log.info(
            "Signing in to %s in the browser; waiting on %s",
            redact(endpoint.split("?", 1)[0]),
            ear.redirect_uri,
        )
        outcome = await _await_answer(ear, opener, url, give_up_after, cancel, crm)
        redirect_uri = ear.redirect_uri
    if outcome.mismatch:
        raise AuthError(
            "The browser brought back a sign-in answer that does not belong to this request "
            "(state mismatch), so crmdesk ignored it.",
            advice="Start the sign-in again and complete it in the browser window crmdesk "
            "opens. If it happens again, another page may be trying to sign you in.",
        )
    if outcome.error is not None:
        raise _redirect_error(outcome, crm)
    assert outcome.code is not None
    return CodeGrant(outcome.code, redirect_uri, verifier)


async def _await_answer(
    ear: LoopbackListener,
    opener: BrowserOpener,
    url: str,
    give_up_after: float,
    cancel: asyncio.Event | None,
    crm: str,
) -> _Outcome:
    answer: asyncio.Future[_Outcome] = asyncio.ensure_future(ear.wait())
    waiters: set[asyncio.Future[Any]] = {answer}
    browser: asyncio.Future[Any] | None = None
    cancelled: asyncio.Future[Any] | None = None
    try:
        try:
            opened = opener(url)
        except Exception as exc:
            log.warning("opening the browser failed: %s", type(exc).__name__)
            raise _no_browser(crm) from None
        if inspect.isawaitable(opened):
            browser = asyncio.ensure_future(opened)
            waiters.add(browser)
        elif opened is False:
            raise _no_browser(crm)
        if cancel is not None:
            cancelled = asyncio.ensure_future(cancel.wait())
            waiters.add(cancelled)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + give_up_after
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise _timed_out(give_up_after, crm)
            done, _ = await asyncio.wait(waiters, timeout=left, return_when="FIRST_COMPLETED")
            if answer in done:
                if browser is not None and not browser.done():
                    # Let the browser read the "you can close this window" page.
                    await asyncio.wait({browser}, timeout=BROWSER_GRACE)
                return answer.result()
            if cancelled is not None and cancelled in done:
                raise Cancelled("The sign-in in the browser was cancelled.")
            if browser is not None and browser in done:
                waiters.discard(browser)
                failure = browser.exception()
                if failure is not None:
                    log.warning("opening the browser failed: %s", type(failure).__name__)
                    raise _no_browser(crm) from None
                if browser.result() is False:
                    raise _no_browser(crm)
    finally:
        for fut in (answer, cancelled, browser):
            if fut is not None and not fut.done():
                fut.cancel()


def _no_browser(crm: str) -> Unavailable:
    return Unavailable(
        f"crmdesk could not open a web browser to sign in to {crm}.",
        advice="Make sure a default web browser is set up for your desktop (on Linux the "
        "BROWSER environment variable can name one), then try again.",
    )


def _timed_out(timeout: float, crm: str) -> AuthError:
    minutes = max(1, round(timeout / 60))
    unit = "minute" if minutes == 1 else "minutes"
    return AuthError(
        f"The sign-in to {crm} in the browser was not completed within {minutes} {unit}.",
        advice="Try again and finish signing in in the browser window. If the browser showed "
        "an error page instead, check that the OAuth2 client is made for the authorization "
        "code grant and that its redirect URI is http://127.0.0.1/callback.",
    )


_SAFE_TEXT = re.compile(r"[^\w .,;:()'/-]")


def _redirect_error(outcome: _Outcome, crm: str) -> AuthError:
    detail = _SAFE_TEXT.sub("", redact(outcome.description))[:200] or None
    if outcome.error == "access_denied":
        return AuthError(
            f"The sign-in to {crm} was refused in the browser (access denied).",
            advice="Start the sign-in again and choose to authorize crmdesk on the CRM's page.",
            detail=detail,
        )
    return AuthError(
        f"{crm[:1].upper()}{crm[1:]} refused the sign-in request ({outcome.error}).",
        advice="Check that the OAuth2 client id is right and that the client is made for the "
        "authorization code grant with the redirect URI http://127.0.0.1/callback.",
        detail=detail,
    )
