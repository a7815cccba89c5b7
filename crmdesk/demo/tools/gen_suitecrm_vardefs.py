"""Regenerate ``crmdesk/demo/suitecrm_vardefs.py`` from the captured SuiteCRM exchanges.

Developer tool, not used at run time::

    .venv/bin/python -m crmdesk.demo.tools.gen_suitecrm_vardefs /work/shared/peers/suitecrm
"""

from __future__ import annotations

import json
import pprint
import sys
from pathlib import Path
from typing import Any

#: module -> (meta_fields capture or None, capture with one full record, bean name)
SOURCES: dict[str, tuple[str | None, str, str]] = {
    "Accounts": ("meta_fields_Accounts.json", "get_account.json", "Account"),
    "Contacts": ("meta_fields_Contacts.json", "get_contact_full.json", "Contact"),
    "Leads": ("meta_fields_Leads.json", "list_leads_page.json", "Lead"),
    "Cases": ("meta_fields_Cases.json", "create_case.json", "Case"),
    "Opportunities": (None, "create_opportunity.json", "Opportunity"),
    "Users": (None, "current_user.json", "User"),
}

#: Vardefs for fields of modules whose meta/fields was not captured.
GUESSED: dict[str, dict[str, Any]] = {
    "amount": {"type": "currency", "dbType": "double", "required": True},
    "amount_usdollar": {"type": "currency", "dbType": "double", "required": False},
    "currency_id": {"type": "id", "dbType": "id", "required": False},
    "date_closed": {"type": "date", "required": True, "dbType": "date"},
    "sales_stage": {"type": "enum", "len": "255", "required": True, "dbType": "enum"},
    "probability": {"type": "int", "dbType": "double", "required": False},
    "opportunity_type": {"type": "enum", "len": "255", "required": False, "dbType": "enum"},
    "next_step": {"type": "varchar", "len": "100", "required": False, "dbType": "varchar"},
    "user_name": {"type": "user_name", "dbType": "varchar", "len": "60", "required": True},
    "is_admin": {"type": "bool", "default": "0", "required": False, "dbType": "bool"},
    "status": {"type": "enum", "len": 100, "required": False, "dbType": "enum"},
    "user_hash": {"type": "varchar", "len": "255", "required": False, "dbType": "varchar"},
}


def _first_item(body: Any) -> dict[str, Any]:
    data = body["data"]
    item: dict[str, Any] = data[0] if isinstance(data, list) else data
    return item


def main(folder: str) -> None:
    root = Path(folder)
    out: dict[str, Any] = {}
    all_vardefs: dict[str, dict[str, Any]] = {}
    for meta, _record, _bean in SOURCES.values():
        if meta:
            attrs = json.loads((root / meta).read_text())["body"]["data"]["attributes"]
            all_vardefs.update({k: v for k, v in attrs.items() if k not in all_vardefs})
    for module, (meta, record, bean) in SOURCES.items():
        item = _first_item(json.loads((root / record).read_text())["body"])
        attributes: dict[str, Any] = item["attributes"]
        if meta:
            vardefs = json.loads((root / meta).read_text())["body"]["data"]["attributes"]
        else:
            vardefs = {"id": {"type": "id", "required": True, "dbType": "id"}}
            for name, value in attributes.items():
                if name in GUESSED:
                    vardefs[name] = GUESSED[name]
                elif name in all_vardefs:
                    vardefs[name] = all_vardefs[name]
                elif isinstance(value, dict):
                    vardefs[name] = {
                        "type": "link",
                        "source": "non-db",
                        "required": False,
                        "dbType": "link",
                    }
                else:
                    vardefs[name] = {"type": "varchar", "required": False, "dbType": "varchar"}
        if module == "Users":  # asked for in list_users, never shown in a record
            vardefs["user_hash"] = GUESSED["user_hash"]
        rels = item.get("relationships", {})
        out[module] = {
            "bean": bean,
            "vardefs": vardefs,
            "attributes": list(attributes),
            "object_fields": sorted(k for k, v in attributes.items() if isinstance(v, dict)),
            "relationships": [
                (k, v["links"]["related"].rsplit("/", 1)[1]) for k, v in rels.items() if k != "..."
            ],
        }
    text = pprint.pformat(out, width=100, sort_dicts=False)
    target = Path(__file__).resolve().parent.parent / "suitecrm_vardefs.py"
    target.write_text(
        '"""SuiteCRM 7.14 vardefs as ``GET /Api/V8/meta/fields`` shows them, and record '
        "layouts.\n\n"
        "Generated from the captured exchanges by ``crmdesk.demo.tools.gen_suitecrm_vardefs``;\n"
        "do not edit by hand.  Opportunities and Users had no meta/fields capture: their\n"
        'vardefs are borrowed from other modules or guessed.\n"""\n\n'
        "from typing import Any\n\n"
        f"MODULES: dict[str, dict[str, Any]] = {text}\n"
    )


if __name__ == "__main__":
    main(sys.argv[1])
