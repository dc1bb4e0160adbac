"""A stored file belongs to one owner for good (issue 10, High 2).

The attack: a meeting's file (stored with no case) was named by id in another branch's start
form of member development, and moved into the new case: the owning branch lost it. A form
may now name only the files uploaded with it; the database keeps a file's owner fixed too.
"""

from __future__ import annotations

import io
from datetime import date

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError

from pbflow.extensions import db
from pbflow.models import Attachment, MeetingAttachment, ProcessInstance
from tests.conftest import csrf_token, make_user
from tests.pages_helpers import funding_case, walk
from tests.pages_helpers import text as body
from tests.three_meetings.helpers import leave_fields

PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _meeting_with_a_file(world, client, auth) -> tuple[int, int]:
    """The branch secretary records a meeting with its minutes as a file, through the page."""
    auth.login("secretary")
    page = client.get(f"/meetings/new?org={world.branch.id}")
    person = str(world["secretary"].person.id)
    present = [str(world[u].person.id) for u in ("secretary", "deputy", "member")]
    done = client.post(
        f"/meetings/new?org={world.branch.id}",
        data={
            "csrf_token": csrf_token(body(page)),
            "meeting_type": "theme_day",
            "held_on": "2026-03-01",
            "topic": "主题党日",
            "chair": person,
            "recorder": str(world["deputy"].person.id),
            "present": present,
            **leave_fields(world.branch.id, "theme_day", present),
            "minutes": "要点",
            "files": (io.BytesIO(PDF), "会议记录.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert done.status_code == 302, body(done)
    meeting_id = int(done.headers["Location"].rsplit("/", 1)[1])
    file_id = db.session.execute(
        select(MeetingAttachment.attachment_id).where(MeetingAttachment.meeting_id == meeting_id)
    ).scalar_one()
    auth.logout()
    return meeting_id, file_id


def _still_the_meetings(file_id: int, meeting_id: int) -> None:
    db.session.expire_all()
    att = db.session.get(Attachment, file_id)
    assert att.owner == "meeting" and att.instance_id is None
    assert (
        db.session.execute(
            select(MeetingAttachment.meeting_id).where(MeetingAttachment.attachment_id == file_id)
        ).scalar_one()
        == meeting_id
    )


def test_a_meeting_file_cannot_be_pulled_into_another_branchs_start_form(world, client, auth):
    meeting_id, file_id = _meeting_with_a_file(world, client, auth)
    cases_before = db.session.execute(select(ProcessInstance.id)).all()
    auth.login("other_secretary")  # secretary of another branch
    url = f"/cases/new?workflow=member_development&org={world.other_branch.id}&lang=en"
    form = client.get(url)
    assert form.status_code == 200
    refused = client.post(
        url,
        data={
            "csrf_token": csrf_token(body(form)),
            "f.person": str(_applicant(world.other_branch)),
            "f.application_date": "2026-03-01",
            "f.application_letter": str(file_id),
        },
    )
    assert refused.status_code == 422
    assert "names a file that was not uploaded with this form" in body(refused)
    assert db.session.execute(select(ProcessInstance.id)).all() == cases_before
    _still_the_meetings(file_id, meeting_id)
    # The branch that owns the meeting still sees and downloads its file.
    auth.logout()
    auth.login("secretary")
    assert "会议记录.pdf" in body(client.get(f"/meetings/{meeting_id}"))
    assert client.get(f"/attachments/{file_id}").status_code == 200


def test_a_start_form_cannot_name_even_its_own_earlier_upload(world, client, auth):
    """An unattached upload of the same user is no exception: only this request's files."""
    from pbflow.services import attachments
    from pbflow.services.attachments import Upload

    orphan = attachments.store(
        world["secretary"],
        Upload("letter.pdf", io.BytesIO(PDF)),
        org_id=world.branch.id,
        instance_id=None,
    )
    db.session.commit()
    auth.login("secretary")
    url = f"/cases/new?workflow=member_development&org={world.branch.id}&lang=en"
    refused = client.post(
        url,
        data={
            "csrf_token": csrf_token(body(client.get(url))),
            "f.person": str(world["member"].person.id),
            "f.application_date": "2026-03-01",
            "f.application_letter": str(orphan.id),
            "f.part_way": "1",
        },
    )
    assert refused.status_code == 422
    assert "names a file that was not uploaded with this form" in body(refused)
    db.session.expire_all()
    assert db.session.get(Attachment, orphan.id).instance_id is None


def _applicant(org) -> int:
    """A person of ``org`` who has not applied yet (the member development start form)."""
    user = make_user(
        f"applicant_{org.code}", person_org=org, party_status="none", birth_date=date(1990, 5, 4)
    )
    return user.person.id


def test_the_start_forms_own_upload_becomes_the_new_cases_file(world, client, auth):
    applicant = _applicant(world.branch)
    auth.login("secretary")
    url = f"/cases/new?workflow=member_development&org={world.branch.id}&lang=en"
    done = client.post(
        url,
        data={
            "csrf_token": csrf_token(body(client.get(url))),
            "f.person": str(applicant),
            "f.application_date": "2026-03-01",
            "f.application_letter": (io.BytesIO(PDF), "入党申请书.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert done.status_code == 302, body(done)
    case_id = int(done.headers["Location"].rsplit("/", 1)[1])
    att = db.session.execute(select(Attachment)).scalar_one()
    assert (att.owner, att.instance_id, att.filename) == ("case", case_id, "入党申请书.pdf")
    assert db.session.get(ProcessInstance, case_id).data["application_letter"] == att.id


def test_a_step_cannot_name_a_meeting_file_or_its_own_cases_file(world, client, auth, clock):
    meeting_id, meeting_file = _meeting_with_a_file(world, client, auth)
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
    page = client.get(f"/cases/{case.id}")
    token = csrf_token(body(page))
    client.post(
        f"/cases/{case.id}/attachments",
        data={"csrf_token": token, "file": (io.BytesIO(PDF), "收据.pdf")},
        content_type="multipart/form-data",
    )
    own = db.session.execute(
        select(Attachment.id).where(Attachment.instance_id == case.id)
    ).scalar_one()
    fields = {"spent": "1", "spending_report": "x"}
    for file_id, message in (
        (meeting_file, "names a file that does not belong to this case"),
        (own, "names a file already attached to this case; choose the file to upload"),
    ):
        api = client.post(
            f"/api/cases/{case.id}/fire?lang=en",
            json={"trigger": "report_spending", "values": {**fields, "receipts": file_id}},
            headers={"X-CSRFToken": token},
        )
        assert api.status_code == 422
        assert api.get_json()["field_errors"] == {"receipts": message}
        form = client.post(
            f"/cases/{case.id}/steps/report_spending?lang=en",
            data={
                "csrf_token": token,
                "f.spent": "1",
                "f.spending_report": "x",
                "f.receipts": str(file_id),
            },
        )
        assert form.status_code == 422 and message in body(form)
    assert db.session.get(ProcessInstance, case.id).state != "closed"
    _still_the_meetings(meeting_file, meeting_id)


def test_the_cli_takes_files_only_as_uploads(world, runner, tmp_path):
    """`pbflow start`/`fire` name files as --file name=PATH; an id in -f is refused too."""
    from pbflow.services import attachments
    from pbflow.services.attachments import Upload

    meeting_file = attachments.store(
        world["secretary"],
        Upload("m.pdf", io.BytesIO(PDF)),
        org_id=world.branch.id,
        instance_id=None,
        owner="meeting",
    )
    db.session.commit()
    applicant = _applicant(world.other_branch)
    common = [
        "pbflow",
        "start",
        "member_development",
        "--org",
        "b2",
        "--as",
        "other_secretary",
        "-f",
        f"person={applicant}",
        "-f",
        "application_date=2026-03-01",
    ]
    refused = runner.invoke(args=[*common, "-f", f"application_letter={meeting_file.id}"])
    assert refused.exit_code == 1
    assert "names a file that was not uploaded with this form" in refused.output
    letter = tmp_path / "letter.pdf"
    letter.write_bytes(PDF)
    done = runner.invoke(args=[*common, "--file", f"application_letter={letter}"])
    assert done.exit_code == 0, done.output
    db.session.expire_all()
    att = db.session.execute(
        select(Attachment).where(Attachment.filename == "letter.pdf")
    ).scalar_one()
    assert att.instance_id is not None and att.owner == "case"
    assert db.session.get(Attachment, meeting_file.id).instance_id is None


def _refused_by_the_database(statement, **params) -> None:
    with pytest.raises(DBAPIError) as exc:
        db.session.execute(statement, params)
        db.session.flush()
    db.session.rollback()
    assert "owner" in str(exc.value) or "meeting" in str(exc.value)


def test_the_database_keeps_a_files_owner(world, client, auth):
    """Even a service bug (or a hand-written UPDATE) cannot move a file to another owner."""
    meeting_id, meeting_file = _meeting_with_a_file(world, client, auth)
    case = funding_case(world)
    other = funding_case(world)
    from pbflow.services import attachments
    from pbflow.services.attachments import Upload

    case_file = attachments.store(
        world["secretary"],
        Upload("a.pdf", io.BytesIO(PDF)),
        org_id=world.branch.id,
        instance_id=case.id,
    )
    db.session.commit()
    case_file_id = case_file.id
    # A meeting's file never gets a case, nor another kind of owner.
    _refused_by_the_database(
        update(Attachment).where(Attachment.id == meeting_file).values(instance_id=case.id)
    )
    _refused_by_the_database(
        update(Attachment).where(Attachment.id == meeting_file).values(owner="case")
    )
    # A case's file never moves to another case, or to another organization.
    _refused_by_the_database(
        update(Attachment).where(Attachment.id == case_file_id).values(instance_id=other.id)
    )
    _refused_by_the_database(
        update(Attachment).where(Attachment.id == case_file_id).values(org_id=world.other_branch.id)
    )
    # Only a meeting's own file can be linked to a meeting, and to one meeting only.
    _refused_by_the_database(
        text("INSERT INTO meeting_attachment (meeting_id, attachment_id) VALUES (:m, :a)"),
        m=meeting_id,
        a=case_file_id,
    )
    with pytest.raises(DBAPIError):
        db.session.execute(
            text("UPDATE meeting_attachment SET meeting_id = meeting_id WHERE attachment_id = :a"),
            {"a": meeting_file},
        )
    db.session.rollback()
    _still_the_meetings(meeting_file, meeting_id)
    assert db.session.get(Attachment, case_file_id).instance_id == case.id
