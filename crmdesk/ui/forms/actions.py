"""Record-level actions, declared as data: the record pane's toolbar, the table's cell
and list actions, with their shortcuts.  Each view maps action ids to handlers and
shows an action only where the backend offers it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget


@dataclass(frozen=True, slots=True)
class RecordActionSpec:
    id: str
    text: str
    shortcut: str | None = None
    tip: str = ""
    #: "record" (the shown record: pane toolbar), "list" (the table), "cell" (one cell).
    scope: str = "record"
    checkable: bool = False


RECORD_ACTIONS: tuple[RecordActionSpec, ...] = (
    RecordActionSpec(
        "record.favorite", "\u2606 Favorite", "Ctrl+D", "Mark or unmark as a favorite",
        checkable=True,
    ),
    RecordActionSpec(
        "record.convert_lead", "Convert Lead\u2026", "Ctrl+Shift+L",
        "Create a contact, an organization and a deal from this lead",
    ),
    RecordActionSpec(
        "record.save_files", "Save Attachments\u2026", "Ctrl+Shift+A",
        "Save this record's images and attachments to a folder",
    ),
    RecordActionSpec(
        "record.reopen", "Reopen", "Ctrl+Shift+R", "Reopen this closed ticket",
    ),
    RecordActionSpec(
        "list.refresh_changes", "Refresh Changes", "Shift+F5",
        "Update the list with what changed on the server since it was loaded", scope="list",
    ),
    RecordActionSpec(
        "list.delete_selected", "Delete Selected\u2026", None,
        "Delete every selected record after one confirmation (Del with several rows)",
        scope="list",
    ),
    RecordActionSpec(
        "list.mass_update", "Mass Update\u2026", "Ctrl+Shift+U",
        "Set one field to the same value on every selected record", scope="list",
    ),
    RecordActionSpec(
        "cell.retry", "Retry Saving the Cell", "Ctrl+Shift+S",
        "Send the value that failed to save again", scope="cell",
    ),
    RecordActionSpec(
        "cell.revert", "Revert the Cell", "Ctrl+Z", "Give up the unsaved cell value", scope="cell",
    ),
)  # fmt: skip

SPECS = {spec.id: spec for spec in RECORD_ACTIONS}


def make_actions(
    parent: QWidget,
    handlers: Mapping[str, Callable[[], object]],
    *,
    scope: str,
    context: Qt.ShortcutContext = Qt.ShortcutContext.WindowShortcut,
) -> dict[str, QAction]:
    """The actions of ``scope`` that have a handler, added to ``parent`` (so their
    shortcuts work wherever ``context`` says)."""
    out: dict[str, QAction] = {}
    for spec in RECORD_ACTIONS:
        if spec.scope != scope or spec.id not in handlers:
            continue
        action = QAction(spec.text, parent)
        action.setObjectName(spec.id)
        if spec.shortcut:
            action.setShortcut(QKeySequence(spec.shortcut))
            action.setShortcutContext(context)
        tip = spec.tip + (f" ({spec.shortcut})" if spec.shortcut else "")
        action.setToolTip(tip)
        action.setStatusTip(spec.tip)
        action.setCheckable(spec.checkable)
        action.triggered.connect(lambda _checked=False, h=handlers[spec.id]: h())
        parent.addAction(action)
        out[spec.id] = action
    return out
