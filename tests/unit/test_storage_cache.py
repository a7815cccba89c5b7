"""The SQLite metadata cache: keyed by profile + module, with the CRM's hash/etag."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from crmdesk.storage import paths
from crmdesk.storage.cache import FILENAME, MODULE_LIST, SCHEMA_VERSION, MetadataCache


def test_put_get_round_trip_with_etag(tmp_path: Path) -> None:
    with MetadataCache(tmp_path) as cache:
        assert cache.get("Sales", "Accounts") is None
        assert cache.etag("Sales", "Accounts") is None
        cache.put("Sales", "Accounts", b'{"fields": 3}', etag="h-1")
        cache.put_json("Sales", MODULE_LIST, ["Accounts", "Contacts"], etag="list-1")
        entry = cache.get("Sales", "Accounts")
        assert entry is not None
        assert entry.payload == b'{"fields": 3}'
        assert entry.json() == {"fields": 3}
        assert entry.etag == "h-1"
        assert entry.stored_at > 0
        assert cache.etag("Sales", MODULE_LIST) == "list-1"
        assert cache.modules("Sales") == ["Accounts"]
        assert cache.get("Other", "Accounts") is None

        cache.put("Sales", "Accounts", b"{}", etag="h-2")  # replaced, not duplicated
        assert cache.etag("Sales", "Accounts") == "h-2"


def test_survives_a_restart(tmp_path: Path) -> None:
    with MetadataCache(tmp_path) as cache:
        cache.put("P", "Leads", b"x", etag="e")
    with MetadataCache(tmp_path) as cache:
        entry = cache.get("P", "Leads")
    assert entry is not None
    assert entry.payload == b"x"
    assert (tmp_path / FILENAME).is_file()


def test_env_var_chooses_the_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(paths.CACHE_ENV, str(tmp_path / "c"))
    with MetadataCache() as cache:
        cache.put("P", "M", b"1")
    assert (tmp_path / "c" / FILENAME).is_file()


def test_invalidate_and_rename(tmp_path: Path) -> None:
    with MetadataCache(path=":memory:") as cache:
        for module in ("A", "B"):
            cache.put("P", module, b"1")
            cache.put("Q", module, b"2")
        assert cache.invalidate("P", "A") == 1
        assert cache.modules("P") == ["B"]
        assert cache.invalidate("P") == 1
        assert cache.modules("P") == []
        cache.rename_profile("Q", "R")
        assert cache.modules("R") == ["A", "B"]
        assert cache.modules("Q") == []


def test_a_corrupt_file_is_rebuilt(tmp_path: Path) -> None:
    (tmp_path / FILENAME).write_bytes(b"this is not a database at all" * 100)
    with MetadataCache(tmp_path) as cache:
        assert cache.get("P", "M") is None
        cache.put("P", "M", b"ok")
        entry = cache.get("P", "M")
    assert entry is not None
    assert entry.payload == b"ok"


def test_an_older_layout_is_dropped(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / FILENAME)
    db.execute("CREATE TABLE metadata (profile TEXT, module TEXT, blob TEXT)")
    db.execute("INSERT INTO metadata VALUES ('P', 'M', 'old')")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 7}")
    db.commit()
    db.close()
    with MetadataCache(tmp_path) as cache:
        assert cache.get("P", "M") is None
        cache.put("P", "M", b"new")
        assert cache.etag("P", "M") == ""


async def test_usable_from_a_worker_thread(tmp_path: Path) -> None:
    """The documented way to keep disk writes off the UI thread."""
    with MetadataCache(tmp_path) as cache:
        await asyncio.gather(
            *(asyncio.to_thread(cache.put, "P", f"M{i}", b"x", etag=str(i)) for i in range(8))
        )
        assert len(cache.modules("P")) == 8
        entry = await asyncio.to_thread(cache.get, "P", "M3")
    assert entry is not None
    assert entry.etag == "3"
