"""Every record-changing user action as a small typed async operation.

Each operation is a coroutine over the :class:`~crmdesk.core.backend.Backend`
(save, create, delete, link, unlink, create-related).  :class:`Operations`
starts them through the task runner with a *success* and a *failure*
callback, and broadcasts a :class:`RecordChange` on ``changed`` when one
succeeds, so the list, the form and the related tabs refresh only what they
must (a row updated in place, a row removed, one related tab reloaded).

Saving never overwrites someone else's edit: dialects with their own check
(SugarCRM ``X-Timestamp``, EspoCRM ``X-Version-Number``, Vtiger) get the
loaded version; for the others (SuiteCRM, whose timestamps are cut to the
minute) the record is read again just before writing and the fields being
changed are compared with what was loaded.  Either way a clash raises
:class:`~crmdesk.core.errors.Conflict` carrying the server's record.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Signal

from crmdesk.core.backend import Backend
from crmdesk.core.errors import Conflict, Unsupported
from crmdesk.core.query import Condition, Op, Query
from crmdesk.core.records import PageRequest, Record, RecordRef, Value
from crmdesk.core.schema import ModuleDef
from crmdesk.ui.forms.values import conflicts, same_value
from crmdesk.ui.tasks import TaskRunner

T = TypeVar("T")


class ChangeKind(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"
    LINKED = "linked"
    UNLINKED = "unlinked"


@dataclass(frozen=True, slots=True)
class RecordChange:
    """What an operation changed, for the views that show it."""

    kind: ChangeKind
    module: str
    record_id: str
    #: The record as the server now has it (created / updated / created-related).
    record: Record | None = None
    #: For link changes: the link name and the other record.
    link: str = ""
    related_id: str = ""


# -- the operations themselves -------------------------------------------------------------
async def save_changes(
    backend: Backend, mdef: ModuleDef, original: Record, changes: Mapping[str, Value]
) -> Record:
    """Send only ``changes`` of ``original``; raise Conflict rather than overwrite."""
    if not changes:
        return original
    expected = original.version
    if not backend.capabilities.optimistic_locking:
        current = await backend.get(mdef.name, original.id)
        if conflicts(mdef, original, changes, current):
            raise Conflict(
                f"This {mdef.label} record was changed on the server since you opened it.",
                current=current,
            )
        # Changes elsewhere in the record are theirs to keep: write over the fresh read.
        expected = current.version
    return await backend.update(mdef.name, original.id, dict(changes), expected_version=expected)


async def create_record(backend: Backend, mdef: ModuleDef, values: Mapping[str, Value]) -> Record:
    return await backend.create(mdef.name, dict(values))


async def delete_record(backend: Backend, module: str, record_id: str) -> None:
    await backend.delete(module, record_id)


async def link_records(
    backend: Backend, module: str, record_id: str, link: str, related_id: str
) -> None:
    await backend.link(module, record_id, link, related_id)


async def unlink_records(
    backend: Backend, module: str, record_id: str, link: str, related_id: str
) -> None:
    await backend.unlink(module, record_id, link, related_id)


async def create_related_record(
    backend: Backend,
    module: str,
    record_id: str,
    link: str,
    target: ModuleDef,
    values: Mapping[str, Value],
) -> Record:
    """One call where the dialect has it, else create then link."""
    if backend.capabilities.create_related:
        return await backend.create_related(module, record_id, link, dict(values))
    record = await backend.create(target.name, dict(values))
    await backend.link(module, record_id, link, record.id)
    return record


async def lookup(backend: Backend, mdef: ModuleDef, text: str, limit: int = 30) -> list[RecordRef]:
    """Records of ``mdef`` whose name matches ``text``: global search, else a name filter."""
    text = text.strip()
    if backend.capabilities.search and text:
        try:
            refs = await backend.search(text, [mdef.name], limit=limit)
            return [r for r in refs if r.module in ("", mdef.name)]
        except Unsupported:
            pass
    name = mdef.name_field
    fdef = mdef.field(name)
    query = Query(
        filter=Condition(name, Op.CONTAINS, text) if text and fdef and fdef.filterable else None,
        fields=(name,),
    )
    page = await backend.list_records(mdef.name, query, PageRequest(size=limit))
    return [
        RecordRef(mdef.name, r.id, str(r.get(name) or r.id))
        for r in page.records
        if not text or text.casefold() in str(r.get(name) or "").casefold()
    ]


def unchanged(original: Record, values: Mapping[str, Value]) -> bool:
    return all(same_value(original.get(k), v) for k, v in values.items())


# -- starting them from the UI -------------------------------------------------------------
class Operations(QObject):
    """Runs operations for one backend and announces what they changed."""

    #: A RecordChange, after the server accepted it.
    changed = Signal(object)

    def __init__(self, backend: Backend, runner: TaskRunner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.backend = backend
        self.runner = runner
        self._defs: dict[str, ModuleDef] = {}
        #: Numbers each write's task key: a write sent is never superseded (cancelled) by
        #: another one, since the server may have applied it already.
        self._writes = itertools.count(1)

    async def describe(self, module: str) -> ModuleDef:
        mdef = self._defs.get(module)
        if mdef is None:
            mdef = self._defs[module] = await self.backend.describe(module)
        return mdef

    def remember(self, mdef: ModuleDef) -> None:
        self._defs[mdef.name] = mdef

    def start(
        self,
        key: str,
        coro: Coroutine[Any, Any, T],
        *,
        success: Callable[[T], None],
        failure: Callable[[BaseException], None] | None = None,
        label: str = "",
    ) -> asyncio.Task[Any]:
        """Run ``coro`` under ``key``; call ``success(result)`` or ``failure(exc)``.

        Without ``failure`` the error goes to the window's error sink.
        """

        async def wrapped() -> None:
            try:
                result = await coro
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if failure is None:
                    raise
                failure(exc)
                return
            success(result)

        task = self.runner.run(key, wrapped(), label=label)
        # Cancelled before it started: close ``coro`` so it is not reported as never awaited.
        task.add_done_callback(lambda _t: coro.close())
        return task

    def announce(self, change: RecordChange) -> None:
        self.changed.emit(change)

    # Convenience starters with the broadcast built in -----------------------------------
    def save(
        self,
        mdef: ModuleDef,
        original: Record,
        changes: Mapping[str, Value],
        *,
        success: Callable[[Record], None],
        failure: Callable[[BaseException], None],
    ) -> asyncio.Task[Any]:
        def done(record: Record) -> None:
            success(record)
            self.announce(RecordChange(ChangeKind.UPDATED, mdef.name, record.id, record))

        return self.start(
            f"save:{mdef.name}:{original.id}:{next(self._writes)}",
            save_changes(self.backend, mdef, original, changes),
            success=done,
            failure=failure,
            label=f"Saving {mdef.label}",
        )

    def create(
        self,
        mdef: ModuleDef,
        values: Mapping[str, Value],
        *,
        success: Callable[[Record], None],
        failure: Callable[[BaseException], None],
    ) -> asyncio.Task[Any]:
        def done(record: Record) -> None:
            success(record)
            self.announce(RecordChange(ChangeKind.CREATED, mdef.name, record.id, record))

        return self.start(
            f"create:{mdef.name}:{next(self._writes)}",
            create_record(self.backend, mdef, values),
            success=done,
            failure=failure,
            label=f"Creating {mdef.label}",
        )

    def delete(
        self,
        module: str,
        record_id: str,
        *,
        success: Callable[[None], None] | None = None,
        failure: Callable[[BaseException], None] | None = None,
    ) -> asyncio.Task[Any]:
        def done(_: None) -> None:
            if success is not None:
                success(None)
            self.announce(RecordChange(ChangeKind.DELETED, module, record_id))

        return self.start(
            f"delete:{module}:{record_id}",
            delete_record(self.backend, module, record_id),
            success=done,
            failure=failure,
            label="Deleting record",
        )

    def link(
        self,
        module: str,
        record_id: str,
        link: str,
        related_id: str,
        *,
        failure: Callable[[BaseException], None] | None = None,
    ) -> asyncio.Task[Any]:
        def done(_: None) -> None:
            self.announce(
                RecordChange(ChangeKind.LINKED, module, record_id, None, link, related_id)
            )

        return self.start(
            f"link:{module}:{record_id}:{link}",
            link_records(self.backend, module, record_id, link, related_id),
            success=done,
            failure=failure,
            label="Linking records",
        )

    def unlink(
        self,
        module: str,
        record_id: str,
        link: str,
        related_id: str,
        *,
        failure: Callable[[BaseException], None] | None = None,
    ) -> asyncio.Task[Any]:
        def done(_: None) -> None:
            self.announce(
                RecordChange(ChangeKind.UNLINKED, module, record_id, None, link, related_id)
            )

        return self.start(
            f"unlink:{module}:{record_id}:{link}:{related_id}",
            unlink_records(self.backend, module, record_id, link, related_id),
            success=done,
            failure=failure,
            label="Unlinking records",
        )

    def create_related(
        self,
        module: str,
        record_id: str,
        link: str,
        target: ModuleDef,
        values: Mapping[str, Value],
        *,
        success: Callable[[Record], None],
        failure: Callable[[BaseException], None],
    ) -> asyncio.Task[Any]:
        def done(record: Record) -> None:
            success(record)
            self.announce(RecordChange(ChangeKind.CREATED, target.name, record.id, record))
            self.announce(
                RecordChange(ChangeKind.LINKED, module, record_id, record, link, record.id)
            )

        return self.start(
            f"create-related:{module}:{record_id}:{link}",
            create_related_record(self.backend, module, record_id, link, target, values),
            success=done,
            failure=failure,
            label=f"Creating {target.label}",
        )
