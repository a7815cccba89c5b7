"""Where crmdesk keeps its files: config (profiles), cache (metadata) and logs.

Each directory comes from, in order: an explicit argument (tests), an
environment variable (``CRMDESK_CONFIG_DIR``, ``CRMDESK_CACHE_DIR``,
``CRMDESK_LOG_DIR``), the platform's convention (platformdirs).  Nothing is
created until something is written.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "crmdesk"

CONFIG_ENV = "CRMDESK_CONFIG_DIR"
CACHE_ENV = "CRMDESK_CACHE_DIR"
LOG_ENV = "CRMDESK_LOG_DIR"


def _pick(explicit: str | os.PathLike[str] | None, env: str, default: Path) -> Path:
    if explicit is not None:
        return Path(explicit)
    value = os.environ.get(env, "").strip()
    return Path(value).expanduser() if value else default


def config_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    return _pick(explicit, CONFIG_ENV, platformdirs.user_config_path(APP_NAME, appauthor=False))


def cache_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    return _pick(explicit, CACHE_ENV, platformdirs.user_cache_path(APP_NAME, appauthor=False))


def log_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    return _pick(explicit, LOG_ENV, platformdirs.user_log_path(APP_NAME, appauthor=False))


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) readable by the user only, where the OS has modes."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path
