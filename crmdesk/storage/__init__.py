"""Connection profiles (no secrets), secrets in the OS keyring, the metadata cache, log file."""

from __future__ import annotations

from crmdesk.storage.cache import MODULE_LIST, CacheEntry, MetadataCache
from crmdesk.storage.connections import ConnectionStore, OpenedProfile, SaveOutcome
from crmdesk.storage.profiles import ProfileError, ProfileStore, SavedProfile
from crmdesk.storage.secrets import KeyringStatus, KeyringUnavailable, SecretStore, service_name

__all__ = [
    "MODULE_LIST",
    "CacheEntry",
    "ConnectionStore",
    "KeyringStatus",
    "KeyringUnavailable",
    "MetadataCache",
    "OpenedProfile",
    "ProfileError",
    "ProfileStore",
    "SaveOutcome",
    "SavedProfile",
    "SecretStore",
    "service_name",
]
