"""The paged record model against the fake backend, watched by qtmodeltester throughout."""

from __future__ import annotations

import asyncio

from helpers.fake_backend import ACCOUNTS, FakeBackend
from helpers.qasync_loop import AsyncDriver, RecordingSink
from PySide6.QtCore import QModelIndex, Qt
from pytestqt.modeltest import ModelTester

from crmdesk.core.errors import Unavailable
from crmdesk.core.query import Query, SortKey
from crmdesk.core.records import Page, PageRequest
from crmdesk.ui.models.records import ID_ROLE, Loader, RecordTableModel
from crmdesk.ui.tasks import TaskRunner

ROOT = QModelIndex()


def source(fake: FakeBackend, module: str = "Accounts"):  # type: ignore[no-untyped-def]
    def make(sort: tuple[SortKey, ...]) -> Loader:
        async def load(req: PageRequest) -> Page:
            return await fake.list_records(module, Query(sort=sort), req)

        return load

    return make


def loaded_model(runner: TaskRunner, fake: FakeBackend, aio: AsyncDriver) -> RecordTableModel:
    model = RecordTableModel(runner, page_size=100)
    model.set_source(ACCOUNTS.columns(), source(fake))
    aio.wait_until(lambda: model.rowCount() == 100 and not model.loading)
    return model


def test_model_passes_modeltester_while_paging_and_sorting(
    qtmodeltester: ModelTester, runner: TaskRunner, fake: FakeBackend, aio: AsyncDriver
) -> None:
    model = RecordTableModel(runner, page_size=100)
    qtmodeltester.check(model)  # type: ignore[no-untyped-call]
    model.set_source(ACCOUNTS.columns(), source(fake))
    aio.wait_until(lambda: model.rowCount() == 100)
    model.fetchMore(ROOT)
    aio.wait_until(lambda: model.rowCount() == 200)
    model.sort(0, Qt.SortOrder.DescendingOrder)
    aio.wait_until(lambda: model.rowCount() == 100 and not model.loading)
    model.clear()
    assert model.rowCount() == 0


def test_first_page_rows_and_columns_are_display_text(
    runner: TaskRunner, fake: FakeBackend, aio: AsyncDriver
) -> None:
    model = loaded_model(runner, fake, aio)
    assert model.columnCount() == 8
    assert model.headerData(0, Qt.Orientation.Horizontal) == "Name"
    assert model.data(model.index(0, 0)) == "North Works 00000"
    assert model.data(model.index(3, 1)) == "Technology"
    assert model.data(model.index(0, 6)) == "USD 0.00"
    assert model.data(model.index(1, 6)) == "USD 37,000.00"
    assert model.data(model.index(5, 0), ID_ROLE) == "acc-00005"
    assert model.total == 2500
    assert model.has_more


def test_fetch_more_only_schedules_and_inserts_exactly_one_page(
    runner: TaskRunner, fake: FakeBackend, aio: AsyncDriver
) -> None:
    model = loaded_model(runner, fake, aio)
    inserted: list[tuple[int, int]] = []
    model.rowsInserted.connect(lambda _p, first, last: inserted.append((first, last)))
    model.fetchMore(ROOT)
    assert model.rowCount() == 100  # nothing arrived yet: fetchMore only scheduled
    assert model.loading
    assert not model.canFetchMore(ROOT)  # no second request while one is in flight
    model.fetchMore(ROOT)
    aio.wait_until(lambda: not model.loading)
    assert inserted == [(100, 199)]
    assert len(fake.list_calls()) == 2
    assert fake.list_calls()[1].page == PageRequest(size=100, cursor="100")


