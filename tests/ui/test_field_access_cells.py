"""Per-record field limits (Sugar's ``_acl.fields``) in the record table: a cell whose field
the record forbids changing is not editable in place, the others stay editable, and the
limits follow the server's latest answer for the row (demo SugarCRM over loopback)."""

from __future__ import annotations

import pytest
from helpers.qasync_loop import AsyncDriver

from crmdesk.backends import open_backend
from crmdesk.core.query import Condition, Op, Query
from crmdesk.core.records import Page, PageRequest, Record
from crmdesk.demo.server import DemoServer
from crmdesk.demo.sugarcrm import SugarApp
from crmdesk.ui.models.records import Loader, RecordTableModel
from crmdesk.ui.tasks import TaskRunner

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")

COLUMNS = ("name", "annual_revenue", "billing_address_city")


def test_a_field_the_record_forbids_changing_is_not_editable_in_its_cell(
    demo_server: DemoServer, aio: AsyncDriver, runner: TaskRunner
) -> None:
    app = demo_server.apps["sugarcrm"]
    assert isinstance(app, SugarApp)
    restricted = app.restricted_accounts()
    locked_id = {n: rid for rid, n in restricted.items()}["0012"]
    be = open_backend(demo_server.profile("sugarcrm"), demo_server.secrets("sugarcrm"))
    aio.run(be.connect(), timeout=20)
    mdef = aio.run(be.describe("Accounts"), timeout=20)
    columns = [f for n in COLUMNS if (f := mdef.field(n)) is not None]
    assert [c.name for c in columns] == list(COLUMNS)
    assert not columns[1].read_only  # the module lets it be changed; this record does not
    query = Query(
        filter=Condition("name", Op.CONTAINS, " 001"),
        fields=COLUMNS,
    )

    def make(_sort: object) -> Loader:
        async def load(req: PageRequest) -> Page:
            return await be.list_records("Accounts", query, req)

        return load

    model = RecordTableModel(runner, page_size=50)
    model.set_editable(True)
    model.set_source(columns, make)
    aio.wait_until(lambda: not model.loading and model.rowCount() > 1, timeout=20)
    row = model.row_of(locked_id)
    assert row >= 0
    other = next(r for r in range(model.rowCount()) if model.record_id(r) not in restricted)
    assert model.record_at(row).field_access is not None
    assert not model.editable_at(row, 1)  # annual_revenue: locked on this record
    assert model.editable_at(row, 0)  # name: free
    assert model.editable_at(other, 1)  # the same column on another record: free

    # A newer answer for the row without limits (an admin lifted them): unlocked.
    model.update_record(Record("Accounts", locked_id, {"name": model.text(row, 0)}))
    assert model.editable_at(row, 1)
    aio.run(be.close(), timeout=10)
