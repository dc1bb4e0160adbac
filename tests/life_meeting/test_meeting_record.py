"""The record of the meeting itself (DOMAIN 2: "a recorder; ... Attendance and minutes
recorded"; DOMAIN 3: each meeting keeps its date, place, chair and recorder, and every
absence with its reason, members asking for leave): the meeting is recorded with its
recorder, who was there, and a reason for each participant who was not, which may be that
they were absent without leave. Each refusal names what is missing, in both languages, and
writes nothing; the case page, the minutes, the form and the API carry both."""

from __future__ import annotations

import base64
import io
import json
import re

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from pbflow import audit
from pbflow.engine import runtime
from pbflow.engine.definitions import parse
from pbflow.engine.errors import GuardRefused, ValidationFailed
from pbflow.engine.registry import registry
from pbflow.extensions import db
from pbflow.models import AuditEvent
from tests.api.helpers import Api, token
from tests.conftest import csrf_token
from tests.life_meeting.test_life_meeting import (
    PEOPLE,
    meeting_values,
    pid,
    record_committee_session,
    to_meeting_ready,
)
from tests.test_definitions import REAL_WORKFLOWS
from tests.three_meetings.test_minutes_documents import get, pages

PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def ready(world, clock) -> int:
    """A branch's organizational life meeting ready to be held on 2026-03-20 (its committee
    has met first), without the democratic appraisal."""
    case_id = to_meeting_ready(world, with_appraisal=False)
    clock.set("2026-03-20T06:00:00")
    record_committee_session(world, case_id)
    return case_id


def written(case_id: int) -> tuple:
    """What a refusal must leave as it was: the case's state, version and data, and the
    audit trail (its length and head)."""
    case = runtime.load_case(case_id)
    events = db.session.scalar(select(func.count(AuditEvent.seq)))
    return case.state, case.version, dict(case.data), events, audit.head()


def hold(world, case_id: int, **changes):
    return runtime.fire(
        case_id, "hold_meeting", world["secretary"], meeting_values(world, **changes)
    )


def test_a_meeting_without_its_recorder_is_refused(world, clock):
    case_id = ready(world, clock)
    values = meeting_values(world)
    del values["recorder"]
    before = written(case_id)
    with pytest.raises(ValidationFailed) as exc:
        runtime.fire(case_id, "hold_meeting", world["secretary"], values)
    assert exc.value.field_errors == {"recorder": "is required"}
    with force_locale("zh"), pytest.raises(ValidationFailed) as exc:
        runtime.fire(case_id, "hold_meeting", world["secretary"], values)
    assert exc.value.field_errors == {"recorder": "必须填写"}
    db.session.rollback()
    assert written(case_id) == before


def test_the_recorder_is_one_of_those_present(world, clock):
    """The member is away (with a reason): the member cannot have kept the minutes, nor can
    someone who is no participant at all."""
    case_id = ready(world, clock)
    before = written(case_id)
    with pytest.raises(GuardRefused) as exc:
        hold(world, case_id, recorder=pid(world["member"]))
    assert exc.value.message == "'Recorder' must be one of 'Present': Member is not."
    with force_locale("zh"), pytest.raises(GuardRefused) as exc:
        hold(world, case_id, recorder=pid(world["other_secretary"]))
    assert exc.value.message == "“记录人”须从“实到人员”中选择：Other Secretary不在其中。"
    db.session.rollback()
    assert written(case_id) == before


