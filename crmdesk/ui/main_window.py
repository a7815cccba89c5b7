"""The main window only assembles views: connection / module tree | the current
connection's workspace (record list | record pane), menus from the action table.

Several connections can be open; each has a :class:`~crmdesk.ui.workspace.Workspace`
and a top-level node in the tree.  ``records``, ``browser``, ``detail``, ``runner`` …
are the current connection's.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QCloseEvent, QDesktopServices
from PySide6.QtWidgets import QMainWindow, QMessageBox, QSplitter, QStackedWidget, QWidget

import crmdesk
from crmdesk.backends import open_backend
from crmdesk.core.backend import Backend
from crmdesk.core.connection import ConnectionProfile, Secrets
from crmdesk.core.errors import AuthError
from crmdesk.core.registry import LABELS
from crmdesk.storage.connections import ConnectionStore
from crmdesk.storage.logfile import log_file_path
from crmdesk.storage.paths import ensure_private_dir
from crmdesk.ui.actions import install_actions, window_actions
from crmdesk.ui.admin import ADMIN_VIEWS, AdminView, PicklistView
from crmdesk.ui.browser import Browser
from crmdesk.ui.connect import ConnectDialog
from crmdesk.ui.connections import (
    Connection,
    Opener,
    can_resume,
    disconnect,
    fetch_user,
    let_go,
    sign_in,
)
from crmdesk.ui.errors import ErrorPresenter
from crmdesk.ui.forms.pane import RecordPane
from crmdesk.ui.forms.write_guard import confirm_no_writes
from crmdesk.ui.list_window import ListWindows, RecordListWindow
from crmdesk.ui.models.modules import ConnectionTreeModel, ModuleTreeModel
from crmdesk.ui.models.records import RecordTableModel
from crmdesk.ui.operations import Operations
from crmdesk.ui.secret_prompt import ask_secrets
from crmdesk.ui.signin_browser import WAITING_TEXT, BrowserWaitDialog, watch_browser
from crmdesk.ui.tasks import TaskRunner
from crmdesk.ui.views.columns import remember_layouts
from crmdesk.ui.views.detail import plain_label
from crmdesk.ui.views.error_banner import ErrorBanner
from crmdesk.ui.views.module_tree import ModuleTree, kind_icon
from crmdesk.ui.views.quick_open import QuickOpen, open_ref
from crmdesk.ui.views.record_table import RecordTableView
from crmdesk.ui.views.status import StatusPanel
from crmdesk.ui.workspace import Workspace

if TYPE_CHECKING:
    from crmdesk.demo.server import DemoHost

log = logging.getLogger(__name__)

#: (parent, profile, missing secret names, why) -> the typed secrets, or None if cancelled.
AskSecrets = Callable[[QWidget, ConnectionProfile, Sequence[str], str], Awaitable[Secrets | None]]

NO_CONNECTION = "Connect to a CRM with File → Connect… (Ctrl+Shift+O)."


class MainWindow(QMainWindow):
    #: The set of open connections changed (added or closed).
    connections_changed = Signal()
    #: The window accepted a close (Quit); the app then calls :meth:`shutdown`.
    closed = Signal()

    def __init__(
        self,
        backend: Backend | None = None,
        *,
        connection_name: str = "",
        page_size: int = 100,
        runner: TaskRunner | None = None,
        profile: ConnectionProfile | None = None,
        store: ConnectionStore | None = None,
        demo: DemoHost | None = None,
        opener: Opener | None = None,
    ) -> None:
        super().__init__()
        self.setWindowTitle("crmdesk")
        self.status = StatusPanel(self)
        self.setStatusBar(self.status)
        self.errors = ErrorPresenter(self, self.status)
        #: Connecting and disconnecting run here (not on a connection's own runner).
        self.session_runner = TaskRunner(self.errors, parent=self)
        self.store = store
        self.demo = demo
        self.opener = opener
        self.ask_secrets: AskSecrets = ask_secrets
        #: Opens a folder or file in the desktop's handler; replaceable in tests.
        self.open_url: Callable[[QUrl], object] = QDesktopServices.openUrl
        self.connections: dict[int, Connection] = {}
        self.workspaces: dict[int, Workspace] = {}
        self.current_id: int | None = None
        self.connect_dialog: ConnectDialog | None = None
        self.about_box: QMessageBox | None = None
        self.quick_open: QuickOpen | None = None
        #: Record lists in windows of their own (View → Open module in new window).
        self.list_windows = ListWindows(self)
        self._started = False
        self._switching = False

        self.tree_model = ConnectionTreeModel(self)
        self.module_tree = ModuleTree(self.tree_model)
        self.empty = plain_label(NO_CONNECTION)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setEnabled(False)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty)
        self.splitter = self._assemble()
        self.actions_by_id = install_actions(
            self, self._handlers(), window_actions(demo=demo is not None)
        )
        self.status.cancel.clicked.connect(self._cancel)
        self.module_tree.module_selected.connect(self._select_module)
        self.module_tree.open_in_window.connect(self.open_module_window)
        if backend is not None:
            name = connection_name or LABELS.get(backend.dialect, backend.dialect)
            conn = Connection(
                name,
                profile or ConnectionProfile(name, backend.dialect, ""),
                backend,
            )
            self.add_connection(conn, page_size=page_size, runner=runner)
        self._update_actions()

    def sizeHint(self) -> QSize:
        """QWidget.sizeHint: roomy enough for eight columns and the detail pane."""
        return QSize(1280, 800)

    def start(self) -> None:
        """Load the module lists (and who is signed in) of the connections opened so far."""
        self._started = True
        for cid in list(self.workspaces):
            self._start_connection(cid)

    def _assemble(self) -> QSplitter:
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self.module_tree)
        splitter.addWidget(self.stack)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([250, 1030])
        self.setCentralWidget(splitter)
        self.resize(self.sizeHint())
        return splitter

    def _handlers(self) -> dict[str, Callable[[], object]]:
        handlers: dict[str, Callable[[], object]] = {
            "file.connect": self.open_connect_dialog,
            "file.disconnect": self.disconnect_current,
            "file.quit": self.close,
            "view.refresh": self._on_ws(lambda ws: ws.browser.refresh()),
            "view.retry": self._on_ws(lambda ws: ws.records.retry()),
            "view.cancel": self._cancel,
            "view.open_in_window": self.open_module_window,
            "go.find_module": self._find_module,
            "go.filter": self._on_ws(lambda ws: ws.filter_bar.focus_quick()),
            "go.quick_open": self.open_quick_open,
            "go.search": self.open_quick_open,
            "go.modules": self.module_tree.view.setFocus,
            "go.records": self._on_ws(lambda ws: ws.table.setFocus()),
            "go.details": self._on_ws(lambda ws: ws.detail.setFocus()),
            "go.back": self._on_ws(lambda ws: ws.detail.back()),
            "go.forward": self._on_ws(lambda ws: ws.detail.forward()),
            "record.new": self.new_record,
            "record.save": self._on_ws(lambda ws: ws.detail.save()),
            "record.revert": self._on_ws(lambda ws: ws.detail.discard_edits()),
            "record.delete": self.delete_record,
            "record.export": self._on_ws(lambda ws: ws.export_list()),
            "help.show_log": self.show_log,
            "help.about": self._about,
        }
        for view in ADMIN_VIEWS:
            handlers[view.id] = self._admin_handler(view)
        for dialect in LABELS:
            handlers[f"demo.{dialect}"] = self._demo_handler(dialect)
        return handlers

    # Closures without parameters: QAction.triggered would pass its ``checked`` flag
    # into a defaulted one.
    def _admin_handler(self, view: AdminView) -> Callable[[], object]:
        return lambda: self.open_admin_view(view)

    def _demo_handler(self, dialect: str) -> Callable[[], object]:
        return lambda: self.open_demo(dialect)

    def _on_ws(self, act: Callable[[Workspace], object]) -> Callable[[], None]:
        def run() -> None:
            ws = self.current
            if ws is None:
                self.status.showMessage(NO_CONNECTION, 8000)
                return
            act(ws)

        return run

    # -- the current connection --------------------------------------------------------
    @property
    def current(self) -> Workspace | None:
        return self.workspaces.get(self.current_id) if self.current_id is not None else None

    @property
    def current_connection(self) -> Connection | None:
        return self.connections.get(self.current_id) if self.current_id is not None else None

    def _ws(self) -> Workspace:
        ws = self.current
        if ws is None:
            raise RuntimeError("no connection is open")
        return ws

    @property
    def runner(self) -> TaskRunner:
        ws = self.current
        return ws.runner if ws is not None else self.session_runner

    @property
    def records(self) -> RecordTableModel:
        return self._ws().records

    @property
    def modules(self) -> ModuleTreeModel:
        return self._ws().modules

    @property
    def browser(self) -> Browser:
        return self._ws().browser

    @property
    def table(self) -> RecordTableView:
        return self._ws().table

    @property
    def banner(self) -> ErrorBanner:
        return self._ws().banner

    @property
    def ops(self) -> Operations:
        return self._ws().ops

    @property
    def detail(self) -> RecordPane:
        return self._ws().detail

    def connection_named(self, name: str) -> Connection | None:
        return next((c for c in self.connections.values() if c.name == name), None)

    def connection_store(self) -> ConnectionStore:
        if self.store is None:
            self.store = ConnectionStore()
        return self.store

    # -- adding, switching, closing connections ----------------------------------------
    def add_connection(
        self,
        conn: Connection,
        *,
        page_size: int | None = None,
        runner: TaskRunner | None = None,
    ) -> Workspace:
        """Show a signed-in connection: a tree node, a workspace; it becomes current."""
        ws = Workspace(
            conn.backend,
            page_size=page_size or conn.profile.page_size,
            runner=runner,
            sink=self.errors,
            verify_tls=conn.verify_tls,
        )
        if self.store is not None:  # list columns chosen are remembered beside the profiles
            remember_layouts(conn.backend, conn.name, self.store.profiles.directory)
        cid = conn.id
        self.connections[cid] = conn
        self.workspaces[cid] = ws
        self.stack.addWidget(ws)
        self.list_windows.watch(cid, ws)

        def if_current(act: Callable[[], object]) -> Callable[..., None]:
            def run(*_args: object) -> None:
                if self.current_id == cid:
                    act()

            return run

        ws.rows_changed.connect(if_current(lambda: self.status.set_rows(ws.rows_text())))
        ws.module_opened.connect(if_current(self._show_module_label))
        ws.notice.connect(lambda text: self.status.showMessage(text, 10_000))
        ws.runner.busy_changed.connect(if_current(lambda: self.status.set_busy(ws.runner.busy())))
        # Sugar tells when a 412 made it reload changed metadata: the open list and form
        # take the new definitions (the backend dies with the connection, so do these).
        listeners = getattr(conn.backend, "metadata_listeners", None)
        if isinstance(listeners, list):
            listeners.append(lambda: self.metadata_changed(cid))
        self.tree_model.add_connection(
            cid,
            conn.title,
            ws.modules,
            tooltip=conn.tooltip(),
            icon=kind_icon(conn.profile.dialect),
        )
        self.set_current(cid)
        if self._started:
            self._start_connection(cid)
        self._update_actions()
        self.connections_changed.emit()
        return ws

    def _start_connection(self, cid: int) -> None:
        ws, conn = self.workspaces[cid], self.connections[cid]
        if ws.started:
            return
        ws.start()
        self.session_runner.run(f"user:{cid}", self._show_user(conn), label="Asking who I am")

    async def _show_user(self, conn: Connection) -> None:
        if await fetch_user(conn) is not None and conn.id in self.connections:
            self.tree_model.set_connection_title(conn.id, conn.title, conn.tooltip())
            self.list_windows.retitle(conn.id)
            if conn.id == self.current_id:
                self._show_connection_status()

    def set_current(self, cid: int | None) -> None:
        """Show connection ``cid``'s workspace; the status bar names it."""
        if cid is not None and cid not in self.workspaces:
            raise KeyError(cid)
        if cid != self.current_id:
            self.status.clearMessage()  # a message about another connection would mislead
        self.current_id = cid
        self.tree_model.set_current(cid)
        self.module_tree.current_connection = cid
        ws = self.current
        self.stack.setCurrentWidget(ws if ws is not None else self.empty)
        self._show_connection_status()
        self.status.set_rows(ws.rows_text() if ws else "")
        self.status.set_busy(ws.runner.busy() if ws else False)
        self._show_module_label()
        if ws is not None:
            selected = self.module_tree.selected_module()
            module = ws.current_module()
            if module is not None and selected != (cid, module):
                self._quietly(lambda: self.module_tree.select_module(module, cid))
        self._update_actions()

    def _show_connection_status(self) -> None:
        conn = self.current_connection
        if conn is None:
            self.status.set_connection("Not connected")
            self.status.set_tls_warning(False)
            self.setWindowTitle("crmdesk")
            return
        self.status.set_connection(conn.name, conn.tooltip())
        self.status.set_tls_warning(not conn.verify_tls)
        self.setWindowTitle(f"crmdesk — {conn.name}")

    def _show_module_label(self) -> None:
        ws = self.current
        mdef = ws.browser.module if ws is not None else None
        self.status.set_module(mdef.label if mdef is not None else "")

    def _quietly(self, change: Callable[[], object]) -> None:
        self._switching = True
        try:
            change()
        finally:
            self._switching = False

    def _update_actions(self) -> None:
        has = self.current is not None
        for aid, action in self.actions_by_id.items():
            if aid.startswith(("record.", "view.", "admin.")) or aid in (
                "file.disconnect",
                "go.filter",
                "go.quick_open",
                "go.search",
                "go.records",
                "go.details",
                "go.back",
                "go.forward",
            ):
                action.setEnabled(has)

    def disconnect_current(self) -> None:
        """File → Disconnect: after the unsaved-changes prompt, log out and forget."""
        if self.current_id is not None:
            self.disconnect_connection(self.current_id)

    def disconnect_connection(self, cid: int) -> None:
        """Ask about unsaved edits of connection ``cid`` (its own windows first; Cancel
        closes nothing), then log out and forget it."""
        ws = self.workspaces.get(cid)
        if ws is None:
            return

        def again() -> None:  # a window's edit was saved: ask about the rest, then close
            QTimer.singleShot(0, lambda: self.disconnect_connection(cid))

        runners = [ws.runner] + [w.runner for w in self.list_windows.of(cid)]
        if not confirm_no_writes(self, runners, "Disconnect", again):
            return
        if not self.list_windows.guard(cid, again):
            return
        if not ws.cells.confirm("Disconnecting"):
            return

        def close() -> None:
            self.close_connection(cid)

        ws.detail.guard(close)

    def close_connection(self, cid: int, *, logout: bool = True) -> asyncio.Task[None] | None:
        """Take connection ``cid`` off the window, then log out (or just let go)."""
        conn = self.connections.pop(cid, None)
        ws = self.workspaces.pop(cid, None)
        if conn is None or ws is None:
            return None
        for view in self._admin_windows(conn.backend):
            view.close()
        self.list_windows.forget(cid)
        self.tree_model.remove_connection(cid)
        self.stack.removeWidget(ws)
        ws.hide()
        if self.current_id == cid:
            remaining = list(self.workspaces)
            self.set_current(remaining[-1] if remaining else None)
        self._update_actions()
        self.connections_changed.emit()
        self.status.showMessage(f"Closed {conn.name}.", 8000)
        return self.session_runner.run(
            f"close:{cid}", self._close(conn, ws, logout), label=f"Closing {conn.name}"
        )

    async def _close(self, conn: Connection, ws: Workspace, logout: bool) -> None:
        try:
            await ws.runner.shutdown()
            await self.list_windows.settle()  # the connection's own windows stopped too
            await asyncio.sleep(0)  # the runner's done-callbacks, before it is deleted
            if logout:
                await disconnect(conn, self.store)
            else:
                await let_go(conn)
        finally:
            ws.deleteLater()

    async def shutdown(self) -> None:
        """On quit: stop every load; remembered sessions stay valid for the next start."""
        conns = [(c, self.workspaces[cid]) for cid, c in self.connections.items()]
        self.connections.clear()
        self.workspaces.clear()
        await self.list_windows.shutdown()
        await self.session_runner.shutdown()
        for _conn, ws in conns:
            await ws.runner.shutdown()
        # Let the runners' done-callbacks run while their QObjects still exist.
        await asyncio.sleep(0)
        for conn, _ws in conns:
            await let_go(conn)

    # -- connecting ----------------------------------------------------------------------
    def open_connect_dialog(self, select: str | None = None) -> ConnectDialog:
        """File → Connect…: choose or make a profile; its connection opens on OK."""
        if self.connect_dialog is not None and self.connect_dialog.isVisible():
            self.connect_dialog.raise_()
            self.connect_dialog.activateWindow()
            return self.connect_dialog
        store = self.connection_store()
        dlg = ConnectDialog(store, self, select=select or store.profiles.last_used or None)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        dlg.connection_ready.connect(
            lambda profile, secrets: self.connect_to(profile, secrets, from_dialog=dlg)
        )
        dlg.destroyed.connect(lambda _o=None: setattr(self, "connect_dialog", None))
        self.connect_dialog = dlg
        dlg.open()
        return dlg

    def connect_to(
        self,
        profile: ConnectionProfile,
        secrets: Secrets,
        *,
        from_dialog: ConnectDialog | None = None,
    ) -> asyncio.Task[Connection | None]:
        """Sign in with ``profile`` in the background; the connection is added when done."""
        remembered = False
        if self.store is not None or from_dialog is not None:
            store = self.connection_store()
            saved = store.profiles.get(profile.name)
            remembered = bool(saved and saved.remember_secrets and store.secrets.available)
        return self.session_runner.run(
            f"connect:{profile.name}",
            self._connect(profile, secrets, remembered),
            label=f"Connecting to {profile.name}",
        )

    async def _connect(
        self, profile: ConnectionProfile, secrets: Secrets, remembered: bool
    ) -> Connection | None:
        existing = self.connection_named(profile.name)
        if existing is not None:
            self.set_current(existing.id)
            self.status.showMessage(f"{profile.name} is open already.", 8000)
            return existing
        self.status.showMessage(f"Connecting to {profile.name} …")
        base: Opener = self.opener if self.opener is not None else open_backend
        task = asyncio.current_task()
        waiting: list[BrowserWaitDialog] = []

        def show_wait(url: str) -> None:
            """A sign-in in the browser: say so, show the address, offer Cancel."""
            if not waiting:
                waiting.append(BrowserWaitDialog(self, profile.name, task))
            waiting[0].show_url(url)
            self.status.showMessage(f"{profile.name}: {WAITING_TEXT}")

        def opener(p: ConnectionProfile, s: Secrets) -> Backend:
            backend = base(p, s)
            watch_browser(backend, show_wait)
            return backend

        try:
            conn = await sign_in(
                profile,
                secrets,
                store=self.store if remembered else None,
                remembered=remembered,
                opener=opener,
            )
        except asyncio.CancelledError:
            self.status.showMessage(f"Not connected to {profile.name}.", 8000)
            raise
        finally:
            for dlg in waiting:
                dlg.finish()
                dlg.deleteLater()
        self.add_connection(conn)
        self.status.showMessage(f"Connected to {profile.name}.", 8000)
        return conn

    def connect_profile(self, name: str) -> asyncio.Task[Connection | None]:
        """``--profile NAME``: open a saved profile, asking only for what is missing."""
        return self.session_runner.run(
            f"profile:{name}", self.open_profile(name), label=f"Connecting to {name}"
        )

    async def open_profile(self, name: str) -> Connection | None:
        """Sign in with a saved profile: remembered secrets, else a stored refresh token,
        else the secrets the user types in.  None when the user cancelled."""
        existing = self.connection_named(name)
        if existing is not None:
            self.set_current(existing.id)
            return existing
        store = self.connection_store()
        opened = store.open(name)
        profile, secrets, missing = opened.profile, opened.secrets, opened.missing
        remembered = opened.saved.remember_secrets and store.secrets.available
        reason = "" if store.secrets.available else store.secrets.status.reason
        if missing and can_resume(profile, secrets):
            try:
                return await self._connect(profile, secrets, remembered)
            except AuthError:
                log.info("the stored session of %r has ended; asking to sign in", name)
                reason = "The saved session has ended; please sign in again."
                secrets = Secrets({k: v for k, v in secrets.items() if k != "refresh_token"})
        if missing:
            typed = await self.ask_secrets(self, profile, missing, reason)
            if typed is None:
                self.status.showMessage(f"Not connected to {name}.", 8000)
                return None
            secrets = Secrets({**secrets, **typed})
        conn = await self._connect(profile, secrets, remembered)
        store.profiles.set_last_used(name)
        return conn

    def open_demo(self, dialect: str) -> asyncio.Task[Connection | None] | None:
        """Demo → Open demo as …: the running demo CRM, spoken in ``dialect``."""
        if self.demo is None:
            return None
        auth = "rest" if dialect == "vtiger" else "password"
        profile = self.demo.profile(dialect, auth)
        kind = LABELS[dialect].split(" (")[0]
        profile = replace(profile, name=f"Demo {kind}")
        return self.connect_to(profile, self.demo.secrets(dialect, auth))

    # -- module and record selection ---------------------------------------------------
    def _select_module(self, cid: int, name: str) -> None:
        if self._switching:
            return
        ws = self.workspaces.get(cid)
        if ws is None:
            return
        if cid != self.current_id:
            self.set_current(cid)
        previous = ws.current_module()
        if ws.select_module(name) or previous is None:
            return
        self._quietly(lambda: self.module_tree.select_module(previous, cid))

    def new_record(self) -> None:
        self._on_ws(lambda ws: ws.new_record())()

    def delete_record(self) -> None:
        """Delete the record selected in the list (or shown in the form), after confirming."""
        self._on_ws(lambda ws: ws.delete_record())()

    def _cancel(self) -> None:
        self.runner.cancel_all()

    def open_quick_open(self) -> QuickOpen | None:
        """Go → Quick open (Ctrl+K, Ctrl+Shift+F): search the current connection's records;
        the chosen one opens in its module."""
        ws, conn = self.current, self.current_connection
        if ws is None or conn is None:
            self.status.showMessage(NO_CONNECTION, 8000)
            return None
        if self.quick_open is not None:
            self.quick_open.close()
        cid, backend = conn.id, conn.backend

        def label(module: str) -> str:
            info = ws.modules.module_at(ws.modules.index_of(module))
            return info.label if info is not None else module

        dlg = QuickOpen(
            lambda text, limit: backend.search(text, None, limit),
            ws.runner,
            label,
            self,
            title=f"Quick open — {conn.name}",
        )
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        dlg.chosen.connect(
            lambda ref: open_ref(ws, ref, lambda m: self.module_tree.select_module(m, cid))
        )
        dlg.destroyed.connect(lambda _o=None: setattr(self, "quick_open", None))
        self.quick_open = dlg
        dlg.popup()
        return dlg

    def open_module_window(
        self, cid: int | None = None, module: str | None = None
    ) -> RecordListWindow | None:
        """View → Open module in new window (Ctrl+Shift+N), the tree's context menu, a
        middle-click: ``module`` of connection ``cid`` (by default the module selected in
        the tree, else the one shown) in a window of its own, over the same signed-in
        connection."""
        if module is None:
            selected = self.module_tree.selected_module()
            shown = self.current.current_module() if self.current is not None else None
            if selected is not None:
                cid, module = selected
            elif shown is not None:
                cid, module = self.current_id, shown
        conn = self.connections.get(cid) if cid is not None else None
        if conn is None or module is None:
            self.status.showMessage("Select a module first, then open it in a new window.", 8000)
            return None
        modules = self.workspaces[conn.id].modules
        info = modules.module_at(modules.index_of(module))
        return self.list_windows.open(conn, module, label=info.label if info else module)

    def _find_module(self) -> None:
        self.module_tree.filter.setFocus()
        self.module_tree.filter.selectAll()

    # -- tools -----------------------------------------------------------------------------
    def open_admin_view(self, view: AdminView) -> QWidget | None:
        """Tools → …: the admin view for the current connection (Compare: all of them)."""
        ws, conn = self.current, self.current_connection
        if ws is None or conn is None:
            self.status.showMessage(NO_CONNECTION, 8000)
            return None
        module = ws.current_module() or ""
        widget: QWidget
        if view.id == "admin.compare":
            pairs = [(c.name, c.backend) for c in self.connections.values()]
            # The current connection on the left.
            pairs.sort(key=lambda p: p[1] is not conn.backend)
            widget = view.open(self, pairs, ws.runner, module)
        elif view.id in ("admin.metadata", "admin.picklists"):
            widget = view.open(self, conn.backend, ws.runner, module)
        else:
            widget = view.open(self, conn.backend, ws.runner)
        title = widget.windowTitle()
        if view.id != "admin.compare" and not title.endswith(f" — {conn.name}"):
            widget.setWindowTitle(f"{title} — {conn.name}")
        if isinstance(widget, PicklistView) and not widget.property("crmdeskHooked"):
            widget.setProperty("crmdeskHooked", True)
            cid = conn.id
            widget.picklist_changed.connect(
                lambda module, _field: self.picklist_changed(cid, module)
            )
        return widget

    def picklist_changed(self, cid: int, module: str) -> None:
        """A picklist of ``module`` was edited: lists and forms take the new options."""
        ws = self.workspaces.get(cid)
        if ws is not None:
            ws.reload_definition(module)

    def metadata_changed(self, cid: int) -> None:
        """The CRM's metadata changed under connection ``cid``: the open module is read again."""
        ws = self.workspaces.get(cid)
        module = ws.current_module() if ws is not None else None
        if ws is not None and module:
            ws.reload_definition(module)

    def _admin_windows(self, backend: Backend) -> list[QWidget]:
        found: list[QWidget] = []
        for child in self.findChildren(QWidget):
            if not child.isWindow() or child is self:
                continue
            pairs = getattr(child, "connections", ())
            if getattr(child, "backend", None) is backend or any(b is backend for _n, b in pairs):
                found.append(child)
        return found

    # -- help ------------------------------------------------------------------------------
    def show_log(self) -> None:
        """Help → Show log: open the log's folder; the status bar names the file."""
        path = log_file_path()
        ensure_private_dir(path.parent)
        self.status.showMessage(f"The log is {path}", 15_000)
        self.open_url(QUrl.fromLocalFile(str(path.parent)))

    def _about(self) -> None:
        store = self.connection_store() if self.store is not None else None
        keyring = store.secrets.status if store is not None else None
        lines = [
            f"crmdesk {crmdesk.__version__} — a fast desktop browser for CRM records "
            "(SuiteCRM, SugarCRM, EspoCRM, Vtiger).",
            "",
            f"Python {sys.version.split()[0]}",
            f"Log file: {log_file_path()}",
        ]
        if keyring is not None:
            lines.append(
                f"Keyring: {keyring.backend}"
                + ("" if keyring.available else f" (unavailable: {keyring.reason})")
            )
        box = QMessageBox(QMessageBox.Icon.Information, "About crmdesk", "", parent=self)
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setText("\n".join(lines))
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        box.destroyed.connect(lambda _o=None: setattr(self, "about_box", None))
        self.about_box = box
        box.open()

    # -- closing -----------------------------------------------------------------------
    def _close_later(self) -> None:
        QTimer.singleShot(0, self.close)

    def closeEvent(self, event: QCloseEvent) -> None:
        """QWidget.closeEvent: ask about unsaved changes (in any connection), then stop
        every load.  The connections are let go by :meth:`shutdown`."""
        runners = [ws.runner for ws in self.workspaces.values()]
        runners += [w.runner for w in self.list_windows.windows]
        if not confirm_no_writes(self, runners, "Quit", self._close_later):
            event.ignore()  # waits for the writes, then closes
            return
        for cid, ws in list(self.workspaces.items()):
            if not ws.detail.dirty and not ws.cells.unsaved():
                continue
            if cid != self.current_id:
                self.set_current(cid)
            if not ws.cells.confirm("Closing crmdesk"):
                event.ignore()
                return
            if not ws.detail.guard(lambda: None, after_save=self._close_later):
                event.ignore()  # cancelled, or a save is under way that closes when it lands
                return
        if not self.list_windows.guard(None, self._close_later):
            event.ignore()
            return
        self.list_windows.close()
        for ws in self.workspaces.values():
            ws.runner.cancel_all()
        super().closeEvent(event)
        self.closed.emit()
