"""The record list: server-side sort on header clicks, prefetch before the end.

With inline editing on (:class:`crmdesk.ui.forms.inline.InlineEditing`) the view
also shows an edit bar over its bottom edge when a cell failed to save, with
Retry and Revert (also on the cell's context menu and as shortcuts).
"""

from __future__ import annotations

from PySide6.QtCore import (
    QItemSelection,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QKeyEvent, QPainter, QPalette, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QSizePolicy,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QWidget,
)

from crmdesk.core.schema import FieldType
from crmdesk.ui.format import NUMERIC
from crmdesk.ui.forms.actions import make_actions
from crmdesk.ui.models.records import EDIT_STATE_ROLE, RecordTableModel

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

#: Cells in these states are painted the standard (slower) way.
_SPECIAL_STATE = QStyle.StateFlag.State_Selected.value | QStyle.StateFlag.State_HasFocus.value
_ACTIVE = QStyle.StateFlag.State_Active.value
_LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


class RecordCellDelegate(QStyledItemDelegate):
    """Paints a plain cell (text only) without the standard path's seven model calls.

    The standard delegate asks the Python model for seven roles per cell (each a trip
    from C++ into Python) and lays the text out twice; in paint profiles of a 100-row
    first page that was most of the time.  A cell that is plain (not selected, not
    focused, no edit pending in the model, no favorite star) is drawn here with the same
    margins, elision, alignment and colour, pixel for pixel; anything else goes the
    standard way.  Delegates for editing derive from this one to keep the fast paint.
    """

    def __init__(self, model: RecordTableModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._model = model
        self._style: QStyle | None = None
        self._margin = 3

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        """QStyledItemDelegate.paint: plain cells directly, the rest the standard way."""
        state = option.state.value
        model = self._model
        col = index.column()
        if (
            state & _SPECIAL_STATE
            or option.direction != Qt.LayoutDirection.LeftToRight
            or (col == 0 and model.favorites_on)
            or model.pending_edits()
        ):
            super().paint(painter, option, index)
            return
        text = model.text(index.row(), col)
        if not text:
            return
        widget = option.widget
        style = widget.style() if widget is not None else None
        if style is not self._style:  # the text margin of QCommonStyle's item text
            self._style = style
            metric = QStyle.PixelMetric.PM_FocusFrameHMargin
            self._margin = style.pixelMetric(metric, None, widget) + 1 if style else 3
        margin = self._margin
        rect = option.rect.adjusted(margin, 0, -margin, 0)
        metrics = option.fontMetrics
        if metrics.horizontalAdvance(text) > rect.width():
            text = metrics.elidedText(text, option.textElideMode, rect.width())
        group = QPalette.ColorGroup.Normal if state & _ACTIVE else QPalette.ColorGroup.Inactive
        painter.setPen(option.palette.color(group, QPalette.ColorRole.Text))
        numeric = model.columns[col].type in NUMERIC
        painter.drawText(rect, _RIGHT if numeric else _LEFT, text)


class EditBar(QFrame):
    """ "Not saved: …  [Retry] [Revert]" over the bottom of the table."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("editBar")
        self.setStyleSheet(
            "#editBar { background: #fdecea; border: 1px solid #f5c2c0; border-radius: 3px; }"
        )
        self.text = QLabel()
        self.text.setTextFormat(Qt.TextFormat.PlainText)
        self.text.setWordWrap(True)
        self.text.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.retry = QPushButton("&Retry")
        self.revert = QPushButton("Re&vert")
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 8, 4)
        row.addWidget(self.text, 1)
        row.addWidget(self.retry)
        row.addWidget(self.revert)
        self.key: tuple[str, str] | None = None
        self.hide()


class RecordTableView(QTableView):
    #: The user moved to a record (its id).
    record_selected = Signal(str)
    #: Retry / revert a cell whose edit was not saved: (record id, field name).
    retry_edit_requested = Signal(str, str)
    revert_edit_requested = Signal(str, str)

    def __init__(self, model: RecordTableModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._model = model
        self.setModel(model)
        self.cell_delegate = RecordCellDelegate(model, self)
        self.setItemDelegate(self.cell_delegate)
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
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.edit_bar = EditBar(self)
        self.edit_bar.retry.clicked.connect(self._retry_bar)
        self.edit_bar.revert.clicked.connect(self._revert_bar)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._context_menu)
        self.cell_actions = make_actions(
            self,
            {"cell.retry": self.retry_current, "cell.revert": self.revert_current},
            scope="cell",
            context=Qt.ShortcutContext.WidgetShortcut,
        )

    @property
    def record_model(self) -> RecordTableModel:
        return self._model

    # -- cells that failed to save -------------------------------------------------------
    def show_edit_error(self, record_id: str, field_name: str, text: str) -> None:
        self.edit_bar.key = (record_id, field_name)
        self.edit_bar.text.setText(text)
        self.edit_bar.show()
        self.edit_bar.raise_()
        self._place_bar()

    def hide_edit_error(self) -> None:
        self.edit_bar.key = None
        self.edit_bar.hide()

    def _place_bar(self) -> None:
        vp = self.viewport().geometry()
        width = vp.width() - 8
        height = self.edit_bar.heightForWidth(width)
        if height < 0:
            height = self.edit_bar.sizeHint().height()
        self.edit_bar.setGeometry(vp.x() + 4, vp.bottom() - height - 3, width, height)

    def resizeEvent(self, event: QResizeEvent) -> None:
        """QWidget.resizeEvent: keep the edit bar along the bottom."""
        super().resizeEvent(event)
        if self.edit_bar.isVisible():
            self._place_bar()

    def _retry_bar(self) -> None:
        if self.edit_bar.key is not None:
            self.retry_edit_requested.emit(*self.edit_bar.key)

    def _revert_bar(self) -> None:
        if self.edit_bar.key is not None:
            self.revert_edit_requested.emit(*self.edit_bar.key)

    def _cell_key(self, index: QModelIndex) -> tuple[str, str] | None:
        if not index.isValid() or not index.data(EDIT_STATE_ROLE):
            return None
        fdef = self._model.columns[index.column()]
        return self._model.record_id(index.row()), fdef.name

    def retry_current(self) -> None:
        key = self._cell_key(self.currentIndex())
        if key is not None:
            self.retry_edit_requested.emit(*key)

    def revert_current(self) -> None:
        key = self._cell_key(self.currentIndex())
        if key is not None:
            self.revert_edit_requested.emit(*key)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """QAbstractItemView.keyPressEvent: Esc on a cell that failed to save reverts it."""
        if event.key() == Qt.Key.Key_Escape and self.state() != self.State.EditingState:
            key = self._cell_key(self.currentIndex())
            if key is not None:
                self.revert_edit_requested.emit(*key)
                event.accept()
                return
        super().keyPressEvent(event)

    def _context_menu(self, pos: QPoint) -> None:
        index = self.indexAt(pos)
        key = self._cell_key(index)
        extra = [a for a in self.actions() if a.objectName().startswith("list.")]
        if key is None and not extra:
            return
        self.setCurrentIndex(index)
        menu = QMenu(self)
        if key is not None:
            menu.addAction(self.cell_actions["cell.retry"])
            menu.addAction(self.cell_actions["cell.revert"])
        for action in extra:
            if action.isVisible():
                menu.addAction(action)
        menu.popup(self.viewport().mapToGlobal(pos))
        self.context_menu = menu

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
