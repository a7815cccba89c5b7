"""The demo CRM server: one uvicorn on 127.0.0.1 hosting every dialect under its own prefix.

::

    server = DemoServer().start()
    server.base_url("suitecrm")            # http://127.0.0.1:PORT/suitecrm
    server.profile("suitecrm")             # a ConnectionProfile that works
    server.secrets("suitecrm")             # its Secrets (random per server instance)
    server.faults.inject(r"/Api/V8/module/Accounts$", "status:503")
    server.stop()

A dialect app is added by one line in :data:`DIALECT_APPS`: ``"module:factory"`` where
``factory(store, credentials) -> ASGI app``.  The app sees paths without its prefix
(``/Api/V8/...``) and the prefix in ``scope["root_path"]``.
"""

from __future__ import annotations

import importlib
import secrets as _secrets
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from crmdesk.core.connection import ConnectionProfile, Secrets
from crmdesk.demo.faults import FaultMiddleware, Faults
from crmdesk.demo.store import Store

#: dialect → "module:factory"; the factory is ``create_app(store, credentials) -> ASGI app``.
DIALECT_APPS: dict[str, str] = {
    "suitecrm": "crmdesk.demo.suitecrm:create_app",
    "sugarcrm": "crmdesk.demo.sugarcrm:create_app",
    "espocrm": "crmdesk.demo.espocrm:create_app",
    "vtiger": "crmdesk.demo.vtiger:create_app",
}


@dataclass(slots=True)
class DemoCredentials:
    """The secrets of one demo server instance, random each time; ``repr`` shows none.

    ``client_id`` / ``client_secret`` are for the password grant (SuiteCRM, Sugar);
    ``cc_client_id`` / ``cc_client_secret`` for a client_credentials client;
    ``ac_client_id`` / ``ac_client_secret`` for an authorization_code client (SuiteCRM) whose
    registered redirect URI is ``ac_redirect_uri`` (a loopback one: any port matches);
    ``api_key`` / ``secret_key`` for API-key and HMAC sign-in (EspoCRM) and Vtiger's
    access key.  ``token_ttl`` (seconds) is read when a token is issued: tests lower it.
    """

    username: str = "admin"
    password: str = field(default_factory=lambda: _secrets.token_urlsafe(12))
    client_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    client_secret: str = field(default_factory=lambda: _secrets.token_urlsafe(18))
    cc_client_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    cc_client_secret: str = field(default_factory=lambda: _secrets.token_urlsafe(18))
    ac_client_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    ac_client_secret: str = field(default_factory=lambda: _secrets.token_urlsafe(18))
    ac_redirect_uri: str = "http://127.0.0.1/callback"
    api_key: str = field(default_factory=lambda: _secrets.token_hex(16))
    secret_key: str = field(default_factory=lambda: _secrets.token_hex(16))
    token_ttl: float = 3600.0
    refresh_ttl: float = 30 * 86400.0

    def __repr__(self) -> str:
        return f"DemoCredentials(username={self.username!r}, client_id={self.client_id!r}, …)"

    __str__ = __repr__


class AppFactory(Protocol):
    def __call__(self, store: Store, credentials: DemoCredentials) -> ASGIApp: ...


def load_factory(spec: str) -> AppFactory:
    module_name, _, attr = spec.partition(":")
    factory: AppFactory = getattr(importlib.import_module(module_name), attr)
    return factory


_NOT_FOUND = (
    b"<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>"
)
#: What a SuiteCRM 8 answers on the plain ``/Api`` path when only ``/legacy/Api`` works.
_SUITE8_NOT_FOUND = (
    b'<!DOCTYPE html>\n<html>\n<head><meta charset="UTF-8"><title>An Error Occurred: Not Found'
    b"</title></head>\n<body>\n<h1>Oops! An Error Occurred</h1>\n<h2>The server returned a "
    b'"404 Not Found".</h2>\n</body>\n</html>\n'
)


