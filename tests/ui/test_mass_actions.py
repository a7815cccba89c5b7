"""Mass actions on selected rows against the demo server over loopback: Delete Selected
(one confirmation naming the count), Mass Update (one field, its form editor), through
``Backend.bulk_delete`` / ``bulk_update`` — Sugar's ``/bulk``, a loop of single calls on
EspoCRM — with per-id failures kept, rows changed in place, progress and Cancel."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from helpers.edit_util import RecordingBackend, answer_box
from helpers.qasync_loop import AsyncDriver
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QPushButton
from pytestqt.qtbot import QtBot

from crmdesk.backends import open_backend
from crmdesk.core.backend import Backend
from crmdesk.core.errors import NotFound
from crmdesk.core.query import Condition, Op, Query
from crmdesk.core.records import Page, PageRequest
from crmdesk.demo.server import DemoServer
from crmdesk.ui.forms.editors import EditorContext, LineEditor
from crmdesk.ui.forms.features import RecordFeatures
from crmdesk.ui.forms.pane import RecordPane
from crmdesk.ui.main_window import MainWindow
from crmdesk.ui.mass import MassActions
from crmdesk.ui.models.records import Loader, RecordTableModel
from crmdesk.ui.operations import Operations
from crmdesk.ui.tasks import TaskRunner
from crmdesk.ui.views.record_table import RecordTableView

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")

MODULE = {"sugarcrm": "Accounts", "espocrm": "Account"}


@dataclass
class Env:
    backend: Backend
    module: str
    pane: RecordPane
    model: RecordTableModel
    view: RecordTableView
    mass: MassActions
    ids: list[str]
    confirms: list[str]


def _env(
    dialect: str, n: int, demo: DemoServer, aio: AsyncDriver, qtbot: QtBot, runner: TaskRunner
) -> Env:
    be = open_backend(demo.profile(dialect), demo.secrets(dialect))
    aio.run(be.connect(), timeout=20)
    module = MODULE[dialect]
    ops = Operations(be, runner)
    pane = RecordPane(ops, EditorContext())
    model = RecordTableModel(runner)
    view = RecordTableView(model)
    for w in (pane, view):
        qtbot.addWidget(w)
        w.show()
    features = RecordFeatures(view, pane, ops)
    prefix = f"Mass {uuid.uuid4().hex[:8]}"
    ids = [
        aio.run(be.create(module, {"name": f"{prefix} {i:02d}"}), timeout=20).id for i in range(n)
    ]
    mdef = aio.run(be.describe(module), timeout=20)

    def make(sort: object) -> Loader:
        query = Query(filter=Condition("name", Op.STARTS, prefix), fields=("name", "website"))

        async def load(request: PageRequest) -> Page:
            return await be.list_records(module, query, request)

        return load

    columns = tuple(f for f in (mdef.field("name"), mdef.field("website")) if f is not None)
    assert len(columns) == 2
    model.set_source(columns, make)
    aio.wait_until(lambda: model.rowCount() == n and not model.loading, timeout=20)
    confirms: list[str] = []

    def confirm(_title: str, text: str) -> bool:
        confirms.append(text)
        return True

    pane.confirm = confirm
    return Env(be, module, pane, model, view, features.mass, ids, confirms)


@pytest.fixture
def make_env(
    demo_server: DemoServer, aio: AsyncDriver, qtbot: QtBot, runner: TaskRunner
) -> Iterator[object]:
    made: list[Env] = []

    def make(dialect: str, n: int = 3) -> Env:
        env = _env(dialect, n, demo_server, aio, qtbot, runner)
        made.append(env)
        return env

    yield make
    runner.cancel_all()
    for env in made:
        aio.run(env.backend.close(), timeout=20)


def select_all(env: Env) -> None:
    env.view.selectAll()
    assert len(env.mass.selected_ids()) == env.model.rowCount()


def idle(env: Env, aio: AsyncDriver) -> None:
    aio.wait_until(lambda: not env.mass.ops.runner.busy(), timeout=30)


def gone(env: Env, aio: AsyncDriver, rid: str) -> bool:
    try:
        aio.run(env.backend.get(env.module, rid), timeout=20)
    except NotFound:
        return True
    return False


def test_table_allows_extended_selection_and_offers_the_list_actions(make_env: object) -> None:
    env = make_env("sugarcrm", 2)  # type: ignore[operator]
    env.view.selectRow(0)
    env.view.selectionModel().select(
        env.model.index(1, 0),
        QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows,
    )
    assert env.mass.selected_ids() == [env.model.record_id(0), env.model.record_id(1)]
    names = {a.objectName() for a in env.view.actions()}
    assert {"list.delete_selected", "list.mass_update"} <= names
    assert env.mass.actions["list.mass_update"].shortcut().toString() == "Ctrl+Shift+U"


def test_sugar_delete_selected_uses_one_bulk_call_and_keeps_the_failed_row(
    make_env: object, aio: AsyncDriver
) -> None:
    env: Env = make_env("sugarcrm", 3)  # type: ignore[operator]
    be = env.backend
    bulk_calls: list[int] = []
    single: list[str] = []
    real_bulk, real_delete = be.bulk, be.delete  # type: ignore[attr-defined]

    async def counting_bulk(calls: list[object]) -> object:
        bulk_calls.append(len(calls))
        return await real_bulk(calls)

    async def counting_delete(module: str, rid: str) -> None:
        single.append(rid)
        await real_delete(module, rid)

    be.bulk = counting_bulk  # type: ignore[attr-defined]
    be.delete = counting_delete  # type: ignore[method-assign,assignment]
    # Someone else deletes one of them first: Sugar answers 404 for that sub-request.
    lost = env.model.record_id(1)
    aio.run(real_delete(env.module, lost), timeout=20)
    select_all(env)
    generation = env.model.generation
    env.mass.actions["list.delete_selected"].trigger()
    idle(env, aio)
    assert env.confirms == ["Delete 3 records? This cannot be undone from crmdesk."]
    assert bulk_calls == [3]
    assert single == []
    assert env.model.rowCount() == 1
    assert env.model.record_id(0) == lost
    assert env.mass.selected_ids() == [lost]
    assert env.model.generation == generation  # no reload
    assert env.mass.last_message.startswith("2 deleted, 1 failed: ")
    assert env.mass.report is not None
    assert env.mass.report.text() == env.mass.last_message
    env.mass.report.close()
    assert all(gone(env, aio, rid) for rid in env.ids)


def test_sugar_mass_update_through_bulk_updates_rows_in_place(
    make_env: object, aio: AsyncDriver
) -> None:
    env: Env = make_env("sugarcrm", 3)  # type: ignore[operator]
    select_all(env)
    generation = env.model.generation
    env.mass.actions["list.mass_update"].trigger()
    aio.wait_until(lambda: env.mass.dialog is not None and env.mass.dialog.isVisible())
    dialog = env.mass.dialog
    assert dialog is not None
    assert "name" in [dialog.field_box.itemData(i) for i in range(dialog.field_box.count())]
    editor = dialog.choose("website")
    assert isinstance(editor, LineEditor)
    editor.line.setText("https://mass.example.org")
    dialog.buttons.accepted.emit()
    idle(env, aio)
    assert env.mass.last_message == "3 updated."
    col = env.model.column_of("website")
    for row in range(3):
        assert "mass.example.org" in env.model.text(row, col)
    assert env.model.generation == generation
    for rid in env.ids:
        rec = aio.run(env.backend.get(env.module, rid), timeout=20)
        assert rec.get("website") == "https://mass.example.org"


def test_default_loop_on_espocrm_reports_per_id_failures(
    make_env: object, aio: AsyncDriver, demo_server: DemoServer
) -> None:
    env: Env = make_env("espocrm", 3)  # type: ignore[operator]
    assert type(env.backend).bulk_update is Backend.bulk_update  # the core's loop
    bad = env.ids[2]
    demo_server.faults.inject(f"/Account/{bad}$", "status:403", times=None, method="PUT")
    select_all(env)
    env.mass.actions["list.mass_update"].trigger()
    aio.wait_until(lambda: env.mass.dialog is not None and env.mass.dialog.isVisible())
    dialog = env.mass.dialog
    assert dialog is not None
    editor = dialog.choose("website")
    assert isinstance(editor, LineEditor)
    editor.line.setText("https://loop.example.org")
    dialog.buttons.accepted.emit()
    idle(env, aio)
    demo_server.faults.clear()
    assert env.mass.last_message.startswith("2 updated, 1 failed: ")
    assert env.mass.selected_ids() == [bad]
    if env.mass.report is not None:
        env.mass.report.close()
    done = [aio.run(env.backend.get(env.module, rid), timeout=20) for rid in env.ids]
    assert [r.get("website") == "https://loop.example.org" for r in done] == [True, True, False]


def test_progress_and_cancel_between_chunks(make_env: object, aio: AsyncDriver) -> None:
    env: Env = make_env("espocrm", 4)  # type: ignore[operator]
    env.mass.progress_from, env.mass.chunk = 2, 1
    seen: list[int] = []

    def removed(*_args: object) -> None:
        assert env.mass.progress is not None  # shown while it runs
        seen.append(env.mass.progress.value())
        button = env.mass.progress.findChild(QPushButton)
        assert button is not None
        assert button.text() == "Cancel"
        button.click()  # the user presses Cancel after the first record

    env.model.rowsRemoved.connect(removed)
    select_all(env)
    env.mass.delete_selected()
    idle(env, aio)
    assert env.confirms == ["Delete 4 records? This cannot be undone from crmdesk."]
    assert seen == [1]
    assert env.mass.last_message == "1 deleted, 3 not sent (cancelled)."
    assert env.mass.progress is None
    assert env.model.rowCount() == 3
    assert [gone(env, aio, rid) for rid in env.ids].count(True) == 1


def test_one_selected_row_keeps_the_single_delete(make_env: object, aio: AsyncDriver) -> None:
    env: Env = make_env("sugarcrm", 2)  # type: ignore[operator]
    env.view.selectRow(0)
    rid = env.model.record_id(0)
    env.mass.delete_selected()
    assert len(env.confirms) == 1
    assert env.confirms[0].startswith("Delete “Mass ")
    idle(env, aio)
    assert gone(env, aio, rid)


def test_del_in_the_main_window_with_several_rows_asks_once_with_the_count(
    qtbot: QtBot, aio: AsyncDriver
) -> None:
    backend = RecordingBackend()
    win = MainWindow(backend, connection_name="Fake CRM", page_size=100)
    qtbot.addWidget(win)
    win.show()
    win.start()
    aio.wait_until(lambda: win.modules.rowCount() > 0)
    assert win.module_tree.select_module("Accounts")
    aio.wait_until(lambda: win.records.rowCount() > 0 and not win.records.loading)
    try:
        win.table.selectRow(2)
        for row in (3, 4):
            win.table.selectionModel().select(
                win.records.index(row, 0),
                QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows,
            )
        ids = [win.records.record_id(r) for r in (2, 3, 4)]
        rows, lists = win.records.rowCount(), len(backend.list_calls())
        seen: list[str] = []
        answer_box("Delete 3", seen=seen)
        win.actions_by_id["record.delete"].trigger()
        aio.wait_until(lambda: win.records.rowCount() == rows - 3 and not win.runner.busy())
        assert seen == ["Delete 3 records? This cannot be undone from crmdesk."]
        assert len(backend.list_calls()) == lists
        assert not {r.id for r in backend.store["Accounts"]} & set(ids)
    finally:
        win.runner.cancel_all()


@pytest.mark.qt_log_ignore("propagateSizeHints", "does not support raise", "grabbing the keyboard")
def test_context_menu_keeps_the_selection_and_lists_the_mass_actions(make_env: object) -> None:
    env: Env = make_env("sugarcrm", 3)  # type: ignore[operator]
    select_all(env)
    env.view._context_menu(env.view.visualRect(env.model.index(1, 0)).center())
    assert len(env.mass.selected_ids()) == 3
    texts = [a.text() for a in env.view.context_menu.actions()]
    env.view.context_menu.close()
    assert "Delete Selected\u2026" in texts
    assert "Mass Update\u2026" in texts


# -- changed by someone else since the list was loaded --------------------------------------
MINE, THEIRS = "https://mine.example.org", "https://theirs.example.org"


def _mass_update_after_a_colleague(
    env: Env, aio: AsyncDriver, demo: DemoServer, dialect: str
) -> tuple[str, str, str]:
    """A colleague changes row 1's website and row 2's description after the list was
    loaded; then the user sets the website of all three.  Returns the ids by row."""
    rows = tuple(env.model.record_id(r) for r in range(3))
    colleague = open_backend(demo.profile(dialect), demo.secrets(dialect))
    aio.run(colleague.connect(), timeout=20)
    try:
        aio.run(colleague.update(env.module, rows[1], {"website": THEIRS}), timeout=20)
        aio.run(colleague.update(env.module, rows[2], {"description": "their note"}), timeout=20)
    finally:
        aio.run(colleague.close(), timeout=20)
    select_all(env)
    env.mass.actions["list.mass_update"].trigger()
    aio.wait_until(lambda: env.mass.dialog is not None and env.mass.dialog.isVisible())
    dialog = env.mass.dialog
    assert dialog is not None
    editor = dialog.choose("website")
    assert isinstance(editor, LineEditor)
    editor.line.setText(MINE)
    dialog.buttons.accepted.emit()
    idle(env, aio)
    return rows  # type: ignore[return-value]


def _offered(env: Env) -> bool:
    return env.mass.overwrite_button is not None


def _website(env: Env, aio: AsyncDriver, rid: str) -> object:
    return aio.run(env.backend.get(env.module, rid), timeout=20).get("website")


def _shown_website(env: Env, rid: str) -> str:
    return env.model.text(env.model.row_of(rid), env.model.column_of("website"))


@pytest.mark.parametrize("dialect", ["sugarcrm", "espocrm"])  # /bulk; the core's loop
def test_conflicts_are_left_alone_named_and_left_on_escape(
    make_env: object, aio: AsyncDriver, demo_server: DemoServer, qtbot: QtBot, dialect: str
) -> None:
    env: Env = make_env(dialect, 3)  # type: ignore[operator]
    a, b, c = _mass_update_after_a_colleague(env, aio, demo_server, dialect)
    message = "2 updated, 1 changed by someone else since the list was loaded (left alone)."
    assert env.mass.last_message == message
    box = env.mass.report
    assert box is not None
    assert box.isVisible()
    assert box.textFormat() == Qt.TextFormat.PlainText
    name = env.model.text(env.model.row_of(b), 0)
    assert box.text().splitlines() == [
        message,
        "",
        "1 record was changed by someone else since the list was loaded and was left alone; "
        "the list now shows their values:",
        f"  {name}",
        "",
        "Overwrite it with the new Website, or leave it as it is?",
    ]
    assert env.mass.overwrite_button is not None
    assert env.mass.overwrite_button.text() == "&Overwrite these"
    assert env.mass.leave_button is box.defaultButton()
    # Rows: the updated ones show the new value, the conflicted one the colleague's.
    assert "mine.example.org" in _shown_website(env, a)
    assert "mine.example.org" in _shown_website(env, c)
    assert "theirs.example.org" in _shown_website(env, b)
    assert env.mass.selected_ids() == [b]
    # Escape is "Leave them": nothing more is sent.
    QTest.keyClick(box, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not box.isVisible())
    idle(env, aio)
    assert not _offered(env)  # the question is answered
    assert env.mass.last_message == message
    assert [_website(env, aio, rid) for rid in (a, b, c)] == [MINE, THEIRS, MINE]
    got = aio.run(env.backend.get(env.module, c), timeout=20)
    assert got.get("description") == "their note"  # their other field stays


@pytest.mark.parametrize("dialect", ["sugarcrm", "espocrm"])
def test_overwrite_these_updates_just_the_conflicted_records(
    make_env: object, aio: AsyncDriver, demo_server: DemoServer, qtbot: QtBot, dialect: str
) -> None:
    env: Env = make_env(dialect, 3)  # type: ignore[operator]
    a, b, c = _mass_update_after_a_colleague(env, aio, demo_server, dialect)
    box = env.mass.report
    assert box is not None
    over = env.mass.overwrite_button
    assert over is not None
    sent: list[list[str]] = []
    real = env.backend.bulk_update

    async def recording(module: str, ids: list[str], *args: object, **kw: object) -> object:
        sent.append(list(ids))
        assert kw.get("expected") is None  # without the check
        return await real(module, ids, *args, **kw)  # type: ignore[arg-type]

    env.backend.bulk_update = recording  # type: ignore[method-assign,assignment]
    over.setFocus()
    QTest.keyClick(over, Qt.Key.Key_Space)  # from the keyboard
    qtbot.waitUntil(lambda: not box.isVisible())
    idle(env, aio)
    assert sent == [[b]]
    assert env.mass.last_message == "1 updated."
    assert [_website(env, aio, rid) for rid in (a, b, c)] == [MINE] * 3
    assert "mine.example.org" in _shown_website(env, b)
