"""EspoCRM's wire format, both ways: errors, values, records, lists and ``where[]`` filters.

Pure functions (no I/O) so the fidelity tests can feed them every captured exchange.
What the real server does (see ``peers/espocrm/README.md``), in short:

* the error reason travels in the ``X-Status-Reason`` header; the body is usually empty
  although the Content-Type says JSON, sometimes ``{"messageTranslation": …}``, a JSON array
  of duplicates (409), or ``{"values", "versionNumber"}`` (409 ``modified``);
* 401 is an empty ``text/html`` body; a 500 usually has no reason at all;
* datetimes are ``YYYY-MM-DD HH:MM:SS`` in UTC, dates ``YYYY-MM-DD``; an empty enum is ``""``;
* lists are ``{"total", "list"}`` where ``total`` is -1 ("more") or -2 ("last page") when the
  server skipped counting.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from crmdesk.backends.common import to_decimal
from crmdesk.backends.redact import redact
from crmdesk.backends.transport import html_summary
from crmdesk.core.errors import (
    AuthError,
    Conflict,
    CrmError,
    NotFound,
    PermissionDenied,
    ProtocolError,
    RateLimited,
    ServerError,
    Unavailable,
    Unsupported,
    ValidationError,
)
from crmdesk.core.query import Condition, Filter, Group, Op, resolve_condition
from crmdesk.core.records import Record, RecordRef, Value, Version
from crmdesk.core.schema import FieldDef, FieldType, ModuleDef

# ----------------------------------------------------------------------------- errors

_VALIDATION = re.compile(
    r"Field validation failure; entityType: (?P<entity>[^,]*), field: (?P<field>[^,]*), "
    r"type: (?P<type>[^.]*)\.?"
)

#: What each validation type means, in words a user can act on.
VALIDATION_MESSAGES = {
    "required": "This field is required.",
    "valid": "The value is not valid for this field.",
    "maxLength": "The value is too long.",
    "max": "The value is too large.",
    "min": "The value is too small.",
    "emailAddress": "This is not an email address EspoCRM accepts (non-ASCII local parts are "
    "refused).",
    "phoneNumber": "This is not a valid phone number.",
    "validCurrency": "This currency is not enabled in the CRM.",
    "pattern": "The value contains characters that are not allowed.",
    "noEmptyString": "The value must not be empty.",
}

#: Seed 002, "403 Forbidden": no access to a specific record or action; data/logs says more.
ADVICE_403 = (
    "The signed-in user's role gives no access to this record or action. Ask an "
    "administrator to grant it (Administration > Roles); the CRM's data/logs say more."
)

SERVER_500_ADVICE = (
    "EspoCRM gave no reason. It answers 500 to malformed requests too (an unknown link name, "
    "a link field in the column list, invalid JSON); retry, and if it keeps failing an "
    "administrator finds the cause in the CRM's data/logs."
)


def _decode_body(content: bytes) -> Any:
    """The body as JSON if it is JSON, else None.  Never raises."""
    text = content.strip()
    if not text or (text[:1] not in (b"{", b"[", b'"') and text not in (b"true", b"false")):
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None


def _translation(body: Any) -> tuple[str, dict[str, Any]]:
    if isinstance(body, dict):
        mt = body.get("messageTranslation")
        if isinstance(mt, dict):
            label = mt.get("label")
            data = mt.get("data")
            return (str(label) if label else "", data if isinstance(data, dict) else {})
    return "", {}


def validation_message(kind: str) -> str:
    return VALIDATION_MESSAGES.get(kind, f"The value was refused ({kind}).")


def error_for(
    status: int,
    headers: Mapping[str, str],
    content: bytes,
    *,
    what: str = "",
    auth_method: str = "",
    module: ModuleDef | None = None,
) -> CrmError:
    """Map one non-2xx EspoCRM answer to a core error with actionable advice.

    ``what`` names the request for the message (``GET Account``); ``auth_method`` picks the
    advice for a 401; ``module`` turns a 409 duplicate list into a typed record.
    """
    hdrs = {k.lower(): v for k, v in headers.items()}
    reason = redact(hdrs.get("x-status-reason", "") or "").strip()
    ctype = hdrs.get("content-type", "").lower()
    is_html = "html" in ctype or content.lstrip()[:15].lower().startswith((b"<!doctype", b"<html"))
    body = None if is_html else _decode_body(content)
    label, data = _translation(body)
    where = f" ({what})" if what else ""
    detail = reason or None
    if is_html and content.strip():
        detail = html_summary(content[:4096].decode("utf-8", "replace"))

    if status == 400:
        m = _VALIDATION.search(reason)
        field = str(data.get("field") or (m.group("field") if m else "")).strip()
        kind = str(data.get("type") or (m.group("type") if m else "")).strip()
        if label == "validationFailure" or m:
            msg = validation_message(kind)
            return ValidationError(
                f"EspoCRM refused the value of {field or 'a field'}: {msg}",
                fields={field: msg} if field else {},
                status=status,
                detail=detail,
            )
        if reason:
            return ValidationError(
                f"EspoCRM refused the request{where}: {reason}",
                advice="Check the filter, the sort column and the values; EspoCRM names "
                "attributes like accountId, not fields like account.",
                status=status,
                detail=detail,
            )
        return ValidationError(
            f"EspoCRM refused the request as bad{where}, without a reason.",
            advice="Check that every required field has a value, or read the CRM's data/logs.",
            status=status,
            detail=detail,
        )

    if status == 401:
        advice = {
            "api_key": "Check the API key: copy it again from Administration > API Users in "
            "EspoCRM, and check that the API user is active and uses the API-key method.",
            "hmac": "Check the API key and the secret key of the HMAC API user (Administration "
            "> API Users), and that the computer's clock is right.",
            "password": "Check the user name and password, then sign in again.",
        }.get(auth_method, AuthError.default_advice)
        return AuthError(
            f"EspoCRM refused the credentials{where}.",
            advice=advice,
            status=status,
            detail=detail,
        )

    if status == 403:
        low = reason.lower()
        if "max size" in low:
            return ValidationError(
                f"EspoCRM refused the page size{where}: {reason}",
                advice="Use pages of 200 records or fewer.",
                status=status,
                detail=detail,
            )
        if "sub-quer" in low:
            return Unsupported(
                f"EspoCRM's API refuses this filter{where}: {reason}",
                advice="NOT groups and sub-queries are forbidden through the API; rewrite the "
                "filter with 'not equals' / 'not in'.",
                status=status,
                detail=detail,
            )
        if label == "cannotRelateNonExisting" or "non-existing record" in low:
            target = data.get("foreignEntityType")
            return NotFound(
                f"A linked {target or 'record'} does not exist{where}.",
                advice="Pick an existing record for the link, or reload the form.",
                status=status,
                detail=detail,
            )
        return PermissionDenied(
            f"EspoCRM denied access{where}: {reason or 'no reason given'}",
            advice=ADVICE_403,
            status=status,
            detail=detail,
        )

    if status == 404:
        if is_html:
            return NotFound(
                f"The address{where} is not an EspoCRM API route (an HTML 404 page came back).",
                advice="Check the base URL (it must be the EspoCRM site address, without "
                "/api/v1 and without a trailing slash).",
                status=status,
                detail=detail,
            )
        ctrl = re.match(r"Controller '([^']*)' does not exist", reason)
        if ctrl:
            return NotFound(
                f"EspoCRM has no module {ctrl.group(1)!r}.",
                advice="The entity may have been removed or renamed; reload the module list.",
                status=status,
                detail=detail,
            )
        return NotFound(
            f"Not found{where}: {reason}" if reason else f"The record was not found{where}.",
            status=status,
            detail=detail,
        )

    if status == 409:
        if isinstance(body, list):
            dup = next((row for row in body if isinstance(row, dict)), None)
            current = _record_or_none(module, dup)
            name = _text(dup.get("name")) if isinstance(dup, dict) else None
            return Conflict(
                f"A similar record already exists{f': {name}' if name else ''}.",
                current=current,
                advice="Open the existing record instead, or change the name / email address.",
                status=status,
                detail=detail,
            )
        if reason == "modified" or (isinstance(body, dict) and "versionNumber" in body):
            current = None
            if module is not None and isinstance(body, dict):
                values = body.get("values")
                current = (
                    _record_or_none(module, {**values, "id": ""})
                    if isinstance(values, dict)
                    else None
                )
                vn = body.get("versionNumber")
                if current is not None and vn is not None:
                    current.version = Version(f"v:{vn}")
            return Conflict(
                "Someone else changed this record since you opened it.",
                current=current,
                status=status,
                detail=detail,
            )
        return Conflict(
            f"EspoCRM reported a conflict{where}: {reason or 'no reason given'}",
            status=status,
            detail=detail,
        )

    if status == 429:
        retry = hdrs.get("retry-after", "")
        return RateLimited(
            f"EspoCRM asks to slow down{where}.",
            retry_after=float(retry) if retry.replace(".", "", 1).isdigit() else None,
            status=status,
            detail=detail,
        )
    if status in (502, 503, 504):
        return Unavailable(
            f"EspoCRM is not reachable right now ({status}){where}.", status=status, detail=detail
        )
    if status >= 500:
        msg = f"EspoCRM failed{where}" + (f": {reason}" if reason else " (error 500).")
        return ServerError(msg, advice=SERVER_500_ADVICE, status=status, detail=detail)
    return ProtocolError(
        f"EspoCRM answered with an unexpected status {status}{where}.",
        status=status,
        detail=detail,
    )


def _record_or_none(module: ModuleDef | None, raw: Any) -> Record | None:
    """The record an error answer carries, when it carries a usable one."""
    if module is None or raw is None:
        return None
    try:
        return parse_record(module, raw)
    except ProtocolError:
        return None


# ----------------------------------------------------------------------------- values


def parse_datetime(raw: Any) -> datetime | None:
    """``2026-11-23 07:29:18`` (UTC) → aware datetime; also tolerates ISO with T / zone."""
    if not isinstance(raw, str) or not raw.strip():
        return None
    text = raw.strip().replace("T", " ")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
        return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    except (ValueError, OverflowError):  # junk; 0001-01-01 00:00+01:00 is before year 1 in UTC
        return None


def parse_date(raw: Any) -> date | None:
    if not isinstance(raw, str) or len(raw) < 10:
        return None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        return None


def _to_decimal(raw: Any) -> Decimal | None:
    """A finite number of sane size; NaN, Infinity, ``1e999999999`` and junk → None."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return Decimal(raw)
    if isinstance(raw, float):
        return Decimal(repr(raw)) if math.isfinite(raw) else None
    return to_decimal(raw) if isinstance(raw, str) else None


