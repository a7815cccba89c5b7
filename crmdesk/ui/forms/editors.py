"""One editor per FieldType, from a registry with an explicit read-only fallback.

An editor wraps the widget(s) for one field and speaks typed values: it is
loaded with the record's value (:meth:`FieldEditor.load`), reports
``changed``, and gives back :meth:`FieldEditor.value` (raising
:class:`ParseError` while the text is not a valid value) and
:meth:`FieldEditor.problem` (the reason, checked as the user types).  Text
that still reads as it was loaded gives back the loaded value itself, so
formatting (seconds, trailing zeros) never makes a field look changed.

Server text is shown as plain text everywhere: line edits and plain-text
edits never interpret markup, labels are set to ``PlainText``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any, ClassVar

from PySide6.QtCore import QObject, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QSizePolicy,
    QToolButton,
    QWidget,
)

from crmdesk.core.records import Record, RecordRef, Value
from crmdesk.core.schema import FieldDef, FieldType
from crmdesk.ui.format import format_value
from crmdesk.ui.forms.values import (
    DATETIME_INPUT,
    ParseError,
    is_empty,
    parse_datetime,
    parse_text,
    render_text,
)


def local_zone() -> tzinfo:
    zone = datetime.now().astimezone().tzinfo
    assert zone is not None
    return zone


#: Opens a lookup for a relate field; returns the chosen record or None (cancelled).
LookupFn = Callable[[FieldDef, QWidget], Awaitable[RecordRef | None]]


@dataclass(slots=True)
class EditorContext:
    """What editors need from outside: the user's time zone, a way to look records up."""

    tz: tzinfo = field(default_factory=local_zone)
    lookup: LookupFn | None = None
    #: Starts a coroutine (the window's task runner); needed by the relate lookup.
    start: Callable[[str, Coroutine[Any, Any, None]], object] | None = None


def plain(text: str = "") -> QLabel:
    label = QLabel()
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setText(text)
    return label


class FieldEditor(QObject):
    """Base: one field's widget, its loaded value, its current typed value."""

    changed = Signal()
    #: Editors whose widget grows vertically.
    tall: ClassVar[bool] = False

    def __init__(self, fdef: FieldDef, ctx: EditorContext) -> None:
        super().__init__()
        self.fdef = fdef
        self.ctx = ctx
        self.loaded: Value = None
        #: Set by each subclass: what the form puts in its grid.
        self.widget: QWidget

    @property
    def editable(self) -> bool:
        return True

    def load(self, value: Value, record: Record | None = None) -> None:
        """Show ``value`` as the field's starting point (not a change)."""
        self.loaded = value
        self._show(value, record)

    def set_value(self, value: Value, record: Record | None = None) -> None:
        """Put ``value`` in the editor as if the user typed it."""
        self._show(value, record)
        self.changed.emit()

    def value(self) -> Value:
        """The typed value now; raises ParseError while the input is not valid."""
        return self.loaded

    def problem(self) -> str | None:
        try:
            self.value()
        except ParseError as exc:
            return str(exc)
        return None

    def display_text(self) -> str:
        """The value as the read-only pane would have shown it."""
        try:
            return format_value(self.fdef, self.value())
        except ParseError:
            return ""

    def set_enabled(self, enabled: bool) -> None:
        self.widget.setEnabled(enabled)

    def focus_widget(self) -> QWidget:
        return self.widget

    def _show(self, value: Value, record: Record | None) -> None:
        raise NotImplementedError


class ReadOnlyEditor(FieldEditor):
    """Shows the value, never changes it: read-only fields and types without an editor."""

    def __init__(self, fdef: FieldDef, ctx: EditorContext) -> None:
        super().__init__(fdef, ctx)
        self.label = plain()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.widget = self.label

    @property
    def editable(self) -> bool:
        return False

    def _show(self, value: Value, record: Record | None) -> None:
        shown = value
        if self.fdef.type is FieldType.RELATE and self.fdef.relate_name_field and record:
            shown = record.get(self.fdef.relate_name_field) or value
        if isinstance(shown, datetime) and shown.tzinfo is not None:
            text = shown.astimezone(self.ctx.tz).strftime(DATETIME_INPUT)
        else:
            text = format_value(self.fdef, shown)
        self.label.setText(text)
        self.label.setToolTip(text if len(text) > 40 else "")

    def display_text(self) -> str:
        return self.label.text()


