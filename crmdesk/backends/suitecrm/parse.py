"""SuiteCRM API v8 wire shapes → neutral domain values.  Pure functions, no I/O.

Everything here is exercised against the real captures in ``peers/suitecrm``
(tests/fidelity/test_suitecrm_captures.py).  The traps it handles are listed in
that folder's README: all values are strings, text is HTML-entity encoded,
``type`` is the singular bean name, ``attributes`` can be ``[]``, link fields come
as ``""`` or ``{}``, ``len`` is an int or a string, errors are one object.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import Any

from crmdesk.backends.common import (
    humanize,
    parse_bool,
    parse_length,
    parse_text,
    parse_value,
    to_count,
)
from crmdesk.backends.redact import redact
from crmdesk.core.errors import ProtocolError
from crmdesk.core.records import Page, Record, UserInfo, Value, Version
from crmdesk.core.schema import (
    Cardinality,
    FieldDef,
    FieldType,
    LinkDef,
    ModuleDef,
    ModuleInfo,
    Option,
)

#: Fields the server maintains: never sent back (an echoed ISO ``date_entered`` wipes it).
SYSTEM_FIELDS = frozenset(
    {
        "id",
        "date_entered",
        "date_modified",
        "created_by",
        "created_by_name",
        "modified_user_id",
        "modified_by_name",
        "deleted",
    }
)
#: Non-db fields that still filter (they have their own code path on the server).
FILTERABLE_NON_DB = frozenset({"email1"})

_TYPES: dict[str, FieldType] = {
    "id": FieldType.ID,
    "varchar": FieldType.TEXT,
    "name": FieldType.TEXT,
    "fullname": FieldType.TEXT,
    "char": FieldType.TEXT,
    "text": FieldType.MULTILINE,
    "longtext": FieldType.MULTILINE,
    "wysiwyg": FieldType.MULTILINE,
    "enum": FieldType.ENUM,
    "dynamicenum": FieldType.ENUM,
    "radioenum": FieldType.ENUM,
    "parent_type": FieldType.ENUM,
    "multienum": FieldType.MULTIENUM,
    "bool": FieldType.BOOL,
    "int": FieldType.INT,
    "integer": FieldType.INT,
    "autoincrement": FieldType.INT,
    "float": FieldType.DECIMAL,
    "double": FieldType.DECIMAL,
    "decimal": FieldType.DECIMAL,
    "currency": FieldType.CURRENCY,
    "date": FieldType.DATE,
    "datetime": FieldType.DATETIME,
    "datetimecombo": FieldType.DATETIME,
    "email": FieldType.EMAIL,
    "phone": FieldType.PHONE,
    "url": FieldType.URL,
    "image": FieldType.TEXT,
    "relate": FieldType.RELATE,
    "assigned_user_name": FieldType.RELATE,
    "parent": FieldType.RELATE,
}
#: Types the API cannot write (computed on the server).
_READ_ONLY_TYPES = frozenset({"fullname", "function", "readonly", "image"})

#: relate-name field → its id field, where the names do not follow ``x_name`` ↔ ``x_id``.
_NAME_TO_ID = {
    "modified_by_name": "modified_user_id",
    "created_by_name": "created_by",
    "report_to_name": "reports_to_id",
    "reports_to_name": "reports_to_id",
}
#: relate id field → target module, for what the real meta endpoint does not say.
_RELATE_TARGETS = {
    "assigned_user_id": "Users",
    "created_by": "Users",
    "modified_user_id": "Users",
    "account_id": "Accounts",
    "contact_id": "Contacts",
    "campaign_id": "Campaigns",
    "opportunity_id": "Opportunities",
    "lead_id": "Leads",
    "case_id": "Cases",
    "reports_to_id": "@self",
    "parent_id": "",
}
#: link name → target module, where the name is not the module name in lower case.
_LINK_TARGETS = {
    "member_of": "@self",
    "members": "@self",
    "direct_reports": "@self",
    "reports_to_link": "@self",
    "created_by_link": "Users",
    "modified_user_link": "Users",
    "assigned_user_link": "Users",
    "user_sync": "Users",
    "campaigns": "CampaignLog",
    "project": "Project",
    "email_addresses": "EmailAddresses",
    "email_addresses_primary": "EmailAddresses",
    "aos_quotes": "AOS_Quotes",
    "aos_invoices": "AOS_Invoices",
    "aos_contracts": "AOS_Contracts",
}
_TO_ONE_LINKS = frozenset(
    {"created_by_link", "modified_user_link", "assigned_user_link", "reports_to_link"}
)
#: Singular bean names whose module name is not simply ``name + "s"``.
_BEAN_TO_MODULE = {
    "Opportunity": "Opportunities",
    "Case": "Cases",
    "Project": "Project",
    "Employee": "Employees",
    "aCase": "Cases",
    "Person": "People",
}


def module_from_type(type_name: str, known: Iterable[str] = ()) -> str:
    """The module name for a response ``type`` (``Account`` → ``Accounts``)."""
    known_set = set(known)
    if type_name in known_set:
        return type_name
    if type_name in _BEAN_TO_MODULE:
        return _BEAN_TO_MODULE[type_name]
    for candidate in (type_name + "s", type_name[:-1] + "ies" if type_name.endswith("y") else ""):
        if candidate and candidate in known_set:
            return candidate
    if type_name.endswith("y"):
        return type_name[:-1] + "ies"
    return type_name if type_name.endswith("s") else type_name + "s"


# -- meta ------------------------------------------------------------------------------


def data_attributes(body: Any) -> dict[str, Any]:
    """``body.data.attributes`` as a dict (``[]`` and junk → empty)."""
    data = body.get("data") if isinstance(body, Mapping) else None
    attrs = data.get("attributes") if isinstance(data, Mapping) else None
    return dict(attrs) if isinstance(attrs, Mapping) else {}


def parse_modules(body: Any) -> list[ModuleInfo]:
    out: list[ModuleInfo] = []
    for name, info in data_attributes(body).items():
        if not isinstance(info, Mapping):
            continue
        label = parse_text(info.get("label")) or humanize(name)
        access_raw = info.get("access")
        access = (
            frozenset(a for a in access_raw if isinstance(a, str))
            if isinstance(access_raw, list)
            else None
        )
        out.append(ModuleInfo(name=name, label=label, access=access, custom="_" in name))
    out.sort(key=lambda m: m.label.lower())
    return out


def _options(raw: object) -> tuple[Option, ...]:
    """Options as the vardefs extension may give them: a list of {key,label} / pairs, or a map."""
    out: list[Option] = []
    if isinstance(raw, Mapping):
        for k, v in raw.items():
            out.append(Option(str(k), parse_text(v) or str(k)))
    elif isinstance(raw, list):
        for item in raw:
            if isinstance(item, Mapping) and (key := parse_text(item.get("key"))) is not None:
                out.append(Option(key, parse_text(item.get("label")) or key))
            elif isinstance(item, list | tuple) and len(item) == 2:
                key = parse_text(item[0])
                if key is not None:
                    out.append(Option(key, parse_text(item[1]) or key))
            elif isinstance(item, str):
                out.append(Option(item, item))
    return tuple(out)


def _relate_id_for(name_field: str, fields: Mapping[str, Mapping[str, Any]]) -> str | None:
    if name_field in _NAME_TO_ID and _NAME_TO_ID[name_field] in fields:
        return _NAME_TO_ID[name_field]
    if name_field.endswith("_name"):
        candidate = name_field[: -len("_name")] + "_id"
        if candidate in fields:
            return candidate
    return None


def _target(guess: str, module: str) -> str:
    return module if guess == "@self" else guess


def _link_target(link: str, module: str, known: Iterable[str]) -> str:
    if link in _LINK_TARGETS:
        return _target(_LINK_TARGETS[link], module)
    by_lower = {m.lower(): m for m in known}
    if link.lower() in by_lower:
        return by_lower[link.lower()]
    return link[:1].upper() + link[1:] if link.islower() and link.endswith("s") else ""


def parse_fields(
    module: str,
    body: Any,
    *,
    extension: Mapping[str, Any] | None = None,
    known_modules: Iterable[str] = (),
    label: str | None = None,
) -> ModuleDef:
    """``meta/fields/{Module}`` (plus the optional crmdesk vardefs extension) → ModuleDef.

    The real endpoint gives no labels, options or relate targets; ``extension``
    (``GET /Api/V8/crmdesk/vardefs/{Module}`` on the demo server) fills them in.
    """
    raw_fields = {k: v for k, v in data_attributes(body).items() if isinstance(v, Mapping)}
    ext = _extension_fields(extension)
    known = list(known_modules)

    # relate pairs: id field ↔ name field
    name_of_id: dict[str, str] = {}
    for fname, spec in raw_fields.items():
        if str(spec.get("type")) == "relate" and str(spec.get("dbType")) != "id":
            id_field = _relate_id_for(fname, raw_fields)
            if id_field is not None:
                name_of_id[id_field] = fname
    for fname, extra_spec in ext.items():
        pair = extra_spec.get("name_field")
        if fname in raw_fields and isinstance(pair, str) and pair in raw_fields:
            name_of_id[fname] = pair
        id_name = extra_spec.get("id_name")
        if fname in raw_fields and isinstance(id_name, str) and id_name in raw_fields:
            name_of_id[id_name] = fname
    relate_names = set(name_of_id.values())
    ext_links = _extension_links(extension)

    fields: list[FieldDef] = []
    links: list[LinkDef] = []
    for fname, spec in raw_fields.items():
        wire_type = str(spec.get("type") or "")
        db_type = str(spec.get("dbType") or "")
        extra = ext.get(fname, {})
        non_db = spec.get("source") == "non-db"
        flabel = parse_text(extra.get("label")) or humanize(fname)
        if wire_type == "link":
            lext = ext_links.get(fname, extra)
            target = parse_text(lext.get("module")) or _link_target(fname, module, known)
            card = str(lext.get("cardinality") or "")
            links.append(
                LinkDef(
                    name=fname,
                    label=parse_text(lext.get("label")) or flabel,
                    target_module=target,
                    cardinality=Cardinality(card)
                    if card in {"one", "many"}
                    else (Cardinality.ONE if fname in _TO_ONE_LINKS else Cardinality.MANY),
                    relationship=str(spec.get("relationship") or lext.get("relationship") or ""),
                )
            )
            continue
        ftype = _field_type(fname, wire_type, db_type, name_of_id)
        relate_module: str | None = None
        relate_name_field: str | None = None
        if ftype is FieldType.RELATE:
            relate_name_field = name_of_id.get(fname)
            guess = _RELATE_TARGETS.get(fname)
            if guess is None and fname.endswith("_id"):
                guess = _link_target(fname[:-3] + "s", module, known) or None
            relate_module = parse_text(extra.get("module")) or (
                _target(guess, module) if guess else None
            )
            if relate_name_field and "label" not in extra:
                flabel = humanize(relate_name_field[: -len("_name")] or relate_name_field)
        read_only = (
            fname in SYSTEM_FIELDS
            or wire_type in _READ_ONLY_TYPES
            or fname in relate_names
            or (non_db and wire_type == "name")
            or bool(extra.get("read_only"))
        )
        visible = fname not in relate_names and fname != "deleted" and wire_type != "function"
        filterable = not non_db or fname in FILTERABLE_NON_DB
        options = _options(extra.get("options"))
        fields.append(
            FieldDef(
                name=fname,
                label=flabel,
                type=ftype,
                required=parse_bool(spec.get("required")) is True or bool(extra.get("required")),
                read_only=read_only,
                length=parse_length(spec.get("len")),
                options=options,
                relate_module=relate_module,
                relate_name_field=relate_name_field,
                default=_default(spec.get("default")),
                custom=spec.get("source") == "custom_fields" or fname.endswith("_c"),
                filterable=filterable,
                sortable=filterable,
                visible=visible,
                native_type=wire_type
                if wire_type == db_type or not db_type
                else f"{wire_type} ({db_type})",
            )
        )
    names = {f.name for f in fields}
    name_field = "name" if "name" in names else ("last_name" if "last_name" in names else "id")
    ext_name = extension.get("name_field") if extension else None
    if isinstance(ext_name, str) and ext_name in names:
        name_field = ext_name
    ext_list = extension.get("list_fields") if extension else None
    list_fields = (
        tuple(x for x in ext_list if isinstance(x, str)) if isinstance(ext_list, list) else ()
    )
    mlabel = label or (parse_text(extension.get("label")) if extension else None) or module
    raw: dict[str, Any] = {"fields": raw_fields}
    if extension:
        raw["crmdesk_vardefs"] = dict(extension)
    return ModuleDef(
        name=module,
        label=mlabel,
        fields=tuple(fields),
        links=tuple(links),
        list_fields=tuple(n for n in list_fields if n in names),
        name_field=name_field,
        custom="_" in module,
        raw=raw,
    )


def _field_type(fname: str, wire: str, db: str, name_of_id: Mapping[str, str]) -> FieldType:
    if fname in name_of_id:
        return FieldType.RELATE
    if wire == "relate":
        # the name side of a pair, or a relate we cannot pair: text
        return FieldType.RELATE if db == "id" else FieldType.TEXT
    if wire == "int" and db == "double":
        return FieldType.DECIMAL
    return _TYPES.get(wire, _TYPES.get(db, FieldType.UNKNOWN))


def _default(raw: object) -> Any:
    """A vardef default as a plain value: text, a number or a flag; structures → None."""
    if raw is None or raw == "" or isinstance(raw, Mapping | list):
        return None
    return parse_text(raw) if isinstance(raw, str) else raw


def _extension_fields(extension: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    """The per-field part of the vardefs extension, whatever its envelope."""
    if not extension:
        return {}
    fields = extension.get("fields")
    if isinstance(fields, Mapping):
        return {str(k): v for k, v in fields.items() if isinstance(v, Mapping)}
    if isinstance(fields, list):
        return {str(v["name"]): v for v in fields if isinstance(v, Mapping) and "name" in v}
    return {}


def _extension_links(extension: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    links = extension.get("links") if extension else None
    if isinstance(links, Mapping):
        return {str(k): v for k, v in links.items() if isinstance(v, Mapping)}
    return {}


def unwrap_extension(body: Any) -> dict[str, Any]:
    """The vardefs extension body: ``{"data": {"attributes": {...}}}`` or a bare object."""
    attrs = data_attributes(body)
    if attrs:
        return attrs
    return dict(body) if isinstance(body, Mapping) else {}


# -- records ---------------------------------------------------------------------------


#: Field types whose wire values are read by something other than ``parse_text``.
_TYPED = frozenset(
    {
        FieldType.INT,
        FieldType.DECIMAL,
        FieldType.CURRENCY,
        FieldType.BOOL,
        FieldType.DATE,
        FieldType.DATETIME,
        FieldType.MULTIENUM,
    }
)
AttributeParser = Callable[[object], Value]
#: Per module definition (by identity, the definition kept alive with it): its parsers.
_PARSER_TABLES: dict[int, tuple[ModuleDef, dict[str, AttributeParser | None]]] = {}


def attribute_parsers(mdef: ModuleDef) -> dict[str, AttributeParser | None]:
    """How each attribute of ``mdef``'s records is read: a field's parser (what
    ``parse_value`` does for its type), None for a link (dropped); other names are absent.

    Built once per definition: looking each attribute up per record was a good part of
    the time a 100-row page took to become records.
    """
    hit = _PARSER_TABLES.get(id(mdef))
    if hit is not None and hit[0] is mdef:
        return hit[1]
    table: dict[str, AttributeParser | None] = {lk.name: None for lk in mdef.links}
    for fdef in mdef.fields:
        # parse_text reads text fields exactly as parse_value does (structured → None).
        table[fdef.name] = partial(parse_value, fdef.type) if fdef.type in _TYPED else parse_text
    if len(_PARSER_TABLES) >= 64:
        _PARSER_TABLES.clear()
    _PARSER_TABLES[id(mdef)] = (mdef, table)
    return table


def parse_record(item: Any, module: str | None = None, mdef: ModuleDef | None = None) -> Record:
    """One JSON:API resource object → Record with typed values.

    Link fields and unknown structured values are dropped; without ``mdef``
    every value is plain (unescaped) text.
    """
    if type(item) is not dict and not isinstance(item, Mapping):  # dict first: ABCs are slow
        raise ProtocolError(
            f"SuiteCRM sent a {_kind(item)} where a record (a JSON object) belongs."
        )
    raw_id = item.get("id")
    rid = parse_text(raw_id) or "" if isinstance(raw_id, str | int) else ""
    attrs = item.get("attributes")
    values: dict[str, Value] = {}
    if type(attrs) is dict or isinstance(attrs, Mapping):
        if mdef is None:
            for name, raw in attrs.items():
                if not isinstance(raw, Mapping | list):
                    values[name] = parse_text(raw)
        else:
            table = attribute_parsers(mdef)
            for name, raw in attrs.items():
                parser = table.get(name)
                if parser is not None:
                    values[name] = parser(raw)
                elif name not in table and not isinstance(raw, Mapping | list):
                    values[name] = parse_text(raw)  # not in the definition: plain text
    if "id" in values and values["id"] is None:
        values["id"] = rid
    mod = module or (mdef.name if mdef else module_from_type(str(item.get("type") or "")))
    modified = (
        attrs.get("date_modified") if type(attrs) is dict or isinstance(attrs, Mapping) else None
    )
    version = Version(str(modified)) if isinstance(modified, str) and modified else None
    return Record(module=mod, id=rid, values=values, version=version)


def parse_single(body: Any, module: str | None = None, mdef: ModuleDef | None = None) -> Record:
    data = body.get("data") if isinstance(body, Mapping) else None
    if isinstance(data, list):
        if len(data) != 1:
            raise ProtocolError(f"SuiteCRM sent {len(data)} records where one was expected.")
        data = data[0]
    if data is None:
        raise ProtocolError(f"SuiteCRM's answer holds no record ('data' in {_kind(body)}).")
    return parse_record(data, module, mdef)


def parse_page(
    body: Any,
    *,
    module: str | None,
    mdef: ModuleDef | None,
    page_number: int,
    page_size: int,
    counts_records: bool = False,
) -> Page:
    """A list or relationship response → Page.

    ``meta.total-records`` (relationship lists only) gives ``total``;
    ``meta.total-pages`` gives ``next`` and the estimate.  A page past the end (or an
    empty result) has no meta counts at all; ``counts_records`` (relationship lists)
    then means an empty first page is a total of 0.
    """
    if not isinstance(body, Mapping):
        raise ProtocolError(f"SuiteCRM sent a {_kind(body)} where a list of records belongs.")
    data = body.get("data")
    if isinstance(data, Mapping):  # a to-one relationship: one resource object
        data = [data]
    elif data is None and "data" in body:  # an empty to-one relationship
        data = []
    if not isinstance(data, list):
        raise ProtocolError(f"SuiteCRM's list answer has no 'data' array (it holds {_kind(data)}).")
    items = data
    records = [parse_record(it, module, mdef) for it in items if isinstance(it, Mapping)]
    meta = body.get("meta")
    meta = meta if isinstance(meta, Mapping) else {}
    total_pages = _int(meta.get("total-pages"))
    total = _int(meta.get("total-records"))
    nxt: str | None = None
    estimate: int | None = None
    if total_pages is not None:
        if page_number < total_pages:
            nxt = str(page_number + 1)
            estimate = total_pages * page_size
        else:
            estimate = (total_pages - 1) * page_size + len(records)
    elif not records and page_number == 1:
        estimate = 0
        if counts_records:
            total = 0
    if total is not None:
        estimate = total
    return Page(records=records, total=total, next=nxt, total_estimate=estimate)


def _int(raw: object) -> int | None:
    return to_count(raw) if not isinstance(raw, float) else None


def _kind(value: object) -> str:
    """What a JSON value is, for a message: ``an object``, ``a list``, ``null`` …"""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def parse_user(body: Any, access: Mapping[str, frozenset[str]] | None = None) -> UserInfo:
    data = body.get("data") if isinstance(body, Mapping) else None
    if not isinstance(data, Mapping):
        raise ProtocolError("SuiteCRM's current-user answer has no user object ('data').")
    attrs = data.get("attributes")
    attrs = attrs if isinstance(attrs, Mapping) else {}

    def s(key: str) -> str:
        return parse_text(attrs.get(key)) or ""

    shown = {
        "id", "user_name", "full_name", "name", "is_admin", "email1", "user_hash",
    }  # fmt: skip
    extra = {
        k: t
        for k, v in attrs.items()
        if k not in shown and "pass" not in k.lower() and (t := parse_text(v))
    }
    return UserInfo(
        id=parse_text(data.get("id")) or s("id"),
        user_name=s("user_name"),
        display_name=s("full_name") or s("name") or s("user_name"),
        is_admin=parse_bool(attrs.get("is_admin")) is True,
        email=s("email1"),
        time_zone="",
        access=dict(access or {}),
        extra=extra,
    )


# -- tokens ----------------------------------------------------------------------------


def parse_token(body: Any) -> tuple[str, str | None, float]:
    """``(access_token, refresh_token, expires_in)``; ProtocolError for a bad shape."""
    if not isinstance(body, Mapping):
        raise ProtocolError("SuiteCRM's token answer is not a JSON object.")
    access = body.get("access_token")
    if not isinstance(access, str) or not access:
        raise ProtocolError("SuiteCRM's token answer has no access_token.")
    refresh = body.get("refresh_token")
    seconds = to_count(body.get("expires_in"))
    expires_in = float(seconds) if seconds and seconds < 10**8 else 3600.0
    return access, refresh if isinstance(refresh, str) and refresh else None, expires_in


# -- error bodies ----------------------------------------------------------------------


def error_json(text: str) -> tuple[Any, str]:
    """The JSON at the start of an error body and any trailing junk.

    SuiteCRM's database failures send a JSON error object with the raw message
    glued on after it; ``json.loads`` refuses that, ``raw_decode`` does not.
    Returns ``(None, text)`` when the body does not start with JSON.
    """
    stripped = text.lstrip()
    if not stripped.startswith(("{", "[")):
        return None, text
    try:
        return json.loads(stripped), ""
    except (ValueError, RecursionError):
        pass
    try:
        obj, end = json.JSONDecoder().raw_decode(stripped)
    except (ValueError, RecursionError):
        return None, text
    return obj, stripped[end:].strip()


def api_error_detail(body: Any) -> str | None:
    """``errors.detail`` (object form, as SuiteCRM sends) or ``errors[0].detail`` (spec form)."""
    if not isinstance(body, Mapping):
        return None
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        errors = errors[0]
    if isinstance(errors, Mapping):
        detail = errors.get("detail") or errors.get("title")
        if isinstance(detail, str):
            return redact(detail)
    return None


def oauth_error(body: Any) -> tuple[str, str] | None:
    """``(error, hint)`` of an OAuth error body — never its message (it may hold a password)."""
    if not isinstance(body, Mapping) or not isinstance(body.get("error"), str):
        return None
    hint = body.get("hint")
    return str(body["error"]), redact(hint) if isinstance(hint, str) else ""


_FIELD_PATTERNS = (
    re.compile(r"Property (?P<f>\S+) in \S+ module is invalid"),
    re.compile(r"The following field in \S+ module is not found: (?P<f>\S+)"),
    re.compile(r"Filter field (?P<f>\S+) in \S+ module is not found"),
    re.compile(r"Filter field (?P<f>\S+) must be an array"),
)


def fields_in_detail(detail: str) -> dict[str, str]:
    for pat in _FIELD_PATTERNS:
        m = pat.search(detail)
        if m:
            return {m.group("f"): detail}
    return {}
