"""SuiteCRM sign-in in the browser (authorization code) from the GUI, against the demo CRM:
the connect dialog's test and the window's connection flow say they wait for the browser,
show the sign-in address as selectable plain text, finish when the (scripted) browser
signs in, and stop cleanly on Cancel."""

from __future__ import annotations

import asyncio
import gc
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from helpers.memory_keyring import MemoryKeyring
from helpers.qasync_loop import AsyncDriver
from PySide6.QtCore import Qt
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from crmdesk.backends.oauth_loopback import using_browser
from crmdesk.demo.browser import DemoBrowser
from crmdesk.demo.server import DemoServer
from crmdesk.storage.connections import ConnectionStore
from crmdesk.storage.profiles import ProfileStore
from crmdesk.storage.secrets import SecretStore
from crmdesk.ui import signin_browser
from crmdesk.ui.connect import ConnectDialog
from crmdesk.ui.connections import Connection
from crmdesk.ui.main_window import MainWindow
from crmdesk.ui.signin_browser import WAITING_TEXT, BrowserWaitDialog

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "does not support raise")

TIMEOUT_MS = 15_000


class GatedBrowser:
    """The user: the sign-in page is 'open' until the test says to sign in."""

    def __init__(self, server: DemoServer) -> None:
        self.inner = DemoBrowser(server.credentials.username, server.credentials.password)
        self.go = asyncio.Event()
        self.urls: list[str] = []
        self.finished = False

    async def __call__(self, url: str) -> bool:
        self.urls.append(url)
        await self.go.wait()
        ok = await self.inner(url)
        self.finished = True
        return ok


@pytest.fixture(autouse=True)
def _gc_here() -> Iterator[None]:
    yield
    gc.collect()


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMDESK_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def store(tmp_path: Path, cache: None) -> ConnectionStore:
    return ConnectionStore(ProfileStore(tmp_path / "config"), SecretStore(MemoryKeyring()))


@pytest.fixture
def browser(aio: AsyncDriver, demo_server: DemoServer) -> Iterator[GatedBrowser]:
    gated = GatedBrowser(demo_server)
    with using_browser(gated):
        yield gated


def _listener_port(url: str) -> int:
    redirect = parse_qs(urlsplit(url).query)["redirect_uri"][0]
    port = urlsplit(redirect).port
    assert port is not None
    return port


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex(("127.0.0.1", port)) == 0


# -- the connect dialog -----------------------------------------------------------------------


@pytest.fixture
def dialog(qtbot: QtBot, aio: AsyncDriver, store: ConnectionStore) -> Iterator[ConnectDialog]:
    dlg = ConnectDialog(store)
    qtbot.addWidget(dlg)
    dlg.show()
    yield dlg
    dlg.cancel_test()


def _fill_authcode(dlg: ConnectDialog, server: DemoServer) -> None:
    profile = server.profile("suitecrm", "authorization_code")
    dlg.kind_combo.setCurrentIndex(dlg.kind_combo.findData("suitecrm"))
    dlg.method_combo.setCurrentIndex(dlg.method_combo.findData("authorization_code"))
    dlg.name_edit.setText("Browser sign-in")
    dlg.url_edit.setText(profile.base_url)
    values = {**dict(profile.options), **dict(server.secrets("suitecrm", "authorization_code"))}
    for key, edit in dlg._field_edits.items():
        if key in values:
            edit.setText(values[key])


def test_the_dialog_waits_for_the_browser_and_shows_the_address(
    qtbot: QtBot, dialog: ConnectDialog, demo_server: DemoServer, browser: GatedBrowser
) -> None:
    _fill_authcode(dialog, demo_server)
    dialog.test_button.click()
    qtbot.waitUntil(lambda: dialog.signin_url.isVisible(), timeout=TIMEOUT_MS)
    assert dialog.result_label.text().startswith(WAITING_TEXT)
    assert dialog.result_label.textFormat() is Qt.TextFormat.PlainText
    url = dialog.signin_url.text()
    assert browser.urls == [url]
    assert url.startswith(demo_server.base_url("suitecrm"))
    assert "response_type=code" in url
    assert dialog.signin_url.isReadOnly()
    dialog.signin_url.selectAll()
    assert dialog.signin_url.selectedText() == url
    assert dialog.cancel_test_button.isVisible()
    assert dialog.testing()

    with qtbot.waitSignal(dialog.test_finished, timeout=TIMEOUT_MS) as blocker:
        browser.go.set()
    ok, text = blocker.args
    assert ok, text
    assert "Connected. Found" in text
    assert browser.finished
    assert not dialog.signin_url.isVisible()


