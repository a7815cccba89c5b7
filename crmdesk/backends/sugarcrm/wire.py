"""SugarCRM REST v11 wire format: pure parsing and encoding, no I/O.

Everything the server sends is parsed here, defensively, into the neutral
domain (``Record``, ``ModuleDef``, ``UserInfo`` …), and every error body is
mapped to a core error carrying the advice of Sugar's error table.  The
samples in ``shared/peers/sugarcrm/samples`` are the ground truth; the
fidelity tests run every one of them through these functions.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from crmdesk.backends.common import parse_length, to_decimal
from crmdesk.backends.redact import redact
from crmdesk.core.backend import PicklistDependency
from crmdesk.core.errors import (
    AuthError,
    ConfigurationError,
    Conflict,
    CrmError,
    NotFound,
    PermissionDenied,
    ProtocolError,
    ServerError,
    Unavailable,
    Unsupported,
    ValidationError,
)
from crmdesk.core.query import (
    Condition,
    Filter,
    Group,
    Op,
    Query,
    SavedFilter,
    SortKey,
    resolve_condition,
)
from crmdesk.core.records import FieldAccess, Page, Record, RecordRef, UserInfo, Value, Version
from crmdesk.core.schema import (
    Cardinality,
    FieldDef,
    FieldType,
    LinkDef,
    ModuleDef,
    ModuleInfo,
    Option,
    Section,
)

JSON = Any

# --------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------


class MetadataOutOfDate(CrmError):
    """412 metadata_out_of_date: the cached metadata hash no longer matches the server.

    The adapter handles it itself (refetch, rebuild, replay once); it only reaches the
    UI when the replay fails the same way.
    """

    default_advice = (
        "The CRM's configuration changed. Re-fetch the metadata (reconnect) and the views "
        "will be rebuilt with the new X-Metadata-Hash."
    )

    def __init__(
        self,
        message: str,
        *,
        metadata_hash: str = "",
        user_hash: str = "",
        advice: str | None = None,
        status: int | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message, advice=advice, status=status, detail=detail)
        self.metadata_hash = metadata_hash
        self.user_hash = user_hash


ADVICE_VERSION = (
    "Call a supported API version: set the API version in the connection settings "
    "(for example v11 or v11_4) and check which versions this instance supports."
)
ADVICE_AUTH = (
    "Sign in again, or refresh the access token. Verify the client id, client secret, "
    "user name and password in the connection settings."
)
ADVICE_FORBIDDEN = (
    "Grant the needed access on the user's Sugar role, or sign in as a user that has it."
)
ADVICE_NOT_FOUND = (
    "The record may have been deleted, or your user's role may no longer let you see it; "
    "reload the list. If a whole module is missing, check its name on this Sugar instance."
)
ADVICE_NO_METHOD = (
    "The path does not map to a known endpoint on this server: check the module name, "
    "the endpoint path and method, and the API version (some routes need v11_4 or later)."
)
ADVICE_CONFLICT = (
    "The record changed since it was read. Review the current version, re-apply your change "
    "and save again."
)
ADVICE_TOO_LARGE = "Send fewer records, narrow the fields, or split the work into smaller batches."
ADVICE_PARAMETER = "Fix the named parameter and resend; the request cannot succeed unchanged."
ADVICE_FATAL = (
    "Retry in a moment; if it persists, check the instance logs or contact the Sugar administrator."
)
ADVICE_MAINTENANCE = (
    "The instance is in maintenance or temporarily unavailable. Wait and retry once it is "
    "back online."
)
ADVICE_PLATFORM = (
    "Register this platform name in Sugar (Admin → Configure API Platforms) or change the "
    "'platform' option of the connection."
)

_PARAM_PATTERNS = (
    re.compile(r"Missing parameter:?\s*(?P<f>[\w.$]+)"),
    re.compile(r"^(?P<f>[\w.$]+) parameter is missing"),
    re.compile(r"Unknown field:?\s*(?P<f>[\w.]+)"),
    re.compile(r"Non existing field:?\s*(?P<f>[\w.]+)"),
    re.compile(r"Invalid field value:?\s*(?P<f>[\w.]+)"),
    re.compile(r"Not allowed to edit field (?P<f>[\w.]+)"),
    re.compile(r"operand:?\s*(?P<f>\$\w+)"),
    re.compile(r"^(?P<f>\$\w+) requires"),
)


def error_parameter(message: str) -> str | None:
    """The parameter or field a 422 message names, if it names one."""
    for pat in _PARAM_PATTERNS:
        m = pat.search(message)
        if m:
            return m.group("f")
    return None


def error_from_body(
    status: int,
    body: JSON,
    *,
    module: str | None = None,
    mdef: ModuleDef | None = None,
) -> CrmError:
    """The core error for a Sugar error answer ``status`` / ``body``.

    ``body`` is the parsed JSON (``{"error": …, "error_message": …}``) or anything else
    a broken server sent.  Never raises.
    """
    label = ""
    text = ""
    if isinstance(body, Mapping):
        label = str(body.get("error") or "")
        text = str(body.get("error_message") or body.get("error_description") or "")
    text = redact(text.strip())
    detail = f"HTTP {status} {label}".strip()

    def msg(default: str) -> str:
        return text or default

    if status == 301 or label == "incorrect_version":
        return ConfigurationError(
            msg("The server does not support this REST API version."),
            advice=ADVICE_VERSION,
            status=status,
            detail=detail,
        )
    if status == 412 or label == "metadata_out_of_date":
        mh = uh = ""
        if isinstance(body, Mapping):
            mh = str(body.get("metadata_hash") or "")
            uh = str(body.get("user_hash") or "")
        return MetadataOutOfDate(
            msg("The cached metadata is out of date."),
            metadata_hash=mh,
            user_hash=uh,
            status=status,
            detail=detail,
        )
    if status == 409 or label == "edit_conflict":
        current: Record | None = None
        if isinstance(body, Mapping) and isinstance(body.get("record"), Mapping):
            rec = body["record"]
            try:
                current = parse_record(str(rec.get("_module") or module or ""), rec, mdef)
            except ProtocolError:
                current = None
        return Conflict(
            msg("Someone else changed this record."),
            current=current,
            advice=ADVICE_CONFLICT,
            status=status,
            detail=detail,
        )
    if label == "invalid_parameter" and "platform" in text.lower():
        return ConfigurationError(
            msg("Invalid platform specified."), advice=ADVICE_PLATFORM, status=status, detail=detail
        )
    if status in (400, 401) and label in (
        "need_login",
        "invalid_grant",
        "invalid_client",
        "invalid_request",
        "unauthorized_client",
        "unsupported_grant_type",
        "",
    ):
        default = {
            "need_login": "You need to sign in to Sugar.",
            "invalid_grant": "Sugar refused the access or refresh token.",
            "invalid_client": "Sugar refused the client id or client secret.",
        }.get(label, "Sugar refused the sign-in.")
        if status == 401 or label:
            return AuthError(msg(default), advice=ADVICE_AUTH, status=status, detail=detail)
    if status == 403:
        return PermissionDenied(
            msg("You are not allowed to do this."),
            advice=ADVICE_FORBIDDEN,
            status=status,
            detail=detail,
        )
    if status == 404:
        if label == "no_method":
            return NotFound(
                msg("No such API route."), advice=ADVICE_NO_METHOD, status=status, detail=detail
            )
        return NotFound(
            msg("The record or module was not found."),
            advice=ADVICE_NOT_FOUND,
            status=status,
            detail=detail,
        )
    if status == 413:
        return ValidationError(
            msg("The request is too large to process."),
            advice=ADVICE_TOO_LARGE,
            status=status,
            detail=detail,
        )
    if status in (400, 422):
        name = error_parameter(text)
        fields = {name: text} if name else {}
        return ValidationError(
            msg("A parameter of the request was missing or invalid."),
            fields=fields,
            advice=ADVICE_PARAMETER,
            status=status,
            detail=detail,
        )
    if status == 433:
        return ConfigurationError(
            msg("This client is too old for the server."), status=status, detail=detail
        )
    if status in (502, 503, 504):
        return Unavailable(
            msg("Sugar is temporarily unavailable."),
            advice=ADVICE_MAINTENANCE,
            status=status,
            detail=detail,
        )
    if status >= 500 or status == 424:
        return ServerError(
            msg("Sugar failed to complete the request."),
            advice=ADVICE_FATAL,
            status=status,
            detail=detail,
        )
    if status == 401:
        return AuthError(msg("Sugar refused the sign-in."), advice=ADVICE_AUTH, status=status)
    return ProtocolError(
        msg(f"Sugar answered with an unexpected status {status}."), status=status, detail=detail
    )


# --------------------------------------------------------------------------------------
# tokens
# --------------------------------------------------------------------------------------


class Token:
    """An OAuth2 grant's answer.  Its repr never shows the secrets."""

    __slots__ = (
        "access_token",
        "download_token",
        "expires_in",
        "refresh_expires_in",
        "refresh_token",
    )

    def __init__(
        self,
        access_token: str,
        refresh_token: str,
        expires_in: int,
        refresh_expires_in: int | None,
        download_token: str,
    ) -> None:
        self.access_token = access_token
        self.refresh_token = refresh_token
        self.expires_in = expires_in
        self.refresh_expires_in = refresh_expires_in
        self.download_token = download_token

    def __repr__(self) -> str:
        return f"Token(expires_in={self.expires_in})"


