"""Metadata caches on disk, wired at connect: each profile gets its own directory under
the platform cache dir (``CRMDESK_CACHE_DIR`` here), added when signing in and never
saved in the profile; a second connection reads the metadata from it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from crmdesk.backends import open_backend
from crmdesk.core.backend import Backend
from crmdesk.core.connection import ConnectionProfile, Secrets
from crmdesk.demo.server import DemoServer
from crmdesk.storage import paths
from crmdesk.ui.connections import disconnect, profile_cache_dir, sign_in, signin_profile


class Counting:
    """An opener that records the profile the adapter got and every request path."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.profiles: list[ConnectionProfile] = []

    def __call__(self, profile: ConnectionProfile, secrets: Secrets) -> Backend:
        self.profiles.append(profile)
        backend = open_backend(profile, secrets)

        async def hook(request: httpx.Request) -> None:
            self.paths.append(request.url.path)

        backend.transport.client.event_hooks["request"].append(hook)  # type: ignore[attr-defined]
        return backend

    def count(self, needle: str) -> int:
        return sum(needle in p for p in self.paths)


@pytest.fixture
def cache_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv(paths.CACHE_ENV, str(root))
    return root


def _all_text(root: Path) -> str:
    return "\n".join(p.read_text("utf-8", errors="replace") for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize(
    ("dialect", "metadata_path", "module"),
    [("sugarcrm", "/metadata", "Accounts"), ("espocrm", "/Metadata", "Account")],
)
async def test_the_second_connection_reads_metadata_from_the_profile_cache(
    demo_server: DemoServer, cache_root: Path, dialect: str, metadata_path: str, module: str
) -> None:
    profile = demo_server.profile(dialect)
    secrets = demo_server.secrets(dialect)
    assert "cache_dir" not in profile.options
    opener = Counting()

    first = await sign_in(profile, secrets, opener=opener)
    await first.backend.describe(module)
    await disconnect(first, None)
    fetched = opener.count(metadata_path)
    assert fetched >= 1
    # The adapter was given the profile's own directory; the connection keeps the
    # profile as it was (nothing to save back with a cache path in it).
    where = profile_cache_dir(profile)
    assert where.is_relative_to(cache_root)
    assert opener.profiles[0].options["cache_dir"] == str(where)
    assert "cache_dir" not in first.profile.options
    files = [p for p in where.rglob("*") if p.is_file()]
    assert files, "no metadata cache file was written"

    opener.paths.clear()
    second = await sign_in(profile, secrets, opener=opener)
    mdef = await second.backend.describe(module)
    await disconnect(second, None)
    assert mdef.field("name") is not None
    assert mdef.fields
    assert opener.count(metadata_path) < fetched

    text = _all_text(cache_root)
    for secret in secrets.values():
        if secret:
            assert secret not in text


def test_each_profile_has_its_own_cache_directory(cache_root: Path) -> None:
    a = ConnectionProfile("Work / EU", "sugarcrm", "https://a.example")
    b = ConnectionProfile("Work / US", "sugarcrm", "https://a.example")
    c = ConnectionProfile("Work / EU", "espocrm", "https://a.example")
    dirs = {profile_cache_dir(p) for p in (a, b, c)}
    assert len(dirs) == 3
    assert all(d.parent == cache_root / "metadata" for d in dirs)
    assert all("/" not in d.name for d in dirs)


def test_an_explicit_cache_dir_is_kept(cache_root: Path, tmp_path: Path) -> None:
    own = str(tmp_path / "mine")
    profile = ConnectionProfile("x", "espocrm", "https://a.example", options={"cache_dir": own})
    assert signin_profile(profile, Secrets()).options["cache_dir"] == own
