"""The entry point: QApplication + qasync loop, and the command line.

crmdesk --demo [DIALECT]           start the embedded demo CRM and browse it
crmdesk --demo --screenshot F.png  ... then save a screenshot of the window and exit
crmdesk --profile NAME             (not implemented yet)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import qasync
from PySide6.QtWidgets import QApplication

from crmdesk.core.errors import CrmError
from crmdesk.core.registry import LABELS

log = logging.getLogger("crmdesk")

SCREENSHOT_TIMEOUT = 60.0


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
        help="open Accounts, select the first record, save the window as PNG and exit",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.profile is not None:
        print("crmdesk: --profile is not implemented yet; try --demo.", file=sys.stderr)
        return 2
    if args.demo is None:
        print("crmdesk: nothing to connect to yet; start with --demo [DIALECT].", file=sys.stderr)
        return 2
    if args.demo not in LABELS:
        print(
            f"crmdesk: unknown dialect {args.demo!r}; choose one of: {', '.join(LABELS)}.",
            file=sys.stderr,
        )
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "crmdesk"])
    assert isinstance(app, QApplication)
    app.setApplicationName("crmdesk")
    app.setApplicationDisplayName("crmdesk")
    app.setQuitOnLastWindowClosed(False)  # the coroutine below decides when to stop
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    try:
        with loop:
            code: int = loop.run_until_complete(_run_demo(app, args.demo, args.screenshot))
            return code
    finally:
        asyncio.set_event_loop(None)


async def _run_demo(app: QApplication, dialect: str, screenshot: Path | None) -> int:
    from crmdesk.backends import open_backend
    from crmdesk.demo.server import DemoServer
    from crmdesk.ui.main_window import MainWindow
    from crmdesk.ui.screenshot import ScreenshotError, capture

    try:
        server = await asyncio.to_thread(lambda: DemoServer().start())
    except Exception as exc:
        log.exception("demo server failed to start")
        print(f"crmdesk: the demo CRM did not start: {exc}", file=sys.stderr)
        return 1
    window: MainWindow | None = None
    try:
        profile = server.profile(dialect)
        backend = open_backend(profile, server.secrets(dialect))
        try:
            await backend.connect()
            window = MainWindow(
                backend,
                connection_name=f"Demo — {LABELS[dialect]}",
                page_size=profile.page_size,
            )
            window.show()
            window.start()
            if screenshot is not None:
                seconds = await asyncio.wait_for(
                    capture(window, screenshot), timeout=SCREENSHOT_TIMEOUT
                )
                print(f"crmdesk: saved {screenshot} in {seconds:.1f} s")
                return 0
            closed = asyncio.Event()
            app.lastWindowClosed.connect(closed.set)
            await closed.wait()
            return 0
        finally:
            if window is not None:
                await window.runner.shutdown()
                window.close()
                window.deleteLater()
            await backend.close()
    except CrmError as exc:
        print(f"crmdesk: {exc.message} {exc.advice}".rstrip(), file=sys.stderr)
        return 1
    except TimeoutError:
        print(f"crmdesk: no screenshot after {SCREENSHOT_TIMEOUT:.0f} s.", file=sys.stderr)
        return 1
    except ScreenshotError as exc:
        print(f"crmdesk: screenshot failed {exc}", file=sys.stderr)
        return 1
    finally:
        await asyncio.to_thread(server.stop)


if __name__ == "__main__":
    raise SystemExit(main())
