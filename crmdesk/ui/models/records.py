"""The paged record table: a thin model over a page loader.

Rows are kept compact: one tuple of display strings per row (indexed by
column) plus a parallel list of ids; no dict per row.  The first page loads
as soon as a source is set; later pages load when the view asks through
``fetchMore`` (which only schedules) or prefetches near the end.  Every load
carries the model's *generation*; a result whose generation is old (module
switched, sort changed, reloaded) is dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)

from crmdesk.core.errors import CrmError
from crmdesk.core.query import SortKey
from crmdesk.core.records import Page, PageRequest, Record
from crmdesk.core.schema import FieldDef, FieldType
from crmdesk.ui.format import NUMERIC, format_value
from crmdesk.ui.tasks import TaskRunner

Loader = Callable[[PageRequest], Awaitable[Page]]
#: Builds the loader for a sort order; the model calls it again when the user sorts.
LoaderFactory = Callable[[tuple[SortKey, ...]], Loader]
AnyIndex = QModelIndex | QPersistentModelIndex

ID_ROLE = Qt.ItemDataRole.UserRole
#: Low-cardinality columns whose strings are shared between rows to save memory.
_SHARED = frozenset(
    {FieldType.ENUM, FieldType.MULTIENUM, FieldType.BOOL, FieldType.DATE, FieldType.RELATE}
)
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
_DISPLAY = Qt.ItemDataRole.DisplayRole
_ALIGN = Qt.ItemDataRole.TextAlignmentRole
_ROLES = frozenset({_DISPLAY, _ALIGN, Qt.ItemDataRole.ToolTipRole, ID_ROLE})


class RecordTableModel(QAbstractTableModel):
    loading_changed = Signal(bool)
    #: Loaded rows or the total changed.
    counts_changed = Signal()
    #: A page failed; the text is safe to show.  ``retry()`` loads it again.
    load_failed = Signal(str)

    def __init__(
        self,
        runner: TaskRunner,
        *,
        page_size: int = 100,
        key: str = "records",
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._runner = runner
        self._page_size = page_size
        self._key = key
        self._columns: tuple[FieldDef, ...] = ()
        self._rows: list[tuple[str, ...]] = []
        self._ids: list[str] = []
        self._shared: dict[str, str] = {}
        self._make_loader: LoaderFactory | None = None
        self._loader: Loader | None = None
        self._sort: tuple[SortKey, ...] = ()
        self._generation = 0
        self._cursor: str | None = None
        self._at_end = True
        self._in_flight = False
        self._error: BaseException | None = None
        self._total: int | None = None
        self._total_is_estimate = False

    # -- public API ------------------------------------------------------------------
    def set_source(
        self,
        columns: Sequence[FieldDef],
        make_loader: LoaderFactory,
        *,
        sort: tuple[SortKey, ...] = (),
    ) -> None:
        """Show a new list (another module, filter …) and start loading its first page."""
        self.beginResetModel()
        self._columns = tuple(columns)
        self._make_loader = make_loader
        self._sort = sort
        self._clear_rows()
        self.endResetModel()
        self._start()

    def clear(self) -> None:
        """Show nothing, and forget anything still loading."""
        self.beginResetModel()
        self._columns = ()
        self._make_loader = None
        self._loader = None
        self._clear_rows()
        self.endResetModel()
        self._runner.cancel(self._key)
        self._set_in_flight(False)
        self.counts_changed.emit()

    def reload(self) -> None:
        """Load the current list again from its first page."""
        if self._make_loader is None:
            return
        self.beginResetModel()
        self._clear_rows()
        self.endResetModel()
        self._start()

    def retry(self) -> None:
        """Load the page that failed again; the rows loaded so far stay."""
        if self._error is None or self._loader is None:
            return
        self._error = None
        self._schedule()

    @property
    def columns(self) -> tuple[FieldDef, ...]:
        return self._columns

    @property
    def sort_keys(self) -> tuple[SortKey, ...]:
        return self._sort

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def loaded(self) -> int:
        return len(self._rows)

    @property
    def total(self) -> int | None:
        return self._total

    @property
    def total_is_estimate(self) -> bool:
        return self._total_is_estimate

    @property
    def has_more(self) -> bool:
        return self._loader is not None and not self._at_end

    @property
    def loading(self) -> bool:
        return self._in_flight

    @property
    def error(self) -> BaseException | None:
        return self._error

    def record_id(self, row: int) -> str:
        return self._ids[row]

    def row_of(self, record_id: str) -> int:
        try:
            return self._ids.index(record_id)
        except ValueError:
            return -1

    def text(self, row: int, column: int) -> str:
        return self._rows[row][column]

    # -- edits announced by operations (no reload of the list) ------------------------
    def update_record(self, record: Record) -> bool:
        """Show ``record``'s new values in its row, if the row is loaded."""
        row = self.row_of(record.id)
        if row < 0:
            return False
        self._rows[row] = self._row(record)
        last = max(len(self._columns) - 1, 0)
        self.dataChanged.emit(self.index(row, 0), self.index(row, last), [_DISPLAY])
        return True

    def insert_record(self, record: Record, row: int = 0) -> int:
        """Put a new record's row at ``row`` (top by default); returns the row."""
        row = max(0, min(row, len(self._rows)))
        self.beginInsertRows(QModelIndex(), row, row)
        self._rows.insert(row, self._row(record))
        self._ids.insert(row, record.id)
        self.endInsertRows()
        if self._total is not None:
            self._total += 1
        self.counts_changed.emit()
        return row

    def remove_record(self, record_id: str) -> bool:
        """Drop a deleted record's row without reloading the list."""
        row = self.row_of(record_id)
        if row < 0:
            return False
        self.beginRemoveRows(QModelIndex(), row, row)
        del self._rows[row]
        del self._ids[row]
        self.endRemoveRows()
        if self._total is not None:
            self._total = max(0, self._total - 1)
        self.counts_changed.emit()
        return True

    def wants_prefetch(self, last_visible_row: int) -> bool:
        """True when the view shows rows within half a page of the end and more exist."""
        margin = max(1, self._page_size // 2)
        return self.canFetchMore(QModelIndex()) and last_visible_row >= len(self._rows) - margin

    # -- QAbstractItemModel ----------------------------------------------------------
    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        """QAbstractItemModel.rowCount: loaded rows; a table has no children."""
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        """QAbstractItemModel.columnCount."""
        return 0 if parent.isValid() else len(self._columns)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """QAbstractItemModel.data: plain display text, alignment, the id under ID_ROLE.

        Views ask for a dozen roles per cell on every paint: answer the ones we do not
        serve before touching the index.
        """
        if role not in _ROLES:
            return None
        row, col = index.row(), index.column()
        if not (0 <= row < len(self._rows) and 0 <= col < len(self._columns)):
            return None
        if role == _DISPLAY:
            return self._rows[row][col]
        if role == _ALIGN:
            return _RIGHT if self._columns[col].type in NUMERIC else _LEFT
        if role == ID_ROLE:
            return self._ids[row]
        text = self._rows[row][col]  # tooltip: only for text a column may cut off
        return text if len(text) > 30 else None

    def headerData(
        self,
        section: int,
        orientation: Qt.Orientation,
        role: int = Qt.ItemDataRole.DisplayRole,
    ) -> Any:
        """QAbstractItemModel.headerData: field labels across the top."""
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self._columns):
            return None
        fdef = self._columns[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return fdef.label
        if role == Qt.ItemDataRole.ToolTipRole:
            hint = "" if fdef.sortable else " (the CRM cannot sort on it)"
            return f"{fdef.label} — {fdef.name}{hint}"
        return None

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        """QAbstractItemModel.flags: read-only, selectable cells."""
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return (
            Qt.ItemFlag.ItemIsEnabled
            | Qt.ItemFlag.ItemIsSelectable
            | Qt.ItemFlag.ItemNeverHasChildren
        )

    def canFetchMore(self, parent: AnyIndex) -> bool:
        """QAbstractItemModel.canFetchMore: False while a page is in flight or after an error."""
        return (
            not parent.isValid()
            and self._loader is not None
            and not self._at_end
            and not self._in_flight
            and self._error is None
        )

    def fetchMore(self, parent: AnyIndex) -> None:
        """QAbstractItemModel.fetchMore: only schedules the next page; rows arrive later."""
        if self.canFetchMore(parent):
            self._schedule()

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """QAbstractItemModel.sort: asks the server for the new order, from the first page.

        A column the CRM cannot sort on is ignored; ``column < 0`` means the server's order.
        """
        if 0 <= column < len(self._columns):
            fdef = self._columns[column]
            if not fdef.sortable:
                return
            keys: tuple[SortKey, ...] = (
                SortKey(fdef.name, descending=order == Qt.SortOrder.DescendingOrder),
            )
        else:
            keys = ()
        if keys == self._sort:
            return
        self._sort = keys
        self.reload()

    # -- loading ---------------------------------------------------------------------
    def _clear_rows(self) -> None:
        self._generation += 1
        self._rows = []
        self._ids = []
        self._shared = {}
        self._cursor = None
        self._at_end = True
        self._error = None
        self._total = None
        self._total_is_estimate = False

    def _start(self) -> None:
        assert self._make_loader is not None
        self._loader = self._make_loader(self._sort)
        self._at_end = False
        self.counts_changed.emit()
        self._schedule()

    def _schedule(self) -> None:
        assert self._loader is not None
        self._set_in_flight(True)
        coro = self._fetch(self._generation, self._loader, self._cursor)
        self._runner.run(self._key, coro, label="Loading records")

    async def _fetch(self, generation: int, loader: Loader, cursor: str | None) -> None:
        try:
            page = await loader(PageRequest(size=self._page_size, cursor=cursor))
        except asyncio.CancelledError:
            if generation == self._generation:
                self._set_in_flight(False)
            raise
        except Exception as exc:
            if generation != self._generation:
                return  # the list it belonged to is gone
            self._error = exc
            self._set_in_flight(False)
            self.load_failed.emit(exc.message if isinstance(exc, CrmError) else str(exc))
            raise
        if generation != self._generation:
            return  # superseded: never let it land in the new list
        self._append(page)
        self._set_in_flight(False)

    def _append(self, page: Page) -> None:
        rows = [self._row(rec) for rec in page.records]
        if rows:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
            self._rows.extend(rows)
            self._ids.extend(rec.id for rec in page.records)
            self.endInsertRows()
        self._cursor = page.next
        # An empty page that claims more would make the view ask forever: treat it as the end.
        self._at_end = page.next is None or not rows
        if self._at_end:
            self._total, self._total_is_estimate = len(self._rows), False
        elif page.total is not None:
            self._total, self._total_is_estimate = page.total, False
        elif page.total_estimate is not None:
            self._total, self._total_is_estimate = page.total_estimate, True
        self.counts_changed.emit()

    def _row(self, rec: Record) -> tuple[str, ...]:
        shared = self._shared
        out: list[str] = []
        for fdef in self._columns:
            value = rec.values.get(fdef.name)
            if fdef.type is FieldType.RELATE and fdef.relate_name_field:
                value = rec.values.get(fdef.relate_name_field) or value
            text = format_value(fdef, value)
            if fdef.type is FieldType.MULTILINE or "\n" in text:
                text = " ".join(text.split())
            if fdef.type in _SHARED:
                text = shared.setdefault(text, text)
            out.append(text)
        return tuple(out)

    def _set_in_flight(self, value: bool) -> None:
        if value != self._in_flight:
            self._in_flight = value
            self.loading_changed.emit(value)
