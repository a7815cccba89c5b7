"""The record pane: the editable form above the related-records tabs.

It runs the edit's life cycle through :class:`~crmdesk.ui.operations.Operations`:
save (only changed fields), create, delete, the conflict dialog, failed saves
that keep the edit with Retry, the unsaved-changes prompt, and Back / Forward
between opened records.  It never talks HTTP and never knows the dialect.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import tzinfo
from enum import Enum
from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMessageBox,
    QSplitter,
    QStackedWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from crmdesk.core.backend import Backend, PicklistDependency
from crmdesk.core.errors import Conflict, CrmError, NotFound, ValidationError
from crmdesk.core.records import Record, RecordRef, Value
from crmdesk.core.schema import FieldDef, ModuleDef
from crmdesk.ui.errors import describe
from crmdesk.ui.forms.actions import make_actions
from crmdesk.ui.forms.conflict import ConflictDialog
from crmdesk.ui.forms.editors import EditorContext, plain, zone_named
from crmdesk.ui.forms.extras import (
    ConvertLeadDialog,
    TagsBar,
    attachment_ids,
    convert_targets,
    is_lead_module,
    lead_converted,
    rank,
    save_attachments,
)
from crmdesk.ui.forms.form import RecordForm
from crmdesk.ui.forms.lookup import LookupDialog
from crmdesk.ui.forms.values import conflicts, default_values, merge
from crmdesk.ui.operations import ChangeKind, Operations, RecordChange, lookup
from crmdesk.ui.views.related import RelatedTabs

log = logging.getLogger(__name__)


class Choice(Enum):
    SAVE = "save"
    DISCARD = "discard"
    CANCEL = "cancel"


#: Asks what to do with unsaved changes; the default shows a message box.
Ask = Callable[[str], Choice]
#: Asks for a folder to save attachments in ("" when cancelled).
ChooseDirectory = Callable[[str], str]
FAVORITE_FIELD = "my_favorite"


def is_closed(record: Record | None) -> bool:
    """A ticket whose status says closed (Vtiger's ``ticketstatus``, else ``status``):
    ``Closed``, or a closed variant such as ``Closed_Rejected``."""
    if record is None:
        return False
    status = record.get("ticketstatus", record.get("status"))
    return isinstance(status, str) and status.strip().casefold().startswith("closed")


def offered(backend: Backend, capability: str) -> bool:
    """The backend declares ``capability`` and the server did not turn it off since."""
    declared = bool(getattr(backend.capabilities, capability, False))
    return declared and capability not in backend.disabled_features()


class RecordPane(QWidget):
    #: A record was loaded into the form: (ModuleDef, Record).
    record_shown = Signal(object, object)
    #: Something worth a status-bar line happened (plain text).
    notice = Signal(str)
    #: The user's time zone became known (a tzinfo): views showing datetimes re-render.
    zone_changed = Signal(object)
    #: A record was marked (True) or unmarked as a favorite: (record id, favorite).
    favorite_changed = Signal(str, bool)

    def __init__(
        self, ops: Operations, ctx: EditorContext | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.ops = ops
        self.ctx = ctx or EditorContext()
        self.ctx.lookup = self._lookup
        self.ctx.start = lambda key, coro: ops.runner.run(key, coro, label="Looking up records")
        self.form = RecordForm(self.ctx)
        self.related = RelatedTabs(ops, self.ctx)
        self.toolbar = QToolBar()
        self.toolbar.setIconSize(QSize(16, 16))
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.record_actions = make_actions(
            self,
            {
                "record.favorite": self.toggle_favorite,
                "record.convert_lead": self.convert_lead,
                "record.save_files": self.save_files,
                "record.reopen": self.reopen,
            },
            scope="record",
        )
        for action in self.record_actions.values():
            self.toolbar.addAction(action)
            action.setVisible(False)
        self.tags = TagsBar(ops)
        self.tags.hide()
        record_box = QWidget()
        box = QVBoxLayout(record_box)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(0)
        box.addWidget(self.toolbar)
        box.addWidget(self.tags)
        box.addWidget(self.form, 1)
        self.related.confirm = lambda title, text: self.confirm(title, text)
        self.placeholder = plain("Select a record to see its details.")
        self.placeholder.setWordWrap(True)
        self.placeholder.setEnabled(False)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.placeholder.setContentsMargins(12, 10, 12, 10)
        split = QSplitter(Qt.Orientation.Vertical)
        split.setChildrenCollapsible(False)
        split.addWidget(record_box)
        split.addWidget(self.related)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setSizes([640, 220])
        self.splitter = split
        self.stack = QStackedWidget()
        self.stack.addWidget(self.placeholder)
        self.stack.addWidget(split)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack)

        self.ask: Ask = self._ask_box
        self.confirm: Callable[[str, str], bool] = self._confirm_box
        self.conflict_dialog: ConflictDialog | None = None
        self.history: list[tuple[str, str]] = []
        self.history_pos = -1
        self._last_save: Callable[[], None] | None = None
        self._after_save: Callable[[], None] | None = None
        #: The save of the edit the form shows, while its answer has not come (a fresh
        #: object per request, so a late answer can tell it is no longer the form's).
        self._saving: object | None = None
        self._auto_merges = 0
        self.choose_directory: ChooseDirectory = self._choose_directory_box
        self.convert_dialog: ConvertLeadDialog | None = None
        self._zone_asked = False
        self._deps: dict[str, list[PicklistDependency]] = {}
        self.form.save_requested.connect(self.save)
        self.form.reveal_requested.connect(self.show_value)
        self.form.retry_requested.connect(self.retry)
        self.related.open_requested.connect(self.open_record)
        ops.changed.connect(self._changed)

    # -- what is shown -----------------------------------------------------------------
    @property
    def mdef(self) -> ModuleDef | None:
        return self.form.mdef

    @property
    def record_id(self) -> str | None:
        return self.form.record_id if self.stack.currentIndex() == 1 else None

    @property
    def dirty(self) -> bool:
        return self.stack.currentIndex() == 1 and self.form.dirty

    def show_message(self, text: str) -> None:
        self._leave_edit()
        self.placeholder.setText(text)
        self.stack.setCurrentIndex(0)
        self.related.forget()

    def show_record(self, mdef: ModuleDef, record: Record, *, push: bool = True) -> None:
        self.ops.remember(mdef)
        self._ask_zone()
        self._leave_edit()
        self.form.clear_message()
        self.form.load(mdef, record)
        self.stack.setCurrentIndex(1)
        self.related.set_record(mdef, record)
        self._extras(mdef, record)
        if push:
            self._push(mdef.name, record.id)
        self.record_shown.emit(mdef, record)

    def new_record(self, mdef: ModuleDef, values: Mapping[str, Value] | None = None) -> None:
        """An empty form with the CRM's defaults (and ``values``, e.g. a relate pre-filled)."""
        self.ops.remember(mdef)
        self._ask_zone()
        self._leave_edit()
        self.form.clear_message()
        self.form.new(mdef, {**default_values(mdef), **(values or {})})
        self.stack.setCurrentIndex(1)
        self.related.forget()
        self._extras(mdef, None)
        first = next((r for r in self.form.rows.values() if r.editor.editable), None)
        if first is not None:
            first.editor.focus_widget().setFocus()

    # -- navigation --------------------------------------------------------------------
    def open_record(self, module: str, record_id: str, *, push: bool = True) -> None:
        """Load any record of any module into the form (after the unsaved prompt)."""

        def go() -> None:
            async def load() -> None:
                mdef = await self.ops.describe(module)
                record = await self.ops.backend.get(module, record_id)
                self.show_record(mdef, record, push=push)

            self.ops.runner.run("record", load(), label="Loading record")

        self.guard(go)

    def can_go_back(self) -> bool:
        return self.history_pos > 0

    def can_go_forward(self) -> bool:
        return 0 <= self.history_pos < len(self.history) - 1

    def back(self) -> None:
        if self.can_go_back():
            self._go(self.history_pos - 1)

    def forward(self) -> None:
        if self.can_go_forward():
            self._go(self.history_pos + 1)

    def _go(self, pos: int) -> None:
        module, record_id = self.history[pos]

        def go() -> None:
            self.history_pos = pos
            self.open_record(module, record_id, push=False)

        self.guard(go)

    def _push(self, module: str, record_id: str) -> None:
        entry = (module, record_id)
        if 0 <= self.history_pos < len(self.history) and self.history[self.history_pos] == entry:
            return
        del self.history[self.history_pos + 1 :]
        self.history.append(entry)
        self.history_pos = len(self.history) - 1

    # -- unsaved changes ---------------------------------------------------------------
    def guard(
        self, action: Callable[[], None], *, after_save: Callable[[], None] | None = None
    ) -> bool:
        """Run ``action`` now if nothing is unsaved; else ask Save / Discard / Cancel.

        Save runs ``after_save`` (default ``action``) once the server accepted the edit.
        Returns False when the action did not run now (cancelled, or waits for the save).
        """
        if not self.dirty:
            action()
            return True
        choice = self.ask(self._describe_edit())
        if choice is Choice.CANCEL:
            return False
        if choice is Choice.DISCARD:
            self.discard()
            action()
            return True
        self.save(then=after_save or action)
        return False

    def discard_edits(self) -> None:
        """Revert (Esc): an existing record goes back to its loaded values; a new one asks."""
        if self.stack.currentIndex() != 1 or not self.form.dirty:
            return
        if self._saving is not None:
            # The changes are on their way to the server already: showing the loaded values
            # again would claim they are undone while the save may still land.
            self.notice.emit("Saving: the changes were sent already and cannot be reverted now.")
            return
        if self.form.is_new:
            self.guard(lambda: None)
        else:
            self._leave_edit()
            self.form.revert()
            self.notice.emit("Changes reverted.")

    @property
    def title(self) -> QLabel:
        return self.form.title

    def display_text(self, name: str) -> str:
        return self.form.display_text(name)

    def discard(self) -> None:
        if self.form.is_new:
            self.show_message("The new record was discarded.")
        else:
            self._leave_edit()
            self.form.revert()

    def _leave_edit(self) -> None:
        """The form drops its edit (it shows another record, a new one, a message, or the
        loaded values again).  A save of the old edit still out no longer belongs to the
        form: its answer goes to the status bar only (:meth:`_late_saved`,
        :meth:`_late_failed`), its continuation and Retry are dropped, and the form is no
        longer busy (the fields of what is shown now are enabled)."""
        if self._saving is not None:
            self._saving = None
            self._busy(False)
        self._after_save = None
        self._last_save = None

    def _describe_edit(self) -> str:
        mdef = self.form.mdef
        what = "the new record" if self.form.is_new else f"“{self.form.title.text().lstrip('* ')}”"
        n = len(self.form.dirty_fields())
        fields = f" ({n} changed field{'s' if n != 1 else ''})" if n and mdef else ""
        text = f"You have unsaved changes to {what}{fields}."
        if self._saving is not None:
            text += (
                " They are being saved: the answer has not come yet. Save waits for it; "
                "Discard leaves now (the status bar tells how the save ended)."
            )
        return text

    def _ask_box(self, text: str) -> Choice:
        box = QMessageBox(self.window())
        box.setWindowTitle("crmdesk — Unsaved changes")
        box.setIcon(QMessageBox.Icon.Question)
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setText(text)
        box.setInformativeText("Save them before leaving?")
        save = box.addButton(QMessageBox.StandardButton.Save)
        discard = box.addButton(QMessageBox.StandardButton.Discard)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(save)
        box.exec()
        clicked = box.clickedButton()
        box.deleteLater()
        if clicked is save:
            return Choice.SAVE
        if clicked is discard:
            return Choice.DISCARD
        return Choice.CANCEL

    def _confirm_box(self, title: str, text: str) -> bool:
        box = QMessageBox(self.window())
        box.setWindowTitle(f"crmdesk — {title}")
        box.setIcon(QMessageBox.Icon.Warning)
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setText(text)
        yes = box.addButton(title, QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        ok = box.clickedButton() is yes
        box.deleteLater()
        return ok

    # -- save --------------------------------------------------------------------------
    def save(self, then: Callable[[], None] | None = None) -> None:
        form, mdef = self.form, self.form.mdef
        if mdef is None or form.original is None or self.stack.currentIndex() != 1:
            return
        if self._saving is not None:
            # This edit is being saved (Ctrl+S again, or Save in the unsaved prompt): a second
            # request would cancel the first one's answer, not its effect; wait for it.
            if then is not None:
                self._after_save = then
            return
        self._after_save = then
        if not form.dirty:
            self._run_after()
            return
        problems = form.validate()
        if problems:
            self._after_save = None
            names = ", ".join(r.fdef.label for n, r in form.rows.items() if n in problems)
            form.show_message(f"Not saved: check {names}.", retry=False)
            return
        if form.is_new:
            values = form.values_for_create()
            self._last_save = lambda: self._create(mdef, values)
        else:
            original, changes = form.original, form.changes()
            self._last_save = lambda: self._update(mdef, original, changes)
        self._auto_merges = 0
        self._last_save()

    def retry(self) -> None:
        if self._last_save is not None:
            self._last_save()

    def _start_saving(self) -> object:
        ticket = object()
        self._saving = ticket
        self._busy(True)
        return ticket

    def _create(self, mdef: ModuleDef, values: Mapping[str, Value]) -> None:
        ticket = self._start_saving()
        name = values.get(mdef.name_field)
        what = f"the new {mdef.label} record" + (f" “{name}”" if name else "")

        def failed(exc: BaseException) -> None:
            if self._saving is ticket:
                self._save_failed(exc)
            else:
                self._late_failed(what, exc)

        self.ops.create(
            mdef, values, success=lambda r: self._saved(ticket, mdef, r), failure=failed
        )

    def _update(self, mdef: ModuleDef, original: Record, changes: Mapping[str, Value]) -> None:
        ticket = self._start_saving()
        what = f"{mdef.label} “{original.get(mdef.name_field) or original.id}”"

        def failed(exc: BaseException) -> None:
            if self._saving is not ticket:
                self._late_failed(what, exc)
            elif isinstance(exc, Conflict):
                self._saving = None
                self._busy(False)
                self._conflict(mdef, original, changes, exc)
            elif isinstance(exc, NotFound):
                self._check_gone(mdef, original, exc, ticket)
            else:
                self._save_failed(exc)

        self.ops.save(
            mdef, original, changes, success=lambda r: self._saved(ticket, mdef, r), failure=failed
        )

    def _check_gone(
        self, mdef: ModuleDef, original: Record, exc: BaseException, ticket: object
    ) -> None:
        """A save answered "not found": read the record again to tell a record someone else
        deleted (say so, plainly) from another failure (show that one).  The form stays
        busy meanwhile; if the user leaves it, the answer goes to the status bar."""
        what = f"{mdef.label} “{original.get(mdef.name_field) or original.id}”"

        def failed(again: BaseException) -> None:
            if self._saving is not ticket:
                self._late_failed(what, again if isinstance(again, NotFound) else exc)
            elif isinstance(again, NotFound):
                self._gone(mdef)
            else:
                self._save_failed(exc)

        def found(_record: Record) -> None:
            if self._saving is ticket:
                self._save_failed(exc)
            else:
                self._late_failed(what, exc)

        self.ops.start(
            f"reread:{mdef.name}:{original.id}",
            self.ops.backend.get(mdef.name, original.id),
            success=found,
            failure=failed,
            label="Checking the record is still there",
        )

    def _still_editing(self, original: Record) -> bool:
        """The form still holds the edit of ``original`` a reread was started for (the user
        may have discarded it, or opened another record, while the reread ran)."""
        return self.form.original is original and self.form.dirty

    def _gone(self, mdef: ModuleDef) -> None:
        """The record is no longer on the server: keep the edit, say what happened; a retry
        cannot help, so none is offered."""
        self._saving = None
        self._busy(False)
        self._after_save = None
        self._last_save = None
        self.form.show_message(
            "Not saved: this record is no longer on the server; someone else may have deleted "
            "it, or your access to it was removed. Your changes are still here: copy what you "
            "need before you close it.",
            retry=False,
        )
        self.notice.emit(f"Not saved: the record is no longer in {mdef.label} on the server.")

    def _busy(self, busy: bool) -> None:
        self.form.set_busy(busy)
        self.form.fields_area.setEnabled(not busy)
        if busy:
            self.form.clear_message()

    def _saved(self, ticket: object, mdef: ModuleDef, record: Record) -> None:
        if self._saving is not ticket:
            self._late_saved(mdef, record)
            return
        then = self._after_save
        self._saving = None
        self._busy(False)
        self.show_record(mdef, record)
        self.notice.emit(f"Saved {mdef.label} “{self.form.title.text()}”.")
        self._after_save = then
        self._run_after()

    def _late_saved(self, mdef: ModuleDef, record: Record) -> None:
        """The save of an edit the user has left went through.  The form shows something
        else (or the loaded values again) and stays as it is; the list still gets the
        record (Operations announces it), and the status bar says it landed, since the user
        may have believed it discarded."""
        name = record.get(mdef.name_field) or record.id
        self.notice.emit(f"Saved {mdef.label} “{name}” (the changes sent before you left it).")

    def _late_failed(self, what: str, exc: BaseException) -> None:
        """The save of an edit the user has left failed.

        What a user expects: they pressed Save and then moved on (Discard in the prompt,
        another record, another module), trusting the changes to land.  The form now shows
        something else and must not be touched, and the typed values went with the old
        form, so Retry is impossible.  Losing the failure silently would leave them
        believing the record is saved; so the status bar names the record, says why it was
        not saved and that the changes are gone, so they can make them again.
        """
        _title, message, _advice = describe(exc)
        if not isinstance(exc, CrmError):
            log.error("saving failed unexpectedly", exc_info=exc)
        self.notice.emit(
            f"Not saved: your earlier changes to {what}. {message} They were discarded when "
            "you left the record; make them again if you still need them."
        )

    def _run_after(self) -> None:
        then, self._after_save = self._after_save, None
        if then is not None:
            then()

    def _save_failed(self, exc: BaseException) -> None:
        self._saving = None
        self._busy(False)
        self._after_save = None
        if isinstance(exc, ValidationError):
            self._last_save = None
            self.form.show_errors(exc.fields, f"Not saved: {exc.message}")
            return
        _title, message, advice = describe(exc)
        if not isinstance(exc, CrmError):
            log.error("saving failed unexpectedly", exc_info=exc)
        self.form.show_message(
            f"Not saved: {message} {advice} Your changes are still here.".replace("  ", " "),
            retry=True,
        )
        self.notice.emit(f"Not saved: {message}")

    # -- conflicts ---------------------------------------------------------------------
    def _conflict(
        self, mdef: ModuleDef, original: Record, changes: Mapping[str, Value], exc: Conflict
    ) -> None:
        current = exc.current
        if current is None:
            what = f"{mdef.label} “{original.get(mdef.name_field) or original.id}”"

            def failed(again: BaseException) -> None:
                if not self._still_editing(original):
                    self._late_failed(what, again if isinstance(again, NotFound) else exc)
                    return
                if isinstance(again, NotFound):
                    self._gone(mdef)
                else:
                    self._save_failed(again)

            def reread(record: Record) -> None:
                if self._still_editing(original):
                    self._resolve(mdef, original, changes, record)
                else:
                    self._late_failed(what, exc)

            self.ops.start(
                f"reread:{mdef.name}:{original.id}",
                self.ops.backend.get(mdef.name, original.id),
                success=reread,
                failure=failed,
                label="Reading the server's version",
            )
            return
        self._resolve(mdef, original, changes, current)

    def _resolve(
        self, mdef: ModuleDef, original: Record, changes: Mapping[str, Value], current: Record
    ) -> None:
        clashes = conflicts(mdef, original, changes, current)
        if not clashes and self._auto_merges < 2:
            # They changed other fields only: keep theirs, send mine over their version.
            self._auto_merges += 1
            self.form.rebase(current, changes)
            self._last_save = lambda: self._update(mdef, current, changes)
            self._last_save()
            return
        dialog = ConflictDialog(
            clashes,
            record_label=str(current.get(mdef.name_field) or current.id),
            tz=self.ctx.tz,
            parent=self.window(),
        )
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        self.conflict_dialog = dialog

        def done(code: int) -> None:
            self.conflict_dialog = None
            dialog.deleteLater()
            if code != ConflictDialog.DialogCode.Accepted:
                self._after_save = None
                self.form.show_message(
                    "Not saved: someone else changed this record. Your changes are still here; "
                    "save again to review their version.",
                    retry=False,
                )
                return
            keep = merge(changes, clashes, dialog.take_theirs())
            self.form.rebase(current, keep)
            if keep:
                self._last_save = lambda: self._update(mdef, current, keep)
                self._last_save()
            else:
                self.form.show_message(
                    "Their values were kept; nothing left to save.", retry=False, info=True
                )
                self._run_after()

        dialog.finished.connect(done)
        dialog.open()
        self.notice.emit("Someone else changed this record: choose per field.")

    # -- delete ------------------------------------------------------------------------
    def delete(
        self, module: str | None = None, record_id: str | None = None, label: str = ""
    ) -> None:
        """Delete (after confirmation) the shown record, or the one named."""
        mdef = self.form.mdef
        module = module or (mdef.name if mdef else None)
        record_id = record_id or self.record_id
        if not module or not record_id:
            return
        if self.record_id == record_id and self.form.original is not None:
            access = self.form.original.access
            if access is not None and "delete" not in access:
                self.notice.emit("Your CRM role may not delete this record.")
                return
            label = label or self.form.title.text().lstrip("* ")
        text = f"Delete “{label or record_id}”? This cannot be undone from crmdesk."
        if not self.confirm("Delete", text):
            return

        def failed(exc: BaseException) -> None:
            _t, message, advice = describe(exc)
            self.notice.emit(f"Not deleted: {message}")
            if self.record_id == record_id:
                self.form.show_message(f"Not deleted: {message} {advice}", retry=False)

        self.ops.delete(module, record_id, failure=failed)

    def _changed(self, change: RecordChange) -> None:
        if change.kind is ChangeKind.DELETED and change.record_id == self.record_id:
            self.form.original = None
            self.show_message("The record was deleted.")
        elif (
            change.kind is ChangeKind.UPDATED
            and change.record is not None
            and change.record_id == self.record_id
            and self.form.mdef is not None
            and self.form.original is not None
            and change.record is not self.form.original
            and not self.form.dirty
            and self._saving is None  # not while our own save runs
        ):
            # Saved elsewhere (a cell of the list): show the server's values.
            merged = Record(
                change.record.module,
                change.record.id,
                {**self.form.original.values, **change.record.values},
                change.record.version or self.form.original.version,
                change.record.access
                if change.record.access is not None
                else self.form.original.access,
                change.record.field_access
                if change.record.field_access is not None
                else self.form.original.field_access,
            )
            self.show_record(self.form.mdef, merged, push=False)
        self.related.record_changed(change)

    # -- lookups -----------------------------------------------------------------------
    async def _lookup(self, fdef: FieldDef, anchor: QWidget) -> RecordRef | None:
        module = fdef.relate_module
        if not module:
            return None
        target = await self.ops.describe(module)

        async def search(text: str) -> list[RecordRef]:
            return await lookup(self.ops.backend, target, text)

        dialog = LookupDialog(f"Choose {target.label}", search, anchor.window())
        try:
            return await dialog.choose()
        finally:
            dialog.deleteLater()

    # -- the user's time zone ----------------------------------------------------------------
    def _ask_zone(self) -> None:
        """Once per pane: the CRM user's time zone (``me().time_zone``), else the machine's."""
        if self._zone_asked:
            return
        self._zone_asked = True
        backend = self.ops.backend

        async def ask() -> tzinfo | None:
            try:
                me = await backend.me()
            except CrmError:
                return None
            return zone_named(me.time_zone)

        def known(tz: tzinfo | None) -> None:
            if tz is not None:
                self.set_zone(tz)

        # Until (unless) the CRM tells, the context's zone (the machine's by default) holds.
        self.ops.start("user-zone", ask(), success=known, failure=lambda _e: None)

    def set_zone(self, tz: tzinfo) -> None:
        """Show datetimes in ``tz`` from now on (a clean form is shown again in it)."""
        if str(tz) == str(self.ctx.tz):
            return
        self.ctx.tz = tz
        form = self.form
        if form.mdef is not None and form.original is not None and not form.dirty:
            mdef, record = form.mdef, form.original
            form.mdef = None  # rebuild: editors show their zone
            if form.is_new:
                form.new(mdef, dict(record.values))
            else:
                form.load(mdef, record, editable=form._editable)
        self.zone_changed.emit(tz)

    # -- dialect extras: favorites, tags, lead conversion, attachments, dependencies -------
    def _extras(self, mdef: ModuleDef, record: Record | None) -> None:
        backend = self.ops.backend
        saved = record is not None
        fav = self.record_actions["record.favorite"]
        fav.setVisible(saved and offered(backend, "favorites"))
        self._show_favorite(bool(record is not None and record.get(FAVORITE_FIELD) is True))
        convert = self.record_actions["record.convert_lead"]
        converted = record is not None and lead_converted(record)
        convert.setVisible(
            saved and is_lead_module(mdef.name) and offered(backend, "lead_conversion")
        )
        convert.setEnabled(not converted)
        files = self.record_actions["record.save_files"]
        ids = attachment_ids(mdef, record) if record is not None else []
        files.setVisible(saved and offered(backend, "files") and _has_file_fields(mdef))
        files.setEnabled(bool(ids))
        files.setToolTip(
            f"Save {len(ids)} image(s) / attachment(s) to a folder (Ctrl+Shift+A)"
            if ids
            else "This record has no images or attachments"
        )
        self.record_actions["record.reopen"].setVisible(
            saved and offered(backend, "reopen") and is_closed(record)
        )
        for row in self.form.rows.values():
            if row.reveal is not None:
                row.reveal.setVisible(saved and offered(backend, "decrypt"))
        self.toolbar.setVisible(any(a.isVisible() for a in self.record_actions.values()))
        show_tags = saved and offered(backend, "tags")
        self.tags.setVisible(show_tags)
        self.tags.set_record(record if show_tags else None)
        self._dependencies(mdef)

    def _dependencies(self, mdef: ModuleDef) -> None:
        backend = self.ops.backend
        if not offered(backend, "picklist_dependencies"):
            return
        known = self._deps.get(mdef.name)
        if known is not None:
            self.form.set_dependencies(known)
            return

        def done(deps: list[PicklistDependency]) -> None:
            self._deps[mdef.name] = deps
            if self.form.mdef is mdef:
                self.form.set_dependencies(deps)

        def failed(exc: BaseException) -> None:
            self._deps[mdef.name] = []  # not asked again for this module
            log.info("picklist dependencies of %s not loaded: %s", mdef.name, exc)

        self.ops.start(
            f"dependencies:{mdef.name}",
            backend.picklist_dependencies(mdef.name),
            success=done,
            failure=failed,
            label="Loading dependent drop-downs",
        )

    # -- reopen a closed ticket, show a sensitive value ----------------------------------------
    def reopen(self) -> None:
        """Reopen the shown closed record; the form and its list row show it open."""
        mdef, record = self.form.mdef, self.form.original
        backend = self.ops.backend
        if mdef is None or record is None or not offered(backend, "reopen"):
            return

        async def run() -> tuple[str, Record]:
            message = await backend.reopen(mdef.name, record.id)
            return message, await backend.get(mdef.name, record.id)

        def done(result: tuple[str, Record]) -> None:
            message, fresh = result
            self.notice.emit(message or "Record reopened.")
            self.ops.announce(RecordChange(ChangeKind.UPDATED, mdef.name, fresh.id, fresh))

        def failed(exc: BaseException) -> None:
            _t, message, advice = describe(exc)
            self.notice.emit(f"Not reopened: {message} {advice}".strip())
            if self.form.original is not None and self.form.mdef is not None:
                self._extras(self.form.mdef, self.form.original)

        self.ops.start(
            f"reopen:{mdef.name}:{record.id}", run(), success=done, failure=failed,
            label="Reopening",
        )  # fmt: skip

    def show_value(self, field_name: str) -> None:
        """Ask the CRM for the clear value of a sensitive field and show it in its row."""
        mdef, record = self.form.mdef, self.form.original
        backend = self.ops.backend
        row = self.form.rows.get(field_name)
        if mdef is None or record is None or row is None or not offered(backend, "decrypt"):
            return
        shown_id = record.id

        def done(value: str) -> None:
            if self.form.original is None or self.form.original.id != shown_id:
                return  # another record is shown now
            row.editor.load(value, self.form.original)
            if row.reveal is not None:
                row.reveal.setEnabled(False)

        def failed(exc: BaseException) -> None:
            _t, message, advice = describe(exc)
            self.notice.emit(f"Value not shown: {message} {advice}".strip())
            if self.form.original is not None and self.form.mdef is not None:
                self._extras(self.form.mdef, self.form.original)

        self.ops.start(
            f"decrypt:{shown_id}:{field_name}",
            backend.decrypt(mdef.name, shown_id, field_name),
            success=done,
            failure=failed,
            label="Reading the sensitive value",
        )

    @property
    def is_favorite(self) -> bool:
        return self.record_actions["record.favorite"].isChecked()

    def _show_favorite(self, on: bool) -> None:
        action = self.record_actions["record.favorite"]
        action.setChecked(on)
        action.setText("\u2605 Favorite" if on else "\u2606 Favorite")

    def toggle_favorite(self) -> None:
        """Mark / unmark the shown record as a favorite (Ctrl+D) where the CRM has them."""
        original, mdef = self.form.original, self.form.mdef
        if original is None or mdef is None or self.form.is_new or self.record_id is None:
            return
        if not offered(self.ops.backend, "favorites"):
            return
        want = original.get(FAVORITE_FIELD) is not True
        self._show_favorite(want)  # at once; put back if the server refuses
        record_id = original.id

        def done(_r: None) -> None:
            if self.form.original is not None and self.form.original.id == record_id:
                self.form.original.values[FAVORITE_FIELD] = want
            self.favorite_changed.emit(record_id, want)
            self.notice.emit("Marked as a favorite." if want else "No longer a favorite.")

        def failed(exc: BaseException) -> None:
            if self.record_id == record_id:
                self._show_favorite(not want)
            _t, message, _advice = describe(exc)
            self.notice.emit(f"Favorite not changed: {message}")

        self.ops.start(
            f"favorite:{record_id}",
            self.ops.backend.set_favorite(mdef.name, record_id, want),
            success=done,
            failure=failed,
            label="Changing the favorite",
        )

    def convert_lead(self) -> None:
        """Convert the shown lead (dialog: what to create, their required fields)."""
        lead = self.form.original
        if lead is None or self.form.is_new or not offered(self.ops.backend, "lead_conversion"):
            return

        async def run() -> None:
            targets = await convert_targets(self.ops)
            dialog = ConvertLeadDialog(self.ops, lead, targets, self.ctx, self.window())
            dialog.setWindowModality(Qt.WindowModality.WindowModal)
            dialog.converted.connect(lambda ids: self._converted(lead, ids))
            dialog.finished.connect(lambda _c: self._forget_convert(dialog))
            self.convert_dialog = dialog
            dialog.open()

        def go() -> None:
            self.ops.runner.run("convert-open", run(), label="Preparing the conversion")

        self.guard(go)

    def _forget_convert(self, dialog: ConvertLeadDialog) -> None:
        if self.convert_dialog is dialog:
            self.convert_dialog = None
        dialog.deleteLater()

    def _converted(self, lead: Record, ids: Mapping[str, str]) -> None:
        """Open the new records (Back / Forward go through all of them) and refresh the lead."""
        backend, ops = self.ops.backend, self.ops
        created = sorted(((m, rid) for m, rid in ids.items() if rid), key=lambda e: rank(e[0]))
        names = ", ".join(m for m, _ in created)
        self.notice.emit(f"Lead converted: created {names}.")

        async def refresh_lead() -> None:
            try:
                fresh = await backend.get(lead.module, lead.id)
            except CrmError:
                return
            ops.announce(RecordChange(ChangeKind.UPDATED, lead.module, lead.id, fresh))

        self.ops.runner.run(f"lead-refresh:{lead.id}", refresh_lead(), label="Reloading the lead")
        if created:
            # The first (the contact) is shown; Forward goes through the others.
            del self.history[self.history_pos + 1 :]
            self.history.extend(created)
            self.history_pos = len(self.history) - len(created)
            self.open_record(created[0][0], created[0][1], push=False)

    def _choose_directory_box(self, title: str) -> str:
        return QFileDialog.getExistingDirectory(self.window(), title)

    def save_files(self) -> None:
        """Save the shown record's images / attachments into a folder the user picks."""
        record, mdef = self.form.original, self.form.mdef
        if record is None or mdef is None or not offered(self.ops.backend, "files"):
            return
        ids = attachment_ids(mdef, record)
        if not ids:
            self.notice.emit("This record has no images or attachments.")
            return
        folder = self.choose_directory("Save attachments to")
        if not folder:
            return

        def done(paths: list[Path]) -> None:
            shown = ", ".join(p.name for p in paths)
            self.notice.emit(f"Saved {len(paths)} file(s) to {folder}: {shown}")
            self.form.show_message(f"Saved to {folder}: {shown}", retry=False, info=True)

        def failed(exc: BaseException) -> None:
            _t, message, advice = describe(exc)
            self.form.show_message(f"Attachments not saved: {message} {advice}", retry=False)
            self.notice.emit(f"Attachments not saved: {message}")
            self._extras(mdef, record)  # a server without files hides the action now

        self.ops.start(
            f"files:{record.id}",
            save_attachments(self.ops.backend, ids, Path(folder)),
            success=done,
            failure=failed,
            label="Saving attachments",
        )


def _has_file_fields(mdef: ModuleDef) -> bool:
    return any(
        f.native_type in ("image", "file", "attachment") or f.name.endswith("attachmentids")
        for f in mdef.fields
    )
