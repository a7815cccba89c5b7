"""The connection dialog and its Qt-free helpers (sign-in methods, connection test)."""

from __future__ import annotations

from crmdesk.ui.connect.dialog import ConnectDialog, describe_error
from crmdesk.ui.connect.probe import ProbeResult, probe

__all__ = ["ConnectDialog", "ProbeResult", "describe_error", "probe"]
