"""The tree on the left: each open connection with its modules, and a filter box.

Selecting a module emits :attr:`ModuleTree.module_selected` with the connection's
id and the module's API name; the window switches to that connection.  Right-click →
"Open in New Window" or a middle-click on a module emits :attr:`ModuleTree.open_in_window`
instead (the selection stays).
"""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import (
    QEvent,
    QItemSelection,
    QModelIndex,
    QObject,
    QPoint,
    QRectF,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QIcon, QMouseEvent, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLineEdit,
    QMenu,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from crmdesk.ui.models.modules import CONNECTION_ROLE, MODULE_ROLE, ConnectionTreeModel

#: A colour and a letter per CRM kind, for the connection nodes.
KIND_MARKS: dict[str, tuple[str, str]] = {
    "suitecrm": ("#6d3fa0", "S"),
    "sugarcrm": ("#d9262c", "Su"),
    "espocrm": ("#2f7fc1", "E"),
    "vtiger": ("#1f9d55", "V"),
}


@cache
def kind_icon(dialect: str, size: int = 32) -> QIcon:
    """A rounded square in the kind's colour with its initial (no image files needed)."""
    colour, letter = KIND_MARKS.get(dialect, ("#666666", dialect[:1].upper() or "?"))
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(colour))
        painter.drawRoundedRect(QRectF(1, 1, size - 2, size - 2), size / 5, size / 5)
        font = QFont()
        font.setBold(True)
        font.setPixelSize(int(size * (0.42 if len(letter) > 1 else 0.6)))
        painter.setFont(font)
        painter.setPen(QColor("white"))
        painter.drawText(pixmap.rect(), Qt.AlignmentFlag.AlignCenter, letter)
    finally:
        painter.end()
    return QIcon(pixmap)


class ModuleTree(QWidget):
    #: An entity module was selected: (connection id, module API name).
    module_selected = Signal(int, str)
    #: Open a module's list in a window of its own: (connection id, module API name).
    open_in_window = Signal(int, str)

    def __init__(self, model: ConnectionTreeModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        #: The connection ``select_module`` uses when none is named.
        self.current_connection: int | None = None
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(model)
        self.proxy.setRecursiveFilteringEnabled(True)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.filter = QLineEdit(self)
        self.filter.setPlaceholderText("Find module (Ctrl+L)")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self._filter_changed)
        self.filter.returnPressed.connect(self._select_first_match)
        self.view = QTreeView(self)
        self.view.setModel(self.proxy)
        self.view.setHeaderHidden(True)
        self.view.setUniformRowHeights(True)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setFocusProxy(self.view)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.filter)
        layout.addWidget(self.view)
        self.proxy.rowsInserted.connect(self._expand_inserted)
        self.view.selectionModel().selectionChanged.connect(self._selection_changed)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._context_menu)
        self.view.viewport().installEventFilter(self)

    def select_module(self, name: str, connection: int | None = None) -> bool:
        """Select ``name`` under ``connection`` (the current one by default)."""
        cid = self.current_connection if connection is None else connection
        if cid is None:
            return False
        index = self.proxy.mapFromSource(self.model.module_index(cid, name))
        if not index.isValid() or not index.flags() & Qt.ItemFlag.ItemIsSelectable:
            return False
        self.view.setCurrentIndex(index)
        return True

    def selected_module(self) -> tuple[int, str] | None:
        index = self.view.currentIndex()
        if not index.isValid():
            return None
        name, cid = index.data(MODULE_ROLE), index.data(CONNECTION_ROLE)
        return (cid, name) if isinstance(name, str) and isinstance(cid, int) else None

    def clear_selection(self) -> None:
        self.view.selectionModel().clearSelection()
        self.view.setCurrentIndex(QModelIndex())

    def _expand_inserted(self, parent: QModelIndex, first: int, last: int) -> None:
        """New connections and their module groups open expanded."""
        if parent.isValid():
            self.view.expand(parent)
        for row in range(first, last + 1):
            self.view.expand(self.proxy.index(row, 0, parent))

    def _filter_changed(self, text: str) -> None:
        self.proxy.setFilterFixedString(text)
        self.view.expandAll()

    def _first_selectable(self, parent: QModelIndex) -> QModelIndex:
        for row in range(self.proxy.rowCount(parent)):
            index = self.proxy.index(row, 0, parent)
            if index.flags() & Qt.ItemFlag.ItemIsSelectable:
                return index
            found = self._first_selectable(index)
            if found.isValid():
                return found
        return QModelIndex()

    def _select_first_match(self) -> None:
        index = self._first_selectable(QModelIndex())
        if index.isValid():
            self.view.setCurrentIndex(index)
            self.view.setFocus()

    def _selection_changed(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        indexes = selected.indexes()
        if not indexes:
            return
        name, cid = indexes[0].data(MODULE_ROLE), indexes[0].data(CONNECTION_ROLE)
        if isinstance(name, str) and isinstance(cid, int):
            self.module_selected.emit(cid, name)

    def module_at(self, pos: QPoint) -> tuple[int, str] | None:
        """(connection id, module) of the module row at ``pos`` (viewport coordinates)."""
        index = self.view.indexAt(pos)
        if not index.isValid() or not index.flags() & Qt.ItemFlag.ItemIsSelectable:
            return None
        name, cid = index.data(MODULE_ROLE), index.data(CONNECTION_ROLE)
        return (cid, name) if isinstance(name, str) and isinstance(cid, int) else None

    def _context_menu(self, pos: QPoint) -> None:
        target = self.module_at(pos)
        if target is None:
            return
        menu = QMenu(self)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        action = menu.addAction("Open in New Window")
        action.setObjectName("tree.open_in_window")
        action.setToolTip("Show this module's list in a window of its own (Ctrl+Shift+N)")
        action.triggered.connect(lambda: self.open_in_window.emit(*target))
        menu.popup(self.view.viewport().mapToGlobal(pos))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """QObject.eventFilter on the tree's viewport: a middle-click on a module opens it
        in a new window (and neither selects nor moves the current row)."""
        if (
            watched is self.view.viewport()
            and event.type() in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonRelease)
            and isinstance(event, QMouseEvent)
            and event.button() == Qt.MouseButton.MiddleButton
        ):
            target = self.module_at(event.position().toPoint())
            if target is None:
                return False
            if event.type() == QEvent.Type.MouseButtonRelease:
                self.open_in_window.emit(*target)
            return True
        return super().eventFilter(watched, event)

    def current(self) -> QModelIndex:
        return self.view.currentIndex()
