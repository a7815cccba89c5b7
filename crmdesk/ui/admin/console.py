"""The API console: raw requests through the current connection's session.

Nothing secret is ever shown, kept in history or copied: responses are run through
:func:`crmdesk.backends.redact.redact` (and values under secret-looking keys masked)
on a worker thread before they reach a widget, and "copy as curl" replaces every
credential header and secret-looking query parameter with a placeholder.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from crmdesk.backends.redact import MASK, redact
from crmdesk.core.backend import Backend, RawResponse
from crmdesk.ui.admin.common import NoteLabel, Runs, StatusLine, off_thread, plain_label
from crmdesk.ui.admin.inspector import make_table
from crmdesk.ui.admin.jsonview import JsonTree, TextViewer, mono_font
from crmdesk.ui.admin.models import Column, RowFilterProxy, RowsModel
from crmdesk.ui.tasks import TaskRunner

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
PLACEHOLDER = "<token>"
NO_CONSOLE_NOTE = (
    "This connection has no API console: its CRM adapter does not send raw requests. "
    "Use the metadata inspector to see what the CRM reports about itself."
)
#: Header names whose values are credentials, whatever the CRM (lower case).
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "oauth-token",
        "x-api-key",
        "espo-authorization",
        "x-hmac-authorization",
        "x-auth-token",
        "x-csrf-token",
        "x-session-id",
    }
)
#: Words that make a header, query parameter or JSON key secret-looking.
SECRET_WORDS = (
    "token",
    "secret",
    "password",
    "passwd",
    "apikey",
    "api_key",
    "accesskey",
    "access_key",
    "session",
    "cookie",
    "auth",
    "signature",
)
HISTORY_LIMIT = 200


def is_secret_name(name: str) -> bool:
    low = name.lower().replace("-", "_")
    return low in {h.replace("-", "_") for h in SECRET_HEADERS} or any(
        w in low for w in SECRET_WORDS
    )


def safe_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers fit to show or copy: credentials replaced, the rest redacted."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        if is_secret_name(name):
            scheme = value.split(" ", 1)[0] if " " in value else ""
            out[name] = f"{scheme} {PLACEHOLDER}" if scheme.isalpha() else PLACEHOLDER
        else:
            out[name] = redact(value)
    return out


def safe_query(query: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(k, PLACEHOLDER if is_secret_name(k) else redact(v)) for k, v in query]


def safe_url(url: str) -> str:
    """``url`` with known secrets redacted and secret-looking query values as placeholders.

    Redaction runs on the pieces, before placeholders go in, so that the placeholders
    survive (a final pass would mask ``token=<token>`` again).
    """
    parts = urlsplit(url)
    query = urlencode(safe_query(parse_qsl(parts.query, keep_blank_values=True)), safe="<>")
    return urlunsplit(
        (parts.scheme, redact(parts.netloc), redact(parts.path), query, redact(parts.fragment))
    )


def sanitize_json(value: Any) -> Any:
    """A copy of ``value`` with secret-looking keys masked and known secrets redacted."""
    if isinstance(value, dict):
        return {
            k: (MASK if is_secret_name(str(k)) and isinstance(v, str) and v else sanitize_json(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [sanitize_json(v) for v in value]
    if isinstance(value, str):
        return redact(value)
    return value


@dataclass(frozen=True, slots=True)
class ConsoleRequest:
    method: str
    path: str
    query: tuple[tuple[str, str], ...] = ()
    body_text: str = ""

    def body(self) -> Any:
        """The parsed JSON body (None when empty); raises ValueError when it is not JSON."""
        return json.loads(self.body_text) if self.body_text.strip() else None


@dataclass(frozen=True, slots=True)
class ShownResponse:
    """A response as the console may show it: already sanitised."""

    status: int
    reason: str
    headers: dict[str, str]
    text: str
    json: Any
    is_json: bool
    elapsed_ms: float
    url: str
    request_headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    request: ConsoleRequest
    response: ShownResponse | None
    error: str = ""

    def title(self) -> str:
        outcome = (self.error and "failed") or (
            f"{self.response.status}" if self.response is not None else "…"
        )
        return f"{self.request.method} {self.request.path} → {outcome}"


#: A mask the adapter put where a JSON literal was (``"token": null`` → ``"token": ‹redacted›``).
_BARE_MASK = re.compile(r"([:\[,]\s*)" + re.escape(MASK) + r"(?=\s*[,}\]])")


def parse_masked_json(text: str) -> tuple[bool, Any]:
    """(True, value) when ``text`` is JSON once masks standing for bare literals are quoted.

    Adapters redact a body before parsing it; the redaction pattern for secret-looking keys
    also masks a ``null`` or number after them, which leaves invalid JSON and would cost
    the user the JSON tree of, say, EspoCRM's ``App/user`` (``"token": null``).
    """
    stripped = text.lstrip()
    if MASK not in text or not stripped.startswith(("{", "[")):
        return False, None
    try:
        return True, json.loads(_BARE_MASK.sub(lambda m: f'{m.group(1)}"{MASK}"', text))
    except (ValueError, RecursionError):
        return False, None


def sanitize_response(resp: RawResponse, elapsed_ms: float) -> ShownResponse:
    """Runs on a worker thread: masks secrets and pretty-prints JSON."""
    is_json, value = resp.is_json, resp.json
    if not is_json:
        is_json, value = parse_masked_json(resp.body_text)
    data = sanitize_json(value) if is_json else None
    if is_json:
        text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    else:
        text = redact(resp.body_text)
    return ShownResponse(
        status=resp.status,
        reason=redact(resp.reason),
        headers=safe_headers(resp.headers),
        text=text,
        json=data,
        is_json=is_json,
        elapsed_ms=resp.elapsed_ms or elapsed_ms,
        url=safe_url(resp.url) if resp.url else "",
        request_headers=safe_headers(resp.request_headers),
    )


def validate(method: str, path: str, body_text: str) -> str:
    """What is wrong with a request before it is sent ("" when nothing)."""
    if method not in METHODS:
        return f"Unknown method {method}."
    stripped = path.strip()
    if not stripped:
        return "Enter a path relative to the connection's API base, e.g. me or Accounts."
    if "://" in stripped or stripped.startswith("//"):
        return (
            "Enter a path relative to the connection's API base, not a full URL: the console "
            "only talks to this connection's CRM."
        )
    if body_text.strip():
        try:
            json.loads(body_text)
        except json.JSONDecodeError as exc:
            return f"The body is not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}."
    return ""


def curl_command(request: ConsoleRequest, response: ShownResponse | None) -> str:
    """A curl command line for ``request``, credentials replaced by placeholders."""
    if response is not None and response.url:
        url = safe_url(response.url)
    else:
        qs = urlencode(safe_query(request.query), safe="<>")
        url = "<api-base>/" + redact(request.path.lstrip("/")) + (f"?{qs}" if qs else "")
    parts = ["curl", "-X", request.method, url]
    headers = dict(response.request_headers) if response is not None else {}
    lower = {k.lower() for k in headers}
    if not any(is_secret_name(k) for k in headers):
        headers["Authorization"] = PLACEHOLDER
    if request.body_text.strip() and "content-type" not in lower:
        headers["Content-Type"] = "application/json"
    for name, value in safe_headers(headers).items():
        parts += ["-H", f"{redact(name)}: {value}"]
    if request.body_text.strip():
        try:
            body = json.dumps(sanitize_json(request.body()), ensure_ascii=False)
        except ValueError:
            body = request.body_text
        parts += ["--data-raw", redact(body)]
    # Every piece is redacted above; a pass over the whole line would mask the placeholders.
    return " ".join(shlex.quote(p) for p in parts)


HEADER_COLUMNS: tuple[Column[tuple[str, str]], ...] = (
    Column("Header", lambda h: h[0]),
    Column("Value", lambda h: h[1]),
)


class QueryTable(QTableWidget):
    """Editable name / value rows for the query string."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, 2, parent)
        self.setHorizontalHeaderLabels(["Parameter", "Value"])
        self.horizontalHeader().setStretchLastSection(True)
        self.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.setColumnWidth(0, 180)
        self.verticalHeader().setVisible(False)
        self.setTabKeyNavigation(True)
        self.add_row()

    def add_row(self, key: str = "", value: str = "") -> None:
        row = self.rowCount()
        self.insertRow(row)
        self.setItem(row, 0, QTableWidgetItem(key))
        self.setItem(row, 1, QTableWidgetItem(value))

    def remove_current(self) -> None:
        row = self.currentRow()
        if row >= 0:
            self.removeRow(row)
        if self.rowCount() == 0:
            self.add_row()

    def pairs(self) -> tuple[tuple[str, str], ...]:
        out: list[tuple[str, str]] = []
        for row in range(self.rowCount()):
            key_item, value_item = self.item(row, 0), self.item(row, 1)
            key = key_item.text().strip() if key_item else ""
            if key:
                out.append((key, value_item.text() if value_item else ""))
        return tuple(out)

    def set_pairs(self, pairs: Sequence[tuple[str, str]]) -> None:
        self.setRowCount(0)
        for k, v in pairs:
            self.add_row(k, v)
        self.add_row()


