"""CRM dialects.  Each module implements :class:`crmdesk.core.backend.Backend` for one CRM.

Constructor convention: ``Backend(profile, secrets, transport)``.
"""

from __future__ import annotations

from crmdesk.backends.redact import install_log_filter
from crmdesk.backends.transport import Transport, make_client, register_secrets
from crmdesk.core.backend import Backend
from crmdesk.core.connection import ConnectionProfile, Secrets
from crmdesk.core.registry import backend_class


def open_backend(profile: ConnectionProfile, secrets: Secrets) -> Backend:
    """A ready-to-connect backend for ``profile``: its own HTTP client and transport."""
    install_log_filter()
    register_secrets(secrets)
    cls = backend_class(profile.dialect)
    transport = Transport(make_client(profile))
    return cls(profile, secrets, transport)  # type: ignore[call-arg]
