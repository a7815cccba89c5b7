"""The API console never shows, keeps or copies a secret of its connection (demo CRM).

For each dialect and each sign-in method the demo offers, the test signs in through the
main window, opens Tools → API console, sends what a user would (a module list, then "who
am I", whose answers carry tokens on some CRMs), then searches every place the user can
see or copy for the connection's secrets: the password, client secret, API key, secret
key, Vtiger access key, the access / refresh tokens and Vtiger session the backend holds
after sign-in, in raw, URL-encoded and Basic-auth forms.  Places: the JSON tree (every
node, both columns, tooltips), the raw text, the headers table, the history list and each
entry's request as restored into the form, "copy as curl" and the clipboard, window
titles, the console's status line, the main window's status bar and the log file.
Positive controls make sure each place holds output and each token was really found.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from helpers.admin_util import collect_garbage
from helpers.demo_window import demo_window
from helpers.qasync_loop import AsyncDriver
from PySide6.QtCore import QAbstractItemModel, QModelIndex, Qt
from PySide6.QtGui import QGuiApplication
from pytestqt.qtbot import QtBot

from crmdesk.backends.redact import MASK
from crmdesk.core.backend import Backend
from crmdesk.demo.server import DemoServer
from crmdesk.storage import paths
from crmdesk.storage.logfile import install_file_log, log_file_path
from crmdesk.ui.admin.console import ApiConsole, parse_masked_json
from crmdesk.ui.connections import Connection
from crmdesk.ui.main_window import MainWindow

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "does not support raise")

#: dialect, sign-in method, and the requests a user sends: (path, query) pairs.
CASES: list[tuple[str, str, list[tuple[str, list[tuple[str, str]]]]]] = [
    ("suitecrm", "password", [("V8/meta/modules", []), ("V8/current-user", [])]),
    ("suitecrm", "client_credentials", [("V8/meta/modules", []), ("V8/current-user", [])]),
    ("suitecrm", "authorization_code", [("V8/meta/modules", []), ("V8/current-user", [])]),
    ("sugarcrm", "password", [("metadata", [("type_filter", "modules")]), ("me", [])]),
    ("espocrm", "password", [("Metadata", [("key", "scopes")]), ("App/user", [])]),
    ("espocrm", "api_key", [("Metadata", [("key", "scopes")]), ("App/user", [])]),
    ("espocrm", "hmac", [("Metadata", [("key", "scopes")]), ("App/user", [])]),
    # Open-source Vtiger has no "me" (a 500, as on the real server): describe instead.
    ("vtiger", "webservice", [("listtypes", []), ("describe", [("elementType", "Accounts")])]),
    ("vtiger", "rest", [("listtypes", []), ("me", [])]),
]


@pytest.fixture(autouse=True)
def _main_thread_gc() -> Iterator[None]:
    collect_garbage()
    yield
    collect_garbage()


@pytest.fixture
def log_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The app's log file at DEBUG (httpx and httpcore included), as the app writes it."""
    monkeypatch.setenv(paths.LOG_ENV, str(tmp_path / "log"))
    root = logging.getLogger()
    level = root.level
    handler = install_file_log(level=logging.DEBUG)
    try:
        yield log_file_path()
    finally:
        root.removeHandler(handler)
        handler.close()
        root.setLevel(level)


def session_secrets(backend: Backend, dialect: str, auth: str) -> dict[str, str]:
    """The tokens and session the backend signed in with; each one must exist."""
    found: dict[str, str | None] = {}
    b: object = backend
    if dialect == "suitecrm":
        auth_state = getattr(b, "auth")  # noqa: B009 - not part of the Backend protocol
        found["access token"] = auth_state.access_token
        if auth != "client_credentials":  # client_credentials issues no refresh token
            found["refresh token"] = auth_state.refresh_token
    elif dialect == "sugarcrm":
        session = getattr(b, "_session")  # noqa: B009
        found["access token"] = session.access_token
        found["refresh token"] = session.refresh_token
    elif dialect == "espocrm" and auth == "password":
        found["auth token"] = getattr(b, "_token_auth").token  # noqa: B009
    elif dialect == "vtiger" and auth == "webservice":
        found["session name"] = getattr(b, "session")  # noqa: B009
    missing = [k for k, v in found.items() if not v]
    assert not missing, f"the backend holds no {missing} after sign-in"
    return {k: v for k, v in found.items() if v}