class LineEditor(FieldEditor):
    """Single-line text parsed by field type: text, int, decimal, currency, date, e-mail …"""

    def __init__(self, fdef: FieldDef, ctx: EditorContext) -> None:
        super().__init__(fdef, ctx)
        self.line = QLineEdit()
        self.line.setClearButtonEnabled(False)
        if fdef.length and fdef.type in (
            FieldType.TEXT,
            FieldType.EMAIL,
            FieldType.PHONE,
            FieldType.URL,
        ):
            self.line.setMaxLength(fdef.length)
        if fdef.type in (FieldType.INT, FieldType.DECIMAL, FieldType.CURRENCY):
            self.line.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.line.setPlaceholderText(self.placeholder())
        self._rendered = ""
        self.line.textEdited.connect(lambda _t: self.changed.emit())
        self.widget = self._wrap()

    def placeholder(self) -> str:
        return {
            FieldType.DATE: "YYYY-MM-DD",
            FieldType.EMAIL: "name@example.com",
            FieldType.URL: "https://",
        }.get(self.fdef.type, "")

    def _wrap(self) -> QWidget:
        return self.line

    def focus_widget(self) -> QWidget:
        return self.line

    def render(self, value: Value) -> str:
        return render_text(self.fdef, value, self.ctx.tz)

    def parse(self, text: str) -> Value:
        return parse_text(self.fdef, text)

    def _show(self, value: Value, record: Record | None) -> None:
        text = self.render(value)
        if value is self.loaded:
            self._rendered = text
        self.line.setText(text)
        self.line.setCursorPosition(0)

    def value(self) -> Value:
        text = self.line.text()
        if text == self._rendered:
            return self.loaded
        return self.parse(text)

    def problem(self) -> str | None:
        text = self.line.text()
        if self.fdef.length is not None and len(text.strip()) > self.fdef.length:
            return f"At most {self.fdef.length} characters ({len(text.strip())} now)."
        return super().problem()


class CurrencyEditor(LineEditor):
    def _wrap(self) -> QWidget:
        if not self.fdef.currency:
            return self.line
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(4)
        symbol = plain(self.fdef.currency)
        symbol.setObjectName("currency")
        row.addWidget(symbol)
        row.addWidget(self.line, 1)
        return box


class DateTimeEditor(LineEditor):
    """Shown and typed in the user's time zone; the value is an aware datetime."""

    def placeholder(self) -> str:
        return "YYYY-MM-DD HH:MM"

    def _wrap(self) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(4)
        row.addWidget(self.line, 1)
        zone = plain(datetime.now(self.ctx.tz).strftime("%Z") or str(self.ctx.tz))
        zone.setObjectName("zone")
        zone.setEnabled(False)
        row.addWidget(zone)
        return box

    def parse(self, text: str) -> Value:
        return parse_datetime(text, self.ctx.tz)


class UrlEditor(LineEditor):
    """A web address with a button that opens it (http, https and mailto only)."""

    def _wrap(self) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(2)
        row.addWidget(self.line, 1)
        self.open = QToolButton()
        self.open.setText("Open")
        self.open.setToolTip("Open in the web browser")
        self.open.clicked.connect(self.open_url)
        row.addWidget(self.open)
        return box

    def url(self) -> QUrl | None:
        text = self.line.text().strip()
        if not text:
            return None
        url = QUrl.fromUserInput(text)
        return url if url.isValid() and url.scheme() in ("http", "https", "mailto") else None

    def open_url(self) -> bool:
        url = self.url()
        return url is not None and QDesktopServices.openUrl(url)


