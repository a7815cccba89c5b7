"""SuiteCRM REST API v8 (``Api/V8``): see :mod:`crmdesk.backends.suitecrm.backend`."""

from __future__ import annotations

from crmdesk.backends.suitecrm.backend import SuiteCrmBackend

__all__ = ["SuiteCrmBackend"]
