"""The assessment's rules at their boundaries (DOMAIN.md section 5): the pass mark of the
default scheme, no commendation for a vetoed or failed result, rewards and penalties announced
to the branch, and the last day of the time for appeals."""

from __future__ import annotations

import pytest

from pbflow.engine import votes
from pbflow.engine.errors import GuardRefused, ValidationFailed
from pbflow.extensions import db
from pbflow.models import AssessmentAward, Notification
from pbflow.procedures.assessment import rounds
from pbflow.procedures.assessment import scheme as schemes
from pbflow.services import notifications
from tests.assessment import helpers
from tests.assessment.helpers import fire
from tests.assessment.test_round import _survey


@pytest.fixture
def known(world, clock):
    return helpers.build(world, clock)


def _published(known, clock, b1_party_building: float, body=None) -> int:
    """A Q1 round over the three branches (b1 scored as given, b2 9, b3 vetoed), published
    on 2 April under the default scheme unless another is given."""
    a = known["committee_a"]
    _survey(known, clock)
    clock.set("2026-04-02T02:00:00")
    schemes.save(a, 2026, body or schemes.DEFAULT)
    rid = rounds.open_round(a, known.committee.id, 2026, 1).id
    fire(rid, "start_scoring", a)
    b1, b2, b3 = (known.orgs[k].id for k in ("b1", "b2", "b3"))
    rounds.score(a, rid, b1, "party_building", b1_party_building, "评定")
    rounds.score(a, rid, b2, "party_building", 9, "评定")
    rounds.score(a, rid, b3, "party_building", 10, "评定")
    rounds.set_veto(a, rid, b3, "serious_violation", True, "严重违纪")
    fire(rid, "submit_for_review", a)
    fire(rid, "review_to_vote", known["organizer"])
    votes.cast_ballot(rid, a, "for")
    votes.cast_ballot(rid, known["committee_b"], "for")
    fire(rid, "publish", a)
    return rid


def test_the_default_pass_mark_is_80_where_three_stars_begin(known, clock):
    assert schemes.DEFAULT["pass_mark"] == 80
    assert (
        schemes.check({k: v for k, v in schemes.DEFAULT.items() if k != "pass_mark"})["pass_mark"]
        == 80
    )
    rid = _published(known, clock, 8.74)  # b1: 71.25 computed + 8.74 = 79.99
    b1 = rounds.get(known["committee_a"], rid).result_of(known.orgs["b1"].id)
    assert (b1.total, b1.passed, b1.stars) == (79.99, False, 0)
    # The boundary itself passes, with the three stars that meet the standard.
    appeal = rounds.appeal(
        known["secretary"], rid, known.orgs["b1"].id, "材料补充", "party_building"
    )
    fire(
        appeal.id,
        "uphold",
        known["committee_c"],
        {"decision": "调整为8.75分", "rescore_criterion": "party_building", "new_score": 8.75},
    )
    b1 = rounds.get(known["committee_a"], rid).result_of(known.orgs["b1"].id)
    assert (b1.total, b1.passed, b1.stars) == (80.0, True, 3)


def test_no_commendation_for_a_vetoed_or_failed_result(known, clock):
    a = known["committee_a"]
    rid = _published(known, clock, 8.74)
    b1, b2, b3 = (known.orgs[k].id for k in ("b1", "b2", "b3"))
    with pytest.raises(ValidationFailed) as exc:  # the veto blocks any good rating
        rounds.record_award(a, rounds.AwardInput(b3, "commendation", "表扬", "党委会决定", rid))
    assert "vetoed or below the pass mark of 80" in exc.value.field_errors["kind"]
    with pytest.raises(ValidationFailed) as exc:  # 79.99: below the pass mark
        rounds.record_award(a, rounds.AwardInput(b1, "commendation", "表扬", "党委会决定", rid))
    assert "79.99 points" in exc.value.field_errors["kind"]
    assert db.session.query(AssessmentAward).count() == 0
    # A penalty for them is recorded; a commendation for a branch that passed is too.
    rounds.record_award(a, rounds.AwardInput(b3, "criticism", "通报批评", "党委会决定", rid))
    rounds.record_award(a, rounds.AwardInput(b2, "commendation", "四星支部", "党委会决定", rid))


def test_rewards_and_penalties_are_announced_to_the_branch(known, clock):
    a = known["committee_a"]
    rid = _published(known, clock, 9)
    rounds.record_award(
        a,
        rounds.AwardInput(
            known.orgs["b1"].id, "commendation", "评为三星级党支部", "党委会4月13日决定", rid
        ),
    )
    told = [
        n
        for n in db.session.query(Notification).filter_by(kind="assessment_award")
        if n.user_id in (known["secretary"].id, known["deputy"].id)
    ]
    assert {n.user_id for n in told} == {known["secretary"].id, known["deputy"].id}
    text = notifications.text(told[0], "en")
    assert "Commendation" in text and "评为三星级党支部" in text and "党委会4月13日决定" in text
    assert not (
        db.session.query(Notification)
        .filter_by(kind="assessment_award", user_id=known["other_secretary"].id)
        .count()
    )


def test_appeals_run_to_the_last_day_and_the_round_closes_the_day_after(known, clock):
    a = known["committee_a"]
    rid = _published(known, clock, 9)  # appeals until 2026-04-12 (10 days)
    clock.set("2026-04-12T15:00:00")  # 23:00 local on the last day
    with pytest.raises(GuardRefused, match="appeal until 2026-04-12"):
        fire(rid, "close", a)
    appeal = rounds.appeal(known["other_secretary"], rid, known.orgs["b2"].id, "不服")
    clock.set("2026-04-13T02:00:00")
    with pytest.raises(GuardRefused, match="ended on 2026-04-12"):
        rounds.appeal(known["secretary"], rid, known.orgs["b1"].id, "不服")
    with pytest.raises(GuardRefused, match="still waiting"):
        fire(rid, "close", a)
    fire(appeal.id, "dismiss", known["committee_c"], comment="评分有据")
    fire(rid, "close", a)
