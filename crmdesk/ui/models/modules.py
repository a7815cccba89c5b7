"""The module list as a two-level tree: groups ("Modules", "Custom modules",
"Not browsable") holding the CRM's modules.  Only entity modules can be selected.

:class:`ModuleTreeModel` is one connection's list; :class:`ConnectionTreeModel` puts
every open connection at the top level with its modules below, for the tree view."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QIcon, QStandardItem, QStandardItemModel

from crmdesk.core.schema import ModuleInfo
from crmdesk.ui.format import plain_tip

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
            return plain_tip(info.name if info.entity else f"{info.name} (holds no records)")
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


#: Under this role, every row of :class:`ConnectionTreeModel` carries its connection's id.
CONNECTION_ROLE = Qt.ItemDataRole.UserRole + 1
#: True on a connection's own (top-level) row.
IS_CONNECTION_ROLE = Qt.ItemDataRole.UserRole + 2


class ConnectionTreeModel(QStandardItemModel):
    """Every open connection as a top-level row, its module groups and modules below.

    Each connection's modules live in its own :class:`ModuleTreeModel` (what the
    connection's browser fills); this model mirrors it whenever it resets.  Rows of
    the current connection's node are shown in bold.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._sources: dict[int, ModuleTreeModel] = {}
        self._slots: dict[int, Callable[[], None]] = {}
        self._current: int | None = None

    # -- connections -----------------------------------------------------------------
    def add_connection(
        self,
        cid: int,
        title: str,
        source: ModuleTreeModel,
        *,
        tooltip: str = "",
        icon: QIcon | None = None,
    ) -> None:
        item = QStandardItem(title)
        item.setEditable(False)
        item.setSelectable(False)
        item.setData(cid, CONNECTION_ROLE)
        item.setData(True, IS_CONNECTION_ROLE)
        item.setToolTip(plain_tip(tooltip or title))
        if icon is not None:
            item.setIcon(icon)
        self.appendRow(item)
        self._sources[cid] = source
        slot = self._slots[cid] = lambda: self._mirror(cid)
        source.modelReset.connect(slot)
        self._mirror(cid)

    def remove_connection(self, cid: int) -> None:
        row = self.connection_row(cid)
        source = self._sources.pop(cid, None)
        slot = self._slots.pop(cid, None)
        if source is not None and slot is not None:
            source.modelReset.disconnect(slot)
        if row >= 0:
            self.removeRow(row)
        if self._current == cid:
            self._current = None

    def set_connection_title(self, cid: int, title: str, tooltip: str = "") -> None:
        item = self.connection_item(cid)
        if item is not None:
            item.setText(title)
            if tooltip:
                item.setToolTip(plain_tip(tooltip))

    def set_current(self, cid: int | None) -> None:
        self._current = cid
        for row in range(self.rowCount()):
            item = self.item(row)
            font = item.font()
            font.setBold(item.data(CONNECTION_ROLE) == cid)
            item.setFont(font)

    def connection_ids(self) -> list[int]:
        return [int(self.item(r).data(CONNECTION_ROLE)) for r in range(self.rowCount())]

    def connection_row(self, cid: int) -> int:
        for row in range(self.rowCount()):
            if self.item(row).data(CONNECTION_ROLE) == cid:
                return row
        return -1

    def connection_item(self, cid: int) -> QStandardItem | None:
        row = self.connection_row(cid)
        return self.item(row) if row >= 0 else None

    def module_index(self, cid: int, name: str) -> QModelIndex:
        """The row of module ``name`` under connection ``cid`` (invalid when not listed)."""
        top = self.connection_item(cid)
        if top is None:
            return QModelIndex()
        for g in range(top.rowCount()):
            group = top.child(g)
            for r in range(group.rowCount()):
                item = group.child(r)
                if item.data(MODULE_ROLE) == name:
                    return item.index()
        return QModelIndex()

    # -- mirroring -------------------------------------------------------------------
    def _mirror(self, cid: int) -> None:
        top = self.connection_item(cid)
        source = self._sources.get(cid)
        if top is None or source is None:
            return
        if top.rowCount():
            top.removeRows(0, top.rowCount())
        groups: list[QStandardItem] = []
        for g in range(source.rowCount()):
            gindex = source.index(g, 0)
            group = QStandardItem(str(gindex.data()))
            group.setEditable(False)
            group.setSelectable(False)
            group.setData(cid, CONNECTION_ROLE)
            children: list[QStandardItem] = []
            for r in range(source.rowCount(gindex)):
                mindex = source.index(r, 0, gindex)
                info = source.module_at(mindex)
                if info is None:
                    continue
                item = QStandardItem(info.label)
                item.setEditable(False)
                item.setToolTip(str(mindex.data(Qt.ItemDataRole.ToolTipRole)))
                item.setData(info.name, MODULE_ROLE)
                item.setData(cid, CONNECTION_ROLE)
                item.setSelectable(info.entity)
                item.setEnabled(info.entity)
                children.append(item)
            if children:
                group.appendRows(children)
            groups.append(group)
        if groups:
            top.appendRows(groups)
