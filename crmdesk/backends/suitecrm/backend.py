"""SuiteCRM 7.x / 8.x (legacy API) over REST API v8 (JSON:API, OAuth2).

Wire facts come from real captures (peers/suitecrm/README.md); the traps that
shape this adapter: no total record count on lists (only page counts), one sort
field, no ``in`` / ``contains`` filters, datetimes accepted only as
``YYYY-MM-DD HH:MM:SS`` UTC (anything else is stored as NULL with a 201), text
sent back HTML-escaped, PATCH with only the changed fields, no optimistic
locking, relationship lists by link name, and a token refresh that rotates both
tokens.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import quote

from crmdesk.backends.oauth_loopback import BrowserOpener
from crmdesk.backends.redact import redact
from crmdesk.backends.suitecrm.auth import GRANTS, SuiteCrmAuth, TokenSink
from crmdesk.backends.suitecrm.errors import ADVICE_HTML, error_for
from crmdesk.backends.suitecrm.params import (
    SUPPORTED_OPS,
    attributes,
    fields_param,
    filter_params,
    sort_param,
)
from crmdesk.backends.suitecrm.parse import (
    module_from_type,
    parse_fields,
    parse_modules,
    parse_page,
    parse_single,
    parse_user,
    unwrap_extension,
)
from crmdesk.backends.transport import QueryParams, Transport, decode_json, looks_like_html
from crmdesk.core.backend import Backend, Capabilities, RawResponse
from crmdesk.core.connection import ConnectionProfile, Secrets
from crmdesk.core.errors import (
    Conflict,
    CrmError,
    NotFound,
    PermissionDenied,
    ProtocolError,
    Unsupported,
    ValidationError,
)
from crmdesk.core.query import Condition, Op, Query, or_
from crmdesk.core.records import Page, PageRequest, Record, RecordRef, UserInfo, Value, Version
from crmdesk.core.schema import ModuleDef, ModuleInfo

log = logging.getLogger("crmdesk.suitecrm")

JSONAPI = "application/vnd.api+json"
#: Modules searched when ``search`` is given none.
SEARCH_MODULES = ("Accounts", "Contacts", "Leads", "Opportunities", "Cases")
_HIDDEN_HEADERS = frozenset({"authorization", "set-cookie", "cookie", "proxy-authorization"})


class SuiteCrmBackend(Backend):
    """One SuiteCRM connection: ``SuiteCrmBackend(profile, secrets, transport)``.

    ``profile.base_url`` is the site root; the API is found at ``{base}/Api`` or,
    for SuiteCRM 8, ``{base}/legacy/Api`` (detected at sign-in).  ``profile.auth`` is
    ``password``, ``client_credentials`` or ``authorization_code`` (sign-in in the
    browser; :attr:`open_browser` picks the browser); ``profile.options["client_id"]``
    names the OAuth2 client, ``secrets`` hold ``client_secret`` and ``password`` (and may
    hold a ``refresh_token`` to resume a session).  Set :attr:`on_tokens` to store each new
    token pair the moment SuiteCRM issues it.
    """

    dialect: ClassVar[str] = "suitecrm"
    capabilities: ClassVar[Capabilities] = Capabilities(
        operators=SUPPORTED_OPS,
        or_filters=True,
        nested_filters=False,
        multi_sort=False,
        total_count=False,
        max_page_size=None,
        relationships=True,
        create_related=False,
        search=True,
        optimistic_locking=False,
        raw_request=True,
        auth_methods=GRANTS,
    )

    def __init__(self, profile: ConnectionProfile, secrets: Secrets, transport: Transport) -> None:
        self.profile = profile
        self.transport = transport
        self.auth = SuiteCrmAuth(profile, secrets, transport)
        transport.authenticator = self.auth
        self._modules: list[ModuleInfo] | None = None
        self._defs: dict[str, ModuleDef] = {}
        self._extension_available: bool | None = None

    @property
    def on_tokens(self) -> TokenSink | None:
        return self.auth.on_tokens

    @on_tokens.setter
    def on_tokens(self, sink: TokenSink | None) -> None:
        self.auth.on_tokens = sink

    @property
    def open_browser(self) -> BrowserOpener | None:
        """Opens SuiteCRM's consent page for the authorization-code grant (None: default)."""
        return self.auth.open_browser

    @open_browser.setter
    def open_browser(self, opener: BrowserOpener | None) -> None:
        self.auth.open_browser = opener

    @property
    def api_root(self) -> str | None:
        """``{base}/Api`` or ``{base}/legacy/Api`` once signed in."""
        return self.auth.api_root

    # -- plumbing ----------------------------------------------------------------------
    async def _root(self) -> str:
        if self.auth.api_root is None:
            await self.auth.sign_in()
        assert self.auth.api_root is not None
        return self.auth.api_root

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: QueryParams = None,
        body: Any = None,
        ok: tuple[int, ...] = (200, 201),
    ) -> Any:
        url = f"{await self._root()}/{path}"
        headers = {"Accept": JSONAPI}
        if body is not None:
            headers["Content-Type"] = JSONAPI
        response = await self.transport.request(
            method, url, params=params, json_body=body, headers=headers
        )
        if response.status_code not in ok:
            raise error_for(response)
        if looks_like_html(response):
            raise ProtocolError(
                f"SuiteCRM returned an HTML page instead of JSON ({method} "
                f"{redact(response.request.url.path)}).",
                advice=ADVICE_HTML,
                status=response.status_code,
            )
        return await decode_json(response)

    @staticmethod
    def _q(part: str) -> str:
        return quote(part, safe="")

    # -- session -----------------------------------------------------------------------
    async def connect(self) -> None:
        await self.auth.sign_in()
        await self.modules()

    async def close(self) -> None:
        token = self.auth.access_token
        try:
            if token is not None and self.auth.api_root is not None:
                await self.transport.request(
                    "POST",
                    f"{self.auth.api_root}/V8/logout",
                    headers={"Authorization": f"Bearer {token}", "Accept": JSONAPI},
                    auth=False,
                    idempotent=False,
                )
        except CrmError as exc:  # logging out is a courtesy; closing must not fail
            log.info("SuiteCRM logout failed: %s", exc.message)
        finally:
            self.auth.forget()
            await self.transport.aclose()

    async def release(self) -> None:
        """Close without logging out, so a remembered refresh token stays valid."""
        self.auth.forget()
        await self.transport.aclose()

    # -- metadata ----------------------------------------------------------------------
    async def modules(self) -> list[ModuleInfo]:
        if self._modules is None:
            self._modules = parse_modules(await self._call("GET", "V8/meta/modules"))
        return list(self._modules)

    async def describe(self, module: str) -> ModuleDef:
        cached = self._defs.get(module)
        if cached is not None:
            return cached
        infos = {m.name: m for m in await self.modules()}
        try:
            body = await self._call("GET", f"V8/meta/fields/{self._q(module)}")
        except PermissionDenied:
            if module not in infos:
                raise NotFound(
                    f"SuiteCRM has no module {module}, or the API user may not see it.",
                    advice="Module names are case-sensitive (Accounts, not accounts).",
                ) from None
            raise
        extension = await self._vardefs_extension(module)
        info = infos.get(module)
        mdef = parse_fields(
            module,
            body,
            extension=extension,
            known_modules=infos,
            label=info.label if info else None,
        )
        self._defs[module] = mdef
        return mdef

    async def _vardefs_extension(self, module: str) -> dict[str, Any] | None:
        """Labels and options from the demo server's ``crmdesk/vardefs`` extension, if any.

        A real SuiteCRM answers 404 (an HTML page): remembered, so it is asked once.
        """
        if self._extension_available is False:
            return None
        try:
            body = await self._call("GET", f"V8/crmdesk/vardefs/{self._q(module)}")
        except (NotFound, ProtocolError):
            self._extension_available = False
            return None
        except CrmError as exc:
            log.info("SuiteCRM vardefs extension failed for %s: %s", module, exc.message)
            return None
        self._extension_available = True
        return unwrap_extension(body)

    # -- records -----------------------------------------------------------------------
    @staticmethod
    def _page_number(page: PageRequest) -> int:
        if page.cursor is None:
            return 1
        try:
            number = int(page.cursor)
        except ValueError:
            raise ValidationError(f"Not a SuiteCRM page cursor: {page.cursor!r}.") from None
        return max(number, 1)

    async def list_records(self, module: str, query: Query, page: PageRequest) -> Page:
        mdef = await self.describe(module)
        number = self._page_number(page)
        size = max(page.size, 1)
        params: list[tuple[str, str]] = [("page[size]", str(size)), ("page[number]", str(number))]
        params += fields_param(module, query, mdef)
        params += sort_param(query, mdef)
        params += filter_params(query.filter, mdef)
        body = await self._call("GET", f"V8/module/{self._q(module)}", params=params)
        return parse_page(body, module=module, mdef=mdef, page_number=number, page_size=size)

    async def count(self, module: str, query: Query) -> int | None:
        """Exact: with ``page[size]=1`` the page count is the record count."""
        mdef = await self.describe(module)
        params: list[tuple[str, str]] = [("page[size]", "1"), ("page[number]", "1")]
        params += fields_param(module, Query(fields=("id",)), mdef)
        params += filter_params(query.filter, mdef)
        body = await self._call("GET", f"V8/module/{self._q(module)}", params=params)
        page = parse_page(body, module=module, mdef=mdef, page_number=1, page_size=1)
        return page.total_estimate

    async def get(self, module: str, record_id: str) -> Record:
        mdef = await self.describe(module)
        body = await self._call("GET", f"V8/module/{self._q(module)}/{self._q(record_id)}")
        return self._one(body, module, mdef)

    def _one(self, body: Any, module: str, mdef: ModuleDef | None) -> Record:
        try:
            return parse_single(body, module, mdef)
        except ValueError as exc:
            raise ProtocolError(f"SuiteCRM sent a record in an unexpected shape ({exc}).") from None

    async def create(self, module: str, values: Mapping[str, Value]) -> Record:
        mdef = await self.describe(module)
        attrs = attributes(values, mdef, creating=True)
        body = await self._call(
            "POST", "V8/module", body={"data": {"type": module, "attributes": attrs}}
        )
        return self._one(body, module, mdef)

    async def update(
        self,
        module: str,
        record_id: str,
        changes: Mapping[str, Value],
        expected_version: Version | None = None,
    ) -> Record:
        """PATCH only ``changes``.

        SuiteCRM has no optimistic locking.  As a best-effort safety net, when
        ``expected_version`` (the record's ``date_modified``) is given the record is
        read first and :class:`Conflict` raised if it changed; a change in the same
        minute (the API truncates times to minutes) or between that read and the
        write goes unnoticed.
        """
        mdef = await self.describe(module)
        if "email1" in changes:
            raise ValidationError(
                "SuiteCRM's API silently ignores changes to the primary e-mail address of an "
                "existing record.",
                fields={"email1": "Change the e-mail address in SuiteCRM itself."},
            )
        if expected_version is not None:
            current = await self.get(module, record_id)
            if current.version is not None and current.version != expected_version:
                raise Conflict(
                    f"This {mdef.label} record was changed in SuiteCRM since it was loaded.",
                    current=current,
                )
        attrs = attributes(changes, mdef, creating=False)
        if not attrs:
            return await self.get(module, record_id)
        body = await self._call(
            "PATCH",
            "V8/module",
            body={"data": {"type": module, "id": record_id, "attributes": attrs}},
        )
        return self._one(body, module, mdef)

    async def delete(self, module: str, record_id: str) -> None:
        await self._call("DELETE", f"V8/module/{self._q(module)}/{self._q(record_id)}")

    # -- relationships -----------------------------------------------------------------
    async def _link_target(self, module: str, link: str) -> str:
        mdef = await self.describe(module)
        lk = mdef.link(link)
        if lk is None:
            raise NotFound(f"{mdef.label} has no relationship {link}.")
        return lk.target_module

    async def _describe_or_none(self, module: str) -> ModuleDef | None:
        if not module:
            return None
        try:
            return await self.describe(module)
        except (NotFound, PermissionDenied):
            return None

    async def related(
        self, module: str, record_id: str, link: str, query: Query, page: PageRequest
    ) -> Page:
        """Records behind ``link`` (a link field name such as ``contacts``).

        Paged and sortable; SuiteCRM refuses ``fields`` here and its filter was never
        seen working, so a filter raises Unsupported.
        """
        if query.filter is not None:
            raise Unsupported("SuiteCRM cannot filter related records.")
        target = await self._link_target(module, link)
        tdef = await self._describe_or_none(target)
        number = self._page_number(page)
        size = max(page.size, 1)
        params: list[tuple[str, str]] = [("page[size]", str(size)), ("page[number]", str(number))]
        params += sort_param(query, tdef)
        path = f"V8/module/{self._q(module)}/{self._q(record_id)}/relationships/{self._q(link)}"
        body = await self._call("GET", path, params=params)
        result = parse_page(
            body,
            module=tdef.name if tdef else None,
            mdef=tdef,
            page_number=number,
            page_size=size,
            counts_records=True,
        )
        if tdef is None:
            known = [m.name for m in await self.modules()]
            for rec in result.records:
                rec.module = module_from_type(rec.module, known) if rec.module else target
        return result

    async def link(self, module: str, record_id: str, link: str, related_id: str) -> None:
        target = await self._link_target(module, link)
        if not target:
            raise Unsupported(f"crmdesk does not know which module the link {link} points at.")
        path = f"V8/module/{self._q(module)}/{self._q(record_id)}/relationships/{self._q(link)}"
        await self._call("POST", path, body={"data": {"type": target, "id": related_id}})

    async def unlink(self, module: str, record_id: str, link: str, related_id: str) -> None:
        path = (
            f"V8/module/{self._q(module)}/{self._q(record_id)}/relationships/{self._q(link)}/"
            f"{self._q(related_id)}"
        )
        await self._call("DELETE", path)

    # -- user, search, console ---------------------------------------------------------
    async def me(self) -> UserInfo:
        access = {m.name: m.access for m in await self.modules() if m.access is not None}
        body = await self._call("GET", "V8/current-user")
        try:
            return parse_user(body, access)
        except ValueError as exc:
            raise ProtocolError(f"SuiteCRM's current-user answer is unusable ({exc}).") from None

    async def search(
        self, text: str, modules: Sequence[str] | None = None, limit: int = 20
    ) -> list[RecordRef]:
        """SuiteCRM API v8 has no global search: this runs one name ``like '%text%'``
        list query per module (first / last name for people), in order, until
        ``limit`` hits.  Modules the user may not read are skipped."""
        text = text.strip()
        if not text:
            return []
        if modules is None:
            available = {m.name for m in await self.modules()}
            modules = [m for m in SEARCH_MODULES if m in available]
        out: list[RecordRef] = []
        for module in modules:
            if len(out) >= limit:
                break
            try:
                mdef = await self.describe(module)
                name_def = mdef.field(mdef.name_field)
                if name_def is not None and name_def.filterable:
                    flt: Condition | Any = Condition(mdef.name_field, Op.CONTAINS, text)
                else:
                    parts = [
                        Condition(n, Op.CONTAINS, text)
                        for n in ("first_name", "last_name")
                        if (f := mdef.field(n)) is not None and f.filterable
                    ]
                    if not parts:
                        continue
                    flt = or_(*parts)
                page = await self.list_records(
                    module,
                    Query(filter=flt, fields=(mdef.name_field,)),
                    PageRequest(size=limit - len(out)),
                )
            except (PermissionDenied, NotFound, Unsupported):
                continue
            for rec in page.records:
                label = rec.get(mdef.name_field)
                out.append(RecordRef(module, rec.id, str(label) if label is not None else rec.id))
        return out[:limit]

    async def raw_request(
        self,
        method: str,
        path: str,
        query: Sequence[tuple[str, str]] = (),
        body: Any = None,
    ) -> RawResponse:
        """Send ``method path`` with the session's token; ``path`` is relative to
        ``{base}/Api/`` (``V8/meta/modules``).  Headers and body come back redacted."""
        rel = path.strip()
        for prefix in ("/legacy/Api/", "legacy/Api/", "/Api/", "Api/"):
            if rel.startswith(prefix):
                rel = rel[len(prefix) :]
                break
        url = f"{await self._root()}/{rel.lstrip('/')}"
        headers = {"Accept": JSONAPI}
        if body is not None:
            headers["Content-Type"] = JSONAPI
        response = await self.transport.request(
            method, url, params=list(query), json_body=body, headers=headers
        )
        text = redact(response.content.decode("utf-8", "replace"))
        parsed: Any = None
        is_json = False
        if text.strip() and not looks_like_html(response):
            try:
                parsed = json.loads(text)
                is_json = True
            except (ValueError, RecursionError):
                parsed = None
        try:
            elapsed = response.elapsed.total_seconds() * 1000
        except RuntimeError:
            elapsed = 0.0
        return RawResponse(
            status=response.status_code,
            reason=response.reason_phrase,
            headers={
                k: redact(v)
                for k, v in response.headers.items()
                if k.lower() not in _HIDDEN_HEADERS
            },
            body_text=text,
            json=parsed,
            is_json=is_json,
            elapsed_ms=elapsed,
        )
