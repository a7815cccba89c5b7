"""Open connections: sign in (resuming with a stored refresh token), keep rotated
refresh tokens in the keyring, log out or let go.

No widgets here; the main window calls :func:`sign_in` and keeps a
:class:`Connection` per open CRM.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from crmdesk.backends import open_backend
from crmdesk.core.backend import Backend
from crmdesk.core.connection import ConnectionProfile, Secrets
from crmdesk.core.errors import AuthError, CrmError
from crmdesk.core.records import UserInfo
from crmdesk.core.registry import LABELS
from crmdesk.storage import paths
from crmdesk.storage.connections import ConnectionStore

log = logging.getLogger(__name__)

#: Builds a backend for a profile (tests may count or wrap it).
Opener = Callable[[ConnectionProfile, Secrets], Backend]

#: Dialects that sign in again with a stored refresh token instead of the password.
RESUMABLE = frozenset({"suitecrm", "sugarcrm"})

#: Seconds closing a connection may take before crmdesk lets go of it.
CLOSE_TIMEOUT = 5.0

_ids = itertools.count(1)


@dataclass(eq=False)
class Connection:
    """One open CRM connection, as the window tracks it."""

    name: str
    profile: ConnectionProfile
    backend: Backend
    #: True when the profile is saved with "remember" on: refresh tokens go to the keyring.
    remembered: bool = False
    user: UserInfo | None = None
    id: int = field(default_factory=lambda: next(_ids))

    @property
    def kind(self) -> str:
        return LABELS.get(self.profile.dialect, self.profile.dialect).split(" (")[0]

    @property
    def verify_tls(self) -> bool:
        return self.profile.verify_tls

    @property
    def user_text(self) -> str:
        if self.user is None:
            return ""
        return self.user.display_name or self.user.user_name

    @property
    def title(self) -> str:
        """The tree's line for this connection: name, and who is signed in."""
        who = self.user_text
        return f"{self.name} — {who}" if who else self.name

    def tooltip(self) -> str:
        lines = [f"{self.name}: {self.kind}", self.profile.base_url]
        if self.user is not None:
            admin = " (administrator)" if self.user.is_admin else ""
            lines.append(f"Signed in as {self.user_text}{admin}")
        if not self.verify_tls:
            lines.append("TLS certificate verification is OFF")
        return "\n".join(lines)


def watch_refresh_tokens(backend: Backend, keep: Callable[[str], object] | None) -> None:
    """Call ``keep(token)`` with every refresh token the CRM issues (they rotate at use).

    SuiteCRM's adapter announces ``on_tokens(access, refresh)``, Sugar's
    ``on_refresh_token(refresh)``; other dialects have no refresh tokens.
    """
    if hasattr(backend, "on_tokens"):

        def tokens(_access: str, refresh: str | None) -> None:
            if refresh and keep is not None:
                keep(refresh)

        backend.on_tokens = tokens if keep is not None else None
    if hasattr(backend, "on_refresh_token"):
        backend.on_refresh_token = keep


def can_resume(profile: ConnectionProfile, secrets: Secrets) -> bool:
    """True when a stored refresh token may sign in without the missing secrets."""
    return profile.dialect in RESUMABLE and bool(secrets.get("refresh_token"))


def profile_cache_dir(
    profile: ConnectionProfile, root: str | os.PathLike[str] | None = None
) -> Path:
    """The directory of ``profile``'s metadata cache: one per profile under the platform
    cache dir (``CRMDESK_CACHE_DIR`` wins), named after the profile and its dialect."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", profile.name).strip("-")[:40] or "profile"
    digest = hashlib.sha256(f"{profile.dialect}\0{profile.name}".encode()).hexdigest()[:12]
    return paths.cache_dir(root) / "metadata" / f"{profile.dialect}-{slug}-{digest}"


def signin_profile(profile: ConnectionProfile, secrets: Secrets) -> ConnectionProfile:
    """The profile as the adapter should see it: Sugar resumes through its
    ``refresh_token`` method (falling back to the password when it has one), and every
    adapter that caches metadata gets the profile's cache directory (added here, at
    connect time, so it is never written into the saved profile)."""
    if "cache_dir" not in profile.options:
        options = {**profile.options, "cache_dir": str(profile_cache_dir(profile))}
        profile = replace(profile, options=options)
    if (
        profile.dialect == "sugarcrm"
        and profile.auth == "password"
        and can_resume(profile, secrets)
    ):
        return replace(profile, auth="refresh_token")
    return profile


async def sign_in(
    profile: ConnectionProfile,
    secrets: Secrets,
    *,
    store: ConnectionStore | None = None,
    remembered: bool = False,
    opener: Opener = open_backend,
) -> Connection:
    """Open and sign in a backend for ``profile``; rotated refresh tokens go to ``store``.

    Raises the adapter's CrmError (the backend is closed then).  The returned
    connection's ``profile`` is the saved one (not the adapter's resume variant).
    """
    backend = opener(signin_profile(profile, secrets), secrets)
    keep: Callable[[str], object] | None = None
    if store is not None and remembered:
        name = profile.name

        def keep(token: str) -> object:
            return store.remember_refresh_token(name, token)

    watch_refresh_tokens(backend, keep)
    try:
        await backend.connect()
    except BaseException:
        watch_refresh_tokens(backend, None)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(backend.close(), CLOSE_TIMEOUT)
        raise
    return Connection(profile.name, profile, backend, remembered=remembered)


def is_auth_failure(exc: BaseException) -> bool:
    return isinstance(exc, AuthError)


async def fetch_user(conn: Connection) -> UserInfo | None:
    """Who is signed in, or None when the CRM does not say (or the call fails)."""
    try:
        conn.user = await conn.backend.me()
    except CrmError as exc:
        log.info("%s: no user information (%s)", conn.name, exc.message)
        return None
    return conn.user


async def disconnect(conn: Connection, store: ConnectionStore | None) -> None:
    """Log out where the CRM has a logout call, and forget the stored refresh token."""
    watch_refresh_tokens(conn.backend, None)
    if store is not None and conn.remembered and store.secrets.available:
        try:
            store.secrets.delete(conn.name, "refresh_token")
        except CrmError as exc:
            log.warning("the refresh token of %r may remain: %s", conn.name, exc.message)
    await _bounded(conn.backend.close(), conn.name)


async def let_go(conn: Connection) -> None:
    """On quit: keep a remembered session alive for the next start, else log out."""
    watch_refresh_tokens(conn.backend, None)
    if conn.remembered and conn.profile.dialect in RESUMABLE:
        await _bounded(conn.backend.release(), conn.name)
    else:
        await _bounded(conn.backend.close(), conn.name)


async def _bounded(closing: object, name: str) -> None:
    assert asyncio.iscoroutine(closing)
    try:
        await asyncio.wait_for(closing, CLOSE_TIMEOUT)
    except (CrmError, TimeoutError) as exc:
        log.info("closing %r: %s", name, type(exc).__name__)
