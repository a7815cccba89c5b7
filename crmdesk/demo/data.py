"""The demo data set: deterministic (one seeded ``random.Random``), no network, no Faker.

Bump :data:`DATASET_VERSION` whenever the generated rows change: stores on disk with
another version are rebuilt.
"""

from __future__ import annotations

import random
import sqlite3
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from crmdesk.demo.catalog import (
    ACCOUNT_TYPES,
    CASE_PRIORITIES,
    CASE_STATUSES,
    CASE_TYPES,
    INDUSTRIES,
    LAWFUL_BASES,
    LEAD_SOURCES,
    LEAD_STATUSES,
    OPPORTUNITY_TYPES,
    SALES_STAGES,
    SALUTATIONS,
)
from crmdesk.demo.store import encode_multienum, format_datetime

DATASET_VERSION = "crmdesk-demo-2"
SEED = 20261123
#: The data set's "now": every generated date lies before it.
REFERENCE_NOW = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)

COUNTS = {
    "Accounts": 5000,
    "Contacts": 8000,
    "Leads": 1500,
    "Opportunities": 3000,
    "Cases": 2000,
}

ADMIN_ID = "1"

_COMPANY_A = [
    "Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Tyrell", "Cyberdyne",
    "Nakatomi", "Soylent", "Hooli", "Vandelay", "Wonka", "Oscorp", "Aperture", "Massive",
    "Gringotts", "Monarch", "Sirius", "Blue Sun", "Zorg", "Pied Piper", "Dunder", "Prestige",
]  # fmt: skip
_COMPANY_B = [
    "Systems", "Logistics", "Industries", "Holdings", "Labs", "Foods", "Energy", "Media",
    "Consulting", "Software", "Motors", "Health", "Partners", "Trading", "Bank", "Studios",
]  # fmt: skip
_SUFFIX = ["Inc", "Ltd", "GmbH", "SA", "LLC", "AG", "plc", "BV", "Oy", "KK"]
#: Names that exercise escaping paths: &, quotes, markup, non-ASCII.
AWKWARD_ACCOUNTS = [
    "Müller & Söhne GmbH",
    "O'Reilly Partners",
    "<b>Bold</b> Industries",
    'Jäger "Quoted" AG',
    "Smith & Wesson's <Shop>",
    "Øresund Ænergi A/S",
    "Ça va & Cie SARL",
    "Zoë's Café",
    "A&B <script>alert(1)</script> Ltd",
    "Straße 1 Köln KG",
    "東京 Trading 株式会社",
    "Percent 100% _Under_ Score",
]
_FIRST = [
    "Anna", "Ben", "Chris", "Dana", "Eve", "Finn", "Grace", "Hugo", "Ivy", "Jonas", "Kara",
    "Liam", "Mia", "Noah", "Olga", "Paul", "Quinn", "Rita", "Sam", "Tara", "Uwe", "Vera",
    "Will", "Xena", "Yusuf", "Zoë", "Søren", "Zoé", "Jürgen", "Ángel", "Siobhán", "Chloé",
]  # fmt: skip
_LAST = [
    "Smith", "Jones", "Müller", "Schmidt", "O'Neil", "O'Brien", "García", "Nguyen", "Kowalski",
    "Rossi", "Dubois", "Jensen", "Novak", "Tanaka", "Silva", "Brown", "Weiß", "Østergaard",
    "D'Angelo", "Meyer", "Fischer", "Wagner", "Becker", "Hoffmann", "Schäfer", "Clarke",
]  # fmt: skip
_CITIES = [
    ("Berlin", "", "Germany"), ("München", "BY", "Germany"), ("London", "", "United Kingdom"),
    ("Toronto", "ON", "Canada"), ("Kraków", "", "Poland"), ("Paris", "", "France"),
    ("New York", "NY", "USA"), ("San Francisco", "CA", "USA"), ("Zürich", "ZH", "Switzerland"),
    ("São Paulo", "SP", "Brazil"), ("Tokyo", "", "Japan"), ("Sydney", "NSW", "Australia"),
    ("Wien", "", "Austria"), ("Malmö", "", "Sweden"), ("Dublin", "", "Ireland"),
]  # fmt: skip
_TITLES = ["CEO", "CTO", "VP Sales", "Buyer", "Engineer", "Office Manager", "Consultant", ""]
_DEPTS = ["Sales", "IT", "Finance", "Operations", "R&D", "Marketing", ""]
_USERS = [
    ("admin", "", "Administrator", "Administrator", True),
    ("sarah", "Sarah", "Smith", "Sales Manager", False),
    ("sally", "Sally", "Bronsen", "Senior Account Rep", False),
    ("max", "Max", "Jensen", "Account Rep", False),
    ("will", "Will", "Westin", "Support", False),
    ("chris", "Chris", "Olliver", "Account Rep", False),
    ("jim", "Jim", "Brennan", "VP Sales", False),
    ("sarah.ko", "Sarah", "Kowalski", "Support", False),
    ("jürgen", "Jürgen", "Weiß", "Sales", False),
    ("zoe", "Zoë", "O'Brien", "Marketing", False),
]