def parse_token(body: JSON) -> Token:
    if not isinstance(body, Mapping) or not isinstance(body.get("access_token"), str):
        raise ProtocolError(
            "Sugar's token answer has no access token.",
            advice="Check that the base URL points at a Sugar instance's REST API.",
        )
    expires = _int(body.get("expires_in"))
    return Token(
        access_token=body["access_token"],
        refresh_token=str(body.get("refresh_token") or ""),
        expires_in=expires if expires and expires > 0 else 3600,
        refresh_expires_in=_int(body.get("refresh_expires_in")),
        download_token=str(body.get("download_token") or ""),
    )


# --------------------------------------------------------------------------------------
# values
# --------------------------------------------------------------------------------------

#: Sugar vardef type → core FieldType.
TYPE_MAP: dict[str, FieldType] = {
    "id": FieldType.ID,
    "name": FieldType.TEXT,
    "fullname": FieldType.TEXT,
    "varchar": FieldType.TEXT,
    "char": FieldType.TEXT,
    "username": FieldType.TEXT,
    "text": FieldType.MULTILINE,
    "longtext": FieldType.MULTILINE,
    "html": FieldType.MULTILINE,
    "textarea": FieldType.MULTILINE,
    "int": FieldType.INT,
    "integer": FieldType.INT,
    "long": FieldType.INT,
    "ulong": FieldType.INT,
    "tinyint": FieldType.INT,
    "autoincrement": FieldType.INT,
    "decimal": FieldType.DECIMAL,
    "float": FieldType.DECIMAL,
    "double": FieldType.DECIMAL,
    "currency": FieldType.CURRENCY,
    "bool": FieldType.BOOL,
    "date": FieldType.DATE,
    "datetime": FieldType.DATETIME,
    "datetimecombo": FieldType.DATETIME,
    "enum": FieldType.ENUM,
    "radioenum": FieldType.ENUM,
    "parent_type": FieldType.ENUM,
    "multienum": FieldType.MULTIENUM,
    "relate": FieldType.RELATE,
    "email": FieldType.EMAIL,
    "phone": FieldType.PHONE,
    "url": FieldType.URL,
}

#: Types that never hold a plain value in a form.
_HIDDEN_TYPES = frozenset(
    {"link", "collection", "locked_fields", "team_list", "image", "password", "widget"}
)
#: Keys that are envelope, not field values.
_ENVELOPE = frozenset({"_acl", "_module", "_search", "_erased_fields", "locked_fields"})


def parse_datetime(text: str) -> datetime | None:
    """ISO-8601 with offset; a value without offset is taken as UTC."""
    text = text.strip()
    if not text:
        return None
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def parse_date(text: str) -> date | None:
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def _int(v: JSON) -> int | None:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str):
        d = to_decimal(v)  # None for NaN, Infinity, 1e999999999, 5,000 digits
        return int(d) if d is not None else None
    return None


def _decimal(v: JSON) -> Decimal | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int):
        return Decimal(v)
    if isinstance(v, float):
        return Decimal(repr(v)) if math.isfinite(v) else None
    if isinstance(v, str):
        return to_decimal(v)
    return None


def _bool(v: JSON) -> bool | None:
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float):
        return bool(v)
    if isinstance(v, str):
        s = v.strip().lower()
        if s in ("1", "true", "yes", "on"):
            return True
        if s in ("0", "false", "no", "off"):
            return False
    return None


def _multienum(v: JSON) -> tuple[str, ...] | None:
    if isinstance(v, list):
        return tuple(str(x) for x in v if x is not None and str(x) != "")
    if isinstance(v, str):
        if not v:
            return ()
        # stored form ^a^,^b^
        return tuple(p.strip("^") for p in v.split(",") if p.strip("^"))
    return None


def _names(items: JSON) -> tuple[str, ...]:
    """team_name / tag arrays → their names; email arrays → their addresses."""
    out: list[str] = []
    if isinstance(items, list):
        for it in items:
            if isinstance(it, Mapping):
                name = it.get("name", it.get("email_address"))
                if name is not None and str(name):
                    out.append(str(name))
            elif isinstance(it, str) and it:
                out.append(it)
    return tuple(out)


