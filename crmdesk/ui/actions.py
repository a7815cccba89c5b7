"""Menus and shortcuts, declared as data.  The window maps action ids to handlers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu

from crmdesk.core.registry import LABELS
from crmdesk.ui.admin import ADMIN_VIEWS


@dataclass(frozen=True, slots=True)
class ActionSpec:
    id: str
    menu: str
    text: str
    shortcut: str | QKeySequence.StandardKey | None = None
    tip: str = ""


_BASE: tuple[ActionSpec, ...] = (
    ActionSpec(
        "file.connect", "&File", "&Connect…", "Ctrl+Shift+O", "Open a saved or a new connection"
    ),
    ActionSpec(
        "file.disconnect", "&File", "&Disconnect", None, "Sign out of the current connection"
    ),
    ActionSpec("file.quit", "&File", "&Quit", "Ctrl+Q", "Close crmdesk"),
    ActionSpec("view.refresh", "&View", "&Refresh", "F5", "Load the list and record again"),
    ActionSpec("view.retry", "&View", "Re&try loading", "Ctrl+R", "Load the page that failed"),
    ActionSpec("view.cancel", "&View", "&Cancel loading", "Ctrl+.", "Stop what is loading"),
    ActionSpec(
        "view.open_in_window",
        "&View",
        "Open module in new &window",
        "Ctrl+Shift+N",
        "Show the selected module's list in a window of its own",
    ),
    ActionSpec("go.find_module", "&Go", "&Find module…", "Ctrl+L", "Type to filter modules"),
    ActionSpec("go.filter", "&Go", "F&ilter list", "Ctrl+F", "Type to filter the record list"),
    ActionSpec("go.quick_open", "&Go", "&Quick open…", "Ctrl+K", "Find a record and open it"),
    ActionSpec(
        "go.search", "&Go", "&Search records…", "Ctrl+Shift+F", "Search every module's records"
    ),
    ActionSpec("go.modules", "&Go", "&Module list", "Ctrl+1"),
    ActionSpec("go.records", "&Go", "&Records", "Ctrl+2"),
    ActionSpec("go.details", "&Go", "&Details", "Ctrl+3"),
    ActionSpec("record.new", "&Record", "&New record", "Ctrl+N", "Create a record in this module"),
    ActionSpec("record.save", "&Record", "&Save", "Ctrl+S", "Save the changed fields"),
    ActionSpec("record.revert", "&Record", "Re&vert changes", "Esc", "Restore the loaded values"),
    ActionSpec("record.delete", "&Record", "&Delete record…", "Del", "Delete after confirming"),
    ActionSpec(
        "record.export",
        "&Record",
        "E&xport list to CSV…",
        "Ctrl+E",
        "Write every record of the list (its filter and sort) to a CSV file",
    ),
    ActionSpec("go.back", "&Go", "&Back", "Alt+Left", "The record opened before"),
    ActionSpec("go.forward", "&Go", "&Forward", "Alt+Right", "The record opened after"),
)

#: Tools → one entry per admin view, for the current connection.
TOOLS: tuple[ActionSpec, ...] = tuple(
    ActionSpec(v.id, "&Tools", v.text, v.shortcut or None, v.tip) for v in ADMIN_VIEWS
)

_HELP: tuple[ActionSpec, ...] = (
    ActionSpec("help.show_log", "&Help", "Show &log", None, "Open the folder of crmdesk's log"),
    ActionSpec("help.about", "&Help", "&About crmdesk"),
)

#: Every action of the main window (the Demo menu comes on top with ``--demo``).
ACTIONS: tuple[ActionSpec, ...] = (*_BASE, *TOOLS, *_HELP)

#: The Demo menu: open the running demo CRM in another dialect.
DEMO_ACTIONS: tuple[ActionSpec, ...] = tuple(
    ActionSpec(
        f"demo.{dialect}",
        "&Demo",
        f"Open demo as {label.split(' (')[0]}",
        None,
        f"Connect to the built-in demo CRM speaking {label}",
    )
    for dialect, label in LABELS.items()
)


def _base(aid: str) -> ActionSpec:
    return next(s for s in _BASE if s.id == aid)


#: A record-list window of its own (View → Open module in new window): the list and record
#: actions of the main window; Esc closes the window there (the key press reaches the window
#: only when no editor, filter box or popup took it), so Revert has no shortcut.
LIST_WINDOW_ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("window.close", "&File", "&Close window", "Ctrl+W", "Close this window (Esc)"),
    *(_base(a) for a in ("view.refresh", "view.retry", "view.cancel")),
    *(_base(a) for a in ("go.filter", "go.records", "go.details", "go.back", "go.forward")),
    *(_base(a) for a in ("record.new", "record.save")),
    replace(_base("record.revert"), shortcut=None),
    _base("record.delete"),
    _base("record.export"),
)


def window_actions(demo: bool = False) -> tuple[ActionSpec, ...]:
    """The action table of a window; with the demo menu before Help when ``demo``."""
    if not demo:
        return ACTIONS
    return (*_BASE, *TOOLS, *DEMO_ACTIONS, *_HELP)


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
