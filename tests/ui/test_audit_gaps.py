"""Gaps found in the acceptance audit of issues 4, 5, 6 and 8.

- Sugar: a 412 metadata_out_of_date makes the adapter reload its metadata; the window
  then reads the open module's definition again (issue 4, "rebuilds the views").
- The admin views' input dialogs show server values (picklist keys) as plain text
  (issue 8; house rule: server text is never HTML).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.admin_util import collect_garbage, until
from helpers.memory_keyring import MemoryKeyring
from helpers.qasync_loop import AsyncDriver
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QInputDialog, QLabel, QWidget
from pytestqt.qtbot import QtBot

from crmdesk.backends import open_backend
from crmdesk.core.query import Query
from crmdesk.demo.server import DemoServer
from crmdesk.demo.sugarcrm import SugarApp
from crmdesk.storage.connections import ConnectionStore
from crmdesk.storage.profiles import ProfileStore
from crmdesk.storage.secrets import SecretStore
from crmdesk.ui.admin.access import NO_ACL_NOTE, AccessView
from crmdesk.ui.admin.common import DialogPrompter
from crmdesk.ui.connections import Connection
from crmdesk.ui.main_window import MainWindow

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
    store = ConnectionStore(ProfileStore(tmp_path / "config"), SecretStore(MemoryKeyring()))
    win = MainWindow(store=store, demo=demo_server)
    qtbot.addWidget(win)
    win.show()
    win.start()
    yield win
    aio.run(win.shutdown(), timeout=15)


def test_sugar_metadata_change_rebuilds_the_open_module(
    window: MainWindow, aio: AsyncDriver, demo_server: DemoServer
) -> None:
    async def connect() -> Connection:
        task = window.open_demo("sugarcrm")
        assert task is not None
        conn = await task
        assert isinstance(conn, Connection)
        return conn

    conn = aio.run(connect(), timeout=30)
    aio.wait_until(lambda: window.tree_model.module_index(conn.id, "Accounts").isValid(), 20)
    assert window.module_tree.select_module("Accounts", conn.id)
    ws = window.workspaces[conn.id]
    aio.wait_until(lambda: ws.records.rowCount() > 0 and not ws.records.loading, timeout=20)
    before = ws.browser.module
    assert before is not None
    assert before.name == "Accounts"

    sugar = demo_server.apps["sugarcrm"]
    assert isinstance(sugar, SugarApp)
    sugar.bump_metadata()  # an administrator changed the instance
    # The next call gets 412, the adapter reloads its metadata and replays the call.
    assert (aio.run(conn.backend.count("Accounts", Query()), timeout=20) or 0) > 0
    aio.wait_until(lambda: ws.browser.module is not before, timeout=20)
    after = ws.browser.module
    assert after is not None
    assert after.name == "Accounts"
    aio.wait_until(lambda: ws.records.rowCount() > 0 and not ws.records.loading, timeout=20)


@pytest.mark.parametrize("kind", ["text", "choice"])
def test_input_dialog_labels_are_plain_text(qtbot: QtBot, kind: str) -> None:
    parent = QWidget()
    qtbot.addWidget(parent)
    label = "New name for <b>Hot</b><img src='x'>:"
    seen: list[tuple[Qt.TextFormat, str]] = []

    def inspect() -> None:
        dialog = next(
            w
            for w in QApplication.topLevelWidgets()
            if isinstance(w, QInputDialog) and w.isVisible()
        )
        shown = [lab for lab in dialog.findChildren(QLabel) if lab.text() == label]
        seen.extend((lab.textFormat(), lab.text()) for lab in shown)
        dialog.accept()

    QTimer.singleShot(50, inspect)
    prompter = DialogPrompter()
    if kind == "text":
        answer = prompter.ask_text(parent, "Rename value", label, "<i>Hot</i>")
        assert answer == "<i>Hot</i>"
    else:
        answer = prompter.choose(parent, "Delete value", label, ["<i>Warm</i>", "Cold"])
        assert answer == "<i>Warm</i>"
    assert seen == [(Qt.TextFormat.PlainText, label)]


def test_input_dialog_cancel_is_none(qtbot: QtBot) -> None:
    parent = QWidget()
    qtbot.addWidget(parent)

    def cancel() -> None:
        for w in QApplication.topLevelWidgets():
            if isinstance(w, QInputDialog) and w.isVisible():
                w.reject()

    QTimer.singleShot(50, cancel)
    assert DialogPrompter().ask_text(parent, "Add value", "New value:") is None


@pytest.mark.parametrize(
    ("dialect", "module", "action"),
    [
        ("suitecrm", "Accounts", "list"),
        ("sugarcrm", "Accounts", "list"),
        ("espocrm", "Account", "read"),  # the CRM's own action names
        ("vtiger", "Accounts", "edit"),  # from describe's createable / updateable … flags
    ],
)
def test_access_view_on_every_demo_dialect(
    qtbot: QtBot, aio: AsyncDriver, demo_server: DemoServer, dialect: str, module: str, action: str
) -> None:
    """Who am I and what may I do, from each CRM's own answer (issue 8, Access)."""

    async def body() -> None:
        backend = open_backend(demo_server.profile(dialect), demo_server.secrets(dialect))
        await backend.connect()
        try:
            view = AccessView(backend)
            qtbot.addWidget(view)
            view.reload()
            await until(lambda: not view.runs.running("load"), within=20, what="access")
            assert not view.status.is_error, view.status.text()
            assert view.user is not None
            shown = [w.text() for w in view.user_box.findChildren(QLabel) if w.text()]
            assert any(view.user.user_name in t or view.user.display_name in t for t in shown)
            if module:
                assert view.allowed(module, action) is True
                assert view.grid_note.isHidden()
            else:
                assert view.grid_note.text() == NO_ACL_NOTE
        finally:
            await backend.close()

    aio.run(body(), timeout=40)
