"""Vtiger's wire protocol over the shared demo store, in both flavours.

* ``/webservice.php`` — the open-source server (getchallenge → login → ``sessionName``),
  answering like a Vtiger 8.2 with the two-line patch of ../peers/vtiger (sync, convertlead
  and logout work); Cloud-only operations answer HTTP 500 with an empty body, as there.
  ``stock=True`` makes sync / convertlead / logout / files_retrieve crash like stock 8.2.
* ``/restapi/v1/vtiger/default/{operation}`` — the Cloud flavour: HTTP Basic
  (user name + access key) and every documented operation.

Shapes follow the captures: HTTP 200 envelopes ``{success, result}`` / ``{success:false,
error:{code,message}}``, every value a string, ``NxM`` ids (record numbers share one
sequence across modules; Users are ``19xN``), ``ACCESS_DENIED`` for missing records, the
100-row query cap, VTQL with its real quirks (trailing ``;``, no parentheses, ``= ''``
failing).  Neutral store fields are renamed to Vtiger's (``name`` → ``accountname`` …);
fields Vtiger has and the store lacks answer constant empty values.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets as _secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from crmdesk.demo.catalog import INDUSTRIES
from crmdesk.demo.server import DemoCredentials
from crmdesk.demo.store import Cond, RecordNotFound, Store, StoreError, Where, format_datetime
from crmdesk.demo.store import Op as StoreOp

SESSION_IDLE = 1800.0
CHALLENGE_TTL = 300
MAX_ROWS = 100
SYNC_PAGE = 100

#: Vtiger module → (store module, idPrefix, label, singular).
MODULES: dict[str, tuple[str, str, str, str]] = {
    "Accounts": ("Accounts", "11", "Organizations", "Organization"),
    "Contacts": ("Contacts", "12", "Contacts", "Contact"),
    "Potentials": ("Opportunities", "13", "Opportunities", "Opportunity"),
    "Leads": ("Leads", "10", "Leads", "Lead"),
    "HelpDesk": ("Cases", "17", "Tickets", "Ticket"),
}
USERS_PREFIX = "19"
GROUPS_PREFIX = "20"
STORE_TO_VT = {v[0]: k for k, v in MODULES.items()}
PREFIX_TO_VT = {v[1]: k for k, v in MODULES.items()}

GET_OPS = {
    "getchallenge", "retrieve", "query", "describe", "listtypes", "sync", "relatedtypes",
    "retrieve_related", "query_related", "me", "decrypt", "lookup", "tags_retrieve",
    "files_retrieve", "picklist_dependency", "get_account_hierarchy", "editionLimits",
}  # fmt: skip
POST_OPS = {
    "login", "create", "update", "revise", "delete", "add_related", "convertlead", "logout",
    "extendsession", "delete_related", "reopen", "tags_add", "tag_delete", "add_picklist",
    "edit_picklist", "delete_picklist",
}  # fmt: skip
CLOUD_ONLY = {
    "me", "lookup", "delete_related", "picklist_dependency", "add_picklist", "edit_picklist",
    "delete_picklist", "tags_add", "tags_retrieve", "tag_delete", "decrypt", "reopen",
    "get_account_hierarchy", "editionLimits",
}  # fmt: skip
STOCK_CRASH = {"sync", "logout", "convertlead", "files_retrieve", "retrieve_inventory"}
NO_AUTH = {"getchallenge", "login", "extendsession"}

EDITION_LIMITS = {
    "DOCUMENT_UPLOAD_FILE_LIMIT": "50MB",
    "IMPORT_FILE_LIMIT": "10MB",
    "CUSTOM_FIELD_LIMIT": "100",
    "PICKLIST_VALUES_MAX_ALLOWED": "250",
    "WORKFLOW_LIMIT": "100",
    "STORAGE": "5GB",
    "WEBSERVICE_LIMIT": "10000",
}


@dataclass(frozen=True, slots=True)
class VField:
    """One Vtiger field: its wire name and type, and where the value lives in the store.

    ``store`` is the neutral field; ``None`` makes a constant (``const``) field that Vtiger
    has and the store lacks; ``computed`` derives the value from the record number."""

    name: str
    label: str
    type: str = "string"
    store: str | None = None
    mandatory: bool = False
    editable: bool = True
    refers: tuple[str, ...] = ()
    const: str = ""
    computed: str = ""  # a format with {n}: "ACC{n}"
    default: str = ""


def mask(text: str) -> str:
    """How Cloud shows an encrypted value: all but the last two characters hidden."""
    return "*" * max(len(text) - 2, 0) + text[-2:]


def _f(name: str, label: str, type_: str = "string", store: str | None = None, **kw: Any) -> VField:
    return VField(name, label, type_, store, **kw)


def _system() -> list[VField]:
    return [
        _f("assigned_user_id", "Assigned To", "owner", "assigned_user_id", mandatory=True),
        _f("createdtime", "Created Time", "datetime", "date_entered", editable=False),
        _f("modifiedtime", "Modified Time", "datetime", "date_modified", editable=False),
        _f("modifiedby", "Last Modified By", "reference", "modified_user_id", refers=("Users",),
           editable=False),
    ]  # fmt: skip


def _tail() -> list[VField]:
    return [
        _f("source", "Source", editable=False, const="CRM"),
        _f("starred", "starred", "boolean", const="0"),
        _f("tags", "tags", computed="tags"),
    ]


FIELDS: dict[str, list[VField]] = {
    "Accounts": [
        _f("accountname", "Organization Name", "string", "name", mandatory=True),
        _f("account_no", "Organization Number", editable=False, computed="ACC{n}"),
        _f("phone", "Primary Phone", "phone", "phone_office"),
        _f("website", "Website", "url", "website"),
        _f("fax", "Fax", "phone", "phone_fax"),
        _f("tickersymbol", "Ticker Symbol", "string", "ticker_symbol"),
        _f("otherphone", "Secondary Phone", "phone", "phone_alternate"),
        _f("account_id", "Member Of", "reference", "parent_id", refers=("Accounts",)),
        _f("email1", "Primary Email", "email", "email1"),
        _f("employees", "Employees", "integer", "employees"),
        _f("email2", "Secondary Email", "email"),
        _f("ownership", "Ownership", "string", "ownership"),
        _f("rating", "Rating", "picklist", "rating"),
        _f("industry", "Industry", "picklist", "industry"),
        _f("siccode", "SIC Code", "string", "sic_code"),
        _f("accounttype", "Type", "picklist", "account_type"),
        _f("annual_revenue", "Annual Revenue", "currency", "annual_revenue"),
        _f("emailoptout", "Email Opt Out", "boolean", "email_opt_out"),
        _f("notify_owner", "Notify Owner", "boolean", const="0"),
        *_system(),
        _f("isconvertedfromlead", "Is Converted From Lead", "boolean", const="0", default="no"),
        *_tail(),
        _f("bill_street", "Billing Address", "text", "billing_address_street"),
        _f("ship_street", "Shipping Address", "text", "shipping_address_street"),
        _f("bill_city", "Billing City", "string", "billing_address_city"),
        _f("ship_city", "Shipping City", "string", "shipping_address_city"),
        _f("bill_state", "Billing State", "string", "billing_address_state"),
        _f("ship_state", "Shipping State", "string", "shipping_address_state"),
        _f("bill_code", "Billing Postal Code", "string", "billing_address_postalcode"),
        _f("ship_code", "Shipping Postal Code", "string", "shipping_address_postalcode"),
        _f("bill_country", "Billing Country", "string", "billing_address_country"),
        _f("ship_country", "Shipping Country", "string", "shipping_address_country"),
        _f("bill_pobox", "Billing PO Box"),
        _f("ship_pobox", "Shipping PO Box"),
        _f("description", "Description", "text", "description"),
    ],
    "Contacts": [
        _f("salutationtype", "Salutation", "picklist", "salutation"),
        _f("firstname", "First Name", "string", "first_name"),
        _f("contact_no", "Contact Id", editable=False, computed="CON{n}"),
        _f("phone", "Office Phone", "phone", "phone_work"),
        _f("lastname", "Last Name", "string", "last_name", mandatory=True),
        _f("mobile", "Mobile Phone", "phone", "phone_mobile"),
        _f("account_id", "Organization Name", "reference", "account_id", refers=("Accounts",)),
        _f("homephone", "Home Phone", "phone", "phone_home"),
        _f("leadsource", "Lead Source", "picklist", "lead_source"),
        _f("otherphone", "Other Phone", "phone"),
        _f("title", "Title", "string", "title"),
        _f("fax", "Fax", "phone"),
        _f("department", "Department", "string", "department"),
        _f("birthday", "Date of Birth", "date", "birthdate"),
        _f("email", "Email", "email", "email1"),
        _f("contact_id", "Reports To", "reference", refers=("Contacts",), editable=False),
        _f("assistant", "Assistant"),
        _f("secondaryemail", "Secondary Email", "email"),
        _f("assistantphone", "Assistant Phone", "phone"),
        _f("donotcall", "Do Not Call", "boolean", "do_not_call"),
        _f("emailoptout", "Email Opt Out", "boolean", const="0"),
        *_system(),
        _f("reference", "Reference", "boolean", const="0"),
        _f("notify_owner", "Notify Owner", "boolean", const="0"),
        _f("isconvertedfromlead", "Is Converted From Lead", "boolean", const="0", default="no"),
        *_tail(),
        _f("portal", "Portal User", "boolean", const="0"),
        # A Cloud encrypted (GDPR) field: masked in every answer, clear through ``decrypt``.
        _f("cf_national_id", "National ID", "encrypted", editable=False, computed="NI-{n}-7731"),
        _f("support_start_date", "Support Start Date", "date"),
        _f("support_end_date", "Support End Date", "date"),
        _f("cf_lawful_basis", "Lawful Basis", "multipicklist", "lawful_basis"),
        _f("mailingstreet", "Mailing Street", "text", "primary_address_street"),
        _f("otherstreet", "Other Street", "text"),
        _f("mailingcity", "Mailing City", "string", "primary_address_city"),
        _f("othercity", "Other City"),
        _f("mailingstate", "Mailing State", "string", "primary_address_state"),
        _f("otherstate", "Other State"),
        _f("mailingzip", "Mailing Postal Code", "string", "primary_address_postalcode"),
        _f("otherzip", "Other Postal Code"),
        _f("mailingcountry", "Mailing Country", "string", "primary_address_country"),
        _f("othercountry", "Other Country"),
        _f("mailingpobox", "Mailing PO Box"),
        _f("otherpobox", "Other PO Box"),
        _f("description", "Description", "text", "description"),
        _f("imagename", "Contact Image", "image", editable=False),
    ],
    "Leads": [
        _f("salutationtype", "Salutation", "picklist", "salutation"),
        _f("firstname", "First Name", "string", "first_name"),
        _f("lead_no", "Lead No", editable=False, computed="LEA{n}"),
        _f("phone", "Phone", "phone", "phone_work"),
        _f("lastname", "Last Name", "string", "last_name", mandatory=True),
        _f("mobile", "Mobile", "phone", "phone_mobile"),
        _f("company", "Company", "string", "account_name"),
        _f("fax", "Fax", "phone"),
        _f("designation", "Designation", "string", "title"),
        _f("email", "Email", "email", "email1"),
        _f("leadsource", "Lead Source", "picklist", "lead_source"),
        _f("website", "Website", "url", "website"),
        _f("industry", "Industry", "picklist"),
        _f("leadstatus", "Lead Status", "picklist", "status"),
        _f("annualrevenue", "Annual Revenue", "currency"),
        _f("rating", "Rating", "picklist"),
        _f("noofemployees", "No Of Employees", "integer"),
        _f("assigned_user_id", "Assigned To", "owner", "assigned_user_id", mandatory=True),
        _f("secondaryemail", "Secondary Email", "email"),
        *_system()[1:],
        _f("emailoptout", "Email Opt Out", "boolean", "do_not_call"),
        *_tail(),
        _f("lane", "Street", "text", "primary_address_street"),
        _f("code", "Postal Code", "string", "primary_address_postalcode"),
        _f("city", "City", "string", "primary_address_city"),
        _f("country", "Country", "string", "primary_address_country"),
        _f("state", "State", "string", "primary_address_state"),
        _f("pobox", "PO Box"),
        _f("description", "Description", "text", "description"),
    ],
    "Potentials": [
        _f("potentialname", "Opportunity Name", "string", "name", mandatory=True),
        _f("potential_no", "Opportunity No", editable=False, computed="POT{n}"),
        _f("amount", "Amount", "currency", "amount"),
        _f("related_to", "Organization Name", "reference", "account_id", refers=("Accounts",)),
        _f("closingdate", "Expected Close Date", "date", "date_closed", mandatory=True),
        _f("opportunity_type", "Type", "picklist", "opportunity_type"),
        _f("nextstep", "Next Step", "string", "next_step"),
        _f("leadsource", "Lead Source", "picklist", "lead_source"),
        _f("sales_stage", "Sales Stage", "picklist", "sales_stage", mandatory=True),
        _f("assigned_user_id", "Assigned To", "owner", "assigned_user_id", mandatory=True),
        _f("probability", "Probability", "double", "probability"),
        _f("campaignid", "Campaign Source", "reference", refers=("Campaigns",), editable=False),
        *_system()[1:],
        _f("description", "Description", "text", "description"),
        _f("forecast_amount", "Forecast Amount", "currency"),
        _f("isconvertedfromlead", "Is Converted From Lead", "boolean", const="0", default="no"),
        _f("contact_id", "Contact Name", "reference", refers=("Contacts",), editable=False),
        *_tail(),
    ],
    "HelpDesk": [
        _f("ticket_no", "Ticket No", editable=False, computed="TT{n}"),
        _f("assigned_user_id", "Assigned To", "owner", "assigned_user_id", mandatory=True),
        _f("parent_id", "Organization Name", "reference", "account_id", refers=("Accounts",)),
        _f("ticketpriorities", "Priority", "picklist", "priority", mandatory=True),
        _f("product_id", "Product Name", "reference", refers=("Products",), editable=False),
        _f("ticketseverities", "Severity", "picklist"),
        _f("ticketstatus", "Status", "picklist", "status", mandatory=True),
        _f("ticketcategories", "Category", "picklist", "type"),
        _f("hours", "Hours", "double"),
        _f("days", "Days", "double"),
        *_system()[1:3],
        _f("from_portal", "From Portal", "boolean", const="0"),
        _system()[3],
        _f("ticket_title", "Title", "string", "name", mandatory=True),
        _f("contact_id", "Contact Name", "reference", refers=("Contacts",), editable=False),
        *_tail(),
        _f("description", "Description", "text", "description"),
        _f("solution", "Solution", "text", "resolution"),
    ],
}
LABEL_FIELDS = {
    "Accounts": "accountname",
    "Contacts": "firstname,lastname",
    "Leads": "firstname,lastname",
    "Potentials": "potentialname",
    "HelpDesk": "ticket_title",
}
USER_FIELDS: list[tuple[str, str]] = [
    ("user_name", "user_name"), ("first_name", "first_name"), ("last_name", "last_name"),
    ("email1", "email1"), ("status", "status"), ("title", "title"),
    ("department", "department"), ("phone_work", "phone_work"),
]  # fmt: skip

#: Vtiger module → [(relation label, target module, store link name)].
RELATED: dict[str, list[tuple[str, str, str]]] = {
    "Accounts": [
        ("Contacts", "Contacts", "contacts"),
        ("Potentials", "Potentials", "opportunities"),
        ("HelpDesk", "HelpDesk", "cases"),
    ],
    "Contacts": [("Potentials", "Potentials", "opportunities")],
    "Potentials": [("Contacts", "Contacts", "contacts")],
    "Leads": [],
    "HelpDesk": [],
}

#: Picklist dependencies the demo defines: module → (source, target, {source: targets}).
DEPENDENCIES: dict[str, list[tuple[str, str, dict[str, list[str]]]]] = {
    "Potentials": [
        (
            "opportunity_type",
            "sales_stage",
            {
                "New Business": [
                    "Prospecting", "Qualification", "Needs Analysis", "Value Proposition",
                    "Closed Won", "Closed Lost",
                ],
                "Existing Business": [
                    "Perception Analysis", "Proposal/Price Quote", "Negotiation/Review",
                    "Closed Won", "Closed Lost",
                ],
            },
        )
    ]
}  # fmt: skip


#: Values of picklists the store has no options for (Vtiger's stock lists).
STATIC_PICKLISTS: dict[str, tuple[str, ...]] = {
    "rating": ("Acquired", "Active", "Market Failed", "Project Cancelled", "Shutdown"),
    "ticketseverities": ("Minor", "Major", "Feature", "Critical"),
    "industry": tuple(o.key for o in INDUSTRIES),
}


class VtError(Exception):
    """A handled failure: HTTP 200 with ``success:false`` (or the given status)."""

    def __init__(self, code: str | int, message: str, status: int = 200) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


class Crash(Exception):
    """A PHP fatal error: HTTP 500 with an empty body."""


def _denied(suffix: str = "") -> VtError:
    return VtError("ACCESS_DENIED", "Permission to perform the operation is denied" + suffix)


@dataclass(slots=True)
class Session:
    user_id: str
    last_used: float
    started: float = field(default_factory=time.time)


# -- VTQL ------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<dq>\"[^\"]*\")|(?P<num>-?\d+(?:\.\d+)?)"
    r"|(?P<op><=|>=|!=|<>|=|<|>|,|\(|\)|;|\*)|(?P<word>[A-Za-z_][\w.]*(?:\(\*\))?))"
)


@dataclass(slots=True)
class Tok:
    kind: str
    text: str


def _syntax(token: str, got: str, expected: str) -> VtError:
    return VtError(
        "QUERY_SYNTAX_ERROR",
        f"Syntax Error on line 1: token '{token}' Unexpected {got}, expected one of: {expected}",
    )


def tokenize(text: str) -> list[Tok]:
    out: list[Tok] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise _syntax(text[pos:].strip()[:10], "character", "VALUE")
        pos = m.end()
        kind = m.lastgroup or ""
        out.append(Tok(kind, m.group(kind)))
    return out


@dataclass(slots=True)
class Parsed:
    columns: list[str] | None  # None = *
    count: bool
    module: str
    where: list[list[tuple[str, str, Any]]]  # OR of ANDs of (field, op, value)
    order: list[str]
    desc: bool
    offset: int
    limit: int | None


class _Parser:
    def __init__(self, toks: list[Tok], *, semicolon: bool) -> None:
        self.toks = toks
        self.i = 0
        self.semicolon = semicolon

    def peek(self) -> Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> Tok:
        t = self.peek()
        if t is None:
            last = self.toks[-1].text if self.toks else ""
            raise _syntax(last, "End of Input(0)", "SEMICOLON")
        self.i += 1
        return t

    def word(self, t: Tok | None, w: str) -> bool:
        return t is not None and t.kind == "word" and t.text.lower() == w

    def parse(self) -> Parsed:
        t = self.take()
        if not self.word(t, "select"):
            raise _syntax(t.text, f"VALUE({t.text})", "SELECT")
        columns: list[str] | None = []
        count = False
        t = self.take()
        if t.text == "*":
            columns = None
        elif t.text.lower() == "count(*)":
            count = True
        else:
            assert columns is not None
            columns.append(t.text)
            while (p := self.peek()) is not None and p.text == ",":
                self.take()
                columns.append(self.take().text)
        t = self.take()
        if not self.word(t, "from"):
            raise _syntax(t.text, f"VALUE({t.text})", "FROM")
        module = self.take().text
        where: list[list[tuple[str, str, Any]]] = []
        order: list[str] = []
        desc = False
        offset, limit = 0, None
        t2 = self.peek()
        if self.word(t2, "where"):
            self.take()
            where = self.conditions()
        t2 = self.peek()
        if self.word(t2, "order"):
            self.take()
            if not self.word(self.take(), "by"):
                raise _syntax("order", "VALUE", "BY")
            order.append(self.take().text)
            while (p := self.peek()) is not None and p.text == ",":
                self.take()
                order.append(self.take().text)
            p = self.peek()
            if self.word(p, "asc") or self.word(p, "desc"):
                desc = self.take().text.lower() == "desc"
                p = self.peek()
                if p is not None and p.text == ",":
                    raise _syntax(",", "COMMA(,)", "SEMICOLON")
        t2 = self.peek()
        if self.word(t2, "limit"):
            self.take()
            a = self.take()
            if a.kind != "num":
                raise _syntax(a.text, f"VALUE({a.text})", "VALUE")
            p = self.peek()
            if p is not None and p.text == ",":
                self.take()
                b = self.take()
                offset, limit = int(a.text), int(b.text)
            else:
                limit = int(a.text)
        if self.semicolon:
            end = self.peek()
            if end is None:
                last = self.toks[-1].text
                raise _syntax(last, "End of Input(0)", "SEMICOLON")
            if end.text != ";":
                got = "COMMA(,)" if end.text == "," else f"VALUE({end.text})"
                raise _syntax(end.text, got, "SEMICOLON")
            self.take()
        rest = self.peek()
        if rest is not None:
            raise _syntax(rest.text, f"VALUE({rest.text})", "")
        return Parsed(columns, count, module, where, order, desc, offset, limit)

    def conditions(self) -> list[list[tuple[str, str, Any]]]:
        terms: list[list[tuple[str, str, Any]]] = [[self.condition()]]
        while True:
            p = self.peek()
            if self.word(p, "and"):
                self.take()
                terms[-1].append(self.condition())
            elif self.word(p, "or"):
                self.take()
                terms.append([self.condition()])
            else:
                return terms

    def value(self) -> Any:
        t = self.take()
        if t.kind == "str":
            return t.text[1:-1].replace("''", "'")
        if t.kind == "num":
            return t.text
        if t.kind == "dq":
            raise VtError("INTERNAL_SERVER_ERROR", "Unknown Error while processing request")
        raise _syntax(t.text, f"VALUE({t.text})", "VALUE")

    def condition(self) -> tuple[str, str, Any]:
        f = self.take()
        if f.text == "(":
            raise _syntax("(", "PARENOPEN(()", "COLUMNNAME")
        op = self.take()
        low = op.text.lower()
        if op.text == "<>":
            raise _syntax(">", "GT(>)", "VALUE")
        if low == "not":
            raise _syntax("not", "VALUE(not)", "EQ,LT,GT,LTE,GTE,NE,IN,LIKE")
        if low == "in":
            if self.take().text != "(":
                raise _syntax("in", "VALUE", "PARENOPEN")
            vals = [self.value()]
            while (p := self.take()).text == ",":
                vals.append(self.value())
            if p.text != ")":
                raise _syntax(p.text, "VALUE", "PARENCLOSE")
            return (f.text, "in", vals)
        if low == "like":
            return (f.text, "like", self.value())
        if op.text in ("=", "!=", "<", ">", "<=", ">="):
            return (f.text, op.text, self.value())
        raise _syntax(op.text, f"VALUE({op.text})", "EQ,LT,GT,LTE,GTE,NE,IN,LIKE")


def parse_vtql(text: str, *, semicolon: bool = True) -> Parsed:
    toks = tokenize(text)
    if not toks:
        raise _syntax("", "End of Input(0)", "SELECT")
    return _Parser(toks, semicolon=semicolon).parse()


_OPS: dict[str, StoreOp] = {
    "=": "eq",
    "!=": "neq",
    "<": "lt",
    ">": "gt",
    "<=": "lte",
    ">=": "gte",
    "like": "like",
}


class VtigerDemo:
    """The state of one demo Vtiger: sessions, challenges, the NxM id map, tags, picklists."""

    def __init__(self, store: Store, credentials: DemoCredentials, *, stock: bool = False) -> None:
        self.store = store
        self.credentials = credentials
        self.stock = stock
        self.sessions: dict[str, Session] = {}
        self.challenges: dict[str, tuple[str, float]] = {}
        self.lock = threading.RLock()
        self.db = sqlite3.connect(
            f"{store.path}.vtiger.sqlite", check_same_thread=False, isolation_level=None
        )
        self._init_db()

    # -- side tables: ids, tags, picklists --------------------------------------------------

    def _init_db(self) -> None:
        with self.lock:
            db = self.db
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS ids (crmid INTEGER PRIMARY KEY AUTOINCREMENT, "
                "module TEXT NOT NULL, uuid TEXT NOT NULL UNIQUE)"
            )
            db.execute(
                "CREATE TABLE IF NOT EXISTS users (num INTEGER PRIMARY KEY AUTOINCREMENT, "
                "uuid TEXT NOT NULL UNIQUE)"
            )
            db.execute(
                "CREATE TABLE IF NOT EXISTS tags (crmid INTEGER, tag TEXT, "
                "PRIMARY KEY (crmid, tag))"
            )
            db.execute(
                "CREATE TABLE IF NOT EXISTS picklists (module TEXT, field TEXT, pos INTEGER, "
                "value TEXT, PRIMARY KEY (module, field, value))"
            )
            if db.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 0:
                users = self.store.list("Users", order=[("date_entered", False)], fields=["id"])
                ids = sorted((u["id"] for u in users), key=lambda u: (u != "1", 0))
                db.executemany("INSERT INTO users (uuid) VALUES (?)", [(u,) for u in ids])
            if db.execute("SELECT COUNT(*) FROM ids").fetchone()[0] == 0:
                rows: list[tuple[str, str]] = []
                for vt, (sm, _, _, _) in MODULES.items():
                    for r in self.store.list(
                        sm, order=[("date_entered", False)], fields=["id"], include_deleted=True
                    ):
                        rows.append((vt, r["id"]))
                # One transaction: row-by-row autocommit made a fresh demo start take 15 s.
                db.execute("BEGIN")
                db.executemany("INSERT INTO ids (module, uuid) VALUES (?, ?)", rows)
                db.execute("COMMIT")

    def wsid(self, vt_module: str, uuid: str | None) -> str:
        if not uuid:
            return ""
        with self.lock:
            row = self.db.execute("SELECT crmid FROM ids WHERE uuid = ?", (uuid,)).fetchone()
            if row is None:
                cur = self.db.execute(
                    "INSERT INTO ids (module, uuid) VALUES (?, ?)", (vt_module, uuid)
                )
                n = cur.lastrowid
            else:
                n = row[0]
        return f"{MODULES[vt_module][1]}x{n}"

    def user_wsid(self, uuid: str | None) -> str:
        if not uuid:
            return ""
        with self.lock:
            row = self.db.execute("SELECT num FROM users WHERE uuid = ?", (uuid,)).fetchone()
            if row is None:
                n = self.db.execute("INSERT INTO users (uuid) VALUES (?)", (uuid,)).lastrowid
            else:
                n = row[0]
        return f"{USERS_PREFIX}x{n}"

    def resolve(self, wsid: str) -> tuple[str, str, int]:
        """``NxM`` → (Vtiger module, store uuid, record number); ACCESS_DENIED when unknown."""
        m = re.fullmatch(r"(\d+)x(\d+)", wsid or "")
        if not m:
            raise _denied(" for id")
        prefix, num = m.group(1), int(m.group(2))
        if prefix == USERS_PREFIX:
            with self.lock:
                row = self.db.execute("SELECT uuid FROM users WHERE num = ?", (num,)).fetchone()
            if row is None:
                raise _denied()
            return "Users", row[0], num
        vt = PREFIX_TO_VT.get(prefix)
        if vt is None:
            raise _denied(" for id")
        with self.lock:
            row = self.db.execute("SELECT module, uuid FROM ids WHERE crmid = ?", (num,)).fetchone()
        if row is None:
            raise _denied()
        if row[0] != vt:
            raise VtError("INVALID_ID_ATTRIBUTE", "Id specified is incorrect")
        return vt, row[1], num

    def number(self, uuid: str) -> int:
        with self.lock:
            row = self.db.execute("SELECT crmid FROM ids WHERE uuid = ?", (uuid,)).fetchone()
        return int(row[0]) if row else 0

    def tags_of(self, crmid: int) -> list[str]:
        with self.lock:
            return [
                r[0]
                for r in self.db.execute(
                    "SELECT tag FROM tags WHERE crmid = ? ORDER BY tag", (crmid,)
                ).fetchall()
            ]

    def picklist(self, vt: str, vf: VField) -> list[str]:
        with self.lock:
            rows = self.db.execute(
                "SELECT value FROM picklists WHERE module = ? AND field = ? ORDER BY pos",
                (vt, vf.name),
            ).fetchall()
            if rows:
                return [r[0] for r in rows]
            values = self._catalog_options(vt, vf)
            self.db.executemany(
                "INSERT OR IGNORE INTO picklists VALUES (?, ?, ?, ?)",
                [(vt, vf.name, i, v) for i, v in enumerate(values)],
            )
            return values

    def _catalog_options(self, vt: str, vf: VField) -> list[str]:
        if vf.store is None:
            return list(STATIC_PICKLISTS.get(vf.name, ()))
        fd = self.store.module(MODULES[vt][0]).field(vf.store)
        if fd is None or not fd.options:
            return list(STATIC_PICKLISTS.get(vf.name, ()))
        return [o.key for o in fd.options]

    # -- sessions -----------------------------------------------------------------------------

    def expire_tokens(self) -> None:
        with self.lock:
            self.sessions.clear()

    def user_by_name(self, name: str) -> dict[str, Any] | None:
        rows = self.store.list("Users", Cond("user_name", "eq", name))
        return rows[0] if rows else None

    def session_user(self, session: str | None) -> str:
        if not session:
            raise VtError("AUTHENTICATION_REQUIRED", "Authencation required")
        with self.lock:
            s = self.sessions.get(session)
            now = time.time()
            if s is None or now - s.last_used > SESSION_IDLE or now - s.started > 86400:
                self.sessions.pop(session, None)
                raise VtError("INVALID_SESSIONID", "Session Identifier provided is Invalid")
            s.last_used = now
            return s.user_id

    def basic_user(self, authorization: str | None) -> str:
        err = VtError("INVALID_USER_CREDENTIALS", "Invalid username or password", status=401)
        if not authorization or not authorization.lower().startswith("basic "):
            raise err
        try:
            user, _, key = base64.b64decode(authorization[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise err from None
        row = self.user_by_name(user)
        if row is None or user != self.credentials.username:
            raise err
        if not _secrets.compare_digest(key, self.credentials.api_key):
            raise err
        return str(row["id"])

    def getchallenge(self, p: dict[str, str]) -> Any:
        name = p.get("username")
        if not name:
            raise VtError("ACCESS_DENIED", "No username given")
        if self.user_by_name(name) is None:
            raise VtError("ACCESS_DENIED", "username does not exists")
        token = _secrets.token_hex(7)[:13]
        now = int(time.time())
        with self.lock:
            self.challenges[token] = (name, now + CHALLENGE_TTL)
        return {"token": token, "serverTime": now, "expireTime": now + CHALLENGE_TTL}

    def login(self, p: dict[str, str]) -> Any:
        name, key = p.get("username", ""), p.get("accessKey", "")
        if not key:
            raise VtError("INVALID_AUTH_TOKEN", "Specified token is invalid or expired")
        bad = VtError("INVALID_USER_CREDENTIALS", "Invalid username or password")
        with self.lock:
            live = {t: v for t, v in self.challenges.items() if v[1] > time.time()}
            self.challenges = live
            match = None
            for token, (uname, _) in live.items():
                if uname != name:
                    continue
                want = hashlib.md5(
                    (token + self.credentials.api_key).encode(), usedforsecurity=False
                ).hexdigest()
                if _secrets.compare_digest(want, key):
                    match = token
                    break
            if match is None or name != self.credentials.username:
                raise bad
            del self.challenges[match]  # single use
            user = self.user_by_name(name)
            assert user is not None
            session = _secrets.token_hex(12)[:21]
            self.sessions[session] = Session(str(user["id"]), time.time())
        return {
            **self.user_profile(user),
            "sessionName": session,
            "userId": self.user_wsid(str(user["id"])),
            "version": "0.22",
            "vtigerVersion": "8.2.0",
        }

    def user_profile(self, user: dict[str, Any]) -> dict[str, str]:
        return {
            "username": str(user.get("user_name") or ""),
            "first_name": str(user.get("first_name") or ""),
            "last_name": str(user.get("last_name") or ""),
            "email": str(user.get("email1") or ""),
            "time_zone": "UTC",
            "hour_format": "12",
            "date_format": "yyyy-mm-dd",
            "is_admin": "on" if user.get("is_admin") else "off",
            "call_duration": "5",
            "other_event_duration": "5",
        }

    def logout(self, session: str | None) -> Any:
        with self.lock:
            self.sessions.pop(session or "", None)
        return {"message": "successfull"}

    # -- metadata -------------------------------------------------------------------------------

    def listtypes(self, p: dict[str, str]) -> Any:
        wanted: list[str] | None = None
        if p.get("fieldTypeList") not in (None, "", "null"):
            try:
                raw = json.loads(p["fieldTypeList"])
            except ValueError:
                raw = [p["fieldTypeList"]]
            wanted = [str(x) for x in raw] if isinstance(raw, list) else [str(raw)]
        types: list[str] = []
        info: dict[str, Any] = {}
        for vt, (_, _, label, singular) in MODULES.items():
            if wanted is not None and not any(f.type in wanted for f in FIELDS[vt]):
                continue
            types.append(vt)
            info[vt] = {"isEntity": True, "label": label, "singular": singular}
        if wanted is None:
            types += ["Users", "Groups", "Currency"]
            info["Users"] = {"isEntity": True, "label": "Users", "singular": "User"}
            info["Groups"] = {"isEntity": False, "label": "Groups", "singular": "Groups"}
            info["Currency"] = {"isEntity": False, "label": "Currency", "singular": "Currency"}
        return {"types": types, "information": info}

    def _module_arg(self, name: str | None) -> str:
        if not name or name not in MODULES:
            raise _denied(f" for name : {name or ''}")
        return name

    def field_json(self, vt: str, vf: VField) -> dict[str, Any]:
        typ: dict[str, Any] = {"name": vf.type}
        if vf.type in ("picklist", "multipicklist"):
            values = self.picklist(vt, vf)
            typ = {
                "picklistValues": [{"label": v, "value": v} for v in values],
                "defaultValue": values[0] if values else "",
                "name": vf.type,
            }
        elif vf.type == "reference":
            typ = {"refersTo": list(vf.refers), "name": "reference"}
        elif vf.type == "date":
            typ["format"] = "yyyy-mm-dd"
        return {
            "name": vf.name,
            "label": vf.label,
            "mandatory": vf.mandatory,
            "type": typ,
            "isunique": vf.name in ("accountname",),
            "nullable": not vf.mandatory and vf.type not in ("datetime",),
            "editable": vf.editable,
            "default": vf.default,
        }

    def describe(self, p: dict[str, str]) -> Any:
        if p.get("elementType") == "Users":
            fields = [
                {"name": n, "label": n.replace("_", " ").title(), "mandatory": n == "last_name",
                 "type": {"name": "email" if n == "email1" else "string"}, "isunique": False,
                 "nullable": True, "editable": True, "default": ""}
                for n, _ in USER_FIELDS
            ]  # fmt: skip
            fields.append(
                {"name": "is_admin", "label": "Admin", "mandatory": False,
                 "type": {"name": "boolean"}, "isunique": False, "nullable": True,
                 "editable": True, "default": ""}
            )  # fmt: skip
            fields.append(self._id_field("id"))
            return {
                "label": "Users", "name": "Users", "createable": False, "updateable": False,
                "deleteable": False, "retrieveable": True, "fields": fields,
                "idPrefix": USERS_PREFIX, "isEntity": True, "allowDuplicates": False,
                "labelFields": "first_name,last_name",
            }  # fmt: skip
        vt = self._module_arg(p.get("elementType"))
        fields = [self.field_json(vt, vf) for vf in FIELDS[vt]]
        fields.append(self._id_field(f"{MODULES[vt][0].lower()}id"))
        return {
            "label": MODULES[vt][2],
            "name": vt,
            "createable": True,
            "updateable": True,
            "deleteable": True,
            "retrieveable": True,
            "fields": fields,
            "idPrefix": MODULES[vt][1],
            "isEntity": True,
            "allowDuplicates": vt != "Accounts",
            "labelFields": LABEL_FIELDS[vt],
        }

    @staticmethod
    def _id_field(label: str) -> dict[str, Any]:
        return {
            "name": "id", "label": label, "mandatory": False, "type": {"name": "autogenerated"},
            "editable": False, "nullable": False, "default": "",
        }  # fmt: skip

    def relatedtypes(self, p: dict[str, str]) -> Any:
        vt = self._module_arg(p.get("elementType"))
        rels = RELATED[vt]
        return {
            "types": [t for _, t, _ in rels],
            "information": {
                label: {"name": t, "label": label, "isEntity": "1"} for label, t, _ in rels
            },
        }

    # -- records: store row <-> wire ------------------------------------------------------------

    def to_wire(
        self, vt: str, row: dict[str, Any], columns: list[str] | None = None
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        wsid = self.wsid(vt, row["id"])
        n = int(wsid.split("x")[1])
        for vf in FIELDS[vt]:
            if columns is not None and vf.name not in columns:
                continue
            out[vf.name] = self._wire_value(vf, row, n)
        out["id"] = wsid
        return out

    def _wire_value(self, vf: VField, row: dict[str, Any], n: int) -> str:
        if vf.computed == "tags":
            return ",".join(self.tags_of(n))
        if vf.computed:
            text = vf.computed.format(n=n)
            return mask(text) if vf.type == "encrypted" else text
        if vf.store is None:
            return vf.const
        value = row.get(vf.store)
        if value is None or value == "":
            return ""
        t = vf.type
        if t == "owner" or (t == "reference" and vf.refers == ("Users",)):
            return self.user_wsid(str(value))
        if t == "reference":
            return self.wsid(vf.refers[0], str(value))
        if t == "boolean":
            return "1" if value else "0"
        if t == "currency":
            num = _number(value)
            return "" if num is None else f"{num:.8f}"
        if t == "double":
            num = _number(value)
            return "" if num is None else f"{num:.2f}"
        if t == "integer":
            num = _number(value)
            return "" if num is None else str(int(num))
        if t == "datetime":
            return format_datetime(value) if isinstance(value, datetime) else str(value)
        if t == "date":
            return value.isoformat() if isinstance(value, date) else str(value)[:10]
        if t == "multipicklist":
            return " |##| ".join(value) if isinstance(value, tuple | list) else str(value)
        return str(value)

    def _label(self, vt: str, rec: dict[str, Any]) -> str:
        return " ".join(str(rec.get(n)) for n in LABEL_FIELDS[vt].split(",") if rec.get(n)).strip()

    def full_record(self, vt: str, uuid: str) -> dict[str, Any]:
        row = self.store.get(MODULES[vt][0], uuid)
        if row is None:
            raise _denied()
        rec = self.to_wire(vt, row)
        rec["label"] = self._label(vt, rec)
        return rec

    def from_wire(
        self, vt: str, element: dict[str, Any], *, creating: bool, current: dict[str, Any] | None
    ) -> dict[str, Any]:
        """Wire values → store values, with Vtiger's thin validation."""
        out: dict[str, Any] = {}
        for vf in FIELDS[vt]:
            if vf.name not in element:
                continue
            if not vf.editable or vf.store is None or vf.computed:
                continue
            raw = element[vf.name]
            if isinstance(raw, list):  # a JSON array keeps only one value (cf_03)
                raw = raw[-1] if raw else ""
            text = "" if raw is None else str(raw) if not isinstance(raw, bool) else str(int(raw))
            out[vf.store] = self._store_value(vt, vf, text)
        for vf in FIELDS[vt]:
            if not vf.mandatory or vf.store is None:
                continue
            present = out.get(vf.store) if vf.store in out else None
            if vf.store not in out and not creating and current is not None:
                present = current.get(vf.store)
            if present in (None, ""):
                raise VtError("MANDATORY_FIELDS_MISSING", f"{vf.name} does not have a value")
        return out

    def _store_value(self, vt: str, vf: VField, text: str) -> Any:
        if text == "":
            return None
        t = vf.type
        if t == "owner":
            try:
                mod, uuid, _ = self.resolve(text)
            except VtError:
                mod, uuid = "", ""
            if mod != "Users":
                raise VtError("ACCESS_DENIED", "Cannot assign record to the given user")
            return uuid
        if t == "reference":
            try:
                mod, uuid, _ = self.resolve(text)
            except VtError as exc:
                if exc.code == "INVALID_ID_ATTRIBUTE":
                    raise VtError(
                        "REFERENCE_INVALID", f"Invalid reference specified for {vf.name}"
                    ) from None
                return None  # a missing record is dropped to empty
            if mod not in vf.refers:
                raise VtError("REFERENCE_INVALID", f"Invalid reference specified for {vf.name}")
            return uuid
        if t == "boolean":
            return text.lower() in ("1", "true", "on", "yes")
        if t in ("currency", "double"):
            num = _number(text)
            fd = self.store.module(MODULES[vt][0]).field(vf.store or "")
            if num is None:
                return None
            if fd is not None and fd.type.value == "int":
                return round(num)
            if fd is not None and fd.type.value == "text":
                return _plain(num)
            return num
        if t == "integer":
            num = _number(text)
            if num is None:
                return None
            fd = self.store.module(MODULES[vt][0]).field(vf.store or "")
            return str(int(num)) if fd is not None and fd.type.value == "text" else int(num)
        if t == "date":
            return text if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else None
        if t == "multipicklist":
            return tuple(p.strip() for p in text.split("|##|") if p.strip())
        return text

    # -- operations: records --------------------------------------------------------------------

    def retrieve(self, p: dict[str, str], user: str) -> Any:
        vt, uuid, _ = self.resolve(p.get("id", ""))
        if vt == "Users":
            return self.user_record(uuid)
        return self.full_record(vt, uuid)

    def user_record(self, uuid: str) -> dict[str, Any]:
        row = self.store.get("Users", uuid)
        if row is None:
            raise _denied()
        out = {vt: "" if row.get(s) is None else str(row.get(s)) for vt, s in USER_FIELDS}
        out["is_admin"] = "on" if row.get("is_admin") else "off"
        out["id"] = self.user_wsid(uuid)
        return out

    def _element(self, p: dict[str, str]) -> dict[str, Any]:
        try:
            el = json.loads(p.get("element") or "")
        except ValueError:
            return {}
        return el if isinstance(el, dict) else {}

    def _duplicate_check(self, vt: str, values: dict[str, Any], uuid: str | None) -> None:
        if vt != "Accounts" or not values.get("name"):
            return
        for r in self.store.list("Accounts", Cond("name", "eq", values["name"]), fields=["id"]):
            if r["id"] != uuid:
                raise VtError(0, "Duplicate(s) detected!")

    def create(self, p: dict[str, str], user: str) -> Any:
        vt = p.get("elementType") or ""
        if vt not in MODULES:
            raise _denied(" for id" if vt == "Users" else "")
        values = self.from_wire(vt, self._element(p), creating=True, current=None)
        self._duplicate_check(vt, values, None)
        row = self.store.insert(MODULES[vt][0], values, user_id=user)
        self.wsid(vt, row["id"])
        return self.full_record(vt, row["id"])

    def revise(self, p: dict[str, str], user: str, *, full: bool = False) -> Any:
        el = self._element(p)
        vt, uuid, _ = self.resolve(str(el.get("id") or ""))
        if vt == "Users":
            raise _denied()
        current = self.store.get(MODULES[vt][0], uuid)
        if current is None:
            raise _denied()
        values = self.from_wire(vt, el, creating=full, current=current)
        self._duplicate_check(vt, values, uuid)
        if values:
            self.store.update(MODULES[vt][0], uuid, values, user_id=user)
        return self.full_record(vt, uuid)

    def delete(self, p: dict[str, str], user: str) -> Any:
        vt, uuid, _ = self.resolve(p.get("id", ""))
        if vt == "Users" or not self.store.delete(MODULES[vt][0], uuid):
            raise _denied()
        return {"status": "successful"}

    # -- query ------------------------------------------------------------------------------------

    def _vfield(self, vt: str, name: str) -> VField | None:
        return next((f for f in FIELDS[vt] if f.name == name), None)

    def _store_cond(self, vt: str, field_name: str, op: str, value: Any) -> Cond | Where:
        true, false = Cond("id", "not_null"), Cond("id", "null")
        if field_name == "id":
            ids = value if isinstance(value, list) else [value]
            uuids = []
            for v in ids:
                try:
                    mod, uuid, _ = self.resolve(str(v))
                except VtError as exc:
                    if exc.code == "INVALID_ID_ATTRIBUTE" or not re.fullmatch(r"\d+x\d+", str(v)):
                        raise VtError("INVALID_ID_ATTRIBUTE", "Id specified is incorrect") from None
                    continue
                if mod == vt:
                    uuids.append(uuid)
            if op in ("=", "in"):
                return Cond("id", "in", uuids) if uuids else false
            return Cond("id", "not_in", uuids) if uuids else true
        vf = self._vfield(vt, field_name)
        if vf is None:
            raise VtError("ACCESS_DENIED", f"Permission to access {field_name} attribute denied.")
        values = value if isinstance(value, list) else [value]
        if any(v == "" for v in values) and op != "like":
            raise VtError("INTERNAL_SERVER_ERROR", "Unknown Error while processing request")
        if vf.store is None or vf.computed:
            const = vf.const if vf.store is None and not vf.computed else None
            if const is None:
                return false
            hit = _compare(const, op, values)
            return true if hit else false
        conv: list[Any] = []
        for v in values:
            s = str(v)
            if vf.type in ("owner", "reference"):
                if not re.fullmatch(r"\d+x\d+", s):
                    raise VtError("INVALID_ID_ATTRIBUTE", "Id specified is incorrect")
                try:
                    _, uuid, _ = self.resolve(s)
                except VtError:
                    uuid = ""
                conv.append(uuid)
            elif vf.type == "boolean":
                conv.append(s.lower() in ("1", "true", "yes", "on"))
            elif vf.type in ("currency", "double", "integer") and op != "like":
                num = _number(s)
                fd = self.store.module(MODULES[vt][0]).field(vf.store)
                if fd is not None and fd.type.value == "text":
                    conv.append(s)
                else:
                    conv.append(num if num is not None else s)
            elif vf.type == "multipicklist" and op == "like":
                conv.append(s.replace(" |##| ", "%"))
            else:
                conv.append(s)
        if op == "in":
            return Cond(vf.store, "in", conv)
        return Cond(vf.store, _OPS[op], conv[0])

    def _filter(self, vt: str, where: list[list[tuple[str, str, Any]]]) -> Cond | Where | None:
        if not where:
            return None
        ors: list[Cond | Where] = []
        for term in where:
            ands = [self._store_cond(vt, f, op, v) for f, op, v in term]
            ors.append(ands[0] if len(ands) == 1 else Where("and", tuple(ands)))
        return ors[0] if len(ors) == 1 else Where("or", tuple(ors))

    def _check_columns(self, vt: str, names: list[str]) -> None:
        for n in names:
            if n != "id" and self._vfield(vt, n) is None:
                raise VtError("ACCESS_DENIED", f"Permission to access '.{n}.' attribute denied.")

    def _order(self, vt: str, q: Parsed) -> list[tuple[str, bool]] | None:
        order: list[tuple[str, bool]] = []
        for i, name in enumerate(q.order):
            desc = q.desc and i == len(q.order) - 1
            if name == "id":
                order.append(("date_entered", desc))
                continue
            vf = self._vfield(vt, name)
            if vf is None:
                return None  # Vtiger answers [] for an unknown sort column
            if vf.store is not None and not vf.computed:
                order.append((vf.store, desc))
        return order

    def query(self, p: dict[str, str], user: str) -> Any:
        text = p.get("query")
        if not text:
            raise _denied(" for query")
        q = parse_vtql(text)
        if q.module == "Users":
            return self._users_query(q)
        vt = self._module_arg(q.module)
        self._check_columns(vt, q.columns or [])
        flt = self._filter(vt, q.where)
        sm = MODULES[vt][0]
        if q.count:
            return [{"count": str(self.store.count(sm, flt))}]
        order = self._order(vt, q)
        if order is None:
            return []
        limit = MAX_ROWS if q.limit is None else min(q.limit, MAX_ROWS)
        rows = self.store.list(sm, flt, order, limit, q.offset)
        return [self.to_wire(vt, r, q.columns) for r in rows]

    def _users_query(self, q: Parsed) -> Any:
        """Users answer queries like any module: columns (plus ``id``), ``where`` on their
        fields or ids (``id in ('19x1','19x5')``, how clients name owners), ``count(*)``."""
        known = {n for n, _ in USER_FIELDS} | {"is_admin", "id"}
        for n in q.columns or []:
            if n not in known:
                raise VtError("ACCESS_DENIED", f"Permission to access '.{n}.' attribute denied.")
        rows = self.store.list("Users", order=[("date_entered", False)])
        records = [self.user_record(r["id"]) for r in rows]

        def hit(rec: dict[str, Any], name: str, op: str, value: Any) -> bool:
            if name not in known:
                raise VtError("ACCESS_DENIED", f"Permission to access {name} attribute denied.")
            values = value if isinstance(value, list) else [value]
            if name == "id" and any(not re.fullmatch(r"\d+x\d+", str(v)) for v in values):
                raise VtError("INVALID_ID_ATTRIBUTE", "Id specified is incorrect")
            if any(v == "" for v in values) and op != "like":
                raise VtError("INTERNAL_SERVER_ERROR", "Unknown Error while processing request")
            return _compare(str(rec.get(name, "")), op, values)

        if q.where:
            records = [r for r in records if any(all(hit(r, *c) for c in term) for term in q.where)]
        if q.count:
            return [{"count": str(len(records))}]
        if q.columns:
            records = [
                {**{c: r.get(c, "") for c in q.columns if c != "id"}, "id": r["id"]}
                for r in records
            ]
        limit = MAX_ROWS if q.limit is None else min(q.limit, MAX_ROWS)
        return records[q.offset : q.offset + limit]

    # -- relations ------------------------------------------------------------------------------

    def _relation(self, vt: str, label: str | None) -> tuple[str, str]:
        for lab, target, link in RELATED.get(vt, []):
            if lab == label:
                return target, link
        raise VtError("UNKOWN_ENTITY", "Relation specified is incorrect")

    def retrieve_related(self, p: dict[str, str], user: str) -> Any:
        vt, uuid, _ = self.resolve(p.get("id", ""))
        if vt == "Users":
            raise _denied()
        target, link = self._relation(vt, p.get("relatedLabel"))
        if p.get("relatedType") and p.get("relatedType") != target:
            raise VtError("UNKOWN_ENTITY", "Relation specified is incorrect")
        try:
            rows = self.store.related(MODULES[vt][0], uuid, link, limit=MAX_ROWS)
        except RecordNotFound:
            raise _denied() from None
        return [self.to_wire(target, r) for r in rows]

    def query_related(self, p: dict[str, str], user: str) -> Any:
        vt, uuid, _ = self.resolve(p.get("id", ""))
        target, link = self._relation(vt, p.get("relatedLabel"))
        text = p.get("query") or ""
        # The real server splits on the literal upper-case WHERE and re-adds its own clause.
        if " WHERE " not in text:
            raise _syntax("WHERE", "WHERE(WHERE)", "SEMICOLON")
        if text.rstrip().endswith(";"):
            raise _syntax(";", "SEMICOLON(;)", "")
        q = parse_vtql(text.replace(" WHERE ", " where ", 1), semicolon=False)
        if q.module != target:
            raise VtError("UNKOWN_ENTITY", "Relation specified is incorrect")
        self._check_columns(target, q.columns or [])
        flt = self._filter(target, q.where)
        order = self._order(target, q)
        if order is None:
            return []
        limit = MAX_ROWS if q.limit is None else min(q.limit, MAX_ROWS)
        try:
            rows = self.store.related(MODULES[vt][0], uuid, link, flt, order, limit, q.offset)
        except RecordNotFound:
            raise _denied() from None
        return [self.to_wire(target, r, q.columns) for r in rows]

    def add_related(self, p: dict[str, str], user: str, *, remove: bool = False) -> Any:
        src = p.get("sourceRecordId", "")
        dst = p.get("relatedRecordId", "")
        try:
            vt, uuid, _ = self.resolve(src)
            other_vt, other, _ = self.resolve(dst)
        except VtError:
            raise VtError(
                "INTERNAL_SERVER_ERROR", "Unknown Error while processing request"
            ) from None
        label = p.get("relationIdLabel")
        for lab, target, link in RELATED.get(vt, []):
            if target == other_vt and (label in (None, "", lab) or remove):
                try:
                    if remove:
                        self.store.unlink(MODULES[vt][0], uuid, link, other)
                    else:
                        self.store.link(MODULES[vt][0], uuid, link, other)
                except RecordNotFound:
                    raise VtError(
                        "INTERNAL_SERVER_ERROR", "Unknown Error while processing request"
                    ) from None
                break
        if remove:
            return {"status": "successful"}
        return {"message": "successfull"}

    # -- sync, convertlead, tags, picklists, misc ------------------------------------------------

    def sync(self, p: dict[str, str], user: str) -> Any:
        raw = p.get("modifiedTime", "")
        vt = p.get("elementType")
        if not raw or raw == "0" or not raw.isdigit() or not vt:
            raise Crash
        if vt not in MODULES:
            raise _denied()
        sync_type = p.get("syncType") or "user"
        urow = self.store.get("Users", user)
        if sync_type == "application" and not (urow and urow.get("is_admin")):
            raise VtError("ACCESS_DENIED", "Only admin users can perform application sync")
        since = format_datetime(datetime.fromtimestamp(int(raw), UTC))
        flt: Cond | Where = Cond("date_modified", "gt", since)
        if sync_type != "application":
            flt = Where("and", (flt, Cond("assigned_user_id", "eq", user)))
        sm = MODULES[vt][0]
        rows = self.store.list(
            sm, flt, [("date_modified", False)], SYNC_PAGE + 1, include_deleted=True
        )
        more = len(rows) > SYNC_PAGE
        rows = rows[:SYNC_PAGE]
        if more and rows:
            last = rows[-1]["date_modified"]
            extra = self.store.list(
                sm,
                Where("and", (flt, Cond("date_modified", "eq", format_datetime(last)))),
                include_deleted=True,
            )
            seen = {r["id"] for r in rows}
            rows += [r for r in extra if r["id"] not in seen]
            later = self.store.count(
                sm,
                Where("and", (flt, Cond("date_modified", "gt", format_datetime(last)))),
                include_deleted=True,
            )
            more = later > 0
        updated = [self.to_wire(vt, r) for r in rows if not r["deleted"]]
        deleted = [self.wsid(vt, r["id"]) for r in rows if r["deleted"]]
        last_time = int(rows[-1]["date_modified"].timestamp()) if rows else int(raw)
        return {"updated": updated, "deleted": deleted, "more": more, "lastModifiedTime": last_time}

    def convertlead(self, p: dict[str, str], user: str) -> Any:
        el = self._element(p)
        lead_ws = el.get("leadId")
        if isinstance(lead_ws, list):
            lead_ws = lead_ws[0] if lead_ws else ""
        vt, lead_uuid, _ = self.resolve(str(lead_ws or ""))
        if vt != "Leads":
            raise VtError("INVALID_ID_ATTRIBUTE", "Id specified is incorrect")
        lead = self.store.get("Leads", lead_uuid)
        if lead is None:
            raise _denied()
        if lead.get("status") == "Converted":
            raise VtError("LEAD_ALREADY_CONVERTED", "Lead is already converted")
        entities = el.get("entities") if isinstance(el.get("entities"), dict) else {}
        owner = str(el.get("assignedTo") or self.user_wsid(user))
        result: dict[str, str] = {}
        carry = {
            "Accounts": {"accountname": lead.get("account_name") or ""},
            "Contacts": {
                "firstname": lead.get("first_name") or "",
                "lastname": lead.get("last_name") or "",
                "email": lead.get("email1") or "",
            },
            "Potentials": {"potentialname": lead.get("account_name") or lead.get("name") or ""},
        }
        for mod in ("Accounts", "Contacts", "Potentials"):
            spec = entities.get(mod) if isinstance(entities, dict) else None
            if not isinstance(spec, dict) or not spec.get("create"):
                continue
            element = {**carry[mod], "assigned_user_id": owner}
            element.update({k: v for k, v in spec.items() if k not in ("create", "name")})
            if mod == "Contacts" and "Accounts" in result:
                element["account_id"] = result["Accounts"]
            if mod == "Potentials" and "Accounts" in result:
                element["related_to"] = result["Accounts"]
            values = self.from_wire(mod, element, creating=True, current=None)
            if mod == "Accounts":
                self._duplicate_check(mod, values, None)
            row = self.store.insert(MODULES[mod][0], values, user_id=user)
            result[mod] = self.wsid(mod, row["id"])
            if mod == "Potentials" and "Contacts" in result:
                _, cuuid, _ = self.resolve(result["Contacts"])
                self.store.link("Opportunities", row["id"], "contacts", cuuid)
        self.store.update("Leads", lead_uuid, {"status": "Converted"}, user_id=user)
        return result

    def tags_add(self, p: dict[str, str], user: str) -> Any:
        _, _, n = self.resolve(p.get("id", ""))
        tags = _json_list(p.get("tags"))
        with self.lock:
            self.db.executemany(
                "INSERT OR IGNORE INTO tags VALUES (?, ?)", [(n, t) for t in tags if t]
            )
        return {"message": "tags added"}

    def tags_retrieve(self, p: dict[str, str], user: str) -> Any:
        _, _, n = self.resolve(p.get("id", ""))
        return {"tags": self.tags_of(n)}

    def tag_delete(self, p: dict[str, str], user: str) -> Any:
        _, _, n = self.resolve(p.get("id", ""))
        with self.lock:
            if (p.get("delete_all") or "").lower() in ("1", "true"):
                self.db.execute("DELETE FROM tags WHERE crmid = ?", (n,))
            else:
                self.db.executemany(
                    "DELETE FROM tags WHERE crmid = ? AND tag = ?",
                    [(n, t) for t in _json_list(p.get("tags"))],
                )
        return {"message": "tags deleted"}

    def _picklist_target(self, p: dict[str, str], user: str) -> tuple[str, VField, dict[str, Any]]:
        urow = self.store.get("Users", user)
        if not (urow and urow.get("is_admin")):
            raise _denied()
        vt = self._module_arg(p.get("elementType"))
        el = self._element(p)
        vf = self._vfield(vt, str(el.get("fieldname") or ""))
        if vf is None or vf.type not in ("picklist", "multipicklist"):
            raise VtError("ACCESS_DENIED", "Invalid picklist field")
        return vt, vf, el

    def add_picklist(self, p: dict[str, str], user: str) -> Any:
        vt, vf, el = self._picklist_target(p, user)
        values = self.picklist(vt, vf)
        new = [str(v) for v in _as_list(el.get("values")) if str(v) and str(v) not in values]
        with self.lock:
            self.db.executemany(
                "INSERT INTO picklists VALUES (?, ?, ?, ?)",
                [(vt, vf.name, len(values) + i, v) for i, v in enumerate(new)],
            )
        return {"success": True, "result": {f"id{i}": len(values) + i + 1 for i in range(len(new))}}

    def edit_picklist(self, p: dict[str, str], user: str) -> Any:
        vt, vf, el = self._picklist_target(p, user)
        old, new = str(el.get("current_value") or ""), str(el.get("new_value") or "")
        if old not in self.picklist(vt, vf) or not new:
            raise VtError("ACCESS_DENIED", "Invalid picklist value")
        with self.lock:
            self.db.execute(
                "UPDATE picklists SET value = ? WHERE module = ? AND field = ? AND value = ?",
                (new, vt, vf.name, old),
            )
        self._replace_values(vt, vf, [old], new, user)
        return {"success": True, "result": ["success", True]}

    def delete_picklist(self, p: dict[str, str], user: str) -> Any:
        vt, vf, el = self._picklist_target(p, user)
        values = self.picklist(vt, vf)
        gone = [str(v) for v in _as_list(el.get("delete_values"))]
        repl = str(el.get("replace_with") or "")
        if not repl or repl not in values or repl in gone:
            raise VtError("ACCESS_DENIED", "Replacement value is required")
        with self.lock:
            self.db.executemany(
                "DELETE FROM picklists WHERE module = ? AND field = ? AND value = ?",
                [(vt, vf.name, v) for v in gone],
            )
        self._replace_values(vt, vf, gone, repl, user)
        return {"success": True, "result": ["success", True]}

    def _replace_values(self, vt: str, vf: VField, old: list[str], new: str, user: str) -> None:
        if vf.store is None or vf.type != "picklist":
            return
        sm = MODULES[vt][0]
        for r in self.store.list(sm, Cond(vf.store, "in", old), fields=["id"]):
            try:
                self.store.update(sm, r["id"], {vf.store: new}, user_id=user)
            except StoreError:
                continue

    def picklist_dependency(self, p: dict[str, str], user: str) -> Any:
        vt = self._module_arg(p.get("module"))
        src, dst = p.get("sourcefield") or "", p.get("targetfield") or ""
        for name in (src, dst):
            if self._vfield(vt, name) is None:
                raise VtError("ACCESS_DENIED", f"Permission to access {name} attribute denied.")
        mapping: list[dict[str, Any]] = []
        for s, d, table in DEPENDENCIES.get(vt, []):
            if (s, d) == (src, dst):
                mapping = [{"sourcevalue": k, "targetvalues": v} for k, v in table.items()]
        return {"sourcefield": src, "targetfield": dst, "valuemapping": mapping}

    def get_account_hierarchy(self, p: dict[str, str], user: str) -> Any:
        vt, uuid, _ = self.resolve(p.get("id", ""))
        if vt != "Accounts":
            raise VtError("INVALID_ID_ATTRIBUTE", "Id specified is incorrect")
        chain = [uuid]
        seen = {uuid}
        while True:
            row = self.store.get("Accounts", chain[0], fields=["parent_id"])
            parent = row.get("parent_id") if row else None
            if not parent or parent in seen:
                break
            chain.insert(0, parent)
            seen.add(parent)
        out: list[dict[str, Any]] = []

        def walk(node: str, level: int) -> None:
            row = self.store.get("Accounts", node, fields=["name"])
            if row is None:
                return
            out.append({
                "id": self.wsid("Accounts", node), "name": row.get("name") or "",
                "label": "Org" if level else "Parent Org", "level": level,
                "current": node == uuid,
            })  # fmt: skip
            kids = self.store.list(
                "Accounts", Cond("parent_id", "eq", node), [("name", False)], 50, fields=["id"]
            )
            for kid in kids:
                if kid["id"] not in seen or kid["id"] == uuid:
                    seen.add(kid["id"])
                    walk(kid["id"], level + 1)

        walk(chain[0], 0)
        return out

    def lookup(self, p: dict[str, str], user: str) -> Any:
        kind, value = p.get("type"), p.get("value") or ""
        if kind not in ("phone", "email") or not value:
            raise VtError("ACCESS_DENIED", "Invalid lookup parameters")
        search_in: dict[str, Any] = {}
        if p.get("searchIn"):
            try:
                raw = json.loads(p["searchIn"])
            except ValueError:
                raw = {}
            search_in = raw if isinstance(raw, dict) else {}
        out: list[dict[str, Any]] = []
        for vt in MODULES:
            if search_in and vt not in search_in:
                continue
            names = search_in.get(vt) or []
            fields = [
                f for f in FIELDS[vt]
                if f.type == kind and f.store and (not names or f.name in names)
            ]  # fmt: skip
            if not fields:
                continue
            flt = Where("or", tuple(Cond(f.store or "", "eq", value) for f in fields))
            for r in self.store.list(MODULES[vt][0], flt, limit=MAX_ROWS):
                out.append(self.to_wire(vt, r))
        return out

    def files_retrieve(self, p: dict[str, str], user: str) -> Any:
        # The demo store keeps no attachments: every id is a missing one, as Vtiger says it.
        raise _denied()

    def decrypt(self, p: dict[str, str], user: str) -> Any:
        vt, _uuid, _ = self.resolve(p.get("id", ""))
        rec = self.retrieve({"id": p.get("id", "")}, user)
        name = p.get("fieldname") or ""
        if name not in rec:
            raise VtError("ACCESS_DENIED", f"Permission to access {name} attribute denied.")
        vf = self._vfield(vt, name)
        if vf is not None and vf.type == "encrypted":
            return vf.computed.format(n=int(str(rec["id"]).split("x")[1]))
        return rec[name]

    def reopen(self, p: dict[str, str], user: str) -> Any:
        vt, uuid, _ = self.resolve(p.get("id", ""))
        if vt != "HelpDesk":
            raise VtError("ACCESS_DENIED", "Record cannot be reopened")
        self.store.update("Cases", uuid, {"status": "Open_New", "state": "Open"}, user_id=user)
        return {"message": "Record reopened successfully."}

    def edition_limits(self, p: dict[str, str], user: str) -> Any:
        name = p.get("serviceName") or ""
        if name not in EDITION_LIMITS:
            raise VtError("ACCESS_DENIED", "Invalid service name")
        return {"serviceName": name, "limit": EDITION_LIMITS[name]}

    def me(self, p: dict[str, str], user: str) -> Any:
        row = self.store.get("Users", user)
        if row is None:
            raise _denied()
        return {
            "id": self.user_wsid(user),
            "user_name": row.get("user_name") or "",
            "first_name": row.get("first_name") or "",
            "last_name": row.get("last_name") or "",
            "email1": row.get("email1") or "",
            "is_admin": "on" if row.get("is_admin") else "off",
        }

    # -- dispatch -------------------------------------------------------------------------------

    def handlers(self) -> dict[str, Callable[[dict[str, str], str], Any]]:
        return {
            "listtypes": lambda p, u: self.listtypes(p),
            "describe": lambda p, u: self.describe(p),
            "relatedtypes": lambda p, u: self.relatedtypes(p),
            "retrieve": self.retrieve,
            "create": self.create,
            "revise": self.revise,
            "update": lambda p, u: self.revise(p, u, full=True),
            "delete": self.delete,
            "query": self.query,
            "retrieve_related": self.retrieve_related,
            "query_related": self.query_related,
            "add_related": self.add_related,
            "delete_related": lambda p, u: self.add_related(p, u, remove=True),
            "sync": self.sync,
            "convertlead": self.convertlead,
            "tags_add": self.tags_add,
            "tags_retrieve": self.tags_retrieve,
            "tag_delete": self.tag_delete,
            "add_picklist": self.add_picklist,
            "edit_picklist": self.edit_picklist,
            "delete_picklist": self.delete_picklist,
            "picklist_dependency": self.picklist_dependency,
            "get_account_hierarchy": self.get_account_hierarchy,
            "lookup": self.lookup,
            "files_retrieve": self.files_retrieve,
            "decrypt": self.decrypt,
            "reopen": self.reopen,
            "editionLimits": self.edition_limits,
            "me": self.me,
        }

    def run(self, flavour: str, operation: str, params: dict[str, str], auth: str | None) -> Any:
        """One operation; raises VtError (handled failure) or Crash (HTTP 500, empty body)."""
        if flavour == "ws":
            if operation in CLOUD_ONLY or (self.stock and operation in STOCK_CRASH):
                raise Crash
            if operation == "getchallenge":
                return self.getchallenge(params)
            if operation == "login":
                return self.login(params)
            if operation == "extendsession":
                raise VtError("AUTHENTICATION_FAILURE", "Authencation Failed")
            user = self.session_user(params.get("sessionName"))
            if operation == "logout":
                return self.logout(params.get("sessionName"))
        else:
            if operation in ("getchallenge", "login", "logout", "extendsession"):
                raise Crash
            user = self.basic_user(auth)
        handler = self.handlers().get(operation)
        if handler is None:
            raise Crash
        return handler(params, user)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    s = str(value).strip().replace(",", "")
    mult = 1.0
    if s[-1:] in ("K", "M", "B"):
        mult = {"K": 1e3, "M": 1e6, "B": 1e9}[s[-1]]
        s = s[:-1]
    try:
        return float(s) * mult
    except ValueError:
        return None


