"""The one place coroutines start from the UI.

Slots call :meth:`TaskRunner.run` with a *slot key* (one per view or purpose).
Starting a task under a key cancels the one it supersedes, so a late answer
for the previous module never lands.  Every failure goes to one sink; a
cancelled task is silent.  (qasync's ``asyncSlot`` sends errors to
``sys.excepthook`` and cannot be cancelled, hence this class.)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, Protocol

from PySide6.QtCore import QObject, Signal

from crmdesk.core.errors import Cancelled

log = logging.getLogger(__name__)


class ErrorSink(Protocol):
    def report(self, exc: BaseException, *, context: str) -> None: ...


class LogSink:
    """A sink for headless use: log it, show nothing."""

    def report(self, exc: BaseException, *, context: str) -> None:
        log.error("%s failed", context, exc_info=exc)


class TaskRunner(QObject):
    """Starts coroutines on the running (qasync) loop, one handle per slot key."""

    #: True while any task runs.
    busy_changed = Signal(bool)
    #: A short description of what runs now ("" when idle).
    activity_changed = Signal(str)

    def __init__(self, sink: ErrorSink | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._sink: ErrorSink = sink or LogSink()
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._labels: dict[str, str] = {}

    def set_sink(self, sink: ErrorSink) -> None:
        self._sink = sink

    def run(
        self, key: str, coro: Coroutine[Any, Any, Any], *, label: str = ""
    ) -> asyncio.Task[Any]:
        """Start ``coro`` under ``key``, cancelling whatever ran under that key before."""
        old = self._tasks.pop(key, None)
        if old is not None and not old.done():
            old.cancel()
        task = asyncio.get_running_loop().create_task(coro, name=f"crmdesk:{key}")
        self._tasks[key] = task
        self._labels[key] = label or key
        task.add_done_callback(lambda t: self._finished(key, t))
        self._announce()
        return task

    def cancel(self, key: str) -> None:
        task = self._tasks.get(key)
        if task is not None and not task.done():
            task.cancel()

    def cancel_all(self) -> None:
        for task in list(self._tasks.values()):
            if not task.done():
                task.cancel()

    def running(self, key: str) -> bool:
        task = self._tasks.get(key)
        return task is not None and not task.done()

    def busy(self) -> bool:
        return any(not t.done() for t in self._tasks.values())

    async def shutdown(self) -> None:
        """Cancel everything and wait until the tasks have unwound."""
        tasks = [t for t in self._tasks.values() if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- internals -------------------------------------------------------------------
    def _finished(self, key: str, task: asyncio.Task[Any]) -> None:
        current = self._tasks.get(key) is task
        label = self._labels.get(key, key)
        if current:
            del self._tasks[key]
            self._labels.pop(key, None)
        self._announce()
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None or isinstance(exc, Cancelled):
            return
        if not current:
            # A superseded task failed late: its error belongs to a view nobody looks at.
            log.info("superseded task %s failed", key, exc_info=exc)
            return
        self._sink.report(exc, context=label)

    def _announce(self) -> None:
        active = [self._labels.get(k, k) for k, t in self._tasks.items() if not t.done()]
        self.busy_changed.emit(bool(active))
        self.activity_changed.emit(active[-1] if active else "")
