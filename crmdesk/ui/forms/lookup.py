"""The record lookup: type to search a module, pick one (relate fields, linking)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from crmdesk.core.errors import CrmError
from crmdesk.core.records import RecordRef
from crmdesk.ui.errors import describe
from crmdesk.ui.forms.editors import plain

Search = Callable[[str], Awaitable[list[RecordRef]]]


class LookupDialog(QDialog):
    """Non-blocking: results arrive while the user types; the last search wins."""

    def __init__(
        self, title: str, search: Search, parent: QWidget | None = None, *, delay_ms: int = 250
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self._search = search
        self._task: asyncio.Task[None] | None = None
        self.query = QLineEdit()
        self.query.setPlaceholderText("Type to search…")
        self.query.setClearButtonEnabled(True)
        self.results = QListWidget()
        self.status = plain("")
        self.status.setEnabled(False)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self._accept_current)
        self.buttons.rejected.connect(self.reject)
        self.results.itemActivated.connect(lambda _i: self._accept_current())
        self.results.currentRowChanged.connect(lambda _r: self._update_ok())
        layout = QVBoxLayout(self)
        layout.addWidget(self.query)
        layout.addWidget(self.results, 1)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        self.resize(420, 360)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(delay_ms)
        self._timer.timeout.connect(self.search_now)
        self.query.textEdited.connect(lambda _t: self._timer.start())
        self.chosen: RecordRef | None = None
        self.finished.connect(lambda _r: self._cancel())
        self._update_ok()

    def search_now(self) -> None:
        self._cancel()
        self.status.setText("Searching…")
        self._task = asyncio.get_running_loop().create_task(self._run(self.query.text()))

    async def _run(self, text: str) -> None:
        try:
            refs = await self._search(text)
        except CrmError as exc:
            _title, message, advice = describe(exc)
            self.status.setText(f"{message} {advice}".strip())
            return
        self.results.clear()
        for ref in refs:
            item = QListWidgetItem(ref.label or ref.id)
            item.setData(Qt.ItemDataRole.UserRole, ref)
            self.results.addItem(item)
        self.status.setText(f"{len(refs)} found" if refs else "Nothing found.")
        if refs:
            self.results.setCurrentRow(0)
        self._update_ok()

    def _cancel(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def _update_ok(self) -> None:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(self.results.currentRow() >= 0)

    def _accept_current(self) -> None:
        if self.results.currentRow() < 0:
            return
        ref = self.results.currentItem().data(Qt.ItemDataRole.UserRole)
        if isinstance(ref, RecordRef):
            self.chosen = ref
            self.accept()

    async def choose(self) -> RecordRef | None:
        """Show the dialog (window-modal) and wait for the choice without blocking the loop."""
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def finished(code: int) -> None:
            if not done.done():
                done.set_result(code)

        self.finished.connect(finished)
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.show()
        self.search_now()
        try:
            code = await done
        finally:
            if self.isVisible():
                self.reject()
        return self.chosen if code == QDialog.DialogCode.Accepted else None
