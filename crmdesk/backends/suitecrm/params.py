"""The neutral query and values → SuiteCRM API v8 query parameters and attributes.

What v8 can express: ``filter[<field>][<op>]=<value>`` with eq/neq/gt/gte/lt/lte/like,
one ``filter[operator]=and|or`` over all of them, one sort field.  So: CONTAINS and
STARTS become ``like`` with explicit ``%``; BETWEEN becomes gte + lte (only under
AND); EMPTY is ``eq ""`` (rows holding NULL are not matched).  NOT_EMPTY is not
offered: ``neq ""`` treats NULL differently from one database to the next.
IN / NOT_IN, nested groups of mixed kinds, two conditions on the same field and
operator, and more than one sort key raise :class:`Unsupported` before any request.
``%`` and ``_`` inside a CONTAINS / STARTS value keep their SQL LIKE meaning.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal

from crmdesk.backends.common import format_db_datetime, format_number
from crmdesk.core.errors import Unsupported, ValidationError
from crmdesk.core.query import Condition, Filter, Group, Op, Query, resolve_filter
from crmdesk.core.records import Value
from crmdesk.core.schema import FieldDef, FieldType, ModuleDef

SUPPORTED_OPS = frozenset(
    {
        Op.EQ,
        Op.NEQ,
        Op.LT,
        Op.LTE,
        Op.GT,
        Op.GTE,
        Op.CONTAINS,
        Op.STARTS,
        Op.BETWEEN,
        Op.EMPTY,
        Op.PERIOD,  # sent as its BETWEEN
    }
)
_DIRECT = {Op.EQ: "eq", Op.NEQ: "neq", Op.LT: "lt", Op.LTE: "lte", Op.GT: "gt", Op.GTE: "gte"}

Params = list[tuple[str, str]]


def encode_multienum(values: tuple[str, ...] | list[str]) -> str:
    """``("a", "b")`` → ``^a^,^b^``, the only multienum form SuiteCRM stores correctly."""
    return ",".join(f"^{v}^" for v in values)


def format_value(value: Value, fdef: FieldDef | None = None) -> str:
    """A domain value as SuiteCRM wants it written (and filtered): all strings."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, datetime):
        return format_db_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | float | Decimal):
        return format_number(value)
    if isinstance(value, tuple):
        return encode_multienum(tuple(str(v) for v in value))
    if fdef is not None and fdef.type is FieldType.BOOL:
        low = value.strip().lower()
        if low in {"true", "yes", "on"}:
            return "1"
        if low in {"false", "no", "off"}:
            return "0"
    return value


def _flatten(f: Filter) -> tuple[str, list[Condition]]:
    """(kind, leaves) for a filter SuiteCRM can send, else Unsupported."""
    if isinstance(f, Condition):
        return "and", [f]
    leaves: list[Condition] = []
    for child in f.children:
        if isinstance(child, Condition):
            leaves.append(child)
        elif child.kind == f.kind or len(child.children) <= 1:
            _, sub = _flatten(child)
            leaves.extend(sub)
        else:
            raise Unsupported(
                "SuiteCRM filters cannot nest an OR group inside an AND group (or the other "
                "way round).",
                advice="Use only AND or only OR between the conditions.",
            )
    return f.kind, leaves


