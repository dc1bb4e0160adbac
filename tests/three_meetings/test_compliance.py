"""The compliance calendar of "three meetings and one lesson" and its timer: required, held,
missing per month and quarter; reminders before a period ends and misses after, once."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import select

from pbflow.engine.errors import NotAllowed
from pbflow.extensions import db
from pbflow.models import ComplianceNotice, Notification
from pbflow.procedures.three_meetings import compliance
from pbflow.procedures.three_meetings import services as meetings
from pbflow.procedures.three_meetings.services import MeetingInput
from pbflow.services import accounts
from tests.conftest import audit_actions, make_user
from tests.three_meetings.helpers import chair_and_recorder


def created(org, when: str) -> None:
    org.created_at = datetime.fromisoformat(when)
    db.session.commit()


def hold(world, mtype: str, on: str, org=None) -> None:
    org = org or world.branch
    meetings.record_meeting(
        world["secretary"],
        org.id,
        MeetingInput(
            meeting_type=mtype,
            held_on=on,
            topic=f"{mtype} {on}",
            # Everyone who should attend: a general or committee meeting needs its quorum.
            present=[str(p.id) for p in meetings.expected_attendees(org.id, mtype)],
            **chair_and_recorder(
                org.id, mtype, [p.id for p in meetings.expected_attendees(org.id, mtype)]
            ),
        ),
    )


def cells(cal, mtype: str) -> dict[str, tuple[int, int, str]]:
    (row,) = [r for r in cal.rows if r.meeting_type == mtype]
    return {c.label: (c.required, c.held, c.status) for c in row.cells}


def test_calendar_counts_across_month_and_quarter_boundaries(world, clock):
    created(world.branch, "2025-01-01T00:00:00")
    clock.set("2026-01-31T04:00:00")
    hold(world, "theme_day", "2026-01-31")
    clock.set("2026-04-01T04:00:00")
    hold(world, "theme_day", "2026-02-01")
    hold(world, "general_meeting", "2026-03-31")
    hold(world, "general_meeting", "2026-04-01")
    clock.set("2026-05-10T04:00:00")

    cal = compliance.calendar(world["gb_secretary"], world.branch.id, 2026)
    theme = cells(cal, "theme_day")
    assert theme["2026-01"] == (1, 1, "ok")
    assert theme["2026-02"] == (1, 1, "ok")
    assert theme["2026-03"] == (1, 0, "missing")
    assert theme["2026-05"] == (1, 0, "open")
    assert theme["2026-06"] == (1, 0, "future")
    general = cells(cal, "general_meeting")
    assert general == {
        "2026 Q1": (1, 1, "ok"),
        "2026 Q2": (1, 1, "ok"),
        "2026 Q3": (1, 0, "future"),
        "2026 Q4": (1, 0, "future"),
    }
    assert cells(cal, "party_lecture")["2026 Q1"] == (1, 0, "missing")
    # The branch has a committee member, so its monthly committee meeting is required ...
    assert cells(cal, "committee_meeting")["2026-04"] == (1, 0, "missing")
    # ... the other branch has none, so it owes no committee meeting.
    other = compliance.calendar(world["committee_a"], world.other_branch.id, 2026)
    assert "committee_meeting" not in {r.meeting_type for r in other.rows}
    assert cal.missing == 2 + 1 + 4  # theme Mar+Apr, lecture Q1, committee Jan-Apr


def test_a_committee_meeting_is_owed_where_a_committee_post_is_held(world, clock):
    """The monthly committee meeting is owed by a branch with a committee: a post besides the
    secretaries' (an organizing member's, or a committee member's) held on an active account.
    The world's branch has its committee member; deactivated, the branch owes none."""

    def owes(org) -> bool:
        cal = compliance.calendar(world["committee_a"], org.id, 2026)
        return "committee_meeting" in {r.meeting_type for r in cal.rows}

    b2 = world.other_branch
    assert owes(world.branch) and not owes(b2)
    make_user("b2_deputy", [(b2, "deputy_secretary")])
    assert not owes(b2)
    make_user("b2_organizing", [(b2, "organizing_member")])
    assert owes(b2)
    accounts.set_active(world["branch_member"], False, actor=world["admin"])
    assert not owes(world.branch)


