"""Export the shown list to CSV: every page of the module with its filter and sort, over
the demo CRM on loopback; formula cells defused; a cancelled or failed export leaves no
file (and an older file with that name untouched)."""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from helpers.admin_util import collect_garbage
from helpers.demo_window import demo_window, open_demo, open_module, settle
from helpers.qasync_loop import AsyncDriver
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QPushButton
from pytestqt.qtbot import QtBot

from crmdesk.core.errors import ServerError
from crmdesk.core.records import Page, PageRequest, Record
from crmdesk.core.schema import FieldDef, FieldType, Option
from crmdesk.demo.server import DemoServer
from crmdesk.ui.export_list import ListExporter, cell_text, safe_cell, write_csv
from crmdesk.ui.main_window import MainWindow
from crmdesk.ui.workspace import Workspace

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "does not support raise")


# -- cells ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+49 30 1234", "'+49 30 1234"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("-1+2", "'-1+2"),
        ("\tcmd", "'\tcmd"),
        ("-12.5", "-12.5"),  # a number stays a number
        ("+3", "+3"),
        ("Acme = best", "Acme = best"),
        ("", ""),
    ],
)
def test_formula_cells_are_defused_numbers_are_not(text: str, written: str) -> None:
    assert safe_cell(text) == written


def test_cell_texts_are_readable_and_machine_friendly() -> None:
    fields = {
        "industry": FieldDef(
            "industry", "Industry", FieldType.ENUM, options=(Option("bank", "Banking"),)
        ),
        "amount": FieldDef("amount", "Amount", FieldType.CURRENCY, currency="EUR"),
        "employees": FieldDef("employees", "Employees", FieldType.INT),
        "closed": FieldDef("closed", "Closed", FieldType.DATE),
        "seen": FieldDef("seen", "Seen", FieldType.DATETIME),
        "vip": FieldDef("vip", "VIP", FieldType.BOOL),
        "account_id": FieldDef(
            "account_id",
            "Account",
            FieldType.RELATE,
            relate_module="Accounts",
            relate_name_field="account_name",
        ),
        "notes": FieldDef("notes", "Notes", FieldType.MULTILINE),
    }
    seen = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    rec = Record(
        "Accounts",
        "1",
        {
            "industry": "bank",
            "amount": Decimal("1234567.50"),
            "employees": 1200,
            "closed": date(2026, 2, 28),
            "seen": seen,
            "vip": True,
            "account_id": "a1",
            "account_name": "Acme",
            "notes": "line 1\nline 2",
        },
    )
    texts = {name: cell_text(f, rec) for name, f in fields.items()}
    assert texts == {
        "industry": "Banking",
        "amount": "1234567.5",  # no separators, no currency sign: a spreadsheet number
        "employees": "1200",
        "closed": "2026-02-28",
        "seen": seen.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
        "vip": "Yes",
        "account_id": "Acme",  # the related record's name, not its id
        "notes": "line 1\nline 2",  # kept whole: CSV quotes it
    }


# -- writing ----------------------------------------------------------------------------

NAME = FieldDef("name", "Name", FieldType.TEXT)


def _pages(n_pages: int, per: int, fail_at: int | None = None) -> Any:
    calls: list[PageRequest] = []

    async def load(req: PageRequest) -> Page:
        calls.append(req)
        index = int(req.cursor or 0)
        if fail_at is not None and index == fail_at:
            raise ServerError("The server failed (500).")
        await asyncio.sleep(0)
        records = [
            Record("Accounts", f"{index}-{i}", {"name": f"Acct {index}-{i}"}) for i in range(per)
        ]
        nxt = str(index + 1) if index + 1 < n_pages else None
        return Page(records, total=n_pages * per, next=nxt)

    return load, calls


def test_every_page_is_written_with_progress(aio: AsyncDriver, tmp_path: Path) -> None:
    load, calls = _pages(3, 4)
    seen: list[tuple[int, int | None]] = []
    target = tmp_path / "out.csv"
    result = aio.run(
        write_csv(target, (NAME,), load, page_size=4, progress=lambda r, t: seen.append((r, t)))
    )
    assert result.rows == 12
    assert [c.cursor for c in calls] == [None, "1", "2"]
    assert all(c.size == 4 for c in calls)
    assert seen == [(4, 12), (8, 12), (12, 12)]
    raw = target.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: spreadsheets read it as UTF-8
    rows = list(csv.reader(target.read_text(encoding="utf-8-sig").splitlines()))
    assert rows[0] == ["Name"]
    assert rows[1:] == [[f"Acct {p}-{i}"] for p in range(3) for i in range(4)]
    assert list(tmp_path.iterdir()) == [target]  # no temporary file left


