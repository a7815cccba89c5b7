"""The paged record table: a thin model over a page loader.

Rows are kept compact: one tuple of display strings per row (indexed by
column) plus a parallel list of ids; no dict per row.  The first page loads
as soon as a source is set; later pages load when the view asks through
``fetchMore`` (which only schedules) or prefetches near the end.  Every load
carries the model's *generation*; a result whose generation is old (module
switched, sort changed, reloaded) is dropped.

With editing on (:meth:`RecordTableModel.set_editable`) the model also keeps each
row's typed values, version and access, so a cell can be edited in place
(``setData`` records the edit and emits ``edit_committed``; whoever saves it
reports back with :meth:`edit_failed` or :meth:`update_record`).  A failed edit
stays in its cell, marked, until it is saved or reverted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QIcon
from PySide6.QtWidgets import QApplication, QStyle

from crmdesk.core.errors import CrmError
from crmdesk.core.query import SortKey
from crmdesk.core.records import FieldAccess, Page, PageRequest, Record, Value, Version
from crmdesk.core.schema import FieldDef, FieldType
from crmdesk.ui.format import DATETIME_FORMAT, NUMERIC, format_value, plain_tip
from crmdesk.ui.forms.values import same_value
from crmdesk.ui.tasks import TaskRunner, in_eager_start, start_eagerly

Loader = Callable[[PageRequest], Awaitable[Page]]
#: Builds the loader for a sort order; the model calls it again when the user sorts.
LoaderFactory = Callable[[tuple[SortKey, ...]], Loader]
AnyIndex = QModelIndex | QPersistentModelIndex

ID_ROLE = Qt.ItemDataRole.UserRole
#: True when the row's record is one of the user's favorites.
FAVORITE_ROLE = Qt.ItemDataRole.UserRole + 1
#: The state of an edited cell: "" (none), "saving", "failed" or "invalid".
EDIT_STATE_ROLE = Qt.ItemDataRole.UserRole + 2
#: Field types edited in place in the table (others open the form).
INLINE_TYPES = frozenset(
    {
        FieldType.TEXT,
        FieldType.INT,
        FieldType.DECIMAL,
        FieldType.CURRENCY,
        FieldType.ENUM,
        FieldType.BOOL,
        FieldType.DATE,
        FieldType.EMAIL,
        FieldType.PHONE,
    }
)
FAVORITE_FIELD = "my_favorite"
STAR = "\u2605"
#: Low-cardinality columns whose strings are shared between rows to save memory.
_SHARED = frozenset(
    {FieldType.ENUM, FieldType.MULTIENUM, FieldType.BOOL, FieldType.DATE, FieldType.RELATE}
)
#: Types whose text values show as option labels, not as they are.
_LABELLED = frozenset({FieldType.ENUM, FieldType.MULTIENUM})
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
#: Computed once: views ask every visible cell's flags on every paint, and combining enum
#: members in Python is slow (two ``|`` per cell showed up in paint profiles).
_FLAGS = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren
_EDIT_FLAGS = _FLAGS | Qt.ItemFlag.ItemIsEditable
_DISPLAY = Qt.ItemDataRole.DisplayRole
_ALIGN = Qt.ItemDataRole.TextAlignmentRole
_EDIT = Qt.ItemDataRole.EditRole
_TIP = Qt.ItemDataRole.ToolTipRole
_BACK = Qt.ItemDataRole.BackgroundRole
_FORE = Qt.ItemDataRole.ForegroundRole
_DECO = Qt.ItemDataRole.DecorationRole
_ROLES = frozenset({_DISPLAY, _ALIGN, _TIP, ID_ROLE, _EDIT, _BACK, _FORE, FAVORITE_ROLE, _DECO})
_EDIT_ROLES = frozenset({EDIT_STATE_ROLE})
_FAILED_BACK = QBrush(QColor("#fbe3e4"))
_SAVING_FORE = QBrush(QColor("#1a5fb4"))
_STAR_FORE = QBrush(QColor("#c88800"))


_ICONS: dict[str, QIcon] = {}


def _warning_icon() -> QIcon:
    icon = _ICONS.get("warning")
    if icon is None:
        style = QApplication.style()
        icon = _ICONS["warning"] = style.standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
    return icon


async def _next_turn() -> None:
    """Wait for the loop's next turn (a real wait: an eager start does not step over it)."""
    turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def arrive() -> None:
        if not turn.done():
            turn.set_result(None)

    turn.get_loop().call_soon(arrive)
    await turn


