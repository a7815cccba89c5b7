"""Browsing as operations: open the module list, a module, a record.

The controller between one Backend and the models; it never touches widgets,
it announces results with signals.  Every load runs through the task runner
under its own slot key, so a newer request supersedes an older one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import QObject, Signal

from crmdesk.core.backend import Backend
from crmdesk.core.query import Filter, Query, SortKey
from crmdesk.core.records import Page, PageRequest, Record
from crmdesk.core.schema import FieldDef, FieldType, ModuleDef
from crmdesk.ui.models.modules import ModuleTreeModel
from crmdesk.ui.models.records import Loader, LoaderFactory, RecordTableModel
from crmdesk.ui.tasks import TaskRunner


class Browser(QObject):
    modules_loaded = Signal()
    #: A module's definition is known and its first page is on the way.
    module_opened = Signal(object)  # ModuleDef
    record_loading = Signal(str)
    record_loaded = Signal(object, object)  # ModuleDef, Record
    #: A module's definition was read again (after a picklist edit); the new ModuleDef.
    definition_changed = Signal(object)

    def __init__(
        self,
        backend: Backend,
        runner: TaskRunner,
        records: RecordTableModel,
        modules: ModuleTreeModel,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.backend = backend
        self.runner = runner
        self.records = records
        self.modules = modules
        self.module: ModuleDef | None = None
        self.record: Record | None = None
        self._wanted_module: str | None = None
        self._defs: dict[str, ModuleDef] = {}
        #: The filter of each module's list (kept while other modules are shown).
        self.filters: dict[str, Filter] = {}
        #: The columns of a module's list: the CRM's, unless someone (the column chooser)
        #: puts the user's choice here.
        self.columns_for: Callable[[ModuleDef], tuple[FieldDef, ...]] = _crm_columns

    # -- operations ------------------------------------------------------------------
    def load_modules(self) -> None:
        self.runner.run("modules", self._load_modules(), label="Loading modules")

    def open_module(self, name: str) -> None:
        if self._wanted_module == name and self.module is not None and self.module.name == name:
            return
        self._wanted_module = name
        self.record = None
        self.runner.cancel("record")
        mdef = self._defs.get(name)
        if mdef is not None:
            # Known from an earlier visit: the first page request starts right away, with
            # one model reset and no trip through the event loop before it.
            self.runner.cancel("module")
            self._show_module(mdef)
            return
        self.module = None
        self.records.clear()
        self.runner.run("module", self._open_module(name), label=f"Opening {name}")

    def open_record(self, record_id: str) -> None:
        if self.module is None:
            return
        mdef = self.module
        self.record_loading.emit(record_id)
        self.runner.run("record", self._open_record(mdef, record_id), label="Loading record")

    def refresh(self) -> None:
        if self.module is None:
            if self._wanted_module:
                name, self._wanted_module = self._wanted_module, None
                self.open_module(name)
            else:
                self.load_modules()
            return
        if not self.records.may_drop_rows("Refreshing the list"):
            return
        self.records.reload()
        if self.record is not None:
            self.open_record(self.record.id)

    def set_filter(self, module: str, flt: Filter | None) -> bool:
        """Filter ``module``'s list (None: show all); an open list reloads, same sort.

        False when the open list keeps unsaved cell edits and the user kept them: the
        filter did not change.
        """
        shown = self.module is not None and self.module.name == module
        if shown and not self.records.may_drop_rows("Filtering the list"):
            return False
        if flt is None:
            self.filters.pop(module, None)
        else:
            self.filters[module] = flt
        self.relist(module)
        return True

    def relist(self, module: str) -> None:
        """Load ``module``'s open list again from its first page with its filter and
        columns as they are now (a filter or the column choice changed).  The sort stays,
        unless its field is no longer a column."""
        mdef = self.module
        if mdef is None or mdef.name != module:
            return
        columns = self.columns_for(mdef)
        shown = {c.name for c in columns}
        sort = tuple(k for k in self.records.sort_keys if k.field in shown)
        self.records.set_source(columns, self.loader_factory(mdef, columns), sort=sort)

    def redefine(self, name: str) -> None:
        """Drop ``name``'s definition and read it again; the open list takes the new one."""
        self._defs.pop(name, None)
        self.runner.run(f"redefine:{name}", self._redefine(name), label=f"Reloading {name}")

    # -- coroutines ------------------------------------------------------------------
    async def _redefine(self, name: str) -> None:
        mdef = await self.backend.describe(name)
        self._defs[name] = mdef
        if self.module is not None and self.module.name == name:
            self.module = mdef
            columns = self.columns_for(mdef)
            self.records.set_source(columns, self.loader_factory(mdef, columns))
        self.definition_changed.emit(mdef)

    async def _load_modules(self) -> None:
        self.modules.set_modules(await self.backend.modules())
        self.modules_loaded.emit()

    async def _open_module(self, name: str) -> None:
        mdef = await self.backend.describe(name)
        self._defs[name] = mdef
        if self._wanted_module != name:
            return
        self._show_module(mdef)

    def _show_module(self, mdef: ModuleDef) -> None:
        self.module = mdef
        columns = self.columns_for(mdef)
        self.records.set_source(columns, self.loader_factory(mdef, columns))
        self.module_opened.emit(mdef)

    async def _open_record(self, mdef: ModuleDef, record_id: str) -> None:
        record = await self.backend.get(mdef.name, record_id)
        if self.module is not mdef:
            return
        self.record = record
        self.record_loaded.emit(mdef, record)

    def loader_factory(
        self, mdef: ModuleDef, columns: Sequence[FieldDef] | None = None
    ) -> LoaderFactory:
        """Loaders of ``mdef``'s list asking for ``columns`` (by default its columns now)."""
        backend = self.backend
        if columns is None:
            columns = self.columns_for(mdef)

        def make(sort: tuple[SortKey, ...]) -> Loader:
            query = list_query(mdef, sort, self.filters.get(mdef.name), columns)

            async def load(request: PageRequest) -> Page:
                return await backend.list_records(mdef.name, query, request)

            return load

        return make


def _crm_columns(mdef: ModuleDef) -> tuple[FieldDef, ...]:
    return mdef.columns()


def list_query(
    mdef: ModuleDef,
    sort: tuple[SortKey, ...] = (),
    flt: Filter | None = None,
    columns: Sequence[FieldDef] | None = None,
) -> Query:
    """The query behind a module's record table: its list columns (``columns``, by
    default the CRM's) and the display names of relate columns, in ``sort`` order,
    narrowed by ``flt``."""
    if columns is None:
        columns = mdef.columns()
    names = [c.name for c in columns]
    names += [
        c.relate_name_field for c in columns if c.type is FieldType.RELATE and c.relate_name_field
    ]
    return Query(filter=flt, sort=sort, fields=tuple(dict.fromkeys(names)))
