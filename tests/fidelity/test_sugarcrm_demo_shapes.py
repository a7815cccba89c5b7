"""The demo Sugar answers like the real one: each sample's request is replayed against the
demo (with the demo's own ids and credentials) and the answer's status, content type and
JSON shape must match the sample's (tests/helpers/shapes.py).

Samples the demo cannot reproduce are listed in ``NOT_REPRODUCED`` with the reason; record
bodies hold other fields than the trimmed doc samples, so their key sets are compared
loosely (``OPEN``) while the envelope (``_acl``, ``_module``, ``next_offset`` …) and the
types of the fields both sides have are compared strictly.  2013-era doc artefacts that
current servers no longer send (string email flags, numeric team ids) are dropped from the
sample before comparing (``DOC_ERA``, see the peers README §15).
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers.shapes import shape_diff

from crmdesk.demo.server import DemoServer

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = next(
    (
        p
        for p in (
            ROOT.parent / "shared" / "peers" / "sugarcrm" / "samples",
            ROOT / "shared" / "peers" / "sugarcrm" / "samples",
        )
        if p.is_dir()
    ),
    None,
)
NAMES = sorted(p.stem for p in SAMPLES.glob("*.json")) if SAMPLES else []

NOT_REPRODUCED: dict[str, str] = {
    "error_fatal": "the demo never fails by itself; faults answer 500 with a PHP-style page",
    "error_maintenance": "the demo has no maintenance mode; faults answer 503 with a page",
    "error_not_authorized": "the demo's only user is an administrator (no ACL denials)",
    "error_request_too_large": "the demo has no file uploads (Notes/file)",
    "filter_accounts_get_help": "the demo does not embed related collections in 'fields'",
}

RECORD = r"(\$|\.record|\.related_record|\.related_records\[\d+\]|\.records\[\d+\]|\.contents)$"
#: Paths whose key sets are compared loosely, per sample.
OPEN: dict[str, tuple[str, ...]] = {
    "record_account": (RECORD,),
    "record_account_v12_reconstructed": (RECORD, r"_link$", r"member_of$", r"\._acl$"),
    "create_account": (RECORD,),
    "update_account": (RECORD,),
    "error_edit_conflict": (r"\.record$",),
    "link_create_related": (RECORD,),
    "link_existing_record": (RECORD,),
    "link_multiple": (RECORD,),
    "unlink": (RECORD,),
    "related_list": (RECORD,),
    "me": (r"\.current_user$", r"\.preferences$", r"\.acl$"),
    "bulk": (RECORD,),
    "metadata_modules_excerpt": (
        r"^\$$",
        r"^\$\.modules$",
        r"^\$\.modules\.\w+$",
        r"\.fields$",
        r"\.views$",  # the excerpt omits the views ("...": "omitted")
        r"\.fields\.\w+$",
        r"^\$\.(full_module_list|modules_info|server_info|labels|currencies.*)$",
    ),
    "lang_en_us_excerpt": (r"\.(app_list_strings|app_strings|mod_strings)(\.\w+)?$",),
    "search": (RECORD, r"\._search$"),
}
#: Keys dropped from a sample before comparing: doc artefacts of 2013 (README §15.1, §15.3:
#: string email flags, numeric team ids; int fields written as strings), and vardef keys
#: whose JSON type varies field by field in real vardefs (``len``: int or string).
DOC_ERA: dict[str, tuple[str, ...]] = {
    "record_account": ("email", "team_name"),
    "update_account": ("email", "team_name"),
    "link_create_related": ("team_name", "probability"),
    "link_existing_record": ("email", "team_name", "probability"),
    "link_multiple": ("email", "team_name", "probability"),
    "unlink": ("email", "team_name", "probability"),
    "metadata_modules_excerpt": ("len", "required"),
}
#: Envelope keys every record in an answer must carry when the sample's does.
ENVELOPE = ("id", "date_modified", "_acl", "_module")


@dataclass
class Ctx:
    server: DemoServer
    client: httpx.Client
    rest: str
    token: str = ""
    refresh: str = ""
    ids: dict[str, str] = field(default_factory=dict)

    def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
        auth: bool = True,
        version: str = "v11",
    ) -> httpx.Response:
        hdrs = {"OAuth-Token": self.token} if auth else {}
        hdrs.update(headers or {})
        url = f"{self.server.base_url('sugarcrm')}/rest/{version}/{path}"
        return self.client.request(method, url, json=json_body, headers=hdrs)

    def login(self, platform: str = "crmdesk") -> dict[str, Any]:
        c = self.server.credentials
        r = self.call(
            "POST",
            "oauth2/token",
            auth=False,
            json_body={
                "grant_type": "password",
                "client_id": "sugar",
                "client_secret": "",
                "username": c.username,
                "password": c.password,
                "platform": platform,
            },
        )
        assert r.status_code == 200
        return r.json()  # type: ignore[no-any-return]

    def create(self, module: str, values: dict[str, Any]) -> dict[str, Any]:
        r = self.call("POST", module, json_body=values)
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def ctx(demo_server: DemoServer) -> Iterator[Ctx]:
    with httpx.Client(timeout=30) as client:
        c = Ctx(demo_server, client, f"{demo_server.base_url('sugarcrm')}/rest/v11")
        tok = c.login()
        c.token, c.refresh = tok["access_token"], tok["refresh_token"]
        tag = uuid.uuid4().hex[:6]
        acc = c.create(
            "Accounts",
            {
                "name": f"Acme shapes {tag}",
                "account_type": "Customer",
                "email1": f"shapes.{tag}@example.test",
            },
        )
        opp = c.create(
            "Opportunities",
            {
                "name": f"Shapes deal {tag}",
                "amount": "25000",
                "date_closed": "2027-02-27",
                "sales_stage": "Needs Analysis",
                "account_id": acc["id"],
            },
        )
        con = c.create("Contacts", {"first_name": "Gus", "last_name": f"Dales {tag}"})
        con2 = c.create("Contacts", {"first_name": "Bill", "last_name": f"Edwards {tag}"})
        c.ids = {"account": acc["id"], "opp": opp["id"], "contact": con["id"], "c2": con2["id"]}
        yield c


def _sample(name: str) -> dict[str, Any]:
    assert SAMPLES is not None
    return json.loads((SAMPLES / f"{name}.json").read_text("utf-8"))  # type: ignore[no-any-return]


Replay = Callable[[Ctx, dict[str, Any]], httpx.Response]


def _bad_token(c: Ctx, s: dict[str, Any]) -> httpx.Response:
    return c.call(
        "GET", "Accounts/abc", headers={"OAuth-Token": "expired-or-unknown-token"}, auth=False
    )


def _token(c: Ctx, s: dict[str, Any]) -> httpx.Response:
    body = {**s["request"]["json"]}
    if body.get("grant_type") == "password" and body.get("password") != "wrong":
        body["password"] = c.server.credentials.password
        body["platform"] = "crmdesk"
    if (
        body.get("grant_type") == "refresh_token"
        and body["refresh_token"] != "already-used-or-unknown"
    ):
        body["refresh_token"] = c.login()["refresh_token"]
        body["platform"] = "crmdesk"
    body["username"] = c.server.credentials.username if "username" in body else None
    return c.call(
        "POST",
        "oauth2/token",
        json_body={k: v for k, v in body.items() if v is not None},
        auth=False,
    )


def _logout(c: Ctx, s: dict[str, Any]) -> httpx.Response:
    tok = c.login()
    return c.call(
        "POST",
        "oauth2/logout",
        json_body={"refresh_token": tok["refresh_token"]},
        headers={"OAuth-Token": tok["access_token"]},
        auth=False,
    )


def _put_account(c: Ctx, s: dict[str, Any], stale: bool) -> httpx.Response:
    acc = c.create("Accounts", {"name": "To update", "account_type": "Customer"})
    stamp = "2001-01-01T00:00:00+00:00" if stale else acc["date_modified"]
    return c.call(
        "PUT",
        f"Accounts/{acc['id']}",
        json_body=s["request"]["json"],
        headers={"X-Timestamp": stamp},
    )


def _bulk(c: Ctx, s: dict[str, Any]) -> httpx.Response:
    return c.call("POST", "bulk", json_body=s["request"]["json"])


def _link_multiple(c: Ctx, s: dict[str, Any]) -> httpx.Response:
    opp2 = c.create(
        "Opportunities",
        {
            "name": "Second",
            "amount": "10",
            "date_closed": "2027-01-01",
            "sales_stage": "Prospecting",
        },
    )
    body = {
        "link_name": "opportunities",
        "ids": [c.ids["opp"], {"id": opp2["id"], "contact_role": "Primary Decision Maker"}],
    }
    return c.call("POST", f"Contacts/{c.ids['contact']}/link", json_body=body)


def _unlink(c: Ctx, s: dict[str, Any]) -> httpx.Response:
    con = c.create("Contacts", {"first_name": "Gus", "last_name": "Unlinked"})
    c.call("POST", f"Opportunities/{c.ids['opp']}/link/contacts/{con['id']}", json_body={})
    return c.call("DELETE", f"Opportunities/{c.ids['opp']}/link/contacts/{con['id']}")


REPLAYS: dict[str, Replay] = {
    "token": _token,
    "token_refresh": _token,
    "error_token_bad_password": _token,
    "error_token_invalid_refresh": _token,
    "error_invalid_grant": _bad_token,
    "error_need_login": lambda c, s: c.call("GET", "Accounts", auth=False),
    "logout": _logout,
    "ping": lambda c, s: c.call("GET", "ping"),
    "filter_accounts": lambda c, s: c.call(
        "POST", "Accounts/filter", json_body=s["request"]["json"]
    ),
    "list_empty": lambda c, s: c.call("GET", "Accounts?filter[0][name]=no-such-account-xyz"),
    "count": lambda c, s: c.call("GET", "Accounts/count?filter[0][account_type]=Customer"),
    "leancount": lambda c, s: c.call(
        "GET",
        f"Accounts/{c.ids['account']}/link/opportunities/filter/leancount?max_num=20",
        version="v11_4",
    ),
    "record_account": lambda c, s: c.call("GET", f"Accounts/{c.ids['account']}"),
    "record_account_v12_reconstructed": lambda c, s: c.call(
        "GET", f"Accounts/{c.ids['account']}?" + s["request"]["url"].split("?", 1)[1]
    ),
    "create_account": lambda c, s: c.call(
        "POST",
        "Accounts",
        json_body={
            **s["request"]["json"],
            "contacts": {
                "add": [c.ids["c2"]],
                "create": [{"first_name": "Ann", "last_name": "Lee"}],
            },
        },
    ),
    "update_account": lambda c, s: _put_account(c, s, stale=False),
    "error_edit_conflict": lambda c, s: _put_account(c, s, stale=True),
    "delete_account": lambda c, s: c.call(
        "DELETE", f"Accounts/{c.create('Accounts', {'name': 'Doomed'})['id']}"
    ),
    "enum_account_type": lambda c, s: c.call("GET", "Accounts/enum/account_type"),
    "error_incorrect_version": lambda c, s: c.call("GET", "ping", version="v12"),
    "error_invalid_parameter": lambda c, s: c.call(
        "POST", "Accounts/filter", json_body=s["request"]["json"]
    ),
    "error_metadata_out_of_date": lambda c, s: c.call(
        "GET", "Accounts", headers={"X-Metadata-Hash": "stale-hash-value"}
    ),
    "error_missing_parameter": lambda c, s: c.call(
        "GET", f"Accounts/{c.ids['account']}/link/contacts/leancount", version="v11_4"
    ),
    "error_no_method": lambda c, s: c.call("GET", "Foos/123"),
    "error_not_found": lambda c, s: c.call("GET", "Accounts/0000-nope"),
    "lang_en_us_excerpt": lambda c, s: c.call("GET", "lang/en_us"),
    "link_create_related": lambda c, s: c.call(
        "POST", f"Opportunities/{c.ids['opp']}/link/contacts", json_body=s["request"]["json"]
    ),
    "link_existing_record": lambda c, s: c.call(
        "POST",
        f"Opportunities/{c.ids['opp']}/link/contacts/{c.ids['contact']}",
        json_body=s["request"]["json"],
    ),
    "link_multiple": _link_multiple,
    "unlink": _unlink,
    "related_list": lambda c, s: c.call(
        "GET",
        f"Opportunities/{c.ids['opp']}/link/contacts?" + s["request"]["url"].split("?", 1)[1],
    ),
    "me": lambda c, s: c.call("GET", "me"),
    "bulk": _bulk,
    "metadata_modules_excerpt": lambda c, s: c.call(
        "GET", s["request"]["url"].split("/rest/v11/", 1)[1]
    ),
    "metadata_only_hash": lambda c, s: c.call("GET", s["request"]["url"].split("/rest/v11/", 1)[1]),
    "search": lambda c, s: c.call(
        "GET", "search?q=acme&module_list=Accounts,Contacts&max_num=1&fields=name"
    ),
}


def _records(body: Any, sample: Any) -> Iterator[tuple[Any, Any]]:
    """(answer record, sample record) pairs at the same places."""
    if isinstance(sample, dict):
        if "_module" in sample or ("_acl" in sample and "id" in sample):
            yield body, sample
        for k, v in sample.items():
            if k.startswith("_") or k in ("email", "team_name", "current_user", "modules"):
                continue
            if isinstance(body, dict) and k in body:
                yield from _records(body[k], v)
    elif isinstance(sample, list) and isinstance(body, list):
        for i, v in enumerate(sample):
            if i < len(body):
                yield from _records(body[i], v)


def test_every_sample_is_replayed_or_excused() -> None:
    assert set(REPLAYS).isdisjoint(NOT_REPRODUCED)
    assert set(REPLAYS) | set(NOT_REPRODUCED) == set(NAMES)


@pytest.mark.parametrize("name", sorted(REPLAYS))
def test_demo_answers_like_the_sample(ctx: Ctx, name: str) -> None:
    sample = _sample(name)
    resp = REPLAYS[name](ctx, sample)
    assert resp.status_code == sample["status"], resp.text
    assert resp.headers["content-type"] == "application/json"
    if resp.status_code >= 400 or resp.status_code == 301:
        assert resp.headers.get("cache-control") == "no-store"
    body = resp.json()
    expected = copy.deepcopy(sample["body"])
    for key in DOC_ERA.get(name, ()):
        for rec in _walk(expected):
            rec.pop(key, None)
        for rec in _walk(body):
            rec.pop(key, None)
    problems = shape_diff(body, expected, open_paths=OPEN.get(name, ()))
    assert not problems, "\n".join(problems)
    for got, want in _records(body, sample["body"]):
        for key in ENVELOPE:
            if key in want:
                assert key in got, (name, key)


def _walk(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
        for v in value.values():
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)
