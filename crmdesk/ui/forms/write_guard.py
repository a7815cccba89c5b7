"""A change on its way to the CRM is never cut off without asking.

Closing a window, disconnecting or quitting cancels the connection's tasks.  A save that
was sent may be applied by the server all the same, and then nobody would be told whether
it was: :func:`confirm_no_writes` asks first.  Wait (the default) lets the writes finish
(their success or failure shows as usual) and then tries the close again; "… anyway" goes
on at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from crmdesk.ui.tasks import TaskRunner

#: Task keys of the operations that change records in the CRM.
WRITE_PREFIXES = (
    "save:",
    "create:",
    "inline:",
    "delete:",
    "mass:",
    "link:",
    "unlink:",
    "create-related:",
    "convert:",
    "reopen:",
    "tags-add:",
    "tags-remove:",
    "favorite:",
)

_waiting: set[asyncio.Task[None]] = set()


def writes_in_flight(runners: Iterable[TaskRunner]) -> list[tuple[str, asyncio.Future[Any]]]:
    """(label, task) of every change on its way to the CRM in ``runners``."""
    return [item for runner in runners for item in runner.running_under(WRITE_PREFIXES)]


def confirm_no_writes(
    parent: QWidget,
    runners: Iterable[TaskRunner],
    doing: str,
    again: Callable[[], None],
) -> bool:
    """True when no change is on its way, or the user chose to go on anyway.

    Otherwise (Wait) False: ``again`` runs once every such change has ended.  ``doing``
    names the action as a button would ("Close", "Disconnect", "Quit").
    """
    pending = writes_in_flight(runners)
    if not pending:
        return True
    labels = sorted({label for label, _task in pending})
    count = "A change is" if len(pending) == 1 else f"{len(pending)} changes are"
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("Changes on their way")
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setText(
        f"{count} on the way to the CRM ({', '.join(labels)}).\n\n"
        f"{doing} now, and crmdesk cannot tell you whether the CRM saved "
        f"{'it' if len(pending) == 1 else 'them'}. Wait, and crmdesk will "
        f"{doing.lower()} once the CRM has answered."
    )
    wait = box.addButton("Wait", QMessageBox.ButtonRole.AcceptRole)
    anyway = box.addButton(f"{doing} Anyway", QMessageBox.ButtonRole.DestructiveRole)
    box.setDefaultButton(wait)
    box.setEscapeButton(wait)
    box.exec()
    if box.clickedButton() is anyway:
        return True

    async def after() -> None:
        await asyncio.gather(*(task for _label, task in pending), return_exceptions=True)
        await asyncio.sleep(0)  # the writes' own reactions (saved, failed) first
        again()

    task = asyncio.get_running_loop().create_task(after())
    _waiting.add(task)
    task.add_done_callback(_waiting.discard)
    return False
