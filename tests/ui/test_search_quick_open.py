"""Quick open / global search against the demo CRM over loopback (SuiteCRM, EspoCRM):
find a record by name, open it with the keyboard in its module, errors shown plainly,
the unsaved-changes guard respected."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.admin_util import collect_garbage
from helpers.demo_window import demo_window
from helpers.qasync_loop import AsyncDriver
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from crmdesk.core.records import RecordRef
from crmdesk.demo.server import DemoServer
from crmdesk.ui.connections import Connection
from crmdesk.ui.forms.editors import LineEditor
from crmdesk.ui.forms.pane import Choice
from crmdesk.ui.main_window import MainWindow
from crmdesk.ui.views.quick_open import QuickOpen
from crmdesk.ui.workspace import Workspace

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "does not support raise")

#: dialect → (accounts module, another module to start from)
DEMO = {"suitecrm": ("Accounts", "Contacts"), "espocrm": ("Account", "Contact")}


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


async def _done(task: asyncio.Task[Any] | None) -> Any:
    assert task is not None
    return await task


def open_module(win: MainWindow, aio: AsyncDriver, dialect: str, module: str) -> Workspace:
    conn = aio.run(_done(win.open_demo(dialect)), timeout=30)
    assert isinstance(conn, Connection)
    aio.wait_until(lambda: win.tree_model.module_index(conn.id, module).isValid(), timeout=20)
    assert win.module_tree.select_module(module, conn.id)
    ws = win.workspaces[conn.id]
    aio.wait_until(lambda: ws.records.rowCount() > 0 and not ws.records.loading, timeout=20)
    return ws


def quick_open(win: MainWindow) -> QuickOpen:
    win.actions_by_id["go.quick_open"].trigger()
    dlg = win.quick_open
    assert dlg is not None
    assert dlg.isVisible()
    return dlg


def rows(dlg: QuickOpen) -> list[tuple[str, str, bool]]:
    """(first column, second column, is a record) per line of the results."""
    out = []
    for i in range(dlg.results.topLevelItemCount()):
        item = dlg.results.topLevelItem(i)
        assert item is not None
        out.append(
            (item.text(0).strip(), item.text(1), item.data(0, Qt.ItemDataRole.UserRole) is not None)
        )
    return out


@pytest.mark.parametrize("dialect", list(DEMO))
def test_find_by_name_and_enter_opens_it_in_its_module(
    window: MainWindow, aio: AsyncDriver, dialect: str
) -> None:
    accounts, other = DEMO[dialect]
    ws = open_module(window, aio, dialect, accounts)
    target_id, target_name = ws.records.record_id(1), ws.records.text(1, 0)
    aio.wait_until(lambda: window.tree_model.module_index(window.current_id or 0, other).isValid())
    assert window.module_tree.select_module(other, window.current_id)
    aio.wait_until(lambda: ws.current_module() == other and not ws.records.loading, timeout=20)

    dlg = quick_open(window)
    assert dlg.focusWidget() is dlg.box
    QTest.keyClicks(dlg.box, target_name)
    assert dlg.state.text() != "Searching…"  # debounced: nothing asked yet
    aio.wait_until(lambda: dlg.state.text() == "Searching…", timeout=2)
    aio.wait_until(lambda: bool(dlg.refs), timeout=20)
    lines = rows(dlg)
    accounts_label = ws.modules.module_at(ws.modules.index_of(accounts))
    assert accounts_label is not None
    # A module heading first, then its records with the module's label beside them.
    assert lines[0][0].startswith(accounts_label.label)
    assert not lines[0][2]
    assert any(text == target_name and mod == accounts_label.label for text, mod, _r in lines)
    assert "result" in dlg.state.text()

    # Arrows move over the records (headings skipped), Enter opens.
    wanted = next(i for i, r in enumerate(dlg.refs) if r.id == target_id)
    for _ in range(len(dlg.refs)):
        QTest.keyClick(dlg.box, Qt.Key.Key_Up)
    assert dlg.current_ref() == dlg.refs[0]
    for _ in range(wanted):
        QTest.keyClick(dlg.box, Qt.Key.Key_Down)
    assert dlg.current_ref() == RecordRef(accounts, target_id, dlg.refs[wanted].label)
    QTest.keyClick(dlg.box, Qt.Key.Key_Return)
    assert not dlg.isVisible()

    aio.wait_until(lambda: ws.detail.record_id == target_id, timeout=20)
    assert ws.current_module() == accounts
    assert window.module_tree.selected_module() == (window.current_id, accounts)
    assert window.status.module.text() == accounts_label.label
    # Its row is selected once the list has it.
    aio.wait_until(
        lambda: (
            [i.row() for i in ws.table.selectionModel().selectedRows()]
            == [ws.records.row_of(target_id)]
        ),
        timeout=20,
    )


def test_no_results_and_errors_are_shown_plainly(
    window: MainWindow, aio: AsyncDriver, demo_server: DemoServer
) -> None:
    open_module(window, aio, "espocrm", "Account")
    dlg = quick_open(window)
    dlg.box.setText("<b>zzz-nothing-like-this</b>")
    aio.wait_until(lambda: dlg.state.text().startswith("No results"), timeout=20)
    assert dlg.state.text() == "No results for “<b>zzz-nothing-like-this</b>”."
    assert dlg.state.textFormat() == Qt.TextFormat.PlainText
    assert dlg.results.topLevelItemCount() == 0

    demo_server.faults.inject(r"/GlobalSearch", "status:500", times=None)
    dlg.box.setText("Acme")
    aio.wait_until(lambda: dlg.state.text().startswith("Search failed"), timeout=30)
    assert dlg.state.property("error") is True
    assert dlg.results.topLevelItemCount() == 0
    assert dlg.isVisible()
    # The error stays in the popup: no dialog over it.
    assert window.errors.dialog is None or not window.errors.dialog.isVisible()

    demo_server.faults.clear()
    dlg.box.setText("Acme Bank")
    aio.wait_until(lambda: bool(dlg.refs), timeout=20)
    assert dlg.state.property("error") is False


def test_a_newer_search_supersedes_the_older(window: MainWindow, aio: AsyncDriver) -> None:
    ws = open_module(window, aio, "suitecrm", "Accounts")
    dlg = quick_open(window)
    dlg.box.setText("Acme")
    first = dlg.search_now()
    assert first is not None
    assert ws.runner.running("quick_open")
    dlg.box.setText("Globex")
    dlg.search_now()
    aio.wait_until(lambda: first.done(), timeout=5)
    assert first.cancelled()
    aio.wait_until(lambda: bool(dlg.refs), timeout=20)
    assert all("globex" in r.label.casefold() for r in dlg.refs)


def test_opening_respects_unsaved_changes(window: MainWindow, aio: AsyncDriver) -> None:
    ws = open_module(window, aio, "espocrm", "Account")
    first_id = ws.records.record_id(0)
    ws.table.selectRow(0)
    aio.wait_until(lambda: ws.detail.record_id == first_id, timeout=20)
    editor = ws.detail.form.editor("name")
    assert isinstance(editor, LineEditor)
    editor.line.setText(editor.line.text() + " (edited)")
    editor.changed.emit()
    assert ws.detail.dirty
    asked: list[str] = []

    def cancel(text: str) -> Choice:
        asked.append(text)
        return Choice.CANCEL

    ws.detail.ask = cancel
    dlg = quick_open(window)
    dlg.box.setText("Acme")
    aio.wait_until(lambda: bool(dlg.refs), timeout=20)
    target = dlg.current_ref()
    assert target is not None
    assert target.id != first_id
    dlg.accept_current()
    assert asked
    # Cancelled: the edit and the record stay.
    aio.settle(100)
    assert ws.detail.record_id == first_id
    assert ws.detail.dirty

    # Discarded: the chosen record opens.
    ws.detail.ask = lambda _t: Choice.DISCARD
    dlg = quick_open(window)
    dlg.box.setText("Acme")
    aio.wait_until(lambda: bool(dlg.refs), timeout=20)
    assert dlg.current_ref() == target
    QTest.keyClick(dlg.box, Qt.Key.Key_Enter)
    aio.wait_until(lambda: ws.detail.record_id == target.id, timeout=20)
    assert not ws.detail.dirty


def test_shortcuts(window: MainWindow) -> None:
    shortcuts = {
        aid: window.actions_by_id[aid].shortcut().toString()
        for aid in ("go.filter", "go.quick_open", "go.search")
    }
    assert shortcuts == {
        "go.filter": "Ctrl+F",
        "go.quick_open": "Ctrl+K",
        "go.search": "Ctrl+Shift+F",
    }
