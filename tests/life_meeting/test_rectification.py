"""Rectification items (整改事项): owner, deadline, progress, evidence, checked and ticked off."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from pbflow.engine import runtime, timers
from pbflow.engine.errors import GuardRefused, NotAllowed, ValidationFailed
from pbflow.extensions import db
from pbflow.models import Notification
from tests.conftest import audit_actions
from tests.life_meeting.test_life_meeting import upload


def new_item(world, owner="member", deadline="2026-03-31"):
    return runtime.start(
        "rectification",
        world.branch,
        world["secretary"],
        {
            "problem": "三会一课记录不规范",
            "measures": "统一记录本",
            "owner": world[owner].id,
            "deadline": deadline,
        },
    )


def test_item_is_assigned_to_its_owner_and_checked_by_someone_else(world):
    item = new_item(world, owner="secretary")
    assert item.assignee_user_id == world["secretary"].id and item.title == "三会一课记录不规范"
    with pytest.raises(NotAllowed):
        runtime.fire(item.id, "start_work", world["member"])
    runtime.fire(
        item.id,
        "report_done",
        world["secretary"],
        {"summary": "已统一", "evidence": upload(world, "ev.pdf")},
    )
    with pytest.raises(GuardRefused, match="someone else"):
        runtime.fire(item.id, "accept", world["secretary"])
    with pytest.raises(NotAllowed):
        runtime.fire(item.id, "accept", world["other_secretary"])
    runtime.fire(item.id, "accept", world["deputy"])
    case = runtime.load_case(item.id)
    assert case.state == "closed" and case.data["ticked_off_on"] == "2026-03-02"


def test_send_back_needs_a_reason_and_asks_for_new_evidence(world):
    item = new_item(world)
    runtime.fire(
        item.id,
        "report_done",
        world["member"],
        {"summary": "完成", "evidence": upload(world, "ev.pdf", by="member")},
    )
    with pytest.raises(ValidationFailed):
        runtime.fire(item.id, "send_back", world["secretary"])
    runtime.fire(item.id, "send_back", world["gb_secretary"], comment="证据不足")
    case = runtime.load_case(item.id)
    assert case.state == "in_progress" and "evidence" not in case.data
    with pytest.raises(ValidationFailed) as exc:
        runtime.fire(item.id, "report_done", world["member"], {"summary": "再次完成"})
    assert exc.value.field_errors == {"evidence": "is required"}


def test_progress_notes_are_kept_in_order(world, clock):
    item = new_item(world)
    runtime.fire(item.id, "start_work", world["member"], {"note": "开始"})
    clock.advance(days=3)
    runtime.fire(item.id, "add_progress", world["member"], {"note": "完成一半"})
    with pytest.raises(ValidationFailed):
        runtime.fire(item.id, "add_progress", world["member"], {"note": "  "})
    notes = runtime.load_case(item.id).data["progress"]
    assert [(n["note"], n["recorded_on"]) for n in notes] == [
        ("开始", "2026-03-02"),
        ("完成一半", "2026-03-05"),
    ]


def test_overdue_item_is_escalated_to_the_superior_once(world, clock):
    item = new_item(world, deadline="2026-03-10")
    clock.set("2026-03-08T02:00:00")
    assert item.id in timers.tick().reminded
    clock.set("2026-03-11T02:00:00")
    report = timers.tick()
    assert item.id in report.escalated
    assert timers.tick().escalated == []
    notices = db.session.execute(
        select(Notification.user_id, Notification.kind).where(Notification.instance_id == item.id)
    ).all()
    assert (world["gb_secretary"].id, "escalation") in notices
    assert (world["member"].id, "overdue") in notices
    assert audit_actions(item.id) == ["case_started", "reminder_sent", "overdue"]


def test_only_the_superior_cancels_an_item(world):
    item = new_item(world)
    with pytest.raises(NotAllowed):
        runtime.fire(item.id, "cancel", world["secretary"], comment="x")
    runtime.fire(item.id, "cancel", world["gb_secretary"], comment="问题已不存在")
    assert runtime.load_case(item.id).state == "cancelled"


def test_a_deadline_already_past_is_refused_today_is_the_earliest(world, clock):
    """A deadline set now that has already passed would make the item overdue when it is
    made: refused naming the field, at the start of an item and when a life meeting adds one
    to its list; today is the earliest."""
    from pbflow import audit
    from pbflow import clock as pbflow_clock
    from tests.life_meeting.test_life_meeting import report_values, to_held

    clock.set("2026-03-10T02:00:00")  # 10:00 in Beijing
    before = audit.head()
    with pytest.raises(GuardRefused, match=r"'Deadline' cannot lie in the past \(2026-03-09\)"):
        new_item(world, deadline="2026-03-09")
    assert audit.head() == before
    assert new_item(world, deadline="2026-03-10").data["deadline"] == "2026-03-10"

    case_id = to_held(world, clock, with_appraisal=False)
    runtime.fire(case_id, "submit_report", world["secretary"], report_values(world))
    today = pbflow_clock.today().isoformat()
    values = {"problem": "学习不深入", "measures": "每月一次", "owner": world["member"].id}
    with pytest.raises(GuardRefused, match="cannot lie in the past"):
        runtime.fire(case_id, "add_item", world["secretary"], {**values, "deadline": "2026-01-01"})
    runtime.fire(case_id, "add_item", world["secretary"], {**values, "deadline": today})
    assert runtime.load_case(case_id).data["children"]
