"""Records as the UI sees them: typed values, opaque ids and versions, pages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

#: A field value after the adapter parsed it.  Text is plain (already HTML-unescaped),
#: datetimes are timezone-aware, multi-enums are tuples, empty is ``None``.
Value = str | int | Decimal | float | bool | date | datetime | tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class Version:
    """Whatever the CRM uses to detect concurrent edits (date_modified, versionNumber …).

    Opaque to everyone but the adapter that made it.
    """

    token: str


@dataclass(frozen=True, slots=True)
class FieldAccess:
    """Fields of one record the signed-in user may not read or may not change.

    Only what the CRM reported for this record (Sugar's ``_acl.fields``) beyond the
    module's field rules, which :class:`~crmdesk.core.schema.FieldDef` already carries.
    A field one may not read may not be changed either.
    """

    unreadable: frozenset[str] = frozenset()
    read_only: frozenset[str] = frozenset()

    def may_read(self, name: str) -> bool:
        return name not in self.unreadable

    def may_write(self, name: str) -> bool:
        return name not in self.read_only and name not in self.unreadable


@dataclass(slots=True)
class Record:
    module: str
    id: str
    values: dict[str, Value] = field(default_factory=dict)
    version: Version | None = None
    #: Actions the signed-in user may take on this record, when the CRM says (``edit``, ``delete``).
    access: frozenset[str] | None = None
    #: Per-field limits on this record, when the CRM says any (None: the module's rules apply).
    field_access: FieldAccess | None = None

    def get(self, name: str, default: Value = None) -> Value:
        return self.values.get(name, default)


@dataclass(frozen=True, slots=True)
class RecordRef:
    """A pointer to a record with the text to show for it (search results, relate fields)."""

    module: str
    id: str
    label: str


@dataclass(frozen=True, slots=True)
class PageRequest:
    """Which page to load: ``cursor`` is None for the first, else the previous Page's ``next``."""

    size: int = 100
    cursor: str | None = None


@dataclass(slots=True)
class Page:
    records: list[Record]
    #: Total matching records when the CRM tells it (SuiteCRM only gives page counts).
    total: int | None = None
    #: Opaque cursor for the next page; None at the end.
    next: str | None = None
    #: An estimate when only page counts are known (total_pages * page size).
    total_estimate: int | None = None

    @property
    def has_more(self) -> bool:
        return self.next is not None


@dataclass(frozen=True, slots=True)
class UserInfo:
    id: str
    user_name: str
    display_name: str = ""
    is_admin: bool = False
    email: str = ""
    time_zone: str = ""
    #: Per module, the actions allowed (``{"Accounts": {"edit"}}``), when the CRM exposes them.
    access: dict[str, frozenset[str]] = field(default_factory=dict)
    #: Anything else the CRM says about the user, for the admin view (plain strings).
    extra: dict[str, str] = field(default_factory=dict)
