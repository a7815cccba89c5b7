"""Hostile bodies through every public parser of the four dialects.

The contract (issue 2, "bad input from a server never crashes crmdesk"): a parser may
raise only :class:`~crmdesk.core.errors.CrmError` subclasses, never KeyError, TypeError,
ValueError, RecursionError, OverflowError …, and what it returns has the declared types
(record values are :data:`crmdesk.core.records.Value`).

Inputs are random JSON values (what ``json.loads`` can return: NaN and infinities,
4,000-digit integers, lone surrogates, NUL bytes, HTML entities, deep nesting) and the
real captured answers of /work/shared/peers mutated at random places: keys dropped,
types swapped, nulls everywhere, numbers as strings and strings as numbers.

The module is bounded: ``max_examples`` ~150 per test and a time budget checked at the
end of the module (the whole file must run in about 20 s).
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import fields as dc_fields
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmdesk.backends import common
from crmdesk.backends.espocrm import metadata as espo_meta
from crmdesk.backends.espocrm import wire as espo
from crmdesk.backends.sugarcrm import wire as sugar
from crmdesk.backends.suitecrm import errors as suite_errors
from crmdesk.backends.suitecrm import parse as suite
from crmdesk.backends.vtiger import wire as vt
from crmdesk.core.errors import CrmError
from crmdesk.core.records import Page, Record, RecordRef, UserInfo, Version
from crmdesk.core.schema import (
    Cardinality,
    FieldDef,
    FieldType,
    LinkDef,
    ModuleDef,
    ModuleInfo,
    Option,
    Section,
)

PEERS = Path("/work/shared/peers")
#: The whole module must stay below this (seconds): the suite runs on two shared cores.
MODULE_BUDGET = 20.0

HOSTILE = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)


@pytest.fixture(scope="module", autouse=True)
def module_budget() -> Iterator[None]:
    """CPU time, not wall time: other engineers' test runs share the two cores."""
    started = time.process_time()
    yield
    elapsed = time.process_time() - started
    assert elapsed < MODULE_BUDGET, f"hostile parser tests took {elapsed:.1f} s"


# -- what a server can send ----------------------------------------------------------------

#: Nesting put inside captured bodies; json.loads itself refuses ~1,000 levels (RecursionError
#: in the decoder), and the test still needs json.dumps of the mutated body.
DEEP = 300


def _nested(depth: int) -> Any:
    value: Any = "bottom"
    for i in range(depth):
        value = [value] if i % 2 else {"a": value}
    return value


#: Strings real or broken servers send, and values that break naive parsing.
HOSTILE_STRINGS: tuple[str, ...] = (
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfffy",
    "&amp;&lt;b&gt;bold&lt;/b&gt; &#039;q&#039; &#0; &#xD800; &#x110000; &bogus;",
    "<html><body><b>Fatal error</b></body></html>",
    "null",
    "true",
    "NaN",
    "-Infinity",
    "Infinity",
    "sNaN",
    "-sNaN123",
    "1e999999999",
    "1E+999999999999999999",
    "-1e-999999999",
    "9" * 5000,
    "-" + "1" * 4400,
    "1" * 30 + ".5",
    "²",
    "١٢٣",
    "٣.٥",
    "1,234.50",
    "0x1F",
    "0000-00-00",
    "0000-00-00 00:00:00",
    "0001-01-01T00:00:00+01:00",
    "0001-01-01 00:00:00+05:00",
    "9999-12-31T23:59:59-01:00",
    "9999-12-31 23:59:59",
    "2026-02-30",
    "2026-11-23T07:29:18Z",
    "2026-11-23 07:29:18",
    "^a^,^b^",
    "^^",
    "a |##| b",
    "[" * 50,
    "[" * 900 + "]" * 900,
    '{"a": [1, 2',
    "11x2",
    "x",
    "id",
    "yes",
    "no",
    "on",
)

HUGE_INTS = (10**4299, -(10**4299), 2**63, -(2**63) - 1, 2**64)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(HUGE_INTS),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(st.characters(exclude_categories=()), max_size=12),
    st.sampled_from(HOSTILE_STRINGS),
)


def _keys(extra: tuple[str, ...]) -> st.SearchStrategy[str]:
    return st.one_of(st.text(max_size=6), st.sampled_from(extra)) if extra else st.text(max_size=6)


