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
from datetime import date, datetime, time, tzinfo
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from PySide6.QtCore import QDate, QObject, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCalendarWidget,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPlainTextEdit,
    QSizePolicy,
    QToolButton,
    QWidget,
    QWidgetAction,
)

from crmdesk.core.records import Record, RecordRef, Value
from crmdesk.core.schema import FieldDef, FieldType
from crmdesk.ui.format import format_value, plain_tip
from crmdesk.ui.forms.values import (
    DATE_INPUT,
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


def zone_named(name: str) -> tzinfo | None:
    """The IANA zone ``name`` (``Europe/Lisbon``, ``UTC``), or None when unknown."""
    name = name.strip()
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def link_url(fdef: FieldDef, text: str) -> QUrl | None:
    """Where a URL / e-mail / phone value leads: http(s), ``mailto:``, ``tel:``; else None."""
    text = text.strip()
    if not text:
        return None
    if fdef.type is FieldType.EMAIL:
        return QUrl("mailto:" + text) if "@" in text and " " not in text else None
    if fdef.type is FieldType.PHONE:
        dial = "".join(c for c in text if c.isdigit() or c == "+")
        return QUrl("tel:" + dial) if any(c.isdigit() for c in dial) else None
    if fdef.type is FieldType.URL:
        url = QUrl.fromUserInput(text)
        ok = url.isValid() and url.scheme() in ("http", "https", "mailto")
        return url if ok else None
    return None


#: Opens a link; tests replace it to see what would have opened.
open_link: Callable[[QUrl], bool] = QDesktopServices.openUrl


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
        self.open: QToolButton | None = None
        if fdef.type in LinkEditor.button_text:
            # Still plain text; the link opens from its own button, never from markup.
            text, tip = LinkEditor.button_text[fdef.type]
            self.open = QToolButton()
            self.open.setText(text)
            self.open.setToolTip(tip)
            self.open.clicked.connect(self.open_url)
            box = QWidget()
            row = QHBoxLayout(box)
            row.setContentsMargins(0, 0, 0, 0)
            row.setSpacing(2)
            row.addWidget(self.label, 1)
            row.addWidget(self.open)
            self.widget = box

    def url(self) -> QUrl | None:
        return link_url(self.fdef, self.label.text())

    def open_url(self) -> bool:
        url = self.url()
        return url is not None and open_link(url)

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
        self.label.setToolTip(plain_tip(text) if len(text) > 40 else "")
        if self.open is not None:
            self.open.setEnabled(self.url() is not None)

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


class DateEditor(LineEditor):
    """Typed as YYYY-MM-DD, or picked from a calendar that drops down from the "▾" button."""

    def _wrap(self) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(2)
        row.addWidget(self.line, 1)
        self.extra_widgets(row)
        self.pick = QToolButton()
        self.pick.setText("\u25be")
        self.pick.setToolTip("Pick from a calendar")
        self.pick.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.calendar = QCalendarWidget()
        self.calendar.setGridVisible(False)
        self.calendar.setVerticalHeaderFormat(QCalendarWidget.VerticalHeaderFormat.NoVerticalHeader)
        self.calendar.clicked.connect(self.pick_date)
        self.calendar.activated.connect(self.pick_date)
        menu = QMenu(self.pick)
        holder = QWidgetAction(menu)
        holder.setDefaultWidget(self.calendar)
        menu.addAction(holder)
        menu.aboutToShow.connect(self._sync_calendar)
        self.pick.setMenu(menu)
        self.popup = menu
        row.addWidget(self.pick)
        return box

    def extra_widgets(self, row: QHBoxLayout) -> None:
        """Widgets between the line and the calendar button (the zone, for datetimes)."""

    def typed_date(self) -> date | None:
        try:
            value = self.value()
        except ParseError:
            return None
        if isinstance(value, datetime):
            return value.astimezone(self.ctx.tz).date() if value.tzinfo else value.date()
        return value if isinstance(value, date) else None

    def _sync_calendar(self) -> None:
        day = self.typed_date() or datetime.now(self.ctx.tz).date()
        self.calendar.setSelectedDate(QDate(day.year, day.month, day.day))

    def pick_date(self, qdate: QDate) -> None:
        """The calendar chose ``qdate``: put it in the line as if typed."""
        day = date(qdate.year(), qdate.month(), qdate.day())
        self.line.setText(self.text_for(day))
        self.popup.hide()
        self.changed.emit()

    def text_for(self, day: date) -> str:
        return day.strftime(DATE_INPUT)


class DateTimeEditor(DateEditor):
    """Shown and typed in the user's time zone; the value is an aware datetime.  The
    calendar changes the day and keeps the time typed (09:00 when there is none)."""

    def placeholder(self) -> str:
        return "YYYY-MM-DD HH:MM"

    def extra_widgets(self, row: QHBoxLayout) -> None:
        zone = plain(datetime.now(self.ctx.tz).strftime("%Z") or str(self.ctx.tz))
        zone.setObjectName("zone")
        zone.setToolTip(str(self.ctx.tz))
        zone.setEnabled(False)
        row.addWidget(zone)
        self.zone_label = zone

    def parse(self, text: str) -> Value:
        return parse_datetime(text, self.ctx.tz)

    def text_for(self, day: date) -> str:
        try:
            value = self.value()
        except ParseError:
            value = None
        clock = time(9, 0)
        if isinstance(value, datetime):
            clock = (value.astimezone(self.ctx.tz) if value.tzinfo else value).time()
        return datetime.combine(day, clock).strftime(DATETIME_INPUT)


class LinkEditor(LineEditor):
    """An e-mail address or phone number with a button that writes / calls it
    (``mailto:`` / ``tel:``); the text itself stays plain."""

    button_text: ClassVar[dict[FieldType, tuple[str, str]]] = {
        FieldType.EMAIL: ("Write", "Write an e-mail to this address"),
        FieldType.PHONE: ("Call", "Call this number"),
        FieldType.URL: ("Open", "Open in the web browser"),
    }

    def _wrap(self) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(2)
        row.addWidget(self.line, 1)
        self.open = QToolButton()
        text, tip = self.button_text.get(self.fdef.type, ("Open", "Open"))
        self.open.setText(text)
        self.open.setToolTip(tip)
        self.open.clicked.connect(self.open_url)
        row.addWidget(self.open)
        return box

    def url(self) -> QUrl | None:
        return link_url(self.fdef, self.line.text())

    def open_url(self) -> bool:
        url = self.url()
        return url is not None and open_link(url)


class UrlEditor(LinkEditor):
    """A web address with a button that opens it (http, https and mailto only)."""


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
        #: Keys allowed now (a dependent drop-down); None: every option.
        self.allowed: frozenset[str] | None = None
        self._fill(None)
        self.combo.activated.connect(lambda _i: self.changed.emit())
        self.widget = self.combo

    def _fill(self, extra: str | None) -> None:
        self.combo.clear()
        self.combo.addItem("", None)
        keys = set()
        for opt in self.fdef.options:
            if self.allowed is not None and opt.key not in self.allowed:
                continue
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

    def options_shown(self) -> list[str]:
        """The keys the drop-down offers now (the empty choice left out)."""
        return [
            str(self.combo.itemData(i))
            for i in range(self.combo.count())
            if self.combo.itemData(i) is not None
        ]

    def restrict(self, keys: frozenset[str] | None, *, keep_loaded: bool = False) -> bool:
        """Offer only ``keys`` (None: all).  A chosen value no longer allowed is cleared
        (returns True then); with ``keep_loaded`` (a record just shown) the loaded value
        stays, marked as not in the list, until the user changes something."""
        current = self.value()
        self.allowed = keys
        cleared = False
        if current is not None and keys is not None and current not in keys:
            if keep_loaded and current == self.loaded:
                self._fill(str(current))
            else:
                current, cleared = None, True
                self._fill(None)
        else:
            self._fill(None if current is None else str(current))
        index = self.combo.findData(current) if current is not None else 0
        self.combo.setCurrentIndex(max(index, 0))
        if cleared:
            self.changed.emit()
        return cleared

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


for _kind in (FieldType.TEXT, FieldType.INT, FieldType.DECIMAL):
    register_editor(_kind, LineEditor)
for _kind in (FieldType.EMAIL, FieldType.PHONE):
    register_editor(_kind, LinkEditor)
register_editor(FieldType.DATE, DateEditor)
register_editor(FieldType.CURRENCY, CurrencyEditor)
register_editor(FieldType.DATETIME, DateTimeEditor)
register_editor(FieldType.URL, UrlEditor)
register_editor(FieldType.MULTILINE, MultilineEditor)
register_editor(FieldType.BOOL, BoolEditor)
register_editor(FieldType.ENUM, EnumEditor)
register_editor(FieldType.MULTIENUM, MultiEnumEditor)
register_editor(FieldType.RELATE, RelateEditor)
# FieldType.ID and FieldType.UNKNOWN are deliberately absent: they fall back to read-only.
