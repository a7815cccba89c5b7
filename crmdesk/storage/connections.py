"""Profiles and their secrets, kept together: the API the UI and the app call.

store = ConnectionStore()                      # platform dirs, system keyring
opened = store.open("Sales CRM")               # profile + remembered secrets
if opened.missing: ...ask for opened.missing...
store.save(profile, secrets, remember=True)    # profile file + keyring
store.delete("Sales CRM")                      # profile and its secrets
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from crmdesk.core.connection import ConnectionProfile, Secrets
from crmdesk.storage.profiles import ProfileError, ProfileStore, SavedProfile
from crmdesk.storage.secrets import KeyringUnavailable, SecretStore
from crmdesk.storage.signin import ALL_SECRET_NAMES, method_spec

log = logging.getLogger(__name__)


def secret_names(profile: ConnectionProfile) -> tuple[str, ...]:
    spec = method_spec(profile.dialect, profile.auth)
    return spec.secret_names if spec else ()


def required_secret_names(profile: ConnectionProfile) -> tuple[str, ...]:
    spec = method_spec(profile.dialect, profile.auth)
    if spec is None:
        return ()
    return tuple(f.key for f in spec.fields if f.key in spec.secret_names and f.required)


@dataclass(frozen=True, slots=True)
class OpenedProfile:
    saved: SavedProfile
    #: What the keyring had for this profile (empty when not remembered or unavailable).
    secrets: Secrets
    #: Required secrets the user must still type in before connecting.
    missing: tuple[str, ...]

    @property
    def profile(self) -> ConnectionProfile:
        return self.saved.profile


@dataclass(frozen=True, slots=True)
class SaveOutcome:
    saved: SavedProfile
    #: True when the secrets are now in the keyring.
    secrets_stored: bool
    #: Why they are not, when the user asked for it ("" otherwise).
    problem: str = ""


class ConnectionStore:
    def __init__(
        self, profiles: ProfileStore | None = None, secrets: SecretStore | None = None
    ) -> None:
        self.profiles = profiles if profiles is not None else ProfileStore()
        self.secrets = secrets if secrets is not None else SecretStore()

    def list(self) -> list[SavedProfile]:
        return self.profiles.load_all()

    def open(self, name: str) -> OpenedProfile:
        saved = self.profiles.get(name)
        if saved is None:
            raise ProfileError(f"There is no connection profile named {name!r}.")
        secrets = Secrets()
        if saved.remember_secrets and self.secrets.available:
            try:
                secrets = self.secrets.load(name, (*secret_names(saved.profile), "refresh_token"))
            except KeyringUnavailable as exc:
                log.warning("%s", exc.message)
        # Optional secrets (Sugar's empty client secret) default to "".
        for key in secret_names(saved.profile):
            if key not in secrets and key not in required_secret_names(saved.profile):
                secrets = secrets.with_(**{key: ""})
        missing = tuple(k for k in required_secret_names(saved.profile) if not secrets.get(k))
        return OpenedProfile(saved, secrets, missing)

    def save(
        self,
        profile: ConnectionProfile,
        secrets: Secrets,
        *,
        remember: bool,
        replacing: str | None = None,
    ) -> SaveOutcome:
        """Save the profile; keep its sign-in secrets in the keyring if ``remember``.

        Secrets of other methods (left over after switching methods) and those of a
        previous name are removed.  When the keyring fails the profile is still saved
        and the outcome says why the secrets were not.
        """
        saved = self.profiles.save(profile, remember_secrets=remember, replacing=replacing)
        names = secret_names(profile)
        problem = ""
        stored = False
        if self.secrets.available:
            try:
                if replacing is not None and replacing != profile.name:
                    self.secrets.forget(replacing)
                if remember:
                    keep = {k: secrets.get(k, "") for k in names}
                    if "refresh_token" in secrets:
                        keep["refresh_token"] = secrets["refresh_token"]
                    self.secrets.store(profile.name, keep)
                    for stale in ALL_SECRET_NAMES:
                        if stale not in keep:
                            self.secrets.delete(profile.name, stale)
                    stored = True
                else:
                    self.secrets.forget(profile.name)
            except KeyringUnavailable as exc:
                problem = exc.message
        elif remember:
            problem = self.secrets.status.reason
        return SaveOutcome(saved, stored, problem)

    def delete(self, name: str) -> bool:
        """Delete the profile and every secret stored for it.  True if the profile existed."""
        if self.secrets.available:
            try:
                self.secrets.forget(name)
            except KeyringUnavailable as exc:
                log.warning("secrets of %r may remain in the keyring: %s", name, exc.message)
        return self.profiles.delete(name)

    def rename(self, old: str, new: str) -> SavedProfile:
        saved = self.profiles.rename(old, new)
        if self.secrets.available:
            self.secrets.move(old, new)
        return saved

    def remember_refresh_token(self, name: str, token: str) -> bool:
        """Keep a CRM's new refresh token (rotated at each use) if the user chose to remember."""
        saved = self.profiles.get(name)
        if saved is None or not saved.remember_secrets or not self.secrets.available:
            return False
        try:
            self.secrets.set(name, "refresh_token", token)
        except KeyringUnavailable:
            return False
        return True
