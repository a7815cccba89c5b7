"""Picklists: every enum / multi-enum field's options, editing where the CRM allows it,
and picklist dependencies (source value → allowed target values)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from crmdesk.core.backend import Backend, PicklistDependency
from crmdesk.core.errors import Unsupported
from crmdesk.core.schema import FieldDef, FieldType, ModuleDef, Option
from crmdesk.ui.admin.common import (
    DialogPrompter,
    NoteLabel,
    Prompter,
    Runs,
    StatusLine,
    plain_label,
)
from crmdesk.ui.admin.inspector import filter_edit, make_table
from crmdesk.ui.admin.models import Column, RowFilterProxy, RowsModel
from crmdesk.ui.tasks import TaskRunner

PICKLIST_TYPES = frozenset({FieldType.ENUM, FieldType.MULTIENUM})

NO_ADMIN_NOTE = (
    "This CRM's API cannot change picklists. Add, rename or delete values in the CRM's own "
    "administration screens; the options shown here are read-only."
)
NO_DEPENDENCY_NOTE = "This CRM's API does not expose picklist dependencies."

PICKLIST_FIELD_COLUMNS: tuple[Column[FieldDef], ...] = (
    Column("Field", lambda f: f.name),
    Column("Label", lambda f: f.label),
    Column("Type", lambda f: f.type.value),
    Column("Values", lambda f: str(len(f.options)), sort=lambda f: len(f.options)),
    Column("Origin", lambda f: "custom" if f.custom else "standard"),
)
OPTION_COLUMNS: tuple[Column[Option], ...] = (
    Column("Key (sent to the CRM)", lambda o: o.key),
    Column("Label (shown)", lambda o: o.label),
)


def _labelled(fdef: FieldDef | None, key: str) -> str:
    """``Label [key]`` when the field gives a label that differs from the key."""
    label = fdef.option_label(key) if fdef is not None else key
    return key if label == key else f"{label} [{key}]"


def _dep_row_columns(
    dep: PicklistDependency, mdef: ModuleDef | None = None
) -> tuple[Column[tuple[str, tuple[str, ...]]], ...]:
    source = mdef.field(dep.source_field) if mdef is not None else None
    target = mdef.field(dep.target_field) if mdef is not None else None
    return (
        Column(f"{dep.source_field} value", lambda r: _labelled(source, r[0])),
        Column(
            f"Allowed {dep.target_field} values",
            lambda r: ", ".join(_labelled(target, k) for k in r[1]),
        ),
    )


class PicklistView(QWidget):
    """Per module: picklist fields, their options, edit actions and dependencies.

    Emits :attr:`picklist_changed` (module, field) after a successful edit so the
    main window can drop cached metadata and the forms pick the new options up.
    """

    picklist_changed = Signal(str, str)

    def __init__(
        self,
        backend: Backend,
        runner: TaskRunner | None = None,
        parent: QWidget | None = None,
        *,
        prompter: Prompter | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Picklists")
        self.backend = backend
        self.prompter: Prompter = prompter or DialogPrompter()
        self.status = StatusLine(self)
        self.runs = Runs(self, runner, self.status)
        self.module_def: ModuleDef | None = None
        caps = backend.capabilities

        self.module = QComboBox(self)
        self.module.setEditable(True)
        self.module.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.module.setMinimumContentsLength(20)
        top = QHBoxLayout()
        module_label = plain_label("&Module", self)
        module_label.setBuddy(self.module)
        module_label.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
        top.addWidget(module_label)
        top.addWidget(self.module, 1)

        self.field_model: RowsModel[FieldDef] = RowsModel(PICKLIST_FIELD_COLUMNS, self)
        self.field_proxy = RowFilterProxy(self)
        self.field_proxy.setSourceModel(self.field_model)
        self.field_filter = filter_edit(self, "Filter picklist fields", self.field_proxy)
        self.fields_view = make_table(self, self.field_proxy)
        left = QWidget(self)
        left_lay = QVBoxLayout(left)
        left_lay.setContentsMargins(0, 0, 0, 0)
        left_lay.addWidget(self.field_filter)
        left_lay.addWidget(self.fields_view, 1)

        self.option_model: RowsModel[Option] = RowsModel(OPTION_COLUMNS, self)
        self.option_proxy = RowFilterProxy(self)
        self.option_proxy.setSourceModel(self.option_model)
        self.options_view = make_table(self, self.option_proxy, sortable=False)
        self.options_title = plain_label("Choose a picklist field.", self)
        self.admin_note = NoteLabel("" if caps.picklist_admin else NO_ADMIN_NOTE, self)
        right = QWidget(self)
        right_lay = QVBoxLayout(right)
        right_lay.setContentsMargins(0, 0, 0, 0)
        right_lay.addWidget(self.options_title)
        right_lay.addWidget(self.options_view, 1)
        self.add_button: QPushButton | None = None
        self.rename_button: QPushButton | None = None
        self.delete_button: QPushButton | None = None
        if caps.picklist_admin:
            buttons = QHBoxLayout()
            self.add_button = QPushButton("&Add value…", self)
            self.rename_button = QPushButton("Re&name…", self)
            self.delete_button = QPushButton("&Delete…", self)
            for b in (self.add_button, self.rename_button, self.delete_button):
                buttons.addWidget(b)
            buttons.addStretch(1)
            right_lay.addLayout(buttons)
            self.add_button.clicked.connect(self.add_value)
            self.rename_button.clicked.connect(self.rename_value)
            self.delete_button.clicked.connect(self.delete_value)
        right_lay.addWidget(self.admin_note)

        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setSizes([420, 420])

        self.deps_box = QGroupBox("Picklist dependencies", self)
        deps_lay = QVBoxLayout(self.deps_box)
        self.deps_choice = QComboBox(self.deps_box)
        self.deps_note = NoteLabel("" if caps.picklist_dependencies else NO_DEPENDENCY_NOTE, self)
        self.deps_model: RowsModel[tuple[str, tuple[str, ...]]] = RowsModel(
            _dep_row_columns(PicklistDependency("source", "target")), self
        )
        self.deps_proxy = RowFilterProxy(self)
        self.deps_proxy.setSourceModel(self.deps_model)
        self.deps_view = make_table(self.deps_box, self.deps_proxy)
        deps_lay.addWidget(self.deps_note)
        deps_lay.addWidget(self.deps_choice)
        deps_lay.addWidget(self.deps_view, 1)
        self.deps_choice.setVisible(caps.picklist_dependencies)
        self.deps_view.setVisible(caps.picklist_dependencies)
        self.dependencies: list[PicklistDependency] = []

        outer = QSplitter(Qt.Orientation.Vertical, self)
        outer.addWidget(splitter)
        outer.addWidget(self.deps_box)
        outer.setSizes([400, 200] if caps.picklist_dependencies else [540, 60])
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(outer, 1)
        lay.addWidget(self.status)

        self.module.activated.connect(lambda _i: self.open_module(self.module.currentText()))
        line = self.module.lineEdit()
        if line is not None:
            line.returnPressed.connect(lambda: self.open_module(self.module.currentText()))
        self.fields_view.selectionModel().currentRowChanged.connect(self._field_changed)
        self.options_view.selectionModel().currentRowChanged.connect(self._update_buttons)
        self.deps_choice.currentIndexChanged.connect(self._show_dependency)
        self._update_buttons()

    # -- loading ---------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:
        """QWidget.showEvent: load the module list the first time the view is shown."""
        super().showEvent(event)
        if self.module.count() == 0 and not self.runs.running("load"):
            self.load()

    def load(self, module: str | None = None) -> None:
        self.runs.start("load", self._load(module), label="Loading modules")

    async def _load(self, module: str | None) -> None:
        modules = await self.backend.modules()
        self.module.clear()
        self.module.addItems(sorted(m.name for m in modules if m.entity))
        target = module or (self.module.itemText(0) if self.module.count() else "")
        if target:
            self.module.setCurrentText(target)
            await self._describe(target)

    def open_module(self, name: str) -> None:
        if name:
            self.runs.start("describe", self._describe(name), label=f"Picklists of {name}")

    async def _describe(self, name: str, keep_field: str | None = None) -> None:
        self.status.info(f"Loading the picklists of {name}…")
        mdef = await self.backend.describe(name)
        self.show_module(mdef, keep_field)
        if self.backend.capabilities.picklist_dependencies:
            try:
                deps = await self.backend.picklist_dependencies(name)
            except Unsupported as exc:
                self.deps_note.show_text(exc.message)
                deps = []
            self.show_dependencies(deps)
        n = self.field_model.rowCount()
        self.status.info(f"{name}: {n} picklist field{'s' if n != 1 else ''}.")

    def show_module(self, mdef: ModuleDef, keep_field: str | None = None) -> None:
        self.module_def = mdef
        picklists = [f for f in mdef.fields if f.type in PICKLIST_TYPES]
        self.field_model.set_rows(picklists)
        self.fields_view.resizeColumnsToContents()
        self.option_model.set_rows([])
        self.options_title.setText(
            "Choose a picklist field." if picklists else f"{mdef.name} has no picklist fields."
        )
        if keep_field is not None:
            self.select_field(keep_field)
        elif picklists:
            self.fields_view.setCurrentIndex(self.field_proxy.index(0, 0))
        self._update_buttons()

    def show_dependencies(self, deps: list[PicklistDependency]) -> None:
        self.dependencies = deps
        self.deps_choice.blockSignals(True)
        self.deps_choice.clear()
        for dep in deps:
            self.deps_choice.addItem(f"{dep.source_field} → {dep.target_field}")
        self.deps_choice.blockSignals(False)
        if not deps:
            self.deps_model.set_rows([])
            self.deps_note.show_text(
                "No picklist dependencies in this module."
                if self.backend.capabilities.picklist_dependencies
                else NO_DEPENDENCY_NOTE
            )
        else:
            self.deps_note.show_text("")
            self._show_dependency(0)

    def _show_dependency(self, index: int) -> None:
        if not 0 <= index < len(self.dependencies):
            return
        dep = self.dependencies[index]
        model: RowsModel[tuple[str, tuple[str, ...]]] = RowsModel(
            _dep_row_columns(dep, self.module_def), self
        )
        model.set_rows([(k, tuple(v)) for k, v in dep.mapping.items()])
        old = self.deps_model
        self.deps_model = model
        self.deps_proxy.setSourceModel(model)
        old.deleteLater()
        self.deps_view.resizeColumnsToContents()

    def select_field(self, name: str) -> None:
        for row in range(self.field_proxy.rowCount()):
            idx = self.field_proxy.index(row, 0)
            if idx.data() == name:
                self.fields_view.setCurrentIndex(idx)
                return

    # -- selection -------------------------------------------------------------------
    def current_field(self) -> FieldDef | None:
        row = self.field_proxy.source_row_object(self.fields_view.currentIndex())
        return row if isinstance(row, FieldDef) else None

    def current_option(self) -> Option | None:
        row = self.option_proxy.source_row_object(self.options_view.currentIndex())
        return row if isinstance(row, Option) else None

    def select_option(self, key: str) -> None:
        for row in range(self.option_proxy.rowCount()):
            idx = self.option_proxy.index(row, 0)
            if idx.data() == key:
                self.options_view.setCurrentIndex(idx)
                return

    def _field_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        fdef = self.current_field()
        self.option_model.set_rows(list(fdef.options) if fdef else [])
        self.options_view.resizeColumnsToContents()
        if fdef is not None:
            self.options_title.setText(
                f"{fdef.label} ({fdef.name}), {fdef.type.value}: {len(fdef.options)} values"
            )
        self._update_buttons()

    def _admin_unavailable(self, reason: str) -> None:
        for button in (self.add_button, self.rename_button, self.delete_button):
            if button is not None:
                button.hide()
                button.deleteLater()
        self.add_button = self.rename_button = self.delete_button = None
        self.admin_note.show_text(f"{reason} {NO_ADMIN_NOTE}")

    def _update_buttons(self, *_: object) -> None:
        has_field = self.current_field() is not None
        has_option = self.current_option() is not None
        if self.add_button is not None:
            self.add_button.setEnabled(has_field)
        if self.rename_button is not None:
            self.rename_button.setEnabled(has_option)
        if self.delete_button is not None:
            self.delete_button.setEnabled(has_option)

    # -- edits -----------------------------------------------------------------------
    def add_value(self) -> None:
        fdef, mdef = self.current_field(), self.module_def
        if fdef is None or mdef is None:
            return
        value = self.prompter.ask_text(self, "Add value", f"New value for {fdef.label}:")
        value = (value or "").strip()
        if not value:
            return
        if any(o.key == value for o in fdef.options):
            self.status.info(f"{fdef.name} already has the value {value}.")
            return
        if not self.prompter.confirm(
            self, "Add value", f"Add the value {value} to {mdef.name}.{fdef.name} in the CRM?"
        ):
            return
        self._edit(
            mdef.name,
            fdef.name,
            lambda: self.backend.add_picklist_value(mdef.name, fdef.name, value),
            f"Added {value} to {fdef.name}.",
            value,
        )

    def rename_value(self) -> None:
        fdef, mdef, opt = self.current_field(), self.module_def, self.current_option()
        if fdef is None or mdef is None or opt is None:
            return
        new = self.prompter.ask_text(self, "Rename value", f"New name for {opt.key}:", opt.key)
        new = (new or "").strip()
        if not new or new == opt.key:
            return
        if not self.prompter.confirm(
            self,
            "Rename value",
            f"Rename {opt.key} to {new} in {mdef.name}.{fdef.name}? Records keep their "
            "value as the CRM handles renames.",
        ):
            return
        self._edit(
            mdef.name,
            fdef.name,
            lambda: self.backend.rename_picklist_value(mdef.name, fdef.name, opt.key, new),
            f"Renamed {opt.key} to {new}.",
            new,
        )

    def delete_value(self) -> None:
        fdef, mdef, opt = self.current_field(), self.module_def, self.current_option()
        if fdef is None or mdef is None or opt is None:
            return
        others = [o.key for o in fdef.options if o.key != opt.key]
        if not others:
            self.status.info(f"{opt.key} is the only value: there is nothing to replace it with.")
            return
        replacement = self.prompter.choose(
            self,
            "Delete value",
            f"Records holding {opt.key} get this value instead:",
            others,
        )
        if not replacement:
            return
        if not self.prompter.confirm(
            self,
            "Delete value",
            f"Delete {opt.key} from {mdef.name}.{fdef.name}? Records holding it are changed "
            f"to {replacement}. This cannot be undone.",
        ):
            return
        self._edit(
            mdef.name,
            fdef.name,
            lambda: self.backend.delete_picklist_value(mdef.name, fdef.name, opt.key, replacement),
            f"Deleted {opt.key}; records now hold {replacement}.",
            replacement,
        )

    def _edit(
        self,
        module: str,
        field_name: str,
        call: Callable[[], Awaitable[None]],
        done: str,
        select: str,
    ) -> None:
        async def run() -> None:
            self.status.info("Saving to the CRM…")
            try:
                await call()
            except Unsupported as exc:
                # The server turned out not to offer it: no more dead buttons on this view.
                self._admin_unavailable(exc.message)
                raise
            self.picklist_changed.emit(module, field_name)
            await self._describe(module, keep_field=field_name)
            self.select_option(select)
            self.status.info(done)

        self.runs.start("edit", run(), label="Changing a picklist")
