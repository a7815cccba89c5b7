"""Value parsing every dialect can share: wire strings into typed domain values and back.

Real CRMs send strings for everything (SuiteCRM, Vtiger), HTML entities in text,
``""`` for empty, and dates in a handful of formats.  These helpers turn such
values into :data:`crmdesk.core.records.Value` defensively: a value that does not
parse is kept as its (unescaped) text rather than lost or raised, so a record
with one odd field still shows.  Nothing here knows a dialect.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation

from crmdesk.core.records import Value
from crmdesk.core.schema import FieldType

TRUE_WORDS = frozenset({"1", "true", "yes", "on", "y", "t"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", "n", "f"})

#: Date-times that carry no zone are read as UTC (what SuiteCRM / Sugar DB formats mean).
_NAIVE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M")

#: Longest text read as a number, and the largest decimal exponent accepted.  Beyond these a
#: value is kept as text: Python's ``int()`` refuses strings of over 4,300 digits (ValueError),
#: ``int(Decimal("1e999999999"))`` would build a gigantic integer, and no CRM field holds such
#: numbers.
MAX_NUMBER_CHARS = 1000
MAX_EXPONENT = 1000
#: Longest text tried as a date or date-time (a 50 MB "date" is text, not worth parsing).
MAX_DATE_CHARS = 64
_ASCII_DIGITS = re.compile(r"[0-9]{1,18}")


def to_decimal(text: str) -> Decimal | None:
    """A finite Decimal of reasonable size from ``text``, or None (NaN, Infinity, sNaN,
    ``1e999999999``, 5,000 digits, junk)."""
    s = text.strip()
    if not s or len(s) > MAX_NUMBER_CHARS:
        return None
    try:
        d = Decimal(s)
    except (InvalidOperation, ValueError):
        return None
    if not d.is_finite() or abs(d.adjusted()) > MAX_EXPONENT:
        return None
    return d


def to_count(raw: object) -> int | None:
    """A non-negative integer from ``7`` or ``"7"`` (ASCII digits only, at most 18 of them),
    else None: for totals, page counts, lengths and timestamps, where junk must not count."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw if 0 <= raw < 10**18 else None
    if isinstance(raw, float):
        return int(raw) if raw.is_integer() and 0 <= raw < 1e18 else None
    if isinstance(raw, str):
        s = raw.strip()
        if _ASCII_DIGITS.fullmatch(s):
            return int(s)
    return None


def number_text(raw: int | float | Decimal) -> str:
    """``str()`` of a number that never raises (Python refuses ``str()`` of ints over 4,300
    digits)."""
    try:
        return str(raw)
    except ValueError:
        return f"{raw:.6e}" if isinstance(raw, int) else repr(raw)


def unescape(text: str) -> str:
    """HTML entities to plain text (``&#039;`` → ``'``, ``&lt;b&gt;`` → ``<b>``)."""
    if "&" not in text:
        return text
    return html.unescape(text)


def parse_text(raw: object) -> str | None:
    """Plain text for display: unescaped, ``""`` / ``None`` → None; numbers become text."""
    if type(raw) is str:  # the common case first: a list page holds thousands
        if not raw:
            return None
        return html.unescape(raw) if "&" in raw else raw
    if raw is None:
        return None
    if isinstance(raw, bool):
        return "1" if raw else "0"
    if isinstance(raw, int | float | Decimal):
        return number_text(raw)
    if not isinstance(raw, str):
        return None
    if raw == "":
        return None
    return unescape(raw)


def parse_bool(raw: object) -> bool | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int | float):
        return raw != 0
    if isinstance(raw, str):
        low = raw.strip().lower()
        if low in TRUE_WORDS:
            return True
        if low in FALSE_WORDS:
            return False
    return None


def parse_int(raw: object) -> int | str | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        return int(raw)
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        return int(raw) if raw.is_integer() else None
    if isinstance(raw, str):
        s = raw.strip()
        d = to_decimal(s)
        if d is None or d != d.to_integral_value():
            return unescape(s)
        return int(d)
    return None


def parse_decimal(raw: object) -> Decimal | str | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        return Decimal(int(raw))
    if isinstance(raw, int):
        return Decimal(raw)
    if isinstance(raw, float):
        return Decimal(repr(raw)) if math.isfinite(raw) else None
    if isinstance(raw, str):
        s = raw.strip().replace(",", "") if raw.count(",") and "." in raw else raw.strip()
        d = to_decimal(s)
        return d if d is not None else unescape(raw)
    return None


