"""The main window only assembles views: module tree | record table | record pane."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QMainWindow, QMessageBox, QSplitter, QVBoxLayout, QWidget

from crmdesk.core.backend import Backend
from crmdesk.core.records import Record
from crmdesk.core.schema import ModuleDef
from crmdesk.ui.actions import install_actions
from crmdesk.ui.browser import Browser
from crmdesk.ui.errors import ErrorPresenter
from crmdesk.ui.forms.editors import EditorContext
from crmdesk.ui.forms.pane import RecordPane
from crmdesk.ui.models.modules import ModuleTreeModel
from crmdesk.ui.models.records import RecordTableModel
from crmdesk.ui.operations import ChangeKind, Operations, RecordChange
from crmdesk.ui.tasks import TaskRunner
from crmdesk.ui.views.error_banner import ErrorBanner
from crmdesk.ui.views.module_tree import ModuleTree
from crmdesk.ui.views.record_table import RecordTableView
from crmdesk.ui.views.status import StatusPanel, rows_text


class MainWindow(QMainWindow):
    def __init__(
        self,
        backend: Backend,
        *,
        connection_name: str,
        page_size: int = 100,
        runner: TaskRunner | None = None,
    ) -> None:
        super().__init__()
        self.setWindowTitle(f"crmdesk — {connection_name}")
        self.status = StatusPanel(self)
        self.setStatusBar(self.status)
        self.errors = ErrorPresenter(self, self.status)
        self.runner = runner or TaskRunner(parent=self)
        self.runner.set_sink(self.errors)
        self.records = RecordTableModel(self.runner, page_size=page_size, parent=self)
        self.modules = ModuleTreeModel(self)
        self.browser = Browser(backend, self.runner, self.records, self.modules, self)

        self.module_tree = ModuleTree(self.modules)
        self.table = RecordTableView(self.records)
        self.banner = ErrorBanner()
        self.ops = Operations(backend, self.runner, self)
        self.detail = RecordPane(self.ops, EditorContext())
        self._switching = False
        self.splitter = self._assemble()
        self.actions_by_id = install_actions(self, self._handlers())
        self.status.set_connection(connection_name)
        self.status.cancel.clicked.connect(self.runner.cancel_all)
        self._wire()

    def sizeHint(self) -> QSize:
        """QWidget.sizeHint: roomy enough for eight columns and the detail pane."""
        return QSize(1280, 800)

    def start(self) -> None:
        self.browser.load_modules()

    def _assemble(self) -> QSplitter:
        middle = QWidget()
        layout = QVBoxLayout(middle)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.banner)
        layout.addWidget(self.table)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        for widget in (self.module_tree, middle, self.detail):
            splitter.addWidget(widget)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([170, 690, 420])
        self.setCentralWidget(splitter)
        self.resize(self.sizeHint())
        return splitter

    def _handlers(self) -> dict[str, Callable[[], object]]:
        return {
            "file.quit": self.close,
            "view.refresh": self.browser.refresh,
            "view.retry": self.records.retry,
            "view.cancel": self.runner.cancel_all,
            "go.find_module": self._find_module,
            "go.modules": self.module_tree.view.setFocus,
            "go.records": self.table.setFocus,
            "go.details": self.detail.setFocus,
            "go.back": self.detail.back,
            "go.forward": self.detail.forward,
            "record.new": self.new_record,
            "record.save": lambda: self.detail.save(),
            "record.revert": self.detail.discard_edits,
            "record.delete": self.delete_record,
            "help.about": self._about,
        }

    def _wire(self) -> None:
        b, r = self.browser, self.records
        self.module_tree.module_selected.connect(self._select_module)
        self.table.record_selected.connect(self._select_record)
        self.ops.changed.connect(self._record_changed)
        self.detail.notice.connect(lambda text: self.status.showMessage(text, 10_000))
        b.module_opened.connect(self._module_opened)
        b.record_loaded.connect(self._record_loaded)
        r.counts_changed.connect(self._update_rows)
        r.loading_changed.connect(lambda _on: self._update_rows())
        r.load_failed.connect(self.banner.show_error)
        r.modelReset.connect(self.banner.hide)
        self.banner.retry_requested.connect(self._retry)
        self.runner.busy_changed.connect(self.status.set_busy)

    # -- reactions -------------------------------------------------------------------
    def _module_opened(self, mdef: ModuleDef) -> None:
        self.table.reset_sort()
        self.status.set_module(mdef.label)
        self.detail.show_message(f"Select a record in {mdef.label} to see its details.")

    def _record_loaded(self, mdef: ModuleDef, record: Record) -> None:
        self.detail.show_record(mdef, record)

    # -- editing -----------------------------------------------------------------------
    def _select_module(self, name: str) -> None:
        if self._switching:
            return
        previous = self.browser.module.name if self.browser.module else None
        if self.detail.guard(lambda: self.browser.open_module(name)) or previous is None:
            return
        if not self.detail.dirty:
            return  # saving first: the module opens once the save succeeded
        self._switching = True  # cancelled: put the selection back, without asking again
        try:
            self.module_tree.select_module(previous)
        finally:
            self._switching = False

    def _select_record(self, record_id: str) -> None:
        if self._switching or record_id == self.detail.record_id:
            return
        if self.detail.guard(lambda: self.browser.open_record(record_id)):
            return
        shown = self.detail.record_id
        row = self.records.row_of(shown) if shown else -1
        self._switching = True
        try:
            if row >= 0:
                self.table.selectRow(row)
            else:
                self.table.clearSelection()
        finally:
            self._switching = False

    def new_record(self) -> None:
        mdef = self.browser.module
        if mdef is None:
            self.status.showMessage("Open a module first, then create a record in it.", 8000)
            return

        def start() -> None:
            self._switching = True
            try:
                self.table.clearSelection()
            finally:
                self._switching = False
            self.detail.new_record(mdef)

        self.detail.guard(start)

    def delete_record(self) -> None:
        """Delete the record selected in the list (or shown in the form), after confirming."""
        record_id = self.detail.record_id
        label = ""
        rows = {i.row() for i in self.table.selectionModel().selectedRows()}
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
                self._switching = True
                try:
                    self.table.selectRow(row)
                    self.table.scrollTo(self.records.index(row, 0))
                finally:
                    self._switching = False

    def _update_rows(self) -> None:
        r = self.records
        if self.browser.module is None:
            self.status.set_rows("")
            return
        text = rows_text(r.loaded, r.total, r.total_is_estimate, r.has_more)
        self.status.set_rows(f"{text} (loading)" if r.loading else text)

    def _retry(self) -> None:
        self.banner.hide()
        self.records.retry()

    def _find_module(self) -> None:
        self.module_tree.filter.setFocus()
        self.module_tree.filter.selectAll()

    def _about(self) -> None:
        QMessageBox.about(
            self, "About crmdesk", "crmdesk — a fast desktop browser for CRM records."
        )

    def _close_later(self) -> None:
        QTimer.singleShot(0, self.close)

    def closeEvent(self, event: QCloseEvent) -> None:
        """QWidget.closeEvent: ask about unsaved changes, then stop every load."""
        if self.detail.dirty and not self.detail.guard(lambda: None, after_save=self._close_later):
            event.ignore()  # cancelled, or a save is under way that closes when it lands
            return
        self.runner.cancel_all()
        super().closeEvent(event)
