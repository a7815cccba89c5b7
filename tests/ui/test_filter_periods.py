"""Date periods ("within this month") and "★ Favorites only" in the filter bar, against
the demo CRMs over loopback: Sugar sends its own ``$dateRange`` / ``$favorite``, SuiteCRM
the BETWEEN the core works out when the list loads."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from helpers.admin_util import collect_garbage
from helpers.demo_window import demo_window
from helpers.qasync_loop import AsyncDriver
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QComboBox
from pytestqt.qtbot import QtBot

from crmdesk.core.backend import Backend
from crmdesk.core.query import Condition, Op, Query, and_, period_range
from crmdesk.core.records import PageRequest
from crmdesk.demo.server import DemoServer
from crmdesk.ui.connections import Connection
from crmdesk.ui.filters.model import FAVORITES_ONLY
from crmdesk.ui.main_window import MainWindow
from crmdesk.ui.workspace import Workspace

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "does not support raise")


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


def open_demo(win: MainWindow, aio: AsyncDriver, dialect: str) -> tuple[Connection, Workspace]:
    conn = aio.run(_done(win.open_demo(dialect)), timeout=30)
    assert isinstance(conn, Connection)
    return conn, win.workspaces[conn.id]


def open_module(win: MainWindow, aio: AsyncDriver, conn: Connection, name: str) -> Workspace:
    aio.wait_until(lambda: win.tree_model.module_index(conn.id, name).isValid(), timeout=20)
    assert win.module_tree.select_module(name, conn.id)
    ws = win.workspaces[conn.id]
    settle(aio, ws)
    return ws


def settle(aio: AsyncDriver, ws: Workspace) -> None:
    """Wait until the list has its first page (for the filter now set)."""
    aio.wait_until(lambda: ws.browser.module is not None, timeout=20)
    aio.wait_until(lambda: not ws.records.loading and ws.records.total is not None, timeout=20)


def name_at(ws: Workspace, row: int) -> str:
    return ws.records.text(row, ws.records.column_of("name"))


def ids(ws: Workspace) -> set[str]:
    return {ws.records.record_id(r) for r in range(ws.records.rowCount())}


async def ids_where(backend: Backend, module: str, flt: Condition) -> set[str]:
    page = await backend.list_records(module, Query(filter=flt), PageRequest(size=500))
    assert not page.has_more  # every match on one page
    return {r.id for r in page.records}


def choose_period_by_keyboard(ws: Workspace, aio: AsyncDriver, field: str, label: str) -> None:
    """Add condition → the field → "within" → the period → Enter, as a user would."""
    bar = ws.filter_bar
    bar.add_button.click()
    builder = bar.builder
    builder.select(field)
    # "within" is the first operator of a date field: chosen already.
    assert builder.op is Op.PERIOD
    assert builder.ops.currentText() == "within"
    assert builder.editor is not None
    combo = builder.editor.focus_widget()
    assert isinstance(combo, QComboBox)
    assert combo.accessibleName() == "Period"
    combo.setFocus()
    combo.setCurrentIndex(0)
    while combo.currentText() != label:
        before = combo.currentIndex()
        QTest.keyClick(combo, Qt.Key.Key_Down)
        assert combo.currentIndex() != before, label
    generation = ws.records.generation
    QTest.keyClick(combo, Qt.Key.Key_Return)
    aio.wait_until(lambda: ws.records.generation != generation, timeout=5)
    settle(aio, ws)


@pytest.mark.parametrize(
    ("dialect", "module", "period", "label"),
    [
        # Sugar has the keyword: sent as {"date_closed": {"$dateRange": "last_7_days"}}
        ("sugarcrm", "Opportunities", "last_7_days", "last 7 days"),
        # Sugar has no week keyword, SuiteCRM no periods at all: the BETWEEN of today
        ("sugarcrm", "Opportunities", "this_week", "this week"),
        ("suitecrm", "Opportunities", "next_7_days", "next 7 days"),
    ],
)
def test_a_period_narrows_the_list_to_the_records_in_it(
    window: MainWindow, aio: AsyncDriver, dialect: str, module: str, period: str, label: str
) -> None:
    conn, _ = open_demo(window, aio, dialect)
    ws = open_module(window, aio, conn, module)
    all_total = ws.records.total
    assert all_total is not None
    mdef = ws.browser.module
    assert mdef is not None
    fdef = mdef.field("date_closed")
    assert fdef is not None

    choose_period_by_keyboard(ws, aio, "date_closed", label)
    bar = ws.filter_bar
    assert not bar.builder.isVisible()
    assert [c.label.text() for c in bar.chips] == [f"{fdef.label}: {label}"]
    # The period itself is kept (a kept "today" is today again tomorrow), not its dates.
    assert ws.browser.filters[module] == Condition("date_closed", Op.PERIOD, period)
    assert "(filtered)" in window.status.rows.text()

    # Exactly the records whose close date lies in the period, worked out independently.
    low, high = period_range(period, date.today())
    expected = aio.run(
        ids_where(
            ws.browser.backend,
            module,
            Condition("date_closed", Op.BETWEEN, (low, high)),
        ),
        timeout=20,
    )
    assert expected  # the demo's close dates lie around today
    assert not ws.records.has_more  # a week of them fits the first page
    assert ids(ws) == expected
    col = ws.records.column_of("date_closed")
    assert col >= 0
    for row in range(ws.records.rowCount()):
        value = ws.records.value(row, col)
        assert isinstance(value, date)
        assert low <= value <= high
    assert len(expected) < all_total

    # Removing the chip shows every record again.
    generation = ws.records.generation
    bar.chips[0].remove.click()
    aio.wait_until(lambda: ws.records.generation != generation, timeout=5)
    settle(aio, ws)
    assert module not in ws.browser.filters
    assert ws.records.total == all_total


def test_favorites_only_on_sugar_lists_exactly_the_starred_records(
    window: MainWindow, aio: AsyncDriver
) -> None:
    conn, _ = open_demo(window, aio, "sugarcrm")
    ws = open_module(window, aio, conn, "Accounts")
    bar = ws.filter_bar
    all_total = ws.records.total
    assert all_total is not None
    assert bar.favorites.isVisibleTo(bar)
    assert not bar.favorites.isChecked()
    backend = ws.browser.backend
    starred = [ws.records.record_id(3), ws.records.record_id(7)]
    names = {name_at(ws, 3), name_at(ws, 7)}
    for rid in starred:
        aio.run(backend.set_favorite("Accounts", rid, True), timeout=10)
    try:
        # Keyboard: the switch is in the bar's tab order and toggles with Space.
        bar.favorites.setFocus(Qt.FocusReason.TabFocusReason)
        assert bar.favorites.focusPolicy() & Qt.FocusPolicy.TabFocus
        generation = ws.records.generation
        QTest.keyClick(bar.favorites, Qt.Key.Key_Space)
        assert bar.favorites.isChecked()
        aio.wait_until(lambda: ws.records.generation != generation, timeout=5)
        settle(aio, ws)
        assert ids(ws) == set(starred)
        assert ws.records.total == 2
        assert ws.browser.filters["Accounts"] == FAVORITES_ONLY
        assert "(filtered)" in window.status.rows.text()
        assert bar.clear_button.isEnabled()

        # ANDed with the quick text: one of the two.
        first = sorted(names)[0]
        bar.quick.setText(first)
        bar.quick.returnPressed.emit()
        settle(aio, ws)
        assert {name_at(ws, r) for r in range(ws.records.rowCount())} == {first}
        assert ws.browser.filters.get("Accounts") == and_(
            Condition("name", Op.CONTAINS, first), FAVORITES_ONLY
        )

        # Kept per module: gone on Contacts, back on Accounts.
        open_module(window, aio, conn, "Contacts")
        assert not bar.favorites.isChecked()
        assert "filtered" not in window.status.rows.text()
        open_module(window, aio, conn, "Accounts")
        assert bar.favorites.isChecked()
        assert bar.quick.text() == first
        assert ws.records.rowCount() == 1

        # Clear drops it with the rest.
        generation = ws.records.generation
        bar.clear_button.click()
        aio.wait_until(lambda: ws.records.generation != generation, timeout=5)
        settle(aio, ws)
        assert not bar.favorites.isChecked()
        assert "Accounts" not in ws.browser.filters
        assert ws.records.total == all_total
    finally:
        for rid in starred:
            aio.run(backend.set_favorite("Accounts", rid, False), timeout=10)


def test_favorites_only_is_not_shown_where_the_crm_has_none(
    window: MainWindow, aio: AsyncDriver
) -> None:
    conn, _ = open_demo(window, aio, "suitecrm")
    ws = open_module(window, aio, conn, "Accounts")
    assert not ws.filter_bar.favorites.isVisibleTo(ws.filter_bar)
