"""A cell edit the server refused is never dropped without asking, against the demo CRM
(SuiteCRM) over loopback HTTP.

Whatever replaces the list (a filter, a sort, a refresh, another module) or closes it (a
record-list window) asks first, naming the edit: Cancel keeps the list, the edit and the
filter bar as they were; Discard lets the action go on.
"""

from __future__ import annotations

import uuid

import pytest
from helpers.demo_window import open_demo, open_module, settle
from helpers.edit_util import answer_box
from helpers.qasync_loop import AsyncDriver
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

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


@pytest.fixture
def window(demo_main: MainWindow) -> MainWindow:
    return demo_main


class Scene:
    """Accounts of the demo SuiteCRM, filtered to two records of the test's own, with the
    first one's name typed into its cell and refused by the server."""

    def __init__(
        self, win: MainWindow, aio: AsyncDriver, demo_server: DemoServer, conn: Connection
    ) -> None:
        self.win, self.aio, self.server, self.conn = win, aio, demo_server, conn
        self.token = uuid.uuid4().hex[:10]
        for suffix in ("a", "b"):
            aio.run(
                conn.backend.create("Accounts", {"name": f"Guard {self.token} {suffix}"}),
                timeout=20,
            )
        self.ws: Workspace = open_module(win, aio, conn, "Accounts")
        self.ws.browser.set_filter("Accounts", Condition("name", Op.CONTAINS, self.token))
        settle(aio, self.ws)
        assert self.ws.records.rowCount() == 2
        self.typed = f"<b>Guard {self.token} typed</b>"
        self.record_id = self.ws.records.record_id(0)
        self.cell = self.fail_an_edit()

    def fail_an_edit(self) -> QModelIndex:
        ws = self.ws
        self.server.faults.inject(r"/module", "status:503", times=None, method="PATCH")
        index = ws.records.index(0, ws.records.column_of("name"))
        ws.table.setCurrentIndex(index)
        ws.table.edit(index)
        editors = list(ws.features.inline.delegate._editors.values())
        assert len(editors) == 1
        editor = editors[0]
        assert isinstance(editor, LineEditor)
        editor.line.setText(self.typed)
        QTest.keyClick(editor.line, Qt.Key.Key_Return)
        QApplication.processEvents()
        self.aio.wait_until(lambda: index.data(EDIT_STATE_ROLE) == "failed", timeout=30)
        self.server.faults.clear()
        return index

    def kept(self) -> bool:
        """The refused edit is still in its cell, typed value and all."""
        row = self.ws.records.row_of(self.record_id)
        if row < 0:
            return False
        index = self.ws.records.index(row, self.ws.records.column_of("name"))
        return index.data() == self.typed and index.data(EDIT_STATE_ROLE) == "failed"


@pytest.fixture
def scene(window: MainWindow, aio: AsyncDriver, demo_server: DemoServer) -> Scene:
    conn, _ws = open_demo(window, aio, "suitecrm")
    aio.wait_until(lambda: window.tree_model.module_index(conn.id, "Accounts").isValid(), 20)
    return Scene(window, aio, demo_server, conn)


def test_a_filter_asks_and_cancel_keeps_the_list_the_edit_and_the_bar(
    scene: Scene, aio: AsyncDriver
) -> None:
    ws = scene.ws
    generation = ws.records.generation
    seen: list[str] = []
    answer_box("Cancel", seen=seen)
    QTest.keyClicks(ws.filter_bar.quick, "zzz")
    aio.wait_until(lambda: bool(seen), timeout=10)
    QApplication.processEvents()
    # The question names the edit as typed (plain text: the tags show, nothing renders).
    assert "A cell edit is not saved. Filtering the list drops it." in seen[0]
    assert scene.typed in seen[0]
    assert ws.records.generation == generation  # not reloaded
    assert ws.records.rowCount() == 2
    assert scene.kept()
    assert ws.filter_bar.quick.text() == ""  # the bar shows the list's filter again
    assert ws.table.edit_bar.isVisible()

    # Asked again, Discard: the filter applies and the edit is gone.
    answer_box("Discard")
    QTest.keyClicks(ws.filter_bar.quick, "zzz")
    aio.wait_until(lambda: ws.records.generation != generation, timeout=10)
    settle(aio, ws)
    assert ws.filter_bar.quick.text() == "zzz"
    assert not ws.records.has_pending_edits()
    assert not ws.table.edit_bar.isVisible()


