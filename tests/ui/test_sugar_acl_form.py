"""The record form against the demo Sugar over loopback HTTP: per-record ``_acl`` (a field
one may not change is read-only and says why, a field one may not read shows "(no access)",
a record one may not edit is read-only with a line saying why, one one may not delete is
refused), and Sugar's folded panels (start collapsed, open by click and keyboard, open by
themselves on an unsaved edit or a server error inside)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest
from helpers.edit_util import answer_box
from helpers.qasync_loop import AsyncDriver
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from crmdesk.backends import open_backend
from crmdesk.core.backend import Backend
from crmdesk.core.records import Record
from crmdesk.core.schema import ModuleDef, Option
from crmdesk.demo.server import DemoServer
from crmdesk.demo.sugarcrm import SugarApp
from crmdesk.ui.forms.editors import EnumEditor, LineEditor
from crmdesk.ui.forms.form import (
    NO_ACCESS_TEXT,
    NO_READ_TIP,
    NO_WRITE_TIP,
    RecordForm,
    SectionBlock,
)
from crmdesk.ui.main_window import MainWindow

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


@pytest.fixture
def backend(demo_server: DemoServer, aio: AsyncDriver) -> Iterator[Backend]:
    be = open_backend(demo_server.profile("sugarcrm"), demo_server.secrets("sugarcrm"))
    yield be
    aio.run(be.close(), timeout=20)


@pytest.fixture
def window(backend: Backend, aio: AsyncDriver, qtbot: QtBot) -> Iterator[MainWindow]:
    win = MainWindow(backend, connection_name="Demo Sugar", page_size=100)
    qtbot.addWidget(win)
    win.resize(1200, 900)
    win.show()
    win.start()
    aio.wait_until(lambda: win.modules.rowCount() > 0, timeout=30)
    assert win.module_tree.select_module("Accounts")
    aio.wait_until(lambda: win.records.rowCount() > 0 and not win.records.loading, timeout=30)
    yield win
    win.runner.cancel_all()
    if win.detail.form.dirty and not win.detail.form.is_new:
        win.detail.form.revert()  # a failed test must not leave the close prompt waiting
    if win.errors.dialog is not None:
        win.errors.dialog.close()


def restricted(demo_server: DemoServer, number: str) -> str:
    app = demo_server.apps["sugarcrm"]
    assert isinstance(app, SugarApp)
    return {n: rid for rid, n in app.restricted_accounts().items()}[number]


def open_in(win: MainWindow, aio: AsyncDriver, module: str, rid: str) -> RecordForm:
    win.table.clearSelection()
    win.detail.open_record(module, rid)
    aio.wait_until(lambda: win.detail.record_id == rid and not win.runner.busy(), timeout=30)
    return win.detail.form


def folded(block: SectionBlock) -> bool:
    """Whether the section is folded now (a call, so the checker does not narrow it)."""
    return block.collapsed


def section(form: RecordForm, label: str) -> SectionBlock:
    found = [b for b in form.sections if b.label == label]
    assert len(found) == 1, [b.label for b in form.sections]
    return found[0]


# -- per-record field ACL ---------------------------------------------------------------


def test_a_field_the_record_forbids_changing_is_read_only_and_says_why(
    window: MainWindow, demo_server: DemoServer, aio: AsyncDriver
) -> None:
    form = open_in(window, aio, "Accounts", restricted(demo_server, "0012"))
    row = form.rows["annual_revenue"]
    assert row.locked == "write"
    assert not row.editor.widget.isEnabled()
    assert row.editor.widget.toolTip() == NO_WRITE_TIP
    assert NO_WRITE_TIP in row.label.toolTip()
    # Its value is shown, and the rest of the record stays editable.
    assert window.detail.form.original is not None
    loaded = window.detail.form.original.get("annual_revenue")
    assert isinstance(row.editor, LineEditor)
    assert row.editor.line.text() == (loaded or "")
    assert form.rows["website"].editor.widget.isEnabled()
    assert not form.access_note.isVisible()
    website = form.editor("website")
    assert isinstance(website, LineEditor)
    website.line.setText("https://acl.example.test")
    website.changed.emit()
    assert form.changes() == {"website": "https://acl.example.test"}
    assert form.save_button.isEnabled()
    form.revert()


def test_a_field_the_record_forbids_reading_shows_no_access(
    window: MainWindow, demo_server: DemoServer, aio: AsyncDriver
) -> None:
    form = open_in(window, aio, "Accounts", restricted(demo_server, "0013"))
    row = form.rows["phone_office"]  # in the open Overview section
    assert row.locked == "read"
    assert row.denied is not None
    assert row.denied.isVisible()
    assert row.denied.text() == NO_ACCESS_TEXT
    assert row.denied.toolTip() == NO_READ_TIP
    assert row.denied.textFormat() == Qt.TextFormat.PlainText
    assert not row.editor.widget.isVisible()
    assert form.rows["annual_revenue"].locked == "write"
    # Not "changed", not checked, never sent.
    assert "phone_office" not in form.dirty_fields()
    assert "phone_office" not in form.validate()
    # The next record has no such rule: the field is back with its value.
    plain_id = window.records.record_id(0)
    assert plain_id not in {restricted(demo_server, n) for n in ("0012", "0013", "0014")}
    form = open_in(window, aio, "Accounts", plain_id)
    row = form.rows["phone_office"]
    assert row.locked is None
    assert row.editor.widget.isVisible()
    assert row.editor.widget.isEnabled()
    assert row.denied is not None
    assert not row.denied.isVisible()
    assert row.editor.widget.toolTip() != NO_WRITE_TIP


def test_a_record_one_may_not_change_or_delete_is_read_only_and_delete_is_refused(
    window: MainWindow, demo_server: DemoServer, backend: Backend, aio: AsyncDriver
) -> None:
    rid = restricted(demo_server, "0014")
    form = open_in(window, aio, "Accounts", rid)
    assert form.access_note.isVisible()
    assert "You may not change or delete this record" in form.access_note.text()
    assert "read-only" in form.access_note.text()
    assert all(
        not row.editor.widget.isEnabled() for row in form.rows.values() if row.editor.editable
    )
    assert not form.save_button.isEnabled()
    notices: list[str] = []
    window.detail.notice.connect(notices.append)
    seen: list[str] = []
    answer_box("Delete", seen=seen, tries=10)  # would confirm, were a box asked
    window.actions_by_id["record.delete"].trigger()
    aio.wait_until(lambda: bool(notices), timeout=10)
    aio.settle(300)
    assert seen == []  # no "Delete …?" question at all
    assert notices == ["Your CRM role may not delete this record."]
    assert aio.run(backend.get("Accounts", rid), timeout=20).id == rid
    assert window.detail.record_id == rid


# -- folded panels ----------------------------------------------------------------------


def new_account(backend: Backend, aio: AsyncDriver) -> Record:
    return aio.run(backend.create("Accounts", {"name": f"Fold {uuid.uuid4().hex[:6]}"}), timeout=20)


def test_the_show_more_panel_starts_collapsed_and_opens_by_click(
    window: MainWindow, backend: Backend, aio: AsyncDriver, qtbot: QtBot
) -> None:
    form = open_in(window, aio, "Accounts", new_account(backend, aio).id)
    overview, more = section(form, "Overview"), section(form, "More information")
    assert overview.button is None
    assert overview.body.isVisible()
    assert folded(more)
    assert not more.body.isVisible()
    assert more.button is not None
    assert more.button.isVisible()
    n = len(more.names)
    assert n > 4
    assert more.button.text() == f"\u25b8 More information ({n} fields)"
    assert not form.rows["billing_address_city"].editor.widget.isVisible()
    QTest.mouseClick(more.button, Qt.MouseButton.LeftButton)
    assert not folded(more)
    assert more.body.isVisible()
    assert form.rows["billing_address_city"].editor.widget.isVisible()
    assert more.button.text() == "\u25be More information"
    assert more.button.isChecked()
    QTest.mouseClick(more.button, Qt.MouseButton.LeftButton)
    assert folded(more)
    assert not more.body.isVisible()


def test_the_folded_header_is_reached_by_tab_and_toggled_by_keys(
    window: MainWindow, backend: Backend, aio: AsyncDriver, qtbot: QtBot
) -> None:
    form = open_in(window, aio, "Accounts", new_account(backend, aio).id)
    more = section(form, "More information")
    assert more.button is not None
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5000)
    form.rows["email1"].editor.focus_widget().setFocus()  # the Overview's last field
    for _ in range(12):
        focused = QApplication.focusWidget()
        if focused is None or focused is more.button:
            break
        QTest.keyClick(focused, Qt.Key.Key_Tab)
    assert more.button.hasFocus()
    QTest.keyClick(more.button, Qt.Key.Key_Space)
    assert not folded(more)
    QTest.keyClick(more.button, Qt.Key.Key_Return)
    assert folded(more)
    QTest.keyClick(more.button, Qt.Key.Key_Enter)
    assert not folded(more)


def test_an_unsaved_edit_inside_opens_the_section(
    window: MainWindow, backend: Backend, aio: AsyncDriver
) -> None:
    """An edit put into a folded section (a conflict's kept choice, a pre-fill) shows it."""
    record = new_account(backend, aio)
    form = open_in(window, aio, "Accounts", record.id)
    more = section(form, "More information")
    assert folded(more)
    city = form.editor("billing_address_city")
    assert city is not None
    try:
        city.set_value("Lima")
        assert not folded(more)
        assert more.body.isVisible()
        # Folded again by hand it stays folded, and the header says what is inside.
        assert more.button is not None
        more.button.click()
        assert folded(more)
        assert more.button.text().endswith("fields, 1 changed)")
    finally:
        form.revert()


def opportunity_form(
    window: MainWindow, backend: Backend, aio: AsyncDriver
) -> tuple[RecordForm, ModuleDef]:
    """A new opportunity in a form whose metadata offers a lead source the CRM no longer
    has (a stale cache): the server refuses it, naming the field."""
    mdef = aio.run(backend.describe("Opportunities"), timeout=20)
    source = mdef.field("lead_source")
    assert source is not None
    stale = dataclasses.replace(source, options=(*source.options, Option("Retired", "Retired")))
    mdef = dataclasses.replace(
        mdef, fields=tuple(stale if f.name == "lead_source" else f for f in mdef.fields)
    )
    created = aio.run(
        backend.create(
            "Opportunities",
            {
                "name": f"Fold deal {uuid.uuid4().hex[:6]}",
                "amount": Decimal("1000"),
                "date_closed": date(2030, 1, 1),
                "sales_stage": "Prospecting",
            },
        ),
        timeout=20,
    )
    record = aio.run(backend.get("Opportunities", created.id), timeout=20)
    window.detail.show_record(mdef, record)
    aio.wait_until(lambda: not window.runner.busy(), timeout=30)
    return window.detail.form, mdef


def test_a_server_error_inside_a_folded_section_opens_it(
    window: MainWindow, backend: Backend, aio: AsyncDriver
) -> None:
    form, _mdef = opportunity_form(window, backend, aio)
    more = section(form, "More information")
    assert "lead_source" in more.names
    assert folded(more)
    lead = form.editor("lead_source")
    assert isinstance(lead, EnumEditor)
    try:
        lead.choose("Retired")
        assert not folded(more)  # the edit opened it
        assert more.button is not None
        more.button.click()  # the user folds it again, then saves
        assert folded(more)
        window.detail.save()
        aio.wait_until(lambda: not window.runner.busy(), timeout=30)
        error = form.rows["lead_source"].error
        assert error.text()
        assert not folded(more)  # the server's refusal opened it
        assert error.isVisible()
        assert form.message_text.text().startswith("Not saved:")
        assert form.changes() == {"lead_source": "Retired"}
    finally:
        form.revert()
