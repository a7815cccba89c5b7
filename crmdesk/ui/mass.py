"""Mass actions on the rows selected in the record list: "Delete Selected…" and
"Mass Update…".

Both go through the core's ``Backend.bulk_delete`` / ``Backend.bulk_update`` (one
``/bulk`` round trip per chunk on SugarCRM, a loop of single calls elsewhere), in
chunks so a large selection shows progress and can be cancelled between chunks.
A failed id never loses the others: done rows are removed or updated in place (no
list reload), failed rows stay selected, and the user reads "N done, M failed:
<reasons>".

A mass update is checked: it sends the versions and values the list showed, so a
record whose mass-updated field someone else changed since the list was loaded is
left alone (a change to its other fields is no conflict).  Those rows are refreshed
with the colleague's values, and the report names them and offers "Overwrite these"
(the same update again for just them, unchecked) or "Leave them".

:class:`MassActions` is attached once per table (``RecordFeatures`` does it); the
window's Del calls :meth:`MassActions.delete_selected` when several rows are
selected, and the single-row Del stays the record pane's.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractButton,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QMessageBox,
    QProgressDialog,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from crmdesk.core.backend import BulkResult, Progress
from crmdesk.core.errors import Conflict, CrmError, NotFound
from crmdesk.core.records import Value, Version
from crmdesk.core.schema import FieldDef, FieldType, ModuleDef
from crmdesk.ui.errors import describe
from crmdesk.ui.forms.actions import make_actions
from crmdesk.ui.forms.editors import EditorContext, FieldEditor, create_editor, registered
from crmdesk.ui.forms.pane import RecordPane
from crmdesk.ui.operations import ChangeKind, Operations, RecordChange
from crmdesk.ui.views.detail import plain_label
from crmdesk.ui.views.record_table import RecordTableView

#: Ids per backend call: progress moves and Cancel is honoured between chunks.
CHUNK = 25
#: From this many selected rows on, a progress dialog with Cancel is shown.
PROGRESS_FROM = 10
#: Reasons listed in the summary before "…".
MAX_REASONS = 5
#: Records named in the conflict report before "… and N more".
MAX_NAMES = 20
#: What a checked update's report offers for the records left alone: the field's label,
#: and how to send the same values again to those ids (with the names they were shown by).
Overwrite = tuple[str, Callable[[list[str], dict[str, str]], None]]


def mass_editable(mdef: ModuleDef) -> list[FieldDef]:
    """Fields a mass update may set: shown in forms, writable, with a real editor."""
    return [
        f
        for f in mdef.fields
        if f.visible
        and not f.read_only
        and f.type not in (FieldType.ID, FieldType.UNKNOWN)
        and registered(f.type) is not None
        and f.name != "id"
    ]


def changed_since(exc: CrmError) -> bool:
    """A checked mass update left this record alone: someone else changed its fields."""
    return isinstance(exc, Conflict) and bool(exc.fields)


def summary(
    verb: str,
    result: BulkResult,
    labels: dict[str, str],
    skipped: int = 0,
    *,
    gone_apart: bool = False,
) -> str:
    """ "3 deleted, 2 failed: Acme: not allowed; …" (plain text).  ``gone_apart``: records
    no longer on the server are counted on their own ("1 no longer on the server: …")."""
    text = f"{len(result.done)} {verb}"
    others = {rid: exc for rid, exc in result.failed.items() if not changed_since(exc)}
    theirs = len(result.failed) - len(others)
    gone = [rid for rid, exc in others.items() if isinstance(exc, NotFound)] if gone_apart else []
    others = {rid: exc for rid, exc in others.items() if rid not in gone}
    if others:
        reasons: list[str] = []
        for rid, exc in list(others.items())[:MAX_REASONS]:
            _t, message, _advice = describe(exc)
            reasons.append(f"{labels.get(rid) or rid}: {message}")
        more = "; …" if len(others) > MAX_REASONS else ""
        text += f", {len(others)} failed: {'; '.join(reasons)}{more}"
    if gone:
        names = "; ".join(labels.get(rid) or rid for rid in gone[:MAX_REASONS])
        more = "; …" if len(gone) > MAX_REASONS else ""
        text += f", {len(gone)} no longer on the server: {names}{more}"
    if theirs:
        text += f", {theirs} changed by someone else since the list was loaded (left alone)"
    if skipped:
        text += f", {skipped} not sent (cancelled)"
    return text + "."


def outcomes(ids: Sequence[str], result: BulkResult, labels: dict[str, str]) -> list[str]:
    """One line per id (at most :data:`MAX_NAMES`): done, failed and why, gone, not sent."""
    lines: list[str] = []
    for rid in ids[:MAX_NAMES]:
        name = labels.get(rid) or rid
        exc = result.failed.get(rid)
        if rid in result.done:
            lines.append(f"  {name}: done")
        elif isinstance(exc, NotFound):
            lines.append(f"  {name}: gone (no longer on the server, or no longer yours to see)")
        elif exc is not None:
            _t, message, _advice = describe(exc)
            lines.append(f"  {name}: failed: {message}")
        else:
            lines.append(f"  {name}: not sent (cancelled)")
    if len(ids) > MAX_NAMES:
        lines.append(f"  … and {len(ids) - MAX_NAMES} more")
    return lines


class MassUpdateDialog(QDialog):
    """Pick one field and a value (its form editor) to set on every selected record."""

    def __init__(
        self, mdef: ModuleDef, count: int, ctx: EditorContext, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Mass Update {count} {mdef.label} Records")
        self.ctx = ctx
        self.fields = mass_editable(mdef)
        self.field_box = QComboBox()
        for f in self.fields:
            self.field_box.addItem(f.label or f.name, f.name)
        self.form = QFormLayout()
        self.form.addRow("Field", self.field_box)
        self.editor: FieldEditor | None = None
        self.problem = plain_label()
        self.problem.setStyleSheet("color: #b00020;")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText(f"Update {count}")
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(plain_label(f"Set one field on {count} records. This cannot be undone."))
        layout.addLayout(self.form)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)
        self.field_box.currentIndexChanged.connect(self._field_changed)
        self._field_changed()

    def choose(self, field_name: str) -> FieldEditor:
        """Select ``field_name`` and return its editor."""
        index = self.field_box.findData(field_name)
        if index < 0:
            raise KeyError(field_name)
        self.field_box.setCurrentIndex(index)
        assert self.editor is not None
        return self.editor

    def _field_changed(self) -> None:
        if self.form.rowCount() > 1:
            self.form.removeRow(1)
        self.editor = None
        name = self.field_box.currentData()
        fdef = next((f for f in self.fields if f.name == name), None)
        if fdef is None:
            return
        self.editor = create_editor(fdef, self.ctx)
        self.editor.load(None)
        self.form.addRow("Value", self.editor.widget)

    def field_name(self) -> str | None:
        return self.editor.fdef.name if self.editor is not None else None

    def value(self) -> Value:
        assert self.editor is not None
        return self.editor.value()

    def _accept(self) -> None:
        if self.editor is None:
            return
        problem = self.editor.problem()
        if problem:
            self.problem.setText(problem)
            return
        self.accept()


class MassActions(QObject):
    """Delete Selected / Mass Update on a record table, reported through the pane."""

    def __init__(self, table: RecordTableView, pane: RecordPane, ops: Operations) -> None:
        super().__init__(table)
        self.table = table
        self.pane = pane
        self.ops = ops
        self.model = table.record_model
        self.actions: dict[str, QAction] = make_actions(
            table,
            {"list.delete_selected": self.delete_selected, "list.mass_update": self.mass_update},
            scope="list",
            context=Qt.ShortcutContext.WidgetShortcut,
        )
        self.dialog: MassUpdateDialog | None = None
        self.progress: QProgressDialog | None = None
        self.report: QMessageBox | None = None
        #: In a conflict report: the buttons of its two answers.
        self.overwrite_button: QPushButton | None = None
        self.leave_button: QPushButton | None = None
        #: The last summary shown ("3 deleted, 1 failed: …").
        self.last_message = ""
        self._cancelled = False
        self.progress_from = PROGRESS_FROM
        self.chunk = CHUNK

    # -- selection --------------------------------------------------------------------
    def selected_ids(self) -> list[str]:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [self.model.record_id(r) for r in rows]

    def _labels(self, ids: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for rid in ids:
            row = self.model.row_of(rid)
            if row >= 0 and self.model.columnCount():
                out[rid] = self.model.text(row, 0)
        return out

    def busy(self) -> bool:
        return self.ops.runner.running(self._key())

    def _key(self) -> str:
        return f"mass:{self.model.module}"

    # -- delete -----------------------------------------------------------------------
    def delete_selected(self) -> None:
        """Delete the selected rows after one confirmation naming the count (one row:
        the record pane's own delete)."""
        module, ids = self.model.module, self.selected_ids()
        if not module or not ids or self.busy():
            return
        if len(ids) == 1:
            self.pane.delete(module, ids[0], self._labels(ids).get(ids[0], ""))
            return
        text = f"Delete {len(ids)} records? This cannot be undone from crmdesk."
        if not self.pane.confirm(f"Delete {len(ids)}", text):
            return
        backend = self.ops.backend

        def call(chunk: Sequence[str], progress: Progress) -> Coroutine[Any, Any, BulkResult]:
            return backend.bulk_delete(module, chunk, progress)

        def apply(result: BulkResult) -> None:
            for rid in result.done:
                self.model.remove_record(rid)
                self.ops.announce(RecordChange(ChangeKind.DELETED, module, rid))

        self._run("deleted", module, ids, call, apply)

    # -- update -----------------------------------------------------------------------
    def mass_update(self) -> None:
        """Ask for one field and value, then set it on every selected record."""
        module, ids = self.model.module, self.selected_ids()
        if not module or not ids or self.busy():
            return

        def ask(mdef: ModuleDef) -> None:
            if self.model.module != module:
                return
            dialog = MassUpdateDialog(mdef, len(ids), self.pane.ctx, self.table.window())
            self.dialog = dialog

            def finished(code: int) -> None:
                name = dialog.field_name()
                if code != QDialog.DialogCode.Accepted or name is None:
                    return
                fdef = mdef.field(name)
                label = (fdef.label if fdef is not None else "") or name
                self._update(module, ids, {name: dialog.value()}, label)

            dialog.finished.connect(finished)
            dialog.open()

        self.ops.start(
            f"mass-describe:{module}",
            self.ops.describe(module),
            success=ask,
            failure=self._failed,
            label="Reading the module's fields",
        )

    def _update(
        self,
        module: str,
        ids: list[str],
        changes: dict[str, Value],
        label: str,
        *,
        check: bool = True,
        labels: dict[str, str] | None = None,
    ) -> None:
        """Set ``changes`` on ``ids``; checked (the default) against what the list showed.

        Unchecked, it is the "Overwrite these" answer: ``ids`` are the records left alone
        and ``labels`` their names as the conflict report showed them; neither depends on
        the rows still being in the list (it may have been reloaded, re-sorted, filtered
        or scrolled since), and the report says what became of each.
        """
        backend = self.ops.backend
        expected: dict[str, Version] | None = None
        shown: dict[str, dict[str, Value]] | None = None
        if check:
            expected, shown = self._as_listed(ids, changes)

        def call(chunk: Sequence[str], progress: Progress) -> Coroutine[Any, Any, BulkResult]:
            if expected is None:
                return backend.bulk_update(module, chunk, changes, progress)
            return backend.bulk_update(
                module,
                chunk,
                changes,
                progress,
                expected={rid: expected[rid] for rid in chunk if rid in expected},
                shown={rid: shown[rid] for rid in chunk if shown and rid in shown},
            )

        def apply(result: BulkResult) -> None:
            for rid in result.done:
                record = result.records.get(rid)
                if record is not None:
                    self.model.update_record(record)
                    self.ops.announce(RecordChange(ChangeKind.UPDATED, module, rid, record))
            for rid, exc in result.failed.items():
                # Changed by someone else: the row shows their values now.
                current = exc.current if isinstance(exc, Conflict) else None
                if current is not None and current.id == rid:
                    self.model.update_record(current)
                    self.ops.announce(RecordChange(ChangeKind.UPDATED, module, rid, current))

        def again(conflicted: list[str], names: dict[str, str]) -> None:
            self._update(module, conflicted, changes, label, check=False, labels=names)

        self._run(
            "updated",
            module,
            ids,
            call,
            apply,
            (label, again) if check else None,
            labels=labels,
            resend=None if check else label,
        )

    def _as_listed(
        self, ids: Sequence[str], changes: dict[str, Value]
    ) -> tuple[dict[str, Version], dict[str, dict[str, Value]]]:
        """Per id, the version and the values of the changed fields the list showed (a
        field that is no column, or values not kept, is left out: the version decides)."""
        expected: dict[str, Version] = {}
        shown: dict[str, dict[str, Value]] = {}
        columns = {name: self.model.column_of(name) for name in changes}
        for rid in ids:
            row = self.model.row_of(rid)
            if row < 0:
                continue
            rec = self.model.record_at(row)
            if rec.version is not None:
                expected[rid] = rec.version
            if self.model.editable:
                values = {n: rec.values.get(n) for n, col in columns.items() if col >= 0}
                if values:
                    shown[rid] = values
        return expected, shown

    # -- running ----------------------------------------------------------------------
    def _run(
        self,
        verb: str,
        module: str,
        ids: list[str],
        call: Callable[[Sequence[str], Progress], Coroutine[Any, Any, BulkResult]],
        apply: Callable[[BulkResult], None],
        overwrite: Overwrite | None = None,
        *,
        labels: dict[str, str] | None = None,
        resend: str | None = None,
    ) -> None:
        """Send ``ids`` in chunks; ``overwrite`` (the field's label, and how to send the
        same again unchecked) makes the report offer it for the records left alone.
        ``labels``: names known beforehand (the rows' own win); ``resend``: this is the
        overwrite of that field, reported record by record."""
        labels = {**(labels or {}), **self._labels(ids)}
        total = len(ids)
        self._cancelled = False
        dialog: QProgressDialog | None = None
        if total >= self.progress_from:
            dialog = QProgressDialog(
                f"{verb.capitalize()[:-1]}ing {total} records…", "Cancel", 0, total, self.table
            )
            dialog.setWindowTitle("Mass action")
            dialog.setWindowModality(Qt.WindowModality.WindowModal)
            dialog.setMinimumDuration(0)
            dialog.canceled.connect(self.cancel)
            dialog.setValue(0)
            self.progress = dialog

        async def run() -> None:
            done: list[str] = []
            failed: dict[str, CrmError] = {}
            sent = 0
            for start in range(0, total, self.chunk):
                if self._cancelled:
                    break
                chunk = ids[start : start + self.chunk]

                def progress(n: int, base: int = start) -> None:
                    if dialog is not None:
                        dialog.setValue(min(base + n, total))

                part = await call(chunk, progress)
                sent += len(chunk)
                done += part.done
                failed.update(part.failed)
                if self.model.module == module:
                    apply(part)  # rows change as each chunk comes back
            result = BulkResult(tuple(done), {}, failed)
            if resend is not None:
                self._finish_resend(resend, ids, result, labels, total - sent)
            else:
                self._finish(verb, result, labels, total - sent, overwrite)

        def failed(exc: BaseException) -> None:
            self._close_progress()
            self._failed(exc)

        self.ops.start(
            self._key(), run(), success=lambda _r: None, failure=failed, label="Mass action"
        )

    def cancel(self) -> None:
        """Stop after the chunk under way (its results are still shown)."""
        self._cancelled = True

    def _close_progress(self) -> None:
        if self.progress is not None:
            self.progress.reset()
            self.progress.deleteLater()
            self.progress = None

    def _finish(
        self,
        verb: str,
        result: BulkResult,
        labels: dict[str, str],
        skipped: int,
        overwrite: Overwrite | None = None,
    ) -> None:
        self._close_progress()
        self.last_message = summary(verb, result, labels, skipped)
        self.pane.notice.emit(self.last_message)
        self.overwrite_button = self.leave_button = None
        if not result.failed:
            return
        self._select(result.failed)  # failed rows stay, selected, for another try
        box = self._report_box(self.last_message)
        theirs = [rid for rid, exc in result.failed.items() if changed_since(exc)]
        if overwrite is not None and theirs:
            label, again = overwrite
            box.setWindowTitle("Changed by someone else")
            box.setText(self._conflict_text(theirs, labels, label))
            over = box.addButton("&Overwrite these", QMessageBox.ButtonRole.AcceptRole)
            leave = box.addButton("&Leave them", QMessageBox.ButtonRole.RejectRole)
            box.setDefaultButton(leave)
            box.setEscapeButton(leave)
            self.overwrite_button, self.leave_button = over, leave

            # What the resend needs is kept from the conflicts themselves: the ids and the
            # names shown now.  Rows that leave the list before the answer (a reload, a new
            # sort or filter, scrolling past the loaded pages) are overwritten all the same.
            names = {rid: labels.get(rid) or _name_of(result.failed[rid]) or rid for rid in theirs}

            def answered(button: QAbstractButton) -> None:
                self.overwrite_button = self.leave_button = None
                if button is over and not self.busy():
                    again(list(theirs), names)

            box.buttonClicked.connect(answered)
        box.open()
        self.report = box

    def _finish_resend(
        self,
        field_label: str,
        ids: list[str],
        result: BulkResult,
        labels: dict[str, str],
        skipped: int,
    ) -> None:
        """The report of "Overwrite these": a count per outcome in the status bar, and
        when not all were done, a box naming each record with what became of it."""
        self._close_progress()
        self.last_message = summary("updated", result, labels, skipped, gone_apart=True)
        self.pane.notice.emit(self.last_message)
        self.overwrite_button = self.leave_button = None
        if not result.failed and not skipped:
            return
        self._select(result.failed)
        text = "\n".join(
            [
                self.last_message,
                "",
                f"Overwrite of {field_label}, record by record:",
                *outcomes(ids, result, labels),
            ]
        )
        box = self._report_box(text)
        box.open()
        self.report = box

    def _select(self, ids: Iterable[str]) -> None:
        """Select just the rows of ``ids`` still in the list."""
        selection = self.table.selectionModel()
        selection.clearSelection()
        for rid in ids:
            row = self.model.row_of(rid)
            if row >= 0:
                selection.select(
                    self.model.index(row, 0),
                    selection.SelectionFlag.Select | selection.SelectionFlag.Rows,
                )

    def _report_box(self, text: str) -> QMessageBox:
        box = QMessageBox(self.table.window())
        box.setWindowTitle("Mass action")
        box.setIcon(QMessageBox.Icon.Warning)
        box.setTextFormat(Qt.TextFormat.PlainText)  # record names are the server's text
        box.setText(text)
        return box

    def _conflict_text(self, theirs: list[str], labels: dict[str, str], field_label: str) -> str:
        """The report on records left alone: how many, their names, the question."""
        n = len(theirs)
        names = [f"  {labels.get(rid) or rid}" for rid in theirs[:MAX_NAMES]]
        if n > MAX_NAMES:
            names.append(f"  … and {n - MAX_NAMES} more")
        records = "record was" if n == 1 else "records were"
        these, are = ("it", "it is") if n == 1 else ("them", "they are")
        return "\n".join(
            [
                self.last_message,
                "",
                f"{n} {records} changed by someone else since the list was loaded and "
                f"{'was' if n == 1 else 'were'} left alone; the list now shows their values:",
                *names,
                "",
                f"Overwrite {these} with the new {field_label}, or leave {these} as {are}?",
            ]
        )

    def _failed(self, exc: BaseException) -> None:
        _t, message, advice = describe(exc)
        self.last_message = f"Not done: {message} {advice}".strip()
        self.pane.notice.emit(self.last_message)


def _name_of(exc: CrmError) -> str:
    """The record's name as a conflict carried it (its first text value), else ""."""
    current = exc.current if isinstance(exc, Conflict) else None
    if current is None:
        return ""
    value = current.get("name")
    return value if isinstance(value, str) else ""


def attach_mass_actions(table: RecordTableView, pane: RecordPane, ops: Operations) -> MassActions:
    return MassActions(table, pane, ops)
