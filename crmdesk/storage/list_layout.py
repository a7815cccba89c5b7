"""The columns a user chose for record lists, per (connection profile, module) — no secrets.

The file (``list_layouts.json`` in the config directory) looks like::

    {
      "format": 1,
      "layouts": {
        "Sales CRM": {
          "Accounts": {"fields": ["name", "phone_office", "billing_address_city"],
                       "widths": {"name": 240, "phone_office": 120}}
        }
      }
    }

``fields`` is the columns in the order shown (absent: the CRM's own list columns);
``widths`` are pixel widths the user gave columns by dragging their edges.  Only names
of profiles, modules and fields are stored, never a value of a record or a secret.

Reading never fails: a missing file is "nothing chosen", an unreadable or garbled one
is ignored with a log line (and replaced by the next save), a garbled entry is
skipped.  Reads are cached and checked against the file's modification stamp, so a
list that opens asks the disk one ``stat``; every save re-reads the file, applies
itself and writes the whole file atomically, so two windows of the app (or two
processes) do not undo each other's choices.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crmdesk.storage.paths import config_dir
from crmdesk.storage.profiles import atomic_write_text

log = logging.getLogger(__name__)

FILENAME = "list_layouts.json"
FORMAT = 1
#: Widths outside this range (pixels) are not a width a user dragged: ignored.
MIN_WIDTH, MAX_WIDTH = 12, 4000
#: More columns than any list shows: a longer list in the file is cut.
MAX_FIELDS = 500

_Layouts = dict[str, dict[str, "ListLayout"]]


@dataclass(frozen=True, slots=True)
class ListLayout:
    """One module's list as the user arranged it."""

    #: Field names in the order shown; empty: the CRM's list columns.
    fields: tuple[str, ...] = ()
    #: Pixel widths by field name.
    widths: Mapping[str, int] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.fields and not self.widths

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.fields:
            out["fields"] = list(self.fields)
        if self.widths:
            out["widths"] = dict(self.widths)
        return out


def layout_from_dict(d: object) -> ListLayout:
    """Parse one stored layout; raises ValueError on anything but the documented shape.
    Unknown keys are ignored (a newer version's additions)."""
    if not isinstance(d, dict):
        raise ValueError("not an object")
    fields = d.get("fields", [])
    if not isinstance(fields, list) or not all(isinstance(f, str) and f for f in fields):
        raise ValueError("'fields' is not a list of field names")
    widths = d.get("widths", {})
    if not isinstance(widths, dict):
        raise ValueError("'widths' is not an object")
    kept = {
        name: w
        for name, w in widths.items()
        if isinstance(w, int) and not isinstance(w, bool) and MIN_WIDTH <= w <= MAX_WIDTH
    }
    return ListLayout(tuple(dict.fromkeys(fields))[:MAX_FIELDS], kept)


class ListLayoutStore:
    """Read and write ``<config dir>/list_layouts.json``.

    ``directory`` overrides the config directory (tests, a profile store's own
    directory); otherwise ``CRMDESK_CONFIG_DIR`` or the platform's is used.  Calls are
    synchronous and cheap (a ``stat`` per read; a few kB written per save): the UI calls
    them on its thread, and debounces saves of column widths being dragged.
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = config_dir(directory)
        self.path = self.directory / FILENAME
        self._cached: _Layouts = {}
        self._stamp: tuple[int, int] | None = None

    def get(self, profile: str, module: str) -> ListLayout | None:
        """The layout chosen for ``module`` under ``profile``, or None."""
        return self._layouts().get(profile, {}).get(module)

    def save(self, profile: str, module: str, layout: ListLayout) -> None:
        """Remember ``layout`` (an empty one forgets).  Raises OSError when the file
        cannot be written; the caller says so to the user."""
        layouts = self._read(self._stat())
        if layout.empty:
            mine = layouts.get(profile, {})
            if module not in mine:
                return
            del mine[module]
            if not mine:
                del layouts[profile]
        else:
            layouts.setdefault(profile, {})[module] = layout
        data = {
            "format": FORMAT,
            "layouts": {
                p: {m: lay.to_dict() for m, lay in mods.items()} for p, mods in layouts.items()
            },
        }
        atomic_write_text(self.path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        self._cached, self._stamp = layouts, self._stat()

    def forget(self, profile: str, module: str) -> None:
        self.save(profile, module, ListLayout())

    # -- reading -------------------------------------------------------------------------
    def _stat(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def _layouts(self) -> _Layouts:
        stamp = self._stat()
        if stamp != self._stamp:
            self._cached, self._stamp = self._read(stamp), stamp
        return self._cached

    def _read(self, stamp: tuple[int, int] | None) -> _Layouts:
        if stamp is None:
            return {}
        try:
            data = json.loads(Path(self.path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            log.warning("ignoring the list layouts in %s: %s", self.path, exc)
            return {}
        layouts = data.get("layouts") if isinstance(data, dict) else None
        if not isinstance(layouts, dict):
            log.warning("ignoring the list layouts in %s: not a layouts file", self.path)
            return {}
        out: _Layouts = {}
        for profile, modules in layouts.items():
            if not isinstance(modules, dict):
                log.warning("skipping the list layouts of %r in %s", profile, self.path)
                continue
            for module, entry in modules.items():
                try:
                    layout = layout_from_dict(entry)
                except ValueError as exc:
                    log.warning(
                        "skipping the list layout of %r / %r in %s: %s",
                        profile,
                        module,
                        self.path,
                        exc,
                    )
                    continue
                if not layout.empty:
                    out.setdefault(profile, {})[module] = layout
        return out
