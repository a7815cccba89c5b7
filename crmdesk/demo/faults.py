"""Fault injection for the demo server: make chosen requests fail the way real servers do.

``faults.inject(path_regex, kind, times=1)`` arms a fault for the next ``times`` requests
whose path (prefix included, e.g. ``/suitecrm/Api/V8/module/Accounts``) matches
``path_regex`` (``re.search``); ``times=None`` keeps it until :meth:`Faults.clear`.
Kinds:

``html`` / ``html:<code>``
    a PHP-style HTML page (notice + fatal error) with status 200 (default) or ``<code>``.
``empty`` / ``empty:<code>``
    an empty body with a JSON content type (200 by default).
``truncated``
    the real answer, cut in the middle of its body (Content-Length says the full size
    is the cut one, so the client gets broken JSON, not a protocol error).
``status:<code>``
    that status with a plausible body: 500 empty HTML (PHP fatal), 502/504 a proxy page,
    503 a maintenance page with ``Retry-After``, 429 a JSON body with ``Retry-After``.
``delay:<seconds>``
    wait, then answer normally.
``drop``
    close the connection without answering.
"""

from __future__ import annotations

import asyncio
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_PHP_ERROR = (
    "<br />\n<b>Warning</b>:  session_start(): Session cannot be started after headers have "
    "already been sent in <b>/var/www/html/include/MVC/SugarApplication.php</b> on line "
    "<b>609</b><br />\n<br />\n<b>Fatal error</b>:  Uncaught Exception: Database failure. "
    "Please refer to suitecrm.log for details. in /var/www/html/include/database/DBManager.php"
    ":353\nStack trace:\n#0 {main}\n  thrown in <b>/var/www/html/include/database/"
    "DBManager.php</b> on line <b>353</b><br />\n"
)
_PROXY_PAGE = (
    "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n<center><h1>{code} "
    "{reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
_MAINTENANCE = (
    "<!DOCTYPE html><html><head><title>Service Unavailable</title></head><body>"
    "<h1>Service Unavailable</h1><p>The server is temporarily unable to service your request "
    "due to maintenance downtime or capacity problems. Please try again later.</p>"
    "</body></html>"
)
_REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
            504: "Gateway Time-out", 429: "Too Many Requests"}  # fmt: skip

KINDS = ("html", "empty", "truncated", "status", "delay", "drop")


@dataclass(slots=True)
class Fault:
    pattern: re.Pattern[str]
    kind: str
    arg: str
    remaining: int | None
    method: str | None = None
    hits: int = field(default=0)


class Faults:
    """The switchboard; thread-safe, shared by the server thread and tests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def inject(
        self, path_regex: str, kind: str, times: int | None = 1, *, method: str | None = None
    ) -> Fault:
        name, _, arg = kind.partition(":")
        if name not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r} (one of {', '.join(KINDS)})")
        if name in ("status", "delay") and not arg:
            raise ValueError(f"fault {name} needs an argument, e.g. {name}:503")
        if name == "status":
            int(arg)
        if name == "delay":
            float(arg)
        fault = Fault(re.compile(path_regex), name, arg, times, method.upper() if method else None)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.method and fault.method != method:
                    continue
                if not fault.pattern.search(path):
                    continue
                fault.hits += 1
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                return fault
        return None


async def _respond(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _drop(send: Send) -> bool:
    """Close the client connection under uvicorn's feet (its send is a bound method of the
    request cycle, which holds the transport)."""
    transport: Any = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        return False
    transport.close()
    return True


class FaultMiddleware:
    def __init__(self, app: ASGIApp, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        fault = self.faults.take(scope["method"], scope["path"])
        if fault is None:
            await self.app(scope, receive, send)
            return
        html = [(b"content-type", b"text/html; charset=UTF-8")]
        if fault.kind == "delay":
            await asyncio.sleep(float(fault.arg))
            await self.app(scope, receive, send)
        elif fault.kind == "html":
            await _respond(send, int(fault.arg or 200), _PHP_ERROR.encode(), html)
        elif fault.kind == "empty":
            await _respond(
                send, int(fault.arg or 200), b"", [(b"content-type", b"application/json")]
            )
        elif fault.kind == "status":
            await self._status(send, int(fault.arg), html)
        elif fault.kind == "truncated":
            await self._truncated(scope, receive, send)
        elif fault.kind == "drop" and not _drop(send):  # pragma: no cover - not uvicorn
            start = {"type": "http.response.start", "status": 200,
                     "headers": [(b"content-length", b"100")]}  # fmt: skip
            await send(start)
            await send({"type": "http.response.body", "body": b"{"})

    @staticmethod
    async def _status(send: Send, code: int, html: list[tuple[bytes, bytes]]) -> None:
        reason = _REASONS.get(code, "Error")
        if code == 500:
            await _respond(send, code, b"", html)
        elif code == 503:
            await _respond(send, code, _MAINTENANCE.encode(), [*html, (b"retry-after", b"1")])
        elif code == 429:
            body = b'{"error":"rate_limited","message":"Too many requests"}'
            await _respond(
                send, code, body, [(b"content-type", b"application/json"), (b"retry-after", b"1")]
            )
        else:
            await _respond(send, code, _PROXY_PAGE.format(code=code, reason=reason).encode(), html)

    async def _truncated(self, scope: Scope, receive: Receive, send: Send) -> None:
        start: Message | None = None
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        assert start is not None
        body = b"".join(chunks)
        cut = body[: max(1, len(body) // 2)]
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        await _respond(send, start["status"], cut, headers)
