"""The organizational / democratic life meeting (DOMAIN.md section 2), walked by the people who
run it: the branch secretary, the participants, the general branch above it."""

from __future__ import annotations

import json

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from pbflow import audit
from pbflow.engine import runtime, tasks, timers
from pbflow.engine.errors import GuardRefused, InvalidState, NotAllowed, ValidationFailed
from pbflow.extensions import db
from pbflow.models import Attachment, AuditEvent, ProcessInstance
from tests.conftest import audit_actions


def pid(user) -> int:
    return user.person.id


def upload(world, name: str, by: str = "secretary", *, org=None, user=None) -> int:
    """An attachment row as the upload service leaves it (the file itself is not needed):
    the branch's, by one of the world's accounts, unless ``org`` and ``user`` say otherwise."""
    att = Attachment(
        org_id=(org or world.branch).id,
        sha256=f"{abs(hash(name)):064d}"[:64],
        filename=name,
        content_type="application/pdf",
        size=100,
        uploaded_by=(user or world[by]).id,
    )
    db.session.add(att)
    db.session.commit()
    return att.id


PEOPLE = ("secretary", "deputy", "branch_member", "member")


def start_meeting(world, *, with_appraisal=True, planned="2026-03-20", kind="organizational"):
    return runtime.start(
        "life_meeting",
        world.branch,
        world["secretary"],
        {
            "kind": kind,
            "theme": "学思想、强党性、重实践、建新功",
            "planned_date": planned,
            "principal": pid(world["secretary"]),
            "participants": [pid(world[u]) for u in PEOPLE],
            "with_appraisal": with_appraisal,
        },
    )


def start_democratic(world, planned: str, **extra):
    """The party committee's yearly democratic life meeting, started by one of its members."""
    members = [pid(world[u]) for u in ("committee_a", "committee_b", "committee_c")]
    return runtime.start(
        "life_meeting",
        world.committee,
        world["committee_a"],
        {
            "kind": "democratic",
            "theme": "年度民主生活会",
            "planned_date": planned,
            "principal": members[0],
            "participants": members,
            **extra,
        },
    )


def to_preparation(world, **kw) -> int:
    case = start_meeting(world, **kw)
    runtime.fire(case.id, "submit_plan", world["secretary"])
    runtime.fire(
        case.id,
        "approve_plan",
        world["gb_secretary"],
        {"superior_attendee": world["gb_secretary"].id},
    )
    return case.id


def hold_talks(world, case_id: int) -> None:
    runtime.fire(
        case_id,
        "record_talk",
        world["secretary"],
        {
            "talker": pid(world["secretary"]),
            "talked_with": [pid(world[u]) for u in ("deputy", "branch_member")],
            "talk_date": "2026-03-02",
        },
    )
    # A participant records their own talk with the secretary.
    runtime.fire(
        case_id,
        "record_talk",
        world["member"],
        {
            "talker": pid(world["member"]),
            "talked_with": [pid(world["secretary"])],
            "talk_date": "2026-03-02",
            "talk_note": "谈了工作作风",
        },
    )


def hand_in_materials(world, case_id: int, who=PEOPLE) -> None:
    for u in who:
        # The member hands in their own; the secretary hands in for the others.
        actor = world["member"] if u == "member" else world["secretary"]
        runtime.fire(
            case_id,
            "upload_material",
            actor,
            {"participant": pid(world[u]), "material": upload(world, f"{u}.pdf")},
        )


def summarize_opinions(world, case_id: int) -> None:
    runtime.fire(
        case_id, "link_opinions", world["secretary"], {"opinion_summary": "征求意见三条，已汇总"}
    )


def to_meeting_ready(world, **kw) -> int:
    case_id = to_preparation(world, **kw)
    hold_talks(world, case_id)
    summarize_opinions(world, case_id)
    hand_in_materials(world, case_id)
    runtime.fire(case_id, "submit_materials", world["secretary"])
    runtime.fire(case_id, "approve_materials", world["gb_secretary"])
    return case_id


def attendance(present, participants, recorder=None, why: str = "请假") -> dict:
    """Who came, as the meeting's record says it (DOMAIN 2 and 3): those ``present``, the
    reason (``why``) of each participant absent, and the recorder, one of those present (the
    second, unless named; the first chairs)."""
    here = [pid(u) for u in present]
    return {
        "attendees": here,
        "absence_reasons": {str(pid(u)): why for u in participants if pid(u) not in here},
        "recorder": pid(recorder) if recorder is not None else here[min(1, len(here) - 1)],
    }


def meeting_values(world, attendees=PEOPLE[:3], **extra):
    return {
        "held_on": "2026-03-20",
        **attendance([world[u] for u in attendees], [world[u] for u in PEOPLE]),
        "superior_present": world["gb_secretary"].id,
        "minutes": upload(world, "minutes.pdf"),
        **extra,
    }


def report_values(world, **extra):
    return {
        "report": upload(world, "report.pdf"),
        "problems_found": "理论学习不深入",
        "measures_planned": "每月集中学习一次",
        **extra,
    }


def record_committee_session(world, case_id: int, on: str = "2026-03-20") -> None:
    """The branch committee's own session, which comes first (the world's branch has one)."""
    runtime.fire(
        case_id,
        "record_committee_session",
        world["secretary"],
        {
            "committee_session_on": on,
            "committee_session_present": [pid(world[u]) for u in ("secretary", "branch_member")],
        },
    )


def to_held(world, clock, **kw) -> int:
    case_id = to_meeting_ready(world, **kw)
    clock.set("2026-03-20T06:00:00")
    record_committee_session(world, case_id)
    runtime.fire(case_id, "hold_meeting", world["secretary"], meeting_values(world))
    return case_id


def record_peer_appraisal(world, case_id: int, **values) -> None:
    runtime.fire(
        case_id,
        "record_peer_appraisal",
        world["secretary"],
        {
            "self_appraisal_on": "2026-03-20",
            "peer_appraisal_on": "2026-03-20",
            "peer_appraisal_summary": "收回互评表 4 份，主要意见两条",
            **values,
        },
    )


