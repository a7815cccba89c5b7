"""The module list as a two-level tree: groups ("Modules", "Custom modules",
"Not browsable") holding the CRM's modules.  Only entity modules can be selected."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QObject, QPersistentModelIndex, Qt

from crmdesk.core.schema import ModuleInfo

AnyIndex = QModelIndex | QPersistentModelIndex
MODULE_ROLE = Qt.ItemDataRole.UserRole


def _standard(m: ModuleInfo) -> bool:
    return m.entity and not m.custom


def _custom(m: ModuleInfo) -> bool:
    return m.entity and m.custom


def _other(m: ModuleInfo) -> bool:
    return not m.entity


_GROUPS: tuple[tuple[str, Callable[[ModuleInfo], bool]], ...] = (
    ("Modules", _standard),
    ("Custom modules", _custom),
    ("Not browsable", _other),
)


class ModuleTreeModel(QAbstractItemModel):
    """Group rows carry internal id 0; a module row carries its group's row + 1."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._groups: list[tuple[str, list[ModuleInfo]]] = []

    def set_modules(self, modules: Sequence[ModuleInfo]) -> None:
        self.beginResetModel()
        self._groups = []
        for title, belongs in _GROUPS:
            members = sorted((m for m in modules if belongs(m)), key=lambda m: m.label.lower())
            if members:
                self._groups.append((title, members))
        self.endResetModel()

    def module_at(self, index: AnyIndex) -> ModuleInfo | None:
        if not index.isValid() or index.internalId() == 0:
            return None
        return self._groups[index.internalId() - 1][1][index.row()]

    def index_of(self, name: str) -> QModelIndex:
        for g, (_title, members) in enumerate(self._groups):
            for row, info in enumerate(members):
                if info.name == name:
                    return self.createIndex(row, 0, g + 1)
        return QModelIndex()

    # -- QAbstractItemModel ----------------------------------------------------------
    def index(self, row: int, column: int, parent: AnyIndex = QModelIndex()) -> QModelIndex:  # noqa: B008
        """QAbstractItemModel.index: a group at the top, a module under its group."""
        if column != 0 or row < 0:
            return QModelIndex()
        if not parent.isValid():
            return self.createIndex(row, 0, 0) if row < len(self._groups) else QModelIndex()
        if parent.internalId() != 0 or parent.row() >= len(self._groups):
            return QModelIndex()
        members = self._groups[parent.row()][1]
        return self.createIndex(row, 0, parent.row() + 1) if row < len(members) else QModelIndex()

    def parent(self, child: AnyIndex = QModelIndex()) -> QModelIndex:  # type: ignore[override]  # noqa: B008
        """QAbstractItemModel.parent: the group of a module, nothing for a group."""
        if not child.isValid() or child.internalId() == 0:
            return QModelIndex()
        return self.createIndex(child.internalId() - 1, 0, 0)

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        """QAbstractItemModel.rowCount."""
        if not parent.isValid():
            return len(self._groups)
        if parent.internalId() == 0 and parent.column() == 0:
            return len(self._groups[parent.row()][1])
        return 0

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        """QAbstractItemModel.columnCount: one column."""
        return 1

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """QAbstractItemModel.data: labels; the module's API name under MODULE_ROLE."""
        if not index.isValid():
            return None
        info = self.module_at(index)
        if info is None:
            title, _members = self._groups[index.row()]
            return title if role == Qt.ItemDataRole.DisplayRole else None
        if role == Qt.ItemDataRole.DisplayRole:
            return info.label
        if role == Qt.ItemDataRole.ToolTipRole:
            return info.name if info.entity else f"{info.name} (holds no records)"
        if role == MODULE_ROLE:
            return info.name
        return None

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        """QAbstractItemModel.flags: modules selectable when they hold records."""
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        info = self.module_at(index)
        if info is None:
            return Qt.ItemFlag.ItemIsEnabled
        if not info.entity:
            return Qt.ItemFlag.ItemNeverHasChildren
        return (
            Qt.ItemFlag.ItemIsEnabled
            | Qt.ItemFlag.ItemIsSelectable
            | Qt.ItemFlag.ItemNeverHasChildren
        )
