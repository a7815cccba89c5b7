"""The read-only record pane: every field labelled and formatted by type, as plain text."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from crmdesk.core.records import Record
from crmdesk.core.schema import FieldDef, FieldType, ModuleDef
from crmdesk.ui.format import format_value, plain_tip

_SELECTABLE = (
    Qt.TextInteractionFlag.TextSelectableByMouse | Qt.TextInteractionFlag.TextSelectableByKeyboard
)


def plain_label(text: str = "") -> QLabel:
    """A label that never interprets server text as markup."""
    label = QLabel()
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setText(text)
    return label


def shown_fields(mdef: ModuleDef) -> list[FieldDef]:
    """The layout's fields when the CRM gives one, else every visible field but ids."""
    if mdef.layout:
        names = [n for section in mdef.layout for n in section.fields]
        fields = [f for n in dict.fromkeys(names) if (f := mdef.field(n)) is not None]
        if fields:
            return fields
    return [f for f in mdef.fields if f.visible and f.type is not FieldType.ID]


class DetailPane(QScrollArea):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.record_id: str | None = None
        self._values: dict[str, QLabel] = {}
        #: Fields of the shown record that have no value (listed at the end of the pane).
        self.empty_fields: list[str] = []
        self.title = plain_label()
        self.show_message("Select a record to see its details.")

    def value_label(self, field_name: str) -> QLabel | None:
        return self._values.get(field_name)

    def show_message(self, text: str) -> None:
        self.record_id = None
        self._values = {}
        self.empty_fields = []
        body, layout = self._body()
        note = plain_label(text)
        note.setWordWrap(True)
        note.setEnabled(False)
        layout.addWidget(note)
        layout.addStretch(1)
        self.setWidget(body)

    def show_record(self, mdef: ModuleDef, record: Record) -> None:
        body, layout = self._body()
        title = plain_label(str(record.get(mdef.name_field) or record.id))
        font = QFont(title.font())
        font.setPointSizeF(font.pointSizeF() * 1.35)
        font.setBold(True)
        title.setFont(font)
        title.setWordWrap(True)
        title.setTextInteractionFlags(_SELECTABLE)
        subtitle = plain_label(mdef.label)
        subtitle.setEnabled(False)
        layout.addWidget(title)
        layout.addWidget(subtitle)
        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setVerticalSpacing(5)
        values: dict[str, QLabel] = {}
        empty: list[FieldDef] = []
        for fdef in shown_fields(mdef):
            value = record.get(fdef.name)
            if fdef.type is FieldType.RELATE and fdef.relate_name_field:
                value = record.get(fdef.relate_name_field) or value
            text = format_value(fdef, value)
            if not text:
                empty.append(fdef)
                continue
            label = plain_label(text)
            label.setWordWrap(True)
            label.setTextInteractionFlags(_SELECTABLE)
            # Long unbreakable values (URLs) are clipped, not allowed to widen the pane.
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            label.setToolTip(plain_tip(text) if len(text) > 40 else "")
            name = plain_label(f"{fdef.label}:")
            name.setBuddy(label)
            form.addRow(name, label)
            values[fdef.name] = label
        layout.addLayout(form)
        self.empty_fields = [f.name for f in empty]
        if empty:
            note = plain_label("No value: " + ", ".join(f.label for f in empty))
            note.setWordWrap(True)
            note.setEnabled(False)
            layout.addSpacing(8)
            layout.addWidget(note)
        layout.addStretch(1)
        self._values = values
        self.title = title
        self.record_id = record.id
        self.setWidget(body)

    def _body(self) -> tuple[QWidget, QVBoxLayout]:
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(12, 10, 12, 10)
        layout.setSpacing(6)
        return body, layout
