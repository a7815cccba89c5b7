"""Fixtures for the Qt tests: a qasync loop per test, the fake backend, a task runner."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.admin_util import collect_garbage
from helpers.demo_window import demo_window
from helpers.fake_backend import FakeBackend
from helpers.qasync_loop import AsyncDriver, RecordingSink, qasync_loop
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from crmdesk.demo.server import DemoServer
from crmdesk.ui.main_window import MainWindow
from crmdesk.ui.tasks import TaskRunner


@pytest.fixture
def aio(qapp: QApplication, qtbot: QtBot) -> Iterator[AsyncDriver]:
    with qasync_loop(qapp) as loop:
        yield AsyncDriver(loop, qtbot)


@pytest.fixture
def fake() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def runner(aio: AsyncDriver, sink: RecordingSink) -> Iterator[TaskRunner]:
    r = TaskRunner(sink)
    yield r
    r.cancel_all()


@pytest.fixture(autouse=True)
def _gc_on_main_thread() -> Iterator[None]:
    """No automatic garbage collection during a Qt test: it could run on the demo server's
    thread and finalise Qt objects there (see crmdesk.ui.gc_guard). Collect here instead."""
    gc.disable()
    try:
        yield
    finally:
        gc.collect()
        gc.enable()


@pytest.fixture(autouse=True)
def _private_cache_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Connections cache metadata under the platform cache dir: never the user's own."""
    monkeypatch.setenv("CRMDESK_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
def demo_main(
    qtbot: QtBot, aio: AsyncDriver, demo_server: DemoServer, tmp_path: Path
) -> Iterator[MainWindow]:
    """A main window on the demo CRM (in-memory keyring), garbage collected on the main
    thread before and after; closed cleanly afterwards."""
    collect_garbage()
    with demo_window(qtbot, aio, demo_server, tmp_path) as win:
        yield win
    collect_garbage()