def grade_everyone(world, case_id: int) -> None:
    """The self- and peer appraisal (unless recorded), then a grade for each member (DOMAIN
    2's order)."""
    if "peer_appraisal_on" not in runtime.load_case(case_id).data:
        record_peer_appraisal(world, case_id)
    for grade, who in [
        ("excellent", ["deputy"]),
        ("qualified", ["secretary", "branch_member"]),
        ("basically_qualified", ["member"]),
    ]:
        runtime.fire(
            case_id,
            "record_grades",
            world["secretary"],
            {"grade": grade, "members": [pid(world[u]) for u in who]},
        )


def triggers(case_id: int) -> list[str]:
    rows = db.session.execute(
        select(AuditEvent.payload)
        .where(AuditEvent.instance_id == case_id, AuditEvent.action == "transition")
        .order_by(AuditEvent.seq)
    ).scalars()
    return [json.loads(p)["trigger"] for p in rows]


def state(case_id: int) -> str:
    return runtime.load_case(case_id).state


def test_life_meeting_walks_from_plan_to_closure_with_two_rectification_items(world, clock):
    case_id = to_preparation(world)
    assert state(case_id) == "preparation"
    runtime.fire(
        case_id,
        "record_study",
        world["secretary"],
        {"study_date": "2026-03-02", "study_content": "党章党规"},
    )
    hold_talks(world, case_id)
    summarize_opinions(world, case_id)
    hand_in_materials(world, case_id)
    runtime.fire(case_id, "submit_materials", world["secretary"])

    # The superior sends one participant's material back for rewriting by a deadline.
    runtime.fire(
        case_id,
        "return_materials",
        world["gb_secretary"],
        {"rewrite_by": "2026-03-10", "rewrite_participants": [pid(world["member"])]},
        comment="剖析不够深刻",
    )
    case = runtime.load_case(case_id)
    assert case.state == "rewriting"
    assert case.data["materials"][str(pid(world["member"]))]["status"] == "returned"
    assert case.data["materials"][str(pid(world["deputy"]))]["status"] == "submitted"
    with pytest.raises(GuardRefused, match="Inspection material is missing for Member"):
        runtime.fire(case_id, "resubmit_materials", world["secretary"])
    hand_in_materials(world, case_id, who=["member"])
    assert state(case_id) == "rewriting"
    runtime.fire(case_id, "resubmit_materials", world["secretary"])
    runtime.fire(case_id, "approve_materials", world["gb_secretary"])

    clock.set("2026-03-20T06:00:00")
    record_committee_session(world, case_id)  # the branch committee meets first
    runtime.fire(case_id, "hold_meeting", world["secretary"], meeting_values(world))
    grade_everyone(world, case_id)
    runtime.fire(
        case_id,
        "submit_report",
        world["secretary"],
        report_values(
            world,
            appraisal_decision="支部委员会 2026-03-21 决定",
            appraisal_announced_on="2026-03-20",
        ),
    )
    assert state(case_id) == "rectification"

    for owner, problem in [("member", "学习不深入"), ("deputy", "联系群众不够")]:
        runtime.fire(
            case_id,
            "add_item",
            world["secretary"],
            {
                "problem": problem,
                "measures": "制定计划",
                "owner": world[owner].id,
                "deadline": "2026-05-31",
            },
        )
    items = (
        db.session.query(ProcessInstance)
        .filter_by(parent_id=case_id)
        .order_by(ProcessInstance.id)
        .all()
    )
    assert [(i.workflow_id, i.state, i.assignee_user_id) for i in items] == [
        ("rectification", "open", world["member"].id),
        ("rectification", "open", world["deputy"].id),
    ]
    assert "problem" not in runtime.load_case(case_id).data  # the item's, not the meeting's

    with pytest.raises(GuardRefused, match="2 linked item"):
        runtime.fire(
            case_id,
            "close",
            world["secretary"],
            {"announced_on": "2026-03-20", "announcement_scope": "全体党员"},
        )

    first, second = items[0].id, items[1].id
    runtime.fire(first, "start_work", world["member"])
    runtime.fire(first, "add_progress", world["member"], {"note": "已制定学习计划"})
    runtime.fire(
        first,
        "report_done",
        world["member"],
        {"summary": "完成", "evidence": upload(world, "e1.pdf", by="member")},
    )
    runtime.fire(first, "accept", world["secretary"])

    runtime.fire(
        second,
        "report_done",
        world["deputy"],
        {"summary": "已走访", "evidence": upload(world, "e2.pdf", by="deputy")},
    )
    runtime.fire(second, "send_back", world["secretary"], comment="只走访了一半")
    assert state(second) == "in_progress"
    runtime.fire(second, "add_progress", world["deputy"], {"note": "走访全部完成"})
    runtime.fire(
        second,
        "report_done",
        world["deputy"],
        {"summary": "全部走访", "evidence": upload(world, "e3.pdf", by="deputy")},
    )
    runtime.fire(second, "accept", world["gb_secretary"])  # the superior checks this one

    out = runtime.fire(
        case_id,
        "close",
        world["secretary"],
        {"announced_on": "2026-03-20", "announcement_scope": "全体党员"},
    )
    assert out.state == "closed"
    case = runtime.load_case(case_id)
    assert case.closed_at is not None
    assert [t["talker"] for t in case.data["talks"]] == [
        pid(world["secretary"]),
        pid(world["member"]),
    ]
    assert case.data["grades"][str(pid(world["deputy"]))] == "excellent"
    assert case.data["materials"][str(pid(world["member"]))]["round"] == 2
    assert case.data["children"] == [first, second]

    assert audit_actions(case_id) == ["case_started"] + ["transition"] * 25
    assert triggers(case_id) == [
        "submit_plan",
        "approve_plan",
        "record_study",
        *["record_talk"] * 2,
        "link_opinions",
        *["upload_material"] * 4,
        "submit_materials",
        "return_materials",
        "upload_material",
        "resubmit_materials",
        "approve_materials",
        "record_committee_session",
        "hold_meeting",
        "record_peer_appraisal",
        *["record_grades"] * 3,
        "submit_report",
        *["add_item"] * 2,
        "close",
    ]
    assert audit_actions(second) == ["case_started"] + ["transition"] * 5
    assert audit.verify_database().ok


