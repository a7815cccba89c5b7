"""The metadata inspector over the in-memory fake backend."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.admin_fake import FakeBackend
from helpers.admin_util import collect_garbage, until
from helpers.qasync_loop import AsyncDriver
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from crmdesk.ui.admin.export import fields_to_csv
from crmdesk.ui.admin.inspector import MetadataInspector

#: The offscreen platform plugin warns about size hints whenever a window is shown.
pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


@pytest.fixture(autouse=True)
def _main_thread_gc() -> Iterator[None]:
    collect_garbage()
    yield
    collect_garbage()


def column_values(view: MetadataInspector, column: int) -> list[str]:
    proxy = view.fields.proxy
    return [str(proxy.index(r, column).data()) for r in range(proxy.rowCount())]


async def opened(qtbot: QtBot, module: str = "Accounts") -> MetadataInspector:
    view = MetadataInspector(FakeBackend())
    qtbot.addWidget(view)
    view.resize(1200, 700)
    view.show()
    await until(lambda: view.modules.model.rowCount() == 4, what="modules")
    assert view.modules.select(module)
    await until(lambda: view.module_def is not None and view.module_def.name == module)
    return view


def test_modules_marked_entity_and_custom(qtbot: QtBot, aio: AsyncDriver) -> None:
    async def body() -> None:
        view = await opened(qtbot)
        rows = {m.name: m for m in view.modules.model.rows()}
        model = view.modules.model
        texts = {
            model.index(r, 0).data(): (model.index(r, 2).data(), model.index(r, 3).data())
            for r in range(model.rowCount())
        }
        assert texts["Settings"] == ("non-entity", "standard")
        assert texts["Projects_c"] == ("entity", "custom")
        assert rows["Accounts"].entity
        view.modules.entities_only.setChecked(True)
        assert view.modules.proxy.rowCount() == 3
        assert "custom" in view.modules.count.text()

    aio.run(body(), timeout=15)


def test_field_table_filters_and_sorts(qtbot: QtBot, aio: AsyncDriver) -> None:
    async def body() -> None:
        view = await opened(qtbot)
        assert view.fields.proxy.rowCount() == 13
        # Every column is there, filled from the FieldDef.
        headers = [
            view.fields.model.headerData(c, Qt.Orientation.Horizontal)
            for c in range(view.fields.model.columnCount())
        ]
        assert headers[:4] == ["Name", "Label", "Type", "Native type"]
        row = view.fields.visible_names().index("parent_id")
        assert view.fields.proxy.index(row, 9).data() == "Accounts"
        # Filter on any column: "enum" matches the four picklist fields' type column.
        view.fields.filter.setText("multienum")
        assert view.fields.visible_names() == ["regions_c"]
        view.fields.filter.setText("")
        view.fields.custom_only.setChecked(True)
        assert sorted(view.fields.visible_names()) == ["rating_c", "regions_c", "vat_c"]
        view.fields.custom_only.setChecked(False)
        # Length sorts numerically (10 before 100 before 150), empty lengths first.
        view.fields.view.sortByColumn(6, Qt.SortOrder.AscendingOrder)
        lengths = [v for v in column_values(view, 6) if v]
        assert lengths == sorted(lengths, key=int)
        assert lengths[0] == "10"
        view.fields.view.sortByColumn(0, Qt.SortOrder.DescendingOrder)
        names = view.fields.visible_names()
        assert names == sorted(names, key=str.casefold, reverse=True)

    aio.run(body(), timeout=15)


def test_links_and_raw_metadata(qtbot: QtBot, aio: AsyncDriver) -> None:
    async def body() -> None:
        view = await opened(qtbot)
        links = view.link_proxy
        got = {
            (links.index(r, 0).data(), links.index(r, 2).data(), links.index(r, 3).data())
            for r in range(links.rowCount())
        }
        assert ("projects", "Projects_c", "many") in got
        assert json.loads(view.raw.text())["module"] == "Accounts"
        view.raw.search.edit.setText("accounts_projects_c")
        assert view.raw.match_count() == 0  # relationship names are not in this raw blob
        view.raw.search.edit.setText("relate")
        assert view.raw.match_count() == 1
        assert view.raw.selected_text() == "relate"
        assert view.raw.text_edit.isReadOnly()

    aio.run(body(), timeout=15)


def test_copy_field_definition(qtbot: QtBot, aio: AsyncDriver) -> None:
    async def body() -> None:
        view = await opened(qtbot)
        assert not view.fields.copy_button.isEnabled()
        view.fields.filter.setText("rating_c")
        view.fields.view.setCurrentIndex(view.fields.proxy.index(0, 0))
        assert view.fields.copy_button.isEnabled()
        view.fields.copy_button.click()
        data = json.loads(QGuiApplication.clipboard().text())
        assert data["name"] == "rating_c"
        assert data["custom"] is True
        assert data["options"][0] == {"key": "hot", "label": "Hot"}
        assert data["raw"] == {"name": "rating_c", "type": "enum", "len": None}

    aio.run(body(), timeout=15)


def test_export_csv(qtbot: QtBot, aio: AsyncDriver, tmp_path: Path) -> None:
    async def body() -> None:
        view = await opened(qtbot)
        target = tmp_path / "accounts.csv"
        view.export_csv(target)
        await until(lambda: "Exported" in view.status.text(), what="export done")
        rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
        assert [r["name"] for r in rows][:3] == ["id", "name", "industry"]
        industry = rows[2]
        assert industry["options"] == "Banking; Energy; Other"
        assert industry["default"] == "Other"
        rating = next(r for r in rows if r["name"] == "rating_c")
        assert rating["custom"] == "custom"
        assert rating["options"] == "hot=Hot; warm=Warm; cold=Cold"
        assert rows[1]["required"] == "yes"
        assert rows[1]["length"] == "150"
        assert "Exported 13 fields" in view.status.text()

    aio.run(body(), timeout=15)


def test_csv_defuses_formulas() -> None:
    from crmdesk.core.schema import FieldDef, FieldType, ModuleDef

    mdef = ModuleDef("M", "M", (FieldDef("f", "=HYPERLINK(1)", FieldType.INT, default=-5),))
    row = list(csv.reader(io.StringIO(fields_to_csv(mdef))))[1]
    assert row[1] == "'=HYPERLINK(1)"
    assert row[7] == "-5"


def test_server_text_is_plain(qtbot: QtBot, aio: AsyncDriver) -> None:
    async def body() -> None:
        view = await opened(qtbot)
        row = view.fields.visible_names().index("rating_c")
        # Shown verbatim by the item view (plain text), not as bold markup.
        assert view.fields.proxy.index(row, 1).data() == "<b>Rating</b>"
        for label in view.findChildren(QLabel):
            assert label.textFormat() == Qt.TextFormat.PlainText or not label.text()

    aio.run(body(), timeout=15)


def test_unknown_module_error_in_status(qtbot: QtBot, aio: AsyncDriver) -> None:
    async def body() -> None:
        view = await opened(qtbot)
        view.open_module("Nope")
        await until(lambda: view.status.is_error)
        assert "There is no module Nope." in view.status.text()

    aio.run(body(), timeout=15)
