"""The main window only assembles views: module tree | record table | detail pane."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QMainWindow, QMessageBox, QSplitter, QVBoxLayout, QWidget

from crmdesk.core.backend import Backend
from crmdesk.core.records import Record
from crmdesk.core.schema import ModuleDef
from crmdesk.ui.actions import install_actions
from crmdesk.ui.browser import Browser
from crmdesk.ui.errors import ErrorPresenter
from crmdesk.ui.models.modules import ModuleTreeModel
from crmdesk.ui.models.records import RecordTableModel
from crmdesk.ui.tasks import TaskRunner
from crmdesk.ui.views.detail import DetailPane
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
        self.detail = DetailPane()
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
        splitter.setSizes([170, 780, 330])
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
            "help.about": self._about,
        }

    def _wire(self) -> None:
        b, r = self.browser, self.records
        self.module_tree.module_selected.connect(b.open_module)
        self.table.record_selected.connect(b.open_record)
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

    def closeEvent(self, event: QCloseEvent) -> None:
        """QWidget.closeEvent: stop every load before the window goes."""
        self.runner.cancel_all()
        super().closeEvent(event)
