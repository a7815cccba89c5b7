"""The Vtiger adapter: one operation layer, two flavours.

* ``rest`` — the Cloud ``{instance}/restapi/v1/vtiger/default/{operation}``, HTTP Basic with
  the user name and the access key on every call;
* ``webservice`` — ``{instance}/webservice.php?operation=…``: ``getchallenge`` → ``login``
  with ``md5(token + accessKey)`` → ``sessionName`` on every call, signing in again when
  the server says the session expired (``INVALID_SESSIONID``).

The flavour comes from ``profile.auth`` (``"rest"`` / ``"webservice"``) or
``profile.options["flavour"]``; anything else is detected at connect.

Both flavours send GET operations' parameters only in the query string and POST
operations' only in the form body (the real server ignores the other place).  A non-JSON
HTTP 500 to an optional operation (``sync``, ``tags_*``, picklist admin …) means "this
server does not offer it": the operation is disabled for the connection and reported by
:meth:`disabled_features`, never retried.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import httpx

from crmdesk.backends.redact import redact, register_secret
from crmdesk.backends.transport import Transport, decode_json, looks_like_html
from crmdesk.backends.vtiger import vtql, wire
from crmdesk.backends.vtiger.labels import LabelResolver
from crmdesk.backends.vtiger.wire import FileContent, HierarchyNode
from crmdesk.core.backend import (
    Backend,
    Capabilities,
    Changes,
    FileData,
    HierarchyEntry,
    PicklistDependency,
    RawResponse,
)
from crmdesk.core.connection import ConnectionProfile, Secrets
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
    Unsupported,
    ValidationError,
)
from crmdesk.core.query import Query
from crmdesk.core.records import Page, PageRequest, Record, RecordRef, UserInfo, Value, Version
from crmdesk.core.schema import FieldType, LinkDef, ModuleDef, ModuleInfo

log = logging.getLogger("crmdesk.vtiger")

REST_PATH = "/restapi/v1/vtiger/default"
WS_PATH = "/webservice.php"
FLAVOURS = ("rest", "webservice")

#: Operations whose parameters travel in the form body; all others are GET.
POST_OPS = frozenset(
    {
        "login", "create", "update", "revise", "delete", "add_related", "delete_related",
        "convertlead", "logout", "extendsession", "reopen", "tags_add", "tag_delete",
        "add_picklist", "edit_picklist", "delete_picklist",
    }
)  # fmt: skip

#: Operations a server may lack (Cloud-only, or crashing on stock open source), and the
#: Capabilities flag each one backs.
OPTIONAL_OPS: dict[str, str] = {
    "me": "me",
    "logout": "logout",
    "sync": "sync",
    "convertlead": "lead_conversion",
    "files_retrieve": "files",
    "tags_add": "tags",
    "tags_retrieve": "tags",
    "tag_delete": "tags",
    "add_picklist": "picklist_admin",
    "edit_picklist": "picklist_admin",
    "delete_picklist": "picklist_admin",
    "picklist_dependency": "picklist_dependencies",
    "lookup": "lookup",
    "delete_related": "unlink",
    "decrypt": "decrypt",
    "reopen": "reopen",
    "get_account_hierarchy": "hierarchy",
    "editionLimits": "edition_limits",
    "relatedtypes": "relationships",
    "retrieve_inventory": "inventory",
    "describe_partial": "describe_partial",
}

#: Entity modules described for the Access grid by :meth:`VtigerBackend.fill_access` (at most).
ACCESS_MODULES = 40

#: Modules searched when the caller names none (those present on the server).
SEARCH_MODULES = ("Accounts", "Contacts", "Leads", "Potentials", "HelpDesk")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+$")
_PHONE_RE = re.compile(r"^\+?[\d\s().-]{5,}$")


def _base_url(url: str) -> str:
    base = url.strip().rstrip("/")
    for suffix in (WS_PATH, REST_PATH, "/restapi/v1", "/restapi"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
    return base.rstrip("/")


class _Auth:
    """The transport's Authenticator: Basic header (REST) or sessionName parameter."""

    def __init__(self, backend: VtigerBackend) -> None:
        self._b = backend

    async def apply(self, request: httpx.Request) -> None:
        b = self._b
        if b.flavour == "rest":
            token = base64.b64encode(f"{b.username}:{b.access_key}".encode()).decode()
            register_secret(token)
            request.headers["Authorization"] = f"Basic {token}"
        elif b.session:
            request.url = request.url.copy_merge_params({"sessionName": b.session})

    async def refresh(self) -> bool:
        b = self._b
        if b.flavour != "webservice" or not b.access_key:
            return False
        await b.relogin(b.session)
        return True


#: The ``serviceName`` values of ``editionLimits`` shown in the Access view.
EDITION_LIMIT_SERVICES = (
    "DOCUMENT_UPLOAD_FILE_LIMIT",
    "IMPORT_FILE_LIMIT",
    "CUSTOM_FIELD_LIMIT",
    "PICKLIST_VALUES_MAX_ALLOWED",
    "WORKFLOW_LIMIT",
    "STORAGE",
    "WEBSERVICE_LIMIT",
)


