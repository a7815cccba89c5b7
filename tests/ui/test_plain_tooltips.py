"""Tooltips show server text literally: Qt guesses rich text in tooltips, so values are escaped.

Each check renders the tooltip the way Qt's tooltip label does (rich text when
``Qt.mightBeRichText`` says so) and compares the visible text with the original value;
a tooltip set to the raw value would render ``<b>x</b>`` as a bold "x" and fail.
"""

from __future__ import annotations

from datetime import UTC

import pytest
from helpers.qasync_loop import AsyncDriver
from PySide6.QtCore import Qt
from PySide6.QtGui import Qt as GuiQt
from PySide6.QtGui import QTextDocument
from pytestqt.qtbot import QtBot

from crmdesk.core.query import SortKey
from crmdesk.core.records import Page, PageRequest, Record
from crmdesk.core.schema import FieldDef, FieldType, ModuleInfo
from crmdesk.ui.format import plain_tip
from crmdesk.ui.forms.conflict import ConflictDialog
from crmdesk.ui.forms.editors import EditorContext, ReadOnlyEditor, create_editor
from crmdesk.ui.forms.values import FieldConflict
from crmdesk.ui.models.modules import ConnectionTreeModel, ModuleTreeModel
from crmdesk.ui.models.records import Loader, RecordTableModel
from crmdesk.ui.tasks import TaskRunner
from crmdesk.ui.views.filter_bar import Chip
from crmdesk.ui.views.status import StatusPanel

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")

#: Long enough for the "full value in the tooltip" paths (over 40 characters).
EVIL = "<b>x</b><img src=y> & <i>a long enough hostile value</i>\nsecond line"


def rendered(tip: str) -> str:
    """What a Qt tooltip label shows for ``tip`` (AutoText: markup is guessed)."""
    if GuiQt.mightBeRichText(tip):
        doc = QTextDocument()
        doc.setHtml(tip)
        return doc.toPlainText()
    return tip


def test_the_raw_value_would_render_as_markup() -> None:
    # The premise: without escaping, Qt would interpret the value.
    assert rendered(EVIL) != EVIL


@pytest.mark.parametrize("text", [EVIL, "plain", "a < b > c", "  two  spaces", "x\ny"])
def test_plain_tip_shows_exactly_the_text(text: str) -> None:
    assert rendered(plain_tip(text)) == text


def test_an_empty_tip_stays_empty() -> None:
    assert plain_tip("") == ""


def test_read_only_field_tooltip(qtbot: QtBot) -> None:
    fdef = FieldDef("note", "Note", FieldType.TEXT, read_only=True)
    editor = create_editor(fdef, EditorContext(tz=UTC))
    assert isinstance(editor, ReadOnlyEditor)
    qtbot.addWidget(editor.widget)
    editor.load(EVIL)
    assert rendered(editor.label.toolTip()) == EVIL


def test_conflict_dialog_tooltips(qtbot: QtBot) -> None:
    fdef = FieldDef("name", "Name", FieldType.TEXT)
    dialog = ConflictDialog([FieldConflict(fdef, "orig", EVIL, EVIL + " theirs")], record_label="r")
    qtbot.addWidget(dialog)
    assert rendered(dialog.mine["name"].toolTip()) == EVIL
    assert rendered(dialog.theirs["name"].toolTip()) == EVIL + " theirs"


def test_status_bar_connection_tooltip(qtbot: QtBot) -> None:
    panel = StatusPanel()
    qtbot.addWidget(panel)
    panel.set_connection("CRM", f"CRM: SuiteCRM\nSigned in as {EVIL}")
    assert rendered(panel.connection.toolTip()) == f"CRM: SuiteCRM\nSigned in as {EVIL}"


def test_module_and_connection_tree_tooltips() -> None:
    modules = ModuleTreeModel()
    modules.set_modules([ModuleInfo(EVIL, "Evil"), ModuleInfo("<u>cfg</u>", "Cfg", entity=False)])
    tip = modules.index_of(EVIL).data(Qt.ItemDataRole.ToolTipRole)
    assert rendered(tip) == EVIL
    assert rendered(modules.index_of("<u>cfg</u>").data(Qt.ItemDataRole.ToolTipRole)) == (
        "<u>cfg</u> (holds no records)"
    )
    tree = ConnectionTreeModel()
    tree.add_connection(1, "CRM", modules, tooltip=f"Signed in as {EVIL}")
    item = tree.connection_item(1)
    assert item is not None
    assert rendered(item.toolTip()) == f"Signed in as {EVIL}"
    tree.set_connection_title(1, "CRM", f"Now {EVIL}")
    assert rendered(item.toolTip()) == f"Now {EVIL}"
    module_item = tree.module_index(1, EVIL)
    assert rendered(module_item.data(Qt.ItemDataRole.ToolTipRole)) == EVIL


def test_filter_chip_tooltip(qtbot: QtBot) -> None:
    chip = Chip(f"Name contains {EVIL}")
    qtbot.addWidget(chip)
    assert rendered(chip.label.toolTip()) == f"Name contains {EVIL}"


def test_record_table_cell_and_header_tooltips(runner: TaskRunner, aio: AsyncDriver) -> None:
    """A long server value in a table cell, and a server-given column label, show literally."""
    evil_label = "<b>Bold</b> label"
    columns = (FieldDef("name", evil_label, FieldType.TEXT),)

    def make(_sort: tuple[SortKey, ...]) -> Loader:
        async def load(_req: PageRequest) -> Page:
            return Page([Record("Accounts", "1", {"name": EVIL})], total=1)

        return load

    model = RecordTableModel(runner, page_size=10)
    model.set_source(columns, make)
    aio.wait_until(lambda: model.rowCount() == 1)
    cell_tip = model.data(model.index(0, 0), Qt.ItemDataRole.ToolTipRole)
    shown = model.data(model.index(0, 0), Qt.ItemDataRole.DisplayRole)
    assert "<b>x</b><img src=y>" in shown
    assert rendered(cell_tip) == shown
    header_tip = model.headerData(0, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)
    assert rendered(header_tip).startswith(evil_label)
