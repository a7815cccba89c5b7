"""The column chooser of the record list, over the demo CRM (SuiteCRM and Vtiger, whose list
queries differ: a ``fields[Accounts]`` parameter vs. a ``SELECT … FROM Accounts``).

Each test drives a MainWindow on the demo with its own config directory; what the list
asks the server for is read off the real requests (an httpx request hook on the
connection's client), what it shows off the model and the header.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote_plus

import httpx
import pytest
from helpers.admin_util import collect_garbage
from helpers.demo_window import demo_window
from helpers.qasync_loop import AsyncDriver
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMenu
from pytestqt.qtbot import QtBot

from crmdesk.core.query import Condition, Op
from crmdesk.demo.server import DemoServer
from crmdesk.storage.list_layout import FILENAME
from crmdesk.ui.connections import Connection
from crmdesk.ui.forms.editors import LineEditor
from crmdesk.ui.main_window import MainWindow
from crmdesk.ui.views.columns import PENDING_EDIT_TEXT, ColumnDialog
from crmdesk.ui.workspace import Workspace
from ui.test_filter_bar import open_demo, open_module, settle

pytestmark = pytest.mark.qt_log_ignore(
    "propagateSizeHints", "does not support raise", "does not support grabbing"
)

SHOTS = Path("/tmp/columns")

#: dialect → (module, a field not shown by default, a shown one to drop, the name column)
DEMO = {
    "suitecrm": ("Accounts", "phone_fax", "billing_address_country", "name"),
    "vtiger": ("Accounts", "industry", "otherphone", "accountname"),
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


class Sent:
    """The list requests a connection sends (URLs, decoded), from its real httpx client."""

    def __init__(self, conn: Connection, module: str) -> None:
        self.module = module.casefold()
        self.urls: list[str] = []

        async def hook(request: httpx.Request) -> None:
            self.urls.append(unquote_plus(str(request.url)))

        client = conn.backend.transport.client  # type: ignore[attr-defined]
        client.event_hooks["request"].append(hook)

    def lists(self) -> list[str]:
        """List queries: SuiteCRM's fields[Module]=…, Vtiger's SELECT … FROM Module."""
        return [
            u
            for u in self.urls
            if (f"fields[{self.module}]" in u.casefold())
            or (
                "select " in u.casefold()
                and f"from {self.module}" in u.casefold()
                and "count(*)" not in u.casefold()
            )
        ]

    def clear(self) -> None:
        self.urls.clear()

    def asks_for(self, field_name: str) -> bool:
        """Did the last list request name ``field_name``?  Vtiger's adapter selects ``*``
        and cuts each row down to the query's fields, so there the request only has to go
        out: the column's values arriving prove the query asked for it."""
        lists = self.lists()
        assert lists, "no list request went out"
        if "select * from" in lists[-1].casefold():
            return True
        return field_name in lists[-1]


def start(win: MainWindow, aio: AsyncDriver, dialect: str) -> tuple[Connection, Workspace]:
    module = DEMO[dialect][0]
    conn, _ = open_demo(win, aio, dialect)
    return conn, open_module(win, aio, conn, module)


