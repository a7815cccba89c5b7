"""The one error sink of the window: status bar for everything, a dialog for serious errors.

Users see the error's message and advice, never a traceback; the traceback goes to the log.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QMessageBox, QStatusBar, QWidget

from crmdesk.core.errors import (
    AuthError,
    ConfigurationError,
    CrmError,
    PermissionDenied,
    ProtocolError,
    ServerError,
    Unavailable,
)

log = logging.getLogger(__name__)

#: Errors that stop the user's work: worth a dialog, not just a status line.
SERIOUS: tuple[type[CrmError], ...] = (
    AuthError,
    ConfigurationError,
    PermissionDenied,
    ProtocolError,
    ServerError,
    Unavailable,
)
STATUS_MS = 15_000


def describe(exc: BaseException) -> tuple[str, str, str]:
    """(title, message, advice) safe to show for any exception."""
    if isinstance(exc, CrmError):
        return exc.title, exc.message, exc.advice
    return (
        "Unexpected error",
        f"crmdesk ran into an internal problem ({type(exc).__name__}).",
        "Try again; if it keeps happening, report it with the log file.",
    )


class ErrorPresenter(QObject):
    """Implements the task runner's ``ErrorSink`` for a window."""

    reported = Signal(str)

    def __init__(self, window: QWidget, status: QStatusBar) -> None:
        super().__init__(window)
        self._window = window
        self._status = status
        self._dialog: QMessageBox | None = None
        self.history: list[BaseException] = []

    @property
    def dialog(self) -> QMessageBox | None:
        return self._dialog

    def report(self, exc: BaseException, *, context: str) -> None:
        self.history.append(exc)
        if isinstance(exc, CrmError):
            log.warning("%s: %s (%s)", context, exc.message, exc.detail or "", exc_info=exc)
        else:
            log.error("%s failed unexpectedly", context, exc_info=exc)
        title, message, advice = describe(exc)
        line = f"{context}: {message}" if context else message
        self._status.showMessage(line, STATUS_MS)
        self.reported.emit(line)
        if not isinstance(exc, CrmError) or isinstance(exc, SERIOUS):
            self._show_dialog(title, message, advice)

    def _show_dialog(self, title: str, message: str, advice: str) -> None:
        box = self._dialog
        if box is None:
            box = QMessageBox(self._window)
            box.setIcon(QMessageBox.Icon.Warning)
            box.setTextFormat(Qt.TextFormat.PlainText)
            box.setStandardButtons(QMessageBox.StandardButton.Close)
            box.setWindowModality(Qt.WindowModality.NonModal)
            self._dialog = box
        box.setWindowTitle(f"crmdesk — {title}")
        box.setText(message)
        box.setInformativeText(advice)
        box.show()
