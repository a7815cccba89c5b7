"""Shared fixtures: one demo CRM server for the whole session, faults reset around each test."""

from __future__ import annotations

import faulthandler
import os
import sys
import threading
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


# -- a run that goes wrong says where ---------------------------------------------------------
#: Above this resident size the run stops itself, naming the test that was running, rather
#: than being killed by the machine with nothing said (a whole run stays under 1.5 GB).
MEMORY_LIMIT_MB = int(os.environ.get("CRMDESK_TEST_MEMORY_LIMIT_MB", "4000"))
_running: dict[str, object] = {"test": "(between tests)"}


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _memory_guard() -> None:
    stop = threading.Event()
    while not stop.wait(1.0):
        rss = _rss_mb()
        if rss > MEMORY_LIMIT_MB:
            config = _running.get("config")
            if isinstance(config, pytest.Config):  # say it on the terminal, not in a capture
                capman = config.pluginmanager.getplugin("capturemanager")
                if capman is not None:
                    capman.suspend_global_capture(in_=False)
                    capman.suspend_fixture()
            sys.stderr.write(
                f"\nmemory guard: the test process holds {rss:.0f} MB (limit {MEMORY_LIMIT_MB})"
                f" while running {_running['test']}; every thread's stack follows\n"
            )
            faulthandler.dump_traceback(all_threads=True)
            sys.stderr.flush()
            os._exit(70)


def pytest_sessionstart(session: pytest.Session) -> None:
    if os.path.exists("/proc/self/statm"):
        threading.Thread(target=_memory_guard, name="memory-guard", daemon=True).start()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    _running["test"] = item.nodeid
    try:
        return (yield)
    finally:
        _running["test"] = "(between tests)"


def pytest_configure(config: pytest.Config) -> None:
    _running["config"] = config


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """A failure is printed when it happens, not only in the summary at the end, so a run
    that never reaches its end still shows what failed."""
    if not report.failed:
        return
    text = f"FAILED {report.nodeid} ({report.when})\n{report.longreprtext}"
    config = _running.get("config")
    reporter = None
    if isinstance(config, pytest.Config):
        reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line("")
        reporter.write_line(text)
    else:
        sys.stderr.write(text + "\n")
