"""SuiteCRM error answers → core errors, with advice in the words of SuiteCRM's
own troubleshooting guide.

Three families reach a client (peers/suitecrm/README §9): JSON:API errors with
``errors`` as one object (status 400 for nearly everything, unknown ids
included), OAuth errors (token endpoint and every 401), framework HTML pages
(404 / 405 / an empty 500) — plus the "JSON + trailing text" body of database
failures.  Token-endpoint bodies are never quoted: a wrong password comes back
as a 500 whose message holds the password.
"""

from __future__ import annotations

import re

import httpx

from crmdesk.backends.redact import redact
from crmdesk.backends.suitecrm.parse import (
    api_error_detail,
    error_json,
    fields_in_detail,
    oauth_error,
)
from crmdesk.backends.transport import html_summary, looks_like_html
from crmdesk.core.errors import (
    AuthError,
    ConfigurationError,
    Conflict,
    CrmError,
    NotFound,
    PermissionDenied,
    ProtocolError,
    RateLimited,
    ServerError,
    Unavailable,
    ValidationError,
)

ADVICE_401 = (
    "Your access token is expired or invalid and could not be renewed. Verify the OAuth2 "
    "client id and secret (Admin → OAuth2 Clients and Tokens), the user name and password, "
    "then connect again."
)
ADVICE_403 = (
    "The signed-in user doesn't have permission to access this module. Check the Security "
    "Group and Role assignments in SuiteCRM."
)
ADVICE_404 = (
    "The API endpoint URL is incorrect. For SuiteCRM 8, include /legacy/ in the URL path. "
    "Verify the module name matches exactly (it is case-sensitive)."
)
ADVICE_500 = (
    "Check SuiteCRM's PHP error log and suitecrm.log for the detailed message. Common causes "
    "are missing PHP extensions, file permissions or database connection problems."
)
ADVICE_HTML = (
    "The request is hitting the web front end instead of the API. Check the base URL (SuiteCRM 8 "
    "needs /legacy), and that the .htaccess file is in place: Admin → Repair → Rebuild "
    ".htaccess File."
)
ADVICE_DB = (
    "SuiteCRM could not run the query. Filtering on a field that is not stored in the "
    "database (a related name, a computed field) causes this; filter on another field."
)

_NOT_FOUND = re.compile(
    r"(?i)module with id .* is not found"
    r"|module with name .* is not found"
    r"|^module \S+ does not exist"
    r"|is not related to"
    r"|cannot load relationship"
    r'|^the option "id" with value'  # a malformed record id: no such record
)


def _what(response: httpx.Response) -> str:
    return f"{response.request.method} {redact(response.request.url.path)}"


def error_for(
    response: httpx.Response, *, token_endpoint: bool = False, grant: str = ""
) -> CrmError:
    """The core error for a non-2xx SuiteCRM response (or a 2xx whose body is unusable).

    ``grant`` names the token request's grant type, for sign-in messages that fit it."""
    status = response.status_code
    text = response.content.decode("utf-8", "replace")
    what = _what(response)
    if token_endpoint:
        return _token_error(response, text, grant)
    if status in (502, 503, 504):
        return Unavailable(
            f"SuiteCRM is unavailable (HTTP {status}, {what}).",
            advice="The CRM or a proxy in front of it is down or overloaded. Retry in a moment.",
            status=status,
        )
    if not text.strip():
        if status >= 500:
            return ServerError(
                f"SuiteCRM failed with HTTP {status} and sent no explanation ({what}).",
                advice=ADVICE_500,
                status=status,
            )
        return _by_status(status, f"SuiteCRM answered HTTP {status} with an empty body ({what}).")
    if looks_like_html(response):
        page = html_summary(text[:4096])
        if status in (404, 405):
            word = "Page not found" if status == 404 else "Method not allowed"
            return NotFound(
                f"{word} (HTTP {status}) for {what}: this API route does not exist.",
                advice=ADVICE_404,
                status=status,
                detail=page,
            )
        if status >= 500:
            return ServerError(
                f"SuiteCRM failed with HTTP {status} ({what}).",
                advice=ADVICE_500,
                status=status,
                detail=page,
            )
        return ProtocolError(
            f"SuiteCRM returned an HTML page instead of JSON (HTTP {status}, {what}).",
            advice=ADVICE_HTML,
            status=status,
            detail=page,
        )
    body, trailing = error_json(text)
    if status == 401:
        hint = oauth_error(body)
        reason = f" ({hint[1]})" if hint and hint[1] else ""
        return AuthError(
            f"SuiteCRM refused the access token{reason}.", advice=ADVICE_401, status=status
        )
    detail = api_error_detail(body)
    if detail is None:
        if body is None:
            return ProtocolError(
                f"SuiteCRM answered HTTP {status} with a body that is not JSON ({what}).",
                status=status,
                detail=redact(text[:160]),
            )
        detail = f"HTTP {status}"
    low = detail.lower()
    if trailing or "database failure" in low:
        return ServerError(
            f"SuiteCRM reported a database failure for {what}.",
            advice=ADVICE_DB,
            status=status,
            detail=detail,
        )
    if status == 403 or "[not allowed]" in low or "does not have access" in low:
        return PermissionDenied(f"SuiteCRM: {detail}", advice=ADVICE_403, status=status)
    fields = fields_in_detail(detail)
    if not fields and _NOT_FOUND.search(detail):
        return NotFound(f"SuiteCRM: {detail}", status=status, detail=detail)
    if status == 404:
        return NotFound(f"SuiteCRM: {detail}", advice=ADVICE_404, status=status)
    if status in (400, 422):
        return ValidationError(
            f"SuiteCRM refused the request: {detail}",
            fields=fields,
            advice=None if fields else "Check the values and filters, then try again.",
            status=status,
            detail=detail,
        )
    return _by_status(status, f"SuiteCRM: {detail} (HTTP {status}, {what}).", detail)


