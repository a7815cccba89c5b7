"""EspoCRM api/v1: API key, HMAC and token sign-in; Metadata-driven modules; where[] filters."""

from __future__ import annotations

from crmdesk.backends.espocrm.backend import EspoCrmBackend

__all__ = ["EspoCrmBackend"]