def _plain(num: float) -> str:
    return str(int(num)) if num == int(num) else f"{num:.2f}"


def _compare(const: str, op: str, values: list[Any]) -> bool:
    v = str(values[0]) if values else ""
    if op == "in":
        return const in [str(x) for x in values]
    if op == "like":
        pat = "^" + re.escape(v).replace("%", ".*").replace("_", ".") + "$"
        return re.match(pat, const, re.IGNORECASE) is not None
    return {
        "=": const == v, "!=": const != v, "<": const < v, ">": const > v, "<=": const <= v,
        ">=": const >= v,
    }[op]  # fmt: skip


def _as_list(raw: Any) -> list[Any]:
    return raw if isinstance(raw, list) else [] if raw is None else [raw]


def _json_list(raw: str | None) -> list[str]:
    if not raw:
        return []
    try:
        val = json.loads(raw)
    except ValueError:
        return [raw]
    return [str(x) for x in _as_list(val)]


async def _form(request: Request) -> dict[str, str]:
    """A url-encoded form body (the only kind Vtiger reads)."""
    body = (await request.body()).decode("utf-8", "replace")
    return dict(parse_qsl(body, keep_blank_values=True))


def _envelope(result: Any) -> JSONResponse:
    return JSONResponse({"success": True, "result": result})


