"""Vtiger's Access grid over the demo (real loopback HTTP): connecting and ``me()`` leave the
modules undescribed, the grid reads every module's rights itself (with Stop), and the user
section is shown as soon as ``me()`` answers, before that pass ends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers.admin_util import collect_garbage, until
from helpers.qasync_loop import AsyncDriver
from PySide6.QtCore import QAbstractItemModel, Qt
from PySide6.QtWidgets import QFormLayout, QLabel
from pytestqt.qtbot import QtBot

from crmdesk.backends import open_backend
from crmdesk.backends.vtiger.backend import VtigerBackend
from crmdesk.demo.server import DemoServer
from crmdesk.ui.admin.access import ALLOWED, AccessView, FillsAccess

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")
DESCRIBE = r"/vtiger/restapi/v1/vtiger/default/describe$"


@pytest.fixture(autouse=True)
def _main_thread_gc() -> Iterator[None]:
    collect_garbage()
    yield
    collect_garbage()


def modules_shown(model: QAbstractItemModel) -> set[str]:
    return {str(model.index(r, 0).data()) for r in range(model.rowCount())}


def form_pairs(view: AccessView) -> dict[str, str]:
    """The "Signed in as" form as label → value."""
    form = view.user_form
    out: dict[str, str] = {}
    for r in range(1, form.rowCount()):
        label = form.itemAt(r, QFormLayout.ItemRole.LabelRole)
        field = form.itemAt(r, QFormLayout.ItemRole.FieldRole)
        if label is not None and field is not None:
            lw, fw = label.widget(), field.widget()
            if isinstance(lw, QLabel) and isinstance(fw, QLabel):
                out[lw.text()] = fw.text()
    return out


def cell(model: QAbstractItemModel, module: str, action: str) -> str:
    heads = [
        str(model.headerData(c, Qt.Orientation.Horizontal)) for c in range(model.columnCount())
    ]
    for r in range(model.rowCount()):
        if model.index(r, 0).data() == module:
            return str(model.index(r, heads.index(action)).data())
    raise AssertionError(f"{module} not in the grid")


@pytest.mark.parametrize("flavour", ["rest", "webservice"])
def test_grid_shows_every_module_s_rights(
    qtbot: QtBot, aio: AsyncDriver, demo_server: DemoServer, flavour: str
) -> None:
    async def run() -> None:
        be = open_backend(
            demo_server.profile("vtiger", flavour), demo_server.secrets("vtiger", flavour)
        )
        assert isinstance(be, VtigerBackend)
        assert isinstance(be, FillsAccess)
        await be.connect()
        try:
            assert (await be.me()).access == {}  # the first screen waited for no describe
            view = AccessView(be)
            qtbot.addWidget(view)
            view.show()
            await until(lambda: view.grid_ready, within=20, what="access loaded")
            assert view.user is not None
            entity = {m.name for m in await be.modules() if m.entity}
            assert len(entity) > 1
            assert modules_shown(view.grid_proxy) == entity
            for module in entity:
                assert cell(view.grid_proxy, module, "view") == ALLOWED
            assert cell(view.grid_proxy, "Accounts", "delete") == ALLOWED
            assert not view.status.is_error
            assert view.stop_button.isHidden()
            view.close()
        finally:
            await be.close()

    aio.run(run(), timeout=40)


def test_stop_shows_the_rights_read_so_far(
    qtbot: QtBot, aio: AsyncDriver, demo_server: DemoServer
) -> None:
    async def run() -> None:
        be = open_backend(
            demo_server.profile("vtiger", "rest"), demo_server.secrets("vtiger", "rest")
        )
        await be.connect()
        await be.describe("Contacts")  # the user had opened Contacts
        slow = demo_server.faults.inject(DESCRIBE, "delay:5", times=None)
        try:
            view = AccessView(be)
            qtbot.addWidget(view)
            view.show()
            await until(lambda: view.stop_button.isVisible(), within=10, what="the full pass")
            await until(lambda: "Reading each module" in view.status.text(), within=10)
            # The user section is there already; the grid waits for the pass.
            assert view.user is not None
            assert not view.grid_ready
            assert modules_shown(view.grid_proxy) == set()
            shown = form_pairs(view)
            assert shown["User name"] == demo_server.credentials.username
            assert shown["Administrator"] == "yes"
            view.stop_button.click()
            await until(lambda: view.grid_ready, within=10, what="access after Stop")
            assert modules_shown(view.grid_proxy) == {"Contacts"}
            assert not view.status.is_error
            assert view.stop_button.isHidden()
            view.close()
        finally:
            demo_server.faults.clear()
            del slow
            await be.close()

    aio.run(run(), timeout=40)