def test_meeting_cannot_be_recorded_before_talks_and_materials(world, clock):
    case_id = to_preparation(world)
    clock.set("2026-03-20T06:00:00")
    with pytest.raises(GuardRefused, match="Heart-to-heart talks are not complete: 3 still"):
        runtime.fire(case_id, "hold_meeting", world["secretary"], meeting_values(world))
    # The case page shows the step greyed with the same reason.
    actions = {a.trigger: a for a in runtime.available_actions(case_id, world["secretary"])}
    assert not actions["hold_meeting"].enabled
    assert "Heart-to-heart" in actions["hold_meeting"].reason

    hold_talks(world, case_id)
    with pytest.raises(GuardRefused, match="Inspection material is missing"):
        runtime.fire(case_id, "hold_meeting", world["secretary"], meeting_values(world))
    with pytest.raises(GuardRefused, match="Inspection material is missing"):
        runtime.fire(case_id, "submit_materials", world["secretary"])
    hand_in_materials(world, case_id)
    # Complete, but the superior has not reviewed the team's materials yet.
    with pytest.raises(GuardRefused, match="not yet approved"):
        runtime.fire(case_id, "hold_meeting", world["secretary"], meeting_values(world))
    assert state(case_id) == "preparation"


def test_where_the_superior_does_not_review_materials_the_meeting_follows_preparation(world, clock):
    world.branch.settings = {"life_meeting": {"superior_reviews_materials": False}}
    db.session.commit()
    case_id = to_preparation(world, with_appraisal=False)
    hold_talks(world, case_id)
    hand_in_materials(world, case_id)
    clock.set("2026-03-20T06:00:00")
    # Ready but for the opinions: collected, summarized and given to each participant first.
    before = audit.head()
    with pytest.raises(
        GuardRefused, match=r"'Summary of opinions \(given to each participant\)' has not been"
    ):
        runtime.fire(case_id, "hold_meeting", world["secretary"], meeting_values(world))
    assert audit.head() == before and state(case_id) == "preparation"
    summarize_opinions(world, case_id)
    record_committee_session(world, case_id)
    runtime.fire(case_id, "hold_meeting", world["secretary"], meeting_values(world))
    runtime.fire(case_id, "submit_report", world["secretary"], report_values(world))
    assert state(case_id) == "rectification"


def test_every_pair_rule_needs_talks_between_all_participants(world):
    world.general_branch.settings = {"life_meeting": {"talks_rule": "every_pair"}}
    db.session.commit()
    case_id = to_preparation(world)
    hold_talks(world, case_id)
    hand_in_materials(world, case_id)
    # deputy-branch_member, deputy-member, branch_member-member are still missing.
    with pytest.raises(GuardRefused, match="3 still to hold"):
        runtime.fire(case_id, "submit_materials", world["secretary"])


def test_low_attendance_and_a_non_superior_attendee_are_refused(world, clock):
    case_id = to_meeting_ready(world)
    clock.set("2026-03-20T06:00:00")
    with pytest.raises(GuardRefused, match="Only 2 of 4 participants attended; at least 2/3"):
        runtime.fire(
            case_id,
            "hold_meeting",
            world["secretary"],
            meeting_values(world, attendees=["secretary", "deputy"]),
        )
    with pytest.raises(GuardRefused, match="superior organization"):
        runtime.fire(
            case_id,
            "hold_meeting",
            world["secretary"],
            meeting_values(world, superior_present=world["deputy"].id),
        )
    with pytest.raises(GuardRefused, match="not participants"):
        runtime.fire(
            case_id,
            "hold_meeting",
            world["secretary"],
            meeting_values(world, attendees=["secretary", "deputy", "other_secretary"]),
        )
    with pytest.raises(ValidationFailed) as exc:
        runtime.fire(case_id, "hold_meeting", world["secretary"], {"held_on": "2026-03-20"})
    assert {"attendees", "minutes"} <= set(exc.value.field_errors)
    # The superior is in pbflow here (the general branch): its attendee is one of its people,
    # and a name in words does not do instead.
    without = meeting_values(world, superior_present_name="县委组织部 张三")
    del without["superior_present"]
    with pytest.raises(GuardRefused, match="'The superior's attendee' has not been recorded"):
        runtime.fire(case_id, "hold_meeting", world["secretary"], without)
    # A setting may ask for everyone.
    world.committee.settings = {"life_meeting": {"min_attendance": "1"}}
    db.session.commit()
    with pytest.raises(GuardRefused, match="Only 3 of 4"):
        runtime.fire(case_id, "hold_meeting", world["secretary"], meeting_values(world))
    assert state(case_id) == "meeting_ready"


def test_late_report_needs_a_reason_and_tick_escalates_it(world, clock):
    case_id = to_held(world, clock, with_appraisal=False)
    clock.set("2026-04-02T02:00:00")
    report = timers.tick()
    assert case_id in report.reminded
    clock.set("2026-04-05T02:00:00")  # held 03-20 + 15 days = 04-04 was the last day
    report = timers.tick()
    assert case_id in report.overdue and case_id in report.escalated
    assert timers.tick().overdue == []  # idempotent
    assert "overdue" in audit_actions(case_id)
    with pytest.raises(GuardRefused, match="due on 2026-04-04; it is late"):
        runtime.fire(case_id, "submit_report", world["secretary"], report_values(world))
    runtime.fire(
        case_id,
        "submit_report",
        world["secretary"],
        report_values(world, late_reason="井下抢险，推迟报告"),
    )
    assert state(case_id) == "rectification"


def test_report_on_time_needs_no_reason(world, clock):
    case_id = to_held(world, clock, with_appraisal=False)
    clock.set("2026-04-04T10:00:00")  # 18:00 local on the last day
    runtime.fire(case_id, "submit_report", world["secretary"], report_values(world))
    assert state(case_id) == "rectification"


def test_appraisal_grades_are_complete_and_at_most_a_third_excellent(world, clock):
    case_id = to_held(world, clock)
    record_peer_appraisal(world, case_id)
    with pytest.raises(GuardRefused, match="At most 1 of 4 members may be rated excellent"):
        runtime.fire(
            case_id,
            "record_grades",
            world["secretary"],
            {"grade": "excellent", "members": [pid(world["deputy"]), pid(world["member"])]},
        )
    with pytest.raises(GuardRefused, match="not full or probationary members"):
        runtime.fire(
            case_id,
            "record_grades",
            world["secretary"],
            {"grade": "qualified", "members": [pid(world["other_secretary"])]},
        )
    runtime.fire(
        case_id,
        "record_grades",
        world["secretary"],
        {"grade": "excellent", "members": [pid(world["deputy"])]},
    )
    with pytest.raises(GuardRefused, match="no grade yet for Secretary, Branch Member, Member"):
        runtime.fire(
            case_id,
            "submit_report",
            world["secretary"],
            report_values(world, appraisal_decision="决定"),
        )
    grade_everyone(world, case_id)
    with pytest.raises(GuardRefused, match="decision on the appraisal"):
        runtime.fire(case_id, "submit_report", world["secretary"], report_values(world))
    runtime.fire(
        case_id,
        "submit_report",
        world["secretary"],
        report_values(world, appraisal_decision="决定", appraisal_announced_on="2026-03-20"),
    )


