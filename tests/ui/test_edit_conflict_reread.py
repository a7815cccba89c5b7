"""A conflict answer that does not carry the server's record: the pane reads it again.

The demo CRMs always send the current record with a conflict, so this path is driven with
the hand-written fake backend: its update answers Conflict without ``current``, after
another client changed or deleted the record, or while the network is down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import ClassVar

import pytest
from helpers.fake_backend import FakeBackend
from helpers.qasync_loop import AsyncDriver
from pytestqt.qtbot import QtBot

from crmdesk.core.backend import Capabilities
from crmdesk.core.errors import Conflict, CrmError, Unavailable
from crmdesk.core.records import Record, Value, Version
from crmdesk.ui.forms.editors import EditorContext, LineEditor
from crmdesk.ui.forms.pane import Choice, RecordPane
from crmdesk.ui.operations import Operations
from crmdesk.ui.tasks import TaskRunner

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")

RID = "acc-00007"


class BareConflictBackend(FakeBackend):
    """Checks versions; its Conflict names no current record (like a CRM that only says
    "changed").  ``other_client_acts`` plays the other client; ``gone_after_conflict``
    deletes the record between the conflict and the pane's reread; ``reread_fails`` makes
    that reread fail."""

    capabilities: ClassVar[Capabilities] = replace(
        FakeBackend.capabilities, optimistic_locking=True
    )

    def __init__(self) -> None:
        super().__init__(accounts=20, contacts=0)
        self.their_change: dict[str, Value] | None = None
        self.gone_after_conflict = False
        self.reread_fails: CrmError | None = None

    async def update(
        self,
        module: str,
        record_id: str,
        changes: Mapping[str, Value],
        expected_version: Version | None = None,
    ) -> Record:
        current = await super().get(module, record_id)
        if expected_version is not None and expected_version != current.version:
            self.fail_next = self.reread_fails
            if self.gone_after_conflict:
                self.store[module] = [r for r in self.store[module] if r.id != record_id]
            raise Conflict("The record changed on the server.")
        record = await super().update(module, record_id, changes, expected_version)
        record.version = Version(f"{record.version.token if record.version else ''}+")
        return record

    def other_client_acts(self) -> None:
        rows = self.store["Accounts"]
        row = next(r for r in rows if r.id == RID)
        row.values.update(self.their_change or {})
        row.version = Version("theirs")


@pytest.fixture
def backend() -> BareConflictBackend:
    return BareConflictBackend()


@pytest.fixture
def pane(
    backend: BareConflictBackend, aio: AsyncDriver, qtbot: QtBot, runner: TaskRunner
) -> Iterator[RecordPane]:
    ops = Operations(backend, runner)
    p = RecordPane(ops, EditorContext())
    qtbot.addWidget(p)
    p.resize(600, 900)
    p.show()
    mdef = aio.run(backend.describe("Accounts"))
    p.show_record(mdef, aio.run(backend.get("Accounts", RID)))
    yield p
    runner.cancel_all()
    if p.conflict_dialog is not None:
        p.conflict_dialog.reject()


def edit(pane: RecordPane, field: str, text: str) -> None:
    editor = pane.form.editor(field)
    assert isinstance(editor, LineEditor)
    editor.line.setText(text)
    editor.changed.emit()


def is_dirty(pane: RecordPane) -> bool:
    return pane.dirty


def test_the_reread_record_is_what_the_conflict_dialog_compares_with(
    pane: RecordPane, backend: BareConflictBackend, aio: AsyncDriver, runner: TaskRunner
) -> None:
    backend.their_change = {"name": "Their name"}
    backend.other_client_acts()
    edit(pane, "name", "My name")
    pane.save()
    aio.wait_until(lambda: pane.conflict_dialog is not None, timeout=10)
    dialog = pane.conflict_dialog
    assert dialog is not None
    assert [(c.field.name, c.mine, c.theirs) for c in dialog.clashes] == [
        ("name", "My name", "Their name")
    ]
    dialog.save_button.click()
    aio.wait_until(lambda: not runner.busy(), timeout=10)
    assert not is_dirty(pane)
    assert aio.run(backend.get("Accounts", RID)).get("name") == "My name"


def test_a_record_deleted_before_the_reread_says_so_and_keeps_the_edit(
    pane: RecordPane, backend: BareConflictBackend, aio: AsyncDriver, runner: TaskRunner
) -> None:
    backend.their_change = {"name": "Their name"}
    backend.other_client_acts()
    backend.gone_after_conflict = True
    edit(pane, "billing_address_city", "Lima")
    pane.save()
    aio.wait_until(lambda: not runner.busy(), timeout=10)
    form = pane.form
    assert pane.conflict_dialog is None
    assert form.message.isVisible()
    assert form.message_text.text().startswith(
        "Not saved: this record is no longer on the server; someone else may have deleted it"
    )
    assert not form.retry_button.isVisible()
    assert is_dirty(pane)
    assert form.changes() == {"billing_address_city": "Lima"}


def test_a_reread_that_fails_shows_why_and_offers_retry(
    pane: RecordPane, backend: BareConflictBackend, aio: AsyncDriver, runner: TaskRunner
) -> None:
    backend.their_change = {"phone_office": "+1 555 9999"}
    backend.other_client_acts()
    backend.reread_fails = Unavailable("The CRM did not answer in time.")
    edit(pane, "billing_address_city", "Quito")
    pane.save()
    aio.wait_until(lambda: not runner.busy(), timeout=10)
    form = pane.form
    assert pane.conflict_dialog is None
    text = form.message_text.text()
    assert text.startswith("Not saved: The CRM did not answer in time.")
    assert "Your changes are still here." in text
    assert form.retry_button.isVisible()
    assert is_dirty(pane)
    backend.reread_fails = None  # the network is back: the retry rereads, then merges
    form.retry_button.click()
    aio.wait_until(lambda: not runner.busy() and not is_dirty(pane), timeout=10)
    saved = aio.run(backend.get("Accounts", RID))
    assert (saved.get("billing_address_city"), saved.get("phone_office")) == (
        "Quito",
        "+1 555 9999",
    )


class SlowRereadBackend(BareConflictBackend):
    """Holds the pane's reread of ``RID`` after the conflict until ``reread_gate`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.conflicted = False
        self.reread_gate: asyncio.Event | None = None

    async def update(
        self,
        module: str,
        record_id: str,
        changes: Mapping[str, Value],
        expected_version: Version | None = None,
    ) -> Record:
        try:
            return await super().update(module, record_id, changes, expected_version)
        except Conflict:
            self.conflicted = True
            raise

    async def get(self, module: str, record_id: str) -> Record:
        if record_id == RID and self.conflicted and self.reread_gate is not None:
            await self.reread_gate.wait()
        return await super().get(module, record_id)


