"""Field values as display text, per FieldType.  Plain text only: never markup."""

from __future__ import annotations

import html
from datetime import date, datetime
from decimal import Decimal

from crmdesk.core.records import Value
from crmdesk.core.schema import FieldDef, FieldType

DATE_FORMAT = "%Y-%m-%d"
DATETIME_FORMAT = "%Y-%m-%d %H:%M"

#: Types whose text lines up on the right in a table.
NUMERIC = frozenset({FieldType.INT, FieldType.DECIMAL, FieldType.CURRENCY})


def format_value(fdef: FieldDef, value: Value) -> str:
    """The text a user sees for ``value`` in field ``fdef`` ("" for empty)."""
    if value is None or value == "" or value == ():
        return ""
    kind = fdef.type
    if kind is FieldType.ENUM:
        return fdef.option_label(str(value))
    if kind is FieldType.MULTIENUM:
        keys = value if isinstance(value, tuple) else (str(value),)
        return ", ".join(fdef.option_label(k) for k in keys)
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, datetime):
        # Aware values convert to the machine's zone; naive ones are shown as they are.
        local = value.astimezone() if value.tzinfo is not None else value
        return local.strftime(DATETIME_FORMAT)
    if isinstance(value, date):
        return value.strftime(DATE_FORMAT)
    if kind is FieldType.CURRENCY and isinstance(value, int | float | Decimal):
        amount = f"{value:,.2f}"
        return f"{fdef.currency} {amount}" if fdef.currency else amount
    if isinstance(value, Decimal):
        # normalize() drops trailing zeros; "f" keeps 0E-8 or 1E+2 out of sight.
        return f"{value.normalize():,f}"
    if kind is FieldType.DECIMAL and isinstance(value, float):
        return f"{value:,}"
    if kind is FieldType.INT and isinstance(value, int):
        return str(value)
    if isinstance(value, tuple):
        return ", ".join(value)
    return str(value)


def plain_tip(text: str) -> str:
    """``text`` as a tooltip that shows every character literally ("" stays "": no tooltip).

    Qt guesses whether a tooltip is rich text (``Qt::mightBeRichText``), so a server value
    such as ``<b>x</b><img src=...>`` would render as markup.  Escaped inside a paragraph
    it is rich text that displays exactly the original characters, line breaks included.
    """
    if not text:
        return ""
    return f"<p style='white-space:pre-wrap'>{html.escape(text, quote=False)}</p>"
