"""Nothing typed into a cell is dropped without asking.

A cell whose save failed (or whose text did not parse) keeps the typed value, marked, until
it is retried or reverted.  Whatever replaces the list (another module, a filter, a sort, a
refresh) or closes it (the window, the connection) would drop those edits with the rows:
:class:`CellEditGuard` asks first, Discard / Cancel, naming each edit.  A cell whose save
is still under way does not ask: its save goes on and lands without its row.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from crmdesk.ui.models.records import RecordTableModel

#: The edits named in the question; more are counted.
SHOWN = 5


class CellEditGuard:
    """Asks before failed or unparsed cell edits of ``model`` are dropped."""

    def __init__(
        self,
        model: RecordTableModel,
        parent: QWidget,
        hide_error: Callable[[], None] = lambda: None,
    ) -> None:
        self.model = model
        self.parent = parent
        self.hide_error = hide_error

    def unsaved(self) -> list[tuple[str, str]]:
        """The (record id, field) of each edit that is kept but not saved."""
        edits = self.model.pending_edits()
        return [key for key, edit in edits.items() if edit.state in ("failed", "invalid")]

    def describe(self) -> str:
        lines = []
        keys = self.unsaved()
        labels = {f.name: f.label for f in self.model.columns}
        for record_id, field_name in keys[:SHOWN]:
            edit = self.model.pending(record_id, field_name)
            row = self.model.row_of(record_id)
            name = self.model.text(row, 0) if row >= 0 and self.model.columnCount() else ""
            typed = edit.text if edit is not None else ""
            lines.append(
                f"• {labels.get(field_name, field_name)} of “{name or record_id}”: “{typed}”"
            )
        if len(keys) > SHOWN:
            lines.append(f"… and {len(keys) - SHOWN} more")
        return "\n".join(lines)

    def confirm(self, doing: str) -> bool:
        """True when nothing unsaved is kept, or the user discarded it; False on Cancel.

        ``doing`` names what would drop the edits ("Sorting the list").
        """
        keys = self.unsaved()
        if not keys:
            return True
        count = f"{len(keys)} cell edits are" if len(keys) > 1 else "A cell edit is"
        box = QMessageBox(self.parent)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Unsaved cell edits")
        # Record names and typed text are shown as typed, never as markup (the informative
        # text would guess at rich text, so everything goes in the plain main text).
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setText(
            f"{count} not saved. {doing} drops {'them' if len(keys) > 1 else 'it'}.\n\n"
            f"{self.describe()}\n\nCancel keeps {'them' if len(keys) > 1 else 'it'}: retry "
            "(Ctrl+Shift+S) or revert (Ctrl+Z) in the cell."
        )
        discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
        cancel = box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(cancel)
        box.setEscapeButton(cancel)
        box.exec()
        if box.clickedButton() is not discard:
            return False
        for record_id, field_name in keys:
            self.model.revert_edit(record_id, field_name)
        self.hide_error()
        return True
