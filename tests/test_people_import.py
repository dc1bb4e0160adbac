"""CSV import of people through the real upload route: all or nothing, line-by-line report."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, select

from pbflow.extensions import db
from pbflow.models import Person
from pbflow.services import people
from tests.conftest import audit_actions, csrf_token

HEADER = "name,id_number,org_code,gender,birth_date,party_status,activist_on,phone\n"


def _upload(client, content: bytes | str, filename: str = "people.csv", lang: str = "en"):
    page = client.get("/admin/people/import")
    token = csrf_token(page.get_data(as_text=True))
    data = content.encode("utf-8") if isinstance(content, str) else content
    return client.post(
        f"/admin/people/import?lang={lang}",
        data={"csrf_token": token, "file": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
    )


def _count() -> int:
    return db.session.execute(select(func.count(Person.id))).scalar_one()


def _report_lines(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr class="import-error"><td>(\d+)</td>', html)]


@pytest.fixture
def admin_client(world, auth, client):
    auth.login("admin")
    return client


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_import_success_with_or_without_bom(world, admin_client, bom):
    before = _count()
    body = (
        HEADER + "张三,110101199001011234,b1,男,1990-01-01,activist,2025-03-01,13900000001\n"
        "李四,,b2,female,1995-06-30,applicant,,\n"
        "\n"  # trailing blank line as spreadsheets write it
    )
    resp = _upload(admin_client, bom + body.encode("utf-8"))
    assert resp.status_code == 200
    assert "2 people imported" in resp.get_data(as_text=True)
    assert _count() == before + 2
    zhang = db.session.execute(select(Person).where(Person.name == "张三")).scalar_one()
    assert (zhang.org_id, zhang.gender, zhang.party_status) == (world.branch.id, "male", "activist")
    assert str(zhang.activist_on) == "2025-03-01"
    li = db.session.execute(select(Person).where(Person.name == "李四")).scalar_one()
    assert li.org_id == world.other_branch.id and li.id_number is None
    actions = audit_actions()
    assert actions.count("person_created") == 2 and actions[-1] == "people_imported"


def test_errors_on_lines_3_and_5_reported_and_nothing_imported(world, admin_client):
    before_count, before_events = _count(), audit_actions()
    body = (
        HEADER
        + "甲,,b1,男,1990-01-01,activist,,\n"  # line 2: fine
        + "乙,,nowhere,男,1990-13-01,activist,,\n"  # line 3: unknown org and a bad date
        + "丙,,b1,女,1991-01-01,full,,\n"  # line 4: fine
        + "丁,,b1,x,1992-01-01,hero,,\n"  # line 5: bad gender and bad status
    )
    resp = _upload(admin_client, body)
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert "Nothing was imported: 4 problems" in html
    assert _report_lines(html) == [3, 3, 5, 5]
    assert "no organization has code &#39;nowhere&#39;" in html
    assert "&#39;1990-13-01&#39; is not a date" in html
    assert "&#39;hero&#39; is not one of" in html
    assert _count() == before_count
    assert audit_actions() == before_events


def test_duplicates_in_file_and_in_database(world, admin_client):
    db.session.add(Person(name="已有", org_id=world.branch.id, id_number="ID-EXISTS"))
    db.session.commit()
    before = _count()
    body = (
        HEADER
        + "一,ID-1,b1,,,,,\n"
        + "二,ID-1,b1,,,,,\n"  # line 3 repeats line 2
        + "三,ID-EXISTS,b1,,,,,\n"  # line 4 already in pbflow
    )
    resp = _upload(admin_client, body)
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert _report_lines(html) == [3, 4]
    assert "the same ID number is on line 2" in html
    assert "a person with this ID number already exists" in html
    assert _count() == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("名字,姓名\n张三,李四\n".encode("gbk"), "not UTF-8 encoded"),
        (b"PK\x03\x04\x00\x00\x08\x00binary spreadsheet", "not a CSV text file"),
        (b"", "The file is empty"),
        ("name,org_code,colour\n张三,b1,red\n".encode(), "unknown columns: colour"),
        ("name,id_number\n张三,1\n".encode(), "missing columns: org_code"),
        (b"name,org_code\n", "a header but no people"),
    ],
)
def test_unreadable_files_get_a_clear_message(world, admin_client, content, message):
    before = _count()
    resp = _upload(admin_client, content)
    assert resp.status_code == 422
    assert message in resp.get_data(as_text=True)
    assert _count() == before


def test_too_large_file_is_refused(world, admin_client, monkeypatch):
    monkeypatch.setattr(people, "MAX_IMPORT_BYTES", 200)
    body = HEADER + "".join(f"人{i},,b1,,,,,\n" for i in range(50))
    resp = _upload(admin_client, body)
    assert resp.status_code == 422
    assert "The file is too large" in resp.get_data(as_text=True)
    assert _count() == len(world.users) - 2  # only the fixture's people (admin, auditor have none)


def test_wrong_cell_count_is_reported_per_line(world, admin_client):
    resp = _upload(admin_client, "name,org_code\n甲,b1\n乙\n丙,b1,extra\n")
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert _report_lines(html) == [3, 4]
    assert "has 1 cell, the header has 2" in html  # one cell, in the singular


def test_no_file_chosen(world, admin_client):
    page = admin_client.get("/admin/people/import")
    token = csrf_token(page.get_data(as_text=True))
    resp = admin_client.post("/admin/people/import?lang=en", data={"csrf_token": token})
    assert resp.status_code == 400
    assert "Choose a CSV file to upload" in resp.get_data(as_text=True)


def test_import_only_into_organizations_of_the_admin(world, auth, client):
    from tests.conftest import make_user

    make_user("branch_admin", [(world.branch, "admin")])
    auth.login("branch_admin")
    before = _count()
    resp = _upload(client, "name,org_code\n甲,b1\n乙,b2\n")
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert _report_lines(html) == [3]
    assert "you are not an administrator of &#39;b2&#39;" in html
    assert _count() == before


def test_import_page_documents_columns(world, admin_client):
    html = admin_client.get("/admin/people/import?lang=en").get_data(as_text=True)
    for column in people.CSV_COLUMNS:
        assert f"<code>{column}</code>" in html


def test_import_page_example_line_wraps_on_a_phone(world, admin_client):
    # The example header is one long word; a bare <pre> pushed a 390 px page sideways.
    html = admin_client.get("/admin/people/import?lang=en").get_data(as_text=True)
    example = ",".join(people.CSV_COLUMNS)
    assert f'<pre class="as-code">{example}</pre>' in html
