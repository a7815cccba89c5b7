"""Read-only table models over domain values, built from column specs.

One small generic model (:class:`RowsModel`) serves the module list, the field table,
the links, options and dependency tables: each column says how to show a row and how
to sort it.  Text is returned as plain strings, which item views never render as HTML.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QBrush, QColor

from crmdesk.core.schema import FieldDef, LinkDef, ModuleInfo
from crmdesk.ui.admin.export import default_text, options_text

R = TypeVar("R")
Index = QModelIndex | QPersistentModelIndex

#: The role the proxies sort by: numbers sort as numbers, text case-insensitively.
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
#: The role that hands back the row object itself.
ROW_ROLE = Qt.ItemDataRole.UserRole + 2


@dataclass(frozen=True, slots=True)
class Column(Generic[R]):
    title: str
    text: Callable[[R], str]
    sort: Callable[[R], Any] | None = None
    tooltip: str = ""
    #: Full text for the cell's tooltip when ``text`` shortens it.
    full: Callable[[R], str] | None = None


class RowsModel(QAbstractTableModel, Generic[R]):
    """A table of ``rows`` with one :class:`Column` per column."""

    def __init__(self, columns: Sequence[Column[R]], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._columns = tuple(columns)
        self._rows: list[R] = []
        self._background: Callable[[R, int], QColor | None] | None = None

    # -- data in ---------------------------------------------------------------------
    def set_rows(self, rows: Sequence[R]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def set_background(self, fn: Callable[[R, int], QColor | None]) -> None:
        self._background = fn

    def rows(self) -> list[R]:
        return list(self._rows)

    def row_at(self, row: int) -> R:
        return self._rows[row]

    def columns(self) -> tuple[Column[R], ...]:
        return self._columns

    # -- QAbstractTableModel ---------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        """QAbstractItemModel.rowCount: no children below a row."""
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._columns)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """QAbstractItemModel.data: plain text for display, sort keys for SORT_ROLE."""
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        row = self._rows[index.row()]
        col = self._columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return col.text(row)
        if role == SORT_ROLE:
            if col.sort is not None:
                return col.sort(row)
            return col.text(row).casefold()
        if role == Qt.ItemDataRole.ToolTipRole and col.full is not None:
            return col.full(row)
        if role == ROW_ROLE:
            return row
        if role == Qt.ItemDataRole.BackgroundRole and self._background is not None:
            color = self._background(row, index.column())
            return QBrush(color) if color is not None else None
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(self._columns):
            col = self._columns[section]
            if role == Qt.ItemDataRole.DisplayRole:
                return col.title
            if role == Qt.ItemDataRole.ToolTipRole and col.tooltip:
                return col.tooltip
        return None


class RowFilterProxy(QSortFilterProxyModel):
    """Case-insensitive substring filter over every column, plus an optional row predicate."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self.setFilterKeyColumn(-1)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self._predicate: Callable[[Any], bool] | None = None

    def set_predicate(self, predicate: Callable[[Any], bool] | None) -> None:
        self.beginFilterChange()
        self._predicate = predicate
        self.endFilterChange()

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        """QSortFilterProxyModel.filterAcceptsRow: the predicate first, then the text filter."""
        if self._predicate is not None:
            src = self.sourceModel()
            row = src.data(src.index(source_row, 0, source_parent), ROW_ROLE)
            if not self._predicate(row):
                return False
        return super().filterAcceptsRow(source_row, source_parent)

    def source_row_object(self, proxy_index: QModelIndex) -> Any:
        return self.data(proxy_index, ROW_ROLE) if proxy_index.isValid() else None


def _yes(flag: bool) -> str:
    return "yes" if flag else ""


MODULE_COLUMNS: tuple[Column[ModuleInfo], ...] = (
    Column("Module", lambda m: m.name),
    Column("Label", lambda m: m.label),
    Column(
        "Kind",
        lambda m: "entity" if m.entity else "non-entity",
        tooltip="Entity modules hold records; non-entity ones are listed but not browsable.",
    ),
    Column("Origin", lambda m: "custom" if m.custom else "standard"),
)

OPTIONS_PREVIEW = 6

FIELD_COLUMNS: tuple[Column[FieldDef], ...] = (
    Column("Name", lambda f: f.name),
    Column("Label", lambda f: f.label),
    Column("Type", lambda f: f.type.value),
    Column("Native type", lambda f: f.native_type),
    Column("Required", lambda f: _yes(f.required), sort=lambda f: int(f.required)),
    Column("Read-only", lambda f: _yes(f.read_only), sort=lambda f: int(f.read_only)),
    Column(
        "Length",
        lambda f: "" if f.length is None else str(f.length),
        sort=lambda f: -1 if f.length is None else f.length,
    ),
    Column("Default", lambda f: default_text(f.default)),
    Column(
        "Options",
        lambda f: options_text(f.options, OPTIONS_PREVIEW),
        sort=lambda f: len(f.options),
        full=lambda f: options_text(f.options),
    ),
    Column("Relate target", lambda f: f.relate_module or ""),
    Column("Origin", lambda f: "custom" if f.custom else "standard"),
)

LINK_COLUMNS: tuple[Column[LinkDef], ...] = (
    Column("Link", lambda lk: lk.name),
    Column("Label", lambda lk: lk.label),
    Column("Target module", lambda lk: lk.target_module),
    Column("Cardinality", lambda lk: lk.cardinality.value),
    Column("Relationship", lambda lk: lk.relationship),
)
