"""Run Python's cyclic garbage collector on the GUI thread only.

Worker threads (``asyncio.to_thread`` parses, the in-process demo server the tests
use) share the process with the GUI.  CPython's automatic collection runs in
whichever thread happens to allocate past the threshold, so a Qt object caught in
a reference cycle could be finalised on a worker's thread — Qt then aborts
("Timers cannot be stopped from another thread") or crashes.  The cure, known
from PyQt practice: switch automatic collection off and collect from a timer on
the GUI thread, following the same generation thresholds.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer


class MainThreadGarbageCollector(QObject):
    def __init__(self, parent: QObject | None = None, interval_ms: int = 500) -> None:
        super().__init__(parent)
        self._thresholds = gc.get_threshold()
        gc.disable()
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.check)
        self._timer.start(interval_ms)

    def check(self) -> None:
        """Collect the generations whose counts passed their thresholds (like CPython would)."""
        counts = gc.get_count()
        t0, t1, t2 = self._thresholds
        if counts[0] > t0:
            gen = 0
            if counts[1] > t1:
                gen = 1
                if counts[2] > t2:
                    gen = 2
            gc.collect(gen)

    def stop(self) -> None:
        self._timer.stop()
        gc.enable()
