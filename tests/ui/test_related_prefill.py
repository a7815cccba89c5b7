"""Create-related pre-fills the relate field that points back (SuiteCRM demo): a new Contact
made from an Account's Contacts tab has its account set, shown by name, and sent."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from helpers.qasync_loop import AsyncDriver
from pytestqt.qtbot import QtBot

from crmdesk.backends import open_backend
from crmdesk.core.backend import Backend
from crmdesk.demo.server import DemoServer
from crmdesk.ui.forms.editors import EditorContext, LineEditor, RelateEditor
from crmdesk.ui.forms.pane import RecordPane
from crmdesk.ui.operations import Operations
from crmdesk.ui.tasks import TaskRunner
from crmdesk.ui.views.related import NewRelatedDialog

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


@pytest.fixture
def backend(demo_server: DemoServer, aio: AsyncDriver) -> Iterator[Backend]:
    be = open_backend(demo_server.profile("suitecrm"), demo_server.secrets("suitecrm"))
    aio.run(be.connect(), timeout=20)
    yield be
    aio.run(be.close(), timeout=20)


def test_a_contact_created_from_an_account_has_its_account_set(
    backend: Backend, aio: AsyncDriver, qtbot: QtBot, runner: TaskRunner
) -> None:
    ops = Operations(backend, runner)
    pane = RecordPane(ops, EditorContext())
    qtbot.addWidget(pane)
    pane.show()
    name = f"Prefill {uuid.uuid4().hex[:8]}"
    account = aio.run(backend.create("Accounts", {"name": name}), timeout=20)
    mdef = aio.run(backend.describe("Accounts"), timeout=20)
    pane.show_record(mdef, aio.run(backend.get("Accounts", account.id), timeout=20))
    tab = pane.related.show_link("contacts")
    assert tab is not None
    tab.new_button.click()
    aio.wait_until(lambda: isinstance(tab.dialog, NewRelatedDialog), timeout=20)
    dialog = tab.dialog
    assert isinstance(dialog, NewRelatedDialog)
    relate = [f for f in dialog.prefilled if dialog.form.editor(f) is not None]
    assert len(relate) == 1
    editor = dialog.form.editor(relate[0])
    assert isinstance(editor, RelateEditor)
    assert editor.value() == account.id
    assert editor.name.text() == name  # the account's name, not its id
    last = dialog.form.editor("last_name")
    assert isinstance(last, LineEditor)
    last.line.setText("Prefilled")
    last.changed.emit()
    dialog.create_button.click()
    aio.wait_until(lambda: not dialog.isVisible() and not runner.busy(), timeout=30)
    tab.load(force=True)
    aio.wait_until(lambda: tab.model.rowCount() == 1 and not tab.model.loading, timeout=30)
    contact = aio.run(backend.get("Contacts", tab.model.record_id(0)), timeout=20)
    assert contact.get(relate[0]) == account.id
    runner.cancel_all()
