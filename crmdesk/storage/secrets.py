"""Secrets in the OS keyring only, one keyring service per profile (``crmdesk:<profile>``).

There is no plaintext fallback.  When the keyring cannot be used — keyring's
``fail`` backend (a headless Linux without Secret Service), the ``null``
backend, a locked or broken keyring — :attr:`SecretStore.status` says so
with a reason, writes raise :class:`KeyringUnavailable`, and the UI asks for
the secret each time instead.

keyring has no "list the entries of a service" call, so deleting a profile's
secrets deletes every name in :data:`~crmdesk.storage.signin.ALL_SECRET_NAMES`.

Calls are synchronous.  With the desktop keyrings they are one D-Bus / system
call each; a UI that cares may run them with ``asyncio.to_thread``.  No
method puts a secret value into an exception message or a log line.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import keyring
import keyring.backend
import keyring.errors

from crmdesk.core.connection import Secrets
from crmdesk.core.errors import ConfigurationError
from crmdesk.storage.signin import ALL_SECRET_NAMES

log = logging.getLogger(__name__)

SERVICE_PREFIX = "crmdesk:"
_PROBE_SERVICE = "crmdesk:(probe)"
_PROBE_USER = "probe"

_UNAVAILABLE_ADVICE = (
    "crmdesk will ask for passwords and keys each time it connects and keep them in memory "
    "only. To remember them, install and unlock a keyring (GNOME Keyring, KWallet, the macOS "
    "Keychain or the Windows Credential Manager)."
)


def service_name(profile_name: str) -> str:
    return f"{SERVICE_PREFIX}{profile_name}"


class KeyringUnavailable(ConfigurationError):
    """The system keyring cannot store or read secrets right now."""

    default_advice = _UNAVAILABLE_ADVICE


@dataclass(frozen=True, slots=True)
class KeyringStatus:
    available: bool
    #: Why it is unavailable, in words a user understands ("" when available).
    reason: str = ""
    #: The keyring backend's name, for the log and the About box.
    backend: str = ""


def _backend_name(kr: keyring.backend.KeyringBackend) -> str:
    cls = type(kr)
    return f"{cls.__module__}.{cls.__qualname__}"


def check_backend(kr: keyring.backend.KeyringBackend) -> KeyringStatus:
    """Whether ``kr`` can really keep secrets: class checks, then one harmless read."""
    name = _backend_name(kr)
    if name.startswith("keyring.backends.fail."):
        return KeyringStatus(
            False, "No system keyring was found (no Secret Service, KWallet or similar).", name
        )
    if name.startswith("keyring.backends.null."):
        return KeyringStatus(False, "The keyring is configured to discard secrets.", name)
    try:
        kr.get_password(_PROBE_SERVICE, _PROBE_USER)
    except keyring.errors.KeyringLocked:
        return KeyringStatus(False, "The system keyring is locked.", name)
    except keyring.errors.NoKeyringError:
        return KeyringStatus(False, "No system keyring was found.", name)
    except Exception as exc:  # D-Bus and OS errors come in many types
        reason = f"The system keyring does not answer ({type(exc).__name__})."
        return KeyringStatus(False, reason, name)
    return KeyringStatus(True, "", name)


class SecretStore:
    """Get, set and delete the secrets of each profile in the OS keyring.

    ``backend`` pins a keyring backend; by default the one keyring chose (or the
    one a test set with ``keyring.set_keyring``) is used at each call.
    """

    def __init__(self, backend: keyring.backend.KeyringBackend | None = None) -> None:
        self._backend = backend
        self._status: KeyringStatus | None = None

    def _kr(self) -> keyring.backend.KeyringBackend:
        return self._backend if self._backend is not None else keyring.get_keyring()

    # -- availability ----------------------------------------------------------------
    @property
    def status(self) -> KeyringStatus:
        """Checked once, then remembered; :meth:`recheck` after the user unlocked a keyring."""
        if self._status is None or self._status.backend != _backend_name(self._kr()):
            self._status = check_backend(self._kr())
            if not self._status.available:
                log.info("keyring unavailable: %s (%s)", self._status.reason, self._status.backend)
        return self._status

    @property
    def available(self) -> bool:
        return self.status.available

    def recheck(self) -> KeyringStatus:
        self._status = None
        return self.status

    def _require(self) -> keyring.backend.KeyringBackend:
        st = self.status
        if not st.available:
            raise KeyringUnavailable(st.reason)
        return self._kr()

    def _failed(self, what: str, exc: Exception) -> KeyringUnavailable:
        self._status = None  # look again next time
        if isinstance(exc, keyring.errors.KeyringLocked):
            return KeyringUnavailable(f"Could not {what}: the system keyring is locked.")
        return KeyringUnavailable(f"Could not {what} in the system keyring ({type(exc).__name__}).")

    # -- one secret ------------------------------------------------------------------
    def get(self, profile_name: str, key: str) -> str | None:
        kr = self._require()
        try:
            return kr.get_password(service_name(profile_name), key)
        except Exception as exc:
            raise self._failed(f"read {key!r} of profile {profile_name!r}", exc) from None

    def set(self, profile_name: str, key: str, value: str) -> None:
        """Store one secret; an empty value deletes it instead (not every keyring keeps "")."""
        if not value:
            self.delete(profile_name, key)
            return
        kr = self._require()
        try:
            kr.set_password(service_name(profile_name), key, value)
        except Exception as exc:
            raise self._failed(f"store {key!r} of profile {profile_name!r}", exc) from None

    def delete(self, profile_name: str, key: str) -> None:
        """Delete one secret; absent is fine."""
        kr = self._require()
        try:
            kr.delete_password(service_name(profile_name), key)
        except keyring.errors.PasswordDeleteError:
            pass
        except Exception as exc:
            raise self._failed(f"delete {key!r} of profile {profile_name!r}", exc) from None

    # -- a profile's secrets ---------------------------------------------------------
    def load(self, profile_name: str, names: Iterable[str] = ALL_SECRET_NAMES) -> Secrets:
        """The stored secrets among ``names`` (absent ones are left out)."""
        found: dict[str, str] = {}
        for key in names:
            value = self.get(profile_name, key)
            if value:
                found[key] = value
        return Secrets(found)

    def store(self, profile_name: str, secrets: Mapping[str, str]) -> None:
        for key, value in secrets.items():
            self.set(profile_name, key, value)

    def forget(self, profile_name: str, names: Iterable[str] = ALL_SECRET_NAMES) -> None:
        """Delete every secret of the profile (all names crmdesk ever stores by default)."""
        for key in dict.fromkeys([*names, *ALL_SECRET_NAMES]):
            self.delete(profile_name, key)

    def move(self, old_name: str, new_name: str) -> None:
        """Carry a renamed profile's secrets over to its new service name."""
        if old_name == new_name:
            return
        found = self.load(old_name)
        self.store(new_name, found)
        self.forget(old_name)
