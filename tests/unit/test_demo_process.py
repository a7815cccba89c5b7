"""The demo CRM in a child process: signs in over loopback, takes fault switches over the
pipe, keeps its secrets out of files, and goes away when its parent lets go."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from crmdesk.backends import open_backend
from crmdesk.core.query import Query
from crmdesk.core.records import PageRequest
from crmdesk.demo.process import DemoProcess, DemoProcessError, serve


@pytest.fixture(scope="module")
def child() -> Iterator[DemoProcess]:
    with DemoProcess(dialects=("suitecrm", "espocrm")).start() as demo:
        yield demo


async def test_a_backend_signs_in_and_lists_over_loopback(child: DemoProcess) -> None:
    assert child.running
    assert child.dialects == ("suitecrm", "espocrm")
    backend = open_backend(child.profile("suitecrm"), child.secrets("suitecrm"))
    try:
        await backend.connect()
        page = await backend.list_records("Accounts", Query(fields=("name",)), PageRequest(5))
        assert len(page.records) == 5
        assert all(r.values["name"] for r in page.records)
    finally:
        await backend.close()
    with pytest.raises(KeyError):
        child.base_url("vtiger")  # not hosted by this child


async def test_faults_are_switched_over_the_pipe(child: DemoProcess) -> None:
    fault = child.inject(r"/suitecrm/Api/V8/meta/modules$", "status:503", times=None)
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(2):
                resp = await client.get(f"{child.base_url('suitecrm')}/Api/V8/meta/modules")
                assert resp.status_code == 503
        assert fault.hits == 2
    finally:
        child.clear()
    backend = open_backend(child.profile("suitecrm"), child.secrets("suitecrm"))
    try:
        await backend.connect()  # cleared: the modules list answers again
    finally:
        await backend.close()
    assert fault.hits == 2


async def test_expired_tokens_make_the_backend_sign_in_again(child: DemoProcess) -> None:
    backend = open_backend(child.profile("suitecrm"), child.secrets("suitecrm"))
    paths: list[str] = []

    async def seen(request: httpx.Request) -> None:
        paths.append(request.url.path)

    try:
        await backend.connect()
        backend.transport.client.event_hooks["request"].append(seen)  # type: ignore[attr-defined]
        query, one = Query(fields=("name",)), PageRequest(1)
        await backend.list_records("Accounts", query, one)
        assert not any(p.endswith("/access_token") for p in paths)
        child.expire_tokens()
        await backend.list_records("Accounts", query, one)
        assert any(p.endswith("/access_token") for p in paths)  # a 401, then a new token
    finally:
        await backend.close()


def test_a_refused_command_says_why(child: DemoProcess) -> None:
    with pytest.raises(DemoProcessError, match="unknown fault kind"):
        child.inject(".", "explode")
    with pytest.raises(DemoProcessError, match="unknown command"):
        child._command({"op": "nonsense"})
    assert child.running  # still serving


def test_the_child_stops_when_its_input_ends() -> None:
    demo = DemoProcess(dialects=("vtiger",)).start()
    process = demo._child
    assert process is not None
    url = demo.url
    demo.stop()
    assert process.returncode == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=2)
    with pytest.raises(DemoProcessError, match="not started"):
        demo.profile("vtiger")


def test_a_child_that_cannot_start_is_reported() -> None:
    with pytest.raises(DemoProcessError, match="stopped"):
        DemoProcess(dialects=("no-such-crm",)).start()


def test_the_hello_line_carries_the_credentials_and_no_file_does() -> None:
    """``serve`` answers on the pipe it is given; secrets go nowhere else."""
    commands = io.StringIO(json.dumps({"op": "clear"}) + "\nnot json\n")
    out = io.StringIO()
    serve(("suitecrm",), commands, out)
    hello, cleared, broken = (json.loads(line) for line in out.getvalue().splitlines())
    assert hello["credentials"]["password"]
    assert hello["dialects"] == ["suitecrm"]
    assert cleared == {"ok": True}
    assert broken["ok"] is False
    assert broken["error"]


def test_the_module_runs_as_a_script() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "crmdesk.demo.process", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "DemoProcess protocol" in done.stdout


def test_a_frozen_bundle_starts_itself_with_the_serve_flag(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PyInstaller bundles have no ``python -m``: the app's own entry routes the flag."""
    from crmdesk.app import DEMO_SERVE
    from crmdesk.demo.process import child_command

    assert child_command(("vtiger",)) == [
        sys.executable, "-m", "crmdesk.demo.process", "--dialects", "vtiger"
    ]  # fmt: skip
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert child_command() == [sys.executable, DEMO_SERVE]


def test_the_app_entry_serves_the_demo_behind_the_flag() -> None:
    """What a frozen bundle runs (``crmdesk --demo-serve``), here through ``python -m crmdesk``."""
    child = subprocess.Popen(
        [sys.executable, "-m", "crmdesk", "--demo-serve", "--dialects", "espocrm"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdin is not None
        hello = json.loads(child.stdout.readline())
        assert hello["dialects"] == ["espocrm"]
        resp = httpx.get(f"http://127.0.0.1:{hello['port']}/espocrm/api/v1/App/user", timeout=10)
        assert resp.status_code == 401  # a real EspoCRM answer: no credentials sent
        child.stdin.close()
        assert child.wait(timeout=30) == 0
    finally:
        if child.poll() is None:
            child.kill()
