"""The contract every CRM dialect implements.

A dialect declares what it can do in :class:`Capabilities`; what it cannot
do raises :class:`~crmdesk.core.errors.Unsupported` (the defaults below),
never a fake answer.  All methods are coroutines; adapters are handed their
HTTP client, they do not create one per request.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from crmdesk.core.errors import Conflict, CrmError, Unsupported
from crmdesk.core.query import ALL_OPS, Op, Query, SavedFilter
from crmdesk.core.records import Page, PageRequest, Record, RecordRef, UserInfo, Value, Version
from crmdesk.core.schema import ModuleDef, ModuleInfo, Option


@dataclass(frozen=True, slots=True)
class Capabilities:
    operators: frozenset[Op] = ALL_OPS
    #: OR groups, and groups inside groups.
    or_filters: bool = True
    nested_filters: bool = True
    #: More than one sort key.
    multi_sort: bool = True
    #: The list call can report the total number of matching records.
    total_count: bool = True
    max_page_size: int | None = None
    relationships: bool = True
    create_related: bool = False
    search: bool = True
    #: update() checks expected_version and raises Conflict.
    optimistic_locking: bool = False
    favorites: bool = False
    #: ``saved_filters()`` and ``Op.SAVED``: filters the users saved in the CRM.
    saved_filters: bool = False
    tags: bool = False
    picklist_admin: bool = False
    picklist_dependencies: bool = False
    lead_conversion: bool = False
    sync: bool = False
    bulk: bool = False
    files: bool = False
    raw_request: bool = False
    #: ``hierarchy()``: an account's parent / child tree.
    hierarchy: bool = False
    #: ``reopen()``: reopen a closed record (a ticket).
    reopen: bool = False
    #: ``decrypt()``: the clear value of a sensitive field, on demand.
    decrypt: bool = False
    #: Sign-in methods this dialect offers (values for ConnectionProfile.auth).
    auth_methods: tuple[str, ...] = ("password",)


@dataclass(frozen=True, slots=True)
class RawResponse:
    """The answer to an API-console request.  Headers are already stripped of secrets."""

    status: int
    reason: str
    headers: Mapping[str, str]
    body_text: str
    json: Any = None
    is_json: bool = False
    elapsed_ms: float = 0.0
    #: The URL that was requested (secrets redacted), for "copy as curl"; "" when unknown.
    url: str = ""
    #: The request's headers as sent; the console replaces credentials with placeholders.
    request_headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Changes:
    """What ``sync`` reports since a time: ids updated (or created) and deleted."""

    updated: tuple[Record, ...] = ()
    deleted: tuple[str, ...] = ()
    until: datetime | None = None
    more: bool = False


@dataclass(frozen=True, slots=True)
class PicklistDependency:
    source_field: str
    target_field: str
    #: source value → allowed target values
    mapping: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HierarchyEntry:
    """One record of an account hierarchy, in tree order (``level`` 0 is the top)."""

    id: str
    name: str
    level: int = 0
    #: The record the hierarchy was asked for.
    current: bool = False
    label: str = ""


@dataclass(frozen=True, slots=True)
class FileData:
    """An attachment or image as the CRM sent it; ``filename`` is safe to use as a name."""

    filename: str
    mime_type: str
    content: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class BulkResult:
    """What a mass delete / update did, per id: a failed id never loses the others.

    ``done`` keeps the order the ids were given in; ``records`` holds the server's
    answer for updated records where there was one; ``failed`` maps each id that
    did not go through to the core error saying why.
    """

    done: tuple[str, ...] = ()
    records: Mapping[str, Record] = field(default_factory=dict)
    failed: Mapping[str, CrmError] = field(default_factory=dict)


#: Called with how many of the ids were handled so far.
Progress = Callable[[int], None]


class Backend(abc.ABC):
    """One connection to one CRM.  Subclasses set ``dialect`` and ``capabilities``."""

    dialect: ClassVar[str]
    capabilities: ClassVar[Capabilities] = Capabilities()

    # -- session ---------------------------------------------------------------------
    @abc.abstractmethod
    async def connect(self) -> None:
        """Sign in (raising AuthError / ConfigurationError / Unavailable …)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Log out where the CRM has a logout call, and release the HTTP client."""

    async def release(self) -> None:
        """Let go of the connection but leave the server-side session valid.

        On quit, a connection whose refresh token is remembered must not log out
        (that revokes the token); dialects with refresh tokens override this to
        release the HTTP client only.  The default is :meth:`close`.
        """
        await self.close()

    # -- metadata --------------------------------------------------------------------
    @abc.abstractmethod
    async def modules(self) -> list[ModuleInfo]: ...

    @abc.abstractmethod
    async def describe(self, module: str) -> ModuleDef: ...

    def forget_metadata(self, module: str | None = None) -> None:  # noqa: B027 (a no-op hook)
        """Drop cached definitions of ``module`` (all when None), e.g. after a picklist
        edit, so the next :meth:`describe` asks the CRM.  Default: nothing is cached."""

    async def options(self, module: str, field_name: str) -> tuple[Option, ...]:
        mdef = await self.describe(module)
        fdef = mdef.field(field_name)
        return fdef.options if fdef else ()

    async def me(self) -> UserInfo:
        raise Unsupported("This CRM does not tell who is signed in.")

    # -- records ---------------------------------------------------------------------
    @abc.abstractmethod
    async def list_records(self, module: str, query: Query, page: PageRequest) -> Page: ...

    async def count(self, module: str, query: Query) -> int | None:
        """Total matching records, or None when the CRM cannot say."""
        return (await self.list_records(module, query, PageRequest(size=1))).total

    @abc.abstractmethod
    async def get(self, module: str, record_id: str) -> Record: ...

    @abc.abstractmethod
    async def create(self, module: str, values: Mapping[str, Value]) -> Record: ...

    @abc.abstractmethod
    async def update(
        self,
        module: str,
        record_id: str,
        changes: Mapping[str, Value],
        expected_version: Version | None = None,
    ) -> Record:
        """Send only ``changes``; raise Conflict (with the current record) on a version clash."""

    @abc.abstractmethod
    async def delete(self, module: str, record_id: str) -> None: ...

    # -- relationships ---------------------------------------------------------------
    async def related(
        self, module: str, record_id: str, link: str, query: Query, page: PageRequest
    ) -> Page:
        raise Unsupported("This CRM's API cannot list related records.")

    async def link(self, module: str, record_id: str, link: str, related_id: str) -> None:
        raise Unsupported("This CRM's API cannot link records.")

    async def unlink(self, module: str, record_id: str, link: str, related_id: str) -> None:
        raise Unsupported("This CRM's API cannot unlink records.")

    async def create_related(
        self, module: str, record_id: str, link: str, values: Mapping[str, Value]
    ) -> Record:
        raise Unsupported("This CRM's API cannot create a related record in one call.")

    # -- search ----------------------------------------------------------------------
    async def saved_filters(self, module: str) -> list[SavedFilter]:
        """The filters of ``module``'s list saved in the CRM that the user may use."""
        raise Unsupported("This CRM's API has no saved filters.")

    async def search(
        self, text: str, modules: Sequence[str] | None = None, limit: int = 20
    ) -> list[RecordRef]:
        raise Unsupported("This CRM's API has no global search.")

    # -- optional capabilities -------------------------------------------------------
    def disabled_features(self) -> dict[str, str]:
        """Capabilities this server turned out not to offer at run time (name → why)."""
        return {}

    async def hierarchy(self, module: str, record_id: str) -> list[HierarchyEntry]:
        raise Unsupported("This CRM's API has no record hierarchy.")

    async def fetch_file(self, resource_id: str) -> FileData:
        raise Unsupported("This CRM's API cannot download attachments.")

    async def raw_request(
        self,
        method: str,
        path: str,
        query: Sequence[tuple[str, str]] = (),
        body: Any = None,
    ) -> RawResponse:
        raise Unsupported("This connection has no API console.")

    async def set_favorite(self, module: str, record_id: str, favorite: bool) -> None:
        raise Unsupported("This CRM's API has no favorites.")

    async def tags(self, module: str, record_id: str) -> tuple[str, ...]:
        raise Unsupported("This CRM's API has no tags.")

    async def add_tags(self, module: str, record_id: str, tags: Sequence[str]) -> None:
        raise Unsupported("This CRM's API has no tags.")

    async def remove_tag(self, module: str, record_id: str, tag: str) -> None:
        raise Unsupported("This CRM's API has no tags.")

    async def sync(self, module: str, since: datetime) -> Changes:
        raise Unsupported("This CRM's API cannot list changes since a time.")

    async def picklist_dependencies(self, module: str) -> list[PicklistDependency]:
        raise Unsupported("This CRM's API does not expose picklist dependencies.")

    async def add_picklist_value(self, module: str, field_name: str, value: str) -> None:
        raise Unsupported("This CRM's API cannot change picklists.")

    async def rename_picklist_value(self, module: str, field_name: str, old: str, new: str) -> None:
        raise Unsupported("This CRM's API cannot change picklists.")

    async def delete_picklist_value(
        self, module: str, field_name: str, value: str, replacement: str
    ) -> None:
        raise Unsupported("This CRM's API cannot change picklists.")

    async def convert_lead(
        self, lead_id: str, targets: Mapping[str, Mapping[str, Value]]
    ) -> dict[str, str]:
        raise Unsupported("This CRM's API cannot convert leads.")

    async def reopen(self, module: str, record_id: str) -> str:
        """Reopen a closed record; returns the CRM's message ("" when it says nothing)."""
        raise Unsupported("This CRM's API cannot reopen records.")

    async def decrypt(self, module: str, record_id: str, field_name: str) -> str:
        """The clear value of a sensitive field (see ``FieldDef.sensitive``)."""
        raise Unsupported("This CRM's API cannot show sensitive values.")

    # -- several records at once ---------------------------------------------------------
    async def bulk_delete(
        self, module: str, ids: Sequence[str], progress: Progress | None = None
    ) -> BulkResult:
        """Delete each of ``ids``; a failure is recorded and the others still go out.

        The default calls :meth:`delete` per id, so every dialect has it; dialects with a
        batch call (Sugar's ``/bulk``) override it.
        """
        done: list[str] = []
        failed: dict[str, CrmError] = {}
        for n, rid in enumerate(ids, 1):
            try:
                await self.delete(module, rid)
            except CrmError as exc:
                failed[rid] = exc
            else:
                done.append(rid)
            if progress is not None:
                progress(n)
        return BulkResult(tuple(done), {}, failed)

    async def bulk_update(
        self,
        module: str,
        ids: Sequence[str],
        changes: Mapping[str, Value],
        progress: Progress | None = None,
        *,
        expected: Mapping[str, Version] | None = None,
        shown: Mapping[str, Mapping[str, Value]] | None = None,
    ) -> BulkResult:
        """Apply the same ``changes`` to each of ``ids``; per id the server's record or the error.

        Without ``expected`` a mass update overwrites.  With it (id → the version the list
        showed; ``shown``: id → the values it showed, for the fields it had) a record whose
        mass-updated fields someone else changed since is left alone and reported in
        ``failed`` as a :class:`Conflict` naming those fields and carrying the record as it
        is now; a change to other fields only is no conflict (the update goes over it).
        See :meth:`_update_unless_changed`.  Default: :meth:`update` per id.
        """
        done: list[str] = []
        records: dict[str, Record] = {}
        failed: dict[str, CrmError] = {}
        for n, rid in enumerate(ids, 1):
            try:
                if expected is None:
                    records[rid] = await self.update(module, rid, dict(changes))
                else:
                    records[rid] = await self._update_unless_changed(
                        module, rid, changes, expected.get(rid), (shown or {}).get(rid)
                    )
            except CrmError as exc:
                failed[rid] = exc
            else:
                done.append(rid)
            if progress is not None:
                progress(n)
        return BulkResult(tuple(done), records, failed)

    async def _update_unless_changed(
        self,
        module: str,
        record_id: str,
        changes: Mapping[str, Value],
        version: Version | None,
        shown: Mapping[str, Value] | None,
        answer: Conflict | None = None,
    ) -> Record:
        """One record of a checked mass update: ``changes`` unless someone else changed
        one of those fields since the list showed ``version`` / ``shown``.

        A field clashes when the server's value is not the one being set and either the
        list showed another value, or the list did not show the field and the version
        moved.  Where the version alone may miss a change (no optimistic locking:
        SuiteCRM's times have minutes only) or there is none, the record is read first
        and the values compared.  With neither a version nor a shown value of a changed
        field there is nothing to compare with: the update overwrites.  ``answer`` is a
        conflict a batch call already got for this record (Sugar's ``/bulk``).
        """
        known: Mapping[str, Value] = shown or {}
        sees_values = any(name in known for name in changes)
        send = version
        if (
            answer is None
            and sees_values
            and (version is None or not self.capabilities.optimistic_locking)
        ):
            current = await self.get(module, record_id)
            moved = version is not None and current.version != version
            clash = _clashes(changes, known, current, moved=moved)
            if clash:
                raise _changed_since(clash, current)
            send = current.version
        error = answer
        for _attempt in range(3):
            if error is None:
                try:
                    return await self.update(module, record_id, dict(changes), send)
                except Conflict as exc:
                    error = exc
            theirs = error.current
            if theirs is not None and theirs.id != record_id:
                raise error  # not a clash of versions (e.g. a duplicate's record)
            if theirs is None:
                theirs = await self.get(module, record_id)
            clash = _clashes(changes, known, theirs, moved=True)
            if clash:
                raise _changed_since(clash, theirs)
            # Someone changed other fields only: theirs stay, the update goes over them.
            send, error = theirs.version, None
        raise Conflict(
            "The record kept changing on the server while it was being updated.",
            advice="Try again in a moment.",
        )

    async def _recheck(
        self,
        module: str,
        record_id: str,
        changes: Mapping[str, Value],
        answer: CrmError,
        expected: Mapping[str, Version],
        shown: Mapping[str, Mapping[str, Value]] | None,
    ) -> Record | CrmError:
        """For batch overrides of :meth:`bulk_update`: a sub-request's version conflict
        gets the per-field check of :meth:`_update_unless_changed`; other errors stay."""
        if not isinstance(answer, Conflict):
            return answer
        try:
            return await self._update_unless_changed(
                module,
                record_id,
                changes,
                expected.get(record_id),
                (shown or {}).get(record_id),
                answer,
            )
        except CrmError as exc:
            return exc