def json_values(keys: tuple[str, ...] = ()) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=5),
            st.dictionaries(_keys(keys), children, max_size=6),
        ),
        max_leaves=12,
    )


def json_objects(keys: tuple[str, ...] = ()) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(_keys(keys), json_values(keys), max_size=5)


#: Values a mutation may put anywhere.
REPLACEMENTS: st.SearchStrategy[Any] = st.one_of(
    scalars,
    json_values(),
    st.builds(_nested, st.just(DEEP)),
    st.builds(list, st.just(range(2000))),
    st.just("y" * 100_000),
)


def _swap(value: Any) -> Any:
    """Numbers as strings, strings as numbers, scalars wrapped, containers flattened."""
    if isinstance(value, bool):
        return "1" if value else ""
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return [value]
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    return 0


def _mutate(draw: st.DrawFn, value: Any) -> Any:
    """``value`` with one mutation somewhere below it: a random walk down, copying only the
    containers on the way (the capture itself is never changed)."""
    if isinstance(value, dict | list) and value and draw(st.integers(0, 3)):
        if isinstance(value, dict):
            key = draw(st.sampled_from(list(value)))
            new_dict = dict(value)
            new_dict[key] = _mutate(draw, value[key])
            return new_dict
        index = draw(st.integers(0, len(value) - 1))
        new_list = list(value)
        new_list[index] = _mutate(draw, value[index])
        return new_list
    kind = draw(st.sampled_from(("drop", "null", "swap", "replace", "null_all")))
    if kind == "drop" and isinstance(value, dict | list) and value:
        if isinstance(value, dict):
            key = draw(st.sampled_from(list(value)))
            return {k: v for k, v in value.items() if k != key}
        return value[1:]
    if kind == "null_all" and isinstance(value, dict):
        return dict.fromkeys(value)
    if kind == "swap":
        return _swap(value)
    if kind == "replace":
        return draw(REPLACEMENTS)
    return None


@st.composite
def mutated(draw: st.DrawFn, bodies: list[Any]) -> Any:
    """A captured body with 1-6 random mutations."""
    body = draw(st.sampled_from(bodies))
    for _ in range(draw(st.integers(1, 6))):
        body = _mutate(draw, body)
    return body


@functools.cache
def capture_bodies(crm: str, sub: str = "") -> list[Any]:
    folder = PEERS / crm / sub if sub else PEERS / crm
    out: list[Any] = []
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        body = data.get("body") if isinstance(data, dict) else None
        if isinstance(body, dict | list) and body:
            out.append(body)
    assert out, f"no captures in {folder}"
    return out


@functools.cache
def bodies(crm: str, sub: str = "", keys: tuple[str, ...] = ()) -> st.SearchStrategy[Any]:
    return st.one_of(mutated(capture_bodies(crm, sub)), json_values(keys))


# -- what a parser may give back ------------------------------------------------------------

VALUE_TYPES = (str, int, Decimal, float, bool, date, datetime)


def check_value(value: object) -> None:
    if value is None or isinstance(value, VALUE_TYPES):
        if isinstance(value, datetime):
            assert value.tzinfo is not None, "datetimes must be timezone-aware"
        return
    assert isinstance(value, tuple), f"not a records.Value: {type(value).__name__}"
    assert all(isinstance(v, str) for v in value), f"multi-enum with a non-text item: {value!r}"


def check_record(rec: object) -> None:
    assert isinstance(rec, Record)
    assert isinstance(rec.module, str)
    assert isinstance(rec.id, str)
    assert rec.version is None or (
        isinstance(rec.version, Version) and isinstance(rec.version.token, str)
    )
    assert rec.access is None or all(isinstance(a, str) for a in rec.access)
    for name, value in rec.values.items():
        assert isinstance(name, str)
        check_value(value)


def check_page(page: object) -> None:
    assert isinstance(page, Page)
    for rec in page.records:
        check_record(rec)
    assert page.total is None or (isinstance(page.total, int) and not isinstance(page.total, bool))
    assert page.next is None or isinstance(page.next, str)
    assert page.total_estimate is None or isinstance(page.total_estimate, int)


def check_option(opt: object) -> None:
    assert isinstance(opt, Option)
    assert isinstance(opt.key, str)
    assert isinstance(opt.label, str)