def test_grades_follow_the_self_appraisal_and_the_peer_appraisal(world, clock):
    case_id = to_held(world, clock)  # held on 2026-03-20
    secretary = world["secretary"]

    def offered() -> set[str]:
        return {a.trigger for a in runtime.available_actions(case_id, secretary)}

    with pytest.raises(NotAllowed):  # the secretaries record it, not a member
        runtime.fire(case_id, "record_peer_appraisal", world["member"], {})
    # No grade before the peer appraisal: the step is not offered yet, and refused if sent.
    assert "record_peer_appraisal" in offered()
    assert "record_grades" not in offered()
    with pytest.raises(GuardRefused, match="'Peer appraisal held on' has not been recorded"):
        runtime.fire(
            case_id,
            "record_grades",
            secretary,
            {"grade": "qualified", "members": [pid(world["member"])]},
        )
    # The dates: both done, the peer appraisal not before the self-appraisal.
    with pytest.raises(GuardRefused, match="2026-03-21 is in the future"):
        record_peer_appraisal(world, case_id, self_appraisal_on="2026-03-21")
    with pytest.raises(GuardRefused, match="2026-03-21 is in the future"):
        record_peer_appraisal(world, case_id, peer_appraisal_on="2026-03-21")
    with pytest.raises(GuardRefused, match=r"held on cannot be before 2026-03-20\."):
        record_peer_appraisal(world, case_id, peer_appraisal_on="2026-03-19")
    with pytest.raises(GuardRefused, match=r"Self-appraisal held on cannot be before 2026-03-0"):
        record_peer_appraisal(world, case_id, self_appraisal_on="2020-01-01")
    with pytest.raises(ValidationFailed) as refused:
        record_peer_appraisal(world, case_id, peer_appraisal_summary="")
    assert set(refused.value.field_errors) == {"peer_appraisal_summary"}
    assert "peer_appraisal_on" not in runtime.load_case(case_id).data

    record_peer_appraisal(world, case_id, self_appraisal_on="2026-03-18")
    data = runtime.load_case(case_id).data
    assert (data["self_appraisal_on"], data["peer_appraisal_on"]) == ("2026-03-18", "2026-03-20")
    assert "record_grades" in offered()
    runtime.fire(
        case_id,
        "record_grades",
        secretary,
        {"grade": "qualified", "members": [pid(world["member"])]},
    )
    # Once grades rest on it, the peer appraisal stands.
    assert "record_peer_appraisal" not in offered()
    with pytest.raises(GuardRefused, match="Grades are recorded"):
        record_peer_appraisal(world, case_id, peer_appraisal_summary="改写")
    assert triggers(case_id)[-2:] == ["record_peer_appraisal", "record_grades"]


def test_a_meeting_without_the_appraisal_offers_none_of_its_steps(world, clock):
    case_id = to_held(world, clock, with_appraisal=False)
    offered = {a.trigger for a in runtime.available_actions(case_id, world["secretary"])}
    assert "submit_report" in offered
    assert not offered & {"record_peer_appraisal", "record_grades"}
    for refused in (
        lambda: record_peer_appraisal(world, case_id),
        lambda: runtime.fire(
            case_id,
            "record_grades",
            world["secretary"],
            {"grade": "qualified", "members": [pid(world["member"])]},
        ),
    ):
        with pytest.raises(GuardRefused, match="does not include the democratic appraisal"):
            refused()
    case = runtime.load_case(case_id)
    assert "grades" not in case.data and "peer_appraisal_on" not in case.data
    # Nothing of the appraisal waits on anyone either.
    assert not {
        t
        for (_holder, _kind, t) in tasks.compute(
            runtime.registry().stored(case.definition_id), case
        )
    } & {"record_peer_appraisal", "record_grades"}


def test_appraisal_grades_are_fed_back_and_announced_before_the_report(world, clock):
    case_id = to_held(world, clock)  # held on 2026-03-20
    grade_everyone(world, case_id)
    clock.set("2026-03-23T02:00:00")

    def report(**extra):
        runtime.fire(
            case_id,
            "submit_report",
            world["secretary"],
            report_values(world, appraisal_decision="支部党员大会决定", **extra),
        )

    with pytest.raises(GuardRefused, match="fed back to each member in writing and announced"):
        report()
    with pytest.raises(GuardRefused, match=r"announced on cannot be before 2026-03-20\."):
        report(appraisal_announced_on="2026-03-19")
    with pytest.raises(GuardRefused, match="2026-03-24 is in the future"):
        report(appraisal_announced_on="2026-03-24")
    assert state(case_id) == "held"
    report(appraisal_announced_on="2026-03-23")  # today, the latest
    assert state(case_id) == "rectification"
    assert runtime.load_case(case_id).data["appraisal_announced_on"] == "2026-03-23"


def test_without_the_appraisal_no_feedback_date_is_asked(world, clock):
    case_id = to_held(world, clock, with_appraisal=False)
    runtime.fire(case_id, "submit_report", world["secretary"], report_values(world))
    assert state(case_id) == "rectification"


def test_wrong_actors_are_refused(world, clock):
    case = start_meeting(world)
    with pytest.raises(NotAllowed):
        runtime.start(
            "life_meeting",
            world.branch,
            world["member"],
            {"kind": "organizational", "theme": "x", "planned_date": "2026-03-20"},
        )
    with pytest.raises(NotAllowed):
        runtime.fire(case.id, "submit_plan", world["member"])
    runtime.fire(case.id, "submit_plan", world["secretary"])
    with pytest.raises(NotAllowed):  # the branch cannot approve its own plan
        runtime.fire(case.id, "approve_plan", world["secretary"])
    with pytest.raises(NotAllowed):  # nor can another branch
        runtime.fire(case.id, "approve_plan", world["other_secretary"])
    runtime.fire(case.id, "approve_plan", world["committee_a"])  # the committee may
    with pytest.raises(NotAllowed):  # a non-participant records no talks
        runtime.fire(
            case.id,
            "record_talk",
            world["other_secretary"],
            {"talker": pid(world["secretary"]), "talked_with": [], "talk_date": "2026-03-02"},
        )
    with pytest.raises(GuardRefused, match="only do this for yourself"):
        runtime.fire(
            case.id,
            "upload_material",
            world["member"],
            {"participant": pid(world["deputy"]), "material": upload(world, "x.pdf")},
        )
    hold_talks(world, case.id)
    hand_in_materials(world, case.id)
    runtime.fire(case.id, "submit_materials", world["secretary"])
    with pytest.raises(NotAllowed):
        runtime.fire(case.id, "approve_materials", world["secretary"])


