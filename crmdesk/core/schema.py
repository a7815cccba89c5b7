"""What a CRM says about itself: modules, fields, links, options.

Adapters map each dialect's metadata / describe output into these frozen
values; the UI builds every list, form and relationship view from them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class FieldType(StrEnum):
    TEXT = "text"  # single line
    MULTILINE = "multiline"
    INT = "int"
    DECIMAL = "decimal"
    CURRENCY = "currency"
    BOOL = "bool"
    DATE = "date"
    DATETIME = "datetime"
    ENUM = "enum"
    MULTIENUM = "multienum"
    RELATE = "relate"  # holds the related record's id; ``relate_module`` names the target
    EMAIL = "email"
    PHONE = "phone"
    URL = "url"
    ID = "id"
    UNKNOWN = "unknown"  # shown read-only, as text


class Cardinality(StrEnum):
    ONE = "one"
    MANY = "many"


@dataclass(frozen=True, slots=True)
class Option:
    """One picklist value: ``key`` is sent to the CRM, ``label`` is shown."""

    key: str
    label: str


@dataclass(frozen=True, slots=True)
class FieldDef:
    name: str
    label: str
    type: FieldType
    required: bool = False
    read_only: bool = False
    length: int | None = None
    options: tuple[Option, ...] = ()
    #: For RELATE: the module the id points at.
    relate_module: str | None = None
    #: For RELATE: the field that carries the related record's display name, when the CRM sends one.
    relate_name_field: str | None = None
    default: Any = None
    custom: bool = False
    #: The CRM can filter / sort on it (SuiteCRM non-db fields cannot).
    filterable: bool = True
    sortable: bool = True
    #: Shown in forms (link fields and internals are not).
    visible: bool = True
    #: Currency symbol or code for CURRENCY fields, when the CRM gives one.
    currency: str | None = None
    #: The CRM's own type name (``varchar``, ``picklist`` …), for the metadata inspector.
    native_type: str = ""
    #: The CRM keeps the value encrypted / masked; ``Backend.decrypt`` reads it on demand.
    sensitive: bool = False

    def option_label(self, key: str) -> str:
        for opt in self.options:
            if opt.key == key:
                return opt.label
        return key


@dataclass(frozen=True, slots=True)
class LinkDef:
    """A relationship from one module to another, as the related-records tabs use it."""

    name: str
    label: str
    target_module: str
    cardinality: Cardinality = Cardinality.MANY
    #: The CRM's relationship name, when different from ``name``.
    relationship: str = ""


@dataclass(frozen=True, slots=True)
class Section:
    """A group of fields in a detail layout."""

    label: str
    fields: tuple[str, ...]
    #: The CRM shows it folded until the user opens it (Sugar's "Show more" panel).
    collapsed: bool = False


@dataclass(frozen=True, slots=True)
class ModuleInfo:
    """An entry of the module list (before ``describe``)."""

    name: str
    label: str
    #: Entity modules hold records; others (settings, dashboards) are listed but not browsable.
    entity: bool = True
    custom: bool = False
    #: Actions the signed-in user may take, as the CRM names them (``list``, ``edit`` …), if known.
    access: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class ModuleDef:
    name: str
    label: str
    fields: tuple[FieldDef, ...]
    links: tuple[LinkDef, ...] = ()
    #: Columns of the list view, in order (falls back to :meth:`default_list_fields`).
    list_fields: tuple[str, ...] = ()
    #: Detail layout sections, when the CRM gives one.
    layout: tuple[Section, ...] = ()
    #: The field that names a record (``name``, ``lastname`` …).
    name_field: str = "name"
    entity: bool = True
    custom: bool = False
    #: The module's metadata as the CRM sent it, for the inspector (read only).
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    _index: dict[str, FieldDef] = field(default_factory=dict, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {f.name: f for f in self.fields})

    def field(self, name: str) -> FieldDef | None:
        return self._index.get(name)

    def has_field(self, name: str) -> bool:
        return name in self._index

    def link(self, name: str) -> LinkDef | None:
        for lk in self.links:
            if lk.name == name:
                return lk
        return None

    def columns(self, limit: int = 8) -> tuple[FieldDef, ...]:
        """The list-view columns: the CRM's list layout if known, else a sensible default."""
        names = self.list_fields or self.default_list_fields(limit)
        cols = tuple(f for n in names if (f := self._index.get(n)) is not None)
        return cols or self.default_list_fields_defs(limit)

    def default_list_fields(self, limit: int = 8) -> tuple[str, ...]:
        return tuple(f.name for f in self.default_list_fields_defs(limit))

    def default_list_fields_defs(self, limit: int = 8) -> tuple[FieldDef, ...]:
        """Name first, then required fields, then typed business fields; no ids or internals."""
        shown = [f for f in self.fields if f.visible and f.type is not FieldType.ID]
        first = [f for f in shown if f.name == self.name_field]
        required = [f for f in shown if f.required and f not in first]
        preferred_types = {
            FieldType.ENUM,
            FieldType.EMAIL,
            FieldType.PHONE,
            FieldType.CURRENCY,
            FieldType.DATE,
            FieldType.TEXT,
            FieldType.RELATE,
        }
        rest = [
            f for f in shown if f not in first and f not in required and f.type in preferred_types
        ]
        return tuple((first + required + rest)[:limit])
