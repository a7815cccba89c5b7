"""The filter bar over the record list: a quick text box, an "Add condition" row
builder, the conditions as removable chips, All / Any, and the controller that
hands the filter to the browser.

The bar only edits a :class:`~crmdesk.ui.filters.model.FilterSpec`; the
:class:`FilterController` turns it into a core filter tree, makes the list reload
server-side, and puts the last filter the CRM accepted back when the CRM (or the
capability check before it) refuses the new one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime, time

from PySide6.QtCore import QDate, QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeyEvent, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QFrame,
    QHBoxLayout,
    QLineEdit,
    QMenu,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from crmdesk.core.backend import Capabilities
from crmdesk.core.errors import CrmError, NotFound, Unsupported
from crmdesk.core.query import NULLARY, Condition, Op, SavedFilter
from crmdesk.core.records import Value
from crmdesk.core.schema import FieldDef, FieldType, ModuleDef
from crmdesk.ui.browser import Browser
from crmdesk.ui.filters.model import (
    NOT_OFFERED,
    PERIODS,
    FilterSpec,
    Mode,
    build,
    describe,
    favorites_offered,
    filterable_fields,
    offered_ops,
    op_label,
    parse_list,
    parse_scalar,
    quick_fields,
    quick_hint,
    quick_op,
    with_condition,
    without,
)
from crmdesk.ui.format import plain_tip
from crmdesk.ui.models.records import RecordTableModel
from crmdesk.ui.views.detail import plain_label

#: Milliseconds of quiet typing before the quick filter reloads the list.
DEBOUNCE_MS = 300
#: The saved-filter choice's first entry.
NO_SAVED_FILTER = "No saved filter"
_OP_ROLE = Qt.ItemDataRole.UserRole


class QuickEdit(QLineEdit):
    """The quick text box: Esc clears it (before the window's Esc = revert sees the key)."""

    escaped = Signal()

    def event(self, e: QEvent) -> bool:
        """QObject.event: claim Esc as a ShortcutOverride while there is text to clear."""
        if (
            e.type() == QEvent.Type.ShortcutOverride
            and isinstance(e, QKeyEvent)
            and e.key() == Qt.Key.Key_Escape
            and self.text()
        ):
            e.accept()
            return True
        return super().event(e)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """QWidget.keyPressEvent: Esc clears."""
        if event.key() == Qt.Key.Key_Escape and self.text():
            self.clear()
            self.escaped.emit()
            return
        super().keyPressEvent(event)


class MultiSelect(QToolButton):
    """A drop-down of checkable options (IN / NOT IN on a picklist)."""

    def __init__(self, fdef: FieldDef, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        menu = QMenu(self)
        self.options: list[QAction] = []
        for opt in fdef.options:
            action = menu.addAction(opt.label or opt.key)
            action.setCheckable(True)
            action.setData(opt.key)
            action.toggled.connect(self._show)
            self.options.append(action)
        self.setMenu(menu)
        self._show()

    def set_checked(self, keys: set[str]) -> None:
        for action in self.options:
            action.setChecked(action.data() in keys)

    def checked(self) -> tuple[str, ...]:
        return tuple(str(a.data()) for a in self.options if a.isChecked())

    def _show(self) -> None:
        names = [a.text() for a in self.options if a.isChecked()]
        self.setText(", ".join(names) if names else "Choose values…")


class ValueEditor(QWidget):
    """The value part of a condition, by field type and operator."""

    #: Enter was pressed in a text editor.
    submitted = Signal()

    def __init__(self, fdef: FieldDef, op: Op, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.fdef, self.op = fdef, op
        self.widgets: list[QWidget] = []
        self._row = layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        if op in NULLARY:
            pass
        elif op in (Op.IN, Op.NOT_IN):
            self._add(self._many())
        elif op is Op.BETWEEN:
            self._add(self._one())
            layout.addWidget(plain_label("and"))
            self._add(self._one())
        elif op is Op.PERIOD:
            self._add(self._periods())
        else:
            self._add(self._one())

    def _add(self, widget: QWidget) -> None:
        self.widgets.append(widget)
        self._row.addWidget(widget)
        if isinstance(widget, QLineEdit):
            widget.returnPressed.connect(self.submitted)

    def _one(self) -> QWidget:
        t = self.fdef.type
        if t is FieldType.BOOL:
            box = QCheckBox("yes")
            box.setChecked(True)
            return box
        if t in (FieldType.DATE, FieldType.DATETIME):
            edit = QDateEdit(QDate.currentDate())
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            return edit
        if self.fdef.options and t in (FieldType.ENUM, FieldType.MULTIENUM):
            combo = QComboBox()
            for opt in self.fdef.options:
                combo.addItem(opt.label or opt.key, opt.key)
            return combo
        line = QLineEdit()
        line.setPlaceholderText(
            "number" if t in (FieldType.INT, FieldType.DECIMAL, FieldType.CURRENCY) else "value"
        )
        return line

    @staticmethod
    def _periods() -> QComboBox:
        combo = QComboBox()
        combo.setAccessibleName("Period")
        combo.setToolTip("Worked out each time the list loads: “today” stays today")
        group = ""
        for period in PERIODS:
            # days, weeks, months, quarters, years, rolling days: a separator between
            kind = period.value.rsplit("_", 1)[-1] if "_" in period.value else "day"
            if group and kind != group:
                combo.insertSeparator(combo.count())
            group = kind
            combo.addItem(period.label, period.value)
        combo.setMaxVisibleItems(combo.count())
        return combo

    def _many(self) -> QWidget:
        if self.fdef.options:
            return MultiSelect(self.fdef)
        line = QLineEdit()
        line.setPlaceholderText("values, separated by commas")
        return line

    def focus_widget(self) -> QWidget | None:
        return self.widgets[0] if self.widgets else None

    def value(self) -> Value | tuple[Value, ...]:
        """The typed value; ``ValueError`` with a message to show when it is not one."""
        if self.op in NULLARY:
            return None
        if self.op in (Op.IN, Op.NOT_IN):
            w = self.widgets[0]
            if isinstance(w, MultiSelect):
                keys = w.checked()
                if not keys:
                    raise ValueError(f"Choose one or more values of {self.fdef.label}.")
                return keys
            assert isinstance(w, QLineEdit)
            return parse_list(self.fdef, w.text())
        values = [self._read(w, high=i == 1) for i, w in enumerate(self.widgets)]
        if self.op is Op.BETWEEN:
            return (values[0], values[1])
        return values[0]

    def _read(self, w: QWidget, *, high: bool) -> Value:
        if isinstance(w, QCheckBox):
            return w.isChecked()
        if isinstance(w, QDateEdit):
            d: date = w.date().toPython()  # type: ignore[assignment]
            if self.fdef.type is FieldType.DATETIME:
                # A day of a datetime field: from its start (to its end, as BETWEEN's upper bound).
                return datetime.combine(d, time.max if high else time.min).astimezone()
            return d
        if isinstance(w, QComboBox):
            return str(w.currentData())
        assert isinstance(w, QLineEdit)
        return parse_scalar(self.fdef, w.text())


class ConditionBuilder(QFrame):
    """field ▾  operator ▾  value  [Add] [×]: one condition being put together."""

    added = Signal(object)  # Condition
    cancelled = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("conditionBuilder")
        self.setStyleSheet(
            "#conditionBuilder { background: palette(alternate-base); border-radius: 3px; }"
        )
        self.fields = QComboBox()
        self.fields.setMaxVisibleItems(20)
        self.fields.setAccessibleName("Field")
        self.ops = QComboBox()
        self.ops.setAccessibleName("Operator")
        self.ops.setModel(QStandardItemModel(self.ops))
        self.add = QPushButton("Add")
        self.add.setDefault(False)
        self.add.setAutoDefault(False)
        self.close_button = QToolButton()
        self.close_button.setText("✕")
        self.close_button.setToolTip("Stop adding a condition (Esc)")
        self.error = plain_label()
        self.error.setStyleSheet("color: #b00020;")
        self.error.hide()
        self.value_host = QHBoxLayout()
        self.value_host.setContentsMargins(0, 0, 0, 0)
        self.editor: ValueEditor | None = None
        self._mdef: ModuleDef | None = None
        self._caps = Capabilities()
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(4)
        row.addWidget(self.fields)
        row.addWidget(self.ops)
        row.addLayout(self.value_host, 1)
        row.addWidget(self.add)
        row.addWidget(self.close_button)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 4, 6, 4)
        outer.setSpacing(2)
        outer.addLayout(row)
        outer.addWidget(self.error)
        self.fields.currentIndexChanged.connect(self._field_changed)
        self.ops.currentIndexChanged.connect(self._op_changed)
        self.add.clicked.connect(self._add)
        self.close_button.clicked.connect(self.cancelled)

    def set_module(self, mdef: ModuleDef, caps: Capabilities) -> None:
        self._mdef, self._caps = mdef, caps
        self.fields.blockSignals(True)
        self.fields.clear()
        for fdef in filterable_fields(mdef):
            self.fields.addItem(fdef.label, fdef.name)
        self.fields.blockSignals(False)
        self.fields.setCurrentIndex(0 if self.fields.count() else -1)
        self._field_changed()

    def event(self, e: QEvent) -> bool:
        """QObject.event: claim Esc as a ShortcutOverride, so it closes the builder instead
        of reaching the window's Esc (revert the record)."""
        if (
            e.type() == QEvent.Type.ShortcutOverride
            and isinstance(e, QKeyEvent)
            and e.key() == Qt.Key.Key_Escape
        ):
            e.accept()
            return True
        return super().event(e)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """QWidget.keyPressEvent: Esc closes the builder; Enter on a closed drop-down (a
        period, an option) adds the condition as Enter in a text value does."""
        if event.key() == Qt.Key.Key_Escape:
            self.cancelled.emit()
            return
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.add.isEnabled():
            focused = self.focusWidget()
            # A text value's Enter was handled (returnPressed) before it came up here.
            if not (
                isinstance(focused, QLineEdit)
                and self.editor is not None
                and focused in self.editor.widgets
            ):
                self._add()
            return
        super().keyPressEvent(event)

    @property
    def field(self) -> FieldDef | None:
        name = self.fields.currentData()
        return self._mdef.field(name) if self._mdef is not None and name else None

    @property
    def op(self) -> Op | None:
        data = self.ops.currentData(_OP_ROLE)
        return Op(data) if data else None

    def select(self, field_name: str, op: Op | None = None) -> None:
        """Choose a field (and an operator) as if the user had."""
        index = self.fields.findData(field_name)
        if index < 0:
            raise KeyError(field_name)
        self.fields.setCurrentIndex(index)
        if op is not None:
            i = self.ops.findData(op.value, _OP_ROLE)
            item = self.op_item(op)
            if i < 0 or item is None or not item.isEnabled():
                raise ValueError(f"{op} is not offered for {field_name}")
            self.ops.setCurrentIndex(i)

    def op_item(self, op: Op) -> QStandardItem | None:
        model = self.ops.model()
        assert isinstance(model, QStandardItemModel)
        for row in range(model.rowCount()):
            item = model.item(row)
            if item is not None and item.data(_OP_ROLE) == op.value:
                return item
        return None

    def _field_changed(self) -> None:
        fdef = self.field
        model = self.ops.model()
        assert isinstance(model, QStandardItemModel)
        self.ops.blockSignals(True)
        model.clear()
        first = -1
        if fdef is not None:
            for op, offered in offered_ops(fdef, self._caps):
                item = QStandardItem(op_label(op, fdef))
                item.setData(op.value, _OP_ROLE)
                item.setEditable(False)
                if not offered:
                    item.setEnabled(False)
                    item.setToolTip(NOT_OFFERED)
                    item.setText(f"{op_label(op, fdef)} — {NOT_OFFERED}")
                elif first < 0:
                    first = model.rowCount()
                model.appendRow(item)
        self.ops.blockSignals(False)
        self.ops.setCurrentIndex(first)
        self._op_changed()

    def _op_changed(self) -> None:
        if self.editor is not None:
            self.value_host.removeWidget(self.editor)
            self.editor.deleteLater()
            self.editor = None
        self.error.hide()
        fdef, op = self.field, self.op
        self.add.setEnabled(fdef is not None and op is not None)
        if fdef is None or op is None:
            return
        self.editor = ValueEditor(fdef, op)
        self.editor.submitted.connect(self._add)
        self.value_host.addWidget(self.editor)

    def _add(self) -> None:
        fdef, op, editor = self.field, self.op, self.editor
        if fdef is None or op is None or editor is None:
            return
        try:
            cond = Condition(fdef.name, op, editor.value())
        except ValueError as exc:
            self.error.setText(str(exc))
            self.error.show()
            return
        self.error.hide()
        self.added.emit(cond)

    def focus_first(self) -> None:
        self.fields.setFocus()


class Chip(QFrame):
    """One condition, removable: "Industry is Banking ✕"."""

    removed = Signal()

    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("filterChip")
        self.setStyleSheet(
            "#filterChip { background: #e8f0fe; border: 1px solid #b6cdf7; border-radius: 9px; }"
        )
        self.label = plain_label(text)
        self.label.setToolTip(plain_tip(text))
        self.remove = QToolButton()
        self.remove.setText("✕")
        self.remove.setAutoRaise(True)
        self.remove.setToolTip("Remove this condition")
        self.remove.setAccessibleName(f"Remove condition {text}")
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 0, 2, 0)
        row.setSpacing(2)
        row.addWidget(self.label)
        row.addWidget(self.remove)
        self.remove.clicked.connect(self.removed)


class FilterBar(QWidget):
    """The filter bar of one connection's record list; it edits a :class:`FilterSpec`."""

    #: The user changed the filter: the new FilterSpec.
    spec_changed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("filterBar")
        self.quick = QuickEdit()
        self.quick.setClearButtonEnabled(True)
        self.quick.setPlaceholderText("Filter (Ctrl+F)")
        self.quick.setAccessibleName("Quick filter")
        self.quick.setMinimumWidth(140)
        self.add_button = QPushButton("Add condition")
        self.add_button.setToolTip("Filter on any field of this module")
        self.add_button.setAutoDefault(False)
        self.mode = QComboBox()
        self.mode.addItem("Match all", "and")
        self.mode.addItem("Match any", "or")
        self.mode.setToolTip("Whether a record must meet all the conditions or any of them")
        self.favorites = QCheckBox("★ Favorites only")
        self.favorites.setToolTip("Show only the records you starred")
        self.favorites.setAccessibleName("Favorites only")
        self.favorites.hide()
        #: Filters saved in the CRM's own UI (Sugar): the first entry is "none".
        self.saved = QComboBox()
        self.saved.setAccessibleName("Saved filter")
        self.saved.setToolTip("Filters saved in the CRM (ANDed with the rest of the filter)")
        # A long name does not push the quick box away: the box shows its start, the
        # popup the whole name.
        self.saved.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.saved.setMinimumContentsLength(12)
        self.saved.view().setTextElideMode(Qt.TextElideMode.ElideNone)
        self.saved.addItem(NO_SAVED_FILTER, "")
        self.saved.hide()
        self._saved_by_id: dict[str, SavedFilter] = {}
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Remove the quick text and every condition")
        self.clear_button.setAutoDefault(False)
        self.builder = ConditionBuilder()
        self.builder.hide()
        self.chips_row = QHBoxLayout()
        self.chips_row.setContentsMargins(0, 0, 0, 0)
        self.chips_row.setSpacing(4)
        self.chips: list[Chip] = []
        self.chips_box = QWidget()
        box = QHBoxLayout(self.chips_box)
        box.setContentsMargins(0, 0, 0, 0)
        box.addLayout(self.chips_row)
        box.addStretch(1)
        self.chips_box.hide()
        self.message = plain_label()
        self.message.setObjectName("filterMessage")
        self.message.setWordWrap(True)
        self.message.setStyleSheet("#filterMessage { color: #8a4b00; }")
        self.message.hide()

        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.setSpacing(4)
        top.addWidget(self.quick, 1)
        top.addWidget(self.add_button)
        top.addWidget(self.mode)
        top.addWidget(self.favorites)
        top.addWidget(self.saved)
        top.addWidget(self.clear_button)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 2, 0, 2)
        outer.setSpacing(3)
        outer.addLayout(top)
        outer.addWidget(self.builder)
        outer.addWidget(self.chips_box)
        outer.addWidget(self.message)

        self._spec = FilterSpec()
        self._mdef: ModuleDef | None = None
        self._caps = Capabilities()
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self._quick_settled)
        self.quick.textEdited.connect(lambda _t: self._debounce.start())
        self.quick.returnPressed.connect(self._quick_settled)
        self.quick.escaped.connect(self._quick_settled)
        # The clear button of the line edit changes the text without textEdited.
        self.quick.textChanged.connect(self._maybe_cleared)
        self.add_button.clicked.connect(self.open_builder)
        self.builder.added.connect(self._add_condition)
        self.builder.cancelled.connect(self.close_builder)
        self.mode.currentIndexChanged.connect(self._mode_changed)
        self.favorites.toggled.connect(self._favorites_toggled)
        self.saved.currentIndexChanged.connect(self._saved_chosen)
        self.clear_button.clicked.connect(self.clear)
        self.setEnabled(False)
        self._refresh()

    # -- state -------------------------------------------------------------------------
    @property
    def spec(self) -> FilterSpec:
        return self._spec

    @property
    def module(self) -> ModuleDef | None:
        return self._mdef

    def set_module(self, mdef: ModuleDef, caps: Capabilities, spec: FilterSpec) -> None:
        """Show ``mdef``'s filter (no signal)."""
        self._mdef, self._caps = mdef, caps
        self.setEnabled(True)
        self.builder.set_module(mdef, caps)
        self.close_builder()
        self.hide_message()
        self.quick.setToolTip(quick_hint(mdef))
        has_quick = bool(quick_fields(mdef)) and quick_op(caps) is not None
        self.quick.setEnabled(has_quick)
        self.quick.setPlaceholderText(
            quick_hint(mdef) if has_quick else "This CRM cannot filter this module by name"
        )
        self.mode.setVisible(caps.or_filters)
        self.favorites.setVisible(favorites_offered(caps))
        self.saved.setVisible(caps.saved_filters)
        self.set_saved_filters([spec.saved] if spec.saved is not None else [])
        self.show_spec(spec)

    def set_saved_filters(self, filters: Sequence[SavedFilter]) -> None:
        """The saved filters offered for the module (no signal); the chosen one stays."""
        chosen = self._spec.saved
        self.saved.blockSignals(True)
        try:
            self.saved.clear()
            self._saved_by_id = {}
            self.saved.addItem(NO_SAVED_FILTER, "")
            for f in filters:
                self._add_saved(f)
            self._show_saved(chosen)
        finally:
            self.saved.blockSignals(False)

    def saved_filters(self) -> list[SavedFilter]:
        return list(self._saved_by_id.values())

    def _add_saved(self, f: SavedFilter) -> None:
        if f.id not in self._saved_by_id:
            self._saved_by_id[f.id] = f
            self.saved.addItem(f.name, f.id)
            self.saved.setItemData(
                self.saved.count() - 1, plain_tip(f.name), Qt.ItemDataRole.ToolTipRole
            )

    def _show_saved(self, chosen: SavedFilter | None) -> None:
        if chosen is not None:
            self._add_saved(chosen)
        index = self.saved.findData(chosen.id) if chosen is not None else 0
        self.saved.setCurrentIndex(max(index, 0))

    def show_spec(self, spec: FilterSpec) -> None:
        """Show ``spec`` in the widgets (no signal)."""
        self._debounce.stop()
        self._spec = spec
        if self.quick.text() != spec.quick:
            self.quick.blockSignals(True)
            self.quick.setText(spec.quick)
            self.quick.blockSignals(False)
        self.mode.blockSignals(True)
        self.mode.setCurrentIndex(1 if spec.mode == "or" else 0)
        self.mode.blockSignals(False)
        self.favorites.blockSignals(True)
        self.favorites.setChecked(spec.favorites)
        self.favorites.blockSignals(False)
        self.saved.blockSignals(True)
        self._show_saved(spec.saved)
        self.saved.blockSignals(False)
        self._refresh()

    def show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.show()

    def hide_message(self) -> None:
        self.message.clear()
        self.message.hide()

    def focus_quick(self) -> None:
        self.quick.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.quick.selectAll()

    # -- user actions ------------------------------------------------------------------
    def open_builder(self) -> None:
        if self._mdef is None:
            return
        self.builder.show()
        self.builder.focus_first()

    def close_builder(self) -> None:
        focused = self.focusWidget()
        had_focus = focused is not None and self.builder.isAncestorOf(focused)
        self.builder.hide()
        if had_focus:
            self.quick.setFocus()

    def clear(self) -> None:
        self.close_builder()
        self._debounce.stop()
        self.quick.blockSignals(True)
        self.quick.clear()
        self.quick.blockSignals(False)
        self._change(FilterSpec(mode=self._spec.mode))
        self.favorites.blockSignals(True)
        self.favorites.setChecked(False)
        self.favorites.blockSignals(False)
        self.saved.blockSignals(True)
        self.saved.setCurrentIndex(0)
        self.saved.blockSignals(False)

    def remove_condition(self, index: int) -> None:
        self._change(without(self._spec, index))

    def _add_condition(self, cond: Condition) -> None:
        self.close_builder()
        self._change(with_condition(self._spec, cond))

    def _mode_changed(self) -> None:
        mode: Mode = "or" if self.mode.currentData() == "or" else "and"
        self._change(replace(self._spec, mode=mode))

    def _favorites_toggled(self, on: bool) -> None:
        self._change(replace(self._spec, favorites=on))

    def _saved_chosen(self, index: int) -> None:
        chosen = self._saved_by_id.get(str(self.saved.itemData(index) or ""))
        self._change(replace(self._spec, saved=chosen))

    def _quick_settled(self) -> None:
        self._debounce.stop()
        text = self.quick.text()
        if text.strip() == self._spec.quick.strip():
            return
        self._change(replace(self._spec, quick=text.strip()))

    def _maybe_cleared(self, text: str) -> None:
        if not text and self._spec.quick:
            self._quick_settled()

    def _change(self, spec: FilterSpec) -> None:
        if spec == self._spec:
            return
        self._spec = spec
        self.hide_message()
        self._refresh()
        self.spec_changed.emit(spec)

    def _refresh(self) -> None:
        for chip in self.chips:
            self.chips_row.removeWidget(chip)
            chip.deleteLater()
        self.chips = []
        mdef = self._mdef
        if mdef is not None:
            for i, cond in enumerate(self._spec.conditions):
                chip = Chip(describe(cond, mdef))
                chip.removed.connect(lambda i=i: self.remove_condition(i))
                self.chips_row.addWidget(chip)
                self.chips.append(chip)
        self.chips_box.setVisible(bool(self.chips))
        self.clear_button.setEnabled(not self._spec.empty)
        self.mode.setEnabled(len(self._spec.conditions) > 1)


