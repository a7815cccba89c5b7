"""A strip above the list that says a page failed and offers to retry."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QPushButton, QSizePolicy, QWidget

from crmdesk.ui.views.detail import plain_label


class ErrorBanner(QFrame):
    retry_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet("ErrorBanner { background: #fdecea; border: 1px solid #f5c2c0; }")
        self.message = plain_label()
        self.message.setWordWrap(True)
        self.message.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.retry = QPushButton("&Retry", self)
        self.retry.clicked.connect(self.retry_requested)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.addWidget(self.message)
        layout.addWidget(self.retry)
        self.hide()

    def show_error(self, text: str) -> None:
        self.message.setText(f"Loading stopped: {text}")
        self.show()
