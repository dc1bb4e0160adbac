"""The branch secretary gives at least one party lecture a year (DOMAIN.md 3): the calendar
says whether the year's was given, and from the fourth quarter ``pbflow tick`` reminds the
branch's secretaries, once, with its audit event."""

from __future__ import annotations

from sqlalchemy import select

from pbflow import audit
from pbflow.extensions import db
from pbflow.models import Notification
from pbflow.procedures.three_meetings import compliance, secretary_lecture
from pbflow.services import notifications
from tests.conftest import audit_actions
from tests.three_meetings.helpers import branch_meeting
from tests.three_meetings.test_compliance import created


def lecture(world, on: str, by: str) -> None:
    """A party lecture at the branch, presented (chaired) by ``by``."""
    present = ("secretary", "deputy", "member")
    chair = str(world[by].person.id)
    branch_meeting(world, "party_lecture", on, present, topic=f"党课 {on}", chair=chair)


def year_of(world, year: int):
    return compliance.calendar(world["secretary"], world.branch.id, year).secretary_lecture


def test_the_calendar_says_whether_the_secretary_gave_the_years_lecture(world, clock, client, auth):
    created(world.branch, "2025-06-01T00:00:00")
    clock.set("2026-05-10T02:00:00")
    assert year_of(world, 2026).status == "open"
    assert year_of(world, 2025).status == "not_required"  # set up in June
    assert year_of(world, 2027).status == "future"
    lecture(world, "2026-04-20", by="deputy")  # a lecture, but not the secretary's
    assert year_of(world, 2026).status == "open"
    lecture(world, "2026-05-08", by="secretary")
    found = year_of(world, 2026)
    assert (found.status, [d.isoformat() for d in found.given_on]) == ("ok", ["2026-05-08"])
    auth.login("secretary")
    page = client.get(f"/meetings/compliance/{world.branch.id}?year=2026&lang=zh").get_data(
        as_text=True
    )
    assert "书记讲党课" in page and "2026-05-08" in page
    page = client.get(f"/meetings/compliance/{world.branch.id}?year=2026&lang=en").get_data(
        as_text=True
    )
    assert "The secretary's party lecture" in page and "Given on 2026-05-08." in page
    # The API's calendar carries it too (the same service).
    api = client.get(f"/api/v1/compliance?org={world.branch.id}&year=2026").get_json()
    assert api["secretary_lecture"] == {
        "year": 2026,
        "given_on": ["2026-05-08"],
        "status": "ok",
    }
    # A year over without one is missed.
    clock.set("2027-02-01T02:00:00")
    created(world.branch, "2025-01-01T00:00:00")
    assert year_of(world, 2025).status == "missing"
    page = client.get(f"/meetings/compliance/{world.branch.id}?year=2025&lang=en").get_data(
        as_text=True
    )
    assert "Not given in 2025." in page


def test_a_party_committee_or_group_has_no_secretarys_lecture_line(world):
    assert secretary_lecture.of_year(world.committee.id, 2026) is None


def test_tick_reminds_from_the_fourth_quarter_once_and_not_where_it_was_given(world, clock):
    created(world.branch, "2025-06-01T00:00:00")
    created(world.other_branch, "2025-06-01T00:00:00")
    clock.set("2026-09-30T02:00:00")
    assert secretary_lecture.tick().sent == []
    lecture(world, "2026-09-15", by="secretary")  # the branch's secretary gave one
    clock.set("2026-10-01T02:00:00")
    assert secretary_lecture.tick().sent == [world.other_branch.id]
    assert secretary_lecture.tick().sent == []  # once a year
    notes = list(
        db.session.execute(
            select(Notification).where(Notification.kind == "secretary_lecture_due")
        ).scalars()
    )
    assert {n.user_id for n in notes} == {world["other_secretary"].id}
    assert "has not given a party lecture this year (2026)" in notifications.text(notes[0], "en")
    assert "党课" in notifications.text(notes[0], "zh")
    assert "obligation_reminder" in audit_actions()
    assert audit.verify_database().ok


def test_a_lecture_counts_while_its_presenter_is_an_active_secretary(world, clock):
    created(world.branch, "2025-06-01T00:00:00")
    clock.set("2026-05-10T02:00:00")
    lecture(world, "2026-05-08", by="secretary")
    assert year_of(world, 2026).status == "ok"
    world["secretary"].active = False  # the account closed: no longer the branch's secretary
    db.session.commit()
    assert year_of(world, 2026).status == "open"


def test_a_dissolved_branch_owes_no_lecture(world, clock):
    created(world.branch, "2025-06-01T00:00:00")
    world.branch.active = False
    db.session.commit()
    assert year_of(world, 2026).status == "not_required"


def test_a_branch_without_a_secretary_keeps_its_reminder_for_when_one_is_appointed(world, clock):
    from pbflow.models import RoleAssignment

    created(world.other_branch, "2025-06-01T00:00:00")
    created(world.branch, "2025-06-01T00:00:00")
    clock.set("2026-09-20T02:00:00")
    lecture(world, "2026-09-15", by="secretary")
    held = db.session.execute(
        select(RoleAssignment).where(RoleAssignment.org_id == world.other_branch.id)
    ).scalars()
    for role in held:
        db.session.delete(role)
    db.session.commit()
    clock.set("2026-10-01T02:00:00")
    assert secretary_lecture.tick().sent == []  # no one to remind: no mark either
    db.session.add(
        RoleAssignment(
            user_id=world["other_secretary"].id, org_id=world.other_branch.id, role="secretary"
        )
    )
    db.session.commit()
    assert secretary_lecture.tick().sent == [world.other_branch.id]


def test_one_branch_failing_does_not_hold_back_the_others(world, clock, monkeypatch):
    created(world.branch, "2025-06-01T00:00:00")
    created(world.other_branch, "2025-06-01T00:00:00")
    real = secretary_lecture.remind_once

    def failing_for_the_first(key, **kw):
        if kw["org_id"] == world.branch.id:
            raise RuntimeError("mail queue down")
        return real(key, **kw)

    monkeypatch.setattr(secretary_lecture, "remind_once", failing_for_the_first)
    clock.set("2026-10-01T02:00:00")
    report = secretary_lecture.tick()
    assert report.sent == [world.other_branch.id]
    assert [org for org, _problem in report.failed] == [world.branch.id]
    monkeypatch.undo()
    assert secretary_lecture.tick().sent == [world.branch.id]  # retried, then sent