def check_field(f: object) -> None:
    assert isinstance(f, FieldDef)
    assert isinstance(f.name, str)
    assert isinstance(f.label, str)
    assert isinstance(f.type, FieldType)
    assert f.length is None or (type(f.length) is int and f.length > 0)
    for opt in f.options:
        check_option(opt)
    assert f.relate_module is None or isinstance(f.relate_module, str)
    assert f.relate_name_field is None or isinstance(f.relate_name_field, str)
    assert isinstance(f.native_type, str)
    for flag in ("required", "read_only", "custom", "filterable", "sortable", "visible"):
        assert isinstance(getattr(f, flag), bool), flag


def check_link(lk: object) -> None:
    assert isinstance(lk, LinkDef)
    assert isinstance(lk.name, str)
    assert isinstance(lk.label, str)
    assert isinstance(lk.target_module, str)
    assert isinstance(lk.cardinality, Cardinality)
    assert isinstance(lk.relationship, str)


def check_module(mdef: object) -> None:
    assert isinstance(mdef, ModuleDef)
    assert isinstance(mdef.name, str)
    assert isinstance(mdef.label, str)
    assert isinstance(mdef.name_field, str)
    for f in mdef.fields:
        check_field(f)
    for lk in mdef.links:
        check_link(lk)
    assert all(isinstance(n, str) for n in mdef.list_fields)
    for sec in mdef.layout:
        assert isinstance(sec, Section)
        assert isinstance(sec.label, str)
        assert all(isinstance(n, str) for n in sec.fields)
    mdef.columns()


def check_info(info: object) -> None:
    assert isinstance(info, ModuleInfo)
    assert isinstance(info.name, str)
    assert isinstance(info.label, str)
    assert info.access is None or all(isinstance(a, str) for a in info.access)


def check_user(user: object) -> None:
    assert isinstance(user, UserInfo)
    for f in dc_fields(UserInfo):
        if f.name in ("access", "extra", "is_admin"):
            continue
        assert isinstance(getattr(user, f.name), str), f.name
    assert isinstance(user.is_admin, bool)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in user.extra.items())


def check_ref(ref: object) -> None:
    assert isinstance(ref, RecordRef)
    assert isinstance(ref.module, str)
    assert isinstance(ref.id, str)
    assert isinstance(ref.label, str)


