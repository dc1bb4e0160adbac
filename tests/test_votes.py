"""Collective decisions (DOMAIN.md 1.15 and 3): online ballots and recorded meeting
resolutions, counted against everyone who should attend, decided once by the engine."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date

import pytest
from sqlalchemy import func, select

from pbflow import audit
from pbflow.engine import runtime, votes
from pbflow.engine.errors import (
    ConcurrentChange,
    GuardRefused,
    InvalidState,
    NotAllowed,
    ValidationFailed,
)
from pbflow.engine.registry import registry
from pbflow.extensions import db
from pbflow.models import AuditEvent, Ballot, Person, Resolution
from pbflow.services import inbox as inbox_service
from tests.conftest import TEST_WORKFLOWS, audit_actions, make_user, recorded_set_up

pytestmark = pytest.mark.workflows_dir(TEST_WORKFLOWS)


@pytest.fixture
def branch(world):
    """The branch's voting members: 4 full members with accounts (secretary, deputy,
    branch_member, member) and 3 without; plus people who may not vote."""
    for name in ("老张", "老王", "老李"):
        db.session.add(Person(name=name, org_id=world.branch.id, party_status="full"))
    world.users["on_probation"] = make_user(
        "on_probation",
        [(world.branch, "member")],
        person_org=world.branch,
        on_party_probation=True,  # 留党察看: no vote until rights are restored
    )
    world.users["probationary"] = make_user(
        "probationary",
        [(world.branch, "member")],
        person_org=world.branch,
        party_status="probationary",
    )
    world.users["organizer"] = make_user("organizer", [(world.branch, "organizing_member")])
    db.session.add(Person(name="已离开", org_id=world.branch.id, party_status="full", active=False))
    db.session.commit()
    return world


def _motion(world):
    case = runtime.start("motion", world.branch, world["secretary"], {"topic": "换届选举方案"})
    runtime.fire(case.id, "put_to_vote", world["secretary"])
    return case.id


def _events(case_id: int) -> list[AuditEvent]:
    return list(
        db.session.execute(
            select(AuditEvent).where(AuditEvent.instance_id == case_id).order_by(AuditEvent.seq)
        ).scalars()
    )


def _payload(event: AuditEvent) -> dict:
    return json.loads(event.payload) if isinstance(event.payload, str) else event.payload


def _voting_spec():
    return registry().get("motion").states["voting"].vote


# --- the electorate ---------------------------------------------------------------------------


def test_full_members_electorate_excludes_probation_and_non_full_members(branch):
    case = runtime.load_case(_motion(branch))
    vote = _voting_spec()
    voters = votes.electorate_users(vote, case)
    assert voters == sorted(
        branch[n].id for n in ("secretary", "deputy", "branch_member", "member")
    )
    assert votes.should_attend(vote, case, date(2026, 3, 1)) == 7
    for outsider in ("on_probation", "probationary", "organizer", "other_secretary"):
        with pytest.raises(NotAllowed, match="not entitled to vote"):
            votes.cast_ballot(case.id, branch[outsider], "for")
    assert db.session.execute(select(func.count()).select_from(Ballot)).scalar() == 0


def test_the_ballot_waits_in_the_inbox_of_those_entitled_to_cast_it_only(branch):
    """The inbox reads the ballot's task under the branch's members (``m:``), a holder only a
    full member with a vote answers to: not one on party probation, not a probationary one."""
    case_id = _motion(branch)

    def ballot_waits(name: str) -> bool:
        found = inbox_service.inbox(branch[name], "en")
        steps = [s for i in found.items if i.case.id == case_id for s in i.steps]
        return any(s.anchor == "vote" for s in steps)

    assert ballot_waits("member") and ballot_waits("branch_member")
    for outsider in ("on_probation", "probationary", "organizer"):
        assert not ballot_waits(outsider), outsider


def test_someone_not_yet_full_on_the_meeting_day_does_not_count(branch):
    late = db.session.get(Person, branch["member"].person.id)
    late.full_member_on = date(2026, 2, 20)
    recorded_set_up(late)
    db.session.commit()
    case = runtime.load_case(_motion(branch))
    assert votes.should_attend(_voting_spec(), case, date(2026, 2, 19)) == 6
    assert votes.should_attend(_voting_spec(), case, date(2026, 2, 20)) == 7


# --- online ballots ---------------------------------------------------------------------------


def test_ballots_pass_once_more_than_half_of_all_voters_are_for(branch):
    case_id = _motion(branch)
    assert votes.cast_ballot(case_id, branch["secretary"], "for") is None
    assert votes.cast_ballot(case_id, branch["deputy"], "abstain") is None
    assert votes.cast_ballot(case_id, branch["member"], "for") is None  # 2 of 4: not yet
    assert votes.cast_ballot(case_id, branch["branch_member"], "for") == "passed"
    case = runtime.load_case(case_id)
    assert case.state == "carried" and case.closed_at is not None
    events = _events(case_id)
    assert [e.action for e in events] == ["case_started", "transition"] + ["ballot_cast"] * 4 + [
        "transition"
    ]
    decided = events[-1]
    assert decided.actor_label == "system" and decided.actor_user_id is None
    assert (decided.from_state, decided.to_state) == ("voting", "carried")
    assert _payload(decided)["trigger"] == "carry"
    assert audit.verify_database().ok


def test_ballots_fail_as_soon_as_passing_is_impossible(branch):
    case_id = _motion(branch)
    assert votes.cast_ballot(case_id, branch["secretary"], "against") is None
    assert votes.cast_ballot(case_id, branch["deputy"], "abstain") == "failed"
    assert runtime.load_case(case_id).state == "returned"
    assert audit_actions(case_id)[-1] == "transition"
    assert _events(case_id)[-1].actor_label == "system"
    # Decided: the remaining voters find no open vote, and nothing more is fired.
    with pytest.raises(InvalidState, match="No vote is open"):
        votes.cast_ballot(case_id, branch["member"], "for")
    assert audit_actions(case_id).count("transition") == 2


def test_ballot_refusals(branch):
    case = runtime.start("motion", branch.branch, branch["secretary"], {"topic": "议题"})
    with pytest.raises(InvalidState, match="No vote is open"):
        votes.cast_ballot(case.id, branch["secretary"], "for")
    runtime.fire(case.id, "put_to_vote", branch["secretary"])
    with pytest.raises(ValidationFailed) as exc:
        votes.cast_ballot(case.id, branch["secretary"], "yes")
    assert exc.value.field_errors == {"choice": "is not one of the choices"}
    votes.cast_ballot(case.id, branch["secretary"], "for")
    head = audit.head()
    with pytest.raises(InvalidState, match="already voted"):
        votes.cast_ballot(case.id, branch["secretary"], "against")
    assert audit.head() == head
    status = votes.status(runtime.load_case(case.id))
    assert status.voted == {branch["secretary"].id: "for"}
    assert set(status.not_voted) == {branch[n].id for n in ("deputy", "branch_member", "member")}


def test_a_person_may_not_fire_the_outcome_themselves(branch):
    case_id = _motion(branch)
    with pytest.raises(NotAllowed):
        runtime.fire(case_id, "carry", branch["secretary"])


def test_voting_again_starts_a_new_round(branch):
    case_id = _motion(branch)
    votes.cast_ballot(case_id, branch["secretary"], "against")
    votes.cast_ballot(case_id, branch["deputy"], "against")
    assert runtime.load_case(case_id).state == "returned"
    runtime.fire(case_id, "put_again", branch["secretary"])
    case = runtime.load_case(case_id)
    assert votes.status(case).voted == {}
    # The same people vote again in the new round; the old round's ballots stay recorded.
    for name in ("secretary", "deputy"):
        assert votes.cast_ballot(case_id, branch[name], "for") is None
    assert votes.cast_ballot(case_id, branch["member"], "for") == "passed"
    rounds = db.session.execute(
        select(Ballot.round, func.count())
        .where(Ballot.instance_id == case_id)
        .group_by(Ballot.round)
    ).all()
    assert sorted(n for _, n in rounds) == [2, 3]


def test_a_meeting_only_vote_refuses_ballots_and_the_reverse(branch, monkeypatch):
    case_id = _motion(branch)
    vote = _voting_spec()
    d = registry().get("motion")
    monkeypatch.setitem(
        d.states, "voting", replace(d.states["voting"], vote=replace(vote, mode=("meeting",)))
    )
    with pytest.raises(InvalidState, match="taken at a meeting"):
        votes.cast_ballot(case_id, branch["secretary"], "for")
    monkeypatch.setitem(
        d.states, "voting", replace(d.states["voting"], vote=replace(vote, mode=("ballot",)))
    )
    with pytest.raises(InvalidState, match="taken online"):
        _record(branch, case_id, attended=5, votes_for=5)


# --- meeting resolutions ----------------------------------------------------------------------


def _record(world, case_id, who="secretary", **counts):
    values = {
        "meeting_date": "2026-03-01",
        "attended": 5,
        "votes_for": 0,
        "votes_against": 0,
        "votes_abstain": 0,
    }
    values.update(counts)
    return votes.record_resolution(case_id, world[who], **values)


def test_most_of_those_present_is_not_enough(branch):
    """3 of 5 present say yes, but 3 is not more than half of the 7 who should attend."""
    case_id = _motion(branch)
    assert _record(branch, case_id, attended=5, votes_for=3, votes_against=2) == "failed"
    assert runtime.load_case(case_id).state == "returned"
    resolution = db.session.execute(select(Resolution)).scalar_one()
    assert (resolution.should_attend, resolution.attended, resolution.outcome) == (7, 5, "failed")
    events = _events(case_id)
    assert [e.action for e in events[-2:]] == ["resolution_recorded", "transition"]
    assert events[-1].actor_label == "system"
    assert _payload(events[-2])["should_attend"] == 7


def test_an_absentees_written_opinion_can_tip_the_count(branch):
    case_id = _motion(branch)
    outcome = _record(branch, case_id, attended=5, votes_for=3, votes_against=2, written_for=1)
    assert outcome == "passed"
    case = runtime.load_case(case_id)
    assert case.state == "carried"
    assert case.data["last_resolution_date"] == "2026-03-01"


def test_resolution_refusals_write_nothing(branch):
    case_id = _motion(branch)
    head = audit.head()
    with pytest.raises(GuardRefused, match="No quorum: 3 of 7"):
        _record(branch, case_id, attended=3, votes_for=3)
    cases = [
        ({"attended": 8, "votes_for": 8}, "attended", "cannot exceed the 7 who should attend"),
        ({"attended": 5, "votes_for": 4, "votes_against": 2}, "votes_for", "more votes than"),
        (
            {"attended": 6, "votes_for": 4, "written_for": 1, "written_against": 1},
            "written_for",
            "more written opinions than absent members",
        ),
        ({"meeting_date": "2026-03-03", "votes_for": 5}, "meeting_date", "cannot be in the future"),
        ({"meeting_date": "yesterday"}, "meeting_date", "must be a date like 2026-03-01"),
        ({"votes_against": -1}, "votes_against", "must be a whole number, 0 or more"),
        ({"votes_for": True}, "votes_for", "must be a whole number, 0 or more"),
    ]
    for counts, field, message in cases:
        with pytest.raises(ValidationFailed) as exc:
            _record(branch, case_id, **counts)
        assert message in exc.value.field_errors[field], counts
    assert audit.head() == head
    assert db.session.execute(select(func.count()).select_from(Resolution)).scalar() == 0
    assert runtime.load_case(case_id).state == "voting"
    # Quorum exactly met (4 of 7) with 4 for: passes.
    assert _record(branch, case_id, attended=4, votes_for=4) == "passed"
    with pytest.raises(InvalidState, match="No vote is open"):
        _record(branch, case_id, attended=4, votes_for=4)


def test_who_may_record_a_resolution(branch):
    for who in ("branch_member", "member", "other_secretary", "gb_secretary", "committee_a"):
        case_id = _motion(branch)
        with pytest.raises(NotAllowed, match="Only the secretary"):
            _record(branch, case_id, who=who, votes_for=5)
    for who in ("secretary", "deputy", "organizer"):
        case_id = _motion(branch)
        assert _record(branch, case_id, who=who, votes_for=5) == "passed"
        resolution = db.session.execute(
            select(Resolution).where(Resolution.instance_id == case_id)
        ).scalar_one()
        assert resolution.recorded_by == branch[who].id


def test_a_stale_form_cannot_record(branch):
    case_id = _motion(branch)
    version = runtime.load_case(case_id).version
    with pytest.raises(ConcurrentChange):
        votes.record_resolution(
            case_id,
            branch["secretary"],
            meeting_date="2026-03-01",
            attended=5,
            votes_for=5,
            votes_against=0,
            votes_abstain=0,
            expected_version=version - 1,
        )


# --- two thirds, voted by the party committee -------------------------------------------------


def test_two_thirds_at_a_committee_meeting(branch):
    def committee_case():
        return runtime.start("committee_motion", branch.branch, branch["secretary"]).id

    case_id = committee_case()
    with pytest.raises(GuardRefused, match="No quorum: 1 of 3") as exc:
        _record(branch, case_id, who="committee_a", attended=1, votes_for=1)
    # The reason names the share this vote needs, not the general meeting's "more than half".
    assert "at least two thirds must attend" in exc.value.message
    # The branch secretary is not a recorder of the committee's vote.
    with pytest.raises(NotAllowed):
        _record(branch, case_id, who="secretary", attended=2, votes_for=2)
    assert _record(branch, case_id, who="committee_a", attended=2, votes_for=2) == "passed"
    assert runtime.load_case(case_id).state == "approved"

    case_id = committee_case()
    assert _record(
        branch, case_id, who="committee_b", attended=3, votes_for=1, votes_against=2
    ) == ("failed")
    assert runtime.load_case(case_id).state == "refused"


def test_two_thirds_by_ballot(branch):
    case_id = runtime.start("committee_motion", branch.branch, branch["secretary"]).id
    assert votes.cast_ballot(case_id, branch["committee_a"], "for") is None
    assert votes.cast_ballot(case_id, branch["committee_b"], "against") is None  # 2 of 3 possible
    assert votes.cast_ballot(case_id, branch["committee_c"], "for") == "passed"

    case_id = runtime.start("committee_motion", branch.branch, branch["secretary"]).id
    with pytest.raises(NotAllowed):  # the branch secretary is not on the committee
        votes.cast_ballot(case_id, branch["secretary"], "for")
    assert votes.cast_ballot(case_id, branch["committee_a"], "against") is None
    assert votes.cast_ballot(case_id, branch["committee_b"], "abstain") == "failed"
    assert runtime.load_case(case_id).state == "refused"


def test_threshold_arithmetic():
    from pbflow.engine.definitions import VoteSpec

    half = VoteSpec(("ballot",), "full_members", "p", "f")
    thirds = VoteSpec(("ballot",), "full_members", "p", "f", "two_thirds", "two_thirds")
    assert votes.quorum_met(half, 4, 7) and not votes.quorum_met(half, 3, 7)
    assert not votes.quorum_met(half, 3, 6) and votes.quorum_met(half, 4, 6)
    assert votes.quorum_met(thirds, 4, 6) and not votes.quorum_met(thirds, 3, 6)
    assert votes.quorum_met(thirds, 5, 7) and not votes.quorum_met(thirds, 4, 7)
    assert votes.ballot_outcome(half, 6, 3, 3) is None
    assert votes.ballot_outcome(half, 6, 4, 4) == "passed"
    assert votes.ballot_outcome(half, 6, 0, 3) == "failed"
    assert votes.ballot_outcome(thirds, 6, 4, 4) == "passed"
    assert votes.ballot_outcome(thirds, 6, 3, 4) is None
    assert votes.ballot_outcome(thirds, 6, 3, 5) is None  # the last voter could make it 4
    assert votes.ballot_outcome(thirds, 6, 2, 5) == "failed"
