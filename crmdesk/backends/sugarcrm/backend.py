"""The SugarCRM REST v11 adapter.

Profile options (all optional, none secret):

``api_version``  ``v11_4`` (default; leancount needs ≥ 11.4) or any ``v1x[_n]``; a base URL
                 that already ends in ``/rest/v11…`` wins.
``client_id``    OAuth client, default ``sugar``.
``platform``     default ``crmdesk``: not ``base``, so signing in here does not log the
                 user out of Sugar's web UI (one session per user and platform).  A custom
                 platform must be registered in Sugar (Admin → Configure API Platforms).
``language``     language of the labels and dropdowns, default: the instance's default.
``cache_dir``    directory for the metadata cache; without it the cache lives in memory.

Secrets: ``password`` (password grant), ``client_secret`` (may be empty), ``refresh_token``
(the ``refresh_token`` sign-in method: a stored refresh token instead of a password).
Refresh tokens are single use; the adapter keeps each new one and reports it through
``on_refresh_token`` so the storage layer can replace the stored one.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import httpx

from crmdesk.backends.redact import redact, register_secret
from crmdesk.backends.sugarcrm import wire
from crmdesk.backends.transport import Transport, decode_json
from crmdesk.core.backend import (
    Backend,
    BulkResult,
    Capabilities,
    Changes,
    PicklistDependency,
    Progress,
    RawResponse,
)
from crmdesk.core.connection import ConnectionProfile, Secrets
from crmdesk.core.errors import (
    AuthError,
    ConfigurationError,
    CrmError,
    NotFound,
    ProtocolError,
    ServerError,
    Unavailable,
)
from crmdesk.core.query import ALL_OPS, Condition, Op, Query, SavedFilter, SortKey
from crmdesk.core.records import Page, PageRequest, Record, RecordRef, UserInfo, Value, Version
from crmdesk.core.schema import ModuleDef, ModuleInfo, Option

log = logging.getLogger("crmdesk.sugarcrm")

DEFAULT_VERSION = "v11_4"
DEFAULT_PLATFORM = "crmdesk"
DEFAULT_CLIENT_ID = "sugar"
#: Refresh this long before the access token runs out.
REFRESH_MARGIN = 60.0
_VERSION_RE = re.compile(r"^v\d\d(_\d{1,2})?$")
_BASE_RE = re.compile(r"^(?P<root>.*?)/rest/(?P<ver>v\d\d(?:_\d{1,2})?)/?$")


def split_base_url(base_url: str, api_version: str = DEFAULT_VERSION) -> tuple[str, str]:
    """(site root, version) from a base URL with or without ``/rest/<version>``."""
    url = base_url.strip().rstrip("/")
    m = _BASE_RE.match(url)
    if m:
        return m.group("root"), m.group("ver")
    version = api_version.strip() or DEFAULT_VERSION
    if not _VERSION_RE.match(version):
        raise ConfigurationError(
            f"{version!r} is not a Sugar REST API version.",
            advice="Use the form v11 or v11_4 (an underscore, not a dot).",
        )
    if url.endswith("/rest"):
        url = url[: -len("/rest")]
    return url, version


def _mapping(value: Any) -> Mapping[str, Any]:
    """A JSON object from the server, or an empty one when it sent something else."""
    return value if isinstance(value, Mapping) else {}


def version_number(version: str) -> tuple[int, int]:
    m = re.match(r"^v(\d+)(?:_(\d+))?$", version)
    if not m:
        return (0, 0)
    return int(m.group(1)), int(m.group(2) or 0)


class MetadataCache:
    """``/metadata`` chunks and the labels, with their ``_hash``, kept between sessions.

    In a directory when one is given (one JSON file per connection), else in memory.
    Disk reads and writes run in a worker thread.
    """

    _memory: ClassVar[dict[str, dict[str, Any]]] = {}

    def __init__(self, directory: str | None, key: str) -> None:
        self.directory = Path(directory) if directory else None
        self.key = hashlib.sha256(key.encode()).hexdigest()[:32]

    @property
    def path(self) -> Path | None:
        return self.directory / f"sugarcrm-{self.key}.json" if self.directory else None

    async def load(self) -> dict[str, Any] | None:
        path = self.path
        if path is None:
            data = self._memory.get(self.key)
            return json.loads(json.dumps(data)) if data is not None else None
        return await asyncio.to_thread(self._read, path)

    @staticmethod
    def _read(path: Path) -> dict[str, Any] | None:
        try:
            data = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and isinstance(data.get("_hash"), str) else None

    async def save(self, data: Mapping[str, Any]) -> None:
        path = self.path
        if path is None:
            self._memory[self.key] = json.loads(json.dumps(data))
            return
        await asyncio.to_thread(self._write, path, json.dumps(data))

    @staticmethod
    def _write(path: Path, text: str) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".sugarcrm-", suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("could not write the metadata cache: %s", exc)

    async def clear(self) -> None:
        path = self.path
        if path is None:
            self._memory.pop(self.key, None)
            return
        with contextlib.suppress(OSError):
            await asyncio.to_thread(path.unlink)


#: Sub-requests per ``/bulk`` round trip in mass deletes and updates.
BULK_CHUNK = 25


@dataclass(frozen=True, slots=True)
class BulkCall:
    """One sub-request of ``/bulk``: ``path`` is relative to the version (``Accounts/1``)."""

    method: str
    path: str
    data: Any = None
    headers: Mapping[str, str] | None = None


class _Session:
    """The OAuth2 token state of one connection; the transport's Authenticator."""

    def __init__(self, backend: SugarCrmBackend) -> None:
        self.backend = backend
        self.access_token = ""
        self.refresh_token = ""
        self.expires_at = 0.0
        self.lock = asyncio.Lock()

    def store(self, token: wire.Token) -> None:
        register_secret(token.access_token)
        register_secret(token.refresh_token)
        register_secret(token.download_token)
        self.access_token = token.access_token
        self.expires_at = time.monotonic() + token.expires_in
        if token.refresh_token:
            self.refresh_token = token.refresh_token
            cb = self.backend.on_refresh_token
            if cb is not None:
                cb(token.refresh_token)

    async def apply(self, request: httpx.Request) -> None:
        if (
            self.access_token
            and self.refresh_token
            and time.monotonic() > self.expires_at - REFRESH_MARGIN
        ):
            await self.refresh()
        if self.access_token:
            request.headers["OAuth-Token"] = self.access_token

    async def refresh(self) -> bool:
        """Renew the access token: refresh grant first, then the password if we have one."""
        before = self.access_token
        async with self.lock:
            if self.access_token != before and self.access_token:
                return True  # another task renewed it while we waited
            if self.refresh_token:
                try:
                    await self.backend._grant_refresh(self.refresh_token)
                except AuthError:
                    self.refresh_token = ""
                else:
                    return True
            if self.backend._can_password():
                try:
                    await self.backend._grant_password()
                except AuthError:
                    return False
                return True
            return False


