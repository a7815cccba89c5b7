"""One connection's record views: list | record pane, with its own task runner.

Each open connection gets a :class:`Workspace`; the main window shows the current
one and switches between them.  A workspace keeps its state while hidden (the open
module, the record, an unsaved edit), so switching connections never asks about or
loses anything.  Keys of its task runner cannot clash with another connection's.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QSplitter, QVBoxLayout, QWidget

from crmdesk.core.backend import Backend
from crmdesk.core.records import Record
from crmdesk.core.schema import ModuleDef
from crmdesk.ui.browser import Browser
from crmdesk.ui.export_list import ListExporter
from crmdesk.ui.forms.cell_guard import CellEditGuard
from crmdesk.ui.forms.editors import EditorContext
from crmdesk.ui.forms.features import attach_record_features
from crmdesk.ui.forms.pane import RecordPane
from crmdesk.ui.models.modules import ModuleTreeModel
from crmdesk.ui.models.records import RecordTableModel
from crmdesk.ui.operations import ChangeKind, Operations, RecordChange
from crmdesk.ui.tasks import ErrorSink, TaskRunner
from crmdesk.ui.views.columns import ColumnChooser
from crmdesk.ui.views.detail import plain_label
from crmdesk.ui.views.error_banner import ErrorBanner
from crmdesk.ui.views.filter_bar import FilterBar, FilterController
from crmdesk.ui.views.record_table import RecordTableView
from crmdesk.ui.views.status import rows_text

TLS_OFF_TEXT = (
    "TLS certificate verification is off for this connection: anyone on the network path "
    "can read and change what crmdesk sends and receives. Turn it on in File → Connect…"
)


class TlsWarning(QFrame):
    """A strip that stays above the list of a connection whose TLS verification is off."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("tlsWarning")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet("TlsWarning { background: #fff4e5; border: 1px solid #f0b35a; }")
        self.message = plain_label(f"⚠ {TLS_OFF_TEXT}")
        self.message.setWordWrap(True)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.addWidget(self.message)


class Workspace(QWidget):
    """The record list and record pane of one connection."""

    #: The rows text for the status bar changed ("100 / 2,500 rows").
    rows_changed = Signal(str)
    #: A module was opened (its ModuleDef).
    module_opened = Signal(object)
    #: A line for the status bar.
    notice = Signal(str)

    def __init__(
        self,
        backend: Backend,
        *,
        page_size: int = 100,
        runner: TaskRunner | None = None,
        sink: ErrorSink | None = None,
        verify_tls: bool = True,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.backend = backend
        self.runner = runner or TaskRunner(parent=self)
        if sink is not None:
            self.runner.set_sink(sink)
        self.records = RecordTableModel(self.runner, page_size=page_size, parent=self)
        self.modules = ModuleTreeModel(self)
        self.browser = Browser(backend, self.runner, self.records, self.modules, self)
        self.table = RecordTableView(self.records)
        #: The list's columns as the user chose them (header menu, Choose Columns…).
        self.columns = ColumnChooser(self.table, self.browser, self)
        #: Asks before kept cell edits go with the rows (a sort, filter, refresh, another
        #: module, closing).
        self.cells = CellEditGuard(self.records, self, self.table.hide_edit_error)
        self.records.may_drop_rows = self.cells.confirm
        self.filter_bar = FilterBar()
        self.filters = FilterController(self.filter_bar, self.browser, self.records, self)
        self.banner = ErrorBanner()
        self.tls_warning = TlsWarning()
        self.tls_warning.setVisible(not verify_tls)
        self.ops = Operations(backend, self.runner, self)
        self.detail = RecordPane(self.ops, EditorContext())
        # Inline editing, the favorites star, sync refresh: only what this backend offers.
        self.features = attach_record_features(self.table, self.detail, self.ops)
        self.started = False
        self.exporter: ListExporter | None = None
        self._switching = False
        #: True while a change made in another view of this connection is applied.
        self._relayed = False
        self.splitter = self._assemble()
        self._wire()

    def _assemble(self) -> QSplitter:
        middle = QWidget()
        layout = QVBoxLayout(middle)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.filter_bar)
        layout.addWidget(self.banner)
        layout.addWidget(self.table)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(middle)
        splitter.addWidget(self.detail)
        splitter.setStretchFactor(0, 1)
        splitter.setSizes([690, 420])
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(2)
        outer.addWidget(self.tls_warning)
        outer.addWidget(splitter, 1)
        return splitter

    def _wire(self) -> None:
        b, r = self.browser, self.records
        self.table.record_selected.connect(self._select_record)
        self.ops.changed.connect(self._record_changed)
        self.detail.notice.connect(self.notice)
        self.columns.notice.connect(self.notice)
        b.module_opened.connect(self._module_opened)
        b.record_loaded.connect(self._record_loaded)
        b.definition_changed.connect(self._definition_changed)
        r.counts_changed.connect(self._update_rows)
        r.loading_changed.connect(lambda _on: self._update_rows())
        r.load_failed.connect(self.banner.show_error)
        r.modelReset.connect(self.banner.hide)
        self.banner.retry_requested.connect(self.retry)

    def start(self) -> None:
        """Load the module list (once)."""
        if not self.started:
            self.started = True
            self.browser.load_modules()

    # -- reactions -------------------------------------------------------------------
    def _module_opened(self, mdef: ModuleDef) -> None:
        self.table.reset_sort()
        self.detail.show_message(f"Select a record in {mdef.label} to see its details.")
        self.module_opened.emit(mdef)

    def _record_loaded(self, mdef: ModuleDef, record: Record) -> None:
        self.detail.show_record(mdef, record)

    def _definition_changed(self, mdef: ModuleDef) -> None:
        """The module's metadata was read again (a picklist edit): forms use the new one."""
        self.ops.remember(mdef)
        shown = self.detail.mdef
        record = self.browser.record
        if (
            shown is not None
            and shown.name == mdef.name
            and not self.detail.dirty
            and record is not None
            and self.detail.record_id == record.id
        ):
            self.detail.show_record(mdef, record, push=False)

    # -- selection -------------------------------------------------------------------
    def current_module(self) -> str | None:
        return self.browser.module.name if self.browser.module else None

    def select_module(self, name: str) -> bool:
        """Open ``name`` after the unsaved-changes prompt.

        False when the user cancelled, so the caller puts the tree selection back.
        """
        previous = self.current_module()
        if name != previous and not self.cells.confirm("Opening another module"):
            return False
        if self.detail.guard(lambda: self.browser.open_module(name)) or previous is None:
            return True
        # Not run: a save is under way (the module opens once it succeeds), or cancelled.
        return not self.detail.dirty

    def _select_record(self, record_id: str) -> None:
        if self._switching or record_id == self.detail.record_id:
            return
        if self.detail.guard(lambda: self.browser.open_record(record_id)):
            return
        shown = self.detail.record_id
        row = self.records.row_of(shown) if shown else -1
        self._quietly(
            lambda: self.table.selectRow(row) if row >= 0 else self.table.clearSelection()
        )

    def _quietly(self, change: Callable[[], object]) -> None:
        self._switching = True
        try:
            change()
        finally:
            self._switching = False

    # -- editing ---------------------------------------------------------------------
    def new_record(self) -> None:
        mdef = self.browser.module
        if mdef is None:
            self.notice.emit("Open a module first, then create a record in it.")
            return

        def start() -> None:
            self._quietly(self.table.clearSelection)
            self.detail.new_record(mdef)

        self.detail.guard(start)

    def export_list(self, path: Path | None = None) -> bool:
        """Export the shown list to CSV (asks where unless ``path``); False if not started."""
        if self.exporter is None:
            self.exporter = ListExporter(self.records, self.runner, self, self.notice.emit)
        mdef = self.browser.module
        return self.exporter.export(mdef.label if mdef is not None else "", path)

    def delete_record(self) -> None:
        """Delete the record selected in the list (or shown in the form), after confirming."""
        record_id = self.detail.record_id
        label = ""
        rows = {i.row() for i in self.table.selectionModel().selectedRows()}
        if len(rows) > 1:  # several rows: one confirmation naming the count
            self.features.mass.delete_selected()
            return
        if len(rows) == 1 and self.browser.module is not None:
            row = rows.pop()
            record_id = self.records.record_id(row)
            label = self.records.text(row, 0) if self.records.columnCount() else ""
        if record_id is None or self.browser.module is None:
            return
        self.detail.delete(self.browser.module.name, record_id, label)

    def _record_changed(self, change: RecordChange) -> None:
        mdef = self.browser.module
        if mdef is None or change.module != mdef.name:
            return
        if change.kind is ChangeKind.UPDATED and change.record is not None:
            self.records.update_record(change.record)
        elif change.kind is ChangeKind.DELETED:
            row = self.records.row_of(change.record_id)
            if self._relayed:  # deleted elsewhere: the row goes, the selection stays put
                self._quietly(lambda: self.records.remove_record(change.record_id))
                return
            self.records.remove_record(change.record_id)
            if row >= 0 and self.records.rowCount():
                self.table.selectRow(min(row, self.records.rowCount() - 1))
        elif (
            change.kind is ChangeKind.CREATED
            and change.record is not None
            and self.records.row_of(change.record_id) < 0
        ):
            row = self.records.insert_record(change.record)
            if self.detail.record_id == change.record_id:

                def select() -> None:
                    self.table.selectRow(row)
                    self.table.scrollTo(self.records.index(row, 0))

                self._quietly(select)

    def apply_change(self, change: RecordChange) -> None:
        """A change made in another view of this connection (another window): the list,
        the form and the related tabs take it as they take their own, except that the
        selection stays put and an unsaved edit of a record deleted elsewhere is kept
        (saving it then says the record is gone)."""
        self._relayed = True
        try:
            if (
                change.kind is ChangeKind.DELETED
                and change.record_id == self.detail.record_id
                and self.detail.dirty
            ):
                self._record_changed(change)  # the list only
            else:
                self.ops.announce(change)
        finally:
            self._relayed = False

    # -- status ----------------------------------------------------------------------
    def rows_text(self) -> str:
        r = self.records
        if self.browser.module is None:
            return ""
        text = rows_text(r.loaded, r.total, r.total_is_estimate, r.has_more)
        if self.browser.module.name in self.browser.filters:
            text += " (filtered)"
        return f"{text} (loading)" if r.loading else text

    def _update_rows(self) -> None:
        self.rows_changed.emit(self.rows_text())

    def retry(self) -> None:
        self.banner.hide()
        self.records.retry()

    def reload_definition(self, module: str) -> None:
        """Forget what is known about ``module`` and read it again where it is shown."""
        self.backend.forget_metadata(module)
        self.browser.redefine(module)