def test_last_page_ends_loading_and_fixes_total(
    runner: TaskRunner, aio: AsyncDriver, fake: FakeBackend
) -> None:
    small = FakeBackend(accounts=150)
    model = RecordTableModel(runner, page_size=100)
    model.set_source(ACCOUNTS.columns(), source(small))
    aio.wait_until(lambda: model.rowCount() == 100 and not model.loading)
    model.fetchMore(ROOT)
    aio.wait_until(lambda: model.rowCount() == 150 and not model.loading)
    assert not model.canFetchMore(ROOT)
    assert (model.total, model.total_is_estimate) == (150, False)


def test_sort_goes_to_the_server_and_reloads(
    runner: TaskRunner, fake: FakeBackend, aio: AsyncDriver
) -> None:
    model = loaded_model(runner, fake, aio)
    model.sort(0, Qt.SortOrder.DescendingOrder)
    aio.wait_until(lambda: model.rowCount() == 100 and not model.loading)
    assert fake.list_calls()[-1].query == Query(sort=(SortKey("name", descending=True),))
    names = [model.text(r, 0) for r in range(100)]
    assert names == sorted(names, key=str.lower, reverse=True)
    assert names[0].startswith("Silver")


def test_unsortable_column_is_ignored(
    runner: TaskRunner, fake: FakeBackend, aio: AsyncDriver
) -> None:
    model = RecordTableModel(runner)
    columns = (ACCOUNTS.field("name"), ACCOUNTS.field("description"))
    model.set_source([c for c in columns if c is not None], source(fake))
    aio.wait_until(lambda: model.rowCount() == 100)
    model.sort(1, Qt.SortOrder.AscendingOrder)
    aio.settle()
    assert len(fake.list_calls()) == 1
    assert model.text(0, 1) == "Account number 0. Second line."  # one line in a table cell


def test_superseded_result_is_dropped_even_if_the_loader_ignores_cancel(
    runner: TaskRunner, fake: FakeBackend, aio: AsyncDriver
) -> None:
    fake.gate = asyncio.Event()
    fake.ignore_cancel = True
    model = RecordTableModel(runner)
    model.set_source(ACCOUNTS.columns(), source(fake, "Accounts"))
    aio.wait_until(lambda: len(fake.list_calls()) == 1)
    contacts = fake.defs["Contacts"]
    model.set_source(contacts.columns(), source(fake, "Contacts"))
    aio.wait_until(lambda: len(fake.list_calls()) == 2)
    fake.gate.set()
    aio.wait_until(lambda: model.rowCount() == 100 and not model.loading)
    aio.settle()
    assert model.rowCount() == 100
    assert all(model.record_id(r).startswith("con-") for r in range(model.rowCount()))


def test_failed_page_keeps_rows_reports_and_can_be_retried(
    runner: TaskRunner, fake: FakeBackend, aio: AsyncDriver, sink: RecordingSink
) -> None:
    model = loaded_model(runner, fake, aio)
    failures: list[str] = []
    model.load_failed.connect(failures.append)
    fake.fail_list_after = 100
    model.fetchMore(ROOT)
    aio.wait_until(lambda: model.error is not None)
    assert model.rowCount() == 100
    assert failures == ["The CRM did not answer in time."]
    aio.wait_until(lambda: len(sink.errors) == 1)
    assert isinstance(sink.errors[0][0], Unavailable)
    assert not model.canFetchMore(ROOT)  # no retry storm from the view
    fake.fail_list_after = None
    model.retry()
    aio.wait_until(lambda: model.rowCount() == 200)
    assert model.error is None


def test_cancelled_load_can_be_fetched_again(
    runner: TaskRunner, fake: FakeBackend, aio: AsyncDriver
) -> None:
    model = loaded_model(runner, fake, aio)
    fake.gate = asyncio.Event()
    model.fetchMore(ROOT)
    aio.wait_until(lambda: len(fake.list_calls()) == 2)
    runner.cancel_all()
    aio.wait_until(lambda: not model.loading)
    assert model.canFetchMore(ROOT)
    fake.gate.set()
    model.fetchMore(ROOT)
    aio.wait_until(lambda: model.rowCount() == 200)
