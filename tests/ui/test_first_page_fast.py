"""The first page of a module gets on screen fast: its request leaves before the slot that
asked for it returns (start_eagerly), and cells paint the fast way with inline editing on."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from helpers.fake_backend import ACCOUNTS, FakeBackend
from helpers.qasync_loop import AsyncDriver
from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QImage, QPaintEvent
from PySide6.QtWidgets import QStyledItemDelegate
from pytestqt.qtbot import QtBot

from crmdesk.core.errors import Unsupported
from crmdesk.core.query import Query, SortKey
from crmdesk.core.records import Page, PageRequest, Record
from crmdesk.ui.forms.inline import InlineDelegate, InlineEditing
from crmdesk.ui.models.records import Loader, RecordTableModel
from crmdesk.ui.operations import Operations
from crmdesk.ui.tasks import TaskRunner, start_eagerly
from crmdesk.ui.views.record_table import RecordCellDelegate, RecordTableView

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


# -- start_eagerly ---------------------------------------------------------------------


def test_eager_start_runs_past_bare_yields_up_to_the_first_real_wait(aio: AsyncDriver) -> None:
    steps: list[str] = []
    gate: asyncio.Future[str] = aio.loop.create_future()
    seen: list[asyncio.Task[Any] | None] = []

    async def work() -> str:
        steps.append("start")
        seen.append(asyncio.current_task())
        await asyncio.sleep(0)  # a checkpoint, like anyio's before a socket write
        steps.append("after checkpoint")
        value = await gate
        steps.append("resumed")
        return value.upper()

    task = start_eagerly(work())
    assert steps == ["start", "after checkpoint"]  # before the loop ran at all
    assert seen == [task]  # cancel scopes in there bind to the task
    gate.set_result("done")
    aio.wait_until(task.done)
    assert task.result() == "DONE"
    assert steps[-1] == "resumed"


def test_eager_failure_is_raised_to_the_awaiting_side_not_in_the_caller(
    aio: AsyncDriver,
) -> None:
    async def refuse() -> None:
        raise Unsupported("no such filter here")

    task = start_eagerly(refuse())  # nothing raised here
    assert not task.done()  # its outcome arrives through the loop, like any task's

    async def wait() -> str:
        try:
            await task
        except Unsupported as exc:
            return exc.message
        return "no error"

    assert aio.run(wait()) == "no such filter here"


def test_cancelling_before_the_loop_ran_it_cancels_the_started_coroutine(
    aio: AsyncDriver,
) -> None:
    gate: asyncio.Future[None] = aio.loop.create_future()
    unwound: list[str] = []

    async def work() -> None:
        try:
            await gate
        except asyncio.CancelledError:
            unwound.append("cancelled")
            raise

    task = start_eagerly(work())
    task.cancel()
    aio.wait_until(task.done)
    assert task.cancelled()
    assert unwound == ["cancelled"]
    assert gate.cancelled()  # what it waited on is given up, as Task.cancel does


def test_without_asyncio_task_switches_the_start_is_a_plain_task(
    aio: AsyncDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Python whose asyncio lacks the private switches still loads: later, not wrong."""
    import crmdesk.ui.tasks as tasks

    monkeypatch.setattr(tasks, "_SWITCHES", None)
    steps: list[str] = []

    async def work() -> str:
        steps.append("ran")
        return "page"

    task = start_eagerly(work())
    assert steps == []  # not stepped in the caller: the loop starts it

    async def wait() -> str:
        return await task

    assert aio.run(wait()) == "page"
    assert steps == ["ran"]


def test_this_python_has_the_switches_the_eager_start_needs() -> None:
    import crmdesk.ui.tasks as tasks

    assert tasks._SWITCHES is not None  # else the first page would no longer leave early


