"""Display text per field type."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from crmdesk.core.schema import FieldDef, FieldType, Option
from crmdesk.ui.format import format_value
from crmdesk.ui.views.status import rows_text

ENUM = FieldDef("stage", "Stage", FieldType.ENUM, options=(Option("won", "Closed won"),))
MULTI = FieldDef("m", "M", FieldType.MULTIENUM, options=ENUM.options)


@pytest.mark.parametrize(
    ("fdef", "value", "text"),
    [
        (ENUM, "won", "Closed won"),
        (ENUM, "lost", "lost"),
        (
            FieldDef("m", "M", FieldType.MULTIENUM, options=ENUM.options),
            ("won", "x"),
            "Closed won, x",
        ),
        (FieldDef("b", "B", FieldType.BOOL), True, "Yes"),
        (FieldDef("b", "B", FieldType.BOOL), False, "No"),
        (FieldDef("d", "D", FieldType.DATE), date(2024, 3, 5), "2024-03-05"),
        (FieldDef("c", "C", FieldType.CURRENCY, currency="EUR"), Decimal("1234.5"), "EUR 1,234.50"),
        (FieldDef("c", "C", FieldType.CURRENCY), 12, "12.00"),
        (FieldDef("n", "N", FieldType.DECIMAL), Decimal("0E-8"), "0"),
        (FieldDef("n", "N", FieldType.DECIMAL), Decimal("1500.2500"), "1,500.25"),
        (FieldDef("i", "I", FieldType.INT), 7, "7"),
        (FieldDef("t", "T", FieldType.TEXT), None, ""),
        (FieldDef("t", "T", FieldType.TEXT), "<b>x</b>", "<b>x</b>"),
    ],
)
def test_format_value(fdef: FieldDef, value: object, text: str) -> None:
    assert format_value(fdef, value) == text  # type: ignore[arg-type]


def test_datetimes_show_in_local_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        fdef = FieldDef("dt", "DT", FieldType.DATETIME)
        assert format_value(fdef, datetime(2024, 1, 1, 23, 30, tzinfo=UTC)) == "2024-01-02 08:30"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_rows_text() -> None:
    assert rows_text(100, 2500, False, True) == "100 / 2,500 rows"
    assert rows_text(100, 5000, True, True) == "100 / ~5,000 rows"
    assert rows_text(100, None, False, True) == "100 rows, more…"
    assert rows_text(42, 42, False, False) == "42 / 42 rows"