def filter_params(
    flt: Filter | None, mdef: ModuleDef | None = None, *, prefix: str = "filter"
) -> Params:
    flt = resolve_filter(flt, mdef)  # periods → BETWEEN; no favorites
    if flt is None:
        return []
    kind, leaves = _flatten(flt)
    if isinstance(flt, Group) and not leaves:
        return []
    out: Params = []
    seen: set[tuple[str, str]] = set()

    def add(field: str, op: str, value: str) -> None:
        if (field, op) in seen:
            raise Unsupported(
                f"SuiteCRM cannot hold two '{op}' conditions on {field} in one filter.",
                advice="Combine them into one condition.",
            )
        seen.add((field, op))
        out.append((f"{prefix}[{field}][{op}]", value))

    for cond in leaves:
        fdef = mdef.field(cond.field) if mdef is not None else None
        if mdef is not None:
            if fdef is None:
                raise ValidationError(
                    f"{mdef.name} has no field {cond.field}.", fields={cond.field: "unknown field"}
                )
            if not fdef.filterable:
                raise Unsupported(
                    f"SuiteCRM cannot filter on {fdef.label} ({fdef.name}): it is not stored in "
                    "the database.",
                    advice="Filter on another field.",
                )
        if cond.op not in SUPPORTED_OPS:
            raise Unsupported(f"SuiteCRM's API has no '{cond.op}' filter operator.")
        if cond.op in _DIRECT:
            add(cond.field, _DIRECT[cond.op], format_value(_one(cond), fdef))
        elif cond.op is Op.CONTAINS:
            add(cond.field, "like", f"%{format_value(_one(cond), fdef)}%")
        elif cond.op is Op.STARTS:
            add(cond.field, "like", f"{format_value(_one(cond), fdef)}%")
        elif cond.op is Op.EMPTY:
            add(cond.field, "eq", "")
        elif cond.op is Op.BETWEEN:
            if kind != "and" and len(leaves) > 1:
                raise Unsupported(
                    "SuiteCRM cannot combine BETWEEN with OR.",
                    advice="Use AND, or two separate searches.",
                )
            low, high = cond.values
            add(cond.field, "gte", format_value(low, fdef))
            add(cond.field, "lte", format_value(high, fdef))
    if len(leaves) > 1 or any(c.op is Op.BETWEEN for c in leaves):
        out.insert(0, (f"{prefix}[operator]", kind))
    return out


def _one(cond: Condition) -> Value:
    value = cond.value
    if isinstance(value, tuple) and cond.op is not Op.EQ:
        raise ValidationError(f"The {cond.op} condition on {cond.field} takes one value.")
    return value  # type: ignore[return-value]


def sort_param(query: Query, mdef: ModuleDef | None = None) -> Params:
    if not query.sort:
        return []
    if len(query.sort) > 1:
        raise Unsupported("SuiteCRM sorts by one field only.", advice="Sort by a single column.")
    key = query.sort[0]
    if mdef is not None:
        fdef = mdef.field(key.field)
        if fdef is None:
            raise ValidationError(f"{mdef.name} has no field {key.field}.")
        if not fdef.sortable:
            raise Unsupported(
                f"SuiteCRM cannot sort by {fdef.label}: it is not stored in the database."
            )
    return [("sort", f"-{key.field}" if key.descending else key.field)]


def fields_param(module: str, query: Query, mdef: ModuleDef) -> Params:
    """``fields[Module]=a,b`` (comma, no spaces): the asked fields plus id, name, version and
    the display names of relate ids."""
    wanted = list(query.fields) if query.fields is not None else [f.name for f in mdef.columns()]
    names: list[str] = []
    for n in ["id", mdef.name_field, *wanted, "date_modified"]:
        fdef = mdef.field(n)
        if fdef is None or n in names:
            continue
        names.append(n)
        if fdef.relate_name_field and fdef.relate_name_field not in names:
            names.append(fdef.relate_name_field)
    return [(f"fields[{module}]", ",".join(names))]


def attributes(
    values: Mapping[str, Value], mdef: ModuleDef | None, *, creating: bool
) -> dict[str, str]:
    """Values to send: strings only, None → ``""`` (clears; SuiteCRM ignores JSON null),
    read-only and system fields left out."""
    out: dict[str, str] = {}
    for name, value in values.items():
        fdef = mdef.field(name) if mdef is not None else None
        if mdef is not None and (fdef is None or fdef.read_only):
            if fdef is None and mdef.link(name) is None:
                raise ValidationError(
                    f"{mdef.name} has no field {name}.", fields={name: "unknown field"}
                )
            continue
        if creating and value is None:
            continue
        out[name] = format_value(value, fdef)
    return out
