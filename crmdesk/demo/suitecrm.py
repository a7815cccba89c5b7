"""SuiteCRM 7.14 REST API v8, as the demo server speaks it (mounted under ``/suitecrm``).

Faithful to the captures in ``peers/suitecrm`` (see its README for every trap): OAuth2
token endpoint with password / client_credentials / refresh_token / authorization_code
grants (consent page in :mod:`crmdesk.demo.suitecrm_authorize`), JSON:API-ish
resources with every value a string, HTML-entity-encoded text, minute-truncated UTC
datetimes out and ``YYYY-MM-DD HH:MM:SS`` only in, ``{"errors": {...}}`` objects with 400
for nearly everything, Slim's HTML 404/405 pages, pretty-printed JSON.

One addition that real servers do not have, clearly marked:
``GET /Api/V8/crmdesk/vardefs/{Module}`` (the *crmdesk demo extension*) serves what real
SuiteCRM keeps out of ``meta/fields``: labels, enum options with labels, relate targets,
links and list-view columns.  On a real server that path answers 404 and the adapter
falls back to defaults (enum keys as labels, field names as labels, no relate targets).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html
import json
import math
import re
import secrets
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from crmdesk.core.schema import FieldDef, FieldType
from crmdesk.demo.server import DemoCredentials
from crmdesk.demo.store import (
    Cond,
    Filter,
    RecordNotFound,
    Row,
    Store,
    StoreError,
    Where,
    encode_multienum,
    format_datetime,
)
from crmdesk.demo.suitecrm_authorize import AuthCodes, CodeRefused
from crmdesk.demo.suitecrm_vardefs import MODULES as VARDEFS

ADMIN_ID = "1"
#: Modules that answer on ``/module/{Module}`` (Employees is the Users table, as in SuiteCRM).
MODULE_ALIASES = {"Employees": "Users"}
BEANS = {"Employees": "Employee"}
#: Modules listed by ``meta/modules`` (Users and Employees are not, as on the real server).
LISTED = ("Accounts", "Contacts", "Leads", "Opportunities", "Cases")
ACCESS = ["access", "delete", "edit", "export", "import", "list", "massupdate", "view"]
FILTER_OPS = {"eq", "neq", "gt", "gte", "lt", "lte", "like"}
UUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
#: Attributes the real server sends as JSON literals, not strings.
LITERALS: dict[str, Any] = {"portal_account_disabled": False}
#: Attributes the real server leaves out of Employees (the Users table seen as employees).
EMPLOYEE_HIDDEN = frozenset({"user_name", "user_hash"})
#: Fields whose value is the record's display name.
NAME_ALIASES = {"full_name": "name"}
CUSTOM_ZERO = "0.00000000"

_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, GET, OPTIONS, PUT, DELETE",
    "Access-Control-Allow-Headers": (
        "Content-Type, Access-Control-Allow-Headers, Authorization, X-Requested-With"
    ),
    "X-Content-Type-Options": "nosniff",
}
_STYLE = (
    "        <style>\n            body{\n                margin:0;\n                padding:30px;\n"
    "                font:12px/1.5 Helvetica,Arial,Verdana,sans-serif;\n            }\n"
    "            h1{\n                margin:0;\n                font-size:48px;\n"
    "                font-weight:normal;\n                line-height:48px;\n            }\n"
)
_NOT_FOUND_PAGE = (
    "<html>\n    <head>\n        <title>Page Not Found</title>\n" + _STYLE
    + "            strong{\n                display:inline-block;\n                width:65px;\n"
    "            }\n        </style>\n    </head>\n    <body>\n        <h1>Page Not Found</h1>\n"
    "        <p>\n            The page you are looking for could not be found. Check the address "
    "bar\n            to ensure your URL is spelled correctly. If all else fails, you can\n"
    "            visit our home page at the link below.\n        </p>\n"
    "        <a href='{home}'>Visit the Home Page</a>\n    </body>\n</html>"
)  # fmt: skip
_NOT_ALLOWED_PAGE = (
    "<html>\n    <head>\n        <title>Method not allowed</title>\n" + _STYLE
    + "        </style>\n    </head>\n    <body>\n        <h1>Method not allowed</h1>\n"
    "        <p>Method not allowed. Must be one of: <strong>{methods}</strong></p>\n"
    "    </body>\n</html>"
)  # fmt: skip


class ApiError(Exception):
    """Answered as ``{"errors": {"status": 400, "title": null, "detail": ...}}``."""

    def __init__(self, detail: str, *, status: int = 400, vnd: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status
        self.vnd = vnd


class OAuthError(Exception):
    def __init__(self, status: int, error: str, description: str, hint: str | None = None):
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.hint = hint


class BrokenBody(Exception):
    """The 'JSON + trailing text' body SuiteCRM sends when a filter breaks its SQL."""


def _denied(hint: str) -> OAuthError:
    return OAuthError(
        401,
        "access_denied",
        "The resource owner or authorization server denied the request.",
        hint,
    )


def _invalid_refresh(hint: str) -> OAuthError:
    return OAuthError(401, "invalid_request", "The refresh token is invalid.", hint)


# -- tokens ---------------------------------------------------------------------------------


@dataclass(slots=True)
class AccessToken:
    user_id: str
    client_id: str
    expires_at: float
    revoked: bool = False


@dataclass(slots=True)
class RefreshToken:
    user_id: str
    client_id: str
    access_jti: str
    expires_at: float
    revoked: bool = False


@dataclass(frozen=True, slots=True)
class Client:
    client_id: str
    secret_sha256: str
    grant: str
    user_id: str
    redirect_uri: str = ""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Tokens:
    """In-memory OAuth2 state: JWT-shaped access tokens (HMAC-signed), opaque refresh tokens."""

    def __init__(self, credentials: DemoCredentials) -> None:
        self.credentials = credentials
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self.access: dict[str, AccessToken] = {}
        self.refresh: dict[str, RefreshToken] = {}

    def issue(self, user_id: str, client_id: str, *, with_refresh: bool) -> dict[str, Any]:
        now = time.time()
        ttl = self.credentials.token_ttl
        jti = secrets.token_hex(40)
        header = _b64(json.dumps({"typ": "JWT", "alg": "HS256"}).encode())
        payload = _b64(
            json.dumps(
                {"aud": client_id, "jti": jti, "iat": int(now), "nbf": int(now),
                 "exp": int(now + ttl), "sub": user_id if user_id != "" else "", "scopes": []}
            ).encode()
        )  # fmt: skip
        sig = _b64(hmac.new(self._key, f"{header}.{payload}".encode(), hashlib.sha256).digest())
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "expires_in": max(0, math.ceil(ttl)),
            "access_token": f"{header}.{payload}.{sig}",
        }
        with self._lock:
            self.access[jti] = AccessToken(user_id, client_id, now + ttl)
            if with_refresh:
                rt = secrets.token_urlsafe(48)
                self.refresh[rt] = RefreshToken(
                    user_id, client_id, jti, now + self.credentials.refresh_ttl
                )
                body["refresh_token"] = rt
        return body

    def check(self, authorization: str | None) -> AccessToken:
        raw = authorization or ""
        jwt = re.sub(r"^\s*Bearer\s", "", raw).strip()
        if jwt.count(".") != 2:
            raise _denied("The JWT string must have two dots")
        header, payload, sig = jwt.split(".")
        try:
            claims = json.loads(_unb64(payload))
            json.loads(_unb64(header))
            if not isinstance(claims, dict):
                raise ValueError("claims")
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise _denied("Error while decoding from JSON") from None
        want = hmac.new(self._key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        try:
            good = hmac.compare_digest(want, _unb64(sig))
        except (ValueError, binascii.Error):
            good = False
        if not good:
            raise _denied("Access token could not be verified")
        with self._lock:
            tok = self.access.get(str(claims.get("jti")))
        if tok is None:
            raise _denied("Access token could not be verified")
        if tok.revoked:
            raise _denied("Access token has been revoked")
        if time.time() >= tok.expires_at:
            raise _denied("Access token is invalid")
        return tok

    def revoke_access(self, tok: AccessToken) -> None:
        with self._lock:
            tok.revoked = True

    def rotate(self, refresh_token: str, client_id: str) -> tuple[str, str]:
        """Check and revoke a refresh token and its access token; (user_id, client_id)."""
        with self._lock:
            rt = self.refresh.get(refresh_token)
            if rt is None:
                raise _invalid_refresh("Cannot decrypt the refresh token")
            if rt.client_id != client_id:
                raise _invalid_refresh("Token is not linked to client")
            if rt.revoked:
                raise _invalid_refresh("Token has been revoked")
            if time.time() >= rt.expires_at:
                raise _invalid_refresh("Token has expired")
            rt.revoked = True
            old = self.access.get(rt.access_jti)
            if old is not None:
                old.revoked = True
            return rt.user_id, rt.client_id

    def expire_all(self) -> None:
        with self._lock:
            for tok in self.access.values():
                tok.expires_at = 0.0


# -- pretty JSON, fast -------------------------------------------------------------------

_encode_str = json.encoder.encode_basestring_ascii  # the C implementation


class Raw(str):
    """Already-rendered pretty JSON (at indent level 0), spliced in as is."""

    __slots__ = ()


def pretty(obj: Any, level: int = 0) -> str:
    """``json.dumps(obj, indent=4)``, byte for byte, several times faster on list pages.

    The stdlib only pretty-prints in pure Python; this renders strings with the C encoder
    and splices cached :class:`Raw` blocks (the per-record ``relationships`` map).
    """
    if isinstance(obj, Raw):
        return obj.replace("\n", "\n" + "    " * level) if level else str(obj)
    if isinstance(obj, str):
        return _encode_str(obj)
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        pad = "\n" + "    " * (level + 1)
        body = ",".join(
            f"{pad}{_encode_str(str(k))}: {pretty(v, level + 1)}" for k, v in obj.items()
        )
        return "{" + body + "\n" + "    " * level + "}"
    if isinstance(obj, list | tuple):
        if not obj:
            return "[]"
        pad = "\n" + "    " * (level + 1)
        body = ",".join(f"{pad}{pretty(v, level + 1)}" for v in obj)
        return "[" + body + "\n" + "    " * level + "]"
    return json.dumps(obj)


# -- value formatting ----------------------------------------------------------------------


def _escape(text: str) -> str:
    """PHP's encoding of DB text as the API shows it: ``&`` itself stays."""
    return (
        text.replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;").replace("'", "&#039;")
    )


