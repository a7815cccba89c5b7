"""The HTTP transport every dialect shares.

One ``httpx.AsyncClient`` per connection, handed in.  The transport adds:

* connect / read timeouts (from the profile),
* retry with exponential backoff for idempotent requests on 502/503/504,
  connection errors and timeouts (honouring a short ``Retry-After``),
* exactly one transparent token refresh and replay on 401, through the
  adapter's :class:`Authenticator`,
* secrets redacted from every log line and every error it raises,
* :func:`decode_json`, which turns HTML pages, empty and truncated bodies
  into a clear :class:`~crmdesk.core.errors.ProtocolError` instead of a
  ``JSONDecodeError`` — and parses big bodies off the event-loop thread.

It never maps HTTP statuses to domain errors: each adapter knows its
dialect's error bodies and does that itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import re
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

import httpx

from crmdesk import __version__
from crmdesk.backends.redact import redact, register_secret
from crmdesk.core.connection import ConnectionProfile, Secrets
from crmdesk.core.errors import Cancelled, ConfigurationError, ProtocolError, Unavailable

log = logging.getLogger("crmdesk.http")

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({502, 503, 504})
#: Bodies bigger than this are parsed in a worker thread so the UI never stalls for more
#: than a frame.  ``json.loads`` reads dense JSON at ~80 MB/s here (indented SuiteCRM pages at
#: ~250 MB/s), so 1 MiB stays within a frame; below that the thread hop (a round trip through
#: the event loop, and the GIL, which json.loads holds throughout anyway) costs more than it
#: saves: a 500 kB SuiteCRM page of 100 rows parses in ~2 ms inline, ~4-10 ms through a thread.
THREAD_PARSE_BYTES = 1024 * 1024
MAX_RETRY_AFTER = 10.0

QueryParams = Mapping[str, str | int | float] | Sequence[tuple[str, str | int | float]] | None


class Authenticator(Protocol):
    """Adds credentials to requests and renews them.  Implemented by each adapter."""

    async def apply(self, request: httpx.Request) -> None:
        """Set the auth header / params on ``request`` (may sign in first)."""

    async def refresh(self) -> bool:
        """Called once after a 401.  Return True if a replay may now succeed."""


class Transport:
    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        retries: int = 3,
        backoff: float = 0.25,
        authenticator: Authenticator | None = None,
    ) -> None:
        self.client = client
        self.retries = retries
        self.backoff = backoff
        #: How the transport waits between tries (a test records the delays instead; a
        #: patch of ``asyncio.sleep`` would reach every thread's loop in the process).
        self.pause: Callable[[float], Awaitable[None]] = asyncio.sleep
        self.authenticator = authenticator
        self._refresh_lock = asyncio.Lock()

    async def aclose(self) -> None:
        await self.client.aclose()

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: QueryParams = None,
        json_body: Any = None,
        data: Mapping[str, str] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        auth: bool = True,
    ) -> httpx.Response:
        """Send one request with retries and at most one token refresh.

        ``idempotent`` defaults to the HTTP method's semantics; pass True for a
        POST that only reads (SuiteCRM-style filter endpoints, Sugar /filter).
        """
        method = method.upper()
        may_retry = method in IDEMPOTENT if idempotent is None else idempotent
        refreshed = False
        attempt = 0
        while True:
            request = self.client.build_request(
                method,
                url,
                params=params,  # type: ignore[arg-type]
                json=json_body,
                data=data,
                content=content,
                headers=headers,
            )
            if auth and self.authenticator is not None:
                await self.authenticator.apply(request)
            started = time.perf_counter()
            try:
                response = await self.client.send(request)
                await response.aread()
            except asyncio.CancelledError:
                raise
            except httpx.HTTPError as exc:
                err = _network_error(exc, request)
                if may_retry and attempt < self.retries and _retryable(exc):
                    attempt += 1
                    await self._sleep(attempt, None)
                    continue
                raise err from None
            elapsed = (time.perf_counter() - started) * 1000
            log.debug(
                "%s %s -> %s (%.0f ms, %d bytes)",
                method,
                redact(str(request.url)),
                response.status_code,
                elapsed,
                len(response.content),
            )
            if response.status_code in RETRY_STATUSES and may_retry and attempt < self.retries:
                attempt += 1
                await self._sleep(attempt, response.headers.get("Retry-After"))
                continue
            if (
                response.status_code == 401
                and auth
                and not refreshed
                and self.authenticator is not None
            ):
                refreshed = True
                async with self._refresh_lock:
                    renewed = await self.authenticator.refresh()
                if renewed:
                    continue
            return response

    async def _sleep(self, attempt: int, retry_after: str | None) -> None:
        delay = self.backoff * (2 ** (attempt - 1))
        if retry_after:
            with contextlib.suppress(ValueError):
                delay = max(delay, min(float(retry_after), MAX_RETRY_AFTER))
        await self.pause(delay)


def _retryable(exc: httpx.HTTPError) -> bool:
    """Failures where the request surely or probably never ran; a read time-out is not one
    (retrying a slow query three times would only make the user wait four times as long)."""
    return isinstance(
        exc,
        httpx.ConnectError
        | httpx.ConnectTimeout
        | httpx.PoolTimeout
        | httpx.RemoteProtocolError
        | httpx.ReadError,
    )


def _network_error(exc: httpx.HTTPError, request: httpx.Request) -> Exception:
    """An httpx failure as the user should read it (never the raw exception)."""
    host = request.url.host or "the server"
    text = redact(str(exc))
    if isinstance(exc, httpx.ConnectTimeout):
        return Unavailable(f"Connecting to {host} timed out.", detail=text)
    if isinstance(exc, httpx.TimeoutException):
        return Unavailable(
            f"{host} did not answer in time.",
            advice="The CRM may be busy. Retry, or raise the read time-out in the connection "
            "settings.",
            detail=text,
        )
    if isinstance(exc, httpx.ConnectError):
        cause = exc.__cause__ or exc.__context__
        low = text.lower()
        if isinstance(cause, ssl.SSLError) or "certificate" in low or "ssl" in low:
            return Unavailable(
                f"The TLS certificate of {host} could not be verified.",
                advice="Check the URL, or give the CA bundle of your organisation in the "
                "connection settings.",
                detail=text,
            )
        if "name or service not known" in low or "nodename" in low or "getaddrinfo" in low:
            return Unavailable(
                f"The host name {host} could not be found.",
                advice="Check the spelling of the base URL and your network connection.",
                detail=text,
            )
        return Unavailable(f"Could not connect to {host}.", detail=text)
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return Unavailable(f"The connection to {host} broke off during the answer.", detail=text)
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return ConfigurationError(
            f"The base URL is not valid ({text}).",
            advice="Use a full address like https://crm.example.com.",
        )
    return Unavailable(f"Network error talking to {host}.", detail=text)


_TAG = re.compile(r"<[^>]+>")
_WS = re.compile(r"\s+")


def html_summary(text: str, limit: int = 200) -> str:
    """The visible words of an HTML page (title first), for an error's detail."""
    title = re.search(r"(?is)<title[^>]*>(.*?)</title>", text)
    body = re.sub(r"(?is)<(script|style)[^>]*>.*?</\1>", " ", text)
    words = _WS.sub(" ", html.unescape(_TAG.sub(" ", body))).strip()
    if title:
        t = _WS.sub(" ", html.unescape(title.group(1))).strip()
        if t and not words.startswith(t):
            words = f"{t}: {words}"
    return redact(words[:limit])