class FilterController(QObject):
    """Hands the bar's filter to the browser, per module, and keeps the last one the CRM
    accepted: a filter refused (by the capability check or an ``Unsupported`` from the
    server) is replaced by it again, with a message in the bar."""

    def __init__(
        self,
        bar: FilterBar,
        browser: Browser,
        records: RecordTableModel,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.bar, self.browser, self.records = bar, browser, records
        #: Per module: the last spec whose list loaded (what a refusal puts back).
        self.accepted: dict[str, FilterSpec] = {}
        #: Per module: the spec the browser's filter was built from (what the bar shows).
        self.current: dict[str, FilterSpec] = {}
        #: The spec being tried, with the model generation of its first load.
        self._trying: tuple[str, FilterSpec, int] | None = None
        #: Per module: the filters saved in the CRM (read once a session, when offered).
        self.saved: dict[str, list[SavedFilter]] = {}
        bar.spec_changed.connect(self._apply)
        browser.module_opened.connect(self._module_opened)
        browser.definition_changed.connect(self._definition_changed)
        records.load_failed.connect(self._load_failed)
        records.loading_changed.connect(self._loading_changed)

    @property
    def caps(self) -> Capabilities:
        return self.browser.backend.capabilities

    def spec_of(self, module: str) -> FilterSpec:
        return self.accepted.get(module, FilterSpec())

    def _module_opened(self, mdef: ModuleDef) -> None:
        name = mdef.name
        spec = self.current.get(name, FilterSpec())
        # Left before its first page came: the list loading now is still the test of it.
        self._trying = None if spec == self.spec_of(name) else (name, spec, self.records.generation)
        self.bar.set_module(mdef, self.caps, spec)
        if self.caps.saved_filters:
            self._offer_saved(name)

    def _offer_saved(self, module: str) -> None:
        known = self.saved.get(module)
        if known is not None:
            self.bar.set_saved_filters(known)
            return
        self.browser.runner.run(
            "saved-filters", self._read_saved(module), label="Reading saved filters"
        )

    async def _read_saved(self, module: str) -> None:
        try:
            filters = await self.browser.backend.saved_filters(module)
        except CrmError as exc:
            if self.bar.module is not None and self.bar.module.name == module:
                self.bar.show_message(f"The saved filters could not be read: {exc.message}")
            return
        self.saved[module] = filters
        if self.bar.module is not None and self.bar.module.name == module:
            self.bar.set_saved_filters(filters)

    def _definition_changed(self, mdef: ModuleDef) -> None:
        if self.bar.module is not None and self.bar.module.name == mdef.name:
            self.bar.set_module(mdef, self.caps, self.bar.spec)

    def _apply(self, spec: FilterSpec) -> None:
        mdef = self.browser.module
        if mdef is None:
            return
        try:
            flt = build(spec, mdef, self.caps)
        except Unsupported as exc:
            self._refuse(mdef.name, exc.message)
            return
        if not self.browser.set_filter(mdef.name, flt):
            # Cell edits kept unsaved, and the user kept them: the bar shows the list's
            # filter again.
            self.bar.show_spec(self.current.get(mdef.name, FilterSpec()))
            return
        self.current[mdef.name] = spec
        self._trying = (mdef.name, spec, self.records.generation)

    def _loading_changed(self, loading: bool) -> None:
        trying = self._trying
        if loading or trying is None or self.records.generation != trying[2]:
            return
        if self.records.error is None:
            self.accepted[trying[0]] = trying[1]
            self._trying = None

    def _load_failed(self, _text: str) -> None:
        trying = self._trying
        error = self.records.error
        if trying is None or self.records.generation != trying[2]:
            return
        self._trying = None
        if isinstance(error, NotFound) and trying[1].saved is not None:
            # Deleted in the CRM since it was offered: read the list again next time.
            self.saved.pop(trying[0], None)
            name = trying[1].saved.name
            QTimer.singleShot(
                0, self, lambda: self._refuse(trying[0], f"The saved filter “{name}” is gone.")
            )
        elif isinstance(error, Unsupported):
            why = f"{error.message} {error.advice}".strip()
            # After the other listeners of load_failed (the error banner): the reload
            # with the previous filter then hides what they showed.
            QTimer.singleShot(0, self, lambda: self._refuse(trying[0], why))

    def _refuse(self, module: str, why: str) -> None:
        """Put the accepted filter back (widgets and list) and say why."""
        previous = self.spec_of(module)
        mdef = self.browser.module
        if mdef is not None and mdef.name == module:
            try:
                flt = build(previous, mdef, self.caps)
            except CrmError:
                previous, flt = FilterSpec(), None
            self.current[module] = previous
            if self.browser.filters.get(module) != flt:
                self.browser.set_filter(module, flt)
        if self.bar.module is not None and self.bar.module.name == module:
            self.bar.show_spec(previous)
            self.bar.show_message(f"{why} The previous filter is back.")
