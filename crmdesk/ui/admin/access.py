"""Access: who is signed in, and what that user may do per module."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol, runtime_checkable

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QShowEvent
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from crmdesk.core.backend import Backend
from crmdesk.core.errors import Unsupported
from crmdesk.core.records import UserInfo
from crmdesk.core.schema import ModuleInfo
from crmdesk.ui.admin.common import NoteLabel, Runs, StatusLine, plain_label
from crmdesk.ui.admin.inspector import filter_edit, make_table
from crmdesk.ui.admin.models import Column, RowFilterProxy, RowsModel
from crmdesk.ui.tasks import TaskRunner

#: The usual actions first, in the order a user thinks of them; others follow by name.
ACTION_ORDER = ("access", "list", "view", "read", "create", "edit", "delete", "import", "export")
ALLOWED = "✓"
DENIED = "—"
NO_ACL_NOTE = (
    "This CRM does not expose per-module access rights through its API, so the grid is empty. "
    "Buttons may still be refused by the server when used."
)

AccessRow = tuple[str, frozenset[str]]


@runtime_checkable
class FillsAccess(Protocol):
    """A backend whose ``me().access`` covers only the modules described so far (Vtiger),
    and that reads the rest on request: the grid asks for it, the first screen does not."""

    async def fill_access(self, progress: Callable[[int, int], None] | None = None) -> None: ...


EXTRA_COLUMNS: tuple[Column[tuple[str, str]], ...] = (
    Column("Property", lambda r: r[0]),
    Column("Value", lambda r: r[1]),
)


def ordered_actions(actions: Iterable[str]) -> list[str]:
    found = set(actions)
    head = [a for a in ACTION_ORDER if a in found]
    return head + sorted(found - set(head))


def access_rows(
    user_access: Mapping[str, frozenset[str]], modules: Iterable[ModuleInfo]
) -> list[AccessRow]:
    """Per module, the allowed actions: the user's ACL first, then what the module list says."""
    merged: dict[str, frozenset[str]] = {}
    for m in modules:
        if m.access is not None:
            merged[m.name] = m.access
    for name, actions in user_access.items():
        merged[name] = merged.get(name, frozenset()) | actions
    return sorted(merged.items(), key=lambda r: r[0].casefold())


def _action_column(action: str) -> Column[AccessRow]:
    return Column(
        action,
        lambda r: ALLOWED if action in r[1] else DENIED,
        sort=lambda r: int(action in r[1]),
        full=lambda r: f"{r[0]}: {action} {'allowed' if action in r[1] else 'not allowed'}",
    )


