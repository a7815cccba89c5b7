"""Export the shown record list (its module, filter and sort, every page) to a CSV file.

The list's columns are written with the texts a user reads in the table (option labels,
related records' names), except numbers and dates, which stay machine-readable (no
thousands separators, ISO dates) so a spreadsheet computes with them.  Cells that a
spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@`` …) are written with a
leading apostrophe: a CRM value is data, never a command (CSV injection).

The file is written next to its target under a temporary name and renamed when the last
page is in: a cancelled or failed export leaves neither a half file nor a damaged old one.
"""

from __future__ import annotations

import asyncio
import csv
import logging
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from PySide6.QtCore import QObject, QStandardPaths, Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox, QProgressDialog, QWidget

from crmdesk.core.errors import CrmError
from crmdesk.core.records import PageRequest, Record, Value
from crmdesk.core.schema import FieldDef, FieldType
from crmdesk.ui.errors import describe
from crmdesk.ui.format import format_value
from crmdesk.ui.models.records import Loader, RecordTableModel
from crmdesk.ui.tasks import TaskRunner

log = logging.getLogger(__name__)

#: First characters that make a spreadsheet evaluate a cell.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
#: The slot key of the export task (one export per record list at a time).
EXPORT_KEY = "export"


def safe_cell(text: str) -> str:
    """``text`` as a spreadsheet will show it, never run it: a leading formula character
    gets an apostrophe (a plain number such as -12.5 stays a number)."""
    if text.startswith(_FORMULA_START) and not _NUMBER.match(text):
        return "'" + text
    return text


def cell_text(fdef: FieldDef, record: Record) -> str:
    """The CSV text of ``fdef``'s value in ``record``."""
    value: Value = record.values.get(fdef.name)
    if fdef.type is FieldType.RELATE and fdef.relate_name_field:
        value = record.values.get(fdef.relate_name_field) or value
        return "" if value is None else str(value)
    if value is None or value == "" or value == ():
        return ""
    if isinstance(value, bool):
        return format_value(fdef, value)
    if isinstance(value, datetime):
        local = value.astimezone() if value.tzinfo is not None else value
        return local.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"
    if isinstance(value, int | float) and fdef.type in (
        FieldType.INT,
        FieldType.DECIMAL,
        FieldType.CURRENCY,
    ):
        return str(value)
    return format_value(fdef, value)


@dataclass(frozen=True, slots=True)
class ExportResult:
    path: Path
    rows: int


Progress = Callable[[int, int | None], None]


