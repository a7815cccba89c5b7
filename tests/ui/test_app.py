"""The command line, including a real ``--demo --screenshot`` run in a child process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from crmdesk.app import build_parser, main
from crmdesk.core.connection import ConnectionProfile
from crmdesk.storage.profiles import ProfileStore


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


def test_demo_screenshot_writes_a_png(tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "CRMDESK_LOG_DIR": str(tmp_path / "log"),
        "CRMDESK_CONFIG_DIR": str(tmp_path / "config"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "crmdesk", "--demo", "--screenshot", str(shot)],
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
