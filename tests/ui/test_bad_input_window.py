"""Bad answers while browsing the demo CRM (SuiteCRM dialect, real loopback HTTP): an HTML
page, an empty body, a PHP fatal 500, a body cut off, a dropped connection.

Each is reported as readable plain text (banner, status bar, dialog), the rows already
loaded stay, and once the server is well again Retry loads the page and another module opens.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers.qasync_loop import AsyncDriver
from pytestqt.qtbot import QtBot

from crmdesk.backends import open_backend
from crmdesk.core.backend import Backend
from crmdesk.core.errors import CrmError
from crmdesk.demo.server import DemoServer
from crmdesk.ui.main_window import MainWindow

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")

#: Fault kind -> a few words the user must read about it.
FAULTS = {
    "html": "HTML",
    "empty": "empty",
    "status:500": "500",
    "truncated": "cut off",
    "drop": "broke off",
}


@pytest.fixture
def backend(demo_server: DemoServer, aio: AsyncDriver) -> Iterator[Backend]:
    be = open_backend(demo_server.profile("suitecrm"), demo_server.secrets("suitecrm"))
    aio.run(be.connect(), timeout=20)
    yield be
    demo_server.faults.clear()
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


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_bad_page_is_reported_and_the_window_keeps_working(
    window: MainWindow, demo_server: DemoServer, aio: AsyncDriver, fault: str
) -> None:
    records = window.records
    assert window.module_tree.select_module("Accounts")
    aio.wait_until(lambda: records.rowCount() == 100 and not records.loading, timeout=20)
    first_ids = [records.record_id(r) for r in range(100)]

    demo_server.faults.inject(r"^/suitecrm/.*/module/Accounts$", fault, times=None, method="GET")
    window.table.scrollToBottom()
    aio.wait_until(lambda: window.banner.isVisible() and bool(window.errors.history), timeout=30)
    error = window.errors.history[-1]
    assert isinstance(error, CrmError)
    shown = window.banner.message.text()
    assert FAULTS[fault].lower() in (shown + " " + (error.detail or "")).lower(), shown
    for text in (shown, window.status.currentMessage()):
        assert "<b>" not in text, text
        assert "Traceback" not in text, text
    dialog = window.errors.dialog
    if dialog is not None:
        assert "<b>" not in dialog.text() + dialog.informativeText()
        dialog.close()
    assert [records.record_id(r) for r in range(records.rowCount())] == first_ids

    demo_server.faults.clear()
    window.banner.retry.click()
    aio.wait_until(lambda: records.rowCount() >= 200 and not records.loading, timeout=30)
    assert not window.banner.isVisible()
    assert window.module_tree.select_module("Contacts")
    aio.wait_until(lambda: records.rowCount() > 0 and not records.loading, timeout=20)
    assert window.status.module.text() == "Contacts"