class _Gen:
    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)

    def uid(self) -> str:
        return str(uuid.UUID(int=self.r.getrandbits(128), version=4))

    def pick(self, seq: Sequence[Any]) -> Any:
        return seq[self.r.randrange(len(seq))]

    def maybe(self, p: float, value: Any, default: Any = None) -> Any:
        return value if self.r.random() < p else default

    def dt(self, days_back: int = 730) -> str:
        delta = timedelta(seconds=self.r.randrange(days_back * 86400))
        return format_datetime(REFERENCE_NOW - delta)

    def day(self, lo: int, hi: int) -> str:
        return (REFERENCE_NOW.date() + timedelta(days=self.r.randint(lo, hi))).isoformat()

    def phone(self) -> str:
        return f"+{self.pick(['1 555', '49 30', '44 20', '33 1'])} {self.r.randrange(10**6, 10**7)}"

    def slug(self, text: str) -> str:
        keep = "".join(c for c in text.lower() if c.isascii() and c.isalnum())
        return keep or "x"

    def description(self) -> str | None:
        text: str | None = self.pick(
            [
                None,
                None,
                "",
                "Met at the trade show.\nFollow up in Q3.",
                "Key account – handle with care & speed.",
                "Prefers e-mail.\n\nDo not call before 10:00.",
                'Notes: <i>budget</i> approved; "urgent" per CFO\'s mail.',
                "Größere Bestellung geplant.\nAnsprechpartner: Frau Weiß.",
            ]
        )
        return text


