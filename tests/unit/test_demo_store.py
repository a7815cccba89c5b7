"""The demo store: a deterministic data set and a small typed query API."""

from __future__ import annotations

import hashlib
import itertools
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from crmdesk.core.schema import FieldType
from crmdesk.demo import data
from crmdesk.demo.catalog import MODULES, STORE_LINKS
from crmdesk.demo.store import (
    Cond,
    RecordNotFound,
    Store,
    StoreError,
    VersionConflict,
    and_,
    or_,
    schema_sql,
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    s = Store.open(tmp_path_factory.mktemp("store") / "demo.sqlite")
    yield s
    s.close()


def _digest(conn: sqlite3.Connection) -> str:
    h = hashlib.sha256()
    for table in (
        "users",
        "accounts",
        "contacts",
        "leads",
        "opportunities",
        "cases",
        "opportunities_contacts",
    ):
        for row in conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2"):
            h.update(repr(row).encode())
    return h.hexdigest()


def test_generation_is_deterministic(store: Store) -> None:
    fresh = sqlite3.connect(":memory:")
    for stmt in schema_sql():
        fresh.execute(stmt)
    data.generate(fresh)
    on_disk = sqlite3.connect(store.path)
    try:
        assert _digest(fresh) == _digest(on_disk)
    finally:
        fresh.close()
        on_disk.close()


def test_counts_and_links(store: Store) -> None:
    assert store.count("Accounts") >= 5000
    assert 7000 <= store.count("Contacts") <= 9000
    assert store.count("Leads") == 1500
    assert store.count("Opportunities") == 3000
    assert store.count("Cases") == 2000
    assert 5 <= store.count("Users") <= 15
    admins = store.list("Users", Cond("is_admin", "eq", True))
    assert [u["user_name"] for u in admins] == ["admin"]
    linked = store.count("Contacts", Cond("account_id", "not_null"))
    assert linked > 0.8 * store.count("Contacts")


def test_reopen_reuses_the_file_and_rebuilds_other_versions(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "d.sqlite"
    src, dst = sqlite3.connect(store.path), sqlite3.connect(path)
    src.backup(dst)
    src.close()
    dst.execute("UPDATE accounts SET name = 'kept' WHERE name = 'O''Reilly Partners'")
    dst.commit()
    dst.close()
    s = Store.open(path)
    assert s.count("Accounts", Cond("name", "eq", "kept")) == 1
    s.close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = 'old' WHERE key = 'dataset_version'")
    conn.commit()
    conn.close()
    s = Store.open(path)
    assert s.count("Accounts", Cond("name", "eq", "kept")) == 0
    assert s.count("Accounts", Cond("name", "eq", "O'Reilly Partners")) == 1
    s.close()


def test_catalog_is_introspectable() -> None:
    acc = MODULES["Accounts"]
    assert acc.field("account_type") is not None
    account_type = acc.field("account_type")
    assert account_type is not None
    assert account_type.type is FieldType.ENUM
    assert {o.key for o in account_type.options} >= {"Customer", "Partner"}
    contact_account = MODULES["Contacts"].field("account_id")
    assert contact_account is not None
    assert contact_account.relate_module == "Accounts"
    assert contact_account.relate_name_field == "account_name"
    for (module, link), sl in STORE_LINKS.items():
        lk = MODULES[module].link(link)
        assert lk is not None
        assert lk.target_module == sl.target
    types = {f.type for m in MODULES.values() for f in m.fields}
    assert {
        FieldType.MULTIENUM,
        FieldType.BOOL,
        FieldType.CURRENCY,
        FieldType.DATE,
        FieldType.DATETIME,
        FieldType.URL,
        FieldType.EMAIL,
        FieldType.PHONE,
        FieldType.MULTILINE,
        FieldType.RELATE,
        FieldType.INT,
    } <= types


def test_awkward_text_is_stored_raw(store: Store) -> None:
    rows = store.list("Accounts", Cond("name", "like", "%<b>Bold</b>%"))
    assert [r["name"] for r in rows] == ["<b>Bold</b> Industries"]
    assert store.count("Contacts", Cond("last_name", "eq", "O'Neil")) > 0
    assert store.count("Accounts", Cond("name", "eq", "Müller & Söhne GmbH")) == 1


def test_typed_values(store: Store) -> None:
    c = store.list(
        "Contacts", and_(Cond("lawful_basis", "not_null"), Cond("birthdate", "not_null")), limit=1
    )[0]
    assert isinstance(c["lawful_basis"], tuple)
    assert c["lawful_basis"]
    assert isinstance(c["birthdate"], date)
    assert isinstance(c["do_not_call"], bool)
    assert isinstance(c["date_entered"], datetime)
    assert c["date_entered"].tzinfo is UTC
    o = store.list("Opportunities", limit=1)[0]
    assert isinstance(o["amount"], float)
    assert isinstance(o["probability"], int)
    assert o["account_name"]  # relate names resolved


@pytest.mark.parametrize(
    ("flt", "check"),
    [
        (Cond("account_type", "eq", "Customer"), lambda r: r["account_type"] == "Customer"),
        (Cond("account_type", "neq", "Customer"), lambda r: r["account_type"] != "Customer"),
        (
            Cond("account_type", "in", ("Partner", "Press")),
            lambda r: r["account_type"] in ("Partner", "Press"),
        ),
        (
            Cond("account_type", "not_in", ("Partner", "Press")),
            lambda r: r["account_type"] not in ("Partner", "Press"),
        ),
        (Cond("account_type", "null"), lambda r: not r["account_type"]),
        (Cond("name", "like", "Acme%"), lambda r: r["name"].startswith("Acme")),
        (
            Cond("date_entered", "gte", datetime(2026, 6, 1, tzinfo=UTC)),
            lambda r: r["date_entered"] >= datetime(2026, 6, 1, tzinfo=UTC),
        ),
        (
            Cond("date_entered", "lt", "2025-01-01"),
            lambda r: r["date_entered"] < datetime(2025, 1, 1, tzinfo=UTC),
        ),
        (
            Cond("date_entered", "between", ("2025-01-01", "2025-02-01")),
            lambda r: (
                datetime(2025, 1, 1, tzinfo=UTC)
                <= r["date_entered"]
                <= datetime(2025, 2, 1, tzinfo=UTC)
            ),
        ),
        (
            or_(Cond("industry", "eq", "Banking"), Cond("account_type", "eq", "Press")),
            lambda r: r["industry"] == "Banking" or r["account_type"] == "Press",
        ),
        (
            and_(Cond("industry", "eq", "Banking"), Cond("account_type", "eq", "Press")),
            lambda r: r["industry"] == "Banking" and r["account_type"] == "Press",
        ),
        (
            Cond("assigned_user_name", "eq", "Sally Bronsen"),
            lambda r: r["assigned_user_name"] == "Sally Bronsen",
        ),
    ],
)
def test_filters(store: Store, flt: Cond, check: object) -> None:
    rows = store.list("Accounts", flt)
    assert rows, f"{flt} matched nothing"
    assert all(check(r) for r in rows)  # type: ignore[operator]
    assert store.count("Accounts", flt) == len(rows)
    everyone = store.count("Accounts")
    assert len(rows) < everyone


def test_sort_and_paging(store: Store) -> None:
    names = [r["name"] for r in store.list("Accounts", order=[("name", False)], fields=["name"])]
    assert names == sorted(names)
    page2 = store.list("Accounts", order=[("name", False)], limit=50, offset=50, fields=["name"])
    assert [r["name"] for r in page2] == names[50:100]
    desc = store.list("Accounts", order=[("account_type", True), ("name", False)], limit=200)
    keys = [(r["account_type"] or "", r["name"]) for r in desc]
    for a, b in itertools.pairwise(keys):
        assert a[0] > b[0] or (a[0] == b[0] and a[1] <= b[1])
    by_user = store.list(
        "Accounts", order=[("assigned_user_name", False)], limit=3000, fields=["assigned_user_name"]
    )
    values = [r["assigned_user_name"] or "" for r in by_user]
    assert values == sorted(values)


def test_fields_limit_columns(store: Store) -> None:
    row = store.list("Contacts", fields=["last_name", "account_name"], limit=1)[0]
    assert set(row) == {"id", "deleted", "version", "last_name", "account_id", "account_name"}
    with pytest.raises(StoreError):
        store.list("Contacts", fields=["no_such_field"])
    with pytest.raises(StoreError):
        store.list("NoSuchModule")


def test_insert_update_versions_and_delete(store: Store) -> None:
    row = store.insert(
        "Contacts",
        {
            "first_name": "Zoë",
            "last_name": "O'Test",
            "lawful_basis": ("consent", "contract"),
            "birthdate": date(1990, 5, 17),
        },
        user_id="1",
    )
    assert row["name"] == "Zoë O'Test"
    assert row["version"] == 1
    assert row["created_by"] == "1"
    assert row["lawful_basis"] == ("consent", "contract")
    before = row["date_modified"]
    upd = store.update("Contacts", row["id"], {"last_name": "Other", "birthdate": None})
    assert upd["version"] == 2
    assert upd["name"] == "Zoë Other"
    assert upd["birthdate"] is None
    assert upd["date_modified"] >= before
    explicit = datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)
    upd = store.update("Contacts", row["id"], {"date_modified": explicit})
    assert upd["date_modified"] == explicit
    with pytest.raises(VersionConflict):
        store.update("Contacts", row["id"], {"title": "x"}, expected_version=1)
    assert store.update("Contacts", row["id"], {"title": "x"}, expected_version=3)["version"] == 4
    assert store.delete("Contacts", row["id"]) is True
    assert store.delete("Contacts", row["id"]) is False
    assert store.get("Contacts", row["id"]) is None
    gone = store.get("Contacts", row["id"], include_deleted=True)
    assert gone is not None
    assert gone["deleted"] is True
    with pytest.raises(RecordNotFound):
        store.update("Contacts", row["id"], {"title": "y"})
    with pytest.raises(StoreError):
        store.insert(
            "Accounts", {"name": "dup"}, record_id=store.list("Accounts", limit=1)[0]["id"]
        )


def test_case_numbers_are_assigned(store: Store) -> None:
    top = store.list("Cases", order=[("case_number", True)], limit=1)[0]["case_number"]
    assert store.insert("Cases", {"name": "new"})["case_number"] == top + 1


def test_related_link_unlink(store: Store) -> None:
    acc = store.insert("Accounts", {"name": "link test"})["id"]
    con = store.insert("Contacts", {"last_name": "Linked"})["id"]
    opp = store.insert("Opportunities", {"name": "deal", "amount": 5.0})["id"]
    assert store.related_count("Accounts", acc, "contacts") == 0
    store.link("Accounts", acc, "contacts", con)
    assert [r["id"] for r in store.related("Accounts", acc, "contacts")] == [con]
    assert [r["id"] for r in store.related("Contacts", con, "accounts")] == [acc]
    assert store.get("Contacts", con, ["account_name"])["account_name"] == "link test"  # type: ignore[index]
    store.link("Opportunities", opp, "contacts", con)
    store.link("Opportunities", opp, "contacts", con)  # twice is once
    assert store.related_count("Contacts", con, "opportunities") == 1
    assert store.unlink("Opportunities", opp, "contacts", con) is True
    assert store.unlink("Opportunities", opp, "contacts", con) is False
    assert store.unlink("Accounts", acc, "contacts", con) is True
    assert store.related_count("Accounts", acc, "contacts") == 0
    with pytest.raises(RecordNotFound):
        store.link("Accounts", acc, "contacts", "00000000-0000-4000-8000-00000000dead")
    with pytest.raises(StoreError):
        store.related("Accounts", acc, "no_such_link")


def test_seeded_relations_are_consistent(store: Store) -> None:
    acc = store.list("Accounts", Cond("name", "eq", "O'Reilly Partners"))[0]["id"]
    n = store.related_count("Accounts", acc, "contacts")
    assert n == store.count("Contacts", Cond("account_id", "eq", acc))
    opp = store.list("Opportunities", limit=50)
    assert sum(store.related_count("Opportunities", o["id"], "contacts") for o in opp) > 0


def test_safe_from_several_threads(store: Store) -> None:
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for _ in range(20):
                rid = store.insert("Leads", {"last_name": f"thread {i}"})["id"]
                store.update("Leads", rid, {"status": "Dead"})
                store.list("Leads", Cond("last_name", "eq", f"thread {i}"), limit=5)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert store.count("Leads", Cond("last_name", "like", "thread %")) == 80