class VtigerBackend(Backend):
    """Vtiger over ``webservice.php`` (open source) or ``restapi/v1`` (Cloud)."""

    dialect: ClassVar[str] = "vtiger"
    capabilities: ClassVar[Capabilities] = Capabilities(
        operators=vtql.SUPPORTED_OPS,
        or_filters=True,
        nested_filters=True,  # expanded to an OR of ANDs (VTQL has no parentheses)
        multi_sort=True,  # descending only on the last key
        total_count=True,
        max_page_size=None,  # pages over the 100-row cap are fetched in pieces
        relationships=True,
        create_related=False,
        search=True,
        optimistic_locking=True,  # checked against a fresh retrieve before revise
        tags=True,
        picklist_admin=True,
        picklist_dependencies=True,
        lead_conversion=True,
        sync=True,
        files=True,
        raw_request=True,
        hierarchy=True,
        reopen=True,  # Cloud; stock webservice.php answers 500 and the action is turned off
        decrypt=True,  # likewise
        auth_methods=FLAVOURS,
    )

    def __init__(self, profile: ConnectionProfile, secrets: Secrets, transport: Transport) -> None:
        self.profile = profile
        self.transport = transport
        self.base = _base_url(profile.base_url)
        wanted = profile.options.get("flavour") or profile.auth
        self.flavour: str = wanted if wanted in FLAVOURS else "auto"
        self.username = profile.username
        self.access_key = secrets.get("access_key") or secrets.get("accesskey") or ""
        register_secret(self.access_key)
        self.session: str | None = None
        #: The user as the login answer (webservice) or ``me`` (REST) described them.
        self._user: UserInfo | None = None
        #: ``editionLimits`` answers, asked once with the first ``me()`` (Cloud only).
        self._limits: list[tuple[str, str]] | None = None
        self._login_lock = asyncio.Lock()
        self._modules: list[ModuleInfo] | None = None
        self._describe: dict[str, ModuleDef] = {}
        self._describe_locks: dict[str, asyncio.Lock] = {}
        self._prefixes: dict[str, str] = {}
        self._module_prefix: dict[str, str] = {}
        self._unavailable: dict[str, str] = {}
        #: describe answers used only to name references (None: the module cannot be described).
        self._label_defs: dict[str, ModuleDef | None] = {}
        #: Per module, the user's rights from describe's createable / updateable … flags.
        self._access: dict[str, frozenset[str]] = {}
        self.labels = LabelResolver(self._label_describe, self.query, self._prefixes)
        transport.authenticator = self._auth = _Auth(self)

    # -- session -------------------------------------------------------------------------

    async def connect(self) -> None:
        if not self.base.startswith(("http://", "https://")):
            raise ConfigurationError(
                "The Vtiger address is not a web address.",
                advice="Use the instance URL, like https://crm.example.com (webservice.php and "
                "restapi/… are added by crmdesk).",
            )
        if not self.username:
            raise ConfigurationError(
                "No Vtiger user name is set.", advice="Enter the user name in the connection."
            )
        if not self.access_key:
            raise ConfigurationError(
                "No Vtiger access key is set.",
                advice="Copy it from Vtiger: My Preferences → Access Key.",
            )
        if self.flavour == "auto":
            self.flavour = await self._detect()
        if self.flavour == "webservice":
            await self.relogin(None)
        else:
            await self._rest_sign_in()

    async def _detect(self) -> str:
        """webservice.php answers getchallenge with an envelope; Cloud-only servers do not."""
        try:
            resp = await self.transport.request(
                "GET",
                self.base + WS_PATH,
                params={"operation": "getchallenge", "username": self.username},
                auth=False,
            )
            body = await decode_json(resp)
            if isinstance(body, dict) and "success" in body:
                return "webservice"
        except (ProtocolError, CrmError):
            pass
        return "rest"

    async def _rest_sign_in(self) -> None:
        try:
            self._user = wire.parse_user(await self._call("me"))
        except Unsupported:
            # A REST server without `me` still proves the credentials by listing modules.
            await self.modules()

    async def relogin(self, stale: str | None) -> None:
        """Sign in to webservice.php (again).  ``stale`` is the session seen to fail: when
        another task already replaced it, nothing is done."""
        async with self._login_lock:
            if stale is not None and self.session != stale:
                return
            self.session = None
            chal = wire.parse_challenge(
                await self._call("getchallenge", {"username": self.username}, auth=False)
            )
            digest = hashlib.md5(  # the protocol's choice, not ours
                (chal.token + self.access_key).encode(), usedforsecurity=False
            ).hexdigest()
            register_secret(digest)
            result = await self._call(
                "login", {"username": self.username, "accessKey": digest}, auth=False
            )
            session = wire.session_of(result)
            register_secret(session)
            self.session = session
            self._user = wire.parse_user(result)

    async def close(self) -> None:
        try:
            if self.flavour == "webservice" and self.session and "logout" not in self._unavailable:
                try:
                    await self._call("logout", post=True)
                except CrmError as exc:  # a stock 8.2 server crashes on logout; nothing to do
                    log.debug("vtiger logout failed: %s", exc.message)
        finally:
            self.session = None
            await self.transport.aclose()

    def disabled_features(self) -> dict[str, str]:
        """Features this server turned out not to offer (Capabilities name → why)."""
        out: dict[str, str] = {}
        for op, reason in self._unavailable.items():
            out.setdefault(OPTIONAL_OPS.get(op, op), reason)
        return out

    def offers(self, operation: str) -> bool:
        """False once ``operation`` answered "not offered by this server"."""
        return operation not in self._unavailable

    # -- the operation layer ---------------------------------------------------------------

    def _endpoint(self, operation: str) -> str:
        if self.flavour == "rest":
            return f"{self.base}{REST_PATH}/{operation}"
        return self.base + WS_PATH

    async def _call(
        self,
        operation: str,
        params: Mapping[str, str] | None = None,
        *,
        post: bool | None = None,
        record_id: str | None = None,
        auth: bool = True,
    ) -> Any:
        """Run one operation and return its ``result``; failures become core errors."""
        if operation in self._unavailable:
            raise Unsupported(self._unavailable[operation])
        is_post = operation in POST_OPS if post is None else post
        args = dict(params or {})
        if self.flavour != "rest":
            args = {"operation": operation, **args}
        for attempt in (0, 1):
            seen_session = self.session
            response = await self.transport.request(
                "POST" if is_post else "GET",
                self._endpoint(operation),
                params=None if is_post else args,
                data=args if is_post else None,
                auth=auth,
            )
            body = await self._decode(operation, response)
            fault = wire.error_of(body)
            if fault is None:
                return body.get("result")
            if (
                fault.code in wire.SESSION_CODES
                and auth
                and attempt == 0
                and self.flavour == "webservice"
            ):
                log.info("vtiger session expired; signing in again")
                await self.relogin(seen_session)
                continue
            raise wire.map_fault(
                fault, operation=operation, record_id=record_id, status=response.status_code
            )
        raise AuthError("The Vtiger session could not be renewed.")  # pragma: no cover

    async def _decode(self, operation: str, response: httpx.Response) -> Any:
        status = response.status_code
        if status < 400:
            if status >= 300:
                raise ConfigurationError(
                    f"Vtiger redirected the request (HTTP {status}).",
                    advice="Use the final address of the instance (https, no login page) as "
                    "the base URL.",
                    status=status,
                )
            return await decode_json(response)
        text = response.content.strip()
        if text and not looks_like_html(response):
            try:
                body = json.loads(text)
            except (ValueError, RecursionError):
                body = None
            if isinstance(body, dict) and "success" in body:
                return body
        reason = redact(response.reason_phrase or "")
        detail = f"HTTP {status} {reason}".strip()
        if status == 401:
            raise AuthError(
                "Vtiger refused the user name or access key.",
                advice=wire.ADVICE["INVALID_USER_CREDENTIALS"],
                status=status,
                detail=detail,
            )
        if status == 403:
            raise PermissionDenied(
                f"Vtiger does not allow '{operation}' for this user.", status=status, detail=detail
            )
        if status == 429:
            retry = response.headers.get("Retry-After", "")
            raise RateLimited(
                "Vtiger's API limit for this user was reached.",
                retry_after=float(retry) if retry.isdigit() else None,
                advice="Vtiger limits API calls per day and user by edition. Wait, or ask the "
                "administrator about the edition's limits.",
                status=status,
                detail=detail,
            )
        if status in (502, 503, 504):
            raise Unavailable(
                f"Vtiger is not reachable right now (HTTP {status}).",
                status=status,
                detail=detail,
            )
        if operation in OPTIONAL_OPS and status in (404, 405, 500, 501):
            why = (
                f"This Vtiger server does not offer '{operation}' (it answered HTTP {status} "
                "without a reply). crmdesk has turned the feature off for this connection."
            )
            self._unavailable[operation] = why
            log.info("vtiger: %s is not offered by this server (HTTP %s)", operation, status)
            raise Unsupported(why, status=status, detail=detail)
        if status == 404:
            raise NotFound(
                f"Vtiger's API was not found at this address ('{operation}').",
                advice="Check the base URL and the flavour (webservice.php for open source, "
                "REST for Vtiger Cloud).",
                status=status,
                detail=detail,
            )
        if status >= 500:
            raise ServerError(
                f"Vtiger failed on '{operation}' (HTTP {status}) without saying why.",
                status=status,
                detail=detail,
            )
        raise ProtocolError(
            f"Vtiger answered HTTP {status} to '{operation}'.", status=status, detail=detail
        )

    # -- metadata --------------------------------------------------------------------------

    async def modules(self) -> list[ModuleInfo]:
        if self._modules is None:
            self._modules = wire.parse_listtypes(await self._call("listtypes"))
        return list(self._modules)

    async def describe(self, module: str) -> ModuleDef:
        cached = self._describe.get(module)
        if cached is not None:
            return cached
        lock = self._describe_locks.setdefault(module, asyncio.Lock())
        async with lock:
            cached = self._describe.get(module)
            if cached is not None:
                return cached
            result = await self._call("describe", {"elementType": module})
            links: tuple[LinkDef, ...] = ()
            try:
                links = await self.related_types(module)
            except (NotFound, PermissionDenied, Unsupported, ServerError):
                links = ()
            mdef = wire.parse_describe(result, links)
            if isinstance(result, dict) and (prefix := wire.id_prefix_of(result)):
                self._prefixes[prefix] = mdef.name
                self._module_prefix[mdef.name] = prefix
            self._keep_access(mdef.name, result)
            self._describe[module] = mdef
            return mdef

    async def _label_describe(self, module: str) -> ModuleDef | None:
        """A module's describe for naming references: no ``relatedtypes`` call (Users and
        Groups have none, and an optional op failing there must not switch it off)."""
        if module in self._describe:
            return self._describe[module]
        if module in self._label_defs:
            return self._label_defs[module]
        mdef: ModuleDef | None = None
        try:
            result = await self._call("describe", {"elementType": module})
            mdef = wire.parse_describe(result)
            if isinstance(result, dict) and (prefix := wire.id_prefix_of(result)):
                self._prefixes.setdefault(prefix, mdef.name)
                self._module_prefix.setdefault(mdef.name, prefix)
            self._keep_access(mdef.name, result)
        except (NotFound, PermissionDenied, Unsupported, ValidationError) as exc:
            # This user or server will not describe it: remember, ask no more.
            log.info("vtiger: %s cannot be described for names (%s)", module, exc.message)
        except CrmError as exc:  # transient (server error, timeout …): try again next page
            log.info("vtiger: %s not described for names this time (%s)", module, exc.message)
            return None
        self._label_defs[module] = mdef
        return mdef

    async def related_types(self, module: str) -> tuple[LinkDef, ...]:
        return wire.parse_relatedtypes(await self._call("relatedtypes", {"elementType": module}))

    def forget_metadata(self, module: str | None = None) -> None:
        """Drop cached describe answers (after a picklist change, say)."""
        if module is None:
            self._describe.clear()
            self._label_defs.clear()
            self._modules = None
        else:
            self._describe.pop(module, None)
            self._label_defs.pop(module, None)

    def _keep_access(self, module: str, result: Any) -> None:
        access = wire.parse_module_access(result)
        if access is not None:
            self._access[module] = access

    async def fill_access(self, progress: Callable[[int, int], None] | None = None) -> None:
        """Describe every entity module not described yet (a light describe each, 4 at a
        time, no ``relatedtypes``; the answers also serve to name references later), so
        that ``me().access`` covers them all.  Only the Access grid needs this: ``me()``
        itself never waits for it.  ``progress(done, total)`` follows the pass; cancelling
        keeps the rights read so far."""
        try:
            listed = [m.name for m in await self.modules() if m.entity]
        except CrmError as exc:
            log.info("vtiger: no module list for the access grid (%s)", exc.message)
            return
        todo = [
            n
            for n in listed[:ACCESS_MODULES]
            if n not in self._access and n not in self._describe and n not in self._label_defs
        ]
        done = 0
        if progress is not None:
            progress(done, len(todo))
        gate = asyncio.Semaphore(4)

        async def one(name: str) -> None:
            nonlocal done
            async with gate:
                await self._label_describe(name)
            done += 1
            if progress is not None:
                progress(done, len(todo))

        await asyncio.gather(*(one(n) for n in todo))

    async def me(self, *, full: bool = False) -> UserInfo:
        """The user at once; ``access`` holds the rights on each module described so far
        (a module not there is unknown: allowed, the server will say).  ``full=True``
        first describes every entity module (:meth:`fill_access`)."""
        user = await self._me()
        if full:
            await self.fill_access()
        return dataclasses.replace(user, access=dict(self._access))

    async def _me(self) -> UserInfo:
        """webservice: the login answer's profile, no request (signing in only when not
        signed in yet); REST: ``me`` once, then the edition limits once."""
        if self._user is None:
            if self.flavour == "webservice":
                await self.relogin(self.session)
            else:
                self._user = wire.parse_user(await self._call("me"))
        if self._limits is None:
            self._limits = await self.edition_limits()
        user = self._user
        assert user is not None
        if not self._limits:
            return user
        # Kept apart from _user, which a new sign-in replaces.
        extra = {f"Edition limit {k}": v for k, v in self._limits}
        return dataclasses.replace(user, extra={**user.extra, **extra})

    async def edition_limits(self) -> list[tuple[str, str]]:
        """The Cloud edition's limits (service name, limit) for the Access view.

        ``editionLimits`` is Cloud-only: where the server lacks it the answer is an empty
        list, never an error.  webservice.php (open source) is not asked at all: it has no
        Cloud extra and answers each with HTTP 500 (the ``cloudonly_*`` captures).
        """
        if self.flavour == "webservice":
            return []
        first, *rest = EDITION_LIMIT_SERVICES
        try:
            answer = await self.edition_limit(first)
        except CrmError as exc:
            log.debug("no edition limit %s: %s", first, exc.message)
            return []  # the first one failed: the server has no such call

        async def one(service: str) -> dict[str, str] | None:
            try:
                return await self.edition_limit(service)
            except CrmError as exc:
                log.debug("no edition limit %s: %s", service, exc.message)
                return None

        # The server has the call: ask for the others together (they are on me()'s path).
        answers = [answer, *await asyncio.gather(*(one(s) for s in rest))]
        return [
            (service, a.get("limit", "") or json.dumps(a))
            for service, a in zip(EDITION_LIMIT_SERVICES, answers, strict=True)
            if a is not None
        ]

    # -- records ---------------------------------------------------------------------------

    async def _describe_or_none(self, module: str) -> ModuleDef | None:
        try:
            return await self.describe(module)
        except (NotFound, PermissionDenied, ValidationError):
            return None

    def _module_of(self, record_id: str, default: str) -> str:
        return wire.module_for_id(record_id, self._prefixes) or default

    def _check_id(self, module: str, record_id: str) -> None:
        if not wire.ID_RE.match(record_id):
            raise NotFound(
                f"{record_id!r} is not a Vtiger record id.",
                advice="Vtiger ids look like 11x2 (module prefix x record number).",
            )
        prefix = self._module_prefix.get(module)
        if prefix is not None and not record_id.startswith(prefix + "x"):
            owner = wire.module_for_id(record_id, self._prefixes)
            # Calendar and Events share records; other mismatches are another module's id.
            if {module, owner} != {"Calendar", "Events"}:
                raise NotFound(
                    f"The id {record_id} does not belong to {module}.",
                    advice=wire.ADVICE["INVALID_ID_ATTRIBUTE"],
                )

    def _record(self, module: str, raw: Any, mdef: ModuleDef | None) -> Record:
        return wire.parse_record(module, raw, mdef)

    def _listed(
        self, module: str, raw: Any, mdef: ModuleDef | None, columns: frozenset[str] | None
    ) -> Record:
        """A whole query row as a record of only ``columns`` (all when None), its version
        taken from the whole row, as ``get`` takes it from retrieve's."""
        if columns is None or not isinstance(raw, dict):
            return self._record(module, raw, mdef)
        rec = self._record(module, {k: v for k, v in raw.items() if k in columns}, mdef)
        rec.version = wire.version_of(raw)
        return rec

    async def _paged_query(
        self,
        build: Any,
        operation: str,
        extra: Mapping[str, str],
        offset: int,
        size: int,
    ) -> tuple[list[dict[str, Any]], bool]:
        """Rows ``offset .. offset+size`` in calls of at most 100; True when the end was seen."""
        rows: list[dict[str, Any]] = []
        while len(rows) < size:
            want = min(vtql.MAX_ROWS, size - len(rows))
            text = build(offset + len(rows), want)
            chunk = wire.parse_rows(await self._call(operation, {**extra, "query": text}))
            rows.extend(chunk[:want])
            if len(chunk) < want:
                return rows, True
        return rows, False

    async def list_records(self, module: str, query: Query, page: PageRequest) -> Page:
        mdef = await self.describe(module)
        offset, total = _decode_cursor(page.cursor)
        size = max(1, page.size)

        # The version hashes the whole record (wire.version_of), so rows come whole, as
        # retrieve sends them, and are cut down to the asked columns after.
        columns = _asked_columns(query.fields, mdef)

        def build(off: int, lim: int) -> str:
            return vtql.build_select(
                module,
                flt=query.filter,
                sort=query.sort,
                offset=off,
                limit=lim,
                mdef=mdef,
            )

        build(offset, size)  # validate the query before any network call
        rows, ended = await self._paged_query(build, "query", {}, offset, size)
        if total is None and page.cursor is None:
            total = await self.count(module, query)
        records = [self._listed(module, r, mdef, columns) for r in rows]
        await self.labels.fill(records, mdef)
        end = offset + len(rows)
        more = not ended and (total is None or end < total)
        return Page(records=records, total=total, next=_encode_cursor(end, total) if more else None)

    async def count(self, module: str, query: Query) -> int | None:
        mdef = await self.describe(module)
        text = vtql.build_count(module, query.filter, mdef)
        return wire.parse_count(await self._call("query", {"query": text}))

    async def query(self, text: str) -> list[dict[str, Any]]:
        """Run VTQL as typed (for the API console / power users); adds the trailing ``;``."""
        text = text.strip()
        if not text.endswith(";"):
            text += ";"
        return wire.parse_rows(await self._call("query", {"query": text}))

    async def get(self, module: str, record_id: str) -> Record:
        mdef = await self.describe(module)
        self._check_id(module, record_id)
        raw = await self._call("retrieve", {"id": record_id}, record_id=record_id)
        return await self._named(self._record(module, raw, mdef), mdef)

    async def _named(self, record: Record, mdef: ModuleDef) -> Record:
        """``record`` with the display names of its references filled in."""
        await self.labels.fill([record], mdef)
        return record

    async def decrypt(self, module: str, record_id: str, field_name: str) -> str:
        """The clear value of a sensitive (encrypted) field, on demand (Cloud)."""
        self._check_id(module, record_id)
        result = await self._call(
            "decrypt", {"id": record_id, "fieldname": field_name}, record_id=record_id
        )
        if isinstance(result, dict):
            result = result.get(field_name, result.get("value"))
        return "" if result is None else str(result)

    async def _wire_values(self, mdef: ModuleDef, values: Mapping[str, Value]) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, value in values.items():
            if name in ("id", "label") or wire.is_name_field(name):
                continue
            out[name] = wire.to_wire(value)
        return out

    async def create(self, module: str, values: Mapping[str, Value]) -> Record:
        mdef = await self.describe(module)
        element = await self._wire_values(mdef, values)
        owner = mdef.field("assigned_user_id")
        if owner is not None and not element.get("assigned_user_id"):
            # Vtiger requires an owner; the signed-in user is what its own UI proposes.
            element["assigned_user_id"] = (await self._me()).id
        raw = await self._call(
            "create", {"elementType": module, "element": json.dumps(element)}, post=True
        )
        return await self._named(self._record(module, raw, mdef), mdef)

    async def update(
        self,
        module: str,
        record_id: str,
        changes: Mapping[str, Value],
        expected_version: Version | None = None,
    ) -> Record:
        mdef = await self.describe(module)
        self._check_id(module, record_id)
        if expected_version is not None:
            current = await self.get(module, record_id)
            if current.version is not None and current.version != expected_version:
                raise Conflict(
                    f"This {mdef.label} record was changed on the server since it was loaded.",
                    current=current,
                )
        element: dict[str, str] = {"id": record_id, **await self._wire_values(mdef, changes)}
        raw = await self._call(
            "revise", {"element": json.dumps(element)}, post=True, record_id=record_id
        )
        self.labels.cache.forget(record_id)  # its name may have changed
        return await self._named(self._record(module, raw, mdef), mdef)

    async def replace(self, module: str, record_id: str, values: Mapping[str, Value]) -> Record:
        """Vtiger's ``update``: every mandatory field must be sent, so the current record is
        read and ``values`` laid over it."""
        mdef = await self.describe(module)
        self._check_id(module, record_id)
        raw = await self._call("retrieve", {"id": record_id}, record_id=record_id)
        if not isinstance(raw, dict):
            raise ProtocolError("Vtiger's retrieve answer is not a record.")
        element = {k: v for k, v in raw.items() if k != "label" and isinstance(v, str)}
        element.update(await self._wire_values(mdef, values))
        element["id"] = record_id
        result = await self._call(
            "update", {"element": json.dumps(element)}, post=True, record_id=record_id
        )
        self.labels.cache.forget(record_id)
        return await self._named(self._record(module, result, mdef), mdef)

    async def delete(self, module: str, record_id: str) -> None:
        await self.describe(module)
        self._check_id(module, record_id)
        result = await self._call("delete", {"id": record_id}, post=True, record_id=record_id)
        self.labels.cache.forget(record_id)
        if isinstance(result, dict) and result.get("status") not in (None, "successful"):
            raise ServerError(f"Vtiger did not confirm the delete ({result.get('status')}).")

    async def reopen(self, module: str, record_id: str) -> str:
        """Reopen a closed record (Cloud); returns the server's message."""
        self._check_id(module, record_id)
        result = await self._call("reopen", {"id": record_id}, post=True, record_id=record_id)
        return str(result.get("message", "")) if isinstance(result, dict) else str(result or "")

    # -- relationships ---------------------------------------------------------------------

    async def _link_def(self, module: str, link: str) -> LinkDef:
        mdef = await self.describe(module)
        ld = mdef.link(link)
        if ld is None:
            raise NotFound(
                f"{mdef.label} has no relationship {link!r}.",
                advice=wire.ADVICE["UNKOWN_ENTITY"],
            )
        return ld

    async def related(
        self, module: str, record_id: str, link: str, query: Query, page: PageRequest
    ) -> Page:
        ld = await self._link_def(module, link)
        self._check_id(module, record_id)
        target = ld.target_module
        tdef = await self._describe_or_none(target)
        label = ld.relationship or ld.name
        offset, _ = _decode_cursor(page.cursor)
        size = max(1, page.size)
        if query.filter is None:
            raw = wire.parse_rows(
                await self._call(
                    "retrieve_related",
                    {"id": record_id, "relatedType": target, "relatedLabel": label},
                    record_id=record_id,
                )
            )
            records = [self._record(self._module_of(r.get("id", ""), target), r, tdef) for r in raw]
            await self.labels.fill(records, tdef)
            for key in reversed(query.sort):
                records.sort(key=_record_sort(key.field), reverse=key.descending)
            # The server sends at most 100 related rows and cannot page them.
            total = len(records) if len(records) < vtql.MAX_ROWS else None
            chunk = records[offset : offset + size]
            end = offset + len(chunk)
            return Page(
                records=chunk,
                total=total,
                next=_encode_cursor(end, total) if end < len(records) else None,
            )

        flt = query.filter

        def build(off: int, lim: int) -> str:
            return vtql.build_related(
                target, flt, fields=query.fields, sort=query.sort, offset=off, limit=lim, mdef=tdef
            )

        build(offset, size)
        rows, ended = await self._paged_query(
            build, "query_related", {"id": record_id, "relatedLabel": label}, offset, size
        )
        records = [self._record(self._module_of(r.get("id", ""), target), r, tdef) for r in rows]
        await self.labels.fill(records, tdef)
        end = offset + len(rows)
        return Page(records=records, total=None, next=None if ended else _encode_cursor(end, None))

    async def _one_to_many_field(self, module: str, ld: LinkDef) -> str | None:
        """The target's reference field pointing back at ``module`` (a 1:n link, changed by
        revising that field: open-source Vtiger has no delete_related)."""
        tdef = await self._describe_or_none(ld.target_module)
        if tdef is None:
            return None
        refs = [
            f.name
            for f in tdef.fields
            if f.type is FieldType.RELATE
            and f.native_type == "reference"
            and f.relate_module == module
            and not f.read_only
        ]
        return refs[0] if len(refs) == 1 else None

    async def link(self, module: str, record_id: str, link: str, related_id: str) -> None:
        ld = await self._link_def(module, link)
        self._check_id(module, record_id)
        ref = await self._one_to_many_field(module, ld)
        if ref is not None:
            element = {"id": related_id, ref: record_id}
            await self._call(
                "revise", {"element": json.dumps(element)}, post=True, record_id=related_id
            )
            return
        await self._call(
            "add_related",
            {
                "sourceRecordId": record_id,
                "relatedRecordId": related_id,
                "relationIdLabel": ld.relationship or ld.name,
            },
            post=True,
            record_id=record_id,
        )

    async def unlink(self, module: str, record_id: str, link: str, related_id: str) -> None:
        ld = await self._link_def(module, link)
        self._check_id(module, record_id)
        ref = await self._one_to_many_field(module, ld)
        if ref is not None:
            current = await self._call("retrieve", {"id": related_id}, record_id=related_id)
            if isinstance(current, dict) and current.get(ref) == record_id:
                element = {"id": related_id, ref: ""}
                await self._call(
                    "revise", {"element": json.dumps(element)}, post=True, record_id=related_id
                )
            return
        try:
            await self._call(
                "delete_related",
                {"sourceRecordId": record_id, "relatedRecordId": related_id},
                post=True,
                record_id=record_id,
            )
        except Unsupported as exc:
            raise Unsupported(
                "This Vtiger server cannot remove this link (it has no delete_related).",
                advice="Remove the link in Vtiger's web interface.",
                status=exc.status,
            ) from None

    # -- search ----------------------------------------------------------------------------

    async def lookup(
        self, kind: str, value: str, search_in: Mapping[str, Sequence[str]] | None = None
    ) -> list[RecordRef]:
        """Vtiger's phone / e-mail lookup (Cloud)."""
        if kind not in ("phone", "email"):
            raise ValidationError("Lookup searches by 'phone' or 'email'.")
        params = {"type": kind, "value": value}
        if search_in:
            params["searchIn"] = json.dumps({m: list(f) for m, f in search_in.items()})
        rows = wire.parse_rows(await self._call("lookup", params))
        out = []
        for r in rows:
            rid = r.get("id")
            if not isinstance(rid, str):
                continue
            mod = self._module_of(rid, "")
            mdef = self._describe.get(mod)
            out.append(RecordRef(mod, rid, wire.record_label(r, mdef)))
        return out

    async def search(
        self, text: str, modules: Sequence[str] | None = None, limit: int = 20
    ) -> list[RecordRef]:
        text = text.strip()
        if not text:
            return []
        kind = "email" if _EMAIL_RE.match(text) else "phone" if _PHONE_RE.match(text) else ""
        if kind and self.offers("lookup"):
            try:
                refs = await self.lookup(kind, text)
            except Unsupported:
                pass
            else:
                wanted = set(modules) if modules else None
                return [r for r in refs if wanted is None or r.module in wanted][:limit]
        if modules is None:
            present = {m.name for m in await self.modules()}
            modules = [m for m in SEARCH_MODULES if m in present]
        out: list[RecordRef] = []
        for module in modules:
            if len(out) >= limit:
                break
            mdef = await self._describe_or_none(module)
            if mdef is None:
                continue
            names = [n for n in wire.label_fields_of(mdef.raw) if mdef.has_field(n)]
            names = names or [mdef.name_field]
            wanted_types = {FieldType.EMAIL} if kind == "email" else set()
            if kind == "phone":
                wanted_types = {FieldType.PHONE}
            extra = [f.name for f in mdef.fields if f.type in wanted_types]
            conds = [f"{n} like {vtql.quote('%' + text + '%')}" for n in (*names, *extra)]
            q = (
                f"select {', '.join(names)} from {module} where {' or '.join(conds)} "
                f"limit 0, {min(limit - len(out), vtql.MAX_ROWS)};"
            )
            for r in wire.parse_rows(await self._call("query", {"query": q})):
                rid = r.get("id")
                if isinstance(rid, str):
                    out.append(RecordRef(module, rid, wire.record_label(r, mdef)))
        return out[:limit]

    async def account_hierarchy(self, record_id: str) -> list[HierarchyNode]:
        """The parent / child tree of an Account (Cloud)."""
        return wire.parse_hierarchy(
            await self._call("get_account_hierarchy", {"id": record_id}, record_id=record_id)
        )

    async def hierarchy(self, module: str, record_id: str) -> list[HierarchyEntry]:
        """The core's view of :meth:`account_hierarchy` (Accounts only)."""
        if module != "Accounts":
            raise Unsupported("Vtiger keeps a hierarchy for Accounts only.")
        return [
            HierarchyEntry(n.id, n.name, n.level, n.current, n.label)
            for n in await self.account_hierarchy(record_id)
        ]

    # -- tags, sync, files, picklists, leads -------------------------------------------------

    async def tags(self, module: str, record_id: str) -> tuple[str, ...]:
        return wire.parse_tags(
            await self._call("tags_retrieve", {"id": record_id}, record_id=record_id)
        )

    async def add_tags(self, module: str, record_id: str, tags: Sequence[str]) -> None:
        await self._call(
            "tags_add", {"id": record_id, "tags": json.dumps(list(tags))}, record_id=record_id
        )

    async def remove_tag(self, module: str, record_id: str, tag: str) -> None:
        await self._call(
            "tag_delete",
            {"id": record_id, "tags": json.dumps([tag]), "delete_all": "false"},
            record_id=record_id,
        )

    async def sync(self, module: str, since: datetime) -> Changes:
        mdef = await self.describe(module)
        stamp = since if since.tzinfo else since.replace(tzinfo=UTC)
        # "0" reads as empty on the real server (HTTP 500): the epoch starts at 1 here.
        params = {"modifiedTime": str(max(1, int(stamp.timestamp()))), "elementType": module}
        user = self._user
        if user is not None:
            params["syncType"] = "application" if user.is_admin else "userandgroup"
        res = wire.parse_sync(await self._call("sync", params))
        return Changes(
            updated=tuple(self._record(module, r, mdef) for r in res.updated if r.get("id")),
            deleted=tuple(res.deleted),
            until=res.last_modified,
            more=res.more,
        )

    async def files_retrieve(self, resource_id: str) -> FileContent:
        """An image or attachment (ids from fields like ``imageattachmentids``)."""
        return wire.parse_file(
            await self._call("files_retrieve", {"id": resource_id}, record_id=resource_id)
        )

    async def fetch_file(self, resource_id: str) -> FileData:
        content = await self.files_retrieve(resource_id)
        return FileData(content.filename, content.mime_type, content.content)

    async def save_file(self, resource_id: str, directory: Path) -> Path:
        """Save an attachment into ``directory`` under its own (sanitised) name."""
        content = await self.files_retrieve(resource_id)
        target = Path(directory) / content.filename
        await asyncio.to_thread(target.write_bytes, content.content)
        return target

    async def picklist_dependency(
        self, module: str, source_field: str, target_field: str
    ) -> PicklistDependency:
        result = await self._call(
            "picklist_dependency",
            {"module": module, "sourcefield": source_field, "targetfield": target_field},
        )
        mapping: dict[str, tuple[str, ...]] = {}
        if isinstance(result, dict):
            for item in result.get("valuemapping") or []:
                if isinstance(item, dict) and isinstance(item.get("sourcevalue"), str):
                    targets = item.get("targetvalues")
                    mapping[item["sourcevalue"]] = tuple(
                        str(t) for t in (targets if isinstance(targets, list) else [])
                    )
        return PicklistDependency(source_field, target_field, mapping)

    async def picklist_dependencies(self, module: str) -> list[PicklistDependency]:
        """Every dependency among the module's picklists (one call per ordered pair)."""
        mdef = await self.describe(module)
        picks = [f.name for f in mdef.fields if f.type is FieldType.ENUM][:6]
        out: list[PicklistDependency] = []
        for src in picks:
            for dst in picks:
                if src == dst:
                    continue
                try:
                    dep = await self.picklist_dependency(module, src, dst)
                except (ValidationError, NotFound, ServerError):
                    continue
                if dep.mapping:
                    out.append(dep)
        return out

    async def _picklist_op(self, operation: str, module: str, element: dict[str, Any]) -> None:
        await self._call(
            operation, {"elementType": module, "element": json.dumps(element)}, post=True
        )
        self.forget_metadata(module)

    async def add_picklist_value(self, module: str, field_name: str, value: str) -> None:
        await self._picklist_op(
            "add_picklist", module, {"fieldname": field_name, "values": [value]}
        )

    async def rename_picklist_value(self, module: str, field_name: str, old: str, new: str) -> None:
        await self._picklist_op(
            "edit_picklist",
            module,
            {"fieldname": field_name, "current_value": old, "new_value": new},
        )

    async def delete_picklist_value(
        self, module: str, field_name: str, value: str, replacement: str
    ) -> None:
        if not replacement or replacement == value:
            raise ValidationError(
                "Vtiger needs a replacement value when a picklist value is deleted.",
                fields={field_name: "Choose another existing value as the replacement."},
            )
        await self._picklist_op(
            "delete_picklist",
            module,
            {"fieldname": field_name, "delete_values": [value], "replace_with": replacement},
        )

    async def convert_lead(
        self, lead_id: str, targets: Mapping[str, Mapping[str, Value]]
    ) -> dict[str, str]:
        """Convert a lead into Contacts / Accounts / Potentials (``targets`` per module)."""
        entities: dict[str, dict[str, Any]] = {}
        for module, values in targets.items():
            name = "Potentials" if module == "Opportunities" else module
            entities[name] = {
                "create": True,
                "name": name,
                **{k: wire.to_wire(v) for k, v in values.items()},
            }
        element = {"leadId": lead_id, "assignedTo": (await self.me()).id, "entities": entities}
        result = await self._call(
            "convertlead", {"element": json.dumps(element)}, post=True, record_id=lead_id
        )
        if not isinstance(result, dict):
            raise ProtocolError("Vtiger's convertlead answer is not an object.")
        return {str(k): str(v) for k, v in result.items() if isinstance(v, str | int) and v}

    async def edition_limit(self, service_name: str) -> dict[str, str]:
        """One Cloud edition limit (``DOCUMENT_UPLOAD_FILE_LIMIT`` …) for the admin views."""
        result = await self._call("editionLimits", {"serviceName": service_name})
        if isinstance(result, dict):
            return {str(k): str(v) for k, v in result.items() if v is not None}
        return {"serviceName": service_name, "limit": "" if result is None else str(result)}

    # -- API console -----------------------------------------------------------------------

    async def raw_request(
        self,
        method: str,
        path: str,
        query: Sequence[tuple[str, str]] = (),
        body: Any = None,
    ) -> RawResponse:
        """Send a request with the current sign-in.  ``path`` is an operation name (``query``,
        ``describe`` …) or a path under the instance (``webservice.php``)."""
        if not self.session and self.flavour == "webservice":
            await self.relogin(None)
        method = method.upper()
        p = path.strip()
        params = list(query)
        if re.fullmatch(r"[A-Za-z_]+", p):
            url = self._endpoint(p)
            if self.flavour != "rest" and not any(k == "operation" for k, _ in params):
                params.insert(0, ("operation", p))
        else:
            url = self.base + "/" + p.lstrip("/")
        data: dict[str, str] | None = None
        content: bytes | None = None
        if isinstance(body, Mapping):
            data = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in body.items()}
        elif isinstance(body, str) and body:
            content = body.encode()
        elif isinstance(body, bytes):
            content = body
        started = time.perf_counter()
        response = await self.transport.request(
            method, url, params=params or None, data=data, content=content
        )
        elapsed = (time.perf_counter() - started) * 1000
        text = redact(response.text)
        parsed: Any = None
        is_json = False
        try:
            parsed = json.loads(text) if text.strip() else None
            is_json = parsed is not None
        except (ValueError, RecursionError):
            parsed = None
        headers = {
            k: redact(v)
            for k, v in response.headers.items()
            if k.lower() not in ("set-cookie", "authorization")
        }
        return RawResponse(
            status=response.status_code,
            reason=response.reason_phrase,
            headers=headers,
            body_text=text,
            json=parsed,
            is_json=is_json,
            elapsed_ms=elapsed,
        )