def test_each_participant_absent_needs_a_reason_named_in_the_refusal(world, clock):
    case_id = ready(world, clock)
    member, deputy = str(pid(world["member"])), str(pid(world["deputy"]))
    before = written(case_id)
    for reasons in ({}, {member: "   "}):
        with pytest.raises(GuardRefused) as exc:
            hold(world, case_id, absence_reasons=reasons)
        assert exc.value.message == (
            "Give the reason for the absence of Member in 'Absent and why': the leave asked "
            "for, or absent without leave."
        )
    # Two away, one of them with a reason: the other is named.
    world.committee.settings = {"life_meeting": {"min_attendance": "1/2"}}
    db.session.commit()
    before = written(case_id)
    away = {str(pid(world["branch_member"])): "出差"}
    with force_locale("zh"), pytest.raises(GuardRefused) as exc:
        hold(world, case_id, attendees=["secretary", "deputy"], absence_reasons=away)
    assert exc.value.message == (
        "请填写Member的缺席原因（“缺席人员及原因”）：所请的假，或写明“未请假”。"
    )
    # A reason is for an absence: one given for someone present is not kept quietly.
    with pytest.raises(GuardRefused) as exc:
        hold(world, case_id, absence_reasons={member: "病假", deputy: "迟到"})
    assert exc.value.message == "Deputy is marked present: 'Absent and why' is for those absent."
    # And a line is for a participant: someone else has none (the API could send one).
    outsider = str(pid(world["other_secretary"]))
    with pytest.raises(ValidationFailed) as exc:
        hold(world, case_id, absence_reasons={member: "病假", outsider: "出差"})
    assert exc.value.field_errors == {
        "absence_reasons": "has a line for someone who is not among 'Participants'"
    }
    db.session.rollback()
    assert written(case_id) == before


def test_absent_without_leave_is_a_reason_and_the_audit_trail_names_the_recorder(world, clock):
    case_id = ready(world, clock)
    member, deputy = pid(world["member"]), pid(world["deputy"])
    out = hold(world, case_id, absence_reasons={str(member): "未请假"}, place="支部活动室")
    assert out.state == "held"
    data = runtime.load_case(case_id).data
    assert data["recorder"] == deputy and data["place"] == "支部活动室"
    assert data["absence_reasons"] == {str(member): "未请假"}
    payload = json.loads(
        db.session.execute(
            select(AuditEvent.payload)
            .where(AuditEvent.instance_id == case_id, AuditEvent.action == "transition")
            .order_by(AuditEvent.seq.desc())
            .limit(1)
        ).scalar_one()
    )
    assert payload["trigger"] == "hold_meeting"
    assert payload["fields"]["recorder"] == deputy
    assert payload["fields"]["absence_reasons"] == {str(member): "未请假"}
    assert audit.verify_database().ok


def test_the_case_page_and_the_minutes_show_the_recorder_place_and_absences(
    world, clock, client, auth
):
    case_id = ready(world, clock)
    hold(
        world,
        case_id,
        absence_reasons={str(pid(world["member"])): "未请假"},
        place="支部活动室",
    )
    auth.login("secretary")
    page = client.get(f"/cases/{case_id}?lang=en").get_data(as_text=True)
    facts = {
        re.sub(r"<[^>]+>", "", dt).strip(): re.sub(r"<[^>]+>", "", dd).strip()
        for dt, dd in re.findall(r"<dt>(.*?)</dt>\s*<dd>(.*?)</dd>", page, re.S)
    }
    assert facts["Recorder"] == "Deputy"
    assert facts["Place"] == "支部活动室"
    assert facts["Absent and why"] == "Member (未请假)"  # the reason as it was typed
    zh = client.get(f"/cases/{case_id}?lang=zh").get_data(as_text=True)
    assert "<dt>记录人</dt>" in zh and "Member（未请假）" in zh
    text = "".join(pages(get(client, f"/life-meetings/{case_id}/minutes.pdf?lang=zh")))
    for fact in ("记录人Deputy", "地点支部活动室", "缺席Member（未请假）", "应到4人，实到3人"):
        assert fact in text, fact
    text = "".join(pages(get(client, f"/life-meetings/{case_id}/minutes.pdf?lang=en")))
    assert "RecorderDeputy" in text and "AbsentMember(未请假)" in text


