"""A main window on the demo CRM with an in-memory keyring, closed cleanly afterwards."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from helpers.memory_keyring import MemoryKeyring
from helpers.qasync_loop import AsyncDriver
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from crmdesk.demo.server import DemoServer
from crmdesk.storage.connections import ConnectionStore
from crmdesk.storage.profiles import ProfileStore
from crmdesk.storage.secrets import SecretStore
from crmdesk.ui.connections import Connection
from crmdesk.ui.main_window import MainWindow
from crmdesk.ui.workspace import Workspace


@contextmanager
def demo_window(
    qtbot: QtBot, aio: AsyncDriver, demo_server: DemoServer, tmp_path: Path
) -> Iterator[MainWindow]:
    store = ConnectionStore(ProfileStore(tmp_path / "config"), SecretStore(MemoryKeyring()))
    win = MainWindow(store=store, demo=demo_server)
    qtbot.addWidget(win)
    win.show()
    win.start()
    try:
        yield win
    finally:
        for child in win.findChildren(QWidget):
            if child.isWindow() and child is not win:
                child.close()
        if win.errors.dialog is not None:
            win.errors.dialog.close()
        aio.run(win.shutdown(), timeout=15)


async def _done(task: asyncio.Task[Any] | None) -> Any:
    assert task is not None
    return await task


def open_demo(win: MainWindow, aio: AsyncDriver, dialect: str) -> tuple[Connection, Workspace]:
    """Connect ``win`` to the demo CRM speaking ``dialect``; its connection and workspace."""
    conn = aio.run(_done(win.open_demo(dialect)), timeout=30)
    assert isinstance(conn, Connection)
    return conn, win.workspaces[conn.id]


def settle(aio: AsyncDriver, ws: Workspace) -> None:
    """Wait until the list has its first page (for the filter now set)."""
    aio.wait_until(lambda: ws.browser.module is not None, timeout=20)
    aio.wait_until(lambda: not ws.records.loading and ws.records.total is not None, timeout=20)


def open_module(win: MainWindow, aio: AsyncDriver, conn: Connection, name: str) -> Workspace:
    """Select module ``name`` of ``conn`` in the tree and wait for its first page."""
    aio.wait_until(lambda: win.tree_model.module_index(conn.id, name).isValid(), timeout=20)
    assert win.module_tree.select_module(name, conn.id)
    ws = win.workspaces[conn.id]
    settle(aio, ws)
    return ws
