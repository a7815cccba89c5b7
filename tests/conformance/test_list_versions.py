"""Listed rows carry versions, run against every dialect's demo server.

The record table asks ``list_records`` for its columns only, then hands each row's
``Record.version`` to inline saves (``update(expected_version=...)``) and mass updates
(``bulk_update(expected=...)``).  So a list with a restricted field list must still give
every record the version ``get`` gives for the same state, and that version must go stale
once someone else saves the record.

The colleague is a second connection of the same user: the server cannot tell them apart
from the list's connection, only the record's history can.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import pytest
from dialects import DialectSpec

from crmdesk.core import errors as E
from crmdesk.core.backend import Backend
from crmdesk.core.query import Condition, Op, Query, SortKey
from crmdesk.core.records import PageRequest, Record, Value

Connect = Callable[[str], Coroutine[Any, Any, Backend]]

MINE, THEIRS = "set by the inline edit", "set by a colleague"


@pytest.fixture
async def colleague(connect: Connect, spec: DialectSpec) -> AsyncIterator[Backend]:
    """Another connection, changing records behind the list's back."""
    other = await connect(spec.auths[0])
    try:
        yield other
    finally:
        await other.close()


@pytest.fixture
async def two(backend: Backend, spec: DialectSpec, marker: str) -> AsyncIterator[list[Record]]:
    """Two records tagged ``marker`` whose optional text field says "before"."""
    made: list[Record] = []
    for suffix in "ab":
        values: dict[str, Value] = {
            **spec.required,
            spec.text_field: f"{marker} {suffix}",
            spec.optional_text_field: "before",
        }
        made.append(await backend.create(spec.module, values))
    yield made
    for rec in made:
        with contextlib.suppress(E.NotFound):
            await backend.delete(spec.module, rec.id)


async def _listed(
    backend: Backend, spec: DialectSpec, marker: str, fields: tuple[str, ...]
) -> dict[str, Record]:
    """The marked records as the record table loads them: only ``fields``, sorted."""
    ops = backend.capabilities.operators
    flt = Condition(spec.text_field, Op.STARTS if Op.STARTS in ops else Op.CONTAINS, marker)
    query = Query(filter=flt, sort=(SortKey(spec.text_field),), fields=fields)
    page = await backend.list_records(spec.module, query, PageRequest(size=10))
    by_id = {r.id: r for r in page.records}
    assert len(by_id) == 2
    return by_id


async def _clear_of_a_minute_boundary() -> None:
    """SuiteCRM's versions have minutes (its known gap below): keep the whole exchange in
    one minute so that the gap shows every time, not only most times."""
    now = datetime.now(UTC)
    if now.second >= 50:
        await asyncio.sleep(60.5 - now.second - now.microsecond / 1e6)


async def test_a_list_of_some_fields_gives_each_record_the_version_get_gives(
    backend: Backend, two: list[Record], spec: DialectSpec, marker: str
) -> None:
    for fields in ((spec.text_field,), (spec.text_field, spec.optional_text_field)):
        listed = await _listed(backend, spec, marker, fields)
        for rec in two:
            row = listed[rec.id]
            fresh = await backend.get(spec.module, rec.id)
            assert fresh.version is not None
            assert row.version == fresh.version, (fields, row.version, fresh.version)
            assert row.get(spec.text_field) == fresh.get(spec.text_field)
    # The version still comes with the asked columns, not instead of them.
    assert listed[two[0].id].get(spec.optional_text_field) == "before"


async def test_a_listed_version_is_stale_after_a_colleague_saved_the_record(
    backend: Backend, colleague: Backend, two: list[Record], spec: DialectSpec, marker: str
) -> None:
    """An inline edit with the listed version cannot overwrite a colleague's save."""
    field = spec.optional_text_field
    rid = two[0].id
    # The record's last save, the list and the colleague's save in one minute (SuiteCRM's
    # versions have minutes: its known gap must show every time, not only when no minute
    # ended in between, which a loaded machine's slow exchange can make happen). So each
    # try starts with a save of "before" in a fresh minute, and is tried again if a minute
    # ended before the colleague's save.
    for _attempt in range(3):
        await _clear_of_a_minute_boundary()
        minute = datetime.now(UTC).replace(second=0, microsecond=0)
        await colleague.update(spec.module, rid, {field: "before"})
        listed = (await _listed(backend, spec, marker, (spec.text_field, field)))[rid]
        assert listed.version is not None
        assert listed.get(field) == "before"
        await colleague.update(spec.module, rid, {field: THEIRS})
        if datetime.now(UTC).replace(second=0, microsecond=0) == minute:
            break
    else:
        raise AssertionError("three tries each crossed a minute boundary")

    assert (await backend.get(spec.module, rid)).version != listed.version
    with pytest.raises(E.Conflict) as caught:
        await backend.update(spec.module, rid, {field: MINE}, expected_version=listed.version)
    if caught.value.current is not None:
        assert caught.value.current.id == rid
        assert caught.value.current.get(field) == THEIRS
    assert (await backend.get(spec.module, rid)).get(field) == THEIRS  # theirs is kept


async def test_an_unchanged_listed_version_saves(
    backend: Backend, two: list[Record], spec: DialectSpec, marker: str
) -> None:
    """No false alarm: nobody else saved, so the listed version lets the edit through."""
    field = spec.optional_text_field
    listed = await _listed(backend, spec, marker, (spec.text_field,))
    rid = two[1].id
    saved = await backend.update(
        spec.module, rid, {field: MINE}, expected_version=listed[rid].version
    )
    assert saved.get(field) == MINE
    assert (await backend.get(spec.module, rid)).get(field) == MINE
