"""The metadata inspector: modules, their fields, links and raw metadata."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from crmdesk.core.backend import Backend
from crmdesk.core.schema import FieldDef, LinkDef, ModuleDef, ModuleInfo
from crmdesk.ui.admin.common import (
    DialogPrompter,
    Prompter,
    Runs,
    StatusLine,
    off_thread,
    plain_label,
    pretty_json,
)
from crmdesk.ui.admin.export import field_definition_json, fields_to_csv
from crmdesk.ui.admin.jsonview import TextViewer
from crmdesk.ui.admin.models import (
    FIELD_COLUMNS,
    LINK_COLUMNS,
    MODULE_COLUMNS,
    RowFilterProxy,
    RowsModel,
)
from crmdesk.ui.tasks import TaskRunner


def make_table(parent: QWidget, proxy: RowFilterProxy, *, sortable: bool = True) -> QTableView:
    view = QTableView(parent)
    view.setModel(proxy)
    view.setSortingEnabled(sortable)
    # Start in the CRM's own order; a click on a header sorts.
    view.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
    proxy.sort(-1)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setAlternatingRowColors(True)
    view.setWordWrap(False)
    view.verticalHeader().setVisible(False)
    view.verticalHeader().setDefaultSectionSize(view.fontMetrics().height() + 8)
    view.horizontalHeader().setStretchLastSection(True)
    view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    view.setTabKeyNavigation(False)
    return view


def filter_edit(parent: QWidget, placeholder: str, proxy: RowFilterProxy) -> QLineEdit:
    edit = QLineEdit(parent)
    edit.setPlaceholderText(placeholder)
    edit.setClearButtonEnabled(True)
    edit.textChanged.connect(proxy.setFilterFixedString)
    return edit


class ModuleList(QWidget):
    """The connection's modules with a filter; emits the chosen module name."""

    module_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model: RowsModel[ModuleInfo] = RowsModel(MODULE_COLUMNS, self)
        self.proxy = RowFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.filter = filter_edit(self, "Filter modules", self.proxy)
        self.entities_only = QCheckBox("Entities only", self)
        self.entities_only.toggled.connect(self._entities_toggled)
        self.view = make_table(self, self.proxy)
        self.view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.count = plain_label("", self)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        top.addWidget(self.filter, 1)
        top.addWidget(self.entities_only)
        lay.addLayout(top)
        lay.addWidget(self.view, 1)
        lay.addWidget(self.count)
        self.view.selectionModel().currentRowChanged.connect(self._current_changed)
        self.proxy.rowsInserted.connect(self._update_count)
        self.proxy.rowsRemoved.connect(self._update_count)
        self.proxy.modelReset.connect(self._update_count)
        self.proxy.layoutChanged.connect(self._update_count)

    def set_modules(self, modules: list[ModuleInfo]) -> None:
        self.model.set_rows(modules)
        self.view.resizeColumnsToContents()
        self._update_count()

    def select(self, name: str) -> bool:
        for row in range(self.proxy.rowCount()):
            idx = self.proxy.index(row, 0)
            if idx.data() == name:
                self.view.selectionModel().setCurrentIndex(
                    idx,
                    QItemSelectionModel.SelectionFlag.ClearAndSelect
                    | QItemSelectionModel.SelectionFlag.Rows,
                )
                self.view.scrollTo(idx)
                return True
        return False

    def _entities_toggled(self, on: bool) -> None:
        self.proxy.set_predicate((lambda m: bool(m.entity)) if on else None)

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        info = self.proxy.source_row_object(current)
        if isinstance(info, ModuleInfo):
            self.module_chosen.emit(info.name)

    def _update_count(self) -> None:
        total = self.model.rowCount()
        shown = self.proxy.rowCount()
        custom = sum(1 for m in self.model.rows() if m.custom)
        extra = f", {custom} custom" if custom else ""
        self.count.setText(
            f"{shown} of {total} modules{extra}" if shown != total else f"{total} modules{extra}"
        )


