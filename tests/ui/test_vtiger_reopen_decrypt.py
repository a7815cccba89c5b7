"""Vtiger's Reopen (a closed HelpDesk ticket) and "Show value" (``decrypt`` of an encrypted
field) in the record pane, against the demo Vtiger over loopback: both work on the Cloud
flavour; stock webservice.php answers HTTP 500 empty, and the GUI turns them off."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from helpers.qasync_loop import AsyncDriver
from pytestqt.qtbot import QtBot

from crmdesk.backends import open_backend
from crmdesk.core.backend import Backend
from crmdesk.core.errors import Unsupported
from crmdesk.core.records import Record
from crmdesk.core.schema import FieldType, ModuleDef
from crmdesk.demo.server import DemoServer
from crmdesk.ui.forms.editors import EditorContext
from crmdesk.ui.forms.pane import RecordPane
from crmdesk.ui.operations import Operations
from crmdesk.ui.tasks import TaskRunner

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


@pytest.fixture(params=["rest", "webservice"])
def pane(
    request: pytest.FixtureRequest,
    demo_server: DemoServer,
    aio: AsyncDriver,
    qtbot: QtBot,
    runner: TaskRunner,
) -> Iterator[RecordPane]:
    flavour = request.param
    be = open_backend(
        demo_server.profile("vtiger", flavour), demo_server.secrets("vtiger", flavour)
    )
    aio.run(be.connect(), timeout=20)
    p = RecordPane(Operations(be, runner), EditorContext())
    qtbot.addWidget(p)
    p.resize(760, 900)
    p.show()
    yield p
    runner.cancel_all()
    aio.run(be.close(), timeout=20)


def backend_of(pane: RecordPane) -> Backend:
    return pane.ops.backend


def cloud(pane: RecordPane) -> bool:
    return getattr(backend_of(pane), "flavour", "") == "rest"


def idle(pane: RecordPane, aio: AsyncDriver) -> None:
    aio.wait_until(lambda: not pane.ops.runner.busy(), timeout=30)


def show(pane: RecordPane, aio: AsyncDriver, module: str, rid: str) -> tuple[ModuleDef, Record]:
    be = backend_of(pane)
    mdef = aio.run(be.describe(module), timeout=20)
    record = aio.run(be.get(module, rid), timeout=20)
    pane.show_record(mdef, record)
    idle(pane, aio)
    return mdef, record


def ticket(pane: RecordPane, aio: AsyncDriver, status: str) -> str:
    be = backend_of(pane)
    mdef = aio.run(be.describe("HelpDesk"), timeout=20)
    fdef = mdef.field("ticketstatus")
    assert fdef is not None
    key = next(o.key for o in fdef.options if o.key.casefold().startswith(status.casefold()))
    priority = mdef.field("ticketpriorities")
    assert priority is not None
    values = {
        "ticket_title": f"Reopen {uuid.uuid4().hex[:8]}",
        "ticketstatus": key,
        "ticketpriorities": priority.options[0].key,
    }
    return aio.run(be.create("HelpDesk", values), timeout=20).id


def test_reopen_a_closed_ticket(pane: RecordPane, aio: AsyncDriver) -> None:
    be = backend_of(pane)
    assert be.capabilities.reopen
    rid = ticket(pane, aio, "Closed")
    show(pane, aio, "HelpDesk", rid)
    action = pane.record_actions["record.reopen"]
    assert action.isVisible()  # not known to be missing until the server says so
    notices: list[str] = []
    pane.notice.connect(notices.append)
    action.trigger()
    idle(pane, aio)
    if cloud(pane):
        assert notices == ["Record reopened successfully."]
        status = aio.run(be.get("HelpDesk", rid), timeout=20).get("ticketstatus")
        assert not str(status).casefold().startswith("closed")
        assert pane.form.original is not None
        assert pane.form.original.get("ticketstatus") == status  # the form shows it open
        assert not action.isVisible()
    else:
        assert "reopen" in be.disabled_features()
        assert notices[0].startswith("Not reopened: This Vtiger server does not offer 'reopen'")
        assert not action.isVisible()
        with pytest.raises(Unsupported):
            aio.run(be.reopen("HelpDesk", rid), timeout=20)


def test_reopen_is_not_offered_on_an_open_ticket(pane: RecordPane, aio: AsyncDriver) -> None:
    rid = ticket(pane, aio, "Open")
    show(pane, aio, "HelpDesk", rid)
    assert not pane.record_actions["record.reopen"].isVisible()


def test_show_value_of_an_encrypted_field(pane: RecordPane, aio: AsyncDriver) -> None:
    be = backend_of(pane)
    created = aio.run(be.create("Contacts", {"lastname": f"Secret {uuid.uuid4().hex[:6]}"}))
    rid_text = created.id
    mdef, record = show(pane, aio, "Contacts", rid_text)
    fdef = mdef.field("cf_national_id")
    assert fdef is not None
    assert fdef.sensitive
    assert fdef.type is FieldType.UNKNOWN  # read-only in the form
    assert not any(f.sensitive for f in mdef.fields if f.name != "cf_national_id")
    masked = str(record.get("cf_national_id"))
    assert masked.startswith("***")
    assert masked.endswith("31")
    row = pane.form.rows["cf_national_id"]
    assert row.reveal is not None
    assert row.reveal.isVisible()
    assert row.editor.display_text() == masked
    notices: list[str] = []
    pane.notice.connect(notices.append)
    row.reveal.click()
    idle(pane, aio)
    if cloud(pane):
        number = rid_text.split("x")[1]
        assert row.editor.display_text() == f"NI-{number}-7731"
        assert not row.reveal.isEnabled()
        assert not pane.form.dirty
        assert notices == []
    else:
        assert row.editor.display_text() == masked
        assert "decrypt" in be.disabled_features()
        assert not row.reveal.isVisible()
        assert notices[0].startswith("Value not shown: This Vtiger server does not offer")


def test_other_dialects_refuse_reopen_and_decrypt(
    demo_server: DemoServer, aio: AsyncDriver
) -> None:
    be = open_backend(demo_server.profile("suitecrm"), demo_server.secrets("suitecrm"))
    assert not be.capabilities.reopen
    assert not be.capabilities.decrypt
    with pytest.raises(Unsupported):
        aio.run(be.reopen("Cases", "x"), timeout=20)
    with pytest.raises(Unsupported):
        aio.run(be.decrypt("Contacts", "x", "name"), timeout=20)
