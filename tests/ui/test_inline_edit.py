"""Editing cells in place in the record table, against the demo CRM (SuiteCRM) over loopback:
editors from the form's registry, one save per cell, the row updated in place, failed saves
kept in the cell with Retry / Revert, values that do not parse never sent, read-only fields
and records the ACL forbids not editable; the model passes qtmodeltester with editing on.
On EspoCRM: a cell saved after a colleague changed the same field shows the conflict."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from helpers.qasync_loop import AsyncDriver
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QComboBox
from pytestqt.qtbot import QtBot

from crmdesk.backends import open_backend
from crmdesk.core.backend import Backend
from crmdesk.core.query import Condition, Op, Query
from crmdesk.core.records import Page, PageRequest, Record
from crmdesk.core.schema import FieldDef, ModuleDef
from crmdesk.demo.server import DemoServer
from crmdesk.ui.browser import list_query
from crmdesk.ui.forms.editors import EnumEditor, FieldEditor, LineEditor
from crmdesk.ui.forms.inline import InlineEditing
from crmdesk.ui.models.records import EDIT_STATE_ROLE, Loader, RecordTableModel
from crmdesk.ui.operations import ChangeKind, Operations, RecordChange
from crmdesk.ui.tasks import TaskRunner
from crmdesk.ui.views.record_table import RecordTableView

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")

COLUMNS = ("name", "billing_address_city", "industry", "date_entered", "employees")


@dataclass
class Env:
    backend: Backend
    ops: Operations
    model: RecordTableModel
    view: RecordTableView
    inline: InlineEditing
    mdef: ModuleDef
    record: Record
    changes: list[RecordChange]


@pytest.fixture
def env(
    demo_server: DemoServer, aio: AsyncDriver, qtbot: QtBot, runner: TaskRunner
) -> Iterator[Env]:
    be = open_backend(demo_server.profile("suitecrm"), demo_server.secrets("suitecrm"))
    aio.run(be.connect(), timeout=20)
    mdef = aio.run(be.describe("Accounts"), timeout=20)
    prefix = f"Inline {uuid.uuid4().hex[:8]}"
    created = aio.run(
        be.create("Accounts", {"name": f"{prefix} A", "billing_address_city": "Lisbon"}),
        timeout=20,
    )
    ops = Operations(be, runner)
    changes: list[RecordChange] = []
    ops.changed.connect(changes.append)
    model = RecordTableModel(runner, page_size=20)
    view = RecordTableView(model)
    qtbot.addWidget(view)
    view.resize(900, 300)
    view.show()
    inline = InlineEditing(view, ops)
    columns = [f for n in COLUMNS if (f := mdef.field(n)) is not None]
    assert len(columns) == len(COLUMNS)

    def make(sort: object) -> Loader:
        query = Query(filter=Condition("name", Op.STARTS, prefix), fields=COLUMNS)

        async def load(request: PageRequest) -> Page:
            return await be.list_records("Accounts", query, request)

        return load

    model.set_source(columns, make)
    aio.wait_until(lambda: model.rowCount() == 1 and not model.loading, timeout=20)
    yield Env(be, ops, model, view, inline, mdef, created, changes)
    runner.cancel_all()
    aio.run(be.close(), timeout=20)


def idle(env: Env, aio: AsyncDriver) -> None:
    aio.wait_until(lambda: not env.ops.runner.busy(), timeout=30)


def open_cell(env: Env, column: str) -> tuple[QModelIndex, FieldEditor]:
    index = env.model.index(0, env.model.column_of(column))
    env.view.setCurrentIndex(index)
    env.view.edit(index)
    editors = list(env.inline.delegate._editors.values())
    assert len(editors) == 1, "one editor open"
    return index, editors[0]


def type_cell(env: Env, column: str, text: str) -> QModelIndex:
    index, editor = open_cell(env, column)
    assert isinstance(editor, LineEditor)
    editor.line.setText(text)
    QTest.keyClick(editor.line, Qt.Key.Key_Return)
    QApplication.processEvents()  # the delegate commits on a queued call
    return index


def server_value(env: Env, aio: AsyncDriver, name: str) -> object:
    return aio.run(env.backend.get("Accounts", env.record.id), timeout=20).get(name)


def test_a_typed_cell_is_saved_alone_and_the_row_updates_in_place(
    env: Env, aio: AsyncDriver
) -> None:
    index = type_cell(env, "billing_address_city", "Porto")
    # At once: the new text shows, marked as saving, and the cell may not be edited again yet.
    assert index.data() == "Porto"
    assert index.data(EDIT_STATE_ROLE) == "saving"
    idle(env, aio)
    assert index.data(EDIT_STATE_ROLE) == ""
    assert index.data() == "Porto"
    assert env.model.pending_edits() == {}
    assert server_value(env, aio, "billing_address_city") == "Porto"
    assert server_value(env, aio, "name") == env.record.get("name")
    updated = [c for c in env.changes if c.kind is ChangeKind.UPDATED]
    assert [c.record_id for c in updated] == [env.record.id]
    assert env.model.rowCount() == 1  # in place, no reload


def test_an_enum_cell_commits_when_chosen(env: Env, aio: AsyncDriver) -> None:
    index, editor = open_cell(env, "industry")
    assert isinstance(editor, EnumEditor)
    assert isinstance(editor.widget, QComboBox)
    option = env.mdef.field("industry")
    assert option is not None
    key = option.options[2].key
    editor.choose(key)  # what a pick in the drop-down does
    idle(env, aio)
    assert server_value(env, aio, "industry") == key
    assert index.data() == option.option_label(key)
    assert not env.inline.delegate._editors  # the editor closed


@pytest.mark.parametrize("fault", ["status:500", "drop"])
def test_a_failed_save_keeps_the_value_with_the_error_then_retry_saves_it(
    env: Env, demo_server: DemoServer, aio: AsyncDriver, fault: str
) -> None:
    demo_server.faults.inject(r"/module", fault, times=None, method="PATCH")
    index = type_cell(env, "billing_address_city", "Faro")
    idle(env, aio)
    assert index.data() == "Faro"  # the typed value stays visible
    assert index.data(EDIT_STATE_ROLE) == "failed"
    assert index.data(Qt.ItemDataRole.BackgroundRole) is not None
    tip = index.data(Qt.ItemDataRole.ToolTipRole)
    assert tip.startswith("Not saved:")
    bar = env.view.edit_bar
    assert bar.isVisible()
    city = env.mdef.field("billing_address_city")
    assert city is not None
    assert bar.text.text().startswith(f"{city.label} not saved:")
    assert bar.text.textFormat() == Qt.TextFormat.PlainText
    assert server_value(env, aio, "billing_address_city") == "Lisbon"
    demo_server.faults.clear()
    bar.retry.click()
    idle(env, aio)
    assert not bar.isVisible()
    assert index.data(EDIT_STATE_ROLE) == ""
    assert index.data() == "Faro"
    assert server_value(env, aio, "billing_address_city") == "Faro"


def test_revert_gives_up_a_failed_cell_and_esc_does_it_from_the_keyboard(
    env: Env, demo_server: DemoServer, aio: AsyncDriver
) -> None:
    demo_server.faults.inject(r"/module", "status:503", times=None, method="PATCH")
    index = type_cell(env, "billing_address_city", "Braga")
    idle(env, aio)
    assert index.data(EDIT_STATE_ROLE) == "failed"
    env.view.setCurrentIndex(index)
    env.view.setFocus()
    QTest.keyClick(env.view, Qt.Key.Key_Escape)
    assert index.data() == "Lisbon"
    assert index.data(EDIT_STATE_ROLE) == ""
    assert not env.view.edit_bar.isVisible()
    # The context-menu / shortcut actions act on the current cell too.
    index = type_cell(env, "billing_address_city", "Coimbra")
    idle(env, aio)
    assert env.view.cell_actions["cell.revert"].shortcut().toString() == "Ctrl+Z"
    env.view.setCurrentIndex(index)
    env.view.cell_actions["cell.revert"].trigger()
    assert index.data() == "Lisbon"
    demo_server.faults.clear()
    assert server_value(env, aio, "billing_address_city") == "Lisbon"


def test_a_value_that_does_not_parse_stays_marked_and_is_never_sent(
    env: Env, demo_server: DemoServer, aio: AsyncDriver
) -> None:
    col = env.model.column_of("name")
    name = env.model.columns[col]
    assert name.required
    index = type_cell(env, "name", "   ")
    assert index.data(EDIT_STATE_ROLE) == "invalid"
    assert "required" in index.data(Qt.ItemDataRole.ToolTipRole)
    idle(env, aio)
    assert server_value(env, aio, "name") == env.record.get("name")
    # Retry on an invalid cell opens its editor with what was typed.
    env.inline.retry(env.record.id, "name")
    editors = list(env.inline.delegate._editors.values())
    assert len(editors) == 1
    assert isinstance(editors[0], LineEditor)
    assert editors[0].line.text() == "   "


def test_read_only_fields_other_types_and_forbidden_records_are_not_editable(env: Env) -> None:
    model = env.model
    assert model.flags(model.index(0, model.column_of("name"))) & Qt.ItemFlag.ItemIsEditable
    entered = model.index(0, model.column_of("date_entered"))  # read-only datetime
    assert not model.flags(entered) & Qt.ItemFlag.ItemIsEditable
    assert not model.setData(entered, None)
    locked = Record(
        "Accounts",
        "locked-1",
        {"name": "Locked Ltd", "billing_address_city": "Nowhere"},
        access=frozenset({"view", "list"}),
    )
    row = model.insert_record(locked, 1)
    for col in range(model.columnCount()):
        assert not model.flags(model.index(row, col)) & Qt.ItemFlag.ItemIsEditable
    assert not model.setData(model.index(row, 0), "Mine now")
    assert model.text(row, 0) == "Locked Ltd"


def test_the_model_with_editing_on_passes_qtmodeltester(env: Env, qtmodeltester: object) -> None:
    env.model.insert_record(
        Record("Accounts", "x-2", {"name": "Second", "billing_address_city": "Evora"}), 1
    )
    env.model.mark_invalid("x-2", "billing_address_city", "??", "Not a city")
    env.model.set_favorites(True)
    env.model.set_favorite("x-2", True)
    qtmodeltester.check(env.model)  # type: ignore[attr-defined]


def test_columns_and_fields_line_up(env: Env) -> None:
    fields: list[FieldDef] = list(env.model.columns)
    assert [f.name for f in fields] == list(COLUMNS)
    record = env.model.record_at(0)
    assert record.id == env.record.id
    assert record.get("billing_address_city") == "Lisbon"


@pytest.fixture
def espo_env(
    demo_server: DemoServer, aio: AsyncDriver, qtbot: QtBot, runner: TaskRunner
) -> Iterator[Env]:
    """An EspoCRM Account listed as the browser lists it: its list columns only."""
    be = open_backend(demo_server.profile("espocrm"), demo_server.secrets("espocrm"))
    aio.run(be.connect(), timeout=20)
    mdef = aio.run(be.describe("Account"), timeout=20)
    prefix = f"Inline {uuid.uuid4().hex[:8]}"
    created = aio.run(
        be.create("Account", {"name": f"{prefix} A", "billingAddressCountry": "Portugal"}),
        timeout=20,
    )
    ops = Operations(be, runner)
    changes: list[RecordChange] = []
    ops.changed.connect(changes.append)
    model = RecordTableModel(runner, page_size=20)
    view = RecordTableView(model)
    qtbot.addWidget(view)
    view.resize(900, 300)
    view.show()
    inline = InlineEditing(view, ops)
    columns = list(mdef.columns())
    assert "billingAddressCountry" in [c.name for c in columns]

    def make(sort: object) -> Loader:
        query = list_query(mdef, flt=Condition("name", Op.STARTS, prefix))
        assert query.fields is not None  # the table's columns only
        assert "versionNumber" not in query.fields

        async def load(request: PageRequest) -> Page:
            return await be.list_records("Account", query, request)

        return load

    model.set_source(columns, make)
    aio.wait_until(lambda: model.rowCount() == 1 and not model.loading, timeout=20)
    yield Env(be, ops, model, view, inline, mdef, created, changes)
    runner.cancel_all()
    aio.run(be.delete("Account", created.id), timeout=20)
    aio.run(be.close(), timeout=20)


def test_espocrm_a_cell_a_colleague_changed_meanwhile_shows_the_conflict(
    espo_env: Env, demo_server: DemoServer, aio: AsyncDriver
) -> None:
    env = espo_env
    field = "billingAddressCountry"
    colleague = open_backend(demo_server.profile("espocrm"), demo_server.secrets("espocrm"))
    aio.run(colleague.connect(), timeout=20)
    try:
        aio.run(colleague.update("Account", env.record.id, {field: "Spain"}), timeout=20)
    finally:
        aio.run(colleague.close(), timeout=20)

    index = type_cell(env, field, "France")
    idle(env, aio)

    # Theirs is kept on the server; mine stays in the cell, marked, with both named.
    stored = aio.run(env.backend.get("Account", env.record.id), timeout=20)
    assert stored.get(field) == "Spain"
    assert index.data() == "France"
    assert index.data(EDIT_STATE_ROLE) == "failed"
    assert "Someone else changed it to “Spain”" in index.data(Qt.ItemDataRole.ToolTipRole)
    bar = env.view.edit_bar
    assert bar.isVisible()
    assert "Someone else changed it to “Spain”" in bar.text.text()
    assert bar.text.textFormat() == Qt.TextFormat.PlainText
    assert not [c for c in env.changes if c.kind is ChangeKind.UPDATED]
    # Retry replaces theirs knowingly: the row took the colleague's version.
    bar.retry.click()
    idle(env, aio)
    assert index.data(EDIT_STATE_ROLE) == ""
    assert aio.run(env.backend.get("Account", env.record.id), timeout=20).get(field) == "France"
