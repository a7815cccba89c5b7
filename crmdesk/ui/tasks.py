"""The one place coroutines start from the UI.

Slots call :meth:`TaskRunner.run` with a *slot key* (one per view or purpose).
Starting a task under a key cancels the one it supersedes, so a late answer
for the previous module never lands.  Every failure goes to one sink; a
cancelled task is silent.  (qasync's ``asyncSlot`` sends errors to
``sys.excepthook`` and cannot be cancelled, hence this class.)
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any, Protocol, TypeVar

from PySide6.QtCore import QObject, Signal

from crmdesk.core.errors import Cancelled

log = logging.getLogger(__name__)
T = TypeVar("T")

_TaskSwitch = Callable[[asyncio.AbstractEventLoop, "asyncio.Task[Any]"], None]


def _task_switches() -> tuple[_TaskSwitch, _TaskSwitch] | None:
    """asyncio's private current-task switches, or None where this Python lacks them.

    They are what the loop itself calls around each step of a task (3.11 to 3.14 have
    them); without them :func:`start_eagerly` falls back to a plain task.
    """
    try:
        from asyncio import tasks
    except ImportError:  # pragma: no cover - asyncio always has it
        return None
    enter, leave = getattr(tasks, "_enter_task", None), getattr(tasks, "_leave_task", None)
    if not callable(enter) or not callable(leave):
        return None
    return enter, leave


_SWITCHES = _task_switches()


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
        self._tasks: dict[str, asyncio.Future[Any]] = {}
        self._labels: dict[str, str] = {}

    def set_sink(self, sink: ErrorSink) -> None:
        self._sink = sink

    def run(
        self, key: str, coro: Coroutine[Any, Any, Any], *, label: str = ""
    ) -> asyncio.Task[Any]:
        """Start ``coro`` under ``key``, cancelling whatever ran under that key before."""
        task = asyncio.get_running_loop().create_task(coro, name=f"crmdesk:{key}")
        self.adopt(key, task, label=label)
        return task

    def adopt(self, key: str, task: asyncio.Future[Any], *, label: str = "") -> asyncio.Future[Any]:
        """Take charge of a task already started (say by :func:`start_eagerly`) under
        ``key``, cancelling whatever ran under that key before."""
        old = self._tasks.pop(key, None)
        if old is not None and old is not task and not old.done():
            old.cancel()
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

    def running_under(self, prefixes: tuple[str, ...]) -> list[tuple[str, asyncio.Future[Any]]]:
        """(label, task) of each unfinished task whose key starts with one of ``prefixes``."""
        return [
            (self._labels.get(key, key), task)
            for key, task in self._tasks.items()
            if key.startswith(prefixes) and not task.done()
        ]

    async def shutdown(self) -> None:
        """Cancel everything and wait until the tasks have unwound."""
        tasks = [t for t in self._tasks.values() if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- internals -------------------------------------------------------------------
    def _finished(self, key: str, task: asyncio.Future[Any]) -> None:
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


#: How many bare yields (``await asyncio.sleep(0)``, anyio's checkpoints) an eager start
#: steps over before it leaves the rest to the loop.
EAGER_STEPS = 64


#: How many eager starts are stepping right now (they can nest).
_eager_depth = 0


def in_eager_start() -> bool:
    """Is this code running in the eager part of :func:`start_eagerly`, that is, inside
    whoever started it, before that caller returned?"""
    return _eager_depth > 0


def start_eagerly(aw: Awaitable[T]) -> asyncio.Future[T]:
    """A task for ``coro`` whose first steps run now, in the caller, up to the first real wait.

    ``loop.create_task`` only schedules a coroutine: it starts after everything already
    queued (for a slot: the handlers still to run, and the repaint Qt runs first).  Started
    here, an HTTP request is on the wire before this returns (httpx and anyio only pass
    bare ``sleep(0)`` checkpoints before writing to the socket; those are stepped over).
    The task is the current task meanwhile, so cancel scopes bind to it, and the code runs
    in the task's own context.  What the coroutine returns or raises during the eager part
    is kept for whoever awaits the task: no handler of theirs runs before this returns.
    """
    loop = asyncio.get_running_loop()
    if not isinstance(aw, Coroutine):
        return asyncio.ensure_future(aw)  # a future already runs; nothing to start early
    if _SWITCHES is None:  # a Python without the switches: started by the loop, later
        return loop.create_task(aw)
    _enter_task, _leave_task = _SWITCHES
    coro: Coroutine[Any, Any, T] = aw
    ctx = contextvars.copy_context()
    rest = _Rest(coro)
    outer = _resume(rest)
    task = loop.create_task(outer, context=ctx)
    caller = asyncio.current_task(loop)
    if caller is not None:
        _leave_task(loop, caller)
    _enter_task(loop, task)
    global _eager_depth
    _eager_depth += 1
    try:
        ctx.run(outer.send, None)  # steps ``coro`` eagerly inside _Rest; yields a marker
    finally:
        _eager_depth -= 1
        _leave_task(loop, task)
        if caller is not None:
            _enter_task(loop, caller)
    return task


async def _resume(rest: _Rest[T]) -> T:
    return await rest


class _Rest(Generator[Any, Any, T]):
    """Awaitable driving ``coro``: the eager part on its first step, then plain delegation.

    First step (in :func:`start_eagerly`): runs ``coro`` until it waits on a future, returns
    or raises, and keeps the outcome.  Second step (the task's first, from the loop): hands
    that outcome over (yields the future to the task, or returns / raises).  Afterwards every
    send / throw goes straight to ``coro``, as ``await`` would.
    """

    def __init__(self, coro: Coroutine[Any, Any, T]) -> None:
        self._coro = coro
        self._phase = 0
        self._yielded: Any = None
        self._done = False
        self._result: Any = None
        self._error: BaseException | None = None

    def __await__(self) -> Generator[Any, Any, T]:
        return self

    def send(self, value: Any) -> Any:
        if self._phase == 0:
            self._phase = 1
            self._eager()
            return None
        if self._phase == 1:
            self._phase = 2
            return self._handover()
        return self._coro.send(value)

    def throw(self, exc: BaseException, *_legacy: Any) -> Any:  # type: ignore[override]
        if self._phase == 1:
            self._phase = 2
            if self._done:
                raise exc
            waiting = self._yielded
            if isinstance(waiting, asyncio.Future) and not waiting.done():
                waiting.cancel()  # what Task.cancel does to the future a task waits on
        return self._coro.throw(exc)

    def close(self) -> None:
        self._coro.close()

    def _eager(self) -> None:
        try:
            for _ in range(EAGER_STEPS):
                yielded = self._coro.send(None)
                if yielded is not None:  # a future: a real wait, the loop takes over
                    self._yielded = yielded
                    return
        except StopIteration as stop:
            self._done, self._result = True, stop.value
        except BaseException as exc:  # kept for whoever awaits the task
            self._done, self._error = True, exc

    def _handover(self) -> Any:
        if not self._done:
            return self._yielded
        error, self._error = self._error, None
        if error is not None:
            raise error
        raise StopIteration(self._result)
