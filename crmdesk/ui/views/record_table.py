"""The record list: server-side sort on header clicks, prefetch before the end.

With inline editing on (:class:`crmdesk.ui.forms.inline.InlineEditing`) the view
also shows an edit bar over its bottom edge when a cell failed to save, with
Retry and Revert (also on the cell's context menu and as shortcuts).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import (
    QEvent,
    QItemSelection,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QPointF,
    QRect,
    QRectF,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import (
    QFont,
    QFontMetrics,
    QFontMetricsF,
    QKeyEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
    QRegion,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
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
_ENABLED = QStyle.StateFlag.State_Enabled.value
#: Alignments as plain ints: ``drawText`` takes an int, and converting a flag costs a call.
_LEFT_INT = (Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter).value
_RIGHT_INT = (Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter).value


#: Styles whose item-view row and cell backgrounds are QCommonStyle's (a fill of the
#: alternate base colour on odd rows, nothing on even ones): the view paints plain cells
#: of these itself (see :meth:`RecordTableView.paintEvent`).
_OWN_PAINT_STYLES = frozenset({"fusion", "windows"})


#: A text whose summed character advances take at most this share of a cell (less two
#: pixels) fits without measuring: kerning and hinting move a line's width by far less.
_FIT_SHARE = 0.9
#: The characters whose advances are tabled: Latin-1 and Latin Extended-A.
_TABLED = "".join(chr(c) for c in range(0x20, 0x7F)) + "".join(chr(c) for c in range(0xA0, 0x180))
_ADVANCES: dict[tuple[str, int], dict[str, float]] = {}


def _advances(font: QFont, metrics: QFontMetrics) -> dict[str, float]:
    """Each tabled character's advance in ``font`` (as ``metrics`` measures it), worked out
    once per font."""
    key = (font.key(), round(metrics.fontDpi()))
    table = _ADVANCES.get(key)
    if table is None:
        exact = QFontMetricsF(metrics)
        table = _ADVANCES[key] = {ch: exact.horizontalAdvance(ch) for ch in _TABLED}
    return table


def _baseline(painter: QPainter, metrics: QFontMetrics, height: int) -> float:
    """Where ``drawText(rect, AlignVCenter, ...)`` puts the baseline in a row of ``height``."""
    box = painter.boundingRect(QRectF(0, 0, 4096, height), _LEFT_INT, "Xg")
    return box.top() + QFontMetricsF(painter.font()).ascent()


class _PaintContext:
    """What every plain cell of one paint of the view shares, worked out once per paint.

    The view fills in what it knows (selection, current cell, rows, alignments); the first
    plain cell painted fills in the rest from its style option (pen, font metrics, elision).
    """

    __slots__ = (
        "aligns",
        "current",
        "elide",
        "favorites",
        "group",
        "has_special",
        "margin",
        "metrics",
        "model",
        "pen",
        "ranges",
        "slow",
    )

    def __init__(self, view: RecordTableView, model: RecordTableModel) -> None:
        current = view.currentIndex()
        focus = current.isValid() and (view.hasFocus() or view.viewport().hasFocus())
        #: The focused cell, which the standard path paints (with its focus frame).
        self.current = (current.row(), current.column()) if focus else None
        selection = view.selectionModel().selection()
        #: Selected cells as (top, bottom, left, right): painted the standard way.
        ranges = (selection.at(i) for i in range(selection.count()))
        self.ranges = [(r.top(), r.bottom(), r.left(), r.right()) for r in ranges]
        self.model = model
        self.aligns = tuple(_RIGHT_INT if f.type in NUMERIC else _LEFT_INT for f in model.columns)
        self.favorites = model.favorites_on
        #: Every cell the standard way: right-to-left text, or edits pending in the model.
        self.slow = (
            view.layoutDirection() != Qt.LayoutDirection.LeftToRight or model.has_pending_edits()
        )
        #: Whether any cell at all is special (else no cell needs asking).
        self.has_special = bool(self.ranges) or self.current is not None or self.favorites
        self.pen: QPen | None = None
        self.group = QPalette.ColorGroup.Normal
        self.metrics: QFontMetrics | None = None
        self.elide = Qt.TextElideMode.ElideRight
        self.margin = 3

    def special(self, row: int, col: int) -> bool:
        """Is the cell one the standard path paints (selected, focused, starred)?"""
        if self.slow or (col == 0 and self.favorites) or (row, col) == self.current:
            return True
        for top, bottom, left, right in self.ranges:
            if top <= row <= bottom and left <= col <= right:
                return True
        return False

    def complete(self, option: QStyleOptionViewItem, margin: int) -> None:
        state = option.state.value
        if not state & _ENABLED:
            group = QPalette.ColorGroup.Disabled
        elif state & _ACTIVE:
            group = QPalette.ColorGroup.Normal
        else:
            group = QPalette.ColorGroup.Inactive
        self.group = group
        self.pen = QPen(option.palette.color(group, QPalette.ColorRole.Text))
        self.metrics = QFontMetrics(option.fontMetrics)  # a copy: the option dies
        self.elide = option.textElideMode
        self.margin = margin


class RecordCellDelegate(QStyledItemDelegate):
    """Paints a plain cell (text only) without the standard path's seven model calls.

    The standard delegate asks the Python model for seven roles per cell (each a trip
    from C++ into Python) and lays the text out twice; in paint profiles of a 100-row
    first page that was most of the time.  A cell that is plain (not selected, not
    focused, no edit pending in the model, no favorite star) is drawn here with the same
    margins, elision, alignment and colour, pixel for pixel; anything else goes the
    standard way.  Delegates for editing derive from this one to keep the fast paint.

    During a paint of a :class:`RecordTableView` (between :meth:`begin_paint` and
    :meth:`end_paint`) what all cells share is worked out once, not per cell: a plain
    cell then costs two index calls, one width measure and one ``drawText``.
    """

    def __init__(self, model: RecordTableModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._model = model
        self._style: QStyle | None = None
        self._margin = 3
        self._paint: _PaintContext | None = None

    def begin_paint(self, view: RecordTableView) -> _PaintContext:
        """The view starts painting its cells (see :meth:`RecordTableView.paintEvent`)."""
        self._paint = _PaintContext(view, self._model)
        return self._paint

    def end_paint(self) -> None:
        self._paint = None

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        """QStyledItemDelegate.paint: plain cells directly, the rest the standard way."""
        ctx = self._paint
        if ctx is None:
            self._paint_alone(painter, option, index)
            return
        row, col = index.row(), index.column()
        if ctx.special(row, col):
            super().paint(painter, option, index)
            return
        text = ctx.model.row_texts(row)[col]
        if not text:
            return
        metrics = ctx.metrics
        if metrics is None:  # the first plain cell of this paint
            ctx.complete(option, self.text_margin(option.widget))
            metrics = ctx.metrics
            assert metrics is not None
        margin = ctx.margin
        rect = option.rect.adjusted(margin, 0, -margin, 0)
        width = rect.width()
        if metrics.horizontalAdvance(text) > width:
            text = metrics.elidedText(text, ctx.elide, width)
        painter.setPen(ctx.pen)
        painter.drawText(rect, ctx.aligns[col], text)

    def _paint_alone(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        """A cell painted outside a paint of the view (a drag pixmap, another view)."""
        state = option.state.value
        model = self._model
        col = index.column()
        if (
            state & _SPECIAL_STATE
            or option.direction != Qt.LayoutDirection.LeftToRight
            or (col == 0 and model.favorites_on)
            or model.has_pending_edits()
        ):
            super().paint(painter, option, index)
            return
        text = model.text(index.row(), col)
        if not text:
            return
        margin = self.text_margin(option.widget)
        rect = option.rect.adjusted(margin, 0, -margin, 0)
        metrics = option.fontMetrics
        if metrics.horizontalAdvance(text) > rect.width():
            text = metrics.elidedText(text, option.textElideMode, rect.width())
        if not state & _ENABLED:
            group = QPalette.ColorGroup.Disabled
        elif state & _ACTIVE:
            group = QPalette.ColorGroup.Normal
        else:
            group = QPalette.ColorGroup.Inactive
        painter.setPen(option.palette.color(group, QPalette.ColorRole.Text))
        numeric = model.columns[col].type in NUMERIC
        painter.drawText(rect, _RIGHT_INT if numeric else _LEFT_INT, text)

    def text_margin(self, widget: QWidget | None) -> int:
        """The text margin of QCommonStyle's item text, for the widget's style."""
        style = widget.style() if widget is not None else None
        if style is not self._style:
            self._style = style
            metric = QStyle.PixelMetric.PM_FocusFrameHMargin
            self._margin = style.pixelMetric(metric, None, widget) + 1 if style else 3
        return self._margin


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
    #: The user dragged a column to another place or changed a column's width:
    #: (field names in the order shown, {field name: width} of the columns sized by hand).
    layout_edited = Signal(tuple, dict)
    #: The header's context menu was asked for, at this global position.
    header_menu_requested = Signal(QPoint)

    def __init__(self, model: RecordTableModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._model = model
        self.setModel(model)
        self.cell_delegate = RecordCellDelegate(model, self)
        self.setItemDelegate(self.cell_delegate)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
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
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header.customContextMenuRequested.connect(
            lambda pos: self.header_menu_requested.emit(header.mapToGlobal(pos))
        )
        header.sectionMoved.connect(self._section_moved)
        header.sectionResized.connect(self._section_resized)
        #: A column's width the user chose (by field name), or None: the type's default.
        self.width_of: Callable[[str], int | None] = lambda _name: None
        #: Widths the user set by hand since the columns were last reset (by field name).
        self._hand_widths: dict[str, int] = {}
        self._laying_out = False
        #: A mouse button is down on the header: a resize now is the user's.
        self._header_pressed = False
        #: The user resized a column during the press: reported when the button is up.
        self._resized_by_hand = False
        header.viewport().installEventFilter(self)
        self.setSortingEnabled(True)
        self._prefetch = QTimer(self)
        self._prefetch.setSingleShot(True)
        self._prefetch.setInterval(0)
        self._prefetch.timeout.connect(self._maybe_prefetch)
        self.verticalScrollBar().valueChanged.connect(self._prefetch.start)
        model.rowsInserted.connect(self._prefetch.start)
        model.modelReset.connect(self._columns_reset)
        model.sort_refused.connect(self._show_sort)
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

    def paintEvent(self, event: QPaintEvent) -> None:
        """QTableView.paintEvent: plain cells painted here in one pass, the rest by Qt.

        QTableView paints cell by cell: it prepares a style option, asks the model for
        the cell's flags and calls the delegate, each a trip from C++ into Python, and
        the delegate lays the text out in a rectangle.  On a first page that was most of
        the time from the rows' arrival to their showing.  Here the plain cells (see
        :class:`RecordCellDelegate`) are painted in one Python loop: the alternate-row
        background the style would fill, then the text at its baseline, pixel for pixel
        what the standard path paints.  The other cells (selected, focused, starred) are
        handed to QTableView with a paint event covering just them.  Styles other than
        Fusion and Windows (whose item backgrounds may differ), style sheets, a grid,
        word wrap, right-to-left text and pending edits take the standard path.
        """
        delegate = self.itemDelegate()
        if not isinstance(delegate, RecordCellDelegate):
            super().paintEvent(event)
            return
        ctx = delegate.begin_paint(self)
        try:
            if ctx.slow or not self._paints_cells_itself():
                super().paintEvent(event)
                return
            rest = self._paint_plain_cells(event.region(), ctx, delegate)
            if not rest.isEmpty():
                super().paintEvent(QPaintEvent(rest))
        finally:
            delegate.end_paint()

    def _paints_cells_itself(self) -> bool:
        if self.showGrid() or self.wordWrap() or self.styleSheet():
            return False
        app = QApplication.instance()
        if isinstance(app, QApplication) and app.styleSheet():
            return False
        return self.style().name().lower() in _OWN_PAINT_STYLES

    def _paint_plain_cells(
        self, region: QRegion, ctx: _PaintContext, delegate: RecordCellDelegate
    ) -> QRegion:
        """Paint the plain cells in ``region``; return the region of the cells left to Qt."""
        rest = QRegion()
        model = self._model
        count = model.rowCount()
        bounds = region.boundingRect()
        first = self.rowAt(bounds.top())
        if count == 0 or first < 0:
            return rest
        last = self.rowAt(bounds.bottom())
        last = count - 1 if last < 0 else last
        header = self.horizontalHeader()
        lo = header.visualIndexAt(bounds.left())
        if lo < 0:
            return rest
        hi = header.visualIndexAt(bounds.right())
        hi = header.count() - 1 if hi < 0 else hi
        aligns = ctx.aligns
        columns = []
        for visual in range(lo, hi + 1):
            col = header.logicalIndex(visual)
            if not header.isSectionHidden(col):
                columns.append(
                    (col, header.sectionViewportPosition(col), header.sectionSize(col), aligns[col])
                )
        option = QStyleOptionViewItem()
        self.initViewItemOption(option)
        ctx.complete(option, delegate.text_margin(self))
        metrics, margin, elide = ctx.metrics, ctx.margin, ctx.elide
        texts_of = model.row_texts
        assert metrics is not None
        advances = _advances(option.font, metrics)
        assert ctx.pen is not None
        alternate = self.alternatingRowColors()
        back = option.palette.brush(ctx.group, QPalette.ColorRole.AlternateBase)
        check = ctx.has_special
        baselines: dict[int, float] = {}
        painter = QPainter(self.viewport())
        try:
            painter.setFont(option.font)
            painter.setPen(ctx.pen)
            for row in range(first, last + 1):
                y = self.rowViewportPosition(row)
                height = self.rowHeight(row)
                if height <= 0:
                    continue
                baseline = baselines.get(height)
                if baseline is None:
                    baseline = baselines[height] = _baseline(painter, metrics, height)
                texts = texts_of(row)
                odd = alternate and row & 1
                for col, x, width, align in columns:
                    if check and ctx.special(row, col):
                        rest = rest.united(QRect(x, y, width, height))
                        continue
                    if odd:
                        painter.fillRect(x, y, width, height, back)
                    text = texts[col]
                    if not text:
                        continue
                    room = width - 2 * margin
                    try:  # most texts fit by far: no need to lay them out to know
                        fits = sum(map(advances.__getitem__, text)) <= room * _FIT_SHARE - 2
                    except KeyError:  # a character outside the table
                        fits = False
                    if not fits and metrics.horizontalAdvance(text) > room:
                        text = metrics.elidedText(text, elide, room)
                    if align == _LEFT_INT:
                        painter.drawText(QPointF(x + margin, y + baseline), text)
                    else:
                        painter.drawText(QRect(x + margin, y, room, height), align, text)
        finally:
            painter.end()
        return rest

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
        if not self.selectionModel().isRowSelected(index.row()):  # keep a multi-row selection
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
        self._laying_out = True
        self._hand_widths = {}
        self._resized_by_hand = False
        try:
            for col, fdef in enumerate(self._model.columns):
                width = self.width_of(fdef.name)
                if width is None:
                    chars = _FIRST_COLUMN if col == 0 else _WIDTHS.get(fdef.type, 16)
                    width = char * chars + 16
                else:
                    self._hand_widths[fdef.name] = width
                header.resizeSection(col, width)
            header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        finally:
            self._laying_out = False
        self._show_sort()

    def _show_sort(self) -> None:
        """Put the header's sort arrow on the sorted column (columns come in another
        order after a change of columns), without asking the model to sort again."""
        keys = self._model.sort_keys
        col = self._model.column_of(keys[0].field) if keys else -1
        if keys and col < 0:
            return
        order = (
            Qt.SortOrder.DescendingOrder
            if keys and keys[0].descending
            else Qt.SortOrder.AscendingOrder
        )
        header = self.horizontalHeader()
        if header.sortIndicatorSection() == col and (
            col < 0 or header.sortIndicatorOrder() == order
        ):
            return
        blocked = header.blockSignals(True)
        try:
            header.setSortIndicator(col, order)
        finally:
            header.blockSignals(blocked)
        header.viewport().update()

    # -- the columns as the user arranged them -------------------------------------------
    def visual_fields(self) -> tuple[str, ...]:
        """The shown columns' field names, left to right as the header shows them."""
        header = self.horizontalHeader()
        columns = self._model.columns
        logical = (header.logicalIndex(v) for v in range(header.count()))
        return tuple(columns[c].name for c in logical if 0 <= c < len(columns))

    def arrange(self, fields: tuple[str, ...]) -> None:
        """Show the columns of ``fields`` in that order by moving header sections (the
        model keeps its order; nothing loads)."""
        header = self.horizontalHeader()
        self._laying_out = True
        try:
            for visual, name in enumerate(fields):
                logical = self._model.column_of(name)
                if logical >= 0 and header.visualIndex(logical) != visual:
                    header.moveSection(header.visualIndex(logical), visual)
        finally:
            self._laying_out = False

    def hand_widths(self) -> dict[str, int]:
        """Widths of the columns sized by hand (or restored as such), by field name."""
        return dict(self._hand_widths)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """QObject.eventFilter: note when a mouse button is down on the header."""
        if watched is self.horizontalHeader().viewport():
            kind = event.type()
            if kind in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonDblClick):
                self._header_pressed = True
            elif kind == QEvent.Type.MouseButtonRelease:
                self._header_pressed = False
                if self._resized_by_hand:  # one report per drag, not one per pixel
                    self._resized_by_hand = False
                    QTimer.singleShot(0, self._report_layout)
        return super().eventFilter(watched, event)

    def _report_layout(self) -> None:
        self.layout_edited.emit(self.visual_fields(), self.hand_widths())

    def _section_moved(self, _logical: int, _old: int, _new: int) -> None:
        if not self._laying_out:  # QHeaderView moves a dragged section on the release
            self._report_layout()

    def _section_resized(self, logical: int, _old: int, new: int) -> None:
        header = self.horizontalHeader()
        columns = self._model.columns
        if self._laying_out or not self._header_pressed:
            return  # a reset, the view's own resizing: not a width the user chose
        if not 0 <= logical < len(columns) or new <= 0:
            return
        if header.stretchLastSection() and header.visualIndex(logical) == header.count() - 1:
            return  # the last column follows the view's width, not the user's hand
        self._hand_widths[columns[logical].name] = new
        self._resized_by_hand = True

    def _selection_changed(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        # Several rows (mass actions): the pane keeps the record it shows.
        rows = {i.row() for i in self.selectionModel().selectedRows()}
        if len(rows) == 1 and selected.count():
            self.record_selected.emit(self._model.record_id(rows.pop()))
