"""Exports (pbflow/services/exports.py): CSV and a real Excel workbook, typed cells, text that
looks like a formula made inert, streamed rather than held; and every list page's export
with the page's rights and filters (never only its page)."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import date, datetime
from decimal import Decimal
from xml.etree import ElementTree

import pytest

from pbflow.engine import runtime
from pbflow.services import exports
from pbflow.services.exports import Column, Table
from tests.conftest import make_user
from tests.pages_helpers import funding_case, text

NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}


def read_xlsx(data: bytes) -> list[list[tuple[str, str, bool]]]:
    """The first sheet's cells as (type, value, quote-prefixed) per row; type is the cell's
    ``t`` attribute ("n" for a number) and "f" when the cell holds a formula."""
    book = zipfile.ZipFile(io.BytesIO(data))
    styles = ElementTree.fromstring(book.read("xl/styles.xml"))
    xfs = styles.find("m:cellXfs", NS)
    quoted = [xf.get("quotePrefix") == "1" for xf in xfs.findall("m:xf", NS)]
    sheet = ElementTree.fromstring(book.read("xl/worksheets/sheet1.xml"))
    strings = []
    if "xl/sharedStrings.xml" in book.namelist():
        shared = ElementTree.fromstring(book.read("xl/sharedStrings.xml"))
        strings = ["".join(t.text or "" for t in si.iter(f"{{{NS['m']}}}t")) for si in shared]
    rows = []
    for row in sheet.find("m:sheetData", NS).findall("m:row", NS):
        cells = []
        for c in row.findall("m:c", NS):
            kind = "f" if c.find("m:f", NS) is not None else c.get("t", "n")
            if kind == "s":
                value = strings[int(c.find("m:v", NS).text)]
            elif kind == "inlineStr":
                value = "".join(t.text or "" for t in c.iter(f"{{{NS['m']}}}t"))
            else:
                v = c.find("m:v", NS)
                value = v.text if v is not None else ""
            cells.append((kind, value, quoted[int(c.get("s", "0"))]))
        rows.append(cells)
    return rows


TABLE = [
    Column("Text"),
    Column("Count", "int"),
    Column("Amount", "number"),
    Column("Day", "date"),
    Column("When", "datetime"),
    Column("Done", "bool"),
    Column("Share", "percent"),
]
ROWS = [
    [
        '=HYPERLINK("http://x","click")',
        3,
        Decimal("1200.50"),
        date(2026, 3, 1),
        datetime(2026, 3, 2, 2, 0),
        True,
        0.5,
    ],
    ["+1-2", None, "7", "2026-03-04", None, False, None],
    ["@SUM(A1)", 0, 0.25, None, None, None, 1],
]


def test_csv_cells_are_typed_and_formulas_inert(app):
    body = "".join(exports.csv_chunks(Table("t", TABLE, iter(ROWS))))
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert rows[1] == [
        '\'=HYPERLINK("http://x","click")',
        "3",
        "1200.5",
        "2026-03-01",
        "2026-03-02 10:00",
        "1",
        "0.5",
    ]
    assert rows[2] == ["'+1-2", "", "7", "2026-03-04", "", "0", ""]
    assert rows[3] == ["'@SUM(A1)", "0", "0.25", "", "", "", "1"]


def test_the_workbook_has_typed_cells_and_no_formula(app):
    target = io.BytesIO()
    assert exports.write_xlsx(Table("t", TABLE, iter(ROWS)), target) == 3
    rows = read_xlsx(target.getvalue())
    assert [v for _k, v, _q in rows[0]] == [c.header for c in TABLE]
    first = rows[1]
    # Text is a string cell, never a formula, with Excel's quote prefix kept on edit.
    assert first[0][0] in ("s", "inlineStr") and first[0][1].startswith("=HYPERLINK")
    assert first[0][2] is True
    assert [k for k, _v, _q in first[1:]] == ["n", "n", "n", "n", "b", "n"]
    assert first[1][1] == "3" and float(first[2][1]) == 1200.5
    assert float(first[3][1]) == 46082  # 2026-03-01 as an Excel serial day
    assert float(first[4][1]) == pytest.approx(46083 + 10 / 24)  # 10:00 local time
    assert first[5][1] == "1" and float(first[6][1]) == 0.5
    assert all(kind != "f" for row in rows for kind, _v, _q in row)
    second = rows[2]  # empty cells are left out, "7" is a number, the ISO text a date
    assert second[0][1] == "+1-2" and second[0][2] is True
    assert [(k, float(v)) for k, v, _q in second[1:3]] == [("n", 7.0), ("n", 46085.0)]
    assert second[3][:2] == ("b", "0")


def test_csv_is_streamed_a_batch_at_a_time(app):
    """The first chunk goes out before the rows are all read: nothing holds them all."""
    taken = []

    def rows():
        for i in range(3 * exports.CSV_BATCH):
            taken.append(i)
            yield [f"row {i}"]

    chunks = exports.csv_chunks(Table("t", [Column("Text")], rows()))
    first = next(chunks)
    assert first.count("\n") == exports.CSV_BATCH + 1  # the header and one batch
    assert len(taken) == exports.CSV_BATCH
    assert sum(c.count("\n") for c in chunks) == 2 * exports.CSV_BATCH


def test_a_download_is_streamed_and_not_cached(world, client, auth):
    funding_case(world, purpose="=cmd|' /C calc'!A0")
    auth.login("secretary")
    res = client.get("/cases?format=csv&status=all")
    assert res.is_streamed and res.headers["Cache-Control"] == "no-store"
    assert res.mimetype == "text/csv" and "attachment" in res.headers["Content-Disposition"]
    assert "'=cmd" in text(res)
    res = client.get("/cases?format=xlsx&status=all")
    assert res.mimetype.endswith("spreadsheetml.sheet")
    (row,) = read_xlsx(res.get_data())[1:]
    assert row[1][1] == "=cmd|' /C calc'!A0" and row[1][0] != "f" and row[1][2] is True


def test_the_case_list_exports_every_case_its_filters_select_with_its_rights(world, client, auth):
    mine = [funding_case(world, purpose=f"活动{i}") for i in range(3)]
    other = funding_case(world, by="other_secretary", org=world.other_branch, purpose="机电")
    runtime.fire(mine[0].id, "submit", world["branch_member"])
    auth.login("gb_secretary")
    rows = list(
        csv.reader(io.StringIO(text(client.get("/cases?format=csv&lang=en")).lstrip("\ufeff")))
    )
    assert rows[0][:4] == ["No.", "Title", "Procedure", "State"]
    assert sorted(int(r[0]) for r in rows[1:]) == sorted(c.id for c in mine)  # not b2's
    assert other.id not in [int(r[0]) for r in rows[1:]]
    state = "/cases?format=csv&state=secretary_review&page=2"
    filtered = list(csv.reader(io.StringIO(text(client.get(state)).lstrip("\ufeff"))))
    assert [int(r[0]) for r in filtered[1:]] == [mine[0].id]  # filters kept, page ignored


def test_list_exports_keep_the_pages_rights(world, client, auth):
    make_user("b2_admin", [(world.other_branch, "admin")])
    auth.login("b2_admin")
    people = list(csv.reader(io.StringIO(text(client.get("/admin/people?format=csv")))))
    assert [r[1] for r in people[1:]] == ["Other Secretary"]  # b1's people are not theirs
    auth.logout()
    auth.login("committee_a")
    assert client.get("/admin/people?format=csv&q=Secretary").status_code == 200
    everyone = text(client.get("/admin/people?format=csv&q=Secretary"))
    assert everyone.count("Secretary") == 3  # secretary, gb_secretary, other_secretary
    auth.logout()
    auth.login("secretary")
    assert client.get("/admin/people?format=csv").status_code == 403
    assert client.get("/audit/?format=csv").status_code == 403
    auth.logout()
    auth.login("auditor")
    events = text(client.get("/audit/?format=csv&lang=en&action=org_created"))
    assert events.count("org_created") == 4
    assert re.search(r"^Seq\.,Time,Actor,Action", events.lstrip("\ufeff"))
    assert client.get("/audit/?format=xlsx&from=yesterday").status_code == 422


def test_dashboard_exports_have_the_dashboards_rights(world, client, auth):
    auth.login("other_secretary")
    assert (
        client.get(f"/supervision/export/compliance.csv?org={world.branch.id}").status_code == 404
    )
    assert client.get("/supervision/export/compliance.csv").status_code == 200
    assert client.get("/supervision/export/nonsense.csv").status_code == 404
    assert client.get("/supervision/export/compliance.pdf").status_code == 404
    res = client.get("/supervision/export/notices.csv?from=2026-02-30")
    assert res.status_code == 422 and "2026-03-01" in text(res)
    auth.logout()
    auth.login("member")
    res = client.get("/supervision/export/compliance.xlsx")
    assert res.status_code == 403 and "read an organization" in text(res)