def test_a_failed_page_leaves_the_old_file_and_no_part(aio: AsyncDriver, tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("an older export\n", encoding="utf-8")
    load, _calls = _pages(3, 4, fail_at=2)

    async def run() -> None:
        await write_csv(target, (NAME,), load)

    with pytest.raises(ServerError):
        aio.run(run())
    assert target.read_text(encoding="utf-8") == "an older export\n"
    assert list(tmp_path.iterdir()) == [target]


# -- in the window, over the demo CRM ---------------------------------------------------


@pytest.fixture(autouse=True)
def _main_thread_gc() -> Iterator[None]:
    collect_garbage()
    yield
    collect_garbage()


@pytest.fixture
def window(
    qtbot: QtBot, aio: AsyncDriver, demo_server: DemoServer, tmp_path: Path
) -> Iterator[MainWindow]:
    with demo_window(qtbot, aio, demo_server, tmp_path) as win:
        yield win


def _open(win: MainWindow, aio: AsyncDriver, dialect: str, module: str) -> Workspace:
    conn, _ws = open_demo(win, aio, dialect)
    return open_module(win, aio, conn, module)


_settle = settle


def _exporter(win: MainWindow, ws: Workspace) -> tuple[ListExporter, list[str]]:
    said: list[str] = []
    return ListExporter(ws.records, ws.runner, win, said.append, page_size=50), said


@pytest.mark.parametrize(
    ("dialect", "module", "name_field"),
    [("suitecrm", "Accounts", "name"), ("vtiger", "Accounts", "accountname")],
)
def test_the_filtered_sorted_list_is_exported_whole(
    window: MainWindow,
    aio: AsyncDriver,
    tmp_path: Path,
    dialect: str,
    module: str,
    name_field: str,
) -> None:
    ws = _open(window, aio, dialect, module)
    generation = ws.records.generation
    QTest.keyClicks(ws.filter_bar.quick, "oscorp")
    aio.wait_until(lambda: ws.records.generation != generation, timeout=5)
    _settle(aio, ws)
    total = ws.records.total
    assert total is not None
    assert 50 < total < 1000
    col = ws.records.column_of(name_field)
    shown = [ws.records.text(r, col) for r in range(ws.records.rowCount())]

    exporter, said = _exporter(window, ws)
    target = tmp_path / "oscorp.csv"
    assert exporter.export("Accounts", target)
    aio.wait_until(lambda: not exporter.running(), timeout=60)
    rows = list(csv.reader(target.read_text(encoding="utf-8-sig").splitlines()))
    header = rows[0]
    assert header == [c.label for c in ws.records.columns]
    names = [r[col] for r in rows[1:]]
    # Every page, not just the rows loaded in the table (SuiteCRM tells only its page
    # count: the total is the last page's upper bound there).
    if ws.records.total_is_estimate:
        assert total - 100 < len(names) <= total
    else:
        assert len(names) == total
    assert len(names) > ws.records.rowCount() or not ws.records.has_more
    ids = {tuple(r) for r in rows[1:]}
    assert len(ids) == len(names)  # no page written twice
    assert all("oscorp" in n.casefold() for n in names)  # the filter applies
    assert names[: len(shown)] == shown  # in the table's order
    assert said[-1] == f"Exported {len(names):,} Accounts records to {target}."
    assert exporter.progress is None


def test_a_server_error_mid_export_says_so_and_writes_nothing(
    window: MainWindow, aio: AsyncDriver, demo_server: DemoServer, tmp_path: Path
) -> None:
    ws = _open(window, aio, "suitecrm", "Accounts")
    exporter, said = _exporter(window, ws)
    demo_server.faults.inject(r"/Api/V8/module/Accounts$", "status:500", times=None)
    target = tmp_path / "accounts.csv"
    try:
        assert exporter.export("Accounts", target)
        aio.wait_until(lambda: not exporter.running(), timeout=60)
    finally:
        demo_server.faults.clear()
    assert said[-1].startswith("Export failed: ")
    assert said[-1].endswith("Nothing was written to accounts.csv.")
    box = exporter.error_box
    assert box is not None
    assert box.isVisible()
    assert "Export failed" in box.text()
    box.close()
    assert list(tmp_path.glob("*.csv*")) == []
    assert ws.records.rowCount() > 0  # the list itself is untouched


def test_cancel_stops_the_export_and_leaves_no_file(
    window: MainWindow, aio: AsyncDriver, demo_server: DemoServer, tmp_path: Path
) -> None:
    ws = _open(window, aio, "suitecrm", "Accounts")
    exporter, said = _exporter(window, ws)
    demo_server.faults.inject(r"/Api/V8/module/Accounts$", "delay:0.3", times=None)
    target = tmp_path / "accounts.csv"
    try:
        assert exporter.export("Accounts", target)
        assert not exporter.export("Accounts", target)  # one at a time
        assert "already running" in said[-1]
        aio.wait_until(lambda: any(tmp_path.glob(".*.part")), timeout=20)
        dialog = exporter.progress
        assert dialog is not None
        button = dialog.findChild(QPushButton)
        assert button is not None
        assert button.text() == "Cancel"
        button.click()
        aio.wait_until(lambda: not exporter.running(), timeout=20)
    finally:
        demo_server.faults.clear()
    assert said[-1] == "Export cancelled: accounts.csv was not written."
    assert list(tmp_path.glob("*.csv*")) == []
    assert list(tmp_path.glob(".*.part")) == []


def test_nothing_open_nothing_exported(window: MainWindow, aio: AsyncDriver) -> None:
    _conn, ws = open_demo(window, aio, "suitecrm")
    exporter, said = _exporter(window, ws)
    assert not exporter.export("Accounts", Path("/nonexistent/x.csv"))
    assert said == ["Open a module first; then export its list."]


def test_an_unwritable_folder_is_a_clear_error(
    window: MainWindow, aio: AsyncDriver, tmp_path: Path
) -> None:
    ws = _open(window, aio, "suitecrm", "Accounts")
    exporter, said = _exporter(window, ws)
    target = tmp_path / "missing-folder" / "accounts.csv"
    assert exporter.export("Accounts", target)
    aio.wait_until(lambda: not exporter.running(), timeout=20)
    assert said[-1].startswith("Export failed: ")
    assert str(target) in said[-1]
    assert exporter.error_box is not None
    assert "another folder" in exporter.error_box.informativeText()
    exporter.error_box.close()


def test_record_menu_exports_after_asking_where(
    window: MainWindow, aio: AsyncDriver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = _open(window, aio, "espocrm", "Account")
    generation = ws.records.generation
    QTest.keyClicks(ws.filter_bar.quick, "oscorp")
    aio.wait_until(lambda: ws.records.generation != generation, timeout=5)
    _settle(aio, ws)
    total = ws.records.total
    assert total is not None
    target = tmp_path / "chosen.csv"
    asked: list[str] = []

    def choose(_parent: object, _title: str, suggested: str, _filter: str) -> tuple[str, str]:
        asked.append(suggested)
        return str(target), "CSV files (*.csv)"

    monkeypatch.setattr("crmdesk.ui.export_list.QFileDialog.getSaveFileName", choose)
    action = window.actions_by_id["record.export"]
    assert action.shortcut().toString() == "Ctrl+E"
    action.trigger()
    assert ws.exporter is not None
    aio.wait_until(lambda: ws.exporter is not None and not ws.exporter.running(), timeout=60)
    assert asked
    assert asked[0].endswith(".csv")
    assert "Accounts" in Path(asked[0]).name
    rows = list(csv.reader(target.read_text(encoding="utf-8-sig").splitlines()))
    assert len(rows) - 1 == total
    assert "Exported" in window.status.currentMessage() or "Exported" in ws.exporter.last_message


def test_a_cancelled_file_choice_exports_nothing(
    window: MainWindow, aio: AsyncDriver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = _open(window, aio, "suitecrm", "Accounts")
    monkeypatch.setattr("crmdesk.ui.export_list.QFileDialog.getSaveFileName", lambda *_a: ("", ""))
    assert not ws.export_list()
    assert ws.exporter is not None
    assert not ws.exporter.running()
