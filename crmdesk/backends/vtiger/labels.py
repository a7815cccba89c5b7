"""Display names for Vtiger references: Vtiger sends ``"assigned_user_id": "19x1"`` and
nothing else, where other CRMs send a name next to the id.

For each page of records, the ids found in reference / owner fields are looked up with one
``select <labelFields> from <Module> where id in (…);`` per referenced module (users by first
and last name, else user name), and the answer is written into the synthetic
``<field>__name`` values the describe declared.  Labels are cached per connection in a
bounded LRU.  A lookup that fails leaves the ids as they are: a list never fails because
a name could not be found.
"""

from __future__ import annotations

import logging
from collections import OrderedDict, defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from crmdesk.backends.vtiger import vtql, wire
from crmdesk.core.errors import CrmError
from crmdesk.core.records import Record
from crmdesk.core.schema import ModuleDef

log = logging.getLogger("crmdesk.vtiger")

#: Labels kept per connection (id → label, or None for "looked up, not found").
CACHE_SIZE = 5000
USER_FIELDS = ("user_name", "first_name", "last_name")

#: ``describe`` for label purposes (None when the module cannot be described).
Describer = Callable[[str], Awaitable[ModuleDef | None]]
#: Runs one VTQL text and returns its rows.
Querier = Callable[[str], Awaitable[list[dict[str, Any]]]]


class LabelCache:
    """A bounded LRU of record labels."""

    def __init__(self, max_size: int = CACHE_SIZE) -> None:
        self.max_size = max(1, max_size)
        self._items: OrderedDict[str, str | None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, record_id: object) -> bool:
        return record_id in self._items

    def get(self, record_id: str) -> str | None:
        label = self._items.get(record_id)
        if record_id in self._items:
            self._items.move_to_end(record_id)
        return label

    def put(self, record_id: str, label: str | None) -> None:
        self._items[record_id] = label
        self._items.move_to_end(record_id)
        while len(self._items) > self.max_size:
            self._items.popitem(last=False)

    def forget(self, record_id: str) -> None:
        self._items.pop(record_id, None)

    def clear(self) -> None:
        self._items.clear()


def _label_of(module: str, row: dict[str, Any], names: Sequence[str]) -> str | None:
    def text(name: str) -> str:
        value = row.get(name)
        return value.strip() if isinstance(value, str) else ""

    if module == "Users":
        full = " ".join(p for p in (text("first_name"), text("last_name")) if p)
        return full or text("user_name") or None
    return " ".join(p for n in names if (p := text(n))) or None


class LabelResolver:
    """Fills ``<field>__name`` values for one connection."""

    def __init__(
        self,
        describe: Describer,
        query: Querier,
        prefixes: dict[str, str],
        cache: LabelCache | None = None,
    ) -> None:
        self._describe = describe
        self._query = query
        #: The backend's live ``idPrefix`` → module map (grows as modules are described).
        self._prefixes = prefixes
        self.cache = cache if cache is not None else LabelCache()

    async def fill(self, records: Sequence[Record], mdef: ModuleDef | None) -> None:
        """Write the display names of every reference in ``records`` (in place)."""
        if mdef is None or not records:
            return
        targets = wire.reference_targets(mdef)
        if not targets:
            return
        try:
            await self._resolve(records, targets)
        except CrmError as exc:
            log.info("vtiger: reference names not resolved (%s)", exc.message)
        for rec in records:
            for name in targets:
                value = rec.values.get(name)
                if isinstance(value, str) and value in self.cache:
                    label = self.cache.get(value)
                    if label:
                        rec.values[wire.name_field_of(name)] = label

    async def _resolve(
        self, records: Sequence[Record], targets: dict[str, tuple[str, ...]]
    ) -> None:
        # id → the modules the field holding it may point at
        wanted: dict[str, tuple[str, ...]] = {}
        for rec in records:
            for name, modules in targets.items():
                value = rec.values.get(name)
                if isinstance(value, str) and wire.ID_RE.match(value) and value not in self.cache:
                    wanted.setdefault(value, modules)
        if not wanted:
            return
        by_module: dict[str, list[str]] = defaultdict(list)
        for rid, modules in wanted.items():
            module = await self._module_of(rid, modules)
            if module is not None:
                by_module[module].append(rid)
        for module, ids in by_module.items():
            await self._lookup(module, ids)

    async def _module_of(self, record_id: str, candidates: Iterable[str]) -> str | None:
        found = wire.module_for_id(record_id, self._prefixes)
        if found is not None:
            return found
        for module in candidates:
            if module in self._prefixes.values():
                continue  # described already: its prefix is not this one
            await self._describe(module)  # learns the module's prefix
            found = wire.module_for_id(record_id, self._prefixes)
            if found is not None:
                return found
        return None

    async def _lookup(self, module: str, ids: list[str]) -> None:
        if module == "Users":
            names: Sequence[str] = USER_FIELDS
        else:
            mdef = await self._describe(module)
            if mdef is None:
                return
            names = [n for n in wire.label_fields_of(mdef.raw) if mdef.has_field(n)]
            if not names and mdef.has_field(mdef.name_field):
                names = [mdef.name_field]
            if not names:
                return
        for start in range(0, len(ids), vtql.MAX_ROWS):
            chunk = ids[start : start + vtql.MAX_ROWS]
            try:
                rows = await self._query(
                    f"select {', '.join(names)} from {module} "
                    f"where id in ({','.join(vtql.quote(i) for i in chunk)});"
                )
            except CrmError as exc:
                log.info("vtiger: %s names not resolved (%s)", module, exc.message)
                return  # not cached: the next page tries again
            for row in rows:
                rid = row.get("id")
                if isinstance(rid, str) and rid in chunk:
                    self.cache.put(rid, _label_of(module, row, names))
            for rid in chunk:
                if rid not in self.cache:
                    self.cache.put(rid, None)  # deleted, or not visible to this user
