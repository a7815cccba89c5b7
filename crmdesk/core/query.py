"""The neutral query: a filter tree, sort keys and a field list.

Adapters translate it to their dialect and raise ``Unsupported`` for what
the CRM lacks; the UI greys those operators out from ``Capabilities``.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Literal, cast

from crmdesk.core.errors import Unsupported
from crmdesk.core.records import Value
from crmdesk.core.schema import FieldDef, FieldType, ModuleDef


class Op(StrEnum):
    EQ = "eq"
    NEQ = "neq"
    LT = "lt"
    LTE = "lte"
    GT = "gt"
    GTE = "gte"
    CONTAINS = "contains"
    STARTS = "starts"
    IN = "in"
    NOT_IN = "not_in"
    BETWEEN = "between"
    EMPTY = "empty"
    NOT_EMPTY = "not_empty"
    #: A date / datetime field within a :class:`Period` (the value is its key, "this_month"),
    #: resolved to dates when the query is sent: a kept "today" still means today tomorrow.
    PERIOD = "period"
    #: The record is one of the signed-in user's favorites.  The field is ignored ("");
    #: only dialects with ``Capabilities.favorites`` claim it.
    FAVORITE = "favorite"
    #: The records a filter saved in the CRM lists (the value is its id, see
    #: :class:`SavedFilter`); the field is ignored ("").  Only dialects with
    #: ``Capabilities.saved_filters`` claim it, and only ANDed at the top of a filter.
    SAVED = "saved"


class Period(StrEnum):
    """The named date periods of :attr:`Op.PERIOD` (the keys follow Sugar's ``$dateRange``)."""

    YESTERDAY = "yesterday"
    TODAY = "today"
    TOMORROW = "tomorrow"
    LAST_WEEK = "last_week"
    THIS_WEEK = "this_week"
    NEXT_WEEK = "next_week"
    LAST_7_DAYS = "last_7_days"
    NEXT_7_DAYS = "next_7_days"
    LAST_30_DAYS = "last_30_days"
    NEXT_30_DAYS = "next_30_days"
    LAST_MONTH = "last_month"
    THIS_MONTH = "this_month"
    NEXT_MONTH = "next_month"
    LAST_QUARTER = "last_quarter"
    THIS_QUARTER = "this_quarter"
    NEXT_QUARTER = "next_quarter"
    LAST_YEAR = "last_year"
    THIS_YEAR = "this_year"
    NEXT_YEAR = "next_year"

    @property
    def label(self) -> str:
        """How the period reads in a sentence: ``this month``, ``last 7 days``."""
        return self.value.replace("_", " ")


#: Operators that take no value.
NULLARY = frozenset({Op.EMPTY, Op.NOT_EMPTY, Op.FAVORITE})
#: Operators whose value is a tuple.
MULTI = frozenset({Op.IN, Op.NOT_IN, Op.BETWEEN})
#: Every operator on a field (FAVORITE and SAVED, which are not, are claimed only with
#: favorites and saved filters).
ALL_OPS = frozenset(Op) - {Op.FAVORITE, Op.SAVED}


@dataclass(frozen=True, slots=True)
class SavedFilter:
    """A filter a user saved in the CRM's own UI, offered by name (``Op.SAVED`` uses it)."""

    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Condition:
    field: str
    op: Op
    value: Value | tuple[Value, ...] = None

    def __post_init__(self) -> None:
        if self.op in NULLARY:
            if self.value is not None:
                raise ValueError(f"{self.op} takes no value")
        elif self.op is Op.BETWEEN:
            if not isinstance(self.value, tuple) or len(self.value) != 2:
                raise ValueError("BETWEEN takes a (low, high) pair")
        elif self.op in MULTI and not isinstance(self.value, tuple):
            raise ValueError(f"{self.op} takes a tuple of values")
        elif self.op is Op.PERIOD and self.value not in _PERIOD_KEYS:
            raise ValueError(f"unknown period {self.value!r}")

    @property
    def values(self) -> tuple[Value, ...]:
        if isinstance(self.value, tuple) and self.op in MULTI:
            return self.value
        return (cast("Value", self.value),)


@dataclass(frozen=True, slots=True)
class Group:
    kind: Literal["and", "or"]
    children: tuple[Filter, ...]


Filter = Condition | Group


def and_(*children: Filter) -> Group:
    return Group("and", tuple(children))


def or_(*children: Filter) -> Group:
    return Group("or", tuple(children))


def conditions(f: Filter | None) -> list[Condition]:
    """Every leaf of a filter tree, in order."""
    if f is None:
        return []
    if isinstance(f, Condition):
        return [f]
    out: list[Condition] = []
    for child in f.children:
        out.extend(conditions(child))
    return out


def depth(f: Filter | None) -> int:
    """Nesting depth of groups (a lone condition is 0)."""
    if f is None or isinstance(f, Condition):
        return 0
    return 1 + max((depth(c) for c in f.children), default=0)


@dataclass(frozen=True, slots=True)
class SortKey:
    field: str
    descending: bool = False


@dataclass(frozen=True, slots=True)
class Query:
    filter: Filter | None = None
    sort: tuple[SortKey, ...] = ()
    #: Fields to fetch; None means every field the list needs as the adapter sees fit.
    fields: tuple[str, ...] | None = None


# -- periods ------------------------------------------------------------------------------

_PERIOD_KEYS = frozenset(p.value for p in Period)


def _month_start(d: date, months: int) -> date:
    """The first day of the month ``months`` after ``d``'s (negative: before)."""
    index = d.year * 12 + d.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _month_end(first: date) -> date:
    return first.replace(day=calendar.monthrange(first.year, first.month)[1])


def period_range(period: Period | str, today: date, week_start: int = 0) -> tuple[date, date]:
    """The first and last day (both included) of ``period`` seen from ``today``.

    ``week_start`` is the weekday weeks begin on (0 = Monday, as ``date.weekday()``;
    6 = Sunday).  "last 7 days" is today and the six days before it, as Sugar counts it.
    """
    p = Period(period)
    day = timedelta(days=1)
    if p in (Period.YESTERDAY, Period.TODAY, Period.TOMORROW):
        d = today + day * {Period.YESTERDAY: -1, Period.TODAY: 0, Period.TOMORROW: 1}[p]
        return d, d
    if p in (Period.LAST_WEEK, Period.THIS_WEEK, Period.NEXT_WEEK):
        start = today - day * ((today.weekday() - week_start) % 7)
        start += timedelta(weeks={Period.LAST_WEEK: -1, Period.THIS_WEEK: 0}.get(p, 1))
        return start, start + day * 6
    if p is Period.LAST_7_DAYS:
        return today - day * 6, today
    if p is Period.NEXT_7_DAYS:
        return today, today + day * 6
    if p is Period.LAST_30_DAYS:
        return today - day * 29, today
    if p is Period.NEXT_30_DAYS:
        return today, today + day * 29
    if p in (Period.LAST_MONTH, Period.THIS_MONTH, Period.NEXT_MONTH):
        first = _month_start(today, {Period.LAST_MONTH: -1, Period.THIS_MONTH: 0}.get(p, 1))
        return first, _month_end(first)
    if p in (Period.LAST_QUARTER, Period.THIS_QUARTER, Period.NEXT_QUARTER):
        shift = {Period.LAST_QUARTER: -3, Period.THIS_QUARTER: 0}.get(p, 3)
        first = _month_start(today, -((today.month - 1) % 3) + shift)
        return first, _month_end(_month_start(first, 2))
    year = today.year + {Period.LAST_YEAR: -1, Period.THIS_YEAR: 0}.get(p, 1)
    return date(year, 1, 1), date(year, 12, 31)


def local_today() -> date:
    """Today where the user is (the machine's time zone); tests may replace it."""
    return date.today()


def period_between(
    cond: Condition,
    fdef: FieldDef | None,
    *,
    today: date | None = None,
    week_start: int = 0,
) -> Condition:
    """A PERIOD condition as the BETWEEN it means today: dates for a DATE field (or an
    unknown one), for a DATETIME field the first day 00:00:00 to the last day 23:59:59 in
    the user's time zone (aware datetimes, which each adapter converts as it sends)."""
    first, last = period_range(str(cond.value), today or local_today(), week_start)
    if fdef is not None and fdef.type is FieldType.DATETIME:
        low = datetime.combine(first, time.min).astimezone()
        high = datetime.combine(last, time(23, 59, 59)).astimezone()
        return Condition(cond.field, Op.BETWEEN, (low, high))
    return Condition(cond.field, Op.BETWEEN, (first, last))


def resolve_condition(
    cond: Condition,
    fdef: FieldDef | None,
    *,
    native_periods: Collection[str] = (),
    favorites: bool = False,
    today: date | None = None,
) -> Condition:
    """What an adapter sends for ``cond``: a PERIOD becomes its BETWEEN (unless its key is
    in ``native_periods``, which the dialect sends as such); FAVORITE raises
    ``Unsupported`` unless the dialect has ``favorites``.  Any other condition is returned."""
    if cond.op is Op.PERIOD and cond.value not in native_periods:
        return period_between(cond, fdef, today=today)
    if cond.op is Op.FAVORITE and not favorites:
        raise Unsupported("This CRM's API cannot list only favorites.")
    if cond.op is Op.SAVED:  # a dialect with saved filters takes it out before
        raise Unsupported("This CRM's API has no saved filters, or not inside a group.")
    return cond


def resolve_filter(
    f: Filter | None,
    mdef: ModuleDef | None,
    resolve: Callable[[Condition, FieldDef | None], Condition] = resolve_condition,
) -> Filter | None:
    """``f`` with :func:`resolve_condition` (or ``resolve``) applied to every leaf."""
    if f is None:
        return None
    if isinstance(f, Condition):
        return resolve(f, mdef.field(f.field) if mdef is not None else None)
    children = tuple(resolve_filter(c, mdef, resolve) for c in f.children)
    return Group(f.kind, tuple(c for c in children if c is not None))