def test_the_form_asks_a_reason_for_each_participant_and_keeps_what_was_typed(
    world, clock, client, auth
):
    """The step's form on the case page has a line for each participant (by name); refused,
    it shows the reason and what was typed; filled in, the meeting is recorded."""
    case_id = ready(world, clock)
    ids = {u: str(pid(world[u])) for u in PEOPLE}
    auth.login("secretary")
    page = client.get(f"/cases/{case_id}?lang=en").get_data(as_text=True)
    form = page.split('id="step-hold_meeting"', 1)[1].split("</form>", 1)[0]
    line = r'<label for="[^"]+">([^<]+)</label>\s*<input type="text" [^>]*name="f\.{}\.(\d+)"'
    lines = re.findall(line.format("absence_reasons"), form)
    assert lines == [(world[u].person.name, ids[u]) for u in PEOPLE]
    assert 'name="f.recorder"' in form and 'name="f.place"' in form
    data = {
        "csrf_token": csrf_token(page),
        "version": str(runtime.load_case(case_id).version),
        "f.held_on": "2026-03-20",
        "f.attendees": [ids["secretary"], ids["deputy"], ids["branch_member"]],
        "f.recorder": ids["branch_member"],
        "f.superior_present": str(world["gb_secretary"].id),
        f"f.absence_reasons.{ids['deputy']}": "迟到",
        "f.minutes": (io.BytesIO(PDF), "会议记录.pdf"),
    }
    before = written(case_id)
    refused = client.post(
        f"/cases/{case_id}/steps/hold_meeting?lang=en",
        data=data,
        content_type="multipart/form-data",
    )
    assert refused.status_code == 422
    shown = refused.get_data(as_text=True)
    assert "Give the reason for the absence of Member in &#39;Absent and why&#39;" in shown
    assert f'name="f.absence_reasons.{ids["deputy"]}" value="迟到"' in shown
    assert written(case_id) == before
    data[f"f.absence_reasons.{ids['deputy']}"] = ""
    data[f"f.absence_reasons.{ids['member']}"] = "病假"
    data["f.minutes"] = (io.BytesIO(PDF), "会议记录.pdf")
    done = client.post(
        f"/cases/{case_id}/steps/hold_meeting", data=data, content_type="multipart/form-data"
    )
    assert done.status_code == 302
    case = runtime.load_case(case_id)
    assert case.state == "held"
    assert case.data["absence_reasons"] == {ids["member"]: "病假"}
    assert case.data["recorder"] == int(ids["branch_member"])


def test_the_api_takes_the_reasons_as_a_mapping_by_person(world, clock, client):
    case_id = ready(world, clock)
    member = str(pid(world["member"]))
    api = Api(client, token(world, "secretary", "act"))
    r, actions = api.get(f"/api/v1/cases/{case_id}/actions")
    step = next(a for a in actions["actions"] if a["trigger"] == "hold_meeting")
    fields = {f["name"]: f for f in step["fields"]}
    assert (fields["absence_reasons"]["type"], fields["absence_reasons"]["people"]) == (
        "per_person_text",
        "participants",
    )
    assert fields["recorder"]["required"] and fields["recorder"]["people"] is None
    values = {
        "held_on": "2026-03-20",
        "attendees": [pid(world[u]) for u in PEOPLE[:3]],
        "recorder": pid(world["deputy"]),
        "superior_present": world["gb_secretary"].id,
    }
    files = {"minutes": {"filename": "m.pdf", "content_base64": base64.b64encode(PDF).decode()}}
    before = written(case_id)
    r, problem = api.post(
        f"/api/v1/cases/{case_id}/steps",
        json={"trigger": "hold_meeting", "values": values, "files": files},
    )
    assert r.status_code == 422 and "absence of Member" in problem["detail"]
    assert written(case_id) == before
    r, body = api.post(
        f"/api/v1/cases/{case_id}/steps",
        json={
            "trigger": "hold_meeting",
            "values": {**values, "absence_reasons": {member: "未请假"}},
            "files": files,
        },
    )
    assert r.status_code == 200 and body["state"] == "held"
    r, case = api.get(f"/api/v1/cases/{case_id}")
    assert case["data"]["absence_reasons"] == {member: "未请假"}
    shown = {f["name"]: f["text"] for f in case["fields"]}
    assert shown["recorder"] == "Deputy" and shown["absence_reasons"] == "Member (未请假)"


