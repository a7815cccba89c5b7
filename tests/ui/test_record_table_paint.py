"""The record table's fast cell painting: the same pixels as Qt's standard delegate,
without asking the model for display data per cell."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from helpers.fake_backend import ACCOUNTS, FakeBackend
from helpers.qasync_loop import AsyncDriver
from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPoint, Qt
from PySide6.QtGui import QImage, QRegion
from PySide6.QtWidgets import QStyledItemDelegate
from pytestqt.qtbot import QtBot

from crmdesk.core.query import Query, SortKey
from crmdesk.core.records import Page, PageRequest
from crmdesk.ui.models.records import Loader, RecordTableModel
from crmdesk.ui.tasks import TaskRunner
from crmdesk.ui.views.record_table import RecordCellDelegate, RecordTableView

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


class CountingModel(RecordTableModel):
    """Counts the display-role requests a paint makes."""

    display_calls = 0

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            self.display_calls += 1
        return super().data(index, role)


@pytest.fixture
def table(
    runner: TaskRunner, fake: FakeBackend, aio: AsyncDriver, qtbot: QtBot
) -> Iterator[RecordTableView]:
    model = CountingModel(runner, page_size=100)

    def make(sort: tuple[SortKey, ...]) -> Loader:
        async def load(req: PageRequest) -> Page:
            return await fake.list_records("Accounts", Query(sort=sort), req)

        return load

    view = RecordTableView(model)
    qtbot.addWidget(view)
    view.resize(900, 500)
    view.show()
    model.set_source(ACCOUNTS.columns(), make)
    aio.wait_until(lambda: model.rowCount() == 100 and not model.loading)
    view.horizontalHeader().resizeSection(0, 70)  # the names no longer fit: elided
    yield view
    runner.cancel_all()


def paint(view: RecordTableView) -> QImage:
    view.viewport().repaint()
    return view.viewport().grab().toImage()


def test_plain_cells_look_exactly_like_the_standard_delegate(table: RecordTableView) -> None:
    model = table.record_model
    assert isinstance(table.itemDelegate(), RecordCellDelegate)
    assert any(c.type.name in {"CURRENCY", "INT", "DECIMAL"} for c in model.columns)
    table.selectionModel().clearCurrentIndex()  # no focus frame: every cell is plain
    model.display_calls = 0  # type: ignore[attr-defined]
    fast = paint(table)
    assert model.display_calls == 0  # type: ignore[attr-defined]

    standard = QStyledItemDelegate(table)
    table.setItemDelegate(standard)
    slow = paint(table)
    assert model.display_calls > 100  # type: ignore[attr-defined]
    assert fast == slow


def test_selected_rows_and_the_current_cell_look_standard_too(table: RecordTableView) -> None:
    table.setFocus()
    table.selectRow(2)
    fast = paint(table)
    table.setItemDelegate(QStyledItemDelegate(table))
    assert paint(table) == fast


def standard(view: RecordTableView) -> QImage:
    """The same view painted by Qt's standard path (a plain QStyledItemDelegate)."""
    fast = view.itemDelegate()
    view.setItemDelegate(QStyledItemDelegate(view))
    try:
        return paint(view)
    finally:
        view.setItemDelegate(fast)


def test_the_view_paints_plain_cells_itself_without_the_delegate(table: RecordTableView) -> None:
    """No per-cell trip into Python: the delegate is not asked for a single plain cell."""
    table.selectionModel().clearCurrentIndex()
    delegate = table.itemDelegate()
    assert isinstance(delegate, RecordCellDelegate)
    asked: list[int] = []
    original = delegate.paint
    delegate.paint = lambda p, o, i: (asked.append(i.row()), original(p, o, i))  # type: ignore[method-assign]
    try:
        paint(table)
        assert asked == []
        table.selectRow(3)
        paint(table)
        assert set(asked) == {3}  # only the selected row went the standard way
    finally:
        del delegate.paint  # type: ignore[method-assign]


def test_scrolled_moved_and_hidden_columns_look_standard(table: RecordTableView) -> None:
    table.selectionModel().clearCurrentIndex()
    header = table.horizontalHeader()
    header.moveSection(1, 3)
    table.setColumnHidden(2, True)
    table.horizontalScrollBar().setValue(table.horizontalScrollBar().maximum() // 2 + 7)
    table.verticalScrollBar().setValue(5)
    assert paint(table) == standard(table)


def test_a_disabled_table_and_a_partial_update_look_standard(table: RecordTableView) -> None:
    table.selectionModel().clearCurrentIndex()
    table.setEnabled(False)
    assert paint(table) == standard(table)
    table.setEnabled(True)
    # A paint of part of the viewport (one cell's worth, straddling two rows and columns).
    rect = table.visualRect(table.model().index(4, 1)).adjusted(5, 9, 25, 9)

    def part() -> QImage:
        image = QImage(table.viewport().size(), QImage.Format.Format_ARGB32)
        image.fill(0)
        table.viewport().render(image, QPoint(), QRegion(rect))
        return image

    fast = part()
    assert fast != QImage(fast.size(), fast.format())  # something was painted
    table.setItemDelegate(QStyledItemDelegate(table))
    assert part() == fast
