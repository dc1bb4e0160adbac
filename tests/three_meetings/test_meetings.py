""" "Three meetings and one lesson": recording a meeting, attendance from the membership,
audited corrections with their history, a member's own record."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from pbflow.engine.errors import ConcurrentChange, NotAllowed, NotFound, ValidationFailed
from pbflow.extensions import db
from pbflow.models import AuditEvent, Meeting, MeetingEdit
from pbflow.procedures.three_meetings import services as meetings
from pbflow.procedures.three_meetings.services import MeetingInput
from tests.conftest import audit_actions, recorded_set_up
from tests.three_meetings.helpers import on_leave


def pid(world, name: str) -> str:
    return str(world[name].person.id)


def theme_day(world, **extra) -> MeetingInput:
    values = {
        "meeting_type": "theme_day",
        "held_on": "2026-03-01",
        "topic": "学习新修订的《条例》",
        "place": "会议室",
        "chair": pid(world, "secretary"),
        "recorder": pid(world, "deputy"),
        "minutes": "书记领学，大家交流",
        "present": [pid(world, u) for u in ("secretary", "deputy", "member")],
        "reasons": {pid(world, "branch_member"): "井下值班"},
    }
    values.update(extra)
    return on_leave(world.branch.id, MeetingInput(**values))


def test_attendance_is_computed_from_the_membership(world):
    m = meetings.record_meeting(world["secretary"], world.branch.id, theme_day(world))
    rows = {a.person_id: (a.present, a.reason) for a in m.attendance}
    assert rows == {
        world["secretary"].person.id: (True, None),
        world["deputy"].person.id: (True, None),
        world["member"].person.id: (True, None),
        world["branch_member"].person.id: (False, "井下值班"),
    }
    assert audit_actions()[-1] == "meeting_recorded"
    # A committee meeting expects the branch committee only.
    m2 = meetings.record_meeting(
        world["secretary"],
        world.branch.id,
        theme_day(
            world,
            meeting_type="committee_meeting",
            present=[pid(world, "secretary"), pid(world, "deputy")],
        ),
    )
    assert {a.person_id for a in m2.attendance} == {
        world[u].person.id for u in ("secretary", "deputy", "branch_member")
    }


def test_refusals_name_every_field_and_write_nothing(world):
    before = audit_actions()
    with pytest.raises(NotAllowed):
        meetings.record_meeting(world["member"], world.branch.id, theme_day(world))
    with pytest.raises(NotAllowed):
        meetings.record_meeting(world["other_secretary"], world.branch.id, theme_day(world))
    with pytest.raises(ValidationFailed) as exc:
        meetings.record_meeting(
            world["secretary"],
            world.branch.id,
            theme_day(
                world,
                held_on="2026-03-03",
                topic=" ",
                chair=pid(world, "other_secretary"),
                present=[pid(world, "other_secretary")],
            ),
        )
    assert set(exc.value.field_errors) == {"held_on", "topic", "chair", "present"}
    with pytest.raises(ValidationFailed) as exc:
        meetings.record_meeting(
            world["secretary"], world.branch.id, theme_day(world, meeting_type="group_meeting")
        )
    assert "meeting_type" in exc.value.field_errors
    assert audit_actions() == before


def test_a_correction_is_refused_before_the_record_is_held(world, monkeypatch):
    """Whoever may not read a meeting is told it does not exist; whoever may read it but not
    correct it is refused; neither takes the record's lock nor writes anything."""
    m = meetings.record_meeting(world["secretary"], world.branch.id, theme_day(world))
    held = []
    monkeypatch.setattr(meetings.locks, "hold_record", lambda *a: held.append(a) or True)
    before = audit_actions()
    with pytest.raises(NotFound):
        meetings.edit_meeting(world["other_secretary"], m.id, theme_day(world), reason="改")
    with pytest.raises(NotAllowed):
        meetings.edit_meeting(world["auditor"], m.id, theme_day(world), reason="改")
    with pytest.raises(NotFound):
        meetings.edit_meeting(world["secretary"], m.id + 1000, theme_day(world), reason="改")
    assert held == [] and audit_actions() == before
    assert db.session.get(type(m), m.id).version == 1
    edited = meetings.edit_meeting(
        world["secretary"], m.id, theme_day(world, topic="更正后的题目"), reason="更正题目"
    )
    assert len(held) == 1 and edited.version == 2


