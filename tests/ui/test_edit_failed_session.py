"""Saves that fail for session reasons keep the edit (SuiteCRM demo, real loopback HTTP):
a save that times out, and a save whose token expired while the sign-in cannot be renewed.
The form says what happened, keeps the typed value and Retry saves it once things are well.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest
from helpers.qasync_loop import AsyncDriver
from pytestqt.qtbot import QtBot

from crmdesk.backends import open_backend
from crmdesk.core.backend import Backend
from crmdesk.demo.server import DemoServer
from crmdesk.ui.forms.editors import EditorContext, LineEditor
from crmdesk.ui.forms.pane import RecordPane
from crmdesk.ui.operations import Operations
from crmdesk.ui.tasks import TaskRunner

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")

CITY = "billing_address_city"


@pytest.fixture
def backend(demo_server: DemoServer, aio: AsyncDriver) -> Iterator[Backend]:
    profile = replace(demo_server.profile("suitecrm"), read_timeout=1.0)
    be = open_backend(profile, demo_server.secrets("suitecrm"))
    aio.run(be.connect(), timeout=20)
    yield be
    demo_server.faults.clear()
    aio.run(be.close(), timeout=20)


@pytest.fixture
def pane(backend: Backend, qtbot: QtBot, runner: TaskRunner, aio: AsyncDriver) -> RecordPane:
    p = RecordPane(Operations(backend, runner), EditorContext())
    qtbot.addWidget(p)
    p.resize(600, 900)
    p.show()
    created = aio.run(
        backend.create("Accounts", {"name": f"Session {uuid.uuid4().hex[:8]}", CITY: "Lisbon"}),
        timeout=20,
    )
    mdef = aio.run(backend.describe("Accounts"), timeout=20)
    p.show_record(mdef, aio.run(backend.get("Accounts", created.id), timeout=20))
    return p


def edit_and_save(pane: RecordPane, runner: TaskRunner, aio: AsyncDriver) -> str:
    editor = pane.form.editor(CITY)
    assert isinstance(editor, LineEditor)
    editor.line.setText("Porto")
    editor.changed.emit()
    pane.save()
    aio.wait_until(lambda: not runner.busy(), timeout=30)
    form = pane.form
    assert form.message.isVisible()
    text = form.message_text.text()
    assert text.startswith("Not saved:"), text
    assert "Your changes are still here." in text
    assert form.retry_button.isVisible()
    assert pane.dirty
    assert form.changes() == {CITY: "Porto"}
    return text


def retry_saves(pane: RecordPane, backend: Backend, runner: TaskRunner, aio: AsyncDriver) -> None:
    record_id = pane.record_id
    assert record_id is not None
    pane.form.retry_button.click()
    aio.wait_until(lambda: not runner.busy(), timeout=30)
    assert not pane.dirty
    assert not pane.form.message.isVisible()
    assert aio.run(backend.get("Accounts", record_id), timeout=20).get(CITY) == "Porto"


def test_a_save_that_times_out_keeps_the_edit(
    pane: RecordPane,
    backend: Backend,
    demo_server: DemoServer,
    runner: TaskRunner,
    aio: AsyncDriver,
) -> None:
    demo_server.faults.inject(r"/module", "delay:3", times=1, method="PATCH")
    text = edit_and_save(pane, runner, aio)
    assert "did not answer in time" in text, text
    retry_saves(pane, backend, runner, aio)


def test_an_expired_sign_in_that_cannot_be_renewed_keeps_the_edit(
    pane: RecordPane,
    backend: Backend,
    demo_server: DemoServer,
    runner: TaskRunner,
    aio: AsyncDriver,
) -> None:
    demo_server.expire_tokens()
    demo_server.faults.inject(r"access_token$", "status:500", times=None)
    secret = demo_server.secrets("suitecrm")["password"]
    text = edit_and_save(pane, runner, aio)
    assert "sign-in failed" in text, text
    assert secret not in text
    demo_server.faults.clear()
    retry_saves(pane, backend, runner, aio)
