"""The sign-in methods of each CRM kind and the fields each one needs.

Pure data, shared by the secret store (which names to store and delete) and
the connect dialog (which fields to show).  A field lives in one of three
places: the profile's ``username``, the profile's ``options`` (non-secret,
saved in the profile file) or the :class:`~crmdesk.core.connection.Secrets`
(keyring only, never in a file).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Where(enum.Enum):
    USERNAME = "username"
    OPTION = "option"
    SECRET = "secret"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    key: str
    label: str
    where: Where
    required: bool = True
    default: str = ""
    help: str = ""
    placeholder: str = ""


@dataclass(frozen=True, slots=True)
class MethodSpec:
    dialect: str
    key: str
    label: str
    fields: tuple[FieldSpec, ...]
    help: str = ""

    @property
    def secret_names(self) -> tuple[str, ...]:
        return tuple(f.key for f in self.fields if f.where is Where.SECRET)

    @property
    def option_names(self) -> tuple[str, ...]:
        return tuple(f.key for f in self.fields if f.where is Where.OPTION)

    @property
    def needs_username(self) -> bool:
        return any(f.where is Where.USERNAME for f in self.fields)


#: Every secret name any method uses, plus tokens adapters may hand back for storing.
#: Deleting a profile deletes all of these from the keyring.
ALL_SECRET_NAMES: tuple[str, ...] = (
    "password",
    "client_secret",
    "api_key",
    "secret_key",
    "access_key",
    "refresh_token",
)

_USER = FieldSpec("username", "User name", Where.USERNAME)
_PASSWORD = FieldSpec("password", "Password", Where.SECRET)

SUGAR_PLATFORM_HELP = (
    "Sugar keeps one session per user and platform, so crmdesk signs in as its own platform "
    "and does not sign you out of the Sugar web page ('base'). Sugar 12+ refuses unknown "
    "platforms: an administrator adds it under Admin → Configure API Platforms."
)

SUGAR_VERSION_HELP = "The API's /rest/<version>: v11_4 (Sugar 9+) by default, v11 for older ones."

METHODS: tuple[MethodSpec, ...] = (
    MethodSpec(
        "suitecrm",
        "password",
        "User name and password (OAuth2 password grant)",
        (
            FieldSpec(
                "client_id",
                "Client ID",
                Where.OPTION,
                help="The OAuth2 client an administrator created under Admin → OAuth2 Clients "
                "and Tokens (password client).",
            ),
            FieldSpec("client_secret", "Client secret", Where.SECRET),
            _USER,
            _PASSWORD,
        ),
    ),
    MethodSpec(
        "suitecrm",
        "client_credentials",
        "Client credentials (OAuth2, no user)",
        (
            FieldSpec(
                "client_id",
                "Client ID",
                Where.OPTION,
                help="A client-credentials client from Admin → OAuth2 Clients and Tokens; "
                "crmdesk acts as the user the client is assigned to.",
            ),
            FieldSpec("client_secret", "Client secret", Where.SECRET),
        ),
    ),
    MethodSpec(
        "suitecrm",
        "authorization_code",
        "Sign in in the web browser (OAuth2 authorization code)",
        (
            FieldSpec(
                "client_id",
                "Client ID",
                Where.OPTION,
                help="An authorization-code client from Admin → OAuth2 Clients and Tokens, "
                "with the redirect URI http://127.0.0.1/callback.",
            ),
            FieldSpec("client_secret", "Client secret", Where.SECRET),
            FieldSpec(
                "redirect_port",
                "Redirect port",
                Where.OPTION,
                required=False,
                placeholder="any free port",
                help="Leave empty. Only for a server that compares the redirect URI with its "
                "port: then register http://127.0.0.1:PORT/callback and enter PORT here.",
            ),
        ),
        help="crmdesk opens SuiteCRM's sign-in page in your web browser and waits for the "
        "answer on 127.0.0.1.",
    ),
    MethodSpec(
        "sugarcrm",
        "password",
        "User name and password (OAuth2 password grant)",
        (
            _USER,
            _PASSWORD,
            FieldSpec("client_id", "Client ID", Where.OPTION, default="sugar"),
            FieldSpec(
                "client_secret",
                "Client secret",
                Where.SECRET,
                required=False,
                help="Empty for Sugar's built-in 'sugar' client.",
            ),
            FieldSpec(
                "platform",
                "Platform",
                Where.OPTION,
                default="crmdesk",
                help=SUGAR_PLATFORM_HELP,
            ),
            FieldSpec(
                "api_version",
                "API version",
                Where.OPTION,
                required=False,
                default="v11_4",
                help=SUGAR_VERSION_HELP,
            ),
        ),
    ),
    MethodSpec(
        "espocrm",
        "api_key",
        "API key (API user)",
        (FieldSpec("api_key", "API key", Where.SECRET),),
        help="An API user from Administration → API Users, authentication method 'API Key'.",
    ),
    MethodSpec(
        "espocrm",
        "hmac",
        "HMAC (API user, signed requests)",
        (
            FieldSpec("api_key", "API key", Where.SECRET),
            FieldSpec("secret_key", "Secret key", Where.SECRET),
        ),
        help="An API user from Administration → API Users, authentication method 'HMAC'.",
    ),
    MethodSpec("espocrm", "password", "User name and password", (_USER, _PASSWORD)),
    MethodSpec(
        "vtiger",
        "rest",
        "REST API (restapi/v1, Vtiger Cloud / 8.x)",
        (
            _USER,
            FieldSpec(
                "access_key",
                "Access key",
                Where.SECRET,
                help="Shown in Vtiger under My Preferences → User Advanced Options.",
            ),
        ),
    ),
    MethodSpec(
        "vtiger",
        "webservice",
        "webservice.php (open source 7.x / 8.x)",
        (
            _USER,
            FieldSpec(
                "access_key",
                "Access key",
                Where.SECRET,
                help="Shown in Vtiger under My Preferences → User Advanced Options.",
            ),
        ),
    ),
)


def methods_for(dialect: str) -> tuple[MethodSpec, ...]:
    return tuple(m for m in METHODS if m.dialect == dialect)


def method_spec(dialect: str, auth: str) -> MethodSpec | None:
    for m in METHODS:
        if m.dialect == dialect and m.key == auth:
            return m
    return None


@dataclass(frozen=True, slots=True)
class FlagSpec:
    """An on / off connection option of one CRM kind, saved as ``"true"`` in the profile's
    options (absent when off)."""

    dialect: str
    key: str
    label: str
    help: str = ""


FLAGS: tuple[FlagSpec, ...] = (
    FlagSpec(
        "espocrm",
        "no_total",
        "S&kip totals (faster lists on large tables)",
        "Sends X-No-Total: EspoCRM does not count the matching records, so lists open "
        "faster on big tables and the status bar says \u201c100 rows, more\u2026\u201d "
        "instead of a total.",
    ),
)


def flags_for(dialect: str) -> tuple[FlagSpec, ...]:
    return tuple(f for f in FLAGS if f.dialect == dialect)