def test_edits_are_audited_with_before_and_after_and_shown_as_history(world, clock):
    m = meetings.record_meeting(world["secretary"], world.branch.id, theme_day(world))
    with pytest.raises(ValidationFailed) as exc:
        meetings.edit_meeting(world["secretary"], m.id, theme_day(world), reason="")
    assert "reason" in exc.value.field_errors
    with pytest.raises(ValidationFailed, match="Nothing was changed"):
        meetings.edit_meeting(world["secretary"], m.id, theme_day(world), reason="核对")
    clock.advance(days=2)
    edited = meetings.edit_meeting(
        world["deputy"],
        m.id,
        theme_day(
            world,
            topic="学习新修订的《中国共产党支部工作条例》",
            present=[pid(world, u) for u in ("secretary", "deputy", "member", "branch_member")],
            reasons={},
        ),
        reason="补记迟到的同志",
        expected_version=1,
    )
    assert edited.version == 2
    assert all(a.present for a in edited.attendance)
    with pytest.raises(ConcurrentChange):
        meetings.edit_meeting(
            world["secretary"], m.id, theme_day(world), reason="x", expected_version=1
        )
    page = meetings.meeting_page(world["secretary"], m.id)
    (entry,) = page.history
    assert entry.editor.username == "deputy" and entry.reason == "补记迟到的同志"
    assert entry.before["topic"] == "学习新修订的《条例》"
    assert entry.after["absent"] == {} and set(entry.before) == {"topic", "present", "absent"}
    payload = json.loads(
        db.session.execute(
            select(AuditEvent.payload).where(AuditEvent.action == "meeting_edited")
        ).scalar_one()
    )
    assert payload["before"] == entry.before and payload["meeting_id"] == m.id
    assert db.session.execute(select(MeetingEdit)).scalars().all() == [entry]


def test_member_sees_the_meetings_they_attended_and_missed(world):
    meetings.record_meeting(world["secretary"], world.branch.id, theme_day(world))
    meetings.record_meeting(
        world["secretary"],
        world.branch.id,
        theme_day(
            world,
            meeting_type="party_lecture",
            held_on="2026-02-20",
            topic="书记讲党课",
            present=[pid(world, "secretary"), pid(world, "member")],
            reasons={pid(world, "branch_member"): "病假", pid(world, "deputy"): "未请假"},
        ),
    )
    record = meetings.member_record(world["branch_member"])
    assert record.attended == []
    assert [(m.topic, reason) for m, _org, reason in record.missed] == [
        ("学习新修订的《条例》", "井下值班"),
        ("书记讲党课", "病假"),
    ]
    record = meetings.member_record(world["deputy"])
    assert [m.topic for m, _org in record.attended] == ["学习新修订的《条例》"]
    assert [(m.topic, reason) for m, _org, reason in record.missed] == [("书记讲党课", "未请假")]


def test_meetings_are_visible_only_above_and_at_their_organization(world):
    m = meetings.record_meeting(world["secretary"], world.branch.id, theme_day(world))
    assert meetings.meeting_page(world["gb_secretary"], m.id).meeting.id == m.id
    with pytest.raises(Exception, match="No such meeting"):
        meetings.meeting_page(world["other_secretary"], m.id)
    listing = meetings.list_meetings(world["committee_a"])
    assert [(r.meeting.id, r.present, r.expected) for r in listing.rows] == [(m.id, 3, 4)]
    assert meetings.list_meetings(world["other_secretary"]).rows == []


