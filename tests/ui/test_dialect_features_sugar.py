"""SugarCRM favorites against the demo Sugar over loopback: a star in the list (from the
records' ``my_favorite``) and in the form, toggled with Ctrl+D through ``set_favorite``;
hidden for a CRM without favorites (SuiteCRM)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from helpers.qasync_loop import AsyncDriver
from pytestqt.qtbot import QtBot

from crmdesk.backends import open_backend
from crmdesk.core.backend import Backend
from crmdesk.core.query import Condition, Op, Query
from crmdesk.core.records import Page, PageRequest
from crmdesk.demo.server import DemoServer
from crmdesk.ui.forms.editors import EditorContext
from crmdesk.ui.forms.features import RecordFeatures
from crmdesk.ui.forms.pane import RecordPane
from crmdesk.ui.models.records import FAVORITE_ROLE, STAR, Loader, RecordTableModel
from crmdesk.ui.operations import Operations
from crmdesk.ui.tasks import TaskRunner
from crmdesk.ui.views.record_table import RecordTableView

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


@dataclass
class Env:
    backend: Backend
    ops: Operations
    pane: RecordPane
    model: RecordTableModel
    view: RecordTableView
    features: RecordFeatures
    prefix: str


def _env(dialect: str, demo: DemoServer, aio: AsyncDriver, qtbot: QtBot, runner: TaskRunner) -> Env:
    be = open_backend(demo.profile(dialect), demo.secrets(dialect))
    aio.run(be.connect(), timeout=20)
    ops = Operations(be, runner)
    pane = RecordPane(ops, EditorContext())
    model = RecordTableModel(runner)
    view = RecordTableView(model)
    for w in (pane, view):
        qtbot.addWidget(w)
        w.show()
    features = RecordFeatures(view, pane, ops)
    prefix = f"Fav {uuid.uuid4().hex[:8]}"
    for i in range(2):
        aio.run(be.create("Accounts", {"name": f"{prefix} {i}"}), timeout=20)
    mdef = aio.run(be.describe("Accounts"), timeout=20)

    def make(sort: object) -> Loader:
        query = Query(filter=Condition("name", Op.STARTS, prefix), fields=("name",))

        async def load(request: PageRequest) -> Page:
            return await be.list_records("Accounts", query, request)

        return load

    model.set_source(mdef.columns(), make)
    aio.wait_until(lambda: model.rowCount() == 2 and not model.loading, timeout=20)
    return Env(be, ops, pane, model, view, features, prefix)


@pytest.fixture
def sugar(
    demo_server: DemoServer, aio: AsyncDriver, qtbot: QtBot, runner: TaskRunner
) -> Iterator[Env]:
    env = _env("sugarcrm", demo_server, aio, qtbot, runner)
    yield env
    runner.cancel_all()
    aio.run(env.backend.close(), timeout=20)


def idle(env: Env, aio: AsyncDriver) -> None:
    aio.wait_until(lambda: not env.ops.runner.busy(), timeout=30)


def open_row(env: Env, aio: AsyncDriver, row: int) -> str:
    rid = env.model.record_id(row)
    mdef = aio.run(env.ops.describe("Accounts"), timeout=20)
    env.pane.show_record(mdef, aio.run(env.backend.get("Accounts", rid), timeout=20))
    idle(env, aio)
    return rid


def test_ctrl_d_stars_the_record_in_the_form_and_the_list(sugar: Env, aio: AsyncDriver) -> None:
    env = sugar
    assert env.model.favorites_on
    rid = open_row(env, aio, 0)
    row = env.model.row_of(rid)
    name_cell = env.model.index(row, 0)
    assert not name_cell.data(FAVORITE_ROLE)
    assert not str(name_cell.data()).startswith(STAR)
    action = env.pane.record_actions["record.favorite"]
    assert action.isVisible()
    assert action.shortcut().toString() == "Ctrl+D"
    assert not action.isChecked()
    assert action.text().startswith("\u2606")  # an empty star
    action.trigger()
    assert action.isChecked()  # at once
    idle(env, aio)
    assert action.text().startswith("\u2605")
    assert name_cell.data(FAVORITE_ROLE) is True
    assert str(name_cell.data()).startswith(STAR)
    assert aio.run(env.backend.get("Accounts", rid), timeout=20).get("my_favorite") is True
    # A reload of the list shows the star from the server's my_favorite.
    env.model.reload()
    aio.wait_until(lambda: env.model.rowCount() == 2 and not env.model.loading, timeout=20)
    assert env.model.is_favorite(rid)
    assert not env.model.is_favorite(env.model.record_id(1 - env.model.row_of(rid)))
    # And off again.
    open_row(env, aio, env.model.row_of(rid))
    assert action.isChecked()
    action.trigger()
    idle(env, aio)
    assert not action.isChecked()
    assert not env.model.is_favorite(rid)
    assert aio.run(env.backend.get("Accounts", rid), timeout=20).get("my_favorite") is False


def test_a_refused_favorite_puts_the_star_back(
    sugar: Env, demo_server: DemoServer, aio: AsyncDriver
) -> None:
    env = sugar
    rid = open_row(env, aio, 1)
    demo_server.faults.inject(r"/favorite", "status:500", times=None)
    notices: list[str] = []
    env.pane.notice.connect(notices.append)
    env.pane.toggle_favorite()
    idle(env, aio)
    assert not env.pane.is_favorite
    assert not env.model.is_favorite(rid)
    assert notices[-1].startswith("Favorite not changed:")


def test_no_star_where_the_crm_has_no_favorites(
    demo_server: DemoServer, aio: AsyncDriver, qtbot: QtBot, runner: TaskRunner
) -> None:
    env = _env("suitecrm", demo_server, aio, qtbot, runner)
    try:
        assert not env.model.favorites_on
        open_row(env, aio, 0)
        assert not env.pane.record_actions["record.favorite"].isVisible()
        assert not env.pane.toolbar.isVisible()
        assert not env.features.actions["list.refresh_changes"].isVisible()
    finally:
        runner.cancel_all()
        aio.run(env.backend.close(), timeout=20)