def parse_value(raw: JSON, fdef: FieldDef | None) -> Value:
    """One field's JSON value as a typed domain value (``None`` for empty)."""
    ftype = fdef.type if fdef else None
    native = fdef.native_type if fdef else ""
    if raw is None:
        return None
    if isinstance(raw, list):
        if ftype is FieldType.MULTIENUM:
            return _multienum(raw)
        return _names(raw)
    if isinstance(raw, Mapping):
        return None
    if ftype is None:
        # No metadata: keep JSON scalars as they are, empty text as None.
        if isinstance(raw, str):
            return raw or None
        if isinstance(raw, bool | int):
            return raw
        if isinstance(raw, float):
            return Decimal(str(raw))
        return None
    if ftype is FieldType.BOOL:
        return _bool(raw)
    if ftype is FieldType.INT:
        return _int(raw)
    if ftype in (FieldType.DECIMAL, FieldType.CURRENCY):
        return _decimal(raw)
    if ftype is FieldType.DATETIME:
        return parse_datetime(str(raw)) if isinstance(raw, str) else None
    if ftype is FieldType.DATE:
        return parse_date(str(raw)) if isinstance(raw, str) else None
    if ftype is FieldType.MULTIENUM:
        return _multienum(raw)
    if native == "bool":
        return _bool(raw)
    if isinstance(raw, bool):
        return raw
    s = str(raw)
    return s or None


def encode_value(value: Value, fdef: FieldDef | None) -> JSON:
    """A domain value as Sugar expects it in a create/update body.

    ``None`` becomes ``""``: Sugar treats a JSON null as "not sent" (PHP isset), so
    clearing a field needs the empty string (``[]`` for multi-enums).
    """
    if value is None:
        if fdef is not None and fdef.type is FieldType.MULTIENUM:
            return []
        return ""
    if isinstance(value, bool):
        return value
    if isinstance(value, datetime):
        v = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return v.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def _filter_scalar(value: Value) -> JSON:
    if isinstance(value, datetime):
        v = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return v.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, tuple):
        return [_filter_scalar(v) for v in value]
    return value


# --------------------------------------------------------------------------------------
# records
# --------------------------------------------------------------------------------------

#: Module-level actions Sugar's ACLs name.
ACL_ACTIONS = frozenset(
    {
        "access",
        "view",
        "list",
        "edit",
        "delete",
        "import",
        "export",
        "massupdate",
        "create",
        "admin",
        "developer",
    }
)
#: What a non-admin user may do when the ACL says nothing (``"yes"`` entries are omitted).
_DEFAULT_ALLOWED = ACL_ACTIONS - {"admin", "developer"}


def parse_acl(acl: JSON, base: frozenset[str] | None = None) -> frozenset[str]:
    """An ``_acl`` chunk applied over ``base`` (the module's access): the allowed actions."""
    allowed = set(_DEFAULT_ALLOWED if base is None else base)
    if isinstance(acl, Mapping):
        for action, verdict in acl.items():
            if action not in ACL_ACTIONS:
                continue
            if str(verdict).lower() == "no":
                allowed.discard(action)
            elif str(verdict).lower() == "yes":
                allowed.add(action)
    return frozenset(allowed)


def acl_read_only_fields(acl: JSON) -> frozenset[str]:
    """Fields an ``_acl`` makes read-only (``"write": "no"``) for this user."""
    out: set[str] = set()
    if isinstance(acl, Mapping) and isinstance(acl.get("fields"), Mapping):
        for name, rights in acl["fields"].items():
            if isinstance(rights, Mapping) and str(rights.get("write", "")).lower() == "no":
                out.add(str(name))
    return frozenset(out)


def _field_acl_names(name: str, mdef: ModuleDef | None) -> Iterable[str]:
    """The form's field names an ``_acl.fields`` key stands for: itself, the id field of a
    relate name (``account_name`` → ``account_id``), the primary address of ``email``."""
    yield name
    if mdef is None:
        return
    for fdef in mdef.fields:
        if fdef.relate_name_field == name and fdef.name != name:
            yield fdef.name
    if name == "email" and mdef.has_field("email1"):
        yield "email1"


_FIELD_ACCESS_CACHE: dict[tuple[frozenset[str], frozenset[str]], FieldAccess] = {}


def parse_field_acl(acl: JSON, mdef: ModuleDef | None = None) -> FieldAccess | None:
    """A record's ``_acl.fields`` → the fields one may not read / change on it, or None.

    ``{"fields": {"amount": {"write": "no", "create": "no"}, "phone_office": {"read": "no"}}}``;
    Sugar sends ``"fields": {}`` (or ``[]``, PHP's empty array) when the record's field
    rules are the module's.  Only ``"no"`` entries count; ``create`` is for new records and
    plays no part on an existing one.  Equal answers share one value (lists repeat them).
    """
    if not isinstance(acl, Mapping):
        return None
    fields = acl.get("fields")
    if not isinstance(fields, Mapping) or not fields:
        return None
    unreadable: set[str] = set()
    read_only: set[str] = set()
    for key, rights in fields.items():
        if not isinstance(key, str) or not key or key.startswith("_"):
            continue
        if not isinstance(rights, Mapping):
            continue
        no_read = str(rights.get("read", "")).strip().lower() == "no"
        no_write = str(rights.get("write", "")).strip().lower() == "no"
        for name in _field_acl_names(key, mdef):
            if no_read:
                unreadable.add(name)
            if no_write:
                read_only.add(name)
    if not unreadable and not read_only:
        return None
    cache_key = (frozenset(unreadable), frozenset(read_only))
    found = _FIELD_ACCESS_CACHE.get(cache_key)
    if found is None:
        if len(_FIELD_ACCESS_CACHE) > 256:
            _FIELD_ACCESS_CACHE.clear()
        found = _FIELD_ACCESS_CACHE[cache_key] = FieldAccess(*cache_key)
    return found


def parse_record(
    module: str,
    body: JSON,
    mdef: ModuleDef | None = None,
    *,
    module_access: frozenset[str] | None = None,
) -> Record:
    """A formatted Sugar bean (``GET /<M>/<id>``, a list row, a 409's ``record``)."""
    if not isinstance(body, Mapping):
        raise ProtocolError(f"Sugar sent a {type(body).__name__} where a record belongs.")
    rid = body.get("id")
    if not isinstance(rid, str | int) or isinstance(rid, bool) or str(rid) == "":
        raise ProtocolError("Sugar sent a record without an id.")
    mod = str(body.get("_module") or module)
    values: dict[str, Value] = {}
    for key, raw in body.items():
        if key in _ENVELOPE or key == "id":
            continue
        fdef = mdef.field(key) if mdef is not None else None
        if mdef is not None and fdef is None:
            # Link objects of relate fields, related collections: not field values.
            if isinstance(raw, Mapping | list):
                continue
        elif isinstance(raw, Mapping):
            continue
        values[key] = parse_value(raw, fdef)
    version = body.get("date_modified")
    acl = body.get("_acl")
    access = parse_acl(acl, module_access) if acl is not None else module_access
    record = Record(
        module=mod,
        id=str(rid),
        values=values,
        version=Version(version) if isinstance(version, str) and version else None,
        access=access,
        field_access=parse_field_acl(acl, mdef),
    )
    return record


