"""The EspoCRM api/v1 backend.

Profile options (all optional, non-secret):

``cache_dir``
    where Metadata / I18n / layouts are cached on disk (default: the platform cache dir);
    ``metadata_cache=off`` disables the disk cache.  The cache is keyed by site and user (the
    Metadata is ACL-filtered) and invalidated by ``settings.cacheTimestamp`` from ``App/user``.
``no_total``
    ``true`` sends ``X-No-Total`` on list requests: the server skips the (costly) count and
    the page only says whether more rows follow.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import httpx

from crmdesk.backends.espocrm import wire
from crmdesk.backends.espocrm.auth import ApiKeyAuth, HmacAuth, TokenAuth
from crmdesk.backends.espocrm.metadata import Acl, module_def, module_infos, parse_acl
from crmdesk.backends.redact import redact
from crmdesk.backends.transport import Transport, decode_json
from crmdesk.core.backend import Backend, Capabilities, RawResponse
from crmdesk.core.connection import ConnectionProfile, Secrets
from crmdesk.core.errors import (
    ConfigurationError,
    Conflict,
    CrmError,
    NotFound,
    ProtocolError,
    Unsupported,
    ValidationError,
)
from crmdesk.core.query import ALL_OPS, Query
from crmdesk.core.records import Page, PageRequest, Record, RecordRef, UserInfo, Value, Version
from crmdesk.core.schema import FieldType, ModuleDef, ModuleInfo

log = logging.getLogger("crmdesk.espocrm")

MAX_PAGE = 200
#: The attributes a record's version comes from (see wire.parse_record).
VERSION_ATTRIBUTES = ("versionNumber", "modifiedAt")
#: Entities GlobalSearch covers by default (config ``globalSearchEntityList``).
_SECRET_HEADERS = frozenset(
    {"set-cookie", "authorization", "espo-authorization", "x-api-key", "x-hmac-authorization"}
)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


class EspoCrmBackend(Backend):
    dialect: ClassVar[str] = "espocrm"
    capabilities: ClassVar[Capabilities] = Capabilities(
        operators=ALL_OPS,
        or_filters=True,
        nested_filters=True,
        multi_sort=False,
        total_count=True,
        max_page_size=MAX_PAGE,
        relationships=True,
        create_related=False,
        search=True,
        optimistic_locking=True,
        lead_conversion=True,
        raw_request=True,
        auth_methods=("api_key", "hmac", "password"),
    )

    def __init__(self, profile: ConnectionProfile, secrets: Secrets, transport: Transport) -> None:
        self.profile = profile
        self.secrets = secrets
        self.transport = transport
        base = profile.base_url.rstrip("/")
        if base.endswith("/api/v1"):
            base = base[: -len("/api/v1")]
        self.api = base + "/api/v1/"
        self.auth_method = profile.auth
        self._token_auth: TokenAuth | None = None
        if profile.auth == "api_key":
            key = secrets.get("api_key", "")
            if not key:
                raise ConfigurationError(
                    "The EspoCRM API key is missing.",
                    advice="Enter the key shown on the API user's page (Administration > API "
                    "Users).",
                )
            transport.authenticator = ApiKeyAuth(key)
        elif profile.auth == "hmac":
            key, secret = secrets.get("api_key", ""), secrets.get("secret_key", "")
            if not key or not secret:
                raise ConfigurationError(
                    "HMAC sign-in needs both the API key and the secret key.",
                    advice="Copy both from the HMAC API user's page (Administration > API Users).",
                )
            transport.authenticator = HmacAuth(key, secret)
        elif profile.auth == "password":
            if not profile.username or not secrets.get("password"):
                raise ConfigurationError(
                    "Password sign-in needs a user name and a password.",
                    advice="Enter both in the connection settings.",
                )
            self._token_auth = TokenAuth(profile.username, secrets["password"], self._login)
            transport.authenticator = self._token_auth
        else:
            raise ConfigurationError(
                f"EspoCRM does not offer the sign-in method {profile.auth!r}.",
                advice="Choose API key, HMAC or password.",
            )
        self.no_total = _truthy(profile.options.get("no_total"))
        self._app_user: dict[str, Any] = {}
        self._acl = Acl()
        self._metadata: dict[str, Any] | None = None
        self._i18n: dict[str, Any] = {}
        self._layouts: dict[str, dict[str, Any]] = {}
        self._defs: dict[str, tuple[ModuleDef, frozenset[str]]] = {}
        self._meta_lock = asyncio.Lock()

    # -- plumbing ------------------------------------------------------------------------
    def _url(self, path: str) -> str:
        return self.api + path.lstrip("/")

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Sequence[tuple[str, str | int | float]] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        module: ModuleDef | None = None,
        allow_empty: bool = False,
    ) -> Any:
        """One API call; non-2xx answers become core errors, 2xx bodies parsed defensively."""
        response = await self.transport.request(
            method, self._url(path), params=params, json_body=json_body, headers=headers
        )
        self._check(response, module=module)
        return await decode_json(response, allow_empty=allow_empty)

    def _check(self, response: httpx.Response, *, module: ModuleDef | None = None) -> None:
        if 200 <= response.status_code < 300:
            return
        what = f"{response.request.method} {redact(self._rel(response.request.url.path))}"
        raise wire.error_for(
            response.status_code,
            response.headers,
            response.content,
            what=what,
            auth_method=self.auth_method,
            module=module,
        )

    @staticmethod
    def _rel(path: str) -> str:
        idx = path.find("/api/v1/")
        return path[idx + len("/api/v1/") :] if idx >= 0 else path

    async def _login(self, password_header: str) -> str:
        """``GET App/user`` with the password; keep the answer, return its token."""
        response = await self.transport.request(
            "GET",
            self._url("App/user"),
            headers={"Espo-Authorization": password_header},
            auth=False,
        )
        self._check(response)
        body = await decode_json(response)
        if not isinstance(body, dict) or not isinstance(body.get("token"), str):
            raise ProtocolError("EspoCRM's sign-in answer (App/user) carries no token.")
        self._set_app_user(body)
        return str(body["token"])

    def _set_app_user(self, body: dict[str, Any]) -> None:
        self._app_user = body
        self._acl = parse_acl(body)

    # -- session ------------------------------------------------------------------------
    async def connect(self) -> None:
        if self._token_auth is not None:
            await self._token_auth.sign_in()
        else:
            body = await self._send("GET", "App/user")
            if not isinstance(body, dict) or not isinstance(body.get("user"), dict):
                raise ProtocolError("EspoCRM's App/user answer has no user.")
            self._set_app_user(body)

    async def close(self) -> None:
        auth = self._token_auth
        if auth is not None and auth.token:
            with contextlib.suppress(CrmError):
                response = await self.transport.request(
                    "POST", self._url("App/destroyAuthToken"), json_body={"token": auth.token}
                )
                log.debug("logout answered %s", response.status_code)
            auth.token = None
        await self.transport.aclose()

    async def _ensure_user(self) -> None:
        if not self._app_user:
            await self.connect()

    # -- metadata -----------------------------------------------------------------------
    def _settings(self) -> Mapping[str, Any]:
        s = self._app_user.get("settings")
        return s if isinstance(s, Mapping) else {}

    def _cache_file(self) -> Path | None:
        opts = self.profile.options
        if (opts.get("metadata_cache") or "").lower() == "off":
            return None
        root = opts.get("cache_dir")
        if not root:
            # Where to keep files is the storage layer's call: the app passes a per-profile
            # directory; without one the metadata lives in memory for this connection only.
            return None
        user = self._acl.user_id or self.profile.username
        key = hashlib.sha256(f"{self.api}\0{user}".encode()).hexdigest()[:32]
        return Path(root) / "espocrm" / f"{key}.json"

    async def _read_cache(self, stamp: Any) -> dict[str, Any] | None:
        path = self._cache_file()
        if path is None or stamp is None:
            return None

        def read() -> dict[str, Any] | None:
            try:
                data = json.loads(path.read_text("utf-8"))
            except (OSError, ValueError):
                return None
            return data if isinstance(data, dict) and data.get("cacheTimestamp") == stamp else None

        return await asyncio.to_thread(read)

    async def _write_cache(self) -> None:
        path = self._cache_file()
        stamp = self._settings().get("cacheTimestamp")
        if path is None or stamp is None or self._metadata is None:
            return
        data = {
            "cacheTimestamp": stamp,
            "metadata": self._metadata,
            "i18n": self._i18n,
            "layouts": self._layouts,
        }

        def write() -> None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_text(json.dumps(data), "utf-8")
                tmp.replace(path)
            except OSError as exc:
                log.warning("could not write the EspoCRM metadata cache: %s", exc)

        await asyncio.to_thread(write)

    async def _load_metadata(self) -> dict[str, Any]:
        if self._metadata is not None:
            return self._metadata
        async with self._meta_lock:
            loaded = self._loaded_meta()  # another task may have loaded it meanwhile
            if loaded is not None:
                return loaded
            await self._ensure_user()
            cached = await self._read_cache(self._settings().get("cacheTimestamp"))
            if cached is not None and isinstance(cached.get("metadata"), dict):
                self._i18n = cached.get("i18n") or {}
                layouts = cached.get("layouts")
                self._layouts = layouts if isinstance(layouts, dict) else {}
                self._metadata = cached["metadata"]
                return cached["metadata"]  # type: ignore[no-any-return]
            meta, i18n = await asyncio.gather(self._send("GET", "Metadata"), self._i18n_fetch())
            if not isinstance(meta, dict):
                raise ProtocolError("EspoCRM's Metadata answer is not a JSON object.")
            self._metadata = meta
            self._i18n = i18n
            await self._write_cache()
            return meta

    def _loaded_meta(self) -> dict[str, Any] | None:
        return self._metadata

    async def _i18n_fetch(self) -> dict[str, Any]:
        try:
            body = await self._send("GET", "I18n")
        except CrmError as exc:  # labels are a nicety; field names will do
            log.warning("I18n unavailable: %s", exc.message)
            return {}
        return body if isinstance(body, dict) else {}

    async def _layout(self, scope: str, kind: str) -> Any:
        per_scope = self._layouts.setdefault(scope, {})
        if kind in per_scope:
            return per_scope[kind]
        try:
            body = await self._send("GET", f"{scope}/layout/{kind}", allow_empty=True)
        except CrmError:
            body = None
        per_scope[kind] = body
        return body

    async def modules(self) -> list[ModuleInfo]:
        meta = await self._load_metadata()
        return module_infos(meta, self._i18n, self._acl)

    async def _module(self, module: str) -> tuple[ModuleDef, frozenset[str]]:
        hit = self._defs.get(module)
        if hit is not None:
            return hit
        meta = await self._load_metadata()
        edefs = meta.get("entityDefs")
        if not isinstance(edefs, dict) or module not in edefs:
            raise NotFound(
                f"EspoCRM has no module {module!r} (or your role cannot see it).",
                advice="Reload the module list; ask an administrator for access if it should "
                "be there.",
            )
        fresh = not all(k in self._layouts.get(module, {}) for k in ("list", "detail"))
        list_raw, detail_raw = await asyncio.gather(
            self._layout(module, "list"), self._layout(module, "detail")
        )
        if fresh:
            await self._write_cache()
        settings = self._settings()
        currencies = settings.get("currencyList")
        result = module_def(
            module,
            meta,
            self._i18n,
            self._acl,
            list_raw=list_raw,
            detail_raw=detail_raw,
            currencies=tuple(str(c) for c in currencies) if isinstance(currencies, list) else (),
            default_currency=str(settings.get("defaultCurrency") or "") or None,
        )
        self._defs[module] = result
        return result

    async def describe(self, module: str) -> ModuleDef:
        return (await self._module(module))[0]

    async def me(self) -> UserInfo:
        await self._ensure_user()
        user = self._app_user.get("user")
        user = user if isinstance(user, dict) else {}
        prefs = self._app_user.get("preferences")
        prefs = prefs if isinstance(prefs, dict) else {}
        access = {
            scope: acc
            for scope in self._acl.table
            if (acc := self._acl.scope_access(scope)) is not None
        }
        extra = {
            k: str(user[k])
            for k in ("type", "authMethod", "title", "defaultTeamName", "createdAt")
            if user.get(k) not in (None, "")
        }
        return UserInfo(
            id=str(user.get("id") or ""),
            user_name=str(user.get("userName") or ""),
            display_name=str(user.get("name") or user.get("userName") or ""),
            is_admin=self._acl.is_admin,
            email=str(user.get("emailAddress") or ""),
            time_zone=str(prefs.get("timeZone") or self._settings().get("timeZone") or "UTC"),
            access=access,
            extra=extra,
        )

    # -- records ------------------------------------------------------------------------
    def _record(self, mdef: ModuleDef | None, raw: Mapping[str, Any], scope: str = "") -> Record:
        rec = wire.parse_record(mdef, raw, scope)
        rec.access = self._acl.record_access(rec.module, rec.values)
        return rec

    def _list_params(
        self, mdef: ModuleDef | None, query: Query, page: PageRequest
    ) -> tuple[list[tuple[str, str | int | float]], int, int]:
        offset = 0
        if page.cursor:
            try:
                offset = max(0, int(page.cursor))
            except ValueError:
                raise ConfigurationError("The page cursor is not an EspoCRM offset.") from None
        size = min(max(page.size, 1), MAX_PAGE)
        params: list[tuple[str, str | int | float]] = [("maxSize", size), ("offset", offset)]
        if len(query.sort) > 1:
            raise Unsupported("EspoCRM's API sorts by one column only.")
        if query.sort:
            key = query.sort[0]
            params.append(("orderBy", wire.order_attribute(key.field, mdef)))
            params.append(("order", "desc" if key.descending else "asc"))
        if query.fields:
            params.append(("select", ",".join(self._select(query.fields, mdef))))
        params.extend(wire.bracket_params(wire.where_items(query.filter, mdef)))
        return params, offset, size

    @staticmethod
    def _select(fields: tuple[str, ...], mdef: ModuleDef | None) -> list[str]:
        """The asked attributes plus those a record's version comes from, so that a listed
        row carries the version ``get`` gives (``versionNumber``, or ``modifiedAt`` where
        optimistic concurrency is off: the server drops an attribute it lacks)."""
        return wire.select_attributes((*fields, *VERSION_ATTRIBUTES), mdef)

    @staticmethod
    def _unasked(query: Query) -> frozenset[str]:
        """Version attributes a restricted list fetched only for the version."""
        if not query.fields:
            return frozenset()
        return frozenset(VERSION_ATTRIBUTES) - set(query.fields)

    def _page(
        self,
        mdef: ModuleDef | None,
        body: Any,
        offset: int,
        scope: str = "",
        unasked: frozenset[str] = frozenset(),
    ) -> Page:
        rows, total = wire.parse_list(body)
        records = [self._record(mdef, r, scope) for r in rows]
        for rec in records:
            for name in unasked:
                rec.values.pop(name, None)
        end = offset + len(rows)
        if total >= 0:
            more = end < total and bool(rows)
        else:
            more = total == -1 and bool(rows)  # -1: more rows exist, -2: last page
        return Page(records, total if total >= 0 else None, str(end) if more else None)

    async def list_records(self, module: str, query: Query, page: PageRequest) -> Page:
        mdef = await self.describe(module)
        params, offset, _ = self._list_params(mdef, query, page)
        headers = {"X-No-Total": "true"} if self.no_total else None
        body = await self._send("GET", module, params=params, headers=headers)
        return self._page(mdef, body, offset, unasked=self._unasked(query))

    async def count(self, module: str, query: Query) -> int | None:
        """``maxSize=0`` returns no rows and the full total: EspoCRM's cheap count."""
        mdef = await self.describe(module)
        params, _, _ = self._list_params(mdef, Query(filter=query.filter), PageRequest(size=1))
        params = [("maxSize", 0), *(p for p in params if p[0] not in ("maxSize", "offset"))]
        body = await self._send("GET", module, params=params)
        _, total = wire.parse_list(body)
        return total if total >= 0 else None

    async def get(self, module: str, record_id: str) -> Record:
        mdef = await self.describe(module)
        body = await self._send("GET", f"{module}/{record_id}", module=mdef)
        if not isinstance(body, dict):
            raise ProtocolError(f"EspoCRM's answer for {module} {record_id} is not a record.")
        return self._record(mdef, body)

    async def _encode(self, module: str, values: Mapping[str, Value]) -> dict[str, Any]:
        mdef, empty_enums = await self._module(module)
        out: dict[str, Any] = {}
        for name, value in values.items():
            fdef = mdef.field(name)
            out[name] = wire.encode_value(fdef, value, empty_enum=name in empty_enums)
        return out

    async def create(self, module: str, values: Mapping[str, Value]) -> Record:
        mdef = await self.describe(module)
        body = await self._send(
            "POST", module, json_body=await self._encode(module, values), module=mdef
        )
        if not isinstance(body, dict) or not body.get("id"):
            raise ProtocolError(f"EspoCRM's answer to creating a {module} is not a record.")
        # The create answer leaves out null attributes and echoes some inputs unnormalised
        # (a datetime without seconds): read the record back as stored.
        return await self.get(module, str(body["id"]))

    async def update(
        self,
        module: str,
        record_id: str,
        changes: Mapping[str, Value],
        expected_version: Version | None = None,
    ) -> Record:
        mdef = await self.describe(module)
        headers: dict[str, str] = {}
        if expected_version is not None:
            token = expected_version.token
            if token.startswith("v:"):
                headers["X-Version-Number"] = token[2:]
            elif token.startswith("m:"):
                # Optimistic concurrency is off for this entity (EspoCRM's default): compare
                # modifiedAt ourselves.  Narrow race window, but no lost update unnoticed.
                current = await self.get(module, record_id)
                if current.version is not None and current.version != expected_version:
                    raise Conflict(
                        "Someone else changed this record since you opened it.", current=current
                    )
        payload = await self._encode(module, changes)
        try:
            body = await self._send(
                "PUT",
                f"{module}/{record_id}",
                json_body=payload,
                headers=headers or None,
                module=mdef,
            )
        except Conflict as exc:
            if exc.current is not None and exc.current.id == "":
                with contextlib.suppress(CrmError):
                    exc.current = await self.get(module, record_id)
            raise
        if not isinstance(body, dict):
            raise ProtocolError(f"EspoCRM's answer to saving {module} {record_id} is not a record.")
        if any(
            (f := mdef.field(n)) is not None and f.type in (FieldType.DATETIME, FieldType.DATE)
            for n in changes
        ):
            return await self.get(module, record_id)
        return self._record(mdef, body)

    async def delete(self, module: str, record_id: str) -> None:
        body = await self._send("DELETE", f"{module}/{record_id}", allow_empty=True)
        if body is False:
            raise ProtocolError(f"EspoCRM did not delete {module} {record_id}.")

    # -- relationships ------------------------------------------------------------------
    async def _target(self, module: str, link: str) -> ModuleDef | None:
        mdef = await self.describe(module)
        ldef = mdef.link(link)
        target = ldef.target_module if ldef is not None else None
        if target is None:
            edefs = (await self._load_metadata()).get("entityDefs", {})
            raw = (
                edefs.get(module, {}).get("links", {}).get(link)
                if isinstance(edefs, dict)
                else None
            )
            if not isinstance(raw, dict) or not isinstance(raw.get("entity"), str):
                raise NotFound(
                    f"{module} has no link {link!r}.",
                    advice="Reload the module's metadata; the link may have been removed.",
                )
            target = raw["entity"]
        try:
            return await self.describe(target)
        except NotFound:
            return None  # a target the role cannot describe: rows stay untyped

    async def related(
        self, module: str, record_id: str, link: str, query: Query, page: PageRequest
    ) -> Page:
        tdef = await self._target(module, link)
        params, offset, _ = self._list_params(tdef, query, page)
        headers = {"X-No-Total": "true"} if self.no_total else None
        body = await self._send(
            "GET", f"{module}/{record_id}/{link}", params=params, headers=headers
        )
        scope = tdef.name if tdef is not None else ""
        return self._page(tdef, body, offset, scope, unasked=self._unasked(query))

    async def link(self, module: str, record_id: str, link: str, related_id: str) -> None:
        await self._target(module, link)
        body = await self._send(
            "POST", f"{module}/{record_id}/{link}", json_body={"id": related_id}
        )
        if body is not True:
            raise ProtocolError(f"EspoCRM did not confirm linking {module} {record_id}.")

    async def unlink(self, module: str, record_id: str, link: str, related_id: str) -> None:
        await self._target(module, link)
        # the id goes in a JSON body: in the query string the server answers false, does nothing
        body = await self._send(
            "DELETE", f"{module}/{record_id}/{link}", json_body={"id": related_id}
        )
        if body is not True:
            raise NotFound(
                f"EspoCRM did not remove the link from {module} {record_id} ({link}).",
                advice="The records may not be linked any more; reload the related list.",
            )

    # -- search -------------------------------------------------------------------------
    async def search(
        self, text: str, modules: Sequence[str] | None = None, limit: int = 20
    ) -> list[RecordRef]:
        """GlobalSearch (prefix match; ``%`` in front makes it 'contains').

        With ``modules``, each module is searched through its list's ``q`` (the same
        prefix match), because GlobalSearch covers a fixed set of entities.
        """
        text = text.strip()
        if not text:
            return []
        size = min(max(limit, 1), MAX_PAGE)
        if not modules:
            body = await self._send("GET", "GlobalSearch", params=[("q", text), ("maxSize", size)])
            return wire.parse_search_refs(body)[:limit]

        async def one(module: str) -> list[RecordRef]:
            mdef = await self.describe(module)
            name_attr = mdef.name_field
            body = await self._send(
                "GET",
                module,
                params=[("q", text), ("maxSize", size), ("select", name_attr)],
                headers={"X-No-Total": "true"},
            )
            rows, _ = wire.parse_list(body)
            return [
                RecordRef(module, str(r["id"]), str(r.get(name_attr) or r["id"]))
                for r in rows
                if r.get("id")
            ]

        results = await asyncio.gather(*(one(m) for m in modules))
        return [ref for refs in results for ref in refs][:limit]

    # -- lead conversion ----------------------------------------------------------------
    async def convert_lead(
        self, lead_id: str, targets: Mapping[str, Mapping[str, Value]]
    ) -> dict[str, str]:
        """Convert a lead into the records of ``targets`` (entity → values the user gave).

        Each record starts from what ``Lead/action/getConvertAttributes`` copies from the lead
        (names, email, phone, address, assigned user …), the given values on top, as EspoCRM's
        own convert form does; then ``Lead/action/convert`` creates and links them and marks
        the lead Converted.  Returns entity (as named in ``targets``) → new record id.
        Target names may be EspoCRM's (``Contact``) or plural (``Contacts``).
        """
        meta = await self._load_metadata()
        allowed = meta.get("entityDefs", {}).get("Lead", {}).get("convertEntityList")
        allowed = [str(e) for e in allowed] if isinstance(allowed, list) else []
        allowed = allowed or ["Account", "Contact", "Opportunity"]
        chosen: dict[str, tuple[str, Mapping[str, Value]]] = {}
        for given, values in targets.items():
            entity = wire.CONVERT_ALIASES.get(given, given)
            if entity not in allowed:
                raise ValidationError(
                    f"EspoCRM does not convert a lead into {given}.",
                    advice=f"Choose among {', '.join(allowed)}.",
                )
            chosen[entity] = (given, values)
        if not chosen:
            raise ValidationError(
                "Choose at least one record to create from the lead.",
                advice="Tick a contact, an account or an opportunity.",
            )
        lead = await self.get("Lead", lead_id)
        if str(lead.get("status") or "") == "Converted":
            made = [
                f"{entity} “{lead.get(f'created{entity}Name') or lead.get(f'created{entity}Id')}”"
                for entity in allowed
                if lead.get(f"created{entity}Id")
            ]
            raise ValidationError(
                "This lead is already converted" + (f" (into {', '.join(made)})." if made else "."),
                advice="Open the records it became from the lead's related tabs. EspoCRM "
                "itself would create them a second time, so crmdesk does not convert it again.",
            )
        prefill = await self._send(
            "POST", "Lead/action/getConvertAttributes", json_body={"id": lead_id}
        )
        prefill = prefill if isinstance(prefill, dict) else {}
        records: dict[str, dict[str, Any]] = {}
        for entity, (_given, values) in chosen.items():
            base = prefill.get(entity)
            payload = dict(base) if isinstance(base, dict) else {}
            mine = await self._encode(entity, values)
            for name in mine:  # a value the user changed wins over the lead's copy of it
                for suffix in ("Data", "IsOptedOut", "IsInvalid", "Name"):
                    payload.pop(name + suffix, None)
            payload.update(mine)
            records[entity] = payload
        await self._check_required(records)
        response = await self.transport.request(
            "POST",
            self._url("Lead/action/convert"),
            json_body={"id": lead_id, "records": records},
        )
        if not 200 <= response.status_code < 300:
            raise wire.convert_error(
                response.status_code,
                response.headers,
                response.content,
                requested=tuple(records),
                auth_method=self.auth_method,
            )
        body = await decode_json(response)
        if not isinstance(body, dict):
            raise ProtocolError("EspoCRM's answer to converting the lead is not the lead.")
        out: dict[str, str] = {}
        for entity, (given, _values) in chosen.items():
            rid = body.get(f"created{entity}Id")
            if isinstance(rid, str) and rid:
                out[given] = rid
        if not out:
            raise ProtocolError("EspoCRM converted the lead but names no record it created.")
        return out

    async def _check_required(self, records: Mapping[str, Mapping[str, Any]]) -> None:
        """Refuse a conversion whose records lack a required value, before sending it:
        EspoCRM 8 answers such a conversion with a bare 500 after creating the records
        that came before (the account)."""
        linked = {"Account": "accountId", "Contact": "contactId"}
        filled_by_server = {attr for entity, attr in linked.items() if entity in records}
        problems: dict[str, str] = {}
        lines: list[str] = []
        for entity, payload in records.items():
            mdef = await self.describe(entity)
            missing = [
                f
                for f in mdef.fields
                if f.required
                and not f.read_only
                and f.default in (None, "")
                and f.name not in filled_by_server
                and payload.get(f.name) in (None, "", [])
            ]
            for f in missing:
                problems[f.name] = wire.validation_message("required")
            if missing:
                lines.append(f"{entity}: {', '.join(f.label or f.name for f in missing)}")
        if problems:
            raise ValidationError(
                f"The records to create lack required values ({'; '.join(lines)}).",
                fields=problems,
                advice="Fill in the marked fields, or untick the record, and convert again.",
            )

    # -- API console --------------------------------------------------------------------
    async def raw_request(
        self,
        method: str,
        path: str,
        query: Sequence[tuple[str, str]] = (),
        body: Any = None,
    ) -> RawResponse:
        rel = path.strip()
        for prefix in ("/api/v1/", "api/v1/"):
            if rel.startswith(prefix):
                rel = rel[len(prefix) :]
        started = time.perf_counter()
        response = await self.transport.request(
            method.upper(), self._url(rel), params=list(query) or None, json_body=body
        )
        elapsed = (time.perf_counter() - started) * 1000
        headers = {
            k: ("‹redacted›" if k.lower() in _SECRET_HEADERS else redact(v))
            for k, v in response.headers.items()
        }
        text = redact(response.content.decode("utf-8", "replace"))
        parsed: Any = None
        is_json = False
        if "json" in response.headers.get("content-type", "") and response.content.strip():
            try:
                parsed = json.loads(text)
                is_json = True
            except (ValueError, RecursionError):
                pass
        return RawResponse(
            status=response.status_code,
            reason=redact(response.headers.get("X-Status-Reason", "") or response.reason_phrase),
            headers=headers,
            body_text=text,
            json=parsed,
            is_json=is_json,
            elapsed_ms=elapsed,
        )


__all__ = ["EspoCrmBackend"]
