"""Vtiger, both flavours: Cloud ``restapi/v1`` and open-source ``webservice.php``."""

from __future__ import annotations

from crmdesk.backends.vtiger.backend import VtigerBackend
from crmdesk.backends.vtiger.wire import FileContent, HierarchyNode

__all__ = ["FileContent", "HierarchyNode", "VtigerBackend"]