def parse_page(
    module: str,
    body: JSON,
    mdef: ModuleDef | None = None,
    *,
    module_access: frozenset[str] | None = None,
) -> Page:
    """``{"next_offset": n, "records": […]}``; ``next_offset`` −1 at the end."""
    if not isinstance(body, Mapping) or not isinstance(body.get("records"), list):
        raise ProtocolError("Sugar's list answer has no records array.")
    records = [parse_record(module, r, mdef, module_access=module_access) for r in body["records"]]
    nxt = _int(body.get("next_offset"))
    return Page(records=records, next=str(nxt) if nxt is not None and nxt >= 0 else None)


def parse_count(body: JSON) -> int:
    if isinstance(body, Mapping):
        n = _int(body.get("record_count"))
        if n is not None:
            return n
    raise ProtocolError("Sugar's count answer has no record_count.")


def parse_leancount(body: JSON) -> tuple[int, bool]:
    """``{"record_count": n, "has_more": bool}`` → (n, has_more)."""
    n = parse_count(body)
    more = _bool(body.get("has_more")) if isinstance(body, Mapping) else None
    return n, bool(more)


def record_label(body: Mapping[str, Any]) -> str:
    for key in ("name", "full_name", "document_name", "case_number"):
        v = body.get(key)
        if isinstance(v, str | int) and not isinstance(v, bool) and str(v).strip():
            return str(v).strip()
    first, last = body.get("first_name"), body.get("last_name")
    joined = " ".join(str(x) for x in (first, last) if isinstance(x, str) and x)
    return joined or str(body.get("id", ""))


def parse_search(body: JSON, default_module: str = "") -> list[RecordRef]:
    if not isinstance(body, Mapping) or not isinstance(body.get("records"), list):
        raise ProtocolError("Sugar's search answer has no records array.")
    out: list[RecordRef] = []
    for r in body["records"]:
        if not isinstance(r, Mapping) or not r.get("id"):
            continue
        out.append(
            RecordRef(str(r.get("_module") or default_module), str(r["id"]), record_label(r))
        )
    return out


def parse_saved_filters(body: JSON, module: str) -> list[SavedFilter]:
    """``Filters`` records (``{next_offset, records}``) → those of ``module``, by name.

    A record without an id is skipped; one without a name shows its id; one of another
    module (a server that ignored the filter) is left out.
    """
    if not isinstance(body, Mapping) or not isinstance(body.get("records"), list):
        raise ProtocolError("Sugar's saved filters answer has no records array.")
    out: list[SavedFilter] = []
    for r in body["records"]:
        if not isinstance(r, Mapping) or not r.get("id"):
            continue
        if r.get("module_name") not in (None, "", module):
            continue
        name = r.get("name")
        out.append(SavedFilter(str(r["id"]), str(name) if name else str(r["id"])))
    return sorted(out, key=lambda f: f.name.casefold())


def parse_link_answer(
    body: JSON, related_module: str, mdef: ModuleDef | None = None
) -> tuple[Record | None, list[Record]]:
    """``{record, related_record}`` or ``{record, related_records}`` → (primary, related)."""
    if not isinstance(body, Mapping):
        raise ProtocolError("Sugar's link answer is not an object.")
    primary = None
    if isinstance(body.get("record"), Mapping):
        primary = parse_record(str(body["record"].get("_module") or ""), body["record"])
    related: list[Record] = []
    if isinstance(body.get("related_record"), Mapping):
        related.append(parse_record(related_module, body["related_record"], mdef))
    many = body.get("related_records")
    for r in many if isinstance(many, list) else ():
        if isinstance(r, Mapping):
            related.append(parse_record(related_module, r, mdef))
    return primary, related


def parse_enum(body: JSON) -> tuple[Option, ...]:
    """``{"key": "label", …}`` (or ``[[key, label], …]``), keeping the server's order."""
    return _options(body)


def _options(src: JSON) -> tuple[Option, ...]:
    out: list[Option] = []
    if isinstance(src, Mapping):
        for k, v in src.items():
            if k == "_hash":
                continue
            out.append(Option(str(k), str(v) if v is not None else ""))
    elif isinstance(src, list):
        for item in src:
            if isinstance(item, list | tuple) and len(item) == 2:
                out.append(Option(str(item[0]), str(item[1])))
    return tuple(out)


#: The status :func:`parse_bulk` gives an item that is not a ``{contents, status}`` object
#: (and the backend gives a request the answer list has no item for).
NOT_AN_ANSWER = 0


def parse_bulk(body: JSON) -> list[tuple[int, JSON]]:
    """``[{contents, headers, status, status_text}, …]`` → [(status, contents)].

    Only an answer that is no list (or keyed object) at all raises: an odd item is one
    sub-request's problem, kept as ``(NOT_AN_ANSWER, item)`` for :func:`bulk_outcome`.
    A missing or null status is 200 (Sugar's doc shows ``"status": null``).
    """
    items: Iterable[Any]
    if isinstance(body, list):
        items = body
    elif isinstance(body, Mapping):
        items = body.values()
    else:
        raise ProtocolError("Sugar's bulk answer is not a list.")
    out: list[tuple[int, JSON]] = []
    for it in items:
        if not isinstance(it, Mapping):
            out.append((NOT_AN_ANSWER, it))
            continue
        status = _int(it.get("status"))
        out.append((status if status is not None and status > 0 else 200, it.get("contents")))
    return out


#: The HTTP status of Sugar's error labels, for an error body under a success status.
_LABEL_STATUS = {
    "not_found": 404,
    "not_authorized": 403,
    "edit_conflict": 409,
    "invalid_parameter": 422,
    "missing_parameter": 422,
    "metadata_out_of_date": 412,
    "need_login": 401,
    "invalid_grant": 401,
    "fatal_error": 500,
    "request_failure": 500,
}


def _kind(contents: JSON) -> str:
    if contents is None:
        return "nothing"
    if isinstance(contents, str):
        return "text"
    if isinstance(contents, list):
        return "a list"
    if isinstance(contents, Mapping):
        return "an object that is no record"
    return "a bare value"


def bulk_outcome(
    status: int, contents: JSON, *, module: str | None = None, mdef: ModuleDef | None = None
) -> CrmError | None:
    """The error one ``/bulk`` sub-answer stands for, or None for a success (a 2xx whose
    contents are no error body).  Never raises: each sub-answer is its record's own."""
    if status == NOT_AN_ANSWER:
        return ProtocolError(
            "Sugar's bulk answer has no proper answer for this record, so whether it was "
            "changed is not known; reload the list to see.",
            detail=f"bulk item: {_kind(contents)}",
        )
    if not 200 <= status < 300:
        return error_from_body(status, contents, module=module, mdef=mdef)
    if isinstance(contents, Mapping) and contents.get("error") and not contents.get("id"):
        label = str(contents.get("error"))
        return error_from_body(_LABEL_STATUS.get(label, 500), contents, module=module, mdef=mdef)
    return None


