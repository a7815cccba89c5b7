"""A record list in a window of its own, beside the main window.

View → Open module in new window (Ctrl+Shift+N), the module tree's "Open in New Window"
or a middle-click open one module of an open connection in a :class:`RecordListWindow`:
a fresh :class:`~crmdesk.ui.workspace.Workspace` (filter bar, paged table, record pane,
inline and mass edits, related tabs) over the connection's signed-in Backend; no second
sign-in.  The window has its own task runner (its loads stop when it closes), status bar
and error presenter (its errors show in it, never in the main window).

:class:`ListWindows` keeps a main window's detached windows per connection and relays each
view's record changes to the other views of the same connection, so a record saved in
one window shows in the others' lists and forms.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from PySide6.QtCore import QObject, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QKeyEvent
from PySide6.QtWidgets import QMainWindow, QWidget

from crmdesk.core.schema import ModuleDef
from crmdesk.ui.actions import LIST_WINDOW_ACTIONS, install_actions
from crmdesk.ui.connections import Connection
from crmdesk.ui.errors import ErrorPresenter
from crmdesk.ui.forms.write_guard import confirm_no_writes
from crmdesk.ui.operations import RecordChange
from crmdesk.ui.tasks import TaskRunner
from crmdesk.ui.views.module_tree import kind_icon
from crmdesk.ui.views.status import StatusPanel
from crmdesk.ui.workspace import Workspace


def who(conn: Connection) -> str:
    """The connection as a window names it: profile name, and who is signed in."""
    user = conn.user_text
    return f"{conn.name} ({user})" if user else conn.name


class RecordListWindow(QMainWindow):
    """One module's records of one open connection, in a top-level window."""

    #: The window accepted a close; the window itself.
    closed = Signal(object)

    def __init__(
        self,
        conn: Connection,
        module: str,
        *,
        label: str = "",
        page_size: int | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.conn = conn
        self.module = module
        self.label = label or module
        self._force = False
        self.status = StatusPanel(self)
        self.setStatusBar(self.status)
        self.errors = ErrorPresenter(self, self.status)
        self.workspace = Workspace(
            conn.backend,
            page_size=page_size or conn.profile.page_size,
            sink=self.errors,
            verify_tls=conn.verify_tls,
        )
        self.runner: TaskRunner = self.workspace.runner
        self.setCentralWidget(self.workspace)
        self.setWindowIcon(kind_icon(conn.profile.dialect))
        self.actions_by_id = install_actions(self, self._handlers(), LIST_WINDOW_ACTIONS)
        ws = self.workspace
        ws.rows_changed.connect(self.status.set_rows)
        ws.module_opened.connect(self._module_opened)
        ws.notice.connect(lambda text: self.status.showMessage(text, 10_000))
        self.runner.busy_changed.connect(self.status.set_busy)
        self.status.cancel.clicked.connect(self.runner.cancel_all)
        self.status.set_tls_warning(not conn.verify_tls)
        self.retitle()
        self.resize(self.sizeHint())
        ws.select_module(module)

    def sizeHint(self) -> QSize:
        """QWidget.sizeHint: a list and the record pane, smaller than the main window."""
        return QSize(1100, 700)

    def _handlers(self) -> dict[str, Callable[[], object]]:
        # Closures without parameters: QAction.triggered would pass its ``checked`` flag
        # into a defaulted one (``save(then=…)``).
        ws = self.workspace
        return {
            "window.close": lambda: self.close(),
            "view.refresh": lambda: ws.browser.refresh(),
            "view.retry": lambda: ws.retry(),
            "view.cancel": lambda: self.runner.cancel_all(),
            "go.filter": lambda: ws.filter_bar.focus_quick(),
            "go.records": lambda: ws.table.setFocus(),
            "go.details": lambda: ws.detail.setFocus(),
            "go.back": lambda: ws.detail.back(),
            "go.forward": lambda: ws.detail.forward(),
            "record.new": lambda: ws.new_record(),
            "record.save": lambda: ws.detail.save(),
            "record.revert": lambda: ws.detail.discard_edits(),
            "record.delete": lambda: ws.delete_record(),
            "record.export": lambda: ws.export_list(),
        }

    def retitle(self) -> None:
        """Name the connection (and who is signed in) and the module in title and status."""
        name = who(self.conn)
        self.setWindowTitle(f"{self.label} — {name} — crmdesk")
        self.status.set_connection(name, self.conn.tooltip())
        self.status.set_module(self.label)

    def _module_opened(self, mdef: ModuleDef) -> None:
        self.label = mdef.label
        self.retitle()

    # -- closing -----------------------------------------------------------------------
    def keyPressEvent(self, event: QKeyEvent) -> None:
        """QWidget.keyPressEvent: Esc that no editor, filter box or popup took closes."""
        if event.key() == Qt.Key.Key_Escape and event.modifiers() in (
            Qt.KeyboardModifier.NoModifier,
            Qt.KeyboardModifier.KeypadModifier,
        ):
            event.accept()
            self.close()
            return
        super().keyPressEvent(event)

    def close_now(self) -> None:
        """Close without asking (the caller asked already, or the connection is gone)."""
        self._force = True
        self.close()

    def _close_later(self) -> None:
        QTimer.singleShot(0, self.close)

    def closeEvent(self, event: QCloseEvent) -> None:
        """QWidget.closeEvent: ask about an unsaved edit (Save closes once the server
        accepted it, Cancel keeps the window), then stop every load of this window."""
        if not self._force and not (
            confirm_no_writes(self, [self.runner], "Close", self._close_later)
            and self.workspace.cells.confirm("Closing the window")
            and self.workspace.detail.guard(lambda: None, after_save=self._close_later)
        ):
            event.ignore()
            return
        self.runner.cancel_all()
        if self.errors.dialog is not None:
            self.errors.dialog.close()
        super().closeEvent(event)
        self.closed.emit(self)


class ListWindows(QObject):
    """The detached record-list windows of a main window, per connection."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.windows: list[RecordListWindow] = []
        self._main: dict[int, Workspace] = {}
        self._disposing: set[asyncio.Task[None]] = set()
        self._relaying = False

    # -- the views of a connection -----------------------------------------------------
    def watch(self, cid: int, ws: Workspace) -> None:
        """The main window's workspace of connection ``cid``: its record changes reach
        the detached windows of ``cid``, and theirs reach it."""
        self._main[cid] = ws
        ws.ops.changed.connect(lambda change: self._relay(cid, ws, change))

    def of(self, cid: int | None = None) -> list[RecordListWindow]:
        """The open windows of connection ``cid`` (of every connection when None)."""
        return [w for w in self.windows if cid is None or w.conn.id == cid]

    def views(self, cid: int) -> list[Workspace]:
        main = self._main.get(cid)
        return ([main] if main is not None else []) + [w.workspace for w in self.of(cid)]

    def _relay(self, cid: int, source: Workspace, change: RecordChange) -> None:
        """A view of ``cid`` changed a record: every other view of ``cid`` applies it
        (once: what they re-announce while applying is not relayed again)."""
        if self._relaying:
            return
        self._relaying = True
        try:
            for ws in self.views(cid):
                if ws is not source:
                    ws.apply_change(change)
        finally:
            self._relaying = False

    def retitle(self, cid: int) -> None:
        """Who is signed in to ``cid`` became known: the windows name them."""
        for win in self.of(cid):
            win.retitle()

    # -- opening -----------------------------------------------------------------------
    def open(
        self, conn: Connection, module: str, *, label: str = "", page_size: int | None = None
    ) -> RecordListWindow:
        """Show ``module`` of ``conn`` in a new window (it loads its first page now)."""
        win = RecordListWindow(conn, module, label=label, page_size=page_size)
        self.windows.append(win)
        cid, ws = conn.id, win.workspace
        ws.ops.changed.connect(lambda change: self._relay(cid, ws, change))
        win.closed.connect(self._closed)
        win.show()
        return win

    # -- closing -----------------------------------------------------------------------
    def guard(self, cid: int | None, retry: Callable[[], None]) -> bool:
        """Ask each window of ``cid`` (every window when None) with an unsaved edit:
        Save / Discard / Cancel.  False when the user cancelled or a save is under way
        (``retry`` runs once it succeeded); True when nothing unsaved is left."""
        for win in self.of(cid):
            if not win.workspace.detail.dirty and not win.workspace.cells.unsaved():
                continue
            win.raise_()
            win.activateWindow()
            if not win.workspace.cells.confirm("Closing the window"):
                return False
            if not win.workspace.detail.guard(lambda: None, after_save=retry):
                return False
        return True

    def close(self, cid: int | None = None) -> None:
        """Close the windows of ``cid`` (all when None) without asking: call :meth:`guard`
        first where an edit may be open."""
        for win in self.of(cid):
            win.close_now()

    def forget(self, cid: int) -> None:
        """Connection ``cid`` is closing: its windows close, its changes go nowhere."""
        self._main.pop(cid, None)
        self.close(cid)

    def _closed(self, win: RecordListWindow) -> None:
        if win in self.windows:
            self.windows.remove(win)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop any more (the app is ending): nothing runs
            win.deleteLater()
            return
        task = loop.create_task(self._dispose(win))
        self._disposing.add(task)
        task.add_done_callback(self._disposing.discard)

    async def _dispose(self, win: RecordListWindow) -> None:
        """Wait until the window's tasks have unwound, then delete it: no late result
        lands in a closed window."""
        try:
            await win.runner.shutdown()
            await asyncio.sleep(0)  # the runner's done-callbacks, before it is deleted
        finally:
            win.deleteLater()

    async def settle(self) -> None:
        """Wait until every closed window has been disposed of."""
        if self._disposing:
            await asyncio.gather(*self._disposing, return_exceptions=True)

    async def shutdown(self) -> None:
        """On quit: close every window (no questions: the main window asked), wait."""
        self.close()
        await self.settle()
