"""A full round for three branches with known records (see helpers): every computed score,
the assessors' scores, the veto, the star levels, the review, the committee's vote,
publication, an appeal upheld and a second one refused, closing, rewards and penalties; and
the refusals on the way (wrong role, wrong state, rule not met, bad input)."""

from __future__ import annotations

from datetime import date

import pytest

from pbflow.engine import votes
from pbflow.engine.errors import (
    GuardRefused,
    InvalidState,
    NotAllowed,
    NotFound,
    ValidationFailed,
)
from pbflow.extensions import db
from pbflow.models import AssessmentAward, Notification, ProcessInstance
from pbflow.procedures.assessment import rounds
from pbflow.procedures.assessment import scheme as schemes
from pbflow.procedures.satisfaction import services as survey
from pbflow.services import notifications
from tests.assessment import helpers
from tests.assessment.helpers import fire
from tests.conftest import audit_actions


@pytest.fixture
def known(world, clock):
    return helpers.build(world, clock)


def _survey(known, clock):
    clock.set("2026-03-20T02:00:00")
    made = survey.create(
        known["committee_a"],
        known.committee.id,
        title="2026年一季度满意度测评",
        year=2026,
        quarter=1,
        sample_size=2,
        min_count=2,
        closes_on=date(2026, 3, 31),
    )
    b1, b2 = known.orgs["b1"].id, known.orgs["b2"].id
    assert [len(made.codes[b]) for b in (b1, b2, known.orgs["b3"].id)] == [2, 1, 1]
    clock.set("2026-03-25T02:17:00")
    labels = ("organization", "service", "conduct")
    survey.answer(made.codes[b1][0], dict(zip(labels, (5, 5, 5), strict=True)), "c1")
    survey.answer(made.codes[b1][1], dict(zip(labels, (5, 4, 2), strict=True)), "c2")
    survey.answer(made.codes[b2][0], dict(zip(labels, (1, 1, 1), strict=True)), "c3")
    return made


def _scores(result) -> dict[str, float]:
    return {k: v["score"] for k, v in result.scores.items()}


