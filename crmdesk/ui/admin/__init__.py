"""Admin views: metadata inspector, compare, picklists, access and the API console.

Each view is a QWidget that takes a :class:`~crmdesk.core.backend.Backend` and the app's
:class:`~crmdesk.ui.tasks.TaskRunner` (errors it cannot place in the view go to the
runner's sink).  The ``open_*`` functions show a view as its own window over ``parent``,
reusing the one already open for the same backend; :data:`ADMIN_VIEWS` lists them as
data (id, menu text, shortcut) for the main window's action table.

    from crmdesk.ui.admin import open_metadata_inspector
    open_metadata_inspector(main_window, backend, runner)        # Tools → Metadata, Ctrl+M
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from crmdesk.core.backend import Backend
from crmdesk.ui.admin.access import AccessView
from crmdesk.ui.admin.compare import CompareView
from crmdesk.ui.admin.console import ApiConsole
from crmdesk.ui.admin.inspector import MetadataInspector
from crmdesk.ui.admin.picklists import PicklistView
from crmdesk.ui.tasks import TaskRunner

__all__ = [
    "ADMIN_VIEWS",
    "AccessView",
    "AdminView",
    "ApiConsole",
    "CompareView",
    "MetadataInspector",
    "PicklistView",
    "open_access",
    "open_api_console",
    "open_compare",
    "open_metadata_inspector",
    "open_picklists",
]

W = TypeVar("W", bound=QWidget)


def _show(parent: QWidget | None, view: W, size: tuple[int, int]) -> W:
    view.setWindowFlag(Qt.WindowType.Window, True)
    view.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
    view.resize(*size)
    view.show()
    view.raise_()
    view.activateWindow()
    return view


def _existing(parent: QWidget | None, cls: type[W], backend: Backend) -> W | None:
    if parent is None:
        return None
    for child in parent.findChildren(cls):
        if getattr(child, "backend", None) is backend and child.isWindow():
            child.show()
            child.raise_()
            child.activateWindow()
            return child
    return None


def open_metadata_inspector(
    parent: QWidget | None, backend: Backend, runner: TaskRunner | None = None, module: str = ""
) -> MetadataInspector:
    view = _existing(parent, MetadataInspector, backend)
    if view is None:
        view = _show(parent, MetadataInspector(backend, runner, parent), (1200, 720))
    if module:
        view.open_module(module)
    return view


def open_picklists(
    parent: QWidget | None, backend: Backend, runner: TaskRunner | None = None, module: str = ""
) -> PicklistView:
    view = _existing(parent, PicklistView, backend)
    if view is None:
        view = PicklistView(backend, runner, parent)
        if module:
            view.load(module)
        return _show(parent, view, (980, 720))
    if module:
        view.open_module(module)
    return view


def open_access(
    parent: QWidget | None, backend: Backend, runner: TaskRunner | None = None
) -> AccessView:
    return _existing(parent, AccessView, backend) or _show(
        parent, AccessView(backend, runner, parent), (900, 680)
    )


def open_api_console(
    parent: QWidget | None, backend: Backend, runner: TaskRunner | None = None
) -> ApiConsole:
    return _existing(parent, ApiConsole, backend) or _show(
        parent, ApiConsole(backend, runner, parent), (1200, 760)
    )


def open_compare(
    parent: QWidget | None,
    connections: Sequence[tuple[str, Backend]],
    runner: TaskRunner | None = None,
    module: str = "",
) -> CompareView:
    view = _show(parent, CompareView(connections, runner, parent), (1200, 680))
    if module:
        view.set_pair(module)
        view.compare()
    return view


@dataclass(frozen=True, slots=True)
class AdminView:
    """One admin view as the main window's action table wants it."""

    id: str
    text: str
    shortcut: str
    tip: str
    #: ``open(parent, backend, runner)``; compare takes the open connections instead.
    open: Callable[..., QWidget]


ADMIN_VIEWS: tuple[AdminView, ...] = (
    AdminView(
        "admin.metadata",
        "&Metadata…",
        "Ctrl+M",
        "Modules, fields, links and raw metadata",
        open_metadata_inspector,
    ),
    AdminView(
        "admin.compare",
        "&Compare modules…",
        "",
        "A module's fields in two connections",
        open_compare,
    ),
    AdminView(
        "admin.picklists", "&Picklists…", "", "Picklist values and dependencies", open_picklists
    ),
    AdminView("admin.access", "&Access…", "", "Who is signed in and what they may do", open_access),
    AdminView(
        "admin.console",
        "API &console…",
        "Ctrl+Shift+K",
        "Send raw requests with this session",
        open_api_console,
    ),
)
