"""The core browsing flow against the real demo CRM (SuiteCRM dialect) over loopback HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers.qasync_loop import AsyncDriver
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from crmdesk.backends import open_backend
from crmdesk.core.backend import Backend
from crmdesk.demo.server import DemoServer
from crmdesk.ui.main_window import MainWindow

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


@pytest.fixture
def backend(demo_server: DemoServer, aio: AsyncDriver) -> Iterator[Backend]:
    be = open_backend(demo_server.profile("suitecrm"), demo_server.secrets("suitecrm"))
    aio.run(be.connect(), timeout=20)
    yield be
    aio.run(be.close(), timeout=20)


@pytest.fixture
def window(backend: Backend, aio: AsyncDriver, qtbot: QtBot) -> Iterator[MainWindow]:
    win = MainWindow(backend, connection_name="Demo", page_size=100)
    qtbot.addWidget(win)
    win.show()
    win.start()
    aio.wait_until(lambda: win.modules.rowCount() > 0, timeout=20)
    yield win
    win.runner.cancel_all()
    if win.errors.dialog is not None:
        win.errors.dialog.close()


def test_browse_page_sort_and_open_a_record(window: MainWindow, aio: AsyncDriver) -> None:
    records = window.records
    assert window.module_tree.select_module("Accounts")
    aio.wait_until(lambda: records.rowCount() == 100 and not records.loading, timeout=20)
    assert window.errors.history == []
    assert records.headerData(0, Qt.Orientation.Horizontal) == "Name"
    assert records.total is not None
    assert records.total > 100

    window.table.scrollToBottom()
    aio.wait_until(lambda: records.rowCount() >= 200, timeout=20)
    ids = [records.record_id(r) for r in range(records.rowCount())]
    assert len(set(ids)) == len(ids)  # page 2 continues, no repeats

    records.sort(0, Qt.SortOrder.DescendingOrder)
    aio.wait_until(lambda: records.rowCount() == 100 and not records.loading, timeout=20)
    names = [records.text(r, 0) for r in range(records.rowCount())]
    assert names[0] != ""
    assert names[0].casefold() >= names[-1].casefold()
    assert records.sort_keys[0].descending

    window.table.selectRow(0)
    first = records.record_id(0)
    aio.wait_until(lambda: window.detail.record_id == first, timeout=20)
    assert window.detail.title.text() == names[0]
    assert window.detail.display_text("name") == names[0]
    assert window.errors.history == []
