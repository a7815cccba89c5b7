"""Quick open / global search against the demo CRM over loopback (SuiteCRM, EspoCRM,
SugarCRM): find a record by name, open it with the keyboard in its module, errors shown
plainly, the unsaved-changes guard respected; "Show more results" past the first limit."""

from __future__ import annotations

import asyncio
import uuid
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
from crmdesk.ui.views.quick_open import FIRST_LIMIT, MORE_TEXT, QuickOpen
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


# -- Show more results -----------------------------------------------------------------------
#: dialect → its accounts module, for "Show more results".
MORE = {"sugarcrm": "Accounts", "espocrm": "Account"}


def seed(server: DemoServer, count: int) -> str:
    """``count`` accounts named "<token> NNN" in the demo store (every dialect sees them);
    the token, which nothing else matches."""
    token = f"Qm{uuid.uuid4().hex[:10]}"
    for i in range(count):
        server.store.insert("Accounts", {"name": f"{token} {i:03d}"}, user_id="1")
    return token


def ids(dlg: QuickOpen) -> list[tuple[str, str]]:
    return [(r.module, r.id) for r in dlg.refs]


def searched(dlg: QuickOpen, aio: AsyncDriver, text: str) -> None:
    """Type ``text`` and wait for its first answer."""
    dlg.box.setText(text)
    aio.wait_until(lambda: bool(dlg.refs) and dlg.state.text()[0].isdigit(), timeout=30)


def loaded(dlg: QuickOpen, aio: AsyncDriver, count: int) -> None:
    aio.wait_until(lambda: len(dlg.refs) == count and dlg.state.text()[0].isdigit(), timeout=30)


def more_lines(dlg: QuickOpen) -> list[str]:
    return [text for text, _mod, _r in rows(dlg) if text.startswith("Show more")]


@pytest.mark.parametrize("dialect", list(MORE))
def test_show_more_results_until_all_are_shown(
    window: MainWindow, aio: AsyncDriver, demo_server: DemoServer, dialect: str
) -> None:
    token = seed(demo_server, 75)
    open_module(window, aio, dialect, MORE[dialect])
    dlg = quick_open(window)
    searched(dlg, aio, token)

    # The first limit answered in full: there may be more, the entry says so, last.
    assert len(dlg.refs) == FIRST_LIMIT
    assert all(r.label.startswith(token) for r in dlg.refs)
    assert rows(dlg)[-1] == (MORE_TEXT, "", False)
    assert "Ctrl+Down" in MORE_TEXT
    assert more_lines(dlg) == [MORE_TEXT]
    assert "for more" in dlg.state.text()
    first = ids(dlg)

    # Clicked: the same text again for more; nothing shown twice, nothing shown lost.
    entry = dlg.more_item
    assert entry is not None
    dlg.results.scrollToItem(entry)
    QTest.mouseClick(
        dlg.results.viewport(),
        Qt.MouseButton.LeftButton,
        pos=dlg.results.visualItemRect(entry).center(),
    )
    loaded(dlg, aio, 2 * FIRST_LIMIT)
    second = ids(dlg)
    assert len(set(second)) == len(second)
    assert set(first) < set(second)
    assert all(r.label.startswith(token) for r in dlg.refs)
    assert more_lines(dlg) == [MORE_TEXT]  # still as many as asked: offered again

    # Again: all 75 now, fewer than asked, so the entry goes.
    task = dlg.show_more()
    assert task is not None
    loaded(dlg, aio, 75)
    third = ids(dlg)
    assert len(set(third)) == 75
    assert set(second) < set(third)
    assert sorted(r.label for r in dlg.refs) == [f"{token} {i:03d}" for i in range(75)]
    assert more_lines(dlg) == []
    assert dlg.more_item is None
    assert dlg.state.text().startswith("75 results")
    assert dlg.show_more() is None  # nothing more to ask for
    assert dlg.state.property("error") is False


