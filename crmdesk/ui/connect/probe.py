""" "Test connection": sign in, fetch the module list, say who is signed in.  No Qt here.

Every failure comes out as a :class:`~crmdesk.core.errors.CrmError` whose
message and advice are safe to show (no secret, no markup): adapters raise
those already; the few other things that can go wrong before the first
request (an unreadable CA bundle, a kind whose adapter is missing, a bug)
are turned into one here.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from crmdesk.backends import open_backend
from crmdesk.backends.redact import redact
from crmdesk.core.backend import Backend
from crmdesk.core.connection import ConnectionProfile, Secrets
from crmdesk.core.errors import ConfigurationError, CrmError, Unsupported
from crmdesk.core.records import UserInfo

log = logging.getLogger(__name__)

#: Builds a backend for a profile; :func:`crmdesk.backends.open_backend` unless a test says so.
Opener = Callable[[ConnectionProfile, Secrets], Backend]

#: Seconds a test waits for the backend's logout before it lets go.
CLOSE_TIMEOUT = 3.0


@dataclass(frozen=True, slots=True)
class ProbeResult:
    module_count: int
    #: Entity modules, by label, for the summary.
    module_labels: tuple[str, ...]
    user: UserInfo | None

    def summary(self) -> str:
        who = ""
        if self.user is not None:
            name = self.user.display_name or self.user.user_name
            who = f" Signed in as {name}" + (" (administrator)." if self.user.is_admin else ".")
        shown = ", ".join(self.module_labels[:6])
        more = f" and {len(self.module_labels) - 6} more" if len(self.module_labels) > 6 else ""
        modules = f" ({shown}{more})" if shown else ""
        return f"Connected. Found {self.module_count} modules{modules}.{who}"


def check_url(url: str) -> str:
    """The base URL trimmed, or ConfigurationError saying what is wrong with it."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(
            "The base URL must start with http:// or https:// and name a server.",
            advice="For example https://crm.example.com or https://example.com/suitecrm.",
        )
    if parts.query or parts.fragment:
        raise ConfigurationError(
            "The base URL must not contain '?' or '#'.",
            advice="Give the address of the CRM itself, without a page or query.",
        )
    return url.rstrip("/")


def _open(opener: Opener, profile: ConnectionProfile, secrets: Secrets) -> Backend:
    try:
        return opener(profile, secrets)
    except CrmError:
        raise
    except (OSError, ssl.SSLError) as exc:
        if profile.ca_bundle:
            raise ConfigurationError(
                f"The CA bundle {profile.ca_bundle} cannot be used ({type(exc).__name__}).",
                advice="Choose a PEM file with your organisation's CA certificates.",
            ) from None
        raise ConfigurationError(
            f"The connection cannot be set up ({type(exc).__name__})."
        ) from None


async def probe(
    profile: ConnectionProfile, secrets: Secrets, opener: Opener = open_backend
) -> ProbeResult:
    """Sign in, list modules, ask who we are; always closes the backend."""
    backend = _open(opener, profile, secrets)
    try:
        await backend.connect()
        modules = await backend.modules()
        user: UserInfo | None
        try:
            user = await backend.me()
        except Unsupported:
            user = None
        labels = tuple(m.label or m.name for m in modules if m.entity)
        return ProbeResult(len(modules), labels, user)
    except (CrmError, asyncio.CancelledError):
        raise
    except Exception as exc:
        # A bug, not a user's mistake: keep the details for the log, show the kind.
        log.error("test connection failed unexpectedly: %s", redact(repr(exc)))
        raise CrmError(
            f"The connection test failed unexpectedly ({type(exc).__name__}).",
            advice="This is a bug in crmdesk; the log has details.",
        ) from None
    finally:
        # Log out and release the client, but never keep a cancelled test waiting long.
        try:
            await asyncio.wait_for(backend.close(), CLOSE_TIMEOUT)
        except (CrmError, TimeoutError, asyncio.CancelledError):
            pass
        except Exception as exc:
            log.warning("closing the test connection failed: %s", type(exc).__name__)
