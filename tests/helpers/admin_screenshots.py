"""Render each admin view against the demo CRM and save PNGs (docs/admin-*.png).

The views talk to the embedded demo CRM over loopback HTTP, as they would to a real one:
SuiteCRM for the inspector, access grid and API console, SuiteCRM next to SugarCRM for
the comparison, Vtiger (Cloud REST, the one dialect that edits picklists over its API)
for the picklist editor and its dependencies, SuiteCRM again for "not offered".

QT_QPA_PLATFORM=offscreen .venv/bin/python tests/helpers/admin_screenshots.py docs
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import tempfile
import time
from pathlib import Path

import qasync
from PySide6.QtCore import QModelIndex
from PySide6.QtWidgets import QApplication, QTreeView, QWidget

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers.admin_util import until

from crmdesk.backends import open_backend
from crmdesk.core.backend import Backend
from crmdesk.demo.server import DemoServer
from crmdesk.ui.admin import (
    AccessView,
    ApiConsole,
    CompareView,
    MetadataInspector,
    PicklistView,
)

WITHIN = 20.0


def expand(view: QTreeView, keys: set[str], parent: QModelIndex | None = None) -> None:
    """Expand the nodes whose key is in ``keys`` (recursively), leaving the rest folded."""
    parent = parent if parent is not None else QModelIndex()
    model = view.model()
    for row in range(model.rowCount(parent)):
        index = model.index(row, 0, parent)
        if str(index.data()) in keys:
            view.expand(index)
            expand(view, keys, index)


async def save(view: QWidget, out: Path, name: str) -> None:
    """Grab ``view`` once Qt has shown the widgets just added (a layout shows them from a
    queued call) and laid them out."""
    await asyncio.sleep(0.2)
    view.grab().save(str(out / f"admin-{name}.png"))


async def signed_in(demo: DemoServer, dialect: str, auth: str = "password") -> Backend:
    backend = open_backend(demo.profile(dialect, auth), demo.secrets(dialect, auth))
    await backend.connect()
    return backend


async def shoot(demo: DemoServer, out: Path) -> None:
    suite = await signed_in(demo, "suitecrm")
    sugar = await signed_in(demo, "sugarcrm")
    vtiger = await signed_in(demo, "vtiger", "rest")
    views: list[QWidget] = []
    try:
        inspector = MetadataInspector(suite)
        views.append(inspector)
        inspector.resize(1280, 640)
        inspector.show()
        await until(lambda: inspector.modules.model.rowCount() > 0, WITHIN, "modules")
        inspector.modules.select("Accounts")
        await until(lambda: inspector.module_def is not None, WITHIN, "describe")
        names = inspector.fields.visible_names()
        inspector.fields.view.selectRow(names.index("industry"))
        await save(inspector, out, "inspector")
        inspector.tabs.setCurrentIndex(2)
        inspector.raw.search.edit.setText("relate")
        await save(inspector, out, "inspector-raw")

        compare = CompareView([("Demo SuiteCRM", suite), ("Demo SugarCRM", sugar)])
        views.append(compare)
        compare.resize(1280, 560)
        compare.show()
        await until(lambda: compare.right.module.count() > 0, WITHIN, "compare modules")
        compare.set_pair("Accounts")
        compare.compare()
        await until(lambda: compare.model.rowCount() > 0, WITHIN, "comparison")
        compare.differences_only.setChecked(True)
        await save(compare, out, "compare")

        picklists = PicklistView(vtiger)
        views.append(picklists)
        picklists.resize(1000, 640)
        picklists.show()
        picklists.load("Potentials")
        await until(lambda: picklists.dependencies, WITHIN, "dependencies")
        picklists.select_field("sales_stage")
        picklists.select_option("Negotiation/Review")
        await save(picklists, out, "picklists")

        plain = PicklistView(suite)
        views.append(plain)
        plain.resize(1000, 640)
        plain.show()
        plain.load("Accounts")
        await until(lambda: plain.field_model.rowCount() > 0, WITHIN, "picklists")
        plain.select_field("industry")
        await save(plain, out, "picklists-not-offered")

        access = AccessView(suite)
        views.append(access)
        access.resize(1000, 620)
        access.show()
        await until(lambda: access.user is not None, WITHIN, "access")
        await save(access, out, "access")

        console = ApiConsole(suite)
        views.append(console)
        console.resize(1280, 760)
        console.show()
        console.method.setCurrentText("POST")
        console.path.setText("V8/module")
        new = {"data": {"type": "Accounts", "attributes": {"name": "Acme", "industry": "Energy"}}}
        console.body.setPlainText(json.dumps(new, indent=2))
        console.send()
        await until(lambda: console.history, WITHIN, "POST")
        created = console.history[0].response
        if created is None or created.status != 201:
            raise RuntimeError(f"the demo refused the new account: {console.raw.text()[:300]}")
        console.method.setCurrentText("GET")
        console.path.setText("V8/module/Accounts")
        console.query.set_pairs(
            [
                ("fields[Accounts]", "name,industry,account_type"),
                ("sort", "name"),
                ("page[size]", "3"),
            ]
        )
        console.body.setPlainText("")
        console.send()
        await until(lambda: len(console.history) == 2, WITHIN, "GET")
        expand(console.tree.view, {"data", "[0]", "[1]", "[2]", "attributes"})
        await save(console, out, "console")
    finally:
        for w in views:
            w.close()
        for backend in (suite, sugar, vtiger):
            await backend.close()


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs")
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication(sys.argv)
    # The demo serves from a thread: collect garbage on this (the GUI) thread only.
    gc.disable()
    demo = DemoServer(Path(tempfile.mkdtemp()) / "demo.sqlite").start()
    try:
        loop = qasync.QEventLoop(app)
        asyncio.events._set_running_loop(loop)  # as tests/helpers/qasync_loop.py does
        task = loop.create_task(shoot(demo, out))
        while not task.done():
            app.processEvents()
            time.sleep(0.002)
        task.result()
        loop.close()  # also stops its worker threads (the console's JSON work)
    finally:
        asyncio.events._set_running_loop(None)
        demo.stop()
        gc.collect()


if __name__ == "__main__":
    main()
