"""A known world for the assessment: three branches with known meetings, opinions,
rectification items, supervision notices and survey answers in the first quarter of 2026.

Expected figures for Q1 2026 (the scheme is ``scheme.DEFAULT``):

==================  ============================  ==========================  ==========
criterion (max)     b1                            b2                          b3
==================  ============================  ==========================  ==========
three_meetings 30   7 of 8 held -> 26.25          5 of 5 -> 30                5 of 5 -> 30
rectification 10    1 of 2 not overdue -> 5       none -> 10                  none -> 10
opinions 15         1 of 2 on time -> 7.5         none -> 15                  none -> 15
satisfaction 15     survey: 5 of 6 -> 12.5        survey hidden (1 answer),   none -> 15
                                                  no opinions -> 15
development 10      none -> 10                    none -> 10                  none -> 10
notices 10          none -> 10                    1 of 2 on time -> 5         none -> 10
party_building 10   assessors: 9                  assessors: 9                10
total               80.25 -> 3 stars              94 -> 4 stars               veto: 59
==================  ============================  ==========================  ==========
"""

from __future__ import annotations

from datetime import datetime

from pbflow.engine import runtime, votes
from pbflow.extensions import db
from pbflow.models import Escalation
from pbflow.procedures.assessment import rounds
from pbflow.procedures.assessment import scheme as schemes
from pbflow.procedures.supervision import notices
from pbflow.services import accounts
from tests.conftest import make_user
from tests.supervision import helpers as h


def build(world, clock):
    committee, b1, b2 = world.committee, world.branch, world.other_branch
    clock.set("2025-06-01T02:00:00")
    b3 = accounts.create_org("b3", "通风队党支部", "branch", world.general_branch)
    world.users["b3_secretary"] = make_user("b3_secretary", [(b3, "secretary")], person_org=b3)
    world.users["organizer"] = make_user("organizer", [(committee, "organizer")])
    for org in (committee, world.general_branch, b1, b2, b3):
        h.set_up_on(org, "2025-06-01T00:00:00")
    secretary, other, third = world["secretary"], world["other_secretary"], world["b3_secretary"]

    # --- meetings: b1 owes 8 (monthly committee meetings, it has a branch committee member)
    # and misses March's theme day; b2 and b3 owe 5 each and hold them all.
    for day in ("2026-01-08", "2026-02-06", "2026-03-06"):
        h.hold(clock, secretary, b1, "committee_meeting", day)
    h.hold(clock, secretary, b1, "theme_day", "2026-01-15")
    h.hold(clock, secretary, b1, "theme_day", "2026-02-20")
    h.hold(clock, secretary, b1, "general_meeting", "2026-03-25")
    h.hold(clock, secretary, b1, "party_lecture", "2026-03-26")
    for org, who in ((b2, other), (b3, third)):
        for day in ("2026-01-20", "2026-02-20", "2026-03-20"):
            h.hold(clock, who, org, "theme_day", day)
        h.hold(clock, who, org, "general_meeting", "2026-02-12")
        h.hold(clock, who, org, "party_lecture", "2026-02-13")

    # --- opinions of b1: one answered on time and rated 5, one answered late and rated 3
    handler = world["branch_member"]
    a, code_a = h.opinion(clock, "b1", "2026-01-12T02:00:00", "client-a")
    h.answer(clock, a, "2026-01-22T02:00:00", secretary, handler)
    h.submitter(clock, code_a, "accept_answer", {"rating": 5}, "2026-01-23T02:00:00")
    b, code_b = h.opinion(clock, "b1", "2026-02-02T02:00:00", "client-b")
    h.answer(clock, b, "2026-03-10T02:00:00", secretary, handler)
    h.submitter(clock, code_b, "accept_answer", {"rating": 3}, "2026-03-11T02:00:00")

    # --- rectification items of b1: one overdue at the quarter's end, one ticked off
    member = world["member"]
    h.rectification_item(clock, b1, secretary, member, opened="2026-01-05", deadline="2026-02-28")
    r2 = h.rectification_item(
        clock, b1, secretary, member, opened="2026-01-05", deadline="2026-03-20"
    )
    h.tick_off(clock, r2, b1, member, secretary, "2026-03-15")

    # --- supervision notices to b2: one handled in time, one escalated (not acknowledged)
    boss = world["committee_a"]
    for when in ("2026-01-10", "2026-02-10"):
        clock.set(f"{when}T02:00:00")
        notice = notices.issue(
            boss,
            notices.about_org(boss, b2.id),
            {"problem": "问题", "requirement": "要求", "deadline": "2026-03-30"},
        )
    clock.set("2026-02-16T02:00:00")
    db.session.add(
        Escalation(
            instance_id=notice.id,
            state="issued",
            entered_version=1,
            level=1,
            org_id=committee.id,
            due_at=datetime(2026, 2, 25),
            notified=[],
        )
    )
    db.session.commit()
    world.orgs = {"b1": b1, "b2": b2, "b3": b3}
    return world


def fire(case_id, trigger, user, values=None, comment=None):
    return runtime.fire(case_id, trigger, user, values or {}, comment=comment)


def published_round(world, clock) -> int:
    """A Q1 2026 round over b1 and b2, scored, voted and published on 2 April."""
    clock.set("2026-04-02T02:00:00")
    a = world["committee_a"]
    world.users["organizer"] = make_user("organizer", [(world.committee, "organizer")])
    schemes.save(a, 2026, schemes.DEFAULT)
    rid = rounds.open_round(a, world.committee.id, 2026, 1).id
    fire(rid, "start_scoring", a)
    for org, n in ((world.branch, 8), (world.other_branch, 6)):
        rounds.score(a, rid, org.id, "party_building", n, "评定")
    fire(rid, "submit_for_review", a)
    fire(rid, "review_to_vote", world["organizer"])
    votes.cast_ballot(rid, a, "for")
    votes.cast_ballot(rid, world["committee_b"], "for")
    fire(rid, "publish", a)
    return rid
