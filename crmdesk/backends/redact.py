"""Keep secrets out of logs, exception messages and anything shown.

Every secret an adapter handles (password, client secret, API key, access
key, token) is registered here the moment it is known; :func:`redact` then
replaces it, and its URL-encoded forms, wherever it appears.  A logging
filter installed on the ``crmdesk`` logger runs every record through it.
Patterns catch token-looking values the adapter never registered (a
refresh token echoed in an error body, say).
"""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import quote, quote_plus

MASK = "‹redacted›"
_lock = threading.Lock()
_secrets: set[str] = set()
#: Secrets shorter than this are not registered: masking "a" everywhere would garble logs,
#: and such a value is no secret worth the name.
MIN_LEN = 4

_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"(?i)(basic\s+)[A-Za-z0-9+/=]{8,}"),
    re.compile(
        r"(?i)((?:access_token|refresh_token|client_secret|password|accesskey|access_key|api_?key"
        r"|secret|sessionName|token)[\"']?\s*[:=]\s*[\"']?)"
        # ... but not a JSON literal (``"token": null`` stays valid JSON, and is no secret)
        r"(?!(?:null|true|false)\b)[^\"'&\s,}]{3,}"
    ),
    re.compile(r"(?i)(The password is invalid:\s*).*"),
    # OAuth2 authorization codes and PKCE verifiers in URLs and form bodies.
    re.compile(r"([?&](?:code|code_verifier)=)[^&\s\"'#]{3,}"),
    re.compile(r"(?i)(code_verifier[\"']?\s*[:=]\s*[\"']?)[^\"'&\s,}]{3,}"),
]


def register_secret(value: str | None) -> None:
    """Remember ``value`` so :func:`redact` hides it from now on."""
    if not value or len(value) < MIN_LEN:
        return
    with _lock:
        _secrets.add(value)
        for enc in (quote(value, safe=""), quote_plus(value)):
            if enc != value:
                _secrets.add(enc)


def redact(text: str) -> str:
    if not text:
        return text
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for s in known:
        if s in text:
            text = text.replace(s, MASK)
    for pat in _PATTERNS:
        text = pat.sub(lambda m: m.group(1) + MASK, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites a record's message with :func:`redact`; for handlers that want it explicitly."""

    def filter(self, record: logging.LogRecord) -> bool:
        _scrub(record)
        return True


def _scrub(record: logging.LogRecord) -> None:
    try:
        msg = record.getMessage()
    except Exception:  # a broken format string must not hide the record
        msg = str(record.msg)
    record.msg = redact(msg)
    record.args = None


_installed = False


def install_log_filter() -> None:
    """Scrub every log record of every logger (httpx logs URLs too) as it is made. Idempotent."""
    global _installed
    if _installed:
        return
    base = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = base(*args, **kwargs)
        _scrub(record)
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