def _empty(value: Value) -> bool:
    return value is None or value == "" or value == ()


def same_value(a: Value, b: Value) -> bool:
    """Equal for the purpose of "did it change": empty is empty, 1 == 1.00, same instant,
    multi-enums in any order."""
    if _empty(a) or _empty(b):
        return _empty(a) and _empty(b)
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    numeric = (int, float, Decimal)
    if isinstance(a, numeric) and isinstance(b, numeric):
        return Decimal(str(a)) == Decimal(str(b))
    if isinstance(a, datetime) and isinstance(b, datetime):
        return (a.tzinfo is None) == (b.tzinfo is None) and a == b
    if isinstance(a, tuple) and isinstance(b, tuple):
        return sorted(a) == sorted(b)
    return type(a) is type(b) and a == b


def _clashes(
    changes: Mapping[str, Value], shown: Mapping[str, Value], current: Record, *, moved: bool
) -> tuple[str, ...]:
    """The fields of ``changes`` whose server value an update would undo (see
    :meth:`Backend._update_unless_changed`)."""
    out: list[str] = []
    for name, mine in changes.items():
        has = name in current.values
        now = current.values.get(name)
        if has and same_value(now, mine):
            continue  # theirs is already what is being set: nothing is undone
        if name in shown:
            if has and same_value(shown[name], now):
                continue
            out.append(name)
        elif moved:
            out.append(name)
    return tuple(out)


def _changed_since(fields: Sequence[str], current: Record) -> Conflict:
    return Conflict(
        f"Someone else changed {', '.join(fields)} of this record since the list was loaded; "
        "it was left alone.",
        current=current,
        fields=fields,
        advice="Review their values, then update it again or leave it.",
    )
