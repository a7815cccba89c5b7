"""The demo CRM's one SQLite store, with a small typed query API every dialect app uses.

Values in and out are neutral Python values, by the catalog's field type:

=================  ==========================  ==============================
field type         Python value                stored as
=================  ==========================  ==============================
text-like, enum    ``str``                      TEXT
multienum          ``tuple[str, ...]``          TEXT, ``^a^,^b^`` (Sugar's way)
int / bool         ``int`` / ``bool``           INTEGER
currency, decimal  ``float``                    REAL
date               ``datetime.date``            TEXT ``YYYY-MM-DD``
datetime           aware ``datetime`` (UTC)     TEXT ``YYYY-MM-DD HH:MM:SS``
=================  ==========================  ==============================

Filter values may also be given as strings in the stored form (``"2026-06-01"``), which
compare as text.  Every row also carries ``deleted`` (bool) and ``version`` (int, bumped
by every update).  One connection guarded by a lock serves every thread (WAL journal).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from crmdesk.core.schema import FieldDef, FieldType, ModuleDef
from crmdesk.demo import catalog
from crmdesk.demo.catalog import COMPUTED_NAME, MODULES, STORE_LINKS, TABLES, StoreLink

Row = dict[str, Any]
Rows = list[Row]
Op = Literal[
    "eq", "neq", "lt", "lte", "gt", "gte", "like", "not_like", "in", "not_in", "between",
    "null", "not_null",
]  # fmt: skip

_CMP = {"eq": "=", "neq": "!=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
_TEXTISH = {
    FieldType.TEXT, FieldType.MULTILINE, FieldType.EMAIL, FieldType.PHONE, FieldType.URL,
    FieldType.ENUM, FieldType.MULTIENUM, FieldType.RELATE, FieldType.ID, FieldType.UNKNOWN,
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Cond:
    """``field op value``.  ``null`` / ``not_null`` take no value (text: NULL or ``""``);
    ``in`` / ``not_in`` take a sequence; ``between`` a (low, high) pair, both inclusive;
    ``like`` is SQL LIKE (``%`` and ``_``), case-insensitive for ASCII."""

    field: str
    op: Op
    value: Any = None


@dataclass(frozen=True, slots=True)
class Where:
    kind: Literal["and", "or"]
    items: tuple[Cond | Where, ...]


Filter = Cond | Where


def and_(*items: Filter) -> Where:
    return Where("and", items)


def or_(*items: Filter) -> Where:
    return Where("or", items)


class StoreError(Exception):
    """A request the store cannot carry out (unknown module, field, link)."""


class RecordNotFound(StoreError, LookupError):
    def __init__(self, module: str, record_id: str) -> None:
        super().__init__(f"{module} record {record_id} not found")
        self.module = module
        self.record_id = record_id


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def encode_multienum(values: Iterable[str]) -> str:
    return ",".join(f"^{v}^" for v in values)


def decode_multienum(raw: str | None) -> tuple[str, ...]:
    if not raw:
        return ()
    return tuple(p.strip("^") for p in raw.split(",") if p.strip("^"))


def format_datetime(value: datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S")


def parse_datetime(raw: str) -> datetime:
    return datetime.strptime(raw, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def to_db(fd: FieldDef, value: Any) -> Any:
    """A neutral Python value → its SQLite form."""
    if value is None:
        return None
    t = fd.type
    if t is FieldType.BOOL:
        if isinstance(value, str):
            return 1 if value.strip().lower() in ("1", "true", "yes", "on") else 0
        return 1 if value else 0
    if t is FieldType.INT:
        if isinstance(value, str) and not value.strip():
            return None
        return int(value)
    if t in (FieldType.CURRENCY, FieldType.DECIMAL):
        if isinstance(value, str) and not value.strip():
            return None
        return float(value)
    if t is FieldType.MULTIENUM:
        if isinstance(value, str):
            return value
        return encode_multienum(value)
    if t is FieldType.DATETIME:
        return format_datetime(value) if isinstance(value, datetime) else str(value)
    if t is FieldType.DATE:
        if isinstance(value, datetime):
            return value.date().isoformat()
        return value.isoformat() if isinstance(value, date) else str(value)
    return str(value)


def from_db(fd: FieldDef, raw: Any) -> Any:
    if raw is None:
        return None
    t = fd.type
    if t is FieldType.BOOL:
        return bool(raw)
    if t is FieldType.MULTIENUM:
        return decode_multienum(raw)
    if t is FieldType.DATETIME:
        return parse_datetime(raw)
    if t is FieldType.DATE:
        return date.fromisoformat(raw)
    return raw


def _sql_type(fd: FieldDef) -> str:
    if fd.type in (FieldType.INT, FieldType.BOOL):
        return "INTEGER"
    if fd.type in (FieldType.CURRENCY, FieldType.DECIMAL):
        return "REAL"
    return "TEXT"


def schema_sql() -> list[str]:
    """CREATE statements for every table and index."""
    out: list[str] = []
    for mod in MODULES.values():
        table = TABLES[mod.name]
        cols = [f"{f.name} {_sql_type(f)}" for f in mod.fields if f.name != "id"]
        out.append(
            f"CREATE TABLE {table} (id TEXT PRIMARY KEY, {', '.join(cols)}, "
            "deleted INTEGER NOT NULL DEFAULT 0, version INTEGER NOT NULL DEFAULT 1)"
        )
        out.append(f"CREATE INDEX ix_{table}_deleted ON {table} (deleted)")
        for f in mod.fields:
            if f.name == "id" or f.type in (FieldType.MULTILINE, FieldType.BOOL):
                continue
            if f.type in (FieldType.RELATE, FieldType.ENUM, FieldType.DATETIME, FieldType.DATE) or (
                f.name in ("name", "last_name", "case_number", "amount", "email1")
            ):
                out.append(f"CREATE INDEX ix_{table}_{f.name} ON {table} ({f.name})")
    out.append(
        "CREATE TABLE opportunities_contacts (opportunity_id TEXT NOT NULL, "
        "contact_id TEXT NOT NULL, contact_role TEXT, deleted INTEGER NOT NULL DEFAULT 0, "
        "PRIMARY KEY (opportunity_id, contact_id))"
    )
    out.append("CREATE INDEX ix_oc_contact ON opportunities_contacts (contact_id)")
    out.append("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    return out


class Store:
    """The demo data: one SQLite file, opened (and generated on first use) by :meth:`open`."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self._lock = threading.RLock()
        self.path = path
        self.modules: dict[str, ModuleDef] = MODULES

    # -- opening --------------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path | str) -> Store:
        """Open the database at ``path``, generating it first if missing or of another data set."""
        from crmdesk.demo import data

        path = Path(path)
        if not _has_version(path, data.DATASET_VERSION):
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.unlink(missing_ok=True)
            conn = sqlite3.connect(tmp)
            try:
                for stmt in schema_sql():
                    conn.execute(stmt)
                data.generate(conn)
                conn.execute("ANALYZE")
                conn.execute(
                    "INSERT INTO meta VALUES ('dataset_version', ?)", (data.DATASET_VERSION,)
                )
                conn.commit()
            finally:
                conn.close()
            for suffix in ("-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            os.replace(tmp, path)
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return cls(conn, path)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    # -- catalog --------------------------------------------------------------------------

    def module(self, name: str) -> ModuleDef:
        mod = self.modules.get(name)
        if mod is None:
            raise StoreError(f"unknown module {name!r}")
        return mod

    def field(self, module: str, name: str) -> FieldDef:
        fd = self.module(module).field(name)
        if fd is None:
            raise StoreError(f"unknown field {module}.{name}")
        return fd

    def store_link(self, module: str, link: str) -> StoreLink:
        sl = STORE_LINKS.get((module, link))
        if sl is None:
            raise StoreError(f"unknown link {module}.{link}")
        return sl

    def relate_names(self, module: str) -> dict[str, FieldDef]:
        """Relate name field (``account_name``) → its id field, for the module."""
        return {
            f.relate_name_field: f
            for f in self.module(module).fields
            if f.type is FieldType.RELATE and f.relate_name_field
        }

    # -- reading --------------------------------------------------------------------------

    def _compile(self, module: str, flt: Filter, params: list[Any]) -> str:
        if isinstance(flt, Where):
            if not flt.items:
                return "1=1" if flt.kind == "and" else "1=0"
            joiner = " AND " if flt.kind == "and" else " OR "
            return "(" + joiner.join(self._compile(module, c, params) for c in flt.items) + ")"
        col, fd = self._column(module, flt.field)
        op = flt.op
        if op in _CMP:
            if flt.value is None:
                return f"{col} IS NULL" if op == "eq" else f"{col} IS NOT NULL"
            params.append(to_db(fd, flt.value))
            if op == "neq":
                return f"({col} != ? OR {col} IS NULL)"
            return f"{col} {_CMP[op]} ?"
        if op in ("like", "not_like"):
            params.append(str(flt.value))
            return f"{col} LIKE ?" if op == "like" else f"({col} NOT LIKE ? OR {col} IS NULL)"
        if op in ("in", "not_in"):
            values = [to_db(fd, v) for v in flt.value]
            if not values:
                return "1=0" if op == "in" else "1=1"
            params.extend(values)
            marks = ",".join("?" * len(values))
            if op == "in":
                return f"{col} IN ({marks})"
            return f"({col} NOT IN ({marks}) OR {col} IS NULL)"
        if op == "between":
            low, high = flt.value
            params.extend([to_db(fd, low), to_db(fd, high)])
            return f"{col} BETWEEN ? AND ?"
        if op in ("null", "not_null"):
            empty = f"({col} IS NULL OR {col} = '')" if fd.type in _TEXTISH else f"{col} IS NULL"
            return empty if op == "null" else f"NOT {empty}"
        raise StoreError(f"unknown operator {op!r}")

    def _column(self, module: str, name: str) -> tuple[str, FieldDef]:
        """SQL expression for a field, or for a relate name field (a correlated subquery)."""
        mod = self.module(module)
        fd = mod.field(name)
        if fd is not None:
            return f"t.{name}", fd
        if name == "deleted":
            return "t.deleted", FieldDef("deleted", "Deleted", FieldType.BOOL)
        idf = self.relate_names(module).get(name)
        if idf is not None and idf.relate_module:
            target = TABLES[idf.relate_module]
            return (
                f"(SELECT r.name FROM {target} r WHERE r.id = t.{idf.name})",
                FieldDef(name, idf.label, FieldType.TEXT),
            )
        raise StoreError(f"unknown field {module}.{name}")

    def _where(
        self,
        module: str,
        flt: Filter | None,
        include_deleted: bool,
        extra: tuple[str, Sequence[Any]],
    ) -> tuple[str, list[Any]]:
        params: list[Any] = []
        parts = [] if include_deleted else ["t.deleted = 0"]
        if flt is not None:
            parts.append(self._compile(module, flt, params))
        if extra[0]:
            parts.append(extra[0])
            params.extend(extra[1])
        return (" WHERE " + " AND ".join(parts)) if parts else "", params

    def list(
        self,
        module: str,
        where: Filter | None = None,
        order: Sequence[tuple[str, bool]] = (),
        limit: int | None = None,
        offset: int = 0,
        fields: Sequence[str] | None = None,
        *,
        include_deleted: bool = False,
        _extra: tuple[str, Sequence[Any]] = ("", ()),
    ) -> Rows:
        """Matching rows, ``order`` as (field, descending) pairs (ties broken by id).

        ``fields`` limits the columns (``id``, ``deleted`` and ``version`` always come);
        relate name fields (``account_name``) may be asked for and are resolved in one
        query per target module.  None means every field and every relate name.
        """
        mod = self.module(module)
        table = TABLES[module]
        names = self.relate_names(module)
        wanted = [f.name for f in mod.fields] if fields is None else list(fields)
        cols: list[FieldDef] = []
        name_fields: list[str] = list(names) if fields is None else []
        for n in wanted:
            fd = mod.field(n)
            if fd is not None:
                if n != "id":
                    cols.append(fd)
            elif n in names:
                if n not in name_fields:
                    name_fields.append(n)
            elif n not in ("deleted", "version"):
                raise StoreError(f"unknown field {module}.{n}")
        for n in name_fields:
            idf = names[n]
            if idf not in cols:
                cols.append(idf)
        where_sql, params = self._where(module, where, include_deleted, _extra)
        order_parts = []
        for name, desc in order:
            col, _ = self._column(module, name)
            order_parts.append(f"{col} {'DESC' if desc else 'ASC'}")
        if order_parts:
            order_parts.append("t.id ASC")
        sql = (
            f"SELECT t.id, t.deleted, t.version{''.join(', t.' + c.name for c in cols)} "
            f"FROM {table} t{where_sql}"
        )
        if order_parts:
            sql += " ORDER BY " + ", ".join(order_parts)
        if limit is not None or offset:
            sql += " LIMIT ? OFFSET ?"
            params.extend([-1 if limit is None else limit, offset])
        raw = self._query(sql, params)
        rows: Rows = []
        for r in raw:
            row: Row = {"id": r[0], "deleted": bool(r[1]), "version": r[2]}
            for fd, v in zip(cols, r[3:], strict=True):
                row[fd.name] = from_db(fd, v)
            rows.append(row)
        self._fill_names(module, rows, name_fields)
        return rows

    def _fill_names(self, module: str, rows: Rows, name_fields: Sequence[str]) -> None:
        names = self.relate_names(module)
        for nf in name_fields:
            idf = names[nf]
            ids = {r[idf.name] for r in rows if r.get(idf.name)}
            found = self.names(idf.relate_module or "", ids) if ids else {}
            for r in rows:
                rid = r.get(idf.name)
                r[nf] = found.get(rid) if rid else None

    def names(self, module: str, ids: Iterable[str]) -> dict[str, str]:
        """Display names of records by id (deleted ones too), in one query."""
        idl = list(ids)
        out: dict[str, str] = {}
        table = TABLES[self.module(module).name]
        for i in range(0, len(idl), 500):
            chunk = idl[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for rid, name in self._query(
                f"SELECT id, name FROM {table} WHERE id IN ({marks})", chunk
            ):
                out[rid] = name or ""
        return out

    def count(
        self,
        module: str,
        where: Filter | None = None,
        *,
        include_deleted: bool = False,
        _extra: tuple[str, Sequence[Any]] = ("", ()),
    ) -> int:
        self.module(module)
        where_sql, params = self._where(module, where, include_deleted, _extra)
        return int(self._query(f"SELECT COUNT(*) FROM {TABLES[module]} t{where_sql}", params)[0][0])

    def get(
        self,
        module: str,
        record_id: str,
        fields: Sequence[str] | None = None,
        *,
        include_deleted: bool = False,
    ) -> Row | None:
        rows = self.list(
            module, Cond("id", "eq", record_id), fields=fields, include_deleted=include_deleted
        )
        return rows[0] if rows else None

    def exists(self, module: str, record_id: str) -> bool:
        return self.count(module, Cond("id", "eq", record_id)) > 0

    # -- writing --------------------------------------------------------------------------

    def _prepare(self, mod: ModuleDef, values: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in values.items():
            fd = mod.field(name)
            if fd is None or name == "id":
                raise StoreError(f"unknown or unwritable field {mod.name}.{name}")
            out[name] = to_db(fd, value)
        return out

    def _computed_name(self, module: str, row: Mapping[str, Any]) -> str | None:
        parts = COMPUTED_NAME.get(module)
        if not parts:
            return None
        return " ".join(str(row.get(p) or "") for p in parts if row.get(p)).strip()

    def insert(
        self,
        module: str,
        values: Mapping[str, Any],
        *,
        record_id: str | None = None,
        user_id: str | None = None,
    ) -> Row:
        """Create a record; system fields default to now / ``user_id`` unless given."""
        mod = self.module(module)
        table = TABLES[module]
        cols = self._prepare(mod, values)
        now = format_datetime(now_utc())
        cols.setdefault("date_entered", now)
        cols.setdefault("date_modified", now)
        if mod.has_field("created_by"):
            cols.setdefault("created_by", user_id)
            cols.setdefault("modified_user_id", user_id)
        rid = record_id or str(uuid.uuid4())
        with self._tx() as conn:
            if conn.execute(f"SELECT 1 FROM {table} WHERE id = ?", (rid,)).fetchone():
                raise StoreError(f"{module} record {rid} already exists")
            if module == "Cases" and cols.get("case_number") is None:
                cols["case_number"] = conn.execute(
                    "SELECT COALESCE(MAX(case_number), 0) + 1 FROM cases"
                ).fetchone()[0]
            name = self._computed_name(module, cols)
            if name is not None:
                cols["name"] = name
            names = ["id", *cols]
            conn.execute(
                f"INSERT INTO {table} ({', '.join(names)}) VALUES ({','.join('?' * len(names))})",
                [rid, *cols.values()],
            )
        row = self.get(module, rid)
        assert row is not None
        return row

    def update(
        self,
        module: str,
        record_id: str,
        values: Mapping[str, Any],
        *,
        user_id: str | None = None,
        expected_version: int | None = None,
    ) -> Row:
        """Change fields; bumps ``version`` and ``date_modified`` (unless given explicitly).

        With ``expected_version`` the update only happens if the stored version matches,
        else :class:`VersionConflict` is raised.
        """
        mod = self.module(module)
        table = TABLES[module]
        cols = self._prepare(mod, values)
        cols.setdefault("date_modified", format_datetime(now_utc()))
        if mod.has_field("modified_user_id") and user_id is not None:
            cols.setdefault("modified_user_id", user_id)
        with self._tx() as conn:
            cur = conn.execute(
                f"SELECT version FROM {table} WHERE id = ? AND deleted = 0", (record_id,)
            ).fetchone()
            if cur is None:
                raise RecordNotFound(module, record_id)
            if expected_version is not None and cur[0] != expected_version:
                raise VersionConflict(module, record_id, cur[0])
            if module in COMPUTED_NAME and any(p in cols for p in COMPUTED_NAME[module]):
                parts = COMPUTED_NAME[module]
                old = conn.execute(
                    f"SELECT {', '.join(parts)} FROM {table} WHERE id = ?", (record_id,)
                ).fetchone()
                merged = {p: cols.get(p, o) for p, o in zip(parts, old, strict=True)}
                cols["name"] = self._computed_name(module, merged)
            sets = ", ".join(f"{c} = ?" for c in cols)
            conn.execute(
                f"UPDATE {table} SET {sets}, version = version + 1 WHERE id = ?",
                [*cols.values(), record_id],
            )
        row = self.get(module, record_id)
        assert row is not None
        return row

    def delete(self, module: str, record_id: str) -> bool:
        """Soft delete: the row stays with ``deleted = 1``.  False if there was none to delete."""
        self.module(module)
        with self._tx() as conn:
            cur = conn.execute(
                f"UPDATE {TABLES[module]} SET deleted = 1, version = version + 1, "
                "date_modified = ? WHERE id = ? AND deleted = 0",
                (format_datetime(now_utc()), record_id),
            )
            return cur.rowcount > 0

    # -- relationships ----------------------------------------------------------------------

    def _link_filter(self, module: str, record_id: str, sl: StoreLink) -> tuple[str, Sequence[Any]]:
        if sl.kind == "child_fk":
            return f"t.{sl.column} = ?", [record_id]
        if sl.kind == "parent_fk":
            return (
                f"t.id = (SELECT {sl.column} FROM {TABLES[module]} WHERE id = ?)",
                [record_id],
            )
        return (
            f"t.id IN (SELECT {sl.other_column} FROM {sl.table} "
            f"WHERE {sl.column} = ? AND deleted = 0)",
            [record_id],
        )

    def related(
        self,
        module: str,
        record_id: str,
        link: str,
        where: Filter | None = None,
        order: Sequence[tuple[str, bool]] = (),
        limit: int | None = None,
        offset: int = 0,
        fields: Sequence[str] | None = None,
    ) -> Rows:
        """Records of the link's target module linked to ``record_id``."""
        sl = self.store_link(module, link)
        if not self.exists(module, record_id):
            raise RecordNotFound(module, record_id)
        return self.list(
            sl.target, where, order, limit, offset, fields,
            _extra=self._link_filter(module, record_id, sl),
        )  # fmt: skip

    def related_count(
        self, module: str, record_id: str, link: str, where: Filter | None = None
    ) -> int:
        sl = self.store_link(module, link)
        if not self.exists(module, record_id):
            raise RecordNotFound(module, record_id)
        return self.count(sl.target, where, _extra=self._link_filter(module, record_id, sl))

    def link(self, module: str, record_id: str, link: str, other_id: str) -> None:
        sl = self.store_link(module, link)
        for mod, rid in ((module, record_id), (sl.target, other_id)):
            if not self.exists(mod, rid):
                raise RecordNotFound(mod, rid)
        now = format_datetime(now_utc())
        bump = "version = version + 1, date_modified = ?"
        with self._tx() as conn:
            if sl.kind == "child_fk":
                conn.execute(
                    f"UPDATE {TABLES[sl.target]} SET {sl.column} = ?, {bump} WHERE id = ?",
                    (record_id, now, other_id),
                )
            elif sl.kind == "parent_fk":
                conn.execute(
                    f"UPDATE {TABLES[module]} SET {sl.column} = ?, {bump} WHERE id = ?",
                    (other_id, now, record_id),
                )
            else:
                conn.execute(
                    f"INSERT INTO {sl.table} ({sl.column}, {sl.other_column}, deleted) "
                    f"VALUES (?, ?, 0) ON CONFLICT DO UPDATE SET deleted = 0",
                    (record_id, other_id),
                )

    def unlink(self, module: str, record_id: str, link: str, other_id: str) -> bool:
        """Remove one pair; False if the two were not linked."""
        sl = self.store_link(module, link)
        now = format_datetime(now_utc())
        bump = "version = version + 1, date_modified = ?"
        with self._tx() as conn:
            if sl.kind == "child_fk":
                cur = conn.execute(
                    f"UPDATE {TABLES[sl.target]} SET {sl.column} = NULL, {bump} "
                    f"WHERE id = ? AND {sl.column} = ?",
                    (now, other_id, record_id),
                )
            elif sl.kind == "parent_fk":
                cur = conn.execute(
                    f"UPDATE {TABLES[module]} SET {sl.column} = NULL, {bump} "
                    f"WHERE id = ? AND {sl.column} = ?",
                    (now, record_id, other_id),
                )
            else:
                cur = conn.execute(
                    f"UPDATE {sl.table} SET deleted = 1 "
                    f"WHERE {sl.column} = ? AND {sl.other_column} = ? AND deleted = 0",
                    (record_id, other_id),
                )
            return cur.rowcount > 0


class VersionConflict(StoreError):
    def __init__(self, module: str, record_id: str, current: int) -> None:
        super().__init__(f"{module} record {record_id} changed (now version {current})")
        self.current = current


def _has_version(path: Path, version: str) -> bool:
    if not path.exists():
        return False
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'dataset_version'").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return False
    return row is not None and row[0] == version


__all__ = [
    "Cond",
    "Filter",
    "Op",
    "RecordNotFound",
    "Row",
    "Store",
    "StoreError",
    "VersionConflict",
    "Where",
    "and_",
    "catalog",
    "or_",
]