@pytest.mark.slow
def test_demo_data_loads_meetings_and_a_life_meeting(app, clock):
    """Today's four records of the mining team branch (one corrected) and this year's life
    meeting in preparation, on top of two years of history (issue 12: the demo calendar
    must not read "not required" everywhere)."""
    from datetime import date, timedelta

    from pbflow import demo
    from pbflow.models import Meeting, ProcessInstance
    from pbflow.procedures.three_meetings import compliance

    world = demo.load_if_empty()
    assert world is not None
    today = date(2026, 3, 2)
    recent = db.session.query(Meeting).filter(
        Meeting.org_id == world.orgs["b1"].id,
        Meeting.recorded_by == world.user("chen.shuji").id,
        Meeting.held_on >= today - timedelta(days=40),
        Meeting.place == "队部会议室",
    )
    assert recent.count() == 4
    assert db.session.query(MeetingEdit).count() == 1
    oldest = db.session.query(Meeting).order_by(Meeting.held_on).first()
    assert oldest.held_on <= today - timedelta(days=700)
    open_cases = db.session.query(ProcessInstance).filter_by(
        workflow_id="life_meeting", closed_at=None, state="preparation"
    )
    assert open_cases.one().org_id == world.orgs["b1"].id
    held = db.session.query(ProcessInstance).filter_by(workflow_id="life_meeting", state="closed")
    assert held.count() >= 4
    # Last year the mining team kept every monthly theme party day; the lagging
    # electromechanical team did not.
    last_year = today.year - 1
    kept = compliance.calendar(world.user("wang.shuji"), world.orgs["b1"].id, last_year)
    lagging = compliance.calendar(world.user("wang.shuji"), world.orgs["b2"].id, last_year)

    def theme_days(cal):
        (row,) = [r for r in cal.rows if r.meeting_type == "theme_day"]
        return [c.status for c in row.cells]

    assert theme_days(kept).count("missing") <= 1
    assert theme_days(lagging).count("missing") >= 3


def test_general_and_committee_meetings_need_more_than_half_present(world):
    """A branch general meeting needs more than half of its voting members present, a
    committee meeting more than half of the committee (DOMAIN.md 3): without the quorum it is
    refused, and nothing is written."""
    from pbflow.models import Person

    before = audit_actions()
    # Four full members and a probationary one: the probationary member attends but does not
    # count towards the quorum, so two full members of four are not enough.
    probationary = Person(name="预备党员", org_id=world.branch.id, party_status="probationary")
    db.session.add(probationary)
    db.session.commit()
    with pytest.raises(ValidationFailed, match="No quorum: 2 of 4 voting members") as exc:
        meetings.record_meeting(
            world["secretary"],
            world.branch.id,
            theme_day(
                world,
                meeting_type="general_meeting",
                present=[pid(world, "secretary"), pid(world, "deputy"), str(probationary.id)],
                reasons={},
            ),
        )
    assert "present" in exc.value.field_errors
    # A full member under party probation (留党察看) attends without a vote either: with the
    # member's rights suspended, two present of the three who vote is a quorum, and not
    # before (the same reading as the resolutions' votes, meeting_votes.voting_members).
    world["member"].person.on_party_probation = True
    recorded_set_up(world["member"].person)
    db.session.commit()
    with pytest.raises(ValidationFailed, match="No quorum: 1 of 3 voting members"):
        meetings.record_meeting(
            world["secretary"],
            world.branch.id,
            theme_day(
                world,
                meeting_type="general_meeting",
                present=[pid(world, "secretary"), pid(world, "member")],
                reasons={},
            ),
        )
    world["member"].person.on_party_probation = False
    recorded_set_up(world["member"].person)
    db.session.commit()
    # A committee of three: one present is not a quorum.
    with pytest.raises(ValidationFailed, match="No quorum: 1 of 3 committee members"):
        meetings.record_meeting(
            world["secretary"],
            world.branch.id,
            theme_day(world, meeting_type="committee_meeting", present=[pid(world, "secretary")]),
        )
    assert audit_actions() == [*before, "person_updated", "person_updated"]  # the set-up's
    # Three of four, and two of three: more than half, recorded.
    general = meetings.record_meeting(
        world["secretary"],
        world.branch.id,
        theme_day(world, meeting_type="general_meeting", reasons={}),
    )
    assert sum(a.present for a in general.attendance) == 3
    meetings.record_meeting(
        world["secretary"],
        world.branch.id,
        theme_day(
            world,
            meeting_type="committee_meeting",
            present=[pid(world, "secretary"), pid(world, "deputy")],
        ),
    )
    # Other meetings keep no quorum: a theme day with one member present is recorded.
    meetings.record_meeting(
        world["secretary"],
        world.branch.id,
        theme_day(world, present=[pid(world, "secretary")], reasons={}),
    )


