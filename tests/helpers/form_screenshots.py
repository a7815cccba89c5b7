"""Render the record features against the demo CRM and save PNGs (docs/form-*.png):
inline editing (an open cell editor, a failed save), favorites (Sugar), the Vtiger form
with tags and the hierarchy tab, the Convert Lead dialog.

QT_QPA_PLATFORM=offscreen .venv/bin/python tests/helpers/form_screenshots.py docs
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import qasync
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QSplitter, QStyledItemDelegate, QWidget

from crmdesk.backends import open_backend
from crmdesk.core.backend import Backend
from crmdesk.core.query import Query, SortKey
from crmdesk.core.records import Page, PageRequest
from crmdesk.demo.server import DemoServer
from crmdesk.ui.forms.editors import EditorContext, EnumEditor, LineEditor
from crmdesk.ui.forms.features import RecordFeatures
from crmdesk.ui.forms.pane import RecordPane
from crmdesk.ui.models.records import Loader, RecordTableModel
from crmdesk.ui.operations import Operations
from crmdesk.ui.tasks import TaskRunner
from crmdesk.ui.views.record_table import RecordTableView


async def until(check: Callable[[], bool], limit: float = 20) -> None:
    for _ in range(int(limit / 0.02)):
        if check():
            return
        await asyncio.sleep(0.02)
    raise TimeoutError("the screen never got there")


class Window(QSplitter):
    """Table | record pane, with the record features attached, as a workspace has them."""

    def __init__(self, backend: Backend, module: str) -> None:
        super().__init__(Qt.Orientation.Horizontal)
        self.runner = TaskRunner()
        self.ops = Operations(backend, self.runner)
        self.model = RecordTableModel(self.runner, page_size=40)
        self.table = RecordTableView(self.model)
        self.pane = RecordPane(self.ops, EditorContext())
        self.features = RecordFeatures(self.table, self.pane, self.ops)
        self.addWidget(self.table)
        self.addWidget(self.pane)
        self.setSizes([820, 480])
        self.resize(1300, 640)
        self.module = module
        self.backend = backend

    async def open(self) -> None:
        mdef = await self.ops.describe(self.module)
        columns = mdef.columns(6)
        names = (*(c.name for c in columns), "my_favorite")
        be, module = self.backend, self.module

        def make(sort: tuple[SortKey, ...]) -> Loader:
            async def load(request: PageRequest) -> Page:
                return await be.list_records(module, Query(sort=sort, fields=names), request)

            return load

        self.model.set_source(columns, make)
        await until(lambda: self.model.rowCount() > 0 and not self.model.loading)
        self.table.selectRow(0)
        await self.show_row(0)

    async def show_row(self, row: int) -> None:
        self.table.selectRow(row)
        mdef = await self.ops.describe(self.module)
        record = await self.backend.get(self.module, self.model.record_id(row))
        self.pane.show_record(mdef, record)
        await self.idle()

    async def idle(self) -> None:
        await until(lambda: not self.runner.busy())
        await asyncio.sleep(0.2)


def save(widget: QWidget, out: Path, name: str) -> None:
    widget.grab().save(str(out / f"form-{name}.png"))


async def shoot(demo: DemoServer, out: Path) -> None:
    # Inline editing (SuiteCRM): a cell editor open, then a save that failed.
    suite = open_backend(demo.profile("suitecrm"), demo.secrets("suitecrm"))
    await suite.connect()
    win = Window(suite, "Accounts")
    win.show()
    await win.open()
    model, table = win.model, win.table
    col = model.column_of("industry")
    index = model.index(2, col)
    table.setCurrentIndex(index)
    table.edit(index)
    await asyncio.sleep(0.2)
    editor = next(iter(win.features.inline.delegate._editors.values()))
    assert isinstance(editor, EnumEditor)
    table.horizontalScrollBar().setValue(0)
    await asyncio.sleep(0.3)
    save(win, out, "inline-edit")
    win.features.inline.delegate.closeEditor.emit(
        editor.widget, QStyledItemDelegate.EndEditHint.NoHint
    )
    await asyncio.sleep(0.1)
    demo.faults.inject(r"/module", "status:503", times=None, method="PATCH")
    city = model.index(1, model.column_of("billing_address_city"))
    table.setCurrentIndex(city)
    table.edit(city)
    await asyncio.sleep(0.1)
    line = next(iter(win.features.inline.delegate._editors.values()))
    assert isinstance(line, LineEditor)
    line.line.setText("Porto")
    win.features.inline.delegate._commit_and_close(line.widget)
    await win.idle()
    table.horizontalScrollBar().setValue(0)
    table.setCurrentIndex(model.index(4, 0))
    table.selectRow(4)
    await asyncio.sleep(0.2)
    save(win, out, "inline-failed")
    demo.faults.clear()
    win.close()
    await suite.close()

    # Favorites (SugarCRM): stars in the list and the form's toolbar.
    sugar = open_backend(demo.profile("sugarcrm"), demo.secrets("sugarcrm"))
    await sugar.connect()
    win = Window(sugar, "Accounts")
    win.show()
    await win.open()
    for row in (0, 3):
        await win.show_row(row)
        if not win.pane.is_favorite:
            win.pane.toggle_favorite()
            await win.idle()
    await win.show_row(3)
    save(win, out, "favorites")
    win.close()
    await sugar.close()

    # Vtiger (Cloud flavour): tags and the hierarchy tab; the Convert Lead dialog.
    vt = open_backend(demo.profile("vtiger", "rest"), demo.secrets("vtiger", "rest"))
    await vt.connect()
    parent = await vt.create("Accounts", {"accountname": "Northwind Holding"})
    child = await vt.create(
        "Accounts",
        {"accountname": "Northwind Iberia", "account_id": parent.id, "phone": "+351 21 555 0100"},
    )
    await vt.create("Accounts", {"accountname": "Northwind Benelux", "account_id": parent.id})
    await vt.add_tags("Accounts", child.id, ["key account", "renewal Q3", "<b>not bold</b>"])
    pane = RecordPane(Operations(vt, TaskRunner()), EditorContext())
    pane.resize(760, 900)
    pane.show()
    mdef = await vt.describe("Accounts")
    pane.show_record(mdef, await vt.get("Accounts", child.id))
    hierarchy = pane.related.hierarchy
    assert hierarchy is not None
    pane.related.setCurrentWidget(hierarchy)
    await until(lambda: not pane.ops.runner.busy())
    pane.splitter.setSizes([560, 320])
    await asyncio.sleep(0.3)
    save(pane, out, "vtiger-tags-hierarchy")

    lead = await vt.create(
        "Leads",
        {"firstname": "Ana", "lastname": "Sousa", "company": "Sousa & Filhos", "email": "ana@x.pt"},
    )
    pane.show_record(await vt.describe("Leads"), await vt.get("Leads", lead.id))
    await until(lambda: not pane.ops.runner.busy())
    pane.convert_lead()
    await until(lambda: pane.convert_dialog is not None)
    dialog = pane.convert_dialog
    assert dialog is not None
    deal = dialog.section("Potentials")
    assert deal is not None
    deal.box.setChecked(True)
    close = deal.editors["closingdate"]
    assert isinstance(close, LineEditor)
    close.line.setText((date.today() + timedelta(days=45)).isoformat())
    stage = deal.editors["sales_stage"]
    assert isinstance(stage, EnumEditor)
    stage.choose("Prospecting")
    await asyncio.sleep(0.3)
    save(dialog, out, "convert-lead")
    dialog.reject()
    pane.close()
    await vt.close()


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs")
    app = QApplication.instance() or QApplication(sys.argv)
    demo = DemoServer(Path(tempfile.mkdtemp()) / "demo.sqlite").start()
    try:
        loop = qasync.QEventLoop(app)
        asyncio.events._set_running_loop(loop)  # as tests/helpers/qasync_loop.py does
        task = loop.create_task(shoot(demo, out))
        while not task.done():
            app.processEvents()
            time.sleep(0.002)
        task.result()
    finally:
        asyncio.events._set_running_loop(None)
        demo.stop()


if __name__ == "__main__":
    main()
