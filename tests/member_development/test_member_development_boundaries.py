"""The rules of developing a new member at their exact boundaries (DOMAIN.md section 1): the
last day a time limit allows and the first it refuses, a quorum and a majority exactly at
half, a tie, abstentions, a birthday on 29 February. Each refusal says why in words."""

from __future__ import annotations

from datetime import date

import pytest

from pbflow import audit
from pbflow.engine import runtime
from pbflow.engine.errors import GuardRefused, InvalidState, ValidationFailed
from pbflow.procedures.member_development import services as development
from pbflow.services import accounts
from tests.conftest import make_user
from tests.member_development.test_member_development import pdf, person_of, refused

# --- step 1: aged 18 or over --------------------------------------------------------------


def test_born_on_29_february_turns_18_on_1_march_of_a_common_year(world, clock):
    """2026 has no 29 February: on the 28th the applicant has not yet had an 18th birthday
    (the supervision's age bands count them 17 that day too), on 1 March they have."""
    leap = make_user(
        "leapling", person_org=world.branch, party_status="none", birth_date=date(2008, 2, 29)
    )
    clock.set("2026-02-28T02:00:00")
    with pytest.raises(GuardRefused) as exc:
        development.apply(leap, {}, uploads={"application_letter": pdf()})
    assert "at least 18" in exc.value.message and "turns 18 on 2026-03-01" in exc.value.message
    assert exc.value.available_from == date(2026, 3, 1)
    assert person_of(leap).party_status == "none"
    clock.set("2026-03-01T02:00:00")
    development.apply(leap, {}, uploads={"application_letter": pdf()})
    assert person_of(leap).party_status == "applicant"


# --- step 11: at least 3 days or 24 class hours ------------------------------------------


@pytest.mark.parametrize(
    "start, end, hours, short",
    [
        ("2027-03-22", "2027-03-22", "24", False),  # one day of 24 class hours
        ("2027-03-20", "2027-03-22", "0", False),  # three days
        ("2027-03-21", "2027-03-22", "23", True),  # two days, 23 hours
    ],
)
def test_centralized_training_at_its_boundaries(walk, start, end, hours, short):
    walk.to_branch_review()  # today 2027-03-29; the rest of what pre-review needs is there
    walk.step(
        "record_training",
        "organizer",
        {"training_start": start, "training_end": end, "training_hours": hours},
    )
    values = {"branch_review_on": "2027-03-29", "branch_review_opinions": "无不同意见"}
    if short:
        err = refused(walk, "request_prereview", "secretary", values, ["branch_review_minutes"])
        assert "short of 3 days or 24 class hours" in err.message
        assert walk.state == "target"
    else:
        walk.step("request_prereview", "secretary", values, files=["branch_review_minutes"])
        assert walk.state == "prereview"


# --- step 10: the political review's year -------------------------------------------------


def test_political_review_valid_through_its_last_day(walk, clock):
    walk.to_branch_review()  # review concluded on 2027-03-22
    values = {"branch_review_opinions": "无不同意见"}
    clock.set("2028-03-23T02:00:00")
    err = refused(
        walk,
        "request_prereview",
        "secretary",
        {**values, "branch_review_on": "2028-03-23"},
        ["branch_review_minutes"],
    )
    assert "expired on 2028-03-22" in err.message
    clock.set("2028-03-22T02:00:00")
    walk.step(
        "request_prereview",
        "secretary",
        {**values, "branch_review_on": "2028-03-22"},
        files=["branch_review_minutes"],
    )
    assert walk.state == "prereview"


def test_political_review_still_valid_on_the_day_of_the_admitting_meeting(walk, clock):
    """Put to the meeting while the review of 2027-03-22 was valid, the candidate is admitted
    by a meeting on its last valid day, never by one held the day after it expired: the
    resolution is the admission (DOMAIN 1.10, 1.15)."""
    walk.to_meeting()  # put to the meeting on 2027-03-29
    clock.set("2028-03-23T02:00:00")
    before = audit.head()
    with pytest.raises(GuardRefused, match="expired on 2028-03-22; a new one is needed"):
        walk.resolution("2028-03-23", attended=4, votes_for=4)
    assert audit.head() == before and walk.state == "admission_meeting"
    assert walk.person.party_status == "target"
    assert walk.resolution("2028-03-22", attended=4, votes_for=4) == "passed"
    assert walk.state == "superior_talk"


# --- step 15: quorum and pass mark exactly at half -----------------------------------------


def _eight_full_members(world):
    """The world's branch has four full members; four more make eight who should attend."""
    for i in range(4):
        make_user(f"voter{i}", [(world.branch, "member")], person_org=world.branch)


def test_exactly_half_present_is_no_quorum(walk, world):
    _eight_full_members(world)
    walk.to_meeting()
    before = audit.head()
    with pytest.raises(GuardRefused, match="No quorum: 4 of 8 voting members present"):
        walk.resolution("2027-03-29", attended=4, votes_for=4)
    assert audit.head() == before and walk.state == "admission_meeting"
    assert walk.resolution("2027-03-29", attended=5, votes_for=5) == "passed"


