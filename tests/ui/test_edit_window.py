"""Editing in the main window (fake backend): Ctrl+N create, Del delete, Esc revert,
the unsaved-changes prompt on switching record / module / closing, Back / Forward."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers.edit_util import RecordingBackend, answer_box
from helpers.qasync_loop import AsyncDriver
from pytestqt.qtbot import QtBot

from crmdesk.ui.forms.editors import LineEditor
from crmdesk.ui.forms.pane import Choice
from crmdesk.ui.main_window import MainWindow

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


@pytest.fixture
def backend() -> RecordingBackend:
    return RecordingBackend()


@pytest.fixture
def window(backend: RecordingBackend, aio: AsyncDriver, qtbot: QtBot) -> Iterator[MainWindow]:
    win = MainWindow(backend, connection_name="Fake CRM", page_size=100)
    qtbot.addWidget(win)
    win.show()
    win.start()
    aio.wait_until(lambda: win.modules.rowCount() > 0)
    assert win.module_tree.select_module("Accounts")
    aio.wait_until(lambda: win.records.rowCount() > 0 and not win.records.loading)
    yield win
    win.runner.cancel_all()
    if win.errors.dialog is not None:
        win.errors.dialog.close()


def select(win: MainWindow, aio: AsyncDriver, row: int) -> str:
    win.table.selectRow(row)
    rid = win.records.record_id(row)
    aio.wait_until(lambda: win.detail.record_id == rid and not win.runner.busy())
    return rid


def edit_name(win: MainWindow, text: str) -> None:
    editor = win.detail.form.editor("name")
    assert isinstance(editor, LineEditor)
    editor.line.setText(text)
    editor.changed.emit()


def test_ctrl_n_creates_and_selects_the_new_record(
    window: MainWindow, backend: RecordingBackend, aio: AsyncDriver
) -> None:
    action = window.actions_by_id["record.new"]
    assert action.shortcut().toString() == "Ctrl+N"
    lists_before = len(backend.list_calls())
    action.trigger()
    assert window.detail.form.is_new
    assert window.detail.dirty
    window.detail.save()
    assert "Name is required." in window.detail.form.rows["name"].error.text()
    edit_name(window, "Brand New Ltd")
    window.actions_by_id["record.save"].trigger()
    aio.wait_until(lambda: not window.detail.dirty and not window.runner.busy())
    assert backend.creates == [{"name": "Brand New Ltd"}]
    new_id = window.detail.record_id
    assert new_id is not None
    assert new_id.startswith("new-")
    assert window.records.record_id(0) == new_id
    assert window.records.text(0, 0) == "Brand New Ltd"
    selected = {i.row() for i in window.table.selectionModel().selectedRows()}
    assert selected == {0}
    assert len(backend.list_calls()) == lists_before  # no reload of the list


def test_del_asks_then_removes_the_row_without_reloading(
    window: MainWindow, backend: RecordingBackend, aio: AsyncDriver
) -> None:
    rid = select(window, aio, 3)
    assert window.actions_by_id["record.delete"].shortcut().toString() == "Del"
    rows, lists = window.records.rowCount(), len(backend.list_calls())
    seen: list[str] = []
    answer_box("Cancel", seen=seen)
    window.actions_by_id["record.delete"].trigger()
    assert "Delete “Bright Works 00003”?" in seen[0]
    assert window.records.row_of(rid) == 3  # cancelled: nothing happened
    answer_box("Delete")
    window.actions_by_id["record.delete"].trigger()
    aio.wait_until(lambda: window.records.row_of(rid) < 0)
    assert window.records.rowCount() == rows - 1
    assert len(backend.list_calls()) == lists
    assert all(r.id != rid for r in backend.store["Accounts"])
    assert window.detail.record_id != rid


def test_save_updates_the_row_in_place(
    window: MainWindow, backend: RecordingBackend, aio: AsyncDriver
) -> None:
    rid = select(window, aio, 1)
    lists = len(backend.list_calls())
    edit_name(window, "Renamed Row")
    window.actions_by_id["record.save"].trigger()
    aio.wait_until(lambda: not window.detail.dirty and not window.runner.busy())
    assert window.records.text(window.records.row_of(rid), 0) == "Renamed Row"
    assert len(backend.list_calls()) == lists


def test_esc_reverts(window: MainWindow, aio: AsyncDriver) -> None:
    select(window, aio, 0)
    edit_name(window, "Oops")
    assert window.actions_by_id["record.revert"].shortcut().toString() == "Esc"
    window.actions_by_id["record.revert"].trigger()
    assert not window.detail.dirty
    assert window.detail.display_text("name") == "North Works 00000"


def test_switching_record_with_unsaved_changes_asks(
    window: MainWindow, backend: RecordingBackend, aio: AsyncDriver
) -> None:
    first = select(window, aio, 0)
    edit_name(window, "Edited 0")
    # Cancel: the edit and the selection stay.
    answer_box("Cancel")
    window.table.selectRow(1)
    aio.settle(100)
    assert window.detail.record_id == first
    assert window.detail.dirty
    assert {i.row() for i in window.table.selectionModel().selectedRows()} == {0}
    # Save: saved, then the other record opens.
    answer_box("Save")
    window.table.selectRow(1)
    second = window.records.record_id(1)
    aio.wait_until(lambda: window.detail.record_id == second and not window.runner.busy())
    assert backend.updates == [{"name": "Edited 0"}]
    assert window.records.text(0, 0) == "Edited 0"
    # Discard: the edit is dropped, the other record opens.
    edit_name(window, "Never saved")
    answer_box("Discard")
    window.table.selectRow(2)
    third = window.records.record_id(2)
    aio.wait_until(lambda: window.detail.record_id == third and not window.runner.busy())
    assert backend.updates == [{"name": "Edited 0"}]
    assert not window.detail.dirty


def test_switching_module_with_unsaved_changes_asks(window: MainWindow, aio: AsyncDriver) -> None:
    select(window, aio, 0)
    edit_name(window, "Edited")
    asked: list[str] = []

    def ask(text: str) -> Choice:
        asked.append(text)
        return Choice.CANCEL

    window.detail.ask = ask
    window.module_tree.select_module("Contacts")
    aio.settle(100)
    assert asked == ["You have unsaved changes to “North Works 00000” (1 changed field)."]
    assert window.browser.module is not None
    assert window.browser.module.name == "Accounts"
    assert window.detail.dirty
    window.detail.ask = lambda _t: Choice.DISCARD
    window.module_tree.select_module("Contacts")
    aio.wait_until(
        lambda: window.records.rowCount() > 0 and window.records.record_id(0).startswith("con-")
    )


def test_closing_with_unsaved_changes_asks(window: MainWindow, aio: AsyncDriver) -> None:
    select(window, aio, 0)
    edit_name(window, "Edited")
    answer_box("Cancel")
    window.close()
    assert window.isVisible()
    assert window.detail.dirty
    answer_box("Discard")
    window.close()
    assert not window.isVisible()


def test_back_and_forward_between_opened_records(window: MainWindow, aio: AsyncDriver) -> None:
    a = select(window, aio, 0)
    b = select(window, aio, 1)
    assert window.actions_by_id["go.back"].shortcut().toString() == "Alt+Left"
    window.actions_by_id["go.back"].trigger()
    aio.wait_until(lambda: window.detail.record_id == a and not window.runner.busy())
    window.actions_by_id["go.forward"].trigger()
    aio.wait_until(lambda: window.detail.record_id == b and not window.runner.busy())
    assert window.detail.history == [("Accounts", a), ("Accounts", b)]