def test_democratic_meeting_is_for_leadership_teams_and_needs_a_plan_in_good_time(world):
    with pytest.raises(GuardRefused, match="leadership team"):
        start_meeting(world, kind="democratic")
    case = start_democratic(world, "2026-03-12")
    with pytest.raises(GuardRefused, match="at least 15 days before the meeting; choose a date"):
        runtime.fire(case.id, "submit_plan", world["committee_a"])
    runtime.fire(case.id, "submit_plan", world["committee_a"], {"planned_date": "2026-03-17"})
    # The committee has no superior in pbflow: another committee member records the approval.
    with pytest.raises(GuardRefused, match="someone else"):
        runtime.fire(case.id, "approve_plan", world["committee_a"])
    # March is not the fourth quarter: the approval gives the consent that needs.
    runtime.fire(case.id, "approve_plan", world["committee_b"], {"off_season_consent": True})
    assert state(case.id) == "preparation"


def test_principal_must_be_a_participant(world):
    with pytest.raises(GuardRefused, match="not participants"):
        runtime.start(
            "life_meeting",
            world.branch,
            world["secretary"],
            {
                "kind": "organizational",
                "theme": "x",
                "planned_date": "2026-03-20",
                "principal": pid(world["other_secretary"]),
                "participants": [pid(world["deputy"]), pid(world["member"])],
            },
        )


def test_opinions_link_only_opinion_cases_of_the_organization(world):
    case_id = to_preparation(world)
    funding = runtime.start(
        "activity_funding",
        world.branch,
        world["secretary"],
        {"purpose": "x", "activity_date": "2026-03-20", "amount": "10", "budget": "x"},
    )
    with pytest.raises(ValidationFailed) as exc:
        runtime.fire(
            case_id,
            "link_opinions",
            world["secretary"],
            {"opinion_cases": f"{funding.id}, 99999", "opinion_summary": "汇总"},
        )
    assert exc.value.field_errors["opinion_cases"].endswith(f"{funding.id}, 99999")
    runtime.fire(case_id, "link_opinions", world["secretary"], {"opinion_summary": "汇总"})
    assert runtime.load_case(case_id).data["opinion_summary"] == "汇总"


def test_closed_meeting_takes_no_more_steps(world, clock):
    case_id = to_preparation(world)
    runtime.fire(case_id, "cancel", world["secretary"], comment="改期")
    with pytest.raises(InvalidState, match="closed"):
        runtime.fire(case_id, "record_study", world["secretary"])


def test_rewriting_deadline_escalates_when_missed(world, clock):
    case_id = to_preparation(world)
    hold_talks(world, case_id)
    hand_in_materials(world, case_id)
    runtime.fire(case_id, "submit_materials", world["secretary"])
    runtime.fire(
        case_id,
        "return_materials",
        world["gb_secretary"],
        {"rewrite_by": "2026-03-10"},
        comment="全部重写",
    )
    case = runtime.load_case(case_id)
    assert all(m["status"] == "returned" for m in case.data["materials"].values())
    clock.set("2026-03-10T12:00:00")  # 20:00 on the last day: not yet late
    assert timers.tick().overdue == []
    clock.set("2026-03-10T16:30:00")  # 00:30 on 11 March in Beijing
    report = timers.tick()
    assert case_id in report.overdue and case_id in report.escalated


def test_meeting_is_not_dated_before_the_plan_and_materials_were_approved(world, clock):
    case = start_meeting(world)
    runtime.fire(case.id, "submit_plan", world["secretary"])
    clock.set("2026-03-06T02:00:00")
    runtime.fire(
        case.id,
        "approve_plan",
        world["gb_secretary"],
        {"superior_attendee": world["gb_secretary"].id},
    )
    hold_talks(world, case.id)
    summarize_opinions(world, case.id)
    hand_in_materials(world, case.id)
    runtime.fire(case.id, "submit_materials", world["secretary"])
    clock.set("2026-03-10T02:00:00")
    runtime.fire(case.id, "approve_materials", world["gb_secretary"])
    clock.set("2026-03-20T06:00:00")
    record_committee_session(world, case.id, on="2026-03-10")
    before = audit.head()
    with pytest.raises(GuardRefused, match=r"Held on cannot be before 2026-03-06\."):
        runtime.fire(
            case.id, "hold_meeting", world["secretary"], meeting_values(world, held_on="2026-03-05")
        )
    with pytest.raises(GuardRefused, match=r"Held on cannot be before 2026-03-10\."):
        runtime.fire(
            case.id, "hold_meeting", world["secretary"], meeting_values(world, held_on="2026-03-09")
        )
    assert audit.head() == before and state(case.id) == "meeting_ready"
    runtime.fire(
        case.id, "hold_meeting", world["secretary"], meeting_values(world, held_on="2026-03-10")
    )
    assert state(case.id) == "held"


def test_meeting_held_earlier_than_planned_still_gives_the_superior_its_lead_time(world, clock):
    # The organization asks for plans ten days ahead; the plan reached the superior on 03-02.
    world.committee.settings = {"life_meeting": {"organizational_lead_days": 10}}
    db.session.commit()
    case_id = to_meeting_ready(world)
    clock.set("2026-03-11T06:00:00")
    with pytest.raises(
        GuardRefused, match="at least 10 days before the meeting; choose a date from 2026-03-12"
    ) as exc:
        runtime.fire(
            case_id, "hold_meeting", world["secretary"], meeting_values(world, held_on="2026-03-11")
        )
    assert exc.value.available_from is not None
    assert state(case_id) == "meeting_ready"
    clock.set("2026-03-12T06:00:00")
    record_committee_session(world, case_id, on="2026-03-12")
    runtime.fire(
        case_id, "hold_meeting", world["secretary"], meeting_values(world, held_on="2026-03-12")
    )
    assert state(case_id) == "held"