class ApiConsole(QWidget):
    """Method, path, query, JSON body → status, headers, JSON tree, raw text; with history."""

    def __init__(
        self, backend: Backend, runner: TaskRunner | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("API console")
        self.backend = backend
        self.status = StatusLine(self)
        self.runs = Runs(self, runner, self.status)
        self.history: list[HistoryEntry] = []
        self.current: HistoryEntry | None = None
        self.available = backend.capabilities.raw_request
        self.note = NoteLabel("" if self.available else NO_CONSOLE_NOTE, self)
        lay = QVBoxLayout(self)
        lay.addWidget(self.note)
        self.send_button: QPushButton | None = None
        if not self.available:
            lay.addStretch(1)
            lay.addWidget(self.status)
            return

        # -- request ---------------------------------------------------------------------
        self.method = QComboBox(self)
        self.method.addItems(list(METHODS))
        self.path = QLineEdit(self)
        self.path.setPlaceholderText("path relative to the API base, e.g. me or Accounts/123")
        self.send_button = QPushButton("&Send", self)
        self.send_button.setToolTip("Send the request (Ctrl+Enter)")
        self.send_button.setDefault(True)
        self.curl_button = QPushButton("Copy as c&url", self)
        self.curl_button.setToolTip("Copy a curl command; the token is replaced by a placeholder")
        line = QHBoxLayout()
        line.addWidget(self.method)
        line.addWidget(self.path, 1)
        line.addWidget(self.send_button)
        line.addWidget(self.curl_button)

        self.query = QueryTable(self)
        self.add_param = QPushButton("Add parameter", self)
        self.remove_param = QPushButton("Remove parameter", self)
        params = QWidget(self)
        params_lay = QVBoxLayout(params)
        params_lay.setContentsMargins(0, 0, 0, 0)
        params_lay.addWidget(self.query, 1)
        row = QHBoxLayout()
        row.addWidget(self.add_param)
        row.addWidget(self.remove_param)
        row.addStretch(1)
        params_lay.addLayout(row)
        self.body = QPlainTextEdit(self)
        self.body.setFont(mono_font())
        self.body.setPlaceholderText('JSON body, e.g. {"data": {"type": "Accounts"}}')
        self.body.setTabChangesFocus(True)
        self.body_problem = NoteLabel("", self)
        body_page = QWidget(self)
        body_lay = QVBoxLayout(body_page)
        body_lay.setContentsMargins(0, 0, 0, 0)
        body_lay.addWidget(self.body, 1)
        body_lay.addWidget(self.body_problem)
        self.request_tabs = QTabWidget(self)
        self.request_tabs.addTab(params, "&Query")
        self.request_tabs.addTab(body_page, "&Body (JSON)")

        request_box = QWidget(self)
        request_lay = QFormLayout(request_box)
        request_lay.setContentsMargins(0, 0, 0, 0)
        request_lay.addRow(line)
        request_lay.addRow(self.request_tabs)

        # -- response --------------------------------------------------------------------
        self.response_line = plain_label("No request sent yet.", self)
        font = self.response_line.font()
        font.setBold(True)
        self.response_line.setFont(font)
        self.tree = JsonTree(self)
        self.raw = TextViewer(self, "Find in response text")
        self.header_model: RowsModel[tuple[str, str]] = RowsModel(HEADER_COLUMNS, self)
        self.header_proxy = RowFilterProxy(self)
        self.header_proxy.setSourceModel(self.header_model)
        self.headers_view = make_table(self, self.header_proxy)
        self.response_tabs = QTabWidget(self)
        self.response_tabs.addTab(self.tree, "JSON &tree")
        self.response_tabs.addTab(self.raw, "&Raw text")
        self.response_tabs.addTab(self.headers_view, "&Headers")
        response_box = QWidget(self)
        response_lay = QVBoxLayout(response_box)
        response_lay.setContentsMargins(0, 0, 0, 0)
        response_lay.addWidget(self.response_line)
        response_lay.addWidget(self.response_tabs, 1)

        # -- history ---------------------------------------------------------------------
        self.history_list = QListWidget(self)
        self.history_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        history_box = QWidget(self)
        history_lay = QVBoxLayout(history_box)
        history_lay.setContentsMargins(0, 0, 0, 0)
        history_title = plain_label("&History", self)
        history_title.setBuddy(self.history_list)
        history_title.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
        history_lay.addWidget(history_title)
        history_lay.addWidget(self.history_list, 1)

        work = QSplitter(Qt.Orientation.Vertical, self)
        work.addWidget(request_box)
        work.addWidget(response_box)
        work.setSizes([220, 480])
        outer = QSplitter(Qt.Orientation.Horizontal, self)
        outer.addWidget(history_box)
        outer.addWidget(work)
        outer.setSizes([240, 900])
        lay.addWidget(outer, 1)
        lay.addWidget(self.status)

        self.send_button.clicked.connect(self.send)
        self.path.returnPressed.connect(self.send)
        self.curl_button.clicked.connect(self.copy_curl)
        self.add_param.clicked.connect(lambda: self.query.add_row())
        self.remove_param.clicked.connect(self.query.remove_current)
        self.body.textChanged.connect(lambda: self.body_problem.show_text(""))
        self.history_list.currentRowChanged.connect(self._history_chosen)
        self.tree.search_requested.connect(
            lambda text: self.runs.start("search", self.tree.search_for(text), label="Searching")
        )
        for seq in ("Ctrl+Return", "Ctrl+Enter"):
            QShortcut(QKeySequence(seq), self, self.send)
        self._busy = False

    # -- sending ---------------------------------------------------------------------
    def request(self) -> ConsoleRequest:
        return ConsoleRequest(
            self.method.currentText(),
            self.path.text().strip(),
            self.query.pairs(),
            self.body.toPlainText(),
        )

    def send(self) -> None:
        if not self.available:
            return
        req = self.request()
        problem = validate(req.method, req.path, req.body_text)
        if problem:
            if req.body_text.strip() and "body" in problem:
                self.body_problem.show_text(problem)
                self.request_tabs.setCurrentIndex(1)
            self.status.problem(problem)
            return
        self.runs.start("send", self._send(req), label=f"{req.method} {req.path}")

    async def _send(self, req: ConsoleRequest) -> None:
        self.status.info(f"Sending {req.method} {req.path}…")
        self.response_line.setText("Waiting for the response…")
        started = time.perf_counter()
        try:
            raw = await self.backend.raw_request(req.method, req.path, req.query, req.body())
        except Exception as exc:
            self._remember(HistoryEntry(req, None, error=str(exc)))
            self.response_line.setText("The request failed.")
            raise
        elapsed = (time.perf_counter() - started) * 1000
        shown = await off_thread(sanitize_response, raw, elapsed)
        self._remember(HistoryEntry(req, shown))
        self.status.info("")

    def _remember(self, entry: HistoryEntry) -> None:
        safe_req = ConsoleRequest(
            entry.request.method,
            redact(entry.request.path),
            tuple(safe_query(entry.request.query)),
            redact(entry.request.body_text),
        )
        entry = HistoryEntry(safe_req, entry.response, redact(entry.error))
        self.history.insert(0, entry)
        del self.history[HISTORY_LIMIT:]
        self.history_list.blockSignals(True)
        self.history_list.insertItem(0, QListWidgetItem(entry.title()))
        while self.history_list.count() > HISTORY_LIMIT:
            self.history_list.takeItem(self.history_list.count() - 1)
        self.history_list.setCurrentRow(0)
        self.history_list.blockSignals(False)
        self.show_entry(entry, restore_request=False)

    def _history_chosen(self, row: int) -> None:
        if 0 <= row < len(self.history):
            self.show_entry(self.history[row], restore_request=True)

    def show_entry(self, entry: HistoryEntry, *, restore_request: bool) -> None:
        self.current = entry
        if restore_request:
            req = entry.request
            self.method.setCurrentText(req.method)
            self.path.setText(req.path)
            self.query.set_pairs(req.query)
            self.body.setPlainText(req.body_text)
        resp = entry.response
        if resp is None:
            self.response_line.setText(f"Failed: {entry.error}" if entry.error else "")
            self.tree.clear()
            self.raw.set_text("")
            self.header_model.set_rows([])
            return
        self.response_line.setText(f"{resp.status} {resp.reason} · {resp.elapsed_ms:.0f} ms")
        if resp.is_json:
            self.tree.set_value(resp.json)
        else:
            self.tree.clear()
        self.raw.set_text(resp.text)
        self.header_model.set_rows(sorted(resp.headers.items()))
        self.headers_view.resizeColumnsToContents()
        self.response_tabs.setCurrentIndex(0 if resp.is_json else 1)

    # -- curl ------------------------------------------------------------------------
    def curl_text(self) -> str:
        """curl for the request in the form; the shown response lends its URL and headers."""
        req = self.request()
        shown = self.current
        if shown is not None and shown.response is not None:
            same = (shown.request.method, shown.request.path, shown.request.query) == (
                req.method,
                redact(req.path),
                tuple(safe_query(req.query)),
            )
            if same:
                return curl_command(req, shown.response)
        return curl_command(req, None)

    def copy_curl(self) -> str:
        text = self.curl_text()
        QGuiApplication.clipboard().setText(text)
        self.status.info("Copied a curl command; replace <token> with a valid token to run it.")
        return text
