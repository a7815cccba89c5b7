"""Several connections in one window, against the demo CRM over loopback HTTP.

Two dialects open at once, switching between them, the status bar naming the right
one, the TLS-off warning, the Tools menu on the current connection, Vtiger's edition
limits in the Access view, a picklist edit reaching the open list and form, and the
Help menu.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from helpers.admin_fake import ScriptedPrompter
from helpers.admin_util import collect_garbage
from helpers.memory_keyring import MemoryKeyring
from helpers.qasync_loop import AsyncDriver
from PySide6.QtCore import QUrl
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from crmdesk.demo.server import DemoServer
from crmdesk.storage.connections import ConnectionStore
from crmdesk.storage.profiles import ProfileStore
from crmdesk.storage.secrets import SecretStore
from crmdesk.ui.admin import AccessView, ApiConsole, CompareView, MetadataInspector, PicklistView
from crmdesk.ui.connections import Connection
from crmdesk.ui.main_window import NO_CONNECTION, MainWindow
from crmdesk.ui.models.modules import CONNECTION_ROLE

#: The offscreen platform plugin warns about size hints and raise() of new windows.
pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "does not support raise")


@pytest.fixture(autouse=True)
def _main_thread_gc() -> Iterator[None]:
    collect_garbage()
    yield
    collect_garbage()


@pytest.fixture
def store(tmp_path: Path) -> ConnectionStore:
    return ConnectionStore(ProfileStore(tmp_path / "config"), SecretStore(MemoryKeyring()))


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
    if win.errors.dialog is not None:
        win.errors.dialog.close()
    aio.run(win.shutdown(), timeout=15)


async def _done(task: asyncio.Task[Any] | None) -> Any:
    assert task is not None
    return await task


def open_demo(win: MainWindow, aio: AsyncDriver, dialect: str) -> Connection:
    conn = aio.run(_done(win.open_demo(dialect)), timeout=30)
    assert isinstance(conn, Connection)
    return conn


def open_module(win: MainWindow, aio: AsyncDriver, conn: Connection, name: str) -> None:
    aio.wait_until(lambda: win.tree_model.module_index(conn.id, name).isValid(), timeout=20)
    assert win.module_tree.select_module(name, conn.id)
    ws = win.workspaces[conn.id]
    aio.wait_until(lambda: ws.records.rowCount() > 0 and not ws.records.loading, timeout=20)


def top_titles(win: MainWindow) -> list[str]:
    return [win.tree_model.item(r).text() for r in range(win.tree_model.rowCount())]


def test_two_connections_side_by_side_and_switching(window: MainWindow, aio: AsyncDriver) -> None:
    suite = open_demo(window, aio, "suitecrm")
    espo = open_demo(window, aio, "espocrm")
    assert window.tree_model.connection_ids() == [suite.id, espo.id]
    # Each node names the connection and, once me() answered, the signed-in user.
    aio.wait_until(lambda: suite.user is not None and espo.user is not None, timeout=20)
    aio.wait_until(lambda: all(" — " in t for t in top_titles(window)))
    assert top_titles(window) == [suite.title, espo.title]
    assert suite.user_text
    assert suite.user_text in suite.title
    assert not window.tree_model.item(0).icon().isNull()

    open_module(window, aio, suite, "Accounts")
    assert window.current_connection is suite
    assert window.status.connection.text() == "Demo SuiteCRM"
    assert window.status.module.text() == "Accounts"
    assert window.windowTitle() == "crmdesk — Demo SuiteCRM"
    suite_first = window.records.record_id(0)

    open_module(window, aio, espo, "Contact")
    assert window.current_connection is espo
    assert window.stack.currentWidget() is window.workspaces[espo.id]
    assert window.status.connection.text() == "Demo EspoCRM"
    assert window.status.module.text() == "Contacts"
    assert window.browser.backend is espo.backend
    assert window.records.record_id(0) != suite_first
    # The tree's selection carries the connection of the module.
    assert window.module_tree.selected_module() == (espo.id, "Contact")
    assert window.module_tree.current().data(CONNECTION_ROLE) == espo.id

    # Back to SuiteCRM: its list is still there, not loaded again.
    suite_ws = window.workspaces[suite.id]
    calls_before = suite_ws.records.loaded
    assert window.module_tree.select_module("Accounts", suite.id)
    assert window.current_connection is suite
    assert window.status.connection.text() == "Demo SuiteCRM"
    assert window.status.module.text() == "Accounts"
    assert window.records.record_id(0) == suite_first
    assert suite_ws.records.loaded == calls_before
    # Selecting a record opens it with the SuiteCRM connection.
    window.table.selectRow(0)
    aio.wait_until(lambda: window.detail.record_id == suite_first, timeout=20)


def test_the_same_connection_is_not_opened_twice(window: MainWindow, aio: AsyncDriver) -> None:
    first = open_demo(window, aio, "suitecrm")
    again = open_demo(window, aio, "suitecrm")
    assert again is first
    assert len(window.connections) == 1


def test_tls_off_shows_a_warning_on_that_connection_only(
    window: MainWindow, aio: AsyncDriver, demo_server: DemoServer
) -> None:
    safe = open_demo(window, aio, "suitecrm")
    assert window.status.tls.isHidden()
    profile = replace(demo_server.profile("espocrm"), name="Espo no TLS", verify_tls=False)
    task = window.connect_to(profile, demo_server.secrets("espocrm"))
    unsafe = aio.run(_done(task), timeout=30)
    assert isinstance(unsafe, Connection)
    assert window.current_connection is unsafe
    ws = window.workspaces[unsafe.id]
    assert not window.status.tls.isHidden()
    assert "TLS" in window.status.tls.text()
    assert ws.tls_warning.isVisible()
    assert "TLS certificate verification is off" in ws.tls_warning.message.text()
    assert "OFF" in window.tree_model.item(1).toolTip()

    window.set_current(safe.id)
    assert window.status.tls.isHidden()
    assert window.workspaces[safe.id].tls_warning.isHidden()
    window.set_current(unsafe.id)
    assert not window.status.tls.isHidden()


def test_tools_menu_opens_each_admin_view_for_the_current_connection(
    window: MainWindow, aio: AsyncDriver
) -> None:
    suite = open_demo(window, aio, "suitecrm")
    espo = open_demo(window, aio, "espocrm")
    window.set_current(suite.id)
    expected: dict[str, type[QWidget]] = {
        "admin.metadata": MetadataInspector,
        "admin.picklists": PicklistView,
        "admin.access": AccessView,
        "admin.console": ApiConsole,
    }
    assert window.actions_by_id["admin.metadata"].shortcut().toString() == "Ctrl+M"
    assert window.actions_by_id["admin.console"].shortcut().toString() == "Ctrl+Shift+K"
    for action_id, cls in expected.items():
        window.actions_by_id[action_id].trigger()
        views = [v for v in window.findChildren(cls) if v.isWindow() and v.isVisible()]
        assert len(views) == 1, action_id
        view = views[0]
        assert getattr(view, "backend", None) is suite.backend
        assert view.windowTitle().endswith("— Demo SuiteCRM")

    # Another connection gets its own views; the first ones stay.
    window.set_current(espo.id)
    window.actions_by_id["admin.access"].trigger()
    access = [v for v in window.findChildren(AccessView) if v.isVisible()]
    assert {v.backend for v in access} == {suite.backend, espo.backend}

    # Compare gets every open connection, the current one on the left.
    window.actions_by_id["admin.compare"].trigger()
    compare = next(v for v in window.findChildren(CompareView) if v.isVisible())
    assert [n for n, _b in compare.connections] == ["Demo EspoCRM", "Demo SuiteCRM"]
    assert compare.right.connection.currentText() == "Demo SuiteCRM"


def test_admin_views_close_with_their_connection(window: MainWindow, aio: AsyncDriver) -> None:
    suite = open_demo(window, aio, "suitecrm")
    window.actions_by_id["admin.metadata"].trigger()
    inspector = next(v for v in window.findChildren(MetadataInspector) if v.isVisible())
    assert window.actions_by_id["file.disconnect"].isEnabled()
    window.actions_by_id["file.disconnect"].trigger()
    assert not inspector.isVisible()
    assert suite.id not in window.connections
    assert window.tree_model.rowCount() == 0
    assert window.stack.currentWidget() is window.empty
    assert window.status.connection.text() == "Not connected"
    assert not window.actions_by_id["file.disconnect"].isEnabled()
    assert not window.actions_by_id["admin.metadata"].isEnabled()
    aio.wait_until(lambda: not window.session_runner.busy(), timeout=15)


def test_vtiger_edition_limits_in_the_access_view(window: MainWindow, aio: AsyncDriver) -> None:
    open_demo(window, aio, "vtiger")
    window.actions_by_id["admin.access"].trigger()
    view = next(v for v in window.findChildren(AccessView) if v.isVisible())
    aio.wait_until(lambda: view.user is not None, timeout=20)
    rows = dict(view.extra_model.rows())
    assert rows["Edition limit STORAGE"] == "5GB"
    assert rows["Edition limit PICKLIST_VALUES_MAX_ALLOWED"] == "250"


def test_a_picklist_edit_reaches_the_open_list_and_form(
    window: MainWindow, aio: AsyncDriver
) -> None:
    vt = open_demo(window, aio, "vtiger")
    open_module(window, aio, vt, "Accounts")
    window.table.selectRow(0)
    aio.wait_until(lambda: window.detail.record_id is not None, timeout=20)
    shown = window.detail.record_id
    value = f"Window test {uuid.uuid4().hex[:6]}"

    def industry_keys(mdef: Any) -> list[str]:
        fdef = mdef.field("industry") if mdef is not None else None
        return [o.key for o in fdef.options] if fdef is not None else []

    assert value not in industry_keys(window.browser.module)
    window.actions_by_id["admin.picklists"].trigger()
    view = next(v for v in window.findChildren(PicklistView) if v.isVisible())
    view.prompter = ScriptedPrompter(texts=[value], confirms=[True])
    aio.wait_until(lambda: view.module_def is not None, timeout=20)
    assert view.module_def is not None
    assert view.module_def.name == "Accounts"
    view.select_field("industry")
    assert view.add_button is not None
    view.add_button.click()
    aio.wait_until(lambda: value in industry_keys(window.browser.module), timeout=20)
    aio.wait_until(lambda: value in industry_keys(window.detail.mdef), timeout=20)
    assert window.detail.record_id == shown  # the form kept its record

    # Put the shared demo server back as it was.
    before = [k for k in industry_keys(window.browser.module) if k != value]
    view.prompter = ScriptedPrompter(choices=[before[0]], confirms=[True, True, True])
    view.select_option(value)
    assert view.delete_button is not None
    view.delete_button.click()
    aio.wait_until(lambda: value not in industry_keys(window.browser.module), timeout=20)


def test_demo_menu_and_empty_window(window: MainWindow, aio: AsyncDriver) -> None:
    assert window.stack.currentWidget() is window.empty
    assert window.empty.text() == NO_CONNECTION
    window.actions_by_id["record.new"].trigger()  # nothing open: a hint, no crash
    texts = [window.actions_by_id[f"demo.{d}"].text() for d in ("sugarcrm", "espocrm", "vtiger")]
    assert texts == ["Open demo as SugarCRM", "Open demo as EspoCRM", "Open demo as Vtiger"]
    window.actions_by_id["demo.sugarcrm"].trigger()
    aio.wait_until(lambda: len(window.connections) == 1, timeout=30)
    conn = next(iter(window.connections.values()))
    assert conn.profile.dialect == "sugarcrm"
    assert window.status.connection.text() == "Demo SugarCRM"


def test_help_show_log_and_about(
    window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRMDESK_LOG_DIR", str(tmp_path / "logs"))
    opened: list[QUrl] = []
    window.open_url = opened.append
    window.actions_by_id["help.show_log"].trigger()
    assert [u.toLocalFile() for u in opened] == [str(tmp_path / "logs")]
    assert (tmp_path / "logs").is_dir()
    assert str(tmp_path / "logs" / "crmdesk.log") in window.status.currentMessage()

    window.actions_by_id["help.about"].trigger()
    box = window.about_box
    assert box is not None
    assert "crmdesk" in box.text()
    assert str(tmp_path / "logs" / "crmdesk.log") in box.text()
    box.close()