def test_branch_created_mid_quarter_owes_from_the_next_full_period(world, clock):
    created(world.other_branch, "2026-02-10T02:00:00")
    clock.set("2026-07-02T04:00:00")
    cal = compliance.calendar(world["committee_a"], world.other_branch.id, 2026)
    theme = cells(cal, "theme_day")
    assert theme["2026-01"][2] == theme["2026-02"][2] == "not_required"
    assert theme["2026-02"][0] == 0
    assert theme["2026-03"] == (1, 0, "missing")
    general = cells(cal, "general_meeting")
    assert general["2026 Q1"] == (0, 0, "not_required")
    assert general["2026 Q2"] == (1, 0, "missing")
    assert general["2026 Q3"] == (1, 0, "open")


@pytest.mark.parametrize(
    "today",
    ["2026-03-31", "2026-04-01", "2026-06-30", "2026-07-01", "2026-12-31", "2025-12-31"],
)
def test_every_cell_reads_as_obligation_status_says(world, clock, today):
    """The obligations' loop works out each cell's status from where its period stands
    against today, worked out once per period (a committee's year is thousands of cells);
    each must read as ``obligation_status`` reads it, on a period's first and last day, for
    a branch set up mid-quarter, held or not."""
    from pbflow.services.periods import obligation_status

    created(world.branch, "2026-02-10T02:00:00")
    clock.set("2026-05-20T04:00:00")
    hold(world, "theme_day", "2026-03-31")
    hold(world, "general_meeting", "2026-04-01")
    clock.set(f"{today}T04:00:00")
    day = date.fromisoformat(today)
    owed = compliance.obligations(
        [world.branch.id, world.other_branch.id], date(2026, 1, 1), date(2026, 12, 31), day
    )
    born = {
        world.branch.id: date(2026, 2, 10),
        world.other_branch.id: compliance._first_day(world.other_branch.created_at),
    }
    seen = set()
    for oid, rows in owed.items():
        for o in rows:
            for c in o.cells:
                expected = obligation_status(c.start, c.end, born[oid], day, o.times, c.held)
                assert c.status == expected, (oid, o.key, c.label)
                assert c.required == (0 if expected == "not_required" else o.times)
                seen.add(c.status)
    # the cases the walk meant to reach (the year before: all of 2026 is yet to come)
    assert "not_required" in seen and ("ok" in seen) == (day.year == 2026)


def test_party_groups_have_their_own_monthly_meeting(world, clock):
    group = accounts.create_org("g1", "第一党小组", "party_group", world.branch)
    created(group, "2026-01-01T00:00:00")
    leader = make_user("leader", [(group, "group_leader")], person_org=group)
    meetings.record_meeting(
        leader,
        group.id,
        MeetingInput(
            meeting_type="group_meeting",
            held_on="2026-02-15",
            topic="小组学习",
            present=[str(leader.person.id)],
            chair=str(leader.person.id),
            recorder=str(leader.person.id),
        ),
    )
    clock.set("2026-03-10T04:00:00")
    cal = compliance.calendar(world["secretary"], world.branch.id, 2026)
    (g,) = cal.groups
    assert g.org.id == group.id
    assert cells(g, "group_meeting")["2026-01"] == (1, 0, "missing")
    assert cells(g, "group_meeting")["2026-02"] == (1, 1, "ok")
    assert [r.meeting_type for r in g.rows] == ["group_meeting"]


def notices(org_id: int) -> list[tuple[str, str, date]]:
    return [
        (n.kind, n.meeting_type, n.period_start)
        for n in db.session.execute(
            select(ComplianceNotice)
            .where(ComplianceNotice.org_id == org_id)
            .order_by(ComplianceNotice.id)
        ).scalars()
    ]