def needles(secrets: dict[str, str], username: str) -> dict[str, str]:
    """Each secret as it could appear: raw, URL-encoded, Basic / Espo-Authorization form."""
    out: dict[str, str] = {}
    for name, value in secrets.items():
        assert len(value) >= 6, f"{name} is too short to search for"
        forms = {
            value: name,
            quote(value, safe=""): f"{name} (URL-encoded)",
            quote_plus(value): f"{name} (form-encoded)",
        }
        for pair in (f"{username}:{value}", f"{value}:"):
            forms[base64.b64encode(pair.encode()).decode()] = f"{name} (Basic form)"
        for form, what in forms.items():
            out.setdefault(form, what)
    return out


def model_texts(model: QAbstractItemModel, parent: QModelIndex | None = None) -> list[str]:
    """Every display and tooltip text of ``model``, all levels (fetching lazy children)."""
    parent = parent if parent is not None else QModelIndex()
    if model.canFetchMore(parent):
        model.fetchMore(parent)
    out: list[str] = []
    for row in range(model.rowCount(parent)):
        for col in range(model.columnCount(parent)):
            idx = model.index(row, col, parent)
            for role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
                value = idx.data(role)
                if value is not None:
                    out.append(str(value))
        first = model.index(row, 0, parent)
        if model.hasChildren(first):
            out += model_texts(model, first)
    return out


def visible_texts(win: MainWindow, console: ApiConsole) -> dict[str, str]:
    """Every place of the console (and the window) a user can read or copy."""
    places: dict[str, str] = {
        "console title": console.windowTitle(),
        "main window title": win.windowTitle(),
        "console status": console.status.text(),
        "main status bar": win.statusBar().currentMessage(),
        "history list": "\n".join(
            console.history_list.item(i).text() for i in range(console.history_list.count())
        ),
    }
    for row in range(console.history_list.count()):
        # Choosing an entry shows its response and restores its request into the form
        # (what the user typed last is theirs to see; what history kept is checked here).
        console.history_list.setCurrentRow(-1)
        console.history_list.setCurrentRow(row)
        assert console.current is console.history[row]
        tag = f"history entry {row}"
        places[f"{tag}: JSON tree"] = "\n".join(model_texts(console.tree.model))
        places[f"{tag}: raw text"] = console.raw.text()
        places[f"{tag}: headers"] = "\n".join(model_texts(console.header_proxy))
        places[f"{tag}: response line"] = console.response_line.text()
        places[f"{tag}: request path"] = console.path.text()
        places[f"{tag}: request query"] = repr(console.query.pairs())
        places[f"{tag}: request body"] = console.body.toPlainText()
        places[f"{tag}: kept request"] = repr(console.history[row].request)
        places[f"{tag}: curl"] = console.copy_curl()
        places[f"{tag}: clipboard"] = QGuiApplication.clipboard().text()
    return places


@pytest.mark.parametrize(
    ("dialect", "auth", "requests"),
    CASES,
    ids=[f"{d}-{a}" for d, a, _r in CASES],
)
def test_console_shows_no_secret(
    qtbot: QtBot,
    aio: AsyncDriver,
    demo_server: DemoServer,
    tmp_path: Path,
    log_file: Path,
    dialect: str,
    auth: str,
    requests: list[tuple[str, list[tuple[str, str]]]],
) -> None:
    typed = demo_server.secrets(dialect, auth)
    profile = replace(demo_server.profile(dialect, auth), name=f"Console {dialect} {auth}")
    with demo_window(qtbot, aio, demo_server, tmp_path) as win:
        task = win.connect_to(profile, typed)
        aio.wait_until(task.done, timeout=30)
        conn = task.result()
        assert isinstance(conn, Connection)
        secrets = {k: v for k, v in typed.items() if v}
        assert secrets, "the sign-in needs secrets"
        secrets.update(session_secrets(conn.backend, dialect, auth))

        win.actions_by_id["admin.console"].trigger()
        console = next(v for v in win.findChildren(ApiConsole) if v.isVisible())
        assert console.backend is conn.backend
        for n, (path, query) in enumerate(requests, start=1):
            console.method.setCurrentText("GET")
            console.path.setText(path)
            console.query.set_pairs(query)
            assert console.send_button is not None
            console.send_button.click()
            aio.wait_until(lambda n=n: len(console.history) == n, timeout=20)  # type: ignore[misc]
            assert console.response_line.text().startswith("200"), console.raw.text()[:300]
        aio.wait_until(lambda: not console.runs.running("send"), timeout=10)

        places = visible_texts(win, console)
        # Positive controls: the places hold what the user saw.
        assert "200" in places["history list"]
        for row in range(len(requests)):
            assert places[f"history entry {row}: raw text"].strip()
            assert places[f"history entry {row}: JSON tree"].strip()
            assert places[f"history entry {row}: headers"].strip()
            assert places[f"history entry {row}: curl"].startswith("curl ")
        username = profile.username or demo_server.credentials.username
    places["log file"] = log_file.read_text(encoding="utf-8")
    assert "HTTP Request" in places["log file"]
    for path, _query in requests:
        assert path in places["log file"]

    leaks = [
        f"{what} in {where}"
        for needle, what in needles(secrets, username).items()
        for where, text in places.items()
        if needle in text
    ]
    assert not leaks, leaks