def _to_int(raw: Any) -> int | None:
    if isinstance(raw, bool):
        return int(raw)
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    if isinstance(raw, str):
        d = to_decimal(raw)
        return int(d) if d is not None and d == d.to_integral_value() else None
    return None


def _to_bool(raw: Any) -> bool | None:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int | float):
        return raw != 0
    if isinstance(raw, str):
        low = raw.strip().lower()
        if low in ("1", "true", "yes"):
            return True
        if low in ("0", "false", "no", ""):
            return False
    return None


def _text(raw: Any) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        return raw if raw != "" else None
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int | float | Decimal):
        return str(raw)
    return None


def _tuple(raw: Any) -> tuple[str, ...] | None:
    if isinstance(raw, list | tuple):
        return tuple(t for x in raw if x is not None and (t := _text(x)) is not None)
    if isinstance(raw, str):
        # some versions send multi-enums JSON-encoded
        if raw.startswith("["):
            try:
                items = json.loads(raw)
            except (ValueError, RecursionError):
                return (raw,)
            if not isinstance(items, list):
                return (raw,)
            return tuple(t for x in items if x is not None and (t := _text(x)) is not None)
        return (raw,) if raw else ()
    return None


def parse_value(fdef: FieldDef | None, raw: Any) -> Value:
    """One attribute value, typed by its field; unknown attributes keep simple scalars."""
    if raw is None:
        return None
    ftype = fdef.type if fdef is not None else None
    if ftype is FieldType.DATETIME:
        return parse_datetime(raw)
    if ftype is FieldType.DATE:
        return parse_date(raw)
    if ftype is FieldType.INT:
        return _to_int(raw)
    if ftype is FieldType.CURRENCY:
        return _to_decimal(raw)
    if ftype is FieldType.DECIMAL:
        dec = _to_decimal(raw)
        return float(dec) if dec is not None else None
    if ftype is FieldType.BOOL:
        return _to_bool(raw)
    if ftype is FieldType.MULTIENUM:
        return _tuple(raw)
    if ftype is FieldType.RELATE and fdef is not None and fdef.native_type == "linkMultiple":
        return _tuple(raw)
    if ftype is None:
        if isinstance(raw, bool | int | float | str):
            return raw if raw != "" else None
        if isinstance(raw, list) and all(isinstance(x, str) for x in raw):
            return tuple(raw)
        return None
    return _text(raw)