def test_a_full_round(known, clock):
    a, b, c = known["committee_a"], known["committee_b"], known["committee_c"]
    organizer, secretary = known["organizer"], known["secretary"]
    b1, b2, b3 = (known.orgs[k].id for k in ("b1", "b2", "b3"))
    _survey(known, clock)

    clock.set("2026-04-02T02:00:00")
    schemes.save(a, 2026, schemes.DEFAULT)
    # Not before the quarter is over, not without the committee's role.
    with pytest.raises(NotAllowed):
        rounds.open_round(secretary, known.committee.id, 2026, 1)
    with pytest.raises(ValidationFailed):
        rounds.open_round(a, known.committee.id, 2026, 2)
    with pytest.raises(ValidationFailed):
        rounds.open_round(a, known.committee.id, 2026, 1, [known.committee.id])
    case = rounds.open_round(a, known.committee.id, 2026, 1)
    rid = case.id
    with pytest.raises(ValidationFailed):  # one round per period
        rounds.open_round(a, known.committee.id, 2026, 1)
    assert case.state == "self_assessment"
    r = rounds.get(a, rid)
    assert [x.org_id for x in r.results] == sorted([b1, b2, b3])
    computed = {
        b1: {
            "three_meetings": 26.25,
            "rectification": 5.0,
            "opinions": 7.5,
            "satisfaction": 12.5,
            "development": 10.0,
            "notices": 10.0,
        },
        b2: {
            "three_meetings": 30.0,
            "rectification": 10.0,
            "opinions": 15.0,
            "satisfaction": 15.0,
            "development": 10.0,
            "notices": 5.0,
        },
        b3: {
            "three_meetings": 30.0,
            "rectification": 10.0,
            "opinions": 15.0,
            "satisfaction": 15.0,
            "development": 10.0,
            "notices": 10.0,
        },
    }
    got = {x.org_id: _scores(x) for x in r.results}
    assert got[b1] == computed[b1]
    assert got[b2] == computed[b2]
    assert got[b3] == computed[b3]
    # The figures behind each computed score, with their records.
    fig = r.result_of(b1).scores["three_meetings"]["computed"]
    assert (fig["done"], fig["owed"], fig["source"]) == (7, 8, "meetings")
    assert fig["links"][0][1] == "meetings.index"
    sat = r.result_of(b1).scores["satisfaction"]["computed"]
    assert (sat["done"], sat["owed"], sat["source"]) == (5, 6, "survey")
    sat2 = r.result_of(b2).scores["satisfaction"]["computed"]
    assert (sat2["owed"], sat2["source"]) == (0, "opinions")  # the survey's one is hidden
    notes = r.result_of(b2).scores["notices"]["computed"]
    assert (notes["done"], notes["owed"]) == (1, 2)

    # --- self-assessment: the branch's secretary, only now
    with pytest.raises(NotAllowed):
        rounds.self_assess(known["member"], rid, b1, "自评", "")
    with pytest.raises(ValidationFailed):
        rounds.self_assess(secretary, rid, b1, "  ", "")
    with pytest.raises(NotFound):
        rounds.self_assess(secretary, rid + 1000, b1, "自评", "")
    rounds.self_assess(secretary, rid, b1, "按要求开展组织生活。", "会议记录见系统")
    with pytest.raises(InvalidState):  # not scoring yet
        rounds.score(a, rid, b1, "party_building", 9, "特色鲜明")
    with pytest.raises(NotAllowed):
        fire(rid, "start_scoring", secretary)
    fire(rid, "start_scoring", a)
    with pytest.raises(InvalidState):  # too late for the self-assessment
        rounds.self_assess(secretary, rid, b1, "补充", "")

    # --- the assessors
    with pytest.raises(NotAllowed):
        rounds.score(secretary, rid, b1, "party_building", 10, "自己打分")
    with pytest.raises(ValidationFailed):
        rounds.score(a, rid, b1, "party_building", 11, "超过满分")
    with pytest.raises(ValidationFailed):
        rounds.score(a, rid, b1, "party_building", "九", "不是数字")
    with pytest.raises(ValidationFailed):
        rounds.score(a, rid, b1, "party_building", 9, "")
    with pytest.raises(ValidationFailed):
        rounds.score(a, rid, b1, "three_meetings", 30, "算出来的")
    with pytest.raises(ValidationFailed):
        rounds.score(a, rid, b1, "nonsense", 3, "?")
    rounds.score(a, rid, b1, "party_building", 9, "特色鲜明")
    rounds.score(b, rid, b2, "party_building", "9", "成效明显")
    with pytest.raises(GuardRefused):  # b3 not scored yet
        fire(rid, "submit_for_review", a)
    rounds.score(a, rid, b3, "party_building", 10, "工作突出")
    with pytest.raises(ValidationFailed):
        rounds.set_veto(a, rid, b3, "nonsense", True, "?")
    rounds.set_veto(a, rid, b3, "serious_violation", True, "支部书记严重违纪，已立案")
    fire(rid, "submit_for_review", a)

    r = rounds.get(a, rid)
    totals = {x.org_id: (x.total, x.passed, x.stars) for x in r.results}
    assert totals[b1] == (80.25, True, 3)
    assert totals[b2] == (94.0, True, 4)
    b3_total = sum(_scores(r.result_of(b3)).values())
    assert b3_total == 100.0  # everything held, nothing owed elsewhere, full marks by hand
    assert totals[b3] == (59, False, 0)  # the veto caps it whatever the score
    assert [x.org_id for x in r.ranked()] == [b2, b1, b3]

    # --- review and the committee's vote (the scheme says the committee votes)
    with pytest.raises(NotAllowed):
        fire(rid, "review_to_vote", a)
    with pytest.raises(GuardRefused):
        fire(rid, "review_passed", organizer)
    fire(rid, "review_to_vote", organizer)
    assert votes.cast_ballot(rid, a, "for") is None
    with pytest.raises(NotAllowed):
        votes.cast_ballot(rid, secretary, "for")
    assert votes.cast_ballot(rid, b, "for") == "passed"
    assert db.session.get(ProcessInstance, rid).state == "approved"

    # --- results are hidden from the branches until published
    seen = rounds.get(secretary, rid)
    assert [x.org_id for x in seen.results] == [b1] and not seen.published
    with pytest.raises(GuardRefused):  # an appeal before publication
        rounds.appeal(secretary, rid, b1, "不服")
    fire(rid, "publish", a)
    case = db.session.get(ProcessInstance, rid)
    assert case.state == "published"
    assert case.data["published_on"] == "2026-04-02"
    assert case.data["appeal_until"] == "2026-04-12"
    with pytest.raises(GuardRefused):  # the time for appeals runs on
        fire(rid, "close", a)
    # The branches were told: the round opened, their result published.
    inbox = {n.kind: n for n in db.session.query(Notification).filter_by(user_id=secretary.id)}
    assert inbox["assessment_opened"].params["round_id"] == rid
    assert inbox["assessment_published"].params["total"] == 80.25
    assert "80.25 points, 3 stars" in notifications.text(inbox["assessment_published"], "en")

    # --- one appeal per branch, within the time limit, decided and audited
    clock.set("2026-04-05T02:00:00")
    with pytest.raises(NotAllowed):
        rounds.appeal(known["member"], rid, b1, "不服")
    appeal = rounds.appeal(secretary, rid, b1, "党建特色材料未被采纳", "party_building")
    with pytest.raises(GuardRefused):
        rounds.appeal(known["deputy"], rid, b1, "再次申诉")
    with pytest.raises(NotAllowed):
        fire(appeal.id, "uphold", secretary, {"decision": "自己批"})
    with pytest.raises(ValidationFailed):
        fire(
            appeal.id,
            "uphold",
            a,
            {"decision": "改分", "rescore_criterion": "party_building", "new_score": 12},
        )
    fire(
        appeal.id,
        "uphold",
        c,
        {
            "decision": "补充材料属实，调整为10分",
            "rescore_criterion": "party_building",
            "new_score": 10,
        },
    )
    result = rounds.get(a, rid).result_of(b1)
    assert (result.total, result.stars) == (81.25, 3)
    assert result.scores["party_building"]["justification"] == "补充材料属实，调整为10分"
    assert "assessment_result_adjusted" in audit_actions(rid)
    clock.set("2026-04-13T02:00:00")
    with pytest.raises(GuardRefused):  # b2 is too late
        rounds.appeal(known["other_secretary"], rid, b2, "不服")
    fire(rid, "close", a)
    assert db.session.get(ProcessInstance, rid).state == "closed"

    # --- rewards and penalties, with the decision behind them
    award = rounds.record_award(
        a,
        rounds.AwardInput(b2, "commendation", "评为四星级党支部", "党委会2026年4月13日决定", rid),
    )
    assert award.kind == "commendation"
    with pytest.raises(NotAllowed):
        rounds.record_award(secretary, rounds.AwardInput(b1, "commendation", "自我表扬", "无", rid))
    with pytest.raises(ValidationFailed):
        rounds.record_award(a, rounds.AwardInput(b1, "bonus", "奖金", "决定", rid))
    penalty = rounds.record_award(
        a,
        rounds.AwardInput(
            b3,
            "rectification",
            "一票否决，限期整改",
            "党委会2026年4月13日决定",
            rid,
            problem="支部书记严重违纪",
            measures="开展专题组织生活会，查找问题并整改",
            owner_id=known["b3_secretary"].id,
            deadline="2026-06-30",
        ),
    )
    item = db.session.get(ProcessInstance, penalty.rectification_case_id)
    assert (item.workflow_id, item.org_id, item.state) == ("rectification", b3, "open")
    assert db.session.query(AssessmentAward).count() == 2
    actions = audit_actions(rid)
    for expected in (
        "assessment_round_opened",
        "assessment_self_assessed",
        "assessment_scored",
        "assessment_veto",
        "ballot_cast",
        "assessment_award",
    ):
        assert expected in actions


