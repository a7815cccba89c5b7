"""An in-memory Backend for UI tests: thousands of rows, paging, sort, filter, get.

Timing and failures are under the test's control:

- ``delay``: seconds every call sleeps first;
- ``gate``: an ``asyncio.Event`` list calls wait on (set it to release them);
- ``fail_list_after``: list calls with an offset at or beyond it raise ``failure``;
- ``fail_next``: the next call of any kind raises this error, once;
- ``ignore_cancel``: list calls swallow cancellation and answer anyway, like a
  library that does not honour it, so the UI's own staleness check is tested.

Every call is recorded in ``calls`` as ``(method, module, detail)``.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import ClassVar

from crmdesk.core.backend import Backend, Capabilities
from crmdesk.core.errors import CrmError, NotFound, Unavailable
from crmdesk.core.query import Condition, Filter, Op, Query, SortKey, resolve_condition
from crmdesk.core.records import Page, PageRequest, Record, Value, Version
from crmdesk.core.schema import FieldDef, FieldType, ModuleDef, ModuleInfo, Option

INDUSTRIES = (
    Option("Banking", "Banking"),
    Option("Energy", "Energy"),
    Option("Retail", "Retail"),
    Option("Technology", "Technology"),
)
TYPES = (
    Option("Customer", "Customer"),
    Option("Partner", "Partner"),
    Option("Prospect", "Prospect"),
)

ACCOUNTS = ModuleDef(
    name="Accounts",
    label="Accounts",
    fields=(
        FieldDef("id", "ID", FieldType.ID, read_only=True),
        FieldDef("name", "Name", FieldType.TEXT, required=True),
        FieldDef("industry", "Industry", FieldType.ENUM, options=INDUSTRIES),
        FieldDef("account_type", "Type", FieldType.ENUM, options=TYPES),
        FieldDef("annual_revenue", "Annual revenue", FieldType.CURRENCY, currency="USD"),
        FieldDef("employees", "Employees", FieldType.INT),
        FieldDef("phone_office", "Office phone", FieldType.PHONE),
        FieldDef("email1", "Email", FieldType.EMAIL),
        FieldDef("website", "Website", FieldType.URL),
        FieldDef("billing_address_city", "City", FieldType.TEXT),
        FieldDef("is_partner", "Partner", FieldType.BOOL),
        FieldDef("founded", "Founded", FieldType.DATE),
        FieldDef("date_entered", "Created", FieldType.DATETIME, read_only=True),
        FieldDef("description", "Description", FieldType.MULTILINE, sortable=False),
    ),
    list_fields=(
        "name",
        "industry",
        "account_type",
        "billing_address_city",
        "phone_office",
        "email1",
        "annual_revenue",
        "date_entered",
    ),
)

CONTACTS = ModuleDef(
    name="Contacts",
    label="Contacts",
    name_field="last_name",
    fields=(
        FieldDef("id", "ID", FieldType.ID, read_only=True),
        FieldDef("first_name", "First name", FieldType.TEXT),
        FieldDef("last_name", "Last name", FieldType.TEXT, required=True),
        FieldDef("title", "Title", FieldType.TEXT),
        FieldDef("email1", "Email", FieldType.EMAIL),
        FieldDef("phone_mobile", "Mobile", FieldType.PHONE),
        FieldDef(
            "account_id",
            "Account",
            FieldType.RELATE,
            relate_module="Accounts",
            relate_name_field="account_name",
        ),
        FieldDef("account_name", "Account name", FieldType.TEXT, visible=False),
        FieldDef("birthdate", "Birthday", FieldType.DATE),
    ),
    list_fields=("last_name", "first_name", "title", "account_id", "email1", "phone_mobile"),
)

CITIES = ("Berlin", "Lisbon", "Osaka", "Denver", "Lagos", "Quito", "Oslo", "Perth")
WORDS = ("North", "Blue", "Iron", "Bright", "Quiet", "Rapid", "Golden", "Silver", "Green")
NOUNS = ("Works", "Systems", "Foods", "Logistics", "Labs", "Partners", "Energy", "Bank")
FIRST = ("Ana", "Ben", "Chen", "Dara", "Eli", "Femi", "Gus", "Hana", "Ivo", "Jun")
LAST = ("Abe", "Berg", "Costa", "Diaz", "Evans", "Fuchs", "Gray", "Holm", "Ito", "Jones")


def _accounts(n: int) -> list[Record]:
    base = datetime(2023, 1, 1, 9, 0, tzinfo=UTC)
    out = []
    for i in range(n):
        name = f"{WORDS[i % len(WORDS)]} {NOUNS[(i // 9) % len(NOUNS)]} {i:05d}"
        values: dict[str, Value] = {
            "name": name,
            "industry": INDUSTRIES[i % 4].key,
            "account_type": TYPES[i % 3].key,
            "annual_revenue": Decimal(1000 * ((i * 37) % 5000)),
            "employees": (i * 13) % 900,
            "phone_office": f"+1 555 {i:04d}",
            "email1": f"info{i}@example.com",
            "website": f"https://example.com/{i}",
            "billing_address_city": CITIES[i % len(CITIES)],
            "is_partner": i % 5 == 0,
            "founded": date(1950 + i % 70, 1 + i % 12, 1 + i % 28),
            "date_entered": base + timedelta(hours=i),
            "description": f"Account number {i}.\nSecond line.",
        }
        out.append(Record("Accounts", f"acc-{i:05d}", values, Version(str(i))))
    return out


def _contacts(n: int, accounts: list[Record]) -> list[Record]:
    out = []
    for i in range(n):
        acc = accounts[i % len(accounts)]
        values: dict[str, Value] = {
            "first_name": FIRST[i % len(FIRST)],
            "last_name": f"{LAST[(i // 10) % len(LAST)]} {i:04d}",
            "title": "Buyer" if i % 2 else "Manager",
            "email1": f"c{i}@example.com",
            "phone_mobile": f"+1 555 7{i:03d}",
            "account_id": acc.id,
            "account_name": str(acc.values["name"]),
            "birthdate": date(1970 + i % 30, 1 + i % 12, 1 + i % 28),
        }
        out.append(Record("Contacts", f"con-{i:05d}", values, Version(str(i))))
    return out


@dataclass
class Call:
    method: str
    module: str
    query: Query | None = None
    page: PageRequest | None = None
    record_id: str = ""


def _matches(values: Mapping[str, Value], f: Filter) -> bool:
    if isinstance(f, Condition):
        return _test(values.get(f.field), f)
    results = (_matches(values, c) for c in f.children)
    return all(results) if f.kind == "and" else any(results)


def _test(v: Value, c: Condition) -> bool:
    c = resolve_condition(c, None)  # a period is tested as its date range, as adapters send it
    target = c.value
    if c.op is Op.EMPTY:
        return v in (None, "")
    if c.op is Op.NOT_EMPTY:
        return v not in (None, "")
    if c.op is Op.EQ:
        return v == target
    if c.op is Op.NEQ:
        return v != target
    if c.op is Op.CONTAINS:
        return str(target).lower() in str(v or "").lower()
    if c.op is Op.STARTS:
        return str(v or "").lower().startswith(str(target).lower())
    if c.op is Op.IN:
        return v in c.values
    if c.op is Op.NOT_IN:
        return v not in c.values
    if v is None:
        return False
    key = str(v)
    if c.op is Op.BETWEEN:
        low, high = c.values
        return str(low) <= key <= str(high)
    ref = str(target)
    return {
        Op.LT: key < ref,
        Op.LTE: key <= ref,
        Op.GT: key > ref,
        Op.GTE: key >= ref,
    }[c.op]


def _sort_key(v: Value) -> tuple[int, str | int | float | Decimal]:
    if v is None or v == "":
        return (1, "")
    if isinstance(v, int | float | Decimal) and not isinstance(v, bool):
        return (0, v)
    return (0, str(v).lower())


class FakeBackend(Backend):
    dialect: ClassVar[str] = "fake"
    capabilities: ClassVar[Capabilities] = Capabilities(max_page_size=200)

    def __init__(self, accounts: int = 2500, contacts: int = 1200) -> None:
        acc = _accounts(accounts)
        self.store: dict[str, list[Record]] = {
            "Accounts": acc,
            "Contacts": _contacts(contacts, acc),
        }
        self.defs = {"Accounts": ACCOUNTS, "Contacts": CONTACTS}
        self.calls: list[Call] = []
        self.delay = 0.0
        self.gate: asyncio.Event | None = None
        self.fail_list_after: int | None = None
        self.failure: CrmError = Unavailable("The CRM did not answer in time.")
        self.fail_next: CrmError | None = None
        self.ignore_cancel = False
        self.connected = False
        self._ids = itertools.count(100_000)

    # -- controls --------------------------------------------------------------------
    def list_calls(self, module: str | None = None) -> list[Call]:
        return [c for c in self.calls if c.method == "list" and module in (None, c.module)]

    async def _pause(self) -> None:
        if self.fail_next is not None:
            exc, self.fail_next = self.fail_next, None
            raise exc
        if self.delay:
            await asyncio.sleep(self.delay)

    # -- session ---------------------------------------------------------------------
    async def connect(self) -> None:
        await self._pause()
        self.connected = True

    async def close(self) -> None:
        self.connected = False

    # -- metadata --------------------------------------------------------------------
    async def modules(self) -> list[ModuleInfo]:
        self.calls.append(Call("modules", ""))
        await self._pause()
        return [
            ModuleInfo("Accounts", "Accounts"),
            ModuleInfo("Contacts", "Contacts"),
            ModuleInfo("Home", "Home", entity=False),
        ]

    async def describe(self, module: str) -> ModuleDef:
        self.calls.append(Call("describe", module))
        await self._pause()
        try:
            return self.defs[module]
        except KeyError:
            raise NotFound(f"There is no module {module!r}.") from None

    # -- records ---------------------------------------------------------------------
    async def list_records(self, module: str, query: Query, page: PageRequest) -> Page:
        self.calls.append(Call("list", module, query, page))
        offset = int(page.cursor or 0)
        try:
            await self._pause()
            if self.gate is not None:
                await self.gate.wait()
        except asyncio.CancelledError:
            if not self.ignore_cancel:
                raise
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
        if self.fail_list_after is not None and offset >= self.fail_list_after:
            raise self.failure
        rows = self._select(module, query)
        chunk = rows[offset : offset + page.size]
        end = offset + len(chunk)
        return Page(
            records=[Record(r.module, r.id, dict(r.values), r.version) for r in chunk],
            total=len(rows),
            next=str(end) if end < len(rows) else None,
        )

    def _select(self, module: str, query: Query) -> list[Record]:
        if module not in self.store:
            raise NotFound(f"There is no module {module!r}.")
        rows = self.store[module]
        if query.filter is not None:
            flt = query.filter
            rows = [r for r in rows if _matches(r.values, flt)]
        for key in reversed(query.sort):
            rows = self._sorted(rows, key)
        return rows

    @staticmethod
    def _sorted(rows: list[Record], key: SortKey) -> list[Record]:
        present = [r for r in rows if r.values.get(key.field) not in (None, "")]
        empty = [r for r in rows if r.values.get(key.field) in (None, "")]
        present.sort(key=lambda r: _sort_key(r.values.get(key.field)), reverse=key.descending)
        return present + empty

    async def get(self, module: str, record_id: str) -> Record:
        self.calls.append(Call("get", module, record_id=record_id))
        await self._pause()
        for rec in self.store.get(module, []):
            if rec.id == record_id:
                return Record(rec.module, rec.id, dict(rec.values), rec.version)
        raise NotFound(f"There is no {module} record {record_id!r}.")

    async def create(self, module: str, values: Mapping[str, Value]) -> Record:
        self.calls.append(Call("create", module))
        await self._pause()
        rec = Record(module, f"new-{next(self._ids)}", dict(values), Version("1"))
        self.store.setdefault(module, []).insert(0, rec)
        return rec

    async def update(
        self,
        module: str,
        record_id: str,
        changes: Mapping[str, Value],
        expected_version: Version | None = None,
    ) -> Record:
        self.calls.append(Call("update", module, record_id=record_id))
        await self._pause()
        for rec in self.store.get(module, []):
            if rec.id == record_id:
                rec.values.update(changes)
                return rec
        raise NotFound(f"There is no {module} record {record_id!r}.")

    async def delete(self, module: str, record_id: str) -> None:
        self.calls.append(Call("delete", module, record_id=record_id))
        await self._pause()
        self.store[module] = [r for r in self.store.get(module, []) if r.id != record_id]