class AccessView(QWidget):
    """The signed-in user and a module × action grid of what they may do."""

    def __init__(
        self, backend: Backend, runner: TaskRunner | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Access")
        self.backend = backend
        self.status = StatusLine(self)
        self.runs = Runs(self, runner, self.status)
        #: Set as soon as ``me()`` answers (the user section is then shown).
        self.user: UserInfo | None = None
        #: True once the per-module grid of the last load is drawn.
        self.grid_ready = False
        self.action_names: list[str] = []

        self.user_box = QGroupBox("Signed in as", self)
        self.user_form = QFormLayout(self.user_box)
        self.user_note = NoteLabel("", self.user_box)
        self.user_form.addRow(self.user_note)
        self.extra_model: RowsModel[tuple[str, str]] = RowsModel(EXTRA_COLUMNS, self)
        self.extra_proxy = RowFilterProxy(self)
        self.extra_proxy.setSourceModel(self.extra_model)
        self.extra_view = make_table(self, self.extra_proxy)
        extra_box = QGroupBox("More about the user (as the CRM reports it)", self)
        extra_lay = QVBoxLayout(extra_box)
        extra_lay.addWidget(self.extra_view)
        top = QHBoxLayout()
        top.addWidget(self.user_box, 1)
        top.addWidget(extra_box, 1)

        grid_box = QGroupBox("Allowed actions per module", self)
        self.grid_model: RowsModel[AccessRow] = RowsModel(self._columns([]), self)
        self.grid_proxy = RowFilterProxy(self)
        self.grid_proxy.setSourceModel(self.grid_model)
        self.grid_filter = filter_edit(grid_box, "Filter modules", self.grid_proxy)
        self.grid_filter.textChanged.disconnect()
        self.grid_filter.textChanged.connect(self._filter_modules)
        self.grid_view = make_table(grid_box, self.grid_proxy)
        self.grid_note = NoteLabel("", grid_box)
        #: Stops reading each module's rights; the grid then shows those read so far.
        self.stop_button = QPushButton("Stop", grid_box)
        self.stop_button.setToolTip("Stop reading each module's rights; show those read so far")
        self.stop_button.hide()
        self.stop_button.clicked.connect(self.stop_filling)
        self._filling: asyncio.Task[None] | None = None
        grid_lay = QVBoxLayout(grid_box)
        grid_lay.addWidget(self.grid_note)
        grid_lay.addWidget(self.stop_button)
        grid_lay.addWidget(self.grid_filter)
        grid_lay.addWidget(self.grid_view, 1)

        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(grid_box, 1)
        lay.addWidget(self.status)

    @staticmethod
    def _columns(actions: list[str]) -> list[Column[AccessRow]]:
        return [Column("Module", lambda r: r[0]), *(_action_column(a) for a in actions)]

    def showEvent(self, event: QShowEvent) -> None:
        """QWidget.showEvent: load on first show."""
        super().showEvent(event)
        if self.user is None and not self.runs.running("load"):
            self.reload()

    def reload(self) -> None:
        self.grid_ready = False
        self.runs.start("load", self._load(), label="Loading access rights")

    async def _load(self) -> None:
        self.status.info("Asking the CRM who is signed in…")
        user = await self._me()
        if isinstance(self.backend, FillsAccess):
            # The user section now; the grid when every module's rights are read.
            self.show_user(user)
            await self._fill(self.backend)
            if user is not None:
                user = await self.backend.me()  # now with the rights read by the pass
        modules = await self.backend.modules()
        self.show_access(user, modules)
        self.status.info("")

    async def _me(self) -> UserInfo | None:
        try:
            return await self.backend.me()
        except Unsupported as exc:
            self.user_note.show_text(exc.message)
            return None

    async def _fill(self, backend: FillsAccess) -> None:
        """Every module's rights before the grid is drawn, with progress and Stop."""

        def progress(done: int, total: int) -> None:
            if total:
                self.status.info(f"Reading each module's rights: {done} of {total}…")

        self._filling = asyncio.ensure_future(backend.fill_access(progress))
        self.stop_button.show()
        try:
            await asyncio.shield(self._filling)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                self._filling.cancel()  # the whole load is cancelled (view closed, reload)
                raise
            # Stop: the modules not read yet are left out of the grid.
        finally:
            self._filling = None
            self.stop_button.hide()

    def stop_filling(self) -> None:
        if self._filling is not None:
            self._filling.cancel()

    def show_access(self, user: UserInfo | None, modules: list[ModuleInfo]) -> None:
        self.show_user(user)
        self.show_grid(user.access if user else {}, modules)

    def show_user(self, user: UserInfo | None) -> None:
        """The "Signed in as" form and the user's extra properties."""
        self.user = user
        while self.user_form.rowCount() > 1:
            self.user_form.removeRow(1)
        if user is not None:
            self.user_note.show_text("")
            for label, value in (
                ("User name", user.user_name),
                ("Name", user.display_name),
                ("ID", user.id),
                ("Administrator", "yes" if user.is_admin else "no"),
                ("Email", user.email),
                ("Time zone", user.time_zone),
            ):
                if value:
                    field = plain_label(value, self.user_box)
                    field.setTextInteractionFlags(
                        Qt.TextInteractionFlag.TextSelectableByMouse
                        | Qt.TextInteractionFlag.TextSelectableByKeyboard
                    )
                    self.user_form.addRow(plain_label(label, self.user_box), field)
            self.extra_model.set_rows(sorted(user.extra.items()))
            self.extra_view.resizeColumnsToContents()

    def show_grid(
        self, user_access: Mapping[str, frozenset[str]], modules: list[ModuleInfo]
    ) -> None:
        """The module × action grid."""
        rows = access_rows(user_access, modules)
        self.action_names = ordered_actions(a for _, acts in rows for a in acts)
        model: RowsModel[AccessRow] = RowsModel(self._columns(self.action_names), self)
        model.set_background(self._cell_color)
        model.set_rows(rows)
        old = self.grid_model
        self.grid_model = model
        self.grid_proxy.setSourceModel(model)
        old.deleteLater()
        self.grid_view.resizeColumnsToContents()
        self.grid_note.show_text("" if rows else NO_ACL_NOTE)
        self.grid_ready = True

    def _filter_modules(self, text: str) -> None:
        self.grid_proxy.setFilterKeyColumn(0)
        self.grid_proxy.setFilterFixedString(text)

    def _cell_color(self, row: AccessRow, column: int) -> QColor | None:
        if column == 0:
            return None
        action = self.action_names[column - 1]
        return QColor(214, 240, 214) if action in row[1] else None

    def allowed(self, module: str, action: str) -> bool | None:
        """What the grid shows for (module, action); None when the module is not listed."""
        for name, actions in self.grid_model.rows():
            if name == module:
                return action in actions
        return None