def bulk_record(
    status: int,
    contents: JSON,
    module: str,
    mdef: ModuleDef | None = None,
    *,
    module_access: frozenset[str] | None = None,
) -> Record | CrmError:
    """One sub-answer of a ``/bulk`` update: the record, or the error (a conflict, a
    refusal, or a success status whose contents are no record).  Never raises."""
    error = bulk_outcome(status, contents, module=module, mdef=mdef)
    if error is not None:
        return error
    try:
        return parse_record(module, contents, mdef, module_access=module_access)
    except ProtocolError as exc:
        return ProtocolError(
            f"Sugar answered this record's update with {_kind(contents)} instead of the "
            "record, so whether it was changed is not known; reload the list to see.",
            status=status,
            detail=exc.message,
        )


def bulk_deleted(status: int, contents: JSON, module: str | None = None) -> CrmError | None:
    """One sub-answer of a ``/bulk`` delete: None when Sugar confirmed it (``{"id": …}``),
    else the error.  Never raises."""
    error = bulk_outcome(status, contents, module=module)
    if error is not None or isinstance(contents, Mapping):
        return error
    return ProtocolError(
        f"Sugar answered this record's delete with {_kind(contents)} instead of a "
        "confirmation, so whether it is gone is not known; reload the list to see.",
        status=status,
    )


# --------------------------------------------------------------------------------------
# metadata
# --------------------------------------------------------------------------------------


def _label(key: JSON, mod_strings: Mapping[str, Any], app_strings: Mapping[str, Any]) -> str:
    if not isinstance(key, str) or not key:
        return ""
    text = mod_strings.get(key) or app_strings.get(key)
    if isinstance(text, str) and text:
        return text.strip().rstrip(":").strip()
    return ""


def _humanize(name: str) -> str:
    base = name[:-2] if name.endswith("_c") else name
    return base.replace("_", " ").strip().capitalize() or name


def _truthy(v: JSON) -> bool:
    b = _bool(v)
    return bool(b)


def _length(v: JSON) -> int | None:
    """``255`` or ``"26,6"`` (precision, scale) → 255 / 26; junk → None."""
    return parse_length(v.split(",")[0] if isinstance(v, str) else v)


def parse_field(
    vardef: Mapping[str, Any],
    *,
    app_list_strings: Mapping[str, Any],
    mod_strings: Mapping[str, Any],
    app_strings: Mapping[str, Any],
    acl_read_only: frozenset[str] = frozenset(),
    id_fields_with_relate: Mapping[str, tuple[str, str]] | None = None,
) -> FieldDef | None:
    """One vardef → FieldDef (None for link fields, which become LinkDefs)."""
    name = vardef.get("name")
    if not isinstance(name, str) or not name:
        return None
    native = str(vardef.get("type") or "varchar")
    if native == "link":
        return None
    custom_type = str(vardef.get("custom_type") or "")
    ftype = TYPE_MAP.get(native, FieldType.UNKNOWN)
    if native == "assigned_user_name":  # the id fields created_by / modified_user_id
        ftype = FieldType.RELATE
    if custom_type == "teamset" or native in ("team_list", "tag"):
        ftype = FieldType.UNKNOWN
    relate_module: str | None = None
    relate_name: str | None = None
    if ftype is FieldType.RELATE:
        relate_module = str(vardef.get("module") or "") or None
        if native == "assigned_user_name":
            relate_module = relate_module or "Users"
    rname = str(vardef.get("rname") or "")
    #: A relate field that only shows the related record's name (account_name …).
    name_only = native == "relate" and rname != "id" and custom_type != "teamset"
    if name_only:
        ftype = FieldType.TEXT
        relate_module = None
    if native == "relate" and rname == "id":
        # account_id-style relate ids: the id itself, the name lives in another field.
        ftype = FieldType.RELATE
    if (
        native in ("id", "relate", "assigned_user_name")
        and id_fields_with_relate
        and name in id_fields_with_relate
    ):
        ftype = FieldType.RELATE
        relate_name, target = id_fields_with_relate[name]
        relate_module = target or relate_module or str(vardef.get("module") or "") or None
    if name == "email1":
        ftype = FieldType.EMAIL
    if native == "email":
        ftype = FieldType.UNKNOWN
    options: tuple[Option, ...] = ()
    opt_name = vardef.get("options")
    if ftype in (FieldType.ENUM, FieldType.MULTIENUM) and isinstance(opt_name, str):
        options = _options(app_list_strings.get(opt_name))
    elif ftype in (FieldType.ENUM, FieldType.MULTIENUM) and isinstance(opt_name, Mapping):
        options = _options(opt_name)
    source = str(vardef.get("source") or "")
    read_only = (
        _truthy(vardef.get("readonly"))
        or (_truthy(vardef.get("calculated")) and _truthy(vardef.get("enforced")))
        or name == "id"
        or native == "fullname"
        or name_only
        or name in ("my_favorite", "following", "deleted")
        or name in ("date_entered", "date_modified", "created_by", "modified_user_id")
        or name in ("created_by_name", "modified_by_name")
        or name in acl_read_only
        or ftype is FieldType.UNKNOWN
    )
    visible = (
        native not in _HIDDEN_TYPES
        and ftype is not FieldType.ID
        and not name_only
        and name not in ("deleted", "email", "my_favorite", "following")
    )
    label = (
        _label(vardef.get("vname"), mod_strings, app_strings)
        or _label(vardef.get("label"), mod_strings, app_strings)
        or _humanize(name)
    )
    filterable = (
        native not in _HIDDEN_TYPES
        and native not in ("fullname",)
        and not (source == "non-db" and native not in ("relate", "email", "name"))
    )
    sortable = filterable and vardef.get("sortable") is not False
    default = vardef.get("default")
    return FieldDef(
        name=name,
        label=label,
        type=ftype,
        required=_truthy(vardef.get("required")) and not read_only,
        read_only=read_only,
        length=_length(vardef.get("len")),
        options=options,
        relate_module=relate_module,
        relate_name_field=relate_name,
        default=default if isinstance(default, str | int | float | bool) else None,
        custom=source == "custom_fields" or name.endswith("_c"),
        filterable=filterable,
        sortable=sortable,
        visible=visible,
        native_type=native,
    )


