"""The demo SuiteCRM's behaviour beyond shapes: OAuth2, value formats, the traps, performance."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from crmdesk.demo.server import DemoServer
from crmdesk.demo.store import Store


class Api:
    def __init__(self, server: DemoServer, http: httpx.Client) -> None:
        self.server = server
        self.http = http
        self.base = server.base_url("suitecrm")
        self.tokens = self.password_grant().json()

    def password_grant(self, password: str | None = None) -> httpx.Response:
        c = self.server.credentials
        return self.http.post(
            f"{self.base}/Api/access_token",
            json={
                "grant_type": "password",
                "client_id": c.client_id,
                "client_secret": c.client_secret,
                "username": c.username,
                "password": c.password if password is None else password,
            },
        )

    def refresh(self, refresh_token: str, *, other_client: bool = False) -> httpx.Response:
        c = self.server.credentials
        cid, sec = (
            (c.cc_client_id, c.cc_client_secret) if other_client else (c.client_id, c.client_secret)
        )
        return self.http.post(
            f"{self.base}/Api/access_token",
            json={
                "grant_type": "refresh_token",
                "client_id": cid,
                "client_secret": sec,
                "refresh_token": refresh_token,
            },
        )

    def call(self, method: str, path: str, token: str | None = None, **kw: Any) -> httpx.Response:
        tok = token or self.tokens["access_token"]
        return self.http.request(
            method, f"{self.base}/Api/V8/{path}", headers={"Authorization": f"Bearer {tok}"}, **kw
        )

    def create(self, module: str, **attrs: Any) -> dict[str, Any]:
        r = self.call("POST", "module", json={"data": {"type": module, "attributes": attrs}})
        assert r.status_code == 201, r.text
        data: dict[str, Any] = r.json()["data"]
        return data


@pytest.fixture
def api(demo_server: DemoServer) -> Iterator[Api]:
    with httpx.Client(timeout=10) as http:
        yield Api(demo_server, http)


# -- OAuth2 ---------------------------------------------------------------------------------


def test_password_grant_json_form_and_basic(api: Api) -> None:
    assert set(api.tokens) == {"token_type", "expires_in", "access_token", "refresh_token"}
    assert api.tokens["access_token"].count(".") == 2
    c = api.server.credentials
    form = api.http.post(
        f"{api.base}/Api/access_token",
        data={
            "grant_type": "password",
            "client_id": c.client_id,
            "client_secret": c.client_secret,
            "username": "admin",
            "password": c.password,
        },
    )
    assert form.status_code == 200
    basic = api.http.post(
        f"{api.base}/Api/access_token",
        data={"grant_type": "client_credentials"},
        auth=(c.cc_client_id, c.cc_client_secret),
    )
    assert basic.status_code == 200
    assert "refresh_token" not in basic.json()
    me = api.call("GET", "current-user", basic.json()["access_token"]).json()["data"]
    assert me["attributes"]["user_name"] == "admin"
    # a client is tied to one grant
    wrong = api.http.post(
        f"{api.base}/Api/access_token",
        json={
            "grant_type": "client_credentials",
            "client_id": c.client_id,
            "client_secret": c.client_secret,
        },
    )
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"


def test_wrong_password_is_a_500_with_the_password(api: Api) -> None:
    r = api.password_grant("not-the-password")
    assert r.status_code == 500
    assert r.json()["error"] == "unknown_error"
    assert "not-the-password" in r.json()["message"]


def test_refresh_rotates_and_revokes(api: Api) -> None:
    old = api.tokens
    new = api.refresh(old["refresh_token"])
    assert new.status_code == 200
    assert new.json()["refresh_token"] != old["refresh_token"]
    again = api.refresh(old["refresh_token"])
    assert again.status_code == 401
    assert again.json()["hint"] == "Token has been revoked"
    r = api.call("GET", "meta/modules", old["access_token"])
    assert r.status_code == 401
    assert r.json()["hint"] == "Access token has been revoked"
    assert api.call("GET", "meta/modules", new.json()["access_token"]).status_code == 200
    other = api.refresh(new.json()["refresh_token"], other_client=True)
    assert other.status_code == 401
    assert other.json()["hint"] == "Token is not linked to client"


def test_tokens_expire_then_refresh_works(api: Api) -> None:
    api.server.credentials.token_ttl = 60
    tokens = api.password_grant().json()
    assert tokens["expires_in"] == 60
    assert api.call("GET", "meta/modules", tokens["access_token"]).status_code == 200
    api.server.expire_tokens()
    r = api.call("GET", "meta/modules", tokens["access_token"])
    assert r.status_code == 401
    assert r.json()["error"] == "access_denied"
    fresh = api.refresh(tokens["refresh_token"])
    assert fresh.status_code == 200
    assert api.call("GET", "meta/modules", fresh.json()["access_token"]).status_code == 200


def test_bearer_is_case_sensitive_and_logout_revokes(api: Api) -> None:
    tok = api.password_grant().json()["access_token"]
    r = api.http.get(f"{api.base}/Api/V8/meta/modules", headers={"Authorization": f"bearer {tok}"})
    assert r.status_code == 401
    assert api.call("POST", "logout", tok).status_code == 200
    assert api.call("GET", "meta/modules", tok).json()["hint"] == "Access token has been revoked"
    r = api.http.get(f"{api.base}/Api/V8/meta/modules")
    assert r.json()["hint"] == "The JWT string must have two dots"


# -- values ------------------------------------------------------------------------------------


def test_values_are_strings_encoded_and_minute_truncated(api: Api) -> None:
    name = "Ref & Co <b>Ü</b> \"quoted\" 'single'"
    rec = api.create("Accounts", name=name, employees=250, email_opt_out=True)
    attrs = rec["attributes"]
    assert attrs["name"] == "Ref & Co &lt;b&gt;Ü&lt;/b&gt; &quot;quoted&quot; &#039;single&#039;"
    assert attrs["employees"] == "250"
    assert attrs["deleted"] == "0"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:00\+00:00", attrs["date_entered"])
    assert attrs["assigned_user_id"] == ""  # not defaulted to the caller
    assert all(isinstance(v, str | dict) for v in attrs.values())
    assert api.server.store.get("Accounts", rec["id"])["name"] == name  # type: ignore[index]
    for value in (name, attrs["name"]):  # filters match the raw and the encoded form
        r = api.call(
            "GET", "module/Accounts", params={"filter[name][eq]": value, "page[size]": "5"}
        )
        assert [d["id"] for d in r.json()["data"]] == [rec["id"]]


def test_datetimes_in_only_in_db_format(api: Api) -> None:
    rec = api.create("Accounts", name="dates")
    for sent, stored in (
        ("2026-01-02 03:04:05", "2026-01-02T03:04:00+00:00"),
        ("2026-01-02T03:04:05+00:00", ""),
        ("garbage", ""),
    ):
        r = api.call(
            "PATCH",
            "module",
            json={
                "data": {"type": "Accounts", "id": rec["id"], "attributes": {"date_entered": sent}}
            },
        )
        assert r.status_code == 201
        assert r.json()["data"]["attributes"]["date_entered"] == stored


def test_patch_null_ignored_empty_clears_email_ignored(api: Api) -> None:
    rec = api.create("Accounts", name="patchy", industry="Banking", email1="a@example.test")
    assert rec["attributes"]["email1"] == "a@example.test"
    body = {
        "data": {
            "type": "Accounts",
            "id": rec["id"],
            "attributes": {
                "industry": None,
                "website": "",
                "name": "patched",
                "email1": "b@example.test",
            },
        }
    }
    r = api.call("PATCH", "module", json=body)
    assert r.status_code == 201
    attrs = r.json()["data"]["attributes"]
    assert attrs["industry"] == "Banking"
    assert attrs["name"] == "patched"
    assert attrs["email1"] == "a@example.test"
    version = api.server.store.get("Accounts", rec["id"])["version"]  # type: ignore[index]
    assert version == 2


def test_multienum_and_bool_encoding(api: Api) -> None:
    rec = api.create(
        "Contacts", last_name="Multi", lawful_basis="^consent^,^contract^", do_not_call="true"
    )
    assert rec["attributes"]["lawful_basis"] == "^consent^,^contract^"
    assert rec["attributes"]["do_not_call"] == "1"
    r = api.call(
        "POST",
        "module",
        json={
            "data": {
                "type": "Contacts",
                "attributes": {"last_name": "x", "lawful_basis": ["consent"]},
            }
        },
    )
    assert r.status_code == 400
    assert r.json()["errors"]["detail"] == 'Expected argument of type "string", "array" given'


# -- lists -------------------------------------------------------------------------------------


def test_no_page_gives_20_rows_and_no_meta(api: Api) -> None:
    body = api.call("GET", "module/Accounts").json()
    assert len(body["data"]) == 20
    assert "meta" not in body
    assert "links" not in body


def test_paging_meta_and_buggy_links(api: Api) -> None:
    total = api.server.store.count("Accounts")
    pages = -(-total // 7)
    body = api.call(
        "GET", "module/Accounts", params={"page[size]": "7", "page[number]": "2", "sort": "name"}
    ).json()
    assert body["meta"] == {"total-pages": pages, "records-on-this-page": 7}
    assert body["links"]["next"] == "V8/module/Accounts?sort=name&page[size]=7&page[number]=3"
    nopage = api.call("GET", "module/Accounts", params={"page[size]": "7"}).json()
    assert nopage["links"]["next"].endswith("page[number]=1")  # the real server's bug
    last = api.call(
        "GET", "module/Accounts", params={"page[size]": "7", "page[number]": str(pages)}
    ).json()
    assert last["links"]["next"] is None
    assert last["links"]["last"] is None
    beyond = api.call(
        "GET", "module/Accounts", params={"page[size]": "7", "page[number]": str(pages + 1)}
    ).json()
    assert beyond == {
        "meta": {"message": "Request was successful, but there is no result"},
        "data": [],
    }
    bad = api.call("GET", "module/Accounts", params={"page[size]": "0"})
    assert bad.status_code == 400


def test_sort_filter_and_fields(api: Api) -> None:
    params = {
        "page[size]": "50",
        "page[number]": "1",
        "sort": "-name",
        "fields[Accounts]": "name,account_type",
        "filter[operator]": "or",
        "filter[account_type][eq]": "Press",
        "filter[industry][eq]": "Banking",
    }
    body = api.call("GET", "module/Accounts", params=params).json()
    names = [d["attributes"]["name"] for d in body["data"]]
    assert names == sorted(names, reverse=True)
    assert all(set(d["attributes"]) == {"name", "account_type"} for d in body["data"])
    like = api.call(
        "GET", "module/Accounts", params={"filter[name][like]": "Acme%", "page[size]": "20"}
    ).json()
    assert like["data"]
    assert all(d["attributes"]["name"].startswith("Acme") for d in like["data"])
    for bad in (
        {"filter[name][contains]": "x"},
        {"filter[name]": "x"},
        {"sort": "name,-id"},
        {"filter[operator]": "xor", "filter[name][eq]": "x"},
        {"fields[Accounts]": "name, industry"},
        {"filter[nope][eq]": "x"},
    ):
        r = api.call("GET", "module/Accounts", params={**bad, "page[size]": "1"})
        assert r.status_code == 400, bad
        assert set(r.json()["errors"]) == {"status", "title", "detail"}
    broken = api.call(
        "GET", "module/Accounts", params={"filter[assigned_user_name][eq]": "x", "page[size]": "1"}
    )
    assert broken.status_code == 400
    assert broken.text.endswith("Database failure. Please refer to suitecrm.log for details.")


def test_unknown_things_are_400_and_html_404_405(api: Api) -> None:
    dead = "00000000-0000-4000-8000-00000000dead"
    assert api.call("GET", f"module/Accounts/{dead}").status_code == 400
    assert api.call("GET", "module/accounts").status_code == 400
    assert api.call("GET", "module/Account", params={"page[size]": "1"}).status_code == 200
    r404 = api.call("GET", "module/Accounts/")
    assert r404.status_code == 404
    assert r404.headers["content-type"].startswith("text/html")
    r405 = api.call("PUT", "module")
    assert r405.status_code == 405
    assert r405.headers["allow"] == "POST, PATCH"


# -- relationships and deletes --------------------------------------------------------------------


def test_relationships_and_delete(api: Api) -> None:
    acc = api.create("Accounts", name="rel")["id"]
    con = api.create("Contacts", last_name="Rel")["id"]
    path = f"module/Accounts/{acc}/relationships/contacts"
    empty = api.call("GET", path).json()
    assert empty["data"] == []
    added = api.call("POST", path, json={"data": {"type": "Contacts", "id": con}})
    assert added.status_code == 201
    assert added.json()["meta"]["relationshipLink"] == "contacts"
    listed = api.call("GET", path).json()
    assert listed["meta"]["total-records"] == 1
    assert listed["data"][0]["links"]["self"] == f"V8/module/Contact/{con}"
    got = api.call("GET", f"module/Contacts/{con}").json()["data"]["attributes"]
    assert got["account_id"] == acc
    assert got["account_name"] == "rel"
    assert api.call("DELETE", f"{path}/{con}").status_code == 200
    assert api.call("DELETE", f"{path}/{con}").status_code == 400
    assert api.call("DELETE", f"module/Accounts/{acc}").status_code == 200
    assert api.call("DELETE", f"module/Accounts/{acc}").status_code == 400
    assert api.call("GET", f"module/Accounts/{acc}").status_code == 400


def test_vardefs_extension(api: Api) -> None:
    attrs = api.call("GET", "crmdesk/vardefs/Accounts").json()["data"]["attributes"]
    account_type = attrs["fields"]["account_type"]
    assert {"key": "Customer", "label": "Customer"} in account_type["options"]
    assert attrs["fields"]["parent_id"]["module"] == "Accounts"
    assert attrs["links"]["contacts"] == {
        "label": "Contacts",
        "module": "Contacts",
        "cardinality": "many",
        "relationship": "accounts_contacts",
    }
    assert "name" in attrs["list_fields"]
    cases = api.call("GET", "crmdesk/vardefs/Cases").json()["data"]["attributes"]
    assert {"key": "P1", "label": "High"} in cases["fields"]["priority"]["options"]


def test_list_page_uses_a_constant_number_of_queries(api: Api) -> None:
    """No per-row queries: a 100-row page costs the same few queries as a 5-row one."""
    store: Store = api.server.store
    counted: list[str] = []
    original = store._query

    def counting(sql: str, params: Any = ()) -> Any:
        counted.append(sql)
        return original(sql, params)

    fields = "name,account_type,industry,billing_address_city,phone_office,assigned_user_name"
    store._query = counting  # type: ignore[method-assign]
    try:
        sizes = {}
        for size in ("5", "100"):
            counted.clear()
            r = api.call(
                "GET",
                "module/Accounts",
                params={
                    "page[size]": size,
                    "page[number]": "2",
                    "sort": "name",
                    "fields[Accounts]": fields,
                },
            )
            assert r.status_code == 200
            assert len(r.json()["data"]) == int(size)
            sizes[size] = len(counted)
    finally:
        del store._query
    assert sizes["5"] == sizes["100"] <= 4


def test_client_chosen_id(api: Api) -> None:
    rid = str(uuid.uuid4())
    body = {"data": {"type": "Account", "id": rid, "attributes": {"name": "mine"}}}
    r = api.call("POST", "module", json=body)
    assert r.status_code == 201
    assert r.json()["data"]["id"] == rid
    assert r.json()["data"]["type"] == "Account"
    again = api.call("POST", "module", json=body)
    assert again.status_code == 400
    assert "already exist" in again.json()["errors"]["detail"]
