"""Editing simple-typed cells in place in a record table.

:class:`InlineDelegate` makes each cell's editor from the same registry as the
form (so a number cell parses like the form's number field); :class:`InlineEditing`
saves each committed cell through :mod:`crmdesk.ui.operations` (one record at a
time, only the changed field, with the usual conflict check) and updates the row
in place.  A failed save leaves the typed value in its cell, marked, with the
reason; the table's edit bar and context menu offer Retry and Revert.
"""

from __future__ import annotations

import asyncio
import logging

from PySide6.QtCore import (
    QAbstractItemModel,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
)
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QStyledItemDelegate, QStyleOptionViewItem, QWidget

from crmdesk.core.errors import Conflict, CrmError, ValidationError
from crmdesk.core.records import Record, Value
from crmdesk.ui.errors import describe
from crmdesk.ui.forms.editors import (
    BoolEditor,
    EditorContext,
    EnumEditor,
    FieldEditor,
    LineEditor,
    create_editor,
)
from crmdesk.ui.forms.values import ParseError, conflicts, missing_required, render_text
from crmdesk.ui.models.records import RecordTableModel
from crmdesk.ui.operations import ChangeKind, Operations, RecordChange, save_changes
from crmdesk.ui.views.record_table import RecordCellDelegate, RecordTableView

log = logging.getLogger(__name__)
AnyIndex = QModelIndex | QPersistentModelIndex