def test_a_deactivated_account_holds_no_committee_seat(world):
    """The committee a committee meeting needs more than half of is the committee roles held
    on active accounts: the deputy's account deactivated, the committee is two, and the
    secretary alone is still not more than half of it."""
    from pbflow.services import accounts

    committee = {p.id for p in meetings.expected_attendees(world.branch.id, "committee_meeting")}
    assert committee == {int(pid(world, u)) for u in ("secretary", "deputy", "branch_member")}
    accounts.set_active(world["deputy"], False, actor=world["admin"])
    committee = {p.id for p in meetings.expected_attendees(world.branch.id, "committee_meeting")}
    assert committee == {int(pid(world, u)) for u in ("secretary", "branch_member")}
    with pytest.raises(ValidationFailed, match="No quorum: 1 of 2 committee members"):
        meetings.record_meeting(
            world["secretary"],
            world.branch.id,
            theme_day(world, meeting_type="committee_meeting", present=[pid(world, "secretary")]),
        )
    both = [pid(world, "secretary"), pid(world, "branch_member")]
    meetings.record_meeting(
        world["secretary"],
        world.branch.id,
        theme_day(world, meeting_type="committee_meeting", present=both),
    )


def test_the_fields_problems_are_said_before_the_quorum(world):
    """A form short of its quorum that also has a field to correct (an over-long reason for
    an absence) is told about the field first, with every such problem at once."""
    absent = pid(world, "member")
    with pytest.raises(ValidationFailed, match="Some fields need correcting") as exc:
        meetings.record_meeting(
            world["secretary"],
            world.branch.id,
            theme_day(
                world,
                meeting_type="committee_meeting",
                present=[pid(world, "secretary")],
                reasons={absent: "出差" * 200},
            ),
        )
    assert f"reason_{absent}" in exc.value.field_errors


def test_a_party_group_meeting_is_chaired_by_its_group_leader(world):
    """DOMAIN 3: the party group meeting is chaired by the group leader. Another member named
    as its chair is refused, naming the leader, in both languages, and nothing is written;
    so is a record naming no chair (each meeting keeps its chair); the leader is recorded."""
    from flask_babel import force_locale

    from pbflow import audit
    from pbflow.procedures.three_meetings.services import group_leaders
    from pbflow.services import accounts
    from tests.conftest import make_user

    group = accounts.create_org("g1", "第一党小组", "party_group", world.branch)
    leader = make_user("leader", [(group, "group_leader")], person_org=group)
    other = make_user("grouped", person_org=group)
    assert [p.id for p in group_leaders(group.id)] == [leader.person.id]

    def group_meeting(chair) -> MeetingInput:
        return MeetingInput(
            meeting_type="group_meeting",
            held_on="2026-02-15",
            topic="小组学习",
            chair=str(chair.person.id) if chair else "",
            recorder=str(other.person.id),
            present=[str(leader.person.id), str(other.person.id)],
        )

    head, count = audit.head(), db.session.query(Meeting).count()
    with pytest.raises(ValidationFailed) as exc:
        meetings.record_meeting(world["secretary"], group.id, group_meeting(other))
    name = leader.person.name
    assert exc.value.field_errors == {
        "chair": f"a party group meeting is chaired by its group leader ({name})"
    }
    with force_locale("zh"), pytest.raises(ValidationFailed) as exc:
        meetings.record_meeting(world["secretary"], group.id, group_meeting(other))
    assert exc.value.field_errors == {"chair": f"党小组会由党小组组长（{name}）主持"}
    assert audit.head() == head and db.session.query(Meeting).count() == count
    m = meetings.record_meeting(leader, group.id, group_meeting(leader))
    assert m.chair_person_id == leader.person.id
    with pytest.raises(ValidationFailed) as exc:
        meetings.record_meeting(leader, group.id, group_meeting(None))
    assert exc.value.field_errors == {"chair": "name who chaired the meeting (or gave the lecture)"}


