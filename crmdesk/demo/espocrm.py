"""EspoCRM api/v1 over the shared demo store, answering in the shapes of a real EspoCRM 8.4.

Mounted under ``/espocrm``, so the API is ``/espocrm/api/v1/...``.  What it reproduces
(see ``peers/espocrm/README.md``): API-key, HMAC, Basic / Espo-Authorization and token
sign-in (``App/user``); 401 as an empty ``text/html`` body; error reasons in
``X-Status-Reason`` with mostly empty JSON bodies; lists ``{total, list}`` with ``maxSize``
(200 when missing, 403 above 200), ``select`` of attributes, PHP-bracket ``where[]``,
``X-No-Total`` / ``q`` answering -1 / -2; create 200, PUT/PATCH partial, DELETE ``true``;
related lists, link / unlink with a JSON body; GlobalSearch; Metadata, I18n and layouts;
field validation (400), duplicate names (409) and optimistic concurrency through
``X-Version-Number`` (409 ``modified``), which this demo enables for every entity; lead
conversion (``Lead/action/getConvertAttributes``, ``Lead/action/convert``) as 8.4.2's
ConvertService does it, quirks included (see :meth:`EspoCrmApp.convert_lead`).

The store speaks SuiteCRM-style neutral names; the tables below map them to EspoCRM's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets as _secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from crmdesk.core.schema import FieldType
from crmdesk.demo.server import DemoCredentials
from crmdesk.demo.store import (
    Cond,
    Filter,
    RecordNotFound,
    Row,
    Store,
    StoreError,
    VersionConflict,
    Where,
    format_datetime,
)

API = "/api/v1/"
MAX_SIZE = 200
CACHE_TIMESTAMP = 1795418475

#: EspoCRM entity → store module.
ENTITIES: dict[str, str] = {
    "Account": "Accounts",
    "Contact": "Contacts",
    "Lead": "Leads",
    "Opportunity": "Opportunities",
    "Case": "Cases",
    "User": "Users",
}
GLOBAL_SEARCH = ("Account", "Contact", "Lead", "Opportunity")

_SYSTEM = {
    "createdAt": "date_entered",
    "modifiedAt": "date_modified",
    "createdById": "created_by",
    "modifiedById": "modified_user_id",
    "assignedUserId": "assigned_user_id",
}


def _address(espo: str, store: str) -> dict[str, str]:
    return {
        f"{espo}Street": f"{store}_street",
        f"{espo}City": f"{store}_city",
        f"{espo}State": f"{store}_state",
        f"{espo}Country": f"{store}_country",
        f"{espo}PostalCode": f"{store}_postalcode",
    }


#: Per entity: EspoCRM attribute → store field (the attributes the demo stores).
ATTRS: dict[str, dict[str, str]] = {
    "Account": {
        "name": "name",
        "website": "website",
        "emailAddress": "email1",
        "phoneNumber": "phone_office",
        "type": "account_type",
        "industry": "industry",
        "sicCode": "sic_code",
        **_address("billingAddress", "billing_address"),
        **_address("shippingAddress", "shipping_address"),
        "description": "description",
        **_SYSTEM,
    },
    "Contact": {
        "name": "name",
        "salutationName": "salutation",
        "firstName": "first_name",
        "lastName": "last_name",
        "title": "title",
        "description": "description",
        "emailAddress": "email1",
        "phoneNumber": "phone_work",
        "doNotCall": "do_not_call",
        **_address("address", "primary_address"),
        "accountId": "account_id",
        "cBirthdate": "birthdate",  # a custom field, as an admin would add one
        **_SYSTEM,
    },
    "Lead": {
        "name": "name",
        "salutationName": "salutation",
        "firstName": "first_name",
        "lastName": "last_name",
        "title": "title",
        "status": "status",
        "source": "lead_source",
        "website": "website",
        **_address("address", "primary_address"),
        "emailAddress": "email1",
        "phoneNumber": "phone_work",
        "doNotCall": "do_not_call",
        "description": "description",
        "accountName": "account_name",
        **_SYSTEM,
    },
    "Opportunity": {
        "name": "name",
        "amount": "amount",
        "stage": "sales_stage",
        "probability": "probability",
        "leadSource": "lead_source",
        "closeDate": "date_closed",
        "description": "description",
        "accountId": "account_id",
        **_SYSTEM,
    },
    "Case": {
        "name": "name",
        "number": "case_number",
        "status": "status",
        "priority": "priority",
        "type": "type",
        "description": "description",
        "accountId": "account_id",
        **_SYSTEM,
    },
    "User": {
        "name": "name",
        "userName": "user_name",
        "firstName": "first_name",
        "lastName": "last_name",
        "title": "title",
        "emailAddress": "email1",
        "phoneNumber": "phone_work",
        "createdAt": "date_entered",
        "modifiedAt": "date_modified",
    },
}
#: Attributes computed by the server: ignored on write.
READ_ONLY = frozenset(
    {"name", "number", "createdAt", "modifiedAt", "createdById", "modifiedById", "id"}
)
PERSON = frozenset({"Contact", "Lead", "User"})
#: belongsTo links: link → (id attribute, name attribute, target entity).
BELONGS: dict[str, dict[str, tuple[str, str, str]]] = {
    e: {
        "createdBy": ("createdById", "createdByName", "User"),
        "modifiedBy": ("modifiedById", "modifiedByName", "User"),
        "assignedUser": ("assignedUserId", "assignedUserName", "User"),
    }
    for e in ENTITIES
    if e != "User"
}
for _e in ("Contact", "Opportunity", "Case"):
    BELONGS[_e]["account"] = ("accountId", "accountName", "Account")
BELONGS["User"] = {}

#: Related lists: (entity, link) → (store link, target entity).
LINKS: dict[tuple[str, str], tuple[str, str]] = {
    ("Account", "contacts"): ("contacts", "Contact"),
    ("Account", "opportunities"): ("opportunities", "Opportunity"),
    ("Account", "cases"): ("cases", "Case"),
    ("Contact", "account"): ("accounts", "Account"),
    ("Contact", "accounts"): ("accounts", "Account"),
    ("Contact", "opportunities"): ("opportunities", "Opportunity"),
    ("Opportunity", "account"): ("accounts", "Account"),
    ("Opportunity", "contacts"): ("contacts", "Contact"),
    ("Case", "account"): ("accounts", "Account"),
}
#: The records a conversion created, as the lead's belongsTo links (``Lead/{id}/createdContact``):
#: link → (id attribute, target entity).  The store has no columns for them; the app keeps them.
CONVERTED_LINKS: dict[str, tuple[str, str]] = {
    "createdAccount": ("createdAccountId", "Account"),
    "createdContact": ("createdContactId", "Contact"),
    "createdOpportunity": ("createdOpportunityId", "Opportunity"),
}
_CONVERSION_KEYS = frozenset(
    {"convertedAt"} | {f"{link}{s}" for link in CONVERTED_LINKS for s in ("Id", "Name")}
)
#: ``entityDefs.Lead.convertEntityList`` / ``convertFields`` of a stock 8.4.2.
CONVERT_ENTITIES = ("Account", "Contact", "Opportunity")
CONVERT_FIELDS: dict[str, dict[str, str]] = {
    "Contact": {},
    "Account": {
        "name": "accountName",
        "billingAddressStreet": "addressStreet",
        "billingAddressCity": "addressCity",
        "billingAddressState": "addressState",
        "billingAddressPostalCode": "addressPostalCode",
        "billingAddressCountry": "addressCountry",
    },
    "Opportunity": {"amount": "opportunityAmount", "leadSource": "source"},
}
#: ``scopes.<E>.duplicateCheckFieldList`` (Opportunity has none: never a duplicate).
DUPLICATE_CHECK: dict[str, tuple[str, ...]] = {
    "Account": ("name", "emailAddress"),
    "Contact": ("name", "emailAddress"),
}
#: Enum values that EspoCRM names differently from the store.
VALUE_MAP: dict[tuple[str, str], dict[str, str]] = {
    ("Case", "status"): {
        "Open_New": "New",
        "Open_Assigned": "Assigned",
        "Open_Pending Input": "Pending",
        "Closed_Closed": "Closed",
        "Closed_Rejected": "Rejected",
        "Closed_Duplicate": "Duplicate",
    },
    ("Case", "priority"): {"P1": "High", "P2": "Normal", "P3": "Low"},
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "Account": ("name",),
    "Contact": ("lastName",),
    "Lead": (),
    "Opportunity": ("name", "amount", "closeDate"),
    "Case": ("name",),
    "User": ("userName",),
}
#: Attributes the real server adds to every ``select`` of the entity.
ALWAYS_SELECTED: dict[str, tuple[str, ...]] = {
    "Contact": ("accountIsInactive", "accountId", "accountName"),
    "Opportunity": ("accountId", "accountName"),
}
#: Related lists without ``select`` use the relationship panel's columns.
RELATED_SELECT: dict[tuple[str, str], str] = {
    ("Account", "contacts"): "name,salutationName,firstName,lastName,middleName,accountIsInactive",
}
TEXT_FILTER: dict[str, tuple[str, ...]] = {
    "Account": ("name", "emailAddress"),
    "Contact": ("name", "emailAddress"),
    "Lead": ("name", "accountName", "emailAddress"),
    "Opportunity": ("name",),
    "Case": ("name", "number"),
    "User": ("name", "userName"),
}
DEFAULT_ORDER: dict[str, tuple[str, str]] = {
    "Case": ("number", "desc"),
    "User": ("userName", "asc"),
}

# Key order of a GET answer and of a list row without select, as the real server sends them
# (constant attributes the demo does not store come back with their empty values).
GET_KEYS: dict[str, str] = {
    "Account": "id name deleted website emailAddress phoneNumber type industry sicCode "
    "billingAddressStreet billingAddressCity billingAddressState billingAddressCountry "
    "billingAddressPostalCode shippingAddressStreet shippingAddressCity shippingAddressState "
    "shippingAddressCountry shippingAddressPostalCode description createdAt modifiedAt "
    "emailAddressIsOptedOut emailAddressIsInvalid phoneNumberIsOptedOut phoneNumberIsInvalid "
    "emailAddressData phoneNumberData campaignId campaignName createdById createdByName "
    "modifiedById modifiedByName assignedUserId assignedUserName teamsIds teamsNames "
    "originalLeadId originalLeadName isFollowed followersIds followersNames isStarred",
    "Contact": "id name deleted salutationName firstName lastName title description emailAddress "
    "phoneNumber doNotCall addressStreet addressCity addressState addressCountry "
    "addressPostalCode accountIsInactive accountType createdAt modifiedAt hasPortalUser "
    "middleName emailAddressIsOptedOut emailAddressIsInvalid phoneNumberIsOptedOut "
    "phoneNumberIsInvalid emailAddressData phoneNumberData accountId accountName accountsIds "
    "accountsNames accountsColumns campaignId campaignName createdById createdByName "
    "modifiedById modifiedByName assignedUserId assignedUserName teamsIds teamsNames "
    "portalUserId portalUserName originalLeadId originalLeadName isFollowed followersIds "
    "followersNames cBirthdate",
    "Lead": "id name deleted salutationName firstName lastName title status source industry "
    "opportunityAmount website addressStreet addressCity addressState addressCountry "
    "addressPostalCode emailAddress phoneNumber doNotCall description convertedAt createdAt "
    "modifiedAt accountName middleName opportunityAmountCurrency emailAddressIsOptedOut "
    "emailAddressIsInvalid phoneNumberIsOptedOut phoneNumberIsInvalid "
    "opportunityAmountConverted emailAddressData phoneNumberData createdById createdByName "
    "modifiedById modifiedByName assignedUserId assignedUserName teamsIds teamsNames "
    "campaignId campaignName createdAccountId createdAccountName createdContactId "
    "createdContactName createdOpportunityId createdOpportunityName isFollowed followersIds "
    "followersNames",
    "Opportunity": "id name deleted amount amountWeightedConverted stage lastStage probability "
    "leadSource closeDate description createdAt modifiedAt amountCurrency amountConverted "
    "accountId accountName contactsIds contactsNames contactsColumns contactId contactName "
    "campaignId campaignName originalLeadId originalLeadName createdById createdByName "
    "modifiedById modifiedByName assignedUserId assignedUserName teamsIds teamsNames "
    "isFollowed followersIds followersNames",
    "Case": "id name deleted number status priority type description createdAt modifiedAt "
    "accountId accountName leadId leadName contactId contactName contactsIds contactsNames "
    "inboundEmailId inboundEmailName createdById createdByName modifiedById modifiedByName "
    "assignedUserId assignedUserName teamsIds teamsNames attachmentsIds attachmentsNames "
    "isFollowed followersIds followersNames attachmentsTypes",
    "User": "id name deleted userName type salutationName firstName lastName isActive title "
    "emailAddress phoneNumber avatarColor createdAt modifiedAt lastAccess middleName "
    "emailAddressIsOptedOut emailAddressIsInvalid phoneNumberIsOptedOut phoneNumberIsInvalid "
    "emailAddressData phoneNumberData defaultTeamId defaultTeamName teamsIds teamsNames "
    "teamsColumns rolesIds rolesNames portalsIds portalsNames portalRolesIds portalRolesNames "
    "contactId contactName accountsIds accountsNames avatarId avatarName createdById "
    "createdByName workingTimeCalendarId workingTimeCalendarName",
}
#: Attributes a GET has but a list row (without select) has not.
GET_ONLY = frozenset(
    {
        "emailAddressData",
        "phoneNumberData",
        "isFollowed",
        "followersIds",
        "followersNames",
        "isStarred",
        "teamsIds",
        "teamsNames",
        "teamsColumns",
        "accountsIds",
        "accountsNames",
        "accountsColumns",
        "contactsIds",
        "contactsNames",
        "contactsColumns",
        "attachmentsIds",
        "attachmentsNames",
        "attachmentsTypes",
        "rolesIds",
        "rolesNames",
        "portalsIds",
        "portalsNames",
        "portalRolesIds",
        "portalRolesNames",
    }
)
_CONST: dict[str, Any] = {
    "deleted": False,
    "emailAddressIsOptedOut": False,
    "emailAddressIsInvalid": False,
    "phoneNumberIsOptedOut": False,
    "phoneNumberIsInvalid": False,
    "isFollowed": False,
    "isStarred": False,
    "hasPortalUser": False,
    "accountIsInactive": False,
    "amountCurrency": "USD",
    "isActive": True,
}
_EMPTY_LIST = ("Ids",)
_EMPTY_MAP = ("Names", "Columns", "Types")


# ----------------------------------------------------------------------------- helpers


class ApiError(Exception):
    """An EspoCRM-style error answer."""

    def __init__(
        self, status: int, reason: str | None = "", body: Any = None, *, html: bool = False
    ) -> None:
        super().__init__(reason or str(status))
        self.status = status
        self.reason = reason
        self.body = body
        #: the real server sends some empty error bodies as text/html (GlobalSearch without q)
        self.html = html


def _validation(entity: str, fld: str, kind: str) -> ApiError:
    return ApiError(
        400,
        f"Field validation failure; entityType: {entity}, field: {fld}, type: {kind}.",
        {
            "messageTranslation": {
                "label": "validationFailure",
                "scope": None,
                "data": {"field": fld, "type": kind},
            }
        },
    )


def _headers() -> dict[str, str]:
    return {
        "X-App-Timestamp": str(CACHE_TIMESTAMP - 66),
        "Cache-Control": "no-store, no-cache, must-revalidate, post-check=0, pre-check=0",
    }


def json_response(body: Any, status: int = 200, extra: Mapping[str, str] | None = None) -> Response:
    content = json.dumps(body, ensure_ascii=True, separators=(",", ":")).encode()
    return Response(content, status, {**_headers(), **(extra or {})}, "application/json")


def error_response(err: ApiError) -> Response:
    if err.status == 401:
        return Response(b"", 401, err.body or {}, "text/html; charset=UTF-8")
    headers: dict[str, str] = {}
    if err.reason is not None:
        headers["X-Status-Reason"] = err.reason
    content = b"" if err.body is None else json.dumps(err.body).encode()
    ctype = "text/html; charset=UTF-8" if err.html else "application/json"
    return Response(content, err.status, headers, ctype)


def parse_brackets(items: list[tuple[str, str]], prefix: str) -> Any:
    """PHP bracket parameters ``where[0][value][]=a`` → nested lists / dicts."""
    root: dict[str, Any] = {}
    for key, value in items:
        if not key.startswith(prefix + "["):
            continue
        parts = re.findall(r"\[([^\]]*)\]", key[len(prefix) :])
        node: Any = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":
                part = str(len(node))
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    return _listify(root)


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    conv = {k: _listify(v) for k, v in node.items()}
    if conv and all(k.isdigit() for k in conv):
        return [conv[k] for k in sorted(conv, key=int)]
    return conv


def _espo_dt(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _parse_dt_input(raw: Any) -> str | None:
    """Input datetimes: ``YYYY-MM-DD HH:MM[:SS]`` (UTC) or ISO 8601 with T / Z / offset."""
    if not isinstance(raw, str):
        return None
    text = raw.strip().replace("T", " ")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    return format_datetime(dt)


_PHONE_STRIP = re.compile(r"[\s()\-./]")


@dataclass
class Session:
    user_id: str
    user_type: str
    expires: float


@dataclass
class AppState:
    tokens: dict[str, Session] = field(default_factory=dict)
    #: lead id → createdAccountId / createdContactId / createdOpportunityId / convertedAt
    converted: dict[str, dict[str, str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


# ----------------------------------------------------------------------------- the app


class EspoCrmApp:
    def __init__(self, store: Store, credentials: DemoCredentials) -> None:
        self.store = store
        self.credentials = credentials
        self.state = AppState()
        self._admin_id: str | None = None

    # -- ASGI ---------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            response = await self.dispatch(request)
        except ApiError as err:
            response = error_response(err)
        await response(scope, receive, send)

    def expire_tokens(self) -> None:
        with self.state.lock:
            for s in self.state.tokens.values():
                s.expires = 0.0

    # -- auth ---------------------------------------------------------------------------
    def admin_id(self) -> str:
        if self._admin_id is None:
            rows = self.store.list("Users", Cond("user_name", "eq", self.credentials.username))
            self._admin_id = str(rows[0]["id"]) if rows else "1"
        return self._admin_id

    def authenticate(self, request: Request, rel: str) -> Session:
        h = request.headers
        c = self.credentials
        if "x-api-key" in h:
            if hmac.compare_digest(h["x-api-key"], c.api_key):
                return Session(self.admin_id(), "api", 0)
            raise ApiError(401)
        if "x-hmac-authorization" in h:
            try:
                key, _, sig = base64.b64decode(h["x-hmac-authorization"]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise ApiError(401) from None
            message = f"{request.method} /{rel}".encode()
            digest = hmac.new(c.secret_key.encode(), message, hashlib.sha256)
            if hmac.compare_digest(key, c.api_key) and (
                hmac.compare_digest(sig, digest.hexdigest())
            ):
                return Session(self.admin_id(), "api", 0)
            raise ApiError(401)
        raw = h.get("espo-authorization")
        if raw is None and h.get("authorization", "").lower().startswith("basic "):
            raw = h["authorization"][6:]
        if raw is None:
            raise ApiError(401, None, {"WWW-Authenticate": 'Basic realm=""'})
        try:
            user, _, secret = base64.b64decode(raw).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise ApiError(401) from None
        if user != c.username:
            raise ApiError(401)
        with self.state.lock:
            session = self.state.tokens.get(secret)
            if session is not None and session.expires > time.time():
                return session
        if h.get("espo-authorization-by-token", "").lower() != "true" and hmac.compare_digest(
            secret, c.password
        ):
            return Session(self.admin_id(), "admin", 0)
        raise ApiError(401)

    # -- routing ------------------------------------------------------------------------
    async def dispatch(self, request: Request) -> Response:
        path = request.url.path
        root = request.scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        if not path.startswith(API) and path != API.rstrip("/"):
            raise ApiError(404)
        rel = path[len(API) :] if path.startswith(API) else ""
        method = request.method.upper()
        if rel.endswith("/") or "//" in rel:
            html = (
                b'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>404 Not '
                b"Found</title></head><body><h1>404 Not Found</h1><div><p>The requested "
                b"resource could not be found. Please verify the URI and try again.</p></div>"
                b"</body></html>"
            )
            return Response(html, 404, media_type="text/html;charset=UTF-8")
        if rel == "Settings" and method == "GET":
            return json_response(self.public_settings())
        session = self.authenticate(request, rel)
        parts = rel.split("/") if rel else []
        body = await self._body(request) if method in ("POST", "PUT", "PATCH", "DELETE") else None
        query = list(request.query_params.multi_items())
        if not parts:
            return json_response("EspoCRM REST API")
        head = parts[0]
        if parts == ["App", "user"] and method == "GET":
            return json_response(self.app_user(request, session))
        if parts == ["App", "destroyAuthToken"] and method == "POST":
            token = body.get("token") if isinstance(body, dict) else None
            with self.state.lock:
                found = self.state.tokens.pop(str(token), None)
            return json_response(found is not None)
        if head == "Metadata" and method == "GET":
            return self.metadata_response(dict(query).get("key"))
        if head == "I18n" and method == "GET":
            return json_response(i18n())
        if head == "GlobalSearch" and method == "GET":
            return json_response(self.global_search(query))
        if head == "Settings" and method == "GET":
            return json_response(self.public_settings())
        if head not in ENTITIES:
            raise ApiError(404, f"Controller '{head}' does not exist.")
        entity = head
        if len(parts) == 3 and parts[1] == "action" and method == "POST":
            return json_response(self.action(entity, parts[2], body, session))
        if len(parts) == 1:
            if method == "GET":
                return json_response(self.list_entity(entity, query, request.headers))
            if method == "POST":
                return json_response(self.create(entity, body, request.headers, session))
            raise ApiError(404, "")
        if len(parts) == 3 and parts[1] == "layout" and method == "GET":
            return json_response(LAYOUTS.get(entity, {}).get(parts[2], []))
        rid = parts[1]
        if len(parts) == 2:
            if method == "GET":
                return json_response(self.read(entity, rid))
            if method in ("PUT", "PATCH"):
                return json_response(self.update(entity, rid, body, request.headers, session))
            if method == "DELETE":
                if not self.store.delete(ENTITIES[entity], rid):
                    raise ApiError(404, f"Record {rid} not found.")
                return json_response(True)
        if len(parts) == 3:
            link = parts[2]
            if method == "GET":
                return json_response(self.related(entity, rid, link, query, request.headers))
            if method == "POST":
                return json_response(self.link(entity, rid, link, body))
            if method == "DELETE":
                return json_response(self.unlink(entity, rid, link, body))
        raise ApiError(404, "")

    @staticmethod
    async def _body(request: Request) -> Any:
        raw = await request.body()
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            raise ApiError(500, None) from None

    # -- App/user, settings, metadata ---------------------------------------------------
    def public_settings(self) -> dict[str, Any]:
        return {
            "useCache": True,
            "applicationName": "EspoCRM (crmdesk demo)",
            "timeZone": "UTC",
            "dateFormat": "YYYY-MM-DD",
            "timeFormat": "HH:mm",
            "weekStart": 1,
            "thousandSeparator": ",",
            "decimalMark": ".",
            "language": "en_US",
            "cacheTimestamp": CACHE_TIMESTAMP,
            "appTimestamp": CACHE_TIMESTAMP - 66,
        }

    def app_user(self, request: Request, session: Session) -> dict[str, Any]:
        token = ""
        if request.headers.get("espo-authorization-by-token", "").lower() == "true":
            raw = request.headers.get("espo-authorization", "")
            token = base64.b64decode(raw).decode().partition(":")[2]
        elif session.user_type == "admin":
            token = _secrets.token_hex(16)
            with self.state.lock:
                self.state.tokens[token] = Session(
                    session.user_id, "admin", time.time() + self.credentials.token_ttl
                )
        user = self.read("User", session.user_id)
        user["type"] = session.user_type
        scopes = [e for e in ENTITIES if e != "User"]
        table = {
            e: {"read": "all", "stream": "all", "edit": "all", "delete": "all", "create": "yes"}
            for e in scopes
        }
        table["User"] = {
            "read": "all",
            "stream": "no",
            "edit": "no",
            "delete": "no",
            "create": "no",
        }
        return {
            "user": user,
            "acl": {"table": table, "fieldTable": {e: {} for e in ENTITIES}},
            "preferences": {"id": session.user_id, "timeZone": None, "decimalMark": "."},
            "token": token or None,
            "settings": {
                **self.public_settings(),
                "currencyList": ["USD"],
                "defaultCurrency": "USD",
                "baseCurrency": "USD",
            },
            "language": "en_US",
            "appParams": {"maxUploadSize": 8, "isRestrictedMode": False},
        }

    def metadata_response(self, key: str | None) -> Response:
        meta = metadata()
        if key is None:
            return json_response(meta)
        node: Any = meta
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return Response(b"", 200, _headers(), "application/json")
            node = node[part]
        return json_response(node)

    # -- values -------------------------------------------------------------------------
    def _out_value(self, entity: str, attr: str, value: Any) -> Any:
        vmap = VALUE_MAP.get((entity, attr))
        if vmap is not None and isinstance(value, str):
            value = vmap.get(value, value)
        if value is None and attr in EMPTY_ENUMS.get(entity, ()):
            return ""
        if isinstance(value, tuple):
            return list(value)
        return _espo_dt(value)

    def _names(self, rows: list[Row], entity: str) -> dict[str, dict[str, str]]:
        """Per target entity, the display names of the ids the rows point at."""
        wanted: dict[str, set[str]] = {}
        for _link, (id_attr, _n, target) in BELONGS[entity].items():
            store_f = ATTRS[entity].get(id_attr)
            if store_f is None:
                continue
            ids = {str(r[store_f]) for r in rows if r.get(store_f)}
            wanted.setdefault(target, set()).update(ids)
        return {t: self.store.names(ENTITIES[t], ids) for t, ids in wanted.items() if ids}

    def to_wire(
        self, entity: str, rows: list[Row], *, full: bool, select: list[str] | None = None
    ) -> list[dict[str, Any]]:
        attrs = ATTRS[entity]
        names = self._names(rows, entity)
        account_types: dict[str, Any] = {}
        if entity == "Contact" and (select is None or "accountType" in select):
            ids = {str(r["account_id"]) for r in rows if r.get("account_id")}
            for acc in (
                self.store.list(
                    "Accounts",
                    Cond("id", "in", sorted(ids)) if ids else None,
                    fields=["account_type"],
                )
                if ids
                else []
            ):
                account_types[acc["id"]] = acc.get("account_type")
        keys = GET_KEYS[entity].split()
        if not full:
            keys = [k for k in keys if k not in GET_ONLY]
        keys.append("versionNumber")
        out: list[dict[str, Any]] = []
        for row in rows:
            rec: dict[str, Any] = {}
            for key in keys:
                if select is not None and key not in select:
                    continue
                rec[key] = self._attr(entity, key, row, attrs, names, account_types)
            out.append(rec)
        return out

    def _attr(
        self,
        entity: str,
        key: str,
        row: Row,
        attrs: Mapping[str, str],
        names: Mapping[str, Mapping[str, str]],
        account_types: Mapping[str, Any],
    ) -> Any:
        if key == "id":
            return row["id"]
        if key == "versionNumber":
            return row.get("version")
        if entity == "Lead" and key in _CONVERSION_KEYS:
            done = self.state.converted.get(str(row["id"]), {})
            if key == "convertedAt" or key.endswith("Id"):
                return done.get(key)
            link = key[: -len("Name")]
            spec = CONVERTED_LINKS.get(link)
            rid = done.get(f"{link}Id") if spec else None
            return self.store.names(ENTITIES[spec[1]], [rid]).get(rid) if spec and rid else None
        if key in attrs:
            return self._out_value(entity, key, row.get(attrs[key]))
        for id_attr, name_attr, target in BELONGS[entity].values():
            if key == name_attr:
                rid = row.get(attrs.get(id_attr, ""))
                return names.get(target, {}).get(str(rid)) if rid else None
        email = row.get("email1")
        phone = row.get(attrs.get("phoneNumber", ""))
        if key == "emailAddressData":
            return (
                [
                    {
                        "emailAddress": email,
                        "lower": str(email).lower(),
                        "primary": True,
                        "optOut": False,
                        "invalid": False,
                    }
                ]
                if email
                else []
            )
        if key == "phoneNumberData":
            return (
                [
                    {
                        "phoneNumber": phone,
                        "type": "Office",
                        "primary": True,
                        "optOut": False,
                        "invalid": False,
                    }
                ]
                if phone
                else []
            )
        if key == "accountType":
            return self._out_value("Account", "type", account_types.get(str(row.get("account_id"))))
        if entity == "Contact" and key.startswith("accounts"):
            aid = row.get("account_id")
            aname = names.get("Account", {}).get(str(aid)) if aid else None
            if key == "accountsIds":
                return [aid] if aid else []
            if key == "accountsNames":
                return {aid: aname} if aid else {}
            return {aid: {"role": row.get("title"), "isInactive": False}} if aid else {}
        if entity == "Opportunity" and key.startswith("contacts"):
            rel = self.store.related("Opportunities", row["id"], "contacts", fields=["name"])
            if key == "contactsIds":
                return [r["id"] for r in rel]
            if key == "contactsNames":
                return {r["id"]: r.get("name") for r in rel}
            return {r["id"]: {"role": None} for r in rel}
        if entity == "Opportunity":
            amount, prob = row.get("amount"), row.get("probability")
            if key == "amountConverted":
                return amount
            if key == "amountWeightedConverted":
                return amount * (prob or 0) / 100 if amount is not None else None
            if key == "lastStage":
                return row.get("sales_stage")
        if key in ("isFollowed", "followersIds", "followersNames"):
            assigned = row.get("assigned_user_id")
            if key == "isFollowed":
                return bool(assigned) and assigned == self.admin_id()
            if key == "followersIds":
                return [assigned] if assigned else []
            users = names.get("User", {})
            return {assigned: users.get(str(assigned))} if assigned else {}
        if entity == "User" and key == "isActive":
            return row.get("status", "Active") != "Inactive"
        if key in _CONST:
            return _CONST[key]
        if key.endswith(_EMPTY_LIST):
            return []
        if key.endswith(_EMPTY_MAP):
            return {}
        return None

    def from_wire(self, entity: str, body: Any, *, creating: bool) -> dict[str, Any]:
        """A JSON body → store values, validated the way EspoCRM does (first failure wins)."""
        if not isinstance(body, dict):
            raise ApiError(400, "Bad request.")
        attrs = ATTRS[entity]
        mod = self.store.module(ENTITIES[entity])
        out: dict[str, Any] = {}
        data = dict(body)
        if isinstance(data.get("emailAddressData"), list) and "emailAddress" not in data:
            prim = next(
                (e for e in data["emailAddressData"] if isinstance(e, dict) and e.get("primary")),
                None,
            )
            data["emailAddress"] = prim.get("emailAddress") if prim else None
        if isinstance(data.get("phoneNumberData"), list) and "phoneNumber" not in data:
            prim = next(
                (p for p in data["phoneNumberData"] if isinstance(p, dict) and p.get("primary")),
                None,
            )
            data["phoneNumber"] = prim.get("phoneNumber") if prim else None
        if entity == "Contact" and isinstance(data.get("accountsIds"), list):
            data.setdefault("accountId", data["accountsIds"][0] if data["accountsIds"] else None)
        if creating:
            for req in REQUIRED[entity]:
                if data.get(req) in (None, ""):
                    raise _validation(entity, req, "required")
        for key, value in data.items():
            if key not in attrs or (key in READ_ONLY and (key != "name" or entity in PERSON)):
                continue
            fd = mod.field(attrs[key])
            if fd is None:
                continue
            out[fd.name] = self._in_value(entity, key, fd.type, fd, value)
        if entity == "Opportunity" and data.get("amountCurrency") not in (None, "", "USD"):
            raise _validation(entity, "amount", "validCurrency")
        if not creating:
            for req in REQUIRED[entity]:
                if req in data and data[req] in (None, ""):
                    raise _validation(entity, req, "required")
        return out

    def _in_value(self, entity: str, key: str, ftype: FieldType, fd: Any, value: Any) -> Any:
        if value is None:
            return None
        if ftype is FieldType.ENUM:
            if value == "":
                return None
            reverse = {v: k for k, v in VALUE_MAP.get((entity, key), {}).items()}
            value = reverse.get(str(value), value)
            if fd.options and str(value) not in {o.key for o in fd.options}:
                raise _validation(entity, key, "valid")
            return str(value)
        if ftype is FieldType.DATETIME:
            parsed = _parse_dt_input(value)
            if parsed is None:
                raise _validation(entity, key, "valid")
            return parsed
        if ftype is FieldType.DATE:
            if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                raise _validation(entity, key, "valid")
            try:
                return date.fromisoformat(value)
            except ValueError:
                raise _validation(entity, key, "valid") from None
        if ftype in (FieldType.CURRENCY, FieldType.DECIMAL):
            try:
                return float(value) if not isinstance(value, bool) else None
            except (TypeError, ValueError):
                raise _validation(entity, key, "valid") from None
        if ftype is FieldType.INT:
            try:
                return int(value)
            except (TypeError, ValueError):
                raise _validation(entity, key, "valid") from None
        if ftype is FieldType.BOOL:
            if isinstance(value, str):
                return value.strip().lower() in ("1", "true", "yes")
            return bool(value)
        text = str(value)
        if ftype is FieldType.EMAIL and text:
            local, at, domain = text.partition("@")
            if not at or not local or "." not in domain or not local.isascii():
                raise _validation(entity, key, "emailAddress")
        if ftype is FieldType.PHONE and text:
            text = _PHONE_STRIP.sub("", text)
            if not re.fullmatch(r"\+?\d+", text):
                raise _validation(entity, key, "valid")
        if ftype is FieldType.URL and text == "":
            return None
        limit = MAX_LENGTH.get(entity, {}).get(key) or fd.length
        if limit and len(text) > limit:
            raise _validation(entity, key, "maxLength")
        return text if text != "" else None

    # -- records ------------------------------------------------------------------------
    def read(self, entity: str, rid: str) -> dict[str, Any]:
        row = self.store.get(ENTITIES[entity], rid)
        if row is None:
            raise ApiError(404, f"Record {rid} does not exist.")
        return self.to_wire(entity, [row], full=True)[0]

    def create(
        self, entity: str, body: Any, headers: Mapping[str, str], session: Session
    ) -> dict[str, Any]:
        values = self.from_wire(entity, body, creating=True)
        module = ENTITIES[entity]
        if entity in ("Lead", "Opportunity") and not values.get(
            "sales_stage" if entity == "Opportunity" else "status"
        ):
            values["sales_stage" if entity == "Opportunity" else "status"] = (
                "Prospecting" if entity == "Opportunity" else "New"
            )
        if entity == "Case":
            values.setdefault("status", "Open_New")
            values.setdefault("priority", "P2")
        if entity == "Account" and headers.get("x-skip-duplicate-check", "").lower() != "true":
            dups = self.store.list(module, Cond("name", "eq", values.get("name")), limit=5)
            if dups:
                raise ApiError(409, "duplicate", self.to_wire(entity, dups, full=False))
        try:
            row = self.store.insert(module, values, user_id=session.user_id)
        except StoreError as exc:
            raise ApiError(400, str(exc)) from None
        rec = self.to_wire(entity, [row], full=True)[0]
        # the real create answer leaves out null attributes and echoes some inputs as sent
        rec = {k: v for k, v in rec.items() if v is not None}
        for key in ("closeDate",):
            if isinstance(body, dict) and key in body:
                rec[key] = body[key]
        return rec

    def update(
        self,
        entity: str,
        rid: str,
        body: Any,
        headers: Mapping[str, str],
        session: Session,
    ) -> dict[str, Any]:
        module = ENTITIES[entity]
        current = self.store.get(module, rid)
        if current is None:
            raise ApiError(404, f"Record {rid} not found.")
        values = self.from_wire(entity, body, creating=False)
        expected: int | None = None
        raw_version = headers.get("x-version-number")
        if raw_version is not None and raw_version.strip().lstrip("-").isdigit():
            version = int(raw_version)
            if version != current.get("version"):
                changed = {
                    a: self._out_value(entity, a, current.get(f))
                    for a, f in ATTRS[entity].items()
                    if f in values and values[f] != current.get(f)
                }
                if changed:
                    raise ApiError(
                        409, "modified", {"values": changed, "versionNumber": current["version"]}
                    )
            expected = current.get("version") if version == current.get("version") else None
        try:
            row = self.store.update(
                module, rid, values, user_id=session.user_id, expected_version=expected
            )
        except RecordNotFound:
            raise ApiError(404, f"Record {rid} not found.") from None
        except VersionConflict as exc:
            raise ApiError(409, "modified", {"values": {}, "versionNumber": exc.current}) from None
        return self.to_wire(entity, [row], full=True)[0]

    # -- lists --------------------------------------------------------------------------
    def _select(self, entity: str, raw: str | None, order_attr: str) -> list[str] | None:
        if raw is None:
            return None
        wanted = [s.strip() for s in raw.split(",") if s.strip()]
        links = BELONGS[entity]
        known = set(GET_KEYS[entity].split()) | {"versionNumber"}
        out = ["id"]
        for attr in wanted:
            if attr in links or attr in ("accounts", "contacts", "teams"):
                raise ApiError(500, None)  # a link *field* name: an SQL error on the real server
            if attr in ("emailAddressData", "phoneNumberData"):
                continue
            if attr in known and attr not in out:
                out.append(attr)
            for id_attr, name_attr, _t in links.values():
                if attr in (id_attr, name_attr):
                    out.extend(a for a in (id_attr, name_attr) if a not in out)
        dependent = () if raw in RELATED_SELECT.values() else ALWAYS_SELECTED.get(entity, ())
        for extra in (*dependent, order_attr, "createdById", "assignedUserId"):
            if extra in known and extra not in out:
                out.append(extra)
        return out

    def _order(self, entity: str, query: Mapping[str, str]) -> tuple[str, str, bool]:
        default_attr, default_dir = DEFAULT_ORDER.get(entity, ("createdAt", "desc"))
        attr = query.get("orderBy") or default_attr
        direction = query.get("order") or (default_dir if not query.get("orderBy") else "asc")
        links = BELONGS[entity]
        if attr in links:
            attr = links[attr][1]  # order by a link: by its name
        store_f = ATTRS[entity].get(attr)
        if store_f is None:
            for id_attr, name_attr, _t in links.values():
                if attr == name_attr:
                    store_f = ATTRS[entity].get(id_attr)
            if store_f is None:
                raise ApiError(400, f"Order by non-existing field '{attr}'.")
        return attr, store_f, direction.lower() == "desc"

    def _where_item(self, entity: str, item: Any) -> Filter:
        if not isinstance(item, dict) or "type" not in item:
            raise ApiError(400, "Bad where item.")
        kind = str(item["type"])
        value = item.get("value")
        if kind in ("and", "or"):
            children = value if isinstance(value, list) else []
            return Where(kind, tuple(self._where_item(entity, c) for c in children))  # type: ignore[arg-type]
        if kind in ("not", "subQueryIn", "subQueryNotIn"):
            raise ApiError(403, "Sub-queries are forbidden in where.")
        attr = str(item.get("attribute", ""))
        if kind == "linkedWith":
            link = BELONGS[entity].get(attr)
            if link is None:
                raise ApiError(400, f"Bad where item '{kind}'.")
            attr = link[0]
            kind = "in"
            value = value if isinstance(value, list) else [value]
        store_f = ATTRS[entity].get(attr)
        if store_f is None and attr != "id":
            raise ApiError(400, f"Not existing attribute '{attr}' in where.")
        col = store_f or "id"
        if isinstance(value, str) and col in ("date_entered", "date_modified"):
            value = _parse_dt_input(value) or value
        vmap = VALUE_MAP.get((entity, attr), {})
        reverse = {v: k for k, v in vmap.items()}

        def conv(v: Any) -> Any:
            return reverse.get(v, v) if isinstance(v, str) else v

        simple = {
            "equals": "eq",
            "notEquals": "neq",
            "lessThan": "lt",
            "greaterThan": "gt",
            "lessThanOrEquals": "lte",
            "greaterThanOrEquals": "gte",
        }
        if kind in simple:
            if value == "":
                return Cond(col, "null" if kind == "equals" else "not_null")
            return Cond(col, simple[kind], conv(value))  # type: ignore[arg-type]
        if kind in ("in", "notIn"):
            if not isinstance(value, list):
                raise ApiError(400, f"Bad where item '{kind}'.")
            return Cond(col, "in" if kind == "in" else "not_in", [conv(v) for v in value])
        if kind in ("contains", "startsWith", "endsWith", "like", "notLike", "notContains"):
            text = str(value or "")
            pattern = {
                "contains": f"%{text}%",
                "notContains": f"%{text}%",
                "startsWith": f"{text}%",
                "endsWith": f"%{text}",
            }.get(kind, text)
            return Cond(col, "not_like" if kind.startswith("not") else "like", pattern)
        if kind == "isNull":
            if attr in EMPTY_ENUMS.get(entity, ()):
                return Cond("id", "null")  # an empty enum is "", never NULL: nothing matches
            return Cond(col, "null")
        if kind == "isNotNull":
            return Cond(col, "not_null")
        if kind in ("isTrue", "isFalse"):
            return Cond(col, "eq", kind == "isTrue")
        if kind == "between":
            if not isinstance(value, list) or len(value) != 2:
                raise ApiError(400, f"Bad where item '{kind}'.")
            return Cond(col, "between", (conv(value[0]), conv(value[1])))
        raise ApiError(400, f"Unknown where item type '{kind}'.")

    def _filter(self, entity: str, query: list[tuple[str, str]]) -> Filter | None:
        items: list[Filter] = []
        where = parse_brackets(query, "where")
        if isinstance(where, list):
            items.extend(self._where_item(entity, w) for w in where)
        elif isinstance(where, dict) and where:
            raise ApiError(400, "Bad where.")
        q = dict(query).get("q")
        if q:
            text = q.replace("*", "%")
            fields = [ATTRS[entity][a] for a in TEXT_FILTER[entity] if a in ATTRS[entity]]
            items.append(Where("or", tuple(Cond(f, "like", f"{text}%") for f in fields)))
        if not items:
            return None
        return items[0] if len(items) == 1 else Where("and", tuple(items))

    def _page_params(self, query: Mapping[str, str]) -> tuple[int, int]:
        raw = query.get("maxSize")
        if raw is None:
            size = MAX_SIZE
        else:
            size = int(raw) if raw.strip().isdigit() else 0
        if size > MAX_SIZE:
            raise ApiError(403, "Max size should not exceed 200. Use offset and limit.")
        off_raw = query.get("offset") or "0"
        offset = int(off_raw) if off_raw.isdigit() else 0
        return size, offset

    def _list_answer(
        self,
        entity: str,
        query: list[tuple[str, str]],
        headers: Mapping[str, str],
        fetch: Callable[[Filter | None, list[tuple[str, bool]], int, int], list[Row]],
        count: Callable[[Filter | None], int],
    ) -> dict[str, Any]:
        qd = dict(query)
        if "searchParams" in qd:
            try:
                sp = json.loads(qd["searchParams"])
            except ValueError:
                raise ApiError(400, "Bad searchParams.") from None
            query = [(k, str(v)) for k, v in sp.items() if k not in ("where", "select")]
            if isinstance(sp.get("select"), list):
                query.append(("select", ",".join(sp["select"])))
            query.extend(_flatten_where(sp.get("where") or []))
            qd = dict(query)
        size, offset = self._page_params(qd)
        order_attr, order_f, desc = self._order(entity, qd)
        select = self._select(entity, qd.get("select"), order_attr)
        flt = self._filter(entity, query)
        rows = fetch(flt, [(order_f, desc)], size, offset) if size else []
        no_total = headers.get("x-no-total", "").lower() == "true" or bool(qd.get("q"))
        if no_total:
            more = fetch(flt, [(order_f, desc)], 1, offset + size) if size else []
            total = -1 if more else -2
        else:
            total = count(flt)
        return {"total": total, "list": self.to_wire(entity, rows, full=False, select=select)}

    def list_entity(
        self, entity: str, query: list[tuple[str, str]], headers: Mapping[str, str]
    ) -> dict[str, Any]:
        module = ENTITIES[entity]
        return self._list_answer(
            entity,
            query,
            headers,
            lambda f, o, size, off: self.store.list(module, f, o, limit=size, offset=off),
            lambda f: self.store.count(module, f),
        )

    def related(
        self,
        entity: str,
        rid: str,
        link: str,
        query: list[tuple[str, str]],
        headers: Mapping[str, str],
    ) -> dict[str, Any]:
        if entity == "Lead" and link in CONVERTED_LINKS:
            return self._converted_related(rid, link, query, headers)
        spec = LINKS.get((entity, link))
        if spec is None:
            raise ApiError(500, None)  # an unknown link name is an internal error on the server
        store_link, target = spec
        module = ENTITIES[entity]
        if not self.store.exists(module, rid):
            raise ApiError(404, "")
        default_select = RELATED_SELECT.get((entity, link))
        if default_select and not any(k in ("select", "searchParams") for k, _ in query):
            query = [*query, ("select", default_select)]
        return self._list_answer(
            target,
            query,
            headers,
            lambda f, o, size, off: self.store.related(
                module, rid, store_link, f, o, limit=size, offset=off
            ),
            lambda f: self.store.related_count(module, rid, store_link, f),
        )

    def _link_ids(self, body: Any) -> list[str]:
        if not isinstance(body, dict):
            return []
        if isinstance(body.get("ids"), list):
            return [str(i) for i in body["ids"]]
        return [str(body["id"])] if body.get("id") else []

    def link(self, entity: str, rid: str, link: str, body: Any) -> bool:
        spec = LINKS.get((entity, link))
        if spec is None:
            raise ApiError(500, None)
        ids = self._link_ids(body)
        if not ids:
            raise ApiError(400, "")
        for other in ids:
            try:
                self.store.link(ENTITIES[entity], rid, spec[0], other)
            except RecordNotFound:
                raise ApiError(404, "") from None
        return True

    def unlink(self, entity: str, rid: str, link: str, body: Any) -> bool:
        spec = LINKS.get((entity, link))
        if spec is None:
            raise ApiError(500, None)
        ids = self._link_ids(body)
        if not ids:
            return False  # the id in the query string is not read: nothing happens
        if not self.store.exists(ENTITIES[entity], rid):
            raise ApiError(404, "")
        for other in ids:
            self.store.unlink(ENTITIES[entity], rid, spec[0], other)
        return True

    # -- lead conversion ----------------------------------------------------------------
    def action(self, entity: str, name: str, body: Any, session: Session) -> Any:
        """``POST <Entity>/action/<name>``: the Lead controller's two conversion actions."""
        if entity == "Lead" and name == "getConvertAttributes":
            return self.convert_attributes(body)
        if entity == "Lead" and name == "convert":
            return self.convert_lead(body, session)
        raise ApiError(404, f"Action POST '{name}' does not exist in controller '{entity}'.")

    def _lead(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not body.get("id"):
            raise ApiError(400, "")
        row = self.store.get("Leads", str(body["id"]))
        if row is None:
            raise ApiError(404, "")  # the record service's NotFound() carries no message
        return self.to_wire("Lead", [row], full=True)[0]

    def convert_attributes(self, body: Any) -> dict[str, Any]:
        """ConvertService::getValues: per target entity, the lead's values of the fields both
        have with the same type, then ``convertFields`` (Account.name ← accountName …)."""
        lead = self._lead(body)
        lead_fields = entity_defs("Lead")["fields"]
        out: dict[str, Any] = {}
        for target in CONVERT_ENTITIES:
            target_fields = entity_defs(target)["fields"]
            fmap = {
                f: f
                for f, meta in lead_fields.items()
                if f in target_fields and target_fields[f].get("type") == meta.get("type")
            }
            fmap.update(CONVERT_FIELDS.get(target, {}))
            attrs: dict[str, Any] = {}
            for fld, lead_fld in fmap.items():
                ftype = target_fields.get(fld, {}).get("type")
                if ftype == "linkMultiple":
                    for suffix in ("Ids", "Names", "Columns"):
                        attrs[fld + suffix] = lead.get(lead_fld + suffix)
                    continue
                mine = _attribute_list(fld, ftype)
                theirs = _attribute_list(lead_fld, lead_fields.get(lead_fld, {}).get("type"))
                if len(mine) != len(theirs):
                    continue
                for attr, lead_attr in zip(mine, theirs, strict=True):
                    if attr not in _CONVERT_IGNORED and lead_attr in lead:
                        attrs[attr] = lead[lead_attr]
            out[target] = attrs
        return out

    def _duplicates(self, entity: str, values: Mapping[str, Any]) -> list[dict[str, Any]]:
        """What ``findDuplicates`` finds: same first and last name, or same name, or the same
        email address (``duplicateCheckFieldList``)."""
        checks: list[Filter] = []
        for fld in DUPLICATE_CHECK.get(entity, ()):
            if fld == "name" and entity in PERSON:
                first, last = values.get("first_name"), values.get("last_name")
                if first or last:
                    checks.append(
                        Where(
                            "and", (Cond("first_name", "eq", first), Cond("last_name", "eq", last))
                        )
                    )
            elif fld == "name" and values.get("name"):
                checks.append(Cond("name", "eq", values["name"]))
            elif fld == "emailAddress" and values.get("email1"):
                checks.append(Cond("email1", "like", str(values["email1"]).replace("%", "")))
        if not checks:
            return []
        rows = self.store.list(ENTITIES[entity], Where("or", tuple(checks)), limit=20)
        return [{"id": r["id"], "name": r.get("name"), "_entityType": entity} for r in rows]

    def convert_lead(self, body: Any, session: Session) -> dict[str, Any]:
        """ConvertService::convert of 8.4.2, faithfully: Account, then Contact (linked to the
        new account), then Opportunity (linked to both); each is checked for duplicates just
        before it would be created, and a record created before a later duplicate is found
        stays (fixed in 9.2.4).  A value the create refuses is a RuntimeException there: 500,
        empty body, no reason, the records created before it kept.  Nothing refuses a lead
        that is already converted.  The answer is the lead's value map, status "Converted"."""
        lead = self._lead(body)
        records = body.get("records", {})
        if not isinstance(records, dict):
            raise ApiError(400, "")
        skip_check = bool(body.get("skipDuplicateCheck"))
        headers = {"x-skip-duplicate-check": "true"}
        duplicates: list[dict[str, Any]] = []
        created: dict[str, str] = {}
        skip_save = False
        for entity in CONVERT_ENTITIES:
            values = records.get(entity)
            if entity not in records:
                continue
            payload = dict(values) if isinstance(values, dict) else {}
            if entity in ("Contact", "Opportunity") and "Account" in created:
                payload["accountId"] = created["Account"]
            if entity == "Opportunity" and "Contact" in created:
                payload["contactId"] = created["Contact"]
            if not skip_check:
                try:
                    probe = self.from_wire(entity, payload, creating=False)
                except ApiError:
                    probe = {}
                found = self._duplicates(entity, probe)
                duplicates.extend(found)
                skip_save = skip_save or bool(found)
            if skip_save:
                continue
            try:
                rec = self.create(entity, payload, headers, session)
            except ApiError as exc:
                if exc.status == 400:
                    raise ApiError(500, None) from None  # BadRequest → RuntimeException
                raise
            created[entity] = str(rec["id"])
            if entity == "Opportunity" and "Contact" in created:
                self.store.link("Contacts", created["Contact"], "opportunities", rec["id"])
        if duplicates:
            raise ApiError(409, "duplicate", duplicates)
        lead_id = str(lead["id"])
        self.store.update("Leads", lead_id, {"status": "Converted"}, user_id=session.user_id)
        done = self.state.converted.setdefault(lead_id, {})
        done["convertedAt"] = format_datetime(datetime.now(UTC))
        for entity, rid in created.items():
            done[f"created{entity}Id"] = rid
        answer = self.read("Lead", lead_id)
        for link in CONVERTED_LINKS:
            answer[f"{link}Name"] = lead.get(f"{link}Name")  # the value map is not reloaded
        return answer

    def _converted_related(
        self, rid: str, link: str, query: list[tuple[str, str]], headers: Mapping[str, str]
    ) -> dict[str, Any]:
        """``GET Lead/{id}/createdContact`` …: a belongsTo list of at most one row."""
        if not self.store.exists("Leads", rid):
            raise ApiError(404, "")
        id_attr, target = CONVERTED_LINKS[link]
        target_id = self.state.converted.get(rid, {}).get(id_attr)
        module = ENTITIES[target]

        def only(flt: Filter | None) -> Filter:
            one = Cond("id", "eq", target_id or "")
            return one if flt is None else Where("and", (one, flt))

        return self._list_answer(
            target,
            query,
            headers,
            lambda f, o, size, off: self.store.list(module, only(f), o, limit=size, offset=off),
            lambda f: self.store.count(module, only(f)),
        )

    def global_search(self, query: list[tuple[str, str]]) -> dict[str, Any]:
        qd = dict(query)
        q = qd.get("q")
        if not q:
            raise ApiError(400, "No `q` parameter.", html=True)
        size, offset = self._page_params(qd)
        rows: list[dict[str, Any]] = []
        for entity in GLOBAL_SEARCH:
            flt = self._filter(entity, [("q", q)])
            for row in self.store.list(
                ENTITIES[entity], flt, [("name", False)], limit=offset + size + 1
            ):
                item: dict[str, Any] = {"id": row["id"], "name": row.get("name")}
                if entity == "Lead":
                    item.update(
                        emailAddress=row.get("email1"),
                        phoneNumber=row.get("phone_work"),
                        accountName=row.get("account_name"),
                    )
                item["_scope"] = entity
                rows.append(item)
        page = rows[offset : offset + size]
        return {"total": -1 if len(rows) > offset + size else -2, "list": page}


#: Attributes ``getConvertAttributes`` never copies.
_CONVERT_IGNORED = frozenset(
    {"createdAt", "modifiedAt", "modifiedById", "modifiedByName", "createdById", "createdByName"}
)


def _attribute_list(fld: str, ftype: Any) -> list[str]:
    """FieldUtil::getAttributeList for the field types the demo has."""
    if ftype is None:
        return []
    if ftype == "link":
        return [f"{fld}Id", f"{fld}Name"]
    if ftype == "address":
        return [f"{fld}{p}" for p in ("Street", "City", "State", "Country", "PostalCode")]
    if ftype == "personName":
        return ["salutationName", "firstName", "lastName", "middleName", fld]
    if ftype == "email":
        return [f"{fld}IsOptedOut", f"{fld}IsInvalid", fld, f"{fld}Data"]
    if ftype == "phone":
        return [f"{fld}IsOptedOut", f"{fld}IsInvalid", fld, f"{fld}Data"]
    if ftype == "currency":
        return [fld, f"{fld}Currency"]
    return [fld]


def _flatten_where(items: list[Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []

    def walk(key: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{key}[{k}]", v)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(f"{key}[{i}]", v)
        else:
            out.append((key, "" if value is None else str(value)))

    for i, item in enumerate(items):
        walk(f"where[{i}]", item)
    return out


# ----------------------------------------------------------------------------- metadata

_TYPE_NAMES = {
    FieldType.TEXT: "varchar",
    FieldType.MULTILINE: "text",
    FieldType.ENUM: "enum",
    FieldType.MULTIENUM: "multiEnum",
    FieldType.INT: "int",
    FieldType.DECIMAL: "float",
    FieldType.CURRENCY: "currency",
    FieldType.DATE: "date",
    FieldType.DATETIME: "datetime",
    FieldType.BOOL: "bool",
    FieldType.EMAIL: "email",
    FieldType.PHONE: "phone",
    FieldType.URL: "url",
}
#: Enums whose options start with "" ("none"), as on the real server.
EMPTY_ENUMS: dict[str, frozenset[str]] = {
    "Account": frozenset({"type", "industry"}),
    "Contact": frozenset({"salutationName"}),
    "Lead": frozenset({"salutationName", "source"}),
    "Opportunity": frozenset({"leadSource"}),
    "Case": frozenset({"type"}),
}
MAX_LENGTH: dict[str, dict[str, int]] = {"Account": {"name": 249}}
_ADDRESS = {
    "Account": ("billingAddress", "shippingAddress"),
    "Contact": ("address",),
    "Lead": ("address",),
}
_LINK_DEFS: dict[str, dict[str, dict[str, Any]]] = {
    "Account": {
        "contacts": {"type": "hasMany", "entity": "Contact", "foreign": "account"},
        "opportunities": {"type": "hasMany", "entity": "Opportunity", "foreign": "account"},
        "cases": {"type": "hasMany", "entity": "Case", "foreign": "account"},
    },
    "Contact": {
        "account": {"type": "belongsTo", "entity": "Account", "foreign": "contacts"},
        "opportunities": {"type": "hasMany", "entity": "Opportunity", "foreign": "contacts"},
    },
    "Lead": {
        link: {"type": "belongsTo", "entity": target, "foreign": "originalLead"}
        for link, (_attr, target) in CONVERTED_LINKS.items()
    },
    "Opportunity": {
        "account": {"type": "belongsTo", "entity": "Account", "foreign": "opportunities"},
        "contacts": {"type": "hasMany", "entity": "Contact", "foreign": "opportunities"},
    },
    "Case": {"account": {"type": "belongsTo", "entity": "Account", "foreign": "cases"}},
    "User": {},
}


def _store_module(entity: str) -> Any:
    from crmdesk.demo.catalog import MODULES

    return MODULES[ENTITIES[entity]]


def entity_defs(entity: str) -> dict[str, Any]:
    mod = _store_module(entity)
    fields: dict[str, Any] = {}
    for attr, store_f in ATTRS[entity].items():
        fd = mod.field(store_f)
        if fd is None:
            continue
        if attr.endswith("Id") and fd.type is FieldType.RELATE:
            link = attr[:-2]
            fields[link] = {"type": "link"}
            if link in ("createdBy", "modifiedBy"):
                fields[link]["readOnly"] = True
            continue
        meta: dict[str, Any] = {"type": _TYPE_NAMES.get(fd.type, "varchar")}
        if attr == "name" and entity in PERSON:
            meta = {"type": "personName"}
        elif attr == "number":
            meta = {"type": "autoincrement"}
        if attr in REQUIRED[entity]:
            meta["required"] = True
        if attr in READ_ONLY and attr not in ("name",):
            meta["readOnly"] = True
        if meta["type"] in ("varchar", "email", "phone", "url") and fd.length:
            meta["maxLength"] = MAX_LENGTH.get(entity, {}).get(attr, fd.length)
        if fd.type in (FieldType.ENUM, FieldType.MULTIENUM):
            vmap = VALUE_MAP.get((entity, attr), {})
            opts = [vmap.get(o.key, o.key) for o in fd.options]
            meta["options"] = ([""] if attr in EMPTY_ENUMS.get(entity, ()) else []) + opts
        if fd.type is FieldType.CURRENCY:
            meta.update(min=0, decimal=False)
        if attr.startswith("c") and attr[1:2].isupper():
            meta["isCustom"] = True
        fields[attr] = meta
    for comp in _ADDRESS.get(entity, ()):
        fields[comp] = {"type": "address"}
    if entity == "Opportunity":
        fields["amountCurrency"] = {"type": "enum", "maxLength": 3}
        fields["amountConverted"] = {"type": "currencyConverted", "readOnly": True}
    if entity == "Contact":
        fields["accounts"] = {"type": "linkMultiple"}
    if entity == "Lead":
        fields["convertedAt"] = {
            "type": "datetime",
            "layoutMassUpdateDisabled": True,
            "readOnly": True,
        }
        for link in CONVERTED_LINKS:
            fields[link] = {
                "type": "link",
                "layoutDetailDisabled": True,
                "layoutMassUpdateDisabled": True,
            }
    if entity != "User":
        fields["teams"] = {"type": "linkMultiple"}
    fields["versionNumber"] = {"type": "int", "readOnly": True, "notStorable": False}
    links: dict[str, Any] = {
        "createdBy": {"type": "belongsTo", "entity": "User"},
        "modifiedBy": {"type": "belongsTo", "entity": "User"},
        "assignedUser": {"type": "belongsTo", "entity": "User"},
    }
    if entity != "User":
        links["teams"] = {
            "type": "hasMany",
            "entity": "Team",
            "relationName": "entityTeam",
            "layoutRelationshipsDisabled": True,
        }
    if entity == "Contact":
        links["accounts"] = {
            "type": "hasMany",
            "entity": "Account",
            "foreign": "contacts",
            "layoutRelationshipsDisabled": True,
        }
    links.update(_LINK_DEFS[entity])
    order_by, order = DEFAULT_ORDER.get(entity, ("createdAt", "desc"))
    defs: dict[str, Any] = {
        "fields": fields,
        "links": links,
        "collection": {
            "orderBy": order_by,
            "order": order,
            "textFilterFields": list(TEXT_FILTER[entity]),
        },
        "optimisticConcurrencyControl": True,
    }
    if entity == "Lead":
        defs["convertEntityList"] = list(CONVERT_ENTITIES)
        defs["convertFields"] = CONVERT_FIELDS
    return defs


def metadata() -> dict[str, Any]:
    scopes = {
        e: {
            "entity": True,
            "layouts": True,
            "tab": e != "User",
            "acl": True,
            "module": "Crm",
            "customizable": True,
            "object": e != "User",
            "stream": e != "User",
        }
        for e in ENTITIES
    }
    scopes["Team"] = {"entity": True, "acl": True, "object": False, "tab": False}
    return {
        "scopes": scopes,
        "entityDefs": {e: entity_defs(e) for e in ENTITIES},
        "clientDefs": {e: {"controller": "controllers/record"} for e in ENTITIES},
        "app": {"currency": {"list": ["USD"], "symbolMap": {"USD": "$"}}},
    }


def i18n() -> dict[str, Any]:
    plural = {
        "Account": "Accounts",
        "Contact": "Contacts",
        "Lead": "Leads",
        "Opportunity": "Opportunities",
        "Case": "Cases",
        "User": "Users",
        "Team": "Teams",
    }
    out: dict[str, Any] = {
        "Global": {
            "scopeNames": {e: e for e in plural},
            "scopeNamesPlural": plural,
            "fields": {
                "name": "Name",
                "assignedUser": "Assigned User",
                "createdAt": "Created At",
                "modifiedAt": "Modified At",
                "createdBy": "Created By",
                "modifiedBy": "Modified By",
                "description": "Description",
                "emailAddress": "Email",
                "phoneNumber": "Phone",
                "teams": "Teams",
            },
            "links": {
                "contacts": "Contacts",
                "opportunities": "Opportunities",
                "cases": "Cases",
                "account": "Account",
                "accounts": "Accounts",
            },
            "options": {},
        }
    }
    for entity in ENTITIES:
        mod = _store_module(entity)
        fields: dict[str, str] = {}
        options: dict[str, dict[str, str]] = {}
        for attr, store_f in ATTRS[entity].items():
            fd = mod.field(store_f)
            if fd is None:
                continue
            key = attr[:-2] if attr.endswith("Id") and fd.type is FieldType.RELATE else attr
            fields[key] = fd.label
            if fd.options:
                vmap = VALUE_MAP.get((entity, attr), {})
                options[attr] = {vmap.get(o.key, o.key): o.label for o in fd.options}
        links: dict[str, str] = {}
        if entity == "Lead":
            fields["convertedAt"] = "Converted At"
            for link, (_attr, target) in CONVERTED_LINKS.items():
                fields[link] = f"Created {target}"
                links[link] = target
        out[entity] = {"fields": fields, "links": links, "options": options, "labels": {}}
    return out


def _list_layout(*names: str) -> list[dict[str, Any]]:
    return [{"name": n, "link": True} if i == 0 else {"name": n} for i, n in enumerate(names)]


LAYOUTS: dict[str, dict[str, Any]] = {
    "Account": {
        "list": _list_layout("name", "website", "type", "billingAddressCountry"),
        "detail": [
            {
                "label": "Overview",
                "rows": [
                    [{"name": "name"}, {"name": "website"}],
                    [{"name": "emailAddress"}, {"name": "phoneNumber"}],
                    [{"name": "billingAddress"}, {"name": "shippingAddress"}],
                ],
            },
            {
                "label": "Details",
                "rows": [
                    [{"name": "type"}, {"name": "industry"}],
                    [{"name": "description", "fullWidth": True}],
                ],
            },
        ],
    },
    "Contact": {
        "list": _list_layout("name", "accountName", "emailAddress", "phoneNumber"),
        "detail": [
            {
                "label": "",
                "rows": [
                    [{"name": "name"}, {"name": "account"}],
                    [{"name": "emailAddress"}, {"name": "phoneNumber"}],
                    [{"name": "address"}, False],
                ],
            }
        ],
    },
    "Lead": {
        "list": [
            {"name": "name", "link": "true"},
            {"name": "status"},
            {"name": "emailAddress"},
            {"name": "assignedUser"},
            {"name": "createdAt"},
        ],
        "detail": [
            {
                "label": "Overview",
                "rows": [
                    [{"name": "name"}, {"name": "accountName"}],
                    [{"name": "emailAddress"}, {"name": "phoneNumber"}],
                ],
            },
            {"label": "Details", "rows": [[{"name": "status"}, {"name": "source"}]]},
        ],
    },
    "Opportunity": {
        "list": _list_layout("name", "account", "stage", "amount", "closeDate"),
        "detail": [
            {
                "label": "",
                "rows": [
                    [{"name": "name"}, {"name": "account"}],
                    [{"name": "stage"}, {"name": "amount"}],
                    [{"name": "probability"}, {"name": "closeDate"}],
                ],
            }
        ],
    },
    "Case": {
        "list": _list_layout("name", "number", "account", "status", "priority"),
        "detail": [
            {
                "label": "",
                "rows": [
                    [{"name": "name"}, {"name": "number"}],
                    [{"name": "status"}, {"name": "priority"}],
                    [{"name": "account"}, {"name": "type"}],
                ],
            }
        ],
    },
}


def create_app(store: Store, credentials: DemoCredentials) -> EspoCrmApp:
    return EspoCrmApp(store, credentials)
