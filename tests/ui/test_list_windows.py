"""Record lists in windows of their own, against the demo CRM over loopback HTTP.

Opening a module in a new window (the tree's context menu, a middle-click, Ctrl+Shift+N),
the window naming its connection and module, record changes reaching the other views of
the same connection, the unsaved-changes prompt on closing it, disconnecting and quitting,
errors shown where they happened, and a second connection's module beside the first.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.admin_util import collect_garbage
from helpers.demo_window import demo_window
from helpers.edit_util import answer_box
from helpers.qasync_loop import AsyncDriver
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QMenu
from pytestqt.qtbot import QtBot

from crmdesk.core.query import Condition, Op
from crmdesk.core.records import Record
from crmdesk.demo.server import DemoServer
from crmdesk.ui.connections import Connection
from crmdesk.ui.forms.editors import LineEditor
from crmdesk.ui.list_window import RecordListWindow
from crmdesk.ui.main_window import MainWindow
from crmdesk.ui.workspace import Workspace

#: The offscreen platform plugin warns about size hints, raise() of new windows and the
#: keyboard grab of a popup menu.
pytestmark = pytest.mark.qt_log_ignore(
    "propagateSizeHints", "does not support raise", "does not support grabbing the keyboard"
)


@pytest.fixture(autouse=True)
def _main_thread_gc() -> Iterator[None]:
    collect_garbage()
    yield
    collect_garbage()


@pytest.fixture
def window(
    qtbot: QtBot, aio: AsyncDriver, demo_server: DemoServer, tmp_path: Path
) -> Iterator[MainWindow]:
    with demo_window(qtbot, aio, demo_server, tmp_path) as win:
        yield win
        for lw in list(win.list_windows.windows):
            if lw.errors.dialog is not None:
                lw.errors.dialog.close()


async def _done(task: asyncio.Task[Any] | None) -> Any:
    assert task is not None
    return await task


def open_demo(win: MainWindow, aio: AsyncDriver, dialect: str) -> Connection:
    conn = aio.run(_done(win.open_demo(dialect)), timeout=30)
    assert isinstance(conn, Connection)
    aio.wait_until(lambda: win.workspaces[conn.id].modules.rowCount() > 0, timeout=20)
    return conn


def loaded(ws: Workspace) -> bool:
    return ws.records.rowCount() > 0 and not ws.records.loading


def open_module(win: MainWindow, aio: AsyncDriver, conn: Connection, name: str) -> Workspace:
    aio.wait_until(lambda: win.tree_model.module_index(conn.id, name).isValid(), timeout=20)
    assert win.module_tree.select_module(name, conn.id)
    ws = win.workspaces[conn.id]
    aio.wait_until(lambda: ws.current_module() == name and loaded(ws), timeout=20)
    return ws


def tree_point(win: MainWindow, conn: Connection, name: str) -> QPoint:
    """The middle of ``name``'s row under ``conn`` in the tree, in viewport coordinates."""
    tree = win.module_tree
    index = tree.proxy.mapFromSource(win.tree_model.module_index(conn.id, name))
    assert index.isValid()
    tree.view.scrollTo(index)
    return tree.view.visualRect(index).center()


def only_window(win: MainWindow) -> RecordListWindow:
    assert len(win.list_windows.windows) == 1
    return win.list_windows.windows[0]


def new_account(aio: AsyncDriver, conn: Connection) -> tuple[Record, str]:
    """An Accounts record of this test's own, and the token its name carries."""
    token = uuid.uuid4().hex[:10]
    record = aio.run(conn.backend.create("Accounts", {"name": f"Listwin {token}"}), timeout=20)
    return record, token


def show_only(aio: AsyncDriver, ws: Workspace, token: str) -> None:
    """Filter ``ws``'s Accounts list down to the record whose name carries ``token``."""
    ws.browser.set_filter("Accounts", Condition("name", Op.CONTAINS, token))
    aio.wait_until(lambda: ws.records.rowCount() == 1 and not ws.records.loading, timeout=20)


def open_record(aio: AsyncDriver, ws: Workspace, row: int = 0) -> str:
    ws.table.selectRow(row)
    rid = ws.records.record_id(row)
    aio.wait_until(lambda: ws.detail.record_id == rid and not ws.runner.busy(), timeout=20)
    return rid


def edit_name(ws: Workspace, text: str) -> None:
    editor = ws.detail.form.editor("name")
    assert isinstance(editor, LineEditor)
    editor.line.setText(text)
    editor.changed.emit()
    assert ws.detail.dirty


def closed(win: MainWindow, lw: RecordListWindow) -> bool:
    return lw not in win.list_windows.windows