class FieldTable(QWidget):
    """Sortable, filterable field table with copy-definition and CSV export."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model: RowsModel[FieldDef] = RowsModel(FIELD_COLUMNS, self)
        self.proxy = RowFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.filter = filter_edit(self, "Filter fields (any column)", self.proxy)
        self.custom_only = QCheckBox("Custom only", self)
        self.custom_only.toggled.connect(self._custom_toggled)
        self.copy_button = QPushButton("Copy definition", self)
        self.copy_button.setToolTip("Copy the selected field's definition as JSON (Ctrl+C)")
        self.export_button = QPushButton("Export CSV…", self)
        self.view = make_table(self, self.proxy)
        self.copy_action = QAction("Copy definition", self.view)
        self.copy_action.setShortcut(QKeySequence.StandardKey.Copy)
        self.copy_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.view.addAction(self.copy_action)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        top = QHBoxLayout()
        top.addWidget(self.filter, 1)
        top.addWidget(self.custom_only)
        top.addWidget(self.copy_button)
        top.addWidget(self.export_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(top)
        lay.addWidget(self.view, 1)

    def set_fields(self, fields: tuple[FieldDef, ...]) -> None:
        self.model.set_rows(fields)
        self.view.resizeColumnsToContents()
        for col in range(self.model.columnCount()):
            if self.view.columnWidth(col) > 260:
                self.view.setColumnWidth(col, 260)

    def current_field(self) -> FieldDef | None:
        row = self.proxy.source_row_object(self.view.currentIndex())
        return row if isinstance(row, FieldDef) else None

    def visible_names(self) -> list[str]:
        return [str(self.proxy.index(r, 0).data()) for r in range(self.proxy.rowCount())]

    def _custom_toggled(self, on: bool) -> None:
        self.proxy.set_predicate((lambda f: bool(f.custom)) if on else None)


class MetadataInspector(QWidget):
    """Tools → Metadata: every module, its fields, links and the raw metadata.

    ``open_module(name)`` jumps to a module.  Loads run on ``runner`` (one is made if
    none is given); errors land in the status line at the bottom.
    """

    def __init__(
        self,
        backend: Backend,
        runner: TaskRunner | None = None,
        parent: QWidget | None = None,
        *,
        prompter: Prompter | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Metadata")
        self.backend = backend
        self.prompter: Prompter = prompter or DialogPrompter()
        self.status = StatusLine(self)
        self.runs = Runs(self, runner, self.status)
        self.module_def: ModuleDef | None = None

        self.modules = ModuleList(self)
        self.title = plain_label("Choose a module.", self)
        font = self.title.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.2)
        self.title.setFont(font)
        self.summary = plain_label("", self, wrap=True)
        self.fields = FieldTable(self)
        self.link_model: RowsModel[LinkDef] = RowsModel(LINK_COLUMNS, self)
        self.link_proxy = RowFilterProxy(self)
        self.link_proxy.setSourceModel(self.link_model)
        links_page = QWidget(self)
        self.link_filter = filter_edit(links_page, "Filter links", self.link_proxy)
        self.links_view = make_table(links_page, self.link_proxy)
        links_lay = QVBoxLayout(links_page)
        links_lay.setContentsMargins(0, 0, 0, 0)
        links_lay.addWidget(self.link_filter)
        links_lay.addWidget(self.links_view, 1)
        self.raw = TextViewer(self, "Find in raw metadata (Ctrl+F)")

        self.tabs = QTabWidget(self)
        self.tabs.addTab(self.fields, "&Fields")
        self.tabs.addTab(links_page, "&Links")
        self.tabs.addTab(self.raw, "&Raw metadata")

        right = QWidget(self)
        right_lay = QVBoxLayout(right)
        right_lay.setContentsMargins(0, 0, 0, 0)
        right_lay.addWidget(self.title)
        right_lay.addWidget(self.summary)
        right_lay.addWidget(self.tabs, 1)

        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(self.modules)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 3)
        splitter.setSizes([300, 900])

        lay = QVBoxLayout(self)
        lay.addWidget(splitter, 1)
        lay.addWidget(self.status)

        self.modules.module_chosen.connect(self.open_module)
        self.fields.copy_button.clicked.connect(self.copy_current_field)
        self.fields.copy_action.triggered.connect(self.copy_current_field)
        self.fields.export_button.clicked.connect(self.export_csv_dialog)
        self.fields.view.selectionModel().currentRowChanged.connect(self._update_buttons)
        self._update_buttons()

    # -- loading ---------------------------------------------------------------------
    def reload(self) -> None:
        self.runs.start("load", self._load_modules(), label="Loading modules")

    def showEvent(self, event: QShowEvent) -> None:
        """QWidget.showEvent: load the module list the first time the view is shown."""
        super().showEvent(event)
        if self.modules.model.rowCount() == 0 and not self.runs.running("load"):
            self.reload()

    async def _load_modules(self) -> None:
        self.status.info("Loading modules…")
        modules = await self.backend.modules()
        self.modules.set_modules(modules)
        self.status.info(f"{len(modules)} modules.")

    def open_module(self, name: str) -> None:
        self.runs.start("describe", self._describe(name), label=f"Describing {name}")

    async def _describe(self, name: str) -> None:
        self.status.info(f"Loading the metadata of {name}…")
        mdef = await self.backend.describe(name)
        raw_text = await off_thread(pretty_json, dict(mdef.raw)) if mdef.raw else ""
        self.show_module(mdef, raw_text)
        self.status.info(f"{mdef.name}: {len(mdef.fields)} fields, {len(mdef.links)} links.")

    def show_module(self, mdef: ModuleDef, raw_text: str) -> None:
        self.module_def = mdef
        self.title.setText(f"{mdef.label} ({mdef.name})" if mdef.label != mdef.name else mdef.name)
        custom_fields = sum(1 for f in mdef.fields if f.custom)
        kind = "entity" if mdef.entity else "non-entity"
        origin = "custom module" if mdef.custom else "standard module"
        self.summary.setText(
            f"{kind}, {origin} · {len(mdef.fields)} fields ({custom_fields} custom) · "
            f"{len(mdef.links)} links · name field: {mdef.name_field}"
        )
        self.fields.set_fields(mdef.fields)
        self.link_model.set_rows(mdef.links)
        self.links_view.resizeColumnsToContents()
        self.raw.set_text(raw_text or "(this CRM sent no raw metadata for this module)")
        self._update_buttons()

    # -- actions ---------------------------------------------------------------------
    def _update_buttons(self, *_: object) -> None:
        self.fields.copy_button.setEnabled(self.fields.current_field() is not None)
        self.fields.copy_action.setEnabled(self.fields.current_field() is not None)
        self.fields.export_button.setEnabled(self.module_def is not None)

    def copy_current_field(self) -> str | None:
        fdef = self.fields.current_field()
        if fdef is None or self.module_def is None:
            return None
        text = field_definition_json(self.module_def, fdef)
        QGuiApplication.clipboard().setText(text)
        self.status.info(f"Copied the definition of {fdef.name}.")
        return text

    def export_csv_dialog(self) -> None:
        if self.module_def is None:
            return
        path = self.prompter.save_path(
            self, "Export field list", f"{self.module_def.name}-fields.csv", "CSV files (*.csv)"
        )
        if path:
            self.export_csv(Path(path))

    def export_csv(self, path: Path) -> None:
        if self.module_def is None:
            return
        self.runs.start("export", self._export(self.module_def, path), label="Exporting CSV")

    async def _export(self, mdef: ModuleDef, path: Path) -> None:
        text = fields_to_csv(mdef)
        try:
            await off_thread(_write_text, path, text)
        except OSError as exc:
            self.status.problem(f"Could not write {path}: {exc.strerror or exc}.")
            return
        self.status.info(f"Exported {len(mdef.fields)} fields to {path}.")


def _write_text(path: Path, text: str) -> None:
    """Write under a temporary name beside ``path``, then rename: a reader sees the old
    file or the whole new one, and a failed write leaves no half file."""
    part = path.with_name(f".{path.name}.part")
    try:
        part.write_text(text, encoding="utf-8", newline="")
        os.replace(part, path)
    except BaseException:
        with contextlib.suppress(OSError):
            part.unlink()
        raise
