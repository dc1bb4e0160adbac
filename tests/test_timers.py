"""``pbflow tick``: reminders before a time limit, overdue marks, notices, escalation to the
superior and automatic steps, each once however often tick runs."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from sqlalchemy import select

from pbflow import audit
from pbflow.engine import runtime, timers
from pbflow.extensions import db
from pbflow.models import AuditEvent, Notification, ProcessInstance
from tests.conftest import TEST_WORKFLOWS, audit_actions

pytestmark = pytest.mark.workflows_dir(TEST_WORKFLOWS)


def _case(case_id: int) -> ProcessInstance:
    db.session.expire_all()
    return db.session.get(ProcessInstance, case_id)


def _notes(case_id: int) -> list[tuple[str, int]]:
    rows = db.session.execute(
        select(Notification.kind, Notification.user_id)
        .where(Notification.instance_id == case_id)
        .order_by(Notification.id)
    )
    return [tuple(r) for r in rows]


def _last_event(case_id: int, action: str) -> dict:
    event = (
        db.session.execute(
            select(AuditEvent)
            .where(AuditEvent.instance_id == case_id, AuditEvent.action == action)
            .order_by(AuditEvent.seq.desc())
        )
        .scalars()
        .first()
    )
    assert event is not None, action
    payload = event.payload
    return {
        "actor": event.actor_label,
        **(json.loads(payload) if isinstance(payload, str) else payload),
    }


def test_reminder_overdue_notice_and_escalation_each_happen_once(world, clock):
    # Started Monday 2026-03-02 (Beijing): 3 days, so due at the end of Thursday 03-05.
    case = runtime.start("timed", world.branch, world["secretary"], {})
    assert _case(case.id).due_at == datetime(2026, 3, 5, 16, 0)
    secretary, gb_secretary = world["secretary"].id, world["gb_secretary"].id

    clock.set("2026-03-04T10:00:00")  # 18:00 Wednesday: more than a day left
    assert timers.tick().reminded == []

    clock.set("2026-03-05T01:00:00")  # Thursday morning: within the day before the limit
    report = timers.tick()
    assert report.reminded == [case.id] and report.overdue == []
    assert _notes(case.id) == [("reminder", secretary)]
    reminder = _last_event(case.id, "reminder_sent")
    assert reminder["actor"] == "system" and reminder["notified"] == [secretary]
    assert _case(case.id).reminded_at == datetime(2026, 3, 5, 1, 0)
    assert timers.tick().reminded == []  # not twice
    assert len(_notes(case.id)) == 1

    clock.set("2026-03-05T15:59:00")  # still Thursday in Beijing
    assert timers.tick().overdue == []
    clock.set("2026-03-05T16:00:00")  # Friday 00:00 in Beijing
    report = timers.tick()
    assert report.overdue == [case.id] and report.escalated == [case.id]
    assert _notes(case.id)[1:] == [("overdue", secretary), ("escalation", gb_secretary)]
    overdue = _last_event(case.id, "overdue")
    assert overdue["actions"] == ["notify", "escalate"]
    assert overdue["notified"] == [secretary] and overdue["escalated_to"] == [gb_secretary]
    version = _case(case.id).version

    clock.advance(days=3)
    again = timers.tick()
    assert again.overdue == again.reminded == again.escalated == []
    assert len(_notes(case.id)) == 3
    assert audit_actions(case.id) == ["case_started", "reminder_sent", "overdue"]
    assert _case(case.id).version == version  # marks are not changes of the case
    assert audit.verify_database().ok


def test_escalation_from_a_general_branch_goes_to_the_committee(world, clock):
    runtime.start("timed", world.general_branch, world["gb_secretary"], {})
    clock.advance(days=10)
    report = timers.tick()
    assert len(report.escalated) == 1
    notes = _notes(report.escalated[0])
    escalated = {uid for kind, uid in notes if kind == "escalation"}
    assert escalated == {world[n].id for n in ("committee_a", "committee_b", "committee_c")}
    assert {uid for kind, uid in notes if kind == "overdue"} == {world["gb_secretary"].id}


def test_a_state_change_clears_the_marks_for_the_next_limit(world, clock):
    sec = world["secretary"]
    case = runtime.start("timed", world.branch, sec, {"meeting_on": "2026-03-20"})
    clock.set("2026-03-06T02:00:00")  # Friday, already overdue
    timers.tick()
    assert _case(case.id).overdue_at is not None
    runtime.fire(case.id, "acknowledge", sec)
    moved = _case(case.id)
    assert moved.reminded_at is None and moved.overdue_at is None
    # 15 working days from Friday 2026-03-06 is Friday 2026-03-27.
    assert moved.due_at == datetime(2026, 3, 27, 16, 0)

    clock.set("2026-03-26T02:00:00")  # 2 days before: the reminder of the new state
    assert timers.tick().reminded == [case.id]
    clock.set("2026-03-28T02:00:00")
    report = timers.tick()
    assert report.overdue == [case.id] and report.escalated == []  # this state only notifies
    assert audit_actions(case.id).count("overdue") == 2

    # Due 15 days from the meeting date given at the start, not from today.
    runtime.fire(case.id, "answer", sec)
    assert _case(case.id).due_at == datetime(2026, 4, 4, 16, 0)


def test_working_days_come_from_a_setting_the_organization_may_override(world, clock):
    world.general_branch.settings = {"timed": {"answer_days": 3}}
    db.session.commit()
    sec = world["secretary"]
    case = runtime.start("timed", world.branch, sec, {})
    clock.set("2026-03-06T02:00:00")  # Friday
    runtime.fire(case.id, "acknowledge", sec)
    assert _case(case.id).due_at == datetime(2026, 3, 11, 16, 0)  # Wednesday


def test_without_the_date_field_there_is_no_limit(world, clock):
    sec = world["secretary"]
    case = runtime.start("timed", world.branch, sec, {})
    runtime.fire(case.id, "acknowledge", sec)
    runtime.fire(case.id, "answer", sec)
    assert _case(case.id).state == "report" and _case(case.id).due_at is None


def test_overdue_fires_the_automatic_step_as_the_system(world, clock):
    sec = world["secretary"]
    clock.set("2026-01-31T02:00:00")
    case = runtime.start("timed", world.branch, sec, {"meeting_on": "2026-01-31"})
    for trigger in ("acknowledge", "answer", "file_report"):
        runtime.fire(case.id, trigger, sec)
    # One month from 31 January is the end of 28 February.
    assert _case(case.id).due_at == datetime(2026, 2, 28, 16, 0)

    clock.set("2026-03-01T02:00:00")
    report = timers.tick()
    assert report.fired == [(case.id, "lapse")]
    done = _case(case.id)
    assert done.state == "lapsed" and done.closed_at == datetime(2026, 3, 1, 2, 0)
    transition = _last_event(case.id, "transition")
    assert transition["actor"] == "system" and transition["trigger"] == "lapse"
    assert audit_actions(case.id)[-2:] == ["overdue", "transition"]
    assert timers.tick().fired == []
    assert audit.verify_database().ok


def test_tick_from_the_command_line(world, clock, runner):
    case = runtime.start("timed", world.branch, world["secretary"], {})
    runner.invoke(args=["pbflow", "rehearsal", "start"])  # --now only on a rehearsal copy
    result = runner.invoke(args=["pbflow", "tick", "--now", "2026-03-05T01:00"])
    assert result.exit_code == 0, result.output
    assert "reminded 1, overdue 0" in result.output
    result = runner.invoke(args=["pbflow", "tick", "--now", "2026-03-09T00:00:00"])
    assert "reminded 0, overdue 1, escalated 1" in result.output
    assert _case(case.id).overdue_at == datetime(2026, 3, 9, 0, 0)
    # Everything the run wrote is dated at the time it was told, including the audit trail.
    event = db.session.execute(
        select(AuditEvent).where(AuditEvent.action == "overdue")
    ).scalar_one()
    assert event.at == datetime(2026, 3, 9, 0, 0)
    result = runner.invoke(args=["pbflow", "tick", "--now", "2026-03-09T00:00:00"])
    assert "reminded 0, overdue 0, escalated 0, fired 0" in result.output
    result = runner.invoke(args=["pbflow", "tick", "--now", "next tuesday"])
    assert result.exit_code == 2 and "ISO 8601" in result.output


def test_automatic_step_from_the_command_line_is_dated_as_told(world, clock, runner):
    sec = world["secretary"]
    clock.set("2026-01-31T02:00:00")
    case = runtime.start("timed", world.branch, sec, {})
    for trigger in ("acknowledge", "answer", "file_report"):
        runtime.fire(case.id, trigger, sec)
    clock.set("2026-01-31T03:00:00")
    runner.invoke(args=["pbflow", "rehearsal", "start"])  # --now only on a rehearsal copy
    result = runner.invoke(args=["pbflow", "tick", "--now", "2026-03-01T05:00"])
    assert "fired 1" in result.output
    assert _case(case.id).closed_at == datetime(2026, 3, 1, 5, 0)
