"""Connection profiles in a readable JSON file in the config directory — never a secret.

The file (``profiles.json``) looks like::

    {
      "format": 1,
      "last_used": "Sales CRM",
      "profiles": [
        {"name": "Sales CRM", "dialect": "suitecrm", "base_url": "https://crm.example.com",
         "auth": "password", "username": "jane", "options": {"client_id": "…"},
         "verify_tls": true, "ca_bundle": "", "connect_timeout": 10.0, "read_timeout": 60.0,
         "page_size": 100, "remember_secrets": true}
      ]
    }

Every change re-reads the file, applies itself and writes the whole file
atomically (temporary file in the same directory, fsync, rename), so a crash
or a full disk never leaves half a file.  Option names that look like secrets
(``password``, ``client_secret``, ``api_key``, ``token`` …) are refused: those
belong in the keyring (:mod:`crmdesk.storage.secrets`).

All calls are synchronous and cheap (a few kB of JSON); a UI may call them on
its thread.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from crmdesk.core.connection import ConnectionProfile
from crmdesk.core.errors import ConfigurationError
from crmdesk.storage.paths import config_dir, ensure_private_dir

log = logging.getLogger(__name__)

FILENAME = "profiles.json"
FORMAT = 1

#: Option names that smell of a secret.  Such a value must go to the keyring, not the file.
SECRET_KEY_PATTERN = re.compile(
    r"(?i)(pass(word|wd|phrase)?|secret|token|api[_-]?key|access[_-]?key|private[_-]?key"
    r"|credential|session[_-]?(name|id)|auth[_-]?code|cookie)"
)
_NAME_BAD = re.compile(r"[\x00-\x1f\x7f]")


class ProfileError(ConfigurationError):
    """A profile cannot be saved or the profile file cannot be read."""


def looks_secret(key: str) -> bool:
    return SECRET_KEY_PATTERN.search(key) is not None


@dataclass(frozen=True, slots=True)
class SavedProfile:
    """A profile as stored, with the user's choice about keeping its secrets in the keyring."""

    profile: ConnectionProfile
    remember_secrets: bool = True

    @property
    def name(self) -> str:
        return self.profile.name


def validate_profile(profile: ConnectionProfile) -> None:
    """Raise :class:`ProfileError` when ``profile`` cannot be saved as it is."""
    name = profile.name
    if not name.strip():
        raise ProfileError("The profile needs a name.", advice="Enter a name for this connection.")
    if name != name.strip() or _NAME_BAD.search(name):
        raise ProfileError(
            "The profile name has leading or trailing spaces or control characters.",
            advice="Use a plain name such as 'Sales CRM'.",
        )
    if not profile.dialect:
        raise ProfileError("The profile has no CRM kind.", advice="Choose the kind of CRM.")
    for key, value in profile.options.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ProfileError(f"Option {key!r} of profile {name!r} is not text.")
        if looks_secret(key):
            raise ProfileError(
                f"Option {key!r} looks like a secret and is never written to the profile file.",
                advice="Pass it as a secret; crmdesk keeps secrets in the system keyring only.",
            )
    if profile.page_size < 1:
        raise ProfileError("The page size must be at least 1.")
    if profile.connect_timeout <= 0 or profile.read_timeout <= 0:
        raise ProfileError("Time-outs must be more than zero seconds.")


def profile_to_dict(saved: SavedProfile) -> dict[str, Any]:
    p = saved.profile
    return {
        "name": p.name,
        "dialect": p.dialect,
        "base_url": p.base_url,
        "auth": p.auth,
        "username": p.username,
        "options": dict(sorted(p.options.items())),
        "verify_tls": p.verify_tls,
        "ca_bundle": p.ca_bundle,
        "connect_timeout": p.connect_timeout,
        "read_timeout": p.read_timeout,
        "page_size": p.page_size,
        "remember_secrets": saved.remember_secrets,
    }


def _str(d: Mapping[str, Any], key: str, default: str = "") -> str:
    value = d.get(key, default)
    if not isinstance(value, str):
        raise TypeError(f"{key} must be text")
    return value


def _num(d: Mapping[str, Any], key: str, default: float) -> float:
    value = d.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{key} must be a number")
    return float(value)


def _bool(d: Mapping[str, Any], key: str, default: bool) -> bool:
    value = d.get(key, default)
    if not isinstance(value, bool):
        raise TypeError(f"{key} must be true or false")
    return value


def profile_from_dict(d: Mapping[str, Any]) -> SavedProfile:
    """Parse one entry; raises TypeError / ValueError for what a hand edit may have broken."""
    raw_options = d.get("options", {})
    if not isinstance(raw_options, dict):
        raise TypeError("options must be an object")
    options: dict[str, str] = {}
    for key, value in raw_options.items():
        if looks_secret(str(key)):
            # Someone edited the file by hand: keep the value out of memory and say so.
            log.warning("ignoring option %r in the profile file: secrets go in the keyring", key)
            continue
        options[str(key)] = str(value)
    name = _str(d, "name")
    dialect = _str(d, "dialect")
    if not name or not dialect:
        raise ValueError("name and dialect are required")
    page_size = int(_num(d, "page_size", 100))
    profile = ConnectionProfile(
        name=name,
        dialect=dialect,
        base_url=_str(d, "base_url"),
        auth=_str(d, "auth", "password"),
        username=_str(d, "username"),
        options=options,
        verify_tls=_bool(d, "verify_tls", True),
        ca_bundle=_str(d, "ca_bundle"),
        connect_timeout=_num(d, "connect_timeout", 10.0),
        read_timeout=_num(d, "read_timeout", 60.0),
        page_size=page_size,
    )
    return SavedProfile(profile, _bool(d, "remember_secrets", True))


