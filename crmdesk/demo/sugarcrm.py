"""The SugarCRM REST v11 flavour of the demo CRM, over the shared demo store.

Mounted under ``/sugarcrm``; the API lives at ``/sugarcrm/rest/v11/…`` and
``/sugarcrm/rest/v11_N/…`` (10 ≤ version ≤ 11.16, like Sugar 12.0).  It answers in the
shapes of ``shared/peers/sugarcrm/samples``: OAuth2 password and refresh_token grants with
single-use refresh tokens, ``OAuth-Token`` header, records with ``_acl`` / ``_module``,
``next_offset`` paging, the filter grammar, ``/metadata`` with its ``_hash`` and 412 on a
stale ``X-Metadata-Hash``, 409 ``edit_conflict`` on a stale ``X-Timestamp``, ``/bulk``,
favorites, ``/me``, ``/search``, links and leancount (≥ v11_4).

The app object has test hooks: :meth:`SugarApp.expire_tokens` and
:meth:`SugarApp.bump_metadata` (as if an admin customised the instance).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets as _secrets
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import Receive, Scope, Send

from crmdesk.core.schema import Cardinality, FieldDef, FieldType, ModuleDef
from crmdesk.demo import store as st
from crmdesk.demo.catalog import CASE_STATUSES, MODULES, STORE_LINKS
from crmdesk.demo.data import ADMIN_ID
from crmdesk.demo.server import DemoCredentials

MIN_VERSION = (10, 0)
MAX_VERSION = (11, 16)
#: Platforms this demo instance knows (as if "crmdesk" were registered by an admin).
PLATFORMS = frozenset({"base", "mobile", "portal", "crmdesk"})
#: Platforms with one session per user (a new login drops the older tokens).
SINGLE_SESSION = frozenset({"base", "portal"})
REFRESH_TTL = 1209600
SUGAR_MODULES = ("Accounts", "Contacts", "Leads", "Opportunities", "Cases", "Users")

#: Filters saved in the demo Sugar's UI (records of its ``Filters`` module): the list
#: calls take one by ``filter_id`` and AND its definition with ``filter``.
SAVED_FILTERS: tuple[dict[str, Any], ...] = (
    {
        "id": "f0000000-0000-4000-8000-000000000001",
        "name": "Banking accounts",
        "module_name": "Accounts",
        "filter_definition": [{"industry": {"$equals": "Banking"}}],
    },
    {
        "id": "f0000000-0000-4000-8000-000000000002",
        "name": "Customers & <partners>",
        "module_name": "Accounts",
        "filter_definition": [{"$or": [{"account_type": "Customer"}, {"account_type": "Partner"}]}],
    },
    {
        "id": "f0000000-0000-4000-8000-000000000003",
        "name": "Contacts named A…",
        "module_name": "Contacts",
        "filter_definition": [{"last_name": {"$starts": "A"}}],
    },
)
#: Modules with optimistic locking (X-Timestamp → 409).
LOCKING = frozenset({"Accounts", "Contacts", "Leads", "Opportunities", "Cases"})

#: Store value → Sugar value, per (module, field), where the two differ.
VALUE_MAP: dict[tuple[str, str], dict[str, str]] = {
    ("Cases", "status"): {
        "Open_New": "New",
        "Open_Assigned": "Assigned",
        "Closed_Closed": "Closed",
        "Open_Pending Input": "Pending Input",
        "Closed_Rejected": "Rejected",
        "Closed_Duplicate": "Duplicate",
    }
}
_REVERSE_MAP = {k: {v: s for s, v in m.items()} for k, m in VALUE_MAP.items()}

DOMS: dict[tuple[str, str], str] = {
    ("Accounts", "account_type"): "account_type_dom",
    ("Accounts", "industry"): "industry_dom",
    ("Leads", "status"): "lead_status_dom",
    ("Opportunities", "sales_stage"): "sales_stage_dom",
    ("Opportunities", "opportunity_type"): "opportunity_type_dom",
    ("Cases", "status"): "case_status_dom",
    ("Cases", "priority"): "case_priority_dom",
    ("Cases", "type"): "case_type_dom",
    ("Cases", "state"): "case_state_dom",
    ("Users", "status"): "user_status_dom",
}
_SHARED_DOMS = {
    "salutation": "salutation_dom",
    "lead_source": "lead_source_dom",
    "lawful_basis": "lawful_basis_dom",
}
#: Relate name field → (link name, rname) for the link object Sugar writes beside it.
RELATE_LINKS = {
    "assigned_user_name": ("assigned_user_link", "full_name"),
    "created_by_name": ("created_by_link", "full_name"),
    "modified_by_name": ("modified_user_link", "full_name"),
    "parent_name": ("member_of", "name"),
    "account_name": ("accounts", "name"),
}
#: The record view's body panel per module, in view names (relate fields by their name
#: field, ``email`` for the addresses widget), after Sugar's stock ``record.php``; every other
#: field of the catalog goes to the "show more" panel.  Modules without an entry (Users, a
#: backwards-compatible module in Sugar) have no record view.
RECORD_BODY: dict[str, tuple[str, ...]] = {
    "Accounts": (
        "website", "industry", "parent_name", "account_type", "assigned_user_name",
        "phone_office", "email",
    ),
    "Contacts": (
        "title", "phone_mobile", "department", "do_not_call", "account_name", "email",
        "phone_work", "assigned_user_name",
    ),
    "Leads": (
        "title", "phone_mobile", "website", "do_not_call", "account_name", "email",
        "status", "lead_source", "assigned_user_name",
    ),
    "Opportunities": (
        "account_name", "date_closed", "amount", "sales_stage", "probability",
        "opportunity_type", "next_step", "assigned_user_name",
    ),
    "Cases": ("case_number", "type", "account_name", "state", "status", "priority",
              "assigned_user_name", "description"),
}  # fmt: skip
#: Modules whose header shows the name as salutation / first / last name.
_FULLNAME_HEADER = frozenset({"Contacts", "Leads"})
_ADDRESS_PARTS = ("street", "city", "state", "postalcode", "country")
#: Dependent drop-downs (vardef ``visibility_grid``): child → (trigger, trigger value →
#: allowed store values).  Stock Sugar narrows a case's status by its state.
VISIBILITY_GRIDS: dict[tuple[str, str], tuple[str, dict[str, tuple[str, ...]]]] = {
    ("Cases", "status"): (
        "state",
        {
            state: tuple(o.key for o in CASE_STATUSES if o.key.startswith(f"{state}_"))
            for state in ("Open", "Closed")
        },
    ),
}
_SUGAR_TYPE = {
    FieldType.TEXT: "varchar",
    FieldType.MULTILINE: "text",
    FieldType.INT: "int",
    FieldType.DECIMAL: "decimal",
    FieldType.CURRENCY: "currency",
    FieldType.BOOL: "bool",
    FieldType.DATE: "date",
    FieldType.DATETIME: "datetime",
    FieldType.ENUM: "enum",
    FieldType.MULTIENUM: "multienum",
    FieldType.EMAIL: "varchar",
    FieldType.PHONE: "phone",
    FieldType.URL: "url",
    FieldType.ID: "id",
    FieldType.UNKNOWN: "varchar",
}
_OPS_CMP: dict[str, st.Op] = {"$lt": "lt", "$lte": "lte", "$gt": "gt", "$gte": "gte"}
#: Sugar's sales_probability_dom: the calculated probability of each sales stage.
SALES_PROBABILITY = {
    "Prospecting": 10,
    "Qualification": 20,
    "Needs Analysis": 25,
    "Value Proposition": 30,
    "Id. Decision Makers": 40,
    "Perception Analysis": 50,
    "Proposal/Price Quote": 65,
    "Negotiation/Review": 80,
    "Closed Won": 100,
    "Closed Lost": 0,
}
_STATUS_TEXT = {
    200: "OK",
    301: "Moved Permanently",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    412: "Precondition Failed",
    413: "Request Entity Too Large",
    422: "Unprocessable Entity",
    500: "Internal Server Error",
}


class ApiError(Exception):
    def __init__(self, status: int, label: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.label = label
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.label}
        out.update(self.extra)
        if self.message:
            out["error_message"] = self.message
        return out


def _invalid(message: str) -> ApiError:
    return ApiError(422, "invalid_parameter", message)


@dataclass(slots=True)
class Req:
    method: str
    version: tuple[int, int]
    version_text: str
    path: str  # after the version, without leading slash
    query: list[tuple[str, str]]
    body: Any
    headers: dict[str, str]  # lower-case names

    def args(self) -> dict[str, Any]:
        """Body merged with the query string (the query string wins), like Sugar."""
        out: dict[str, Any] = dict(self.body) if isinstance(self.body, Mapping) else {}
        out.update(php_params(self.query))
        return out


@dataclass(slots=True)
class Answer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class _Token:
    user_id: str
    platform: str
    client_id: str
    expires_at: float
    refresh: str = ""


def php_params(items: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """A query string as PHP reads it: ``a[0][b]=1`` nests; numeric keys become lists;
    ``filter`` / ``fields`` values starting with ``[`` or ``{`` are JSON."""
    root: dict[str, Any] = {}
    for key, val in items:
        m = re.match(r"^([^\[]+)((?:\[[^\]]*\])*)$", key)
        if not m:
            root[key] = val
            continue
        parts = [m.group(1), *re.findall(r"\[([^\]]*)\]", m.group(2))]
        node = root
        for i, part in enumerate(parts):
            if part == "":
                part = str(len(node))
            if i == len(parts) - 1:
                node[part] = val
            else:
                nxt = node.get(part)
                if not isinstance(nxt, dict):
                    nxt = {}
                    node[part] = nxt
                node = nxt
    out: dict[str, Any] = _listify(root)
    for key in ("filter",):
        v = out.get(key)
        if isinstance(v, str) and v[:1] in "[{":
            try:
                out[key] = json.loads(v)
            except ValueError:
                raise _invalid("A parameter in your request was invalid.") from None
    return out


def _listify(v: Any) -> Any:
    if isinstance(v, dict):
        conv = {k: _listify(x) for k, x in v.items()}
        if conv and all(k.isdigit() for k in conv):
            keys = sorted(conv, key=int)
            if [int(k) for k in keys] == list(range(len(keys))):
                return [conv[k] for k in keys]
        return conv
    return v


def _md5(data: Any) -> str:
    return hashlib.md5(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        v = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return v.astimezone(UTC).isoformat(timespec="seconds")
    return ""


def _truthy(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float):
        return bool(v)
    return str(v).strip().lower() in ("1", "true", "yes", "on")


def _label_key(name: str) -> str:
    return "LBL_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


#: Accounts whose ``_acl`` differs from the module's (a role's field rules, an owner-only
#: action), keyed by the seeded number that ends the account's name, so the same records
#: are restricted in every demo: one whose annual revenue may not be changed, one whose
#: office phone may not even be read, one that may neither be changed nor deleted.
#: The shape is Sugar's ``SugarBeanApiHelper::getBeanAcl`` (README §5): only the "no"s.
RESTRICTED_ACCOUNTS: dict[str, dict[str, Any]] = {
    "0012": {"fields": {"annual_revenue": {"write": "no", "create": "no"}}},
    "0013": {
        "fields": {
            "annual_revenue": {"write": "no", "create": "no"},
            "phone_office": {"read": "no", "write": "no", "create": "no"},
        }
    },
    "0014": {"edit": "no", "delete": "no", "fields": {}},
}


class SugarApp:
    """The ASGI app (one per demo server)."""

    def __init__(self, store: st.Store, credentials: DemoCredentials) -> None:
        self.store = store
        self.credentials = credentials
        self._lock = threading.Lock()
        self._tokens: dict[str, _Token] = {}
        self._refresh: dict[str, _Token] = {}
        self._favorites: set[tuple[str, str, str]] = set()
        self._generation = 0
        self._meta_cache: tuple[int, dict[str, Any], dict[str, Any], str] | None = None
        self._restricted: dict[str, str] | None = None

    # -- test hooks -----------------------------------------------------------------------
    def expire_tokens(self) -> None:
        with self._lock:
            for tok in self._tokens.values():
                tok.expires_at = 0.0

    def bump_metadata(self) -> None:
        """As if an administrator changed the instance: the metadata hash changes."""
        with self._lock:
            self._generation += 1
            self._meta_cache = None

    # -- ASGI -----------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        raw = b""
        while True:
            msg = await receive()
            raw += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        answer = self.handle(scope["method"], scope["path"], query, raw, headers)
        await self._send(send, answer)

    @staticmethod
    async def _send(send: Send, answer: Answer) -> None:
        if answer.status == 304:
            body = b""
        else:
            body = json.dumps(answer.body).replace("/", "\\/").encode()
        hdrs = [(b"content-type", b"application/json")]
        hdrs += [(k.lower().encode(), v.encode()) for k, v in answer.headers.items()]
        hdrs.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": answer.status, "headers": hdrs})
        await send({"type": "http.response.body", "body": body})

    def handle(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        raw: bytes,
        headers: dict[str, str],
    ) -> Answer:
        try:
            m = re.match(r"^/rest/([^/]*)(?:/(.*))?$", path)
            if not m:
                raise ApiError(
                    404,
                    "no_method",
                    f"Could not find any route that accepted a path like: {path.lstrip('/')}",
                )
            version_text, rest = m.group(1), (m.group(2) or "")
            version = self._version(version_text)
            body: Any = None
            if raw.strip():
                ctype = headers.get("content-type", "")
                if "application/x-www-form-urlencoded" in ctype:
                    body = dict(parse_qsl(raw.decode("utf-8", "replace")))
                else:
                    try:
                        body = json.loads(raw)
                    except ValueError:
                        raise _invalid("A parameter in your request was invalid.") from None
            req = Req(method.upper(), version, version_text, rest.strip("/"), query, body, headers)
            answer = self.dispatch(req, None)
        except ApiError as exc:
            answer = Answer(exc.status, exc.body(), {"Cache-Control": "no-store"})
        if method.upper() == "GET":
            self._etag(answer)
            etag = answer.headers.get("ETag")
            if etag and headers.get("if-none-match") == etag:
                return Answer(304, None, answer.headers)
        return answer

    @staticmethod
    def _etag(answer: Answer) -> None:
        """GET answers carry an ETag (md5 of the body) and a private max-age, like Sugar."""
        if answer.status != 200:
            return
        if "ETag" not in answer.headers:
            answer.headers["ETag"] = hashlib.md5(json.dumps(answer.body).encode()).hexdigest()
        answer.headers.setdefault("Cache-Control", "max-age=0, private")

    @staticmethod
    def _version(text: str) -> tuple[int, int]:
        m = re.match(r"^v(\d\d)(?:_(\d{1,2}))?$", text)
        if not m:
            raise ApiError(301, "incorrect_version", f"Invalid url version format: {text}.")
        ver = (int(m.group(1)), int(m.group(2) or 0))
        if not MIN_VERSION <= ver <= MAX_VERSION:
            raise ApiError(
                301,
                "incorrect_version",
                "Please change your requested API version to value between 10 and 11.16.",
            )
        return ver

    # -- dispatch -------------------------------------------------------------------------
    def dispatch(self, req: Req, user: str | None) -> Answer:
        parts = [p for p in req.path.split("/") if p] if req.path else []
        meth = req.method
        no_method = ApiError(
            404,
            "no_method",
            f"Could not find any route that accepted a path like: {req.path}",
        )
        if parts[:1] == ["oauth2"]:
            if parts == ["oauth2", "token"] and meth == "POST":
                return self.token(req)
            if parts == ["oauth2", "logout"] and meth == "POST":
                user = user or self.authenticate(req)
                return self.logout(req)
            raise no_method
        if parts == ["metadata", "public"] and meth == "GET":
            return Answer(200, self.metadata_body(req, public=True))
        if user is None:
            user = self.authenticate(req)
        exempt = parts[:1] in (["metadata"], ["lang"], ["me"])
        sent_hash = req.headers.get("x-metadata-hash")
        if sent_hash and not exempt and sent_hash != self.metadata_hash():
            raise ApiError(
                412,
                "metadata_out_of_date",
                "Your metadata or user hash did not match the server. Please resync your metadata.",
                metadata_hash=self.metadata_hash(),
                user_hash=self.user_hash(user),
            )
        if parts == ["ping"] and meth == "GET":
            return Answer(200, "pong")
        if parts == ["ping", "whattimeisit"] and meth == "GET":
            return Answer(200, _iso(st.now_utc()))
        if parts[:1] == ["metadata"] and meth in ("GET", "POST"):
            if parts == ["metadata"]:
                return self.metadata(req)
            if parts == ["metadata", "_hash"]:
                return Answer(200, self.metadata_hash())
            raise no_method
        if len(parts) == 2 and parts[0] == "lang" and meth == "GET":
            return Answer(200, self.lang_body())
        if parts == ["me"] and meth == "GET":
            return Answer(200, self.me_body(user), {"ETag": self.user_hash(user)})
        if parts == ["search"] and meth == "GET":
            return self.search(req, user)
        if parts == ["bulk"] and meth == "POST":
            return self.bulk(req, user)
        if parts in (["Filters"], ["Filters", "filter"]) and meth in ("GET", "POST"):
            return self.saved_filters(req)
        if not parts or parts[0] not in SUGAR_MODULES:
            raise no_method
        module = parts[0]
        n = len(parts)
        if n == 1:
            if meth == "GET":
                return self.filter(req, user, module)
            if meth == "POST":
                return self.create(req, user, module)
            raise no_method
        if parts[1] == "filter":
            if n == 2 and meth in ("GET", "POST"):
                return self.filter(req, user, module)
            if n == 3 and parts[2] == "count" and meth in ("GET", "POST"):
                return self.count(req, module, user)
            raise no_method
        if n == 2 and parts[1] == "count" and meth == "GET":
            return self.count(req, module, user)
        if n == 3 and parts[1] == "enum" and meth == "GET":
            return self.enum(module, parts[2])
        rid = parts[1]
        if n == 2:
            if meth == "GET":
                return Answer(200, self.record_out(module, self.load(module, rid), user))
            if meth == "PUT":
                return self.update(req, user, module, rid)
            if meth == "DELETE":
                return self.delete(user, module, rid)
            raise no_method
        if n == 3 and parts[2] in ("favorite", "unfavorite"):
            row = self.load(module, rid)
            key = (user, module, rid)
            with self._lock:
                if parts[2] == "favorite" and meth == "PUT":
                    self._favorites.add(key)
                elif (parts[2] == "favorite" and meth == "DELETE") or (
                    parts[2] == "unfavorite" and meth == "PUT"
                ):
                    self._favorites.discard(key)
                else:
                    raise no_method
            return Answer(200, self.record_out(module, row, user))
        if parts[2] != "link":
            raise no_method
        if n == 3:
            if meth == "POST":
                return self.link_many(req, user, module, rid)
            raise no_method
        link = parts[3]
        if n == 4:
            if meth == "GET":
                return self.related(req, user, module, rid, link)
            if meth == "POST":
                return self.create_related(req, user, module, rid, link)
            raise no_method
        tail = parts[4:]
        if tail == ["filter"] and meth in ("GET", "POST"):
            return self.related(req, user, module, rid, link)
        if tail in (["count"], ["filter", "count"]) and meth == "GET":
            return self.related_count(req, module, rid, link)
        if tail in (["leancount"], ["filter", "leancount"]) and meth == "GET":
            if req.version < (11, 4):
                raise no_method
            return self.leancount(req, module, rid, link)
        if len(tail) == 1:
            other = tail[0]
            if meth == "GET":
                return self.related_one(user, module, rid, link, other)
            if meth == "POST":
                return self.link(req, user, module, rid, link, other)
            if meth == "DELETE":
                return self.unlink(user, module, rid, link, other)
        raise no_method

    # -- auth -----------------------------------------------------------------------------
    def authenticate(self, req: Req) -> str:
        token = req.headers.get("oauth-token", "")
        if not token:
            auth = req.headers.get("authorization", "")
            if auth.lower().startswith("bearer "):
                token = auth[7:].strip()
        if not token:
            raise ApiError(401, "need_login", "No valid authentication for user.")
        with self._lock:
            tok = self._tokens.get(token)
        if tok is None:
            raise ApiError(401, "invalid_grant", "The access token provided is invalid.")
        if tok.expires_at < time.time():
            raise ApiError(401, "invalid_grant", "The access token provided has expired.")
        return tok.user_id

    def token(self, req: Req) -> Answer:
        args = req.args()
        grant = str(args.get("grant_type") or "")
        if grant not in ("password", "refresh_token"):
            raise ApiError(
                400, "invalid_request", "Invalid grant_type parameter or parameter missing"
            )
        client_id = str(args.get("client_id") or "")
        secret = str(args.get("client_secret") or "")
        c = self.credentials
        client_ok = (client_id == "sugar" and secret == "") or (
            client_id == c.client_id and _secrets.compare_digest(secret, c.client_secret)
        )
        if not client_ok:
            raise ApiError(400, "invalid_client", "The client credentials are invalid")
        platform = str(args.get("platform") or "base")
        if platform not in PLATFORMS:
            raise _invalid("Invalid platform specified.")
        now = time.time()
        if grant == "password":
            username = str(args.get("username") or "")
            password = str(args.get("password") or "")
            if not (username == c.username and _secrets.compare_digest(password, c.password)):
                raise ApiError(401, "need_login", "You must specify a valid username and password.")
            user_id = ADMIN_ID
        else:
            rt = str(args.get("refresh_token") or "")
            if not rt:
                raise ApiError(400, "invalid_request", 'No "refresh_token" parameter found')
            with self._lock:
                old = self._refresh.pop(rt, None)
            if old is None or old.client_id != client_id:
                raise ApiError(400, "invalid_grant", "Invalid refresh token")
            if old.expires_at < now:
                raise ApiError(
                    400,
                    "invalid_grant",
                    f"Refresh token has expired: {int(old.expires_at)} vs {int(now)}",
                )
            user_id = old.user_id
            platform = old.platform
        access, refresh = str(uuid.uuid4()), str(uuid.uuid4())
        ttl = float(c.token_ttl)
        with self._lock:
            if grant == "password" and platform in SINGLE_SESSION:
                for store_ in (self._tokens, self._refresh):
                    for k in [
                        k
                        for k, t in store_.items()
                        if t.user_id == user_id and t.platform == platform
                    ]:
                        del store_[k]
            self._tokens[access] = _Token(user_id, platform, client_id, now + ttl, refresh)
            self._refresh[refresh] = _Token(user_id, platform, client_id, now + REFRESH_TTL)
        return Answer(
            200,
            {
                "access_token": access,
                "expires_in": int(ttl),
                "token_type": "bearer",
                "scope": None,
                "refresh_token": refresh,
                "refresh_expires_in": REFRESH_TTL,
                "download_token": str(uuid.uuid4()),
            },
            {"Cache-Control": "no-store"},
        )

    def logout(self, req: Req) -> Answer:
        token = req.headers.get("oauth-token", "")
        args = req.args()
        with self._lock:
            tok = self._tokens.pop(token, None)
            if tok is not None and tok.refresh:
                self._refresh.pop(tok.refresh, None)
            rt = args.get("refresh_token")
            if isinstance(rt, str):
                self._refresh.pop(rt, None)
        return Answer(200, {"success": True})

    # -- metadata -------------------------------------------------------------------------
    def _build_metadata(self) -> tuple[dict[str, Any], dict[str, Any], str]:
        with self._lock:
            cached = self._meta_cache
            gen = self._generation
        if cached is not None and cached[0] == gen:
            return cached[1], cached[2], cached[3]
        modules = {name: self.module_meta(MODULES[name]) for name in SUGAR_MODULES}
        lang = self.lang_content()
        h = _md5({"modules": modules, "lang": lang, "gen": gen})
        with self._lock:
            self._meta_cache = (gen, modules, lang, h)
        return modules, lang, h

    def metadata_hash(self) -> str:
        return self._build_metadata()[2]

    def user_hash(self, user: str) -> str:
        return _md5({"user": user, "gen": self._generation})

    def module_meta(self, mod: ModuleDef) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for fd in mod.fields:
            fields[fd.name] = self.vardef(mod, fd)
            if fd.relate_name_field:
                rn = fd.relate_name_field
                link, rname = RELATE_LINKS.get(rn, (f"{rn}_link", "name"))
                fields[rn] = {
                    "name": rn,
                    "vname": _label_key(rn),
                    "type": "relate",
                    "rname": rname,
                    "id_name": fd.name,
                    "module": fd.relate_module,
                    "link": link,
                    "source": "non-db",
                    "table": (fd.relate_module or "").lower(),
                }
        fields["deleted"] = {
            "name": "deleted",
            "vname": "LBL_DELETED",
            "type": "bool",
            "default": "0",
        }
        if mod.name != "Users":
            fields["team_name"] = {
                "name": "team_name",
                "vname": "LBL_TEAMS",
                "type": "relate",
                "custom_type": "teamset",
                "rname": "name",
                "id_name": "team_id",
                "module": "Teams",
                "source": "non-db",
            }
        if mod.has_field("email1"):
            fields["email"] = {
                "name": "email",
                "vname": "LBL_EMAIL_ADDRESSES",
                "type": "email",
                "source": "non-db",
            }
        fields["my_favorite"] = {
            "name": "my_favorite",
            "vname": "LBL_FAVORITE",
            "type": "bool",
            "source": "non-db",
            "link": "favorite_link",
            "rname": "id",
        }
        for lk in mod.links:
            fields.setdefault(
                lk.name,
                {
                    "name": lk.name,
                    "type": "link",
                    "relationship": lk.relationship,
                    "module": lk.target_module,
                    "bean_name": lk.target_module[:-1],
                    "source": "non-db",
                    "vname": _label_key(lk.name),
                    **({"link_type": "one"} if lk.cardinality is Cardinality.ONE else {}),
                },
            )
        fields["_hash"] = _md5(fields)
        out: dict[str, Any] = {
            "fields": fields,
            "nameFormat": {"f": "first_name", "l": "last_name", "s": "salutation", "t": "title"}
            if mod.name in ("Contacts", "Leads", "Users")
            else None,
            "views": {
                "list": {
                    "meta": {
                        "panels": [
                            {
                                "label": "LBL_PANEL_1",
                                "fields": [
                                    {
                                        "name": self._list_name(mod, n),
                                        "label": _label_key(n),
                                        "default": True,
                                    }
                                    for n in mod.list_fields
                                ],
                            }
                        ]
                    }
                },
                **self.record_view(mod),
            },
            "layouts": {},
            "isBwcEnabled": False,
            "favoritesEnabled": True,
            "followingEnabled": True,
        }
        out["_hash"] = _md5(out)
        return out

    def record_view(self, mod: ModuleDef) -> dict[str, Any]:
        """``views.record`` in Sugar's shape: a header panel (avatar, name, favorite and
        follow buttons), the body panel of :data:`RECORD_BODY` and a "show more" panel with
        the rest of the catalog, addresses and "created / modified by" as fieldsets."""
        body = RECORD_BODY.get(mod.name)
        if body is None:
            return {}
        if mod.name in _FULLNAME_HEADER:
            name: Any = {
                "name": "name",
                "type": "fullname",
                "label": "LBL_NAME",
                "dismiss_label": True,
                "fields": [
                    {"name": "salutation", "type": "enum", "enum_width": "auto"},
                    "first_name",
                    "last_name",
                ],
            }
            in_header = {"name", "salutation", "first_name", "last_name"}
        else:
            name, in_header = "name", {"name"}
        header = {
            "name": "panel_header",
            "header": True,
            "fields": [
                {
                    "name": "picture",
                    "type": "avatar",
                    "size": "large",
                    "dismiss_label": True,
                    "readonly": True,
                },
                name,
                {"name": "favorite", "label": "LBL_FAVORITE", "type": "favorite",
                 "dismiss_label": True},
                {"name": "follow", "label": "LBL_FOLLOW", "type": "follow", "readonly": True,
                 "dismiss_label": True},
            ],
        }  # fmt: skip
        placed = in_header | {"id", "date_entered", "date_modified", "created_by"}
        placed |= {"modified_user_id"}
        body_fields: list[Any] = []
        for view_name in body:
            body_fields.append(
                {"name": view_name, "span": 12} if view_name == "description" else view_name
            )
            placed.add(self._field_name(mod, view_name))
        more: list[Any] = []
        addresses: set[str] = set()
        for fd in mod.fields:
            if fd.name in placed or not fd.visible:
                continue
            prefix, _, part = fd.name.rpartition("_")
            if part in _ADDRESS_PARTS and prefix.endswith("address"):
                if prefix not in addresses:
                    addresses.add(prefix)
                    more.append(self._address_fieldset(mod, prefix))
                continue
            if fd.name == "description":
                more.append({"name": "description", "span": 12})
            else:
                more.append(self._list_name(mod, fd.name) if fd.name != "email1" else "email")
        more += [
            self._by_fieldset("date_entered", "created_by_name"),
            "team_name",
            self._by_fieldset("date_modified", "modified_by_name"),
        ]
        return {
            "record": {
                "meta": {
                    "buttons": [
                        {
                            "type": "button",
                            "name": "cancel_button",
                            "label": "LBL_CANCEL_BUTTON_LABEL",
                        },
                        {
                            "type": "rowaction",
                            "name": "save_button",
                            "label": "LBL_SAVE_BUTTON_LABEL",
                        },
                    ],
                    "panels": [
                        header,
                        {
                            "name": "panel_body",
                            "label": "LBL_RECORD_BODY",
                            "columns": 2,
                            "labelsOnTop": True,
                            "placeholders": True,
                            "fields": body_fields,
                        },
                        {
                            "name": "panel_hidden",
                            "label": "LBL_RECORD_SHOWMORE",
                            "hide": True,
                            "columns": 2,
                            "labelsOnTop": True,
                            "placeholders": True,
                            "fields": more,
                        },
                    ],
                    "templateMeta": {"useTabs": False},
                }
            }
        }

    @staticmethod
    def _field_name(mod: ModuleDef, view_name: str) -> str:
        """The catalog field a view name shows (``account_name`` → ``account_id``)."""
        if view_name == "email":
            return "email1"
        for fd in mod.fields:
            if fd.relate_name_field == view_name:
                return fd.name
        return view_name

    @staticmethod
    def _address_fieldset(mod: ModuleDef, prefix: str) -> dict[str, Any]:
        members: list[Any] = []
        if prefix == "shipping_address" and mod.has_field("billing_address_street"):
            members.append(
                {
                    "name": "copy",
                    "label": "NTC_COPY_BILLING_ADDRESS",
                    "type": "copy",
                    "mapping": {
                        f"billing_address_{p}": f"shipping_address_{p}" for p in _ADDRESS_PARTS
                    },
                }
            )
        members += [
            {
                "name": f"{prefix}_{part}",
                "css_class": f"address_{part}",
                "placeholder": _label_key(f"{prefix}_{part}"),
            }
            for part in _ADDRESS_PARTS
            if mod.has_field(f"{prefix}_{part}")
        ]
        return {
            "name": prefix,
            "type": "fieldset",
            "css_class": "address",
            "label": _label_key(prefix),
            "fields": members,
        }

    @staticmethod
    def _by_fieldset(date_field: str, user_field: str) -> dict[str, Any]:
        """``date_entered_by``: "<date> by <user>", as Sugar's record views show it."""
        return {
            "name": f"{date_field}_by",
            "readonly": True,
            "inline": True,
            "type": "fieldset",
            "label": _label_key(date_field),
            "fields": [
                {"name": date_field},
                {"type": "label", "default_value": "LBL_BY"},
                {"name": user_field},
            ],
        }

    @staticmethod
    def _list_name(mod: ModuleDef, name: str) -> str:
        """List views name relate fields by their name field (account_name, not account_id)."""
        fd = mod.field(name)
        return fd.relate_name_field if fd is not None and fd.relate_name_field else name

    def vardef(self, mod: ModuleDef, fd: FieldDef) -> dict[str, Any]:
        vd: dict[str, Any] = {"name": fd.name, "vname": _label_key(fd.name)}
        t = _SUGAR_TYPE.get(fd.type, "varchar")
        if fd.name == mod.name_field and fd.name == "name":
            t = "fullname" if mod.name in ("Contacts", "Leads") else "name"
        if fd.type is FieldType.RELATE:
            if fd.name in ("created_by", "modified_user_id"):
                t = "assigned_user_name"
            elif fd.relate_name_field:
                t = "id"
            else:
                t = "relate"
                vd.update({"rname": "id", "id_name": fd.name, "source": "non-db"})
            vd["module"] = fd.relate_module
        vd["type"] = t
        if fd.type is FieldType.ENUM or fd.type is FieldType.MULTIENUM:
            vd["options"] = self.dom_name(mod.name, fd.name)
            if fd.type is FieldType.MULTIENUM:
                vd["isMultiSelect"] = True
        if fd.length is not None:
            vd["len"] = fd.length
        if fd.required:
            vd["required"] = True
        if fd.read_only:
            vd["readonly"] = True
        if fd.type is FieldType.CURRENCY:
            vd["dbType"] = "currency"
        grid = VISIBILITY_GRIDS.get((mod.name, fd.name))
        if grid is not None:
            trigger, values = grid
            vmap = VALUE_MAP.get((mod.name, fd.name), {})
            vd["visibility_grid"] = {
                "trigger": trigger,
                "values": {k: [vmap.get(v, v) for v in allowed] for k, allowed in values.items()},
            }
        return vd

    @staticmethod
    def dom_name(module: str, field_name: str) -> str:
        return DOMS.get(
            (module, field_name), _SHARED_DOMS.get(field_name, f"{module.lower()}_{field_name}_dom")
        )

    def lang_content(self) -> dict[str, Any]:
        als: dict[str, dict[str, str]] = {}
        mod_strings: dict[str, dict[str, str]] = {}
        for name in SUGAR_MODULES:
            mod = MODULES[name]
            ms: dict[str, str] = {"LBL_MODULE_NAME": mod.label}
            for fd in mod.fields:
                ms[_label_key(fd.name)] = fd.label
                if fd.relate_name_field:
                    ms[_label_key(fd.relate_name_field)] = fd.label
                if fd.options:
                    vmap = VALUE_MAP.get((name, fd.name), {})
                    dom: dict[str, str] = {}
                    if fd.type is FieldType.ENUM and not fd.required:
                        dom[""] = ""
                    for opt in fd.options:
                        dom[vmap.get(opt.key, opt.key)] = opt.label
                    als[self.dom_name(name, fd.name)] = dom
            for lk in mod.links:
                ms[_label_key(lk.name)] = lk.label
            ms["LBL_TEAMS"] = "Teams"
            ms["LBL_FAVORITE"] = "Favorite"
            ms["LBL_DELETED"] = "Deleted"
            ms["LBL_EMAIL_ADDRESSES"] = "Email Addresses"
            mod_strings[name] = ms
        return {
            "app_list_strings": als,
            "app_strings": {"LBL_EMAIL_ADDRESS": "Email Address"},
            "mod_strings": mod_strings,
        }

    def lang_body(self) -> dict[str, Any]:
        _, lang, h = self._build_metadata()
        return {**lang, "_hash": h}

    def metadata_body(self, req: Req, *, public: bool = False) -> dict[str, Any]:
        modules, _, h = self._build_metadata()
        args = req.args()
        types_raw = str(args.get("type_filter") or "")
        types = {t for t in types_raw.split(",") if t} or None
        mfilter = {m for m in str(args.get("module_filter") or "").split(",") if m} or None
        only_hash = _truthy(args.get("only_hash", False))
        chosen = {k: v for k, v in modules.items() if mfilter is None or k in mfilter}
        sections: dict[str, Any] = {
            "modules": {k: ({"_hash": v["_hash"]} if only_hash else v) for k, v in chosen.items()},
            "full_module_list": {**{m: MODULES[m].label for m in SUGAR_MODULES}, "_hash": h},
            "modules_info": {
                **{
                    m: {
                        "enabled": True,
                        "visible": m != "Users",
                        "display_tab": m != "Users",
                        "show_subpanels": True,
                        "quick_create": m != "Users",
                    }
                    for m in SUGAR_MODULES
                },
                "_hash": h,
            },
            "labels": {
                "en_us": f"cache/api/metadata/lang_en_us_base.json?v={h}",
                "default": "en_us",
            },
            "server_info": {
                "flavor": "ENT",
                "version": "12.0.0",
                "build": "demo",
                "marketing_version": "",
                "product_name": "SugarCRM (crmdesk demo)",
                "licenses": ["SUGAR_SELL"],
                "fts": {"enabled": False, "type": ""},
                "portal_active": False,
            },
            "relationships": {"_hash": h},
            "currencies": {
                "-99": {
                    "conversion_rate": "1.0",
                    "iso4217": "USD",
                    "name": "US Dollars",
                    "status": "Active",
                    "symbol": "$",
                }
            },
            "languages": {"enabled": ["en_us"], "disabled": []},
        }
        if public:
            types = {"labels", "server_info", "languages"}
        out: dict[str, Any] = {"_hash": h}
        for key, value in sections.items():
            if types is None or key in types:
                if only_hash and key != "modules":
                    out[key] = {"_hash": h}
                else:
                    out[key] = value
        return out

    def metadata(self, req: Req) -> Answer:
        h = self.metadata_hash()
        if req.method == "GET" and req.headers.get("if-none-match") == h:
            return Answer(304, None, {"ETag": h})
        return Answer(200, self.metadata_body(req), {"ETag": h})

    def me_body(self, user: str) -> dict[str, Any]:
        row = self.store.get("Users", user) or {}
        uh = self.user_hash(user)
        acl: dict[str, Any] = {m: {"fields": [], "_hash": _md5(m)} for m in SUGAR_MODULES}
        acl["_hash"] = _md5(acl)
        email = str(row.get("email1") or "")
        return {
            "current_user": {
                "preferences": {
                    "timezone": "UTC",
                    "tz_offset": "+0000",
                    "tz_offset_sec": 0,
                    "datepref": "Y-m-d",
                    "timepref": "H:i",
                    "currency_id": "-99",
                    "currency_name": "US Dollars",
                    "currency_symbol": "$",
                    "currency_iso": "USD",
                    "currency_rate": "1.000000",
                    "decimal_precision": "2",
                    "decimal_separator": ".",
                    "number_grouping_separator": ",",
                    "language": "en_us",
                    "default_teams": [
                        {
                            "id": "1",
                            "name": "Global",
                            "name_2": "",
                            "primary": True,
                            "selected": False,
                        }
                    ],
                },
                "module_list": ["Home", *SUGAR_MODULES],
                "type": "admin" if row.get("is_admin") else "user",
                "show_wizard": False,
                "id": user,
                "full_name": str(row.get("name") or ""),
                "user_name": str(row.get("user_name") or ""),
                "roles": [],
                "is_password_expired": False,
                "password_expired_message": "",
                "picture": "",
                "acl": acl,
                "is_manager": False,
                "is_top_level_manager": False,
                "reports_to_id": "",
                "reports_to_name": "",
                "site_user_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"crmdesk-demo-{user}")),
                "licenses": ["SUGAR_SELL"],
                "products": [],
                "email": [self._email_item(user, email, True)] if email else [],
                "my_teams": [{"id": "1", "name": "Global"}],
                "private_team_id": user,
                "_hash": uh,
            }
        }

    # -- records out ----------------------------------------------------------------------
    @staticmethod
    def _email_item(rid: str, address: str, primary: bool) -> dict[str, Any]:
        return {
            "email_address_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{rid}:{address}")),
            "email_address": address,
            "opt_out": False,
            "invalid_email": False,
            "primary_address": primary,
            "reply_to_address": False,
        }

    @staticmethod
    def value_out(module: str, fd: FieldDef, value: Any) -> Any:
        t = fd.type
        if t is FieldType.BOOL:
            return bool(value)  # every bool vardef here has default '0'

        if t is FieldType.INT:
            return None if value is None else int(value)
        if t is FieldType.DECIMAL:
            return None if value is None else float(value)
        if t is FieldType.CURRENCY:
            return "" if value is None else f"{float(value):.6f}"
        if t is FieldType.DATE:
            return value.isoformat() if isinstance(value, date) else (value or "")
        if t is FieldType.DATETIME:
            return _iso(value)
        if t is FieldType.MULTIENUM:
            return list(value or ())
        if value is None:
            return ""
        vmap = VALUE_MAP.get((module, fd.name))
        if vmap:
            return vmap.get(str(value), str(value))
        return str(value)

    def record_out(
        self,
        module: str,
        row: Mapping[str, Any],
        user: str,
        fields: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """A store row in Sugar's formatBean shape (vardef order, ``_acl`` and ``_module`` last)."""
        mod = MODULES[module]
        rid = str(row["id"])
        if row.get("deleted"):
            return {
                "id": rid,
                "deleted": True,
                "date_modified": _iso(row.get("date_modified")),
                "_acl": {"fields": {}},
                "_module": module,
            }
        want = None if fields is None else {*fields, "id", "date_modified"}
        acl = self.record_acl(module, rid)
        hidden = self._denied(acl, "read")  # Sugar leaves out what the user may not read
        out: dict[str, Any] = {"id": rid}
        for fd in mod.fields:
            if fd.name == "id" or fd.name in hidden:
                continue
            if want is None or fd.name in want:
                out[fd.name] = self.value_out(module, fd, row.get(fd.name))
                if fd.name == "email1" and (want is None or "email" in want):
                    addr = row.get("email1")
                    out["email"] = [self._email_item(rid, addr, True)] if addr else []
            rn = fd.relate_name_field
            if rn and (want is None or rn in want) and rn in row:
                name = row.get(rn)
                out[rn] = name or ""
                link, rname = RELATE_LINKS.get(rn, (f"{rn}_link", "name"))
                out[link] = {
                    rname: name or "",
                    "id": str(row.get(fd.name) or ""),
                    "_acl": {"fields": [], "_hash": _md5(fd.relate_module)},
                }
        if want is not None and "email" in want and "email" not in out and mod.has_field("email1"):
            addr = row.get("email1")
            out["email"] = [self._email_item(rid, addr, True)] if addr else []
        if module != "Users" and (want is None or "team_name" in want):
            out["team_name"] = [
                {"id": "1", "name": "Global", "name_2": "", "primary": True, "selected": False}
            ]
        if want is None or "deleted" in want:
            out["deleted"] = False
        if want is None or "my_favorite" in want:
            with self._lock:
                out["my_favorite"] = (user, module, rid) in self._favorites
        if want is not None and "locked_fields" in want:
            out["locked_fields"] = []
        out["_acl"] = acl
        out["_module"] = module
        return out

    def restricted_accounts(self) -> dict[str, str]:
        """Record id → number (a key of :data:`RESTRICTED_ACCOUNTS`), found once by name."""
        with self._lock:
            found = self._restricted
        if found is None:
            rows = self.store.list(
                "Accounts",
                st.or_(*(st.Cond("name", "like", f"% {n}") for n in RESTRICTED_ACCOUNTS)),
                fields=["name"],
            )
            found = {}
            for row in rows:
                number = str(row.get("name") or "").rpartition(" ")[2]
                if number in RESTRICTED_ACCOUNTS:
                    found[str(row["id"])] = number
            with self._lock:
                self._restricted = found
        return found

    def record_acl(self, module: str, rid: str) -> dict[str, Any]:
        """The record's ``_acl``: ``{"fields": {}}`` unless it is one of
        :data:`RESTRICTED_ACCOUNTS`."""
        number = self.restricted_accounts().get(rid) if module == "Accounts" else None
        if number is None:
            return {"fields": {}}
        acl: dict[str, Any] = json.loads(json.dumps(RESTRICTED_ACCOUNTS[number]))
        return acl

    @staticmethod
    def _denied(acl: Mapping[str, Any], right: str) -> set[str]:
        """Fields the ``_acl`` says ``"<right>": "no"`` for."""
        fields = acl.get("fields")
        if not isinstance(fields, Mapping):
            return set()
        return {k for k, v in fields.items() if isinstance(v, Mapping) and v.get(right) == "no"}

    def check_write(self, module: str, rid: str, body: Mapping[str, Any], action: str) -> None:
        """403 as Sugar answers a write the record's ACL forbids (README §7, the sample's
        notes): the whole action, or one field."""
        acl = self.record_acl(module, rid)
        if acl.get(action) == "no":
            what = "save" if action == "edit" else action
            raise ApiError(
                403, "not_authorized", f'Not allowed to perform action "{what}" on this record'
            )
        for name in sorted(self._denied(acl, "write") & set(body)):
            raise ApiError(
                403, "not_authorized", f"Not allowed to edit field {name} in module: {module}"
            )

    def load(self, module: str, rid: str, fields: Sequence[str] | None = None) -> dict[str, Any]:
        row = self.store.get(module, rid, fields)
        if row is None:
            raise ApiError(404, "not_found", f"Could not find record: {rid} in module: {module}")
        return row

    # -- fields / order / filter ------------------------------------------------------------
    @staticmethod
    def parse_fields(raw: Any) -> list[str] | None:
        if raw is None or raw == "":
            return None
        items: list[Any]
        if isinstance(raw, list):
            items = raw
        else:
            text = str(raw)
            if text.startswith("["):
                try:
                    items = json.loads(text)
                except ValueError:
                    raise _invalid("A parameter in your request was invalid.") from None
            else:
                items, depth, cur = [], 0, ""
                for ch in text:
                    if ch == "{":
                        depth += 1
                    elif ch == "}":
                        depth -= 1
                    if ch == "," and depth == 0:
                        items.append(cur)
                        cur = ""
                    else:
                        cur += ch
                items.append(cur)
        out: list[str] = []
        for it in items:
            if isinstance(it, str) and it.strip() and not it.strip().startswith("{"):
                out.append(it.strip())
        return out

    def store_fields(self, module: str, fields: list[str] | None) -> list[str] | None:
        """The Sugar field list → store columns (unknown names silently dropped)."""
        if fields is None:
            return None
        mod = MODULES[module]
        names = self.store.relate_names(module)
        cols = ["date_modified"]
        for f in fields:
            if f in ("id", "deleted", "version"):
                continue
            if mod.has_field(f) or f in names:
                cols.append(f)
            elif f == "email" and mod.has_field("email1"):
                cols.append("email1")
        return list(dict.fromkeys(cols))

    def order(self, module: str, raw: Any) -> list[tuple[str, bool]]:
        if raw is None or raw == "":
            return [("date_modified", True)]
        out: list[tuple[str, bool]] = []
        for part in str(raw).split(","):
            name, _, direction = part.strip().partition(":")
            if not name:
                continue
            fd = self._field(module, name)
            if fd is None:
                raise _invalid(f"Non existing field: {name} in module: {module}")
            out.append((name, direction.strip().lower() == "desc"))
        return out

    def _field(self, module: str, name: str) -> FieldDef | None:
        mod = MODULES[module]
        fd = mod.field(name)
        if fd is not None:
            return fd
        idf = self.store.relate_names(module).get(name)
        if idf is not None:
            return FieldDef(name, idf.label, FieldType.TEXT)
        return None

    def value_in(self, module: str, fd: FieldDef, raw: Any, *, strict: bool = True) -> Any:
        """A Sugar JSON value → the store's neutral value (422 when it cannot be one)."""
        bad = _invalid(f"Invalid field value: {fd.name} in module: {module}")
        t = fd.type
        if raw is None or (raw == "" and t is not FieldType.BOOL):
            return None
        try:
            if t is FieldType.BOOL:
                return _truthy(raw)
            if t is FieldType.INT:
                return int(str(raw).strip())
            if t in (FieldType.DECIMAL, FieldType.CURRENCY):
                return float(str(raw).strip())
            if t is FieldType.DATE:
                return date.fromisoformat(str(raw)[:10])
            if t is FieldType.DATETIME:
                return self._datetime(str(raw))
            if t is FieldType.MULTIENUM:
                vals = (
                    raw
                    if isinstance(raw, list)
                    else [p.strip("^") for p in str(raw).split(",") if p.strip("^")]
                )
                keys = tuple(str(v) for v in vals if str(v))
                if strict and fd.options:
                    allowed = {o.key for o in fd.options}
                    if any(k not in allowed for k in keys):
                        raise bad
                return keys
        except (ValueError, TypeError):
            raise bad from None
        if isinstance(raw, dict | list):
            raise bad
        text = str(raw)
        rev = _REVERSE_MAP.get((module, fd.name))
        if rev:
            text = rev.get(text, text)
        if (
            strict
            and t is FieldType.ENUM
            and fd.options
            and text not in {o.key for o in fd.options}
        ):
            raise bad
        return text

    @staticmethod
    def _datetime(text: str) -> datetime:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return dt.astimezone(UTC).replace(microsecond=0)

    def compile_filter(self, module: str, flt: Any, user: str) -> st.Filter | None:
        if flt is None or flt == "" or flt == []:
            return None
        if isinstance(flt, Mapping) and all(str(k).isdigit() for k in flt):
            flt = list(flt.values())
        if not isinstance(flt, list):
            raise _invalid(f"Unexpected filter type {type(flt).__name__}.")
        items = [self._expr(module, e, user) for e in flt]
        return st.and_(*items)

    def _expr(self, module: str, expr: Any, user: str) -> st.Filter:
        if not isinstance(expr, Mapping):
            raise _invalid(f"Did not recognize the definition: {json.dumps(expr)}")
        parts: list[st.Filter] = []
        for key, val in expr.items():
            if key in ("$and", "$or"):
                subs = list(val.values()) if isinstance(val, Mapping) else val
                if not isinstance(subs, list):
                    raise _invalid(f"Did not recognize the definition: {json.dumps(val)}")
                compiled = [self._expr(module, s, user) for s in subs]
                parts.append(st.and_(*compiled) if key == "$and" else st.or_(*compiled))
            elif key == "$owner":
                parts.append(st.Cond("assigned_user_id", "eq", user))
            elif key == "$creator":
                parts.append(st.Cond("created_by", "eq", user))
            elif key == "$favorite":
                ids = self._favorite_ids(user, module)
                parts.append(st.Cond("id", "in", ids))
            elif key.startswith("$"):
                raise _invalid(f"Did not recognize the operand: {key}")
            else:
                parts.append(self._field_filter(module, key, val))
        return parts[0] if len(parts) == 1 else st.and_(*parts)

    def _favorite_ids(self, user: str, module: str) -> list[str]:
        with self._lock:
            return [r for (u, m, r) in self._favorites if u == user and m == module]

    def _field_filter(self, module: str, name: str, spec: Any) -> st.Filter:
        fd = self._field(module, name)
        if fd is None:
            raise _invalid(f"Unknown field {name}")
        if not isinstance(spec, Mapping):
            spec = {"$equals": spec}
        conds = [self._op(module, fd, op, v) for op, v in spec.items()]
        return conds[0] if len(conds) == 1 else st.and_(*conds)

    def _op(self, module: str, fd: FieldDef, op: str, v: Any) -> st.Filter:
        name = fd.name
        is_dt = fd.type is FieldType.DATETIME

        def val(x: Any) -> Any:
            if is_dt and isinstance(x, str) and len(x) > 10:
                return self._datetime(x)
            if is_dt:
                return x
            return self.value_in(module, fd, x, strict=False)

        def day(x: Any) -> date:
            try:
                return date.fromisoformat(str(x)[:10])
            except ValueError:
                raise _invalid(f"Invalid field value: {name} in module: {module}") from None

        def bounds(d: date) -> tuple[datetime, datetime]:
            start = datetime(d.year, d.month, d.day, tzinfo=UTC)
            return start, start + timedelta(days=1) - timedelta(seconds=1)

        if op == "$equals":
            if is_dt and isinstance(v, str) and len(v) <= 10:
                return st.Cond(name, "between", bounds(day(v)))
            return st.Cond(name, "eq", val(v))
        if op == "$not_equals":
            return st.and_(st.Cond(name, "neq", val(v)), st.Cond(name, "not_null"))
        if op in ("$starts", "$ends", "$contains", "$not_contains"):
            if op == "$starts" and is_dt and isinstance(v, str) and len(v) <= 10:
                return st.Cond(name, "between", bounds(day(v)))
            values = v if isinstance(v, list) else [v]
            pats = [
                {
                    "$starts": f"{x}%",
                    "$ends": f"%{x}",
                    "$contains": f"%{x}%",
                    "$not_contains": f"%{x}%",
                }[op]
                for x in (self._sugar_to_store_text(module, fd, str(x)) for x in values)
            ]
            if op == "$not_contains":
                return st.and_(*(st.Cond(name, "not_like", p) for p in pats))
            return st.or_(*(st.Cond(name, "like", p) for p in pats))
        if op in ("$in", "$not_in"):
            if not isinstance(v, list):
                raise _invalid(f"{op} requires an array")
            has_empty = "" in v
            rest = [val(x) for x in v if x != ""]
            if op == "$in":
                cond: st.Filter = st.Cond(name, "in", rest)
                return st.or_(cond, st.Cond(name, "null")) if has_empty else cond
            cond = st.Cond(name, "not_in", rest)
            if has_empty:
                return st.and_(st.Cond(name, "not_null"), st.Cond(name, "not_in", rest))
            return cond
        if op in ("$is_null", "$empty"):
            return st.Cond(name, "null")
        if op in ("$not_null", "$not_empty"):
            return st.Cond(name, "not_null")
        if op in _OPS_CMP:
            if is_dt and isinstance(v, str) and len(v) <= 10:
                lo, hi = bounds(day(v))
                if op == "$gt":
                    return st.Cond(name, "gt", hi)
                if op == "$gte":
                    return st.Cond(name, "gte", lo)
                if op == "$lt":
                    return st.Cond(name, "lt", lo)
                return st.Cond(name, "lte", hi)
            return st.Cond(name, _OPS_CMP[op], val(v))
        if op in ("$between", "$dateBetween"):
            if not isinstance(v, list) or len(v) != 2:
                raise _invalid(f"{op} requires an array with two values.")
            if is_dt:
                lo = bounds(day(v[0]))[0] if len(str(v[0])) <= 10 else self._datetime(str(v[0]))
                hi = bounds(day(v[1]))[1] if len(str(v[1])) <= 10 else self._datetime(str(v[1]))
                return st.Cond(name, "between", (lo, hi))
            return st.Cond(name, "between", (val(v[0]), val(v[1])))
        if op == "$dateRange":
            rng = self._date_range(str(v))
            if rng is None:
                return st.and_()
            lo_d, hi_d = rng
            if is_dt:
                return st.Cond(name, "between", (bounds(lo_d)[0], bounds(hi_d)[1]))
            return st.Cond(name, "between", (lo_d, hi_d))
        raise _invalid(f"Did not recognize the operand: {op}")

    @staticmethod
    def _sugar_to_store_text(module: str, fd: FieldDef, text: str) -> str:
        rev = _REVERSE_MAP.get((module, fd.name))
        return rev.get(text, text) if rev else text

    @staticmethod
    def _date_range(keyword: str) -> tuple[date, date] | None:
        today = datetime.now(UTC).date()
        first = today.replace(day=1)
        next_first = (first + timedelta(days=32)).replace(day=1)
        last_first = (first - timedelta(days=1)).replace(day=1)
        table: dict[str, tuple[date, date]] = {
            "yesterday": (today - timedelta(days=1), today - timedelta(days=1)),
            "today": (today, today),
            "tomorrow": (today + timedelta(days=1), today + timedelta(days=1)),
            "last_7_days": (today - timedelta(days=6), today),
            "next_7_days": (today, today + timedelta(days=6)),
            "last_30_days": (today - timedelta(days=29), today),
            "next_30_days": (today, today + timedelta(days=29)),
            "last_month": (last_first, first - timedelta(days=1)),
            "this_month": (first, next_first - timedelta(days=1)),
            "next_month": (
                next_first,
                (next_first + timedelta(days=32)).replace(day=1) - timedelta(days=1),
            ),
            "last_year": (date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)),
            "this_year": (date(today.year, 1, 1), date(today.year, 12, 31)),
            "next_year": (date(today.year + 1, 1, 1), date(today.year + 1, 12, 31)),
        }
        return table.get(keyword)

    # -- list / count ---------------------------------------------------------------------
    @staticmethod
    def paging(args: Mapping[str, Any]) -> tuple[int | None, int]:
        try:
            max_num = int(args.get("max_num") or 0)
        except (TypeError, ValueError):
            raise _invalid("A parameter in your request was invalid.") from None
        limit = None if max_num < 0 else (max_num or 20)
        off_raw = args.get("offset") or 0
        if off_raw == "end":
            return limit, -1
        try:
            offset = max(0, int(off_raw))
        except (TypeError, ValueError):
            raise _invalid("A parameter in your request was invalid.") from None
        return limit, offset

    def _page(
        self,
        rows: list[dict[str, Any]],
        limit: int | None,
        offset: int,
        module: str,
        user: str,
        fields: list[str] | None,
    ) -> dict[str, Any]:
        more = limit is not None and len(rows) > limit
        rows = rows[:limit] if limit is not None else rows
        return {
            "next_offset": offset + (limit or 0) if more else -1,
            "records": [self.record_out(module, r, user, fields) for r in rows],
        }

    def saved_filters(self, req: Req) -> Answer:
        """``Filters`` records, narrowed by a ``module_name`` condition when one is sent."""
        args = req.args()
        flt = args.get("filter")
        if isinstance(flt, Mapping):
            flt = list(flt.values())
        wanted: str | None = None
        for expr in flt if isinstance(flt, list) else ():
            cond = expr.get("module_name") if isinstance(expr, Mapping) else None
            wanted = cond.get("$equals") if isinstance(cond, Mapping) else cond
        rows = [f for f in SAVED_FILTERS if wanted is None or f["module_name"] == wanted]
        records = [
            {
                **f,
                "filter_template": f["filter_definition"],
                "date_modified": "2024-03-01T09:00:00+00:00",
                "_acl": {"fields": {}},
                "_module": "Filters",
            }
            for f in rows
        ]
        return Answer(200, {"next_offset": -1, "records": records})

    def compile_list_filter(self, module: str, args: Mapping[str, Any], user: str) -> Any:
        """``filter`` ANDed with the definition of the saved ``filter_id`` (404 unknown)."""
        where = self.compile_filter(module, args.get("filter"), user)
        fid = args.get("filter_id")
        if fid in (None, ""):
            return where
        saved = next(
            (f for f in SAVED_FILTERS if f["id"] == fid and f["module_name"] == module), None
        )
        if saved is None:
            raise ApiError(404, "not_found", f"Could not find record: {fid} in module: Filters")
        stored = self.compile_filter(module, saved["filter_definition"], user)
        if where is None:
            return stored
        return where if stored is None else st.and_(where, stored)

    def filter(self, req: Req, user: str, module: str) -> Answer:
        args = req.args()
        if args.get("q") not in (None, ""):
            if any(k in args for k in ("filter", "filter_id", "deleted")):
                raise _invalid("A parameter in your request was invalid.")
            return self.search(req, user, modules=[module])
        where = self.compile_list_filter(module, args, user)
        if _truthy(args.get("favorites", False)):
            fav = st.Cond("id", "in", self._favorite_ids(user, module))
            where = fav if where is None else st.and_(where, fav)
        if _truthy(args.get("my_items", False)):
            mine = st.Cond("assigned_user_id", "eq", user)
            where = mine if where is None else st.and_(where, mine)
        limit, offset = self.paging(args)
        fields = self.parse_fields(args.get("fields"))
        order = self.order(module, args.get("order_by"))
        include_deleted = _truthy(args.get("deleted", False))
        if offset < 0:
            return Answer(200, {"next_offset": -1, "records": []})
        try:
            rows = self.store.list(
                module,
                where,
                order,
                None if limit is None else limit + 1,
                offset,
                self.store_fields(module, fields),
                include_deleted=include_deleted,
            )
        except st.StoreError as exc:
            raise _invalid(str(exc)) from None
        return Answer(200, self._page(rows, limit, offset, module, user, fields))

    def count(self, req: Req, module: str, user: str) -> Answer:
        args = req.args()
        # The signed-in user: $favorite / $owner / $creator count what filter lists.
        where = self.compile_list_filter(module, args, user)
        return Answer(200, {"record_count": self.store.count(module, where)})

    def enum(self, module: str, field_name: str) -> Answer:
        fd = MODULES[module].field(field_name)
        if fd is None:
            raise ApiError(404, "not_found", "field not found")
        if not fd.options:
            raise ApiError(404, "not_found", "options not found")
        _, lang, _ = self._build_metadata()
        dom = lang["app_list_strings"][self.dom_name(module, field_name)]
        return Answer(200, dom, {"Cache-Control": "max-age=3600"})

    # -- writes -----------------------------------------------------------------------------
    def values_in(
        self, module: str, body: Any, *, creating: bool
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """A create/update body → (store values, link actions).  Null means "not sent"."""
        if body is None:
            body = {}
        if not isinstance(body, Mapping):
            raise _invalid("A parameter in your request was invalid.")
        mod = MODULES[module]
        values: dict[str, Any] = {}
        links: dict[str, Any] = {}
        for key, raw in body.items():
            if raw is None:
                continue
            if mod.link(key) is not None and isinstance(raw, Mapping):
                links[key] = raw
                continue
            if key == "email" and mod.has_field("email1") and isinstance(raw, list):
                primary = next(
                    (
                        e.get("email_address")
                        for e in raw
                        if isinstance(e, Mapping) and _truthy(e.get("primary_address", False))
                    ),
                    None,
                )
                if primary is None and raw and isinstance(raw[0], Mapping):
                    primary = raw[0].get("email_address")
                values["email1"] = primary or None
                continue
            fd = mod.field(key)
            if fd is None or fd.read_only or key == "id":
                continue  # unknown and read-only keys are ignored, like populateFromApi
            values[key] = self.value_in(module, fd, raw)
        if creating:
            missing = [
                f.name
                for f in mod.fields
                if f.required and not f.read_only and values.get(f.name) in (None, "", ())
            ]
            if missing:
                raise ApiError(422, "missing_parameter", f"Missing parameter: {missing[0]}")
        return values, links

    def _apply_links(self, module: str, rid: str, links: Mapping[str, Any], user: str) -> None:
        for link, actions in links.items():
            for other in actions.get("add") or ():
                oid = other.get("id") if isinstance(other, Mapping) else other
                if oid:
                    self._store_link(module, rid, link, str(oid))
            for other in actions.get("delete") or ():
                self.store.unlink(module, rid, link, str(other))
            sl = STORE_LINKS.get((module, link))
            for new in actions.get("create") or ():
                if sl is not None and isinstance(new, Mapping):
                    vals, _ = self.values_in(sl.target, new, creating=True)
                    row = self.store.insert(sl.target, vals, user_id=user)
                    self._store_link(module, rid, link, row["id"])

    def _store_link(self, module: str, rid: str, link: str, other: str) -> None:
        try:
            self.store.link(module, rid, link, other)
        except st.RecordNotFound:
            raise ApiError(404, "not_found", "Could not find the related bean") from None
        except st.StoreError:
            raise ApiError(
                404, "not_found", f"Could not find a relationship named: {link}"
            ) from None

    def create(self, req: Req, user: str, module: str) -> Answer:
        body = req.body if isinstance(req.body, Mapping) else {}
        values, links = self.values_in(module, body, creating=True)
        rid = body.get("id")
        if module == "Opportunities" and values.get("probability") is None:
            values["probability"] = SALES_PROBABILITY.get(str(values.get("sales_stage")), 10)
        if rid and self.store.get(module, str(rid), include_deleted=True) is not None:
            raise _invalid(f"Record already exists: {rid} in module: {module}")
        try:
            row = self.store.insert(
                module, values, record_id=str(rid) if rid else None, user_id=user
            )
        except st.StoreError as exc:
            raise _invalid(str(exc)) from None
        self._apply_links(module, row["id"], links, user)
        if _truthy(body.get("my_favorite", False)):
            with self._lock:
                self._favorites.add((user, module, row["id"]))
        return Answer(200, self.record_out(module, self.load(module, row["id"]), user))

    def update(self, req: Req, user: str, module: str, rid: str) -> Answer:
        body = req.body if isinstance(req.body, Mapping) else {}
        if body.get("id") not in (None, rid):
            raise _invalid(f"Not allowed to change record id '{body['id']}' in the {module} module")
        current = self.load(module, rid)
        self.check_write(module, rid, body, "edit")
        stamp = req.headers.get("x-timestamp")
        if stamp and module in LOCKING:
            try:
                client = self._datetime(stamp)
            except ValueError:
                raise _invalid(f"Bad timestamp {stamp}") from None
            server = current.get("date_modified")
            if not isinstance(server, datetime) or client != server.astimezone(UTC).replace(
                microsecond=0
            ):
                raise ApiError(
                    409,
                    "edit_conflict",
                    f"Edit conflict - client TS is {_iso(client)}, server TS is {_iso(server)}",
                    record=self.record_out(module, current, user),
                )
        values, links = self.values_in(module, body, creating=False)
        try:
            if values:
                # Keep date_modified strictly increasing at one-second precision, so that an
                # X-Timestamp taken before this write never matches afterwards.
                now = st.now_utc()
                old = current.get("date_modified")
                if isinstance(old, datetime) and now <= old:
                    now = old + timedelta(seconds=1)
                values["date_modified"] = now
                expected = current.get("version")
                self.store.update(
                    module,
                    rid,
                    values,
                    user_id=user,
                    expected_version=expected if stamp else None,
                )
        except st.VersionConflict:
            fresh = self.load(module, rid)
            raise ApiError(
                409,
                "edit_conflict",
                f"Edit conflict - client TS is {stamp}, server TS is "
                f"{_iso(fresh.get('date_modified'))}",
                record=self.record_out(module, fresh, user),
            ) from None
        except st.RecordNotFound:
            raise ApiError(
                404, "not_found", f"Could not find record: {rid} in module: {module}"
            ) from None
        self._apply_links(module, rid, links, user)
        if "my_favorite" in body:
            with self._lock:
                if _truthy(body["my_favorite"]):
                    self._favorites.add((user, module, rid))
                else:
                    self._favorites.discard((user, module, rid))
        return Answer(200, self.record_out(module, self.load(module, rid), user))

    def delete(self, user: str, module: str, rid: str) -> Answer:
        if self.store.exists(module, rid):
            self.check_write(module, rid, {}, "delete")
        if not self.store.delete(module, rid):
            raise ApiError(404, "not_found", f"Could not find record: {rid} in module: {module}")
        with self._lock:
            self._favorites.discard((user, module, rid))
        return Answer(200, {"id": rid})

    # -- relationships ----------------------------------------------------------------------
    def _link_target(self, module: str, rid: str, link: str) -> str:
        self.load(module, rid, ["id"])
        sl = STORE_LINKS.get((module, link))
        if sl is None:
            raise ApiError(404, "not_found", f"Could not find a relationship named: {link}")
        return sl.target

    def related(self, req: Req, user: str, module: str, rid: str, link: str) -> Answer:
        target = self._link_target(module, rid, link)
        args = req.args()
        where = self.compile_filter(target, args.get("filter"), user)
        limit, offset = self.paging(args)
        fields = self.parse_fields(args.get("fields"))
        order = self.order(target, args.get("order_by"))
        rows = self.store.related(
            module,
            rid,
            link,
            where,
            order,
            None if limit is None else limit + 1,
            max(offset, 0),
            self.store_fields(target, fields),
        )
        return Answer(200, self._page(rows, limit, max(offset, 0), target, user, fields))

    def related_count(self, req: Req, module: str, rid: str, link: str) -> Answer:
        target = self._link_target(module, rid, link)
        where = self.compile_filter(target, req.args().get("filter"), "")
        return Answer(200, {"record_count": self.store.related_count(module, rid, link, where)})

    def leancount(self, req: Req, module: str, rid: str, link: str) -> Answer:
        args = req.args()
        try:
            max_num = int(args.get("max_num") or 0)
        except (TypeError, ValueError):
            max_num = 0
        if max_num <= 0:
            raise ApiError(422, "missing_parameter", "max_num parameter is missing or invalid")
        target = self._link_target(module, rid, link)
        where = self.compile_filter(target, args.get("filter"), "")
        n = self.store.related_count(module, rid, link, where)
        return Answer(200, {"record_count": min(n, max_num), "has_more": n > max_num})

    def related_one(self, user: str, module: str, rid: str, link: str, other: str) -> Answer:
        target = self._link_target(module, rid, link)
        rows = self.store.related(module, rid, link, st.Cond("id", "eq", other))
        if not rows:
            raise ApiError(404, "not_found", "Could not find the related bean")
        return Answer(200, self.record_out(target, rows[0], user))

    def _both(self, module: str, rid: str, target: str, other: str, user: str) -> dict[str, Any]:
        return {
            "record": self.record_out(module, self.load(module, rid), user),
            "related_record": self.record_out(target, self.load(target, other), user),
        }

    def create_related(self, req: Req, user: str, module: str, rid: str, link: str) -> Answer:
        target = self._link_target(module, rid, link)
        values, links = self.values_in(target, req.body, creating=True)
        row = self.store.insert(target, values, user_id=user)
        self._apply_links(target, row["id"], links, user)
        self._store_link(module, rid, link, row["id"])
        return Answer(200, self._both(module, rid, target, row["id"], user))

    def link(self, req: Req, user: str, module: str, rid: str, link: str, other: str) -> Answer:
        target = self._link_target(module, rid, link)
        self._store_link(module, rid, link, other)
        return Answer(200, self._both(module, rid, target, other, user))

    def unlink(self, user: str, module: str, rid: str, link: str, other: str) -> Answer:
        target = self._link_target(module, rid, link)
        if not self.store.unlink(module, rid, link, other):
            raise ApiError(404, "not_found", "Could not find the related bean")
        return Answer(200, self._both(module, rid, target, other, user))

    def link_many(self, req: Req, user: str, module: str, rid: str) -> Answer:
        body = req.body if isinstance(req.body, Mapping) else {}
        link = body.get("link_name")
        ids = body.get("ids")
        if not link:
            raise ApiError(422, "missing_parameter", "Missing parameter: link_name")
        if ids is None:
            raise ApiError(422, "missing_parameter", "Missing parameter: ids")
        if not isinstance(ids, list):
            raise _invalid("ids must be an array")
        target = self._link_target(module, rid, str(link))
        related: list[dict[str, Any]] = []
        for item in ids:
            oid = str(item.get("id") if isinstance(item, Mapping) else item)
            self._store_link(module, rid, str(link), oid)
            related.append(self.record_out(target, self.load(target, oid), user))
        return Answer(
            200,
            {
                "record": self.record_out(module, self.load(module, rid), user),
                "related_records": related,
            },
        )

    # -- search / bulk --------------------------------------------------------------------
    def search(self, req: Req, user: str, modules: list[str] | None = None) -> Answer:
        args = req.args()
        q = str(args.get("q") or "").strip()
        if modules is None:
            listed = [m for m in str(args.get("module_list") or "").split(",") if m]
            modules = [m for m in (listed or SUGAR_MODULES) if m in SUGAR_MODULES and m != "Users"]
        limit, offset = self.paging(args)
        at_end = offset < 0  # offset=end: the first page, and next_offset -1 (as Sugar does)
        offset = max(offset, 0)
        fields = self.parse_fields(args.get("fields"))
        hits: list[tuple[str, dict[str, Any]]] = []
        for module in modules:
            mod = MODULES[module]
            conds: list[st.Filter] = []
            for fname in ("name", "first_name", "last_name", "email1"):
                if mod.has_field(fname):
                    conds.append(st.Cond(fname, "like", f"{q}%"))
                    if fname == "name":
                        conds.append(st.Cond(fname, "like", f"% {q}%"))
            if not conds:
                continue
            rows = self.store.list(
                module,
                st.or_(*conds) if q else None,
                [("date_modified", True)],
                None if limit is None else offset + limit + 1,
                0,
                self.store_fields(module, fields),
            )
            hits.extend((module, r) for r in rows)
        window = hits[offset:] if limit is None else hits[offset : offset + limit + 1]
        more = limit is not None and len(window) > limit and not at_end
        records = []
        for module, row in window[:limit] if limit is not None else window:
            rec = self.record_out(module, row, user, fields)
            rec.pop("_module", None)
            acl = rec.pop("_acl")
            rec["locked_fields"] = []
            rec["_acl"] = acl
            rec["_module"] = module
            rec["_search"] = {"score": 1.0}
            records.append(rec)
        return Answer(
            200,
            {"next_offset": offset + (limit or 0) if more else -1, "records": records},
        )

    def bulk(self, req: Req, user: str) -> Answer:
        body = req.body if isinstance(req.body, Mapping) else {}
        requests = body.get("requests")
        if not isinstance(requests, list | dict) or not requests:
            raise ApiError(422, "missing_parameter", "Missing parameter: requests")
        items = requests if isinstance(requests, list) else list(requests.values())
        if any(not isinstance(it, Mapping) or not it.get("url") for it in items):
            raise ApiError(422, "missing_parameter", "Invalid request - URL is missing")
        results: list[dict[str, Any]] = []
        for it in items:
            url = str(it["url"])
            path, _, qs = url.partition("?")
            m = re.match(r"^/?([^/]+)(?:/(.*))?$", path)
            data = it.get("data")
            if isinstance(data, str):
                try:
                    data = json.loads(data) if data.strip() else None
                except ValueError:
                    data = None
            hdrs = {str(k).lower(): str(v) for k, v in (it.get("headers") or {}).items()}
            hdrs.setdefault("oauth-token", req.headers.get("oauth-token", ""))
            try:
                if not m:
                    raise ApiError(
                        404,
                        "no_method",
                        f"Could not find any route that accepted a path like: {url}",
                    )
                version = self._version(m.group(1))
                sub = Req(
                    str(it.get("method") or "GET").upper(),
                    version,
                    m.group(1),
                    (m.group(2) or "").strip("/"),
                    parse_qsl(qs, keep_blank_values=True),
                    data,
                    hdrs,
                )
                ans = self.dispatch(sub, user)
                if sub.method == "GET":
                    self._etag(ans)
                headers: dict[str, str] | list[Any] = {
                    "Content-Type": "application/json",
                    **ans.headers,
                }
            except ApiError as exc:
                ans = Answer(exc.status, exc.body())
                headers = {"Content-Type": "application/json", "Cache-Control": "no-store"}
            results.append(
                {
                    "contents": ans.body,
                    "headers": headers,
                    "status": ans.status,
                    "status_text": _STATUS_TEXT.get(ans.status, ""),
                }
            )
        if isinstance(requests, dict):
            return Answer(200, dict(zip(requests.keys(), results, strict=True)))
        return Answer(200, results)


def create_app(store: st.Store, credentials: DemoCredentials) -> SugarApp:
    """The factory :data:`crmdesk.demo.server.DIALECT_APPS` names."""
    return SugarApp(store, credentials)