def test_the_committees_democratic_life_meeting_names_its_superiors_attendee_in_words(world, clock):
    """The party committee's own democratic life meeting (DOMAIN 2: a leadership team's):
    its superior (the county or group committee) is not in pbflow, so the committee's members
    approve the plan and the materials as the workflow lets them, and the superior's attendee
    is named in words; a pbflow account, which belongs to no organization above, is refused."""
    from tests.conftest import make_user

    secretary = make_user(
        "committee_secretary", [(world.committee, "secretary")], person_org=world.committee
    )
    team = [secretary, world["committee_a"], world["committee_b"], world["committee_c"]]

    def file(name: str) -> int:
        return upload(world, name, org=world.committee, user=secretary)

    case = runtime.start(
        "life_meeting",
        world.committee,
        secretary,
        {
            "kind": "democratic",
            "theme": "年度民主生活会",
            "planned_date": "2026-03-20",
            "principal": pid(secretary),
            "participants": [pid(u) for u in team],
        },
    )
    runtime.fire(case.id, "submit_plan", secretary)
    runtime.fire(case.id, "approve_plan", world["committee_a"], {"off_season_consent": True})
    runtime.fire(
        case.id,
        "record_talk",
        secretary,
        {
            "talker": pid(secretary),
            "talked_with": [pid(u) for u in team[1:]],
            "talk_date": "2026-03-02",
        },
    )
    for u in team:
        runtime.fire(
            case.id,
            "upload_material",
            secretary,
            {"participant": pid(u), "material": file(f"{u.username}.pdf")},
        )
    runtime.fire(case.id, "link_opinions", secretary, {"opinion_summary": "征求意见五条"})
    runtime.fire(case.id, "submit_materials", secretary)
    runtime.fire(case.id, "approve_materials", world["committee_b"])
    clock.set("2026-03-20T02:00:00")
    values = {
        "held_on": "2026-03-20",
        **attendance(team, team),
        "minutes": file("minutes.pdf"),
    }
    with pytest.raises(GuardRefused, match="has not been recorded"):
        runtime.fire(case.id, "hold_meeting", secretary, values)
    with pytest.raises(GuardRefused, match="superior is not in pbflow"):
        runtime.fire(
            case.id, "hold_meeting", secretary, {**values, "superior_present": world["admin"].id}
        )
    assert state(case.id) == "meeting_ready"
    runtime.fire(
        case.id,
        "hold_meeting",
        secretary,
        {**values, "superior_present_name": "县委组织部副部长 张三"},
    )
    assert state(case.id) == "held"
    assert runtime.load_case(case.id).data["superior_present_name"] == "县委组织部副部长 张三"


def _democratic_plan(world, clock, planned: str, **extra) -> int:
    """A committee's democratic life meeting, its plan with the superior (here another
    member of the committee, which has no superior in pbflow)."""
    case = start_democratic(world, planned, **extra)
    runtime.fire(case.id, "submit_plan", world["committee_a"])
    return case.id


def test_a_democratic_life_meeting_outside_the_fourth_quarter_needs_the_superiors_consent(
    world, clock
):
    clock.set("2026-03-02T02:00:00")
    approver = world["committee_b"]
    # Planned for June: the approval without the consent is refused; with it, accepted.
    june = _democratic_plan(world, clock, "2026-06-10")
    with pytest.raises(GuardRefused, match="fourth quarter; on 2026-06-10 it needs the superior"):
        runtime.fire(june, "approve_plan", approver)
    assert state(june) == "plan_review"
    runtime.fire(june, "approve_plan", approver, {"off_season_consent": True})
    assert runtime.load_case(june).data["off_season_consent"] is True

    # Planned for the fourth quarter: approved as it is; held in the fourth quarter, fine.
    december = _democratic_plan(world, clock, "2026-12-10")
    runtime.fire(december, "approve_plan", approver)
    offered = {a.trigger for a in runtime.available_actions(december, approver)}
    assert "consent_off_season" in offered  # the superior may still consent, should it move
    # Moved to the next January without the consent: the meeting is not recorded...
    from tests.conftest import make_user

    secretary = make_user(
        "committee_secretary", [(world.committee, "secretary")], person_org=world.committee
    )
    clock.set("2027-01-08T02:00:00")
    committee = [world[u] for u in ("committee_a", "committee_b", "committee_c")]
    january = {
        "held_on": "2027-01-07",
        **attendance(committee[:1], committee),
        "superior_present_name": "县委组织部 张部长",
        "minutes": upload(world, "m.pdf", org=world.committee, user=secretary),
    }
    with pytest.raises(GuardRefused, match="fourth quarter; on 2027-01-07 it needs the superior"):
        runtime.fire(december, "hold_meeting", secretary, january)
    # The next year's fourth quarter is not this year's either.
    clock.set("2027-10-06T02:00:00")
    with pytest.raises(GuardRefused, match="fourth quarter; on 2027-10-05 it needs the superior"):
        runtime.fire(december, "hold_meeting", secretary, {**january, "held_on": "2027-10-05"})
    # ... until the superior consents, with its reason; then the step is no longer offered.
    with pytest.raises(NotAllowed):
        runtime.fire(december, "consent_off_season", world["member"], comment="x")
    with pytest.raises(GuardRefused, match="someone else"):  # not the meeting's own submitter
        runtime.fire(december, "consent_off_season", world["committee_a"], comment="x")
    runtime.fire(december, "consent_off_season", approver, comment="年底安全生产检查，推迟一周")
    assert "consent_off_season" not in {
        a.trigger for a in runtime.available_actions(december, approver)
    }
    with pytest.raises(GuardRefused, match="already consented"):
        runtime.fire(december, "consent_off_season", approver, comment="again")
    assert runtime.load_case(december).data["off_season_consent"] is True
    # With it, January is no longer what stops the record (the talks, not yet held, are).
    with pytest.raises(GuardRefused, match="Heart-to-heart talks are not complete"):
        runtime.fire(december, "hold_meeting", secretary, january)
    assert triggers(december) == ["submit_plan", "approve_plan", "consent_off_season"]


