"""The metadata cache: one SQLite file in the platform cache directory.

Keyed by (profile, module), each entry holds the payload an adapter chose to
keep (bytes, usually JSON of what ``describe`` parsed), the CRM's hash or
etag for it (Sugar's ``_hash``, an ETag header, Espo's cache timestamp …)
and when it was stored.  :data:`MODULE_LIST` is the key for the module list.

It is a cache: an unreadable or outdated file is thrown away and rebuilt.

The API is synchronous and cheap (one indexed row per call).  Writes touch
the disk, so a UI calls ``put`` through ``asyncio.to_thread`` or its task
runner; the connection may be used from any one thread at a time (a lock
guards it).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from crmdesk.storage.paths import cache_dir, ensure_private_dir

log = logging.getLogger(__name__)

FILENAME = "metadata.sqlite3"
#: Bump when the table layout changes; an older file is dropped and rebuilt.
SCHEMA_VERSION = 1
#: The module key under which the module list itself is kept.
MODULE_LIST = ""

_DDL = """
CREATE TABLE IF NOT EXISTS metadata (
    profile   TEXT NOT NULL,
    module    TEXT NOT NULL,
    etag      TEXT NOT NULL DEFAULT '',
    payload   BLOB NOT NULL,
    stored_at REAL NOT NULL,
    PRIMARY KEY (profile, module)
) WITHOUT ROWID
"""


@dataclass(frozen=True, slots=True)
class CacheEntry:
    profile: str
    module: str
    etag: str
    payload: bytes
    stored_at: float

    def json(self) -> Any:
        return json.loads(self.payload)


class MetadataCache:
    """``directory`` overrides the cache directory (tests); ``path=":memory:"`` keeps it in RAM."""

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        path: str | os.PathLike[str] | None = None,
    ) -> None:
        if path is not None:
            self.path: Path | None = None if str(path) == ":memory:" else Path(path)
        else:
            self.path = cache_dir(directory) / FILENAME
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    # -- connection ------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        if self._db is not None:
            return self._db
        if self.path is None:
            db = sqlite3.connect(":memory:", check_same_thread=False)
        else:
            ensure_private_dir(self.path.parent)
            try:
                db = self._open_file(self.path)
            except sqlite3.DatabaseError as exc:
                log.warning("metadata cache %s is unreadable (%s); starting afresh", self.path, exc)
                for suffix in ("", "-wal", "-shm", "-journal"):
                    with contextlib.suppress(FileNotFoundError):
                        Path(f"{self.path}{suffix}").unlink()
                db = self._open_file(self.path)
        db.execute(_DDL)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.commit()
        self._db = db
        return db

    @staticmethod
    def _open_file(path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(path, check_same_thread=False, timeout=5.0)
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                db.execute("DROP TABLE IF EXISTS metadata")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> MetadataCache:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- entries ---------------------------------------------------------------------
    def get(self, profile: str, module: str) -> CacheEntry | None:
        with self._lock:
            row = (
                self._connect()
                .execute(
                    "SELECT etag, payload, stored_at FROM metadata "
                    "WHERE profile = ? AND module = ?",
                    (profile, module),
                )
                .fetchone()
            )
        if row is None:
            return None
        return CacheEntry(profile, module, str(row[0]), bytes(row[1]), float(row[2]))

    def etag(self, profile: str, module: str) -> str | None:
        """The stored hash/etag, to send as If-None-Match or a hash parameter."""
        entry = self.get(profile, module)
        return entry.etag if entry else None

    def put(self, profile: str, module: str, payload: bytes, *, etag: str = "") -> CacheEntry:
        entry = CacheEntry(profile, module, etag, bytes(payload), time.time())
        with self._lock:
            db = self._connect()
            with db:
                db.execute(
                    "INSERT OR REPLACE INTO metadata (profile, module, etag, payload, stored_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (profile, module, etag, entry.payload, entry.stored_at),
                )
        return entry

    def put_json(self, profile: str, module: str, value: Any, *, etag: str = "") -> CacheEntry:
        data = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        return self.put(profile, module, data, etag=etag)

    def modules(self, profile: str) -> list[str]:
        """The modules cached for ``profile`` (without the module-list key)."""
        with self._lock:
            rows = (
                self._connect()
                .execute(
                    "SELECT module FROM metadata WHERE profile = ? AND module != ? ORDER BY module",
                    (profile, MODULE_LIST),
                )
                .fetchall()
            )
        return [str(r[0]) for r in rows]

    def invalidate(self, profile: str, module: str | None = None) -> int:
        """Drop one module's entry, or every entry of ``profile``; returns how many went."""
        with self._lock:
            db = self._connect()
            with db:
                if module is None:
                    cur = db.execute("DELETE FROM metadata WHERE profile = ?", (profile,))
                else:
                    cur = db.execute(
                        "DELETE FROM metadata WHERE profile = ? AND module = ?", (profile, module)
                    )
        return cur.rowcount

    def rename_profile(self, old: str, new: str) -> None:
        with self._lock:
            db = self._connect()
            with db:
                db.execute("DELETE FROM metadata WHERE profile = ?", (new,))
                db.execute("UPDATE metadata SET profile = ? WHERE profile = ?", (new, old))
