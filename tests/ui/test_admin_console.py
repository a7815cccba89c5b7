"""The API console over the fake backend: send, JSON tree, history, curl without secrets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from helpers.admin_fake import FAKE_PASSWORD, FAKE_TOKEN, FakeBackend, PlainFakeBackend
from helpers.admin_util import collect_garbage, until
from helpers.qasync_loop import AsyncDriver
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QPushButton
from pytestqt.qtbot import QtBot

from crmdesk.core.backend import RawResponse
from crmdesk.ui.admin.console import (
    NO_CONSOLE_NOTE,
    ApiConsole,
    ConsoleRequest,
    curl_command,
    sanitize_response,
    validate,
)

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


@pytest.fixture(autouse=True)
def _main_thread_gc() -> Iterator[None]:
    collect_garbage()
    yield
    collect_garbage()


def console(qtbot: QtBot, backend: FakeBackend | None = None) -> tuple[ApiConsole, FakeBackend]:
    backend = backend or FakeBackend()
    view = ApiConsole(backend)
    qtbot.addWidget(view)
    return view, backend


def test_get_shows_status_tree_and_history(qtbot: QtBot, aio: AsyncDriver) -> None:
    async def body() -> None:
        view, backend = console(qtbot)
        view.path.setText("Accounts")
        view.query.set_pairs([("max_num", "5"), ("fields", "name")])
        assert view.send_button is not None
        view.send_button.click()
        await until(lambda: view.history, what="response")
        assert backend.calls[-1] == (
            "raw",
            "GET",
            "Accounts",
            (("max_num", "5"), ("fields", "name")),
            None,
        )
        assert view.response_line.text() == "200 OK · 12 ms"
        # The tree shows the JSON: top level keys, and the list collapsed under its count.
        model = view.tree.model
        keys = [model.index(r, 0).data() for r in range(model.rowCount())]
        assert keys == ["method", "path", "query", "body", "markup", "items"]
        items = model.index(5, 0)
        assert model.index(5, 1).data() == "[3 items]"
        assert model.rowCount(items) == 3
        assert model.index(1, 1, model.index(0, 0, items)).data() == "Item 0"
        # Server markup is plain text in the tree and in the raw pane.
        assert model.index(4, 1).data() == "<b>x</b>"
        assert json.loads(view.raw.text())["markup"] == "<b>x</b>"
        headers = dict(view.header_model.rows())
        assert headers["X-Fake"] == "yes"
        assert view.history_list.count() == 1
        assert view.history_list.item(0).text() == "GET Accounts → 200"

    aio.run(body(), timeout=15)


def test_post_with_body_and_history_restores(qtbot: QtBot, aio: AsyncDriver) -> None:
    async def body() -> None:
        view, backend = console(qtbot)
        view.method.setCurrentText("POST")
        view.path.setText("Accounts")
        view.body.setPlainText('{"name": "Acme"}')
        view.send()
        await until(lambda: len(view.history) == 1)
        assert backend.calls[-1] == ("raw", "POST", "Accounts", (), {"name": "Acme"})
        view.method.setCurrentText("GET")
        view.path.setText("missing/route")
        view.body.setPlainText("")
        view.send()
        await until(lambda: len(view.history) == 2)
        assert view.response_line.text().startswith("404 Not Found")
        assert view.history_list.item(0).text() == "GET missing/route → 404"
        # Choosing the older entry brings back its request and its response.
        view.history_list.setCurrentRow(1)
        assert view.method.currentText() == "POST"
        assert view.path.text() == "Accounts"
        assert json.loads(view.body.toPlainText()) == {"name": "Acme"}
        assert view.response_line.text().startswith("200 OK")

    aio.run(body(), timeout=15)


def test_non_json_response(qtbot: QtBot, aio: AsyncDriver) -> None:
    async def body() -> None:
        view, _ = console(qtbot)
        view.path.setText("html")
        view.send()
        await until(lambda: view.history)
        assert view.response_line.text().startswith("502 Bad Gateway")
        assert view.tree.model.rowCount() == 0
        assert view.response_tabs.currentWidget() is view.raw
        assert view.raw.text().startswith("<html><b>Login</b> token=")
        assert FAKE_TOKEN not in view.raw.text()

    aio.run(body(), timeout=15)


def test_invalid_body_is_not_sent(qtbot: QtBot, aio: AsyncDriver) -> None:
    async def body() -> None:
        view, backend = console(qtbot)
        view.method.setCurrentText("POST")
        view.path.setText("Accounts")
        view.body.setPlainText('{"name": }')
        view.send()
        await until(lambda: view.status.is_error)
        assert "not valid JSON: line 1, column 10" in view.status.text()
        assert not view.body_problem.isHidden()
        assert not [c for c in backend.calls if c[0] == "raw"]
        view.path.setText("http://elsewhere.test/x")
        view.body.setPlainText("")
        view.send()
        assert "not a full URL" in view.status.text()
        assert not [c for c in backend.calls if c[0] == "raw"]

    aio.run(body(), timeout=15)


def test_tree_search(qtbot: QtBot, aio: AsyncDriver) -> None:
    async def body() -> None:
        view, _ = console(qtbot)
        view.path.setText("Accounts")
        view.send()
        await until(lambda: view.history)
        view.tree.search.edit.setText("item 2")
        view.tree.search.next_button.click()
        await until(lambda: view.tree.matches(), what="search results")
        assert view.tree.matches() == [(5, 2, 1)]
        current = view.tree.view.currentIndex()
        assert current.data() == "name"
        assert current.parent().data() == "[2]"
        assert view.tree.search.count_label.text() == "1 of 1"

    aio.run(body(), timeout=15)


def test_copy_as_curl_hides_secrets(qtbot: QtBot, aio: AsyncDriver) -> None:
    async def body() -> None:
        view, _ = console(qtbot)
        view.method.setCurrentText("POST")
        view.path.setText("Accounts")
        view.query.set_pairs([("sessionName", FAKE_TOKEN), ("fields", "name")])
        view.body.setPlainText(json.dumps({"name": "Acme", "password": FAKE_PASSWORD}))
        view.send()
        await until(lambda: view.history)
        text = view.copy_curl()
        assert QGuiApplication.clipboard().text() == text
        assert text.startswith("curl -X POST 'http://127.0.0.1:9/api/v1/Accounts?")
        assert "'Authorization: Bearer <token>'" in text
        assert "'X-Api-Key: <token>'" in text
        assert "fields=name" in text
        assert "sessionName=<token>" in text
        assert "Acme" in text
        for secret in (FAKE_TOKEN, FAKE_PASSWORD):
            assert secret not in text
            # … nor anywhere the console shows or keeps.
            assert secret not in view.raw.text()
            assert all(secret not in e.request.body_text for e in view.history)
            assert all(secret not in str(e.request.query) for e in view.history)
            assert all(secret not in view.history_list.item(i).text() for i in range(1))

    aio.run(body(), timeout=15)


def test_not_offered(qtbot: QtBot) -> None:
    view, _ = console(qtbot, PlainFakeBackend())
    assert view.note.text() == NO_CONSOLE_NOTE
    assert view.send_button is None
    assert not view.findChildren(QPushButton)


def test_validate_and_curl_without_response() -> None:
    assert validate("GET", "", "").startswith("Enter a path")
    assert validate("GET", "me", "") == ""
    req = ConsoleRequest("GET", "/me", (("access_token", "abcdefgh12345"),))
    text = curl_command(req, None)
    assert text == "curl -X GET '<api-base>/me?access_token=<token>' -H 'Authorization: <token>'"


def test_sanitize_masks_secret_keys() -> None:
    raw = RawResponse(
        200,
        "OK",
        {"Set-Cookie": "PHPSESSID=abcdef123456", "Content-Type": "application/json"},
        "",
        json={"access_token": "zzzzyyyyxxxx", "nested": [{"refresh_token": "qqqqwwwweeee"}]},
        is_json=True,
    )
    shown = sanitize_response(raw, 3.0)
    assert "zzzzyyyyxxxx" not in shown.text
    assert "qqqqwwwweeee" not in shown.text
    assert shown.headers["Set-Cookie"] == "<token>"
    assert shown.elapsed_ms == 3.0


def test_models_pass_qtmodeltester(qtmodeltester: Any) -> None:
    from crmdesk.ui.admin.jsonview import JsonTreeModel
    from crmdesk.ui.admin.models import FIELD_COLUMNS, RowsModel

    tree = JsonTreeModel()
    tree.set_value({"a": [1, {"b": None, "c": "x"}], "d": {}, "e": [], "f": True})
    qtmodeltester.check(tree)
    scalar = JsonTreeModel()
    scalar.set_value("just text")
    qtmodeltester.check(scalar)
    assert scalar.index(0, 1).data() == "just text"
    rows: RowsModel[Any] = RowsModel(FIELD_COLUMNS)
    from crmdesk.core.schema import FieldDef, FieldType

    rows.set_rows([FieldDef("a", "A", FieldType.TEXT), FieldDef("b", "B", FieldType.INT, length=3)])
    qtmodeltester.check(rows)


def test_find_paths_deep_and_capped() -> None:
    from crmdesk.ui.admin.jsonview import MAX_MATCHES, find_paths

    deep: Any = "needle"
    for _ in range(5000):  # deeper than Python's recursion limit
        deep = [deep]
    assert find_paths(deep, "NEEDLE") == [(0,) * 5000]
    wide = [{"name": "needle"} for _ in range(MAX_MATCHES + 10)]
    assert len(find_paths(wide, "needle")) == MAX_MATCHES