def test_show_more_is_keyboard_reachable(
    window: MainWindow, aio: AsyncDriver, demo_server: DemoServer
) -> None:
    token = seed(demo_server, 70)
    open_module(window, aio, "sugarcrm", "Accounts")
    dlg = quick_open(window)
    QTest.keyClicks(dlg.box, token)
    aio.wait_until(lambda: len(dlg.refs) == FIRST_LIMIT, timeout=30)

    # Down past the last record lands on the entry; Enter on it shows more, and the
    # selection goes to the first record it brought.
    for _ in range(FIRST_LIMIT + 3):
        QTest.keyClick(dlg.box, Qt.Key.Key_Down)
    assert dlg.current_is_more()
    assert dlg.current_ref() is None
    before = ids(dlg)
    QTest.keyClick(dlg.box, Qt.Key.Key_Return)
    assert dlg.isVisible()  # Enter on the entry opens nothing
    loaded(dlg, aio, 2 * FIRST_LIMIT)
    assert set(before) < set(ids(dlg))
    current = dlg.current_ref()
    assert current is not None
    assert (current.module, current.id) not in before
    assert (current.module, current.id) == ids(dlg)[FIRST_LIMIT]

    # Ctrl+Down from a record: more, and the same record stays selected.
    QTest.keyClick(dlg.box, Qt.Key.Key_Up)
    QTest.keyClick(dlg.box, Qt.Key.Key_Up)
    kept = dlg.current_ref()
    assert kept is not None
    QTest.keyClick(dlg.box, Qt.Key.Key_Down, Qt.KeyboardModifier.ControlModifier)
    loaded(dlg, aio, 70)
    assert dlg.current_ref() == kept
    assert dlg.more_item is None
    QTest.keyClick(dlg.box, Qt.Key.Key_Down, Qt.KeyboardModifier.ControlModifier)
    aio.settle(100)
    assert len(dlg.refs) == 70  # nothing more offered: Ctrl+Down does nothing

    # Typing starts again from the first limit.
    QTest.keyClick(dlg.box, Qt.Key.Key_Backspace)
    QTest.keyClicks(dlg.box, token[-1])
    aio.wait_until(lambda: len(dlg.refs) == FIRST_LIMIT, timeout=30)
    assert dlg.limit == FIRST_LIMIT
    assert more_lines(dlg) == [MORE_TEXT]
    # Enter on a record still opens it.
    QTest.keyClick(dlg.box, Qt.Key.Key_Return)
    assert not dlg.isVisible()


def test_show_more_failing_keeps_the_results(
    window: MainWindow, aio: AsyncDriver, demo_server: DemoServer
) -> None:
    token = seed(demo_server, 40)
    open_module(window, aio, "sugarcrm", "Accounts")
    dlg = quick_open(window)
    searched(dlg, aio, token)
    assert len(dlg.refs) == FIRST_LIMIT
    shown = ids(dlg)
    dlg.move_selection(4)
    kept = dlg.current_ref()

    demo_server.faults.inject(r"/rest/[^/]+/search$", "status:500", times=None)
    try:
        assert dlg.show_more() is not None
        assert dlg.show_more() is None  # once at a time
        aio.wait_until(lambda: dlg.state.text().startswith("Search failed"), timeout=60)
    finally:
        demo_server.faults.clear()
    assert dlg.state.property("error") is True
    assert dlg.state.textFormat() == Qt.TextFormat.PlainText
    assert ids(dlg) == shown
    assert dlg.current_ref() == kept
    assert more_lines(dlg) == [MORE_TEXT]  # offered again, to try again

    assert dlg.show_more() is not None
    loaded(dlg, aio, 40)
    assert dlg.state.property("error") is False
    assert dlg.current_ref() == kept
    assert dlg.more_item is None


def test_demo_sugar_search_honours_max_num_and_next_offset(
    window: MainWindow, aio: AsyncDriver, demo_server: DemoServer
) -> None:
    token = seed(demo_server, 25)
    conn = aio.run(_done(window.open_demo("sugarcrm")), timeout=30)
    assert isinstance(conn, Connection)

    def ask(*query: tuple[str, str]) -> tuple[list[str], int]:
        resp = aio.run(conn.backend.raw_request("GET", "search", [("q", token), *query]), 30)
        assert resp.status == 200
        return [r["name"] for r in resp.json["records"]], resp.json["next_offset"]

    names, nxt = ask(("max_num", "10"))
    assert (len(names), nxt) == (10, 10)
    page2, nxt = ask(("max_num", "10"), ("offset", "10"))
    assert (len(page2), nxt) == (10, 20)
    page3, nxt = ask(("max_num", "10"), ("offset", "20"))
    assert (len(page3), nxt) == (5, -1)
    assert sorted(names + page2 + page3) == [f"{token} {i:03d}" for i in range(25)]
    assert ask(("max_num", "25")) == (ask(("max_num", "30"))[0], -1)
    names, nxt = ask()  # Sugar's default: 20
    assert (len(names), nxt) == (20, 20)
    names, nxt = ask(("max_num", "10"), ("offset", "end"))
    assert (len(names), nxt) == (10, -1)
