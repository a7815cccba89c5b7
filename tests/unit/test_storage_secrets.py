"""Secrets: keyring only, one service per profile, unusable keyrings detected, no fallback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import keyring.backends.fail
import keyring.backends.null
import pytest
from helpers.memory_keyring import MemoryKeyring, use_keyring

from crmdesk.core.connection import ConnectionProfile, Secrets
from crmdesk.storage.connections import ConnectionStore
from crmdesk.storage.profiles import ProfileStore
from crmdesk.storage.secrets import KeyringUnavailable, SecretStore, service_name

PASSWORD = "pw-Q7hZ2vK9-distinctive"
CLIENT_SECRET = "cs-M3nB8xT1-distinctive"


@pytest.fixture
def memory() -> Iterator[MemoryKeyring]:
    kr = MemoryKeyring()
    with use_keyring(kr):
        yield kr


@pytest.fixture
def store(tmp_path: Path, memory: MemoryKeyring) -> ConnectionStore:
    return ConnectionStore(ProfileStore(tmp_path), SecretStore())


def _suite(name: str = "Sales") -> ConnectionProfile:
    return ConnectionProfile(
        name, "suitecrm", "https://crm.example.com", "password", "jane", {"client_id": "cid"}
    )


def _all_file_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file())


def test_get_set_delete_under_the_profile_service(memory: MemoryKeyring) -> None:
    secrets = SecretStore()
    assert secrets.available
    secrets.set("Sales", "password", PASSWORD)
    assert memory.entries == {("crmdesk:Sales", "password"): PASSWORD}
    assert service_name("Sales") == "crmdesk:Sales"
    assert secrets.get("Sales", "password") == PASSWORD
    secrets.delete("Sales", "password")
    secrets.delete("Sales", "password")  # absent is fine
    assert secrets.get("Sales", "password") is None
    secrets.set("Sales", "client_secret", "")  # empty means "none": nothing stored
    assert memory.entries == {}


def test_save_then_open_brings_the_secrets_back(store: ConnectionStore, tmp_path: Path) -> None:
    out = store.save(
        _suite(), Secrets(password=PASSWORD, client_secret=CLIENT_SECRET), remember=True
    )
    assert out.secrets_stored
    assert out.problem == ""
    opened = store.open("Sales")
    assert dict(opened.secrets) == {"password": PASSWORD, "client_secret": CLIENT_SECRET}
    assert opened.missing == ()
    assert opened.profile == _suite()
    blob = _all_file_bytes(tmp_path)
    assert b"Sales" in blob
    assert PASSWORD.encode() not in blob
    assert CLIENT_SECRET.encode() not in blob


def test_not_remembering_stores_nothing_and_forgets_earlier(
    store: ConnectionStore, memory: MemoryKeyring
) -> None:
    store.save(_suite(), Secrets(password=PASSWORD, client_secret=CLIENT_SECRET), remember=True)
    assert memory.entries
    out = store.save(_suite(), Secrets(password=PASSWORD), remember=False)
    assert not out.secrets_stored
    assert memory.entries == {}
    opened = store.open("Sales")
    assert opened.saved.remember_secrets is False
    assert opened.missing == ("client_secret", "password")


def test_delete_removes_every_secret_of_the_profile(
    store: ConnectionStore, memory: MemoryKeyring
) -> None:
    store.save(_suite(), Secrets(password=PASSWORD, client_secret=CLIENT_SECRET), remember=True)
    store.save(_suite("Other"), Secrets(password="other-pw", client_secret="x"), remember=True)
    assert store.remember_refresh_token("Sales", "rt-token-distinctive")
    assert ("crmdesk:Sales", "refresh_token") in memory.entries

    assert store.delete("Sales") is True
    assert memory.services() == {"crmdesk:Other"}
    assert store.profiles.names() == ["Other"]


def test_switching_method_drops_the_old_methods_secrets(
    store: ConnectionStore, memory: MemoryKeyring
) -> None:
    espo = ConnectionProfile("Espo", "espocrm", "http://127.0.0.1:1", "password", "admin")
    store.save(espo, Secrets(password=PASSWORD), remember=True)
    hmac = ConnectionProfile("Espo", "espocrm", "http://127.0.0.1:1", "hmac")
    store.save(
        hmac, Secrets(api_key="ak-1234", secret_key="sk-5678", password=PASSWORD), remember=True
    )
    assert set(memory.entries) == {("crmdesk:Espo", "api_key"), ("crmdesk:Espo", "secret_key")}


def test_rename_carries_secrets_over(store: ConnectionStore, memory: MemoryKeyring) -> None:
    store.save(_suite(), Secrets(password=PASSWORD, client_secret=CLIENT_SECRET), remember=True)
    store.rename("Sales", "Sales EU")
    assert memory.services() == {"crmdesk:Sales EU"}
    assert store.open("Sales EU").secrets["password"] == PASSWORD

    # renaming while editing (save with replacing=) also moves them away from the old name
    store.save(
        _suite("Sales DE"),
        Secrets(password=PASSWORD, client_secret=CLIENT_SECRET),
        remember=True,
        replacing="Sales EU",
    )
    assert memory.services() == {"crmdesk:Sales DE"}


def test_sugar_optional_client_secret_is_not_missing(store: ConnectionStore) -> None:
    sugar = ConnectionProfile(
        "Sugar", "sugarcrm", "https://s.example.com", "password", "jim", {"client_id": "sugar"}
    )
    store.save(sugar, Secrets(password=PASSWORD, client_secret=""), remember=True)
    opened = store.open("Sugar")
    assert opened.missing == ()
    assert opened.secrets["client_secret"] == ""


@pytest.mark.parametrize(
    ("backend", "reason"),
    [
        (keyring.backends.fail.Keyring(), "No system keyring"),
        (keyring.backends.null.Keyring(), "discard"),
    ],
)
def test_unusable_keyring_is_detected_and_nothing_is_written(
    tmp_path: Path, backend: keyring.backend.KeyringBackend, reason: str
) -> None:
    with use_keyring(backend):
        secrets = SecretStore()
        assert not secrets.available
        assert reason in secrets.status.reason
        with pytest.raises(KeyringUnavailable) as info:
            secrets.set("Sales", "password", PASSWORD)
        assert PASSWORD not in str(info.value)

        store = ConnectionStore(ProfileStore(tmp_path), secrets)
        out = store.save(
            _suite(), Secrets(password=PASSWORD, client_secret=CLIENT_SECRET), remember=True
        )
        assert not out.secrets_stored
        assert reason in out.problem
        opened = store.open("Sales")
        assert opened.missing == ("client_secret", "password")
        assert store.delete("Sales")
    blob = _all_file_bytes(tmp_path)
    assert PASSWORD.encode() not in blob
    assert sorted(p.name for p in tmp_path.iterdir()) == ["profiles.json"]


def test_locked_keyring_is_reported_without_the_secret(memory: MemoryKeyring) -> None:
    memory.locked = True
    secrets = SecretStore()
    assert not secrets.available
    assert "locked" in secrets.status.reason
    memory.locked = False
    assert secrets.recheck().available
    secrets.set("Sales", "password", PASSWORD)
    memory.locked = True
    with pytest.raises(KeyringUnavailable, match="locked") as info:
        secrets.set("Sales", "password", PASSWORD + "2")
    assert PASSWORD not in str(info.value)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


def test_pinned_backend_wins_over_the_global_one(memory: MemoryKeyring) -> None:
    pinned = MemoryKeyring()
    SecretStore(pinned).set("P", "api_key", "k-pinned-1")
    assert pinned.entries == {("crmdesk:P", "api_key"): "k-pinned-1"}
    assert memory.entries == {}
