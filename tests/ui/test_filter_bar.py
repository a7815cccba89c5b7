"""The filter bar over the record list, against the demo CRM over loopback (SuiteCRM,
EspoCRM), plus the fake backend for what no demo dialect lacks (OR) and for an
``Unsupported`` answered by the server itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import pytest
from helpers.admin_util import collect_garbage
from helpers.demo_window import demo_window
from helpers.fake_backend import FakeBackend
from helpers.qasync_loop import AsyncDriver
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QCheckBox, QComboBox, QDateEdit, QLineEdit
from pytestqt.qtbot import QtBot

from crmdesk.core.backend import Capabilities
from crmdesk.core.errors import Unsupported
from crmdesk.core.query import Condition, Op, conditions
from crmdesk.demo.server import DemoServer
from crmdesk.ui.connections import Connection
from crmdesk.ui.filters.model import NOT_OFFERED, FilterSpec
from crmdesk.ui.main_window import MainWindow
from crmdesk.ui.views.filter_bar import MultiSelect
from crmdesk.ui.workspace import Workspace

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "does not support raise")

#: dialect → (Accounts module, its enum column, an option key of it)
DEMO = {
    "suitecrm": ("Accounts", "industry", "Banking"),
    "espocrm": ("Account", "type", "Customer"),
}


@pytest.fixture(autouse=True)
def _main_thread_gc() -> Iterator[None]:
    collect_garbage()
    yield
    collect_garbage()


@pytest.fixture
def window(
    qtbot: QtBot, aio: AsyncDriver, demo_server: DemoServer, tmp_path: Path
) -> Iterator[MainWindow]:
    with demo_window(qtbot, aio, demo_server, tmp_path) as win:
        yield win


async def _done(task: asyncio.Task[Any] | None) -> Any:
    assert task is not None
    return await task


def open_demo(win: MainWindow, aio: AsyncDriver, dialect: str) -> tuple[Connection, Workspace]:
    conn = aio.run(_done(win.open_demo(dialect)), timeout=30)
    assert isinstance(conn, Connection)
    return conn, win.workspaces[conn.id]


def open_module(win: MainWindow, aio: AsyncDriver, conn: Connection, name: str) -> Workspace:
    aio.wait_until(lambda: win.tree_model.module_index(conn.id, name).isValid(), timeout=20)
    assert win.module_tree.select_module(name, conn.id)
    ws = win.workspaces[conn.id]
    settle(aio, ws)
    return ws


def settle(aio: AsyncDriver, ws: Workspace) -> None:
    """Wait until the list has its first page (for the filter now set)."""
    aio.wait_until(lambda: ws.browser.module is not None, timeout=20)
    aio.wait_until(lambda: not ws.records.loading and ws.records.total is not None, timeout=20)


def column(ws: Workspace, field_name: str) -> list[str]:
    col = ws.records.column_of(field_name)
    assert col >= 0, field_name
    return [ws.records.text(r, col) for r in range(ws.records.rowCount())]


def apply_condition(ws: Workspace, aio: AsyncDriver, cond_field: str, op: Op) -> None:
    bar = ws.filter_bar
    bar.add_button.click()
    assert bar.builder.isVisible()
    bar.builder.select(cond_field, op)
    generation = ws.records.generation
    bar.builder.add.click()
    aio.wait_until(lambda: ws.records.generation != generation, timeout=5)
    settle(aio, ws)


#: dialect → (Accounts module, its name field) for the quick filter, in every dialect
QUICK = {
    "suitecrm": ("Accounts", "name"),
    "espocrm": ("Account", "name"),
    "sugarcrm": ("Accounts", "name"),
    "vtiger": ("Accounts", "accountname"),
}


@pytest.mark.parametrize("dialect", list(QUICK))
def test_quick_text_narrows_rows_and_count_and_clearing_restores(
    window: MainWindow, aio: AsyncDriver, qtbot: QtBot, dialect: str
) -> None:
    module, name = QUICK[dialect]
    conn, _ = open_demo(window, aio, dialect)
    ws = open_module(window, aio, conn, module)
    all_total = ws.records.total
    assert all_total is not None
    assert all_total > 1000
    before = window.status.rows.text()
    assert "filtered" not in before

    window.actions_by_id["go.filter"].trigger()
    assert ws.filter_bar.quick.hasFocus()
    generation = ws.records.generation
    QTest.keyClicks(ws.filter_bar.quick, "acme")
    # Debounced: nothing reloads while typing.
    assert ws.records.generation == generation
    aio.wait_until(lambda: ws.records.generation != generation, timeout=3)
    settle(aio, ws)
    names = column(ws, name)
    assert names
    assert all("acme" in n.casefold() for n in names)
    assert ws.records.total is not None
    assert ws.records.total < all_total
    assert ws.browser.filters[module] == Condition(name, Op.CONTAINS, "acme")
    status = window.status.rows.text()
    assert "(filtered)" in status
    assert f"{ws.records.total:,}" in status or f"{ws.records.loaded:,}" in status

    # Esc in the quick box clears it and shows every record again.
    ws.filter_bar.quick.setFocus()
    QTest.keyClick(ws.filter_bar.quick, Qt.Key.Key_Escape)
    assert ws.filter_bar.quick.text() == ""
    settle(aio, ws)
    aio.wait_until(lambda: ws.records.total == all_total, timeout=20)
    assert module not in ws.browser.filters
    assert "filtered" not in window.status.rows.text()


@pytest.mark.parametrize("dialect", list(DEMO))
def test_enum_condition_as_a_chip_and_clear(
    window: MainWindow, aio: AsyncDriver, dialect: str
) -> None:
    module, enum, key = DEMO[dialect]
    conn, _ = open_demo(window, aio, dialect)
    ws = open_module(window, aio, conn, module)
    all_total = ws.records.total
    mdef = ws.browser.module
    assert mdef is not None
    fdef = mdef.field(enum)
    assert fdef is not None
    label = fdef.option_label(key)

    bar = ws.filter_bar
    bar.add_button.click()
    bar.builder.select(enum, Op.EQ)
    editor = bar.builder.editor
    assert editor is not None
    combo = editor.focus_widget()
    assert isinstance(combo, QComboBox)  # an enum's value is chosen from its options
    assert combo.count() == len(fdef.options)
    combo.setCurrentIndex(combo.findData(key))
    generation = ws.records.generation
    bar.builder.add.click()
    aio.wait_until(lambda: ws.records.generation != generation, timeout=5)
    settle(aio, ws)
    assert not bar.builder.isVisible()
    assert [c.label.text() for c in bar.chips] == [f"{fdef.label} is {label}"]
    values = column(ws, enum)
    assert values
    assert set(values) == {label}
    assert ws.records.total is not None
    assert all_total is not None
    assert 0 < ws.records.total < all_total

    # Removing the chip shows every record again.
    generation = ws.records.generation
    bar.chips[0].remove.click()
    aio.wait_until(lambda: ws.records.generation != generation, timeout=5)
    settle(aio, ws)
    assert bar.chips == []
    assert ws.records.total == all_total
    # Quick text and a condition together, then Clear.
    apply_condition_value(ws, aio, enum, key)
    bar.quick.setText("a")
    bar.quick.returnPressed.emit()
    settle(aio, ws)
    flt = ws.browser.filters[module]
    assert {c.field for c in conditions(flt)} == {"name", enum}
    generation = ws.records.generation
    bar.clear_button.click()
    aio.wait_until(lambda: ws.records.generation != generation, timeout=5)
    settle(aio, ws)
    assert bar.quick.text() == ""
    assert bar.chips == []
    assert ws.records.total == all_total


def apply_condition_value(ws: Workspace, aio: AsyncDriver, enum: str, key: str) -> None:
    bar = ws.filter_bar
    bar.add_button.click()
    bar.builder.select(enum, Op.EQ)
    assert bar.builder.editor is not None
    combo = bar.builder.editor.focus_widget()
    assert isinstance(combo, QComboBox)
    combo.setCurrentIndex(combo.findData(key))
    generation = ws.records.generation
    bar.builder.add.click()
    aio.wait_until(lambda: ws.records.generation != generation, timeout=5)
    settle(aio, ws)


def test_in_is_disabled_on_suitecrm_and_offered_by_espocrm(
    window: MainWindow, aio: AsyncDriver
) -> None:
    suite, _ = open_demo(window, aio, "suitecrm")
    ws = open_module(window, aio, suite, "Accounts")
    builder = ws.filter_bar.builder
    ws.filter_bar.add_button.click()
    builder.select("industry")
    item = builder.op_item(Op.IN)
    assert item is not None
    assert not item.isEnabled()
    assert item.toolTip() == NOT_OFFERED
    assert NOT_OFFERED in item.text()
    with pytest.raises(ValueError, match="not offered"):
        builder.select("industry", Op.IN)
    # What SuiteCRM offers stays enabled.
    eq = builder.op_item(Op.EQ)
    assert eq is not None
    assert eq.isEnabled()
    # Operators make sense for the type: no "contains" on a picklist.
    assert builder.op_item(Op.CONTAINS) is None

    espo, _ = open_demo(window, aio, "espocrm")
    ws2 = open_module(window, aio, espo, "Account")
    ws2.filter_bar.add_button.click()
    ws2.filter_bar.builder.select("type", Op.IN)
    editor = ws2.filter_bar.builder.editor
    assert editor is not None
    multi = editor.focus_widget()
    assert isinstance(multi, MultiSelect)
    multi.set_checked({"Customer", "Partner"})
    generation = ws2.records.generation
    ws2.filter_bar.builder.add.click()
    aio.wait_until(lambda: ws2.records.generation != generation, timeout=5)
    settle(aio, ws2)
    assert set(column(ws2, "type")) == {"Customer", "Partner"}
    assert ws2.filter_bar.chips[0].label.text() == "Type is one of Customer, Partner"


def test_filters_are_per_module_and_survive_switching(window: MainWindow, aio: AsyncDriver) -> None:
    conn, _ = open_demo(window, aio, "espocrm")
    ws = open_module(window, aio, conn, "Account")
    ws.filter_bar.quick.setText("acme")
    ws.filter_bar.quick.returnPressed.emit()
    settle(aio, ws)
    filtered_total = ws.records.total
    assert filtered_total is not None
    assert filtered_total < 5000

    open_module(window, aio, conn, "Contact")
    assert ws.filter_bar.quick.text() == ""
    assert "filtered" not in window.status.rows.text()

    open_module(window, aio, conn, "Account")
    assert ws.filter_bar.quick.text() == "acme"
    assert ws.records.total == filtered_total
    assert all("acme" in n.casefold() for n in column(ws, "name"))
    assert "(filtered)" in window.status.rows.text()


def test_suitecrm_refusals_keep_the_previous_filter(window: MainWindow, aio: AsyncDriver) -> None:
    """SuiteCRM's adapter refuses two conditions of one kind on one field (its filter
    format cannot hold them), and the capability check refuses quick text AND (a OR b)
    (no groups in groups): each time the bar says why and the previous filter stays."""
    conn, _ = open_demo(window, aio, "suitecrm")
    ws = open_module(window, aio, conn, "Accounts")
    bar = ws.filter_bar
    apply_condition_value(ws, aio, "industry", "Banking")
    banking = ws.records.total
    assert set(column(ws, "industry")) == {"Banking"}
    assert not bar.message.isVisibleTo(bar)

    # Refused by the backend, answered as Unsupported while loading.
    apply_condition_value(ws, aio, "industry", "Energy")
    aio.wait_until(lambda: bar.message.isVisibleTo(bar), timeout=5)
    assert "two 'eq' conditions on industry" in bar.message.text()
    assert bar.message.text().endswith("The previous filter is back.")
    assert [c.label.text() for c in bar.chips] == ["Industry is Banking"]
    settle(aio, ws)
    assert ws.records.total == banking
    assert set(column(ws, "industry")) == {"Banking"}
    assert not ws.banner.isVisible()

    # Any of two conditions: OR is offered.
    assert bar.mode.isVisibleTo(bar)
    apply_condition_value(ws, aio, "account_type", "Customer")
    generation = ws.records.generation
    bar.mode.setCurrentIndex(bar.mode.findData("or"))
    aio.wait_until(lambda: ws.records.generation != generation, timeout=5)
    settle(aio, ws)
    rows = list(zip(column(ws, "industry"), column(ws, "account_type"), strict=True))
    assert rows
    assert all(ind == "Banking" or kind == "Customer" for ind, kind in rows)
    # More than the Banking accounts alone (SuiteCRM counts in pages: an estimate).
    assert ws.records.total is not None
    assert banking is not None
    assert ws.records.total > banking
    accepted = bar.spec
    any_total = ws.records.total

    # Refused before sending: SuiteCRM has no groups in groups.
    bar.quick.setText("a")
    bar.quick.returnPressed.emit()
    assert "cannot combine" in bar.message.text()
    assert "previous filter is back" in bar.message.text()
    assert bar.spec == accepted
    assert bar.quick.text() == ""
    assert ws.filters.spec_of("Accounts") == accepted
    assert ws.records.total == any_total


class _NoOrBackend(FakeBackend):
    capabilities: ClassVar[Capabilities] = replace(
        FakeBackend.capabilities, or_filters=False, nested_filters=False
    )


def test_or_switch_hidden_where_not_offered(qtbot: QtBot, aio: AsyncDriver) -> None:
    win = MainWindow(_NoOrBackend())
    qtbot.addWidget(win)
    win.show()
    win.start()
    ws = win.current
    assert ws is not None
    aio.wait_until(lambda: ws.modules.rowCount() > 0)
    ws.browser.open_module("Accounts")
    settle(aio, ws)
    assert not ws.filter_bar.mode.isVisibleTo(ws.filter_bar)
    aio.run(win.shutdown())


def test_unsupported_from_the_server_keeps_the_previous_filter(
    qtbot: QtBot, aio: AsyncDriver
) -> None:
    fake = FakeBackend()
    win = MainWindow(fake)
    qtbot.addWidget(win)
    win.show()
    win.start()
    ws = win.current
    assert ws is not None
    aio.wait_until(lambda: ws.modules.rowCount() > 0)
    ws.browser.open_module("Accounts")
    settle(aio, ws)
    bar = ws.filter_bar
    bar.quick.setText("Account 1")
    bar.quick.returnPressed.emit()
    settle(aio, ws)
    kept_total = ws.records.total
    kept = bar.spec
    assert ws.filters.spec_of("Accounts") == kept

    fake.fail_next = Unsupported("This CRM cannot filter on that.")
    generation = ws.records.generation
    bar.quick.setText("Account 2")
    bar.quick.returnPressed.emit()
    aio.wait_until(lambda: bar.message.isVisibleTo(bar), timeout=5)
    assert ws.records.generation != generation
    assert bar.message.text().startswith("This CRM cannot filter on that.")
    assert bar.message.text().endswith("The previous filter is back.")
    assert bar.quick.text() == "Account 1"
    settle(aio, ws)
    assert ws.records.total == kept_total
    assert ws.browser.filters["Accounts"] == Condition("name", Op.CONTAINS, "Account 1")
    assert not ws.banner.isVisible()
    aio.run(win.shutdown())


def test_spec_is_empty_by_default() -> None:
    assert FilterSpec().empty


def test_value_editors_by_type_and_keyboard(qtbot: QtBot, aio: AsyncDriver) -> None:
    fake = FakeBackend()
    win = MainWindow(fake)
    qtbot.addWidget(win)
    win.show()
    win.start()
    ws = win.current
    assert ws is not None
    aio.wait_until(lambda: ws.modules.rowCount() > 0)
    ws.browser.open_module("Accounts")
    settle(aio, ws)
    bar, builder = ws.filter_bar, ws.filter_bar.builder
    bar.open_builder()

    def widgets(field_name: str, op: Op) -> list[type]:
        builder.select(field_name, op)
        assert builder.editor is not None
        return [type(w) for w in builder.editor.widgets]

    assert widgets("is_partner", Op.EQ) == [QCheckBox]
    assert widgets("founded", Op.GT) == [QDateEdit]
    assert widgets("founded", Op.BETWEEN) == [QDateEdit, QDateEdit]
    assert widgets("industry", Op.EQ) == [QComboBox]
    assert widgets("industry", Op.NOT_IN) == [MultiSelect]
    assert widgets("billing_address_city", Op.IN) == [QLineEdit]  # a comma list
    assert widgets("email1", Op.EMPTY) == []

    # A number that is not one: the builder says so and adds nothing.
    builder.select("employees", Op.GTE)
    assert builder.editor is not None
    line = builder.editor.focus_widget()
    assert isinstance(line, QLineEdit)
    line.setFocus()
    QTest.keyClicks(line, "lots")
    QTest.keyClick(line, Qt.Key.Key_Return)
    assert builder.error.text() == "Employees takes a whole number."
    assert bar.chips == []
    # Enter in the value adds the condition.
    line.setText("5000")
    generation = ws.records.generation
    QTest.keyClick(line, Qt.Key.Key_Return)
    aio.wait_until(lambda: ws.records.generation != generation)
    settle(aio, ws)
    assert [c.label.text() for c in bar.chips] == ["Employees at least 5000"]
    assert ws.browser.filters["Accounts"] == Condition("employees", Op.GTE, 5000)
    assert not builder.isVisible()

    # Esc closes the builder (it does not reach the window's Esc).
    bar.open_builder()
    builder.fields.setFocus()
    QTest.keyClick(builder.fields, Qt.Key.Key_Escape)
    assert not builder.isVisible()
    assert bar.quick.hasFocus() or bar.quick.window().focusWidget() is bar.quick
    aio.run(win.shutdown())


def test_leaving_before_the_filtered_list_loads_keeps_bar_and_list_in_step(
    qtbot: QtBot, aio: AsyncDriver
) -> None:
    fake = FakeBackend()
    win = MainWindow(fake)
    qtbot.addWidget(win)
    win.show()
    win.start()
    ws = win.current
    assert ws is not None
    aio.wait_until(lambda: ws.modules.rowCount() > 0)
    ws.browser.open_module("Accounts")
    settle(aio, ws)
    fake.delay = 0.3
    ws.filter_bar.quick.setText("Account 1")
    ws.filter_bar.quick.returnPressed.emit()
    ws.browser.open_module("Contacts")  # before the filtered page came
    settle(aio, ws)
    assert ws.filter_bar.quick.text() == ""
    ws.browser.open_module("Accounts")
    assert ws.filter_bar.quick.text() == "Account 1"
    settle(aio, ws)
    assert all("account 1" in n.casefold() for n in column(ws, "name"))
    assert ws.filters.spec_of("Accounts").quick == "Account 1"
    aio.run(win.shutdown())
