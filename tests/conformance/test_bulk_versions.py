"""Checked mass updates, run against every dialect's demo server: ``bulk_update`` with the
versions (and values) the list showed leaves a record alone when someone else changed one
of the mass-updated fields since, reports it as a ``Conflict`` naming that field, and goes
over a change to other fields; without ``expected`` it overwrites, as before.

The colleague is a second connection of the same user: the server cannot tell them apart
from the list's connection, only the record's history can.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import date
from typing import Any

import pytest
from dialects import DialectSpec

from crmdesk.core import errors as E
from crmdesk.core.backend import Backend
from crmdesk.core.query import Condition, Op, Query
from crmdesk.core.records import PageRequest, Record, Value, Version

Connect = Callable[[str], Coroutine[Any, Any, Backend]]

MINE, THEIRS = "set by the mass update", "set by a colleague"


@pytest.fixture
async def colleague(connect: Connect, spec: DialectSpec) -> AsyncIterator[Backend]:
    """Another connection, changing records behind the list's back."""
    other = await connect(spec.auths[0])
    try:
        yield other
    finally:
        await other.close()


@pytest.fixture
async def three(backend: Backend, spec: DialectSpec, marker: str) -> AsyncIterator[list[Record]]:
    """Three records tagged ``marker`` whose optional text field says "before"."""
    made: list[Record] = []
    for suffix in "abc":
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


async def _listed(backend: Backend, spec: DialectSpec, marker: str) -> list[Record]:
    """The records as a list shows them: its columns only, with each record's version
    (tests/conformance/test_list_versions.py) and the values it showed, which is what the
    check compares with."""
    ops = backend.capabilities.operators
    flt = Condition(spec.text_field, Op.STARTS if Op.STARTS in ops else Op.CONTAINS, marker)
    page = await backend.list_records(
        spec.module,
        Query(filter=flt, fields=(spec.text_field, spec.optional_text_field)),
        PageRequest(size=10),
    )
    by_id = {r.id: r for r in page.records}
    assert len(by_id) == 3
    return list(by_id.values())


async def _field(backend: Backend, spec: DialectSpec, rid: str, name: str) -> Value:
    return (await backend.get(spec.module, rid)).get(name)


async def test_changed_field_is_a_conflict_and_kept_other_fields_are_not(
    backend: Backend, colleague: Backend, three: list[Record], spec: DialectSpec, marker: str
) -> None:
    listed = await _listed(backend, spec, marker)
    field = spec.optional_text_field
    expected = {r.id: r.version for r in listed if r.version is not None}
    shown = {r.id: {field: r.get(field)} for r in listed}
    assert all(v == {field: "before"} for v in shown.values())
    a, b, c = (r.id for r in three)
    # After the list was loaded: b's mass-updated field, c's date (another field).
    await colleague.update(spec.module, b, {field: THEIRS})
    await colleague.update(spec.module, c, {spec.date_field: date(1999, 1, 2)})

    result = await backend.bulk_update(
        spec.module, [a, b, c], {field: MINE}, expected=expected, shown=shown
    )

    assert result.done == (a, c)
    assert set(result.records) == {a, c}
    assert list(result.failed) == [b]
    conflict = result.failed[b]
    assert isinstance(conflict, E.Conflict)
    assert conflict.fields == (field,)
    assert conflict.current is not None
    assert conflict.current.id == b
    assert conflict.current.get(field) == THEIRS
    assert await _field(backend, spec, b, field) == THEIRS  # kept
    assert await _field(backend, spec, a, field) == MINE
    assert await _field(backend, spec, c, field) == MINE
    assert await _field(backend, spec, c, spec.date_field) == date(1999, 1, 2)  # theirs stays


async def test_versions_alone_flag_any_change_of_a_record(
    backend: Backend, colleague: Backend, three: list[Record], spec: DialectSpec
) -> None:
    """Without the shown values a moved version is all there is: the record is left alone
    whatever field changed (only as fine as the dialect's versions: SuiteCRM's have
    minutes, its own check is best effort and not asserted here)."""
    field = spec.optional_text_field
    fresh = [await backend.get(spec.module, r.id) for r in three]
    expected: dict[str, Version] = {}
    for rec in fresh:
        assert rec.version is not None
        expected[rec.id] = rec.version
    a, b, c = (r.id for r in three)
    await colleague.update(spec.module, b, {spec.date_field: date(1999, 1, 2)})
    if not backend.capabilities.optimistic_locking:
        return
    result = await backend.bulk_update(spec.module, [a, b, c], {field: MINE}, expected=expected)
    assert result.done == (a, c)
    conflict = result.failed[b]
    assert isinstance(conflict, E.Conflict)
    assert conflict.fields == (field,)
    assert await _field(backend, spec, b, field) == "before"
    assert await _field(backend, spec, a, field) == MINE


async def test_a_colleague_setting_the_same_value_is_no_conflict(
    backend: Backend, colleague: Backend, three: list[Record], spec: DialectSpec, marker: str
) -> None:
    listed = await _listed(backend, spec, marker)
    field = spec.optional_text_field
    expected = {r.id: r.version for r in listed if r.version is not None}
    shown = {r.id: {field: r.get(field)} for r in listed}
    ids = [r.id for r in three]
    await colleague.update(spec.module, ids[1], {field: MINE})
    result = await backend.bulk_update(
        spec.module, ids, {field: MINE}, expected=expected, shown=shown
    )
    assert result.done == tuple(ids)
    assert not result.failed


async def test_without_expected_the_mass_update_overwrites(
    backend: Backend, colleague: Backend, three: list[Record], spec: DialectSpec, marker: str
) -> None:
    await _listed(backend, spec, marker)
    field = spec.optional_text_field
    ids = [r.id for r in three]
    await colleague.update(spec.module, ids[1], {field: THEIRS})
    result = await backend.bulk_update(spec.module, ids, {field: MINE})
    assert result.done == tuple(ids)
    assert not result.failed
    assert [await _field(backend, spec, rid, field) for rid in ids] == [MINE] * 3
