"""Huge values from a server: parsed in bounded time, never quadratic, never a crash.

* a record whose text field holds 5 MB, and a list page of 200 rows of 100 KB each, go
  from bytes to typed records (``decode_json`` + the dialect's parser) within a couple of
  seconds, and doubling the rows no more than roughly doubles the time;
* monsters: a 50 MB string in every field type, a 10^6-digit number string, a list of
  10^6 items where an object belongs, JSON nested 100,000 levels deep, a number of
  10^6 digits in the JSON itself: a typed value or a ProtocolError, quickly.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from crmdesk.backends.espocrm import wire as espo
from crmdesk.backends.sugarcrm import wire as sugar
from crmdesk.backends.suitecrm import parse as suite
from crmdesk.backends.transport import decode_json
from crmdesk.backends.vtiger import wire as vt
from crmdesk.core.errors import CrmError, ProtocolError
from crmdesk.core.records import Record
from crmdesk.core.schema import FieldDef, FieldType, ModuleDef

#: CPU seconds (process time, so other work on the shared cores does not count); a quadratic
#: parser takes minutes, not seconds.
BUDGET = 2.5

FIELDS = (
    FieldDef("name", "Name", FieldType.TEXT),
    FieldDef("description", "Description", FieldType.MULTILINE),
    FieldDef("employees", "Employees", FieldType.INT),
    FieldDef("amount", "Amount", FieldType.CURRENCY),
    FieldDef("rate", "Rate", FieldType.DECIMAL),
    FieldDef("born", "Born", FieldType.DATE),
    FieldDef("seen", "Seen", FieldType.DATETIME),
    FieldDef("flag", "Flag", FieldType.BOOL),
    FieldDef("tags", "Tags", FieldType.MULTIENUM),
    FieldDef("kind", "Kind", FieldType.ENUM),
)
MDEF = ModuleDef("Accounts", "Accounts", fields=FIELDS)


@dataclass(frozen=True)
class Dialect:
    name: str
    #: one wire record from its id and field values
    wrap_record: Callable[[str, dict[str, Any]], Any]
    #: a single-record answer from a wire record
    single: Callable[[Any], Any]
    #: a list answer from wire records
    listing: Callable[[list[Any]], Any]
    parse_single: Callable[[Any], Record]
    parse_list: Callable[[Any], list[Record]]


def _suite_record(rid: str, values: dict[str, Any]) -> Any:
    return {"type": "Account", "id": rid, "attributes": values}


def _espo_list(body: Any) -> list[Record]:
    rows, _ = espo.parse_list(body)
    return [espo.parse_record(MDEF, r) for r in rows]


def _vt_list(body: Any) -> list[Record]:
    return [vt.parse_record("Accounts", r, MDEF) for r in vt.parse_rows(vt.unwrap(body))]


DIALECTS = (
    Dialect(
        "suitecrm",
        _suite_record,
        lambda rec: {"data": rec},
        lambda recs: {"meta": {"total-pages": 3}, "data": recs},
        lambda body: suite.parse_single(body, "Accounts", MDEF),
        lambda body: (
            suite.parse_page(
                body, module="Accounts", mdef=MDEF, page_number=1, page_size=200
            ).records
        ),
    ),
    Dialect(
        "sugarcrm",
        lambda rid, values: {"id": rid, "_module": "Accounts", **values},
        lambda rec: rec,
        lambda recs: {"next_offset": 200, "records": recs},
        lambda body: sugar.parse_record("Accounts", body, MDEF),
        lambda body: sugar.parse_page("Accounts", body, MDEF).records,
    ),
    Dialect(
        "espocrm",
        lambda rid, values: {"id": rid, **values},
        lambda rec: rec,
        lambda recs: {"total": 5000, "list": recs},
        lambda body: espo.parse_record(MDEF, body),
        _espo_list,
    ),
    Dialect(
        "vtiger",
        lambda rid, values: {"id": f"11x{rid}", **values},
        lambda rec: {"success": True, "result": rec},
        lambda recs: {"success": True, "result": recs},
        lambda body: vt.parse_record("Accounts", vt.unwrap(body), MDEF),
        _vt_list,
    ),
)


def _response(body: bytes) -> httpx.Response:
    request = httpx.Request("GET", "http://127.0.0.1/api/Accounts")
    return httpx.Response(
        200, content=body, headers={"content-type": "application/json"}, request=request
    )


def _decode(raw: bytes) -> Any:
    return asyncio.run(decode_json(_response(raw)))


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.process_time()
    result = fn()
    return time.process_time() - started, result


def _text(size: int, seed: str) -> str:
    """Text with HTML entities, accents, quotes and line breaks (the costly kinds)."""
    chunk = f"{seed} Müller &amp; Söhne &lt;b&gt; «quoted» \"x\" 'y'\n"
    return (chunk * (size // len(chunk) + 1))[:size]


@pytest.fixture(params=DIALECTS, ids=[d.name for d in DIALECTS])
def dialect(request: pytest.FixtureRequest) -> Dialect:
    result: Dialect = request.param
    return result


def test_five_megabyte_text_field(dialect: Dialect) -> None:
    big = _text(5 * 1024 * 1024, "five")
    values = {"name": "Big", "description": big, "employees": "12", "amount": "1.5"}
    raw = json.dumps(dialect.single(dialect.wrap_record("1", values))).encode()
    took, rec = _timed(lambda: dialect.parse_single(_decode(raw)))
    assert took < BUDGET, f"{dialect.name}: {took:.2f} s for a 5 MB field"
    text = rec.get("description")
    assert isinstance(text, str)
    assert len(text) >= 4 * 1024 * 1024
    assert rec.get("name") == "Big"


def _page_bytes(dialect: Dialect, rows: int) -> bytes:
    recs = [
        dialect.wrap_record(
            str(i),
            {
                "name": f"Row {i}",
                "description": _text(100 * 1024, f"row{i}"),
                "employees": str(i),
                "seen": "2026-11-23 07:29:18",
                "tags": ["a", "b"] if dialect.name != "vtiger" else "a |##| b",
            },
        )
        for i in range(rows)
    ]
    return json.dumps(dialect.listing(recs)).encode()


def test_two_hundred_rows_of_a_hundred_kilobytes(dialect: Dialect) -> None:
    half, full = _page_bytes(dialect, 100), _page_bytes(dialect, 200)

    def best(raw: bytes) -> tuple[float, list[Record]]:
        runs = [_timed(lambda: dialect.parse_list(_decode(raw))) for _ in range(2)]
        return min(t for t, _ in runs), runs[0][1]

    t_half, _ = best(half)
    t_full, records = best(full)
    assert len(records) == 200
    assert records[199].get("name") == "Row 199"
    assert t_full < BUDGET, f"{dialect.name}: {t_full:.2f} s for 200 rows of 100 KB"
    # Twice the rows, about twice the time: a quadratic parser would take four times.
    assert t_full < 3.2 * t_half + 0.05, f"{dialect.name}: {t_half:.3f} s -> {t_full:.3f} s"


# -- monsters ---------------------------------------------------------------------------------

FIFTY_MB = "&" + "x" * (50 * 1024 * 1024)
MILLION_DIGITS = "9" * 1_000_000


@pytest.mark.parametrize("monster", ["fifty_mb", "million_digits"])
def test_monster_strings_in_every_field(dialect: Dialect, monster: str) -> None:
    value = FIFTY_MB if monster == "fifty_mb" else MILLION_DIGITS
    values = {f.name: value for f in FIELDS}
    body = dialect.single(dialect.wrap_record("1", values))
    took, rec = _timed(lambda: dialect.parse_single(body))
    assert took < BUDGET * 2, f"{dialect.name}: {took:.2f} s for {monster} in every field"
    for f in FIELDS:
        got = rec.get(f.name)
        assert got is None or isinstance(got, str | tuple), f"{f.name}: {type(got).__name__}"


def test_a_million_items_where_an_object_belongs(dialect: Dialect) -> None:
    items: list[Any] = [0] * 1_000_000
    for body in (items, dialect.single(items), dialect.listing(items)):
        started = time.process_time()
        single = _outcome(lambda: dialect.parse_single(body))  # noqa: B023 - called at once
        many = _outcome(lambda: dialect.parse_list(body))  # noqa: B023
        assert time.process_time() - started < BUDGET
        assert isinstance(single, ProtocolError), single
        assert single.message
        assert many == [] or isinstance(many, ProtocolError), many


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"a": ' * 100_000 + b"1" + b"}" * 100_000, "nested too deeply"),
        (b'{"total": ' + MILLION_DIGITS.encode() + b', "list": []}', "number too long"),
        (b'{"list": [' + b'{"id": "1"},' * 100_000 + b'{"id": "x", "name": "trunc', "cut off"),
    ],
    ids=["deep-list", "deep-object", "million-digit-number", "cut-mid-string"],
)
def test_hostile_json_bodies_are_protocol_errors(raw: bytes, words: str) -> None:
    took, outcome = _timed(lambda: _decode_or_error(raw))
    assert isinstance(outcome, ProtocolError), outcome
    assert words in outcome.message
    assert outcome.advice
    assert took < BUDGET


def _decode_or_error(raw: bytes) -> Any:
    return _outcome(lambda: _decode(raw))


def _outcome(fn: Callable[[], Any]) -> Any:
    """What ``fn`` returns, or the CrmError it raised (anything else fails the test)."""
    try:
        return fn()
    except CrmError as exc:
        return exc
