"""Vtiger's extras in the record pane, against the demo Vtiger (Cloud flavour) over loopback:
tags, the account hierarchy tab, Convert Lead, dependent drop-downs, "Refresh changes" with
sync, attachments; and each one absent where the server (open-source flavour) lacks it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from helpers.fake_backend import FakeBackend
from helpers.qasync_loop import AsyncDriver
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from crmdesk.backends import open_backend
from crmdesk.core.backend import Backend, FileData
from crmdesk.core.query import Condition, Op, Query
from crmdesk.core.records import Page, PageRequest, Record
from crmdesk.demo.server import DemoServer
from crmdesk.ui.forms.editors import EditorContext, EnumEditor, LineEditor
from crmdesk.ui.forms.extras import HierarchyTab, attachment_ids, save_attachments
from crmdesk.ui.forms.features import RecordFeatures
from crmdesk.ui.forms.pane import RecordPane
from crmdesk.ui.models.records import Loader, RecordTableModel
from crmdesk.ui.operations import Operations
from crmdesk.ui.tasks import TaskRunner
from crmdesk.ui.views.record_table import RecordTableView

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


@dataclass
class Env:
    backend: Backend
    ops: Operations
    pane: RecordPane


def _open(demo: DemoServer, aio: AsyncDriver, flavour: str) -> Backend:
    be = open_backend(demo.profile("vtiger", flavour), demo.secrets("vtiger", flavour))
    aio.run(be.connect(), timeout=20)
    return be


@pytest.fixture
def env(
    demo_server: DemoServer, aio: AsyncDriver, qtbot: QtBot, runner: TaskRunner
) -> Iterator[Env]:
    be = _open(demo_server, aio, "rest")
    ops = Operations(be, runner)
    pane = RecordPane(ops, EditorContext())
    qtbot.addWidget(pane)
    pane.resize(760, 900)
    pane.show()
    yield Env(be, ops, pane)
    runner.cancel_all()
    if pane.convert_dialog is not None:
        pane.convert_dialog.reject()
    aio.run(be.close(), timeout=20)


def idle(env: Env, aio: AsyncDriver) -> None:
    aio.wait_until(lambda: not env.ops.runner.busy(), timeout=30)


def show(env: Env, aio: AsyncDriver, module: str, values: dict[str, object]) -> Record:
    created = aio.run(env.backend.create(module, values), timeout=20)  # type: ignore[arg-type]
    record = aio.run(env.backend.get(module, created.id), timeout=20)
    mdef = aio.run(env.backend.describe(module), timeout=20)
    env.pane.show_record(mdef, record)
    idle(env, aio)
    return record


def uid() -> str:
    return uuid.uuid4().hex[:8]


def test_tags_show_as_chips_and_are_added_and_removed(env: Env, aio: AsyncDriver) -> None:
    record = show(env, aio, "Accounts", {"accountname": f"Tagged {uid()}"})
    tags = env.pane.tags
    assert tags.isVisible()
    assert not tags.tags
    tags.entry.setText("vip, <b>bold</b>, vip")
    QTest.keyClick(tags.entry, Qt.Key.Key_Return)
    idle(env, aio)
    assert set(tags.tags) == {"vip", "<b>bold</b>"}
    assert tags.entry.text() == ""
    assert set(aio.run(env.backend.tags("Accounts", record.id), timeout=20)) == set(tags.tags)
    chip = tags.chip_buttons["<b>bold</b>"]
    assert chip.text().startswith("<b>bold</b>")  # plain text, shown literally
    chip.click()
    idle(env, aio)
    assert tags.tags == ("vip",)
    assert aio.run(env.backend.tags("Accounts", record.id), timeout=20) == ("vip",)


def test_the_account_form_has_a_hierarchy_tree_tab(env: Env, aio: AsyncDriver) -> None:
    parent = aio.run(env.backend.create("Accounts", {"accountname": f"Parent {uid()}"}), timeout=20)
    record = show(env, aio, "Accounts", {"accountname": f"Child {uid()}", "account_id": parent.id})
    related = env.pane.related
    tab = related.hierarchy
    assert isinstance(tab, HierarchyTab)
    assert related.tabText(related.indexOf(tab)) == "Hierarchy"
    related.setCurrentWidget(tab)
    idle(env, aio)
    top = tab.tree.topLevelItem(0)
    assert top is not None
    assert top.text(0) == parent.get("accountname")
    child = top.child(0)
    assert child is not None
    assert child.text(0) == record.get("accountname")
    assert child.font(0).bold()  # the shown account
    assert tab.tree.currentItem() is child
    opened: list[tuple[str, str]] = []
    tab.open_requested.connect(lambda m, i: opened.append((m, i)))
    tab.tree.itemActivated.emit(top, 0)
    assert opened == [("Accounts", parent.id)]
    # Not on other modules.
    show(env, aio, "Contacts", {"lastname": f"Nobody {uid()}"})
    assert related.hierarchy is None


def test_convert_lead_creates_the_records_and_opens_them(env: Env, aio: AsyncDriver) -> None:
    last = f"Lead {uid()}"
    lead = show(env, aio, "Leads", {"lastname": last, "firstname": "Ana", "company": f"Co {uid()}"})
    action = env.pane.record_actions["record.convert_lead"]
    assert action.isVisible()
    assert action.isEnabled()
    assert action.shortcut().toString() == "Ctrl+Shift+L"
    action.trigger()
    aio.wait_until(lambda: env.pane.convert_dialog is not None, timeout=20)
    dialog = env.pane.convert_dialog
    assert dialog is not None
    names = [s.mdef.name for s in dialog.sections]
    assert names == ["Contacts", "Accounts", "Potentials"]
    contact = dialog.section("Contacts")
    assert contact is not None
    assert contact.box.isChecked()
    lastname = contact.editors["lastname"]
    assert isinstance(lastname, LineEditor)
    assert lastname.line.text() == last  # carried over from the lead
    deal = dialog.section("Potentials")
    assert deal is not None
    deal.box.setChecked(True)
    dialog.convert_button.click()  # the deal's closing date and stage are required
    assert dialog.message.isVisible()
    assert dialog.isVisible()
    close = deal.editors["closingdate"]
    assert isinstance(close, LineEditor)
    close.line.setText((date.today() + timedelta(days=30)).isoformat())
    stage = deal.editors["sales_stage"]
    assert isinstance(stage, EnumEditor)
    stage.choose("Prospecting")
    dialog.convert_button.click()
    aio.wait_until(lambda: env.pane.convert_dialog is None, timeout=20)
    ids = dialog.result_ids
    assert set(ids) == {"Contacts", "Accounts", "Potentials"}
    idle(env, aio)
    aio.wait_until(lambda: env.pane.record_id == ids["Contacts"], timeout=20)
    assert env.pane.form.display_text("lastname") == last
    assert env.pane.can_go_forward()  # the account and the deal follow in the history
    env.pane.forward()
    aio.wait_until(lambda: env.pane.record_id == ids["Accounts"], timeout=20)
    fresh = aio.run(env.backend.get("Leads", lead.id), timeout=20)
    assert fresh.get("leadstatus") == "Converted"


def test_dependent_drop_downs_follow_the_source_value(env: Env, aio: AsyncDriver) -> None:
    show(
        env,
        aio,
        "Potentials",
        {
            "potentialname": f"Deal {uid()}",
            "closingdate": date.today(),
            "sales_stage": "Prospecting",
            "opportunity_type": "New Business",
        },
    )
    form = env.pane.form
    source, target = form.editor("opportunity_type"), form.editor("sales_stage")
    assert isinstance(source, EnumEditor)
    assert isinstance(target, EnumEditor)
    aio.wait_until(lambda: target.allowed is not None, timeout=20)
    assert "Prospecting" in target.options_shown()
    assert "Negotiation/Review" not in target.options_shown()
    assert not env.pane.dirty
    source.choose("Existing Business")
    assert "Negotiation/Review" in target.options_shown()
    assert "Prospecting" not in target.options_shown()
    assert target.value() is None  # no longer allowed: cleared, and required says so
    assert "sales_stage" in form.validate()
    target.choose("Negotiation/Review")
    assert form.validate() == {}


def test_refresh_changes_updates_and_removes_rows_in_place(
    env: Env, aio: AsyncDriver, qtbot: QtBot, runner: TaskRunner
) -> None:
    prefix = f"Sync {uid()}"
    recs = [
        aio.run(env.backend.create("Accounts", {"accountname": f"{prefix} {i}"}), timeout=20)
        for i in range(3)
    ]
    mdef = aio.run(env.backend.describe("Accounts"), timeout=20)
    model = RecordTableModel(runner)
    view = RecordTableView(model)
    qtbot.addWidget(view)
    features = RecordFeatures(view, env.pane, env.ops)
    action = features.actions["list.refresh_changes"]
    assert action.isVisible()
    assert action.shortcut().toString() == "Shift+F5"
    calls: list[str] = []

    def make(sort: object) -> Loader:
        query = Query(filter=Condition("accountname", Op.STARTS, prefix))

        async def load(request: PageRequest) -> Page:
            calls.append("list")
            return await env.backend.list_records("Accounts", query, request)

        return load

    model.set_source(mdef.columns(), make)
    aio.wait_until(lambda: model.rowCount() == 3 and not model.loading, timeout=20)
    assert model.loaded_at is not None
    model.loaded_at -= timedelta(seconds=2)  # the server's clock counts whole seconds
    aio.run(env.backend.update("Accounts", recs[0].id, {"accountname": f"{prefix} renamed"}))
    aio.run(env.backend.delete("Accounts", recs[1].id))
    notices: list[str] = []
    env.pane.notice.connect(notices.append)
    action.trigger()
    idle(env, aio)
    assert calls == ["list"]  # no reload
    assert model.rowCount() == 2
    assert model.row_of(recs[1].id) < 0
    assert model.text(model.row_of(recs[0].id), 0) == f"{prefix} renamed"
    assert notices
    assert "removed" in notices[-1]


def test_attachments_are_saved_to_the_chosen_folder(
    env: Env, aio: AsyncDriver, tmp_path: Path
) -> None:
    record = show(env, aio, "Contacts", {"lastname": f"Pictured {uid()}"})
    mdef = env.pane.form.mdef
    assert mdef is not None
    action = env.pane.record_actions["record.save_files"]
    assert action.isVisible()  # Contacts have an image field on this server
    assert not action.isEnabled()  # … but this contact has no image
    # The demo keeps no files: an attachment id is refused as Vtiger refuses a missing one.
    with_image = Record(record.module, record.id, {**record.values, "imagename": "12x999"})
    assert attachment_ids(mdef, with_image) == ["12x999"]
    env.pane.show_record(mdef, with_image)
    assert action.isEnabled()
    env.pane.choose_directory = lambda _title: str(tmp_path)
    action.trigger()
    idle(env, aio)
    assert env.pane.form.message_text.text().startswith("Attachments not saved:")
    assert list(tmp_path.iterdir()) == []


class _Files(FakeBackend):
    """The fake CRM with files (the demo keeps none), named as a hostile server might."""

    async def fetch_file(self, resource_id: str) -> FileData:
        return FileData("../../etc/photo.png", "image/png", resource_id.encode())


def test_saving_never_leaves_the_folder_nor_overwrites(aio: AsyncDriver, tmp_path: Path) -> None:
    paths = aio.run(save_attachments(_Files(), ["1x1", "1x2"], tmp_path))
    assert [p.name for p in paths] == ["photo.png", "photo (1).png"]
    assert all(p.parent == tmp_path for p in paths)
    assert paths[1].read_bytes() == b"1x2"


def test_the_open_source_server_shows_none_of_the_cloud_extras(
    demo_server: DemoServer, aio: AsyncDriver, qtbot: QtBot, runner: TaskRunner
) -> None:
    be = _open(demo_server, aio, "webservice")
    ops = Operations(be, runner)
    pane = RecordPane(ops, EditorContext())
    qtbot.addWidget(pane)
    pane.show()
    try:
        created = aio.run(be.create("Accounts", {"accountname": f"Plain {uid()}"}), timeout=20)
        mdef = aio.run(be.describe("Accounts"), timeout=20)
        pane.show_record(mdef, aio.run(be.get("Accounts", created.id), timeout=20))
        aio.wait_until(lambda: not runner.busy(), timeout=20)
        # The first call found tags and the hierarchy missing (HTTP 500): both turn off.
        aio.wait_until(lambda: not pane.tags.tags and bool(pane.tags.message.text()), timeout=20)
        pane.show_record(mdef, aio.run(be.get("Accounts", created.id), timeout=20))
        assert not pane.tags.isVisible()
        assert "tags" in be.disabled_features()
        assert not pane.record_actions["record.favorite"].isVisible()
    finally:
        runner.cancel_all()
        aio.run(be.close(), timeout=20)