async def write_csv(
    path: Path,
    columns: Sequence[FieldDef],
    loader: Loader,
    *,
    page_size: int = 100,
    progress: Progress | None = None,
) -> ExportResult:
    """Page through ``loader`` and write every record to ``path`` (atomically).

    ``progress(rows written, total or None)`` after each page.  On cancellation or any
    error the temporary file is removed and ``path`` is left as it was.
    """
    part = path.with_name(f".{path.name}.part")
    rows = 0
    try:
        # utf-8-sig: spreadsheet programs read the BOM as "this is UTF-8" (umlauts, CJK).
        with part.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow([safe_cell(c.label or c.name) for c in columns])
            cursor: str | None = None
            while True:
                page = await loader(PageRequest(size=page_size, cursor=cursor))
                rows += _write_page(writer, handle, columns, page.records)
                if progress is not None:
                    progress(rows, page.total)
                if page.next is None or page.next == cursor or not page.records:
                    break
                cursor = page.next
        os.replace(part, path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return ExportResult(path, rows)


def _write_page(
    writer: Any, handle: IO[str], columns: Sequence[FieldDef], records: Sequence[Record]
) -> int:
    for record in records:
        writer.writerow([safe_cell(cell_text(c, record)) for c in columns])
    handle.flush()
    return len(records)


def default_path(label: str) -> Path:
    """``<Documents>/<Module> <today>.csv`` (home when the system names no documents
    folder)."""
    folder = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    base = Path(folder) if folder else Path.home()
    name = re.sub(r'[\\/:*?"<>|]+', " ", label).strip() or "records"
    return base / f"{name} {date.today().isoformat()}.csv"


class ListExporter(QObject):
    """Exports one record table's list, with a progress dialog and Cancel."""

    def __init__(
        self,
        records: RecordTableModel,
        runner: TaskRunner,
        window: QWidget,
        notice: Callable[[str], None],
        *,
        page_size: int = 200,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.records = records
        self.runner = runner
        self.window = window
        self.notice = notice
        self.page_size = page_size
        self.progress: QProgressDialog | None = None
        #: The last message shown to the user (for tests and the status bar).
        self.last_message = ""
        self.error_box: QMessageBox | None = None

    def running(self) -> bool:
        return self.runner.running(EXPORT_KEY)

    def export(self, label: str, path: Path | None = None) -> bool:
        """Ask where to (unless ``path`` is given) and start; False when nothing started."""
        if self.running():
            self._say("An export is already running; wait for it or cancel it.")
            return False
        loader = self.records.fresh_loader()
        columns = self.records.columns
        if loader is None or not columns:
            self._say("Open a module first; then export its list.")
            return False
        if path is None:
            chosen, _filter = QFileDialog.getSaveFileName(
                self.window,
                f"Export {label} to CSV",
                str(default_path(label)),
                "CSV files (*.csv);;All files (*)",
            )
            if not chosen:
                return False
            path = Path(chosen)
        self._start(label, path, loader, columns)
        return True

    def cancel(self) -> None:
        self.runner.cancel(EXPORT_KEY)

    def _start(self, label: str, path: Path, loader: Loader, columns: Sequence[FieldDef]) -> None:
        dialog = QProgressDialog(f"Exporting {label}…", "Cancel", 0, 0, self.window)
        dialog.setWindowTitle("Export to CSV")
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(300)
        dialog.setAutoReset(False)
        dialog.setAutoClose(False)
        dialog.canceled.connect(self.cancel)
        self.progress = dialog

        def progress(rows: int, total: int | None) -> None:
            if dialog is not self.progress:
                return
            if total is not None and total >= rows:
                dialog.setMaximum(max(total, 1))
                dialog.setValue(rows)
                dialog.setLabelText(f"Exporting {label}: {rows:,} of {total:,} records…")
            else:
                dialog.setLabelText(f"Exporting {label}: {rows:,} records so far…")

        async def run() -> None:
            try:
                result = await write_csv(
                    path, columns, loader, page_size=self.page_size, progress=progress
                )
            except (CrmError, OSError) as exc:
                self._close_progress()
                self._failed(path, exc)
                return
            except asyncio.CancelledError:
                self._close_progress()
                self._say(f"Export cancelled: {path.name} was not written.")
                raise
            except BaseException:
                self._close_progress()  # the runner's sink reports it
                raise
            self._close_progress()
            self._say(f"Exported {result.rows:,} {label} records to {result.path}.")

        self.runner.run(EXPORT_KEY, run(), label=f"Exporting {label}")

    def _close_progress(self) -> None:
        dialog, self.progress = self.progress, None
        if dialog is not None:
            dialog.canceled.disconnect(self.cancel)
            dialog.reset()
            dialog.hide()
            dialog.deleteLater()

    def _failed(self, path: Path, exc: BaseException) -> None:
        if isinstance(exc, OSError):
            title = "Could not write the file"
            message = f"{path} could not be written: {exc.strerror or type(exc).__name__}."
            advice = "Choose another folder or file name and export again."
        else:
            title, message, advice = describe(exc)
            log.warning("export failed: %s", message)
        self._say(f"Export failed: {message} Nothing was written to {path.name}.")
        box = QMessageBox(self.window)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle(title)
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setText(f"Export failed: {message}")
        box.setInformativeText(f"{advice} Nothing was written to {path.name}.")
        box.setModal(False)
        box.show()
        self.error_box = box

    def _say(self, text: str) -> None:
        self.last_message = text
        self.notice(text)
