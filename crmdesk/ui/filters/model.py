"""What the filter bar holds, and how it becomes a core filter tree.

A :class:`FilterSpec` is the bar's state for one module: the quick text, the
conditions shown as chips and whether they must all or any match.  :func:`build`
turns it into a :data:`~crmdesk.core.query.Filter` for the backend, refusing with
``Unsupported`` what the connection's :class:`Capabilities` say it cannot run, so
the UI never sends a query the CRM would reject for its shape.  No widgets here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from crmdesk.core.backend import Capabilities
from crmdesk.core.errors import Unsupported
from crmdesk.core.query import NULLARY, Condition, Filter, Op, Period, SavedFilter, and_, depth, or_
from crmdesk.core.records import Value
from crmdesk.core.schema import FieldDef, FieldType, ModuleDef

Mode = Literal["and", "or"]

_TEXTUAL = (
    Op.CONTAINS,
    Op.STARTS,
    Op.EQ,
    Op.NEQ,
    Op.IN,
    Op.NOT_IN,
    Op.EMPTY,
    Op.NOT_EMPTY,
)
_ORDERED = (
    Op.EQ,
    Op.NEQ,
    Op.LT,
    Op.LTE,
    Op.GT,
    Op.GTE,
    Op.BETWEEN,
    Op.IN,
    Op.NOT_IN,
    Op.EMPTY,
    Op.NOT_EMPTY,
)
_DATES = (Op.PERIOD, Op.EQ, Op.LT, Op.LTE, Op.GT, Op.GTE, Op.BETWEEN, Op.EMPTY, Op.NOT_EMPTY)
#: The operators that make sense for each field type, in the order the menu lists them.
TYPE_OPERATORS: dict[FieldType, tuple[Op, ...]] = {
    FieldType.TEXT: _TEXTUAL,
    FieldType.MULTILINE: (Op.CONTAINS, Op.STARTS, Op.EMPTY, Op.NOT_EMPTY),
    FieldType.EMAIL: _TEXTUAL,
    FieldType.PHONE: _TEXTUAL,
    FieldType.URL: _TEXTUAL,
    FieldType.INT: _ORDERED,
    FieldType.DECIMAL: _ORDERED,
    FieldType.CURRENCY: _ORDERED,
    FieldType.DATE: _DATES,
    FieldType.DATETIME: (
        Op.PERIOD,
        Op.LT,
        Op.LTE,
        Op.GT,
        Op.GTE,
        Op.BETWEEN,
        Op.EMPTY,
        Op.NOT_EMPTY,
    ),
    FieldType.BOOL: (Op.EQ, Op.EMPTY, Op.NOT_EMPTY),
    FieldType.ENUM: (Op.EQ, Op.NEQ, Op.IN, Op.NOT_IN, Op.EMPTY, Op.NOT_EMPTY),
    FieldType.MULTIENUM: (Op.CONTAINS, Op.EMPTY, Op.NOT_EMPTY),
    FieldType.RELATE: (Op.EQ, Op.NEQ, Op.EMPTY, Op.NOT_EMPTY),
    FieldType.ID: (Op.EQ, Op.NEQ, Op.IN, Op.NOT_IN),
    FieldType.UNKNOWN: (Op.EQ, Op.CONTAINS, Op.EMPTY, Op.NOT_EMPTY),
}

_LABELS: dict[Op, str] = {
    Op.EQ: "is",
    Op.NEQ: "is not",
    Op.LT: "less than",
    Op.LTE: "at most",
    Op.GT: "greater than",
    Op.GTE: "at least",
    Op.CONTAINS: "contains",
    Op.STARTS: "starts with",
    Op.IN: "is one of",
    Op.NOT_IN: "is none of",
    Op.BETWEEN: "between",
    Op.EMPTY: "is empty",
    Op.NOT_EMPTY: "is not empty",
    Op.PERIOD: "within",
    Op.FAVORITE: "is a favorite",
    Op.SAVED: "saved filter",
}
_DATE_LABELS: dict[Op, str] = {
    Op.EQ: "on",
    Op.LT: "before",
    Op.LTE: "on or before",
    Op.GT: "after",
    Op.GTE: "on or after",
}
#: Names of the person-name parts, tried when a module's name field cannot be filtered
#: (SuiteCRM's ``name`` of Contacts is computed, not stored).
_NAME_PARTS = ("last_name", "first_name", "lastname", "firstname", "lastName", "firstName")

NOT_OFFERED = "not offered by this CRM"
#: The periods the "within" menu lists, in its order.
PERIODS: tuple[Period, ...] = (
    Period.TODAY,
    Period.YESTERDAY,
    Period.TOMORROW,
    Period.THIS_WEEK,
    Period.LAST_WEEK,
    Period.NEXT_WEEK,
    Period.THIS_MONTH,
    Period.LAST_MONTH,
    Period.NEXT_MONTH,
    Period.THIS_QUARTER,
    Period.LAST_QUARTER,
    Period.NEXT_QUARTER,
    Period.THIS_YEAR,
    Period.LAST_YEAR,
    Period.NEXT_YEAR,
    Period.LAST_7_DAYS,
    Period.LAST_30_DAYS,
    Period.NEXT_7_DAYS,
    Period.NEXT_30_DAYS,
)
#: The condition "Favorites only" adds.
FAVORITES_ONLY = Condition("", Op.FAVORITE)


def operators_for(fdef: FieldDef) -> tuple[Op, ...]:
    """The operators that make sense for ``fdef``'s type (whatever the CRM offers)."""
    return TYPE_OPERATORS.get(fdef.type, TYPE_OPERATORS[FieldType.UNKNOWN])