def atomic_write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that readers see the old or the new file, never half.

    The file is created readable by its owner only.
    """
    ensure_private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if os.name == "posix":  # make the rename itself durable
        with contextlib.suppress(OSError):
            dfd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)


class ProfileStore:
    """Load, save, rename and delete profiles in ``<config dir>/profiles.json``.

    ``directory`` overrides the config directory (tests); otherwise
    ``CRMDESK_CONFIG_DIR`` or the platform's config directory is used.
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = config_dir(directory)
        self.path = self.directory / FILENAME

    # -- reading ---------------------------------------------------------------------
    def _read(self) -> tuple[list[SavedProfile], str]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return [], ""
        except OSError as exc:
            raise ProfileError(
                f"The profile file {self.path} cannot be read ({exc.strerror}).",
                advice="Check its permissions.",
            ) from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ProfileError(
                f"The profile file {self.path} is not valid JSON (line {exc.lineno}, column "
                f"{exc.colno}: {exc.msg}).",
                advice="Fix it in a text editor, or move it away to start with no profiles.",
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("profiles", []), list):
            raise ProfileError(
                f"The profile file {self.path} does not hold a list of profiles.",
                advice="Fix it in a text editor, or move it away to start with no profiles.",
            )
        result: list[SavedProfile] = []
        seen: set[str] = set()
        for i, entry in enumerate(data.get("profiles", [])):
            try:
                if not isinstance(entry, dict):
                    raise TypeError("not an object")
                saved = profile_from_dict(entry)
            except (TypeError, ValueError) as exc:
                log.warning("skipping profile #%d in %s: %s", i + 1, self.path, exc)
                continue
            if saved.name in seen:
                log.warning("skipping a second profile named %r in %s", saved.name, self.path)
                continue
            seen.add(saved.name)
            result.append(saved)
        last = data.get("last_used", "")
        return result, last if isinstance(last, str) else ""

    def load_all(self) -> list[SavedProfile]:
        """Every profile, sorted by name (case-insensitive)."""
        profiles, _ = self._read()
        return sorted(profiles, key=lambda s: s.name.casefold())

    def names(self) -> list[str]:
        return [s.name for s in self.load_all()]

    def get(self, name: str) -> SavedProfile | None:
        for saved in self._read()[0]:
            if saved.name == name:
                return saved
        return None

    @property
    def last_used(self) -> str:
        """The name of the profile used last ("" when none, or when it was deleted)."""
        profiles, last = self._read()
        return last if any(s.name == last for s in profiles) else ""

    # -- writing ---------------------------------------------------------------------
    def _write(self, profiles: list[SavedProfile], last_used: str) -> None:
        for saved in profiles:
            validate_profile(saved.profile)
        data = {
            "format": FORMAT,
            "last_used": last_used,
            "profiles": [
                profile_to_dict(s) for s in sorted(profiles, key=lambda s: s.name.casefold())
            ],
        }
        atomic_write_text(self.path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")

    def save(
        self,
        profile: ConnectionProfile,
        *,
        remember_secrets: bool = True,
        replacing: str | None = None,
    ) -> SavedProfile:
        """Add or replace ``profile``.

        ``replacing`` is the profile's previous name when the user renamed it while
        editing; another profile already holding the new name is an error.
        """
        validate_profile(profile)
        profiles, last = self._read()
        old_name = replacing if replacing is not None else profile.name
        if profile.name != old_name and any(s.name == profile.name for s in profiles):
            raise ProfileError(
                f"A profile named {profile.name!r} already exists.",
                advice="Choose another name.",
            )
        saved = SavedProfile(profile, remember_secrets)
        kept = [s for s in profiles if s.name not in (old_name, profile.name)]
        if last == old_name:
            last = profile.name
        self._write([*kept, saved], last)
        return saved

    def delete(self, name: str) -> bool:
        """Remove the profile; True if it existed.  (Its secrets: see ConnectionStore.)"""
        profiles, last = self._read()
        kept = [s for s in profiles if s.name != name]
        if len(kept) == len(profiles):
            return False
        self._write(kept, "" if last == name else last)
        return True

    def rename(self, old: str, new: str) -> SavedProfile:
        saved = self.get(old)
        if saved is None:
            raise ProfileError(f"There is no profile named {old!r}.")
        return self.save(
            replace(saved.profile, name=new),
            remember_secrets=saved.remember_secrets,
            replacing=old,
        )

    def set_last_used(self, name: str) -> None:
        profiles, last = self._read()
        if last != name and any(s.name == name for s in profiles):
            self._write(profiles, name)