def parse_module(
    name: str,
    meta: Mapping[str, Any],
    *,
    label: str = "",
    app_list_strings: Mapping[str, Any] | None = None,
    mod_strings: Mapping[str, Any] | None = None,
    app_strings: Mapping[str, Any] | None = None,
    acl: JSON = None,
) -> ModuleDef:
    """``metadata.modules.<M>`` → ModuleDef (dropdowns resolved through app_list_strings)."""
    raw_fields = meta.get("fields")
    if not isinstance(raw_fields, Mapping):
        raise ProtocolError(f"Sugar's metadata for {name} has no field definitions.")
    als = app_list_strings or {}
    ms = mod_strings or {}
    aps = app_strings or {}
    ro = acl_read_only_fields(acl)
    # relate fields that name an id field: account_name → account_id, assigned_user_name → …
    id_to_name: dict[str, tuple[str, str]] = {}
    for fd in raw_fields.values():
        if (
            isinstance(fd, Mapping)
            and fd.get("type") == "relate"
            and str(fd.get("rname") or "") != "id"
            and isinstance(fd.get("id_name"), str)
        ):
            id_to_name.setdefault(fd["id_name"], (str(fd.get("name")), str(fd.get("module") or "")))
    fields: list[FieldDef] = []
    links: list[LinkDef] = []
    for key, fd in raw_fields.items():
        if key == "_hash" or not isinstance(fd, Mapping):
            continue
        if fd.get("type") == "link":
            target = str(fd.get("module") or "")
            if not target:
                continue
            links.append(
                LinkDef(
                    name=str(fd.get("name") or key),
                    label=_label(fd.get("vname"), ms, aps) or _humanize(str(key)),
                    target_module=target,
                    cardinality=Cardinality.ONE
                    if str(fd.get("link_type") or "") == "one"
                    else Cardinality.MANY,
                    relationship=str(fd.get("relationship") or ""),
                )
            )
            continue
        fdef = parse_field(
            fd,
            app_list_strings=als,
            mod_strings=ms,
            app_strings=aps,
            acl_read_only=ro,
            id_fields_with_relate=id_to_name,
        )
        if fdef is not None:
            fields.append(fdef)
    names = {f.name for f in fields}
    name_field = "name" if "name" in names else ("full_name" if "full_name" in names else "id")
    name_to_id = {nm: idf for idf, (nm, _) in id_to_name.items()}
    list_fields = tuple(
        dict.fromkeys(
            name_to_id.get(n, n) for n in list_view_fields(meta) if name_to_id.get(n, n) in names
        )
    )
    aliases = dict(name_to_id)
    if "email1" in names:
        aliases.setdefault("email", "email1")  # the addresses widget: we edit the primary one
    layout = parse_record_layout(
        meta, tuple(f.name for f in fields if f.visible), aliases, mod_strings=ms, app_strings=aps
    )
    return ModuleDef(
        name=name,
        label=label or _label("LBL_MODULE_NAME", ms, aps) or name,
        fields=tuple(fields),
        links=tuple(links),
        list_fields=list_fields,
        layout=layout,
        name_field=name_field,
        custom=False,
        raw=meta,
    )


def list_view_fields(meta: Mapping[str, Any]) -> list[str]:
    """Field names of ``views.list.meta.panels[*].fields`` (the list view's columns)."""
    out: list[str] = []
    views = meta.get("views")
    lst = views.get("list") if isinstance(views, Mapping) else None
    lmeta = lst.get("meta") if isinstance(lst, Mapping) else None
    panels = lmeta.get("panels") if isinstance(lmeta, Mapping) else None
    for panel in panels if isinstance(panels, list) else ():
        fields = panel.get("fields") if isinstance(panel, Mapping) else None
        for f in fields if isinstance(fields, list) else ():
            name = f.get("name") if isinstance(f, Mapping) else f
            if (
                isinstance(name, str)
                and name
                and (not isinstance(f, Mapping) or f.get("default", True) is not False)
            ):
                out.append(name)
    return out


#: Sugar's stock record-view panel labels, as a form section names them.  A module's own
#: strings win (an admin may have renamed a panel); app_strings do not, since there these
#: keys are the toggle's words ("Show More"), not a heading.
PANEL_LABELS: Mapping[str, str] = {
    "LBL_RECORD_HEADER": "Overview",
    "LBL_RECORD_BODY": "Overview",
    "LBL_RECORD_SHOWMORE": "More information",
    "LBL_SHOW_MORE": "More information",
}
#: The same by panel name, for panels that carry no label (the header never does).
_PANEL_NAMES: Mapping[str, str] = {
    "panel_header": "Overview",
    "panel_body": "Overview",
    "panel_hidden": "More information",
}
#: How deep fieldsets may nest inside a panel (real views use one or two levels).
_FIELDSET_DEPTH = 4


def record_view_panels(meta: Mapping[str, Any]) -> list[Any]:
    """``views.record.meta.panels`` as sent (an empty list when any step is missing)."""
    views = meta.get("views")
    rec = views.get("record") if isinstance(views, Mapping) else None
    rmeta = rec.get("meta") if isinstance(rec, Mapping) else None
    panels = rmeta.get("panels") if isinstance(rmeta, Mapping) else None
    return panels if isinstance(panels, list) else []


def _panel_field_names(entries: JSON, depth: int = 0) -> list[str]:
    """Field names of a panel's ``fields``, fieldsets expanded into their members.

    An entry is a name or an object with ``name``; an object with a ``fields`` list is a
    fieldset (an address, "date created by") and stands for its members.  Spans, fillers
    and labels (objects without a name) give nothing.
    """
    out: list[str] = []
    if not isinstance(entries, list) or depth > _FIELDSET_DEPTH:
        return out
    for entry in entries:
        if isinstance(entry, str):
            if entry:
                out.append(entry)
        elif isinstance(entry, Mapping):
            members = entry.get("fields")
            if isinstance(members, list):
                out.extend(_panel_field_names(members, depth + 1))
            elif isinstance(entry.get("name"), str) and entry["name"]:
                out.append(entry["name"])
    return out


def _is_collapsed(panel: Mapping[str, Any]) -> bool:
    """Sugar shows the panel folded: the stock "Show more" panel (``"hide": true``) or one
    Studio saved with ``"panelDefault": "collapsed"`` (next to ``"newTab"``)."""
    return (
        _truthy(panel.get("hide"))
        or str(panel.get("panelDefault") or "").strip().lower() == "collapsed"
    )


def _is_header(panel: Mapping[str, Any]) -> bool:
    return (
        panel.get("header") is True
        or panel.get("name") == "panel_header"
        or panel.get("label") == "LBL_RECORD_HEADER"
    )


def _panel_label(
    panel: Mapping[str, Any], mod_strings: Mapping[str, Any], app_strings: Mapping[str, Any]
) -> str:
    key = panel.get("label")
    if isinstance(key, str) and key.strip():
        key = key.strip()
        text = _label(key, mod_strings, {})
        if text:
            return text
        if key in PANEL_LABELS:
            return PANEL_LABELS[key]
        text = _label(key, {}, app_strings)
        if text:
            return text
        if key.upper().startswith("LBL_"):
            return _humanize(key[4:].lower())
        return key  # Studio may store a panel's label as plain text
    name = panel.get("name")
    if isinstance(name, str) and name:
        return _PANEL_NAMES.get(name) or _humanize(name.removeprefix("panel_"))
    return ""


