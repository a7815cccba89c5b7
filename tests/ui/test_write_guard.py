"""A change on its way to the CRM is not cut off by a disconnect or a closing window
without asking, against the demo CRM (SuiteCRM) over loopback HTTP with a slow server.

Wait (the default) lets the save land, then the disconnect or close happens by itself;
"… Anyway" goes on at once.
"""

from __future__ import annotations

import uuid

import pytest
from helpers.demo_window import open_demo, open_module, settle
from helpers.edit_util import answer_box
from helpers.qasync_loop import AsyncDriver
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from crmdesk.backends import open_backend
from crmdesk.core.query import Condition, Op
from crmdesk.demo.server import DemoServer
from crmdesk.ui.connections import Connection
from crmdesk.ui.forms.editors import LineEditor
from crmdesk.ui.main_window import MainWindow
from crmdesk.ui.models.records import EDIT_STATE_ROLE
from crmdesk.ui.workspace import Workspace

pytestmark = pytest.mark.qt_log_ignore(
    "propagateSizeHints", "does not support raise", "does not support grabbing the keyboard"
)

SLOW = "delay:2.5"


@pytest.fixture
def window(demo_main: MainWindow) -> MainWindow:
    return demo_main


def own_account(
    aio: AsyncDriver, win: MainWindow, conn: Connection, ws: Workspace | None = None
) -> tuple[Workspace, str, str]:
    """A list showing one account of the test's own: (workspace, record id, its token)."""
    token = uuid.uuid4().hex[:10]
    record = aio.run(conn.backend.create("Accounts", {"name": f"Writes {token}"}), timeout=20)
    ws = ws or open_module(win, aio, conn, "Accounts")
    settle(aio, ws)
    ws.browser.set_filter("Accounts", Condition("name", Op.CONTAINS, token))
    settle(aio, ws)
    assert ws.records.rowCount() == 1
    return ws, record.id, token


def type_slowly(ws: Workspace, demo_server: DemoServer, text: str) -> None:
    """Type ``text`` into the first row's name; the server takes its time to save it."""
    demo_server.faults.inject(r"/module", SLOW, times=1, method="PATCH")
    index = ws.records.index(0, ws.records.column_of("name"))
    ws.table.setCurrentIndex(index)
    ws.table.edit(index)
    editor = next(iter(ws.features.inline.delegate._editors.values()))
    assert isinstance(editor, LineEditor)
    editor.line.setText(text)
    QTest.keyClick(editor.line, Qt.Key.Key_Return)
    QApplication.processEvents()
    assert index.data(EDIT_STATE_ROLE) == "saving"


def saved_name(aio: AsyncDriver, conn: Connection, rid: str) -> object:
    return aio.run(conn.backend.get("Accounts", rid), timeout=20).get("name")


def test_disconnect_waits_for_a_save_on_its_way_then_disconnects(
    window: MainWindow, aio: AsyncDriver, demo_server: DemoServer
) -> None:
    conn, _ws = open_demo(window, aio, "suitecrm")
    ws, rid, token = own_account(aio, window, conn)
    type_slowly(ws, demo_server, f"Writes {token} landed")
    seen: list[str] = []
    answer_box("Wait", seen=seen)
    window.disconnect_connection(conn.id)
    assert seen
    assert "A change is on the way to the CRM (Saving the cell)." in seen[0]
    assert conn.id in window.workspaces  # not yet: the save is still on its way
    aio.wait_until(lambda: conn.id not in window.workspaces, timeout=20)
    # Another sign-in reads what the server kept.
    probe = open_backend(demo_server.profile("suitecrm"), demo_server.secrets("suitecrm"))
    aio.run(probe.connect(), timeout=20)
    try:
        assert aio.run(probe.get("Accounts", rid), timeout=20).get("name") == (
            f"Writes {token} landed"
        )
    finally:
        aio.run(probe.close(), timeout=20)
    assert window.errors.history == []


def test_disconnect_anyway_goes_at_once(
    window: MainWindow, aio: AsyncDriver, demo_server: DemoServer
) -> None:
    conn, _ws = open_demo(window, aio, "suitecrm")
    ws, _rid, token = own_account(aio, window, conn)
    type_slowly(ws, demo_server, f"Writes {token} cut off")
    seen: list[str] = []
    answer_box("Disconnect Anyway", seen=seen)
    window.disconnect_connection(conn.id)
    assert len(seen) == 1  # asked, and went on at once
    assert conn.id not in window.workspaces


def test_a_record_list_window_closes_once_its_save_landed(
    window: MainWindow, aio: AsyncDriver, demo_server: DemoServer
) -> None:
    conn, _ws = open_demo(window, aio, "suitecrm")
    aio.wait_until(lambda: window.tree_model.module_index(conn.id, "Accounts").isValid(), 20)
    lw = window.open_module_window(conn.id, "Accounts")
    assert lw is not None
    ws, rid, token = own_account(aio, window, conn, lw.workspace)
    type_slowly(ws, demo_server, f"Writes {token} from the window")
    answer_box("Wait")
    assert not lw.close()
    assert lw.isVisible()
    aio.wait_until(lambda: lw not in window.list_windows.windows, timeout=20)
    assert saved_name(aio, conn, rid) == f"Writes {token} from the window"
    # Nothing on its way: a window closes without a question.
    lw2 = window.open_module_window(conn.id, "Accounts")
    assert lw2 is not None
    settle(aio, lw2.workspace)
    assert lw2.close()