def test_a_tie_is_not_a_majority(walk, world):
    _eight_full_members(world)
    walk.to_meeting()
    # Everyone there: 4 for, 4 against. Half of the eight is not more than half.
    assert walk.resolution("2027-03-29", attended=8, votes_for=4, against=4) == "failed"
    assert walk.state == "not_admitted" and walk.person.party_status == "target"


def test_abstentions_count_against_the_pass_mark(walk, world):
    _eight_full_members(world)
    walk.to_meeting()
    # 4 for, none against, 3 abstain: still only 4 of the 8 who should attend.
    assert walk.resolution("2027-03-29", attended=7, votes_for=4, abstain=3) == "failed"
    assert walk.state == "not_admitted"


def test_five_of_eight_in_favour_pass_even_with_three_absent(walk, world):
    _eight_full_members(world)
    walk.to_meeting()
    assert walk.resolution("2027-03-29", attended=5, votes_for=5) == "passed"
    assert walk.state == "superior_talk"


def test_a_written_opinion_counts_for_the_vote_but_not_the_quorum(walk, world):
    _eight_full_members(world)
    walk.to_meeting()
    before = audit.head()
    with pytest.raises(GuardRefused, match="No quorum: 4 of 8"):
        walk.resolution("2027-03-29", attended=4, votes_for=4, written_for=2)
    assert audit.head() == before and walk.state == "admission_meeting"


# --- step 17: approval within three months, never beyond six ------------------------------


def _to_admission_approval(walk, clock):
    walk.to_meeting()
    clock.set("2027-04-02T02:00:00")
    walk.resolution("2027-04-02", attended=4, votes_for=4)
    walk.step(
        "record_superior_talk",
        "organizer",
        {"superior_talk_on": "2027-04-02", "superior_talk_opinion": "好"},
    )


def test_approval_on_the_last_day_of_the_three_months(walk, clock):
    _to_admission_approval(walk, clock)
    clock.set("2027-07-02T02:00:00")
    walk.step("approve_admission", "committee_a", {"admission_approved_on": "2027-07-02"})
    assert walk.state == "admission_filing"
    # Probation still runs one year from the meeting, not from the approval.
    assert walk.person.admitted_on == date(2027, 4, 2)
    assert walk.person.probation_end_on == date(2028, 4, 2)


def test_an_extension_to_the_sixth_month_exactly(walk, clock):
    _to_admission_approval(walk, clock)
    walk.step(
        "extend_approval_time",
        "committee_a",
        {"approval_deadline": "2027-10-02", "approval_extension_reason": "外调未归"},
    )
    clock.set("2027-10-02T02:00:00")
    walk.step("approve_admission", "committee_a", {"admission_approved_on": "2027-10-02"})
    assert walk.state == "admission_filing"


def test_an_extension_cannot_shorten_the_time(walk, clock):
    _to_admission_approval(walk, clock)  # due 2027-07-02
    err = refused(
        walk,
        "extend_approval_time",
        "committee_a",
        {"approval_deadline": "2027-07-01", "approval_extension_reason": "提前"},
    )
    assert "later than 2027-07-02" in err.message


# --- steps 21-24: probation, its extension, the conversion --------------------------------


def _propose(walk, outcome, months=None):
    walk.clock.set("2028-03-05T02:00:00")
    walk.step("apply_for_conversion", "applicant", files=["conversion_application"])
    walk.clock.set("2028-04-02T02:00:00")
    walk.probation_reports()
    values = {
        "proposed_outcome": outcome,
        "party_group_opinion": "同意",
        "conversion_review": "再考察",
    }
    if months is not None:
        values["extension_months"] = str(months)
    return values


@pytest.mark.parametrize("months, ok", [(5, False), (6, True), (12, True), (13, False)])
def test_an_extension_of_probation_is_six_to_twelve_months(walk, months, ok):
    walk.to_probation()
    values = _propose(walk, "extend", months)
    if ok:
        walk.step("propose_conversion_outcome", "secretary", values)
        assert walk.state == "conversion_meeting"
    else:
        with pytest.raises((GuardRefused, ValidationFailed)):
            walk.step("propose_conversion_outcome", "secretary", values)
        assert walk.state == "conversion_discussion"


def test_twelve_months_extension_ends_a_year_after_probation_would_have(walk):
    walk.to_probation()  # probation 2027-04-02 .. 2028-04-02
    values = _propose(walk, "extend", 12)
    walk.step("propose_conversion_outcome", "secretary", values)
    assert walk.resolution("2028-04-02", attended=4, votes_for=4) == "passed"
    walk.step("approve_extension", "committee_a", {"conversion_approved_on": "2028-04-02"})
    assert walk.person.probation_end_on == date(2029, 4, 2)


