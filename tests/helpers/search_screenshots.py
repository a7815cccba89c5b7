"""Render the filter bar (two conditions) and quick open (with results) against the demo
CRM and save docs/filter-bar.png and docs/quick-open.png.

QT_QPA_PLATFORM=offscreen .venv/bin/python tests/helpers/search_screenshots.py docs
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import qasync
from PySide6.QtCore import QPoint
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QApplication, QComboBox

from crmdesk.core.query import Op
from crmdesk.demo.server import DemoServer
from crmdesk.ui.connections import Connection
from crmdesk.ui.main_window import MainWindow
from crmdesk.ui.views.filter_bar import MultiSelect
from crmdesk.ui.workspace import Workspace


async def until(check: Callable[[], bool], limit: float = 30) -> None:
    for _ in range(int(limit / 0.02)):
        if check():
            return
        await asyncio.sleep(0.02)
    raise TimeoutError("the screen never got there")


async def add_condition(ws: Workspace, field: str, op: Op, keys: set[str]) -> None:
    bar = ws.filter_bar
    bar.add_button.click()
    bar.builder.select(field, op)
    editor = bar.builder.editor
    assert editor is not None
    widget = editor.focus_widget()
    if isinstance(widget, MultiSelect):
        widget.set_checked(keys)
    elif isinstance(widget, QComboBox):
        widget.setCurrentIndex(widget.findData(next(iter(keys))))
    generation = ws.records.generation
    bar.builder.add.click()
    await until(lambda: ws.records.generation != generation)
    await until(lambda: not ws.records.loading and ws.records.rowCount() > 0)


async def shoot(out: Path, server: DemoServer) -> None:
    win = MainWindow(demo=server)
    win.resize(1280, 760)
    win.show()
    win.start()
    task = win.open_demo("espocrm")
    assert task is not None
    conn = await task
    assert isinstance(conn, Connection)
    ws = win.workspaces[conn.id]
    await until(lambda: win.tree_model.module_index(conn.id, "Account").isValid())
    win.module_tree.select_module("Account", conn.id)
    await until(lambda: ws.records.rowCount() > 0 and not ws.records.loading)

    ws.filter_bar.quick.setText("a")
    ws.filter_bar.quick.returnPressed.emit()
    await until(lambda: not ws.records.loading and ws.records.rowCount() > 0)
    await add_condition(ws, "type", Op.IN, {"Customer", "Partner"})
    await add_condition(ws, "billingAddressCountry", Op.NOT_EMPTY, set())
    ws.table.selectRow(0)
    await until(lambda: ws.detail.record_id == ws.records.record_id(0))
    # The builder open on a third condition, its operator list showing what is offered.
    ws.filter_bar.open_builder()
    ws.filter_bar.builder.select("name")
    await asyncio.sleep(0.4)
    win.grab().save(str(out / "filter-bar.png"), "PNG")
    ws.filter_bar.close_builder()

    dlg = win.open_quick_open()
    assert dlg is not None
    dlg.box.setText("Acme Bank")
    await until(lambda: bool(dlg.refs))
    dlg.move_selection(1)
    await asyncio.sleep(0.4)
    shot = win.grab()
    painter = QPainter(shot)
    at = dlg.pos() - win.pos()
    painter.drawPixmap(QPoint(at.x(), max(at.y(), 40)), dlg.grab())
    painter.end()
    shot.save(str(out / "quick-open.png"), "PNG")
    dlg.close()
    await win.shutdown()
    win.deleteLater()


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs")
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication([])
    loop = qasync.QEventLoop(app)
    with tempfile.TemporaryDirectory() as tmp:
        server = DemoServer(Path(tmp) / "demo.sqlite").start()
        try:
            loop.run_until_complete(shoot(out, server))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
