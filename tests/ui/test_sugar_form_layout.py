"""The Sugar record form against the demo Sugar over loopback: the record view's panels
as the form's sections, in Sugar's order, and the case status narrowed by its state (the
vardef's ``visibility_grid``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from helpers.qasync_loop import AsyncDriver
from PySide6.QtWidgets import QGridLayout, QLabel
from pytestqt.qtbot import QtBot

from crmdesk.backends import open_backend
from crmdesk.core.backend import Backend
from crmdesk.core.records import Record
from crmdesk.demo.server import DemoServer
from crmdesk.ui.forms.editors import EditorContext, EnumEditor
from crmdesk.ui.forms.form import RecordForm, SectionHeader
from crmdesk.ui.forms.pane import RecordPane
from crmdesk.ui.operations import Operations
from crmdesk.ui.tasks import TaskRunner

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


@dataclass
class Env:
    backend: Backend
    ops: Operations
    pane: RecordPane


@pytest.fixture
def env(
    demo_server: DemoServer, aio: AsyncDriver, qtbot: QtBot, runner: TaskRunner
) -> Iterator[Env]:
    be = open_backend(demo_server.profile("sugarcrm"), demo_server.secrets("sugarcrm"))
    aio.run(be.connect(), timeout=20)
    ops = Operations(be, runner)
    pane = RecordPane(ops, EditorContext())
    qtbot.addWidget(pane)
    pane.resize(760, 900)
    pane.show()
    yield Env(be, ops, pane)
    runner.cancel_all()
    aio.run(be.close(), timeout=20)


def show(env: Env, aio: AsyncDriver, module: str, values: dict[str, object]) -> Record:
    created = aio.run(env.backend.create(module, values), timeout=20)  # type: ignore[arg-type]
    record = aio.run(env.backend.get(module, created.id), timeout=20)
    mdef = aio.run(env.backend.describe(module), timeout=20)
    env.pane.show_record(mdef, record)
    aio.wait_until(lambda: not env.ops.runner.busy(), timeout=30)
    return record


def sections_shown(form: RecordForm) -> list[tuple[str, list[str]]]:
    """(heading, field names) of each block of the form, top to bottom, as laid out."""
    body = form.fields_area.widget()
    assert body is not None
    outer = body.layout()
    assert outer is not None
    names = {row.editor.widget: name for name, row in form.rows.items()}
    out: list[tuple[str, list[str]]] = []
    heading = ""
    for i in range(outer.count()):
        item = outer.itemAt(i)
        assert item is not None
        widget, grid = item.widget(), item.layout()
        if isinstance(widget, QLabel):
            heading = widget.text()
        elif isinstance(widget, SectionHeader):  # a folding section's header button
            heading = widget.accessibleName()
        elif widget is not None and isinstance(widget.layout(), QGridLayout):
            grid = widget.layout()
        if isinstance(grid, QGridLayout):
            fields = []
            for line in range(grid.rowCount()):
                cell = grid.itemAtPosition(line, 1)
                editor = cell.widget() if cell is not None else None
                if editor is not None and editor in names:
                    fields.append(names[editor])
            out.append((heading, fields))
            heading = ""
    return out


def test_the_case_form_has_sugars_panels_in_order(env: Env, aio: AsyncDriver) -> None:
    show(env, aio, "Cases", {"name": f"Printer {uuid.uuid4().hex[:6]}", "state": "Open"})
    shown = sections_shown(env.pane.form)
    assert [heading for heading, _ in shown] == ["Overview", "More information"]
    overview, more = (fields for _, fields in shown)
    assert overview == [
        "name",  # the header panel's field opens the body
        "case_number",
        "type",
        "account_id",  # account_name in the view
        "state",
        "status",
        "priority",
        "assigned_user_id",
        "description",
    ]
    assert more[0] == "resolution"
    assert more[-2:] == ["date_modified", "modified_user_id"]


def test_the_contact_form_opens_with_the_header_names(env: Env, aio: AsyncDriver) -> None:
    show(env, aio, "Contacts", {"last_name": f"Layout {uuid.uuid4().hex[:6]}"})
    shown = sections_shown(env.pane.form)
    assert [heading for heading, _ in shown][:2] == ["Overview", "More information"]
    overview = shown[0][1]
    assert overview[:4] == ["salutation", "first_name", "last_name", "title"]
    assert "email1" in overview  # the email widget of the body panel
    assert "primary_address_city" in shown[1][1]


def test_choosing_the_state_narrows_the_status(env: Env, aio: AsyncDriver) -> None:
    show(
        env,
        aio,
        "Cases",
        {"name": f"Dep {uuid.uuid4().hex[:6]}", "state": "Open", "status": "Assigned"},
    )
    form = env.pane.form
    state, status = form.editor("state"), form.editor("status")
    assert isinstance(state, EnumEditor)
    assert isinstance(status, EnumEditor)
    aio.wait_until(lambda: status.allowed is not None, timeout=20)
    assert status.options_shown() == ["New", "Assigned", "Pending Input"]
    assert status.value() == "Assigned"
    assert not env.pane.dirty
    state.choose("Closed")
    assert status.options_shown() == ["Closed", "Rejected", "Duplicate"]
    assert status.value() is None  # "Assigned" is no longer allowed: cleared
    status.choose("Rejected")
    assert form.validate() == {}
    assert form.changes() == {"state": "Closed", "status": "Rejected"}
    state.choose("Open")
    assert status.options_shown() == ["New", "Assigned", "Pending Input"]
