"""Pure conversions of metadata into text: a field's definition as JSON, a field list as CSV."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from crmdesk.core.schema import FieldDef, ModuleDef, Option

CSV_COLUMNS = (
    "name",
    "label",
    "type",
    "native_type",
    "required",
    "read_only",
    "length",
    "default",
    "options",
    "relate_module",
    "custom",
)

_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def options_text(options: Sequence[Option], limit: int | None = None) -> str:
    """``key=label`` pairs (only the key when they are equal), separated by ``; ``."""
    shown = options if limit is None else options[:limit]
    parts = [o.key if o.key == o.label else f"{o.key}={o.label}" for o in shown]
    if limit is not None and len(options) > limit:
        parts.append(f"… {len(options) - limit} more")
    return "; ".join(parts)


def default_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def field_to_dict(fdef: FieldDef) -> dict[str, Any]:
    return {
        "name": fdef.name,
        "label": fdef.label,
        "type": fdef.type.value,
        "native_type": fdef.native_type,
        "required": fdef.required,
        "read_only": fdef.read_only,
        "length": fdef.length,
        "default": fdef.default,
        "options": [{"key": o.key, "label": o.label} for o in fdef.options],
        "relate_module": fdef.relate_module,
        "custom": fdef.custom,
        "filterable": fdef.filterable,
        "sortable": fdef.sortable,
    }


def raw_field(raw: Mapping[str, Any], name: str) -> Any:
    """The CRM's own definition of field ``name`` inside module metadata, if it is findable.

    Metadata keeps fields either as a mapping keyed by name or as a list of objects with a
    ``name``; both are looked for under ``fields`` (at the top or one level down).
    """
    candidates: list[Any] = [raw.get("fields")]
    candidates += [v.get("fields") for v in raw.values() if isinstance(v, Mapping)]
    for fields in candidates:
        if isinstance(fields, Mapping) and name in fields:
            return fields[name]
        if isinstance(fields, list):
            for item in fields:
                if isinstance(item, Mapping) and item.get("name") == name:
                    return item
    return None


def field_definition_json(mdef: ModuleDef, fdef: FieldDef) -> str:
    """What "Copy definition" puts on the clipboard: the neutral definition plus the raw one."""
    data = {"module": mdef.name, **field_to_dict(fdef)}
    native = raw_field(mdef.raw, fdef.name)
    if native is not None:
        data["raw"] = native
    return json.dumps(data, indent=2, ensure_ascii=False, default=str)


def _cell(text: str) -> str:
    """Defuse spreadsheet formulas: a cell starting with = + @ (or a non-number -) gets a '."""
    if text and (text[0] in "=+@\t\r" or (text[0] == "-" and not _NUMBER.match(text))):
        return "'" + text
    return text


def fields_to_csv(mdef: ModuleDef) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for f in mdef.fields:
        row = [
            f.name,
            f.label,
            f.type.value,
            f.native_type,
            "yes" if f.required else "no",
            "yes" if f.read_only else "no",
            "" if f.length is None else str(f.length),
            default_text(f.default),
            options_text(f.options),
            f.relate_module or "",
            "custom" if f.custom else "standard",
        ]
        writer.writerow([_cell(c) for c in row])
    return out.getvalue()
