"""The conflict dialog: per field, the original, my value and the server's; choose per field."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from crmdesk.core.records import Value
from crmdesk.core.schema import FieldDef
from crmdesk.ui.format import format_value, plain_tip
from crmdesk.ui.forms.editors import plain
from crmdesk.ui.forms.values import DATETIME_INPUT, FieldConflict


def shown(fdef: FieldDef, value: Value, tz: tzinfo | None) -> str:
    if isinstance(value, datetime) and value.tzinfo is not None and tz is not None:
        return value.astimezone(tz).strftime(DATETIME_INPUT)
    return format_value(fdef, value) or "(empty)"


class ConflictDialog(QDialog):
    """Lists the clashing fields; ``take_theirs()`` names those where the user took theirs."""

    def __init__(
        self,
        clashes: Sequence[FieldConflict],
        *,
        record_label: str,
        tz: tzinfo | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("crmdesk — Someone else changed this record")
        self.clashes = list(clashes)
        self.mine: dict[str, QRadioButton] = {}
        self.theirs: dict[str, QRadioButton] = {}
        self._groups: list[QButtonGroup] = []
        intro = plain(
            f"“{record_label}” was changed on the server after you opened it. For each field "
            "both of you changed, keep your value or take theirs, then save again. Fields only "
            "they changed keep their value."
        )
        intro.setWordWrap(True)
        grid = QGridLayout()
        grid.setHorizontalSpacing(14)
        grid.setVerticalSpacing(6)
        bold = QFont(intro.font())
        bold.setBold(True)
        for col, text in enumerate(("Field", "When you opened it", "Yours", "Theirs (now)")):
            head = plain(text)
            head.setFont(bold)
            grid.addWidget(head, 0, col)
        for i, clash in enumerate(self.clashes, start=1):
            fdef = clash.field
            grid.addWidget(plain(fdef.label), i, 0, Qt.AlignmentFlag.AlignTop)
            original = plain(shown(fdef, clash.original, tz))
            original.setEnabled(False)
            grid.addWidget(_wrap(original), i, 1, Qt.AlignmentFlag.AlignTop)
            mine = QRadioButton(_elide(shown(fdef, clash.mine, tz)))
            theirs = QRadioButton(_elide(shown(fdef, clash.theirs, tz)))
            # Radio button text is never rich text; the full value goes to the tooltip.
            mine.setToolTip(plain_tip(shown(fdef, clash.mine, tz)))
            theirs.setToolTip(plain_tip(shown(fdef, clash.theirs, tz)))
            mine.setObjectName(f"mine:{fdef.name}")
            theirs.setObjectName(f"theirs:{fdef.name}")
            mine.setChecked(True)
            group = QButtonGroup(self)
            group.addButton(mine)
            group.addButton(theirs)
            self._groups.append(group)
            grid.addWidget(mine, i, 2, Qt.AlignmentFlag.AlignTop)
            grid.addWidget(theirs, i, 3, Qt.AlignmentFlag.AlignTop)
            self.mine[fdef.name] = mine
            self.theirs[fdef.name] = theirs
        self.buttons = QDialogButtonBox()
        self.save_button = self.buttons.addButton(
            "Save my choices", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.buttons.addButton("Keep editing", QDialogButtonBox.ButtonRole.RejectRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addSpacing(6)
        layout.addLayout(grid)
        layout.addStretch(1)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(560)

    def choose(self, field_name: str, *, theirs: bool) -> None:
        (self.theirs if theirs else self.mine)[field_name].setChecked(True)

    def take_theirs(self) -> list[str]:
        return [name for name, button in self.theirs.items() if button.isChecked()]


def _elide(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _wrap(label: QLabel) -> QLabel:
    label.setWordWrap(True)
    return label