def test_conversion_approved_on_the_last_day_of_the_three_months(walk, clock):
    walk.to_probation()
    assert walk.to_conversion_approval("convert") == "passed"  # resolution 2028-04-02
    clock.set("2028-07-02T02:00:00")
    walk.step("approve_conversion", "committee_a", {"conversion_approved_on": "2028-07-02"})
    # Party standing counts from the day probation ended, not from the approval.
    assert walk.person.party_status == "full"
    assert walk.person.full_member_on == date(2028, 4, 2)


def test_postponed_to_the_sixth_month_exactly(walk, clock):
    walk.to_probation()  # probation ends 2028-04-02
    walk.step("place_in_group", "secretary", {"party_group": "第一党小组", "transferred_in": True})
    clock.set("2028-03-05T02:00:00")
    walk.step("apply_for_conversion", "applicant", files=["conversion_application"])
    err = refused(
        walk,
        "postpone_conversion_discussion",
        "secretary",
        {"discussion_due": "2028-04-02", "postponement_reason": "刚转入"},
    )
    assert "after probation ends on 2028-04-02" in err.message
    walk.step(
        "postpone_conversion_discussion",
        "secretary",
        {"discussion_due": "2028-10-02", "postponement_reason": "刚转入"},
    )
    assert runtime.load_case(walk.case_id).data["discussion_due"] == "2028-10-02"


# --- repeating and skipping steps ----------------------------------------------------------


def test_a_case_that_skips_the_filing_cannot_be_listed_as_target(walk, clock):
    """An activist whose filing with the superior was never recorded is still in the filing
    state: listing them as a development target is not a step of that state."""
    walk.apply()
    clock.set("2026-03-10T02:00:00")
    walk.step("record_talk", "secretary", {"talk_date": "2026-03-10"})
    walk.step(
        "list_as_activist",
        "secretary",
        {
            "recommended_by": "members",
            "decided_by": "general_meeting",
            "activist_decided_on": "2026-03-10",
        },
        files=["activist_minutes"],
    )
    with pytest.raises(InvalidState):
        walk.step("list_as_target", "secretary", {"opinions_heard": "同意"})
    assert walk.state == "activist_filing"


# --- organizations: seven full members make a branch committee ----------------------------


BY_THE_COMMITTEE = {
    "recommended_by": "members",
    "decided_by": "branch_committee",
    "activist_decided_on": "2026-03-02",
}


def _applicant_of_a_larger_branch(walk, world, extra: int) -> dict:
    """``extra`` full members join the world's branch (four full members), then an applicant
    applies and is talked with: the activist step, decided by the branch committee, is next."""
    for i in range(extra):
        make_user(f"full{i}", [(world.branch, "member")], person_org=world.branch)
    walk.apply()
    walk.step("record_talk", "secretary", {"talk_date": "2026-03-02"})
    return dict(BY_THE_COMMITTEE)


@pytest.mark.parametrize("extra, has_committee", [(2, False), (3, True)])
def test_the_branch_committee_decides_from_seven_full_members(walk, world, extra, has_committee):
    """The world's branch has four full members: six is still a branch without a committee,
    whose general meeting decides (DOMAIN, organizations); seven have one."""
    values = _applicant_of_a_larger_branch(walk, world, extra)
    if has_committee:
        walk.step("list_as_activist", "secretary", values, files=["activist_minutes"])
        assert walk.state == "activist_filing"
    else:
        err = refused(walk, "list_as_activist", "secretary", values, ["activist_minutes"])
        assert "6 full members, fewer than seven" in err.message
        assert walk.state == "applicant"


def test_seven_full_members_without_a_committee_decide_in_their_general_meeting(walk, world):
    """Seven full members and no committee elected (its one committee member's account
    deactivated): the branch committee cannot decide; the general meeting does, and the
    committee decides again once an organizing member is appointed."""
    accounts.set_active(world["branch_member"], False, actor=world["admin"])
    values = _applicant_of_a_larger_branch(walk, world, 3)
    err = refused(walk, "list_as_activist", "secretary", values, ["activist_minutes"])
    assert "no branch committee" in err.message and walk.state == "applicant"
    make_user("organizing", [(world.branch, "organizing_member")])
    walk.step("list_as_activist", "secretary", values, files=["activist_minutes"])
    assert walk.state == "activist_filing"


# --- step 13: leaving the unit within three months -----------------------------------------


def test_leaving_three_months_after_the_prereview_to_the_day_is_within_them(walk):
    walk.to_prereview()  # pre-review requested on 2027-03-29
    walk.step("record_leaving", "secretary", {"leaves_unit_on": "2027-06-29"})
    err = refused(walk, "pass_prereview", "committee_a", {"prereview_on": "2027-03-29"})
    assert "expected to leave the unit on 2027-06-29, within 3 months" in err.message
    walk.step("record_leaving", "secretary", {"leaves_unit_on": "2027-06-30"})
    walk.step("pass_prereview", "committee_a", {"prereview_on": "2027-03-29"})
    assert walk.state == "admission_form"
