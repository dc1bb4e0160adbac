"""Reminders that are right: one due date everywhere (the last local day), reminders of
obligations that are no case state (assessments, thought reports, the conversion window, the
yearly life meetings), each sent once, and ``tick --now`` refused on a live database."""

from __future__ import annotations

from sqlalchemy import func, select

from pbflow import audit
from pbflow.extensions import db
from pbflow.models import AuditEvent, Notification
from pbflow.procedures.life_meeting import reminders as life_reminders
from pbflow.procedures.member_development import reminders
from pbflow.services import notifications
from tests.conftest import audit_actions
from tests.member_development.test_member_development import Walk


def _notes(kind: str) -> list[Notification]:
    return list(
        db.session.execute(
            select(Notification).where(Notification.kind == kind).order_by(Notification.id)
        ).scalars()
    )


def test_a_reminder_says_the_day_the_case_page_says(world, clock, auth, client):
    walk = Walk(world, clock)
    walk.apply()  # the talk is due within a month: by 2026-04-02
    clock.set("2026-03-27T02:00:00")
    from pbflow.engine import timers

    assert walk.case_id in timers.tick().reminded
    note = _notes("reminder")[0]
    assert note.params["due"] == "2026-04-02"
    assert notifications.text(note, "en").endswith("due 2026-04-02")
    auth.login("secretary")
    page = client.get(f"/cases/{walk.case_id}?lang=en").get_data(as_text=True)
    assert "due 2026-04-02" in page and "2026-04-03" not in page
    inbox = client.get("/inbox?lang=zh").get_data(as_text=True)
    assert "发展党员" in inbox and "2026-04-02" in inbox
    inbox = client.get("/inbox?lang=en").get_data(as_text=True)
    assert "Developing a new member: due 2026-04-02" in inbox and "发展党员" not in inbox


def test_an_activists_assessment_and_thought_reports_are_reminded_once(world, clock):
    walk = Walk(world, clock)
    walk.to_activist()  # an activist since 2026-03-20, contact: member
    clock.set("2026-06-10T02:00:00")  # ten days before the first quarter ends
    report = reminders.tick()
    assert report.sent == [(walk.case_id, "thought_report_due")]
    note = _notes("thought_report_due")
    assert {n.user_id for n in note} >= {walk.applicant.id, world["secretary"].id}
    assert "a thought report is due by 2026-06-20" in notifications.text(note[0], "en")
    assert "思想汇报" in notifications.text(note[0], "zh")
    assert reminders.tick().sent == []  # once
    walk.reports("2026-06-15")
    clock.set("2026-09-10T02:00:00")
    sent = {kind for _case, kind in reminders.tick().sent}
    assert sent == {"assessment_due", "thought_report_due"}
    contacts = {n.user_id for n in _notes("assessment_due")}
    assert world["member"].id in contacts and world["secretary"].id in contacts
    assert "half-yearly assessment" in notifications.text(_notes("assessment_due")[0], "en")
    assert audit_actions(walk.case_id).count("obligation_reminder") == 3
    assert audit.verify_database().ok


def test_a_probationary_member_hears_when_the_conversion_window_opens(world, clock):
    walk = Walk(world, clock)
    walk.to_probation()  # probation ends 2028-04-02
    walk.probation_reports()
    clock.set("2028-03-01T02:00:00")
    assert "conversion_window" not in {k for _c, k in reminders.tick().sent}
    clock.set("2028-03-02T02:00:00")
    assert (walk.case_id, "conversion_window") in reminders.tick().sent
    text = notifications.text(_notes("conversion_window")[0], "en")
    assert "may apply for conversion to full membership from 2028-03-02" in text
    assert "2028-04-02" in text


def test_the_yearly_life_meetings_are_reminded_in_the_fourth_quarter(world, clock):
    clock.set("2026-09-30T02:00:00")
    assert life_reminders.tick().sent == []
    clock.set("2026-10-01T02:00:00")
    sent = life_reminders.tick().sent
    assert sorted(sent) == sorted(
        [
            (world.branch.id, "organizational"),
            (world.other_branch.id, "organizational"),
            (world.committee.id, "democratic"),
        ]
    )
    assert life_reminders.tick().sent == []
    users = {n.user_id for n in _notes("life_meeting_due")}
    secretaries = {world[n].id for n in ("secretary", "deputy", "other_secretary")}
    assert users == secretaries  # the committee has no secretary in this world
    text = notifications.text(_notes("life_meeting_due")[0], "en")
    assert "organizational life meeting (2026)" in text


def test_a_special_democratic_life_meeting_is_not_the_years_meeting(world, clock):
    from tests.life_meeting.test_life_meeting import start_democratic

    clock.set("2026-06-01T02:00:00")
    start_democratic(world, "2026-07-01", special=True)  # called for serious problems
    clock.set("2026-10-01T02:00:00")
    assert (world.committee.id, "democratic") in life_reminders.tick().sent


def test_tick_now_is_refused_on_a_live_database(world, clock, runner):
    walk = Walk(world, clock)
    walk.apply()
    head = audit.head()
    result = runner.invoke(args=["pbflow", "tick", "--now", "2027-01-01T02:00:00"])
    assert result.exit_code == 1
    assert "refused on a live database" in result.output and "rehearsal start" in result.output
    assert audit.head() == head
    assert db.session.execute(select(func.count(Notification.id))).scalar_one() == 0
    # On a copy marked as a rehearsal, it runs (and no e-mail leaves).
    assert runner.invoke(args=["pbflow", "rehearsal", "start"]).exit_code == 0
    result = runner.invoke(args=["pbflow", "tick", "--now", "2026-04-03T02:00:00"])
    assert result.exit_code == 0, result.output
    assert "overdue 1" in result.output and "rehearsal copy" in result.output
    started = db.session.execute(
        select(AuditEvent.action).where(AuditEvent.action == "rehearsal_started")
    ).all()
    assert len(started) == 1
    status = runner.invoke(args=["pbflow", "rehearsal", "status"])
    assert status.output.strip() == "rehearsal copy"
