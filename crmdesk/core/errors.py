"""The one error hierarchy every layer above the wire sees.

Adapters turn HTTP statuses and bodies into these; no httpx exception ever
reaches the UI.  Each error carries a ``message`` (what happened) and an
``advice`` (what to do), both safe to show: never a secret, never raw HTML.

    CrmError
     ├── AuthError            credentials refused, token expired and refresh failed
     ├── PermissionDenied     signed in, but the CRM's ACL forbids this
     ├── NotFound             module, record, link or route does not exist
     ├── Conflict             someone else changed the record (carries it)
     ├── ValidationError      the CRM refused values (per-field messages)
     ├── RateLimited          too many requests (carries retry_after)
     ├── Unavailable          network down, timeout, 502/503/504
     ├── ServerError          the CRM failed (500) for a reason it did not give
     ├── ProtocolError        the server sent what it never should (HTML, truncated JSON)
     ├── Unsupported          the dialect cannot do this (see Capabilities)
     └── ConfigurationError   the connection settings cannot work (bad URL, wrong API version)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crmdesk.core.records import Record


class CrmError(Exception):
    """Base of every error crmdesk shows to a user."""

    default_advice = ""

    def __init__(
        self,
        message: str,
        *,
        advice: str | None = None,
        status: int | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.advice = self.default_advice if advice is None else advice
        #: HTTP status the server answered, when there was one.
        self.status = status
        #: Technical detail for the log / "details" button (already redacted).
        self.detail = detail

    def __str__(self) -> str:
        if self.advice:
            return f"{self.message} {self.advice}"
        return self.message

    @property
    def title(self) -> str:
        return type(self).__name__


class AuthError(CrmError):
    default_advice = (
        "Check the user name, password or key in the connection settings and sign in again."
    )


class PermissionDenied(CrmError):
    default_advice = (
        "Your CRM user is not allowed to do this. Ask a CRM administrator to grant the role "
        "access to this module or action."
    )


class NotFound(CrmError):
    default_advice = "It may have been deleted, or the base URL or API path may be wrong."


class Conflict(CrmError):
    """The record changed on the server since it was loaded.

    ``current`` is the server's version of the record when the CRM sent it,
    so the UI can show both sides and let the user choose.  ``fields`` names the
    fields of the attempted change that clash with it, when that is known (a mass
    update's check says which of its fields someone else changed).
    """

    default_advice = "Someone else changed this record. Review their version, then save again."

    def __init__(
        self,
        message: str,
        *,
        current: Record | None = None,
        fields: Sequence[str] = (),
        advice: str | None = None,
        status: int | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message, advice=advice, status=status, detail=detail)
        self.current = current
        self.fields: tuple[str, ...] = tuple(fields)


class ValidationError(CrmError):
    """The CRM refused some values; ``fields`` maps field name to its message."""

    default_advice = "Correct the marked fields and save again."

    def __init__(
        self,
        message: str,
        *,
        fields: Mapping[str, str] | None = None,
        advice: str | None = None,
        status: int | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message, advice=advice, status=status, detail=detail)
        self.fields: dict[str, str] = dict(fields or {})


class RateLimited(CrmError):
    default_advice = "The CRM asks clients to slow down. Wait a moment and try again."

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        advice: str | None = None,
        status: int | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message, advice=advice, status=status, detail=detail)
        self.retry_after = retry_after


class Unavailable(CrmError):
    default_advice = "Check the network connection and that the CRM is running, then retry."


class ServerError(CrmError):
    default_advice = (
        "The CRM failed while handling the request. Retry; if it keeps failing, an administrator "
        "should read the CRM's server log."
    )


class ProtocolError(CrmError):
    default_advice = (
        "The server did not answer like a CRM API. Check the base URL (for SuiteCRM 8 it may need "
        "the /legacy prefix), that the API is enabled, and that no proxy or login page is in "
        "the way."
    )


class Unsupported(CrmError):
    default_advice = "This CRM's API does not offer it."


class ConfigurationError(CrmError):
    default_advice = "Check the connection settings."


class Cancelled(CrmError):
    """The user cancelled the operation; nothing to show."""
