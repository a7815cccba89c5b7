"""An in-memory keyring backend for tests, set explicitly with ``keyring.set_keyring``.

Never a file: what a test stores vanishes with the process.  ``locked`` makes
every call raise ``KeyringLocked`` like a locked desktop keyring.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import keyring
import keyring.backend
import keyring.errors


class MemoryKeyring(keyring.backend.KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}
        self.locked = False

    def _check(self) -> None:
        if self.locked:
            raise keyring.errors.KeyringLocked("the test keyring is locked")

    def get_password(self, service: str, username: str) -> str | None:
        self._check()
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self._check()
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self._check()
        try:
            del self.entries[(service, username)]
        except KeyError:
            raise keyring.errors.PasswordDeleteError("no such entry") from None

    def services(self) -> set[str]:
        return {service for service, _ in self.entries}


@contextmanager
def use_keyring(backend: keyring.backend.KeyringBackend) -> Iterator[None]:
    """Make ``backend`` the process's keyring for the block, then restore the previous one."""
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        yield
    finally:
        keyring.set_keyring(previous)
