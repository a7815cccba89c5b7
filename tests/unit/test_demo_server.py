"""The demo server's own machinery: addresses, credentials, the legacy switch, fault injection."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from crmdesk.demo.faults import Faults
from crmdesk.demo.server import DemoServer


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def _token(server: DemoServer, http: httpx.Client, api: str = "/Api") -> httpx.Response:
    c = server.credentials
    return http.post(
        f"{server.base_url('suitecrm')}{api}/access_token",
        json={
            "grant_type": "client_credentials",
            "client_id": c.cc_client_id,
            "client_secret": c.cc_client_secret,
        },
    )


def test_addresses_profiles_and_secrets(demo_server: DemoServer) -> None:
    assert demo_server.url.startswith("http://127.0.0.1:")
    assert demo_server.base_url("suitecrm") == demo_server.url + "/suitecrm"
    prof = demo_server.profile("suitecrm")
    sec = demo_server.secrets("suitecrm")
    assert prof.dialect == "suitecrm"
    assert prof.base_url == demo_server.base_url("suitecrm")
    assert prof.username == "admin"
    assert prof.options["client_id"] == demo_server.credentials.client_id
    assert set(sec) == {"password", "client_secret"}
    cc = demo_server.profile("suitecrm", auth="client_credentials")
    assert cc.options["client_id"] == demo_server.credentials.cc_client_id
    assert set(demo_server.secrets("suitecrm", auth="client_credentials")) == {"client_secret"}
    for secret in sec.values():
        assert secret not in repr(demo_server.credentials)
        assert secret not in repr(sec)
        assert secret not in repr(prof)
    with pytest.raises(KeyError):
        demo_server.base_url("nosuchcrm")


def test_secrets_are_random_per_instance(demo_server: DemoServer) -> None:
    a = DemoServer(demo_server.db_path, dialects=("suitecrm",))  # reuses the generated file
    b = DemoServer(demo_server.db_path, dialects=("suitecrm",))
    try:
        assert a.credentials.password != b.credentials.password
        assert a.credentials.client_secret != b.credentials.client_secret
    finally:
        a.store.close()
        b.store.close()


def test_unknown_prefix_is_404(demo_server: DemoServer, http: httpx.Client) -> None:
    r = http.get(f"{demo_server.url}/nosuchcrm/Api/V8/meta/modules")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")


def test_legacy_only_switch(demo_server: DemoServer, http: httpx.Client) -> None:
    assert _token(demo_server, http).status_code == 200
    assert _token(demo_server, http, "/legacy/Api").status_code == 200
    demo_server.suitecrm_legacy_only = True
    plain = _token(demo_server, http)
    assert plain.status_code == 404
    assert plain.headers["content-type"].startswith("text/html")
    legacy = _token(demo_server, http, "/legacy/Api")
    assert legacy.status_code == 200
    tok = legacy.json()["access_token"]
    r = http.get(
        f"{demo_server.base_url('suitecrm')}/legacy/Api/V8/module/Accounts?page[size]=2",
        headers={"Authorization": f"Bearer {tok}"},
    )
    assert r.status_code == 200
    assert len(r.json()["data"]) == 2


def test_legacy_only_at_construction(demo_server: DemoServer) -> None:
    server = DemoServer(demo_server.db_path, suitecrm_legacy_only=True, dialects=("suitecrm",))
    with server, httpx.Client() as http:
        assert _token(server, http).status_code == 404
        assert _token(server, http, "/legacy/Api").status_code == 200


def test_faults_validate_and_count() -> None:
    f = Faults()
    with pytest.raises(ValueError, match="unknown fault kind"):
        f.inject(".", "explode")
    with pytest.raises(ValueError):
        f.inject(".", "status")
    f.inject(r"/a$", "status:503", times=2)
    f.inject(r"/b$", "empty", times=None, method="post")
    assert f.take("GET", "/x/a") is not None
    assert f.take("GET", "/x/b") is None  # wrong method
    assert f.take("POST", "/x/b") is not None
    assert f.take("GET", "/x/a") is not None
    assert f.take("GET", "/x/a") is None  # used up
    assert f.take("POST", "/x/b") is not None  # forever
    f.clear()
    assert f.pending() == []


@pytest.mark.parametrize(
    ("kind", "status", "ctype"),
    [
        ("html", 200, "text/html"),
        ("html:500", 500, "text/html"),
        ("empty", 200, "application/json"),
        ("status:500", 500, "text/html"),
        ("status:502", 502, "text/html"),
        ("status:503", 503, "text/html"),
        ("status:429", 429, "application/json"),
    ],
)
def test_canned_faults(
    demo_server: DemoServer, http: httpx.Client, kind: str, status: int, ctype: str
) -> None:
    demo_server.faults.inject(r"/suitecrm/Api/access_token$", kind)
    r = _token(demo_server, http)
    assert r.status_code == status
    assert r.headers["content-type"].startswith(ctype)
    if kind.startswith("empty") or kind == "status:500":
        assert r.content == b""
    if kind.startswith("html"):
        assert "<b>Fatal error</b>" in r.text
    if status in (429, 503):
        assert r.headers["retry-after"] == "1"
    assert _token(demo_server, http).status_code == 200  # times=1: the next one is fine


def test_truncated_body(demo_server: DemoServer, http: httpx.Client) -> None:
    tok = _token(demo_server, http).json()["access_token"]
    url = f"{demo_server.base_url('suitecrm')}/Api/V8/meta/modules"
    headers = {"Authorization": f"Bearer {tok}"}
    full = http.get(url, headers=headers)
    demo_server.faults.inject(r"/meta/modules$", "truncated")
    cut = http.get(url, headers=headers)
    assert cut.status_code == 200
    assert full.text.startswith(cut.text)
    assert 0 < len(cut.content) < len(full.content)
    with pytest.raises(json.JSONDecodeError):
        cut.json()


def test_delay_and_drop(demo_server: DemoServer, http: httpx.Client) -> None:
    demo_server.faults.inject(r"/access_token$", "delay:0.3")
    t0 = time.monotonic()
    assert _token(demo_server, http).status_code == 200
    assert time.monotonic() - t0 >= 0.3
    demo_server.faults.inject(r"/access_token$", "drop")
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        _token(demo_server, http)
    assert _token(demo_server, http).status_code == 200


def test_faults_do_not_leak_part_1(demo_server: DemoServer) -> None:
    demo_server.faults.inject(".", "status:503", times=None)
    demo_server.suitecrm_legacy_only = True


def test_faults_do_not_leak_part_2(demo_server: DemoServer, http: httpx.Client) -> None:
    assert demo_server.faults.pending() == []
    assert not demo_server.suitecrm_legacy_only
    assert _token(demo_server, http).status_code == 200