def safely(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a parser: a CrmError is an allowed answer (returns None), anything else fails."""
    try:
        return fn(*args, **kwargs)
    except CrmError as exc:
        error = exc
    assert error.message, f"{type(error).__name__} without a message"
    return None


ALL_TYPES = list(FieldType)

#: A module definition with one field of every type, so every value parser is reached.
TYPED_FIELDS = tuple(FieldDef(f"f_{t.value}", t.value, t, native_type=t.value) for t in FieldType)


def typed_module(name: str, extra: tuple[FieldDef, ...] = ()) -> ModuleDef:
    return ModuleDef(name, name, fields=(*TYPED_FIELDS, *extra))


TYPED_KEYS = tuple(f.name for f in TYPED_FIELDS)


# -- every value parser, every field type, every hostile scalar (exhaustive, deterministic) ---

#: Scalars and small structures no value parser may crash or stall on.
HOSTILE_RAWS: tuple[Any, ...] = (
    *HOSTILE_STRINGS,
    *HUGE_INTS,
    True,
    False,
    0,
    -1,
    float("nan"),
    float("inf"),
    float("-inf"),
    1e308,
    -0.0,
    [],
    {},
    [None],
    ["\ud800", 1, None, {"a": 1}],
    {"id": "1", "name": "x"},
    _nested(DEEP),
)

VALUE_PARSERS: dict[str, Callable[[FieldDef | None, Any], Any]] = {
    "common": lambda f, raw: common.parse_value(f.type if f else FieldType.TEXT, raw),
    "sugarcrm": lambda f, raw: sugar.parse_value(raw, f),
    "espocrm": lambda f, raw: espo.parse_value(f, raw),
    "vtiger": lambda f, raw: vt.parse_wire_value(f.type if f else FieldType.TEXT, raw),
}


@pytest.mark.parametrize("dialect", sorted(VALUE_PARSERS))
def test_value_parsers_on_every_hostile_scalar(dialect: str) -> None:
    parse = VALUE_PARSERS[dialect]
    for fdef in (None, *TYPED_FIELDS):
        for raw in HOSTILE_RAWS:
            started = time.process_time()
            value = parse(fdef, raw)
            check_value(value)
            took = time.process_time() - started
            assert took < 0.5, f"{dialect} took {took:.1f} s on {fdef} {str(raw)[:40]!r}"


# -- common ---------------------------------------------------------------------------------


@HOSTILE
@given(st.sampled_from(ALL_TYPES), REPLACEMENTS)
def test_common_parse_value_returns_a_value(ftype: FieldType, raw: Any) -> None:
    check_value(common.parse_value(ftype, raw))


@HOSTILE
@given(REPLACEMENTS)
def test_common_helpers(raw: Any) -> None:
    length = common.parse_length(raw)
    assert length is None or (type(length) is int and length > 0)
    if isinstance(raw, str):
        assert isinstance(common.unescape(raw), str)
        assert isinstance(common.humanize(raw), str)


# -- SuiteCRM -------------------------------------------------------------------------------

SUITE_KEYS = (
    "data", "attributes", "id", "type", "meta", "total-pages", "total-records", "errors",
    "detail", "access_token", "expires_in", "fields", "links", "label", "access", "options",
)  # fmt: skip
SUITE_MDEF = typed_module(
    "Accounts",
    (
        FieldDef("name", "Name", FieldType.TEXT),
        FieldDef("date_modified", "Modified", FieldType.DATETIME),
        FieldDef("annual_revenue", "Revenue", FieldType.CURRENCY),
    ),
)


@HOSTILE
@given(bodies("suitecrm", keys=SUITE_KEYS + TYPED_KEYS), st.booleans())
def test_suitecrm_records_and_pages(body: Any, typed: bool) -> None:
    mdef = SUITE_MDEF if typed else None
    page = safely(suite.parse_page, body, module="Accounts", mdef=mdef, page_number=1, page_size=20)
    if page is not None:
        check_page(page)
    rec = safely(suite.parse_single, body, "Accounts", mdef)
    if rec is not None:
        check_record(rec)
    if isinstance(body, Mapping) and isinstance(body.get("data"), list):
        for item in body["data"][:5]:
            if (rec := safely(suite.parse_record, item, None, mdef)) is not None:
                check_record(rec)


@HOSTILE
@given(bodies("suitecrm", keys=SUITE_KEYS), bodies("suitecrm", keys=SUITE_KEYS))
def test_suitecrm_metadata(body: Any, extension: Any) -> None:
    for info in safely(suite.parse_modules, body) or []:
        check_info(info)
    ext = safely(suite.unwrap_extension, extension)
    assert ext is None or isinstance(ext, dict)
    mdef = safely(suite.parse_fields, "Accounts", body, extension=ext, known_modules=["Accounts"])
    if mdef is not None:
        check_module(mdef)
    assert isinstance(suite.data_attributes(body), dict)


@HOSTILE
@given(bodies("suitecrm", keys=SUITE_KEYS), st.text(st.characters(exclude_categories=())))
def test_suitecrm_user_token_and_errors(body: Any, text: str) -> None:
    user = safely(suite.parse_user, body, {"Accounts": frozenset({"edit"})})
    if user is not None:
        check_user(user)
    token = safely(suite.parse_token, body)
    if token is not None:
        access, refresh, expires = token
        assert isinstance(access, str)
        assert refresh is None or isinstance(refresh, str)
        assert isinstance(expires, float)
        assert 0 < expires < 10**9
    detail = suite.api_error_detail(body)
    assert detail is None or isinstance(detail, str)
    oauth = suite.oauth_error(body)
    assert oauth is None or all(isinstance(x, str) for x in oauth)
    assert isinstance(suite.fields_in_detail(text), dict)
    assert isinstance(suite.module_from_type(text), str)
    _parsed, rest = suite.error_json(text)
    assert isinstance(rest, str)


def _response(status: int, content: bytes, ctype: str = "application/json") -> httpx.Response:
    request = httpx.Request("GET", "http://127.0.0.1/Api/V8/module/Accounts")
    return httpx.Response(status, content=content, headers={"content-type": ctype}, request=request)


def _encoded(body: Any) -> st.SearchStrategy[bytes]:
    text = json.dumps(body)
    return st.sampled_from(
        [
            text.encode("utf-8", "surrogatepass"),
            text[: len(text) // 2].encode("utf-8", "surrogatepass"),
            (text + " trailing PHP junk <br />").encode("utf-8", "surrogatepass"),
            b"[" * 5000,
            b'{"errors": ' * 3000,
            b"\xff\xfe not utf-8",
            b"",
        ]
    )


STATUSES = st.sampled_from([200, 201, 204, 301, 400, 401, 403, 404, 405, 409, 412, 413, 422,
                            424, 429, 433, 500, 502, 503, 504, 599])  # fmt: skip


@HOSTILE
@given(st.data(), STATUSES, st.sampled_from(["application/json", "text/html", ""]))
def test_suitecrm_error_for(data: st.DataObject, status: int, ctype: str) -> None:
    body = data.draw(bodies("suitecrm", keys=SUITE_KEYS))
    content = data.draw(_encoded(body))
    for token_endpoint in (False, True):
        err = suite_errors.error_for(
            _response(status, content, ctype), token_endpoint=token_endpoint
        )
        assert isinstance(err, CrmError)
        assert err.message


# -- SugarCRM ---------------------------------------------------------------------------------

SUGAR_KEYS = (
    "records", "next_offset", "id", "_module", "_acl", "date_modified", "record_count",
    "has_more", "error", "error_message", "record", "related_record", "related_records",
    "current_user", "full_module_list", "modules_info", "fields", "type", "name", "options",
    "access_token", "expires_in", "status", "contents", "views", "list", "meta", "panels",
)  # fmt: skip
SUGAR_MDEF = typed_module("Accounts")


def _sugar_samples() -> list[Any]:
    return capture_bodies("sugarcrm", "samples")


@HOSTILE
@given(bodies("sugarcrm", "samples", SUGAR_KEYS + TYPED_KEYS), st.booleans(), STATUSES)
def test_sugarcrm_records_and_answers(body: Any, typed: bool, status: int) -> None:
    mdef = SUGAR_MDEF if typed else None
    page = safely(sugar.parse_page, "Accounts", body, mdef, module_access=frozenset({"view"}))
    if page is not None:
        check_page(page)
    if (rec := safely(sugar.parse_record, "Accounts", body, mdef)) is not None:
        check_record(rec)
    if (n := safely(sugar.parse_count, body)) is not None:
        assert type(n) is int
    if (lc := safely(sugar.parse_leancount, body)) is not None:
        assert type(lc[0]) is int
        assert isinstance(lc[1], bool)
    for ref in safely(sugar.parse_search, body, "Accounts") or []:
        check_ref(ref)
    link = safely(sugar.parse_link_answer, body, "Contacts", mdef)
    if link is not None:
        primary, related = link
        if primary is not None:
            check_record(primary)
        for rec in related:
            check_record(rec)
    for opt in safely(sugar.parse_enum, body) or ():
        check_option(opt)
    for st_code, _ in safely(sugar.parse_bulk, body) or []:
        assert type(st_code) is int
    err = sugar.error_from_body(status, body, module="Accounts", mdef=mdef)
    assert isinstance(err, CrmError)
    assert err.message
    if (token := safely(sugar.parse_token, body)) is not None:
        assert isinstance(token.access_token, str)
        assert type(token.expires_in) is int
    if isinstance(body, Mapping):
        assert isinstance(sugar.record_label(body), str)
        assert isinstance(sugar.acl_read_only_fields(body), frozenset)
        assert all(isinstance(a, str) for a in sugar.parse_acl(body))


@HOSTILE
@given(bodies("sugarcrm", "samples", SUGAR_KEYS), json_objects(SUGAR_KEYS))
def test_sugarcrm_metadata_and_me(body: Any, strings: dict[str, Any]) -> None:
    for info in safely(sugar.parse_module_list, body, access={"Accounts": frozenset()}) or []:
        check_info(info)
    if (user := safely(sugar.parse_me, body)) is not None:
        check_user(user)
    assert isinstance(sugar.user_hash(body), str)
    for access in sugar.module_access_from_acl(body).values():
        assert all(isinstance(a, str) for a in access)
    metas: list[Any] = [body]
    if isinstance(body, Mapping) and isinstance(body.get("modules"), Mapping):
        metas += list(body["modules"].values())[:3]
    for meta in metas:
        if not isinstance(meta, Mapping):
            continue
        mdef = safely(
            sugar.parse_module,
            "Accounts",
            meta,
            label="Accounts",
            app_list_strings=strings,
            mod_strings=strings,
            app_strings=strings,
            acl=strings,
        )
        if mdef is not None:
            check_module(mdef)
        assert all(isinstance(n, str) for n in sugar.list_view_fields(meta))
        fields = meta.get("fields")
        if isinstance(fields, Mapping):
            for vardef in list(fields.values())[:10]:
                if isinstance(vardef, Mapping):
                    fd = sugar.parse_field(
                        vardef, app_list_strings=strings, mod_strings=strings, app_strings=strings
                    )
                    if fd is not None:
                        check_field(fd)


@HOSTILE
@given(REPLACEMENTS, st.sampled_from([None, *TYPED_FIELDS]))
def test_sugarcrm_parse_value(raw: Any, fdef: FieldDef | None) -> None:
    check_value(sugar.parse_value(raw, fdef))


# -- EspoCRM ----------------------------------------------------------------------------------

ESPO_KEYS = (
    "list", "total", "id", "name", "versionNumber", "modifiedAt", "_scope", "user", "acl",
    "table", "fieldTable", "teamsIds", "type", "scopes", "entityDefs", "fields", "links",
    "entity", "options", "Global", "scopeNames", "messageTranslation", "label", "data", "rows",
    "emailAddressData", "teamsNames", "teamsIds", "values", "maxLength", "default",
)  # fmt: skip
ESPO_MDEF = typed_module(
    "Account",
    (
        FieldDef("teamsIds", "Teams", FieldType.RELATE, native_type="linkMultiple"),
        FieldDef("createdAt", "Created", FieldType.DATETIME),
    ),
)


@HOSTILE
@given(bodies("espocrm", keys=ESPO_KEYS + TYPED_KEYS), st.booleans())
def test_espocrm_records_and_lists(body: Any, typed: bool) -> None:
    mdef = ESPO_MDEF if typed else None
    rows = safely(espo.parse_list, body)
    if rows is not None:
        assert type(rows[1]) is int
        for row in rows[0][:20]:
            if (rec := safely(espo.parse_record, mdef, row, "Account")) is not None:
                check_record(rec)
    if isinstance(body, Mapping) and (rec := safely(espo.parse_record, mdef, body, "Account")):
        check_record(rec)
    for ref in safely(espo.parse_search_refs, body) or []:
        check_ref(ref)
    assert safely(espo.parse_bool_result, body) in (True, False, None)


@HOSTILE
@given(REPLACEMENTS, st.sampled_from([None, *ESPO_MDEF.fields]))
def test_espocrm_parse_value(raw: Any, fdef: FieldDef | None) -> None:
    check_value(espo.parse_value(fdef, raw))
    assert espo.parse_datetime(raw) is None or isinstance(espo.parse_datetime(raw), datetime)
    assert espo.parse_date(raw) is None or isinstance(espo.parse_date(raw), date)


@HOSTILE
@given(st.data(), STATUSES, st.sampled_from(["application/json", "text/html", ""]))
def test_espocrm_error_for(data: st.DataObject, status: int, ctype: str) -> None:
    body = data.draw(bodies("espocrm", keys=ESPO_KEYS))
    content = data.draw(_encoded(body))
    reason = data.draw(st.sampled_from(["", "modified", "Max size", "\ud800", "x" * 10_000]))
    headers = {"Content-Type": ctype, "X-Status-Reason": reason, "Retry-After": "9" * 400}
    for module in (None, ESPO_MDEF):
        err = espo.error_for(status, headers, content, what="GET Account", module=module)
        assert isinstance(err, CrmError)
        assert err.message
        if err.__class__.__name__ == "Conflict" and getattr(err, "current", None) is not None:
            check_record(err.current)  # type: ignore[attr-defined]


@HOSTILE
@given(bodies("espocrm", keys=ESPO_KEYS), json_objects(ESPO_KEYS), json_values(ESPO_KEYS))
def test_espocrm_metadata(body: Any, i18n: dict[str, Any], layout: Any) -> None:
    acl = espo_meta.parse_acl(i18n)
    acl2 = espo_meta.parse_acl(body) if isinstance(body, Mapping) else acl
    meta: Mapping[str, Any] = body if isinstance(body, Mapping) else {}
    for a in (acl, acl2):
        for info in espo_meta.module_infos(meta, i18n, a):
            check_info(info)
        mdef, empties = espo_meta.module_def(
            "Account", meta, i18n, a, list_raw=layout, detail_raw=layout,
            currencies=("EUR", "USD"), default_currency="EUR",
        )  # fmt: skip
        check_module(mdef)
        assert all(isinstance(n, str) for n in empties)
        if isinstance(body, Mapping) and isinstance(body.get("list"), list):
            for row in body["list"][:5]:
                if isinstance(row, Mapping):
                    levels = a.record_access("Account", row)
                    assert levels is None or all(isinstance(x, str) for x in levels)


# -- Vtiger -----------------------------------------------------------------------------------

VT_KEYS = (
    "success", "result", "error", "code", "message", "types", "information", "isEntity",
    "label", "name", "fields", "type", "picklistValues", "refersTo", "editable", "mandatory",
    "default", "length", "labelFields", "idPrefix", "id", "modifiedtime", "userId", "token",
    "serverTime", "expireTime", "sessionName", "updated", "deleted", "lastModifiedTime",
    "more", "count", "tags", "level", "filecontents", "filename",
)  # fmt: skip
VT_MDEF = typed_module("Accounts", (FieldDef("accountname", "Name", FieldType.TEXT),))


@HOSTILE
@given(bodies("vtiger", keys=VT_KEYS + TYPED_KEYS), st.booleans())
def test_vtiger_envelopes_and_records(body: Any, typed: bool) -> None:
    mdef = VT_MDEF if typed else None
    if (fault := safely(vt.error_of, body)) is not None:
        err = vt.map_fault(fault, operation="query", record_id="11x2")
        assert isinstance(err, CrmError)
        assert err.message
    result = safely(vt.unwrap, body)
    for candidate in (body, result):
        rows = safely(vt.parse_rows, candidate)
        for row in (rows or [])[:20]:
            if (rec := safely(vt.parse_record, "Accounts", row, mdef)) is not None:
                check_record(rec)
            assert isinstance(vt.record_label(row, mdef), str)
        if (rec := safely(vt.parse_record, "Accounts", candidate, mdef)) is not None:
            check_record(rec)
        if (n := safely(vt.parse_count, candidate)) is not None:
            assert type(n) is int
        if (sync := safely(vt.parse_sync, candidate)) is not None:
            assert all(isinstance(d, str) for d in sync.deleted)
            assert sync.last_modified is None or isinstance(sync.last_modified, datetime)
        assert all(isinstance(t, str) for t in vt.parse_tags(candidate))
        for node in vt.parse_hierarchy(candidate):
            assert isinstance(node.id, str)
            assert type(node.level) is int
        if (f := safely(vt.parse_file, candidate)) is not None:
            assert isinstance(f.content, bytes)
            assert "/" not in f.filename


@HOSTILE
@given(bodies("vtiger", keys=VT_KEYS))
def test_vtiger_metadata_and_session(body: Any) -> None:
    result = body.get("result") if isinstance(body, Mapping) else body
    for candidate in (body, result):
        for info in safely(vt.parse_listtypes, candidate) or []:
            check_info(info)
        links = safely(vt.parse_relatedtypes, candidate) or ()
        for lk in links:
            check_link(lk)
        if (mdef := safely(vt.parse_describe, candidate, links)) is not None:
            check_module(mdef)
        if isinstance(candidate, Mapping):
            assert all(isinstance(n, str) for n in vt.label_fields_of(candidate))
            prefix = vt.id_prefix_of(candidate)
            assert prefix is None or prefix.isdigit()
            if (fd := vt.parse_field(candidate)) is not None:
                check_field(fd)
        if (user := safely(vt.parse_user, candidate)) is not None:
            check_user(user)
        if (ch := safely(vt.parse_challenge, candidate)) is not None:
            assert ch.server_time is None or type(ch.server_time) is int
        assert safely(vt.session_of, candidate) is None or isinstance(vt.session_of(candidate), str)


@HOSTILE
@given(REPLACEMENTS, st.sampled_from(ALL_TYPES))
def test_vtiger_parse_wire_value(raw: Any, ftype: FieldType) -> None:
    check_value(vt.parse_wire_value(ftype, raw))
    if isinstance(raw, str):
        assert vt.module_for_id(raw, {"11": "Accounts"}) in (None, "Accounts")


# -- issue 2's cases, spelled out -------------------------------------------------------------

#: (dialect, parse one record answer, wrap values as that dialect's record answer)
RecordParser = Callable[[Any], Record]
ONE_RECORD: dict[str, tuple[RecordParser, Callable[[dict[str, Any]], Any]]] = {
    "suitecrm": (
        lambda body: suite.parse_single(body, "Accounts", SUITE_MDEF),
        lambda v: {"data": {"type": "Account", "id": "a1", "attributes": v}},
    ),
    "sugarcrm": (
        lambda body: sugar.parse_record("Accounts", body, SUGAR_MDEF),
        lambda v: {"id": "a1", **v},
    ),
    "espocrm": (lambda body: espo.parse_record(ESPO_MDEF, body), lambda v: {"id": "a1", **v}),
    "vtiger": (
        lambda body: vt.parse_record("Accounts", vt.unwrap(body), VT_MDEF),
        lambda v: {"success": True, "result": {"id": "11x1", **v}},
    ),
}


@pytest.mark.parametrize("dialect", sorted(ONE_RECORD))
def test_record_missing_promised_fields_still_loads(dialect: str) -> None:
    parse, wrap = ONE_RECORD[dialect]
    rec = parse(wrap({"f_text": "kept"}))  # the metadata promised a field of every type
    check_record(rec)
    assert rec.get("f_text") == "kept"
    for name in TYPED_KEYS:
        if name != "f_text":
            assert rec.get(name) is None


@pytest.mark.parametrize("dialect", sorted(ONE_RECORD))
def test_wrong_typed_values_become_readable_or_none_and_the_rest_is_kept(dialect: str) -> None:
    parse, wrap = ONE_RECORD[dialect]
    odd = {
        "f_int": "Infinity",
        "f_decimal": "sNaN",
        "f_currency": {"amount": 1},
        "f_bool": [1, 2],
        "f_date": "0001-01-01T00:00:00+01:00",
        "f_datetime": "9999-12-31T23:59:59-01:00",
        "f_multienum": 42,
        "f_text": "kept & sound",
    }
    rec = parse(wrap(odd))
    check_record(rec)
    assert rec.get("f_text") in ("kept & sound", "kept &amp; sound")
    assert rec.id in ("a1", "11x1")


@pytest.mark.parametrize("dialect", sorted(ONE_RECORD))
@pytest.mark.parametrize(
    "body",
    [
        {"errors": {"status": 400, "title": None, "detail": "Bean with id 1 is already exist"}},
        {"errors": [{"status": "500", "title": "Internal error"}]},
        {"error": "fatal_error", "error_message": "Something broke"},
        {"success": False, "error": {"code": "ACCESS_DENIED", "message": "Denied"}},
        ["a", "list"],
        "pong",
        None,
    ],
    ids=["jsonapi-object", "jsonapi-list", "sugar-error", "vtiger-fault", "list", "text", "null"],
)
def test_an_error_object_where_a_record_belongs_is_a_clear_error(dialect: str, body: Any) -> None:
    parse, _ = ONE_RECORD[dialect]
    with pytest.raises(CrmError) as info:
        parse(body)
    assert info.value.message
    assert info.value.advice


def test_metadata_with_odd_lengths_and_defaults() -> None:
    """A length of ``true`` / ``"²"`` / 10^4000 is no length; a structured default is none."""
    espo_body = {
        "entityDefs": {
            "Account": {
                "fields": {
                    "a": {"type": "varchar", "maxLength": True},
                    "b": {"type": "varchar", "maxLength": 10**4000},
                    "c": {"type": "varchar", "maxLength": 150},
                }
            }
        }
    }
    mdef, _ = espo_meta.module_def("Account", espo_body, {}, espo_meta.parse_acl({}))
    check_module(mdef)
    lengths = {f.name: f.length for f in mdef.fields}
    assert lengths["a"] is None
    assert lengths["b"] is None
    assert lengths["c"] == 150
    suite_body = {
        "data": {
            "attributes": {
                "name": {"type": "varchar", "len": "²", "default": {"x": 1}},
                "kind": {"type": "enum", "len": "9" * 5000, "default": "A &amp; B"},
            }
        }
    }
    sdef = suite.parse_fields("Accounts", suite_body)
    check_module(sdef)
    name, kind = sdef.field("name"), sdef.field("kind")
    assert name is not None
    assert kind is not None
    assert name.length is None
    assert name.default is None
    assert kind.length is None
    assert kind.default == "A & B"
