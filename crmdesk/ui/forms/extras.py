"""Record-form extras some CRMs offer: tags, an account hierarchy tree, lead
conversion, attachments saved to disk.  Each widget talks to the core Backend
only (``tags`` / ``add_tags`` / ``remove_tag``, ``hierarchy``, ``convert_lead``,
``fetch_file``); the pane shows it where ``capabilities`` say so.  Server text is
plain text everywhere (labels, chips, tree items)."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from crmdesk.core.backend import Backend, HierarchyEntry
from crmdesk.core.records import Record, Value
from crmdesk.core.schema import FieldDef, FieldType, ModuleDef
from crmdesk.ui.errors import describe
from crmdesk.ui.format import plain_tip
from crmdesk.ui.forms.editors import EditorContext, FieldEditor, create_editor, plain
from crmdesk.ui.forms.values import ParseError, is_empty, missing_required
from crmdesk.ui.operations import Operations

_CHIP_STYLE = (
    "QToolButton#tag { background: #e8f1fb; border: 1px solid #b5d0ee; border-radius: 9px;"
    " padding: 1px 8px; }"
)


# -- tags ----------------------------------------------------------------------------------
class TagsBar(QWidget):
    """The record's tags as chips ("name ×" removes it) and a line to add more
    (Enter; several separated by commas)."""

    def __init__(self, ops: Operations, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ops = ops
        self.record: Record | None = None
        self.tags: tuple[str, ...] = ()
        self.setStyleSheet(_CHIP_STYLE)
        self.caption = plain("Tags:")
        self.caption.setEnabled(False)
        self.chips = QHBoxLayout()
        self.chips.setSpacing(4)
        self.entry = QLineEdit()
        self.entry.setPlaceholderText("Add a tag…")
        self.entry.setMaximumWidth(180)
        self.entry.returnPressed.connect(self.add_typed)
        self.message = plain()
        self.message.setEnabled(False)
        row = QHBoxLayout(self)
        row.setContentsMargins(10, 0, 10, 0)
        row.setSpacing(6)
        row.addWidget(self.caption)
        row.addLayout(self.chips)
        row.addWidget(self.entry)
        row.addWidget(self.message, 1)
        self.chip_buttons: dict[str, QToolButton] = {}

    def set_record(self, record: Record | None) -> None:
        self.record = record
        self._show(())
        self.message.clear()
        if record is not None:
            self.reload()

    def reload(self) -> None:
        record = self.record
        if record is None:
            return
        backend = self.ops.backend
        self.ops.start(
            f"tags:{record.id}",
            backend.tags(record.module, record.id),
            success=lambda tags: self._loaded(record.id, tags),
            failure=self._failed("Tags not loaded"),
            label="Loading tags",
        )

    def _loaded(self, record_id: str, tags: tuple[str, ...]) -> None:
        if self.record is not None and self.record.id == record_id:
            self._show(tags)

    def _show(self, tags: Sequence[str]) -> None:
        self.tags = tuple(tags)
        for button in self.chip_buttons.values():
            self.chips.removeWidget(button)
            button.deleteLater()
        self.chip_buttons = {}
        for tag in self.tags:
            chip = QToolButton()
            chip.setObjectName("tag")
            chip.setText(f"{tag}  \u00d7")  # QToolButton text is never rich text
            chip.setToolTip(f"Remove the tag “{tag}”")
            chip.clicked.connect(lambda _c=False, t=tag: self.remove(t))
            self.chips.addWidget(chip)
            self.chip_buttons[tag] = chip

    def add_typed(self) -> None:
        names = [t.strip() for t in self.entry.text().split(",")]
        self.add([t for t in dict.fromkeys(names) if t and t not in self.tags])

    def add(self, names: Sequence[str]) -> None:
        record = self.record
        if record is None or not names:
            return
        self.entry.setEnabled(False)

        def done(_r: None) -> None:
            self.entry.clear()
            self.entry.setEnabled(True)
            self.message.clear()
            self.reload()

        def failed(exc: BaseException) -> None:
            self.entry.setEnabled(True)  # the typed text stays for another try
            self._failed("Tags not added")(exc)

        self.ops.start(
            f"tags-add:{record.id}",
            self.ops.backend.add_tags(record.module, record.id, list(names)),
            success=done,
            failure=failed,
            label="Adding tags",
        )

    def remove(self, tag: str) -> None:
        record = self.record
        if record is None:
            return
        self.ops.start(
            f"tags-remove:{record.id}:{tag}",
            self.ops.backend.remove_tag(record.module, record.id, tag),
            success=lambda _r: self._show([t for t in self.tags if t != tag]),
            failure=self._failed("Tag not removed"),
            label="Removing a tag",
        )

    def _failed(self, what: str) -> Callable[[BaseException], None]:
        def report(exc: BaseException) -> None:
            _t, message, _advice = describe(exc)
            self.message.setText(f"{what}: {message}")

        return report


# -- account hierarchy -----------------------------------------------------------------------
class HierarchyTab(QWidget):
    """The parent / child tree of an account; the shown record in bold; double-click opens."""

    open_requested = Signal(str, str)

    def __init__(self, ops: Operations, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ops = ops
        self.record: Record | None = None
        self.loaded_for: str | None = None
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Account", "Level"])
        self.tree.setColumnWidth(0, 320)
        self.tree.itemActivated.connect(self._open)
        self.message = plain()
        self.message.setEnabled(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.message)

    def set_record(self, record: Record) -> None:
        self.record = record
        self.loaded_for = None
        self.tree.clear()

    def load(self, force: bool = False) -> None:
        record = self.record
        if record is None or (self.loaded_for == record.id and not force):
            return
        self.loaded_for = record.id
        self.message.setText("Loading…")
        self.ops.start(
            f"hierarchy:{record.id}",
            self.ops.backend.hierarchy(record.module, record.id),
            success=lambda entries: self.show_entries(record.module, entries),
            failure=self._failed,
            label="Loading the hierarchy",
        )

    def show_entries(self, module: str, entries: Sequence[HierarchyEntry]) -> None:
        self.tree.clear()
        parents: list[QTreeWidgetItem] = []
        current: QTreeWidgetItem | None = None
        for entry in entries:
            item = QTreeWidgetItem([entry.name or entry.id, str(entry.level)])
            item.setData(0, Qt.ItemDataRole.UserRole, (module, entry.id))
            item.setToolTip(0, plain_tip(entry.label or entry.name))
            level = max(0, min(entry.level, len(parents)))
            del parents[level:]
            if parents:
                parents[-1].addChild(item)
            else:
                self.tree.addTopLevelItem(item)
            parents.append(item)
            if entry.current:
                font = item.font(0)
                font.setBold(True)
                item.setFont(0, font)
                current = item
        self.tree.expandAll()
        if current is not None:
            self.tree.setCurrentItem(current)
        n = len(entries)
        self.message.setText(f"{n} account{'s' if n != 1 else ''} in this hierarchy")

    def _failed(self, exc: BaseException) -> None:
        _t, message, advice = describe(exc)
        self.message.setText(f"Hierarchy not loaded: {message} {advice}".strip())

    def _open(self, item: QTreeWidgetItem, _column: int) -> None:
        data = item.data(0, Qt.ItemDataRole.UserRole)
        if isinstance(data, tuple) and self.record is not None and data[1] != self.record.id:
            self.open_requested.emit(data[0], data[1])


# -- lead conversion -------------------------------------------------------------------------
#: Target modules of a conversion, by the names CRMs use, and what the lead carries over.
CONVERT_TARGETS: tuple[tuple[tuple[str, ...], Mapping[str, tuple[str, ...]]], ...] = (
    (
        ("Contacts", "Contact"),
        {
            "lastname": ("lastname", "last_name"),
            "last_name": ("last_name", "lastname"),
            "lastName": ("lastName",),
            "firstname": ("firstname", "first_name"),
            "first_name": ("first_name", "firstname"),
            "firstName": ("firstName",),
            "email": ("email", "email1"),
            "emailAddress": ("emailAddress",),
        },
    ),
    (
        ("Accounts", "Account"),
        {
            "accountname": ("company", "account_name"),
            "name": ("company", "account_name", "accountName"),
        },
    ),
    (
        ("Potentials", "Opportunities", "Opportunity"),
        {
            "potentialname": ("company", "account_name", "lastname"),
            "name": ("company", "account_name", "accountName", "last_name", "lastName"),
            "amount": ("opportunityAmount",),
        },
    ),
)
#: Filled in by the conversion itself (owner, links between the new records).
_SKIP = frozenset({"assigned_user_id", "account_id", "related_to", "contact_id"})


def singular(label: str) -> str:
    """ "Opportunities" → "Opportunity", "Contacts" → "Contact" (module labels are plural)."""
    if label.endswith("ies"):
        return label[:-3] + "y"
    if label.endswith("s") and not label.endswith("ss"):
        return label[:-1]
    return label


class ConvertSection:
    """One target of the conversion: a checkable box with the target's required fields."""

    def __init__(self, mdef: ModuleDef, lead: Record, ctx: EditorContext, checked: bool) -> None:
        self.mdef = mdef
        self.box = QGroupBox(f"New {singular(mdef.label or mdef.name)}")
        self.box.setCheckable(True)
        self.box.setChecked(checked)
        self.editors: dict[str, FieldEditor] = {}
        self.errors: dict[str, QLabel] = {}
        grid = QGridLayout(self.box)
        grid.setColumnStretch(1, 1)
        carry = next((c for names, c in CONVERT_TARGETS if mdef.name in names), {})
        line = 0
        for fdef in self.required_fields():
            editor = create_editor(fdef, ctx)
            start: Value = fdef.default if isinstance(fdef.default, str) else None
            for source in carry.get(fdef.name, ()):
                if not is_empty(lead.get(source)):
                    start = lead.get(source)
                    break
            editor.load(None)
            if not is_empty(start):
                with contextlib.suppress(ParseError, ValueError):
                    editor.set_value(start)
            label = plain(f"{fdef.label} *")
            label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            error = plain()
            error.setStyleSheet("color: #c01c28;")
            error.hide()
            grid.addWidget(label, line, 0)
            grid.addWidget(editor.widget, line, 1)
            grid.addWidget(error, line + 1, 1)
            line += 2
            self.editors[fdef.name] = editor
            self.errors[fdef.name] = error

    def required_fields(self) -> list[FieldDef]:
        return [
            f
            for f in self.mdef.fields
            if f.required and not f.read_only and f.visible and f.name not in _SKIP
            and f.type is not FieldType.ID
        ]  # fmt: skip

    def values(self) -> tuple[dict[str, Value], dict[str, str]]:
        """(values, problems) of the section's fields."""
        values: dict[str, Value] = {}
        problems: dict[str, str] = {}
        for name, editor in self.editors.items():
            problem = editor.problem()
            value: Value = None
            if problem is None:
                value = editor.value()
                problem = missing_required(editor.fdef, value)
            if problem:
                problems[name] = problem
            elif not is_empty(value):
                values[name] = value
        for name, error in self.errors.items():
            text = problems.get(name, "")
            error.setVisible(bool(text))
            error.setText(text)
        return values, problems


