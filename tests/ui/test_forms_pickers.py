"""Date pickers that leave typing alone, mailto: / tel: / http links from plain text, and
datetimes in the CRM user's time zone (the demo Sugar says UTC) sent tz-aware."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from helpers.qasync_loop import AsyncDriver
from PySide6.QtCore import QDate, QUrl
from PySide6.QtWidgets import QLabel, QLineEdit
from pytestqt.qtbot import QtBot

import crmdesk.ui.forms.editors as editors
from crmdesk.backends import open_backend
from crmdesk.core.schema import FieldDef, FieldType
from crmdesk.demo.server import DemoServer
from crmdesk.ui.forms.editors import (
    DateEditor,
    DateTimeEditor,
    EditorContext,
    LinkEditor,
    ReadOnlyEditor,
    create_editor,
)
from crmdesk.ui.forms.pane import RecordPane
from crmdesk.ui.operations import Operations
from crmdesk.ui.tasks import TaskRunner

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")
PLUS5 = timezone(timedelta(hours=5), "UTC+05")


def test_the_calendar_fills_the_date_and_typing_still_works(qtbot: QtBot) -> None:
    ed = create_editor(FieldDef("due", "Due", FieldType.DATE), EditorContext(tz=PLUS5))
    assert isinstance(ed, DateEditor)
    qtbot.addWidget(ed.widget)
    ed.load(date(2024, 5, 1))
    changes: list[None] = []
    ed.changed.connect(lambda: changes.append(None))
    ed.pick.menu().aboutToShow.emit()
    assert ed.calendar.selectedDate() == QDate(2024, 5, 1)  # opens on the field's date
    ed.calendar.clicked.emit(QDate(2024, 6, 3))
    assert ed.line.text() == "2024-06-03"
    assert ed.value() == date(2024, 6, 3)
    assert changes
    ed.line.setText("2025-01-31")  # typing
    assert ed.value() == date(2025, 1, 31)
    ed.line.setText("31/01/2025")
    assert ed.problem() is not None


def test_the_datetime_calendar_keeps_the_time_and_the_value_is_aware(qtbot: QtBot) -> None:
    ed = create_editor(FieldDef("meet", "Meet", FieldType.DATETIME), EditorContext(tz=PLUS5))
    assert isinstance(ed, DateTimeEditor)
    qtbot.addWidget(ed.widget)
    ed.load(datetime(2024, 5, 1, 9, 30, tzinfo=UTC))
    assert ed.line.text() == "2024-05-01 14:30"  # shown in the user's zone
    ed.pick_date(QDate(2024, 5, 20))
    assert ed.line.text() == "2024-05-20 14:30"
    value = ed.value()
    assert isinstance(value, datetime)
    assert value.tzinfo is not None
    assert value == datetime(2024, 5, 20, 9, 30, tzinfo=UTC)
    assert ed.zone_label.text() == "UTC+05"


@pytest.mark.parametrize(
    ("kind", "text", "url"),
    [
        (FieldType.EMAIL, "ana@example.com", "mailto:ana@example.com"),
        (FieldType.PHONE, "+351 (21) 555-0100", "tel:+351215550100"),
        (FieldType.URL, "example.com/<b>x</b>", "http://example.com/%3Cb%3Ex%3C/b%3E"),
        (FieldType.URL, "javascript:alert(1)", None),
        (FieldType.URL, "https://example.com/a", "https://example.com/a"),
    ],
)
def test_links_open_from_plain_text(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch, kind: FieldType, text: str, url: str | None
) -> None:
    opened: list[str] = []

    def fake_open(u: QUrl) -> bool:
        opened.append(u.toString())
        return True

    monkeypatch.setattr(editors, "open_link", fake_open)
    fdef = FieldDef("f", "F", kind)
    ed = create_editor(fdef, EditorContext())
    assert isinstance(ed, LinkEditor)
    qtbot.addWidget(ed.widget)
    ed.load(text)
    assert isinstance(ed.line, QLineEdit)  # plain text, no markup
    ed.open.click()
    assert opened == ([] if url is None else [url])
    # Read-only fields of these types open the same way, their text a plain label.
    ro = create_editor(FieldDef("f", "F", kind, read_only=True), EditorContext())
    assert isinstance(ro, ReadOnlyEditor)
    qtbot.addWidget(ro.widget)
    ro.load(text)
    assert isinstance(ro.label, QLabel)
    assert ro.label.text() == text
    assert ro.open is not None
    opened.clear()
    ro.open.click()
    assert opened == ([] if url is None else [url])


def test_datetimes_follow_the_crm_users_time_zone(
    demo_server: DemoServer, aio: AsyncDriver, qtbot: QtBot, runner: TaskRunner
) -> None:
    be = open_backend(demo_server.profile("sugarcrm"), demo_server.secrets("sugarcrm"))
    aio.run(be.connect(), timeout=20)
    try:
        assert aio.run(be.me(), timeout=20).time_zone == "UTC"
        ops = Operations(be, runner)
        pane = RecordPane(ops, EditorContext(tz=PLUS5))  # the machine says +05
        qtbot.addWidget(pane)
        pane.show()
        zones: list[object] = []
        pane.zone_changed.connect(zones.append)
        created = aio.run(be.create("Accounts", {"name": "Zoned Ltd"}), timeout=20)
        record = aio.run(be.get("Accounts", created.id), timeout=20)
        mdef = aio.run(be.describe("Accounts"), timeout=20)
        pane.show_record(mdef, record)
        aio.wait_until(lambda: bool(zones) and not runner.busy(), timeout=20)
        assert str(pane.ctx.tz) == "UTC"
        modified = record.get("date_modified")
        assert isinstance(modified, datetime)
        shown = pane.form.display_text("date_modified")
        assert shown == modified.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    finally:
        runner.cancel_all()
        aio.run(be.close(), timeout=20)
