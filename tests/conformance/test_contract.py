"""The Backend contract, written once and run against every dialect's demo server.

Tests are gated on ``Capabilities``: an operator a dialect does not claim must raise
``Unsupported`` (that is checked, not skipped).  Per-dialect data lives in dialects.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from dialects import DIALECTS, DialectSpec

from crmdesk.core import errors as E
from crmdesk.core.backend import Backend
from crmdesk.core.query import Condition, Op, Query, SortKey, and_, or_, period_range
from crmdesk.core.records import PageRequest, Record, Value
from crmdesk.core.schema import FieldType

Factory = Callable[..., Any]


@pytest.fixture
async def made(backend: Backend) -> AsyncIterator[list[tuple[str, str]]]:
    """Records a test creates, deleted afterwards."""
    created: list[tuple[str, str]] = []
    yield created
    for module, rid in reversed(created):
        with contextlib.suppress(E.NotFound):
            await backend.delete(module, rid)


async def _create(
    backend: Backend, made: list[tuple[str, str]], module: str, values: Mapping[str, Value]
) -> Record:
    rec = await backend.create(module, values)
    made.append((module, rec.id))
    return rec


async def _people(
    backend: Backend, made: list[tuple[str, str]], spec: DialectSpec, marker: str
) -> list[Record]:
    """Three records tagged with ``marker``: text ``<marker> a|b|c``, dates 1990/91/92."""
    out = []
    for i, suffix in enumerate("abc"):
        values: dict[str, Value] = {
            **spec.required,
            spec.text_field: f"{marker} {suffix}",
            spec.date_field: date(1990 + i, 3, 1),
        }
        if suffix == "a":
            values[spec.optional_text_field] = ""
        elif suffix == "b":
            values[spec.optional_text_field] = "something"
        out.append(await _create(backend, made, spec.module, values))
    return out


def _prefix(spec: DialectSpec, backend: Backend, marker: str) -> Condition:
    ops = backend.capabilities.operators
    op = Op.STARTS if Op.STARTS in ops else Op.CONTAINS
    return Condition(spec.text_field, op, marker)


async def _texts(
    backend: Backend, spec: DialectSpec, flt: Any, *, sort: tuple[SortKey, ...] = ()
) -> list[str]:
    page = await backend.list_records(
        spec.module, Query(filter=flt, sort=sort, fields=(spec.text_field,)), PageRequest(size=50)
    )
    return [str(r.get(spec.text_field)) for r in page.records]


# -- session and metadata -----------------------------------------------------------------


async def test_connect_every_auth_method_and_list_modules(
    spec: DialectSpec, connect: Factory
) -> None:
    for auth in spec.auths:
        backend = await connect(auth)
        try:
            assert auth in backend.capabilities.auth_methods
            names = {m.name for m in await backend.modules()}
            assert spec.module in names
            page = await backend.list_records(spec.module, Query(), PageRequest(size=2))
            assert len(page.records) == 2
        finally:
            await backend.close()


async def test_describe(backend: Backend, spec: DialectSpec) -> None:
    mdef = await backend.describe(spec.module)
    assert mdef.name == spec.module
    assert mdef.label
    text = mdef.field(spec.text_field)
    assert text is not None
    assert text.type is FieldType.TEXT
    assert text.filterable
    assert text.sortable
    assert not text.read_only
    date_field = mdef.field(spec.date_field)
    assert date_field is not None
    assert date_field.type is FieldType.DATE
    assert mdef.columns()
    assert (await backend.describe(spec.module)) is mdef or (
        await backend.describe(spec.module)
    ) == mdef
    module, link, target = spec.link
    lk = (await backend.describe(module)).link(link)
    assert lk is not None
    assert lk.target_module == target


async def test_describe_unknown_module(backend: Backend) -> None:
    with pytest.raises(E.NotFound):
        await backend.describe("NoSuchModuleXyz")


async def test_me(backend: Backend, server: Any, spec: DialectSpec) -> None:
    me = await backend.me()
    assert me.id
    assert me.user_name == server.profile(spec.name, spec.auths[0]).username


# -- lists ------------------------------------------------------------------------------


async def test_paging_pages_are_disjoint(backend: Backend, spec: DialectSpec) -> None:
    q = Query(sort=(SortKey(spec.text_field),))
    first = await backend.list_records(spec.module, q, PageRequest(size=5))
    assert len(first.records) == 5
    assert first.next is not None
    second = await backend.list_records(spec.module, q, PageRequest(size=5, cursor=first.next))
    assert len(second.records) == 5
    assert not {r.id for r in first.records} & {r.id for r in second.records}
    if first.total is not None:
        assert first.total >= 10
    else:
        assert first.total_estimate is None or first.total_estimate >= 10


async def test_cursor_ends(
    backend: Backend, made: list[tuple[str, str]], spec: DialectSpec, marker: str
) -> None:
    await _people(backend, made, spec, marker)
    q = Query(filter=_prefix(spec, backend, marker), sort=(SortKey(spec.text_field),))
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        page = await backend.list_records(spec.module, q, PageRequest(size=2, cursor=cursor))
        seen += [r.id for r in page.records]
        cursor = page.next
        if cursor is None:
            break
    assert cursor is None
    assert len(seen) == 3
    assert len(set(seen)) == 3


async def test_sort_ascending_and_descending(
    backend: Backend, made: list[tuple[str, str]], spec: DialectSpec, marker: str
) -> None:
    await _people(backend, made, spec, marker)
    flt = _prefix(spec, backend, marker)
    up = await _texts(backend, spec, flt, sort=(SortKey(spec.text_field),))
    down = await _texts(backend, spec, flt, sort=(SortKey(spec.text_field, descending=True),))
    assert up == [f"{marker} a", f"{marker} b", f"{marker} c"]
    assert down == list(reversed(up))


async def test_multi_sort_claim(backend: Backend, spec: DialectSpec) -> None:
    q = Query(sort=(SortKey(spec.text_field), SortKey(spec.date_field, descending=True)))
    if backend.capabilities.multi_sort:
        page = await backend.list_records(spec.module, q, PageRequest(size=3))
        assert page.records
    else:
        with pytest.raises(E.Unsupported):
            await backend.list_records(spec.module, q, PageRequest(size=3))


async def test_fields_are_returned(backend: Backend, spec: DialectSpec) -> None:
    page = await backend.list_records(
        spec.module, Query(fields=(spec.text_field, spec.date_field)), PageRequest(size=3)
    )
    assert page.records
    for rec in page.records:
        assert rec.id
        assert spec.text_field in rec.values


def _cases(marker: str, spec: DialectSpec) -> dict[Op, tuple[Any, set[str]]]:
    """op → (the condition(s) to AND with the marker filter, the suffixes expected)."""
    t, d = spec.text_field, spec.date_field
    return {
        Op.EQ: (Condition(t, Op.EQ, f"{marker} b"), {"b"}),
        Op.NEQ: (Condition(t, Op.NEQ, f"{marker} b"), {"a", "c"}),
        Op.LT: (Condition(d, Op.LT, date(1991, 3, 1)), {"a"}),
        Op.LTE: (Condition(d, Op.LTE, date(1991, 3, 1)), {"a", "b"}),
        Op.GT: (Condition(d, Op.GT, date(1991, 3, 1)), {"c"}),
        Op.GTE: (Condition(d, Op.GTE, date(1991, 3, 1)), {"b", "c"}),
        Op.CONTAINS: (Condition(t, Op.CONTAINS, marker[3:] + " c"), {"c"}),
        Op.STARTS: (Condition(t, Op.STARTS, f"{marker} a"), {"a"}),
        Op.BETWEEN: (Condition(d, Op.BETWEEN, (date(1990, 6, 1), date(1992, 1, 1))), {"b"}),
        Op.IN: (Condition(t, Op.IN, (f"{marker} a", f"{marker} c")), {"a", "c"}),
        Op.NOT_IN: (Condition(t, Op.NOT_IN, (f"{marker} a", f"{marker} c")), {"b"}),
        # "c" never had the field set: EMPTY matches it too
        Op.EMPTY: (Condition(spec.optional_text_field, Op.EMPTY), {"a", "c"}),
        Op.NOT_EMPTY: (Condition(spec.optional_text_field, Op.NOT_EMPTY), {"b"}),
    }


#: Operators with a test of their own (they need dates around today, or starred records,
#: or filters saved in the CRM: tests/unit/test_sugarcrm_saved_filters.py, every dialect).
_OWN_TESTS = frozenset({Op.PERIOD, Op.FAVORITE, Op.SAVED})


def test_every_operator_is_tested() -> None:
    assert set(_cases("m", DIALECTS[0])) | _OWN_TESTS == set(Op)


@pytest.mark.parametrize(
    "op", [o for o in Op if o not in _OWN_TESTS], ids=[o.value for o in Op if o not in _OWN_TESTS]
)
async def test_operator(
    op: Op,
    backend: Backend,
    made: list[tuple[str, str]],
    spec: DialectSpec,
    marker: str,
) -> None:
    cond, expected = _cases(marker, spec)[op]
    if op not in backend.capabilities.operators:
        with pytest.raises(E.Unsupported):
            await backend.list_records(spec.module, Query(filter=cond), PageRequest(size=5))
        return
    await _people(backend, made, spec, marker)
    # conditions on the text field carry the marker already (and some CRMs cannot hold two
    # conditions of one operator on one field); the others are narrowed to the marker
    alone = op in {Op.EQ, Op.CONTAINS, Op.STARTS, Op.IN}
    flt = cond if alone else and_(_prefix(spec, backend, marker), cond)
    texts = await _texts(backend, spec, flt)
    assert {t.rsplit(" ", 1)[1] for t in texts} == expected


#: Days from today of the "a", "b", "c" records of the period test.
_PERIOD_OFFSETS = {"a": 0, "b": -40, "c": 40}
_PERIODS = (
    "today",
    "yesterday",
    "this_week",
    "last_30_days",
    "next_30_days",
    "this_month",
    "last_month",
    "next_month",
    "this_quarter",
    "this_year",
)


async def test_period_operator(
    backend: Backend,
    made: list[tuple[str, str]],
    spec: DialectSpec,
    marker: str,
    connect: Any,
) -> None:
    """A period is resolved when sent (natively or as a BETWEEN): the records whose date
    lies in it, on a date field and (today) on the created datetime; every sign-in."""
    d = spec.date_field
    if Op.PERIOD not in backend.capabilities.operators:
        with pytest.raises(E.Unsupported):
            await _texts(backend, spec, Condition(d, Op.PERIOD, "today"))
        return
    today = date.today()
    for suffix, offset in _PERIOD_OFFSETS.items():
        values = {**spec.required, spec.text_field: f"{marker} {suffix}"}
        values[d] = today + timedelta(days=offset)
        await _create(backend, made, spec.module, values)
    for key in _PERIODS:
        low, high = period_range(key, today)
        expected = {s for s, o in _PERIOD_OFFSETS.items() if low <= today + timedelta(o) <= high}
        flt = and_(_prefix(spec, backend, marker), Condition(d, Op.PERIOD, key))
        texts = await _texts(backend, spec, flt)
        assert {t.rsplit(" ", 1)[1] for t in texts} == expected, key
    created = and_(
        _prefix(spec, backend, marker), Condition(spec.created_field, Op.PERIOD, "today")
    )
    assert len(await _texts(backend, spec, created)) == 3
    before = and_(
        _prefix(spec, backend, marker), Condition(spec.created_field, Op.PERIOD, "yesterday")
    )
    assert await _texts(backend, spec, before) == []
    for auth in spec.auths[1:]:
        other = await connect(auth)
        try:
            flt = and_(_prefix(spec, other, marker), Condition(d, Op.PERIOD, "last_30_days"))
            texts = await _texts(other, spec, flt)
            assert {t.rsplit(" ", 1)[1] for t in texts} == {"a"}, auth
        finally:
            await other.close()


async def test_favorite_operator(
    backend: Backend, made: list[tuple[str, str]], spec: DialectSpec, marker: str
) -> None:
    """Favorites only: the records the user starred, ANDed with the other conditions."""
    favorite = Condition("", Op.FAVORITE)
    if Op.FAVORITE not in backend.capabilities.operators:
        with pytest.raises(E.Unsupported):
            await _texts(backend, spec, and_(_prefix(spec, backend, marker), favorite))
        return
    assert backend.capabilities.favorites
    people = {
        str(r.get(spec.text_field)).rsplit(" ", 1)[1]: r
        for r in await _people(backend, made, spec, marker)
    }
    flt = and_(_prefix(spec, backend, marker), favorite)
    assert await _texts(backend, spec, flt) == []
    await backend.set_favorite(spec.module, people["a"].id, True)
    await backend.set_favorite(spec.module, people["c"].id, True)
    assert sorted(await _texts(backend, spec, flt)) == [f"{marker} a", f"{marker} c"]
    assert await backend.count(spec.module, Query(filter=flt)) == 2
    await backend.set_favorite(spec.module, people["c"].id, False)
    assert await _texts(backend, spec, flt) == [f"{marker} a"]


async def test_empty_matches_unset_values(
    backend: Backend, made: list[tuple[str, str]], spec: DialectSpec, marker: str
) -> None:
    """EMPTY should also match a record whose field was never set."""
    if Op.EMPTY not in backend.capabilities.operators:
        pytest.fail("EMPTY is not offered")
    rec = await _create(backend, made, spec.module, {**spec.required, spec.text_field: marker})
    flt = and_(_prefix(spec, backend, marker), Condition(spec.optional_text_field, Op.EMPTY))
    page = await backend.list_records(spec.module, Query(filter=flt), PageRequest(size=5))
    assert [r.id for r in page.records] == [rec.id]


async def test_or_and_nested_groups(
    backend: Backend, made: list[tuple[str, str]], spec: DialectSpec, marker: str
) -> None:
    caps = backend.capabilities
    either = or_(
        Condition(spec.text_field, Op.EQ, f"{marker} a"),
        Condition(spec.date_field, Op.EQ, date(1992, 3, 1)),
    )
    nested = and_(_prefix(spec, backend, marker), either)
    if not caps.or_filters:
        with pytest.raises(E.Unsupported):
            await _texts(backend, spec, either)
        return
    await _people(backend, made, spec, marker)
    # the date also matches other people born that day: narrow to the marker
    assert {t for t in await _texts(backend, spec, either) if t.startswith(marker)} == {
        f"{marker} a",
        f"{marker} c",
    }
    if caps.nested_filters:
        assert sorted(await _texts(backend, spec, nested)) == [f"{marker} a", f"{marker} c"]
    else:
        with pytest.raises(E.Unsupported):
            await _texts(backend, spec, nested)


async def test_datetime_filter_on_created_records(
    backend: Backend, made: list[tuple[str, str]], spec: DialectSpec, marker: str
) -> None:
    rec = await _create(backend, made, spec.module, {**spec.required, spec.text_field: marker})
    created = (await backend.get(spec.module, rec.id)).get(spec.created_field)
    assert isinstance(created, datetime)
    assert created.tzinfo is not None
    after = and_(
        _prefix(spec, backend, marker),
        Condition(spec.created_field, Op.GTE, created - timedelta(minutes=1)),
    )
    assert await _texts(backend, spec, after) == [marker]
    before = and_(
        _prefix(spec, backend, marker),
        Condition(spec.created_field, Op.LT, created - timedelta(minutes=1)),
    )
    assert await _texts(backend, spec, before) == []


async def test_count(
    backend: Backend, made: list[tuple[str, str]], spec: DialectSpec, marker: str
) -> None:
    await _people(backend, made, spec, marker)
    n = await backend.count(spec.module, Query(filter=_prefix(spec, backend, marker)))
    if backend.capabilities.total_count:
        assert n == 3
    else:
        assert n in (None, 3)


async def test_search(
    backend: Backend, made: list[tuple[str, str]], spec: DialectSpec, marker: str
) -> None:
    if not backend.capabilities.search:
        with pytest.raises(E.Unsupported):
            await backend.search(marker)
        return
    people = await _people(backend, made, spec, marker)
    hits = await backend.search(marker, [spec.module])
    assert {h.id for h in hits} == {p.id for p in people}
    assert all(marker in h.label for h in hits)


# -- records ------------------------------------------------------------------------------


def _same(expected: Value, actual: Value) -> bool:
    if isinstance(expected, tuple) and isinstance(actual, tuple):
        return sorted(expected) == sorted(actual)
    return expected == actual


async def test_create_get_update_delete_round_trip(
    backend: Backend, made: list[tuple[str, str]], spec: DialectSpec
) -> None:
    for module, values, changes in spec.round_trips:
        rec = await _create(backend, made, module, values)
        assert rec.id
        got = await backend.get(module, rec.id)
        assert got.module == module
        assert got.id == rec.id
        for name, value in values.items():
            assert _same(value, got.get(name)), (module, name, value, got.get(name))
        updated = await backend.update(module, rec.id, changes)
        assert updated.id == rec.id
        again = await backend.get(module, rec.id)
        for name, value in {**values, **changes}.items():
            assert _same(value, again.get(name)), (module, name, value, again.get(name))
        await backend.delete(module, rec.id)
        with pytest.raises(E.NotFound):
            await backend.get(module, rec.id)


async def test_update_primary_email(
    backend: Backend, made: list[tuple[str, str]], spec: DialectSpec, marker: str
) -> None:
    values = {**spec.required, spec.text_field: marker, spec.email_field: f"{marker}@a.test"}
    rec = await _create(backend, made, spec.module, values)
    assert (await backend.get(spec.module, rec.id)).get(spec.email_field) == f"{marker}@a.test"
    await backend.update(spec.module, rec.id, {spec.email_field: f"{marker}@b.test"})
    assert (await backend.get(spec.module, rec.id)).get(spec.email_field) == f"{marker}@b.test"


async def test_not_found_errors(backend: Backend, spec: DialectSpec) -> None:
    ghost = "00000000-0000-4000-8000-00000000dead"
    with pytest.raises(E.NotFound):
        await backend.get(spec.module, ghost)
    with pytest.raises(E.NotFound):
        await backend.update(spec.module, ghost, {spec.text_field: "x"})
    with pytest.raises(E.NotFound):
        await backend.delete(spec.module, ghost)


async def test_stale_version_conflicts_when_locking_is_claimed(
    backend: Backend, made: list[tuple[str, str]], spec: DialectSpec, marker: str
) -> None:
    rec = await _create(backend, made, spec.module, {**spec.required, spec.text_field: marker})
    if not backend.capabilities.optimistic_locking:
        return
    assert rec.version is not None
    await backend.update(spec.module, rec.id, {spec.text_field: marker + " 1"}, rec.version)
    with pytest.raises(E.Conflict) as info:
        await backend.update(spec.module, rec.id, {spec.text_field: marker + " 2"}, rec.version)
    assert info.value.current is not None


# -- relationships ------------------------------------------------------------------------


async def test_related_link_unlink(
    backend: Backend, made: list[tuple[str, str]], spec: DialectSpec, marker: str
) -> None:
    module, link, target = spec.link
    if not backend.capabilities.relationships:
        with pytest.raises(E.Unsupported):
            await backend.related(module, "x", link, Query(), PageRequest())
        return
    tmdef = await backend.describe(target)
    parent = await _create(
        backend,
        made,
        module,
        {**spec.link_required.get(module, {}), (await backend.describe(module)).name_field: marker},
    )
    child_values: dict[str, Value] = {**spec.link_required.get(target, {})}
    child_values[spec.text_field if target == spec.module else tmdef.name_field] = marker
    if target == spec.module:
        child_values.update(spec.required)
    child = await _create(backend, made, target, child_values)

    empty = await backend.related(module, parent.id, link, Query(), PageRequest(size=10))
    assert empty.records == []
    assert not empty.has_more
    await backend.link(module, parent.id, link, child.id)
    page = await backend.related(module, parent.id, link, Query(), PageRequest(size=10))
    assert [r.id for r in page.records] == [child.id]
    assert page.records[0].module == target
    assert page.total in (None, 1)
    await backend.unlink(module, parent.id, link, child.id)
    after = await backend.related(module, parent.id, link, Query(), PageRequest(size=10))
    assert after.records == []


# -- sessions and faults ------------------------------------------------------------------


async def test_expired_token_is_refreshed_transparently(
    backend: Backend, server: Any, spec: DialectSpec
) -> None:
    await backend.list_records(spec.module, Query(), PageRequest(size=1))
    server.expire_tokens()
    page = await backend.list_records(spec.module, Query(), PageRequest(size=1))
    assert len(page.records) == 1
    server.expire_tokens()
    assert (await backend.get(spec.module, page.records[0].id)).id == page.records[0].id


@pytest.mark.parametrize("kind", ["html", "empty", "truncated", "html:500", "status:500"])
async def test_broken_answers_become_clear_errors(
    kind: str, backend: Backend, server: Any, spec: DialectSpec
) -> None:
    server.faults.inject(spec.list_path, kind, times=None)
    expected = E.ServerError if kind.endswith("500") else E.ProtocolError
    with pytest.raises(expected) as info:
        await backend.list_records(spec.module, Query(), PageRequest(size=3))
    assert info.value.message
    assert "<" not in info.value.message


async def test_503_then_success_is_retried(
    backend: Backend, server: Any, spec: DialectSpec
) -> None:
    server.faults.inject(spec.list_path, "status:503", times=1)
    page = await backend.list_records(spec.module, Query(), PageRequest(size=3))
    assert len(page.records) == 3


async def test_persistent_503_is_unavailable(
    backend: Backend, server: Any, spec: DialectSpec
) -> None:
    server.faults.inject(spec.list_path, "status:503", times=None)
    with pytest.raises(E.Unavailable):
        await backend.list_records(spec.module, Query(), PageRequest(size=3))