class MultilineEditor(FieldEditor):
    tall = True

    def __init__(self, fdef: FieldDef, ctx: EditorContext) -> None:
        super().__init__(fdef, ctx)
        self.text = QPlainTextEdit()
        self.text.setTabChangesFocus(True)
        lines = self.text.fontMetrics().lineSpacing()
        self.text.setFixedHeight(lines * 4 + 12)
        self._rendered = ""
        self.text.textChanged.connect(self._edited)
        self._loading = False
        self.widget = self.text

    def _edited(self) -> None:
        if not self._loading:
            self.changed.emit()

    def _show(self, value: Value, record: Record | None) -> None:
        text = "" if is_empty(value) else str(value)
        if value is self.loaded:
            self._rendered = text
        self._loading = True
        try:
            self.text.setPlainText(text)
        finally:
            self._loading = False

    def value(self) -> Value:
        text = self.text.toPlainText()
        if text == self._rendered:
            return self.loaded
        return parse_text(self.fdef, text)

    def problem(self) -> str | None:
        n = len(self.text.toPlainText())
        if self.fdef.length is not None and n > self.fdef.length:
            return f"At most {self.fdef.length} characters ({n} now)."
        return None


class BoolEditor(FieldEditor):
    def __init__(self, fdef: FieldDef, ctx: EditorContext) -> None:
        super().__init__(fdef, ctx)
        self.box = QCheckBox()
        self.box.clicked.connect(lambda _c: self.changed.emit())
        self.widget = self.box

    def _show(self, value: Value, record: Record | None) -> None:
        self.box.setChecked(bool(value))

    def value(self) -> Value:
        checked = self.box.isChecked()
        if self.loaded is None and not checked:
            return None  # unset stays unset until the box is ticked
        return checked


class EnumEditor(FieldEditor):
    """A drop-down of the field's options: labels shown, keys sent; empty first."""

    def __init__(self, fdef: FieldDef, ctx: EditorContext) -> None:
        super().__init__(fdef, ctx)
        self.combo = QComboBox()
        self.combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.combo.setMinimumContentsLength(12)
        self._fill(None)
        self.combo.activated.connect(lambda _i: self.changed.emit())
        self.widget = self.combo

    def _fill(self, extra: str | None) -> None:
        self.combo.clear()
        self.combo.addItem("", None)
        keys = set()
        for opt in self.fdef.options:
            self.combo.addItem(opt.label or opt.key, opt.key)
            keys.add(opt.key)
        if extra is not None and extra not in keys:
            # A value the options no longer list: keep it selectable rather than lose it.
            self.combo.addItem(f"{extra} (not in the list)", extra)

    def _show(self, value: Value, record: Record | None) -> None:
        key = None if is_empty(value) else str(value)
        self._fill(key)
        index = self.combo.findData(key) if key is not None else 0
        self.combo.setCurrentIndex(max(index, 0))

    def value(self) -> Value:
        data = self.combo.currentData()
        return None if data is None else str(data)

    def choose(self, key: str | None) -> None:
        index = self.combo.findData(key) if key is not None else 0
        if index < 0:
            raise KeyError(key)
        self.combo.setCurrentIndex(index)
        self.changed.emit()


class MultiEnumEditor(FieldEditor):
    """Checkable options; the value is the tuple of checked keys in option order."""

    tall = True

    def __init__(self, fdef: FieldDef, ctx: EditorContext) -> None:
        super().__init__(fdef, ctx)
        self.list = QListWidget()
        rows = min(max(len(fdef.options), 2), 5)
        self.list.setFixedHeight(self.list.sizeHintForRow(0) * rows + 8 if fdef.options else 48)
        self._loading = False
        self.list.itemChanged.connect(self._edited)
        self.widget = self.list

    def _edited(self, _item: QListWidgetItem) -> None:
        if not self._loading:
            self.changed.emit()

    def _show(self, value: Value, record: Record | None) -> None:
        keys = value if isinstance(value, tuple) else (() if is_empty(value) else (str(value),))
        self._loading = True
        try:
            self.list.clear()
            known = [o.key for o in self.fdef.options]
            labels = {o.key: o.label for o in self.fdef.options}
            for key in known + [k for k in keys if k not in known]:
                item = QListWidgetItem(labels.get(key, key) or key)
                item.setData(Qt.ItemDataRole.UserRole, key)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(
                    Qt.CheckState.Checked if key in keys else Qt.CheckState.Unchecked
                )
                self.list.addItem(item)
        finally:
            self._loading = False
        if self.fdef.options:
            rows = min(max(len(self.fdef.options), 2), 5)
            self.list.setFixedHeight(self.list.sizeHintForRow(0) * rows + 8)

    def value(self) -> Value:
        keys = tuple(
            str(it.data(Qt.ItemDataRole.UserRole))
            for i in range(self.list.count())
            if (it := self.list.item(i)).checkState() == Qt.CheckState.Checked
        )
        return keys or None

    def set_checked(self, key: str, checked: bool) -> None:
        for i in range(self.list.count()):
            item = self.list.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == key:
                item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
                return
        raise KeyError(key)


