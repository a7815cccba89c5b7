"""Quick open / global search (Ctrl+K, Ctrl+Shift+F): type, pick with the arrows, Enter.

:class:`QuickOpen` is a small popup over the main window.  Typing waits a moment
(debounce), then asks the connection's ``search`` through the task runner under
one key, so a newer search cancels the one it supersedes; results are grouped by
module.  Errors and "no results" are shown in the popup as plain text.

A search asks for :data:`FIRST_LIMIT` records.  When it answered that many (there may
be more), a last entry "Show more results" is offered: Enter on it, a click, or
Ctrl+Down anywhere searches the same text again for twice as many (up to
:data:`MAX_LIMIT`), keeps the selection on the record it was on and shows the longer
list; the entry goes once fewer than asked come back.  Typing starts again from
:data:`FIRST_LIMIT`.

:func:`open_ref` shows a chosen record in a workspace: after the record pane's
unsaved-changes guard, it switches to the record's module, loads the record into
the pane and selects its row once the list has it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QFont, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHeaderView,
    QLineEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from crmdesk.core.errors import CrmError
from crmdesk.core.records import Record, RecordRef
from crmdesk.core.schema import ModuleDef
from crmdesk.ui.errors import describe
from crmdesk.ui.format import plain_tip
from crmdesk.ui.tasks import TaskRunner
from crmdesk.ui.views.detail import plain_label

if TYPE_CHECKING:
    from crmdesk.ui.workspace import Workspace

log = logging.getLogger(__name__)

#: (text, at most how many) -> matching records (the connection's ``Backend.search``).
SearchFn = Callable[[str, int], Awaitable[list[RecordRef]]]
DEBOUNCE_MS = 250
#: The runner key of quick-open searches: one at a time per connection.
TASK_KEY = "quick_open"
#: How many records a search asks for first; "Show more results" doubles it up to MAX_LIMIT.
FIRST_LIMIT = 30
MAX_LIMIT = 500
#: The key that asks for more results, as shown in the entry.
MORE_SHORTCUT = "Ctrl+Down"
MORE_TEXT = f"Show more results ({MORE_SHORTCUT})"
LOADING_MORE_TEXT = "Loading more results…"
_REF_ROLE = Qt.ItemDataRole.UserRole


class QuickOpen(QDialog):
    """The quick-open popup of one connection."""

    #: The user chose a record (its RecordRef).
    chosen = Signal(object)

    def __init__(
        self,
        search: SearchFn,
        runner: TaskRunner,
        module_label: Callable[[str], str] = lambda name: name,
        parent: QWidget | None = None,
        *,
        title: str = "Quick open",
        first_limit: int = FIRST_LIMIT,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setObjectName("quickOpen")
        self.setStyleSheet("QDialog#quickOpen { border: 1px solid palette(dark); }")
        self.search_fn = search
        self.runner = runner
        self.module_label = module_label
        self.box = QLineEdit()
        self.box.setPlaceholderText("Search records by name, email or phone…")
        self.box.setAccessibleName("Search records")
        self.box.setClearButtonEnabled(True)
        self.box.installEventFilter(self)
        self.results = QTreeWidget()
        self.results.setColumnCount(2)
        self.results.setHeaderHidden(True)
        self.results.setRootIsDecorated(False)
        self.results.setIndentation(0)
        self.results.setUniformRowHeights(True)
        self.results.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.results.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.results.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.state = plain_label("Type to search this connection's records.")
        self.state.setObjectName("quickOpenState")
        self.state.setWordWrap(True)
        self.state.setContentsMargins(4, 2, 4, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(6)
        layout.addWidget(self.box)
        layout.addWidget(self.state)
        layout.addWidget(self.results, 1)
        self.resize(560, 380)
        self.refs: list[RecordRef] = []
        self.first_limit = max(1, min(first_limit, MAX_LIMIT))
        #: How many records the list shown (or the search on its way) asked for.
        self.limit = self.first_limit
        #: The "Show more results" entry, while offered.
        self.more_item: QTreeWidgetItem | None = None
        self._shown_text = ""
        self._loading_more = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self.search_now)
        self.box.textChanged.connect(self._typed)
        self.results.itemActivated.connect(lambda _i, _c: self.accept_current())
        self.results.itemClicked.connect(lambda _i, _c: self.accept_current())

    # -- showing -----------------------------------------------------------------------
    def popup(self) -> None:
        """Show over the top middle of the parent window, the search box focused."""
        parent = self.parentWidget()
        if parent is not None:
            top = parent.mapToGlobal(QPoint(0, 0))
            x = top.x() + max(0, (parent.width() - self.width()) // 2)
            self.move(x, top.y() + 60)
        self.show()
        self.raise_()
        self.activateWindow()
        self.box.setFocus()
        self.box.selectAll()

    # -- searching ---------------------------------------------------------------------
    def _typed(self, text: str) -> None:
        if not text.strip():
            self._timer.stop()
            self.runner.cancel(TASK_KEY)
            self._shown_text = ""
            self._show_refs([])
            self._set_state("Type to search this connection's records.")
            return
        self._timer.start()

    def search_now(self) -> asyncio.Task[None] | None:
        """Search for what is typed now (Enter, or the debounce ran out); the task."""
        self._timer.stop()
        text = self.box.text().strip()
        if not text:
            return None
        self.limit = self.first_limit
        self._loading_more = False
        self._set_state("Searching…")
        return self.runner.run(TASK_KEY, self._search(text, self.limit), label="Searching")

    def show_more(self) -> asyncio.Task[None] | None:
        """The "Show more results" entry: the same text again for twice as many; the task,
        or None when no more are offered (or they are on their way already)."""
        text = self.box.text().strip()
        if (
            self.more_item is None
            or self._loading_more
            or self._timer.isActive()
            or text != self._shown_text
        ):
            return None
        limit = min(self.limit * 2, MAX_LIMIT)
        self._loading_more = True
        self.more_item.setText(0, LOADING_MORE_TEXT)
        self._set_state(f"Searching for up to {limit} results…")
        return self.runner.run(TASK_KEY, self._search(text, limit, more=True), label="Searching")

    async def _search(self, text: str, limit: int, *, more: bool = False) -> None:
        try:
            refs = await self.search_fn(text, limit)
        except CrmError as exc:
            log.info("quick open search failed: %s", exc.message, exc_info=exc)
            self._failed(f"Search failed: {exc.message} {exc.advice}".strip(), more=more)
            return
        except Exception as exc:  # shown in the popup, logged with its traceback
            log.error("quick open search failed", exc_info=exc)
            _title, message, advice = describe(exc)
            self._failed(f"Search failed: {message} {advice}".strip(), more=more)
            return
        finally:
            if more:
                self._loading_more = False
                if self.more_item is not None:  # cancelled: offered again
                    self.more_item.setText(0, MORE_TEXT)
        if self.box.text().strip() != text:
            return  # typed on since; the next search is on its way
        # Where the selection is now: the same record stays selected in the longer list;
        # on the entry itself, the first record it brought.
        kept = self.current_ref() if more else None
        on_more = more and self.more_item is not None and self.current_is_more()
        before = {(r.module, r.id) for r in self.refs}
        scroll = self.results.verticalScrollBar().value()
        self.limit = limit
        self._shown_text = text
        offer = len(refs) >= limit and limit < MAX_LIMIT
        self._show_refs(refs, more=offer)
        if more:
            target = kept
            if on_more:
                target = next((r for r in self.refs if (r.module, r.id) not in before), None)
            self.results.verticalScrollBar().setValue(scroll)
            item = self._item_of(target) if target is not None else None
            if item is None and on_more:
                item = self.more_item if self.more_item is not None else self._last_row()
            if item is not None:
                self.results.setCurrentItem(item)
                self.results.scrollToItem(item)
        if refs:
            n = len(refs)
            hint = f"{n} result{'s' if n != 1 else ''} — ↑↓ to choose, Enter to open"
            if offer:
                hint += f", {MORE_SHORTCUT} for more"
            elif len(refs) >= limit:
                hint = f"The first {n} results — type more to narrow them; ↑↓, Enter to open"
            self._set_state(hint)
        else:
            self._set_state(f"No results for “{text}”.")

    def _failed(self, text: str, *, more: bool) -> None:
        """A search failed: the state says so; a fresh search's list empties, while the
        results shown stay when asking for more failed (the entry offered again)."""
        if not more:
            self._shown_text = ""
            self._show_refs([])
        self._set_state(text, error=True)

    def _set_state(self, text: str, *, error: bool = False) -> None:
        self.state.setText(text)
        self.state.setProperty("error", error)
        self.state.setStyleSheet("color: #b00020;" if error else "color: palette(mid);")

    def _show_refs(self, refs: list[RecordRef], *, more: bool = False) -> None:
        """Results grouped by module, in the order the modules first appear; with
        ``more``, the "Show more results" entry last."""
        self.more_item = None
        self.results.clear()
        groups: dict[str, list[RecordRef]] = {}
        for ref in refs:
            groups.setdefault(ref.module, []).append(ref)
        self.refs = [ref for group in groups.values() for ref in group]
        bold = QFont(self.results.font())
        bold.setBold(True)
        first: QTreeWidgetItem | None = None
        for module, group in groups.items():
            label = self.module_label(module)
            head = QTreeWidgetItem([f"{label} ({len(group)})", ""])
            head.setFlags(Qt.ItemFlag.ItemIsEnabled)  # readable, never chosen
            head.setFont(0, bold)
            self.results.addTopLevelItem(head)
            head.setFirstColumnSpanned(True)
            for ref in group:
                item = QTreeWidgetItem(["    " + (ref.label or ref.id), label])
                item.setData(0, _REF_ROLE, ref)
                item.setToolTip(0, plain_tip(ref.label or ref.id))
                item.setForeground(1, self.palette().placeholderText())
                self.results.addTopLevelItem(item)
                first = first or item
        if more:
            entry = QTreeWidgetItem([MORE_TEXT, ""])
            entry.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
            italic = QFont(self.results.font())
            italic.setItalic(True)
            entry.setFont(0, italic)
            entry.setForeground(0, self.palette().link())
            entry.setToolTip(0, f"Search again for up to {min(self.limit * 2, MAX_LIMIT)} results.")
            self.results.addTopLevelItem(entry)
            entry.setFirstColumnSpanned(True)
            self.more_item = entry
        if first is not None:
            self.results.setCurrentItem(first)

    def _item_of(self, ref: RecordRef) -> QTreeWidgetItem | None:
        for i in range(self.results.topLevelItemCount()):
            item = self.results.topLevelItem(i)
            if item is not None and item.data(0, _REF_ROLE) == ref:
                return item
        return None

    def _last_row(self) -> QTreeWidgetItem | None:
        rows = self._rows()
        return rows[-1] if rows else None

    def _rows(self) -> list[QTreeWidgetItem]:
        """The lines one can select: the records, then the "Show more results" entry."""
        items = [self.results.topLevelItem(i) for i in range(self.results.topLevelItemCount())]
        return [
            it
            for it in items
            if it is not None and (it.data(0, _REF_ROLE) is not None or it is self.more_item)
        ]

    # -- choosing ----------------------------------------------------------------------
    def current_ref(self) -> RecordRef | None:
        item = self.results.currentItem()
        ref = item.data(0, _REF_ROLE) if item is not None else None
        return ref if isinstance(ref, RecordRef) else None

    def current_is_more(self) -> bool:
        """Whether the "Show more results" entry is selected."""
        current = self.results.currentItem()
        return current is not None and current is self.more_item

    def move_selection(self, step: int) -> None:
        """Up / Down from the search box: the next record row (or the "Show more results"
        entry at the end), skipping module headings."""
        rows = self._rows()
        if not rows:
            return
        current = self.results.currentItem()
        pos = rows.index(current) if current in rows else -1
        pos = max(0, min(len(rows) - 1, pos + step)) if pos >= 0 else 0
        self.results.setCurrentItem(rows[pos])
        self.results.scrollToItem(rows[pos])

    def accept_current(self) -> None:
        if self._timer.isActive():
            # Enter before the debounce ran: search first, the user picks then.
            self.search_now()
            return
        if self.current_is_more():
            self.show_more()
            return
        ref = self.current_ref()
        if ref is None:
            return
        self.chosen.emit(ref)
        self.accept()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """QObject.eventFilter: the search box keeps the focus; arrows move in the list."""
        if watched is self.box and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            key = event.key()
            ctrl = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
            if key == Qt.Key.Key_Down and ctrl:
                self.show_more()
                return True
            steps = {
                Qt.Key.Key_Down: 1,
                Qt.Key.Key_Up: -1,
                Qt.Key.Key_PageDown: 8,
                Qt.Key.Key_PageUp: -8,
            }
            if key in steps:
                self.move_selection(steps[Qt.Key(key)])
                return True
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self.accept_current()
                return True
        return super().eventFilter(watched, event)

    def done(self, result: int) -> None:
        """QDialog.done: closing stops a search still running."""
        self._timer.stop()
        self.runner.cancel(TASK_KEY)
        super().done(result)


# -- opening a chosen record ------------------------------------------------------------
def open_ref(
    ws: Workspace, ref: RecordRef, select_module: Callable[[str], bool] | None = None
) -> None:
    """Show ``ref`` in ``ws``: after the unsaved-changes guard, switch to its module
    (``select_module`` selects it in the module tree; the workspace opens it directly
    when that is not given or fails), load the record, select its row when listed."""

    def show() -> None:
        _RowSelector(ws, ref.id)
        ws.detail.open_record(ref.module, ref.id)

    def go() -> None:
        if ws.current_module() == ref.module:
            show()
            return
        if not ws.cells.confirm("Opening another module"):
            return

        def opened(mdef: ModuleDef) -> None:
            ws.module_opened.disconnect(opened)
            if mdef.name == ref.module:
                show()

        ws.module_opened.connect(opened)
        if select_module is None or not select_module(ref.module):
            ws.select_module(ref.module)

    ws.detail.guard(go)


class _RowSelector(QObject):
    """Selects a record's row once the pane shows the record and the list has loaded it;
    gives up when the list finished loading without it (another page, or filtered out)."""

    def __init__(self, ws: Workspace, record_id: str) -> None:
        super().__init__(ws)
        self.ws, self.record_id = ws, record_id
        self.shown = False
        ws.detail.record_shown.connect(self._shown)
        ws.records.loading_changed.connect(self._loaded)

    def _shown(self, _mdef: ModuleDef, record: Record) -> None:
        if record.id != self.record_id:
            self._stop()
            return
        self.shown = True
        self._try()

    def _loaded(self, loading: bool) -> None:
        if not loading and self.shown:
            self._try()

    def _try(self) -> None:
        records, table = self.ws.records, self.ws.table
        row = records.row_of(self.record_id)
        if row >= 0:
            table.selectRow(row)
            table.scrollTo(records.index(row, 0))
            self._stop()
        elif not records.loading:
            self._stop()

    def _stop(self) -> None:
        self.ws.detail.record_shown.disconnect(self._shown)
        self.ws.records.loading_changed.disconnect(self._loaded)
        self.deleteLater()
