"""qasync under pytest-qt (which has no qasync support, pytest-qt issue #448).

:func:`qasync_loop` installs a ``qasync.QEventLoop`` over the test's
QApplication as the *running* asyncio loop, so coroutines started from Qt
slots (the task runner) run whenever Qt processes events, e.g. inside
``qtbot.waitUntil``.  :class:`AsyncDriver` lets a test run a coroutine to
completion or wait for a condition.  On exit every task still pending is
cancelled and unwound, and the running loop is cleared so pytest-asyncio's
own loops work in the next test.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import qasync
from PySide6.QtCore import QCoreApplication
from pytestqt.qtbot import QtBot

T = TypeVar("T")


@contextmanager
def qasync_loop(app: QCoreApplication) -> Iterator[asyncio.AbstractEventLoop]:
    # Not ``already_running=True``: its ``stop()`` calls ``app.exit()``, which spoils the
    # next test's event processing.  Marking it as the running loop is all asyncio needs.
    loop: asyncio.AbstractEventLoop = qasync.QEventLoop(app)
    asyncio.events._set_running_loop(loop)
    try:
        yield loop
    finally:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        for _ in range(200):
            if all(t.done() for t in pending):
                break
            QCoreApplication.processEvents()
        asyncio.events._set_running_loop(None)
        loop.close()
        # Free this test's Qt objects here, on the main thread: left to a later, random
        # collection they may be finalised on the demo server's thread and crash Qt
        # ("Timers cannot be stopped from another thread").
        gc.collect()


class AsyncDriver:
    """Runs coroutines on the qasync loop from a synchronous pytest-qt test."""

    def __init__(self, loop: asyncio.AbstractEventLoop, qtbot: QtBot) -> None:
        self.loop = loop
        self.qtbot = qtbot

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 5.0) -> T:
        task = self.loop.create_task(coro)
        self.qtbot.waitUntil(task.done, timeout=int(timeout * 1000))
        return task.result()

    def wait_until(self, condition: Callable[[], bool], timeout: float = 5.0) -> None:
        self.qtbot.waitUntil(condition, timeout=int(timeout * 1000))

    def settle(self, ms: int = 50) -> None:
        """Let queued callbacks and timers run for ``ms`` milliseconds."""
        self.qtbot.wait(ms)


class RecordingSink:
    """A task-runner error sink that remembers what it was told."""

    def __init__(self) -> None:
        self.errors: list[tuple[BaseException, str]] = []

    def report(self, exc: BaseException, *, context: str) -> None:
        self.errors.append((exc, context))
