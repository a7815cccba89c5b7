"""A save whose answer comes after the user left the edit (SuiteCRM demo, real loopback HTTP).

While a save is out the user can still leave the record: Discard in the unsaved-changes
prompt of a record switch in the table, Back, a module switch, New, or opening a record
directly (quick open).  The save's request reaches the demo server and is answered; only
the answer is held back (``Held``) until the user has moved on, like a slow network.  The
late answer must leave the form alone: a success still updates the list and says "Saved"
in the status bar; a failure says which record was not saved.  Closing the connection
cancels the save's task, so no answer arrives there at all.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from helpers.qasync_loop import AsyncDriver
from pytestqt.qtbot import QtBot

from crmdesk.backends import open_backend
from crmdesk.core.backend import Backend
from crmdesk.core.query import Condition, Op
from crmdesk.demo.server import DemoServer
from crmdesk.ui.forms.editors import LineEditor
from crmdesk.ui.forms.pane import Choice
from crmdesk.ui.main_window import MainWindow

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


class Held:
    """Wraps one backend method: the call goes to the demo server as usual, but its answer
    (record or error) is handed back only once ``release()`` is called."""

    def __init__(self, backend: Backend, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
        self.gate = asyncio.Event()
        self.calls = 0
        self.answered = 0
        real: Callable[..., Any] = getattr(backend, name)

        async def held(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            try:
                return await real(*args, **kwargs)
            finally:
                self.answered += 1
                await self.gate.wait()

        monkeypatch.setattr(backend, name, held)

    def release(self) -> None:
        self.gate.set()


@dataclass
class Env:
    win: MainWindow
    backend: Backend
    ids: list[str]
    names: list[str]
    notices: list[str]
    asked: list[str]
    prefix: str

    def row(self, rid: str) -> int:
        return self.win.records.row_of(rid)

    def name_in_list(self, rid: str) -> str:
        return self.win.records.text(self.row(rid), 0)


@pytest.fixture
def env(demo_server: DemoServer, aio: AsyncDriver, qtbot: QtBot) -> Iterator[Env]:
    be = open_backend(demo_server.profile("suitecrm"), demo_server.secrets("suitecrm"))
    aio.run(be.connect(), timeout=20)
    prefix = f"Race {uuid.uuid4().hex[:8]}"
    names = [f"{prefix} {i}" for i in range(3)]
    ids = [aio.run(be.create("Accounts", {"name": n}), timeout=20).id for n in names]
    win = MainWindow(be, connection_name="Demo SuiteCRM", page_size=50)
    qtbot.addWidget(win)
    win.show()
    win.start()
    aio.wait_until(lambda: win.modules.rowCount() > 0, timeout=20)
    assert win.module_tree.select_module("Accounts")
    aio.wait_until(lambda: win.browser.module is not None, timeout=20)
    ws = win.current
    assert ws is not None
    ws.browser.set_filter("Accounts", Condition("name", Op.STARTS, prefix))
    aio.wait_until(lambda: win.records.rowCount() == 3 and not win.records.loading, timeout=20)
    notices: list[str] = []
    win.detail.notice.connect(notices.append)
    asked: list[str] = []

    def discard(text: str) -> Choice:
        asked.append(text)
        return Choice.DISCARD

    win.detail.ask = discard
    yield Env(win, be, ids, names, notices, asked, prefix)
    win.runner.cancel_all()
    demo_server.faults.clear()
    aio.run(be.close(), timeout=20)


def select(env: Env, aio: AsyncDriver, rid: str) -> None:
    env.win.table.selectRow(env.row(rid))
    aio.wait_until(lambda: env.win.detail.record_id == rid and not env.win.runner.busy(), 20)


def type_name(env: Env, text: str) -> None:
    editor = env.win.detail.form.editor("name")
    assert isinstance(editor, LineEditor)
    editor.line.setText(text)
    editor.changed.emit()


def save_and_hold(env: Env, aio: AsyncDriver, held: Held, text: str) -> None:
    """Type ``text`` as the name, save; return once the server answered (answer held)."""
    type_name(env, text)
    env.win.actions_by_id["record.save"].trigger()
    aio.wait_until(lambda: held.answered == 1, timeout=20)
    assert env.win.detail.form.save_button.text() == "Saving…"
    assert not env.win.detail.form.fields_area.isEnabled()


def form_is_free(env: Env) -> None:
    """The form shows what the user moved to, enabled, with no message of the old save."""
    form = env.win.detail.form
    assert form.fields_area.isEnabled()
    assert form.save_button.text() == "&Save"
    assert not form.message.isVisible()


def still_dirty(env: Env) -> bool:
    return env.win.detail.dirty


def settle(env: Env, aio: AsyncDriver, held: Held) -> None:
    held.release()
    aio.wait_until(lambda: not env.win.runner.busy(), timeout=20)
    aio.settle(50)


def server_name(env: Env, aio: AsyncDriver, rid: str) -> object:
    return aio.run(env.backend.get("Accounts", rid), timeout=20).get("name")


def test_late_success_after_switching_record_leaves_the_new_form_and_updates_the_list(
    env: Env, aio: AsyncDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b, _ = env.ids
    held = Held(env.backend, "update", monkeypatch)
    select(env, aio, a)
    save_and_hold(env, aio, held, f"{env.prefix} renamed")
    env.win.table.selectRow(env.row(b))
    aio.wait_until(lambda: env.win.detail.record_id == b, timeout=20)
    assert "They are being saved" in env.asked[-1]
    form_is_free(env)  # B's fields are not greyed by A's save
    settle(env, aio, held)
    detail = env.win.detail
    assert detail.record_id == b
    assert detail.form.original is not None
    assert detail.form.original.get("name") == env.names[1]
    assert not detail.dirty
    form_is_free(env)
    assert server_name(env, aio, a) == f"{env.prefix} renamed"
    assert env.name_in_list(a) == f"{env.prefix} renamed"  # the list still gets it
    assert f"Saved Accounts “{env.prefix} renamed”" in env.notices[-1]
    assert detail.history[-1] == ("Accounts", b)


def test_late_failure_after_switching_record_is_said_in_the_status_bar_only(
    env: Env, aio: AsyncDriver, demo_server: DemoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b, _ = env.ids
    held = Held(env.backend, "update", monkeypatch)
    select(env, aio, a)
    demo_server.faults.inject(r"/module", "status:500", times=1, method="PATCH")
    save_and_hold(env, aio, held, f"{env.prefix} never")
    env.win.table.selectRow(env.row(b))
    aio.wait_until(lambda: env.win.detail.record_id == b, timeout=20)
    settle(env, aio, held)
    assert env.win.detail.record_id == b
    assert not env.win.detail.dirty
    form_is_free(env)
    assert not env.win.detail.form.retry_button.isVisible()
    note = env.notices[-1]
    assert note.startswith(f"Not saved: your earlier changes to Accounts “{env.names[0]}”."), note
    assert "HTTP 500" in note
    assert "make them again" in note
    assert server_name(env, aio, a) == env.names[0]
    assert env.name_in_list(a) == env.names[0]


def test_late_success_after_a_module_switch_does_not_bring_the_record_back(
    env: Env, aio: AsyncDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = env.ids[0]
    held = Held(env.backend, "update", monkeypatch)
    select(env, aio, a)
    save_and_hold(env, aio, held, f"{env.prefix} moved")
    env.win.module_tree.select_module("Contacts")
    aio.wait_until(
        lambda: env.win.browser.module is not None and env.win.browser.module.name == "Contacts",
        timeout=20,
    )
    settle(env, aio, held)
    assert env.win.detail.stack.currentIndex() == 0  # "Select a record in Contacts …"
    assert env.win.detail.record_id is None
    assert "Contacts" in env.win.detail.placeholder.text()
    assert server_name(env, aio, a) == f"{env.prefix} moved"
    assert f"Saved Accounts “{env.prefix} moved”" in env.notices[-1]


def test_late_failure_after_new_leaves_the_new_form_being_typed(
    env: Env, aio: AsyncDriver, demo_server: DemoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = env.ids[0]
    held = Held(env.backend, "update", monkeypatch)
    select(env, aio, a)
    demo_server.faults.inject(r"/module", "status:500", times=1, method="PATCH")
    save_and_hold(env, aio, held, f"{env.prefix} lost")
    env.win.actions_by_id["record.new"].trigger()
    detail = env.win.detail
    assert detail.form.is_new
    form_is_free(env)
    type_name(env, f"{env.prefix} fresh")
    settle(env, aio, held)
    assert detail.form.is_new
    assert detail.dirty
    assert detail.form.values_for_create().get("name") == f"{env.prefix} fresh"
    form_is_free(env)
    assert env.notices[-1].startswith(
        f"Not saved: your earlier changes to Accounts “{env.names[0]}”"
    )


def test_late_success_after_back_keeps_the_record_gone_back_to(
    env: Env, aio: AsyncDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b, _ = env.ids
    select(env, aio, a)
    select(env, aio, b)
    held = Held(env.backend, "update", monkeypatch)
    save_and_hold(env, aio, held, f"{env.prefix} b saved")
    env.win.actions_by_id["go.back"].trigger()
    aio.wait_until(lambda: env.win.detail.record_id == a, timeout=20)
    settle(env, aio, held)
    assert env.win.detail.record_id == a
    assert env.win.detail.history == [("Accounts", a), ("Accounts", b)]
    assert env.win.detail.history_pos == 0
    assert env.name_in_list(b) == f"{env.prefix} b saved"


def test_late_create_after_quick_open_lists_the_new_record_and_keeps_the_opened_one(
    env: Env, aio: AsyncDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = env.ids[0]
    held = Held(env.backend, "create", monkeypatch)
    env.win.actions_by_id["record.new"].trigger()
    save_and_hold(env, aio, held, f"{env.prefix} created late")
    env.win.detail.open_record("Accounts", a)  # what quick open does
    aio.wait_until(lambda: env.win.detail.record_id == a, timeout=20)
    rows = env.win.records.rowCount()
    settle(env, aio, held)
    assert env.win.detail.record_id == a
    assert not env.win.detail.form.is_new
    assert env.win.records.rowCount() == rows + 1
    assert f"Saved Accounts “{env.prefix} created late”" in env.notices[-1]
    new_row = next(
        r for r in range(env.win.records.rowCount()) if env.win.records.record_id(r) not in env.ids
    )
    assert env.win.records.text(new_row, 0) == f"{env.prefix} created late"
    selected = {i.row() for i in env.win.table.selectionModel().selectedRows()}
    assert new_row not in selected


def test_esc_while_saving_does_not_revert_and_the_save_ends_normally(
    env: Env, aio: AsyncDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = env.ids[0]
    held = Held(env.backend, "update", monkeypatch)
    select(env, aio, a)
    save_and_hold(env, aio, held, f"{env.prefix} kept")
    env.win.actions_by_id["record.revert"].trigger()
    assert still_dirty(env)
    assert env.win.detail.display_text("name") == f"{env.prefix} kept"
    assert "cannot be reverted now" in env.notices[-1]
    settle(env, aio, held)
    assert env.win.detail.record_id == a
    assert not env.win.detail.dirty
    assert env.win.detail.display_text("name") == f"{env.prefix} kept"
    form_is_free(env)
    assert env.notices[-1] == f"Saved Accounts “{env.prefix} kept”."


def test_save_again_while_saving_sends_one_request_and_save_in_the_prompt_waits(
    env: Env, aio: AsyncDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b, _ = env.ids
    held = Held(env.backend, "update", monkeypatch)
    select(env, aio, a)
    save_and_hold(env, aio, held, f"{env.prefix} once")
    env.win.actions_by_id["record.save"].trigger()  # Ctrl+S again
    env.win.detail.ask = lambda _t: Choice.SAVE
    env.win.table.selectRow(env.row(b))  # Save in the prompt: B opens once A is saved
    aio.settle(100)
    assert env.win.detail.record_id == a
    assert held.calls == 1
    settle(env, aio, held)
    aio.wait_until(lambda: env.win.detail.record_id == b and not env.win.runner.busy(), 20)
    assert held.calls == 1
    assert server_name(env, aio, a) == f"{env.prefix} once"
    assert env.name_in_list(a) == f"{env.prefix} once"
