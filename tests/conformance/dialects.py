"""The per-dialect part of the conformance suite: which module, fields and link to use.

To plug a dialect in, add one :class:`DialectSpec` to :data:`DIALECTS`.  ``known_gaps``
maps a test name to the reason it fails for this dialect; the test then runs as a
strict xfail, so the day the gap closes the suite says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any

from crmdesk.core.records import Value


@dataclass(frozen=True)
class DialectSpec:
    name: str
    #: Sign-in methods to connect with (the first is the one most tests use).
    auths: tuple[str, ...] = ("password",)
    #: A module whose records the tests create, filter, sort and delete.
    module: str = "Contacts"
    #: Its text field used for markers, filters and sorting (filterable, sortable, writable).
    text_field: str = "last_name"
    #: Values every created record of ``module`` needs besides ``text_field``.
    required: dict[str, Value] = field(default_factory=dict)
    #: A filterable, sortable date field of ``module``.
    date_field: str = "birthdate"
    #: An optional text field that may be left unset (for EMPTY).
    optional_text_field: str = "description"
    #: Typed round trips: (module, values to create, values to change).
    round_trips: tuple[tuple[str, dict[str, Value], dict[str, Value]], ...] = ()
    #: The primary e-mail field of ``module``.
    email_field: str = "email1"
    #: A datetime field that the server sets on create (for datetime filters).
    created_field: str = "date_entered"
    #: (module, link name, target module) and the text field of each side, for link tests.
    link: tuple[str, str, str] = ("Accounts", "contacts", "Contacts")
    link_required: dict[str, dict[str, Value]] = field(default_factory=dict)
    #: The path (regex, prefix included) of a list request of ``module``, for fault injection.
    list_path: str = ""
    known_gaps: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


SUITECRM = DialectSpec(
    name="suitecrm",
    auths=("password", "client_credentials", "authorization_code"),
    module="Contacts",
    text_field="last_name",
    date_field="birthdate",
    optional_text_field="description",
    round_trips=(
        (
            "Contacts",
            {
                "last_name": "Ref & Co <b>Ü</b> \"quoted\" 'single'",
                "first_name": "Zoë",
                "do_not_call": True,
                "birthdate": date(1990, 5, 17),
                "lead_source": "Web Site",
                "lawful_basis": ("consent", "contract"),
                "description": "line one\nline two",
            },
            {
                "last_name": "<i>changed</i> & 'again'",
                "do_not_call": False,
                "birthdate": None,
                "lawful_basis": ("legitimate_interest",),
            },
        ),
        (
            "Opportunities",
            {
                "name": "Deal <b>&</b> 'co'",
                "amount": Decimal("12345.67"),
                "date_closed": date(2027, 1, 31),
                "sales_stage": "Prospecting",
                "probability": 10,
            },
            {"amount": Decimal("99.5"), "sales_stage": "Closed Won", "probability": 100},
        ),
    ),
    link=("Accounts", "contacts", "Contacts"),
    link_required={"Accounts": {"name": "Link test account"}, "Contacts": {}},
    list_path=r"/suitecrm/(legacy/)?Api/V8/module/Contacts$",
    known_gaps={
        "test_update_primary_email": (
            "SuiteCRM's API silently drops email1 changes on existing records; the adapter "
            "refuses them with a ValidationError instead of losing the edit"
        ),
        "test_a_listed_version_is_stale_after_a_colleague_saved_the_record": (
            "SuiteCRM's only version is date_modified, which its API truncates to the "
            "minute: a save in the same minute leaves it unchanged (the UI compares values "
            "instead, as the backend declares no optimistic locking)"
        ),
    },
)

DIALECTS: tuple[DialectSpec, ...] = (SUITECRM,)


ESPOCRM = DialectSpec(
    name="espocrm",
    auths=("password", "api_key", "hmac"),
    module="Contact",
    text_field="lastName",
    date_field="cBirthdate",
    optional_text_field="description",
    email_field="emailAddress",
    created_field="createdAt",
    round_trips=(
        (
            "Contact",
            {
                "lastName": "Ref & Co <b>Ü</b> \"quoted\" 'single'",
                "firstName": "Zoë",
                "salutationName": "Dr.",
                "doNotCall": True,
                "cBirthdate": date(1990, 5, 17),
                "description": "line one\nline two",
            },
            {"lastName": "<i>changed</i> & 'again'", "doNotCall": False, "cBirthdate": None},
        ),
        (
            "Opportunity",
            {
                "name": "Deal <b>&</b> 'co'",
                "amount": Decimal("12345.67"),
                "closeDate": date(2027, 1, 31),
                "stage": "Prospecting",
                "probability": 10,
            },
            {"amount": Decimal("99.5"), "stage": "Closed Won", "probability": 100},
        ),
    ),
    link=("Account", "contacts", "Contact"),
    link_required={"Account": {}, "Contact": {}},
    list_path=r"/espocrm/api/v1/Contact$",
)

DIALECTS = (*DIALECTS, ESPOCRM)


VTIGER = DialectSpec(
    name="vtiger",
    auths=("webservice", "rest"),
    module="Contacts",
    text_field="lastname",
    date_field="birthday",
    optional_text_field="description",
    email_field="email",
    created_field="createdtime",
    round_trips=(
        (
            "Contacts",
            {
                "lastname": "Ref & Co <b>Ü</b> \"quoted\" 'single'",
                "firstname": "Zoë",
                "donotcall": True,
                "birthday": date(1990, 5, 17),
                "leadsource": "Web Site",
                "cf_lawful_basis": ("consent", "contract"),
                "description": "line one\nline two",
            },
            {
                "lastname": "<i>changed</i> & 'again'",
                "donotcall": False,
                "birthday": None,
                "cf_lawful_basis": ("legitimate_interest",),
            },
        ),
        (
            "Potentials",
            {
                "potentialname": "Deal <b>&</b> 'co'",
                "amount": Decimal("12345.67"),
                "closingdate": date(2027, 1, 31),
                "sales_stage": "Prospecting",
                "probability": Decimal("10"),
            },
            {"amount": Decimal("99.5"), "sales_stage": "Closed Won", "probability": Decimal(100)},
        ),
    ),
    # Vtiger's relations are named by their label, as relatedtypes gives it.
    link=("Accounts", "Contacts", "Contacts"),
    link_required={"Accounts": {}, "Contacts": {}},
    list_path=r"/vtiger/(webservice\.php|restapi/v1/vtiger/default/query)$",
    known_gaps={
        "test_empty_matches_unset_values": (
            "VTQL cannot test for empty values: the real server fails on = '' "
            "(query_28 capture), so EMPTY / NOT_EMPTY are not offered"
        ),
    },
)

DIALECTS = (*DIALECTS, VTIGER)


SUGARCRM = DialectSpec(
    name="sugarcrm",
    auths=("password",),
    module="Contacts",
    text_field="last_name",
    date_field="birthdate",
    optional_text_field="description",
    email_field="email1",
    created_field="date_entered",
    round_trips=(
        (
            "Contacts",
            {
                "last_name": "Ref & Co <b>Ü</b> \"quoted\" 'single'",
                "first_name": "Zoë",
                "do_not_call": True,
                "birthdate": date(1990, 5, 17),
                "lead_source": "Web Site",
                "lawful_basis": ("consent", "contract"),
                "description": "line one\nline two",
            },
            {
                "last_name": "<i>changed</i> & 'again'",
                "do_not_call": False,
                "birthdate": None,
                "lawful_basis": ("legitimate_interest",),
            },
        ),
        (
            "Opportunities",
            {
                "name": "Deal <b>&</b> 'co'",
                "amount": Decimal("12345.67"),
                "date_closed": date(2027, 1, 31),
                "sales_stage": "Prospecting",
                "probability": 10,
            },
            {"amount": Decimal("99.5"), "sales_stage": "Closed Won", "probability": 100},
        ),
    ),
    link=("Accounts", "contacts", "Contacts"),
    link_required={"Accounts": {"name": "Link test account"}, "Contacts": {}},
    list_path=r"/sugarcrm/rest/v11_4/Contacts/filter$",
)

DIALECTS = (*DIALECTS, SUGARCRM)

# The same contract over the Cloud flavour (restapi/v1, HTTP Basic with the access key).
VTIGER_REST = replace(VTIGER, auths=("rest", "webservice"))

DIALECTS = (*DIALECTS, VTIGER_REST)