# -- opening -------------------------------------------------------------------------------
def test_tree_context_menu_opens_the_module_in_a_window_of_its_own(
    window: MainWindow, aio: AsyncDriver
) -> None:
    suite = open_demo(window, aio, "suitecrm")
    main = open_module(window, aio, suite, "Accounts")
    aio.wait_until(lambda: suite.user is not None, timeout=20)

    tree = window.module_tree
    tree.view.customContextMenuRequested.emit(tree_point(window, suite, "Contacts"))
    menus = [m for m in tree.findChildren(QMenu) if m.isVisible()]
    assert len(menus) == 1
    action = next(a for a in menus[0].actions() if a.objectName() == "tree.open_in_window")
    assert action.text() == "Open in New Window"
    action.trigger()
    menus[0].close()

    lw = only_window(window)
    assert lw.isVisible()
    assert lw.isWindow()
    ws = lw.workspace
    # The same signed-in connection, no second sign-in; a view of its own.
    assert ws.backend is suite.backend
    assert len(window.connections) == 1
    assert ws is not main
    assert ws.runner is not main.runner
    aio.wait_until(lambda: loaded(ws) and ws.current_module() == "Contacts", timeout=20)
    assert ws.records.record_id(0) != main.records.record_id(0)
    # Title and status bar name the connection (and who is signed in) and the module.
    assert lw.windowTitle() == f"Contacts — Demo SuiteCRM ({suite.user_text}) — crmdesk"
    assert lw.status.connection.text() == f"Demo SuiteCRM ({suite.user_text})"
    assert lw.status.module.text() == "Contacts"
    aio.wait_until(lambda: "rows" in lw.status.rows.text(), timeout=5)
    assert lw.status.rows.text() == ws.rows_text()
    assert f"{ws.records.loaded:,}" in lw.status.rows.text()
    # The main window still shows its own list.
    assert window.current is main
    assert main.current_module() == "Accounts"
    assert window.status.module.text() == "Accounts"

    # A middle-click on a module opens another window; the tree's selection stays.
    QTest.mouseClick(
        tree.view.viewport(),
        Qt.MouseButton.MiddleButton,
        Qt.KeyboardModifier.NoModifier,
        tree_point(window, suite, "Leads"),
    )
    assert [w.module for w in window.list_windows.windows] == ["Contacts", "Leads"]
    assert tree.selected_module() == (suite.id, "Accounts")
    leads = window.list_windows.windows[1].workspace
    aio.wait_until(lambda: loaded(leads), timeout=20)
    assert main.current_module() == "Accounts"


def test_ctrl_shift_n_opens_the_selected_module(window: MainWindow, aio: AsyncDriver) -> None:
    action = window.actions_by_id["view.open_in_window"]
    assert action.shortcut().toString() == "Ctrl+Shift+N"
    # No other action of the window answers the same keys.
    shortcuts = [a.shortcut().toString() for a in window.actions_by_id.values()]
    assert shortcuts.count("Ctrl+Shift+N") == 1
    assert not action.isEnabled()  # nothing open yet

    suite = open_demo(window, aio, "suitecrm")
    open_module(window, aio, suite, "Contacts")
    assert action.isEnabled()
    action.trigger()
    lw = only_window(window)
    assert lw.module == "Contacts"
    aio.wait_until(lambda: loaded(lw.workspace), timeout=20)
    assert lw.workspace.browser.module is not None
    assert lw.workspace.browser.module.name == "Contacts"
    assert "Contacts — Demo SuiteCRM" in lw.windowTitle()
    assert lw.actions_by_id["window.close"].shortcut().toString() == "Ctrl+W"
    assert lw.actions_by_id["record.save"].shortcut().toString() == "Ctrl+S"


# -- changes reach the other views ------------------------------------------------------------
def test_a_save_in_the_window_shows_in_the_main_list_and_back(
    window: MainWindow, aio: AsyncDriver
) -> None:
    suite = open_demo(window, aio, "suitecrm")
    record, token = new_account(aio, suite)
    main = open_module(window, aio, suite, "Accounts")
    show_only(aio, main, token)
    assert open_record(aio, main) == record.id
    lw = window.open_module_window(suite.id, "Accounts")
    assert lw is not None
    ws = lw.workspace
    aio.wait_until(lambda: loaded(ws), timeout=20)
    show_only(aio, ws, token)
    assert open_record(aio, ws) == record.id

    edit_name(ws, f"Listwin {token} saved in the window")
    lw.actions_by_id["record.save"].trigger()
    aio.wait_until(lambda: not ws.detail.dirty and not ws.runner.busy(), timeout=20)
    # The main window's row and its open form show the saved value, with no reload.
    assert main.records.text(main.records.row_of(record.id), 0) == (
        f"Listwin {token} saved in the window"
    )
    assert main.detail.display_text("name") == f"Listwin {token} saved in the window"
    assert not main.runner.busy()

    # And back: saved in the main window, the detached list shows it.
    edit_name(main, f"Listwin {token} saved in main")
    window.actions_by_id["record.save"].trigger()
    aio.wait_until(lambda: not main.detail.dirty and not main.runner.busy(), timeout=20)
    assert ws.records.text(ws.records.row_of(record.id), 0) == f"Listwin {token} saved in main"
    assert ws.detail.display_text("name") == f"Listwin {token} saved in main"
    assert window.errors.history == []
    assert lw.errors.history == []


