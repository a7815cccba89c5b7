"""The generated form over a fake backend: editors per type, dirty marks, checks, save, revert."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from helpers.edit_util import RecordingBackend
from helpers.fake_backend import ACCOUNTS
from helpers.qasync_loop import AsyncDriver
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QLineEdit, QPlainTextEdit
from pytestqt.qtbot import QtBot

from crmdesk.core.records import Record
from crmdesk.core.schema import FieldDef, FieldType, ModuleDef, Option
from crmdesk.ui.forms.conflict import ConflictDialog
from crmdesk.ui.forms.editors import (
    BoolEditor,
    CurrencyEditor,
    DateTimeEditor,
    EditorContext,
    EnumEditor,
    LineEditor,
    MultiEnumEditor,
    MultilineEditor,
    ReadOnlyEditor,
    RelateEditor,
    UrlEditor,
    create_editor,
    register_editor,
)
from crmdesk.ui.forms.pane import RecordPane
from crmdesk.ui.forms.values import FieldConflict
from crmdesk.ui.operations import Operations
from crmdesk.ui.tasks import TaskRunner

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")

TZ = timezone(timedelta(hours=2), "UTC+02")
EVIL = "<b>x</b><img src=y>"

EVERYTHING = ModuleDef(
    "Things",
    "Things",
    fields=(
        FieldDef("id", "ID", FieldType.ID, read_only=True),
        FieldDef("name", "Name", FieldType.TEXT, required=True, length=20),
        FieldDef("notes", "Notes", FieldType.MULTILINE),
        FieldDef("count", "Count", FieldType.INT),
        FieldDef("ratio", "Ratio", FieldType.DECIMAL),
        FieldDef("price", "Price", FieldType.CURRENCY, currency="€"),
        FieldDef("active", "Active", FieldType.BOOL),
        FieldDef("due", "Due", FieldType.DATE),
        FieldDef("meet", "Meeting", FieldType.DATETIME),
        FieldDef(
            "kind", "Kind", FieldType.ENUM, options=(Option("a", "Alpha"), Option("b", "Beta"))
        ),
        FieldDef(
            "tags", "Tags", FieldType.MULTIENUM, options=(Option("x", "Ex"), Option("y", "Why"))
        ),
        FieldDef(
            "owner_id",
            "Owner",
            FieldType.RELATE,
            relate_module="Accounts",
            relate_name_field="owner_name",
        ),
        FieldDef("owner_name", "Owner name", FieldType.TEXT, visible=False),
        FieldDef("mail", "Mail", FieldType.EMAIL),
        FieldDef("tel", "Phone", FieldType.PHONE),
        FieldDef("web", "Web", FieldType.URL),
        FieldDef("odd", "Odd", FieldType.UNKNOWN),
        FieldDef("created", "Created", FieldType.DATETIME, read_only=True),
    ),
)
THING = Record(
    "Things",
    "t-1",
    {
        "name": "Widget",
        "notes": "line 1\nline 2",
        "count": 3,
        "ratio": Decimal("0.50"),
        "price": Decimal("1000"),
        "active": False,
        "due": date(2024, 5, 1),
        "meet": datetime(2024, 5, 1, 8, 0, 30, tzinfo=UTC),
        "kind": "a",
        "tags": ("x",),
        "owner_id": "acc-00001",
        "owner_name": "Blue Works 00001",
        "mail": "w@example.com",
        "tel": "+1 555",
        "web": "https://example.com",
        "odd": "something",
        "created": datetime(2024, 1, 1, tzinfo=UTC),
    },
)


@dataclass
class Env:
    backend: RecordingBackend
    ops: Operations
    pane: RecordPane


@pytest.fixture
def env(aio: AsyncDriver, qtbot: QtBot, runner: TaskRunner) -> Iterator[Env]:
    backend = RecordingBackend()
    backend.defs["Things"] = EVERYTHING
    backend.store["Things"] = [Record(THING.module, THING.id, dict(THING.values), THING.version)]
    ops = Operations(backend, runner)
    pane = RecordPane(ops, EditorContext(tz=TZ))
    qtbot.addWidget(pane)
    pane.resize(520, 900)
    pane.show()
    yield Env(backend, ops, pane)
    runner.cancel_all()


def loaded(env: Env, aio: AsyncDriver, module: str = "Things", rid: str = "t-1") -> RecordPane:
    mdef = aio.run(env.backend.describe(module))
    env.pane.show_record(mdef, aio.run(env.backend.get(module, rid)))
    return env.pane


def save(env: Env, aio: AsyncDriver) -> None:
    env.pane.save()
    aio.wait_until(lambda: not env.ops.runner.busy())


def test_registry_has_an_editor_per_type_and_an_explicit_read_only_fallback(qapp: object) -> None:
    ctx = EditorContext(tz=TZ)
    expected = {
        "name": LineEditor,
        "notes": MultilineEditor,
        "count": LineEditor,
        "price": CurrencyEditor,
        "active": BoolEditor,
        "meet": DateTimeEditor,
        "kind": EnumEditor,
        "tags": MultiEnumEditor,
        "owner_id": RelateEditor,
        "web": UrlEditor,
        "odd": ReadOnlyEditor,  # UNKNOWN has no editor
        "id": ReadOnlyEditor,
        "created": ReadOnlyEditor,  # read-only field
    }
    for name, cls in expected.items():
        fdef = EVERYTHING.field(name)
        assert fdef is not None
        assert type(create_editor(fdef, ctx)) is cls, name
    with pytest.raises(ValueError, match="already registered"):
        register_editor(FieldType.TEXT, LineEditor)


def test_loading_is_clean_and_each_editor_shows_its_value(env: Env, aio: AsyncDriver) -> None:
    pane = loaded(env, aio)
    form = pane.form
    assert not pane.dirty
    assert form.dirty_fields() == []
    assert not form.save_button.isEnabled()
    text = form.display_text
    assert text("price") == "€ 1,000.00"
    assert text("kind") == "Alpha"
    assert text("tags") == "Ex"
    assert text("owner_id") == "Blue Works 00001"
    meet = form.editor("meet")
    assert isinstance(meet, DateTimeEditor)
    assert meet.line.text() == "2024-05-01 10:00"  # shown in the user's zone (UTC+2)
    assert form.rows["name"].label.text() == "Name *"  # required is marked


def test_editing_marks_fields_and_title_and_save_sends_only_changes(
    env: Env, aio: AsyncDriver, qtbot: QtBot
) -> None:
    pane = loaded(env, aio)
    form = pane.form
    name = form.editor("name")
    assert isinstance(name, LineEditor)
    name.line.end(False)
    qtbot.keyClicks(name.line, " 2")
    kind = form.editor("kind")
    assert isinstance(kind, EnumEditor)
    kind.choose("b")
    assert pane.dirty
    assert form.title.text().startswith("* ")
    assert form.rows["name"].label.text() == "• Name *"
    assert form.rows["kind"].changed
    assert not form.rows["count"].changed
    assert sorted(form.dirty_fields()) == ["kind", "name"]
    save(env, aio)
    assert env.backend.updates == [{"name": "Widget 2", "kind": "b"}]
    assert not pane.dirty
    assert form.title.text() == "Widget 2"
    assert env.backend.store["Things"][0].values["kind"] == "b"


def test_every_editor_type_round_trips(env: Env, aio: AsyncDriver) -> None:
    pane = loaded(env, aio)
    form = pane.form

    def line(name: str, text: str) -> None:
        ed = form.editor(name)
        assert isinstance(ed, LineEditor)
        ed.line.setText(text)
        ed.changed.emit()

    line("count", "42")
    line("ratio", "2.25")
    line("price", "1,999.99")
    line("due", "2025-12-24")
    line("meet", "2025-01-02 09:15")
    line("mail", "new@example.org")
    line("tel", "+44 20 7946 0000")
    line("web", "https://crm.example/x")
    notes = form.editor("notes")
    assert isinstance(notes, MultilineEditor)
    notes.text.setPlainText("new\nnotes")
    active = form.editor("active")
    assert isinstance(active, BoolEditor)
    active.box.click()
    tags = form.editor("tags")
    assert isinstance(tags, MultiEnumEditor)
    tags.set_checked("y", True)
    tags.set_checked("x", False)
    owner = form.editor("owner_id")
    assert isinstance(owner, RelateEditor)
    from crmdesk.core.records import RecordRef

    owner.choose(RecordRef("Accounts", "acc-00007", "Golden Works 00007"))
    save(env, aio)
    sent = env.backend.updates[-1]
    assert sent == {
        "notes": "new\nnotes",
        "count": 42,
        "ratio": Decimal("2.25"),
        "price": Decimal("1999.99"),
        "active": True,
        "due": date(2025, 12, 24),
        "meet": datetime(2025, 1, 2, 7, 15, tzinfo=UTC),
        "tags": ("y",),
        "owner_id": "acc-00007",
        "mail": "new@example.org",
        "tel": "+44 20 7946 0000",
        "web": "https://crm.example/x",
    }
    assert isinstance(sent["meet"], datetime)
    assert sent["meet"].tzinfo is not None
    # Reload from the backend: the form shows the new values, clean.
    pane = loaded(env, aio)
    assert not pane.dirty
    assert form.display_text("count") == "42"
    assert form.display_text("tags") == "Why"
    assert form.display_text("active") == "Yes"
    meet = form.editor("meet")
    assert isinstance(meet, DateTimeEditor)
    assert meet.line.text() == "2025-01-02 09:15"


def test_checks_as_you_type_and_before_sending(env: Env, aio: AsyncDriver, qtbot: QtBot) -> None:
    pane = loaded(env, aio)
    form = pane.form
    count = form.editor("count")
    assert isinstance(count, LineEditor)
    qtbot.keyClicks(count.line, "x")
    assert form.rows["count"].error.isVisible()
    assert "whole number" in form.rows["count"].error.text()
    name = form.editor("name")
    assert isinstance(name, LineEditor)
    assert name.line.maxLength() == 20
    name.line.clear()
    name.changed.emit()
    pane.save()
    assert "Name is required." in form.rows["name"].error.text()
    assert "Not saved" in form.message_text.text()
    assert env.backend.updates == []  # nothing was sent
    assert pane.dirty


def test_revert_restores_the_loaded_values(env: Env, aio: AsyncDriver, qtbot: QtBot) -> None:
    pane = loaded(env, aio)
    name = pane.form.editor("name")
    assert isinstance(name, LineEditor)
    name.line.end(False)
    qtbot.keyClicks(name.line, "!!!")
    assert pane.dirty
    pane.discard_edits()
    assert not pane.dirty
    assert name.line.text() == "Widget"
    assert not pane.form.rows["name"].changed


def test_untouched_values_never_look_changed(env: Env, aio: AsyncDriver) -> None:
    """Seconds, trailing zeros and unset booleans survive a load/compare unchanged."""
    pane = loaded(env, aio)
    for row in pane.form.rows.values():
        row.editor.changed.emit()
    assert pane.form.dirty_fields() == []


def test_hostile_server_text_is_shown_literally(env: Env, aio: AsyncDriver) -> None:
    rec = env.backend.store["Things"][0]
    for key in ("name", "notes", "odd", "owner_name"):
        rec.values[key] = EVIL
    rec.values["kind"] = EVIL  # not among the options: kept and shown as text
    pane = loaded(env, aio)
    form = pane.form
    assert form.title.text() == EVIL
    assert form.title.textFormat() == Qt.TextFormat.PlainText
    name = form.editor("name")
    assert isinstance(name, LineEditor)
    assert isinstance(name.line, QLineEdit)
    assert name.line.text() == EVIL
    notes = form.editor("notes")
    assert isinstance(notes, MultilineEditor)
    assert isinstance(notes.text, QPlainTextEdit)
    assert notes.text.toPlainText() == EVIL
    odd = form.editor("odd")
    assert isinstance(odd, ReadOnlyEditor)
    assert odd.label.text() == EVIL
    assert odd.label.textFormat() == Qt.TextFormat.PlainText
    kind = form.editor("kind")
    assert isinstance(kind, EnumEditor)
    assert kind.combo.currentText() == f"{EVIL} (not in the list)"
    for label in form.findChildren(QLabel):
        assert label.textFormat() == Qt.TextFormat.PlainText, label.text()
    dialog = ConflictDialog(
        [FieldConflict(EVERYTHING.field("name"), EVIL, "mine", EVIL)],  # type: ignore[arg-type]
        record_label=EVIL,
    )
    try:
        for label in dialog.findChildren(QLabel):
            assert label.textFormat() == Qt.TextFormat.PlainText
        assert dialog.theirs["name"].text() == EVIL
    finally:
        dialog.deleteLater()


def test_read_only_records_cannot_be_edited(env: Env, aio: AsyncDriver) -> None:
    rec = env.backend.store["Accounts"][0]
    mdef = aio.run(env.backend.describe("Accounts"))
    env.pane.show_record(
        mdef, Record(rec.module, rec.id, dict(rec.values), rec.version, frozenset({"read"}))
    )
    name = env.pane.form.editor("name")
    assert name is not None
    assert not name.widget.isEnabled()
    assert not env.pane.form.save_button.isEnabled()
    assert ACCOUNTS.name == "Accounts"