def test_a_special_or_an_organizational_meeting_keeps_no_season(world, clock):
    clock.set("2026-03-02T02:00:00")
    special = _democratic_plan(world, clock, "2026-06-10", special=True)
    runtime.fire(special, "approve_plan", world["committee_b"])  # called when it is needed
    assert state(special) == "preparation"
    assert "consent_off_season" not in {
        a.trigger for a in runtime.available_actions(special, world["committee_b"])
    }
    organizational = to_preparation(world)  # a branch's, planned for March
    assert state(organizational) == "preparation"
    with pytest.raises(GuardRefused, match="Only a yearly democratic life meeting"):
        runtime.fire(organizational, "consent_off_season", world["gb_secretary"], comment="x")


def test_where_the_branch_has_a_committee_the_committee_meets_first(world, clock):
    case_id = to_meeting_ready(world)  # the world's branch has a committee
    clock.set("2026-03-20T06:00:00")
    secretary = world["secretary"]
    with pytest.raises(GuardRefused, match="its committee holds its own session first"):
        runtime.fire(case_id, "hold_meeting", secretary, meeting_values(world))
    # Offered to the secretary, and the meeting greyed until then with the same reason;
    # what the case waits for is still the meeting itself.
    actions = {a.trigger: a for a in runtime.available_actions(case_id, secretary)}
    assert actions["record_committee_session"].enabled
    assert not actions["hold_meeting"].enabled
    assert "its committee holds its own session first" in actions["hold_meeting"].reason
    case = runtime.load_case(case_id)
    keys = tasks.compute(runtime.registry().stored(case.definition_id), case)
    waiting = {t for _h, kind, t in keys if kind == tasks.STEP}
    assert "hold_meeting" in waiting and "record_committee_session" not in waiting
    # Its own session: done, on a day after the plan's approval, among the participants.
    with pytest.raises(GuardRefused, match="2026-03-21 is in the future"):
        record_committee_session(world, case_id, on="2026-03-21")
    # Recorded by the secretaries, not a member.
    with pytest.raises(NotAllowed):
        runtime.fire(
            case_id,
            "record_committee_session",
            world["member"],
            {"committee_session_on": "2026-03-19", "committee_session_present": []},
        )
    # Its members only (a plain member is not one), more than half of them.
    for present, refused in (
        (["secretary", "member"], "Member are not members of the branch committee"),
        (["secretary"], "No quorum: 1 of 3 committee members present"),
    ):
        with pytest.raises(GuardRefused, match=refused):
            runtime.fire(
                case_id,
                "record_committee_session",
                secretary,
                {
                    "committee_session_on": "2026-03-19",
                    "committee_session_present": [pid(world[u]) for u in present],
                },
            )
    record_committee_session(world, case_id, on="2026-03-19")
    # The branch's meeting is not dated before it.
    with pytest.raises(GuardRefused, match=r"Held on cannot be before 2026-03-19\."):
        runtime.fire(
            case_id, "hold_meeting", secretary, meeting_values(world, held_on="2026-03-18")
        )
    runtime.fire(case_id, "hold_meeting", secretary, meeting_values(world))
    assert state(case_id) == "held"
    assert runtime.load_case(case_id).data["committee_session_on"] == "2026-03-19"


def test_a_branch_without_a_committee_holds_its_meeting_alone(world, clock):
    from pbflow.models import RoleAssignment

    db.session.query(RoleAssignment).filter_by(
        org_id=world.branch.id, role="branch_committee"
    ).delete()
    db.session.commit()
    case_id = to_meeting_ready(world)
    offered = {a.trigger for a in runtime.available_actions(case_id, world["secretary"])}
    assert "hold_meeting" in offered and "record_committee_session" not in offered
    with pytest.raises(GuardRefused, match="Only a branch with a committee"):
        record_committee_session(world, case_id, on="2026-03-02")
    clock.set("2026-03-20T06:00:00")
    runtime.fire(case_id, "hold_meeting", world["secretary"], meeting_values(world))
    assert state(case_id) == "held"


def test_the_grades_are_announced_after_the_peer_appraisal_they_follow(world, clock):
    case_id = to_held(world, clock)  # held on 2026-03-20
    clock.set("2026-03-23T02:00:00")
    record_peer_appraisal(
        world, case_id, self_appraisal_on="2026-03-21", peer_appraisal_on="2026-03-22"
    )
    grade_everyone(world, case_id)
    values = report_values(world, appraisal_decision="决定", appraisal_announced_on="2026-03-21")
    with pytest.raises(GuardRefused, match=r"announced on cannot be before 2026-03-22\."):
        runtime.fire(case_id, "submit_report", world["secretary"], values)
    values["appraisal_announced_on"] = "2026-03-23"
    runtime.fire(case_id, "submit_report", world["secretary"], values)
    assert state(case_id) == "rectification"


# --- the rules at their boundaries (DOMAIN 2) -------------------------------------------------


def _to_rectification(world, clock) -> int:
    case_id = to_held(world, clock, with_appraisal=False)  # held on 2026-03-20
    runtime.fire(case_id, "submit_report", world["secretary"], report_values(world))
    return case_id


def test_a_meeting_does_not_close_without_a_rectification_list(world, clock):
    case_id = _to_rectification(world, clock)
    announced = {"announced_on": "2026-03-20", "announcement_scope": "全体党员"}
    head = audit.head()
    with pytest.raises(GuardRefused, match="No rectification item has been listed yet"):
        runtime.fire(case_id, "close", world["secretary"], announced)
    assert audit.head() == head and state(case_id) == "rectification"
    runtime.fire(
        case_id,
        "add_item",
        world["secretary"],
        {
            "problem": "理论学习不深入",
            "measures": "每月集中学习一次",
            "owner": world["member"].id,
            "deadline": "2026-04-30",
        },
    )
    (item,) = runtime.load_case(case_id).data["children"]
    with pytest.raises(GuardRefused, match="1 linked item"):
        runtime.fire(case_id, "close", world["secretary"], announced)
    runtime.fire(
        item,
        "report_done",
        world["member"],
        {"summary": "完成", "evidence": upload(world, "e.pdf", by="member")},
    )
    runtime.fire(item, "accept", world["secretary"])
    # The results announced before the meeting that found the problems: refused.
    with pytest.raises(GuardRefused, match="cannot be before 2026-03-20"):
        runtime.fire(
            case_id, "close", world["secretary"], {**announced, "announced_on": "2026-03-19"}
        )
    runtime.fire(case_id, "close", world["secretary"], announced)
    assert state(case_id) == "closed"