def _by_status(status: int, message: str, detail: str | None = None) -> CrmError:
    if status == 401:
        return AuthError(message, advice=ADVICE_401, status=status, detail=detail)
    if status == 403:
        return PermissionDenied(message, advice=ADVICE_403, status=status, detail=detail)
    if status in (404, 405):
        return NotFound(message, advice=ADVICE_404, status=status, detail=detail)
    if status == 409:
        return Conflict(message, status=status, detail=detail)
    if status == 429:
        return RateLimited(message, status=status, detail=detail)
    if status in (502, 503, 504):
        return Unavailable(message, status=status, detail=detail)
    if status >= 500:
        return ServerError(message, advice=ADVICE_500, status=status, detail=detail)
    if 400 <= status < 500:
        return ValidationError(message, status=status, detail=detail)
    return ProtocolError(message, status=status, detail=detail)


def _token_error(response: httpx.Response, text: str, grant: str = "") -> CrmError:
    """Sign-in failures.  The body is read for its error code only, never quoted."""
    status = response.status_code
    if looks_like_html(response) or not text.strip():
        # A server error page is a server error; any other web page is not the API.
        if status in (404, 405) or (looks_like_html(response) and status < 500):
            url = redact(str(response.request.url))
            # A web page (a site, a login form, a proxy's page) is named as such.
            found = (
                f"The server answered an HTML page at {url}, not SuiteCRM's token endpoint"
                if looks_like_html(response)
                else f"No SuiteCRM token endpoint answered at {url}"
            )
            return NotFound(
                f"{found} (HTTP {status}).",
                advice=ADVICE_404,
                status=status,
            )
        return ServerError(
            f"SuiteCRM's sign-in failed with HTTP {status}.", advice=ADVICE_500, status=status
        )
    body, _ = error_json(text)
    code = oauth_error(body)
    error = code[0] if code else ""
    if status == 500 or error == "unknown_error":
        return AuthError(
            "SuiteCRM refused the sign-in: the user name or password is wrong, or the OAuth2 "
            "client id is unknown.",
            status=status,
        )
    if error == "invalid_client":
        return AuthError(
            "SuiteCRM refused the OAuth2 client: the client secret is wrong, or this client is "
            "not allowed this sign-in method.",
            advice="Check the client id and secret in Admin → OAuth2 Clients and Tokens; a "
            "client made for the password grant cannot use client credentials, and the other "
            "way round.",
            status=status,
        )
    if grant == "authorization_code" and error in ("invalid_request", "invalid_grant"):
        return AuthError(
            "SuiteCRM refused the authorization code: it expired, was already used, or does "
            "not match this sign-in (redirect URI or PKCE verifier).",
            advice="Sign in again in the browser.",
            status=status,
        )
    if error == "invalid_request":
        return AuthError(
            "SuiteCRM refused the refresh token (revoked, expired or issued to another client).",
            status=status,
        )
    if error == "invalid_grant":
        return AuthError("SuiteCRM refused the user name or password.", status=status)
    if error == "unsupported_grant_type":
        return ConfigurationError(
            "SuiteCRM does not support this sign-in method.",
            advice="Choose the password or client credentials sign-in in the connection settings.",
            status=status,
        )
    if status in (502, 503, 504):
        return Unavailable(f"SuiteCRM's sign-in is unavailable (HTTP {status}).", status=status)
    return AuthError(f"SuiteCRM refused the sign-in (HTTP {status}).", status=status)
