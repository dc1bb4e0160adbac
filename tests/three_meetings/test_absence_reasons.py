"""Each meeting keeps the absences with their reason (DOMAIN 3: "who should attend, who
attended, absences with the reason (members ask for leave)"): every member who should attend
and is not marked present needs a reason, which may be that they did not ask for leave. The
record, its correction, the form and the API refuse one without, under that member's row,
in both languages, and write nothing."""

from __future__ import annotations

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from pbflow import audit
from pbflow.engine.errors import ValidationFailed
from pbflow.extensions import db
from pbflow.models import Meeting, MeetingEdit
from pbflow.procedures.three_meetings import services as meetings
from pbflow.procedures.three_meetings.services import MeetingInput
from tests.api.helpers import Api, token
from tests.conftest import csrf_token

EN = "give the reason for the absence (the leave asked for, or absent without leave)"
ZH = "请填写缺席原因（所请的假，或写明“未请假”）"


def pid(world, name: str) -> str:
    return str(world[name].person.id)


def theme_day(world, reasons: dict[str, str], **extra) -> MeetingInput:
    """The deputy and the committee member away (b1's four full members)."""
    values = {
        "meeting_type": "theme_day",
        "held_on": "2026-03-01",
        "topic": "学习新修订的《条例》",
        "chair": pid(world, "secretary"),
        "recorder": pid(world, "member"),
        "present": [pid(world, "secretary"), pid(world, "member")],
        "reasons": reasons,
    }
    values.update(extra)
    return MeetingInput(**values)


def written() -> tuple:
    """What a refusal must leave as it was."""
    count = db.session.scalar(select(func.count(Meeting.id)))
    edits = db.session.scalar(select(func.count(MeetingEdit.id)))
    versions = dict(db.session.execute(select(Meeting.id, Meeting.version)).all())
    return audit.head(), count, edits, versions


def test_an_absence_without_its_reason_is_refused_under_that_members_row(world):
    deputy, absent = pid(world, "deputy"), pid(world, "branch_member")
    before = written()
    for reasons in ({deputy: "出差"}, {deputy: "出差", absent: "   "}):
        with pytest.raises(ValidationFailed, match="Some fields need correcting") as exc:
            meetings.record_meeting(world["secretary"], world.branch.id, theme_day(world, reasons))
        assert exc.value.field_errors == {f"reason_{absent}": EN}
    with force_locale("zh"), pytest.raises(ValidationFailed) as exc:
        meetings.record_meeting(world["secretary"], world.branch.id, theme_day(world, {}))
    assert exc.value.field_errors == {f"reason_{deputy}": ZH, f"reason_{absent}": ZH}
    db.session.rollback()
    assert written() == before
    # Absent without leave is a reason too; a member present needs none.
    m = meetings.record_meeting(
        world["secretary"], world.branch.id, theme_day(world, {deputy: "出差", absent: "未请假"})
    )
    assert {a.person_id: a.reason for a in m.attendance if not a.present} == {
        int(deputy): "出差",
        int(absent): "未请假",
    }


def test_a_correction_that_leaves_an_absence_without_its_reason_is_refused(world):
    deputy, absent = pid(world, "deputy"), pid(world, "branch_member")
    m = meetings.record_meeting(
        world["secretary"], world.branch.id, theme_day(world, {deputy: "出差", absent: "病假"})
    )
    before = written()
    with pytest.raises(ValidationFailed) as exc:
        meetings.edit_meeting(
            world["secretary"],
            m.id,
            theme_day(world, {deputy: "出差"}, topic="更正后的题目"),
            reason="更正题目",
            expected_version=1,
        )
    assert exc.value.field_errors == {f"reason_{absent}": EN}
    # Marking someone else absent asks for their reason as well.
    member = pid(world, "member")
    with pytest.raises(ValidationFailed) as exc:
        meetings.edit_meeting(
            world["secretary"],
            m.id,
            theme_day(world, {deputy: "出差", absent: "病假"}, present=[pid(world, "secretary")]),
            reason="记错出席",
            expected_version=1,
        )
    assert exc.value.field_errors == {f"reason_{member}": EN}
    db.session.rollback()
    assert written() == before
    edited = meetings.edit_meeting(
        world["secretary"],
        m.id,
        theme_day(world, {deputy: "出差", absent: "未请假"}),
        reason="缺席原因核实",
        expected_version=1,
    )
    assert edited.version == 2


def test_the_form_comes_back_as_typed_with_the_problem_under_the_members_row(world, client, auth):
    client.set_cookie("pbflow_lang", "en")
    auth.login("secretary")
    url = f"/meetings/new?org={world.branch.id}"
    deputy, absent = pid(world, "deputy"), pid(world, "branch_member")
    form = {
        "csrf_token": csrf_token(client.get(url).get_data(as_text=True)),
        "meeting_type": "theme_day",
        "held_on": "2026-03-01",
        "topic": "主题党日：学习安全规程",
        "chair": pid(world, "secretary"),
        "recorder": pid(world, "member"),
        "present": [pid(world, "secretary"), pid(world, "member")],
        f"reason_{deputy}": "出差",
        f"reason_{absent}": "",
    }
    before = written()
    refused = client.post(url, data=form)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422
    row = html.split(f'name="reason_{absent}"')[1].split("</tr>")[0]
    assert EN in row
    assert EN not in html.split(f'name="reason_{deputy}"')[1].split("</tr>")[0]
    assert "主题党日：学习安全规程" in html and 'value="出差"' in html  # nothing typed is lost
    assert written() == before
    client.set_cookie("pbflow_lang", "zh")
    assert ZH in client.post(url, data=form).get_data(as_text=True)
    saved = client.post(url, data={**form, f"reason_{absent}": "未请假"})
    assert saved.status_code == 302


def test_the_api_refuses_an_absence_without_its_reason(world, client):
    api = Api(client, token(world, "secretary", "act"))
    deputy, absent = pid(world, "deputy"), pid(world, "branch_member")
    meeting = {
        "org_id": world.branch.id,
        "meeting_type": "theme_day",
        "held_on": "2026-03-01",
        "topic": "主题党日",
        "chair": world["secretary"].person.id,
        "recorder": world["member"].person.id,
        "present": [world[u].person.id for u in ("secretary", "member")],
        "reasons": {deputy: "出差", absent: " "},
    }
    before = written()
    r, problem = api.post("/api/v1/meetings", json=meeting)
    assert r.status_code == 422 and problem["field_errors"] == {f"reason_{absent}": EN}
    assert written() == before
    r, body = api.post(
        "/api/v1/meetings", json={**meeting, "reasons": {deputy: "出差", absent: "未请假"}}
    )
    assert r.status_code == 201, body
    assert sorted(a["reason"] for a in body["absent"]) == ["出差", "未请假"]
