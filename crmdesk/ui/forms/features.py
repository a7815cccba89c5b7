"""The record features a window gets with one call: inline editing in its table,
favorites stars, "Refresh changes", the user's time zone in the list.

The main window calls :func:`attach_record_features` once after assembling its
views (``attach_record_features(self.table, self.detail, self.ops)``); nothing
else of the window is touched.  Each feature shows only where the backend's
``capabilities`` offer it and the server did not turn it off at run time.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction

from crmdesk.core.backend import Changes
from crmdesk.ui.errors import describe
from crmdesk.ui.forms.actions import make_actions
from crmdesk.ui.forms.inline import InlineEditing
from crmdesk.ui.forms.pane import RecordPane, offered
from crmdesk.ui.mass import MassActions
from crmdesk.ui.operations import Operations
from crmdesk.ui.views.record_table import RecordTableView


class RecordFeatures(QObject):
    """Inline editing, favorites and "Refresh changes" on a table next to a record pane."""

    def __init__(self, table: RecordTableView, pane: RecordPane, ops: Operations) -> None:
        super().__init__(table)
        self.table = table
        self.pane = pane
        self.ops = ops
        self.model = table.record_model
        self.inline = InlineEditing(table, ops, pane.ctx)
        self.model.tz = pane.ctx.tz
        self.model.set_favorites(offered(ops.backend, "favorites"))
        pane.zone_changed.connect(self._zone_changed)
        pane.favorite_changed.connect(self.model.set_favorite)
        self.actions: dict[str, QAction] = make_actions(
            table,
            {"list.refresh_changes": self.refresh_changes},
            scope="list",
            context=Qt.ShortcutContext.WindowShortcut,
        )
        self.actions["list.refresh_changes"].setVisible(offered(ops.backend, "sync"))
        self.last_changes: Changes | None = None
        self.mass = MassActions(table, pane, ops)  # Delete Selected…, Mass Update…

    def _zone_changed(self, tz: tzinfo) -> None:
        self.model.tz = tz
        self.model.reload()

    def refresh_changes(self) -> None:
        """Ask the CRM what changed since the list was loaded; update or remove those rows
        in place (no reload).  Records that are not loaded wait for the next reload."""
        model, backend = self.model, self.ops.backend
        if not offered(backend, "sync") or not model.module or model.loaded_at is None:
            return
        module, since = model.module, model.loaded_at
        asked_at = datetime.now().astimezone()

        async def run() -> Changes:
            changes = await backend.sync(module, since)
            updated, deleted = list(changes.updated), list(changes.deleted)
            cursor = since
            while changes.more and changes.until is not None and changes.until > cursor:
                cursor = changes.until
                changes = await backend.sync(module, cursor)
                updated += changes.updated
                deleted += changes.deleted
            return Changes(tuple(updated), tuple(deleted), changes.until, False)

        def done(changes: Changes) -> None:
            if model.module != module:
                return  # another list is shown now
            self.last_changes = changes
            n_up, n_del = model.apply_changes(changes.updated, changes.deleted)
            model.loaded_at = asked_at
            self.pane.notice.emit(
                f"Changes since {since:%H:%M}: {n_up} updated, {n_del} removed in this list."
            )

        def failed(exc: BaseException) -> None:
            _t, message, advice = describe(exc)
            self.pane.notice.emit(f"Changes not refreshed: {message} {advice}".strip())
            self.actions["list.refresh_changes"].setVisible(offered(backend, "sync"))

        self.ops.start(
            f"sync:{module}", run(), success=done, failure=failed, label="Refreshing changes"
        )


def attach_record_features(
    table: RecordTableView, pane: RecordPane, ops: Operations
) -> RecordFeatures:
    """One call from the main window: see the module docstring."""
    return RecordFeatures(table, pane, ops)