def test_a_delete_in_main_removes_the_row_in_the_window_and_keeps_its_edit(
    window: MainWindow, aio: AsyncDriver
) -> None:
    suite = open_demo(window, aio, "suitecrm")
    record, token = new_account(aio, suite)
    other, _ = new_account(aio, suite)
    main = open_module(window, aio, suite, "Accounts")
    show_only(aio, main, token)
    lw = window.open_module_window(suite.id, "Accounts")
    assert lw is not None
    ws = lw.workspace
    aio.wait_until(lambda: loaded(ws), timeout=20)
    ws.browser.set_filter("Accounts", Condition("name", Op.STARTS, "Listwin "))
    aio.wait_until(
        lambda: (
            not ws.records.loading
            and ws.records.row_of(record.id) >= 0
            and ws.records.row_of(other.id) >= 0
        ),
        timeout=20,
    )
    # The window has the record open, with an unsaved edit.
    assert open_record(aio, ws, ws.records.row_of(record.id)) == record.id
    edit_name(ws, "Edited before the delete")

    open_record(aio, main)
    answer_box("Delete")
    window.actions_by_id["record.delete"].trigger()
    aio.wait_until(lambda: main.records.row_of(record.id) < 0, timeout=20)
    aio.wait_until(lambda: ws.records.row_of(record.id) < 0, timeout=5)
    assert ws.records.row_of(other.id) >= 0
    # Deleted elsewhere: the window's edit stays, nobody opened another record there.
    assert ws.detail.dirty
    assert ws.detail.record_id == record.id
    assert ws.detail.form.editor("name") is not None
    assert ws.detail.display_text("name") == "Edited before the delete"
    answer_box("Discard")
    lw.close()
    aio.wait_until(lambda: closed(window, lw), timeout=5)


# -- nothing lost on closing ------------------------------------------------------------------
def test_closing_with_an_unsaved_edit_asks_and_cancel_keeps_the_window(
    window: MainWindow, aio: AsyncDriver
) -> None:
    suite = open_demo(window, aio, "suitecrm")
    open_module(window, aio, suite, "Accounts")
    lw = window.open_module_window()
    assert lw is not None
    ws = lw.workspace
    aio.wait_until(lambda: loaded(ws), timeout=20)
    open_record(aio, ws, 2)
    original = ws.detail.display_text("name")
    edit_name(ws, "Not saved")

    seen: list[str] = []
    answer_box("Cancel", seen=seen)
    lw.actions_by_id["window.close"].trigger()  # Ctrl+W
    aio.settle(100)
    assert seen
    assert "unsaved changes" in seen[0]
    assert lw.isVisible()
    assert not closed(window, lw)
    assert ws.detail.dirty
    assert ws.detail.display_text("name") == "Not saved"

    # Esc that no editor took closes too: Discard drops the edit, the window goes.
    answer_box("Discard", seen=seen)
    QTest.keyClick(ws.table, Qt.Key.Key_Escape)
    aio.wait_until(lambda: closed(window, lw), timeout=5)
    assert len(seen) == 2
    assert not lw.isVisible()
    again = aio.run(suite.backend.get("Accounts", ws.records.record_id(2)), timeout=20)
    assert again.get("name") == original
    # Its tasks have stopped: nothing runs on a closed window.
    aio.wait_until(lambda: not lw.runner.busy(), timeout=5)