def parse_record_layout(
    meta: Mapping[str, Any],
    fields: Sequence[str],
    aliases: Mapping[str, str] | None = None,
    *,
    mod_strings: Mapping[str, Any] | None = None,
    app_strings: Mapping[str, Any] | None = None,
) -> tuple[Section, ...]:
    """The record view's panels → form sections, in Sugar's order.

    ``fields`` are the module's real (shown) field names; panel entries naming anything
    else (buttons, the avatar, ``favorite`` / ``follow``) are dropped.  ``aliases`` maps a
    view name that is no shown field to one (``account_name`` → ``account_id``).  A name
    appears once, in its first panel.  The header panel's fields (the name) open the next
    panel instead of making a section of one field (unless that panel starts folded).
    Panels Sugar shows folded (:func:`_is_collapsed`) give collapsed sections.  Malformed
    panels are skipped.
    """
    real = set(fields)
    alias = aliases or {}
    ms = mod_strings or {}
    aps = app_strings or {}
    placed: set[str] = set()
    sections: list[Section] = []
    carried: list[str] = []
    for panel in record_view_panels(meta):
        if not isinstance(panel, Mapping) or not isinstance(panel.get("fields"), list):
            continue
        names: list[str] = []
        for raw in _panel_field_names(panel["fields"]):
            name = raw if raw in real else alias.get(raw, raw)
            if name in real and name not in placed:
                placed.add(name)
                names.append(name)
        if _is_header(panel):
            carried.extend(names)
            continue
        collapsed = _is_collapsed(panel)
        if carried and collapsed:  # the record's name is never folded away
            sections.append(Section(PANEL_LABELS["LBL_RECORD_HEADER"], tuple(carried)))
            carried = []
        names = carried + names
        carried = []
        if names:
            sections.append(Section(_panel_label(panel, ms, aps), tuple(names), collapsed))
    if carried:
        sections.insert(0, Section(PANEL_LABELS["LBL_RECORD_HEADER"], tuple(carried)))
    return tuple(sections)


def _grid_value(v: JSON) -> str | None:
    """A drop-down key in a grid: a string, or a number PHP turned a numeric key into."""
    if isinstance(v, str):
        return v
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    return None


def parse_visibility_grids(
    raw_fields: JSON, fields: Sequence[str] | None = None
) -> list[PicklistDependency]:
    """Dependent drop-downs from the vardefs' ``visibility_grid``.

    ``{"trigger": "<parent>", "values": {"<parent value>": ["<allowed child value>", …]}}``
    on the child field.  A grid whose trigger or values are not of that shape, or whose
    trigger or child is not a field of the module (``fields``, when given), is skipped;
    inside a good grid, a parent value whose list is not a list is skipped.
    """
    known = set(fields) if fields is not None else None
    out: list[PicklistDependency] = []
    if not isinstance(raw_fields, Mapping):
        return out
    for key, vardef in raw_fields.items():
        if key == "_hash" or not isinstance(vardef, Mapping):
            continue
        grid = vardef.get("visibility_grid")
        if not isinstance(grid, Mapping):
            continue
        target = vardef.get("name") if isinstance(vardef.get("name"), str) else key
        trigger, values = grid.get("trigger"), grid.get("values")
        if (
            not isinstance(target, str)
            or not isinstance(trigger, str)
            or not trigger
            or trigger == target
            or not isinstance(values, Mapping)
        ):
            continue
        if known is not None and (trigger not in known or target not in known):
            continue
        mapping: dict[str, tuple[str, ...]] = {}
        for parent, allowed in values.items():
            if not isinstance(parent, str) or not isinstance(allowed, list):
                continue
            mapping[parent] = tuple(
                dict.fromkeys(v for a in allowed if (v := _grid_value(a)) is not None)
            )
        if mapping:
            out.append(PicklistDependency(trigger, target, mapping))
    return out


def parse_module_list(
    meta: JSON, *, access: Mapping[str, frozenset[str]] | None = None
) -> list[ModuleInfo]:
    """``full_module_list`` (+ ``modules_info``) of ``/metadata`` → ModuleInfo entries."""
    if not isinstance(meta, Mapping):
        raise ProtocolError("Sugar's metadata answer is not an object.")
    full = meta.get("full_module_list")
    info = meta.get("modules_info") if isinstance(meta.get("modules_info"), Mapping) else {}
    assert isinstance(info, Mapping)
    out: list[ModuleInfo] = []
    if isinstance(full, Mapping):
        for key, label in full.items():
            if key == "_hash":
                continue
            mi = info.get(key) if isinstance(info.get(key), Mapping) else {}
            assert isinstance(mi, Mapping)
            if mi and mi.get("enabled") is False:
                continue
            out.append(
                ModuleInfo(
                    name=str(key),
                    label=str(label or key),
                    entity=mi.get("visible", True) is not False,
                    access=(access or {}).get(str(key)),
                )
            )
    elif isinstance(meta.get("modules"), Mapping):
        out = [ModuleInfo(name=str(k), label=str(k)) for k in meta["modules"] if k != "_hash"]
    return out


def parse_me(body: JSON) -> UserInfo:
    if not isinstance(body, Mapping) or not isinstance(body.get("current_user"), Mapping):
        raise ProtocolError("Sugar's /me answer has no current_user.")
    cu = body["current_user"]
    prefs = cu.get("preferences") if isinstance(cu.get("preferences"), Mapping) else {}
    assert isinstance(prefs, Mapping)
    tz = prefs.get("timezone") or cu.get("timezone") or ""
    emails = cu.get("email")
    email = ""
    if isinstance(emails, list):
        for it in emails:
            if (
                isinstance(it, Mapping)
                and it.get("email_address")
                and (not email or _bool(it.get("primary_address")))
            ):
                email = str(it["email_address"])
    access = module_access_from_acl(cu.get("acl"))
    extra: dict[str, str] = {}
    for key in ("type", "site_user_id", "reports_to_name", "appearance"):
        v = cu.get(key)
        if isinstance(v, str | int | bool) and str(v):
            extra[key] = str(v)
    for key in ("language", "datepref", "timepref", "currency_iso"):
        v = prefs.get(key)
        if isinstance(v, str) and v:
            extra[key] = v
    if isinstance(cu.get("licenses"), list):
        extra["licenses"] = ", ".join(str(x) for x in cu["licenses"])
    return UserInfo(
        id=str(cu.get("id") or ""),
        user_name=str(cu.get("user_name") or ""),
        display_name=str(cu.get("full_name") or cu.get("user_name") or ""),
        is_admin=str(cu.get("type") or "") == "admin",
        email=email,
        time_zone=str(tz),
        access=access,
        extra=extra,
    )


def module_access_from_acl(acl: JSON) -> dict[str, frozenset[str]]:
    """``current_user.acl`` (``"yes"`` entries omitted) → allowed actions per module."""
    out: dict[str, frozenset[str]] = {}
    if isinstance(acl, Mapping):
        for module, chunk in acl.items():
            if module == "_hash" or not isinstance(chunk, Mapping):
                continue
            out[str(module)] = parse_acl(chunk)
    return out


