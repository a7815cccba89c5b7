"""Compare a module across two connections (or two modules of one), field by field."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from crmdesk.core.backend import Backend
from crmdesk.core.schema import FieldDef, ModuleDef
from crmdesk.ui.admin.common import Runs, StatusLine, plain_label
from crmdesk.ui.admin.export import options_text
from crmdesk.ui.admin.inspector import filter_edit, make_table
from crmdesk.ui.admin.models import Column, RowFilterProxy, RowsModel
from crmdesk.ui.tasks import TaskRunner

#: The attributes compared, in the order differences are named.
ASPECTS = ("type", "required", "length", "options")

MISSING = "— missing —"
DIFF_COLOR = QColor(255, 224, 150)
MISSING_COLOR = QColor(255, 196, 196)


@dataclass(frozen=True, slots=True)
class FieldPair:
    name: str
    left: FieldDef | None
    right: FieldDef | None
    #: The aspects that differ (empty when the field matches or is missing on a side).
    differs: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        if self.left is None:
            return "only on the right"
        if self.right is None:
            return "only on the left"
        if self.differs:
            return "differs: " + ", ".join(self.differs)
        return "same"

    @property
    def same(self) -> bool:
        return self.left is not None and self.right is not None and not self.differs


def _aspect(fdef: FieldDef, aspect: str) -> object:
    if aspect == "type":
        return fdef.type
    if aspect == "required":
        return fdef.required
    if aspect == "length":
        return fdef.length
    return tuple(sorted(o.key for o in fdef.options))


def compare_modules(left: ModuleDef, right: ModuleDef) -> list[FieldPair]:
    """Fields matched by name: left's order first, then fields only the right has."""
    rights = {f.name: f for f in right.fields}
    pairs: list[FieldPair] = []
    for lf in left.fields:
        rf = rights.pop(lf.name, None)
        diffs = () if rf is None else tuple(a for a in ASPECTS if _aspect(lf, a) != _aspect(rf, a))
        pairs.append(FieldPair(lf.name, lf, rf, diffs))
    pairs += [FieldPair(rf.name, None, rf) for rf in rights.values()]
    return pairs


def _side_text(fdef: FieldDef | None, aspect: str) -> str:
    if fdef is None:
        return MISSING
    if aspect == "type":
        return f"{fdef.type.value} ({fdef.native_type})" if fdef.native_type else fdef.type.value
    if aspect == "required":
        return "required" if fdef.required else ""
    if aspect == "length":
        return "" if fdef.length is None else str(fdef.length)
    return options_text(fdef.options, 6)


def _col(title: str, side: str, aspect: str) -> Column[FieldPair]:
    def text(p: FieldPair) -> str:
        return _side_text(p.left if side == "left" else p.right, aspect)

    full = None
    if aspect == "options":

        def full(p: FieldPair) -> str:
            fdef = p.left if side == "left" else p.right
            return options_text(fdef.options) if fdef else MISSING

    return Column(title, text, full=full)


#: Column index → the aspect it shows (for highlighting).
COMPARE_COLUMNS: tuple[Column[FieldPair], ...] = (
    Column("Field", lambda p: p.name),
    _col("Left type", "left", "type"),
    _col("Right type", "right", "type"),
    _col("Left required", "left", "required"),
    _col("Right required", "right", "required"),
    _col("Left length", "left", "length"),
    _col("Right length", "right", "length"),
    _col("Left options", "left", "options"),
    _col("Right options", "right", "options"),
    Column("Status", lambda p: p.status, sort=lambda p: (p.same, p.status)),
)
_COLUMN_ASPECT = {1: "type", 2: "type", 3: "required", 4: "required", 5: "length", 6: "length"}
_COLUMN_ASPECT |= {7: "options", 8: "options"}


def highlight(pair: FieldPair, column: int) -> QColor | None:
    """The background of a compare cell: red where a side is missing, amber where it differs."""
    if pair.left is None or pair.right is None:
        return MISSING_COLOR
    aspect = _COLUMN_ASPECT.get(column)
    if (aspect is not None and aspect in pair.differs) or (column == 9 and pair.differs):
        return DIFF_COLOR
    return None


class SidePicker(QGroupBox):
    """Connection and module for one side of the comparison."""

    def __init__(self, title: str, names: Sequence[str], parent: QWidget | None = None) -> None:
        super().__init__(title, parent)
        self.connection = QComboBox(self)
        self.connection.addItems(list(names))
        self.module = QComboBox(self)
        self.module.setEditable(True)
        self.module.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.module.setMinimumContentsLength(18)
        self.summary = plain_label("", self)
        form = QFormLayout(self)
        form.addRow("&Connection", self.connection)
        form.addRow("&Module", self.module)
        form.addRow(self.summary)

    def set_modules(self, names: Sequence[str]) -> None:
        current = self.module.currentText()
        self.module.clear()
        self.module.addItems(list(names))
        if current:
            self.module.setCurrentText(current)