def test_a_reread_that_ends_after_the_user_moved_on_saves_nothing(
    qtbot: QtBot, aio: AsyncDriver, runner: TaskRunner
) -> None:
    """The user discards the edit and opens another record while the pane rereads after a
    conflict: the late reread neither saves the discarded edit nor touches the new form."""
    backend = SlowRereadBackend()
    ops = Operations(backend, runner)
    pane = RecordPane(ops, EditorContext())
    qtbot.addWidget(pane)
    pane.show()
    mdef = aio.run(backend.describe("Accounts"))
    pane.show_record(mdef, aio.run(backend.get("Accounts", RID)))
    backend.their_change = {"phone_office": "+1 555 9999"}  # another field: a silent merge
    backend.other_client_acts()
    backend.reread_gate = asyncio.Event()
    edit(pane, "billing_address_city", "Lima")
    pane.save()
    aio.wait_until(lambda: backend.conflicted, timeout=10)
    other = "acc-00003"
    pane.ask = lambda _text: Choice.DISCARD
    pane.open_record("Accounts", other)
    aio.wait_until(lambda: pane.record_id == other, timeout=10)
    backend.reread_gate.set()
    aio.wait_until(lambda: not runner.busy(), timeout=10)
    assert aio.run(backend.get("Accounts", RID)).get("billing_address_city") != "Lima"
    assert pane.record_id == other
    assert pane.form.original is not None
    assert pane.form.original.id == other
    assert not pane.dirty
    runner.cancel_all()
