"""The main window against the fake backend: browse, page, sort, details, staleness, errors."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from helpers.fake_backend import FakeBackend
from helpers.qasync_loop import AsyncDriver
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from crmdesk.core.errors import Unavailable
from crmdesk.core.query import SortKey
from crmdesk.ui.actions import ACTIONS, install_actions
from crmdesk.ui.forms.editors import LineEditor
from crmdesk.ui.main_window import MainWindow

#: The offscreen platform plugin warns about size hints whenever a window is shown.
pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


@pytest.fixture
def window(fake: FakeBackend, aio: AsyncDriver, qtbot: QtBot) -> Iterator[MainWindow]:
    win = MainWindow(fake, connection_name="Fake CRM", page_size=100)
    qtbot.addWidget(win)
    win.show()
    win.start()
    aio.wait_until(lambda: win.modules.rowCount() > 0)
    yield win
    win.runner.cancel_all()
    if win.errors.dialog is not None:
        win.errors.dialog.close()


def open_module(win: MainWindow, aio: AsyncDriver, name: str = "Accounts") -> None:
    assert win.module_tree.select_module(name)
    aio.wait_until(lambda: win.records.rowCount() > 0 and not win.records.loading)


def test_selecting_a_module_shows_its_first_page_and_counts(
    window: MainWindow, aio: AsyncDriver
) -> None:
    open_module(window, aio)
    assert window.records.rowCount() == 100
    assert window.records.data(window.records.index(0, 0)) == "North Works 00000"
    assert window.status.rows.text() == "100 / 2,500 rows"
    assert window.status.module.text() == "Accounts"
    assert window.status.connection.text() == "Fake CRM"
    headers = [window.records.headerData(c, Qt.Orientation.Horizontal) for c in range(8)]
    assert headers[:3] == ["Name", "Industry", "Type"]


def test_non_entity_modules_are_listed_but_not_selectable(window: MainWindow) -> None:
    assert not window.module_tree.select_module("Nope")
    index = window.modules.index_of("Home")
    assert index.isValid()
    assert not index.flags() & Qt.ItemFlag.ItemIsSelectable


def test_scrolling_to_the_end_loads_the_next_page(
    window: MainWindow, fake: FakeBackend, aio: AsyncDriver
) -> None:
    open_module(window, aio)
    window.table.scrollToBottom()
    aio.wait_until(lambda: window.records.rowCount() >= 200)
    cursors = [c.page.cursor for c in fake.list_calls("Accounts") if c.page is not None]
    assert cursors[:2] == [None, "100"]
    assert window.records.record_id(199) == "acc-00199"


def test_clicking_a_header_sorts_on_the_server(
    window: MainWindow, fake: FakeBackend, aio: AsyncDriver
) -> None:
    open_module(window, aio)
    header = window.table.horizontalHeader()
    city = 3  # "billing_address_city"
    x = header.sectionViewportPosition(city) + header.sectionSize(city) // 2
    QTest.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, 5))
    aio.wait_until(lambda: len(fake.list_calls()) == 2 and not window.records.loading)
    sort = fake.list_calls()[-1].query.sort  # type: ignore[union-attr]
    descending = header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder
    assert sort == (SortKey("billing_address_city", descending=descending),)
    cities = [window.records.text(r, city) for r in range(window.records.rowCount())]
    assert cities == sorted(cities, reverse=descending)
    # 2,500 rows over 8 cities: the first page is all the first city in that order.
    assert set(cities) == {"Quito" if descending else "Berlin"}


def test_selecting_a_record_fills_the_detail_pane(
    window: MainWindow, fake: FakeBackend, aio: AsyncDriver
) -> None:
    open_module(window, aio)
    window.table.selectRow(2)
    aio.wait_until(lambda: window.detail.record_id == "acc-00002")
    pane = window.detail
    assert pane.title.text() == "Iron Works 00002"

    shown = pane.display_text
    assert shown("industry") == "Retail"
    assert shown("annual_revenue") == "USD 74,000.00"
    assert shown("is_partner") == "No"
    assert shown("founded") == "1952-03-03"
    assert shown("description") == "Account number 2.\nSecond line."
    assert pane.form.editor("id") is None
    assert not pane.dirty
    assert [c.method for c in fake.calls][-1] == "get"


def test_stale_page_never_lands_after_switching_modules(
    window: MainWindow, fake: FakeBackend, aio: AsyncDriver
) -> None:
    fake.gate = asyncio.Event()
    fake.ignore_cancel = True  # the staleness check must hold even if cancellation is ignored
    window.module_tree.select_module("Accounts")
    aio.wait_until(lambda: len(fake.list_calls("Accounts")) == 1)
    window.module_tree.select_module("Contacts")
    aio.wait_until(lambda: len(fake.list_calls("Contacts")) == 1)
    fake.gate.set()
    aio.wait_until(lambda: window.records.rowCount() == 100 and not window.records.loading)
    aio.settle(100)
    ids = [window.records.record_id(r) for r in range(window.records.rowCount())]
    assert all(i.startswith("con-") for i in ids)
    assert window.records.headerData(0, Qt.Orientation.Horizontal) == "Last name"
    assert window.status.module.text() == "Contacts"


def test_failed_page_shows_the_error_and_the_window_stays_usable(
    window: MainWindow, fake: FakeBackend, aio: AsyncDriver
) -> None:
    open_module(window, aio)
    fake.fail_list_after = 100
    window.table.scrollToBottom()
    aio.wait_until(lambda: window.banner.isVisible() and bool(window.errors.history))
    assert "The CRM did not answer in time." in window.banner.message.text()
    assert window.records.rowCount() == 100
    assert isinstance(window.errors.history[-1], Unavailable)
    dialog = window.errors.dialog
    assert dialog is not None
    assert dialog.isVisible()
    assert dialog.text() == "The CRM did not answer in time."
    assert "Check the network connection" in dialog.informativeText()
    assert "Traceback" not in dialog.text() + dialog.informativeText()
    assert "The CRM did not answer in time." in window.status.currentMessage()
    dialog.close()
    # Retry from the banner once the CRM is back.
    fake.fail_list_after = None
    window.banner.retry.click()
    aio.wait_until(lambda: window.records.rowCount() == 200)
    assert not window.banner.isVisible()
    # And another module still opens.
    open_module(window, aio, "Contacts")
    assert window.records.record_id(0) == "con-00000"


def test_server_markup_is_shown_literally(
    window: MainWindow, fake: FakeBackend, aio: AsyncDriver
) -> None:
    evil = "<b>x</b><img src=y>"
    first = fake.store["Accounts"][0]
    first.values["name"] = evil
    first.values["billing_address_city"] = evil
    open_module(window, aio)
    assert window.records.data(window.records.index(0, 0)) == evil
    window.table.selectRow(0)
    aio.wait_until(lambda: window.detail.record_id == "acc-00000")
    title = window.detail.title
    assert isinstance(title, QLabel)
    assert title.text() == evil
    assert title.textFormat() == Qt.TextFormat.PlainText
    city = window.detail.form.editor("billing_address_city")
    assert isinstance(city, LineEditor)
    assert city.line.text() == evil  # a QLineEdit never renders markup


def test_refresh_shortcut_reloads_the_list(
    window: MainWindow, fake: FakeBackend, aio: AsyncDriver, qtbot: QtBot
) -> None:
    open_module(window, aio)
    window.activateWindow()
    window.actions_by_id["view.refresh"].trigger()
    aio.wait_until(lambda: len(fake.list_calls()) == 2 and not window.records.loading)
    assert window.actions_by_id["view.refresh"].shortcut().toString() == "F5"
    assert window.actions_by_id["file.quit"].shortcut().toString() == "Ctrl+Q"


def test_every_declared_action_needs_a_handler(window: MainWindow) -> None:
    assert set(window.actions_by_id) == {s.id for s in ACTIONS}
    with pytest.raises(KeyError, match=r"view\.refresh"):
        install_actions(window, {s.id: window.close for s in ACTIONS if s.id != "view.refresh"})


def test_cancel_button_stops_a_slow_load(
    window: MainWindow, fake: FakeBackend, aio: AsyncDriver
) -> None:
    fake.gate = asyncio.Event()
    window.module_tree.select_module("Accounts")
    aio.wait_until(lambda: window.status.cancel.isVisible())
    window.status.cancel.click()
    aio.wait_until(lambda: not window.status.cancel.isVisible())
    assert window.records.rowCount() == 0
    assert window.errors.history == []
    fake.gate.set()
    window.actions_by_id["view.retry"].trigger()  # nothing failed: retry is a no-op
    window.actions_by_id["view.refresh"].trigger()
    aio.wait_until(lambda: window.records.rowCount() == 100)
