"""Pure helpers of the record form: typed parsing, comparison, field order, conflicts.

No widgets here, so each rule is tested on its own.  Editors turn text into the
typed values the adapters expect (``str``, ``int``, ``Decimal``, ``bool``,
``date``, tz-aware ``datetime``, ``tuple[str, ...]`` for multi-enums, ``None``
to clear); the adapter formats them for its wire.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from decimal import Decimal, InvalidOperation

from crmdesk.core.records import Record, Value
from crmdesk.core.schema import FieldDef, FieldType, ModuleDef, Section

DATE_INPUT = "%Y-%m-%d"
DATETIME_INPUT = "%Y-%m-%d %H:%M"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_PHONE = re.compile(r"^[0-9+()./\- ]*(?:(?:ext|x)\.? ?[0-9]+)?$", re.IGNORECASE)
_INT = re.compile(r"^[+-]?\d+$")
_DECIMAL = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
#: Names that mark bookkeeping fields, shown last in a default layout.
_SYSTEM_NAMES = frozenset(
    {
        "date_entered",
        "date_modified",
        "created_by",
        "modified_user_id",
        "createdat",
        "modifiedat",
        "createdbyid",
        "modifiedbyid",
        "createdtime",
        "modifiedtime",
        "modifiedby",
        "deleted",
        "versionnumber",
    }
)


class ParseError(ValueError):
    """The text cannot become a value of the field's type; the message is for the user."""


def is_empty(value: Value) -> bool:
    return value is None or value == "" or value == ()


def same_value(a: Value, b: Value) -> bool:
    """Equal for the purpose of "did it change": empty is empty, 1 == 1.00, same instant."""
    if is_empty(a) or is_empty(b):
        return is_empty(a) and is_empty(b)
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    numeric = (int, float, Decimal)
    if isinstance(a, numeric) and isinstance(b, numeric):
        return Decimal(str(a)) == Decimal(str(b))
    if isinstance(a, datetime) and isinstance(b, datetime):
        if (a.tzinfo is None) != (b.tzinfo is None):
            return False
        return a == b
    if isinstance(a, tuple) and isinstance(b, tuple):
        return sorted(a) == sorted(b)
    return type(a) is type(b) and a == b


def _clean_number(text: str) -> str:
    return text.strip().replace(",", "").replace("_", "").replace(" ", "")


def parse_text(fdef: FieldDef, text: str) -> Value:
    """Parse what the user typed for ``fdef``; raises ParseError with a readable reason."""
    kind = fdef.type
    stripped = text.strip()
    if kind is FieldType.MULTILINE:
        value: Value = text if stripped else None
    elif not stripped:
        return None
    elif kind is FieldType.INT:
        cleaned = _clean_number(stripped)
        if not _INT.match(cleaned):
            raise ParseError("Enter a whole number, like 42.")
        value = int(cleaned)
    elif kind in (FieldType.DECIMAL, FieldType.CURRENCY):
        cleaned = _clean_number(stripped)
        if fdef.currency and cleaned.upper().startswith(fdef.currency.upper()):
            cleaned = cleaned[len(fdef.currency) :]
        if not _DECIMAL.match(cleaned):
            raise ParseError("Enter a number, like 1234.50.")
        try:
            value = Decimal(cleaned)
        except InvalidOperation:  # pragma: no cover - the pattern rules it out
            raise ParseError("Enter a number, like 1234.50.") from None
    elif kind is FieldType.DATE:
        try:
            value = datetime.strptime(stripped, DATE_INPUT).date()
        except ValueError:
            raise ParseError("Enter a date as YYYY-MM-DD, like 2024-03-31.") from None
    elif kind is FieldType.EMAIL:
        if not _EMAIL.match(stripped):
            raise ParseError("Enter an e-mail address, like name@example.com.")
        value = stripped
    elif kind is FieldType.PHONE:
        if not _PHONE.match(stripped) or not any(c.isdigit() for c in stripped):
            raise ParseError("Enter a phone number: digits, spaces, + - ( ) . only.")
        value = stripped
    elif kind is FieldType.URL:
        if any(c.isspace() for c in stripped):
            raise ParseError("A web address cannot contain spaces.")
        value = stripped
    else:
        value = text.strip()
    if fdef.length is not None and isinstance(value, str) and len(value) > fdef.length:
        raise ParseError(f"At most {fdef.length} characters ({len(value)} now).")
    return value


def parse_datetime(text: str, tz: tzinfo) -> datetime | None:
    """``YYYY-MM-DD HH:MM`` in the user's zone → an aware datetime; empty → None."""
    stripped = text.strip()
    if not stripped:
        return None
    for fmt in (DATETIME_INPUT, DATE_INPUT):
        try:
            naive = datetime.strptime(stripped, fmt)
        except ValueError:
            continue
        return naive.replace(tzinfo=tz)
    raise ParseError("Enter a date and time as YYYY-MM-DD HH:MM, like 2024-03-31 14:30.")


