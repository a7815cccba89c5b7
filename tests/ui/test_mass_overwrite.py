""" "Overwrite these" after a checked mass update (demo server, real loopback HTTP): the
resend goes to the conflicting records and carries the value the user chose, whether or
not their rows are still in the list (it was reloaded with another filter, or simply
reloaded, in between), and the report says what became of each: done, failed, gone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers.qasync_loop import AsyncDriver
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from crmdesk.backends import open_backend
from crmdesk.core.query import Condition, Op, Query
from crmdesk.core.records import Page, PageRequest
from crmdesk.demo.server import DemoServer
from crmdesk.ui.forms.editors import LineEditor
from crmdesk.ui.models.records import Loader
from crmdesk.ui.tasks import TaskRunner
from ui.test_mass_actions import Env, _env, idle, select_all

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")

MINE = "https://mine.example.org"
THEIRS = "https://theirs.example.org"


@pytest.fixture
def envs(
    demo_server: DemoServer, aio: AsyncDriver, qtbot: QtBot, runner: TaskRunner
) -> Iterator[list[Env]]:
    made: list[Env] = []
    yield made
    runner.cancel_all()
    for env in made:
        aio.run(env.backend.close(), timeout=20)


def make(
    envs: list[Env],
    dialect: str,
    demo: DemoServer,
    aio: AsyncDriver,
    qtbot: QtBot,
    runner: TaskRunner,
) -> Env:
    env = _env(dialect, 4, demo, aio, qtbot, runner)
    envs.append(env)
    return env


def colleague(demo: DemoServer, dialect: str, aio: AsyncDriver, env: Env, act: object) -> None:
    other = open_backend(demo.profile(dialect), demo.secrets(dialect))
    aio.run(other.connect(), timeout=20)
    try:
        aio.run(act(other), timeout=20)  # type: ignore[operator]
    finally:
        aio.run(other.close(), timeout=20)


def conflicted_update(
    env: Env, demo: DemoServer, dialect: str, aio: AsyncDriver
) -> tuple[str, ...]:
    """A colleague changes the website of rows 1, 2 and 3; the user sets the website of all
    four: row 0 is updated, rows 1-3 are left alone and offered for overwriting."""
    rows = tuple(env.model.record_id(r) for r in range(4))

    async def act(other: object) -> None:
        for rid in rows[1:]:
            await other.update(env.module, rid, {"website": THEIRS})  # type: ignore[attr-defined]

    colleague(demo, dialect, aio, env, act)
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
    assert env.mass.overwrite_button is not None
    return rows


def only(env: Env, rid: str) -> None:
    """Reload the list with a filter that keeps only ``rid`` (the others leave the model)."""
    columns = tuple(env.model.columns)
    name = env.model.text(env.model.row_of(rid), 0)

    def factory(_sort: object) -> Loader:
        query = Query(filter=Condition("name", Op.EQ, name), fields=("name", "website"))

        async def load(request: PageRequest) -> Page:
            return await env.backend.list_records(env.module, query, request)

        return load

    env.model.set_source(columns, factory)


def website(env: Env, aio: AsyncDriver, rid: str) -> object:
    return aio.run(env.backend.get(env.module, rid), timeout=20).get("website")


def overwrite(env: Env, aio: AsyncDriver, qtbot: QtBot) -> list[list[str]]:
    sent: list[list[str]] = []
    real = env.backend.bulk_update

    async def recording(module: str, ids: list[str], *args: object, **kw: object) -> object:
        sent.append(list(ids))
        assert kw.get("expected") is None
        return await real(module, ids, *args, **kw)  # type: ignore[arg-type]

    env.backend.bulk_update = recording  # type: ignore[method-assign,assignment]
    box, over = env.mass.report, env.mass.overwrite_button
    assert box is not None
    assert over is not None
    over.click()
    qtbot.waitUntil(lambda: env.mass.report is not box or not box.isVisible())
    idle(env, aio)
    return sent


@pytest.mark.parametrize("dialect", ["sugarcrm", "espocrm"])
def test_overwrite_after_a_filter_change_still_reaches_every_conflicted_record(
    envs: list[Env], demo_server: DemoServer, aio: AsyncDriver, qtbot: QtBot, runner: TaskRunner,
    dialect: str,
) -> None:  # fmt: skip
    env = make(envs, dialect, demo_server, aio, qtbot, runner)
    a, b, c, d = conflicted_update(env, demo_server, dialect, aio)
    names = {rid: env.model.text(env.model.row_of(rid), 0) for rid in (b, c, d)}
    # A colleague deletes d meanwhile; the list is reloaded keeping only b.
    colleague(demo_server, dialect, aio, env, lambda o: o.delete(env.module, d))
    only(env, b)
    aio.wait_until(lambda: env.model.rowCount() == 1 and not env.model.loading, timeout=20)
    assert env.model.row_of(c) < 0
    sent = overwrite(env, aio, qtbot)
    assert sent == [[b, c, d]]
    assert [website(env, aio, rid) for rid in (a, b, c)] == [MINE] * 3
    message = f"2 updated, 1 no longer on the server: {names[d]}."
    assert env.mass.last_message == message
    box = env.mass.report
    assert box is not None
    assert box.isVisible()
    assert box.textFormat() == Qt.TextFormat.PlainText
    assert box.text().splitlines() == [
        message,
        "",
        "Overwrite of Website, record by record:",
        f"  {names[b]}: done",
        f"  {names[c]}: done",
        f"  {names[d]}: gone (no longer on the server, or no longer yours to see)",
    ]
    assert env.mass.overwrite_button is None  # nothing more to offer
    assert "mine.example.org" in env.model.text(0, env.model.column_of("website"))


def test_overwrite_while_the_list_reloads_sends_all_and_reports_them_done(
    envs: list[Env], demo_server: DemoServer, aio: AsyncDriver, qtbot: QtBot, runner: TaskRunner
) -> None:
    """Overwrite is clicked right after a reload (F5) emptied the list, before its first
    page is back: all three are sent all the same, and the reloaded rows show the value."""
    env = make(envs, "sugarcrm", demo_server, aio, qtbot, runner)
    a, b, c, d = conflicted_update(env, demo_server, "sugarcrm", aio)
    env.model.reload()  # a model reset: the rows are loaded again
    assert env.model.rowCount() == 0
    sent = overwrite(env, aio, qtbot)
    assert sent == [[b, c, d]]
    assert env.mass.last_message == "3 updated."
    assert [website(env, aio, rid) for rid in (a, b, c, d)] == [MINE] * 4
    aio.wait_until(lambda: env.model.rowCount() == 4 and not env.model.loading, timeout=20)
    col = env.model.column_of("website")
    assert all("mine.example.org" in env.model.text(r, col) for r in range(4))