def test_attendance_exactly_at_the_share_is_enough(world, clock):
    """Three of four present is exactly three quarters: where an organization asks for that
    share, the meeting is held; two of four is not enough."""
    world.committee.settings = {"life_meeting": {"min_attendance": "3/4"}}
    db.session.commit()
    case_id = to_meeting_ready(world)
    clock.set("2026-03-20T06:00:00")
    record_committee_session(world, case_id)
    with pytest.raises(GuardRefused, match="Only 2 of 4 participants attended; at least 3/4"):
        runtime.fire(
            case_id,
            "hold_meeting",
            world["secretary"],
            meeting_values(world, attendees=["secretary", "deputy"]),
        )
    runtime.fire(case_id, "hold_meeting", world["secretary"], meeting_values(world))
    assert state(case_id) == "held"


@pytest.mark.parametrize(
    "planned, in_season",
    [("2026-09-30", False), ("2026-10-01", True), ("2026-12-31", True)],
)
def test_the_fourth_quarter_runs_from_1_october_to_31_december(world, clock, planned, in_season):
    clock.set("2026-03-02T02:00:00")
    case_id = _democratic_plan(world, clock, planned)
    if in_season:
        runtime.fire(case_id, "approve_plan", world["committee_b"])
        assert state(case_id) == "preparation"
    else:
        with pytest.raises(GuardRefused, match=f"fourth quarter; on {planned} it needs"):
            runtime.fire(case_id, "approve_plan", world["committee_b"])
        assert state(case_id) == "plan_review"


def test_the_plan_reaches_the_superior_fifteen_days_ahead_to_the_day(world, clock):
    case_id = start_democratic(world, "2026-03-16").id  # today 2026-03-02: 14 days ahead
    with pytest.raises(GuardRefused, match="choose a date from 2026-03-17"):
        runtime.fire(case_id, "submit_plan", world["committee_a"])
    runtime.fire(case_id, "submit_plan", world["committee_a"], {"planned_date": "2026-03-17"})
    assert state(case_id) == "plan_review"


def test_the_rewriting_deadline_is_today_at_the_earliest(world, clock):
    case_id = to_preparation(world)
    hold_talks(world, case_id)
    summarize_opinions(world, case_id)
    hand_in_materials(world, case_id)
    runtime.fire(case_id, "submit_materials", world["secretary"])
    head = audit.head()
    with pytest.raises(GuardRefused, match=r"'Rewrite by' cannot lie in the past \(2026-03-01\)"):
        runtime.fire(
            case_id,
            "return_materials",
            world["gb_secretary"],
            {"rewrite_by": "2026-03-01"},
            comment="全部重写",
        )
    assert audit.head() == head and state(case_id) == "materials_review"
    runtime.fire(
        case_id,
        "return_materials",
        world["gb_secretary"],
        {"rewrite_by": "2026-03-02"},
        comment="重写",
    )
    assert state(case_id) == "rewriting"


def test_the_committee_session_counts_the_seats_held_on_active_accounts(world):
    """Whose presence the committee's session counts (more than half of them) is the
    committee roles held on active accounts, as whether the branch has a committee is read:
    the deputy's account deactivated, the deputy is no longer counted."""
    from pbflow.procedures.life_meeting.guards import branch_committee_people
    from pbflow.services import accounts

    seats = {pid(world[u]) for u in ("secretary", "deputy", "branch_member")}
    assert set(branch_committee_people(world.branch.id)) == seats
    accounts.set_active(world["deputy"], False, actor=world["admin"])
    assert set(branch_committee_people(world.branch.id)) == seats - {pid(world["deputy"])}


def test_the_next_meeting_hears_how_the_last_rectification_list_was_carried_out(world, clock):
    """DOMAIN 2: the meeting opens with a report on the rectification of last time's
    problems. The branch's organizational life meeting of March listed an item; its meeting
    of December is not recorded without that report, and records nothing when refused."""
    first = _to_rectification(world, clock)  # held on 2026-03-20
    runtime.fire(
        first,
        "add_item",
        world["secretary"],
        {
            "problem": "理论学习不深入",
            "measures": "每月集中学习一次",
            "owner": world["member"].id,
            "deadline": "2026-06-30",
        },
    )
    clock.set("2026-12-01T02:00:00")
    case_id = to_meeting_ready(world, with_appraisal=False, planned="2026-12-15")
    clock.set("2026-12-15T06:00:00")
    record_committee_session(world, case_id, on="2026-12-15")
    values = meeting_values(world, held_on="2026-12-15")
    head = audit.head()
    with pytest.raises(GuardRefused) as exc:
        runtime.fire(case_id, "hold_meeting", world["secretary"], values)
    assert exc.value.message == (
        "The last organizational life meeting of this organization, held on 2026-03-20, drew "
        "up a rectification list: this meeting hears how it was carried out. Fill in 'Report "
        "on last time's rectification'."
    )
    with force_locale("zh"), pytest.raises(GuardRefused) as exc:
        runtime.fire(case_id, "hold_meeting", world["secretary"], values)
    assert exc.value.message == (
        "本组织上次组织生活会（2026-03-20召开）列出了整改清单，本次会议应通报整改落实情况。"
        "请填写“上次整改情况通报”。"
    )
    assert audit.head() == head and state(case_id) == "meeting_ready"
    runtime.fire(
        case_id,
        "hold_meeting",
        world["secretary"],
        {**values, "last_rectification": "上次两项整改：学习制度已落实，走访已完成一项。"},
    )
    assert state(case_id) == "held"


def test_a_meeting_after_one_without_a_rectification_list_needs_no_report(world, clock):
    """Only a list drawn up last time is reported on: after the branch's meeting of March
    that listed nothing, its meeting of December asks for no report."""
    _to_rectification(world, clock)  # held on 2026-03-20, no item listed
    clock.set("2026-12-01T02:00:00")
    case_id = to_meeting_ready(world, with_appraisal=False, planned="2026-12-15")
    clock.set("2026-12-15T06:00:00")
    record_committee_session(world, case_id, on="2026-12-15")
    runtime.fire(
        case_id, "hold_meeting", world["secretary"], meeting_values(world, held_on="2026-12-15")
    )
    assert state(case_id) == "held"