def test_a_token_request_typed_into_the_console_stays_hidden(
    qtbot: QtBot, aio: AsyncDriver, demo_server: DemoServer, tmp_path: Path, log_file: Path
) -> None:
    """An admin asks SuiteCRM for a token by hand, typing the password and client secret
    into the body: neither they nor the fresh (never registered) tokens show anywhere."""
    typed = demo_server.secrets("suitecrm")
    profile = demo_server.profile("suitecrm")
    issued: Any = getattr(demo_server.apps["suitecrm"], "tokens")  # noqa: B009
    with demo_window(qtbot, aio, demo_server, tmp_path) as win:
        task = win.connect_to(replace(profile, name="Console token"), typed)
        aio.wait_until(task.done, timeout=30)
        conn = task.result()
        assert isinstance(conn, Connection)
        secrets = {k: v for k, v in typed.items() if v}
        secrets.update(session_secrets(conn.backend, "suitecrm", "password"))
        refresh_before = set(issued.refresh)

        win.actions_by_id["admin.console"].trigger()
        console = next(v for v in win.findChildren(ApiConsole) if v.isVisible())
        console.method.setCurrentText("POST")
        console.path.setText("access_token")
        body = {
            "grant_type": "password",
            "client_id": profile.options["client_id"],
            "client_secret": typed["client_secret"],
            "username": profile.username,
            "password": typed["password"],
        }
        console.body.setPlainText(json.dumps(body, indent=2))
        assert console.send_button is not None
        console.send_button.click()
        aio.wait_until(lambda: len(console.history) == 1, timeout=20)
        assert console.response_line.text().startswith("200"), console.raw.text()[:300]
        fresh = set(issued.refresh) - refresh_before
        assert len(fresh) == 1, "the console's request issued a new refresh token"
        secrets["refresh token issued to the console"] = fresh.pop()
        # The user sees that tokens came back, masked.
        assert "access_token" in console.raw.text()
        assert "refresh_token" in console.raw.text()

        places = visible_texts(win, console)
        assert '"grant_type": "password"' in places["history entry 0: request body"]
        assert "--data-raw" in places["history entry 0: curl"]
    places["log file"] = log_file.read_text(encoding="utf-8")
    assert "access_token" in places["log file"]

    leaks = [
        f"{what} in {where}"
        for needle, what in needles(secrets, profile.username).items()
        for where, text in places.items()
        if needle in text
    ]
    assert not leaks, leaks


def test_masked_literals_keep_the_json_tree() -> None:
    """An adapter's redaction can mask a bare literal (``"token": null``); the console
    still parses the body so the user gets a JSON tree, with the mask as a string."""
    body = '{"user": {"id": "1"}, "token": ‹redacted›, "list": [‹redacted›, 2]}'
    assert parse_masked_json(body) == (
        True,
        {"user": {"id": "1"}, "token": MASK, "list": [MASK, 2]},
    )
    assert parse_masked_json('{"a": 1}') == (False, None)  # nothing masked: left alone
    assert parse_masked_json("token=‹redacted›") == (False, None)
    assert parse_masked_json('{"a": ‹redacted›') == (False, None)
