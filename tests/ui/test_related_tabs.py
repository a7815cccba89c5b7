"""Related-records tabs against the demo CRM (SuiteCRM): count, link via lookup, open with
Back / Forward, unlink (the record stays), create a related record pre-linked."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from helpers.edit_util import answer_box
from helpers.qasync_loop import AsyncDriver
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from crmdesk.backends import open_backend
from crmdesk.core.backend import Backend
from crmdesk.core.query import Query
from crmdesk.core.records import PageRequest
from crmdesk.demo.server import DemoServer
from crmdesk.ui.forms.editors import EditorContext, LineEditor
from crmdesk.ui.forms.lookup import LookupDialog
from crmdesk.ui.forms.pane import RecordPane
from crmdesk.ui.operations import Operations
from crmdesk.ui.tasks import TaskRunner
from crmdesk.ui.views.related import NewRelatedDialog, RelatedTab

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


@dataclass
class Env:
    backend: Backend
    pane: RecordPane
    ops: Operations


@pytest.fixture
def env(
    demo_server: DemoServer, aio: AsyncDriver, qtbot: QtBot, runner: TaskRunner
) -> Iterator[Env]:
    be = open_backend(demo_server.profile("suitecrm"), demo_server.secrets("suitecrm"))
    aio.run(be.connect(), timeout=20)
    ops = Operations(be, runner)
    pane = RecordPane(ops, EditorContext())
    qtbot.addWidget(pane)
    pane.resize(700, 900)
    pane.show()
    yield Env(be, pane, ops)
    runner.cancel_all()
    aio.run(be.close(), timeout=20)


def idle(env: Env, aio: AsyncDriver) -> None:
    aio.wait_until(lambda: not env.ops.runner.busy(), timeout=30)


def contacts_tab(env: Env, aio: AsyncDriver) -> RelatedTab:
    tab = env.pane.related.show_link("contacts")
    assert tab is not None
    idle(env, aio)
    aio.wait_until(lambda: not tab.model.loading, timeout=30)
    return tab


def test_link_open_back_unlink_and_create_related(env: Env, aio: AsyncDriver, qtbot: QtBot) -> None:
    be, pane = env.backend, env.pane
    tag = uuid.uuid4().hex[:8]
    account = aio.run(be.create("Accounts", {"name": f"Related test {tag}"}), timeout=20)
    contact = aio.run(be.create("Contacts", {"last_name": f"Linkme{tag}"}), timeout=20)
    mdef = aio.run(be.describe("Accounts"), timeout=20)
    pane.show_record(mdef, aio.run(be.get("Accounts", account.id), timeout=20))
    assert pane.related.isVisible()
    labels = [pane.related.tabText(i) for i in range(pane.related.count())]
    assert "Contacts" in labels
    tab = contacts_tab(env, aio)
    assert tab.model.rowCount() == 0
    assert pane.related.tabText(pane.related.indexOf(tab)) == "Contacts (0)"

    # Link an existing contact through the lookup dialog.
    tab.link_button.click()
    aio.wait_until(lambda: isinstance(tab.dialog, LookupDialog), timeout=20)
    dialog = tab.dialog
    assert isinstance(dialog, LookupDialog)
    dialog.query.setText(f"Linkme{tag}")
    dialog.search_now()
    aio.wait_until(lambda: dialog.results.count() == 1, timeout=20)
    assert dialog.results.item(0).text() == f"Linkme{tag}"
    dialog.buttons.accepted.emit()
    aio.wait_until(lambda: tab.model.rowCount() == 1 and not tab.model.loading, timeout=30)
    assert tab.model.record_id(0) == contact.id
    assert pane.related.tabText(pane.related.indexOf(tab)) == "Contacts (1)"

    # Double-click opens it; Back returns to the account, Forward to the contact.
    tab.view.selectRow(0)
    index = tab.model.index(0, 0)
    rect = tab.view.visualRect(index)
    # Qt only sees a double-click after a click (QTest's mouseDClick alone is ignored).
    QTest.mouseClick(tab.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    QTest.mouseDClick(tab.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    aio.wait_until(lambda: pane.record_id == contact.id, timeout=20)
    assert pane.form.mdef is not None
    assert pane.form.mdef.name == "Contacts"
    pane.back()
    aio.wait_until(lambda: pane.record_id == account.id, timeout=20)
    assert pane.can_go_forward()
    pane.forward()
    aio.wait_until(lambda: pane.record_id == contact.id, timeout=20)
    pane.back()
    aio.wait_until(lambda: pane.record_id == account.id, timeout=20)

    # Unlink (confirmed): the row goes, the contact itself stays.
    tab = contacts_tab(env, aio)
    aio.wait_until(lambda: tab.model.rowCount() == 1, timeout=20)
    tab.view.selectRow(0)
    answer_box("Unlink")
    tab.unlink_button.click()
    aio.wait_until(lambda: tab.model.rowCount() == 0 and not tab.model.loading, timeout=30)
    assert aio.run(be.get("Contacts", contact.id), timeout=20).id == contact.id
    related = aio.run(
        be.related("Accounts", account.id, "contacts", Query(), PageRequest(size=10)), timeout=20
    )
    assert related.records == []

    # Create a new contact already linked to the account.
    tab.new_button.click()
    aio.wait_until(lambda: isinstance(tab.dialog, NewRelatedDialog), timeout=20)
    new = tab.dialog
    assert isinstance(new, NewRelatedDialog)
    last = new.form.editor("last_name")
    assert isinstance(last, LineEditor)
    last.line.setText(f"Fresh{tag}")
    last.changed.emit()
    new.create_button.click()
    aio.wait_until(lambda: tab.model.rowCount() == 1 and not tab.model.loading, timeout=30)
    assert not new.isVisible()
    related = aio.run(
        be.related("Accounts", account.id, "contacts", Query(), PageRequest(size=10)), timeout=20
    )
    assert [r.get("last_name") for r in related.records] == [f"Fresh{tag}"]