def test_httpx_request_is_on_the_wire_before_the_loop_runs(aio: AsyncDriver) -> None:
    """A raw loopback server in a thread reads the request while the loop is blocked: only
    an eager start can have written it.  (The connection is open already, as a signed-in
    client's is; a first request opens it.)"""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    received = threading.Event()
    answer = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            for n in range(2):
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(4096)
                if n == 1:
                    received.set()
                    answer.wait(10)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()

    async def get(client: httpx.AsyncClient) -> str:
        resp = await client.get(f"http://127.0.0.1:{port}/page")
        return resp.text

    client = httpx.AsyncClient()
    try:
        assert aio.run(get(client)) == "ok"  # the connection is open now
        task = start_eagerly(get(client))
        assert received.wait(2), "the request was not written before the loop ran"
        answer.set()
        aio.wait_until(task.done)
        assert task.result() == "ok"
    finally:
        answer.set()
        aio.run(client.aclose())
        listener.close()
        thread.join(5)


# -- the record model --------------------------------------------------------------------


def test_set_source_sends_the_first_page_request_before_it_returns(
    runner: TaskRunner, fake: FakeBackend, aio: AsyncDriver
) -> None:
    model = RecordTableModel(runner, page_size=100)
    fake.gate = asyncio.Event()

    def make(sort: tuple[SortKey, ...]) -> Loader:
        async def load(req: PageRequest) -> Page:
            return await fake.list_records("Accounts", Query(sort=sort), req)

        return load

    model.set_source(ACCOUNTS.columns(), make)
    assert len(fake.list_calls()) == 1  # asked already, the loop has not run
    assert model.loading
    assert model.rowCount() == 0
    fake.gate.set()
    aio.wait_until(lambda: model.rowCount() == 100 and not model.loading)


def test_a_load_refused_at_once_is_reported_after_the_caller_returns(
    runner: TaskRunner, aio: AsyncDriver
) -> None:
    """The filter bar marks what it tries right after asking: the refusal must come later."""
    model = RecordTableModel(runner, page_size=100)
    failures: list[str] = []
    model.load_failed.connect(failures.append)

    def make(_sort: tuple[SortKey, ...]) -> Loader:
        async def load(_req: PageRequest) -> Page:
            raise Unsupported("This CRM cannot filter on that.")

        return load

    model.set_source(ACCOUNTS.columns(), make)
    assert failures == []
    assert model.loading
    aio.wait_until(lambda: not model.loading)
    assert failures == ["This CRM cannot filter on that."]


def test_a_page_at_hand_lands_after_the_caller_returns_and_stays(
    runner: TaskRunner, aio: AsyncDriver
) -> None:
    """A loader that never really waits (a cache, a generator) completes in the eager
    start: its rows must still arrive through the loop, after the reset, not be wiped by it."""
    model = RecordTableModel(runner, page_size=10)
    inserted: list[int] = []
    model.rowsInserted.connect(lambda *_: inserted.append(model.rowCount()))

    def make(_sort: tuple[SortKey, ...]) -> Loader:
        async def load(req: PageRequest) -> Page:
            start = int(req.cursor or 0)
            recs = [
                Record("Accounts", str(i), {"name": f"Acme {i}"}) for i in range(start, start + 10)
            ]
            return Page(recs, total=20, next="10" if start == 0 else None)

        return load

    model.set_source(ACCOUNTS.columns()[:1], make)
    assert inserted == []  # nothing yet: set_source has not returned
    assert model.loading
    aio.wait_until(lambda: not model.loading)
    assert model.rowCount() == 10
    assert model.text(9, 0) == "Acme 9"
    model.fetchMore(QModelIndex())
    aio.wait_until(lambda: model.rowCount() == 20 and not model.loading)
    assert inserted == [10, 20]
    assert not model.canFetchMore(QModelIndex())


