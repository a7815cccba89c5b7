"""Seed capabilities reached through the GUI, against the demo CRM over loopback.

- SugarCRM (seeds 001, 004): the REST API version is chosen in the connect dialog (an
  unsupported one answers 301 incorrect_version, shown with the seed's advice); global
  search (``GET /search?q=``) is Go → Search records (Ctrl+Shift+F).
- Vtiger (seed 003): the phone / e-mail ``lookup`` is what Go → Search records asks when
  the text is an e-mail address.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.admin_util import collect_garbage, until
from helpers.demo_window import demo_window
from helpers.memory_keyring import MemoryKeyring, use_keyring
from helpers.qasync_loop import AsyncDriver
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from crmdesk.backends import open_backend
from crmdesk.core.backend import Backend
from crmdesk.core.query import Query
from crmdesk.core.records import PageRequest
from crmdesk.demo.server import DemoServer
from crmdesk.storage.connections import ConnectionStore
from crmdesk.storage.profiles import ProfileStore
from crmdesk.storage.secrets import SecretStore
from crmdesk.ui.admin.console import ApiConsole
from crmdesk.ui.connect import ConnectDialog
from crmdesk.ui.connections import Connection
from crmdesk.ui.main_window import MainWindow
from crmdesk.ui.views.quick_open import QuickOpen
from crmdesk.ui.workspace import Workspace

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "does not support raise")


@pytest.fixture(autouse=True)
def _main_thread_gc() -> Iterator[None]:
    collect_garbage()
    yield
    collect_garbage()


# -- Sugar: the API version in the connect dialog ------------------------------------------
@pytest.fixture
def dialog(qtbot: QtBot, aio: AsyncDriver, tmp_path: Path) -> Iterator[ConnectDialog]:
    with use_keyring(MemoryKeyring()):
        dlg = ConnectDialog(ConnectionStore(ProfileStore(tmp_path), SecretStore()))
        qtbot.addWidget(dlg)
        dlg.show()
        yield dlg
        dlg.cancel_test()
    gc.collect()


def _fill_sugar(dlg: ConnectDialog, demo_server: DemoServer) -> None:
    profile, secrets = demo_server.profile("sugarcrm"), demo_server.secrets("sugarcrm")
    dlg.kind_combo.setCurrentIndex(dlg.kind_combo.findData("sugarcrm"))
    dlg.method_combo.setCurrentIndex(dlg.method_combo.findData("password"))
    dlg.name_edit.setText(profile.name)
    dlg.url_edit.setText(profile.base_url)
    values = {"username": profile.username, **dict(profile.options), **dict(secrets)}
    for key, edit in dlg._field_edits.items():
        if key in values:
            edit.setText(values[key])


def _test_connection(qtbot: QtBot, dlg: ConnectDialog) -> tuple[bool, str]:
    with qtbot.waitSignal(dlg.test_finished, timeout=15_000) as blocker:
        QTest.mouseClick(dlg.test_button, Qt.MouseButton.LeftButton)
    ok, text = blocker.args
    return bool(ok), str(text)


def test_sugar_api_version_is_chosen_in_the_connect_dialog(
    qtbot: QtBot, dialog: ConnectDialog, demo_server: DemoServer
) -> None:
    _fill_sugar(dialog, demo_server)
    version = dialog.field("api_version")
    assert version is not None
    assert version.text() == "v11_4"  # the default: leancount needs 11.4
    assert "/rest/" in version.toolTip()

    version.setText("v12")  # newer than the demo Sugar serves: 301 incorrect_version
    ok, text = _test_connection(qtbot, dialog)
    assert not ok
    assert "version" in text.lower()
    assert "supported API version" in text  # the seed's "what to do"

    version.setText("v11")
    ok, text = _test_connection(qtbot, dialog)
    assert ok, text
    with qtbot.waitSignal(dialog.connection_ready, timeout=15_000) as blocker:
        dialog.button_box.accepted.emit()
    profile = blocker.args[0]
    assert profile.options["api_version"] == "v11"


# -- Go → Search records: Sugar's /search, Vtiger's lookup -----------------------------------
@pytest.fixture
def window(
    qtbot: QtBot, aio: AsyncDriver, demo_server: DemoServer, tmp_path: Path
) -> Iterator[MainWindow]:
    with demo_window(qtbot, aio, demo_server, tmp_path) as win:
        yield win


async def _done(task: asyncio.Task[Any] | None) -> Any:
    assert task is not None
    return await task


def _open(win: MainWindow, aio: AsyncDriver, dialect: str, module: str) -> Workspace:
    conn = aio.run(_done(win.open_demo(dialect)), timeout=30)
    assert isinstance(conn, Connection)
    aio.wait_until(lambda: win.tree_model.module_index(conn.id, module).isValid(), timeout=20)
    assert win.module_tree.select_module(module, conn.id)
    ws = win.workspaces[conn.id]
    aio.wait_until(lambda: ws.records.rowCount() > 0 and not ws.records.loading, timeout=20)
    return ws


def _search(win: MainWindow) -> QuickOpen:
    win.actions_by_id["go.search"].trigger()
    dlg = win.quick_open
    assert dlg is not None
    assert dlg.isVisible()
    return dlg


def test_sugar_global_search_finds_a_record_and_opens_it(
    window: MainWindow, aio: AsyncDriver, demo_server: DemoServer
) -> None:
    ws = _open(window, aio, "sugarcrm", "Accounts")
    target_id, target_name = ws.records.record_id(3), ws.records.text(3, 0)

    demo_server.faults.inject(r"/rest/v11[_\d]*/search$", "status:500", times=1)
    dlg = _search(window)
    dlg.box.setText(target_name)
    # The popup asks Sugar's /search: with it failing, the search fails (no other route).
    aio.wait_until(lambda: dlg.state.text().startswith("Search failed"), timeout=20)
    dlg.box.setText(target_name + " ")
    aio.wait_until(lambda: any(r.id == target_id for r in dlg.refs), timeout=20)
    wanted = next(i for i, r in enumerate(dlg.refs) if r.id == target_id)
    for _ in range(len(dlg.refs)):
        QTest.keyClick(dlg.box, Qt.Key.Key_Up)
    for _ in range(wanted):
        QTest.keyClick(dlg.box, Qt.Key.Key_Down)
    QTest.keyClick(dlg.box, Qt.Key.Key_Return)
    aio.wait_until(lambda: ws.detail.record_id == target_id, timeout=20)


def test_vtiger_email_search_uses_the_lookup_call(
    window: MainWindow, aio: AsyncDriver, demo_server: DemoServer
) -> None:
    ws = _open(window, aio, "vtiger", "Contacts")
    conn = window.connections.get(window.current_id or 0)
    assert conn is not None
    page = aio.run(
        conn.backend.list_records("Contacts", Query(fields=("email",)), PageRequest(size=100)),
        timeout=20,
    )
    target = next(r for r in page.records if r.get("email"))
    email = str(target.get("email"))

    # With lookup refused, an e-mail search fails and names it: the popup asked lookup.
    demo_server.faults.inject(r"/lookup$", "status:403", times=1)
    dlg = _search(window)
    dlg.box.setText(email)
    aio.wait_until(lambda: dlg.state.text().startswith("Search failed"), timeout=20)
    assert "'lookup'" in dlg.state.text()
    dlg.box.setText(" " + email)
    aio.wait_until(lambda: any(r.id == target.id for r in dlg.refs), timeout=20)
    assert ws.records.rowCount() > 0


# -- SuiteCRM: custom endpoints from the API console (Tools → API console) -------------------
def test_suitecrm_console_calls_a_custom_endpoint_under_any_prefix(
    qtbot: QtBot, aio: AsyncDriver, demo_server: DemoServer
) -> None:
    """Seed 000: custom endpoints live under /Api/V8/… next to the standard ones, with the
    same OAuth2 token; SuiteCRM 8 puts everything under /legacy.  The console takes the
    path as typed (with or without /legacy/Api) and sends it with the session's token.  The
    demo's own extension route ``V8/crmdesk/vardefs/{module}`` stands for a custom one."""

    async def body(backend: Backend) -> None:
        view = ApiConsole(backend)
        qtbot.addWidget(view)
        for n, path in enumerate(
            ("/legacy/Api/V8/crmdesk/vardefs/Accounts", "V8/crmdesk/vardefs/Accounts"), 1
        ):
            view.path.setText(path)
            view.send()
            sent = n

            def answered() -> bool:
                return len(view.history) == sent  # noqa: B023 (awaited in this iteration)

            await until(answered, within=15, what=path)
            assert view.response_line.text().startswith("200"), view.raw.text()[:200]
            assert view.tree.model.rowCount() > 0
        # A custom route this server lacks is an answer to read, not a crash.
        view.path.setText("V8/custom/commissions")
        view.send()
        await until(lambda: len(view.history) == 3, within=15, what="404")
        assert view.response_line.text().startswith("404")

    async def run() -> None:
        backend = open_backend(demo_server.profile("suitecrm"), demo_server.secrets("suitecrm"))
        await backend.connect()
        try:
            await body(backend)
        finally:
            await backend.close()

    aio.run(run(), timeout=60)
