"""The core query as VTQL, Vtiger's SQL-like query language.

What the real parser accepts (../peers/vtiger/README.md, ``query_*`` captures):

* ``select <*|count(*)|f1, f2> from Module [where …] [order by f1, f2 [asc|desc]]
  [limit [offset,] count];`` — the trailing ``;`` is required;
* operators ``= != < > <= >= like in (…)``; no ``<>``, ``not like``, ``is null`` and no
  parentheses; ``and`` binds tighter than ``or`` (SQL precedence);
* values single-quoted with ``''`` for a quote; bare numbers allowed; ``= ''`` crashes;
* one direction keyword, applied SQL-style to the *last* sort key only
  (``order by a, b desc`` = a ascending, b descending);
* at most 100 rows per call whatever the limit says.

Grouping without parentheses works because a filter in disjunctive normal form (an OR
of ANDs) reads correctly under SQL precedence; any tree is expanded to that form.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from crmdesk.backends import common
from crmdesk.backends.vtiger.wire import MULTI_SEP, NAME_SUFFIX, is_name_field
from crmdesk.core.errors import Unsupported, ValidationError
from crmdesk.core.query import Condition, Filter, Group, Op, SortKey, resolve_filter
from crmdesk.core.records import Value
from crmdesk.core.schema import FieldType, ModuleDef

MAX_ROWS = 100
#: A DNF expansion beyond this many terms is refused rather than sent.
MAX_TERMS = 64

SUPPORTED_OPS = frozenset(
    {Op.EQ, Op.NEQ, Op.LT, Op.LTE, Op.GT, Op.GTE, Op.CONTAINS, Op.STARTS, Op.IN, Op.BETWEEN}
    | {Op.PERIOD}  # sent as its BETWEEN
)
_CMP = {Op.EQ: "=", Op.NEQ: "!=", Op.LT: "<", Op.LTE: "<=", Op.GT: ">", Op.GTE: ">="}


def quote(value: Value) -> str:
    """A literal: numbers bare, everything else single-quoted with ``''`` escaping."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | Decimal | float):
        return common.format_number(value)
    if isinstance(value, datetime):
        text = common.format_db_datetime(value)
    elif isinstance(value, date):
        text = value.isoformat()
    elif isinstance(value, tuple):
        text = MULTI_SEP.join(str(v) for v in value)
    elif value is None:
        text = ""
    else:
        text = str(value)
    return "'" + text.replace("'", "''") + "'"


def _check_field(mdef: ModuleDef | None, name: str) -> None:
    if is_name_field(name):
        raise Unsupported(
            "Vtiger cannot filter or sort by the name of a referenced record.",
            advice="Filter by the reference itself (its record id, like 19x1).",
        )
    if mdef is None or name == "id" or mdef.has_field(name):
        return
    raise ValidationError(
        f"{mdef.name} has no field {name!r}.",
        fields={name: "Unknown field."},
        advice="Reload the module's fields and choose another one.",
    )


def condition_sql(cond: Condition, mdef: ModuleDef | None = None) -> list[str]:
    """One condition as one or more ANDed VTQL comparisons."""
    _check_field(mdef, cond.field)
    f = cond.field
    op = cond.op
    if op not in SUPPORTED_OPS:
        raise Unsupported(
            f"Vtiger's query language has no '{op.value}' operator.",
            advice="Vtiger cannot test for empty values or negate a list or pattern; use "
            "another condition.",
        )
    if op in _CMP:
        value = cond.value
        if value is None or value == "" or value == ():
            raise Unsupported(
                "Vtiger cannot compare with an empty value (its server fails on = '').",
                advice="Use another condition.",
            )
        return [f"{f} {_CMP[op]} {quote(value)}"]  # type: ignore[arg-type]
    if op is Op.CONTAINS:
        return [f"{f} like {quote('%' + str(cond.value) + '%')}"]
    if op is Op.STARTS:
        return [f"{f} like {quote(str(cond.value) + '%')}"]
    if op is Op.IN:
        vals = [v for v in cond.values if v not in (None, "")]
        if not vals:
            raise Unsupported("Vtiger cannot match a list of only empty values.")
        return [f"{f} in ({','.join(quote(v) for v in vals)})"]
    lo, hi = cond.values
    return [f"{f} >= {quote(lo)}", f"{f} <= {quote(hi)}"]