def _revision_before_the_recorder() -> str:
    """The life meeting as it was before the recorder: its absences in free text, no place,
    no recorder, no check of either."""
    text = (REAL_WORKFLOWS / "life_meeting.yaml").read_text(encoding="utf-8")
    block = text[
        text.index("      - {name: place,") : text.index("      # The superior's attendee")
    ]
    attendees = next(line for line in block.splitlines(True) if "name: attendees" in line)
    absences = (
        "      - {name: absences, type: text, max_length: 2000, "
        "label: {zh: 缺席人员及原因, en: Absent and why}}\n"
    )
    old = text.replace(block, attendees + absences)
    for rule in ("absences_explained", "person_among"):
        line = next(line for line in old.splitlines(True) if f"{{name: {rule}," in line)
        old = old.replace(line, "")
    assert "recorder" not in old and "absence_reasons" not in old and "place" not in old
    return old


def test_a_meeting_started_before_the_recorder_is_recorded_as_its_revision_says(
    world, clock, client, auth
):
    """Cases started on the revision before the recorder finish on it: their meeting is
    recorded without a recorder, with the absences in words, and shown as it was recorded;
    a case started now asks for the recorder."""
    reg = registry()
    current = reg.current["life_meeting"]
    reg.current["life_meeting"] = parse(
        _revision_before_the_recorder(), "workflows/life_meeting.yaml", reg.rules
    )
    try:
        old_case = to_meeting_ready(world, with_appraisal=False)
    finally:
        reg.current["life_meeting"] = current
    reg._stored.clear()  # as a fresh process after the upgrade reads it
    clock.set("2026-03-20T06:00:00")
    record_committee_session(world, old_case)
    values = meeting_values(world)
    for new in ("recorder", "absence_reasons"):
        del values[new]
    runtime.fire(
        old_case, "hold_meeting", world["secretary"], {**values, "absences": "党员请假：出差"}
    )
    assert runtime.load_case(old_case).state == "held"
    auth.login("secretary")
    page = client.get(f"/cases/{old_case}?lang=en").get_data(as_text=True)
    assert "<dt>Absent and why</dt>" in page and "党员请假：出差" in page
    assert "<dt>Recorder</dt>" not in page
    text = "".join(pages(get(client, f"/life-meetings/{old_case}/minutes.pdf?lang=zh")))
    assert "缺席Member（党员请假：出差）" in text and "记录人—" in text
    # A meeting started now keeps its recorder.
    new_case = ready(world, clock)
    assert runtime.load_case(new_case).definition_id != runtime.load_case(old_case).definition_id
    with force_locale("en"), pytest.raises(ValidationFailed) as exc:
        runtime.fire(new_case, "hold_meeting", world["secretary"], {**values, "absences": "出差"})
    assert exc.value.field_errors == {
        "absences": "is not a field of this step",
        "recorder": "is required",
    }


def test_the_command_line_gives_each_reason_as_its_own_field(world, clock, runner, tmp_path):
    """``pbflow fire -f absence_reasons.<person id>=...``: a line at a time, as the form."""
    case_id = ready(world, clock)
    minutes = tmp_path / "minutes.pdf"
    minutes.write_bytes(PDF)
    fields = [
        "held_on=2026-03-20",
        *(f"attendees={pid(world[u])}" for u in PEOPLE[:3]),
        f"recorder={pid(world['deputy'])}",
        f"superior_present={world['gb_secretary'].id}",
    ]
    args = ["pbflow", "fire", str(case_id), "hold_meeting", "--as", "secretary"]
    args += ["--file", f"minutes={minutes}"]
    refused = runner.invoke(args=[*args, *(x for f in fields for x in ("-f", f))])
    assert refused.exit_code == 1 and "absence of Member" in refused.output
    fields.append(f"absence_reasons.{pid(world['member'])}=未请假")
    done = runner.invoke(args=[*args, *(x for f in fields for x in ("-f", f))])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["data"]["absence_reasons"] == {
        str(pid(world["member"])): "未请假"
    }
