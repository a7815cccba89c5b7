"""Render each admin view over the fake backend and save PNGs (docs/admin-*.png).

QT_QPA_PLATFORM=offscreen .venv/bin/python tests/helpers/admin_screenshots.py docs
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import qasync
from PySide6.QtWidgets import QApplication, QWidget

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers.admin_fake import FakeBackend, PlainFakeBackend, StagingFakeBackend
from helpers.admin_util import until

from crmdesk.ui.admin import (
    AccessView,
    ApiConsole,
    CompareView,
    MetadataInspector,
    PicklistView,
)


def save(view: QWidget, out: Path, name: str) -> None:
    view.grab().save(str(out / f"admin-{name}.png"))


async def shoot(out: Path) -> None:
    fake = FakeBackend()

    inspector = MetadataInspector(fake)
    inspector.resize(1280, 640)
    inspector.show()
    await until(lambda: inspector.modules.model.rowCount() > 0)
    inspector.modules.select("Accounts")
    await until(lambda: inspector.module_def is not None)
    inspector.fields.view.selectRow(10)
    save(inspector, out, "inspector")
    inspector.tabs.setCurrentIndex(2)
    inspector.raw.search.edit.setText("relate")
    save(inspector, out, "inspector-raw")

    compare = CompareView([("production", fake), ("staging", StagingFakeBackend())])
    compare.resize(1280, 560)
    compare.show()
    await until(lambda: compare.right.module.count() > 0)
    compare.set_pair("Accounts")
    compare.compare()
    await until(lambda: compare.model.rowCount() > 0)
    save(compare, out, "compare")

    picklists = PicklistView(fake)
    picklists.resize(1000, 640)
    picklists.show()
    picklists.load("Projects_c")
    await until(lambda: picklists.dependencies)
    save(picklists, out, "picklists")
    plain = PicklistView(PlainFakeBackend())
    plain.resize(1000, 640)
    plain.show()
    plain.load("Accounts")
    await until(lambda: plain.field_model.rowCount() > 0)
    save(plain, out, "picklists-not-offered")

    access = AccessView(fake)
    access.resize(1000, 620)
    access.show()
    await until(lambda: access.user is not None)
    save(access, out, "access")

    console = ApiConsole(fake)
    console.resize(1280, 760)
    console.show()
    console.method.setCurrentText("POST")
    console.path.setText("Accounts")
    console.query.set_pairs([("fields", "name,industry")])
    console.body.setPlainText(json.dumps({"name": "Acme", "industry": "Energy"}, indent=2))
    console.send()
    await until(lambda: console.history)
    console.method.setCurrentText("GET")
    console.path.setText("Accounts/42")
    console.body.setPlainText("")
    console.send()
    await until(lambda: len(console.history) == 2)
    console.tree.view.expandAll()
    save(console, out, "console")
    for w in (inspector, compare, picklists, plain, access, console):
        w.close()


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs")
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication(sys.argv)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        loop.run_until_complete(shoot(out))


if __name__ == "__main__":
    main()