def test_a_round_keeps_the_scheme_it_started_with(known, clock):
    a = known["committee_a"]
    clock.set("2026-04-02T02:00:00")
    first = schemes.save(a, 2026, schemes.DEFAULT)
    rid = rounds.open_round(a, known.committee.id, 2026, 1).id
    changed = dict(schemes.DEFAULT, pass_mark=70, committee_vote=False)
    second = schemes.save(a, 2026, changed)
    assert (first.version, second.version) == (1, 2)
    assert rounds.get(a, rid).scheme.id == first.id
    assert schemes.current(2026).id == second.id
    # Without a vote, the committee approves directly, not the reviewer who passed it on.
    fire(rid, "start_scoring", a)
    for org in known.orgs.values():
        rounds.score(a, rid, org.id, "party_building", 5, "一般")
    fire(rid, "submit_for_review", a)
    fire(rid, "review_to_vote", known["organizer"])  # the old scheme says: vote
    assert db.session.get(ProcessInstance, rid).state == "committee_vote"
    # The vote fails: back to the assessors.
    assert votes.cast_ballot(rid, a, "against") is None
    assert votes.cast_ballot(rid, known["committee_b"], "against") == "failed"
    assert db.session.get(ProcessInstance, rid).state == "scoring"
    with pytest.raises(ValidationFailed):  # a reason is required
        fire(rid, "cancel", a)
    fire(rid, "cancel", a, comment="方案调整，重新组织")
    assert db.session.get(ProcessInstance, rid).state == "cancelled"
    # A cancelled round frees its period: a new one opens under the current scheme.
    again = rounds.get(a, rounds.open_round(a, known.committee.id, 2026, 1).id)
    assert again.scheme.id == second.id


