"""The demo store's neutral catalog: modules, fields, options and links, as plain data.

Every dialect's wire app (SuiteCRM, SugarCRM, EspoCRM, Vtiger) is written over the same
store and maps these neutral names to its own.  Field names follow SuiteCRM/Sugar
(``name``, ``account_type``, ``billing_address_city``, ``date_entered`` …).

The catalog reuses the core's ``ModuleDef`` / ``FieldDef`` / ``LinkDef`` for what a CRM says
about itself, and adds :class:`StoreLink` for how a link is kept in SQLite.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from crmdesk.core.schema import Cardinality, FieldDef, FieldType, LinkDef, ModuleDef, Option

T = FieldType


def _opts(*pairs: str | tuple[str, str]) -> tuple[Option, ...]:
    out: list[Option] = []
    for p in pairs:
        key, label = (p, p) if isinstance(p, str) else p
        out.append(Option(key, label))
    return tuple(out)


ACCOUNT_TYPES = _opts(
    "Analyst", "Competitor", "Customer", "Integrator", "Investor", "Partner", "Press",
    "Prospect", "Reseller", "Other",
)  # fmt: skip
INDUSTRIES = _opts(
    "Apparel", "Banking", "Biotechnology", "Chemicals", "Communications", "Construction",
    "Consulting", "Education", "Electronics", "Energy", "Engineering", "Entertainment",
    "Environmental", "Finance", "Government", "Healthcare", "Hospitality", "Insurance",
    "Machinery", "Manufacturing", "Media", ("Not For Profit", "Not For Profit"), "Recreation",
    "Retail", "Shipping", "Technology", "Telecommunications", "Transportation", "Utilities",
    "Other",
)  # fmt: skip
SALUTATIONS = _opts("Mr.", "Ms.", "Mrs.", "Miss", "Dr.", "Prof.")
LEAD_SOURCES = _opts(
    ("Cold Call", "Cold Call"), ("Existing Customer", "Existing Customer"),
    ("Self Generated", "Self Generated"), "Employee", "Partner",
    ("Public Relations", "Public Relations"), ("Direct Mail", "Direct Mail"), "Conference",
    ("Trade Show", "Trade Show"), ("Web Site", "Web Site"), ("Word of mouth", "Word of mouth"),
    "Email", "Campaign", "Other",
)  # fmt: skip
LEAD_STATUSES = _opts(
    "New", "Assigned", ("In Process", "In Process"), "Converted", "Recycled", "Dead"
)
SALES_STAGES = _opts(
    "Prospecting", "Qualification", "Needs Analysis", "Value Proposition",
    ("Id. Decision Makers", "Identifying Decision Makers"), "Perception Analysis",
    "Proposal/Price Quote",
    ("Negotiation/Review", "Negotiation/Review"), ("Closed Won", "Closed Won"),
    ("Closed Lost", "Closed Lost"),
)  # fmt: skip
OPPORTUNITY_TYPES = _opts(
    ("Existing Business", "Existing Business"), ("New Business", "New Business")
)
CASE_STATUSES = _opts(
    ("Open_New", "New"), ("Open_Assigned", "Assigned"), ("Closed_Closed", "Closed"),
    ("Open_Pending Input", "Pending Input"), ("Closed_Rejected", "Rejected"),
    ("Closed_Duplicate", "Duplicate"),
)  # fmt: skip
CASE_PRIORITIES = _opts(("P1", "High"), ("P2", "Medium"), ("P3", "Low"))
CASE_TYPES = _opts("Administration", "Product", "User")
CASE_STATES = _opts("Open", "Closed")
USER_STATUSES = _opts("Active", "Inactive")
LAWFUL_BASES = _opts(
    ("consent", "Consent"), ("contract", "Contract"), ("legal_obligation", "Legal obligation"),
    ("protection_of_interest", "Protection of interest"), ("public_interest", "Public interest"),
    ("legitimate_interest", "Legitimate interest"), ("withdrawn", "Withdrawn"),
)  # fmt: skip


def F(
    name: str,
    label: str,
    type_: FieldType = T.TEXT,
    *,
    required: bool = False,
    read_only: bool = False,
    length: int | None = None,
    options: tuple[Option, ...] = (),
    relate: str | None = None,
    relate_name: str | None = None,
    visible: bool = True,
) -> FieldDef:
    if length is None and type_ in (T.TEXT, T.PHONE, T.EMAIL, T.URL, T.ENUM):
        length = 255 if type_ is not T.PHONE else 100
    return FieldDef(
        name=name,
        label=label,
        type=type_,
        required=required,
        read_only=read_only,
        length=length,
        options=options,
        relate_module=relate,
        relate_name_field=relate_name,
        visible=visible,
        native_type=type_.value,
    )


def _system() -> list[FieldDef]:
    return [
        F("id", "ID", T.ID, read_only=True, visible=False),
        F("date_entered", "Date Created", T.DATETIME, read_only=True),
        F("date_modified", "Date Modified", T.DATETIME, read_only=True),
        F("created_by", "Created By", T.RELATE, read_only=True, relate="Users",
          relate_name="created_by_name"),
        F("modified_user_id", "Modified By", T.RELATE, read_only=True, relate="Users",
          relate_name="modified_by_name"),
        F("assigned_user_id", "Assigned to", T.RELATE, relate="Users",
          relate_name="assigned_user_name"),
    ]  # fmt: skip


def _address(prefix: str, label: str) -> list[FieldDef]:
    return [
        F(f"{prefix}_street", f"{label} Street", length=150),
        F(f"{prefix}_city", f"{label} City", length=100),
        F(f"{prefix}_state", f"{label} State", length=100),
        F(f"{prefix}_postalcode", f"{label} Postal Code", length=20),
        F(f"{prefix}_country", f"{label} Country", length=255),
    ]


LinkKind = Literal["child_fk", "parent_fk", "m2m"]


@dataclass(frozen=True, slots=True)
class StoreLink:
    """How a link is stored.

    ``child_fk``: the target table's ``column`` holds our id (Account → its contacts).
    ``parent_fk``: our own ``column`` holds the target's id (Contact → its account).
    ``m2m``: the row pairs live in ``table`` (``column`` = our id, ``other_column`` = theirs).
    """

    module: str
    name: str
    target: str
    kind: LinkKind
    column: str
    table: str = ""
    other_column: str = ""


USERS = ModuleDef(
    name="Users",
    label="Users",
    name_field="name",
    fields=(
        F("id", "ID", T.ID, read_only=True, visible=False),
        F("user_name", "User Name", required=True, length=60),
        F("first_name", "First Name", length=30),
        F("last_name", "Last Name", required=True, length=30),
        F("name", "Full Name", read_only=True),
        F("status", "Status", T.ENUM, options=USER_STATUSES, length=100),
        F("is_admin", "Is Administrator", T.BOOL),
        F("title", "Title", length=50),
        F("department", "Department", length=50),
        F("phone_work", "Work Phone", T.PHONE),
        F("email1", "Email Address", T.EMAIL),
        F("date_entered", "Date Created", T.DATETIME, read_only=True),
        F("date_modified", "Date Modified", T.DATETIME, read_only=True),
    ),
    list_fields=("name", "user_name", "title", "department", "status", "email1"),
)

ACCOUNTS = ModuleDef(
    name="Accounts",
    label="Accounts",
    fields=(
        *_system(),
        F("name", "Name", required=True, length=150),
        F("account_type", "Type", T.ENUM, options=ACCOUNT_TYPES, length=50),
        F("industry", "Industry", T.ENUM, options=INDUSTRIES, length=50),
        F("annual_revenue", "Annual Revenue", length=100),
        F("employees", "Employees", length=10),
        F("rating", "Rating", length=100),
        F("ownership", "Ownership", length=100),
        F("ticker_symbol", "Ticker Symbol", length=10),
        F("sic_code", "SIC Code", length=10),
        F("phone_office", "Office Phone", T.PHONE),
        F("phone_fax", "Fax", T.PHONE),
        F("phone_alternate", "Alternate Phone", T.PHONE),
        F("website", "Website", T.URL),
        F("email1", "Email Address", T.EMAIL),
        F("email_opt_out", "Email Opt Out", T.BOOL),
        *_address("billing_address", "Billing"),
        *_address("shipping_address", "Shipping"),
        F("parent_id", "Member of", T.RELATE, relate="Accounts", relate_name="parent_name"),
        F("description", "Description", T.MULTILINE),
    ),
    links=(
        LinkDef("contacts", "Contacts", "Contacts", Cardinality.MANY, "accounts_contacts"),
        LinkDef(
            "opportunities",
            "Opportunities",
            "Opportunities",
            Cardinality.MANY,
            "accounts_opportunities",
        ),
        LinkDef("cases", "Cases", "Cases", Cardinality.MANY, "account_cases"),
        LinkDef("leads", "Leads", "Leads", Cardinality.MANY, "account_leads"),
        LinkDef("members", "Members", "Accounts", Cardinality.MANY, "member_accounts"),
        LinkDef("member_of", "Member of", "Accounts", Cardinality.ONE, "member_accounts"),
    ),
    list_fields=(
        "name",
        "billing_address_city",
        "billing_address_country",
        "phone_office",
        "account_type",
        "industry",
        "assigned_user_id",
        "date_entered",
    ),
)

CONTACTS = ModuleDef(
    name="Contacts",
    label="Contacts",
    name_field="name",
    fields=(
        *_system(),
        F("name", "Name", read_only=True),
        F("salutation", "Salutation", T.ENUM, options=SALUTATIONS, length=255),
        F("first_name", "First Name", length=100),
        F("last_name", "Last Name", required=True, length=100),
        F("title", "Title", length=100),
        F("department", "Department", length=255),
        F("account_id", "Account", T.RELATE, relate="Accounts", relate_name="account_name"),
        F("email1", "Email Address", T.EMAIL),
        F("phone_work", "Office Phone", T.PHONE),
        F("phone_mobile", "Mobile", T.PHONE),
        F("phone_home", "Home Phone", T.PHONE),
        F("do_not_call", "Do Not Call", T.BOOL),
        F("lead_source", "Lead Source", T.ENUM, options=LEAD_SOURCES),
        F("lawful_basis", "Lawful Basis", T.MULTIENUM, options=LAWFUL_BASES, length=100),
        F("birthdate", "Birthdate", T.DATE),
        *_address("primary_address", "Primary Address"),
        F("description", "Description", T.MULTILINE),
    ),
    links=(
        LinkDef("accounts", "Accounts", "Accounts", Cardinality.ONE, "accounts_contacts"),
        LinkDef(
            "opportunities",
            "Opportunities",
            "Opportunities",
            Cardinality.MANY,
            "opportunities_contacts",
        ),
    ),
    list_fields=(
        "name",
        "title",
        "account_id",
        "email1",
        "phone_work",
        "assigned_user_id",
        "date_entered",
    ),
)

LEADS = ModuleDef(
    name="Leads",
    label="Leads",
    name_field="name",
    fields=(
        *_system(),
        F("name", "Name", read_only=True),
        F("salutation", "Salutation", T.ENUM, options=SALUTATIONS, length=255),
        F("first_name", "First Name", length=100),
        F("last_name", "Last Name", required=True, length=100),
        F("title", "Title", length=100),
        F("account_name", "Account Name", length=255),
        F("account_id", "Account", T.RELATE, relate="Accounts", relate_name=None),
        F("status", "Status", T.ENUM, options=LEAD_STATUSES, length=100),
        F("lead_source", "Lead Source", T.ENUM, options=LEAD_SOURCES, length=100),
        F("email1", "Email Address", T.EMAIL),
        F("phone_work", "Office Phone", T.PHONE),
        F("phone_mobile", "Mobile", T.PHONE),
        F("do_not_call", "Do Not Call", T.BOOL),
        F("website", "Website", T.URL),
        *_address("primary_address", "Primary Address"),
        F("description", "Description", T.MULTILINE),
    ),
    links=(LinkDef("accounts", "Accounts", "Accounts", Cardinality.ONE, "account_leads"),),
    list_fields=(
        "name",
        "status",
        "account_name",
        "email1",
        "phone_work",
        "lead_source",
        "assigned_user_id",
        "date_entered",
    ),
)

OPPORTUNITIES = ModuleDef(
    name="Opportunities",
    label="Opportunities",
    fields=(
        *_system(),
        F("name", "Opportunity Name", required=True, length=50),
        F("account_id", "Account", T.RELATE, relate="Accounts", relate_name="account_name"),
        F("amount", "Opportunity Amount", T.CURRENCY, required=True),
        F("date_closed", "Expected Close Date", T.DATE, required=True),
        F("sales_stage", "Sales Stage", T.ENUM, required=True, options=SALES_STAGES),
        F("probability", "Probability (%)", T.INT),
        F("opportunity_type", "Type", T.ENUM, options=OPPORTUNITY_TYPES),
        F("lead_source", "Lead Source", T.ENUM, options=LEAD_SOURCES),
        F("next_step", "Next Step", length=100),
        F("description", "Description", T.MULTILINE),
    ),
    links=(
        LinkDef("accounts", "Accounts", "Accounts", Cardinality.ONE, "accounts_opportunities"),
        LinkDef("contacts", "Contacts", "Contacts", Cardinality.MANY, "opportunities_contacts"),
    ),
    list_fields=(
        "name",
        "account_id",
        "sales_stage",
        "amount",
        "date_closed",
        "assigned_user_id",
        "date_entered",
    ),
)

CASES = ModuleDef(
    name="Cases",
    label="Cases",
    fields=(
        *_system(),
        F("name", "Subject", required=True, length=255),
        F("case_number", "Number", T.INT, read_only=True),
        F("account_id", "Account", T.RELATE, relate="Accounts", relate_name="account_name"),
        F("type", "Type", T.ENUM, options=CASE_TYPES),
        F("status", "Status", T.ENUM, options=CASE_STATUSES, length=100),
        F("state", "State", T.ENUM, options=CASE_STATES, length=100),
        F("priority", "Priority", T.ENUM, options=CASE_PRIORITIES, length=100),
        F("description", "Description", T.MULTILINE),
        F("resolution", "Resolution", T.MULTILINE),
    ),
    links=(LinkDef("accounts", "Accounts", "Accounts", Cardinality.ONE, "account_cases"),),
    list_fields=(
        "case_number",
        "name",
        "account_id",
        "priority",
        "status",
        "assigned_user_id",
        "date_entered",
    ),
)

MODULES: dict[str, ModuleDef] = {
    m.name: m for m in (ACCOUNTS, CONTACTS, LEADS, OPPORTUNITIES, CASES, USERS)
}

STORE_LINKS: dict[tuple[str, str], StoreLink] = {
    (lk.module, lk.name): lk
    for lk in (
        StoreLink("Accounts", "contacts", "Contacts", "child_fk", "account_id"),
        StoreLink("Accounts", "opportunities", "Opportunities", "child_fk", "account_id"),
        StoreLink("Accounts", "cases", "Cases", "child_fk", "account_id"),
        StoreLink("Accounts", "leads", "Leads", "child_fk", "account_id"),
        StoreLink("Accounts", "members", "Accounts", "child_fk", "parent_id"),
        StoreLink("Accounts", "member_of", "Accounts", "parent_fk", "parent_id"),
        StoreLink("Contacts", "accounts", "Accounts", "parent_fk", "account_id"),
        StoreLink("Leads", "accounts", "Accounts", "parent_fk", "account_id"),
        StoreLink("Opportunities", "accounts", "Accounts", "parent_fk", "account_id"),
        StoreLink("Cases", "accounts", "Accounts", "parent_fk", "account_id"),
        StoreLink(
            "Contacts",
            "opportunities",
            "Opportunities",
            "m2m",
            "contact_id",
            "opportunities_contacts",
            "opportunity_id",
        ),
        StoreLink(
            "Opportunities",
            "contacts",
            "Contacts",
            "m2m",
            "opportunity_id",
            "opportunities_contacts",
            "contact_id",
        ),
    )
}

#: Fields computed by the store from others (never written).
COMPUTED_NAME: dict[str, tuple[str, ...]] = {
    "Contacts": ("first_name", "last_name"),
    "Leads": ("first_name", "last_name"),
    "Users": ("first_name", "last_name"),
}

#: Module name → table name.
TABLES: dict[str, str] = {name: name.lower() for name in MODULES}


def module(name: str) -> ModuleDef:
    try:
        return MODULES[name]
    except KeyError:
        raise KeyError(f"unknown module {name!r}") from None