def dnf(flt: Filter) -> list[list[Condition]]:
    """The filter as an OR of ANDs of conditions."""
    if isinstance(flt, Condition):
        return [[flt]]
    parts = [dnf(c) for c in flt.children]
    if not parts:
        return [[]]
    if flt.kind == "or":
        out = [term for p in parts for term in p]
    else:
        out = [[]]
        for p in parts:
            out = [a + b for a in out for b in p]
            if len(out) > MAX_TERMS:
                break
    if len(out) > MAX_TERMS:
        raise Unsupported(
            "This filter is too complex for Vtiger's query language (it has no parentheses).",
            advice="Use fewer OR alternatives.",
        )
    return out


def where_sql(flt: Filter | None, mdef: ModuleDef | None = None) -> str:
    """The text after ``where`` (empty for no filter)."""
    flt = resolve_filter(flt, mdef)  # periods → BETWEEN; no favorites
    if flt is None:
        return ""
    if isinstance(flt, Group) and not flt.children:
        return ""
    terms = []
    for term in dnf(flt):
        pieces: list[str] = []
        for cond in term:
            pieces.extend(condition_sql(cond, mdef))
        if pieces:
            terms.append(" and ".join(pieces))
    if not terms:
        return ""
    return " or ".join(terms)


def order_sql(sort: tuple[SortKey, ...], mdef: ModuleDef | None = None) -> str:
    if not sort:
        return ""
    for key in sort:
        _check_field(mdef, key.field)
    if any(k.descending for k in sort[:-1]):
        raise Unsupported(
            "Vtiger can sort descending only by the last sort column.",
            advice="Sort the other columns ascending, or by one column.",
        )
    names = ", ".join(k.field for k in sort)
    return f"{names} desc" if sort[-1].descending else names


def select_list(fields: tuple[str, ...] | None, mdef: ModuleDef | None = None) -> str:
    if not fields:
        return "*"
    # A display-name field is filled by the adapter from its reference, which is selected.
    columns = [f[: -len(NAME_SUFFIX)] if is_name_field(f) else f for f in fields]
    for name in columns:
        _check_field(mdef, name)
    wanted = [f for f in dict.fromkeys(columns) if f != "id"]
    return ", ".join(wanted) if wanted else "id"


def build_select(
    module: str,
    *,
    fields: tuple[str, ...] | None = None,
    flt: Filter | None = None,
    sort: tuple[SortKey, ...] = (),
    offset: int = 0,
    limit: int = MAX_ROWS,
    mdef: ModuleDef | None = None,
) -> str:
    sql = f"select {select_list(fields, mdef)} from {module}"
    w = where_sql(flt, mdef)
    if w:
        sql += f" where {w}"
    o = order_sql(sort, mdef)
    if o:
        sql += f" order by {o}"
    sql += f" limit {offset}, {min(limit, MAX_ROWS)};"
    return sql


def build_count(module: str, flt: Filter | None = None, mdef: ModuleDef | None = None) -> str:
    w = where_sql(flt, mdef)
    return f"select count(*) from {module}" + (f" where {w}" if w else "") + ";"


def build_related(
    target: str,
    flt: Filter,
    *,
    fields: tuple[str, ...] | None = None,
    sort: tuple[SortKey, ...] = (),
    offset: int = 0,
    limit: int = MAX_ROWS,
    mdef: ModuleDef | None = None,
) -> str:
    """``query_related`` text: upper-case ``WHERE`` and no semicolon, or the server's split of
    the query breaks (rel_02 … rel_05b)."""
    w = where_sql(flt, mdef)
    if not w:
        raise ValueError("query_related needs a WHERE clause")
    sql = f"select {select_list(fields, mdef)} from {target} WHERE {w}"
    o = order_sql(sort, mdef)
    if o:
        sql += f" order by {o}"
    sql += f" limit {offset}, {min(limit, MAX_ROWS)}"
    return sql


def field_type(mdef: ModuleDef | None, name: str) -> FieldType | None:
    fd = mdef.field(name) if mdef is not None else None
    return fd.type if fd is not None else None