def op_label(op: Op, fdef: FieldDef | None = None) -> str:
    if fdef is not None and fdef.type in (FieldType.DATE, FieldType.DATETIME):
        return _DATE_LABELS.get(op, _LABELS[op])
    return _LABELS[op]


def filterable_fields(mdef: ModuleDef) -> list[FieldDef]:
    """Fields a condition can be set on: filterable, shown, the list's columns first."""
    columns = [f for f in mdef.columns() if f.filterable]
    rest = [
        f
        for f in mdef.fields
        if f.filterable and f.visible and f not in columns and f.type is not FieldType.ID
    ]
    rest.sort(key=lambda f: f.label.casefold())
    return columns + rest


def quick_op(caps: Capabilities) -> Op | None:
    """CONTAINS where offered, else STARTS, else EQ; None when none is."""
    for op in (Op.CONTAINS, Op.STARTS, Op.EQ):
        if op in caps.operators:
            return op
    return None


def quick_fields(mdef: ModuleDef) -> list[FieldDef]:
    """The fields the quick text searches: the name field, else the person-name parts."""
    name = mdef.field(mdef.name_field)
    if name is not None and name.filterable:
        return [name]
    parts = [f for n in _NAME_PARTS if (f := mdef.field(n)) is not None and f.filterable]
    if parts:
        return parts
    first = next((f for f in mdef.columns() if f.filterable and f.type is FieldType.TEXT), None)
    return [first] if first is not None else []


def quick_hint(mdef: ModuleDef) -> str:
    fields = quick_fields(mdef)
    if not fields:
        return "This module has no field to filter on by name"
    return "Filter by " + " or ".join(f.label.lower() for f in fields) + " (Ctrl+F)"


def favorites_offered(caps: Capabilities) -> bool:
    """Whether "Favorites only" can be sent to this CRM."""
    return caps.favorites and Op.FAVORITE in caps.operators


@dataclass(frozen=True, slots=True)
class FilterSpec:
    """The filter bar's state for one module."""

    quick: str = ""
    conditions: tuple[Condition, ...] = ()
    mode: Mode = "and"
    #: Only the user's favorites (ANDed with the rest, whatever the mode).
    favorites: bool = False
    #: A filter saved in the CRM (ANDed with the rest, whatever the mode).
    saved: SavedFilter | None = None

    @property
    def empty(self) -> bool:
        return (
            not self.quick.strip()
            and not self.conditions
            and not self.favorites
            and self.saved is None
        )


def _quick_filter(spec: FilterSpec, mdef: ModuleDef, caps: Capabilities, alone: bool) -> Filter:
    op = quick_op(caps)
    fields = quick_fields(mdef)
    if op is None or not fields:
        raise Unsupported(f"This CRM cannot filter {mdef.label} by name.")
    text = spec.quick.strip()
    conds = [Condition(f.name, op, text) for f in fields]
    if len(conds) == 1:
        return conds[0]
    # More than one name part: any may match, if the CRM can say "or" here.
    if caps.or_filters and (alone or caps.nested_filters):
        return or_(*conds)
    return conds[0]