def test_disconnect_with_a_dirty_window_asks_first(window: MainWindow, aio: AsyncDriver) -> None:
    suite = open_demo(window, aio, "suitecrm")
    open_module(window, aio, suite, "Accounts")
    lw = window.open_module_window(suite.id, "Contacts")
    assert lw is not None
    ws = lw.workspace
    aio.wait_until(lambda: loaded(ws), timeout=20)
    open_record(aio, ws)
    editor = ws.detail.form.editor("last_name")
    assert isinstance(editor, LineEditor)
    editor.line.setText("Unsaved Surname")
    editor.changed.emit()
    assert ws.detail.dirty

    seen: list[str] = []
    answer_box("Cancel", seen=seen)
    window.actions_by_id["file.disconnect"].trigger()
    aio.settle(100)
    assert seen
    assert "unsaved changes" in seen[0]
    # Cancel: nothing closes.
    assert suite.id in window.connections
    assert lw.isVisible()
    assert ws.detail.dirty

    answer_box("Discard", seen=seen)
    window.actions_by_id["file.disconnect"].trigger()
    aio.wait_until(lambda: suite.id not in window.connections, timeout=10)
    assert closed(window, lw)
    assert not lw.isVisible()
    assert len(seen) == 2


def test_closing_the_main_window_closes_the_windows(window: MainWindow, aio: AsyncDriver) -> None:
    suite = open_demo(window, aio, "suitecrm")
    open_module(window, aio, suite, "Accounts")
    clean = window.open_module_window(suite.id, "Contacts")
    dirty = window.open_module_window(suite.id, "Accounts")
    assert clean is not None
    assert dirty is not None
    aio.wait_until(lambda: loaded(clean.workspace) and loaded(dirty.workspace), timeout=20)
    open_record(aio, dirty.workspace)
    edit_name(dirty.workspace, "Edited when quitting")

    answer_box("Cancel")
    window.close()
    aio.settle(100)
    assert window.isVisible()
    assert clean.isVisible()
    assert dirty.isVisible()
    assert dirty.workspace.detail.dirty

    answer_box("Discard")
    window.close()
    aio.wait_until(lambda: not window.isVisible(), timeout=5)
    assert window.list_windows.windows == []
    assert not clean.isVisible()
    assert not dirty.isVisible()


# -- errors where they happened ---------------------------------------------------------------
def test_an_error_in_the_window_shows_in_the_window_only(
    window: MainWindow, aio: AsyncDriver, demo_server: DemoServer
) -> None:
    suite = open_demo(window, aio, "suitecrm")
    main = open_module(window, aio, suite, "Accounts")
    lw = window.open_module_window(suite.id, "Contacts")
    assert lw is not None
    ws = lw.workspace
    aio.wait_until(lambda: loaded(ws), timeout=20)

    demo_server.faults.inject(r"^/suitecrm/.*/module/Contacts$", "status:500", times=None)
    lw.actions_by_id["view.refresh"].trigger()
    aio.wait_until(lambda: ws.banner.isVisible() and bool(lw.errors.history), timeout=30)
    assert lw.status.currentMessage()
    assert window.errors.history == []
    assert not main.banner.isVisible()
    assert window.status.currentMessage() in ("", f"Connected to {suite.name}.")
    if lw.errors.dialog is not None:
        assert lw.errors.dialog.parent() is lw

    demo_server.faults.clear()
    ws.banner.retry.click()
    aio.wait_until(lambda: loaded(ws) and not ws.banner.isVisible(), timeout=20)


# -- several connections ------------------------------------------------------------------------
def test_another_connections_module_beside_the_first(window: MainWindow, aio: AsyncDriver) -> None:
    suite = open_demo(window, aio, "suitecrm")
    espo = open_demo(window, aio, "espocrm")
    main = open_module(window, aio, suite, "Accounts")
    assert window.current_connection is suite

    QTest.mouseClick(
        window.module_tree.view.viewport(),
        Qt.MouseButton.MiddleButton,
        Qt.KeyboardModifier.NoModifier,
        tree_point(window, espo, "Contact"),
    )
    lw = only_window(window)
    ws = lw.workspace
    assert ws.backend is espo.backend
    aio.wait_until(lambda: loaded(ws), timeout=20)
    assert lw.conn is espo
    assert lw.windowTitle().startswith("Contacts — Demo EspoCRM")
    assert lw.status.connection.text().startswith("Demo EspoCRM")
    assert lw.status.module.text() == "Contacts"
    # The main window still shows the first connection.
    assert window.current_connection is suite
    assert window.status.connection.text() == "Demo SuiteCRM"
    assert window.status.module.text() == "Accounts"
    assert main.current_module() == "Accounts"

    # A change in the first connection does not reach the other connection's window.
    record, token = new_account(aio, suite)
    show_only(aio, main, token)
    open_record(aio, main)
    edit_name(main, f"Listwin {token} only in Suite")
    window.actions_by_id["record.save"].trigger()
    aio.wait_until(lambda: not main.detail.dirty and not main.runner.busy(), timeout=20)
    assert ws.records.row_of(record.id) < 0
    assert window.list_windows.views(espo.id) == [window.workspaces[espo.id], ws]