def test_cancel_stops_the_wait_for_the_browser(
    qtbot: QtBot, dialog: ConnectDialog, demo_server: DemoServer, browser: GatedBrowser
) -> None:
    _fill_authcode(dialog, demo_server)
    dialog.start_test()
    qtbot.waitUntil(lambda: dialog.signin_url.isVisible(), timeout=TIMEOUT_MS)
    port = _listener_port(dialog.signin_url.text())
    assert _accepts(port)
    with qtbot.waitSignal(dialog.test_finished, timeout=5000) as blocker:
        dialog.cancel_test_button.click()
    assert blocker.args == [False, "Test cancelled."]
    assert not dialog.testing()
    assert not dialog.signin_url.isVisible()
    assert dialog.test_button.isEnabled()
    qtbot.waitUntil(lambda: not _accepts(port), timeout=5000)  # the listener is gone
    assert not browser.finished
    assert dialog.isVisible()


# -- the window's connection flow -------------------------------------------------------------


@pytest.fixture
def window(
    qtbot: QtBot, aio: AsyncDriver, demo_server: DemoServer, store: ConnectionStore
) -> Iterator[MainWindow]:
    win = MainWindow(store=store, demo=demo_server)
    qtbot.addWidget(win)
    win.show()
    win.start()
    yield win
    for child in win.findChildren(QWidget):
        if child.isWindow() and child is not win:
            child.close()
    aio.run(win.shutdown(), timeout=15)


def _wait_dialog(win: MainWindow) -> BrowserWaitDialog | None:
    found = [d for d in win.findChildren(BrowserWaitDialog) if d.isVisible()]
    return found[0] if found else None


async def _outcome(task: asyncio.Task[Any]) -> Any:
    try:
        return await task
    except asyncio.CancelledError:
        return "cancelled"


def test_connecting_waits_for_the_browser_then_opens_the_connection(
    qtbot: QtBot,
    aio: AsyncDriver,
    window: MainWindow,
    demo_server: DemoServer,
    browser: GatedBrowser,
) -> None:
    profile = demo_server.profile("suitecrm", "authorization_code")
    task = window.connect_to(profile, demo_server.secrets("suitecrm", "authorization_code"))
    qtbot.waitUntil(lambda: _wait_dialog(window) is not None, timeout=TIMEOUT_MS)
    dlg = _wait_dialog(window)
    assert dlg is not None
    assert dlg.message.text() == WAITING_TEXT
    assert dlg.message.textFormat() is Qt.TextFormat.PlainText
    assert dlg.url_edit.isReadOnly()
    assert dlg.url_edit.text() == browser.urls[0]
    assert WAITING_TEXT in window.status.currentMessage()
    browser.go.set()
    conn = aio.run(_outcome(task), timeout=30)
    assert isinstance(conn, Connection)
    assert window.connection_named(profile.name) is conn
    assert _wait_dialog(window) is None


def test_cancel_in_the_window_stops_connecting(
    qtbot: QtBot,
    aio: AsyncDriver,
    window: MainWindow,
    demo_server: DemoServer,
    browser: GatedBrowser,
) -> None:
    profile = demo_server.profile("suitecrm", "authorization_code")
    task = window.connect_to(profile, demo_server.secrets("suitecrm", "authorization_code"))
    qtbot.waitUntil(lambda: _wait_dialog(window) is not None, timeout=TIMEOUT_MS)
    dlg = _wait_dialog(window)
    assert dlg is not None
    port = _listener_port(dlg.url_edit.text())
    dlg.cancel_button.click()
    assert aio.run(_outcome(task), timeout=10) == "cancelled"
    assert dlg.cancelled
    assert window.connection_named(profile.name) is None
    assert _wait_dialog(window) is None
    qtbot.waitUntil(lambda: not _accepts(port), timeout=5000)
    assert not browser.finished


def test_the_app_opens_sign_in_pages_with_qt(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []

    def fake_open(url: Any) -> bool:
        opened.append(url.toString())
        return True

    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(fake_open))
    assert signin_browser.qt_open_url("http://127.0.0.1:9/authorize?state=x") is True
    assert opened == ["http://127.0.0.1:9/authorize?state=x"]
