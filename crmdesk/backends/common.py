"""Value parsing every dialect can share: wire strings into typed domain values and back.

Real CRMs send strings for everything (SuiteCRM, Vtiger), HTML entities in text,
``""`` for empty, and dates in a handful of formats.  These helpers turn such
values into :data:`crmdesk.core.records.Value` defensively: a value that does not
parse is kept as its (unescaped) text rather than lost or raised, so a record
with one odd field still shows.  Nothing here knows a dialect.
"""

from __future__ import annotations

import html
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


def unescape(text: str) -> str:
    """HTML entities to plain text (``&#039;`` → ``'``, ``&lt;b&gt;`` → ``<b>``)."""
    if "&" not in text:
        return text
    return html.unescape(text)


def parse_text(raw: object) -> str | None:
    """Plain text for display: unescaped, ``""`` / ``None`` → None; numbers become text."""
    if raw is None:
        return None
    if isinstance(raw, bool):
        return "1" if raw else "0"
    if isinstance(raw, int | float | Decimal):
        return str(raw)
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
        try:
            return int(s)
        except ValueError:
            pass
        try:
            d = Decimal(s)
        except InvalidOperation:
            return unescape(s)
        return int(d) if d == d.to_integral_value() else unescape(s)
    return None


def parse_decimal(raw: object) -> Decimal | str | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        return Decimal(int(raw))
    if isinstance(raw, int):
        return Decimal(raw)
    if isinstance(raw, float):
        return Decimal(repr(raw))
    if isinstance(raw, str):
        s = raw.strip().replace(",", "") if raw.count(",") and "." in raw else raw.strip()
        try:
            d = Decimal(s)
        except InvalidOperation:
            return unescape(raw)
        return d if d.is_finite() else unescape(raw)
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
        parsed = _parse_dt_string(s)
        if parsed is None:
            return unescape(s)
        dt = parsed
    else:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


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
    """A length that may come as ``150``, ``"150"`` or junk like ``"id"``."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw if raw > 0 else None
    if isinstance(raw, str) and raw.strip().isdigit():
        n = int(raw.strip())
        return n if n > 0 else None
    return None


def seconds_from_now(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)
