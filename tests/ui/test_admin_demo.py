"""The admin views against the demo CRM over real loopback HTTP (no fakes)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
from helpers.admin_fake import ScriptedPrompter
from helpers.admin_util import collect_garbage, until
from helpers.qasync_loop import AsyncDriver
from pytestqt.qtbot import QtBot

from crmdesk.backends import open_backend
from crmdesk.core.backend import Backend
from crmdesk.demo.server import DemoServer
from crmdesk.ui.admin.console import ApiConsole
from crmdesk.ui.admin.inspector import MetadataInspector
from crmdesk.ui.admin.picklists import NO_ADMIN_NOTE, PicklistView

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


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