class ConvertLeadDialog(QDialog):
    """Choose what the lead becomes (contact, account, deal) and fill their required
    fields; Convert runs ``Backend.convert_lead`` and reports the new records' ids."""

    converted = Signal(object)  # dict[str, str]: module → new record id

    def __init__(
        self,
        ops: Operations,
        lead: Record,
        targets: Sequence[ModuleDef],
        ctx: EditorContext,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.ops = ops
        self.lead = lead
        self.setWindowTitle("Convert Lead")
        names = ("firstname", "first_name", "firstName", "lastname", "last_name", "lastName")
        parts = (lead.get(n) for n in names)
        name = " ".join(str(p) for p in parts if p)
        intro = plain(
            f"Convert “{name or lead.id}” into new records. The lead is marked as converted."
        )
        intro.setWordWrap(True)
        self.sections = [ConvertSection(m, lead, ctx, checked=i < 2) for i, m in enumerate(targets)]
        self.message = plain()
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #c01c28;")
        self.message.hide()
        self.buttons = QDialogButtonBox()
        self.convert_button = self.buttons.addButton(
            "Convert", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.convert)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        for section in self.sections:
            layout.addWidget(section.box)
        layout.addWidget(self.message)
        layout.addStretch(1)
        layout.addWidget(self.buttons)
        self.resize(480, 420)
        self.result_ids: dict[str, str] = {}

    def section(self, module: str) -> ConvertSection | None:
        return next((s for s in self.sections if s.mdef.name == module), None)

    def targets(self) -> tuple[dict[str, dict[str, Value]], bool]:
        chosen: dict[str, dict[str, Value]] = {}
        ok = True
        for section in self.sections:
            if not section.box.isChecked():
                continue
            values, problems = section.values()
            ok = ok and not problems
            chosen[section.mdef.name] = values
        return chosen, ok

    def convert(self) -> None:
        chosen, ok = self.targets()
        if not chosen:
            self._say("Choose at least one record to create.")
            return
        if not ok:
            self._say("Fill in the marked fields.")
            return
        self.convert_button.setEnabled(False)
        self.message.hide()

        def done(ids: dict[str, str]) -> None:
            self.result_ids = ids
            self.converted.emit(ids)
            self.accept()

        def failed(exc: BaseException) -> None:
            self.convert_button.setEnabled(True)
            _t, message, advice = describe(exc)
            self._say(f"Not converted: {message} {advice}".strip())

        self.ops.start(
            f"convert:{self.lead.id}",
            self.ops.backend.convert_lead(self.lead.id, chosen),
            success=done,
            failure=failed,
            label="Converting the lead",
        )

    def _say(self, text: str) -> None:
        self.message.setText(text)
        self.message.show()


async def convert_targets(ops: Operations) -> list[ModuleDef]:
    """The modules a lead converts into, as this CRM names them."""
    present = {m.name for m in await ops.backend.modules()}
    out: list[ModuleDef] = []
    for names, _carry in CONVERT_TARGETS:
        name = next((n for n in names if n in present), None)
        if name is not None:
            out.append(await ops.describe(name))
    return out


def rank(module: str) -> int:
    """A module's place in a conversion's result: contact, account, deal, then others."""
    return next((i for i, (names, _c) in enumerate(CONVERT_TARGETS) if module in names), 99)


def is_lead_module(module: str) -> bool:
    return module in ("Leads", "Lead")


def lead_converted(record: Record) -> bool:
    """The lead's status says Converted (Vtiger's ``leadstatus``, elsewhere ``status``)."""
    return any(str(record.get(n) or "") == "Converted" for n in ("leadstatus", "status"))


# -- attachments -----------------------------------------------------------------------------
_ID_LIKE = re.compile(r"^\d+x\d+$")
_FILE_TYPES = frozenset({"image", "file", "attachment"})


def attachment_ids(mdef: ModuleDef, record: Record) -> list[str]:
    """Ids of the record's images / attachments, from fields that hold them."""
    out: list[str] = []
    for fdef in mdef.fields:
        holds = fdef.native_type in _FILE_TYPES or fdef.name.endswith("attachmentids")
        value = record.get(fdef.name)
        if not holds or not isinstance(value, str):
            continue
        for part in re.split(r"[,;\s]+", value):
            if _ID_LIKE.match(part) and part not in out:
                out.append(part)
    return out


def _safe_name(name: str, fallback: str) -> str:
    cleaned = re.sub(r"[^\w.\- ]+", "_", Path(name).name).strip(" .")
    return cleaned or fallback


async def save_attachments(backend: Backend, ids: Sequence[str], directory: Path) -> list[Path]:
    """Download each attachment and write it into ``directory`` (never overwriting)."""
    saved: list[Path] = []
    for rid in ids:
        data = await backend.fetch_file(rid)
        name = _safe_name(data.filename, rid.replace("x", "-"))
        target = directory / name
        n = 1
        while target.exists():
            target = directory / f"{Path(name).stem} ({n}){Path(name).suffix}"
            n += 1
        await asyncio.to_thread(target.write_bytes, data.content)
        saved.append(target)
    return saved
