"""EspoCRM's three ways to sign in, as :class:`~crmdesk.backends.transport.Authenticator` s.

* API key: ``X-Api-Key: <key>`` on every request; nothing to renew.
* HMAC: ``X-Hmac-Authorization: base64(key + ":" + hex(HMAC-SHA256(secret, "<METHOD> /<path>")))``
  where ``<path>`` is the part after ``api/v1/`` *without* the query string (the real server
  signs only method and path, see capture auth_09).
* Password: ``GET App/user`` with ``Espo-Authorization: base64(user:password)`` returns a token;
  later requests send ``base64(user:token)`` plus ``Espo-Authorization-By-Token: true``.  We
  never ask for a token secret cookie (``Espo-Authorization-Create-Token-Secret``), so the
  token works on its own.  A 401 with a token triggers exactly one new sign-in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Awaitable, Callable

import httpx

from crmdesk.backends.redact import register_secret

API_PREFIX = "/api/v1/"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def api_relative_path(url_path: str) -> str:
    """``/espocrm/api/v1/Account/1`` → ``Account/1`` (what HMAC signs, after ``api/v1/``)."""
    idx = url_path.find(API_PREFIX)
    if idx < 0:
        return url_path.lstrip("/")
    return url_path[idx + len(API_PREFIX) :]


def hmac_signature(method: str, rel_path: str, api_key: str, secret_key: str) -> str:
    """The value of ``X-Hmac-Authorization`` for one request."""
    message = f"{method.upper()} /{rel_path}".encode()
    digest = hmac.new(secret_key.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return _b64(f"{api_key}:{digest}")


def espo_authorization(username: str, password_or_token: str) -> str:
    return _b64(f"{username}:{password_or_token}")


class ApiKeyAuth:
    def __init__(self, api_key: str) -> None:
        self._key = api_key
        register_secret(api_key)

    async def apply(self, request: httpx.Request) -> None:
        request.headers["X-Api-Key"] = self._key

    async def refresh(self) -> bool:
        return False  # a refused key stays refused


class HmacAuth:
    def __init__(self, api_key: str, secret_key: str) -> None:
        self._key = api_key
        self._secret = secret_key
        register_secret(api_key)
        register_secret(secret_key)

    async def apply(self, request: httpx.Request) -> None:
        rel = api_relative_path(request.url.path)
        value = hmac_signature(request.method, rel, self._key, self._secret)
        register_secret(value)
        request.headers["X-Hmac-Authorization"] = value

    async def refresh(self) -> bool:
        return False


#: Signs in with user name and password; returns the token (raises a CrmError on failure).
LoginFn = Callable[[str], Awaitable[str]]


class TokenAuth:
    """Password sign-in exchanged for a token through ``GET App/user``.

    ``login`` performs the exchange (given the ``Espo-Authorization`` header value for the
    password) and returns the token; the backend supplies it so the App/user answer it
    brings back (user, ACL, settings) is kept, not thrown away.
    """

    def __init__(self, username: str, password: str, login: LoginFn) -> None:
        self.username = username
        self._password = password
        self._login = login
        self.token: str | None = None
        register_secret(password)
        register_secret(espo_authorization(username, password))

    def password_header(self) -> str:
        return espo_authorization(self.username, self._password)

    def set_token(self, token: str) -> None:
        register_secret(token)
        register_secret(espo_authorization(self.username, token))
        self.token = token

    async def sign_in(self) -> None:
        self.set_token(await self._login(self.password_header()))

    async def apply(self, request: httpx.Request) -> None:
        if self.token is None:
            await self.sign_in()
        assert self.token is not None
        request.headers["Espo-Authorization"] = espo_authorization(self.username, self.token)
        request.headers["Espo-Authorization-By-Token"] = "true"

    async def refresh(self) -> bool:
        """The token expired (or was destroyed): sign in once more with the password."""
        if self.token is None:
            return False
        self.token = None
        await self.sign_in()
        return True
