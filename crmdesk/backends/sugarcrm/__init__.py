"""SugarCRM REST v11 (``/rest/v11/`` and ``/rest/v11_N/``)."""

from __future__ import annotations

from crmdesk.backends.sugarcrm.backend import BulkCall, MetadataCache, SugarCrmBackend
from crmdesk.backends.sugarcrm.wire import MetadataOutOfDate

__all__ = ["BulkCall", "MetadataCache", "MetadataOutOfDate", "SugarCrmBackend"]