def test_tick_reminds_before_the_period_ends_and_records_misses_once(world, clock):
    created(world.branch, "2026-01-01T00:00:00")
    hold(world, "theme_day", "2026-01-20")
    hold(world, "committee_meeting", "2026-01-21")
    hold(world, "committee_meeting", "2026-02-21")
    clock.set("2026-03-24T02:00:00")
    report = compliance.tick()
    assert notices(world.branch.id) == [("miss", "theme_day", date(2026, 2, 1))]
    assert report.reminded == []

    clock.set("2026-03-25T02:00:00")  # the last seven days of March and of Q1
    report = compliance.tick()
    assert sorted(t for _o, t, _s in report.reminded if _o == world.branch.id) == [
        "committee_meeting",
        "general_meeting",
        "party_lecture",
        "theme_day",
    ]
    # The other branch was created on 2026-03-02 (mid-month): March is not its period yet.
    assert notices(world.other_branch.id) == []
    again = compliance.tick()
    assert again.reminded == [] and again.missed == []

    reminded = db.session.execute(
        select(Notification.user_id).where(Notification.kind == "meeting_reminder")
    ).scalars()
    assert set(reminded) == {world["secretary"].id, world["deputy"].id}

    clock.set("2026-03-26T04:00:00")
    hold(world, "theme_day", "2026-03-26")
    # 2026-04-01 00:30 in Beijing is still 31 March in UTC: the local date decides.
    clock.set("2026-03-31T16:30:00")
    report = compliance.tick()
    missed = sorted((t, s) for o, t, s in report.missed if o == world.branch.id)
    assert missed == [
        ("committee_meeting", date(2026, 3, 1)),
        ("general_meeting", date(2026, 1, 1)),
        ("party_lecture", date(2026, 1, 1)),
    ]
    assert compliance.tick().missed == []
    escalated = db.session.execute(
        select(Notification.user_id).where(Notification.kind == "meeting_miss")
    ).scalars()
    assert world["gb_secretary"].id in set(escalated)
    actions = audit_actions()
    assert actions.count("meeting_missed") == 4 and actions.count("meeting_reminder") == 4

    cal = compliance.calendar(world["secretary"], world.branch.id, 2026)
    march = [c for c in cal.rows if c.meeting_type == "theme_day"][0].cells[2]
    assert march.status == "ok" and march.reminded_at is not None and march.missed_at is None


def test_remind_days_is_an_organization_setting(world, clock):
    created(world.branch, "2026-01-01T00:00:00")
    world.general_branch.settings = {"three_meetings": {"remind_days": 10}}
    db.session.commit()
    clock.set("2026-01-22T02:00:00")  # 10 days before the end of January
    report = compliance.tick()
    assert "theme_day" in {t for o, t, _s in report.reminded if o == world.branch.id}


def test_requirements_are_configurable_per_organization_and_audited(world, clock):
    created(world.branch, "2025-01-01T00:00:00")
    with pytest.raises(NotAllowed):
        compliance.set_requirement(
            world["secretary"], world.general_branch.id, "theme_day", "quarter", 2
        )
    compliance.set_requirement(
        world["committee_a"], world.general_branch.id, "theme_day", "quarter", 2
    )
    compliance.set_requirement(world["committee_a"], world.branch.id, "party_lecture", "year", 0)
    reqs = compliance.requirements([world.branch.id, world.other_branch.id])
    assert reqs[world.branch.id]["theme_day"] == ("quarter", 2)
    assert "party_lecture" not in reqs[world.branch.id]
    assert reqs[world.other_branch.id]["theme_day"] == ("month", 1)
    assert audit_actions().count("meeting_requirement_set") == 2
    clock.set("2026-02-10T04:00:00")
    hold(world, "theme_day", "2026-01-05")
    cal = compliance.calendar(world["secretary"], world.branch.id, 2026)
    assert cells(cal, "theme_day")["2026 Q1"] == (2, 1, "open")


def test_pbflow_tick_runs_the_compliance_timer_too(world, runner):
    created(world.branch, "2026-01-01T00:00:00")
    runner.invoke(args=["pbflow", "rehearsal", "start"])  # --now only on a rehearsal copy
    result = runner.invoke(args=["pbflow", "tick", "--now", "2026-03-25T02:00:00"])
    assert result.exit_code == 0, result.output
    assert "meetings: reminded 4, missed 4" in result.output
    result = runner.invoke(args=["pbflow", "tick", "--now", "2026-03-25T03:00:00"])
    assert "meetings: reminded 0, missed 0" in result.output