def looks_like_html(response: httpx.Response) -> bool:
    ctype = response.headers.get("content-type", "").lower()
    if "html" in ctype:
        return True
    head = response.content[:256].lstrip().lower()
    return head.startswith((b"<!doctype", b"<html", b"<br", b"<?xml", b"<head", b"<body"))


async def decode_json(response: httpx.Response, *, allow_empty: bool = False) -> Any:
    """Parse a JSON body defensively.

    Raises ProtocolError for an HTML page, an empty body (unless ``allow_empty``),
    a truncated or otherwise invalid body.  Bodies over ``THREAD_PARSE_BYTES`` are
    parsed in a worker thread.
    """
    raw = response.content
    what = f"{response.request.method} {redact(response.request.url.path)}"
    if not raw.strip():
        if allow_empty:
            return None
        raise ProtocolError(
            f"The server answered {response.status_code} with an empty body to {what}.",
            status=response.status_code,
        )
    if looks_like_html(response):
        text = raw[:4096].decode("utf-8", "replace")
        raise ProtocolError(
            f"The server answered {response.status_code} with an HTML page instead of JSON "
            f"({what}).",
            status=response.status_code,
            detail=html_summary(text),
        )
    try:
        if len(raw) > THREAD_PARSE_BYTES:
            return await asyncio.to_thread(json.loads, raw)
        return json.loads(raw)
    except asyncio.CancelledError:
        raise Cancelled("Cancelled.") from None
    except RecursionError:
        raise ProtocolError(
            f"The server's answer to {what} is nested too deeply to read.",
            status=response.status_code,
            detail=redact(raw[:160].decode("utf-8", "replace")),
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        declared = response.headers.get("content-length")
        truncated = (declared is not None and declared.isdigit() and int(declared) > len(raw)) or (
            isinstance(exc, json.JSONDecodeError) and _cut_off(exc)
        )
        snippet = redact(raw[:160].decode("utf-8", "replace"))
        if truncated:
            raise ProtocolError(
                f"The server's answer to {what} was cut off ({len(raw)} bytes received).",
                advice="The connection or the server broke off mid-answer. Retry; if it keeps "
                "happening, check proxies and the CRM's PHP memory / time limits.",
                status=response.status_code,
                detail=snippet,
            ) from None
        if "integer string conversion" in str(exc):
            raise ProtocolError(
                f"The server's answer to {what} holds a number too long to read.",
                status=response.status_code,
                detail=snippet,
            ) from None
        raise ProtocolError(
            f"The server's answer to {what} is not valid JSON.",
            status=response.status_code,
            detail=snippet,
        ) from None


_LITERAL_TAIL = re.compile(r"[-+0-9.eEtrufalsn]*")


def _cut_off(exc: json.JSONDecodeError) -> bool:
    """Whether the decoder failed the way cut-off JSON fails: in a string that never closes,
    or at the very end, or in a literal or number the cut left half-written (``tr``, ``1.``)."""
    if exc.msg.startswith("Unterminated string"):
        return True
    return _LITERAL_TAIL.fullmatch(exc.doc[exc.pos :].rstrip()) is not None


def make_client(profile: ConnectionProfile) -> httpx.AsyncClient:
    """The one AsyncClient of a connection, configured from its profile."""
    verify: bool | str | ssl.SSLContext = profile.verify_tls
    if profile.verify_tls and profile.ca_bundle:
        verify = ssl.create_default_context(cafile=profile.ca_bundle)
    return httpx.AsyncClient(
        timeout=httpx.Timeout(profile.read_timeout, connect=profile.connect_timeout),
        verify=verify,
        follow_redirects=False,
        headers={"User-Agent": f"crmdesk/{__version__}", "Accept": "application/json"},
        limits=httpx.Limits(max_connections=8, max_keepalive_connections=8),
    )


def register_secrets(secrets: Secrets) -> None:
    for value in secrets.values_to_redact():
        register_secret(value)
