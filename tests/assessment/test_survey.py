"""Satisfaction surveys: the draw can be checked again from the audit trail, codes are one
time and name nobody, answers are anonymous (no code, no person, the hour only), tries are
rate-limited, and a branch's rates stay hidden below the minimum count."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest
from sqlalchemy import delete, select

from pbflow.engine.errors import InvalidState, NotAllowed, NotFound, ValidationFailed
from pbflow.extensions import db
from pbflow.models import AuditEvent, Person, SurveyAnswer, SurveyCode
from pbflow.procedures.satisfaction import services as survey
from pbflow.services import periods

ALL5 = {"organization": 5, "service": 5, "conduct": 5}


@pytest.fixture
def made(world, clock):
    clock.set("2026-03-20T02:00:00")
    for i in range(8):
        db.session.add(Person(name=f"职工{i}", org_id=world.branch.id, party_status="none"))
    db.session.commit()
    return survey.create(
        world["committee_a"],
        world.committee.id,
        title="满意度测评",
        year=2026,
        quarter=1,
        sample_size=5,
        min_count=3,
        closes_on=date(2026, 3, 31),
    )


def _drawn_event() -> dict:
    raw = db.session.execute(
        select(AuditEvent.payload).where(AuditEvent.action == "survey_drawn")
    ).scalar_one()
    return json.loads(raw) if isinstance(raw, str) else raw


def test_the_draw_is_recorded_and_can_be_checked_again(world, made):
    b1 = world.branch.id
    event = _drawn_event()
    assert event["seed"] == made.survey.seed and event["sample_size"] == 5
    drawn = event["branches"][str(b1)]
    assert len(drawn["population"]) == 4 + 8  # the branch's members and its employees
    assert len(drawn["sample"]) == 5 and set(drawn["sample"]) <= set(drawn["population"])
    assert survey.draw(f"{made.survey.seed}:{b1}", drawn["population"], 5) == drawn["sample"]
    assert survey.recheck(made.survey.id)
    # A branch with fewer people than the sample size: everybody is drawn.
    assert len(event["branches"][str(world.other_branch.id)]["sample"]) == 1
    # No code is kept in clear, nor written to the audit trail.
    codes = made.codes[b1]
    assert len(codes) == 5
    dump = json.dumps(event)
    assert not any(c in dump for c in codes)
    assert all(len(h) == 64 for h in db.session.execute(select(SurveyCode.code_hash)).scalars())


def test_answers_are_anonymous_and_codes_work_once(world, made, clock):
    b1 = world.branch.id
    code = made.codes[b1][0]
    clock.set("2026-03-25T09:41:27")
    slip = survey.open_slip(code, "c1")
    assert slip.org_id == b1
    survey.answer(code.lower().replace("-", " "), ALL5, "c1")
    with pytest.raises(NotFound):
        survey.answer(code, ALL5, "c1")
    (row,) = db.session.execute(select(SurveyAnswer)).scalars()
    assert row.answered_hour == datetime(2026, 3, 25, 9, 0)  # the hour, no finer
    assert row.org_id == b1 and row.ratings == ALL5
    assert db.session.query(SurveyCode).count() == 5 + 1 - 1  # the used code is gone
    event = db.session.execute(
        select(AuditEvent).where(AuditEvent.action == "survey_answered")
    ).scalar_one()
    assert event.actor_user_id is None and event.actor_label == "anonymous"
    assert event.at == datetime(2026, 3, 25, 9, 0)
    assert code.replace("-", "") not in str(event.payload)


def test_one_code_sent_twice_at_once_stores_one_answer(world, made, clock, monkeypatch):
    """Another request uses the code between this one's check and its write: the code's
    DELETE removes nothing, so this answer is refused and nothing of it is stored."""
    code = made.codes[world.branch.id][0]
    clock.set("2026-03-25T09:41:27")
    checked = survey._slip

    def raced(raw_code):
        found = checked(raw_code)
        with db.engine.begin() as other:  # the other request's answer, committed first
            other.execute(delete(SurveyCode).where(SurveyCode.code_hash == found[0].code_hash))
        return found

    monkeypatch.setattr(survey, "_slip", raced)
    with pytest.raises(NotFound):
        survey.answer(code, ALL5, "c1")
    assert db.session.query(SurveyAnswer).count() == 0
    assert not db.session.execute(
        select(AuditEvent).where(AuditEvent.action == "survey_answered")
    ).first()


def test_bad_answers_are_refused(world, made, clock):
    code = made.codes[world.branch.id][0]
    clock.set("2026-03-25T02:00:00")
    with pytest.raises(NotFound):
        survey.answer("AAAA-BBBB-CCCC-DDDD", ALL5, "c1")
    with pytest.raises(NotFound):
        survey.answer("x" * 1000, ALL5, "c1")
    with pytest.raises(ValidationFailed):
        survey.answer(code, {"organization": 6, "service": 5, "conduct": 5}, "c1")
    with pytest.raises(ValidationFailed):
        survey.answer(code, {"organization": 5}, "c1")
    assert db.session.query(SurveyAnswer).count() == 0
    clock.set("2026-04-01T02:00:00")
    with pytest.raises(InvalidState):
        survey.answer(code, ALL5, "c1")


def test_tries_are_rate_limited(world, made, clock, app):
    app.config["PBFLOW_SURVEY_TRIES_LIMIT"] = 3
    clock.set("2026-03-25T02:00:00")
    for _ in range(3):
        with pytest.raises(NotFound):
            survey.open_slip("AAAA-BBBB-CCCC-DDDD", "guesser")
    with pytest.raises(survey.RateLimited):
        survey.open_slip(made.codes[world.branch.id][0], "guesser")
    survey.open_slip(made.codes[world.branch.id][0], "someone-else")


def test_rates_are_hidden_below_the_minimum_count(world, made, clock):
    b1, b2 = world.branch.id, world.other_branch.id
    clock.set("2026-03-25T02:00:00")
    for code, ratings in zip(
        made.codes[b1][:3],
        (ALL5, {"organization": 4, "service": 2, "conduct": 5}, ALL5),
        strict=True,
    ):
        survey.answer(code, ratings, "c")
    survey.answer(made.codes[b2][0], ALL5, "c")
    view = survey.get(world["committee_a"], made.survey.id)
    rates = {br.org_id: br for br in view.branches}
    assert rates[b1].shown and rates[b1].rate("service") == 2 / 3
    assert rates[b1].overall == (8, 9)
    assert not rates[b2].shown and rates[b2].rate("service") is None
    q1 = periods.Period(date(2026, 1, 1), date(2026, 3, 31), "quarter")
    assert survey.survey_satisfaction(world.committee.id, [b1, b2], q1) == {
        b1: (8, 9, made.survey.id, {"organization": (3, 3), "service": (2, 3), "conduct": (3, 3)})
    }
    with pytest.raises(NotFound):
        survey.get(world["other_secretary"], made.survey.id)


def test_only_the_committee_runs_surveys(world, clock):
    clock.set("2026-03-20T02:00:00")
    args = {
        "title": "t",
        "year": 2026,
        "quarter": 1,
        "sample_size": 5,
        "min_count": 3,
        "closes_on": date(2026, 3, 31),
    }
    with pytest.raises(NotAllowed):
        survey.create(world["secretary"], world.committee.id, **args)
    with pytest.raises(NotFound):
        survey.create(world["committee_a"], world.branch.id, **args)
    with pytest.raises(ValidationFailed):
        survey.create(world["committee_a"], world.committee.id, **dict(args, sample_size=0))
    with pytest.raises(ValidationFailed):
        survey.create(
            world["committee_a"], world.committee.id, **dict(args, closes_on=date(2026, 1, 1))
        )


def test_tick_forgets_the_windows_that_are_over(world, made, clock, runner):
    from pbflow.models import RateWindow

    clock.set("2026-03-25T02:00:00")
    survey.open_slip(made.codes[world.branch.id][0], "c1")
    assert db.session.query(RateWindow).count() == 1
    clock.set("2026-03-25T04:00:00")
    result = runner.invoke(args=["pbflow", "tick"])
    assert "satisfaction surveys: forgot" in result.output
    assert db.session.query(RateWindow).count() == 0