def test_without_a_vote_the_committee_approves(known, clock):
    a, organizer = known["committee_a"], known["organizer"]
    clock.set("2026-04-02T02:00:00")
    schemes.save(a, 2026, dict(schemes.DEFAULT, committee_vote=False))
    rid = rounds.open_round(a, known.committee.id, 2026, 1).id
    fire(rid, "start_scoring", a)
    for org in known.orgs.values():
        rounds.score(a, rid, org.id, "party_building", 5, "一般")
    fire(rid, "submit_for_review", a)
    with pytest.raises(GuardRefused):
        fire(rid, "review_to_vote", organizer)
    fire(rid, "send_back", organizer, comment="补充评分依据")
    fire(rid, "submit_for_review", a)
    fire(rid, "review_passed", organizer)
    fire(rid, "approve", known["committee_b"])
    assert db.session.get(ProcessInstance, rid).state == "approved"


def test_schemes_are_checked(known):
    a = known["committee_a"]
    bad = dict(schemes.DEFAULT, groups=[dict(schemes.DEFAULT["groups"][0])])
    with pytest.raises(ValidationFailed) as exc:
        schemes.save(a, 2026, bad)
    assert "add up to 40" in exc.value.field_errors["scheme"]
    unknown = schemes.dump(schemes.DEFAULT).replace("measure: notices_on_time", "measure: dues")
    with pytest.raises(ValidationFailed) as exc:
        schemes.parse_text(unknown)
    assert "unknown measure dues" in exc.value.field_errors["scheme"]
    with pytest.raises(ValidationFailed):
        schemes.parse_text("groups: [")
    with pytest.raises(ValidationFailed):
        schemes.parse_text("- just a list")
    with pytest.raises(NotAllowed):
        schemes.save(known["secretary"], 2026, schemes.DEFAULT)
    assert schemes.parse_text(schemes.dump(schemes.DEFAULT)) == schemes.check(schemes.DEFAULT)


def test_a_scheme_is_imported_from_yaml(app, world, runner, tmp_path):
    path = tmp_path / "scheme.yaml"
    path.write_text(schemes.dump(schemes.DEFAULT), encoding="utf-8")
    result = runner.invoke(
        args=["pbflow", "assessment", "import-scheme", str(path), "--year", "2027"]
    )
    assert result.exit_code == 0, result.output
    assert schemes.current(2027).version == 1
    path.write_text("groups: []\n", encoding="utf-8")
    result = runner.invoke(
        args=["pbflow", "assessment", "import-scheme", str(path), "--year", "2027"]
    )
    assert result.exit_code == 1 and "at least one group" in result.output
    assert schemes.current(2027).version == 1
    assert "assessment_scheme_saved" in audit_actions()


def test_a_criterion_may_read_one_question_of_the_survey(known, clock):
    a = known["committee_a"]
    _survey(known, clock)
    clock.set("2026-04-02T02:00:00")
    body = schemes.check(schemes.DEFAULT)
    (crit,) = [c for g in body["groups"] for c in g["criteria"] if c["key"] == "satisfaction"]
    crit["question"] = "conduct"
    schemes.save(a, 2026, body)
    r = rounds.get(a, rounds.open_round(a, known.committee.id, 2026, 1).id)
    b1 = r.result_of(known.orgs["b1"].id).scores["satisfaction"]
    assert (b1["score"], b1["computed"]["done"], b1["computed"]["owed"]) == (7.5, 1, 2)
    # Too few answers in b2: its overall satisfaction (no opinions rated: full marks).
    assert r.result_of(known.orgs["b2"].id).scores["satisfaction"]["score"] == 15.0
    crit["measure"] = "opinions_on_time"
    with pytest.raises(ValidationFailed):
        schemes.save(a, 2026, body)
