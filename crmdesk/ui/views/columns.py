"""Choosing the columns of a record list, and remembering them.

A right click on the list's header (or the "Columns" submenu of the list's context menu,
which the Menu key and Shift+F10 open from the keyboard) shows every listable field of
the module, the shown ones first in their order and checked, the others by label; a
click adds or drops a column.  "Choose Columns…" (also Ctrl+Shift+C in the list) opens
:class:`ColumnDialog` — a filter box over a checkable list with Move Up / Down — for
modules with many fields.  "Reset to the CRM's Columns" forgets the choice.

A change of columns loads the list again through :meth:`Browser.relist` (as a filter
change does): the query's field list follows the columns, the filter stays, the sort
stays unless its column went.  While a cell edit is not saved the change is refused
with a notice (the reload would drop it).  A new order alone moves the header's sections
and loads nothing.  Columns dragged to another place and widths dragged by hand are
remembered too.

Choices are remembered per (connection profile, module) in
:class:`~crmdesk.storage.list_layout.ListLayoutStore`.  Whoever opens a connection says
under which profile name with :func:`remember_layouts` (keyed by the connection's
Backend), so every :class:`ColumnChooser` over that backend — the main window's
workspace, a list in a window of its own — reads and writes the same layouts.  Without
it, choices last as long as the chooser.  A remembered field the CRM no longer has is
skipped; if none is left, the CRM's columns show.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from os import PathLike

from PySide6.QtCore import QEvent, QObject, QPoint, Qt, Signal
from PySide6.QtGui import QAction, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from crmdesk.core.backend import Backend
from crmdesk.core.schema import FieldDef, FieldType, ModuleDef
from crmdesk.storage.list_layout import ListLayout, ListLayoutStore
from crmdesk.ui.browser import Browser
from crmdesk.ui.format import plain_tip
from crmdesk.ui.views.record_table import RecordTableView

log = logging.getLogger(__name__)

CHOOSE_SHORTCUT = "Ctrl+Shift+C"
PENDING_EDIT_TEXT = (
    "A cell edit is not saved yet: retry it (Ctrl+Shift+S) or revert it (Ctrl+Z) before "
    "changing the columns, which loads the list again."
)
_NAME_ROLE = Qt.ItemDataRole.UserRole


# -- where choices are remembered --------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LayoutScope:
    store: ListLayoutStore
    profile: str


_SCOPES: weakref.WeakKeyDictionary[Backend, LayoutScope] = weakref.WeakKeyDictionary()


def remember_layouts(
    backend: Backend, profile: str, directory: str | PathLike[str] | None = None
) -> None:
    """Remember the column choices of lists over ``backend`` under the profile name
    ``profile``, in ``directory`` (by default the config directory)."""
    _SCOPES[backend] = LayoutScope(ListLayoutStore(directory), profile)


def layout_scope(backend: Backend) -> LayoutScope | None:
    return _SCOPES.get(backend)


# -- the choice, without widgets ---------------------------------------------------------
def listable(fdef: FieldDef) -> bool:
    """Can the field be a list column: shown in forms, not an internal id."""
    return fdef.visible and fdef.type is not FieldType.ID


def menu_order(mdef: ModuleDef, shown: Sequence[str]) -> list[FieldDef]:
    """The fields to offer: the shown columns in their order, then the other listable
    fields by label."""
    first = [f for n in shown if (f := mdef.field(n)) is not None]
    taken = {f.name for f in first}
    rest = [f for f in mdef.fields if listable(f) and f.name not in taken]
    rest.sort(key=lambda f: (f.label.casefold(), f.name))
    return first + rest


def chosen_columns(mdef: ModuleDef, layout: ListLayout | None) -> tuple[FieldDef, ...]:
    """The columns of ``mdef``'s list: the remembered ones it still has, else the CRM's."""
    if layout is not None and layout.fields:
        columns = tuple(f for n in layout.fields if (f := mdef.field(n)) is not None)
        if columns:
            return columns
    return mdef.columns()


def labels(fields: Iterable[FieldDef]) -> dict[str, str]:
    """Each field's label, with its name added where two fields share a label."""
    fields = list(fields)
    counts: dict[str, int] = {}
    for f in fields:
        key = f.label.casefold()
        counts[key] = counts.get(key, 0) + 1
    return {
        f.name: f"{f.label} ({f.name})" if counts[f.label.casefold()] > 1 else f.label
        for f in fields
    }


