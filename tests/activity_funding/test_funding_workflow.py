"""Activity funding (DOMAIN.md section 6) walked through by the people who run it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from pbflow import audit
from pbflow.engine import runtime, votes
from pbflow.engine.errors import (
    ConcurrentChange,
    GuardRefused,
    InvalidState,
    NotAllowed,
    ValidationFailed,
)
from pbflow.extensions import db
from pbflow.models import Notification, ProcessInstance
from tests.conftest import audit_actions

REQUEST = {
    "purpose": "七一主题党日活动",
    "activity_date": "2026-03-20",
    "venue": "矿史馆",
    "amount": "1200.50",
    "budget": "交通 600；资料 600.50",
}


def _start(world, amount="1200.50", by="branch_member"):
    return runtime.start("activity_funding", world.branch, world[by], {**REQUEST, "amount": amount})


def test_small_request_walks_from_draft_to_closed(world, clock):
    case = _start(world)
    assert case.state == "draft" and case.title == "七一主题党日活动"
    assert case.data["amount"] == "1200.5"

    runtime.fire(case.id, "submit", world["branch_member"])
    runtime.fire(case.id, "secretary_approve", world["secretary"])
    # Below the threshold the general branch approves alone; forwarding is not offered.
    actions = {a.trigger: a for a in runtime.available_actions(case.id, world["gb_secretary"])}
    assert actions["superior_approve"].enabled
    assert "forward_to_committee" not in actions
    runtime.fire(case.id, "superior_approve", world["gb_secretary"])

    clock.set("2026-03-21T02:00:00")
    runtime.fire(
        case.id,
        "report_spending",
        world["branch_member"],
        {"spent": "1100", "spending_report": "实际开支 1100 元"},
    )
    out = runtime.fire(case.id, "accept_report", world["secretary"])
    assert out.state == "closed"

    case = db.session.get(ProcessInstance, case.id)
    assert case.closed_at is not None and case.version == 6
    assert audit_actions(case.id) == ["case_started"] + ["transition"] * 5
    assert audit.verify_database().ok
    # The requester hears the result.
    notes = (
        db.session.execute(
            select(Notification).where(Notification.user_id == world["branch_member"].id)
        )
        .scalars()
        .all()
    )
    assert any(n.kind == "result" for n in notes)


def test_large_request_needs_the_party_committee_vote(world):
    case = _start(world, amount="8000")
    runtime.fire(case.id, "submit", world["branch_member"])
    runtime.fire(case.id, "secretary_approve", world["secretary"])
    with pytest.raises(GuardRefused, match="party committee must also approve"):
        runtime.fire(case.id, "superior_approve", world["gb_secretary"])
    runtime.fire(case.id, "forward_to_committee", world["gb_secretary"])

    assert votes.cast_ballot(case.id, world["committee_a"], "for") is None
    assert votes.cast_ballot(case.id, world["committee_b"], "for") == "passed"
    case = db.session.get(ProcessInstance, case.id)
    db.session.refresh(case)
    assert case.state == "approved"
    events = audit_actions(case.id)
    assert events[-3:] == ["ballot_cast", "ballot_cast", "transition"]


def test_committee_vote_can_fail_before_everyone_voted(world):
    case = _start(world, amount="8000")
    for trigger, who in [
        ("submit", "branch_member"),
        ("secretary_approve", "secretary"),
        ("forward_to_committee", "gb_secretary"),
    ]:
        runtime.fire(case.id, trigger, world[who])
    votes.cast_ballot(case.id, world["committee_a"], "against")
    assert votes.cast_ballot(case.id, world["committee_b"], "abstain") == "failed"
    assert runtime.load_case(case.id).state == "rejected"
    with pytest.raises(InvalidState):
        votes.cast_ballot(case.id, world["committee_c"], "for")


def test_requester_may_not_approve_their_own_request(world):
    case = _start(world, by="secretary")
    runtime.fire(case.id, "submit", world["secretary"])
    with pytest.raises(GuardRefused, match="someone else"):
        runtime.fire(case.id, "secretary_approve", world["secretary"])
    runtime.fire(case.id, "secretary_approve", world["deputy"])


def test_wrong_role_wrong_state_and_bad_fields_are_refused_and_write_nothing(world):
    case = _start(world)
    before = audit.head()
    with pytest.raises(NotAllowed):
        runtime.fire(case.id, "submit", world["member"])
    with pytest.raises(InvalidState, match="not possible"):
        runtime.fire(case.id, "secretary_approve", world["secretary"])
    with pytest.raises(InvalidState, match="Unknown step"):
        runtime.fire(case.id, "no_such_step", world["secretary"])
    runtime.fire(case.id, "submit", world["branch_member"])
    with pytest.raises(NotAllowed):  # another branch's secretary
        runtime.fire(case.id, "secretary_approve", world["other_secretary"])
    with pytest.raises(ValidationFailed) as exc:
        runtime.fire(case.id, "return_for_changes", world["secretary"])
    assert exc.value.field_errors == {"comment": "is required"}
    after_submit = audit.head()
    assert after_submit[0] == before[0] + 1  # only the submit was written
    with pytest.raises(ValidationFailed) as exc:
        runtime.start(
            "activity_funding",
            world.branch,
            world["secretary"],
            {**REQUEST, "amount": "lots", "activity_date": "2026-02-30", "colour": "red"},
        )
    assert set(exc.value.field_errors) == {"amount", "activity_date", "colour"}
    with pytest.raises(NotAllowed):
        runtime.start("activity_funding", world.branch, world["member"], REQUEST)
    with pytest.raises(InvalidState, match="not run by"):
        runtime.start("activity_funding", world.committee, world["committee_a"], REQUEST)
    assert audit.head() == after_submit


def test_stale_version_is_refused_with_a_reload_message(world):
    case = _start(world)
    runtime.fire(case.id, "submit", world["branch_member"], expected_version=1)
    with pytest.raises(ConcurrentChange, match="reload"):
        runtime.fire(case.id, "secretary_approve", world["secretary"], expected_version=1)
    assert runtime.load_case(case.id).state == "secretary_review"


def _approved(world):
    """A request submitted and approved by the secretary and the general branch."""
    case = _start(world)
    for trigger, who in [
        ("submit", "branch_member"),
        ("secretary_approve", "secretary"),
        ("superior_approve", "gb_secretary"),
    ]:
        runtime.fire(case.id, trigger, world[who])
    return case


def test_spending_cannot_be_reported_before_the_activity(world, clock):
    case = _approved(world)
    with pytest.raises(GuardRefused, match="future"):
        runtime.fire(
            case.id,
            "report_spending",
            world["branch_member"],
            {"spent": "10", "spending_report": "x"},
        )


def test_threshold_is_a_setting_an_organization_may_override(world):
    world.committee.settings = {"activity_funding": {"committee_threshold": 10000}}
    db.session.commit()
    case = _start(world, amount="8000")
    runtime.fire(case.id, "submit", world["branch_member"])
    runtime.fire(case.id, "secretary_approve", world["secretary"])
    runtime.fire(case.id, "superior_approve", world["gb_secretary"])
    assert runtime.load_case(case.id).state == "approved"


@pytest.mark.parametrize(
    ("amount", "alone"),
    [("5000", True), ("5000.00", True), ("5000.01", False)],
)
def test_the_threshold_itself_is_approved_by_the_general_branch_alone(world, amount, alone):
    """ "Above a set amount" the committee also approves: the amount itself is not above."""
    case = _start(world, amount=amount)
    runtime.fire(case.id, "submit", world["branch_member"])
    runtime.fire(case.id, "secretary_approve", world["secretary"])
    if alone:
        with pytest.raises(GuardRefused, match="Only for amounts above 5000"):
            runtime.fire(case.id, "forward_to_committee", world["gb_secretary"])
        runtime.fire(case.id, "superior_approve", world["gb_secretary"])
        assert runtime.load_case(case.id).state == "approved"
    else:
        with pytest.raises(GuardRefused, match="5000.01 is above 5000"):
            runtime.fire(case.id, "superior_approve", world["gb_secretary"])
        runtime.fire(case.id, "forward_to_committee", world["gb_secretary"])
        assert runtime.load_case(case.id).state == "committee_review"


def test_spending_is_reported_from_the_activity_day_and_not_by_whoever_accepts_it(world, clock):
    case = _approved(world)
    clock.set("2026-03-19T15:00:00")  # 23:00 local the day before the activity
    with pytest.raises(GuardRefused, match="future"):
        runtime.fire(
            case.id, "report_spending", world["secretary"], {"spent": "10", "spending_report": "x"}
        )
    clock.set("2026-03-20T10:00:00")  # the activity day itself
    runtime.fire(
        case.id, "report_spending", world["secretary"], {"spent": "1200", "spending_report": "x"}
    )
    with pytest.raises(GuardRefused, match="someone else"):
        runtime.fire(case.id, "accept_report", world["secretary"])
    runtime.fire(case.id, "accept_report", world["deputy"])
    assert runtime.load_case(case.id).state == "closed"