def _insert(conn: sqlite3.Connection, table: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    cols = list(rows[0])
    conn.executemany(
        f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({','.join('?' * len(cols))})",
        [tuple(r[c] for c in cols) for r in rows],
    )


def _system(g: _Gen, users: list[str]) -> dict[str, Any]:
    entered = g.dt()
    modified = entered if g.r.random() < 0.6 else g.dt(365)
    modified = max(entered, modified)
    return {
        "date_entered": entered,
        "date_modified": modified,
        "created_by": ADMIN_ID,
        "modified_user_id": g.pick(users),
        "assigned_user_id": g.maybe(0.9, g.pick(users)),
    }


def generate(conn: sqlite3.Connection) -> None:
    """Fill empty tables with the sample data set (same rows for the same seed)."""
    g = _Gen(SEED)
    user_ids: list[str] = []
    users: list[dict[str, Any]] = []
    for i, (login, first, last, title, admin) in enumerate(_USERS):
        uid = ADMIN_ID if i == 0 else g.uid()
        user_ids.append(uid)
        users.append(
            {
                "id": uid,
                "user_name": login,
                "first_name": first,
                "last_name": last,
                "name": f"{first} {last}".strip(),
                "status": "Active" if i != len(_USERS) - 2 else "Inactive",
                "is_admin": 1 if admin else 0,
                "title": title,
                "department": "Sales" if "Sales" in title or "Account" in title else "",
                "phone_work": g.phone(),
                "email1": f"{g.slug(login)}@demo.crmdesk.test",
                "date_entered": format_datetime(REFERENCE_NOW - timedelta(days=900 - i)),
                "date_modified": format_datetime(REFERENCE_NOW - timedelta(days=800 - i)),
            }
        )
    _insert(conn, "users", users)

    accounts: list[dict[str, Any]] = []
    for i in range(COUNTS["Accounts"]):
        if i < len(AWKWARD_ACCOUNTS):
            name = AWKWARD_ACCOUNTS[i]
        else:
            name = f"{g.pick(_COMPANY_A)} {g.pick(_COMPANY_B)} {g.pick(_SUFFIX)} {i:04d}"
        city, state, country = g.pick(_CITIES)
        same = g.r.random() < 0.5
        acc = {
            "id": g.uid(),
            **_system(g, user_ids),
            "name": name,
            "account_type": g.maybe(0.9, g.pick(ACCOUNT_TYPES).key),
            "industry": g.maybe(0.85, g.pick(INDUSTRIES).key),
            "annual_revenue": g.maybe(0.6, f"{g.r.randint(1, 900)}M"),
            "employees": g.maybe(0.6, str(g.r.randint(1, 5000))),
            "rating": None,
            "ownership": g.maybe(0.2, g.pick(["Public", "Private", "Family"])),
            "ticker_symbol": g.maybe(0.1, g.slug(name)[:4].upper()),
            "sic_code": None,
            "phone_office": g.maybe(0.9, g.phone()),
            "phone_fax": g.maybe(0.2, g.phone()),
            "phone_alternate": g.maybe(0.1, g.phone()),
            "website": g.maybe(0.7, f"https://www.{g.slug(name)[:12]}{i}.example.test"),
            "email1": g.maybe(0.6, f"info@{g.slug(name)[:12]}{i}.example.test"),
            "email_opt_out": 1 if g.r.random() < 0.05 else 0,
            "billing_address_street": f"{g.r.randint(1, 999)} Main Street",
            "billing_address_city": city,
            "billing_address_state": state,
            "billing_address_postalcode": f"{g.r.randint(10000, 99999)}",
            "billing_address_country": country,
            "shipping_address_street": None if same else f"{g.r.randint(1, 999)} Dock Road",
            "shipping_address_city": None if same else city,
            "shipping_address_state": None if same else state,
            "shipping_address_postalcode": None,
            "shipping_address_country": None if same else country,
            "parent_id": None,
            "description": g.description(),
        }
        accounts.append(acc)
    acc_ids = [a["id"] for a in accounts]
    for acc in accounts[100:]:
        if g.r.random() < 0.05:
            acc["parent_id"] = g.pick(acc_ids[:100])
    _insert(conn, "accounts", accounts)

    contacts: list[dict[str, Any]] = []
    for i in range(COUNTS["Contacts"]):
        first, last = g.pick(_FIRST), g.pick(_LAST)
        city, state, country = g.pick(_CITIES)
        bases = sorted(
            {g.pick(LAWFUL_BASES).key for _ in range(g.r.randint(0, 2))},
            key=[o.key for o in LAWFUL_BASES].index,
        )
        contacts.append(
            {
                "id": g.uid(),
                **_system(g, user_ids),
                "name": f"{first} {last}",
                "salutation": g.maybe(0.5, g.pick(SALUTATIONS).key),
                "first_name": first,
                "last_name": last,
                "title": g.maybe(0.7, g.pick(_TITLES)),
                "department": g.maybe(0.4, g.pick(_DEPTS)),
                "account_id": g.maybe(0.9, g.pick(acc_ids)),
                "email1": g.maybe(0.6, f"{g.slug(first)}.{g.slug(last)}{i}@mail.example.test"),
                "phone_work": g.maybe(0.7, g.phone()),
                "phone_mobile": g.maybe(0.5, g.phone()),
                "phone_home": g.maybe(0.1, g.phone()),
                "do_not_call": 1 if g.r.random() < 0.1 else 0,
                "lead_source": g.maybe(0.6, g.pick(LEAD_SOURCES).key),
                "lawful_basis": encode_multienum(bases) if bases else None,
                "birthdate": g.maybe(
                    0.3,
                    (date(1950, 1, 1) + timedelta(days=g.r.randrange(365 * 50))).isoformat(),
                ),
                "primary_address_street": g.maybe(0.5, f"{g.r.randint(1, 200)} Elm Street"),
                "primary_address_city": city,
                "primary_address_state": state,
                "primary_address_postalcode": g.maybe(0.5, f"{g.r.randint(10000, 99999)}"),
                "primary_address_country": country,
                "description": g.description(),
            }
        )
    _insert(conn, "contacts", contacts)

    leads: list[dict[str, Any]] = []
    for i in range(COUNTS["Leads"]):
        first, last = g.pick(_FIRST), g.pick(_LAST)
        city, state, country = g.pick(_CITIES)
        company = f"{g.pick(_COMPANY_A)} {g.pick(_COMPANY_B)}"
        leads.append(
            {
                "id": g.uid(),
                **_system(g, user_ids),
                "name": f"{first} {last}",
                "salutation": g.maybe(0.5, g.pick(SALUTATIONS).key),
                "first_name": first,
                "last_name": last,
                "title": g.maybe(0.6, g.pick(_TITLES)),
                "account_name": company,
                "account_id": g.maybe(0.05, g.pick(acc_ids)),
                "status": g.pick(LEAD_STATUSES).key,
                "lead_source": g.maybe(0.8, g.pick(LEAD_SOURCES).key),
                "email1": g.maybe(0.7, f"{g.slug(first)}{i}@lead.example.test"),
                "phone_work": g.maybe(0.6, g.phone()),
                "phone_mobile": g.maybe(0.4, g.phone()),
                "do_not_call": 1 if g.r.random() < 0.08 else 0,
                "website": g.maybe(0.3, f"https://{g.slug(company)}.example.test"),
                "primary_address_street": None,
                "primary_address_city": city,
                "primary_address_state": state,
                "primary_address_postalcode": None,
                "primary_address_country": country,
                "description": g.description(),
            }
        )
    _insert(conn, "leads", leads)

    opportunities: list[dict[str, Any]] = []
    pairs: set[tuple[str, str]] = set()
    stage_prob = dict(zip([o.key for o in SALES_STAGES], [10, 20, 25, 30, 40, 50, 65, 80, 100, 0],
                          strict=True))  # fmt: skip
    for i in range(COUNTS["Opportunities"]):
        stage = g.pick(SALES_STAGES).key
        acc = g.pick(acc_ids)
        oid = g.uid()
        opportunities.append(
            {
                "id": oid,
                **_system(g, user_ids),
                "name": f"{g.pick(['Upgrade', 'Renewal', 'Expansion', 'Pilot', 'Licences'])} "
                f"{g.pick(_COMPANY_A)} #{i + 1}",
                "account_id": acc,
                "amount": round(g.r.uniform(500, 250000), 2),
                "date_closed": g.day(-400, 200),
                "sales_stage": stage,
                "probability": stage_prob[stage],
                "opportunity_type": g.maybe(0.8, g.pick(OPPORTUNITY_TYPES).key),
                "lead_source": g.maybe(0.5, g.pick(LEAD_SOURCES).key),
                "next_step": g.maybe(0.3, g.pick(["Call back", "Send quote", "Demo", "Sign"])),
                "description": g.description(),
            }
        )
        for _ in range(g.r.randint(0, 3)):
            pairs.add((oid, g.pick(contacts)["id"]))
    _insert(conn, "opportunities", opportunities)
    conn.executemany(
        "INSERT INTO opportunities_contacts (opportunity_id, contact_id, contact_role, deleted) "
        "VALUES (?, ?, ?, 0)",
        [
            (o, c, g.pick(["Primary Decision Maker", "Technical Evaluator", None]))
            for o, c in sorted(pairs)
        ],
    )

    cases: list[dict[str, Any]] = []
    for i in range(COUNTS["Cases"]):
        status = g.pick(CASE_STATUSES).key
        cases.append(
            {
                "id": g.uid(),
                **_system(g, user_ids),
                "name": g.pick(
                    [
                        "Cannot log in",
                        "Invoice & credit note mismatch",
                        "Export to <CSV> fails",
                        "Drucker druckt nicht",
                        "Request: add user 'guest'",
                        "Slow dashboard",
                        "Password reset",
                    ]
                )
                + f" ({i + 1})",
                "case_number": i + 1,
                "account_id": g.pick(acc_ids),
                "type": g.maybe(0.8, g.pick(CASE_TYPES).key),
                "status": status,
                "state": "Closed" if status.startswith("Closed") else "Open",
                "priority": g.pick(CASE_PRIORITIES).key,
                "description": g.description(),
                "resolution": "Fixed in release 2.1." if status == "Closed_Closed" else None,
            }
        )
    _insert(conn, "cases", cases)
