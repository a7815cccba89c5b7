"""Profiles: round trip, atomic writes, no secrets in the file."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from crmdesk.core.connection import ConnectionProfile
from crmdesk.storage import paths
from crmdesk.storage.profiles import FILENAME, ProfileError, ProfileStore, SavedProfile


def _profile(name: str = "Sales CRM", **kw: object) -> ConnectionProfile:
    base: dict[str, object] = {
        "name": name,
        "dialect": "suitecrm",
        "base_url": "https://crm.example.com",
        "auth": "password",
        "username": "jane",
        "options": {"client_id": "abc-123"},
    }
    base.update(kw)
    return ConnectionProfile(**base)  # type: ignore[arg-type]


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path)
    p1 = _profile(
        verify_tls=False,
        ca_bundle="/etc/ssl/corp.pem",
        connect_timeout=3.5,
        read_timeout=120.0,
        page_size=50,
    )
    p2 = _profile(
        "Zeta",
        dialect="sugarcrm",
        options={"client_id": "sugar", "platform": "crmdesk"},
    )
    store.save(p1, remember_secrets=False)
    store.save(p2)

    again = ProfileStore(tmp_path).load_all()
    assert again == [SavedProfile(p1, False), SavedProfile(p2, True)]
    assert ProfileStore(tmp_path).get("Zeta") == SavedProfile(p2, True)
    assert ProfileStore(tmp_path).get("nope") is None


def test_file_is_readable_json_and_private(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path)
    store.save(_profile())
    text = (tmp_path / FILENAME).read_text(encoding="utf-8")
    data = json.loads(text)
    assert data["format"] == 1
    assert data["profiles"][0]["name"] == "Sales CRM"
    assert data["profiles"][0]["options"] == {"client_id": "abc-123"}
    assert "\n  " in text  # indented for people
    if os.name == "posix":
        assert stat.S_IMODE((tmp_path / FILENAME).stat().st_mode) == 0o600


def test_env_var_chooses_the_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(paths.CONFIG_ENV, str(tmp_path / "cfg"))
    store = ProfileStore()
    store.save(_profile())
    assert (tmp_path / "cfg" / FILENAME).is_file()
    assert paths.config_dir() == tmp_path / "cfg"
    assert paths.config_dir(tmp_path / "x") == tmp_path / "x"


@pytest.mark.parametrize(
    "key", ["password", "client_secret", "api_key", "apiKey", "access_key", "refresh_token"]
)
def test_secret_looking_options_are_refused(tmp_path: Path, key: str) -> None:
    store = ProfileStore(tmp_path)
    store.save(_profile())
    before = (tmp_path / FILENAME).read_bytes()
    with pytest.raises(ProfileError, match="looks like a secret"):
        store.save(_profile("Other", options={key: "hunter2-distinctive"}))
    assert (tmp_path / FILENAME).read_bytes() == before


def test_hand_edited_secret_option_is_dropped_on_load(tmp_path: Path) -> None:
    entry = {"name": "X", "dialect": "espocrm", "options": {"api_key": "k", "flavour": "a"}}
    (tmp_path / FILENAME).write_text(json.dumps({"profiles": [entry]}), encoding="utf-8")
    [saved] = ProfileStore(tmp_path).load_all()
    assert dict(saved.profile.options) == {"flavour": "a"}


def test_failed_write_leaves_the_old_file_and_no_debris(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ProfileStore(tmp_path)
    store.save(_profile())
    before = (tmp_path / FILENAME).read_bytes()

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space"):
        store.save(_profile("Second"))
    monkeypatch.undo()

    assert (tmp_path / FILENAME).read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [FILENAME]


def test_rename_delete_and_last_used(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path)
    store.save(_profile("A"))
    store.save(_profile("B"))
    store.set_last_used("A")
    assert store.last_used == "A"

    with pytest.raises(ProfileError, match="already exists"):
        store.rename("A", "B")
    store.rename("A", "C")
    assert store.names() == ["B", "C"]
    assert store.last_used == "C"

    assert store.delete("C") is True
    assert store.delete("C") is False
    assert store.names() == ["B"]
    assert store.last_used == ""


def test_saving_an_edited_profile_under_a_new_name_replaces_it(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path)
    store.save(_profile("Old"))
    store.save(_profile("New", base_url="https://other.example.com"), replacing="Old")
    [saved] = store.load_all()
    assert saved.name == "New"
    assert saved.profile.base_url == "https://other.example.com"


def test_corrupt_file_gives_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / FILENAME).write_text('{"profiles": [\n  {"name": }\n]}', encoding="utf-8")
    with pytest.raises(ProfileError, match=r"not valid JSON \(line 2"):
        ProfileStore(tmp_path).load_all()


def test_broken_entries_are_skipped_not_fatal(tmp_path: Path) -> None:
    good = {"name": "Good", "dialect": "vtiger", "auth": "webservice"}
    bad = {"name": "Bad", "dialect": "vtiger", "page_size": "many"}
    (tmp_path / FILENAME).write_text(
        json.dumps({"profiles": [good, bad, "junk", good]}), encoding="utf-8"
    )
    assert ProfileStore(tmp_path).names() == ["Good"]


@pytest.mark.parametrize("name", ["", "  ", " padded", "tab\there"])
def test_bad_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ProfileError):
        ProfileStore(tmp_path).save(_profile(name))
    assert not (tmp_path / FILENAME).exists()
