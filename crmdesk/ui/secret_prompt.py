"""A small prompt for the secrets a saved profile lacks (no keyring, or not remembered).

What is typed stays in memory for this connection only; nothing is stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QWidget

from crmdesk.core.connection import ConnectionProfile, Secrets
from crmdesk.storage.signin import method_spec


def secret_label(profile: ConnectionProfile, key: str) -> str:
    spec = method_spec(profile.dialect, profile.auth)
    for f in spec.fields if spec else ():
        if f.key == key:
            return f.label
    return key.replace("_", " ").capitalize()


class SecretPrompt(QDialog):
    """One password field per missing secret; OK is enabled once all are filled."""

    def __init__(
        self,
        profile: ConnectionProfile,
        missing: Sequence[str],
        reason: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("SecretPrompt")
        self.setWindowTitle(f"Sign in to {profile.name}")
        self.profile = profile
        form = QFormLayout(self)
        intro = QLabel()
        intro.setTextFormat(Qt.TextFormat.PlainText)
        intro.setWordWrap(True)
        who = f" as {profile.username}" if profile.username else ""
        intro.setText(
            (f"{reason}\n\n" if reason else "")
            + f"crmdesk needs these to sign in to {profile.base_url}{who}. They are kept in "
            "memory for this session only."
        )
        form.addRow(intro)
        self.edits: dict[str, QLineEdit] = {}
        for key in missing:
            edit = QLineEdit()
            edit.setObjectName(key)
            edit.setEchoMode(QLineEdit.EchoMode.Password)
            edit.textChanged.connect(self._update)
            self.edits[key] = edit
            form.addRow(secret_label(profile, key), edit)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)
        self._update()

    def _update(self) -> None:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(all(e.text() for e in self.edits.values()))

    def secrets(self) -> Secrets:
        return Secrets({k: e.text() for k, e in self.edits.items()})

    def done(self, result: int) -> None:
        """QDialog.done: the typed secrets leave the widgets when the prompt closes."""
        values = self.secrets() if result == QDialog.DialogCode.Accepted else None
        for edit in self.edits.values():
            edit.clear()
        self._result = values
        super().done(result)

    _result: Secrets | None = None

    @property
    def result_secrets(self) -> Secrets | None:
        return self._result


async def ask_secrets(
    parent: QWidget | None, profile: ConnectionProfile, missing: Sequence[str], reason: str = ""
) -> Secrets | None:
    """Show the prompt window-modal without blocking the loop; None when cancelled."""
    prompt = SecretPrompt(profile, missing, reason, parent)
    prompt.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
    answer: asyncio.Future[Secrets | None] = asyncio.get_running_loop().create_future()

    def finished(_code: int) -> None:
        if not answer.done():
            answer.set_result(prompt.result_secrets)

    prompt.finished.connect(finished)
    prompt.open()
    try:
        return await answer
    finally:
        if prompt.isVisible():
            prompt.reject()
