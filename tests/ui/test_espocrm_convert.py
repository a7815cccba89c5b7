"""Convert Lead on EspoCRM, through the record pane and its dialog, against the demo EspoCRM
over loopback: the same action and dialog as on Vtiger, driven by the capability only."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from helpers.qasync_loop import AsyncDriver
from pytestqt.qtbot import QtBot

from crmdesk.backends import open_backend
from crmdesk.core.backend import Backend
from crmdesk.core.records import Record
from crmdesk.demo.server import DemoServer
from crmdesk.ui.forms.editors import EditorContext, LineEditor
from crmdesk.ui.forms.extras import ConvertLeadDialog
from crmdesk.ui.forms.pane import RecordPane
from crmdesk.ui.operations import Operations
from crmdesk.ui.tasks import TaskRunner

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


@dataclass
class Env:
    backend: Backend
    ops: Operations
    pane: RecordPane
    notices: list[str]


@pytest.fixture
def env(
    demo_server: DemoServer, aio: AsyncDriver, qtbot: QtBot, runner: TaskRunner
) -> Iterator[Env]:
    be = open_backend(
        demo_server.profile("espocrm", "api_key"), demo_server.secrets("espocrm", "api_key")
    )
    aio.run(be.connect(), timeout=20)
    ops = Operations(be, runner)
    pane = RecordPane(ops, EditorContext())
    qtbot.addWidget(pane)
    pane.resize(760, 900)
    pane.show()
    notices: list[str] = []
    pane.notice.connect(notices.append)
    yield Env(be, ops, pane, notices)
    runner.cancel_all()
    if pane.convert_dialog is not None:
        pane.convert_dialog.reject()
    aio.run(be.close(), timeout=20)


def idle(env: Env, aio: AsyncDriver) -> None:
    aio.wait_until(lambda: not env.ops.runner.busy(), timeout=30)


def uid() -> str:
    return uuid.uuid4().hex[:8]


def show_lead(env: Env, aio: AsyncDriver, last: str, company: str) -> Record:
    values = {
        "firstName": "Ana",
        "lastName": last,
        "accountName": company,
        "emailAddress": f"ana.{uid()}@leads.example.com",
    }
    created = aio.run(env.backend.create("Lead", values), timeout=20)
    record = aio.run(env.backend.get("Lead", created.id), timeout=20)
    env.pane.show_record(aio.run(env.backend.describe("Lead"), timeout=20), record)
    idle(env, aio)
    return record


def open_dialog(env: Env, aio: AsyncDriver) -> ConvertLeadDialog:
    action = env.pane.record_actions["record.convert_lead"]
    assert action.isVisible()
    assert action.isEnabled()
    action.trigger()
    aio.wait_until(lambda: env.pane.convert_dialog is not None, timeout=20)
    dialog = env.pane.convert_dialog
    assert dialog is not None
    return dialog


def line(dialog: ConvertLeadDialog, module: str, field: str) -> LineEditor:
    section = dialog.section(module)
    assert section is not None
    editor = section.editors[field]
    assert isinstance(editor, LineEditor)
    return editor


def test_convert_lead_on_espocrm_creates_links_and_reports(env: Env, aio: AsyncDriver) -> None:
    last, company = f"Lead {uid()}", f"Firm {uid()}"
    lead = show_lead(env, aio, last, company)
    dialog = open_dialog(env, aio)
    assert [s.mdef.name for s in dialog.sections] == ["Contact", "Account", "Opportunity"]
    assert [s.box.title() for s in dialog.sections] == [
        "New Contact",
        "New Account",
        "New Opportunity",
    ]
    # the required fields, pre-filled from the lead
    assert line(dialog, "Contact", "lastName").line.text() == last
    assert line(dialog, "Account", "name").line.text() == company
    deal = dialog.section("Opportunity")
    assert deal is not None
    assert not deal.box.isChecked()
    assert set(deal.editors) >= {"name", "amount", "closeDate"}
    deal.box.setChecked(True)
    dialog.convert_button.click()  # amount and close date are still empty
    assert dialog.message.isVisible()
    assert dialog.isVisible()
    assert deal.errors["closeDate"].isVisible()
    line(dialog, "Opportunity", "amount").line.setText("1200")
    close = line(dialog, "Opportunity", "closeDate")
    close.line.setText((date.today() + timedelta(days=30)).isoformat())
    dialog.convert_button.click()
    aio.wait_until(lambda: env.pane.convert_dialog is None, timeout=20)
    ids = dialog.result_ids
    assert set(ids) == {"Contact", "Account", "Opportunity"}
    assert "Lead converted: created Contact, Account, Opportunity." in env.notices
    idle(env, aio)
    # the contact is shown, the account and the deal follow in the history
    aio.wait_until(lambda: env.pane.record_id == ids["Contact"], timeout=20)
    assert env.pane.form.display_text("lastName") == last
    assert env.pane.form.display_text("accountId") == company
    env.pane.forward()
    aio.wait_until(lambda: env.pane.record_id == ids["Account"], timeout=20)
    # back on the lead: its new status, the action off, the created records in its tabs
    while env.pane.record_id != lead.id and env.pane.can_go_back():
        env.pane.back()
        idle(env, aio)
    aio.wait_until(lambda: env.pane.record_id == lead.id, timeout=20)
    idle(env, aio)
    aio.wait_until(lambda: env.pane.form.display_text("status") == "Converted", timeout=20)
    assert not env.pane.record_actions["record.convert_lead"].isEnabled()
    for link, module in (("createdContact", "Contact"), ("createdOpportunity", "Opportunity")):
        tab = env.pane.related.show_link(link)
        assert tab is not None
        idle(env, aio)
        aio.wait_until(lambda t=tab: t.model.rowCount() == 1, timeout=20)  # type: ignore[misc]
        assert tab.model.record_id(0) == ids[module]


def test_duplicates_keep_the_dialog_open_with_the_reason(env: Env, aio: AsyncDriver) -> None:
    last = f"Twin {uid()}"
    aio.run(env.backend.create("Contact", {"firstName": "Ana", "lastName": last}), timeout=20)
    lead = show_lead(env, aio, last, f"Firm {uid()}")
    dialog = open_dialog(env, aio)
    account = dialog.section("Account")
    assert account is not None
    account.box.setChecked(False)
    dialog.convert_button.click()
    aio.wait_until(lambda: dialog.message.isVisible(), timeout=20)
    text = dialog.message.text()
    assert text.startswith("Not converted: EspoCRM found existing records")
    assert f"Contact “Ana {last}”" in text
    assert dialog.isVisible()
    assert dialog.convert_button.isEnabled()
    fresh = aio.run(env.backend.get("Lead", lead.id), timeout=20)
    assert fresh.get("status") == "New"
    # changing the name makes it go through
    line(dialog, "Contact", "lastName").line.setText(f"{last} Jr")
    dialog.convert_button.click()
    aio.wait_until(lambda: env.pane.convert_dialog is None, timeout=20)
    assert set(dialog.result_ids) == {"Contact"}
    assert "Lead converted: created Contact." in env.notices