def test_a_sort_asks_and_cancel_keeps_the_order_and_the_arrow(
    scene: Scene, aio: AsyncDriver
) -> None:
    ws = scene.ws
    header = ws.table.horizontalHeader()
    before = (ws.records.sort_keys, header.sortIndicatorSection(), header.sortIndicatorOrder())
    generation = ws.records.generation
    answer_box("Cancel")
    ws.table.sortByColumn(ws.records.column_of("name"), Qt.SortOrder.DescendingOrder)
    QApplication.processEvents()
    assert ws.records.generation == generation
    assert (ws.records.sort_keys, header.sortIndicatorSection(), header.sortIndicatorOrder()) == (
        before
    )
    assert scene.kept()

    answer_box("Discard")
    ws.table.sortByColumn(ws.records.column_of("name"), Qt.SortOrder.DescendingOrder)
    settle(aio, ws)
    assert ws.records.sort_keys[0].field == "name"
    assert ws.records.sort_keys[0].descending
    assert not ws.records.has_pending_edits()


def test_refresh_and_another_module_ask_first(
    window: MainWindow, scene: Scene, aio: AsyncDriver
) -> None:
    ws = scene.ws
    generation = ws.records.generation
    answer_box("Cancel")
    ws.browser.refresh()
    QApplication.processEvents()
    assert ws.records.generation == generation
    assert scene.kept()

    answer_box("Cancel")
    window.module_tree.select_module("Contacts", scene.conn.id)
    QApplication.processEvents()
    assert ws.current_module() == "Accounts"
    assert ws.records.generation == generation
    assert scene.kept()

    answer_box("Discard")
    window.module_tree.select_module("Contacts", scene.conn.id)
    aio.wait_until(lambda: ws.current_module() == "Contacts", timeout=20)
    settle(aio, ws)
    assert not ws.records.has_pending_edits()


def test_a_record_list_window_asks_before_it_closes(
    window: MainWindow, scene: Scene, aio: AsyncDriver, demo_server: DemoServer
) -> None:
    lw = window.open_module_window(scene.conn.id, "Accounts")
    assert lw is not None
    inner = Scene.__new__(Scene)
    inner.win, inner.aio, inner.server, inner.conn = window, aio, demo_server, scene.conn
    inner.token, inner.typed = scene.token, f"Window {scene.token} typed"
    inner.ws = lw.workspace
    settle(aio, inner.ws)
    inner.ws.browser.set_filter("Accounts", Condition("name", Op.CONTAINS, scene.token))
    settle(aio, inner.ws)
    inner.record_id = inner.ws.records.record_id(0)
    inner.cell = inner.fail_an_edit()

    answer_box("Cancel")
    assert not lw.close()
    assert lw.isVisible()
    assert inner.kept()

    answer_box("Discard")
    assert lw.close()
    assert lw not in window.list_windows.windows
    assert scene.kept()  # the main window's own edit is another list's: untouched
    scene.ws.features.inline.revert(scene.record_id, "name")  # the window closes quietly


def test_an_edit_on_its_way_to_the_server_does_not_ask(scene: Scene, aio: AsyncDriver) -> None:
    """Only kept edits ask: with none, a filter goes through at once."""
    ws = scene.ws
    ws.features.inline.revert(scene.record_id, "name")
    assert not ws.records.has_pending_edits()
    generation = ws.records.generation
    QTest.keyClicks(ws.filter_bar.quick, "zzz")
    aio.wait_until(lambda: ws.records.generation != generation, timeout=10)
    assert QApplication.activeModalWidget() is None