def header_menu(ws: Workspace, column: int = 0) -> QMenu:
    """Right-click on the header over ``column``: the menu the chooser pops up."""
    header = ws.table.horizontalHeader()
    pos = QPoint(header.sectionViewportPosition(column) + 5, header.height() // 2)
    event = QContextMenuEvent(
        QContextMenuEvent.Reason.Mouse, pos, header.viewport().mapToGlobal(pos)
    )
    QApplication.sendEvent(header.viewport(), event)
    menu = ws.columns.menu
    assert menu is not None
    assert menu.isVisible()
    return menu


def field_actions(menu: QMenu) -> dict[str, object]:
    return {a.data(): a for a in menu.actions() if a.isCheckable()}


def toggle(ws: Workspace, aio: AsyncDriver, field_name: str) -> None:
    menu = header_menu(ws)
    action = next(a for a in menu.actions() if a.isCheckable() and a.data() == field_name)
    generation = ws.records.generation
    action.trigger()
    menu.close()
    aio.wait_until(lambda: ws.records.generation != generation, timeout=5)
    settle(aio, ws)


def names(ws: Workspace) -> tuple[str, ...]:
    return tuple(f.name for f in ws.records.columns)


def values(ws: Workspace, field_name: str) -> list[str]:
    col = ws.records.column_of(field_name)
    assert col >= 0, field_name
    return [ws.records.text(r, col) for r in range(ws.records.rowCount())]


def stored(tmp_path: Path) -> dict[str, object]:
    data = json.loads((tmp_path / "config" / FILENAME).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize("dialect", list(DEMO))
def test_header_menu_adds_and_removes_columns_and_the_query_follows(
    window: MainWindow, aio: AsyncDriver, tmp_path: Path, dialect: str
) -> None:
    module, extra, drop, _name = DEMO[dialect]
    conn, ws = start(window, aio, dialect)
    crm = names(ws)
    assert extra not in crm
    assert drop in crm
    sent = Sent(conn, module)

    # The menu: shown columns first, in their order and checked; then the rest by label.
    menu = header_menu(ws)
    fields = [a for a in menu.actions() if a.isCheckable()]
    assert [a.data() for a in fields[: len(crm)]] == list(crm)
    assert all(a.isChecked() for a in fields[: len(crm)])
    rest = fields[len(crm) :]
    assert rest
    assert not any(a.isChecked() for a in rest)
    labels = [a.text().replace("&&", "&").casefold() for a in rest]
    assert labels == sorted(labels)
    mdef = ws.browser.module
    assert mdef is not None
    assert all((f := mdef.field(str(a.data()))) is not None and f.visible for a in rest)
    assert "id" not in {a.data() for a in fields}  # no internal ids
    texts = [a.text() for a in menu.actions() if not a.isCheckable() and not a.isSeparator()]
    assert texts == ["Choose Columns\u2026", "Reset to the CRM's Columns"]
    menu.close()

    toggle(ws, aio, extra)
    assert names(ws) == (*crm, extra)
    assert any(values(ws, extra)), "the new column shows the server's values"
    assert sent.asks_for(extra)
    assert ws.table.horizontalHeader().isSectionHidden(len(crm)) is False
    # Remembered under the demo connection's profile name.
    layout = stored(tmp_path)["layouts"][conn.name][module]  # type: ignore[index]
    assert layout["fields"] == [*crm, extra]

    sent.clear()
    toggle(ws, aio, drop)
    assert drop not in names(ws)
    assert names(ws) == (*(n for n in crm if n != drop), extra)
    assert sent.asks_for(extra)
    assert drop not in sent.lists()[-1]
    assert ws.records.column_of(drop) < 0


def test_relate_column_asks_for_its_display_name(window: MainWindow, aio: AsyncDriver) -> None:
    conn, ws = start(window, aio, "suitecrm")
    mdef = ws.browser.module
    assert mdef is not None
    fdef = mdef.field("modified_user_id")
    assert fdef is not None
    assert fdef.relate_name_field
    sent = Sent(conn, "Accounts")
    toggle(ws, aio, "modified_user_id")
    assert fdef.relate_name_field in sent.lists()[-1]
    shown = values(ws, "modified_user_id")
    assert any(shown)
    assert not any(len(v) == 36 and v.count("-") == 4 for v in shown), "names, not ids"


@pytest.mark.parametrize("dialect", list(DEMO))
def test_filter_and_sort_are_kept_and_a_sort_on_a_dropped_column_goes(
    window: MainWindow, aio: AsyncDriver, qtbot: QtBot, dialect: str
) -> None:
    module, extra, _drop, name = DEMO[dialect]
    conn, ws = start(window, aio, dialect)
    flt = Condition(name, Op.CONTAINS, "acme")
    generation = ws.records.generation
    ws.browser.set_filter(module, flt)
    aio.wait_until(lambda: ws.records.generation != generation, timeout=5)
    settle(aio, ws)
    filtered = ws.records.total
    header = ws.table.horizontalHeader()
    # Sort by the name column, descending, with the header as a user does.
    generation = ws.records.generation
    header.setSortIndicator(0, Qt.SortOrder.DescendingOrder)
    aio.wait_until(lambda: ws.records.generation != generation, timeout=5)
    settle(aio, ws)
    assert ws.records.sort_keys[0].field == name
    assert ws.records.sort_keys[0].descending
    before = values(ws, name)
    # Put the new column first (dialog order): the sorted column moves to index 1.
    sent = Sent(conn, module)
    assert ws.columns.apply((extra, *names(ws)))
    settle(aio, ws)
    assert ws.browser.filters[module] == flt
    assert ws.records.total == filtered
    assert ws.records.sort_keys[0].field == name
    assert ws.records.sort_keys[0].descending
    assert values(ws, name) == before
    assert all("acme" in v.casefold() for v in before)
    assert header.sortIndicatorSection() == ws.records.column_of(name) == 1
    assert header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder
    assert "acme" in sent.lists()[-1].casefold()
    assert sent.asks_for(extra)
    assert any(values(ws, extra))

    # Dropping the sorted column drops the sort (the filter stays).
    generation = ws.records.generation
    assert ws.columns.remove(name)
    aio.wait_until(lambda: ws.records.generation != generation, timeout=5)
    settle(aio, ws)
    assert ws.records.sort_keys == ()
    assert header.sortIndicatorSection() == -1
    assert ws.browser.filters[module] == flt
    assert ws.records.total == filtered


def test_dialog_filters_toggles_with_space_and_moves_with_alt_arrows(
    window: MainWindow, aio: AsyncDriver, qtbot: QtBot, tmp_path: Path
) -> None:
    conn, ws = start(window, aio, "suitecrm")
    crm = names(ws)
    ws.table.setFocus()
    QTest.keyClick(
        ws.table,
        Qt.Key.Key_C,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    dialog = ws.columns.dialog
    assert isinstance(dialog, ColumnDialog)
    qtbot.waitExposed(dialog)
    assert dialog.chosen() == crm
    assert dialog.names()[: len(crm)] == list(crm)

    # Find "Fax" by typing, go down into the list, Space checks it.
    QTest.keyClicks(dialog.filter, "fax")
    visible = [n for i, n in enumerate(dialog.names()) if not dialog.list.isRowHidden(i)]
    assert visible == ["phone_fax"]
    QTest.keyClick(dialog.filter, Qt.Key.Key_Down)
    assert dialog.focusWidget() is dialog.list
    QTest.keyClick(dialog.list, Qt.Key.Key_Space)
    assert "phone_fax" in dialog.chosen()
    dialog.filter.clear()
    # Move it up to be the second column with Alt+Up, once per column it passes.
    dialog.list.setCurrentRow(dialog.names().index("phone_fax"))
    dialog.list.setFocus()
    for _ in range(dialog.names().index("phone_fax") - 1):
        QTest.keyClick(dialog.list, Qt.Key.Key_Up, Qt.KeyboardModifier.AltModifier)
    assert dialog.names()[:2] == ["name", "phone_fax"]
    # And the date column to the end with Move Down; then uncheck the country with Space.
    dialog.list.setCurrentRow(dialog.names().index("date_entered"))
    before = dialog.chosen()
    dialog.down.click()
    assert dialog.chosen() == before  # past an unchecked field: the columns' order holds
    dialog.list.setCurrentRow(dialog.names().index("billing_address_country"))
    QTest.keyClick(dialog.list, Qt.Key.Key_Space)
    wanted = ("name", "phone_fax", *[n for n in crm[1:] if n != "billing_address_country"])
    assert dialog.chosen() == wanted
    SHOTS.mkdir(exist_ok=True)
    dialog.grab().save(str(SHOTS / "dialog.png"))

    sent = Sent(conn, "Accounts")
    generation = ws.records.generation
    dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()
    aio.wait_until(lambda: ws.records.generation != generation, timeout=5)
    settle(aio, ws)
    assert names(ws) == wanted
    assert "phone_fax" in sent.lists()[-1]
    assert "billing_address_country" not in sent.lists()[-1]

    # A new order alone: the sections move, nothing loads.
    generation = ws.records.generation
    reordered = (wanted[1], wanted[0], *wanted[2:])
    dialog = ws.columns.open_dialog()
    assert dialog is not None
    dialog.list.setCurrentRow(1)
    dialog.up.click()
    assert dialog.chosen() == reordered
    dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()
    assert ws.table.visual_fields() == reordered
    assert ws.records.generation == generation
    layout = stored(tmp_path)["layouts"][conn.name]["Accounts"]  # type: ignore[index]
    assert layout["fields"] == list(reordered)

    # Cancel changes nothing.
    dialog = ws.columns.open_dialog()
    assert dialog is not None
    dialog.list.setCurrentRow(0)
    QTest.keyClick(dialog.list, Qt.Key.Key_Space)
    dialog.reject()
    assert ws.table.visual_fields() == reordered


def test_reset_brings_back_the_crm_columns_and_forgets(
    window: MainWindow, aio: AsyncDriver, tmp_path: Path
) -> None:
    conn, ws = start(window, aio, "vtiger")
    crm = names(ws)
    menu = header_menu(ws)
    reset = next(a for a in menu.actions() if a.text() == "Reset to the CRM's Columns")
    assert not reset.isEnabled()  # nothing chosen yet
    menu.close()
    toggle(ws, aio, "website")
    toggle(ws, aio, "fax")
    assert names(ws) != crm
    menu = header_menu(ws)
    reset = next(a for a in menu.actions() if a.text() == "Reset to the CRM's Columns")
    assert reset.isEnabled()
    generation = ws.records.generation
    reset.trigger()
    menu.close()
    aio.wait_until(lambda: ws.records.generation != generation, timeout=5)
    settle(aio, ws)
    assert names(ws) == crm
    assert conn.name not in stored(tmp_path)["layouts"]  # type: ignore[operator]


def drag_edge(ws: Workspace, column: int, by: int) -> None:
    """Drag the right edge of ``column``'s header section by ``by`` pixels, with the mouse."""
    header = ws.table.horizontalHeader()
    vp = header.viewport()
    x = header.sectionViewportPosition(column) + header.sectionSize(column) - 1
    y = header.height() // 2
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(x, y))
    for step in range(1, 5):
        QTest.mouseMove(vp, QPoint(x + by * step // 4, y))
    QTest.mouseRelease(
        vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(x + by, y)
    )


def test_choice_order_and_widths_survive_a_new_window(
    qtbot: QtBot, aio: AsyncDriver, demo_server: DemoServer, tmp_path: Path
) -> None:
    with demo_window(qtbot, aio, demo_server, tmp_path) as win:
        _conn, ws = start(win, aio, "suitecrm")
        crm = names(ws)
        toggle(ws, aio, "website")
        header = ws.table.horizontalHeader()
        # Drag the website column to the front; widen the name column by hand.
        header.moveSection(header.visualIndex(ws.records.column_of("website")), 0)
        width = header.sectionSize(ws.records.column_of("name"))
        drag_edge(ws, ws.records.column_of("name"), 60)
        aio.settle()
        widened = header.sectionSize(ws.records.column_of("name"))
        assert widened > width + 30
        chosen = ws.table.visual_fields()
        assert chosen == ("website", *crm)
        # Written once a drag is over.
        layout = stored(tmp_path)["layouts"]["Demo SuiteCRM"]["Accounts"]  # type: ignore[index]
        assert layout == {"fields": list(chosen), "widths": {"name": widened}}
    with demo_window(qtbot, aio, demo_server, tmp_path) as win:
        _conn, ws = start(win, aio, "suitecrm")
        assert names(ws) == chosen
        header = ws.table.horizontalHeader()
        assert header.sectionSize(ws.records.column_of("name")) == widened
        assert any(values(ws, "website"))


def write_layout(tmp_path: Path, text: str) -> None:
    config = tmp_path / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / FILENAME).write_text(text, encoding="utf-8")


def test_a_garbled_file_is_ignored_with_a_log_line_and_replaced_by_the_next_choice(
    window: MainWindow, aio: AsyncDriver, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_layout(tmp_path, '{"format": 1, "layouts": {"Demo SuiteCRM": {"Accounts": [')
    with caplog.at_level(logging.WARNING, logger="crmdesk.storage.list_layout"):
        _conn, ws = start(window, aio, "suitecrm")
    mdef = ws.browser.module
    assert mdef is not None
    assert names(ws) == tuple(f.name for f in mdef.columns())
    assert any("ignoring the list layouts" in r.getMessage() for r in caplog.records)
    toggle(ws, aio, "website")
    assert stored(tmp_path)["layouts"]["Demo SuiteCRM"]["Accounts"]["fields"][-1] == "website"  # type: ignore[index]


def test_fields_the_crm_no_longer_has_are_skipped(
    window: MainWindow, aio: AsyncDriver, tmp_path: Path
) -> None:
    layouts = {
        "Demo SuiteCRM": {
            "Accounts": {"fields": ["website", "gone_c", "name"]},
            "Contacts": {"fields": ["gone_c", "also_gone_c"]},
        }
    }
    write_layout(tmp_path, json.dumps({"format": 1, "layouts": layouts}))
    conn, ws = start(window, aio, "suitecrm")
    assert names(ws) == ("website", "name")
    assert any(values(ws, "website"))
    # None left: the CRM's columns.
    ws = open_module(window, aio, conn, "Contacts")
    mdef = ws.browser.module
    assert mdef is not None
    assert mdef.name == "Contacts"
    assert names(ws) == tuple(f.name for f in mdef.columns())
    assert ws.records.rowCount() > 0


def test_an_unsaved_cell_edit_refuses_the_change_and_a_form_edit_stays(
    window: MainWindow, aio: AsyncDriver, demo_server: DemoServer
) -> None:
    _conn, ws = start(window, aio, "suitecrm")
    crm = names(ws)
    notices: list[str] = []
    ws.notice.connect(notices.append)
    # A cell edit the server refuses stays in its cell, unsaved.
    demo_server.faults.inject(r"/Api/V8/module", "status:500", times=None, method="PATCH")
    col = ws.records.column_of("billing_address_city")
    rid = ws.records.record_id(2)
    assert ws.records.setData(ws.records.index(2, col), "Nowhere City")
    aio.wait_until(
        lambda: (
            (e := ws.records.pending(rid, "billing_address_city")) is not None
            and e.state == "failed"
        ),
        timeout=10,
    )
    demo_server.faults.clear()
    generation = ws.records.generation
    assert not ws.columns.add("website")
    assert not ws.columns.reset()
    assert notices[-1] == PENDING_EDIT_TEXT
    assert names(ws) == crm
    assert ws.records.generation == generation
    assert ws.records.index(2, col).data() == "Nowhere City"

    # Reverted: the change goes through.  An edit in the record form is not touched.
    ws.features.inline.revert(rid, "billing_address_city")
    ws.table.selectRow(0)
    aio.wait_until(lambda: ws.detail.record_id == ws.records.record_id(0), timeout=10)
    aio.wait_until(lambda: not ws.runner.busy(), timeout=10)
    editor = ws.detail.form.editor("name")
    assert isinstance(editor, LineEditor)
    editor.line.setText("Typed but not saved")
    editor.changed.emit()
    assert ws.detail.dirty
    assert ws.columns.add("website")
    settle(aio, ws)
    assert "website" in names(ws)
    assert ws.detail.dirty
    assert editor.line.text() == "Typed but not saved"
    ws.detail.discard_edits()
    assert not ws.detail.dirty


def test_header_menu_screenshot_and_keyboard_submenu(window: MainWindow, aio: AsyncDriver) -> None:
    _conn, ws = start(window, aio, "vtiger")
    menu = header_menu(ws)
    SHOTS.mkdir(exist_ok=True)
    menu.grab().save(str(SHOTS / "header_menu.png"))
    menu.close()
    # The list's own context menu (Menu key, Shift+F10) has the same choice as a submenu.
    ws.table.setFocus()
    ws.table.selectRow(0)
    vp = ws.table.viewport()
    pos = ws.table.visualRect(ws.records.index(0, 0)).center()
    key = QContextMenuEvent(QContextMenuEvent.Reason.Keyboard, pos, vp.mapToGlobal(pos))
    QApplication.sendEvent(vp, key)
    context = getattr(ws.table, "context_menu", None)
    assert isinstance(context, QMenu)
    sub = next(a for a in context.actions() if a.objectName() == "list.columns").menu()
    assert isinstance(sub, QMenu)
    sub.aboutToShow.emit()
    assert [a.data() for a in sub.actions() if a.isChecked()] == list(names(ws))
    assert any(a.objectName() == "list.choose_columns" for a in context.actions())
    context.close()


def test_a_list_in_a_window_of_its_own_shows_and_changes_the_same_choice(
    window: MainWindow, aio: AsyncDriver, tmp_path: Path
) -> None:
    conn, ws = start(window, aio, "suitecrm")
    toggle(ws, aio, "website")
    lw = window.open_module_window(conn.id, "Accounts")
    assert lw is not None
    other = lw.workspace
    settle(aio, other)
    assert names(other) == names(ws)
    assert any(values(other, "website"))
    # A choice made there is remembered for the profile too (the main list takes it on
    # its next load).
    generation = other.records.generation
    assert other.columns.remove("website")
    aio.wait_until(lambda: other.records.generation != generation, timeout=5)
    settle(aio, other)
    assert "website" not in names(other)
    assert stored(tmp_path)["layouts"] == {}
    lw.close()
