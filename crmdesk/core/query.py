"""The neutral query: a filter tree, sort keys and a field list.

Adapters translate it to their dialect and raise ``Unsupported`` for what
the CRM lacks; the UI greys those operators out from ``Capabilities``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, cast

from crmdesk.core.records import Value


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


#: Operators that take no value.
NULLARY = frozenset({Op.EMPTY, Op.NOT_EMPTY})
#: Operators whose value is a tuple.
MULTI = frozenset({Op.IN, Op.NOT_IN, Op.BETWEEN})
ALL_OPS = frozenset(Op)


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