def _encode_cursor(offset: int, total: int | None) -> str:
    return f"{offset}:{'' if total is None else total}"


def _decode_cursor(cursor: str | None) -> tuple[int, int | None]:
    if not cursor:
        return 0, None
    head, _, tail = cursor.partition(":")
    try:
        offset = max(0, int(head))
    except ValueError:
        raise ValidationError("The page cursor is not valid; reload the list.") from None
    total = int(tail) if tail.isdigit() else None
    return offset, total


def _asked_columns(fields: tuple[str, ...] | None, mdef: ModuleDef | None) -> frozenset[str] | None:
    """The row keys a list of ``fields`` shows (a display name needs its reference), after
    checking them as a select list would; None for every column."""
    if not fields:
        return None
    selected = vtql.select_list(fields, mdef)  # raises for a field the module lacks
    return frozenset(("id", *selected.split(", ")))


def _record_sort(name: str) -> Callable[[Record], tuple[int, Any]]:
    def key(rec: Record) -> tuple[int, Any]:
        return _sort_key(rec.get(name))

    return key


def _sort_key(value: Value) -> tuple[int, Any]:
    if value is None:
        return (1, "")
    if isinstance(value, str):
        return (0, value.casefold())
    if isinstance(value, tuple):
        return (0, " ".join(value).casefold())
    if isinstance(value, datetime):
        return (0, value.timestamp())
    return (0, value)
