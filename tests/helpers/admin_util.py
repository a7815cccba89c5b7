"""Small helpers for the admin view tests."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable


async def until(check: Callable[[], object], within: float = 5.0, what: str = "") -> None:
    """Let the (qasync) loop run until ``check()`` is truthy; fail after ``within`` seconds."""
    end = time.monotonic() + within
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.01)


def collect_garbage() -> None:
    """Collect cyclic garbage now, on the main thread.

    Python's cycle collector runs in whichever thread allocates when it triggers: the demo
    server's thread or a worker doing JSON work.  If a previous test's Qt objects (a closed
    qasync loop's timers) are collected there, Qt warns "Timers cannot be stopped from
    another thread" and may crash; collecting on the main thread between tests prevents it.
    """
    gc.collect()
