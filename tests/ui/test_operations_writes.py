"""Writes are never superseded: two creates in one module, or two saves of one record,
both reach their end and are announced (a cancelled write may still have been applied
by the server, so cancelling one would lose the word of it). Demo SuiteCRM over loopback."""

from __future__ import annotations

import uuid

import pytest
from helpers.qasync_loop import AsyncDriver

from crmdesk.backends import open_backend
from crmdesk.core.records import Record
from crmdesk.demo.server import DemoServer
from crmdesk.ui.operations import ChangeKind, Operations, RecordChange
from crmdesk.ui.tasks import TaskRunner

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


def test_two_creates_and_two_saves_at_once_all_land(
    demo_server: DemoServer, aio: AsyncDriver, runner: TaskRunner
) -> None:
    be = open_backend(demo_server.profile("suitecrm"), demo_server.secrets("suitecrm"))
    aio.run(be.connect(), timeout=20)
    mdef = aio.run(be.describe("Accounts"), timeout=20)
    ops = Operations(be, runner)
    changes: list[RecordChange] = []
    ops.changed.connect(changes.append)
    saved: list[Record] = []
    failed: list[BaseException] = []
    tag = uuid.uuid4().hex[:8]
    demo_server.faults.inject(r"/Api/V8/module$", "delay:0.2", times=2)
    ops.create(mdef, {"name": f"W {tag} 1"}, success=saved.append, failure=failed.append)
    ops.create(mdef, {"name": f"W {tag} 2"}, success=saved.append, failure=failed.append)
    aio.wait_until(lambda: len(saved) + len(failed) == 2 and not runner.busy(), timeout=20)
    assert failed == []
    assert sorted(str(r.values["name"]) for r in saved) == [f"W {tag} 1", f"W {tag} 2"]
    assert [c.kind for c in changes] == [ChangeKind.CREATED, ChangeKind.CREATED]

    first = saved[0]
    demo_server.faults.inject(r"/Api/V8/module$", "delay:0.2", times=2)
    ops.save(
        mdef, first, {"phone_office": "+1 555 0001"}, success=saved.append, failure=failed.append
    )
    ops.save(
        mdef, first, {"billing_address_city": "Porto"}, success=saved.append, failure=failed.append
    )
    aio.wait_until(lambda: len(saved) + len(failed) == 4 and not runner.busy(), timeout=20)
    assert failed == []
    assert [c.kind for c in changes[2:]] == [ChangeKind.UPDATED, ChangeKind.UPDATED]
    now = aio.run(be.get("Accounts", first.id), timeout=20)
    assert now.values["phone_office"] == "+1 555 0001"
    assert now.values["billing_address_city"] == "Porto"
    aio.run(be.close(), timeout=10)
