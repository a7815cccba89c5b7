"""``--screenshot``: drive the window to a representative state and grab it to a PNG."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from crmdesk.ui.errors import describe
from crmdesk.ui.main_window import MainWindow


class ScreenshotError(RuntimeError):
    pass


async def _until(window: MainWindow, check: Callable[[], bool], what: str) -> None:
    while not check():
        if window.errors.history:
            _title, message, advice = describe(window.errors.history[-1])
            raise ScreenshotError(f"while waiting for {what}: {message} {advice}".strip())
        await asyncio.sleep(0.02)


#: What each CRM calls its accounts module (EspoCRM names modules in the singular).
ACCOUNT_MODULES = ("Accounts", "Account")


async def capture(window: MainWindow, path: Path, module: str | None = None) -> float:
    """Open ``module`` (default: the CRM's accounts module), select its first record, wait
    for its details, save the window.

    Returns the seconds it took.  Raises ScreenshotError with a readable reason.
    """
    start = time.monotonic()
    await _until(window, lambda: window.modules.rowCount() > 0, "the module list")
    wanted = (module,) if module else ACCOUNT_MODULES
    if not any(window.module_tree.select_module(name) for name in wanted):
        raise ScreenshotError(f"the CRM has no browsable module {wanted[0]!r}")
    records = window.records
    await _until(window, lambda: records.rowCount() > 0 and not records.loading, "the first page")
    window.table.setFocus()
    window.table.selectRow(0)
    first = records.record_id(0)
    await _until(window, lambda: window.detail.record_id == first, "the record's details")
    await asyncio.sleep(0.3)  # let layouts and the status bar settle before grabbing
    if not window.grab().save(str(path), "PNG"):
        raise ScreenshotError(f"could not write {path}")
    return time.monotonic() - start