def _menu_text(text: str) -> str:
    return text.replace("&", "&&")  # an ampersand in a CRM's label is not a mnemonic


# -- the dialog --------------------------------------------------------------------------
class ColumnDialog(QDialog):
    """A filter box over the module's fields, checkable, in column order; Move Up / Down.

    Keys: Space toggles the current field, Alt+Up / Alt+Down move it, Down in the filter
    box goes to the list.
    """

    def __init__(
        self,
        mdef: ModuleDef,
        shown: Sequence[str],
        crm: Sequence[str],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Columns of {mdef.label}")
        self.mdef = mdef
        self._crm = tuple(crm)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter fields")
        self.filter.setClearButtonEnabled(True)
        self.list = QListWidget()
        self.list.setAlternatingRowColors(True)
        self.up = QPushButton("Move &Up")
        self.down = QPushButton("Move &Down")
        self.restore = QPushButton("&Restore the CRM's Columns")
        self.up.setToolTip("Move the field left in the list (Alt+Up)")
        self.down.setToolTip("Move the field right in the list (Alt+Down)")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        hint = QLabel("Checked fields are the list's columns, top to bottom = left to right.")
        hint.setTextFormat(Qt.TextFormat.PlainText)
        hint.setWordWrap(True)
        find = QLabel("&Find:")
        find.setBuddy(self.filter)
        top = QHBoxLayout()
        top.addWidget(find)
        top.addWidget(self.filter, 1)
        side = QVBoxLayout()
        side.addWidget(self.up)
        side.addWidget(self.down)
        side.addStretch(1)
        side.addWidget(self.restore)
        middle = QHBoxLayout()
        middle.addWidget(self.list, 1)
        middle.addLayout(side)
        layout = QVBoxLayout(self)
        layout.addWidget(hint)
        layout.addLayout(top)
        layout.addLayout(middle, 1)
        layout.addWidget(self.buttons)
        self._fill(shown)
        self.filter.textChanged.connect(self._filter)
        self.filter.installEventFilter(self)
        self.list.installEventFilter(self)
        self.list.itemChanged.connect(lambda _item: self._update())
        self.list.currentRowChanged.connect(lambda _row: self._update())
        self.up.clicked.connect(lambda: self.move_field(-1))
        self.down.clicked.connect(lambda: self.move_field(1))
        self.restore.clicked.connect(lambda: self._fill(self._crm))
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.resize(480, 540)
        self.list.setFocus()

    def _fill(self, shown: Sequence[str]) -> None:
        fields = menu_order(self.mdef, shown)
        names = labels(fields)
        on = set(shown)
        self.list.blockSignals(True)
        self.list.clear()
        for fdef in fields:
            item = QListWidgetItem(names[fdef.name])
            item.setData(_NAME_ROLE, fdef.name)
            item.setToolTip(plain_tip(f"{fdef.label} — {fdef.name}"))
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(
                Qt.CheckState.Checked if fdef.name in on else Qt.CheckState.Unchecked
            )
            self.list.addItem(item)
        self.list.blockSignals(False)
        self.list.setCurrentRow(0)
        self._filter(self.filter.text())

    def chosen(self) -> tuple[str, ...]:
        """The checked fields, in list order."""
        items = (self.list.item(i) for i in range(self.list.count()))
        return tuple(
            str(it.data(_NAME_ROLE)) for it in items if it.checkState() == Qt.CheckState.Checked
        )

    def names(self) -> list[str]:
        return [str(self.list.item(i).data(_NAME_ROLE)) for i in range(self.list.count())]

    def move_field(self, step: int) -> None:
        """Move the current field past its next shown neighbour up (-1) or down (+1)."""
        row = self.list.currentRow()
        if row < 0:
            return
        target = row + step
        while 0 <= target < self.list.count() and self.list.isRowHidden(target):
            target += step
        if not 0 <= target < self.list.count():
            return
        item = self.list.takeItem(row)
        self.list.insertItem(target, item)
        self.list.setCurrentRow(target)

    def _filter(self, text: str) -> None:
        needle = text.strip().casefold()
        for i in range(self.list.count()):
            item = self.list.item(i)
            hay = f"{item.text()} {item.data(_NAME_ROLE)}".casefold()
            self.list.setRowHidden(i, bool(needle) and needle not in hay)
        current = self.list.currentItem()
        if current is None or current.isHidden():
            first = next((i for i in range(self.list.count()) if not self.list.isRowHidden(i)), -1)
            self.list.setCurrentRow(first)
        self._update()

    def _update(self) -> None:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(bool(self.chosen()))
        row = self.list.currentRow()
        self.up.setEnabled(row > 0)
        self.down.setEnabled(0 <= row < self.list.count() - 1)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """QObject.eventFilter: Alt+Up / Alt+Down move in the list; Down leaves the filter."""
        if event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            key, mods = event.key(), event.modifiers()
            alt = mods == Qt.KeyboardModifier.AltModifier
            if watched is self.list and alt and key in (Qt.Key.Key_Up, Qt.Key.Key_Down):
                self.move_field(-1 if key == Qt.Key.Key_Up else 1)
                return True
            if watched is self.filter and key == Qt.Key.Key_Down:
                self.list.setFocus()
                return True
        return super().eventFilter(watched, event)


# -- the chooser -------------------------------------------------------------------------
class ColumnChooser(QObject):
    """The column choice of one record table (one Workspace's)."""

    #: A line for the status bar (a refused change, a file that could not be written).
    notice = Signal(str)
    #: The open list now shows these columns (field names, in order).
    columns_changed = Signal(tuple)

    def __init__(self, table: RecordTableView, browser: Browser, parent: QObject | None = None):
        super().__init__(parent)
        self.table = table
        self.browser = browser
        self.model = table.record_model
        #: Choices of this chooser when no profile was named (see remember_layouts).
        self._memory: dict[str, ListLayout] = {}
        self.menu: QMenu | None = None
        self.dialog: ColumnDialog | None = None
        browser.columns_for = self.columns_for
        table.width_of = self._width_of
        table.header_menu_requested.connect(self.show_menu)
        table.layout_edited.connect(self._layout_edited)
        # In the list's own context menu (the Menu key, Shift+F10): a submenu and the dialog.
        self.submenu = QMenu("Columns", table)
        self.submenu.aboutToShow.connect(lambda: self.build_menu(self.submenu))
        self.columns_action = QAction("Columns", table)
        self.columns_action.setObjectName("list.columns")
        self.columns_action.setMenu(self.submenu)
        self.choose_action = QAction("Choose Columns\u2026", table)
        self.choose_action.setObjectName("list.choose_columns")
        self.choose_action.setShortcut(QKeySequence(CHOOSE_SHORTCUT))
        self.choose_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.choose_action.setToolTip("Choose, find and order the list's columns")
        self.choose_action.triggered.connect(lambda: self.open_dialog())
        table.addAction(self.columns_action)
        table.addAction(self.choose_action)

    # -- what the list shows -------------------------------------------------------------
    def layout(self, module: str) -> ListLayout | None:
        """The remembered layout of ``module``'s list."""
        scope = layout_scope(self.browser.backend)
        if scope is None:
            return self._memory.get(module)
        return scope.store.get(scope.profile, module)

    def columns_for(self, mdef: ModuleDef) -> tuple[FieldDef, ...]:
        """Browser.columns_for: the user's columns of ``mdef``'s list, else the CRM's."""
        return chosen_columns(mdef, self.layout(mdef.name))

    def _width_of(self, name: str) -> int | None:
        mdef = self.browser.module
        layout = self.layout(mdef.name) if mdef is not None else None
        return layout.widths.get(name) if layout is not None else None

    def shown(self) -> tuple[str, ...]:
        """The open list's columns, left to right as shown."""
        return self.table.visual_fields()

    # -- changing them -------------------------------------------------------------------
    def apply(self, fields: Sequence[str]) -> bool:
        """Show ``fields`` (names, in order) as the open list's columns and remember them.

        False when nothing could change: no module open, no field, or a cell edit not
        saved (a notice says so).
        """
        mdef = self.browser.module
        fields = tuple(dict.fromkeys(n for n in fields if mdef is not None and mdef.has_field(n)))
        if mdef is None or not fields:
            return False
        shown = self.shown()
        if fields == shown:
            return True
        if set(fields) == set(shown):  # a new order only: move the sections, load nothing
            self.table.arrange(fields)
            self._remember(mdef, fields, self.table.hand_widths())
            self.columns_changed.emit(fields)
            return True
        if self.model.has_pending_edits():
            self.notice.emit(PENDING_EDIT_TEXT)
            return False
        widths = {n: w for n, w in self.table.hand_widths().items() if n in fields}
        self._remember(mdef, fields, widths)
        self.browser.relist(mdef.name)
        self.columns_changed.emit(self.shown())
        return True

    def add(self, name: str) -> bool:
        return self.apply((*self.shown(), name))

    def remove(self, name: str) -> bool:
        return self.apply(tuple(n for n in self.shown() if n != name))

    def reset(self) -> bool:
        """Forget the choice (columns, order, widths): the CRM's columns show again."""
        mdef = self.browser.module
        if mdef is None:
            return False
        if self.model.has_pending_edits():
            self.notice.emit(PENDING_EDIT_TEXT)
            return False
        self._write(mdef.name, ListLayout())
        self.browser.relist(mdef.name)
        self.columns_changed.emit(self.shown())
        return True

    def _remember(self, mdef: ModuleDef, fields: tuple[str, ...], widths: dict[str, int]) -> None:
        crm = tuple(f.name for f in mdef.columns())
        self._write(mdef.name, ListLayout(() if fields == crm else fields, widths))

    def _layout_edited(self, fields: tuple[str, ...], widths: dict[str, int]) -> None:
        """The user dragged a column to another place or its edge (reported once per drag)."""
        mdef = self.browser.module
        if mdef is not None and fields:
            self._remember(mdef, fields, widths)

    def _write(self, module: str, layout: ListLayout) -> None:
        scope = layout_scope(self.browser.backend)
        if scope is None:
            if layout.empty:
                self._memory.pop(module, None)
            else:
                self._memory[module] = layout
            return
        try:
            scope.store.save(scope.profile, module, layout)
        except OSError as exc:
            log.warning("could not write %s: %s", scope.store.path, exc)
            self._memory[module] = layout
            self.notice.emit(
                f"The columns could not be remembered ({exc.strerror or exc}): "
                f"check that {scope.store.directory} can be written."
            )

    # -- menu and dialog -----------------------------------------------------------------
    def build_menu(self, menu: QMenu) -> None:
        """Fill ``menu``: the dialog, reset, then each listable field, checked when shown."""
        menu.clear()
        mdef = self.browser.module
        if mdef is None:
            menu.addAction("Open a module first").setEnabled(False)
            return
        # The dialog and the reset first: reachable at once in a menu of 60 fields.
        choose = menu.addAction("Choose Columns\u2026")
        choose.setShortcut(QKeySequence(CHOOSE_SHORTCUT))
        choose.triggered.connect(lambda: self.open_dialog())
        reset = menu.addAction("Reset to the CRM's Columns")
        reset.triggered.connect(lambda: self.reset())
        layout = self.layout(mdef.name)
        reset.setEnabled(layout is not None and not layout.empty)
        menu.addSeparator()
        shown = self.shown()
        fields = menu_order(mdef, shown)
        names = labels(fields)
        for fdef in fields:
            action = menu.addAction(_menu_text(names[fdef.name]))
            action.setCheckable(True)
            on = fdef.name in shown
            action.setChecked(on)
            action.setData(fdef.name)
            action.setToolTip(plain_tip(f"{fdef.label} — {fdef.name}"))
            if on and len(shown) == 1:
                action.setEnabled(False)  # a list keeps one column at least
            action.triggered.connect(
                lambda checked, name=fdef.name: self.add(name) if checked else self.remove(name)
            )
        menu.setToolTipsVisible(True)

    def show_menu(self, pos: QPoint) -> QMenu:
        """The header's context menu, at global position ``pos``."""
        if self.menu is not None:
            self.menu.close()
            self.menu.deleteLater()
        self.menu = QMenu(self.table)
        self.build_menu(self.menu)
        self.menu.popup(pos)
        return self.menu

    def open_dialog(self) -> ColumnDialog | None:
        """Choose Columns…: the dialog over the open module's fields; OK applies."""
        mdef = self.browser.module
        if mdef is None:
            self.notice.emit("Open a module first, then choose its columns.")
            return None
        if self.dialog is not None:
            self.dialog.close()
            self.dialog.deleteLater()
        crm = tuple(f.name for f in mdef.columns())
        dialog = self.dialog = ColumnDialog(mdef, self.shown(), crm, self.table)
        dialog.accepted.connect(lambda: self._dialog_done(dialog, mdef))
        dialog.open()
        return dialog

    def _dialog_done(self, dialog: ColumnDialog, mdef: ModuleDef) -> None:
        if self.browser.module is mdef:
            self.apply(dialog.chosen())
