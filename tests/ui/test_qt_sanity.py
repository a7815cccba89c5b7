"""Guards against Qt binding regressions that would crash the app, not just a test."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    fired = Signal(int)


def test_signal_emit_does_not_steal_a_reference_to_true() -> None:
    # PySide6 6.12.0 returns True from emit() without a reference: on Python 3.11 the
    # interpreter aborts ("bool_dealloc") once True's count reaches zero.
    emitter = _Emitter()
    before = sys.getrefcount(True)
    for _ in range(100):
        emitter.fired.emit(1)
    assert sys.getrefcount(True) - before > -50
