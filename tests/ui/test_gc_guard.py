"""The GUI-thread garbage collector collects cycles itself and leaves automatic GC off."""

from __future__ import annotations

import gc
import weakref

from PySide6.QtWidgets import QApplication

from crmdesk.ui.gc_guard import MainThreadGarbageCollector


class Node:
    def __init__(self) -> None:
        self.me = self


def test_collects_cycles_on_the_gui_thread_only(qapp: QApplication) -> None:
    guard = MainThreadGarbageCollector(interval_ms=10_000)
    try:
        assert not gc.isenabled()
        node = Node()
        ref = weakref.ref(node)
        del node
        # Allocate past the generation-0 threshold so a collection is due.
        junk = [Node() for _ in range(gc.get_threshold()[0] + 10)]
        del junk
        assert ref() is not None  # automatic collection is off: nothing freed it yet
        guard.check()
        assert ref() is None
    finally:
        guard.stop()
    assert gc.isenabled()
