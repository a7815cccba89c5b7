"""The module list on the left, with a filter box; selecting a module opens it."""

from __future__ import annotations

from PySide6.QtCore import QItemSelection, QModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QLineEdit, QTreeView, QVBoxLayout, QWidget

from crmdesk.ui.models.modules import MODULE_ROLE, ModuleTreeModel


class ModuleTree(QWidget):
    #: An entity module was selected (its API name).
    module_selected = Signal(str)

    def __init__(self, model: ModuleTreeModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
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
        model.modelReset.connect(self.view.expandAll)
        self.view.selectionModel().selectionChanged.connect(self._selection_changed)

    def select_module(self, name: str) -> bool:
        index = self.proxy.mapFromSource(self.model.index_of(name))
        if not index.isValid():
            return False
        self.view.setCurrentIndex(index)
        return True

    def selected_module(self) -> str | None:
        index = self.view.currentIndex()
        name = index.data(MODULE_ROLE) if index.isValid() else None
        return name if isinstance(name, str) else None

    def _filter_changed(self, text: str) -> None:
        self.proxy.setFilterFixedString(text)
        self.view.expandAll()

    def _select_first_match(self) -> None:
        for g in range(self.proxy.rowCount()):
            group = self.proxy.index(g, 0)
            for r in range(self.proxy.rowCount(group)):
                index = self.proxy.index(r, 0, group)
                if index.flags() & Qt.ItemFlag.ItemIsSelectable:
                    self.view.setCurrentIndex(index)
                    self.view.setFocus()
                    return

    def _selection_changed(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        indexes = selected.indexes()
        if not indexes:
            return
        name = indexes[0].data(MODULE_ROLE)
        if isinstance(name, str):
            self.module_selected.emit(name)

    def current(self) -> QModelIndex:
        return self.view.currentIndex()
