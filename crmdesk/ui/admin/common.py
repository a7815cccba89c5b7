"""Small pieces every admin view shares: plain-text labels, a status line, task plumbing.

Every coroutine an admin view starts goes through :func:`start`, which runs it on the
shared :class:`~crmdesk.ui.tasks.TaskRunner` under a key private to the view (so a new
load supersedes the old one) and turns a :class:`~crmdesk.core.errors.CrmError` into a
plain sentence in the view's status line instead of a dialog nobody asked for.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, TypeVar

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import (
    QDialog,
    QInputDialog,
    QLabel,
    QMessageBox,
    QSizePolicy,
    QWidget,
)

from crmdesk.core.errors import CrmError, Unsupported
from crmdesk.ui.tasks import TaskRunner

T = TypeVar("T")


def plain_label(text: str = "", parent: QWidget | None = None, *, wrap: bool = False) -> QLabel:
    """A QLabel that never interprets its text as HTML (server text goes in here)."""
    label = QLabel(parent)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setText(text)
    label.setWordWrap(wrap)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class NoteLabel(QLabel):
    """A framed, word-wrapped plain-text note: what this CRM does not offer, or an error."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setWordWrap(True)
        self.setFrameShape(QLabel.Shape.StyledPanel)
        self.setMargin(6)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setText(text)
        self.setVisible(bool(text))

    def show_text(self, text: str) -> None:
        self.setText(text)
        self.setVisible(bool(text))


class StatusLine(QLabel):
    """One line under a view: what is loading, what failed and what to do about it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.is_error = False

    def info(self, text: str) -> None:
        self.is_error = False
        self.setStyleSheet("")
        self.setText(text)

    def error(self, exc: BaseException) -> None:
        self.problem(describe_error(exc))

    def problem(self, text: str) -> None:
        self.is_error = True
        self.setStyleSheet("color: #a11;")
        self.setText(text)


def describe_error(exc: BaseException) -> str:
    """The sentence a user reads for ``exc`` (CrmError messages are already safe)."""
    if isinstance(exc, CrmError):
        return str(exc)
    return f"Unexpected error: {type(exc).__name__}. See the log for details."


def unsupported_text(exc: Unsupported) -> str:
    return exc.message or "This CRM's API does not offer it."


class Runs:
    """A view's handle on the task runner: keys private to the view, errors to its status line."""

    def __init__(self, owner: QObject, runner: TaskRunner | None, status: StatusLine) -> None:
        self.runner = runner if runner is not None else TaskRunner(parent=owner)
        self._prefix = f"admin.{type(owner).__name__}.{id(owner):x}"
        self._status = status

    def start(
        self,
        key: str,
        coro: Coroutine[Any, Any, Any],
        *,
        label: str = "",
        on_error: Callable[[CrmError], None] | None = None,
    ) -> asyncio.Task[Any]:
        async def guarded() -> None:
            try:
                await coro
            except CrmError as exc:
                if on_error is not None:
                    on_error(exc)
                else:
                    self._status.error(exc)

        task = self.runner.run(f"{self._prefix}.{key}", guarded(), label=label or key)
        # Superseded before it started: close ``coro`` so it is not left "never awaited".
        task.add_done_callback(lambda _t: coro.close())
        return task

    def running(self, key: str) -> bool:
        return self.runner.running(f"{self._prefix}.{key}")

    def cancel_all(self) -> None:
        for key in ("load", "describe", "send", "edit", "search", "left", "right", "deps"):
            self.runner.cancel(f"{self._prefix}.{key}")


async def off_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run CPU work (pretty-printing, walking big JSON) on a worker thread."""
    return await asyncio.to_thread(fn, *args)


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


class Prompter(Protocol):
    """How a view asks the user something; tests pass a scripted one instead of dialogs."""

    def ask_text(
        self, parent: QWidget, title: str, label: str, initial: str = ""
    ) -> str | None: ...

    def choose(self, parent: QWidget, title: str, label: str, items: list[str]) -> str | None: ...

    def confirm(self, parent: QWidget, title: str, text: str) -> bool: ...

    def save_path(
        self, parent: QWidget, title: str, suggested: str, filter_: str
    ) -> str | None: ...


def plain_input_dialog(parent: QWidget, title: str, label: str) -> QInputDialog:
    """A QInputDialog whose label is plain text (QInputDialog.getText's label would render
    HTML, and the labels name server values such as picklist keys)."""
    dialog = QInputDialog(parent)
    dialog.setWindowTitle(title)
    dialog.setLabelText(label)
    for child in dialog.findChildren(QLabel):
        child.setTextFormat(Qt.TextFormat.PlainText)
    return dialog


def _answer(dialog: QInputDialog) -> str | None:
    accepted = dialog.exec() == QDialog.DialogCode.Accepted
    value = dialog.textValue()
    dialog.deleteLater()
    return value if accepted else None


class DialogPrompter:
    """The real prompter: Qt's standard dialogs, all plain text."""

    def ask_text(self, parent: QWidget, title: str, label: str, initial: str = "") -> str | None:
        dialog = plain_input_dialog(parent, title, label)
        dialog.setTextValue(initial)
        return _answer(dialog)

    def choose(self, parent: QWidget, title: str, label: str, items: list[str]) -> str | None:
        dialog = plain_input_dialog(parent, title, label)
        dialog.setComboBoxItems(items)
        dialog.setComboBoxEditable(False)
        return _answer(dialog)

    def confirm(self, parent: QWidget, title: str, text: str) -> bool:
        box = QMessageBox(parent)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle(title)
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setText(text)
        box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        return box.exec() == QMessageBox.StandardButton.Yes

    def save_path(self, parent: QWidget, title: str, suggested: str, filter_: str) -> str | None:
        from PySide6.QtWidgets import QFileDialog

        path, _ = QFileDialog.getSaveFileName(parent, title, suggested, filter_)
        return path or None
