"""The record list: server-side sort on header clicks, prefetch before the end."""

from __future__ import annotations

from PySide6.QtCore import QItemSelection, QModelIndex, Qt, QTimer, Signal
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

from crmdesk.core.schema import FieldType
from crmdesk.ui.models.records import RecordTableModel

#: Starting widths per field type, in characters.
_WIDTHS = {
    FieldType.TEXT: 16,
    FieldType.EMAIL: 26,
    FieldType.PHONE: 17,
    FieldType.URL: 26,
    FieldType.ENUM: 13,
    FieldType.MULTIENUM: 20,
    FieldType.DATE: 11,
    FieldType.DATETIME: 16,
    FieldType.CURRENCY: 16,
    FieldType.DECIMAL: 12,
    FieldType.INT: 9,
    FieldType.BOOL: 7,
    FieldType.RELATE: 20,
}
#: The first column names the record: give it room.
_FIRST_COLUMN = 28


class RecordTableView(QTableView):
    #: The user moved to a record (its id).
    record_selected = Signal(str)

    def __init__(self, model: RecordTableModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._model = model
        self.setModel(model)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.setShowGrid(False)
        self.setTabKeyNavigation(False)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        header = self.horizontalHeader()
        header.setSectionsMovable(True)
        header.setHighlightSections(False)
        header.setSortIndicatorClearable(True)
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        header.setStretchLastSection(True)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.setSortingEnabled(True)
        self._prefetch = QTimer(self)
        self._prefetch.setSingleShot(True)
        self._prefetch.setInterval(0)
        self._prefetch.timeout.connect(self._maybe_prefetch)
        self.verticalScrollBar().valueChanged.connect(self._prefetch.start)
        model.rowsInserted.connect(self._prefetch.start)
        model.modelReset.connect(self._columns_reset)
        self.selectionModel().selectionChanged.connect(self._selection_changed)

    def reset_sort(self) -> None:
        """Back to the server's order, without asking the model to reload."""
        self.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)

    def last_visible_row(self) -> int:
        row = self.rowAt(self.viewport().height() - 1)
        return self._model.rowCount() - 1 if row < 0 else row

    def _maybe_prefetch(self) -> None:
        if self._model.wants_prefetch(self.last_visible_row()):
            self._model.fetchMore(QModelIndex())

    def _columns_reset(self) -> None:
        char = self.fontMetrics().averageCharWidth()
        header = self.horizontalHeader()
        for col, fdef in enumerate(self._model.columns):
            chars = _FIRST_COLUMN if col == 0 else _WIDTHS.get(fdef.type, 16)
            header.resizeSection(col, char * chars + 16)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)

    def _selection_changed(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        rows = {i.row() for i in selected.indexes()}
        if len(rows) == 1:
            self.record_selected.emit(self._model.record_id(rows.pop()))
