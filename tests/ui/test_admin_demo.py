"""The admin views against the demo CRM over real loopback HTTP (no fakes)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from helpers.admin_fake import ScriptedPrompter
from helpers.admin_util import collect_garbage, until
from helpers.demo_window import demo_window
from helpers.qasync_loop import AsyncDriver
from PySide6.QtCore import QAbstractItemModel, Qt
from PySide6.QtWidgets import QFormLayout, QLabel, QWidget
from pytestqt.qtbot import QtBot

from crmdesk.backends import open_backend
from crmdesk.core.backend import Backend
from crmdesk.demo.server import DemoServer
from crmdesk.ui.admin.access import ALLOWED, DENIED, AccessView
from crmdesk.ui.admin.console import ApiConsole
from crmdesk.ui.admin.inspector import MetadataInspector
from crmdesk.ui.admin.picklists import NO_ADMIN_NOTE, PicklistView
from crmdesk.ui.connections import Connection
from crmdesk.ui.main_window import MainWindow

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "does not support raise")
W = TypeVar("W", bound=QWidget)


@pytest.fixture(autouse=True)
def _main_thread_gc() -> Iterator[None]:
    collect_garbage()
    yield
    collect_garbage()


def with_backend(
    aio: AsyncDriver,
    demo: DemoServer,
    dialect: str,
    body: Callable[[Backend], Coroutine[Any, Any, None]],
    auth: str = "password",
) -> None:
    async def run() -> None:
        backend = open_backend(demo.profile(dialect, auth), demo.secrets(dialect, auth))
        await backend.connect()
        try:
            await body(backend)
        finally:
            await backend.close()

    aio.run(run(), timeout=30)


def edit_buttons(view: PicklistView) -> list[object]:
    return [view.add_button, view.rename_button, view.delete_button]


def option_keys(view: PicklistView) -> list[str]:
    return [o.key for o in view.option_model.rows()]


def test_vtiger_picklist_round_trip(
    qtbot: QtBot, aio: AsyncDriver, demo_server: DemoServer
) -> None:
    tag = uuid.uuid4().hex[:6]
    first, renamed = f"Admin test {tag}", f"Admin renamed {tag}"

    async def body(backend: Backend) -> None:
        prompter = ScriptedPrompter(
            texts=[first, renamed], choices=[None], confirms=[True, True, True]
        )
        view = PicklistView(backend, prompter=prompter)
        qtbot.addWidget(view)
        view.load("Accounts")
        await until(lambda: view.module_def is not None, within=15, what="describe")
        view.select_field("industry")
        before = option_keys(view)
        assert before, "the demo's industry picklist has values"
        assert view.add_button is not None

        view.add_button.click()
        await until(
            lambda: first in option_keys(view) or view.status.is_error, within=15, what="add"
        )
        assert first in option_keys(view), view.status.text()
        # A fresh describe (what forms use) carries the new value too.
        fdef = (await backend.describe("Accounts")).field("industry")
        assert fdef is not None
        assert first in [o.key for o in fdef.options]

        view.select_option(first)
        assert view.rename_button is not None
        view.rename_button.click()
        await until(lambda: renamed in option_keys(view), within=15, what="renamed value")
        assert first not in option_keys(view)

        view.select_option(renamed)
        prompter.choices = [before[0]]
        assert view.delete_button is not None
        view.delete_button.click()
        await until(lambda: renamed not in option_keys(view), within=15, what="deleted value")
        assert option_keys(view) == before
        assert not view.status.is_error
        fdef = (await backend.describe("Accounts")).field("industry")
        assert fdef is not None
        assert [o.key for o in fdef.options] == before

    # The picklist operations are Vtiger Cloud's (restapi/v1), like the real servers.
    with_backend(aio, demo_server, "vtiger", body, auth="rest")


def test_suitecrm_picklists_not_offered(
    qtbot: QtBot, aio: AsyncDriver, demo_server: DemoServer
) -> None:
    async def body(backend: Backend) -> None:
        view = PicklistView(backend, prompter=ScriptedPrompter())
        qtbot.addWidget(view)
        view.load("Accounts")
        await until(lambda: view.field_model.rowCount() > 0, within=15, what="picklists")
        assert view.add_button is None
        assert view.admin_note.text() == NO_ADMIN_NOTE
        assert any(f.name == "industry" for f in view.field_model.rows())

    with_backend(aio, demo_server, "suitecrm", body)


@pytest.mark.parametrize(
    ("dialect", "module"),
    [
        ("suitecrm", "Accounts"),
        ("sugarcrm", "Accounts"),
        ("espocrm", "Account"),
        ("vtiger", "Accounts"),
    ],
)
def test_inspector_on_demo(
    qtbot: QtBot, aio: AsyncDriver, demo_server: DemoServer, dialect: str, module: str
) -> None:
    async def body(backend: Backend) -> None:
        view = MetadataInspector(backend)
        qtbot.addWidget(view)
        view.reload()
        await until(lambda: view.modules.model.rowCount() > 0, within=15, what="modules")
        assert view.modules.select(module)
        await until(lambda: view.module_def is not None, within=15, what="describe")
        assert view.fields.proxy.rowCount() > 5
        assert view.link_model.rowCount() > 0
        assert not view.status.is_error

    with_backend(aio, demo_server, dialect, body)


@pytest.mark.parametrize(
    ("dialect", "get_path", "post"),
    [
        ("vtiger", "listtypes", None),
        (
            "suitecrm",
            "V8/meta/modules",
            ("V8/module", {"data": {"type": "Accounts", "attributes": {"name": "Console test"}}}),
        ),
    ],
)
def test_console_on_demo(
    qtbot: QtBot,
    aio: AsyncDriver,
    demo_server: DemoServer,
    dialect: str,
    get_path: str,
    post: tuple[str, dict[str, Any]] | None,
) -> None:
    import json

    secrets = list(demo_server.secrets(dialect).values())

    async def body(backend: Backend) -> None:
        view = ApiConsole(backend)
        qtbot.addWidget(view)
        view.path.setText(get_path)
        view.send()
        await until(lambda: view.history, within=15, what="GET response")
        assert view.response_line.text().startswith("200")
        assert view.tree.model.rowCount() > 0
        if post is not None:
            view.method.setCurrentText("POST")
            view.path.setText(post[0])
            view.body.setPlainText(json.dumps(post[1]))
            view.send()
            await until(lambda: len(view.history) == 2, within=15, what="POST response")
            assert view.response_line.text().startswith("20"), view.raw.text()[:300]
            assert "Console test" in view.raw.text()
        curl = view.copy_curl()
        shown = [
            curl,
            view.raw.text(),
            *(view.history_list.item(i).text() for i in range(len(view.history))),
        ]
        shown += [json.dumps(dict(h.response.headers)) for h in view.history if h.response]
        for secret in secrets:
            assert all(secret not in text for text in shown)

    with_backend(aio, demo_server, dialect, body)


def test_vtiger_webservice_without_picklist_ops(
    qtbot: QtBot, aio: AsyncDriver, demo_server: DemoServer
) -> None:
    """Open-source Vtiger lacks add_picklist: after the first refusal the buttons go."""

    async def body(backend: Backend) -> None:
        view = PicklistView(backend, prompter=ScriptedPrompter(texts=["Nope"], confirms=[True]))
        qtbot.addWidget(view)
        view.load("Accounts")
        await until(lambda: view.module_def is not None, within=15, what="describe")
        view.select_field("industry")
        assert view.add_button is not None
        view.add_button.click()
        await until(lambda: view.status.is_error, within=15, what="refusal")
        assert edit_buttons(view) == [None, None, None]
        assert NO_ADMIN_NOTE in view.admin_note.text()
        assert "Nope" not in option_keys(view)

    with_backend(aio, demo_server, "vtiger", body)


# -- the admin views from the Tools menu, per dialect ---------------------------------------


def table_rows(model: QAbstractItemModel) -> list[dict[str, str]]:
    """What a table shows: one dict per row, header text → cell text."""
    heads = [
        str(model.headerData(c, Qt.Orientation.Horizontal)) for c in range(model.columnCount())
    ]
    return [
        {h: str(model.index(r, c).data() or "") for c, h in enumerate(heads)}
        for r in range(model.rowCount())
    ]


def form_pairs(form: QFormLayout) -> dict[str, str]:
    """The label → value rows of a form layout, as shown."""
    out: dict[str, str] = {}
    for row in range(form.rowCount()):
        label = form.itemAt(row, QFormLayout.ItemRole.LabelRole)
        field = form.itemAt(row, QFormLayout.ItemRole.FieldRole)
        if label is None or field is None:
            continue
        lw, fw = label.widget(), field.widget()
        if isinstance(lw, QLabel) and isinstance(fw, QLabel):
            out[lw.text()] = fw.text()
    return out


def tools_view(win: MainWindow, action_id: str, cls: type[W]) -> W:
    """Tools → <view>, as a user picks it; the window it opened."""
    win.actions_by_id[action_id].trigger()
    views = [v for v in win.findChildren(cls) if v.isWindow() and v.isVisible()]
    assert len(views) == 1, action_id
    return views[0]


def open_demo_module(win: MainWindow, aio: AsyncDriver, dialect: str, module: str) -> Connection:
    """Demo → Open demo as <dialect>, then the module in the tree, as a user browses."""
    task = win.open_demo(dialect)
    assert task is not None
    aio.wait_until(task.done, timeout=30)
    conn = task.result()
    assert isinstance(conn, Connection)
    aio.wait_until(lambda: win.tree_model.module_index(conn.id, module).isValid(), timeout=20)
    assert win.module_tree.select_module(module, conn.id)
    aio.wait_until(lambda: win.records.rowCount() > 0 and not win.records.loading, timeout=20)
    return conn


#: dialect, the demo's entity modules, the Accounts module, its name field and its
#: type / industry picklists with a value of each, and an action the admin may take.
TOOLS_CASES = [
    pytest.param(
        "suitecrm",
        {"Accounts", "Cases", "Contacts", "Leads", "Opportunities"},
        "Accounts",
        "name",
        ("account_type", "Customer"),
        "edit",
        id="suitecrm",
    ),
    pytest.param(
        "sugarcrm",
        {"Accounts", "Cases", "Contacts", "Leads", "Opportunities"},
        "Accounts",
        "name",
        ("account_type", "Customer"),
        "create",
        id="sugarcrm",
    ),
    pytest.param(
        "espocrm",
        {"Account", "Case", "Contact", "Lead", "Opportunity"},
        "Account",
        "name",
        ("type", "Customer"),
        "create",
        id="espocrm",
    ),
    pytest.param(
        "vtiger",
        {"Accounts", "Contacts", "HelpDesk", "Leads", "Potentials"},
        "Accounts",
        "accountname",
        ("accounttype", "Customer"),
        "create",
        id="vtiger",
    ),
]


@pytest.mark.parametrize(
    ("dialect", "modules", "accounts", "name_field", "type_picklist", "action"), TOOLS_CASES
)
def test_admin_views_from_the_tools_menu(
    qtbot: QtBot,
    aio: AsyncDriver,
    demo_server: DemoServer,
    tmp_path: Path,
    dialect: str,
    modules: set[str],
    accounts: str,
    name_field: str,
    type_picklist: tuple[str, str],
    action: str,
) -> None:
    """Browsing Accounts in the main window, the admin opens Metadata, Picklists and Access
    from the Tools menu: each shows the demo CRM's own modules, fields, values and rights."""
    with demo_window(qtbot, aio, demo_server, tmp_path) as win:
        conn = open_demo_module(win, aio, dialect, accounts)
        title_end = f"— {conn.name}"

        # Tools → Metadata: the demo's modules, Accounts open, its fields with their types.
        inspector = tools_view(win, "admin.metadata", MetadataInspector)
        assert inspector.backend is conn.backend
        assert inspector.windowTitle().endswith(title_end)
        aio.wait_until(lambda: inspector.modules.model.rowCount() > 0, timeout=20)
        shown = table_rows(inspector.modules.proxy)
        assert modules <= {r["Module"] for r in shown if r["Kind"] == "entity"}
        aio.wait_until(lambda: inspector.module_def is not None, timeout=20)
        assert inspector.module_def is not None
        assert inspector.module_def.name == accounts  # the module being browsed
        fields = {r["Name"]: r for r in table_rows(inspector.fields.proxy)}
        assert fields[name_field]["Type"] == "text"
        assert fields[name_field]["Required"] == "yes"
        assert fields["industry"]["Type"] == "enum"
        assert "Banking" in fields["industry"]["Options"]
        assert not inspector.status.is_error

        # Tools → Picklists: Accounts' type and industry values.
        picklists = tools_view(win, "admin.picklists", PicklistView)
        assert picklists.windowTitle().endswith(title_end)
        aio.wait_until(
            lambda: picklists.module_def is not None and picklists.field_model.rowCount() > 0,
            timeout=20,
        )
        assert picklists.module.currentText() == accounts
        picklist_rows = {r["Field"]: r for r in table_rows(picklists.field_proxy)}
        type_field, type_value = type_picklist
        for name in (type_field, "industry"):
            assert picklist_rows[name]["Type"] == "enum"
            assert int(picklist_rows[name]["Values"]) >= 5
        picklists.select_field(type_field)
        keys = [r["Key (sent to the CRM)"] for r in table_rows(picklists.option_proxy)]
        assert type_value in keys
        picklists.select_field("industry")
        options = table_rows(picklists.option_proxy)
        assert {"Banking", "Apparel"} <= {r["Key (sent to the CRM)"] for r in options}
        assert all(r["Label (shown)"] for r in options if r["Key (sent to the CRM)"])
        # Only Vtiger Cloud edits picklists over its API; the others say so.
        editable = dialect == "vtiger"
        assert (picklists.add_button is not None) is editable
        assert (picklists.admin_note.text() == NO_ADMIN_NOTE) is not editable

        # Tools → Access: the demo admin, and a ✓ for what they may do.
        access = tools_view(win, "admin.access", AccessView)
        assert access.windowTitle().endswith(title_end)
        aio.wait_until(lambda: access.grid_ready, timeout=20)
        user = form_pairs(access.user_form)
        assert user["User name"] == demo_server.credentials.username
        assert user["Administrator"] == "yes"
        grid = {r["Module"]: r for r in table_rows(access.grid_proxy)}
        assert accounts in grid
        assert grid[accounts][action] == ALLOWED
        assert grid[accounts]["delete"] == ALLOWED
        assert access.allowed(accounts, "delete") is True
        assert all(
            v in (ALLOWED, DENIED) for r in grid.values() for k, v in r.items() if k != "Module"
        )
        assert not access.status.is_error
