"""The filter bar's saved filters (filters saved in Sugar's own UI), against the demo CRM
over loopback HTTP: offered by name for the open module, chosen with the keyboard, ANDed
with the quick filter, cleared by Clear, gone from the CRM said plainly; not offered where
the CRM has none."""

from __future__ import annotations

import pytest
from helpers.demo_window import open_demo, open_module, settle
from helpers.qasync_loop import AsyncDriver
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from crmdesk.core.backend import Backend
from crmdesk.core.query import Condition, Filter, Op, Query, and_
from crmdesk.core.records import PageRequest
from crmdesk.demo import sugarcrm as demo_sugar
from crmdesk.ui.main_window import MainWindow
from crmdesk.ui.views.filter_bar import NO_SAVED_FILTER
from crmdesk.ui.workspace import Workspace

pytestmark = pytest.mark.qt_log_ignore(
    "propagateSizeHints", "does not support raise", "does not support grabbing the keyboard"
)


@pytest.fixture
def window(demo_main: MainWindow) -> MainWindow:
    return demo_main


def ids_shown(aio: AsyncDriver, ws: Workspace) -> set[str]:
    while ws.records.canFetchMore(ws.records.index(0, 0).parent()):
        ws.records.fetchMore(ws.records.index(0, 0).parent())
        settle(aio, ws)
    return {ws.records.record_id(r) for r in range(ws.records.rowCount())}


def ids_where(aio: AsyncDriver, backend: Backend, flt: Filter) -> set[str]:
    async def run() -> set[str]:
        out: set[str] = set()
        cursor = None
        while True:
            page = await backend.list_records(
                "Accounts", Query(filter=flt, fields=("name",)), PageRequest(200, cursor)
            )
            out |= {r.id for r in page.records}
            if page.next is None:
                return out
            cursor = page.next

    return aio.run(run(), timeout=30)


def sugar_accounts(window: MainWindow, aio: AsyncDriver) -> Workspace:
    conn, _ws = open_demo(window, aio, "sugarcrm")
    ws = open_module(window, aio, conn, "Accounts")
    aio.wait_until(lambda: ws.filter_bar.saved.count() == 3, timeout=20)
    return ws


def test_a_saved_filter_is_chosen_by_keyboard_and_lists_what_it_says(
    window: MainWindow, aio: AsyncDriver
) -> None:
    ws = sugar_accounts(window, aio)
    combo = ws.filter_bar.saved
    assert combo.isVisible()
    names = [combo.itemText(i) for i in range(combo.count())]
    # Sorted by name; server text as it came (the & and the angle brackets are kept).
    assert names == [NO_SAVED_FILTER, "Banking accounts", "Customers & <partners>"]
    backend = ws.browser.backend
    banking = ids_where(aio, backend, Condition("industry", Op.EQ, "Banking"))
    assert banking

    generation = ws.records.generation
    combo.setFocus()
    QTest.keyClick(combo, Qt.Key.Key_Down)  # the next entry: Banking accounts
    aio.wait_until(lambda: ws.records.generation != generation, timeout=10)
    settle(aio, ws)
    assert ws.filter_bar.spec.saved is not None
    assert ws.filter_bar.spec.saved.name == "Banking accounts"
    assert ws.records.total == len(banking)
    assert ids_shown(aio, ws) == banking
    assert "(filtered)" in ws.rows_text()

    # With the quick filter: both apply.
    generation = ws.records.generation
    QTest.keyClicks(ws.filter_bar.quick, "A")
    QTest.keyClick(ws.filter_bar.quick, Qt.Key.Key_Return)
    aio.wait_until(lambda: ws.records.generation != generation, timeout=10)
    settle(aio, ws)
    both = ids_where(
        aio,
        backend,
        and_(Condition("industry", Op.EQ, "Banking"), Condition("name", Op.CONTAINS, "A")),
    )
    assert ids_shown(aio, ws) == both
    assert both < banking

    # Clear: no saved filter, no quick text, every account.
    ws.filter_bar.clear_button.click()
    settle(aio, ws)
    assert combo.currentText() == NO_SAVED_FILTER
    assert ws.filter_bar.spec.empty
    assert ws.records.total is not None
    assert ws.records.total > len(banking)


def test_a_saved_filter_gone_from_the_crm_says_so_and_the_list_stays(
    window: MainWindow, aio: AsyncDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = sugar_accounts(window, aio)
    total = ws.records.total
    # Someone deletes "Banking accounts" in Sugar after the bar offered it.
    kept = tuple(f for f in demo_sugar.SAVED_FILTERS if f["name"] != "Banking accounts")
    monkeypatch.setattr(demo_sugar, "SAVED_FILTERS", kept)
    ws.filter_bar.saved.setCurrentIndex(1)
    aio.wait_until(lambda: ws.filter_bar.message.isVisible(), timeout=20)
    settle(aio, ws)
    assert ws.filter_bar.message.text() == (
        "The saved filter “Banking accounts” is gone. The previous filter is back."
    )
    assert ws.filter_bar.saved.currentText() == NO_SAVED_FILTER
    assert ws.filter_bar.spec.saved is None
    aio.wait_until(lambda: ws.records.total == total and not ws.records.loading, timeout=20)


def test_no_saved_filters_where_the_crm_has_none(window: MainWindow, aio: AsyncDriver) -> None:
    conn, _ws = open_demo(window, aio, "suitecrm")
    ws = open_module(window, aio, conn, "Accounts")
    assert not ws.filter_bar.saved.isVisible()
    assert not ws.filter_bar.saved.isVisibleTo(ws.filter_bar)