@dataclass(slots=True)
class CellEdit:
    """An edit typed into a cell that the server has not accepted (yet)."""

    value: Value
    text: str
    state: str = "saving"
    message: str = ""


class RecordTableModel(QAbstractTableModel):
    loading_changed = Signal(bool)
    #: Loaded rows or the total changed.
    counts_changed = Signal()
    #: A page failed; the text is safe to show.  ``retry()`` loads it again.
    load_failed = Signal(str)
    #: A sort was refused (kept cell edits): the header shows the sort that stays.
    sort_refused = Signal()
    #: An edit was typed into a cell: (record id, field name, typed value).
    edit_committed = Signal(str, str, object)

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
        #: Each row's display texts by column; a row of a page that just arrived is its
        #: Record until it is first painted or the build after the paint (see _append).
        self._rows: list[tuple[str, ...] | Record] = []
        #: The first row that may still be a Record (None: every row is built).
        self._unbuilt_from: int | None = None
        self._ids: list[str] = []
        self._plan: list[tuple[FieldDef, str, str | None, dict[Value, str] | None, bool]] = []
        self._make_loader: LoaderFactory | None = None
        self._loader: Loader | None = None
        self._sort: tuple[SortKey, ...] = ()
        self._generation = 0
        self._cursor: str | None = None
        self._at_end = True
        self._in_flight = False
        self._fetching: asyncio.Future[None] | None = None
        self._error: BaseException | None = None
        self._total: int | None = None
        self._total_is_estimate = False
        # Kept only with editing on: typed values (per column), versions, access per row.
        self._editable = False
        self._values: list[tuple[Value, ...]] = []
        self._versions: list[Version | None] = []
        self._access: list[frozenset[str] | None] = []
        self._edits: dict[tuple[str, str], CellEdit] = {}
        self._module = ""
        self._favorites_on = False
        self._favorites: set[str] = set()
        self._shared_access: dict[frozenset[str], frozenset[str]] = {}
        #: Per-field limits of the few records that have any (Sugar's _acl), by id.
        self._field_access: dict[str, FieldAccess] = {}
        #: The user's time zone for datetime columns (None: the machine's).
        self.tz: tzinfo | None = None
        #: When the shown list was loaded from its first page (for "changes since").
        self.loaded_at: datetime | None = None
        #: Asked before a user's action replaces the rows while cell edits are kept unsaved
        #: (what it is doing, "Sorting the list"); False keeps the list.  The workspace asks
        #: the user (:class:`crmdesk.ui.forms.cell_guard.CellEditGuard`).
        self.may_drop_rows: Callable[[str], bool] = lambda _doing: True

    # -- public API ------------------------------------------------------------------
    def set_source(
        self,
        columns: Sequence[FieldDef],
        make_loader: LoaderFactory,
        *,
        sort: tuple[SortKey, ...] = (),
    ) -> None:
        """Show a new list (another module, filter …) and start loading its first page.

        The first page's request goes out before the model resets, so the views'
        reactions to the reset (headers, column widths, an empty repaint) run while the
        server works on it.
        """
        loader = make_loader(sort)
        self._generation += 1  # the new list's: loads of the old one are dropped from now
        load = self._load_now(loader, None)
        self.beginResetModel()
        self._columns = tuple(columns)
        self._make_loader = make_loader
        self._sort = sort
        self._clear_rows(new_list=False)
        self.endResetModel()
        self._start(loader, load)

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

    def fresh_loader(self) -> Loader | None:
        """A new loader of the shown list (its module, filter and sort) from the first
        page, for reading it apart from the table (an export); None when nothing is shown."""
        return self._make_loader(self._sort) if self._make_loader is not None else None

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
        return self.row_texts(row)[column]

    def row_texts(self, row: int) -> tuple[str, ...]:
        """The display text of a loaded row, by column."""
        texts = self._rows[row]
        if type(texts) is tuple:
            return texts
        assert isinstance(texts, Record)
        built = self._rows[row] = self._row(texts)
        return built

    @property
    def module(self) -> str:
        """The module of the loaded records ("" before any arrived)."""
        return self._module

    # -- editing in place ----------------------------------------------------------------

    def set_editable(self, on: bool) -> None:
        """Keep typed values per row and let simple-typed cells be edited."""
        if on == self._editable:
            return
        self._editable = on
        self.reload()

    @property
    def editable(self) -> bool:
        return self._editable

    def set_favorites(self, on: bool) -> None:
        """Show a star on the rows of the user's favorites (the CRM's ``my_favorite``)."""
        if on != self._favorites_on:
            self._favorites_on = on
            self._all_changed()

    @property
    def favorites_on(self) -> bool:
        return self._favorites_on

    def is_favorite(self, record_id: str) -> bool:
        return record_id in self._favorites

    def set_favorite(self, record_id: str, favorite: bool) -> None:
        if favorite:
            self._favorites.add(record_id)
        else:
            self._favorites.discard(record_id)
        row = self.row_of(record_id)
        if row >= 0 and self._columns:
            self.dataChanged.emit(self.index(row, 0), self.index(row, 0))

    def column_of(self, field_name: str) -> int:
        for col, fdef in enumerate(self._columns):
            if fdef.name == field_name:
                return col
        return -1

    def value(self, row: int, column: int) -> Value:
        """The typed value as loaded (editing on), else None."""
        if not self._editable or not 0 <= row < len(self._values):
            return None
        return self._values[row][column]

    def record_at(self, row: int) -> Record:
        """The row's record as far as the table knows it (its columns, version, access)."""
        values: dict[str, Value] = {}
        if self._editable and row < len(self._values):
            values = {f.name: v for f, v in zip(self._columns, self._values[row], strict=True)}
        return Record(
            self._module,
            self._ids[row],
            values,
            self._versions[row] if row < len(self._versions) else None,
            self._access[row] if row < len(self._access) else None,
            self._field_access.get(self._ids[row]),
        )

    def pending(self, record_id: str, field_name: str) -> CellEdit | None:
        return self._edits.get((record_id, field_name))

    def pending_edits(self) -> dict[tuple[str, str], CellEdit]:
        return dict(self._edits)

    def has_pending_edits(self) -> bool:
        return bool(self._edits)

    def editable_at(self, row: int, column: int) -> bool:
        """May the cell be edited in place: editing on, a simple type, not read-only, the
        record's access allows it, and no save of it is under way."""
        if not self._editable or not 0 <= row < len(self._ids):
            return False
        if not 0 <= column < len(self._columns):
            return False
        fdef = self._columns[column]
        if fdef.read_only or fdef.type not in INLINE_TYPES:
            return False
        access = self._access[row]
        if access is not None and "edit" not in access:
            return False
        limits = self._field_access.get(self._ids[row])
        if limits is not None and not limits.may_write(fdef.name):
            return False
        edit = self._edits.get((self._ids[row], fdef.name))
        return edit is None or edit.state != "saving"

    def edit_failed(self, record_id: str, field_name: str, message: str) -> None:
        """The save of a cell failed: keep the typed value there, marked, with the reason."""
        edit = self._edits.get((record_id, field_name))
        if edit is None:
            return
        edit.state, edit.message = "failed", message
        self._cell_changed(record_id, field_name)

    def mark_invalid(self, record_id: str, field_name: str, text: str, message: str) -> None:
        """What was typed is not a value of the field's type: keep it, marked, unsent."""
        self._edits[(record_id, field_name)] = CellEdit(None, text, "invalid", message)
        self._cell_changed(record_id, field_name)

    def mark_saving(self, record_id: str, field_name: str) -> None:
        edit = self._edits.get((record_id, field_name))
        if edit is not None:
            edit.state, edit.message = "saving", ""
            self._cell_changed(record_id, field_name)

    def revert_edit(self, record_id: str, field_name: str) -> bool:
        """Drop an unsaved cell edit: the cell shows the loaded value again."""
        if self._edits.pop((record_id, field_name), None) is None:
            return False
        self._cell_changed(record_id, field_name)
        return True

    def _cell_changed(self, record_id: str, field_name: str) -> None:
        row, col = self.row_of(record_id), self.column_of(field_name)
        if row >= 0 and col >= 0:
            index = self.index(row, col)
            self.dataChanged.emit(index, index)

    def _all_changed(self) -> None:
        if self._rows and self._columns:
            self.dataChanged.emit(
                self.index(0, 0), self.index(len(self._rows) - 1, len(self._columns) - 1)
            )

    # -- edits announced by operations (no reload of the list) ------------------------
    def update_record(self, record: Record) -> bool:
        """Show ``record``'s new values in its row, if the row is loaded."""
        row = self.row_of(record.id)
        if row < 0:
            return False
        merged = record
        if self._editable:
            # A record the server answered with fewer fields keeps the columns it did not send.
            known = self.record_at(row).values
            merged = Record(
                record.module,
                record.id,
                {**known, **record.values},
                record.version or self._versions[row],
                record.access if record.access is not None else self._access[row],
                record.field_access,
            )
        self._rows[row] = self._row(merged)
        self._keep(row, merged, replace=True)
        last = max(len(self._columns) - 1, 0)
        self.dataChanged.emit(self.index(row, 0), self.index(row, last))
        return True

    def apply_changes(self, updated: Iterable[Record], deleted: Iterable[str]) -> tuple[int, int]:
        """Changes reported since the list was loaded: loaded rows updated, deleted rows
        removed, in place (records not loaded are left to the next reload).  Returns
        (updated, removed) counts."""
        n_up = sum(1 for rec in updated if self.update_record(rec))
        n_del = sum(1 for rid in deleted if self.remove_record(rid))
        return n_up, n_del

    def insert_record(self, record: Record, row: int = 0) -> int:
        """Put a new record's row at ``row`` (top by default); returns the row."""
        row = max(0, min(row, len(self._rows)))
        self.beginInsertRows(QModelIndex(), row, row)
        if self._unbuilt_from is not None and row < self._unbuilt_from:
            self._unbuilt_from += 1
        self._rows.insert(row, self._row(record))
        self._ids.insert(row, record.id)
        self._keep(row, record, replace=False)
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
        if self._unbuilt_from is not None and row < self._unbuilt_from:
            self._unbuilt_from -= 1
        del self._rows[row]
        del self._ids[row]
        del self._versions[row]
        del self._access[row]
        self._field_access.pop(record_id, None)
        if self._editable:
            del self._values[row]
        self._favorites.discard(record_id)
        for key in [k for k in self._edits if k[0] == record_id]:
            del self._edits[key]
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
        if role not in _ROLES and role not in _EDIT_ROLES:
            return None
        row, col = index.row(), index.column()
        if not (0 <= row < len(self._rows) and 0 <= col < len(self._columns)):
            return None
        edit = self._edits.get((self._ids[row], self._columns[col].name)) if self._edits else None
        if role in (_DISPLAY, _EDIT):
            if edit is not None:
                return edit.text
            text = self.row_texts(row)[col]
            if col == 0 and self._favorites_on and self._ids[row] in self._favorites:
                return f"{STAR} {text}"
            return text
        if role == _ALIGN:
            return _RIGHT if self._columns[col].type in NUMERIC else _LEFT
        if role == ID_ROLE:
            return self._ids[row]
        if role == FAVORITE_ROLE:
            return self._ids[row] in self._favorites
        if role == EDIT_STATE_ROLE:
            return edit.state if edit is not None else ""
        if role == _DECO:
            # A warning sign on a cell that did not save: visible on a selected row too.
            return _warning_icon() if edit is not None and edit.state != "saving" else None
        if role == _BACK:
            return _FAILED_BACK if edit is not None and edit.state != "saving" else None
        if role == _FORE:
            if edit is not None and edit.state == "saving":
                return _SAVING_FORE
            return None
        if edit is not None:
            if edit.state == "saving":
                return "Saving…"
            return f"Not saved: {edit.message} (Enter edits again, Esc on the cell reverts)"
        text = self.row_texts(row)[col]  # tooltip: only for text a column may cut off
        return plain_tip(text) if len(text) > 30 else None

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
            return plain_tip(f"{fdef.label} — {fdef.name}{hint}")
        return None

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        """QAbstractItemModel.flags: selectable cells; editable where :meth:`editable_at`."""
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        if self._editable and self.editable_at(index.row(), index.column()):
            return _EDIT_FLAGS
        return _FLAGS

    def setData(self, index: AnyIndex, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        """QAbstractItemModel.setData: an edit typed into a cell (a typed Value).

        The cell shows the new value at once, marked as saving, and ``edit_committed`` asks
        for the save; a value equal to the loaded one drops any pending edit instead.
        """
        if role != _EDIT or not index.isValid():
            return False
        row, col = index.row(), index.column()
        if not self.editable_at(row, col):
            return False
        fdef = self._columns[col]
        record_id = self._ids[row]
        if same_value(value, self._values[row][col]):
            self.revert_edit(record_id, fdef.name)
            return True
        self._edits[(record_id, fdef.name)] = CellEdit(value, self._text(fdef, value))
        self.dataChanged.emit(index, index)
        self.edit_committed.emit(record_id, fdef.name, value)
        return True

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
        if self._edits and not self.may_drop_rows("Sorting the list"):
            self.sort_refused.emit()
            return
        self._sort = keys
        self.reload()

    # -- loading ---------------------------------------------------------------------
    def _clear_rows(self, *, new_list: bool = True) -> None:
        if new_list:
            self._generation += 1
        self._rows = []
        self._unbuilt_from = None
        self._ids = []
        self._values = []
        self._versions = []
        self._access = []
        self._field_access = {}
        self._edits = {}
        self._favorites = set()
        self._make_plan()
        self._cursor = None
        self._at_end = True
        self._error = None
        self._total = None
        self._total_is_estimate = False

    def _start(
        self, loader: Loader | None = None, load: asyncio.Future[None] | None = None
    ) -> None:
        assert self._make_loader is not None
        self._loader = loader if loader is not None else self._make_loader(self._sort)
        self._at_end = False
        self.counts_changed.emit()
        self._schedule(load)

    def _load_now(self, loader: Loader, cursor: str | None) -> asyncio.Future[None]:
        """Start loading a page of the current list now, so its request is on the wire
        before the handlers of whatever asked for it (a module switch: the model reset, the
        module-opened reactions, the repaint) run.  The page is added by the same task, as
        soon as it is read: no extra turn of the loop between reading and showing."""
        return start_eagerly(self._load(self._generation, loader, cursor))

    def _schedule(self, load: asyncio.Future[None] | None = None) -> None:
        assert self._loader is not None
        self._set_in_flight(True)
        if load is None:
            load = self._load_now(self._loader, self._cursor)
        self._runner.adopt(self._key, load, label="Loading records")
        self._fetching = load
        load.add_done_callback(self._fetch_ended)

    def _fetch_ended(self, task: asyncio.Future[None]) -> None:
        if task is self._fetching:
            self._fetching = None
            if task.cancelled():
                self._set_in_flight(False)

    async def _load(self, generation: int, loader: Loader, cursor: str | None) -> None:
        try:
            page = await loader(PageRequest(size=self._page_size, cursor=cursor))
        except asyncio.CancelledError:
            if generation == self._generation:
                self._set_in_flight(False)
            raise
        except Exception as exc:
            if in_eager_start():
                # Refused before anything was sent (an unsupported filter, say): report
                # it from the loop, after whoever asked for the load has returned.
                await _next_turn()
            if generation != self._generation:
                return  # the list it belonged to is gone
            self._error = exc
            self._set_in_flight(False)
            self.load_failed.emit(exc.message if isinstance(exc, CrmError) else str(exc))
            raise
        if in_eager_start():  # a page at hand (no real wait): not inside the caller
            await _next_turn()
        if generation != self._generation:
            return  # superseded: never let it land in the new list
        self._append(page)
        self._set_in_flight(False)

    def _append(self, page: Page) -> None:
        """Add a page's rows.

        Their display texts are made when a row is first painted (so the rows on screen
        show without waiting for the rest) and, for the others, right after: the build is
        queued behind the repaint the insertion asks for.
        """
        rows = page.records
        if not self._rows:
            self.loaded_at = datetime.now().astimezone()
        if rows:
            first = len(self._rows)
            self._module = rows[0].module or self._module
            self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
            self._rows.extend(rows)
            self._ids.extend(rec.id for rec in rows)
            for rec in rows:
                self._keep(len(self._versions), rec, replace=False)
            build = self._unbuilt_from is None
            if build:
                self._unbuilt_from = first
            self.endInsertRows()
            if build:
                asyncio.get_running_loop().call_soon(self._build_rows, self._generation)
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

    def _build_rows(self, generation: int) -> None:
        """Make the display texts of the rows not painted yet (see :meth:`_append`)."""
        start = self._unbuilt_from
        if generation != self._generation or start is None:
            return
        self._unbuilt_from = None
        rows = self._rows
        for row in range(start, len(rows)):
            texts = rows[row]
            if type(texts) is not tuple:
                assert isinstance(texts, Record)
                rows[row] = self._row(texts)

    def _keep(self, row: int, rec: Record, *, replace: bool) -> None:
        """Remember what editing and favorites need of ``rec`` at ``row``."""
        access = rec.access
        if access is not None:
            access = self._shared_access.setdefault(access, access)
        if self._editable:
            values = tuple(rec.values.get(f.name) for f in self._columns)
            if replace:
                self._values[row] = values
            else:
                self._values.insert(row, values)
        if replace:
            self._versions[row], self._access[row] = rec.version, access
        else:
            self._versions.insert(row, rec.version)
            self._access.insert(row, access)
        if rec.field_access is not None:
            self._field_access[rec.id] = rec.field_access
        elif replace:
            self._field_access.pop(rec.id, None)
        fav = rec.values.get(FAVORITE_FIELD)
        if fav is True:
            self._favorites.add(rec.id)
        elif fav is False or (replace and FAVORITE_FIELD in rec.values):
            self._favorites.discard(rec.id)
        if rec.module:
            self._module = rec.module

    def _text(self, fdef: FieldDef, value: Value) -> str:
        if isinstance(value, datetime) and value.tzinfo is not None and self.tz is not None:
            return value.astimezone(self.tz).strftime(DATETIME_FORMAT)
        return format_value(fdef, value)

    def _row(self, rec: Record) -> tuple[str, ...]:
        values = rec.values
        out: list[str] = []
        for fdef, name, name_field, texts, plain in self._plan:
            value = values.get(name)
            if name_field is not None:
                value = values.get(name_field) or value
            if texts is None:
                if plain and type(value) is str:  # format_value gives text back as it is
                    if "\n" in value or fdef.type is FieldType.MULTILINE:
                        value = " ".join(value.split())
                    out.append(value)
                else:
                    out.append(self._cell_text(fdef, value))
                continue
            # A low-cardinality column: each value is formatted once per list, and rows
            # share the one string.
            try:
                text = texts.get(value)
                if text is None:
                    text = texts[value] = self._cell_text(fdef, value)
            except TypeError:  # not hashable
                text = self._cell_text(fdef, value)
            out.append(text)
        return tuple(out)

    def _cell_text(self, fdef: FieldDef, value: Value) -> str:
        text = self._text(fdef, value)
        if fdef.type is FieldType.MULTILINE or "\n" in text:
            text = " ".join(text.split())
        return text

    def _make_plan(self) -> None:
        """How each column's text is made: (field, value name, display-name field of a
        relate, text cache of a low-cardinality column, whether text shows as it is)."""
        self._plan = [
            (
                fdef,
                fdef.name,
                fdef.relate_name_field
                if fdef.type is FieldType.RELATE and fdef.relate_name_field
                else None,
                {} if fdef.type in _SHARED else None,
                fdef.type not in _LABELLED,
            )
            for fdef in self._columns
        ]

    def _set_in_flight(self, value: bool) -> None:
        if value != self._in_flight:
            self._in_flight = value
            self.loading_changed.emit(value)
