"""The entry point: QApplication + qasync loop, and the command line.

crmdesk                            open the connection dialog (saved profiles or a new one)
crmdesk --profile NAME             connect with a saved profile (asks for missing secrets)
crmdesk --demo [DIALECT]           start the embedded demo CRM and browse it
crmdesk --demo --screenshot F.png  ... then save a screenshot of the window and exit
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import qasync
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from crmdesk.backends.oauth_loopback import set_browser
from crmdesk.core.errors import CrmError
from crmdesk.core.registry import LABELS
from crmdesk.storage.connections import ConnectionStore
from crmdesk.storage.logfile import install_file_log
from crmdesk.ui.gc_guard import MainThreadGarbageCollector
from crmdesk.ui.signin_browser import qt_open_url

if TYPE_CHECKING:
    from crmdesk.demo.process import DemoProcess
    from crmdesk.ui.main_window import MainWindow

log = logging.getLogger("crmdesk")

SCREENSHOT_TIMEOUT = 60.0
APP_ID = "io.github.crmdesk.crmdesk"  # the desktop entry, AppStream and icon name
APP_ICON = Path(__file__).with_name("resources") / f"{APP_ID}.svg"  # package data


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crmdesk", description="Browse CRM records (SuiteCRM, SugarCRM, EspoCRM, Vtiger)."
    )
    parser.add_argument(
        "--demo",
        nargs="?",
        const="suitecrm",
        metavar="DIALECT",
        help="start the built-in demo CRM (default suitecrm) and connect to it",
    )
    parser.add_argument("--profile", metavar="NAME", help="connect with a saved profile")
    parser.add_argument(
        "--screenshot",
        metavar="FILE.png",
        type=Path,
        help="with --demo: open Accounts, select the first record, save the window as PNG and exit",
    )
    return parser


#: The first argument that makes this executable serve the demo CRM as a child process of
#: ``crmdesk --demo`` (see :func:`crmdesk.demo.process.child_command`): a frozen bundle has no
#: ``python -m``, so the bundle's own executable is started with it.
DEMO_SERVE = "--demo-serve"


def main(argv: Sequence[str] | None = None) -> int:
    rest = list(sys.argv[1:] if argv is None else argv)
    if rest[:1] == [DEMO_SERVE]:
        from crmdesk.demo.process import main as serve_demo

        return serve_demo(rest[1:])
    args = build_parser().parse_args(argv)
    if args.demo is not None and args.demo not in LABELS:
        print(
            f"crmdesk: unknown dialect {args.demo!r}; choose one of: {', '.join(LABELS)}.",
            file=sys.stderr,
        )
        return 2
    if args.screenshot is not None and args.demo is None:
        print("crmdesk: --screenshot needs --demo.", file=sys.stderr)
        return 2
    store = ConnectionStore()
    if args.profile is not None:
        try:
            known = store.profiles.get(args.profile)
        except CrmError as exc:
            print(f"crmdesk: {exc.message} {exc.advice}".rstrip(), file=sys.stderr)
            return 2
        if known is None:
            names = ", ".join(store.profiles.names()) or "none yet"
            print(
                f"crmdesk: there is no connection profile named {args.profile!r} "
                f"(saved profiles: {names}).",
                file=sys.stderr,
            )
            return 2
    console = logging.StreamHandler()
    console.setLevel(logging.WARNING)  # the file gets INFO; the terminal only problems
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[console])
    try:
        install_file_log()
    except OSError as exc:
        log.warning("no log file: %s", exc)
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "crmdesk"])
    assert isinstance(app, QApplication)
    app.setApplicationName("crmdesk")
    app.setApplicationDisplayName("crmdesk")
    app.setDesktopFileName(APP_ID)  # Wayland compositors find the icon through the entry
    app.setWindowIcon(QIcon(str(APP_ICON)))
    app.setQuitOnLastWindowClosed(False)  # the coroutine below decides when to stop
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    # Garbage is collected on the GUI thread only: a collection started on another thread
    # (a worker's, an in-process demo server's in tests) could finalise a Qt object there.
    collector = MainThreadGarbageCollector(app)
    # Sign-ins in the browser (OAuth2 authorization code) open the desktop's browser via Qt.
    previous_browser = set_browser(qt_open_url)
    try:
        with loop:
            code: int = loop.run_until_complete(_run(args, store))
            return code
    finally:
        set_browser(previous_browser)
        collector.stop()
        asyncio.set_event_loop(None)


async def _start_demo() -> DemoProcess:
    """The demo CRM in a child process, as a real CRM is: it never competes with the GUI
    for the interpreter lock (see :mod:`crmdesk.demo.process`)."""
    from crmdesk.demo.process import DemoProcess

    return await asyncio.to_thread(lambda: DemoProcess().start())


async def _run(args: argparse.Namespace, store: ConnectionStore) -> int:
    from crmdesk.ui.main_window import MainWindow

    server: DemoProcess | None = None
    if args.demo is not None:
        try:
            server = await _start_demo()
        except Exception as exc:
            log.exception("demo server failed to start")
            print(f"crmdesk: the demo CRM did not start: {exc}", file=sys.stderr)
            return 1
    window = MainWindow(store=store, demo=server)
    try:
        window.show()
        window.start()
        if server is not None and args.screenshot is not None:
            return await _screenshot(window, args.demo, args.screenshot)
        if server is not None:
            window.open_demo(args.demo)
        if args.profile is not None:
            window.connect_profile(args.profile)
        elif server is None:
            window.open_connect_dialog()
        closed = asyncio.Event()
        window.closed.connect(closed.set)
        await closed.wait()
        return 0
    finally:
        await window.shutdown()
        window.close()
        window.deleteLater()
        if server is not None:
            await asyncio.to_thread(server.stop)


async def _screenshot(window: MainWindow, dialect: str, path: Path) -> int:
    from crmdesk.ui.screenshot import ScreenshotError, capture

    task = window.open_demo(dialect)
    assert task is not None
    try:
        await task
        seconds = await asyncio.wait_for(capture(window, path), timeout=SCREENSHOT_TIMEOUT)
    except CrmError as exc:
        print(f"crmdesk: {exc.message} {exc.advice}".rstrip(), file=sys.stderr)
        return 1
    except TimeoutError:
        print(f"crmdesk: no screenshot after {SCREENSHOT_TIMEOUT:.0f} s.", file=sys.stderr)
        return 1
    except ScreenshotError as exc:
        print(f"crmdesk: screenshot failed {exc}", file=sys.stderr)
        return 1
    print(f"crmdesk: saved {path} in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