def parse_record(module: ModuleDef | None, raw: Mapping[str, Any], scope: str = "") -> Record:
    """A record (GET, create, update, list row) into a typed :class:`Record`.

    Missing keys stay missing (the create answer omits null attributes).  linkMultiple
    ``<f>Names`` maps become tuples of names in the order of ``<f>Ids``.
    """
    if not isinstance(raw, Mapping):
        raise ProtocolError("EspoCRM sent a record that is not a JSON object.")
    rid = raw.get("id")
    if "id" not in raw or not isinstance(rid, str | int) or isinstance(rid, bool):
        raise ProtocolError(
            f"EspoCRM sent a {scope or (module.name if module else 'record')} answer without "
            "a record id; it does not look like a record."
        )
    values: dict[str, Value] = {}
    for key, val in raw.items():
        if not isinstance(key, str) or key.startswith("_"):
            continue
        fdef = module.field(key) if module is not None else None
        if fdef is None and key.endswith("Names") and isinstance(val, dict):
            ids = raw.get(key[:-5] + "Ids")
            order = [str(i) for i in ids] if isinstance(ids, list) else list(val)
            values[key] = tuple(str(val.get(i, "")) for i in order)
            continue
        if isinstance(val, dict) and fdef is None:
            continue  # Columns maps, followers etc.: not plain values
        values[key] = parse_value(fdef, val)
    version: Version | None = None
    vn = raw.get("versionNumber")
    if vn is not None and not isinstance(vn, bool):
        version = Version(f"v:{vn}")
    elif isinstance(raw.get("modifiedAt"), str) and raw.get("modifiedAt"):
        version = Version(f"m:{raw['modifiedAt']}")
    name = module.name if module is not None else scope
    return Record(module=name, id=str(rid), values=values, version=version)


