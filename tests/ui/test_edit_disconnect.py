"""File → Disconnect with unsaved changes asks Save / Discard / Cancel (fake backend);
Cancel keeps the connection and the edit, Discard closes the connection."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers.edit_util import RecordingBackend
from helpers.qasync_loop import AsyncDriver
from pytestqt.qtbot import QtBot

from crmdesk.ui.forms.editors import LineEditor
from crmdesk.ui.forms.pane import Choice
from crmdesk.ui.main_window import MainWindow

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


@pytest.fixture
def window(aio: AsyncDriver, qtbot: QtBot) -> Iterator[MainWindow]:
    win = MainWindow(RecordingBackend(), connection_name="Fake CRM", page_size=100)
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


def test_disconnecting_with_unsaved_changes_asks(window: MainWindow, aio: AsyncDriver) -> None:
    window.table.selectRow(0)
    rid = window.records.record_id(0)
    aio.wait_until(lambda: window.detail.record_id == rid and not window.runner.busy())
    editor = window.detail.form.editor("name")
    assert isinstance(editor, LineEditor)
    editor.line.setText("Edited")
    editor.changed.emit()
    cid = window.current_id
    assert cid is not None
    asked: list[str] = []

    def cancel(text: str) -> Choice:
        asked.append(text)
        return Choice.CANCEL

    window.detail.ask = cancel
    window.actions_by_id["file.disconnect"].trigger()
    aio.settle(100)
    assert len(asked) == 1
    assert asked[0].startswith("You have unsaved changes")
    assert cid in window.connections
    assert window.detail.dirty
    assert editor.line.text() == "Edited"

    window.detail.ask = lambda _text: Choice.DISCARD
    window.actions_by_id["file.disconnect"].trigger()
    aio.wait_until(lambda: cid not in window.connections)
    assert window.current_id is None
