"""Menus and shortcuts, declared as data.  The window maps action ids to handlers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu


@dataclass(frozen=True, slots=True)
class ActionSpec:
    id: str
    menu: str
    text: str
    shortcut: str | QKeySequence.StandardKey | None = None
    tip: str = ""


ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("file.quit", "&File", "&Quit", "Ctrl+Q", "Close crmdesk"),
    ActionSpec("view.refresh", "&View", "&Refresh", "F5", "Load the list and record again"),
    ActionSpec("view.retry", "&View", "Re&try loading", "Ctrl+R", "Load the page that failed"),
    ActionSpec("view.cancel", "&View", "&Cancel loading", "Ctrl+.", "Stop what is loading"),
    ActionSpec("go.find_module", "&Go", "&Find module…", "Ctrl+L", "Type to filter modules"),
    ActionSpec("go.modules", "&Go", "&Module list", "Ctrl+1"),
    ActionSpec("go.records", "&Go", "&Records", "Ctrl+2"),
    ActionSpec("go.details", "&Go", "&Details", "Ctrl+3"),
    ActionSpec("record.new", "&Record", "&New record", "Ctrl+N", "Create a record in this module"),
    ActionSpec("record.save", "&Record", "&Save", "Ctrl+S", "Save the changed fields"),
    ActionSpec("record.revert", "&Record", "Re&vert changes", "Esc", "Restore the loaded values"),
    ActionSpec("record.delete", "&Record", "&Delete record…", "Del", "Delete after confirming"),
    ActionSpec("go.back", "&Go", "&Back", "Alt+Left", "The record opened before"),
    ActionSpec("go.forward", "&Go", "&Forward", "Alt+Right", "The record opened after"),
    ActionSpec("help.about", "&Help", "&About crmdesk"),
)


def install_actions(
    window: QMainWindow,
    handlers: Mapping[str, Callable[[], object]],
    specs: tuple[ActionSpec, ...] = ACTIONS,
) -> dict[str, QAction]:
    """Create each action, put it in its menu, connect it; every spec needs a handler."""
    missing = {s.id for s in specs} - set(handlers)
    if missing:
        raise KeyError(f"no handler for actions: {', '.join(sorted(missing))}")
    menus: dict[str, QMenu] = {}
    out: dict[str, QAction] = {}
    bar = window.menuBar()
    for spec in specs:
        menu = menus.get(spec.menu)
        if menu is None:
            menu = menus[spec.menu] = bar.addMenu(spec.menu)
        action = QAction(spec.text, window)
        action.setObjectName(spec.id)
        if spec.shortcut is not None:
            action.setShortcut(QKeySequence(spec.shortcut))
        if spec.tip:
            action.setStatusTip(spec.tip)
            action.setToolTip(spec.tip)
        action.triggered.connect(handlers[spec.id])
        menu.addAction(action)
        out[spec.id] = action
    return out
