"""The compare view and the access view, over the fake backends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers.admin_fake import FakeBackend, PlainFakeBackend, StagingFakeBackend
from helpers.admin_util import collect_garbage, until
from helpers.qasync_loop import AsyncDriver
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from crmdesk.ui.admin.access import ALLOWED, DENIED, NO_ACL_NOTE, AccessView
from crmdesk.ui.admin.compare import DIFF_COLOR, MISSING, MISSING_COLOR, CompareView

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


@pytest.fixture(autouse=True)
def _main_thread_gc() -> Iterator[None]:
    collect_garbage()
    yield
    collect_garbage()


def cell(
    view: CompareView, field: str, column: int, role: int = Qt.ItemDataRole.DisplayRole
) -> object:
    proxy = view.proxy
    for r in range(proxy.rowCount()):
        if proxy.index(r, 0).data() == field:
            return proxy.index(r, column).data(role)
    raise AssertionError(f"no row {field}")


def background(view: CompareView, field: str, column: int) -> object:
    brush = cell(view, field, column, Qt.ItemDataRole.BackgroundRole)
    return None if brush is None else brush.color()  # type: ignore[attr-defined]


def test_compare_highlights_differences(qtbot: QtBot, aio: AsyncDriver) -> None:
    async def body() -> None:
        view = CompareView([("production", FakeBackend()), ("staging", StagingFakeBackend())])
        qtbot.addWidget(view)
        await until(lambda: view.right.module.count() == 3, what="module lists")
        assert view.right.connection.currentText() == "staging"
        view.set_pair("Accounts")
        view.compare_button.click()
        await until(lambda: view.model.rowCount() > 0, what="comparison")
        # employees: int on the left, text on the right → the type cells are highlighted.
        assert cell(view, "employees", 1) == "int (int)"
        assert cell(view, "employees", 2) == "text"
        assert background(view, "employees", 1) == DIFF_COLOR
        assert background(view, "employees", 5) is None  # same length
        assert cell(view, "employees", 9) == "differs: type"
        assert cell(view, "name", 9) == "differs: length"
        assert background(view, "name", 6) == DIFF_COLOR
        # vat_c exists only in production, sla_c only in staging.
        assert cell(view, "vat_c", 2) == MISSING
        assert cell(view, "vat_c", 9) == "only on the left"
        assert background(view, "vat_c", 0) == MISSING_COLOR
        assert cell(view, "sla_c", 1) == MISSING
        assert cell(view, "industry", 9) == "same"
        assert background(view, "industry", 1) is None
        assert "2 differ · 1 only on the left · 1 only on the right" in view.totals.text()
        view.differences_only.setChecked(True)
        shown = {view.proxy.index(r, 0).data() for r in range(view.proxy.rowCount())}
        assert shown == {"employees", "name", "vat_c", "sla_c"}

    aio.run(body(), timeout=15)


def test_compare_two_modules_of_one_connection(qtbot: QtBot, aio: AsyncDriver) -> None:
    async def body() -> None:
        view = CompareView([("only", FakeBackend())])
        qtbot.addWidget(view)
        await until(lambda: view.left.module.count() == 3)
        view.set_pair("Accounts", "Projects_c")
        view.compare()
        await until(lambda: view.model.rowCount() > 0)
        assert cell(view, "name", 9) == "differs: length"
        assert cell(view, "stage_c", 9) == "only on the right"

    aio.run(body(), timeout=15)


def test_access_grid(qtbot: QtBot, aio: AsyncDriver) -> None:
    async def body() -> None:
        view = AccessView(FakeBackend())
        qtbot.addWidget(view)
        view.reload()
        await until(lambda: view.user is not None, what="user")
        form_text = [w.text() for w in view.user_box.findChildren(QLabel) if w.text()]
        assert "admin" in form_text
        assert "<b>Ada</b> Admin" in form_text  # shown verbatim, as plain text
        for label in view.user_box.findChildren(QLabel):
            assert label.textFormat() == Qt.TextFormat.PlainText or not label.text()
        assert view.action_names[:5] == ["list", "view", "create", "edit", "delete"]
        assert "export" in view.action_names
        assert view.allowed("Accounts", "delete") is True
        assert view.allowed("Contacts", "edit") is False
        assert view.allowed("Settings", "list") is None
        model = view.grid_model
        headers = [
            model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())
        ]
        contacts = next(
            r for r in range(model.rowCount()) if model.index(r, 0).data() == "Contacts"
        )
        assert model.index(contacts, headers.index("list")).data() == ALLOWED
        assert model.index(contacts, headers.index("delete")).data() == DENIED
        extras = dict(view.extra_model.rows())
        assert extras["editionLimits.users"] == "10"
        assert view.grid_note.isHidden()

    aio.run(body(), timeout=15)


def test_access_without_me(qtbot: QtBot, aio: AsyncDriver) -> None:
    async def body() -> None:
        view = AccessView(PlainFakeBackend())
        qtbot.addWidget(view)
        view.reload()
        await until(lambda: view.grid_model.rowCount() > 0 or not view.runs.running("load"))
        await until(lambda: not view.runs.running("load"))
        assert view.user is None
        assert view.user_note.text() == "This CRM does not tell who is signed in."
        # The module list still carries the Accounts ACL.
        assert view.allowed("Accounts", "edit") is True
        assert view.grid_note.isHidden()
        view.show_access(None, [])
        assert view.grid_note.text() == NO_ACL_NOTE

    aio.run(body(), timeout=15)


@pytest.mark.qt_log_ignore("propagateSizeHints", "does not support raise")
def test_open_functions_reuse_windows(qtbot: QtBot, aio: AsyncDriver) -> None:
    from PySide6.QtWidgets import QWidget

    from crmdesk.ui.admin import (
        ADMIN_VIEWS,
        MetadataInspector,
        open_api_console,
        open_compare,
        open_metadata_inspector,
    )

    async def body() -> None:
        main = QWidget()
        qtbot.addWidget(main)
        backend, other = FakeBackend(), FakeBackend()
        first = open_metadata_inspector(main, backend, module="Contacts")
        assert first.isWindow()
        await until(lambda: first.module_def is not None and first.module_def.name == "Contacts")
        assert open_metadata_inspector(main, backend) is first
        assert open_metadata_inspector(main, other) is not first
        assert len(main.findChildren(MetadataInspector)) == 2
        console = open_api_console(main, backend)
        assert console.send_button is not None
        compare = open_compare(
            main, [("a", backend), ("b", StagingFakeBackend())], module="Accounts"
        )
        await until(lambda: compare.model.rowCount() > 0)
        assert {v.shortcut for v in ADMIN_VIEWS if v.shortcut} == {"Ctrl+M", "Ctrl+Shift+K"}
        for w in main.findChildren(QWidget):
            if w.isWindow():
                w.close()

    aio.run(body(), timeout=15)
