"""The command line, including a real ``--demo --screenshot`` run in a child process."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import pytest
from helpers.admin_util import until
from helpers.memory_keyring import MemoryKeyring
from helpers.qasync_loop import AsyncDriver
from PySide6.QtWidgets import QApplication, QWidget

from crmdesk.app import _run, build_parser, main
from crmdesk.core.connection import ConnectionProfile
from crmdesk.demo.server import DemoServer
from crmdesk.storage.connections import ConnectionStore
from crmdesk.storage.profiles import ProfileStore
from crmdesk.storage.secrets import SecretStore
from crmdesk.ui.connect import ConnectDialog
from crmdesk.ui.main_window import MainWindow


def test_an_unknown_profile_is_refused_with_the_saved_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CRMDESK_CONFIG_DIR", str(tmp_path))
    ProfileStore(tmp_path).save(ConnectionProfile("Sales", "suitecrm", "https://crm.test"))
    assert main(["--profile", "work"]) == 2
    err = capsys.readouterr().err
    assert "no connection profile named 'work'" in err
    assert "Sales" in err


def test_a_screenshot_needs_the_demo(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--screenshot", "x.png"]) == 2
    assert "--demo" in capsys.readouterr().err


def test_unknown_dialect_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--demo", "dynamics"]) == 2
    assert "unknown dialect" in capsys.readouterr().err


def test_demo_defaults_to_suitecrm() -> None:
    args = build_parser().parse_args(["--demo", "--screenshot", "x.png"])
    assert args.demo == "suitecrm"
    assert args.screenshot == Path("x.png")


@pytest.mark.parametrize("dialect", ["suitecrm", "espocrm"])
def test_demo_screenshot_writes_a_png(tmp_path: Path, dialect: str) -> None:
    """EspoCRM names its accounts module in the singular: the screenshot still finds it."""
    shot = tmp_path / "shot.png"
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "CRMDESK_LOG_DIR": str(tmp_path / "log"),
        "CRMDESK_CONFIG_DIR": str(tmp_path / "config"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "crmdesk", "--demo", dialect, "--screenshot", str(shot)],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 20_000  # a window full of rows, not a blank grab
    assert (tmp_path / "log" / "crmdesk.log").parent.is_dir()  # the log file went there


W = TypeVar("W", bound=QWidget)


def _store(tmp_path: Path) -> ConnectionStore:
    return ConnectionStore(ProfileStore(tmp_path / "config"), SecretStore(MemoryKeyring()))


def _top(cls: type[W]) -> W | None:
    """The visible top-level widget of ``cls`` (the app's own window and dialog)."""
    for widget in QApplication.topLevelWidgets():
        if isinstance(widget, cls) and widget.isVisible():
            return widget
    return None


@pytest.mark.qt_log_ignore("propagateSizeHints")
def test_first_start_opens_the_connect_dialog(aio: AsyncDriver, tmp_path: Path) -> None:
    store = _store(tmp_path)

    async def drive() -> int:
        run = asyncio.ensure_future(_run(build_parser().parse_args([]), store))
        await until(lambda: _top(ConnectDialog) is not None, within=10, what="the dialog")
        dialog = _top(ConnectDialog)
        assert dialog is not None
        window = dialog.parentWidget()
        assert isinstance(window, MainWindow)
        assert window.connections == {}
        dialog.reject()
        window.close()
        return await run

    assert aio.run(drive(), timeout=20) == 0


@pytest.mark.qt_log_ignore("propagateSizeHints")
def test_profile_option_connects_with_the_saved_profile(
    aio: AsyncDriver, tmp_path: Path, demo_server: DemoServer
) -> None:
    store = _store(tmp_path)
    profile = replace(demo_server.profile("espocrm"), name="Espo saved")
    store.save(profile, demo_server.secrets("espocrm"), remember=True)
    args = build_parser().parse_args(["--profile", "Espo saved"])

    async def drive() -> int:
        run = asyncio.ensure_future(_run(args, store))
        await until(lambda: _top(MainWindow) is not None, within=10, what="the window")
        window = _top(MainWindow)
        assert isinstance(window, MainWindow)
        await until(lambda: bool(window.connections), within=20, what="the connection")
        assert window.status.connection.text() == "Espo saved"
        assert _top(ConnectDialog) is None
        window.close()
        return await run

    assert aio.run(drive(), timeout=30) == 0