class InlineDelegate(RecordCellDelegate):
    """The table's cell delegate (its fast paint of plain cells kept) whose editors come
    from the form's editor registry."""

    def __init__(self, model: RecordTableModel, ctx: EditorContext, parent: QObject) -> None:
        super().__init__(model, parent)
        self.model = model
        self.ctx = ctx
        self._editors: dict[int, FieldEditor] = {}
        self._boxes: dict[int, QWidget] = {}

    def field_editor(self, widget: QWidget) -> FieldEditor | None:
        return self._editors.get(id(widget))

    def createEditor(
        self, parent: QWidget, option: QStyleOptionViewItem, index: AnyIndex
    ) -> QWidget:
        """QStyledItemDelegate.createEditor: the registry's editor for the column's field."""
        fdef = self.model.columns[index.column()]
        editor = create_editor(fdef, self.ctx)
        widget = editor.widget
        widget.setParent(parent)
        widget.setAutoFillBackground(True)
        editor.setParent(widget)  # the FieldEditor lives as long as its widget
        self._editors[id(widget)] = editor
        inner = editor.focus_widget()
        if inner is not widget:
            # Keys go to the inner line, which the view does not know: map them to the box.
            self._boxes[id(inner)] = widget
            inner.installEventFilter(self)
        if isinstance(editor, EnumEditor | BoolEditor):
            # A choice is complete when made: commit it and close, like Enter would.
            editor.changed.connect(lambda w=widget: self._commit_and_close(w))
        return widget

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        """QAbstractItemDelegate.eventFilter: Enter / Esc in an editor's inner line act on
        the whole editor (commit and close / close)."""
        box = self._boxes.get(id(obj))
        if box is not None and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self._commit_and_close(box)
                return True
            if event.key() == Qt.Key.Key_Escape:
                self.closeEditor.emit(box, QStyledItemDelegate.EndEditHint.RevertModelCache)
                return True
        return super().eventFilter(obj, event)

    def _commit_and_close(self, widget: QWidget) -> None:
        self.commitData.emit(widget)
        self.closeEditor.emit(widget, QStyledItemDelegate.EndEditHint.NoHint)

    def destroyEditor(self, editor: QWidget, index: AnyIndex) -> None:
        """QStyledItemDelegate.destroyEditor: forget the FieldEditor with its widget."""
        fe = self._editors.pop(id(editor), None)
        if fe is not None:
            self._boxes.pop(id(fe.focus_widget()), None)
        super().destroyEditor(editor, index)

    def setEditorData(self, editor: QWidget, index: AnyIndex) -> None:
        """QStyledItemDelegate.setEditorData: the loaded value, or the edit not saved yet."""
        fe = self.field_editor(editor)
        if fe is None:
            return
        row, col = index.row(), index.column()
        fe.load(self.model.value(row, col), self.model.record_at(row))
        fdef = self.model.columns[col]
        pending = self.model.pending(self.model.record_id(row), fdef.name)
        if pending is not None:
            if pending.state == "invalid" and isinstance(fe, LineEditor):
                fe.line.setText(pending.text)
            else:
                fe.set_value(pending.value)
        if isinstance(fe, LineEditor):
            fe.line.selectAll()
        fe.focus_widget().setFocus()

    def setModelData(self, editor: QWidget, model: QAbstractItemModel, index: AnyIndex) -> None:
        """QStyledItemDelegate.setModelData: parse and check; a bad value stays in the cell,
        marked, unsent; a good one goes to the model, which asks for the save."""
        fe = self.field_editor(editor)
        if fe is None:
            return
        row, col = index.row(), index.column()
        fdef = self.model.columns[col]
        record_id = self.model.record_id(row)
        problem = fe.problem()
        value: Value = None
        if problem is None:
            try:
                value = fe.value()
            except ParseError as exc:  # pragma: no cover - problem() said it parses
                problem = str(exc)
        problem = problem or missing_required(fdef, value)
        if problem:
            text = fe.line.text() if isinstance(fe, LineEditor) else fe.display_text()
            self.model.mark_invalid(record_id, fdef.name, text, problem)
            return
        model.setData(index, value, Qt.ItemDataRole.EditRole)

    def updateEditorGeometry(
        self, editor: QWidget, option: QStyleOptionViewItem, index: AnyIndex
    ) -> None:
        """QStyledItemDelegate.updateEditorGeometry: the cell, at least as tall as the editor."""
        rect = option.rect
        height = max(rect.height(), editor.minimumSizeHint().height())
        width = max(rect.width(), editor.minimumSizeHint().width())
        editor.setGeometry(rect.x(), rect.y() + (rect.height() - height) // 2, width, height)


class InlineEditing(QObject):
    """Turns a RecordTableView's simple cells editable and saves them per row."""

    def __init__(
        self, view: RecordTableView, ops: Operations, ctx: EditorContext | None = None
    ) -> None:
        super().__init__(view)
        self.view = view
        self.model = view.record_model
        self.ops = ops
        self.ctx = ctx or EditorContext()
        self.delegate = InlineDelegate(self.model, self.ctx, self)
        self._locks: dict[str, asyncio.Lock] = {}
        self._last_failed: tuple[str, str] | None = None
        view.setItemDelegate(self.delegate)
        # Double-click or F2 (typing stays the view's keyboard search).
        view.setEditTriggers(view.EditTrigger.DoubleClicked | view.EditTrigger.EditKeyPressed)
        self.model.set_editable(True)
        self.model.edit_committed.connect(self.save)
        view.retry_edit_requested.connect(self.retry)
        view.revert_edit_requested.connect(self.revert)

    # -- saving ------------------------------------------------------------------------
    def save(self, record_id: str, field_name: str, value: Value) -> None:
        """Send one cell's new value (the model already shows it, marked as saving)."""
        module = self.model.module
        self.ops.start(
            f"inline:{module}:{record_id}:{field_name}",
            self._save(module, record_id, field_name, value),
            success=lambda rec: self._saved(record_id, field_name, rec),
            failure=lambda exc: self._failed(record_id, field_name, exc),
            label="Saving the cell",
        )

    async def _save(self, module: str, record_id: str, field_name: str, value: Value) -> Record:
        # One save per record at a time: the next starts from the version the last one got.
        lock = self._locks.setdefault(record_id, asyncio.Lock())
        async with lock:
            mdef = await self.ops.describe(module)
            row = self.model.row_of(record_id)
            if row < 0:
                raise Conflict("The record is no longer in this list.")
            original = self.model.record_at(row)
            changes = {field_name: value}
            try:
                return await save_changes(self.ops.backend, mdef, original, changes)
            except Conflict as exc:
                current = exc.current
                if current is None or conflicts(mdef, original, changes, current):
                    if current is not None:
                        self.model.update_record(current)
                    raise
                # Someone changed other fields only: theirs stay, mine goes over them.
                self.model.update_record(current)
                return await save_changes(self.ops.backend, mdef, current, changes)

    def _saved(self, record_id: str, field_name: str, record: Record) -> None:
        self.model.update_record(record)
        self.model.revert_edit(record_id, field_name)
        if self._last_failed == (record_id, field_name):
            self._last_failed = None
            self.view.hide_edit_error()
        self.ops.announce(RecordChange(ChangeKind.UPDATED, record.module, record.id, record))

    def _failed(self, record_id: str, field_name: str, exc: BaseException) -> None:
        fdef = next((f for f in self.model.columns if f.name == field_name), None)
        label = fdef.label if fdef else field_name
        if isinstance(exc, ValidationError):
            message = exc.fields.get(field_name) or exc.message
        elif isinstance(exc, Conflict) and exc.current is not None and fdef is not None:
            theirs = render_text(fdef, exc.current.get(field_name), self.ctx.tz) or "empty"
            message = (
                f"Someone else changed it to “{theirs}” meanwhile. Retry to replace it "
                "with yours, or revert to keep theirs."
            )
        else:
            _title, text, advice = describe(exc)
            message = f"{text} {advice}".strip()
            if not isinstance(exc, CrmError):
                log.error("inline save failed unexpectedly", exc_info=exc)
        self.model.edit_failed(record_id, field_name, message)
        self._last_failed = (record_id, field_name)
        self.view.show_edit_error(record_id, field_name, f"{label} not saved: {message}")

    # -- after a failure -----------------------------------------------------------------
    def retry(self, record_id: str, field_name: str) -> None:
        """Send a failed cell again; a value that did not parse opens its editor instead."""
        edit = self.model.pending(record_id, field_name)
        if edit is None:
            return
        row, col = self.model.row_of(record_id), self.model.column_of(field_name)
        if edit.state == "invalid":
            if row >= 0 and col >= 0:
                index = self.model.index(row, col)
                self.view.setCurrentIndex(index)
                self.view.edit(index)
            return
        if edit.state != "failed":
            return
        self.view.hide_edit_error()
        self.model.mark_saving(record_id, field_name)
        self.save(record_id, field_name, edit.value)

    def revert(self, record_id: str, field_name: str) -> None:
        """Give up a failed cell edit: the loaded value shows again."""
        self.model.revert_edit(record_id, field_name)
        if self._last_failed == (record_id, field_name):
            self._last_failed = None
        self.view.hide_edit_error()