def parse_date(raw: object) -> date | str | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    if not isinstance(raw, str):
        return None
    s = raw.strip()
    if s.startswith("0000-00-00"):
        return None
    if len(s) > MAX_DATE_CHARS:
        return unescape(s)
    try:
        return date.fromisoformat(s[:10])
    except ValueError:
        return unescape(s)


def parse_datetime(raw: object) -> datetime | str | None:
    """A timezone-aware datetime in UTC.  Strings without an offset are read as UTC."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, datetime):
        dt = raw
    elif isinstance(raw, date):
        dt = datetime.combine(raw, time())
    elif isinstance(raw, str):
        s = raw.strip()
        if s.startswith("0000-00-00"):
            return None
        parsed = _parse_dt_string(s) if len(s) <= MAX_DATE_CHARS else None
        if parsed is None:
            return unescape(s)
        dt = parsed
    else:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        return dt.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before datetime.min in UTC
        return unescape(raw) if isinstance(raw, str) else None


def _parse_dt_string(s: str) -> datetime | None:
    iso = s[:-1] + "+00:00" if s.endswith(("Z", "z")) else s
    try:
        return datetime.fromisoformat(iso)
    except ValueError:
        pass
    for fmt in _NAIVE_FORMATS:
        try:
            return datetime.strptime(s, fmt)
        except ValueError:
            continue
    return None


def parse_multienum(raw: object) -> tuple[str, ...] | None:
    """``^a^,^b^`` (the SuiteCRM / Sugar DB encoding) or a JSON list → ``("a", "b")``.

    A value without carets is one item (SuiteCRM stores a plain ``a,b`` as-is).
    """
    if raw is None or raw == "":
        return None
    if isinstance(raw, list | tuple):
        return tuple(t for x in raw if (t := parse_text(x)) is not None)
    if not isinstance(raw, str):
        return None
    s = raw.strip()
    if s.startswith("^") and s.endswith("^"):
        return tuple(unescape(p) for p in s[1:-1].split("^,^") if p != "")
    return (unescape(s),)


def parse_value(ftype: FieldType, raw: object) -> Value:
    """One wire value as the domain type of ``ftype``; lists/dicts (link stubs) → None."""
    if ftype is FieldType.MULTIENUM:
        return parse_multienum(raw)
    if isinstance(raw, dict | list):
        return None
    parser = _PARSERS.get(ftype, parse_text)
    return parser(raw)


_PARSERS: dict[FieldType, Callable[[object], Value]] = {
    FieldType.INT: parse_int,
    FieldType.DECIMAL: parse_decimal,
    FieldType.CURRENCY: parse_decimal,
    FieldType.BOOL: parse_bool,
    FieldType.DATE: parse_date,
    FieldType.DATETIME: parse_datetime,
}


# -- values going out ---------------------------------------------------------------


def to_utc(dt: datetime) -> datetime:
    """Aware → UTC; naive datetimes are taken to be UTC already."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def format_db_datetime(dt: datetime) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in UTC (the DB format SuiteCRM and Sugar accept)."""
    return to_utc(dt).strftime("%Y-%m-%d %H:%M:%S")


def format_decimal(d: Decimal) -> str:
    """No exponent notation (``Decimal('1E+3')`` → ``1000``)."""
    return format(d, "f")


def format_number(v: int | float | Decimal) -> str:
    if isinstance(v, Decimal):
        return format_decimal(v)
    if isinstance(v, float):
        return format_decimal(Decimal(repr(v)))
    return str(v)


# -- labels ---------------------------------------------------------------------------

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def humanize(name: str) -> str:
    """A readable label from a field or module name: ``billing_address_city`` →
    ``Billing address city``, ``jjwg_maps_lat_c`` → ``Jjwg maps lat``, ``assignedUserId`` →
    ``Assigned user id``."""
    base = name[:-2] if name.endswith("_c") and len(name) > 2 else name
    words = _CAMEL.sub(" ", base).replace("_", " ").split()
    if not words:
        return name
    text = " ".join(w.lower() if not w.isupper() or len(w) == 1 else w for w in words)
    return text[:1].upper() + text[1:]


def parse_length(raw: object) -> int | None:
    """A length that may come as ``150``, ``"150"`` or junk like ``"id"``, ``"²"``."""
    n = to_count(raw) if not isinstance(raw, float) else None
    return n if n else None


def seconds_from_now(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)