def test_the_runner_adopts_a_started_task_and_cancels_the_one_before(
    runner: TaskRunner, aio: AsyncDriver
) -> None:
    gate: asyncio.Future[None] = aio.loop.create_future()

    async def wait() -> None:
        await gate

    first = runner.run("list", wait())
    second = start_eagerly(wait())
    assert runner.adopt("list", second) is second
    aio.wait_until(first.done)
    assert first.cancelled()
    assert runner.running("list")
    gate.set_result(None)
    aio.wait_until(second.done)
    assert not runner.running("list")


def test_low_cardinality_columns_share_one_string_per_value(
    runner: TaskRunner, fake: FakeBackend, aio: AsyncDriver
) -> None:
    model = RecordTableModel(runner, page_size=100)

    def make(sort: tuple[SortKey, ...]) -> Loader:
        async def load(req: PageRequest) -> Page:
            return await fake.list_records("Accounts", Query(sort=sort), req)

        return load

    model.set_source(ACCOUNTS.columns(), make)
    aio.wait_until(lambda: model.rowCount() == 100 and not model.loading)
    col = next(i for i, f in enumerate(model.columns) if f.type.name == "ENUM")
    texts = [model.text(r, col) for r in range(100)]
    assert len(set(texts)) < 10
    by_text = {t: t for t in texts}
    assert all(t is by_text[t] for t in texts)  # one object per value
    assert model.data(model.index(3, 1)) == "Technology"  # formatted as before


class BuildCountingModel(RecordTableModel):
    """Counts the rows whose display texts were made."""

    built = 0

    def _row(self, rec: Record) -> tuple[str, ...]:
        self.built += 1
        return super()._row(rec)


def test_rows_on_screen_are_painted_before_the_rest_of_the_page_is_formatted(
    runner: TaskRunner, fake: FakeBackend, aio: AsyncDriver, qtbot: QtBot
) -> None:
    """Qt's repaint after the insertion comes before the build of the other rows' texts."""
    model = BuildCountingModel(runner, page_size=100)

    def make(sort: tuple[SortKey, ...]) -> Loader:
        async def load(req: PageRequest) -> Page:
            return await fake.list_records("Accounts", Query(sort=sort), req)

        return load

    at_paint: list[int] = []

    class Watched(RecordTableView):
        def paintEvent(self, event: QPaintEvent) -> None:
            super().paintEvent(event)
            if model.rowCount():
                at_paint.append(model.built)

    view = Watched(model)
    qtbot.addWidget(view)
    view.resize(900, 300)
    view.show()
    qtbot.waitExposed(view)
    at_insert: list[int] = []
    model.rowsInserted.connect(lambda: at_insert.append(model.built))
    model.set_source(ACCOUNTS.columns(), make)
    aio.wait_until(lambda: model.rowCount() == 100 and not model.loading)
    aio.wait_until(lambda: model.built == 100)  # the rest right after, unasked
    visible = view.last_visible_row() + 1
    assert 5 < visible < 50
    assert at_insert == [0]  # nothing formatted before the rows could be shown
    assert at_paint
    assert visible <= at_paint[0] < 100  # the first paint made the rows it showed
    texts = [model.text(r, 0) for r in range(100)]
    assert model.built == 100  # each made once
    assert texts == [r.values["name"] for r in fake.store["Accounts"][:100]]


# -- painting with inline editing on ----------------------------------------------------


class CountingModel(RecordTableModel):
    display_calls = 0

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            self.display_calls += 1
        return super().data(index, role)


@pytest.fixture
def inline_table(
    runner: TaskRunner, fake: FakeBackend, aio: AsyncDriver, qtbot: QtBot
) -> Iterator[RecordTableView]:
    model = CountingModel(runner, page_size=100)

    def make(sort: tuple[SortKey, ...]) -> Loader:
        async def load(req: PageRequest) -> Page:
            return await fake.list_records("Accounts", Query(sort=sort), req)

        return load

    view = RecordTableView(model)
    qtbot.addWidget(view)
    view.resize(900, 500)
    view.show()
    InlineEditing(view, Operations(fake, runner))
    model.set_source(ACCOUNTS.columns(), make)
    aio.wait_until(lambda: model.rowCount() == 100 and not model.loading)
    assert model.editable
    view.horizontalHeader().resizeSection(0, 70)  # names elided
    yield view
    runner.cancel_all()