def build(spec: FilterSpec, mdef: ModuleDef, caps: Capabilities) -> Filter | None:
    """The filter tree for ``spec``; ``Unsupported`` (with a message to show) for what
    this CRM cannot run: an operator it lacks, "any" without OR, groups in groups."""
    for cond in spec.conditions:
        if cond.op not in caps.operators:
            fdef = mdef.field(cond.field)
            raise Unsupported(
                f"This CRM cannot filter with “{op_label(cond.op, fdef)}”; choose another operator."
            )
        fdef = mdef.field(cond.field)
        if fdef is None or not fdef.filterable:
            label = fdef.label if fdef else cond.field
            raise Unsupported(f"This CRM cannot filter on {label}.")
    parts: list[Filter] = list(spec.conditions)
    if spec.mode == "or" and len(parts) > 1:
        if not caps.or_filters:
            raise Unsupported("This CRM cannot match any of several conditions, only all.")
        parts = [or_(*parts)]
    if spec.quick.strip():
        parts.insert(0, _quick_filter(spec, mdef, caps, alone=not parts))
    if spec.favorites:
        if not favorites_offered(caps):
            raise Unsupported("This CRM cannot list only favorites.")
        parts.append(FAVORITES_ONLY)
    if spec.saved is not None:
        if not caps.saved_filters:
            raise Unsupported("This CRM has no saved filters.")
        parts.insert(0, Condition("", Op.SAVED, spec.saved.id))
    if not parts:
        return None
    result = parts[0] if len(parts) == 1 else and_(*parts)
    if depth(result) > 1 and not caps.nested_filters:
        raise Unsupported(
            "This CRM cannot combine the quick filter with “any of” conditions; "
            "clear the quick filter or match all conditions."
        )
    return result


def value_text(fdef: FieldDef | None, value: Value) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple):
        return ", ".join(value_text(fdef, v) for v in value)
    if fdef is not None and fdef.options:
        return fdef.option_label(str(value))
    return str(value)


def period_label(value: Value | tuple[Value, ...]) -> str:
    """The period named by ``value`` as it reads (``this month``), else the value itself."""
    try:
        return Period(str(value)).label
    except ValueError:
        return str(value)


def describe(cond: Condition, mdef: ModuleDef) -> str:
    """A chip's text: "Industry is one of Banking, Energy", "Close date: this month"."""
    if cond.op is Op.FAVORITE:
        return "★ Favorites only"
    fdef = mdef.field(cond.field)
    label = fdef.label if fdef else cond.field
    op = op_label(cond.op, fdef)
    if cond.op is Op.PERIOD:
        return f"{label}: {period_label(cond.value)}"
    if cond.op in NULLARY:
        return f"{label} {op}"
    if cond.op is Op.BETWEEN:
        low, high = cond.values
        return f"{label} {op} {value_text(fdef, low)} and {value_text(fdef, high)}"
    if cond.op in (Op.IN, Op.NOT_IN):
        return f"{label} {op} {', '.join(value_text(fdef, v) for v in cond.values)}"
    return f"{label} {op} {value_text(fdef, cond.values[0])}"


def parse_scalar(fdef: FieldDef, text: str) -> Value:
    """A typed value from what was typed; ``ValueError`` with a message to show."""
    text = text.strip()
    if not text:
        raise ValueError(f"Type a value for {fdef.label}.")
    if fdef.type is FieldType.INT:
        try:
            return int(text.replace(",", "").replace("_", ""))
        except ValueError:
            raise ValueError(f"{fdef.label} takes a whole number.") from None
    if fdef.type in (FieldType.DECIMAL, FieldType.CURRENCY):
        try:
            return Decimal(text.replace(",", ""))
        except ArithmeticError:
            raise ValueError(f"{fdef.label} takes a number.") from None
    return text


def parse_list(fdef: FieldDef, text: str) -> tuple[Value, ...]:
    """A comma-separated list of values (IN / NOT_IN on free-text fields)."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise ValueError(f"Type one or more values for {fdef.label}, separated by commas.")
    return tuple(parse_scalar(fdef, t) for t in items)


def without(spec: FilterSpec, index: int) -> FilterSpec:
    conds = spec.conditions[:index] + spec.conditions[index + 1 :]
    return replace(spec, conditions=conds)


def with_condition(spec: FilterSpec, cond: Condition) -> FilterSpec:
    return replace(spec, conditions=(*spec.conditions, cond))


def offered_ops(fdef: FieldDef, caps: Capabilities) -> Sequence[tuple[Op, bool]]:
    """(operator, offered by this CRM) for each operator sensible for ``fdef``."""
    return [(op, op in caps.operators) for op in operators_for(fdef)]