class CompareView(QWidget):
    """Two (connection, module) pairs side by side, differences highlighted.

    ``connections`` is a sequence of (name, backend); one connection is enough to
    compare two modules of it.
    """

    def __init__(
        self,
        connections: Sequence[tuple[str, Backend]],
        runner: TaskRunner | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        if not connections:
            raise ValueError("CompareView needs at least one connection")
        self.setWindowTitle("Compare modules")
        self.connections = list(connections)
        self.status = StatusLine(self)
        self.runs = Runs(self, runner, self.status)
        names = [n for n, _ in self.connections]
        self.left = SidePicker("Left", names, self)
        self.right = SidePicker("Right", names, self)
        if len(names) > 1:
            self.right.connection.setCurrentIndex(1)
        self.compare_button = QPushButton("Co&mpare", self)
        self.compare_button.setDefault(True)
        self.model: RowsModel[FieldPair] = RowsModel(COMPARE_COLUMNS, self)
        self.model.set_background(highlight)
        self.proxy = RowFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.filter = filter_edit(self, "Filter fields", self.proxy)
        self.differences_only = QCheckBox("&Differences only", self)
        self.differences_only.toggled.connect(self._differences_toggled)
        self.view = make_table(self, self.proxy)
        self.totals = plain_label("", self)

        pickers = QHBoxLayout()
        pickers.addWidget(self.left, 1)
        pickers.addWidget(self.right, 1)
        pickers.addWidget(self.compare_button, 0, Qt.AlignmentFlag.AlignBottom)
        bar = QHBoxLayout()
        bar.addWidget(self.filter, 1)
        bar.addWidget(self.differences_only)
        lay = QVBoxLayout(self)
        lay.addLayout(pickers)
        lay.addLayout(bar)
        lay.addWidget(self.view, 1)
        lay.addWidget(self.totals)
        lay.addWidget(self.status)

        self.left.connection.currentIndexChanged.connect(lambda _i: self._load_modules("left"))
        self.right.connection.currentIndexChanged.connect(lambda _i: self._load_modules("right"))
        self.compare_button.clicked.connect(self.compare)
        self._load_modules("left")
        self._load_modules("right")

    def backend(self, side: SidePicker) -> Backend:
        return self.connections[max(0, side.connection.currentIndex())][1]

    def _load_modules(self, which: str) -> None:
        side = self.left if which == "left" else self.right
        self.runs.start(which, self._fill_modules(side), label="Loading modules")

    async def _fill_modules(self, side: SidePicker) -> None:
        modules = await self.backend(side).modules()
        side.set_modules(sorted(m.name for m in modules if m.entity))

    def set_pair(self, left_module: str, right_module: str | None = None) -> None:
        self.left.module.setCurrentText(left_module)
        self.right.module.setCurrentText(right_module or left_module)

    def compare(self) -> None:
        left, right = self.left.module.currentText(), self.right.module.currentText()
        if not left or not right:
            self.status.info("Choose a module on both sides.")
            return
        self.runs.start(
            "load",
            self._compare(self.backend(self.left), left, self.backend(self.right), right),
            label="Comparing modules",
        )

    async def _compare(self, lb: Backend, lm: str, rb: Backend, rm: str) -> None:
        self.status.info(f"Loading {lm} and {rm}…")
        ldef = await lb.describe(lm)
        rdef = await rb.describe(rm)
        self.show_comparison(ldef, rdef)

    def show_comparison(self, ldef: ModuleDef, rdef: ModuleDef) -> None:
        pairs = compare_modules(ldef, rdef)
        self.model.set_rows(pairs)
        self.view.resizeColumnsToContents()
        for col in range(self.model.columnCount()):
            self.view.setColumnWidth(col, min(self.view.columnWidth(col), 240))
        self.left.summary.setText(f"{ldef.name}: {len(ldef.fields)} fields")
        self.right.summary.setText(f"{rdef.name}: {len(rdef.fields)} fields")
        differ = sum(1 for p in pairs if p.differs)
        only_left = sum(1 for p in pairs if p.right is None)
        only_right = sum(1 for p in pairs if p.left is None)
        same = len(pairs) - differ - only_left - only_right
        self.totals.setText(
            f"{same} same · {differ} differ · {only_left} only on the left · "
            f"{only_right} only on the right"
        )
        self.status.info("")

    def _differences_toggled(self, on: bool) -> None:
        self.proxy.set_predicate((lambda p: not p.same) if on else None)
