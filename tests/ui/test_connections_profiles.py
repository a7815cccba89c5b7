"""Saved profiles in the window (what ``crmdesk --profile NAME`` does), with an in-memory
keyring, against the demo CRM: remembered secrets, the prompt for missing ones, the
refresh-token resume without a password (SuiteCRM, Sugar), rotated tokens kept at once,
Disconnect logging out and forgetting the token, Quit keeping it, the Connect dialog.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import keyring.backends.fail
import pytest
from helpers.admin_util import collect_garbage
from helpers.memory_keyring import MemoryKeyring
from helpers.qasync_loop import AsyncDriver
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from crmdesk.backends import open_backend
from crmdesk.core.connection import ConnectionProfile, Secrets
from crmdesk.core.errors import AuthError
from crmdesk.demo.server import DemoServer
from crmdesk.storage.connections import ConnectionStore
from crmdesk.storage.profiles import ProfileStore
from crmdesk.storage.secrets import SecretStore, service_name
from crmdesk.ui.connections import Connection
from crmdesk.ui.main_window import MainWindow
from crmdesk.ui.secret_prompt import SecretPrompt

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "does not support raise")


class Prompt:
    """Stands in for the password prompt: records what was asked, answers from a script."""

    def __init__(self, answer: Secrets | None = None) -> None:
        self.answer = answer
        self.asked: list[tuple[str, tuple[str, ...], str]] = []

    async def __call__(
        self, parent: QWidget, profile: ConnectionProfile, missing: Sequence[str], reason: str
    ) -> Secrets | None:
        self.asked.append((profile.name, tuple(missing), reason))
        return self.answer


@pytest.fixture(autouse=True)
def _main_thread_gc() -> Iterator[None]:
    collect_garbage()
    yield
    collect_garbage()


@pytest.fixture
def kr() -> MemoryKeyring:
    return MemoryKeyring()


@pytest.fixture
def store(tmp_path: Path, kr: MemoryKeyring) -> ConnectionStore:
    return ConnectionStore(ProfileStore(tmp_path / "config"), SecretStore(kr))


def make_window(qtbot: QtBot, store: ConnectionStore) -> MainWindow:
    win = MainWindow(store=store)
    qtbot.addWidget(win)
    win.show()
    win.start()
    return win


@pytest.fixture
def window(qtbot: QtBot, aio: AsyncDriver, store: ConnectionStore) -> Iterator[MainWindow]:
    win = make_window(qtbot, store)
    yield win
    if win.errors.dialog is not None:
        win.errors.dialog.close()
    aio.run(win.shutdown(), timeout=15)


async def _done(task: asyncio.Task[Any] | None) -> Any:
    assert task is not None
    return await task


def saved_profile(
    store: ConnectionStore, demo: DemoServer, dialect: str, *, remember: bool = True
) -> ConnectionProfile:
    profile = replace(demo.profile(dialect), name=f"{dialect} {uuid.uuid4().hex[:6]}")
    store.save(profile, demo.secrets(dialect), remember=remember)
    return profile


def stored(kr: MemoryKeyring, name: str, key: str) -> str | None:
    return kr.entries.get((service_name(name), key))


def open_profile(win: MainWindow, aio: AsyncDriver, name: str) -> Connection | None:
    result = aio.run(win.open_profile(name), timeout=30)
    assert result is None or isinstance(result, Connection)
    return result


def lists_accounts(win: MainWindow, aio: AsyncDriver, conn: Connection) -> None:
    name = "Account" if conn.profile.dialect == "espocrm" else "Accounts"
    aio.wait_until(lambda: win.tree_model.module_index(conn.id, name).isValid(), timeout=20)
    assert win.module_tree.select_module(name, conn.id)
    ws = win.workspaces[conn.id]
    aio.wait_until(lambda: ws.records.rowCount() > 0, timeout=20)


def test_a_remembered_profile_connects_without_asking(
    window: MainWindow, aio: AsyncDriver, demo_server: DemoServer, store: ConnectionStore
) -> None:
    profile = saved_profile(store, demo_server, "espocrm")
    prompt = window.ask_secrets = Prompt()
    conn = open_profile(window, aio, profile.name)
    assert conn is not None
    assert prompt.asked == []
    assert window.status.connection.text() == profile.name
    assert store.profiles.last_used == profile.name
    lists_accounts(window, aio, conn)


def test_missing_secrets_are_asked_for_and_not_stored(
    window: MainWindow,
    aio: AsyncDriver,
    demo_server: DemoServer,
    store: ConnectionStore,
    kr: MemoryKeyring,
) -> None:
    profile = saved_profile(store, demo_server, "suitecrm", remember=False)
    prompt = window.ask_secrets = Prompt(demo_server.secrets("suitecrm"))
    conn = open_profile(window, aio, profile.name)
    assert conn is not None
    assert prompt.asked == [(profile.name, ("client_secret", "password"), "")]
    assert kr.entries == {}  # not remembered: nothing, not even the refresh token
    assert not conn.remembered


def test_cancelling_the_prompt_leaves_the_window_unconnected(
    window: MainWindow, aio: AsyncDriver, demo_server: DemoServer, store: ConnectionStore
) -> None:
    profile = saved_profile(store, demo_server, "suitecrm", remember=False)
    window.ask_secrets = Prompt(None)
    assert open_profile(window, aio, profile.name) is None
    assert window.connections == {}
    assert "Not connected" in window.status.currentMessage()


def test_without_a_keyring_the_prompt_says_why(
    qtbot: QtBot, aio: AsyncDriver, demo_server: DemoServer, tmp_path: Path
) -> None:
    store = ConnectionStore(
        ProfileStore(tmp_path / "c"),
        SecretStore(keyring.backends.fail.Keyring()),  # type: ignore[no-untyped-call]
    )
    profile = replace(demo_server.profile("sugarcrm"), name="Sugar no keyring")
    store.save(profile, demo_server.secrets("sugarcrm"), remember=True)
    win = make_window(qtbot, store)
    prompt = win.ask_secrets = Prompt(Secrets(password=demo_server.secrets("sugarcrm")["password"]))
    try:
        conn = open_profile(win, aio, profile.name)
        assert conn is not None
        ((_name, missing, reason),) = prompt.asked
        assert missing == ("password",)
        assert "keyring" in reason.lower()
    finally:
        aio.run(win.shutdown(), timeout=15)


@pytest.mark.parametrize("dialect", ["suitecrm", "sugarcrm"])
def test_reconnect_with_the_stored_refresh_token_and_no_password(
    qtbot: QtBot,
    aio: AsyncDriver,
    demo_server: DemoServer,
    store: ConnectionStore,
    kr: MemoryKeyring,
    dialect: str,
) -> None:
    profile = saved_profile(store, demo_server, dialect)
    first_window = make_window(qtbot, store)
    conn = open_profile(first_window, aio, profile.name)
    assert conn is not None
    assert conn.remembered
    first = stored(kr, profile.name, "refresh_token")
    assert first, "the token the CRM issued at sign-in is kept at once"
    # Quit: the session is not logged out, the token stays.
    aio.run(first_window.shutdown(), timeout=15)
    assert stored(kr, profile.name, "refresh_token") == first

    # Next start, and the password is no longer in the keyring.
    store.secrets.delete(profile.name, "password")
    window = make_window(qtbot, store)
    prompt = window.ask_secrets = Prompt()
    try:
        again = open_profile(window, aio, profile.name)
        assert again is not None
        assert prompt.asked == []
        assert again.profile == store.profiles.get(profile.name).profile  # type: ignore[union-attr]
        rotated = stored(kr, profile.name, "refresh_token")
        assert rotated
        assert rotated != first
        lists_accounts(window, aio, again)
    finally:
        aio.run(window.shutdown(), timeout=15)


@pytest.mark.parametrize("dialect", ["suitecrm", "sugarcrm"])
def test_a_refused_refresh_token_falls_back_to_asking(
    window: MainWindow,
    aio: AsyncDriver,
    demo_server: DemoServer,
    store: ConnectionStore,
    dialect: str,
) -> None:
    profile = saved_profile(store, demo_server, dialect)
    store.secrets.delete(profile.name, "password")
    store.secrets.set(profile.name, "refresh_token", "def502-revoked-long-ago")
    password = demo_server.secrets(dialect)["password"]
    prompt = window.ask_secrets = Prompt(Secrets(password=password))
    conn = open_profile(window, aio, profile.name)
    assert conn is not None
    ((_name, missing, reason),) = prompt.asked
    assert missing == ("password",)
    assert "session has ended" in reason


def test_disconnect_logs_out_and_forgets_the_refresh_token_suitecrm(
    window: MainWindow,
    aio: AsyncDriver,
    demo_server: DemoServer,
    store: ConnectionStore,
    kr: MemoryKeyring,
) -> None:
    profile = saved_profile(store, demo_server, "suitecrm")
    conn = open_profile(window, aio, profile.name)
    assert conn is not None
    assert stored(kr, profile.name, "refresh_token")
    auth = conn.backend.auth  # type: ignore[attr-defined]
    token, root = auth.access_token, auth.api_root
    assert token
    assert root

    def modules_status() -> int:
        headers = {"Authorization": f"Bearer {token}"}
        return httpx.get(f"{root}/V8/meta/modules", headers=headers, timeout=10).status_code

    assert aio.run(asyncio.to_thread(modules_status), timeout=15) == 200
    window.actions_by_id["file.disconnect"].trigger()
    assert window.connections == {}
    aio.wait_until(lambda: not window.session_runner.busy(), timeout=15)
    assert stored(kr, profile.name, "refresh_token") is None
    assert stored(kr, profile.name, "password")  # only the session is forgotten
    assert aio.run(asyncio.to_thread(modules_status), timeout=15) == 401  # logged out


def test_disconnect_logs_out_and_forgets_the_refresh_token_sugar(
    window: MainWindow,
    aio: AsyncDriver,
    demo_server: DemoServer,
    store: ConnectionStore,
    kr: MemoryKeyring,
) -> None:
    profile = saved_profile(store, demo_server, "sugarcrm")
    conn = open_profile(window, aio, profile.name)
    assert conn is not None
    token = stored(kr, profile.name, "refresh_token")
    assert token
    window.close_connection(conn.id)
    aio.wait_until(lambda: not window.session_runner.busy(), timeout=15)
    assert stored(kr, profile.name, "refresh_token") is None

    async def resume_with_old_token() -> None:
        backend = open_backend(
            replace(profile, auth="refresh_token"), Secrets(refresh_token=token, client_secret="")
        )
        try:
            await backend.connect()
        finally:
            await backend.close()

    with pytest.raises(AuthError):  # Sugar's logout revoked it
        aio.run(resume_with_old_token(), timeout=15)


def test_connect_dialog_adds_a_connection(
    window: MainWindow, aio: AsyncDriver, demo_server: DemoServer, store: ConnectionStore
) -> None:
    assert window.actions_by_id["file.connect"].shortcut().toString() == "Ctrl+Shift+O"
    window.actions_by_id["file.connect"].trigger()
    dlg = window.connect_dialog
    assert dlg is not None
    assert dlg.isVisible()
    profile = replace(demo_server.profile("espocrm"), name="Espo via dialog")
    dlg.with_profile(profile, demo_server.secrets("espocrm"))
    dlg.save_and_connect()
    aio.wait_until(lambda: len(window.connections) == 1, timeout=30)
    conn = next(iter(window.connections.values()))
    assert conn.name == "Espo via dialog"
    assert store.profiles.get("Espo via dialog") is not None
    assert window.status.connection.text() == "Espo via dialog"


def test_secret_prompt_fields_and_clearing(qtbot: QtBot) -> None:
    profile = ConnectionProfile("Sales", "suitecrm", "https://crm.test", username="jane")
    prompt = SecretPrompt(profile, ["client_secret", "password"], "No keyring.")
    qtbot.addWidget(prompt)
    ok = prompt.buttons.buttons()[0]
    assert [prompt.edits[k].echoMode() for k in prompt.edits] == [
        prompt.edits["password"].EchoMode.Password
    ] * 2
    assert not ok.isEnabled()
    prompt.edits["client_secret"].setText("s3")
    prompt.edits["password"].setText("pw")
    assert ok.isEnabled()
    prompt.accept()
    assert dict(prompt.result_secrets or {}) == {"client_secret": "s3", "password": "pw"}
    assert all(not e.text() for e in prompt.edits.values())
