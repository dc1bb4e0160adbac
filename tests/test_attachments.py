"""Files on cases: type checks by extension and content, size limit, storage by SHA-256 with
deduplication, downloads only for those who may see the case, everything audited."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import func, select

from pbflow.extensions import db
from pbflow.models import Attachment
from tests.conftest import audit_actions, csrf_token
from tests.pages_helpers import funding_case, text, walk

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def _docx(with_word: bool = True) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml" if with_word else "other.xml", "<w/>")
    return buf.getvalue()


def _upload(client, case_id, name, content, lang="en"):
    page = text(client.get(f"/cases/{case_id}"))
    return client.post(
        f"/cases/{case_id}/attachments?lang={lang}",
        data={"csrf_token": csrf_token(page), "file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
    )


def _count() -> int:
    return db.session.execute(select(func.count(Attachment.id))).scalar_one()


def test_upload_is_stored_by_hash_deduplicated_audited_and_downloadable(app, world, auth, client):
    case = funding_case(world)
    auth.login("secretary")
    assert _upload(client, case.id, "预算.pdf", PDF).status_code == 302
    assert _upload(client, case.id, "copy.pdf", PDF).status_code == 302
    sha = hashlib.sha256(PDF).hexdigest()
    blob = Path(app.config["PBFLOW_UPLOAD_DIR"]) / sha[:2] / sha
    assert blob.read_bytes() == PDF
    files = [p for p in Path(app.config["PBFLOW_UPLOAD_DIR"]).rglob("*") if p.is_file()]
    assert files == [blob]  # two attachments, one stored copy
    rows = db.session.execute(select(Attachment).order_by(Attachment.id)).scalars().all()
    assert [r.filename for r in rows] == ["预算.pdf", "copy.pdf"]
    assert rows[0].content_type == "application/pdf" and rows[0].instance_id == case.id
    assert audit_actions(case.id).count("attachment_added") == 2
    page = text(client.get(f"/cases/{case.id}"))
    assert f'href="/attachments/{rows[0].id}"' in page
    download = client.get(f"/attachments/{rows[0].id}")
    assert download.status_code == 200 and download.data == PDF
    assert download.headers["Content-Type"] == "application/pdf"
    assert "attachment_downloaded" in audit_actions(case.id)


@pytest.mark.parametrize("username", ["other_secretary", "member"])
def test_download_refused_to_whoever_may_not_see_the_case(world, auth, client, username):
    case = funding_case(world)
    auth.login("secretary")
    _upload(client, case.id, "a.pdf", PDF)
    attachment_id = db.session.execute(select(Attachment.id)).scalar_one()
    auth.logout()
    auth.login(username)
    assert client.get(f"/attachments/{attachment_id}").status_code == 404
    assert "attachment_downloaded" not in audit_actions()
    page = client.get("/inbox")
    refused = client.post(
        f"/cases/{case.id}/attachments",
        data={"csrf_token": csrf_token(text(page)), "file": (io.BytesIO(PDF), "b.pdf")},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 404 and _count() == 1


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("tool.exe", b"MZ\x90\x00", "has a type that is not allowed"),
        ("report.pdf", b"MZ\x90\x00 not a pdf", "does not look like a .pdf file"),
        ("photo.png", PDF, "does not look like a .png file"),
        ("notes.txt", b"abc\x00\x01", "does not look like a .txt file"),
        ("plan.docx", _docx(with_word=False), "does not look like a .docx file"),
        ("empty.pdf", b"", "is empty"),
    ],
)
def test_wrong_types_are_refused(world, auth, client, name, content, message):
    case = funding_case(world)
    auth.login("secretary")
    refused = _upload(client, case.id, name, content)
    assert refused.status_code == 422
    assert message in text(refused)
    assert _count() == 0


@pytest.mark.parametrize(
    ("name", "content"),
    [("a.png", PNG), ("b.docx", _docx()), ("c.txt", "会议纪要\n".encode()), ("d.pdf", PDF)],
)
def test_allowed_types_are_accepted(world, auth, client, name, content):
    case = funding_case(world)
    auth.login("secretary")
    assert _upload(client, case.id, name, content).status_code == 302
    assert _count() == 1


def test_size_limit_from_config(app, world, auth, client):
    app.config["PBFLOW_MAX_UPLOAD_MB"] = 1
    app.config["MAX_CONTENT_LENGTH"] = 2 * 1024 * 1024
    case = funding_case(world)
    auth.login("secretary")
    just_over = PDF + b"0" * (1024 * 1024)
    refused = _upload(client, case.id, "big.pdf", just_over)
    assert refused.status_code == 422 and "larger than the limit of 1 MB" in text(refused)
    far_over = PDF + b"0" * (3 * 1024 * 1024)
    assert _upload(client, case.id, "huge.pdf", far_over).status_code == 413
    assert _count() == 0
    leftovers = [p for p in Path(app.config["PBFLOW_UPLOAD_DIR"]).rglob("*") if p.is_file()]
    assert leftovers == []  # the refused file's temporary copy is gone


def test_file_field_of_a_step_becomes_an_attachment(world, auth, client, clock):
    case = funding_case(world)
    walk(
        case.id,
        world,
        ("submit", "branch_member"),
        ("secretary_approve", "secretary"),
        ("superior_approve", "gb_secretary"),
    )
    clock.set("2026-03-21T02:00:00")
    auth.login("branch_member")
    page = text(client.get(f"/cases/{case.id}"))
    form = {
        "csrf_token": csrf_token(page),
        "version": "4",
        "f.spent": "bad",
        "f.spending_report": "说明",
        "f.receipts": (io.BytesIO(PDF), "票据.pdf"),
    }
    refused = client.post(
        f"/cases/{case.id}/steps/report_spending?lang=en",
        data=form,
        content_type="multipart/form-data",
    )
    assert refused.status_code == 422 and _count() == 0  # nothing half-saved
    assert "Choose the file again" in text(refused)
    form["f.spent"] = "1000"
    form["f.receipts"] = (io.BytesIO(PDF), "票据.pdf")
    done = client.post(
        f"/cases/{case.id}/steps/report_spending",
        data=form,
        content_type="multipart/form-data",
    )
    assert done.status_code == 302
    attachment = db.session.execute(select(Attachment)).scalar_one()
    assert attachment.purpose == "receipts" and attachment.instance_id == case.id
    page = text(client.get(f"/cases/{case.id}"))
    assert f'<a href="/attachments/{attachment.id}">票据.pdf</a>' in page


def test_step_may_not_point_at_another_case_file(world, auth, client, clock):
    other = funding_case(world, by="other_secretary", org=world.other_branch)
    auth.login("other_secretary")
    _upload(client, other.id, "theirs.pdf", PDF)
    theirs = db.session.execute(select(Attachment.id)).scalar_one()
    auth.logout()
    case = funding_case(world)
    walk(
        case.id,
        world,
        ("submit", "branch_member"),
        ("secretary_approve", "secretary"),
        ("superior_approve", "gb_secretary"),
    )
    clock.set("2026-03-21T02:00:00")
    auth.login("branch_member")
    token = csrf_token(text(client.get("/inbox")))
    response = client.post(
        f"/api/cases/{case.id}/fire",
        json={
            "trigger": "report_spending",
            "values": {"spent": "1", "spending_report": "x", "receipts": theirs},
        },
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 422
    assert response.get_json()["field_errors"] == {
        "receipts": "names a file that does not belong to this case"
    }


def test_no_upload_on_a_closed_case(world, auth, client):
    case = funding_case(world)
    walk(case.id, world, ("submit", "branch_member"))
    from pbflow.engine import runtime

    runtime.fire(case.id, "withdraw", world["branch_member"], comment="不办了")
    auth.login("secretary")
    page = text(client.get(f"/cases/{case.id}"))
    assert 'id="upload-form"' not in page
    refused = client.post(
        f"/cases/{case.id}/attachments?lang=en",
        data={"csrf_token": csrf_token(page), "file": (io.BytesIO(PDF), "late.pdf")},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 409 and "This case is closed" in text(refused)
    assert _count() == 0


def test_a_small_files_size_reads_in_bytes_not_as_zero_kb(world, auth, client):
    """A file under a kilobyte showed as '0.0 KB' (a 50-byte PDF): it reads in bytes."""
    case = funding_case(world)
    auth.login("secretary")
    assert _upload(client, case.id, "small.pdf", PDF).status_code == 302
    big = PDF + b"%" * 3000
    assert _upload(client, case.id, "big.pdf", big).status_code == 302
    page = text(client.get(f"/cases/{case.id}?lang=en"))
    assert f"{len(PDF)} B ·" in page and "0.0 KB" not in page
    assert f"{round(len(big) / 1024, 1)} KB ·" in page
