"""Picklists: options per field, edit round trips through the backend, the "not offered" state."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers.admin_fake import FakeBackend, PlainFakeBackend, ScriptedPrompter
from helpers.admin_util import collect_garbage, until
from helpers.qasync_loop import AsyncDriver
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton
from pytestqt.qtbot import QtBot

from crmdesk.ui.admin.picklists import NO_ADMIN_NOTE, NO_DEPENDENCY_NOTE, PicklistView

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


@pytest.fixture(autouse=True)
def _main_thread_gc() -> Iterator[None]:
    collect_garbage()
    yield
    collect_garbage()


async def opened(
    qtbot: QtBot, backend: FakeBackend, prompter: ScriptedPrompter, module: str = "Accounts"
) -> PicklistView:
    view = PicklistView(backend, prompter=prompter)
    qtbot.addWidget(view)
    view.load(module)
    await until(lambda: view.module_def is not None and view.module_def.name == module)
    await until(lambda: not view.runs.running("load"))
    return view


def options_of(view: PicklistView) -> list[tuple[str, str]]:
    return [(o.key, o.label) for o in view.option_model.rows()]


def test_lists_every_picklist_field(qtbot: QtBot, aio: AsyncDriver) -> None:
    async def body() -> None:
        view = await opened(qtbot, FakeBackend(), ScriptedPrompter())
        names = [f.name for f in view.field_model.rows()]
        assert names == ["industry", "account_type", "rating_c", "regions_c"]
        view.select_field("regions_c")
        assert options_of(view) == [
            ("emea", "EMEA"),
            ("amer", "Americas"),
            ("apac", "Asia Pacific"),
        ]
        assert "multienum" in view.options_title.text()
        assert view.admin_note.isHidden()

    aio.run(body(), timeout=15)


def test_add_rename_delete_round_trip(qtbot: QtBot, aio: AsyncDriver) -> None:
    backend = FakeBackend()
    changed: list[tuple[str, str]] = []

    async def body() -> None:
        prompter = ScriptedPrompter(
            texts=["Retail", "Finance"], choices=["Energy"], confirms=[True, True, True]
        )
        view = await opened(qtbot, backend, prompter)
        view.picklist_changed.connect(lambda m, f: changed.append((m, f)))
        view.select_field("industry")
        assert view.add_button is not None
        assert view.add_button.isEnabled()
        assert view.rename_button is not None
        assert not view.rename_button.isEnabled()

        view.add_button.click()
        await until(lambda: ("Retail", "Retail") in options_of(view), what="added value")
        assert ("add", "Accounts", "industry", "Retail") in backend.calls
        selected = view.current_option()
        assert selected is not None
        assert selected.key == "Retail"

        view.select_option("Banking")
        assert view.rename_button.isEnabled()
        view.rename_button.click()
        await until(lambda: ("Finance", "Finance") in options_of(view), what="renamed value")
        assert ("rename", "Accounts", "industry", "Banking", "Finance") in backend.calls
        assert "Banking" not in [k for k, _ in options_of(view)]

        view.select_option("Other")
        assert view.delete_button is not None
        view.delete_button.click()
        await until(lambda: "Other" not in [k for k, _ in options_of(view)], what="deletion")
        assert ("delete", "Accounts", "industry", "Other", "Energy") in backend.calls
        # The replacement was chosen among the other values only.
        assert prompter.offered == [["Finance", "Energy", "Retail"]]
        assert "records now hold Energy" in view.status.text()
        assert changed == [("Accounts", "industry")] * 3

    aio.run(body(), timeout=15)


def test_cancelled_confirmation_changes_nothing(qtbot: QtBot, aio: AsyncDriver) -> None:
    backend = FakeBackend()

    async def body() -> None:
        view = await opened(qtbot, backend, ScriptedPrompter(texts=["Retail"], confirms=[False]))
        view.select_field("industry")
        assert view.add_button is not None
        view.add_button.click()
        await until(lambda: not view.runs.running("edit"))
        assert not [c for c in backend.calls if c[0] == "add"]
        assert "Retail" not in [k for k, _ in options_of(view)]

    aio.run(body(), timeout=15)


def test_backend_refusal_is_shown(qtbot: QtBot, aio: AsyncDriver) -> None:
    async def body() -> None:
        view = await opened(qtbot, FakeBackend(), ScriptedPrompter(texts=["x"], confirms=[True]))
        view.select_field("rating_c")
        assert view.add_button is not None
        view.add_button.click()
        await until(lambda: view.status.is_error, what="error")
        assert "only edits Accounts.industry" in view.status.text()

    aio.run(body(), timeout=15)


def test_dependencies_table(qtbot: QtBot, aio: AsyncDriver) -> None:
    async def body() -> None:
        view = await opened(qtbot, FakeBackend(), ScriptedPrompter(), module="Projects_c")
        await until(lambda: view.dependencies, what="dependencies")
        assert view.deps_choice.currentText() == "stage_c → phase_c"
        model = view.deps_proxy
        rows = {model.index(r, 0).data(): model.index(r, 1).data() for r in range(model.rowCount())}
        assert rows == {
            "Planning [plan]": "Kick-off [p1]",
            "Running [run]": "Build [p2], Handover [p3]",
            "Done [done]": "Handover [p3]",
        }
        assert model.headerData(1, Qt.Orientation.Horizontal) == "Allowed phase_c values"

    aio.run(body(), timeout=15)


def test_not_offered_shows_note_and_no_buttons(qtbot: QtBot, aio: AsyncDriver) -> None:
    async def body() -> None:
        view = await opened(qtbot, PlainFakeBackend(), ScriptedPrompter())
        assert view.add_button is None
        assert view.rename_button is None
        assert view.delete_button is None
        labels = {b.text() for b in view.findChildren(QPushButton)}
        assert not labels & {"&Add value…", "Re&name…", "&Delete…"}
        assert view.admin_note.text() == NO_ADMIN_NOTE
        assert not view.admin_note.isHidden()
        assert view.deps_note.text() == NO_DEPENDENCY_NOTE
        assert view.deps_view.isHidden()
        # Options are still listed, read-only.
        assert [o.key for o in view.option_model.rows()] == ["Banking", "Energy", "Other"]

    aio.run(body(), timeout=15)