def _fmt_float(value: float) -> str:
    return f"{value:.14g}"


def wire_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _fmt_float(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:00+00:00")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple):
        return encode_multienum(value)
    return _escape(str(value))


def parse_in(fd: FieldDef, raw: Any) -> Any:
    """A wire value (already checked to be scalar) → the store value, as SuiteCRM would store it."""
    if isinstance(raw, bool):
        text = "1" if raw else "0"
    elif raw is None:
        return None
    else:
        text = str(raw)
    t = fd.type
    if t is FieldType.DATETIME:
        try:
            return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        except ValueError:
            return None  # the real server answers 201 and stores NULL
    if t is FieldType.DATE:
        for fmt in ("%Y-%m-%d", "%m/%d/%Y"):
            try:
                return datetime.strptime(text, fmt).date()
            except ValueError:
                continue
        return None
    if t is FieldType.BOOL:
        return text.strip().lower() in ("1", "true", "on", "yes")
    if t is FieldType.INT:
        try:
            return int(float(text))
        except ValueError:
            return None
    if t in (FieldType.CURRENCY, FieldType.DECIMAL):
        try:
            return float(text)
        except ValueError:
            return None
    if t is FieldType.MULTIENUM:
        return text
    if t in (FieldType.RELATE, FieldType.ID) and text == "":
        return None
    return text


def _user_format(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%m/%d/%Y %H:%M")
    return wire_value(value)  # type: ignore[no-any-return]


# -- the app --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Route:
    pattern: re.Pattern[str]
    methods: dict[str, str]  # method → handler name


def _route(path: str, **methods: str) -> Route:
    regex = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$"
    return Route(re.compile(regex), methods)


ROUTES = [
    _route("/Api/access_token", POST="token"),
    _route("/index.php", GET="authorize", POST="authorize"),
    _route("/Api/V8/logout", POST="logout"),
    _route("/Api/V8/current-user", GET="current_user"),
    _route("/Api/V8/meta/modules", GET="meta_modules"),
    _route("/Api/V8/meta/fields/{module}", GET="meta_fields"),
    _route("/Api/V8/crmdesk/vardefs/{module}", GET="crmdesk_vardefs"),
    _route("/Api/V8/listview/columns/{module}", GET="listview_columns"),
    _route("/Api/V8/module", POST="create", PATCH="update"),
    _route("/Api/V8/module/{module}", GET="list_records"),
    _route("/Api/V8/module/{module}/{id}", GET="get", DELETE="delete"),
    _route("/Api/V8/module/{module}/{id}/relationships", POST="rel_add"),
    _route("/Api/V8/module/{module}/{id}/relationships/{link}", GET="rel_list", POST="rel_add"),
    _route("/Api/V8/module/{module}/{id}/relationships/{link}/{related_id}", DELETE="rel_delete"),
]


class SuiteCrmApp:
    """The ASGI app; ``create_app(store, credentials)`` makes one."""

    def __init__(self, store: Store, credentials: DemoCredentials) -> None:
        self.store = store
        self.credentials = credentials
        self.tokens = Tokens(credentials)
        self.codes = AuthCodes(store, credentials)
        self._rel_cache: dict[tuple[str, str], str] = {}

    # -- plumbing ---------------------------------------------------------------------------

    @property
    def clients(self) -> dict[str, Client]:
        c = self.credentials

        def sha(s: str) -> str:
            return hashlib.sha256(s.encode()).hexdigest()

        return {
            c.client_id: Client(c.client_id, sha(c.client_secret), "password", ""),
            c.cc_client_id: Client(
                c.cc_client_id, sha(c.cc_client_secret), "client_credentials", ADMIN_ID
            ),
            c.ac_client_id: Client(
                c.ac_client_id, sha(c.ac_client_secret), "authorization_code", "", c.ac_redirect_uri
            ),
        }

    def expire_tokens(self) -> None:
        self.tokens.expire_all()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        response = await self.dispatch(request)
        for k, v in _CORS.items():
            response.headers.setdefault(k, v)
        await response(scope, receive, send)

    async def dispatch(self, request: Request) -> Response:
        path = request.url.path
        for route in ROUTES:
            m = route.pattern.match(path)
            if m is None:
                continue
            method = request.method
            allowed = ", ".join(route.methods)
            if method == "OPTIONS":
                return Response(f"Allowed methods: {allowed}", 200,
                                media_type="text/plain;charset=UTF-8")  # fmt: skip
            handler = route.methods.get(method)
            if handler is None:
                body = _NOT_ALLOWED_PAGE.replace("{methods}", allowed)
                return Response(body, 405, headers={"Allow": allowed},
                                media_type="text/html;charset=UTF-8")  # fmt: skip
            try:
                if handler == "token":
                    return await self.token(request)
                if handler == "authorize":
                    clients = {k: (v.grant, v.redirect_uri) for k, v in self.clients.items()}
                    return await self.codes.page(request, clients)
                tok = self.tokens.check(request.headers.get("authorization"))
                result: Response = await getattr(self, handler)(request, tok, **m.groupdict())
                return result
            except OAuthError as e:
                return self._oauth_error(e)
            except ApiError as e:
                return self._error(e)
            except BrokenBody:
                detail = "Database failure. Please refer to suitecrm.log for details."
                body = json.dumps(
                    {"errors": {"status": 400, "title": None, "detail": detail}}, indent=4
                )
                return Response(body + detail, 400, media_type="application/vnd.api+json")
        root = f"{request.url.scheme}://{request.url.netloc}{request.scope.get('root_path', '')}"
        body = _NOT_FOUND_PAGE.replace("{home}", root + "/Api/")
        return Response(body, 404, media_type="text/html;charset=UTF-8")

    @staticmethod
    def _json(data: Any, status: int = 200) -> Response:
        body = pretty(data)
        return Response(
            body,
            status,
            media_type="application/vnd.api+json",
            headers={"Accept": "application/vnd.api+json", "Cache-Control": "max-age=2592000"},
        )

    @staticmethod
    def _error(e: ApiError) -> Response:
        body = json.dumps({"errors": {"status": e.status, "title": None, "detail": e.detail}},
                          indent=4)  # fmt: skip
        media = "application/vnd.api+json" if e.vnd else "application/json"
        return Response(body, e.status, media_type=media)

    @staticmethod
    def _oauth_error(e: OAuthError) -> Response:
        body: dict[str, Any] = {"error": e.error, "error_description": e.description}
        if e.hint is not None:
            body["hint"] = e.hint
        body["message"] = e.description
        return Response(json.dumps(body), e.status, media_type="application/json")

    # -- token endpoint ---------------------------------------------------------------------

    async def token(self, request: Request) -> Response:
        try:
            params = await self._token_params(request)
            body = self._grant(params)
        except OAuthError as e:
            return self._oauth_error(e)
        return Response(
            json.dumps(body),
            200,
            media_type="application/json; charset=UTF-8",
            headers={"pragma": "no-cache", "cache-control": "no-store, max-age=0"},
        )

    @staticmethod
    async def _token_params(request: Request) -> dict[str, str]:
        raw = await request.body()
        params: dict[str, str] = {}
        ctype = request.headers.get("content-type", "")
        if "json" in ctype:
            try:
                data = json.loads(raw or b"{}")
            except ValueError:
                data = {}
            if isinstance(data, dict):
                params = {str(k): str(v) for k, v in data.items() if v is not None}
        else:
            params = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        auth = request.headers.get("authorization", "")
        if auth.startswith("Basic "):
            try:
                user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
            except (ValueError, binascii.Error):
                user, pw = "", ""
            params.setdefault("client_id", user)
            params.setdefault("client_secret", pw)
        return params

    def _grant(self, p: Mapping[str, str]) -> dict[str, Any]:
        grant = p.get("grant_type", "")
        # The captured SuiteCRM 7.14.6 answered unsupported_grant_type to authorization_code
        # (token_error_unsupported_grant.json): that grant only exists where an admin set up a
        # client for it.  The demo offers it to its authorization-code client alone.
        code_client = self.clients.get(p.get("client_id", ""))
        if grant == "authorization_code" and (
            code_client is None or code_client.grant != "authorization_code"
        ):
            grant = ""
        if grant not in ("password", "client_credentials", "refresh_token", "authorization_code"):
            raise OAuthError(
                400,
                "unsupported_grant_type",
                "The authorization grant type is not supported by the authorization server.",
                "Check that all required parameters have been provided",
            )
        client_id = p.get("client_id", "")
        if not client_id:
            raise OAuthError(
                400,
                "invalid_request",
                "The request is missing a required parameter, includes an invalid parameter "
                "value, includes a parameter more than once, or is otherwise malformed.",
                "Check the `client_id` parameter",
            )
        client = self.clients.get(client_id)
        if client is None:
            msg = f"OAuth2Clients module with id {client_id} is not found"
            raise OAuthError(500, "unknown_error", msg)
        secret_ok = hmac.compare_digest(
            hashlib.sha256(p.get("client_secret", "").encode()).hexdigest(), client.secret_sha256
        )
        if not secret_ok or (grant != "refresh_token" and grant != client.grant):
            raise OAuthError(401, "invalid_client", "Client authentication failed")
        if grant == "client_credentials":
            return self.tokens.issue(client.user_id, client_id, with_refresh=False)
        if grant == "authorization_code":
            try:
                user_id = self.codes.redeem(p, client_id)
            except CodeRefused as e:
                raise OAuthError(e.status, e.error, e.description, e.hint) from None
            return self.tokens.issue(user_id, client_id, with_refresh=True)
        if grant == "refresh_token":
            rt = p.get("refresh_token", "")
            if not rt:
                raise OAuthError(
                    400, "invalid_request",
                    "The request is missing a required parameter, includes an invalid parameter "
                    "value, includes a parameter more than once, or is otherwise malformed.",
                    "Check the `refresh_token` parameter",
                )  # fmt: skip
            user_id, _ = self.tokens.rotate(rt, client_id)
            return self.tokens.issue(user_id, client_id, with_refresh=True)
        username, password = p.get("username", ""), p.get("password", "")
        users = self.store.list("Users", Cond("user_name", "eq", username), fields=["status"])
        if not username or not users or users[0]["status"] != "Active":
            raise OAuthError(
                400, "invalid_grant",
                "The provided authorization grant (e.g., authorization code, resource owner "
                "credentials) or refresh token is invalid, expired, revoked, does not match the "
                "redirection URI used in the authorization request, or was issued to another "
                "client.",
            )  # fmt: skip
        if username != self.credentials.username or not hmac.compare_digest(
            password.encode(), self.credentials.password.encode()
        ):
            # Reproduces SuiteCRM 7.14: the message carries the password that was sent.
            msg = f"The password is invalid: {password}"
            raise OAuthError(500, "unknown_error", msg)
        return self.tokens.issue(users[0]["id"], client_id, with_refresh=True)

    # -- helpers ----------------------------------------------------------------------------

    def _module(self, name: str, *, meta: bool = False) -> str:
        """Request module name (or bean name) → store module name."""
        for module, spec in VARDEFS.items():
            if name in (module, spec["bean"]):
                return module
        if name in MODULE_ALIASES:
            return MODULE_ALIASES[name]
        if name in BEANS.values():
            return MODULE_ALIASES[next(k for k, v in BEANS.items() if v == name)]
        if meta:
            raise ApiError(
                "[SuiteCRM] [Not Allowed] The API user does not have access to this module.",
                vnd=True,
            )
        raise ApiError(f"Module {name} does not exist")

    @staticmethod
    def _bean(module: str, requested: str) -> str:
        if requested in BEANS:
            return BEANS[requested]
        bean: str = VARDEFS[module]["bean"]
        return bean

    @staticmethod
    def _check_id(record_id: str) -> None:
        if not (UUID_RE.match(record_id) or record_id.isdigit()):
            raise ApiError(f'The option "id" with value "{record_id}" is invalid.')

    def _store_names(self, module: str) -> set[str]:
        mod = self.store.module(module)
        return {f.name for f in mod.fields} | set(self.store.relate_names(module))

    def _attributes(
        self, module: str, row: Row, fields: list[str] | None
    ) -> dict[str, Any] | list[Any]:
        spec = VARDEFS[module]
        objects = set(spec["object_fields"])
        vardefs = spec["vardefs"]
        names: list[str] = spec["attributes"]
        if fields is not None:
            if module == "Users" and "user_hash" in fields:
                return []  # what the real server answered for this field set
            wanted = set(fields)
            names = [n for n in names if n in wanted]
        out: dict[str, Any] = {}
        for n in names:
            key = NAME_ALIASES.get(n, n)
            if key in row:
                out[n] = wire_value(row[key])
            elif n in objects:
                out[n] = {}
            elif n in LITERALS:
                out[n] = LITERALS[n]
            elif n == "deleted":
                out[n] = "1" if row.get("deleted") else "0"
            elif n.startswith("jjwg_maps_l") and vardefs.get(n, {}).get("type") == "float":
                out[n] = CUSTOM_ZERO
            else:
                out[n] = ""
        return out

    def _resource(
        self, module: str, requested: str, row: Row, fields: list[str] | bool | None
    ) -> dict[str, Any]:
        rid = row["id"]
        if isinstance(fields, list) and requested in BEANS:
            fields = [f for f in fields if f not in EMPLOYEE_HIDDEN]
        rels = Raw(self._relationships_template(module, requested).replace("\x00", rid))
        attrs: Any = (
            []
            if fields is False
            else self._attributes(module, row, fields if isinstance(fields, list) else None)
        )
        return {"type": self._bean(module, requested), "id": rid, "attributes": attrs,
                "relationships": rels}  # fmt: skip

    def _relationships_template(self, module: str, requested: str) -> str:
        key = (module, requested)
        text = self._rel_cache.get(key)
        if text is None:
            rels = {
                bean: {"links": {"related": f"V8/module/{requested}/\x00/relationships/{link}"}}
                for bean, link in VARDEFS[module]["relationships"]
            }
            text = json.dumps(rels, indent=4).replace("\\u0000", "\x00")
            self._rel_cache[key] = text
        return text

    def _row(self, module: str, record_id: str, *, vnd: bool = True) -> Row:
        row = self.store.get(module, record_id)
        if row is None:
            raise ApiError(f"{module} module with id {record_id} is not found", vnd=vnd)
        return row

    @staticmethod
    def _query(request: Request) -> list[tuple[str, str]]:
        return parse_qsl(request.url.query, keep_blank_values=True)

    def _fields_param(self, module: str, query: list[tuple[str, str]]) -> list[str] | bool | None:
        """None: every field; a list; False: a key of another module (``attributes: []``)."""
        result: list[str] | bool | None = None
        bean = VARDEFS[module]["bean"]
        for key, value in query:
            m = re.fullmatch(r"fields\[([^\]]*)\]", key)
            if m is None:
                continue
            target = m.group(1)
            if " " in value or value == "":
                raise ApiError('The option "fields" with value array is invalid.')
            names = value.split(",")
            if target not in (module, bean) and not (module == "Users" and target == "Employees"):
                self._module(target)
                result = False
                continue
            for n in names:
                if n not in VARDEFS[module]["vardefs"] and n not in self._store_names(module):
                    raise ApiError(f"The following field in {bean} module is not found: {n}")
            result = names
        return result

    @staticmethod
    def _page(query: list[tuple[str, str]]) -> tuple[int | None, int | None]:
        size = number = None
        for key, value in query:
            if key in ("page[size]", "page[number]"):
                opt = key[5:-1]
                if not re.fullmatch(r"[0-9]+", value) or int(value) <= 0:
                    raise ApiError(f'The option "{opt}" with value "{value}" is invalid.')
                if opt == "size":
                    size = int(value)
                else:
                    number = int(value)
            elif key == "page":
                raise ApiError('The option "page" with value array is invalid.')
        return size, number

    def _sort(self, module: str, query: list[tuple[str, str]]) -> list[tuple[str, bool]]:
        order: list[tuple[str, bool]] = []
        for key, value in query:
            if key != "sort":
                continue
            name = value[1:] if value.startswith("-") else value
            if "," in value or not name:
                raise ApiError(f'The option "sort" with value "{value}" is invalid.')
            if name not in VARDEFS[module]["vardefs"]:
                raise ApiError(f'The option "sort" with value "{value}" is invalid.')
            name = NAME_ALIASES.get(name, name)
            if name in self._store_names(module):
                order = [(name, value.startswith("-"))]
        return order

    def _filter(self, module: str, query: list[tuple[str, str]]) -> Filter | None:
        bean = VARDEFS[module]["bean"]
        vardefs = VARDEFS[module]["vardefs"]
        logic = "and"
        conds: list[Filter] = []
        stored = self._store_names(module)
        for key, value in query:
            if key == "filter[operator]":
                if value not in ("and", "or"):
                    raise ApiError(f"Filter operator {value} is invalid")
                logic = value
                continue
            m = re.fullmatch(r"filter\[([^\]]*)\](?:\[([^\]]*)\])?", key)
            if m is None:
                continue
            name, op = m.group(1), m.group(2)
            if op is None:
                raise ApiError(f"Filter field {name} must be an array")
            if name not in vardefs and name != "deleted":
                raise ApiError(f"Filter field {name} in {bean} module is not found")
            if op not in FILTER_OPS:
                raise ApiError(f"Filter operator {op} is invalid")
            vd = vardefs.get(name, {})
            if vd.get("source") == "non-db" and name != "email1":
                raise BrokenBody()
            conds.append(self._condition(module, name, op, value, stored))
        if not conds:
            return None
        return Where("and" if logic == "and" else "or", tuple(conds))

    def _condition(self, module: str, name: str, op: str, value: str, stored: set[str]) -> Filter:
        text = html.unescape(value)
        if name == "deleted":
            return Where("and", ()) if text in ("0", "") else Where("or", ())
        if name not in stored:
            # A db field the demo does not keep: it is empty (or 0) on every row.
            empty = text in ("", "0")
            hit = empty if op in ("eq", "lte", "gte", "like") else not empty
            return Where("and", ()) if hit else Where("or", ())
        fd = self.store.field(module, name)
        val: Any = text
        if fd.type is FieldType.BOOL:
            val = int(text) if text.lstrip("-").isdigit() else 0  # MariaDB casts 'true' to 0
        elif fd.type is FieldType.DATETIME and "T" in text:
            try:
                val = format_datetime(datetime.fromisoformat(text.replace("Z", "+00:00")))
            except ValueError:
                val = text
        elif fd.type in (FieldType.INT, FieldType.CURRENCY, FieldType.DECIMAL):
            try:
                val = float(text)
            except ValueError:
                val = 0
        if op == "like":
            return Cond(name, "like", text)
        if val == "" and op in ("eq", "neq"):
            return Cond(name, "null" if op == "eq" else "not_null")
        return Cond(name, op, val)  # type: ignore[arg-type]

    @staticmethod
    def _links(base: str, query: list[tuple[str, str]], size: int, number: int | None,
               pages: int) -> dict[str, str | None]:  # fmt: skip
        """Slim's paginator: without ``page[number]`` it counts from page 0, so ``next``
        points at page 1 (the page you have) and ``last`` is set even on a single page."""
        rest = "&".join(f"{k}={v}" for k, v in query if not k.startswith("page["))
        prefix = f"{base}?{rest + '&' if rest else ''}page[size]={size}&page[number]="
        n = number or 0
        return {
            "first": None if n <= 1 else f"{prefix}1",
            "prev": None if n <= 1 else f"{prefix}{n - 1}",
            "next": None if n >= pages else f"{prefix}{n + 1}",
            "last": None if n >= pages else f"{prefix}{pages}",
        }

    async def _body(self, request: Request) -> dict[str, Any]:
        raw = await request.body()
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = None
        if not isinstance(data, dict) or "data" not in data:
            raise ApiError('The required option "data" is missing.')
        return data

    # -- handlers ---------------------------------------------------------------------------

    async def logout(self, request: Request, tok: AccessToken) -> Response:
        self.tokens.revoke_access(tok)
        return self._json({"meta": {"message": "You have been successfully logged out"},
                           "data": []})  # fmt: skip

    async def current_user(self, request: Request, tok: AccessToken) -> Response:
        user_id = tok.user_id or ADMIN_ID
        row = self._row("Users", user_id)
        attrs = self._attributes("Users", row, None)
        assert isinstance(attrs, dict)
        for k in ("date_entered", "date_modified"):
            attrs[k] = _user_format(row.get(k))
        attrs["id"] = row["id"]
        rels = {
            bean: {"links": {"related": f"V8/current-user/relationships/{link}"}}
            for bean, link in VARDEFS["Users"]["relationships"]
        }
        return self._json({"data": {"type": "User", "id": row["id"], "attributes": attrs,
                                    "relationships": rels}})  # fmt: skip

    async def meta_modules(self, request: Request, tok: AccessToken) -> Response:
        attrs = {m: {"label": self.store.module(m).label, "access": list(ACCESS)} for m in LISTED}
        return self._json({"data": {"type": "modules", "attributes": attrs}})

    async def listview_columns(self, request: Request, tok: AccessToken, module: str) -> Response:
        """Always a fatal error with an empty body on PHP 8, as on the real server."""
        return Response(b"", 500, media_type="text/html; charset=UTF-8")

    async def meta_fields(self, request: Request, tok: AccessToken, module: str) -> Response:
        mod = self._module(module, meta=True)
        return self._json({"data": {"type": "fields", "attributes": VARDEFS[mod]["vardefs"]}})

    async def crmdesk_vardefs(self, request: Request, tok: AccessToken, module: str) -> Response:
        """crmdesk demo extension (not on real servers): labels, options, relate targets."""
        mod_name = self._module(module, meta=True)
        mod = self.store.module(mod_name)
        fields: dict[str, Any] = {}
        for name, vd in VARDEFS[mod_name]["vardefs"].items():
            fd = mod.field(NAME_ALIASES.get(name, name))
            relate_id = next(
                (f for f in mod.fields if f.relate_name_field == name and f.relate_module), None
            )
            entry: dict[str, Any] = {
                "type": vd.get("type"),
                "label": fd.label if fd else name.replace("_", " ").strip().capitalize(),
                "required": bool(fd.required) if fd else bool(vd.get("required")),
                "read_only": bool(fd.read_only) if fd else vd.get("source") == "non-db",
                "options": [{"key": o.key, "label": o.label} for o in fd.options] if fd else [],
                "module": (fd.relate_module if fd else None)
                or (relate_id.relate_module if relate_id else None),
                "id_name": relate_id.name if relate_id else None,
                "name_field": fd.relate_name_field if fd else None,
            }
            fields[name] = entry
        links = {
            lk.name: {"label": lk.label, "module": lk.target_module,
                      "cardinality": lk.cardinality.value, "relationship": lk.relationship}
            for lk in mod.links
        }  # fmt: skip
        return self._json({"data": {"type": "vardefs", "id": mod_name, "attributes": {
            "module": mod_name, "label": mod.label, "name_field": mod.name_field,
            "list_fields": list(mod.list_fields), "fields": fields, "links": links,
        }}})  # fmt: skip

    async def list_records(self, request: Request, tok: AccessToken, module: str) -> Response:
        mod = self._module(module)
        query = self._query(request)
        fields = self._fields_param(mod, query)
        size, number = self._page(query)
        order = self._sort(mod, query)
        where = self._filter(mod, query)
        if any(k == "filter[deleted][eq]" and v == "1" for k, v in query):
            gone = self.store.list(mod, Cond("deleted", "eq", True), limit=1, fields=["id"],
                                   include_deleted=True)  # fmt: skip
            if gone:
                raise ApiError(f"{mod} module with id {gone[0]['id']} is not found", vnd=True)
            where = Where("or", ())
        store_fields = self._store_fields(mod, fields)
        if size is None:
            rows = self.store.list(mod, where, order, 20, 0, store_fields)
            return self._json(
                {"data": [self._resource(mod, module, r, fields) for r in rows]}
                if rows
                else {
                    "meta": {"message": "Request was successful, but there is no result"},
                    "data": [],
                }
            )
        n = number or 1
        rows = self.store.list(mod, where, order, size, (n - 1) * size, store_fields)
        if not rows:
            return self._json(
                {"meta": {"message": "Request was successful, but there is no result"}, "data": []}
            )
        total = self.store.count(mod, where)
        pages = max(1, math.ceil(total / size))
        return self._json({
            "meta": {"total-pages": pages, "records-on-this-page": len(rows)},
            "data": [self._resource(mod, module, r, fields) for r in rows],
            "links": self._links(f"V8/module/{module}", query, size, number, pages),
        })  # fmt: skip

    def _store_fields(self, module: str, fields: list[str] | bool | None) -> list[str] | None:
        if fields is None:
            return None
        if fields is False or fields is True:
            return ["id"]
        stored = self._store_names(module)
        return [NAME_ALIASES.get(f, f) for f in fields if NAME_ALIASES.get(f, f) in stored]

    async def get(self, request: Request, tok: AccessToken, module: str, id: str) -> Response:
        self._check_id(id)
        mod = self._module(module)
        fields = self._fields_param(mod, self._query(request))
        row = self._row(mod, id)
        return self._json({"data": self._resource(mod, module, row, fields)})

    def _values(self, module: str, attributes: Any) -> dict[str, Any]:
        if not isinstance(attributes, dict):
            raise ApiError('Expected argument of type "array", "string" given')
        bean = VARDEFS[module]["bean"]
        vardefs = VARDEFS[module]["vardefs"]
        mod = self.store.module(module)
        out: dict[str, Any] = {}
        for name, raw in attributes.items():
            if name not in vardefs:
                raise ApiError(f"Property {name} in {bean} module is invalid")
            if isinstance(raw, dict | list):
                raise ApiError('Expected argument of type "string", "array" given')
            fd = mod.field(name)
            if fd is None or name == "id" or (module in ("Contacts", "Leads", "Users")
                                               and name == "name"):  # fmt: skip
                continue  # accepted, but the demo does not keep it
            out[name] = parse_in(fd, raw)
        return out

    async def create(self, request: Request, tok: AccessToken) -> Response:
        data = (await self._body(request))["data"]
        if not isinstance(data, dict):
            raise ApiError('The required option "data" is missing.')
        extra = set(data) - {"type", "id", "attributes"}
        if extra:
            raise ApiError(
                f'The option "{sorted(extra)[0]}" does not exist. Defined options are: '
                '"attributes", "id", "type".'
            )
        if "type" not in data:
            raise ApiError('The required option "type" is missing.')
        requested = str(data["type"])
        mod = self._module(requested)
        values = self._values(mod, data.get("attributes", {}))
        record_id = data.get("id")
        if record_id is not None:
            record_id = str(record_id)
            self._check_id(record_id)
            if self.store.get(mod, record_id, ["id"], include_deleted=True) is not None:
                raise ApiError(f"Bean {mod} with id {record_id} is already exist", vnd=True)
        user = tok.user_id or ADMIN_ID
        values.setdefault("assigned_user_id", None)
        row = self.store.insert(mod, values, record_id=record_id, user_id=user)
        return self._json({"data": self._resource(mod, mod, row, None)}, 201)

    async def update(self, request: Request, tok: AccessToken) -> Response:
        data = (await self._body(request))["data"]
        if not isinstance(data, dict):
            raise ApiError('The required option "data" is missing.')
        if "type" not in data:
            raise ApiError('The required option "type" is missing.')
        if "id" not in data:
            raise ApiError('The required option "id" is missing.')
        mod = self._module(str(data["type"]))
        record_id = str(data["id"])
        self._check_id(record_id)
        attributes = data.get("attributes", {})
        self._row(mod, record_id)
        deleted = isinstance(attributes, dict) and str(attributes.get("deleted", "")) in (
            "1", "true", "True",
        )  # fmt: skip
        if isinstance(attributes, dict):
            attributes = {
                k: v for k, v in attributes.items()
                if v is not None and k not in ("email1", "deleted")
            }  # fmt: skip
        values = self._values(mod, attributes)
        user = tok.user_id or ADMIN_ID
        row = self.store.update(mod, record_id, values, user_id=user)
        if deleted:
            self.store.delete(mod, record_id)
            row = self.store.get(mod, record_id, include_deleted=True) or row
        return self._json({"data": self._resource(mod, mod, row, None)}, 201)

    async def delete(self, request: Request, tok: AccessToken, module: str, id: str) -> Response:
        self._check_id(id)
        mod = self._module(module)
        if not self.store.delete(mod, id):
            raise ApiError(f"{mod} module with id {id} is not found", vnd=True)
        return self._json({"meta": {"message": f"Record with id {id} is deleted"}, "data": []})

    # -- relationships ----------------------------------------------------------------------

    def _link(self, module: str, link: str) -> str | None:
        """The store link for a SuiteCRM link name; None for a link the demo keeps empty."""
        vd = VARDEFS[module]["vardefs"].get(link)
        if (module, link) in {(k[0], k[1]) for k in _store_links()}:
            return link
        if vd is not None and vd.get("type") == "link":
            return None
        raise ApiError(f"Cannot load relationship {link} for {VARDEFS[module]['bean']} module")

    async def rel_list(
        self, request: Request, tok: AccessToken, module: str, id: str, link: str
    ) -> Response:
        self._check_id(id)
        mod = self._module(module)
        query = self._query(request)
        if any(k.startswith("fields[") for k, _ in query):
            raise ApiError(
                'The option "fields" does not exist. Defined options are: "filter", "id", '
                '"linkFieldName", "moduleName", "page", "sort", "sourceBean".'
            )
        self._row(mod, id, vnd=False)
        store_link = self._link(mod, link)
        size, number = self._page(query)
        bean = VARDEFS[mod]["bean"]
        empty = {
            "meta": {"message": f"There is no relationship set in {bean} module with {link} "
                                "link field"},
            "data": [],
        }  # fmt: skip
        if store_link is None:
            return self._json(empty)
        target = self.store.store_link(mod, store_link).target
        order = self._sort(target, query)
        total = self.store.related_count(mod, id, store_link)
        if total == 0:
            return self._json(empty)
        per = size or max(total, 1)
        n = number or 1
        rows = self.store.related(mod, id, store_link, None, order, per, (n - 1) * per)
        target_bean = VARDEFS[target]["bean"]
        items = [
            {"type": target_bean, "id": r["id"],
             "attributes": self._attributes(target, r, None),
             "links": {"self": f"V8/module/{target_bean}/{r['id']}"}}
            for r in rows
        ]  # fmt: skip
        pages = max(1, math.ceil(total / per))
        body: dict[str, Any] = {
            "meta": {"total-records": total, "total-pages": pages,
                     "records-on-this-page": len(rows)},
            "data": items,
        }  # fmt: skip
        if size is not None:
            body["links"] = self._links(
                f"V8/module/{module}/{id}/relationships/{link}", query, size, number, pages
            )
        return self._json(body)

    async def rel_add(
        self, request: Request, tok: AccessToken, module: str, id: str, link: str | None = None
    ) -> Response:
        self._check_id(id)
        mod = self._module(module)
        data = (await self._body(request))["data"]
        if isinstance(data, list):
            raise ApiError('The option "0" does not exist. Defined options are: "id", "type".')
        if not isinstance(data, dict) or "type" not in data or "id" not in data:
            missing = "type" if not isinstance(data, dict) or "type" not in data else "id"
            raise ApiError(f'The required option "{missing}" is missing.')
        related_mod = self._module(str(data["type"]))
        related_id = str(data["id"])
        self._row(mod, id)
        if self.store.get(related_mod, related_id, ["id"]) is None:
            raise ApiError(f"{related_mod} module with id {related_id} is not found")
        if link is None:
            candidates = [k[1] for k, v in _store_links().items()
                          if k[0] == mod and v.target == related_mod]  # fmt: skip
            if not candidates:
                raise ApiError(f"Relationship between {mod} and {related_mod} is not found")
            store_link = candidates[-1]
        else:
            found = self._link(mod, link)
            if found is None:
                raise ApiError(f"Cannot load relationship {link} for {VARDEFS[mod]['bean']} "
                               "module")  # fmt: skip
            store_link = found
        try:
            self.store.link(mod, id, store_link, related_id)
        except (RecordNotFound, StoreError) as e:
            raise ApiError(str(e)) from None
        bean, rbean = VARDEFS[mod]["bean"], VARDEFS[related_mod]["bean"]
        if link is None:
            msg = f"{rbean} with id {related_id} has been added to {bean} with id {id}"
            return self._json({"meta": {"message": msg}, "data": []}, 201)
        meta = {
            "message": f"{related_mod} record with id {related_id} has been related to {mod} "
            f"record with id {id} using link {link}",
            "sourceModule": mod,
            "sourceModuleLabel": self.store.module(mod).label,
            "sourceId": id,
            "relatedModule": related_mod,
            "relatedModuleLabel": self.store.module(related_mod).label,
            "relatedId": related_id,
            "relationshipLink": link,
        }
        return self._json({"meta": meta, "data": []}, 201)

    async def rel_delete(
        self, request: Request, tok: AccessToken, module: str, id: str, link: str,
        related_id: str,
    ) -> Response:  # fmt: skip
        try:
            mod = self._module(module)
        except ApiError:
            raise ApiError(f"Module with name {module} is not found") from None
        self._row(mod, id)
        bean = VARDEFS[mod]["bean"]
        store_link = self._link(mod, link)
        if store_link is None or not self.store.unlink(mod, id, store_link, related_id):
            raise ApiError(f"Module with {related_id} id is not related to {bean}", vnd=True)
        target_bean = VARDEFS[self.store.store_link(mod, store_link).target]["bean"]
        msg = (f"Relationship has been deleted between {bean} with id {id} and {target_bean} "
               f"with id {related_id}")  # fmt: skip
        return self._json({"meta": {"message": msg}, "data": []})


def _store_links() -> dict[tuple[str, str], Any]:
    from crmdesk.demo.catalog import STORE_LINKS

    return dict(STORE_LINKS)


def create_app(store: Store, credentials: DemoCredentials) -> SuiteCrmApp:
    return SuiteCrmApp(store, credentials)


def new_id() -> str:
    return str(uuid.uuid4())