def test_a_party_group_without_a_leader_has_no_one_to_chair(world):
    from pbflow.services import accounts
    from tests.conftest import make_user

    group = accounts.create_org("g1", "第一党小组", "party_group", world.branch)
    member = make_user("grouped", person_org=group)
    with pytest.raises(ValidationFailed) as exc:
        meetings.record_meeting(
            world["secretary"],
            group.id,
            MeetingInput(
                meeting_type="group_meeting",
                held_on="2026-02-15",
                topic="小组学习",
                chair=str(member.person.id),
                recorder=str(member.person.id),
                present=[str(member.person.id)],
            ),
        )
    assert exc.value.field_errors == {
        "chair": "a party group meeting is chaired by its group leader, and this group has none"
    }


def test_a_record_names_its_chair_and_its_recorder(world):
    """DOMAIN 3: each meeting keeps its chair and its recorder. A record naming neither is
    refused under both fields, in both languages, with nothing written; one naming someone
    outside the organization is refused as before; naming both, it is recorded."""
    from flask_babel import force_locale

    from pbflow import audit

    bare = MeetingInput(
        meeting_type="theme_day",
        held_on="2026-03-01",
        topic="学习新修订的《条例》",
        present=[pid(world, u) for u in ("secretary", "deputy", "member")],
        reasons={pid(world, "branch_member"): "井下值班"},
    )
    head, count = audit.head(), db.session.query(Meeting).count()
    with pytest.raises(ValidationFailed) as exc:
        meetings.record_meeting(world["secretary"], world.branch.id, bare)
    assert exc.value.field_errors == {
        "chair": "name who chaired the meeting (or gave the lecture)",
        "recorder": "name who kept the record of the meeting",
    }
    with force_locale("zh"), pytest.raises(ValidationFailed) as exc:
        meetings.record_meeting(world["secretary"], world.branch.id, bare)
    assert exc.value.field_errors == {
        "chair": "请填写会议主持人（或党课主讲人）",
        "recorder": "请填写会议记录人",
    }
    outsider = str(world["committee_a"].person.id)  # of the committee, not of this branch
    with pytest.raises(ValidationFailed) as exc:
        meetings.record_meeting(
            world["secretary"],
            world.branch.id,
            MeetingInput(
                **{**bare.__dict__, "chair": pid(world, "secretary"), "recorder": outsider}
            ),
        )
    assert exc.value.field_errors == {"recorder": "must be chosen from the list"}
    assert audit.head() == head and db.session.query(Meeting).count() == count
    m = meetings.record_meeting(
        world["secretary"],
        world.branch.id,
        MeetingInput(
            **{**bare.__dict__, "chair": pid(world, "secretary"), "recorder": pid(world, "deputy")}
        ),
    )
    assert (m.chair_person_id, m.recorder_person_id) == (
        world["secretary"].person.id,
        world["deputy"].person.id,
    )


def test_a_correction_must_name_the_chair_and_the_recorder_too(world):
    """A correction is checked as a record is: one that takes away the recorder (or corrects
    a record written before both were required, without naming them) is refused, and the
    record and its history are left as they were."""
    from dataclasses import replace

    from pbflow import audit

    m = meetings.record_meeting(world["secretary"], world.branch.id, theme_day(world))
    head, version = audit.head(), m.version
    with pytest.raises(ValidationFailed) as exc:
        meetings.edit_meeting(
            world["secretary"], m.id, replace(theme_day(world), recorder=""), reason="改"
        )
    assert exc.value.field_errors == {"recorder": "name who kept the record of the meeting"}
    db.session.refresh(m)
    assert m.version == version and m.recorder_person_id == world["deputy"].person.id
    assert audit.head() == head and db.session.query(MeetingEdit).count() == 0
