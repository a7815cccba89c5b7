"""Small helpers for the admin view tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def until(check: Callable[[], object], within: float = 5.0, what: str = "") -> None:
    """Let the (qasync) loop run until ``check()`` is truthy; fail after ``within`` seconds."""
    end = time.monotonic() + within
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.01)
