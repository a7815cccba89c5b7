"""A main window on the demo CRM with an in-memory keyring, closed cleanly afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from helpers.memory_keyring import MemoryKeyring
from helpers.qasync_loop import AsyncDriver
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from crmdesk.demo.server import DemoServer
from crmdesk.storage.connections import ConnectionStore
from crmdesk.storage.profiles import ProfileStore
from crmdesk.storage.secrets import SecretStore
from crmdesk.ui.main_window import MainWindow


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
