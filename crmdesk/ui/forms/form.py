"""The record form generated from a ModuleDef: editors per field, dirty marks, checks.

The form holds the edit until the server accepted it.  It knows the record
as loaded (``original``), tells which fields changed (:meth:`RecordForm.changes`
sends only those), checks required / length / type before anything is sent,
shows server-side field errors next to the fields they name, and shows a
failed save with a Retry button.  Saving itself is not its business: it
emits ``save_requested`` and the pane runs the operation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QKeyEvent
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from crmdesk.core.backend import PicklistDependency
from crmdesk.core.records import Record, Value
from crmdesk.core.schema import FieldDef, ModuleDef, Section
from crmdesk.ui.forms.editors import EditorContext, EnumEditor, FieldEditor, create_editor, plain
from crmdesk.ui.forms.values import (
    ParseError,
    form_sections,
    is_empty,
    missing_required,
    same_value,
)

_CHANGED_STYLE = "color: #1a5fb4; font-weight: bold;"
_ERROR_STYLE = "color: #c01c28;"
_BANNER_STYLE = "#formMessage { background: #fdecea; border: 1px solid #f5c2c0; }"
_INFO_STYLE = "#formMessage { background: #e8f1fb; border: 1px solid #b5d0ee; }"
_NOTE_STYLE = "#accessNote { background: #fff4e0; border: 1px solid #f0d39b; padding: 3px 6px; }"
_DENIED_STYLE = "color: #77767b; font-style: italic;"

#: Why a field the record forbids changing is read-only (its tooltip).
NO_WRITE_TIP = "You may not change this field on this record (the CRM's access rules)"
#: Why a field the record forbids reading shows no value.
NO_READ_TIP = "You may not see this field on this record (the CRM's access rules)"
#: What a field the record forbids reading shows instead of its value.
NO_ACCESS_TEXT = "(no access)"


class FieldRow:
    """The label, editor and error line of one field."""

    def __init__(self, fdef: FieldDef, editor: FieldEditor) -> None:
        self.fdef = fdef
        self.editor = editor
        self.label = plain(fdef.label + (" *" if fdef.required and editor.editable else ""))
        self.label.setToolTip(fdef.name + (" (required)" if fdef.required else ""))
        self.label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.error = plain()
        self.error.setObjectName("fieldError")
        self.error.setStyleSheet(_ERROR_STYLE)
        self.error.setWordWrap(True)
        self.error.hide()
        self.changed = False
        #: "Show value" next to a sensitive field (the pane shows it where the CRM can).
        self.reveal: QToolButton | None = None
        if fdef.sensitive:
            self.reveal = QToolButton()
            self.reveal.setText("Show value")
            self.reveal.setObjectName(f"reveal:{fdef.name}")
            self.reveal.setToolTip("Ask the CRM for the clear value of this sensitive field")
            self.reveal.hide()
        #: What this record forbids on the field: None, ``"write"`` or ``"read"``.
        self.locked: str | None = None
        #: "(no access)" in the editor's place; made the first time the record hides the field.
        self.denied: QLabel | None = None
        self._cell: tuple[QGridLayout, int] | None = None
        self._tips: tuple[str, str] = ("", "")

    @property
    def active(self) -> bool:
        """The user may change the field: an editor, and the record does not forbid it."""
        return self.editor.editable and self.locked is None

    def place(self, grid: QGridLayout, line: int) -> None:
        """Remember where the editor sits (the "(no access)" text goes to the same cell)."""
        self._cell = (grid, line)

    def set_access(self, readable: bool, writable: bool) -> None:
        """Apply this record's per-field rules: hide the value one may not read, lock the
        editor of a value one may not change (the tooltip says why)."""
        locked = None if readable and writable else ("write" if readable else "read")
        if locked == self.locked:
            return
        if self.locked is None:
            self._tips = (self.label.toolTip(), self.editor.widget.toolTip())
        self.locked = locked
        label_tip, editor_tip = self._tips
        if locked == "read":
            if self.denied is None:
                self.denied = plain(NO_ACCESS_TEXT)
                self.denied.setObjectName(f"noAccess:{self.fdef.name}")
                self.denied.setStyleSheet(_DENIED_STYLE)
                if self._cell is not None:
                    grid, line = self._cell
                    grid.addWidget(self.denied, line, 1)
            self.denied.setToolTip(NO_READ_TIP)
            self.denied.show()
            self.editor.widget.hide()
            self.label.setToolTip(f"{label_tip}\n{NO_READ_TIP}".strip())
        else:
            if self.denied is not None:
                self.denied.hide()
            self.editor.widget.show()
            if locked == "write" and self.editor.editable:
                self.label.setToolTip(f"{label_tip}\n{NO_WRITE_TIP}".strip())
                self.editor.widget.setToolTip(NO_WRITE_TIP)
            else:
                self.label.setToolTip(label_tip)
                self.editor.widget.setToolTip(editor_tip)

    def mark(self, changed: bool, error: str | None) -> None:
        if changed != self.changed:
            self.changed = changed
            self.label.setStyleSheet(_CHANGED_STYLE if changed else "")
            base = self.fdef.label + (" *" if self.fdef.required and self.editor.editable else "")
            self.label.setText(f"• {base}" if changed else base)
        if error:
            self.error.setText(error)
            self.error.show()
        else:
            self.error.clear()
            self.error.hide()


class SectionHeader(QToolButton):
    """The clickable heading of a folding section; Space, Enter and Return toggle it."""

    def keyPressEvent(self, event: QKeyEvent) -> None:  # QWidget.keyPressEvent
        """Enter / Return click the header as Space does (QAbstractButton only takes Space)."""
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not event.isAutoRepeat():
            self.click()
            event.accept()
            return
        super().keyPressEvent(event)


class SectionBlock:
    """One section of the form: its heading and the body holding its fields' grid.

    A section the CRM shows folded (:attr:`Section.collapsed`) gets a clickable header
    ("▸ More information (4 fields)") and starts collapsed; otherwise the heading is a
    plain label (or none).
    """

    def __init__(self, section: Section, body: QWidget, grid: QGridLayout) -> None:
        self.label = section.label or ("More details" if section.collapsed else "")
        self.names: tuple[str, ...] = ()
        self.body = body
        self.grid = grid
        self.collapsible = section.collapsed
        self.collapsed = False
        #: (field, "changed" | "error") seen last time: a new one opens the section.
        self.flagged: frozenset[tuple[str, str]] = frozenset()
        #: How many of its fields are changed / refused now (the folded header says so).
        self.counts: tuple[int, int] = (0, 0)
        self.header: QWidget | None = None
        self.button: SectionHeader | None = None
        font: QFont
        if self.collapsible:
            self.button = SectionHeader()
            self.button.setObjectName(f"section:{self.label}")
            self.button.setCheckable(True)
            self.button.setAutoRaise(True)
            self.button.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            self.button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            self.button.setAccessibleName(self.label)
            font = QFont(self.button.font())
            font.setBold(True)
            self.button.setFont(font)
            self.button.toggled.connect(lambda on: self.set_collapsed(not on))
            self.header = self.button
        elif self.label:
            head = plain(self.label)
            font = QFont(head.font())
            font.setBold(True)
            head.setFont(font)
            self.header = head

    def set_collapsed(self, collapsed: bool) -> None:
        if not self.collapsible:
            return
        self.collapsed = collapsed
        self.body.setVisible(not collapsed)
        assert self.button is not None
        if self.button.isChecked() == collapsed:
            self.button.blockSignals(True)
            self.button.setChecked(not collapsed)
            self.button.blockSignals(False)
        self.update_header()

    def update_header(self) -> None:
        if self.button is None:
            return
        changed, errors = self.counts
        if self.collapsed:
            n = len(self.names)
            parts = [f"{n} field" + ("" if n == 1 else "s")]
            if changed:
                parts.append(f"{changed} changed")
            if errors:
                parts.append(f"{errors} to fix")
            self.button.setText(f"\u25b8 {self.label} ({', '.join(parts)})")
            self.button.setToolTip(f"Show the fields of “{self.label}”")
        else:
            self.button.setText(f"\u25be {self.label}")
            self.button.setToolTip(f"Hide the fields of “{self.label}”")


class RecordForm(QWidget):
    #: The form became dirty (True) or clean (False).
    dirty_changed = Signal(bool)
    save_requested = Signal()
    retry_requested = Signal()
    #: "Show value" was pressed next to a sensitive field (its name).
    reveal_requested = Signal(str)

    def __init__(self, ctx: EditorContext | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx or EditorContext()
        self.mdef: ModuleDef | None = None
        self.original: Record | None = None
        self.is_new = False
        self.rows: dict[str, FieldRow] = {}
        #: The form's sections, top to bottom.
        self.sections: list[SectionBlock] = []
        self._server_errors: dict[str, str] = {}
        self._dirty = False
        self._editable = True
        self._loading = False
        self._deps: list[PicklistDependency] = []

        self.title = plain()
        font = QFont(self.title.font())
        font.setPointSizeF(font.pointSizeF() * 1.35)
        font.setBold(True)
        self.title.setFont(font)
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.subtitle = plain()
        self.subtitle.setEnabled(False)
        #: Why the record is shown read-only / may not be deleted (its CRM access rules).
        self.access_note = plain()
        self.access_note.setObjectName("accessNote")
        self.access_note.setStyleSheet(_NOTE_STYLE)
        self.access_note.setWordWrap(True)
        self.access_note.hide()
        self.save_button = QPushButton("&Save")
        self.save_button.setToolTip("Save the changed fields (Ctrl+S)")
        self.save_button.clicked.connect(self.save_requested)
        self.revert_button = QPushButton("Re&vert")
        self.revert_button.setToolTip("Restore the values as loaded (Esc)")
        self.revert_button.clicked.connect(self.revert)

        self.message = QFrame()
        self.message.setObjectName("formMessage")
        self.message_text = plain()
        self.message_text.setWordWrap(True)
        self.message_text.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.retry_button = QPushButton("&Retry")
        self.retry_button.clicked.connect(self.retry_requested)
        row = QHBoxLayout(self.message)
        row.setContentsMargins(8, 4, 8, 4)
        row.addWidget(self.message_text, 1)
        row.addWidget(self.retry_button)
        self.message.hide()

        self.fields_area = QScrollArea()
        self.fields_area.setWidgetResizable(True)
        self.fields_area.setFrameShape(QFrame.Shape.NoFrame)

        head = QHBoxLayout()
        titles = QVBoxLayout()
        titles.setSpacing(0)
        titles.addWidget(self.title)
        titles.addWidget(self.subtitle)
        head.addLayout(titles, 1)
        head.addWidget(self.save_button, 0, Qt.AlignmentFlag.AlignTop)
        head.addWidget(self.revert_button, 0, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 4)
        layout.setSpacing(6)
        layout.addLayout(head)
        layout.addWidget(self.access_note)
        layout.addWidget(self.message)
        layout.addWidget(self.fields_area, 1)
        self._update_buttons()

    # -- loading -----------------------------------------------------------------------
    @property
    def record_id(self) -> str | None:
        return None if self.original is None or self.is_new else self.original.id

    def load(self, mdef: ModuleDef, record: Record, *, editable: bool = True) -> None:
        """Show ``record`` clean (nothing changed)."""
        self._build(mdef)
        self.is_new = False
        self._fill(record, editable=editable and _may_edit(record))
        self.title.setText(str(record.get(mdef.name_field) or record.id))
        self.subtitle.setText(mdef.label)

    def new(self, mdef: ModuleDef, defaults: Mapping[str, Value]) -> None:
        """An empty form (with the CRM's defaults) for a record not created yet."""
        self._build(mdef)
        self.is_new = True
        self._fill(Record(mdef.name, "", dict(defaults)), editable=True)
        self.title.setText(f"New {mdef.label} record")
        self.subtitle.setText("Not saved yet")
        self._refresh()

    def section_of(self, name: str) -> SectionBlock | None:
        """The section holding field ``name``."""
        for block in self.sections:
            if name in block.names:
                return block
        return None

    def editor(self, name: str) -> FieldEditor | None:
        row = self.rows.get(name)
        return row.editor if row else None

    def display_text(self, name: str) -> str:
        ed = self.editor(name)
        return ed.display_text() if ed else ""

    def set_dependencies(self, deps: Sequence[PicklistDependency]) -> None:
        """Dependent drop-downs: each target offers only what its source's value allows."""
        self._deps = [
            d
            for d in deps
            if isinstance(self.editor(d.source_field), EnumEditor)
            and isinstance(self.editor(d.target_field), EnumEditor)
        ]
        for dep in self._deps:
            self._apply_dependency(dep)

    def _apply_dependency(self, dep: PicklistDependency, *, by_user: bool = False) -> None:
        source, target = self.editor(dep.source_field), self.editor(dep.target_field)
        assert isinstance(source, EnumEditor)
        assert isinstance(target, EnumEditor)
        key = source.value()
        allowed = dep.mapping.get(str(key)) if key is not None else None
        was_loading, self._loading = self._loading, True
        try:
            target.restrict(
                None if allowed is None else frozenset(allowed), keep_loaded=not by_user
            )
        finally:
            self._loading = was_loading
        self._refresh()

    # -- state -------------------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        return self._dirty

    def dirty_fields(self) -> list[str]:
        if self.original is None:
            return []
        out = []
        for name, row in self.rows.items():
            if not row.active:
                continue
            try:
                value = row.editor.value()
            except ParseError:
                out.append(name)
                continue
            if not same_value(value, self.original.get(name)):
                out.append(name)
        return out

    def changes(self) -> dict[str, Value]:
        """The changed fields and their typed values (call :meth:`validate` first)."""
        out: dict[str, Value] = {}
        for name in self.dirty_fields():
            out[name] = self.rows[name].editor.value()
        return out

    def values_for_create(self) -> dict[str, Value]:
        out: dict[str, Value] = {}
        for name, row in self.rows.items():
            if not row.active:
                continue
            value = row.editor.value()
            if not is_empty(value):
                out[name] = value
        return out

    def validate(self) -> dict[str, str]:
        """Type, length and required checks; shows them and returns field → message."""
        problems: dict[str, str] = {}
        for name, row in self.rows.items():
            if not row.active:
                continue
            problem = row.editor.problem()
            if problem is None:
                problem = missing_required(row.fdef, row.editor.value())
            if problem:
                problems[name] = problem
        self._server_errors = {}
        self._refresh(problems)
        return problems

    # -- after a save ------------------------------------------------------------------
    def show_errors(self, fields: Mapping[str, str], message: str) -> None:
        """The server refused values: each message next to its field, the edit kept."""
        self._server_errors = {k: v for k, v in fields.items() if k in self.rows}
        others = [f"{k}: {v}" for k, v in fields.items() if k not in self.rows]
        text = " ".join([message, *others]).strip()
        self.show_message(text, retry=False)
        self._refresh()
        first = next(iter(self._server_errors), None)
        if first is not None:
            self.rows[first].editor.focus_widget().setFocus()

    def show_message(self, text: str, *, retry: bool, info: bool = False) -> None:
        self.message.setStyleSheet(_INFO_STYLE if info else _BANNER_STYLE)
        self.message_text.setText(text)
        self.retry_button.setVisible(retry)
        self.message.show()

    def clear_message(self) -> None:
        self.message.hide()
        self.message_text.clear()

    def set_busy(self, busy: bool, text: str = "Saving…") -> None:
        self.save_button.setEnabled(not busy and self._editable)
        self.save_button.setText(text if busy else "&Save")

    def revert(self) -> None:
        """Back to the values as loaded."""
        if self.original is None:
            return
        self._server_errors = {}
        self.clear_message()
        self._fill(self.original, editable=self._editable)
        if self.is_new:
            self._refresh()

    def rebase(self, current: Record, keep: Mapping[str, Value]) -> None:
        """The server's record becomes the base; ``keep`` (my choices) stays as edits."""
        assert self.mdef is not None
        self._fill(current, editable=self._editable)
        self._loading = True
        try:
            for name, value in keep.items():
                row = self.rows.get(name)
                if row is not None:
                    row.editor.set_value(value, current)
        finally:
            self._loading = False
        self.title.setText(str(current.get(self.mdef.name_field) or current.id))
        self._refresh()

    # -- internals ---------------------------------------------------------------------
    def _build(self, mdef: ModuleDef) -> None:
        if self.mdef is mdef and self.rows:
            return
        self.mdef = mdef
        self.rows = {}
        self.sections = []
        self._deps = []
        body = QWidget()
        outer = QVBoxLayout(body)
        outer.setContentsMargins(0, 0, 4, 0)
        outer.setSpacing(4)
        for section in form_sections(mdef):
            holder = QWidget()
            grid = QGridLayout(holder)
            grid.setContentsMargins(0, 0, 0, 0)
            block = SectionBlock(section, holder, grid)
            if block.header is not None:
                outer.addSpacing(4)
                outer.addWidget(block.header)
            grid.setHorizontalSpacing(8)
            grid.setVerticalSpacing(2)
            grid.setColumnStretch(1, 1)
            line = 0
            for name in section.fields:
                fdef = mdef.field(name)
                if fdef is None:
                    continue
                editor = create_editor(fdef, self.ctx)
                row = FieldRow(fdef, editor)
                row.label.setBuddy(editor.focus_widget())
                align = Qt.AlignmentFlag.AlignRight | (
                    Qt.AlignmentFlag.AlignTop if editor.tall else Qt.AlignmentFlag.AlignVCenter
                )
                grid.addWidget(row.label, line, 0, align)
                grid.addWidget(editor.widget, line, 1)
                if row.reveal is not None:
                    grid.addWidget(row.reveal, line, 2)
                    row.reveal.clicked.connect(
                        lambda _c=False, n=name: self.reveal_requested.emit(n)
                    )
                grid.addWidget(row.error, line + 1, 1)
                row.place(grid, line)
                line += 2
                editor.changed.connect(self._edited)
                self.rows[name] = row
            block.names = tuple(n for n in section.fields if n in self.rows)
            outer.addWidget(holder)
            block.set_collapsed(block.collapsible)
            self.sections.append(block)
        outer.addStretch(1)
        self.fields_area.setWidget(body)

    def _fill(self, record: Record, *, editable: bool) -> None:
        self.original = record
        self._editable = editable
        self._loading = True
        rules = record.field_access
        try:
            for name, row in self.rows.items():
                if rules is None:
                    row.set_access(True, True)
                else:
                    row.set_access(rules.may_read(name), rules.may_write(name))
                row.editor.load(record.get(name), record)
                if row.editor.editable:
                    row.editor.set_enabled(editable and row.locked is None)
        finally:
            self._loading = False
        self._note_access(record)
        self._server_errors = {}
        for dep in self._deps:
            self._apply_dependency(dep)
        self._refresh({})

    def _edited(self) -> None:
        if self._loading:
            return
        sender = self.sender()
        for name, row in self.rows.items():
            if row.editor is sender:
                self._server_errors.pop(name, None)
                for dep in self._deps:
                    if dep.source_field == name:
                        self._apply_dependency(dep, by_user=True)
        self._refresh()

    def _refresh(self, problems: Mapping[str, str] | None = None) -> None:
        """Recompute the dirty marks and live checks of every field."""
        dirty = set(self.dirty_fields())
        refused: set[str] = set()
        for name, row in self.rows.items():
            if problems is not None:
                error = problems.get(name)
            else:
                error = row.editor.problem() if row.active else None
            error = error or self._server_errors.get(name)
            row.mark(name in dirty, error)
            if error:
                refused.add(name)
        self._unfold(dirty, refused)
        now = bool(dirty) or self.is_new
        if now != self._dirty:
            self._dirty = now
            self.dirty_changed.emit(now)
        self._update_buttons()
        text = self.title.text()
        if text.startswith("* "):
            text = text[2:]
        self.title.setText(f"* {text}" if dirty else text)

    def _unfold(self, dirty: set[str], refused: set[str]) -> None:
        """A folded section that gains a changed or refused field opens: nothing the user
        must see is hidden.  (Folding it again by hand is the user's choice.)"""
        for block in self.sections:
            if not block.collapsible:
                continue
            changed = {n for n in block.names if n in dirty}
            errors = {n for n in block.names if n in refused}
            flagged = frozenset({(n, "changed") for n in changed} | {(n, "error") for n in errors})
            fresh = flagged - block.flagged
            block.flagged = flagged
            block.counts = (len(changed), len(errors))
            if fresh and block.collapsed:
                block.set_collapsed(False)
            else:
                block.update_header()

    def _note_access(self, record: Record) -> None:
        """The line under the title that says why the record is read-only / undeletable."""
        access = record.access
        if self.is_new or access is None:
            self.access_note.hide()
            return
        edit, delete = "edit" in access, "delete" in access
        if not edit and not delete:
            text = "You may not change or delete this record (the CRM's access rules); "
            text += "it is shown read-only."
        elif not edit:
            text = "You may not change this record (the CRM's access rules); it is shown read-only."
        elif not delete:
            text = "You may not delete this record (the CRM's access rules)."
        else:
            self.access_note.hide()
            return
        self.access_note.setText(text)
        self.access_note.show()

    def _update_buttons(self) -> None:
        self.save_button.setEnabled(self._editable and self._dirty)
        self.revert_button.setEnabled(self._dirty and not self.is_new)


def _may_edit(record: Record) -> bool:
    return record.access is None or "edit" in record.access