def user_hash(body: JSON) -> str:
    if isinstance(body, Mapping) and isinstance(body.get("current_user"), Mapping):
        return str(body["current_user"].get("_hash") or "")
    return ""


# --------------------------------------------------------------------------------------
# queries
# --------------------------------------------------------------------------------------

#: ``$dateRange`` keywords; an EQ condition on a date field with one of these as its value
#: becomes ``{"$dateRange": keyword}``.
DATE_RANGES = frozenset(
    {
        "yesterday",
        "today",
        "tomorrow",
        "last_7_days",
        "next_7_days",
        "last_30_days",
        "next_30_days",
        "last_month",
        "this_month",
        "next_month",
        "last_year",
        "this_year",
        "next_year",
    }
)

_OPS: dict[Op, str] = {
    Op.EQ: "$equals",
    Op.NEQ: "$not_equals",
    Op.LT: "$lt",
    Op.LTE: "$lte",
    Op.GT: "$gt",
    Op.GTE: "$gte",
    Op.CONTAINS: "$contains",
    Op.STARTS: "$starts",
    Op.IN: "$in",
    Op.NOT_IN: "$not_in",
    Op.BETWEEN: "$between",
    Op.EMPTY: "$empty",
    Op.NOT_EMPTY: "$not_empty",
}
_DATE_TYPES = frozenset({FieldType.DATE, FieldType.DATETIME})


def encode_condition(cond: Condition, mdef: ModuleDef | None = None) -> dict[str, Any]:
    fdef = mdef.field(cond.field) if mdef is not None else None
    is_date = fdef is not None and fdef.type in _DATE_TYPES
    cond = resolve_condition(cond, fdef, native_periods=DATE_RANGES, favorites=True)
    if cond.op is Op.FAVORITE:
        return {"$favorite": ""}
    if cond.op is Op.PERIOD:
        return {cond.field: {"$dateRange": cond.value}}
    if cond.op not in _OPS:
        raise Unsupported(f"Sugar has no filter operator for {cond.op}.")
    if cond.op in (Op.EMPTY, Op.NOT_EMPTY):
        return {cond.field: {_OPS[cond.op]: ""}}
    if is_date and cond.op is Op.EQ and isinstance(cond.value, str) and cond.value in DATE_RANGES:
        return {cond.field: {"$dateRange": cond.value}}
    if cond.op is Op.BETWEEN:
        op = "$dateBetween" if is_date else "$between"
        return {cond.field: {op: [_filter_scalar(v) for v in cond.values]}}
    if cond.op in (Op.IN, Op.NOT_IN):
        return {cond.field: {_OPS[cond.op]: [_filter_scalar(v) for v in cond.values]}}
    return {cond.field: {_OPS[cond.op]: _filter_scalar(cond.value)}}  # type: ignore[arg-type]


def encode_filter_expr(f: Filter, mdef: ModuleDef | None = None) -> dict[str, Any]:
    if isinstance(f, Condition):
        return encode_condition(f, mdef)
    key = "$and" if f.kind == "and" else "$or"
    return {key: [encode_filter_expr(c, mdef) for c in f.children]}


def encode_filter(f: Filter | None, mdef: ModuleDef | None = None) -> list[dict[str, Any]]:
    """The ``filter`` array (its elements are ANDed)."""
    if f is None:
        return []
    if isinstance(f, Group) and f.kind == "and":
        return [encode_filter_expr(c, mdef) for c in f.children]
    return [encode_filter_expr(f, mdef)]


def encode_order_by(sort: Sequence[SortKey]) -> str:
    return ",".join(f"{k.field}:{'desc' if k.descending else 'asc'}" for k in sort)


def split_saved(f: Filter | None) -> tuple[str | None, Filter | None]:
    """``filter_id`` and the rest: a saved filter (``Op.SAVED``) is sent as Sugar's
    ``filter_id``, which the server ANDs with ``filter``, so it may stand alone or in the
    top AND group, once.  Anywhere else it stays, and encoding it refuses."""
    if isinstance(f, Condition) and f.op is Op.SAVED:
        return str(f.value), None
    if isinstance(f, Group) and f.kind == "and":
        saved = [c for c in f.children if isinstance(c, Condition) and c.op is Op.SAVED]
        if len(saved) == 1:
            rest = tuple(c for c in f.children if c is not saved[0])
            return str(saved[0].value), (
                None if not rest else rest[0] if len(rest) == 1 else Group("and", rest)
            )
    return None, f


def list_body(query: Query, mdef: ModuleDef | None, *, max_num: int, offset: int) -> dict[str, Any]:
    body: dict[str, Any] = {"max_num": max_num, "offset": offset}
    saved, rest = split_saved(query.filter)
    if saved is not None:
        body["filter_id"] = saved
    flt = encode_filter(rest, mdef)
    if flt:
        body["filter"] = flt
    if query.fields:
        body["fields"] = ",".join(dict.fromkeys((*query.fields, "my_favorite")))
    if query.sort:
        body["order_by"] = encode_order_by(query.sort)
    return body


def php_params(prefix: str, value: JSON) -> list[tuple[str, str]]:
    """``value`` flattened into PHP bracket query parameters (``filter[0][name][$starts]=A``)."""
    out: list[tuple[str, str]] = []
    if isinstance(value, Mapping):
        for k, v in value.items():
            out.extend(php_params(f"{prefix}[{k}]", v))
    elif isinstance(value, list | tuple):
        if not value:
            out.append((prefix, ""))
        for i, v in enumerate(value):
            out.extend(php_params(f"{prefix}[{i}]", v))
    elif isinstance(value, bool):
        out.append((prefix, "1" if value else "0"))
    elif value is None:
        out.append((prefix, ""))
    else:
        out.append((prefix, str(value)))
    return out


def parse_php_params(items: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """The inverse of :func:`php_params` (what PHP does to a query string).

    Numeric-keyed maps become lists.  Used by the demo server.
    """
    root: dict[str, Any] = {}
    for key, val in items:
        m = re.match(r"^([^\[]+)((?:\[[^\]]*\])*)$", key)
        if not m:
            root[key] = val
            continue
        parts = [m.group(1), *re.findall(r"\[([^\]]*)\]", m.group(2))]
        node: dict[str, Any] = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":
                part = str(len(node))
            if last:
                node[part] = val
            else:
                nxt = node.get(part)
                if not isinstance(nxt, dict):
                    nxt = {}
                    node[part] = nxt
                node = nxt
    return _listify(root)  # type: ignore[no-any-return]


def _listify(v: Any) -> Any:
    if isinstance(v, dict):
        conv = {k: _listify(x) for k, x in v.items()}
        if conv and all(k.isdigit() for k in conv):
            keys = sorted(conv, key=int)
            if [int(k) for k in keys] == list(range(len(keys))):
                return [conv[k] for k in keys]
        return conv
    return v
