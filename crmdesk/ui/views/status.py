"""The status bar: connection (and a TLS-off warning), module, loaded / total rows, a busy
indicator with Cancel."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar, QToolButton, QWidget

from crmdesk.ui.format import plain_tip
from crmdesk.ui.views.detail import plain_label


def rows_text(loaded: int, total: int | None, estimate: bool, more: bool) -> str:
    if total is not None and not (estimate and not more):
        prefix = "~" if estimate else ""
        return f"{loaded:,} / {prefix}{total:,} rows"
    if more:
        return f"{loaded:,} rows, more…"
    return f"{loaded:,} rows"


class StatusPanel(QStatusBar):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.connection: QLabel = plain_label()
        self.module: QLabel = plain_label()
        self.rows: QLabel = plain_label()
        self.tls: QLabel = plain_label("⚠ TLS verification off")
        self.tls.setObjectName("tlsOff")
        self.tls.setStyleSheet("color: #b00020; font-weight: bold;")
        self.tls.setToolTip(
            "This connection does not check the server's certificate: what crmdesk sends "
            "and receives can be read and changed on the way."
        )
        self.busy = QProgressBar(self)
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(90)
        self.busy.setMaximumHeight(14)
        self.busy.setTextVisible(False)
        self.cancel = QToolButton(self)
        self.cancel.setText("Cancel")
        self.cancel.setToolTip("Stop what is loading (Ctrl+.)")
        for label in (self.rows, self.module, self.connection):
            label.setContentsMargins(10, 0, 10, 0)
        for widget in (self.busy, self.cancel, self.rows, self.module, self.connection, self.tls):
            self.addPermanentWidget(widget)
        self.tls.setContentsMargins(4, 0, 10, 0)
        self.set_busy(False)
        self.set_tls_warning(False)

    def set_connection(self, text: str, tooltip: str = "") -> None:
        """Which connection the current view belongs to."""
        self.connection.setText(text)
        self.connection.setToolTip(plain_tip(tooltip))

    def set_tls_warning(self, on: bool) -> None:
        self.tls.setVisible(on)

    def set_module(self, text: str) -> None:
        self.module.setText(text)

    def set_rows(self, text: str) -> None:
        self.rows.setText(text)

    def set_busy(self, busy: bool) -> None:
        self.busy.setVisible(busy)
        self.cancel.setVisible(busy)
