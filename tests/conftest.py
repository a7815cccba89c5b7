"""Shared fixtures: one demo CRM server for the whole session, faults reset around each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crmdesk.backends.oauth_loopback import set_browser
from crmdesk.demo.browser import DemoBrowser
from crmdesk.demo.server import DemoServer


def _no_system_browser(url: str) -> bool:
    raise AssertionError("a test tried to open the system web browser")


@pytest.fixture(scope="session", autouse=True)
def no_system_browser() -> Iterator[None]:
    """Tests never open a real web browser: a sign-in in the browser fails loudly unless
    a test (or ``demo_server``, below) hands its own scripted one."""
    previous = set_browser(_no_system_browser)
    yield
    set_browser(previous)


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    """The demo CRM on 127.0.0.1 (every dialect), over a database generated once per session.

    Tests that change records should create their own; tests that need another token
    lifetime or the SuiteCRM 8 ``/legacy`` layout set it and restore it.
    """
    db = tmp_path_factory.mktemp("demo") / "demo.sqlite"
    server = DemoServer(db).start()
    # Sign-ins in the browser (authorization-code grant) go to a scripted demo user.
    previous = set_browser(DemoBrowser(server.credentials.username, server.credentials.password))
    try:
        yield server
    finally:
        set_browser(previous)
        server.stop()


@pytest.fixture(autouse=True)
def faults_reset(request: pytest.FixtureRequest) -> Iterator[None]:
    """Injected faults (and the legacy-only switch) never leak from one test to the next."""
    yield
    if "demo_server" in request.fixturenames:
        server: DemoServer = request.getfixturevalue("demo_server")
        server.faults.clear()
        server.suitecrm_legacy_only = False
        server.credentials.token_ttl = 3600.0