class RelateEditor(FieldEditor):
    """Shows the related record's name, stores its id; "…" opens a lookup, "×" clears."""

    def __init__(self, fdef: FieldDef, ctx: EditorContext) -> None:
        super().__init__(fdef, ctx)
        self.name = QLineEdit()
        self.name.setReadOnly(True)
        self.name.setPlaceholderText(f"Choose {fdef.relate_module or 'a record'}…")
        self.pick = QToolButton()
        self.pick.setText("…")
        self.pick.setToolTip(f"Look up a {fdef.relate_module or 'record'} (type to search)")
        self.pick.setEnabled(ctx.lookup is not None and bool(fdef.relate_module))
        self.clear = QToolButton()
        self.clear.setText("×")
        self.clear.setToolTip("Clear")
        self.pick.clicked.connect(self.open_lookup)
        self.clear.clicked.connect(lambda: self.choose(None))
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(2)
        row.addWidget(self.name, 1)
        row.addWidget(self.pick)
        row.addWidget(self.clear)
        self.widget = box
        self._id: str | None = None
        self.label = ""

    def focus_widget(self) -> QWidget:
        return self.pick

    def _show(self, value: Value, record: Record | None) -> None:
        self._id = None if is_empty(value) else str(value)
        label = ""
        if record is not None and self.fdef.relate_name_field:
            label = str(record.get(self.fdef.relate_name_field) or "")
        self.label = label or (self._id or "")
        self.name.setText(self.label)
        self.name.setCursorPosition(0)

    def value(self) -> Value:
        return self._id

    def display_text(self) -> str:
        return self.label

    def choose(self, ref: RecordRef | None) -> None:
        self._id = ref.id if ref else None
        self.label = ref.label if ref else ""
        self.name.setText(self.label)
        self.name.setCursorPosition(0)
        self.changed.emit()

    def open_lookup(self) -> None:
        lookup, start = self.ctx.lookup, self.ctx.start
        if lookup is None or start is None:
            return

        async def run() -> None:
            ref = await lookup(self.fdef, self.widget)
            if ref is not None:
                self.choose(ref)

        start(f"lookup:{self.fdef.name}", run())


EditorFactory = Callable[[FieldDef, EditorContext], FieldEditor]
_REGISTRY: dict[FieldType, EditorFactory] = {}


def register_editor(kind: FieldType, factory: EditorFactory, *, replace: bool = False) -> None:
    """Make ``factory`` the editor of ``kind``; refuses a silent overwrite."""
    if kind in _REGISTRY and not replace:
        raise ValueError(f"an editor for {kind.value} is already registered")
    _REGISTRY[kind] = factory


def registered(kind: FieldType) -> EditorFactory | None:
    return _REGISTRY.get(kind)


def create_editor(fdef: FieldDef, ctx: EditorContext, *, editable: bool = True) -> FieldEditor:
    """The editor for ``fdef``; read-only fields, and types with no editor, get the
    explicit read-only fallback."""
    factory = _REGISTRY.get(fdef.type)
    if not editable or fdef.read_only or factory is None:
        return ReadOnlyEditor(fdef, ctx)
    return factory(fdef, ctx)


for _kind in (FieldType.TEXT, FieldType.INT, FieldType.DECIMAL, FieldType.DATE):
    register_editor(_kind, LineEditor)
for _kind in (FieldType.EMAIL, FieldType.PHONE):
    register_editor(_kind, LineEditor)
register_editor(FieldType.CURRENCY, CurrencyEditor)
register_editor(FieldType.DATETIME, DateTimeEditor)
register_editor(FieldType.URL, UrlEditor)
register_editor(FieldType.MULTILINE, MultilineEditor)
register_editor(FieldType.BOOL, BoolEditor)
register_editor(FieldType.ENUM, EnumEditor)
register_editor(FieldType.MULTIENUM, MultiEnumEditor)
register_editor(FieldType.RELATE, RelateEditor)
# FieldType.ID and FieldType.UNKNOWN are deliberately absent: they fall back to read-only.