def _fault(err: VtError) -> JSONResponse:
    return JSONResponse(
        {"success": False, "error": {"message": err.message, "code": err.code}},
        status_code=err.status,
    )


def _crash() -> Response:
    return Response(b"", status_code=500, media_type="text/html; charset=UTF-8")


def create_app(store: Store, credentials: DemoCredentials, *, stock: bool = False) -> Starlette:
    """The demo Vtiger (both flavours) over ``store``; ``credentials.api_key`` is the admin's
    access key."""
    demo = VtigerDemo(store, credentials, stock=stock)

    async def answer(
        flavour: str, operation: str, params: dict[str, str], auth: str | None
    ) -> Response:
        try:
            result = await run_in_threadpool(demo.run, flavour, operation, params, auth)
        except VtError as err:
            return _fault(err)
        except Crash:
            return _crash()
        except StoreError:
            return _fault(
                VtError("INTERNAL_SERVER_ERROR", "Unknown Error while processing request")
            )
        return _envelope(result)

    async def webservice(request: Request) -> Response:
        query = dict(request.query_params)
        form: dict[str, str] = {}
        if request.method == "POST":
            ctype = request.headers.get("content-type", "")
            if "json" in ctype:
                return _crash()
            form = await _form(request)
        operation = query.get("operation") or form.get("operation")
        if not operation:
            return _crash()
        # GET operations read only the query string, POST ones only the form body.
        params = dict(form) if operation in POST_OPS else dict(query)
        if "sessionName" not in params:
            session = query.get("sessionName") or form.get("sessionName")
            if session:
                params["sessionName"] = session
        if operation in POST_OPS and request.method != "POST":
            params = {"sessionName": params.get("sessionName", "")} if params else {}
            if operation == "login":
                return _fault(
                    VtError("INVALID_AUTH_TOKEN", "Specified token is invalid or expired")
                )
        return await answer("ws", operation, params, None)

    async def rest(request: Request) -> Response:
        operation = request.path_params["operation"]
        params = dict(request.query_params)
        if request.method == "POST":
            if "json" in request.headers.get("content-type", ""):
                try:
                    body = await request.json()
                except ValueError:
                    body = {}
                params.update(
                    {k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()}
                    if isinstance(body, dict)
                    else {}
                )
            else:
                params.update(await _form(request))
        return await answer("rest", operation, params, request.headers.get("authorization"))

    app = Starlette(
        routes=[
            Route("/webservice.php", webservice, methods=["GET", "POST"]),
            Route("/restapi/v1/vtiger/default/{operation}", rest, methods=["GET", "POST"]),
        ]
    )
    app.state.demo = demo
    app.expire_tokens = demo.expire_tokens  # type: ignore[attr-defined]
    return app