def grab(view: RecordTableView) -> QImage:
    view.viewport().repaint()
    return view.viewport().grab().toImage()


def test_inline_editing_keeps_the_fast_paint_pixel_for_pixel(
    inline_table: RecordTableView,
) -> None:
    model = inline_table.record_model
    assert isinstance(model, CountingModel)
    delegate = inline_table.itemDelegate()
    assert isinstance(delegate, InlineDelegate)
    assert isinstance(delegate, RecordCellDelegate)
    inline_table.setFocus()
    inline_table.selectRow(2)  # a selected row and the focused cell: the standard way
    model.display_calls = 0
    fast = grab(inline_table)
    assert 0 < model.display_calls < 50  # only the selected row asked the model
    inline_table.setItemDelegate(QStyledItemDelegate(inline_table))
    assert grab(inline_table) == fast


def test_a_cell_with_an_unsaved_edit_paints_the_standard_way(
    inline_table: RecordTableView,
) -> None:
    model = inline_table.record_model
    inline_table.selectionModel().clearCurrentIndex()
    rid = model.record_id(1)
    model.mark_invalid(rid, model.columns[0].name, "not a name", "Too short.")
    fast = grab(inline_table)
    inline_table.setItemDelegate(QStyledItemDelegate(inline_table))
    assert grab(inline_table) == fast


def test_row_text_matches_format_value_for_every_kind_of_value(
    runner: TaskRunner, aio: AsyncDriver
) -> None:
    """The row builder's shortcuts (text as it is, one format per enum value) change nothing."""
    from datetime import UTC, date, datetime
    from decimal import Decimal

    from crmdesk.core.records import Record, Value
    from crmdesk.core.schema import FieldDef, FieldType, Option
    from crmdesk.ui.format import format_value

    columns = (
        FieldDef("name", "Name", FieldType.TEXT),
        FieldDef("notes", "Notes", FieldType.MULTILINE),
        FieldDef("stage", "Stage", FieldType.ENUM, options=(Option("won", "Closed won"),)),
        FieldDef("tags", "Tags", FieldType.MULTIENUM, options=(Option("a", "Alpha"),)),
        FieldDef("amount", "Amount", FieldType.CURRENCY, currency="EUR"),
        FieldDef("day", "Day", FieldType.DATE),
        FieldDef("seen", "Seen", FieldType.DATETIME),
        FieldDef("ok", "OK", FieldType.BOOL),
    )
    rows: list[dict[str, Value]] = [
        {
            "name": "Acme\nWest  Branch",
            "notes": "line one\nline two",
            "stage": "won",
            "tags": ("a", "zz"),
            "amount": Decimal("1234.5"),
            "day": date(2024, 2, 29),
            "seen": datetime(2024, 2, 29, 13, 45, tzinfo=UTC),
            "ok": True,
        },
        {"name": "", "notes": None, "stage": "unknown", "tags": (), "ok": False, "amount": 7},
        {"name": "Plain", "stage": "won", "ok": True},
    ]

    def make(_sort: tuple[SortKey, ...]) -> Loader:
        async def load(_req: PageRequest) -> Page:
            return Page([Record("X", str(i), v) for i, v in enumerate(rows)], next=None)

        return load

    model = RecordTableModel(runner)
    model.set_source(columns, make)
    aio.wait_until(lambda: model.rowCount() == 3 and not model.loading)
    for r, values in enumerate(rows):
        for c, fdef in enumerate(columns):
            expected = " ".join(format_value(fdef, values.get(fdef.name)).split())
            assert model.text(r, c) == expected, (fdef.name, values.get(fdef.name))
    assert model.text(0, 0) == "Acme West Branch"
    assert model.text(0, 2) == model.text(2, 2) == "Closed won"
