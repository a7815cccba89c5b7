"""Connection settings (no secrets) and the secrets that go with them (never written to disk)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ConnectionProfile:
    """Everything needed to reach a CRM except its secrets.  Safe to save in a file."""

    name: str
    dialect: str  # "suitecrm", "sugarcrm", "espocrm", "vtiger"
    base_url: str
    #: Sign-in method, per dialect: "password", "client_credentials", "api_key", "hmac", …
    auth: str = "password"
    username: str = ""
    #: Dialect-specific, non-secret settings (client_id, platform, flavour …).
    options: Mapping[str, str] = field(default_factory=dict)
    verify_tls: bool = True
    ca_bundle: str = ""
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    page_size: int = 100


class Secrets(Mapping[str, str]):
    """Passwords, client secrets, keys and tokens for one connection.

    Its ``repr`` names the keys only, so a stray log of it leaks nothing.
    """

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, str] | None = None, **kw: str) -> None:
        self._data: dict[str, str] = {**(data or {}), **kw}

    def __getitem__(self, key: str) -> str:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"Secrets({', '.join(sorted(self._data))})"

    __str__ = __repr__

    def values_to_redact(self) -> list[str]:
        return [v for v in self._data.values() if v]

    def with_(self, **kw: str) -> Secrets:
        return Secrets({**self._data, **kw})