class SugarCrmBackend(Backend):
    dialect: ClassVar[str] = "sugarcrm"
    capabilities: ClassVar[Capabilities] = Capabilities(
        operators=ALL_OPS | {Op.FAVORITE, Op.SAVED},
        saved_filters=True,
        or_filters=True,
        nested_filters=True,
        multi_sort=True,
        total_count=True,
        max_page_size=None,
        relationships=True,
        create_related=True,
        search=True,
        optimistic_locking=True,
        favorites=True,
        picklist_dependencies=True,
        bulk=True,
        sync=True,
        raw_request=True,
        auth_methods=("password", "refresh_token"),
    )

    def __init__(self, profile: ConnectionProfile, secrets: Secrets, transport: Transport) -> None:
        self.profile = profile
        self.secrets = secrets
        self.transport = transport
        opts = profile.options
        self.root, self.version = split_base_url(
            profile.base_url, opts.get("api_version", DEFAULT_VERSION)
        )
        self.rest = f"{self.root}/rest/{self.version}"
        self.client_id = opts.get("client_id") or DEFAULT_CLIENT_ID
        self.platform = opts.get("platform") or DEFAULT_PLATFORM
        self.language = opts.get("language") or ""
        for key in ("password", "client_secret", "refresh_token"):
            register_secret(secrets.get(key))
        #: Called with each new refresh token (they are single use), for the secret store.
        self.on_refresh_token: Callable[[str], None] | None = None
        #: Called after a 412 made the adapter reload the metadata: views should rebuild.
        self.metadata_listeners: list[Callable[[], None]] = []
        self._session = _Session(self)
        transport.authenticator = self._session
        self._cache = MetadataCache(
            opts.get("cache_dir") or None, f"{self.rest}|{profile.username}|{self.platform}"
        )
        self._meta: dict[str, Any] = {}
        self._defs: dict[str, ModuleDef] = {}
        self._me_body: Any = None
        self._meta_lock = asyncio.Lock()
        self._connected = False

    # -- session -----------------------------------------------------------------------
    def _can_password(self) -> bool:
        return bool(self.secrets.get("password"))

    @property
    def refresh_token(self) -> str:
        """The current (single-use) refresh token; empty before sign-in."""
        return self._session.refresh_token

    @property
    def metadata_hash(self) -> str:
        return str(self._meta.get("_hash") or "")

    async def connect(self) -> None:
        if self.profile.auth == "refresh_token":
            token = self.secrets.get("refresh_token") or ""
            if not token:
                raise AuthError(
                    "No refresh token is stored for this connection.",
                    advice="Sign in with the password once, or choose the password method.",
                )
            try:
                await self._grant_refresh(token)
            except AuthError:
                if not self._can_password():
                    raise
                await self._grant_password()
        elif self.profile.auth == "password":
            if not self._can_password():
                raise AuthError(
                    "No password is set for this connection.",
                    advice="Enter the Sugar user's password in the connection settings.",
                )
            await self._grant_password()
        else:
            raise ConfigurationError(
                f"Sugar has no sign-in method {self.profile.auth!r}.",
                advice="Choose 'password' or 'refresh_token'.",
            )
        cached = await self._cache.load()
        if cached and not self._meta:
            self._meta = cached
        await self.ping()
        self._me_body = await self._call("GET", "me", meta_check=False)
        self._connected = True

    async def _token_request(self, body: dict[str, str]) -> None:
        resp = await self.transport.request(
            "POST", self._url("oauth2/token"), json_body=body, auth=False, idempotent=False
        )
        data = await self._decode(resp)
        if resp.status_code != 200:
            raise wire.error_from_body(resp.status_code, data)
        self._session.store(wire.parse_token(data))

    async def _grant_password(self) -> None:
        await self._token_request(
            {
                "grant_type": "password",
                "client_id": self.client_id,
                "client_secret": self.secrets.get("client_secret") or "",
                "username": self.profile.username,
                "password": self.secrets.get("password") or "",
                "platform": self.platform,
            }
        )

    async def _grant_refresh(self, refresh_token: str) -> None:
        await self._token_request(
            {
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_id": self.client_id,
                "client_secret": self.secrets.get("client_secret") or "",
                "platform": self.platform,
            }
        )

    async def close(self) -> None:
        if self._session.access_token:
            body = (
                {"refresh_token": self._session.refresh_token}
                if self._session.refresh_token
                else {}
            )
            with contextlib.suppress(CrmError):
                resp = await self.transport.request(
                    "POST", self._url("oauth2/logout"), json_body=body, idempotent=False
                )
                log.debug("logout answered %s", resp.status_code)
            self._session.access_token = ""
            self._session.refresh_token = ""
        self._connected = False
        await self.transport.aclose()

    async def release(self) -> None:
        """Close without ``oauth2/logout``, which would revoke the remembered refresh token."""
        self._session.access_token = ""
        self._session.refresh_token = ""
        self._connected = False
        await self.transport.aclose()

    async def ping(self) -> None:
        """The connection check: ``GET /ping`` answers ``"pong"``."""
        body = await self._call("GET", "ping")
        if body != "pong":
            raise ProtocolError("Sugar's /ping did not answer 'pong'.")

    # -- plumbing ----------------------------------------------------------------------
    def _url(self, path: str) -> str:
        return f"{self.rest}/{path.lstrip('/')}"

    async def _decode(self, resp: httpx.Response) -> Any:
        try:
            return await decode_json(resp, allow_empty=resp.status_code != 200)
        except ProtocolError as exc:
            if resp.status_code in (502, 503, 504):
                raise Unavailable(
                    f"Sugar is temporarily unavailable (HTTP {resp.status_code}).",
                    advice=wire.ADVICE_MAINTENANCE,
                    status=resp.status_code,
                    detail=exc.detail,
                ) from None
            if resp.status_code >= 500:
                raise ServerError(
                    f"Sugar failed (HTTP {resp.status_code}) and sent no error body.",
                    advice=wire.ADVICE_FATAL,
                    status=resp.status_code,
                    detail=exc.detail,
                ) from None
            raise

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Sequence[tuple[str, str | int | float]] | Mapping[str, str | int] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        module: str | None = None,
        meta_check: bool = True,
    ) -> Any:
        """One API call: the metadata hash sent, a 412 answered by a reload and one replay,
        every error status mapped to a core error."""
        for attempt in (0, 1):
            hdrs = dict(headers or {})
            if meta_check and self.metadata_hash:
                hdrs["X-Metadata-Hash"] = self.metadata_hash
            resp = await self.transport.request(
                method,
                self._url(path),
                params=params,
                json_body=json_body,
                headers=hdrs,
                idempotent=idempotent,
            )
            if resp.status_code == 200:
                return await self._decode(resp)
            data = await self._decode(resp)
            if resp.status_code == 412 and attempt == 0 and meta_check:
                await self._metadata_changed()
                continue
            mdef = self._defs.get(module) if module else None
            raise wire.error_from_body(resp.status_code, data, module=module, mdef=mdef)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- metadata ----------------------------------------------------------------------
    async def _metadata_changed(self) -> None:
        """A 412: drop every cached chunk, fetch the new hash, tell the views."""
        log.info("Sugar metadata changed on the server; reloading")
        self._meta = {}
        self._defs = {}
        await self._cache.clear()
        await self._fetch_base_metadata()
        for cb in list(self.metadata_listeners):
            cb()

    async def _fetch_base_metadata(self) -> None:
        body = await self._call(
            "GET",
            "metadata",
            params={"type_filter": "full_module_list,modules_info,labels,server_info"},
            meta_check=False,
        )
        if not isinstance(body, Mapping) or not isinstance(body.get("_hash"), str):
            raise ProtocolError("Sugar's /metadata answer has no _hash.")
        modules = self._meta.get("modules") if self._meta.get("_hash") == body["_hash"] else None
        self._meta = {
            "_hash": body["_hash"],
            "full_module_list": body.get("full_module_list") or {},
            "modules_info": body.get("modules_info") or {},
            "labels": body.get("labels") or {},
            "server_info": body.get("server_info") or {},
            "modules": modules or {},
        }
        await self._cache.save(self._meta)

    async def _ensure_base(self) -> None:
        if "full_module_list" not in self._meta:
            async with self._meta_lock:
                if "full_module_list" not in self._meta:
                    await self._fetch_base_metadata()

    async def _ensure_lang(self) -> Mapping[str, Any]:
        lang = self._meta.get("lang")
        if isinstance(lang, Mapping):
            return lang
        await self._ensure_base()
        labels = self._meta.get("labels")
        code = self.language or (labels.get("default") if isinstance(labels, Mapping) else "")
        body = await self._call("GET", f"lang/{code or 'en_us'}", meta_check=False)
        if not isinstance(body, Mapping):
            raise ProtocolError("Sugar's language answer is not an object.")
        self._meta["lang"] = {
            "app_list_strings": body.get("app_list_strings") or {},
            "app_strings": body.get("app_strings") or {},
            "mod_strings": body.get("mod_strings") or {},
        }
        await self._cache.save(self._meta)
        return self._meta["lang"]  # type: ignore[no-any-return]

    async def _module_meta(self, module: str) -> Mapping[str, Any]:
        await self._ensure_base()
        mods = self._meta.setdefault("modules", {})
        if module not in mods:
            body = await self._call(
                "GET",
                "metadata",
                params={"type_filter": "modules", "module_filter": module},
                meta_check=False,
            )
            chunk = body.get("modules") if isinstance(body, Mapping) else None
            if not isinstance(chunk, Mapping) or not isinstance(chunk.get(module), Mapping):
                raise NotFound(
                    f"Sugar has no module named {module}.",
                    advice="Module names are case-sensitive (Accounts, Contacts …).",
                )
            if isinstance(body.get("_hash"), str) and body["_hash"] != self._meta.get("_hash"):
                # The metadata moved on since the base was fetched: start over.
                await self._metadata_changed()
                return await self._module_meta(module)
            mods[module] = chunk[module]
            await self._cache.save(self._meta)
        return mods[module]  # type: ignore[no-any-return]

    def _module_access(self, module: str) -> frozenset[str] | None:
        cu = self._me_body.get("current_user") if isinstance(self._me_body, Mapping) else None
        acl = cu.get("acl") if isinstance(cu, Mapping) else None
        if isinstance(acl, Mapping) and isinstance(acl.get(module), Mapping):
            return wire.parse_acl(acl[module])
        return None

    def _module_acl(self, module: str) -> Any:
        cu = self._me_body.get("current_user") if isinstance(self._me_body, Mapping) else None
        acl = cu.get("acl") if isinstance(cu, Mapping) else None
        return acl.get(module) if isinstance(acl, Mapping) else None

    async def modules(self) -> list[ModuleInfo]:
        await self._ensure_base()
        access = wire.module_access_from_acl(
            self._me_body.get("current_user", {}).get("acl")
            if isinstance(self._me_body, Mapping)
            else None
        )
        return wire.parse_module_list(self._meta, access=access)

    async def describe(self, module: str) -> ModuleDef:
        if module in self._defs:
            return self._defs[module]
        meta = await self._module_meta(module)
        lang = await self._ensure_lang()
        mod_strings_all = lang.get("mod_strings") or {}
        mod_strings = mod_strings_all.get(module) if isinstance(mod_strings_all, Mapping) else {}
        full = self._meta.get("full_module_list")
        label = full.get(module) if isinstance(full, Mapping) else None
        mdef = wire.parse_module(
            module,
            meta,
            label=str(label or ""),
            app_list_strings=_mapping(lang.get("app_list_strings")),
            mod_strings=mod_strings if isinstance(mod_strings, Mapping) else {},
            app_strings=_mapping(lang.get("app_strings")),
            acl=self._module_acl(module),
        )
        self._defs[module] = mdef
        return mdef

    async def _mdef(self, module: str) -> ModuleDef | None:
        try:
            return await self.describe(module)
        except NotFound:
            raise
        except CrmError as exc:
            log.debug("no metadata for %s: %s", module, exc)
            return None

    async def options(self, module: str, field_name: str) -> tuple[Option, ...]:
        body = await self._call("GET", f"{module}/enum/{field_name}", module=module)
        return wire.parse_enum(body)

    async def picklist_dependencies(self, module: str) -> list[PicklistDependency]:
        """Dependent drop-downs from the vardefs' ``visibility_grid`` (no extra call)."""
        mdef = await self.describe(module)
        return wire.parse_visibility_grids(mdef.raw.get("fields"), [f.name for f in mdef.fields])

    async def me(self) -> UserInfo:
        body = await self._call("GET", "me", meta_check=False)
        self._me_body = body
        return wire.parse_me(body)

    # -- records -----------------------------------------------------------------------
    @staticmethod
    def _offset(page: PageRequest) -> int:
        if page.cursor is None:
            return 0
        try:
            return max(0, int(page.cursor))
        except ValueError:
            raise ConfigurationError("That page cursor does not belong to Sugar.") from None

    async def list_records(self, module: str, query: Query, page: PageRequest) -> Page:
        mdef = await self._mdef(module)
        offset = self._offset(page)
        body = wire.list_body(query, mdef, max_num=page.size, offset=offset)
        listing = self._call(
            "POST", f"{module}/filter", json_body=body, idempotent=True, module=module
        )
        if page.cursor is None:
            data, total = await asyncio.gather(listing, self.count(module, query))
        else:
            data, total = await listing, None
        result = wire.parse_page(module, data, mdef, module_access=self._module_access(module))
        result.total = total
        return result

    def _filter_params(self, query: Query, mdef: ModuleDef | None) -> list[tuple[str, str]]:
        saved, rest = wire.split_saved(query.filter)
        params = [("filter_id", saved)] if saved is not None else []
        if rest is not None:
            params.extend(wire.php_params("filter", wire.encode_filter(rest, mdef)))
        return params

    async def count(self, module: str, query: Query) -> int | None:
        mdef = await self._mdef(module)
        body = await self._call(
            "GET", f"{module}/count", params=self._filter_params(query, mdef), module=module
        )
        return wire.parse_count(body)

    async def get(self, module: str, record_id: str) -> Record:
        mdef = await self._mdef(module)
        body = await self._call("GET", f"{module}/{record_id}", module=module)
        return wire.parse_record(module, body, mdef, module_access=self._module_access(module))

    def _encode(self, values: Mapping[str, Value], mdef: ModuleDef | None) -> dict[str, Any]:
        return {
            k: wire.encode_value(v, mdef.field(k) if mdef is not None else None)
            for k, v in values.items()
        }

    async def create(self, module: str, values: Mapping[str, Value]) -> Record:
        mdef = await self._mdef(module)
        body = await self._call(
            "POST", module, json_body=self._encode(values, mdef), idempotent=False, module=module
        )
        return wire.parse_record(module, body, mdef, module_access=self._module_access(module))

    async def update(
        self,
        module: str,
        record_id: str,
        changes: Mapping[str, Value],
        expected_version: Version | None = None,
    ) -> Record:
        mdef = await self._mdef(module)
        headers = {"X-Timestamp": expected_version.token} if expected_version else None
        body = await self._call(
            "PUT",
            f"{module}/{record_id}",
            json_body=self._encode(changes, mdef),
            headers=headers,
            module=module,
        )
        return wire.parse_record(module, body, mdef, module_access=self._module_access(module))

    async def delete(self, module: str, record_id: str) -> None:
        await self._call("DELETE", f"{module}/{record_id}", module=module)

    # -- relationships -----------------------------------------------------------------
    async def _target(self, module: str, link: str) -> tuple[str, ModuleDef | None]:
        mdef = await self._mdef(module)
        lk = mdef.link(link) if mdef is not None else None
        if mdef is not None and lk is None:
            raise NotFound(
                f"{module} has no link named {link}.",
                advice="Choose one of the module's relationships.",
            )
        target = lk.target_module if lk is not None else ""
        tdef = await self._mdef(target) if target else None
        return target, tdef

    async def related(
        self, module: str, record_id: str, link: str, query: Query, page: PageRequest
    ) -> Page:
        target, tdef = await self._target(module, link)
        params: list[tuple[str, str | int | float]] = [
            *self._filter_params(query, tdef),
            ("max_num", page.size),
            ("offset", self._offset(page)),
        ]
        if query.fields:
            params.append(("fields", ",".join(query.fields)))
        if query.sort:
            params.append(("order_by", wire.encode_order_by(query.sort)))
        listing = self._call(
            "GET", f"{module}/{record_id}/link/{link}/filter", params=params, module=module
        )
        if page.cursor is None:
            data, total = await asyncio.gather(
                listing,
                self._call(
                    "GET",
                    f"{module}/{record_id}/link/{link}/count",
                    params=self._filter_params(query, tdef),
                    module=module,
                ),
            )
        else:
            data, total = await listing, None
        result = wire.parse_page(target, data, tdef, module_access=self._module_access(target))
        result.total = wire.parse_count(total) if total is not None else None
        return result

    async def related_count(
        self, module: str, record_id: str, link: str, limit: int = 100
    ) -> tuple[int, bool]:
        """How many related records, up to ``limit``: (count, more than limit).

        Uses ``…/link/<link>/filter/leancount`` (API ≥ 11.4), else ``…/count``.
        """
        if version_number(self.version) >= (11, 4):
            body = await self._call(
                "GET",
                f"{module}/{record_id}/link/{link}/filter/leancount",
                params={"max_num": limit},
                module=module,
            )
            return wire.parse_leancount(body)
        n = wire.parse_count(
            await self._call("GET", f"{module}/{record_id}/link/{link}/count", module=module)
        )
        return min(n, limit), n > limit

    async def link(self, module: str, record_id: str, link: str, related_id: str) -> None:
        await self._call(
            "POST",
            f"{module}/{record_id}/link/{link}/{related_id}",
            json_body={},
            idempotent=False,
            module=module,
        )

    async def link_many(
        self, module: str, record_id: str, link: str, related_ids: Sequence[str]
    ) -> None:
        """Link several existing records in one call (``POST /<M>/<id>/link``)."""
        await self._call(
            "POST",
            f"{module}/{record_id}/link",
            json_body={"link_name": link, "ids": list(related_ids)},
            idempotent=False,
            module=module,
        )

    async def unlink(self, module: str, record_id: str, link: str, related_id: str) -> None:
        await self._call("DELETE", f"{module}/{record_id}/link/{link}/{related_id}", module=module)

    async def create_related(
        self, module: str, record_id: str, link: str, values: Mapping[str, Value]
    ) -> Record:
        target, tdef = await self._target(module, link)
        body = await self._call(
            "POST",
            f"{module}/{record_id}/link/{link}",
            json_body=self._encode(values, tdef),
            idempotent=False,
            module=module,
        )
        _, related = wire.parse_link_answer(body, target, tdef)
        if not related:
            raise ProtocolError("Sugar's answer names no created record.")
        return related[0]

    # -- search, favorites -------------------------------------------------------------
    async def search(
        self, text: str, modules: Sequence[str] | None = None, limit: int = 20
    ) -> list[RecordRef]:
        # Without Elasticsearch, Sugar caps each module at max_num_module (20) whatever
        # max_num says: ask for as many per module as in all.
        params: list[tuple[str, str | int | float]] = [
            ("q", text),
            ("max_num", limit),
            ("max_num_module", limit),
        ]
        if modules:
            params.append(("module_list", ",".join(modules)))
        body = await self._call("GET", "search", params=params)
        return wire.parse_search(body)

    async def saved_filters(self, module: str) -> list[SavedFilter]:
        """The ``Filters`` records of ``module`` the user can see (their own and shared),
        by name: Sugar keeps a user's saved list filters as records of that module."""
        body = await self._call(
            "POST",
            "Filters/filter",
            json_body={
                "filter": [{"module_name": {"$equals": module}}],
                "fields": "id,name,module_name",
                "order_by": "name:asc",
                "max_num": 200,
            },
            idempotent=True,
            module="Filters",
        )
        return wire.parse_saved_filters(body, module)

    async def set_favorite(self, module: str, record_id: str, favorite: bool) -> None:
        await self._call(
            "PUT" if favorite else "DELETE", f"{module}/{record_id}/favorite", module=module
        )

    # -- bulk --------------------------------------------------------------------------
    async def bulk(self, calls: Sequence[BulkCall]) -> list[tuple[int, Any]]:
        """Run ``calls`` in one ``POST /bulk``: [(status, contents)] in the same order.

        A failing sub-request does not stop the others; map each with
        :func:`wire.bulk_record` / :func:`wire.bulk_deleted` / :func:`wire.bulk_outcome`.
        An odd item, or a request the answer has no item for, comes back as
        ``wire.NOT_AN_ANSWER`` (that record's problem, not the batch's); only an answer
        that is no list, or has more items than requests (no telling which is whose),
        raises.
        """
        requests: list[dict[str, Any]] = []
        for c in calls:
            item: dict[str, Any] = {
                "url": f"/{self.version}/{c.path.lstrip('/')}",
                "method": c.method.upper(),
            }
            if c.data is not None:
                item["data"] = json.dumps(c.data)
            hdrs = dict(c.headers or {})
            if self.metadata_hash:
                hdrs.setdefault("X-Metadata-Hash", self.metadata_hash)
            if hdrs:
                item["headers"] = hdrs
            requests.append(item)
        body = await self._call("POST", "bulk", json_body={"requests": requests}, idempotent=False)
        results = wire.parse_bulk(body)
        if len(results) > len(calls):
            raise ProtocolError("Sugar's bulk answer does not match the requests.")
        missing = len(calls) - len(results)
        return results + [(wire.NOT_AN_ANSWER, None)] * missing

    async def update_many(
        self,
        module: str,
        changes: Mapping[str, Mapping[str, Value]],
        versions: Mapping[str, Version] | None = None,
    ) -> list[Record | CrmError]:
        """Update several records in one ``/bulk`` round trip; per record a Record or error."""
        mdef = await self._mdef(module)
        ids = list(changes)
        calls = [
            BulkCall(
                "PUT",
                f"{module}/{rid}",
                self._encode(changes[rid], mdef),
                {"X-Timestamp": versions[rid].token} if versions and rid in versions else None,
            )
            for rid in ids
        ]
        out: list[Record | CrmError] = []
        access = self._module_access(module)
        for status, contents in await self.bulk(calls):
            out.append(wire.bulk_record(status, contents, module, mdef, module_access=access))
        return out

    async def delete_many(self, module: str, ids: Sequence[str]) -> list[CrmError | None]:
        """Delete several records in one ``/bulk`` round trip; per id None or the error."""
        results = await self.bulk([BulkCall("DELETE", f"{module}/{rid}") for rid in ids])
        return [wire.bulk_deleted(status, contents, module) for status, contents in results]

    async def bulk_delete(
        self, module: str, ids: Sequence[str], progress: Progress | None = None
    ) -> BulkResult:
        """Core mass delete through ``/bulk``, ``BULK_CHUNK`` sub-requests per round trip."""
        done: list[str] = []
        failed: dict[str, CrmError] = {}
        for start in range(0, len(ids), BULK_CHUNK):
            chunk = list(ids[start : start + BULK_CHUNK])
            for rid, err in zip(chunk, await self.delete_many(module, chunk), strict=True):
                if err is None:
                    done.append(rid)
                else:
                    failed[rid] = err
            if progress is not None:
                progress(start + len(chunk))
        return BulkResult(tuple(done), {}, failed)

    async def bulk_update(
        self,
        module: str,
        ids: Sequence[str],
        changes: Mapping[str, Value],
        progress: Progress | None = None,
        *,
        expected: Mapping[str, Version] | None = None,
        shown: Mapping[str, Mapping[str, Value]] | None = None,
    ) -> BulkResult:
        """Core mass update through ``/bulk`` (the same changes for every id).

        With ``expected`` each sub-request carries its ``X-Timestamp``; a 409 gets the
        core's per-field check (a change to other fields is no conflict).  Ids without a
        version take the core's per-id loop, which compares values instead.
        """
        if expected is not None and any(rid not in expected for rid in ids):
            return await super().bulk_update(
                module, ids, changes, progress, expected=expected, shown=shown
            )
        done: list[str] = []
        records: dict[str, Record] = {}
        failed: dict[str, CrmError] = {}
        for start in range(0, len(ids), BULK_CHUNK):
            chunk = list(ids[start : start + BULK_CHUNK])
            answers = await self.update_many(module, dict.fromkeys(chunk, changes), expected)
            for rid, answer in zip(chunk, answers, strict=True):
                if expected is not None and not isinstance(answer, Record):
                    answer = await self._recheck(module, rid, changes, answer, expected, shown)
                if isinstance(answer, Record):
                    done.append(rid)
                    records[rid] = answer
                else:
                    failed[rid] = answer
            if progress is not None:
                progress(start + len(chunk))
        return BulkResult(tuple(done), records, failed)

    # -- sync --------------------------------------------------------------------------
    async def sync(self, module: str, since: datetime, limit: int = 200) -> Changes:
        """Records changed or deleted at or after ``since`` (oldest first, ``limit`` at most).

        Uses ``deleted=true`` so soft-deleted records come back as ``{"id", "deleted": true}``.
        Call again from ``until`` while ``more`` is set (a record may come twice).
        """
        mdef = await self._mdef(module)
        stamp = since if since.tzinfo is not None else since.replace(tzinfo=UTC)
        body = {
            "filter": [{"date_modified": {"$gte": stamp.isoformat(timespec="seconds")}}],
            "deleted": True,
            "order_by": "date_modified:asc",
            "max_num": limit,
            "offset": 0,
        }
        data = await self._call(
            "POST", f"{module}/filter", json_body=body, idempotent=True, module=module
        )
        if not isinstance(data, Mapping) or not isinstance(data.get("records"), list):
            raise ProtocolError("Sugar's list answer has no records array.")
        updated: list[Record] = []
        deleted: list[str] = []
        until: datetime | None = None
        access = self._module_access(module)
        for raw in data["records"]:
            if isinstance(raw, Mapping) and raw.get("deleted") is True and raw.get("id"):
                deleted.append(str(raw["id"]))
            else:
                updated.append(wire.parse_record(module, raw, mdef, module_access=access))
            when = raw.get("date_modified") if isinstance(raw, Mapping) else None
            parsed = wire.parse_datetime(when) if isinstance(when, str) else None
            if parsed is not None and (until is None or parsed > until):
                until = parsed
        more = wire.parse_page(module, {"next_offset": data.get("next_offset"), "records": []}).next
        return Changes(
            updated=tuple(updated), deleted=tuple(deleted), until=until, more=more is not None
        )

    # -- API console -------------------------------------------------------------------
    async def raw_request(
        self,
        method: str,
        path: str,
        query: Sequence[tuple[str, str]] = (),
        body: Any = None,
    ) -> RawResponse:
        """Send any request with this session; ``path`` is relative to ``/rest/<version>``."""
        started = time.perf_counter()
        resp = await self.transport.request(
            method.upper(),
            self._url(path),
            params=list(query) or None,
            json_body=body,
            idempotent=method.upper() == "GET",
        )
        elapsed = (time.perf_counter() - started) * 1000
        text = redact(resp.text)
        parsed: Any = None
        is_json = False
        if "json" in resp.headers.get("content-type", "") and text.strip():
            try:
                parsed = json.loads(resp.content)
                is_json = True
            except (ValueError, RecursionError):
                parsed = None
        headers = {k: redact(v) for k, v in resp.headers.items() if k.lower() != "set-cookie"}
        return RawResponse(
            status=resp.status_code,
            reason=resp.reason_phrase,
            headers=headers,
            body_text=text,
            json=parsed if is_json else None,
            is_json=is_json,
            elapsed_ms=elapsed,
        )

    # -- helpers for callers -----------------------------------------------------------
    @staticmethod
    def date_range(field_name: str, keyword: str) -> Condition:
        """A ``$dateRange`` condition (``today``, ``last_30_days`` …) for a date field."""
        if keyword not in wire.DATE_RANGES:
            raise ValueError(f"unknown date range {keyword!r}")
        return Condition(field_name, Op.EQ, keyword)

    @staticmethod
    def newest_first() -> tuple[SortKey, ...]:
        return (SortKey("date_modified", descending=True),)

    @staticmethod
    def timestamp(value: datetime) -> Version:
        return Version(value.isoformat(timespec="seconds"))
