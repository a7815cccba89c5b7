"""The rotating log file in the platform log directory (``CRMDESK_LOG_DIR`` overrides it).

Secrets are scrubbed when a record is made (``crmdesk.backends.redact`` installs
a record factory when a backend opens), so the file handler writes them as they
come.  ``app.py`` calls :func:`install_file_log` once at start; Help → Show log
opens :func:`log_file_path`.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path

from crmdesk.storage.paths import ensure_private_dir, log_dir

FILENAME = "crmdesk.log"
MAX_BYTES = 1_000_000
BACKUPS = 3
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_file_path(directory: str | os.PathLike[str] | None = None) -> Path:
    return log_dir(directory) / FILENAME


def install_file_log(
    directory: str | os.PathLike[str] | None = None,
    *,
    level: int = logging.INFO,
    logger: logging.Logger | None = None,
) -> logging.handlers.RotatingFileHandler:
    """Attach a rotating file handler to ``logger`` (the root logger by default).

    Returns the handler so the caller (or a test) can remove and close it.
    """
    path = log_file_path(directory)
    ensure_private_dir(path.parent)
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8", delay=True
    )
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter(FORMAT))
    target = logger if logger is not None else logging.getLogger()
    target.addHandler(handler)
    if target.level == logging.NOTSET or target.level > level:
        target.setLevel(level)
    return handler