def render_text(fdef: FieldDef, value: Value, tz: tzinfo | None = None) -> str:
    """The text an editor starts with for ``value`` (the inverse of the parsers)."""
    if is_empty(value):
        return ""
    if isinstance(value, datetime):
        shown = value.astimezone(tz) if value.tzinfo is not None and tz is not None else value
        return shown.strftime(DATETIME_INPUT)
    if isinstance(value, date):
        return value.strftime(DATE_INPUT)
    if isinstance(value, Decimal):
        if fdef.type is FieldType.CURRENCY:
            return f"{value:.2f}" if value == value.quantize(Decimal("0.01")) else f"{value:f}"
        return f"{value.normalize():f}"
    if isinstance(value, tuple):
        return ", ".join(value)
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return str(value)


def missing_required(fdef: FieldDef, value: Value) -> str | None:
    if fdef.required and not fdef.read_only and is_empty(value):
        return f"{fdef.label} is required."
    return None


# -- layout ------------------------------------------------------------------------------
def is_system(fdef: FieldDef) -> bool:
    return fdef.type is FieldType.ID or fdef.name.lower() in _SYSTEM_NAMES


def editable_fields(mdef: ModuleDef) -> list[FieldDef]:
    return [f for f in mdef.fields if f.visible]


def form_sections(mdef: ModuleDef) -> list[Section]:
    """The CRM's layout when it gives one (other fields in a last "More" section);
    else name first, required next, then the rest, system fields last."""
    shown = [f for f in editable_fields(mdef) if f.type is not FieldType.ID]
    names = {f.name for f in shown}
    sections: list[Section] = []
    placed: set[str] = set()
    for section in mdef.layout:
        fields = tuple(n for n in dict.fromkeys(section.fields) if n in names and n not in placed)
        if fields:
            sections.append(Section(section.label, fields, section.collapsed))
            placed.update(fields)
    rest = [f for f in shown if f.name not in placed]
    first = [f for f in rest if f.name == mdef.name_field and not f.read_only]
    required = [f for f in rest if f.required and f not in first and not is_system(f)]
    system = [f for f in rest if is_system(f) or (f.read_only and f not in first)]
    others = [f for f in rest if f not in first and f not in required and f not in system]
    main = first + required + others
    if sections:
        if main:
            sections.append(Section("More", tuple(f.name for f in main)))
    elif main:
        sections.append(Section("", tuple(f.name for f in main)))
    if system:
        sections.append(Section("System", tuple(f.name for f in system)))
    return sections


def default_values(mdef: ModuleDef) -> dict[str, Value]:
    """The CRM's defaults for a new record, typed where the field type says how."""
    out: dict[str, Value] = {}
    for fdef in editable_fields(mdef):
        if fdef.default is None or fdef.read_only or fdef.type is FieldType.ID:
            continue
        raw = fdef.default
        value: Value
        if fdef.type is FieldType.BOOL:
            value = raw if isinstance(raw, bool) else str(raw).lower() in ("1", "true", "yes", "on")
        elif fdef.type is FieldType.MULTIENUM:
            value = tuple(raw) if isinstance(raw, list | tuple) else (str(raw),)
        elif isinstance(raw, str | int | Decimal | date):
            try:
                value = parse_text(fdef, raw) if isinstance(raw, str) else raw
            except ParseError:
                continue
        else:
            continue
        if not is_empty(value):
            out[fdef.name] = value
    return out


# -- conflicts ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FieldConflict:
    """One field both sides changed: what it was, what I typed, what the server has now."""

    field: FieldDef
    original: Value
    mine: Value
    theirs: Value


def conflicts(
    mdef: ModuleDef, original: Record, changes: Mapping[str, Value], current: Record
) -> list[FieldConflict]:
    """Fields I changed that the server also changed, to something else than mine."""
    out: list[FieldConflict] = []
    for name, mine in changes.items():
        fdef = mdef.field(name)
        if fdef is None:
            continue
        before, now = original.get(name), current.get(name)
        if not same_value(before, now) and not same_value(now, mine):
            out.append(FieldConflict(fdef, before, mine, now))
    return out


def merge(
    changes: Mapping[str, Value], clashes: Iterable[FieldConflict], take_theirs: Iterable[str]
) -> dict[str, Value]:
    """My changes after choosing: fields where I take theirs are dropped (the server has them)."""
    dropped = set(take_theirs) & {c.field.name for c in clashes}
    return {k: v for k, v in changes.items() if k not in dropped}
