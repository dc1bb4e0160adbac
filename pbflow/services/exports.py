"""Tables out as CSV or as a real Excel workbook, streamed row by row.

A page that lists something offers the same rows for download with a few lines: its service
gives a :class:`Table` (typed columns and a *lazy* iterable of rows, usually a database
cursor read in batches) built with the same reader's rights and the same filters as the page
(never its pagination), and the view returns :func:`send`. Nothing holds all rows at once:

- CSV is written and sent in chunks while the rows are read (UTF-8 with a byte-order mark, so
  spreadsheet programs read Chinese);
- XLSX is written by XlsxWriter in ``constant_memory`` mode (each row goes to a temporary file
  as soon as it is complete) into a temporary file, which is then sent and deleted.

Cells are typed: numbers as numbers, dates as dates, times in local time, yes/no as booleans,
shares as percentages. Text that a spreadsheet would take for a formula (it starts with
``= + - @``, a tab or a carriage return) is made inert: in CSV by a leading apostrophe, in the
workbook by writing it as a string cell with Excel's quote prefix, never as a formula.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

import xlsxwriter
from flask import Response, send_file, stream_with_context

from pbflow import clock

FORMATS = ("csv", "xlsx")
TYPES = ("text", "int", "number", "date", "datetime", "bool", "percent")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
EXCEL_MAX_TEXT = 32767  # characters in one cell
CSV_BATCH = 500  # rows per chunk sent


@dataclass(frozen=True)
class Column:
    header: str  # already translated
    type: str = "text"
    width: int = 14  # characters, for the workbook

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"unknown column type {self.type!r}")


@dataclass
class Table:
    """What a page exports: a file name (without extension), typed columns, the rows."""

    name: str
    columns: Sequence[Column]
    rows: Iterable[Sequence[Any]]
    sheet: str = "pbflow"


def inert(text: str) -> str:
    """CSV text a spreadsheet will not run as a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _text(value: Any) -> str:
    if value is None:
        return ""
    if hasattr(value, "zh") and hasattr(value, "get"):  # a workflow label
        from flask_babel import get_locale

        return value.get(str(get_locale() or "zh"))
    return str(value)


def _local(value: datetime, tz: Any = None) -> datetime:
    """A stored (naive UTC) time in local time, naive (what a spreadsheet shows)."""
    return value.replace(tzinfo=UTC).astimezone(tz or clock.local_tz()).replace(tzinfo=None)


def _number(value: Any) -> float | int | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return int(number) if number == number.to_integral_value() else float(number)


def _as_date(value: Any) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return _local(value).date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None


def csv_value(column: Column, value: Any, tz: Any = None) -> str:
    """One cell as CSV text: dates ISO, times local, booleans 1/0, text made inert."""
    if value is None or value == "":
        return ""
    kind = column.type
    if kind == "datetime" and isinstance(value, datetime):
        return _local(value, tz).isoformat(" ", "minutes")
    if kind == "date":
        day = _as_date(value)
        return day.isoformat() if day else inert(_text(value))
    if kind == "bool":
        return "1" if value else "0"
    if kind in ("int", "number", "percent"):
        number = _number(value)
        if number is None:
            return inert(_text(value))
        if isinstance(number, float):  # at most four decimals, no trailing zeros
            return f"{number:.4f}".rstrip("0").rstrip(".")
        return str(number)
    return inert(_text(value))


def csv_chunks(table: Table) -> Iterator[str]:
    """The table as CSV text, a batch of rows at a time."""
    out = io.StringIO()
    writer = csv.writer(out)
    out.write("\ufeff")
    writer.writerow([inert(c.header) for c in table.columns])
    tz = clock.local_tz()
    try:
        for n, row in enumerate(table.rows, 1):
            writer.writerow([csv_value(c, v, tz) for c, v in zip(table.columns, row, strict=False)])
            if n % CSV_BATCH == 0:
                yield out.getvalue()
                out.seek(0)
                out.truncate()
        yield out.getvalue()
    finally:
        close = getattr(table.rows, "close", None)
        if close is not None:  # a generator over a cursor: let it go as soon as we are done
            close()