async def _html(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/html; charset=UTF-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class Dispatcher:
    """Routes ``/<dialect>/...`` to that dialect's app (and SuiteCRM's ``/legacy`` mirror)."""

    def __init__(self, apps: dict[str, ASGIApp]) -> None:
        self.apps = apps
        self.suitecrm_legacy_only = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        dialect, _, rest = path.lstrip("/").partition("/")
        app = self.apps.get(dialect)
        if app is None:
            await _html(send, 404, _NOT_FOUND)
            return
        prefix = f"/{dialect}"
        rest = "/" + rest
        if dialect == "suitecrm":
            if rest == "/legacy" or rest.startswith("/legacy/"):
                prefix += "/legacy"
                rest = rest[len("/legacy") :] or "/"
            elif self.suitecrm_legacy_only:
                await _html(send, 404, _SUITE8_NOT_FOUND)
                return
        child = dict(scope)
        child["root_path"] = scope.get("root_path", "") + prefix
        child["path"] = rest
        child["raw_path"] = rest.encode()
        await app(child, receive, send)


class DemoHost(Protocol):
    """A running demo CRM as the window sees it: how to sign in to each dialect."""

    def profile(self, dialect: str, auth: str = "password") -> ConnectionProfile: ...

    def secrets(self, dialect: str, auth: str = "password") -> Secrets: ...


def demo_profile(
    base_url: str, credentials: DemoCredentials, dialect: str, auth: str = "password"
) -> ConnectionProfile:
    """A profile that signs in to the demo CRM at ``base_url`` (a dialect's prefix).

    SuiteCRM: ``auth`` is ``password`` (options ``client_id`` of the password-grant
    client, ``username``), ``client_credentials`` (the client_credentials client) or
    ``authorization_code`` (the authorization_code client; the user signs in in the
    browser, see :class:`crmdesk.demo.browser.DemoBrowser`).
    """
    c = credentials
    options: dict[str, str] = {}
    username = c.username if auth in ("password", "hmac", "api_key_user") else ""
    if dialect == "vtiger":  # "rest" or "webservice"; both sign in with the access key
        auth = "webservice" if auth == "password" else auth
        username = c.username
    if dialect == "suitecrm":
        options["client_id"] = {
            "client_credentials": c.cc_client_id,
            "authorization_code": c.ac_client_id,
        }.get(auth, c.client_id)
    return ConnectionProfile(
        name=f"Demo {dialect}",
        dialect=dialect,
        base_url=base_url,
        auth=auth,
        username=username,
        options=options,
        connect_timeout=5.0,
        read_timeout=30.0,
    )


def demo_secrets(credentials: DemoCredentials, dialect: str, auth: str = "password") -> Secrets:
    """The secrets for :func:`demo_profile`: keys ``password``, ``client_secret``, ``api_key``,
    ``secret_key`` as the sign-in method needs them."""
    c = credentials
    if dialect == "vtiger":
        return Secrets(access_key=c.api_key)
    if dialect == "suitecrm":
        if auth == "client_credentials":
            return Secrets(client_secret=c.cc_client_secret)
        if auth == "authorization_code":
            return Secrets(client_secret=c.ac_client_secret)
        return Secrets(password=c.password, client_secret=c.client_secret)
    if auth == "password":
        return Secrets(password=c.password)
    if auth == "api_key":
        return Secrets(api_key=c.api_key)
    return Secrets(api_key=c.api_key, secret_key=c.secret_key)


class DemoServer:
    """The embedded demo CRM over real loopback HTTP (uvicorn in a daemon thread)."""

    def __init__(
        self,
        db_path: Path | None = None,
        *,
        suitecrm_legacy_only: bool = False,
        token_ttl: float = 3600.0,
        dialects: tuple[str, ...] | None = None,
    ) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if db_path is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="crmdesk-demo-")
            db_path = Path(self._tmp.name) / "demo.sqlite"
        self.db_path = Path(db_path)
        self.store = Store.open(self.db_path)
        self.credentials = DemoCredentials(token_ttl=token_ttl)
        self.faults = Faults()
        names = dialects if dialects is not None else tuple(DIALECT_APPS)
        self.apps: dict[str, ASGIApp] = {
            d: load_factory(DIALECT_APPS[d])(self.store, self.credentials) for d in names
        }
        self._dispatcher = Dispatcher(self.apps)
        self._dispatcher.suitecrm_legacy_only = suitecrm_legacy_only
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._port = 0

    # -- lifecycle ------------------------------------------------------------------------

    def start(self, timeout: float = 15.0) -> DemoServer:
        config = uvicorn.Config(
            FaultMiddleware(self._dispatcher, self.faults),
            host="127.0.0.1",
            port=0,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(target=server.run, name="crmdesk-demo", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the demo server did not start")
            time.sleep(0.01)
        sock = server.servers[0].sockets[0]
        self._port = int(sock.getsockname()[1])
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None
        self.store.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> DemoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses and credentials ------------------------------------------------------------

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError("the demo server is not started")
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def base_url(self, dialect: str) -> str:
        if dialect not in self.apps:
            raise KeyError(f"the demo server does not host {dialect!r}")
        return f"{self.url}/{dialect}"

    @property
    def suitecrm_legacy_only(self) -> bool:
        return self._dispatcher.suitecrm_legacy_only

    @suitecrm_legacy_only.setter
    def suitecrm_legacy_only(self, value: bool) -> None:
        self._dispatcher.suitecrm_legacy_only = value

    def profile(self, dialect: str, auth: str = "password") -> ConnectionProfile:
        """A profile that signs in to this server (see :func:`demo_profile`)."""
        return demo_profile(self.base_url(dialect), self.credentials, dialect, auth)

    def secrets(self, dialect: str, auth: str = "password") -> Secrets:
        """The secrets for :meth:`profile` (see :func:`demo_secrets`)."""
        return demo_secrets(self.credentials, dialect, auth)

    def expire_tokens(self) -> None:
        """Make every token issued so far expire now (each app that keeps tokens)."""
        for app in self.apps.values():
            hook: Any = getattr(app, "expire_tokens", None)
            if callable(hook):
                hook()
