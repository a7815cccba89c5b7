"""Sign-in in the system browser, as the GUI sees it (OAuth2 authorization-code grant).

* :func:`qt_open_url` opens a URL with ``QDesktopServices`` (the desktop's own browser);
  :mod:`crmdesk.app` makes it the process-wide opener of
  :mod:`crmdesk.backends.oauth_loopback`.
* :func:`watch_browser` makes a backend tell the UI *which* page it opens, so the UI can
  say "Waiting for you to sign in in your browser…" and show the address as selectable
  plain text, in case no browser opened.  The page still opens through whatever opener the
  backend (or the process) has: the desktop's in the app, a scripted one in tests.
* :class:`BrowserWaitDialog` is that message for the connection flow, with a Cancel that
  stops the wait (it cancels the signing-in task).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from crmdesk.backends.oauth_loopback import BrowserOpener, default_browser
from crmdesk.core.backend import Backend

WAITING_TEXT = "Waiting for you to sign in in your browser…"
NO_BROWSER_TEXT = "If no browser window opened, open this address yourself:"


def qt_open_url(url: str) -> bool:
    """The desktop's browser, through Qt (False when nothing could open it)."""
    return bool(QDesktopServices.openUrl(QUrl(url, QUrl.ParsingMode.StrictMode)))


def watch_browser(backend: Backend, on_url: Callable[[str], None]) -> bool:
    """Call ``on_url(url)`` before ``backend`` opens a sign-in page in the browser.

    Only backends with a pluggable ``open_browser`` (SuiteCRM's authorization-code grant)
    are changed; True when this one was.
    """
    if not hasattr(backend, "open_browser"):
        return False
    chosen: BrowserOpener | None = getattr(backend, "open_browser", None)

    def opener(url: str) -> Any:
        on_url(url)
        # Resolved at call time: the process default may change after the backend was made.
        return (chosen if chosen is not None else default_browser())(url)

    setattr(backend, "open_browser", opener)  # noqa: B010 (not on the Backend ABC)
    return True


def url_field(url: str = "") -> QLineEdit:
    """The sign-in address: read-only, selectable, plain text (never a rich-text link)."""
    edit = QLineEdit(url)
    edit.setObjectName("signinUrl")
    edit.setReadOnly(True)
    edit.setAccessibleName("Sign-in address")
    edit.setCursorPosition(0)
    return edit


class BrowserWaitDialog(QDialog):
    """ "Waiting for you to sign in in your browser…", the address, and Cancel.

    Cancel (or Escape, or closing) cancels ``task``; the dialog closes itself when the
    owner calls :meth:`finish`.
    """

    def __init__(self, parent: QWidget | None, name: str, task: asyncio.Task[Any] | None) -> None:
        super().__init__(parent)
        self.setObjectName("browserWait")
        self.setWindowTitle(f"Signing in to {name}")
        self._task = task
        self.cancelled = False
        self.message = QLabel(WAITING_TEXT)
        self.message.setObjectName("browserWaitText")
        self.message.setTextFormat(Qt.TextFormat.PlainText)
        hint = QLabel(NO_BROWSER_TEXT)
        hint.setTextFormat(Qt.TextFormat.PlainText)
        hint.setWordWrap(True)
        self.url_edit = url_field()
        hint.setBuddy(self.url_edit)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.cancel_button = buttons.button(QDialogButtonBox.StandardButton.Cancel)
        self.cancel_button.setObjectName("cancelSignIn")
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.message)
        layout.addWidget(hint)
        layout.addWidget(self.url_edit)
        layout.addWidget(buttons)
        self.setMinimumWidth(480)

    def show_url(self, url: str) -> None:
        self.url_edit.setText(url)
        self.url_edit.setCursorPosition(0)
        if not self.isVisible():
            self.open()
        self.cancel_button.setFocus()

    def reject(self) -> None:
        """QDialog.reject: Cancel / Escape stop the wait (the sign-in task is cancelled)."""
        if self._task is not None and not self._task.done():
            self.cancelled = True
            self._task.cancel()
        super().reject()

    def finish(self) -> None:
        """The sign-in ended (either way): close without cancelling anything."""
        self._task = None
        if self.isVisible():
            super().reject()
