"""Helpers for the editing tests: answer a modal message box, a fake that keeps what it was sent."""

from __future__ import annotations

from collections.abc import Mapping

from helpers.fake_backend import FakeBackend
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from crmdesk.core.records import Record, Value, Version


def answer_box(button_text: str, *, seen: list[str] | None = None, tries: int = 200) -> None:
    """Click the button named ``button_text`` (``&`` ignored) of the next modal message box."""

    def attempt(left: int) -> None:
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            if seen is not None:
                seen.append(box.text())
            for button in box.buttons():
                if button.text().replace("&", "") == button_text:
                    button.click()
                    return
            raise AssertionError(
                f"no button {button_text!r} in {[b.text() for b in box.buttons()]}"
            )
        if left:
            QTimer.singleShot(20, lambda: attempt(left - 1))

    QTimer.singleShot(0, lambda: attempt(tries))


class RecordingBackend(FakeBackend):
    """The fake backend that also remembers every change set and bumps versions."""

    def __init__(self) -> None:
        super().__init__(accounts=300, contacts=120)
        self.updates: list[dict[str, Value]] = []
        self.creates: list[dict[str, Value]] = []

    async def update(
        self,
        module: str,
        record_id: str,
        changes: Mapping[str, Value],
        expected_version: Version | None = None,
    ) -> Record:
        self.updates.append(dict(changes))
        rec = await super().update(module, record_id, changes, expected_version)
        rec.version = Version(str(int(rec.version.token) + 1000 if rec.version else 1))
        return Record(rec.module, rec.id, dict(rec.values), rec.version)

    async def create(self, module: str, values: Mapping[str, Value]) -> Record:
        self.creates.append(dict(values))
        return await super().create(module, values)