def parse_list(body: Any) -> tuple[list[dict[str, Any]], int]:
    """``{"total": N, "list": [...]}`` → (rows, total).  Raises ProtocolError on anything else."""
    if not isinstance(body, dict) or not isinstance(body.get("list"), list):
        raise ProtocolError("EspoCRM sent a list answer without a 'list' array.")
    total = _to_int(body.get("total"))
    rows = [r for r in body["list"] if isinstance(r, dict)]
    return rows, total if total is not None else -1


def parse_search_refs(body: Any) -> list[RecordRef]:
    rows, _ = parse_list(body)
    out: list[RecordRef] = []
    for row in rows:
        scope, rid = row.get("_scope"), row.get("id")
        if not isinstance(scope, str) or rid is None:
            continue
        label = row.get("name")
        out.append(RecordRef(scope, str(rid), str(label) if label else str(rid)))
    return out


def parse_bool_result(body: Any) -> bool:
    """``true`` / ``false`` answers of link, unlink, delete and logout."""
    if isinstance(body, bool):
        return body
    raise ProtocolError("EspoCRM answered with something other than true or false.")


# ----------------------------------------------------------------------------- encoding


def format_datetime(value: datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S")


def encode_value(fdef: FieldDef | None, value: Value, *, empty_enum: bool = False) -> Any:
    """A typed value as EspoCRM expects it in a JSON body.

    ``empty_enum``: the enum's options start with ``""`` (EspoCRM's "none"), so None is sent
    as ``""`` the way EspoCRM's own UI does.
    """
    if value is None:
        if empty_enum and fdef is not None and fdef.type is FieldType.ENUM:
            return ""
        return None
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def _filter_scalar(value: Value) -> str:
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


#: Core operator → EspoCRM where type.
WHERE_TYPES = {
    Op.EQ: "equals",
    Op.NEQ: "notEquals",
    Op.LT: "lessThan",
    Op.LTE: "lessThanOrEquals",
    Op.GT: "greaterThan",
    Op.GTE: "greaterThanOrEquals",
    Op.CONTAINS: "contains",
    Op.STARTS: "startsWith",
    Op.IN: "in",
    Op.NOT_IN: "notIn",
    Op.BETWEEN: "between",
}

_STRINGY = {
    FieldType.TEXT,
    FieldType.MULTILINE,
    FieldType.ENUM,
    FieldType.EMAIL,
    FieldType.PHONE,
    FieldType.URL,
}


def where_item(cond: Condition, module: ModuleDef | None) -> dict[str, Any]:
    """One condition as a where item (a dict that :func:`bracket_params` flattens)."""
    fdef = module.field(cond.field) if module is not None else None
    cond = resolve_condition(cond, fdef)
    attr = cond.field
    if fdef is not None and not fdef.filterable:
        raise Unsupported(f"EspoCRM cannot filter on {fdef.label or fdef.name}.")
    op = cond.op
    if op is Op.EQ and cond.value is None:
        op = Op.EMPTY
    if op is Op.NEQ and cond.value is None:
        op = Op.NOT_EMPTY
    stringy = fdef is None or fdef.type in _STRINGY
    if op is Op.EMPTY:
        if stringy:
            # an empty enum / text is stored as "" (not NULL): match both
            return {
                "type": "or",
                "value": [
                    {"type": "isNull", "attribute": attr},
                    {"type": "equals", "attribute": attr, "value": ""},
                ],
            }
        return {"type": "isNull", "attribute": attr}
    if op is Op.NOT_EMPTY:
        if stringy:
            return {
                "type": "and",
                "value": [
                    {"type": "isNotNull", "attribute": attr},
                    {"type": "notEquals", "attribute": attr, "value": ""},
                ],
            }
        return {"type": "isNotNull", "attribute": attr}
    if fdef is not None and fdef.type is FieldType.BOOL and op in (Op.EQ, Op.NEQ):
        truth = _to_bool(cond.value)
        if op is Op.NEQ:
            truth = not truth
        return {"type": "isTrue" if truth else "isFalse", "attribute": attr}
    if fdef is not None and fdef.native_type == "linkMultiple":
        if op not in (Op.EQ, Op.IN):
            raise Unsupported(f"EspoCRM can only match {fdef.label} against chosen records.")
        link = attr[:-3] if attr.endswith("Ids") else attr
        return {
            "type": "linkedWith",
            "attribute": link,
            "value": [_filter_scalar(v) for v in cond.values],
        }
    if op in (Op.IN, Op.NOT_IN):
        vals = [_filter_scalar(v) for v in cond.values]
        if not vals:
            # nothing is in an empty set; everything is outside it ("id" is never NULL)
            return {"type": "isNull" if op is Op.IN else "isNotNull", "attribute": "id"}
        return {"type": WHERE_TYPES[op], "attribute": attr, "value": vals}
    if op is Op.BETWEEN:
        low, high = cond.values
        return {
            "type": "between",
            "attribute": attr,
            "value": [_filter_scalar(low), _filter_scalar(high)],
        }
    return {"type": WHERE_TYPES[op], "attribute": attr, "value": _filter_scalar(cond.value)}  # type: ignore[arg-type]


def where_items(f: Filter | None, module: ModuleDef | None) -> list[dict[str, Any]]:
    """The top-level where items (ANDed by the server) for a filter tree."""
    if f is None:
        return []
    if isinstance(f, Condition):
        return [where_item(f, module)]
    if f.kind == "and":
        out: list[dict[str, Any]] = []
        for child in f.children:
            out.extend(where_items(child, module))
        return out
    return [_group_item(f, module)]


def _group_item(g: Group, module: ModuleDef | None) -> dict[str, Any]:
    children: list[dict[str, Any]] = []
    for child in g.children:
        if isinstance(child, Condition):
            children.append(where_item(child, module))
        else:
            children.append(_group_item(child, module))
    return {"type": g.kind, "value": children}


def bracket_params(
    items: Sequence[Mapping[str, Any]], prefix: str = "where"
) -> list[tuple[str, str]]:
    """PHP bracket syntax: ``where[0][type]=equals&where[0][value][]=…``.

    Arrays are indexed (``[0]``, ``[1]``); a JSON-encoded array string would be refused.
    """
    out: list[tuple[str, str]] = []

    def walk(key: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(f"{key}[{k}]", v)
        elif isinstance(value, list | tuple):
            for i, v in enumerate(value):
                walk(f"{key}[{i}]", v)
        else:
            out.append((key, _filter_scalar(value) if not isinstance(value, str) else value))

    for i, item in enumerate(items):
        walk(f"{prefix}[{i}]", item)
    return out


def select_attributes(fields: Iterable[str], module: ModuleDef | None) -> list[str]:
    """Field names of our ModuleDef → EspoCRM ``select`` attributes (never a link field name)."""
    out: list[str] = []
    for name in fields:
        fdef = module.field(name) if module is not None else None
        if fdef is not None and fdef.type is FieldType.RELATE and fdef.relate_name_field:
            out.extend([name, fdef.relate_name_field])
        else:
            out.append(name)
    seen: set[str] = set()
    return [a for a in out if not (a in seen or seen.add(a))]  # type: ignore[func-returns-value]


def order_attribute(field: str, module: ModuleDef | None) -> str:
    """A sort column → ``orderBy``: relate ``accountId`` sorts by the link field ``account``."""
    fdef = module.field(field) if module is not None else None
    if fdef is not None and not fdef.sortable:
        raise Unsupported(f"EspoCRM cannot sort by {fdef.label or fdef.name}.")
    if fdef is not None and fdef.type is FieldType.RELATE and field.endswith("Id"):
        return field[:-2]
    return field


# ----------------------------------------------------------------------------- lead conversion

#: Module names a caller may use for a conversion target → EspoCRM's entity.
CONVERT_ALIASES = {
    "Accounts": "Account",
    "Contacts": "Contact",
    "Opportunities": "Opportunity",
    "Potentials": "Opportunity",
}


def parse_convert_duplicates(content: bytes) -> list[tuple[str, str, str]]:
    """A conversion's 409 ``duplicate`` body, ``[{"id", "name", "_entityType"}, …]`` →
    (entity, id, name) per existing record; [] when the body is not that list."""
    body = _decode_body(content)
    if not isinstance(body, list):
        return []
    out: list[tuple[str, str, str]] = []
    for row in body:
        if not isinstance(row, dict) or row.get("id") in (None, ""):
            continue
        entity = _text(row.get("_entityType")) or "record"
        name = _text(row.get("name")) or str(row["id"])
        out.append((entity, str(row["id"]), name))
    return out


def convert_error(
    status: int,
    headers: Mapping[str, str],
    content: bytes,
    *,
    requested: Sequence[str] = (),
    auth_method: str = "",
) -> CrmError:
    """A non-2xx answer to ``POST Lead/action/convert``, with what it means for a conversion.

    * 409 ``duplicate``: records like the ones to create exist; the body lists them.  The
      server created nothing after the first duplicate it found, but 8.x keeps an account it
      created before finding a duplicate contact.
    * 500 without a reason: EspoCRM 8 turns a value its create refuses (a required field
      left empty, an email address or phone number it rejects) into an internal error.
    * anything else: as for any request.
    """
    hdrs = {k.lower(): v for k, v in headers.items()}
    reason = redact(hdrs.get("x-status-reason", "") or "").strip()
    if status == 409:
        dups = parse_convert_duplicates(content)
        if dups or reason == "duplicate":
            listed = ", ".join(f"{entity} “{name}”" for entity, _id, name in dups[:6])
            more = f" and {len(dups) - 6} more" if len(dups) > 6 else ""
            advice = (
                "The lead was not converted. Untick what already exists, or change the names "
                "/ email address, then convert again."
            )
            if "Account" in requested and dups and all(e != "Account" for e, _i, _n in dups):
                advice += (
                    " EspoCRM 8 creates the new account before it looks for duplicate "
                    "contacts: that account now exists and is listed on the next try."
                )
            return Conflict(
                "EspoCRM found existing records like the ones to create"
                + (f": {listed}{more}." if listed else "."),
                advice=advice,
                status=status,
                detail=reason or None,
            )
    if status == 500 and not reason:
        return ServerError(
            "EspoCRM failed while creating the records of the conversion, without a reason.",
            advice="EspoCRM 8 answers this way when it refuses a value of a record to create "
            "(an email address or phone number it does not accept, a value too long). The "
            "lead was not converted, but a record created before the failure (the account) "
            "stays in the CRM: search for it before converting again.",
            status=status,
        )
    return error_for(
        status, headers, content, what="POST Lead/action/convert", auth_method=auth_method
    )