_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")


def write_xlsx(table: Table, target: Any) -> int:
    """Write the table as a workbook into ``target`` (a path or a binary file); the number of
    rows written. Memory stays flat whatever the number of rows."""
    book = xlsxwriter.Workbook(
        target,
        {
            "constant_memory": True,
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
            "remove_timezone": True,
        },
    )
    sheet = book.add_worksheet(_SHEET_BAD.sub(" ", table.sheet)[:31] or "pbflow")
    header = book.add_format({"bold": True, "bg_color": "#EEEEEE", "text_wrap": True})
    formats = {
        "date": book.add_format({"num_format": "yyyy-mm-dd"}),
        "datetime": book.add_format({"num_format": "yyyy-mm-dd hh:mm"}),
        "percent": book.add_format({"num_format": "0.0%"}),
        "number": book.add_format({"num_format": "0.##"}),
    }
    quoted = book.add_format({"quote_prefix": True})
    for i, column in enumerate(table.columns):
        sheet.set_column(i, i, column.width)
        sheet.write_string(0, i, column.header, header)
    sheet.freeze_panes(1, 0)
    written = 0
    formats["tz"] = clock.local_tz()
    try:
        for written, row in enumerate(table.rows, 1):
            for i, (column, value) in enumerate(zip(table.columns, row, strict=False)):
                _write_cell(sheet, written, i, column, value, formats, quoted)
    finally:
        close = getattr(table.rows, "close", None)
        if close is not None:
            close()
    if table.columns:
        sheet.autofilter(0, 0, max(written, 1), len(table.columns) - 1)
    book.close()
    return written


def _write_cell(sheet, r: int, c: int, column: Column, value: Any, formats, quoted) -> None:
    if value is None or value == "":
        return
    kind = column.type
    if kind in ("int", "number", "percent"):
        number = _number(value)
        if number is not None:
            sheet.write_number(r, c, number, formats.get(kind))
            return
    elif kind == "bool":
        sheet.write_boolean(r, c, bool(value))
        return
    elif kind == "date":
        day = _as_date(value)
        if day is not None:
            sheet.write_datetime(r, c, datetime(day.year, day.month, day.day), formats["date"])
            return
    elif kind == "datetime" and isinstance(value, datetime):
        sheet.write_datetime(r, c, _local(value, formats["tz"]), formats["datetime"])
        return
    text = _text(value)[:EXCEL_MAX_TEXT]
    # A string cell is never evaluated; the quote prefix keeps it text when someone edits it.
    sheet.write_string(r, c, text, quoted if text.startswith(FORMULA_STARTS) else None)


def _disposition(filename: str) -> str:
    ascii_name = re.sub(r"[^A-Za-z0-9._-]+", "-", filename).strip("-") or "export"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


def send(table: Table, fmt: str) -> Response:
    """The response for ``fmt`` (csv or xlsx): streamed CSV, or the workbook from a
    temporary file. Sent ``no-store``: an export holds the reader's data."""
    stamp = clock.to_local(clock.now()).strftime("%Y%m%d")
    filename = f"{table.name}-{stamp}.{fmt}"
    if fmt == "csv":
        response = Response(
            stream_with_context(csv_chunks(table)), mimetype="text/csv; charset=utf-8"
        )
    elif fmt == "xlsx":
        spool = tempfile.TemporaryFile()  # noqa: SIM115 - send_file closes (and so deletes) it
        write_xlsx(table, spool)
        spool.seek(0)
        response = send_file(
            spool,
            mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    else:
        raise ValueError(f"unknown export format {fmt!r}")
    response.headers["Content-Disposition"] = _disposition(filename)
    response.headers["Cache-Control"] = "no-store"
    return response
