"""Member development rules added with issue 14, each shown refusing: every half-year assessed
up to the listing, no branch committee below seven full members, the political review after
becoming an activist, a departure within three months of an admission decision; and the
configurable rules: quarterly thought reports, public notices at further steps, the political
review's validity."""

from __future__ import annotations

from datetime import date

import pytest

from pbflow.engine import runtime
from pbflow.engine.errors import GuardRefused
from pbflow.extensions import db
from pbflow.services import settings
from tests.conftest import make_user


def refused(walk, trigger, who, values=None, files=()):
    with pytest.raises(GuardRefused) as exc:
        walk.step(trigger, who, values, files=files)
    return exc.value.message


def actions(walk, who):
    return {a.trigger: a for a in runtime.available_actions(walk.case_id, walk.user(who))}


TARGET = {"opinions_heard": "同意", "target_decided_on": "2028-03-20"}


def test_every_half_year_up_to_the_listing_needs_its_assessment(walk, clock):
    walk.to_activist()  # an activist since 2026-03-20
    for day in ("2026-08-10", "2027-02-10"):
        clock.set(f"{day}T02:00:00")
        walk.step(
            "record_assessment", "member", {"assessment_date": day, "assessment_opinion": "好"}
        )
    clock.set("2028-03-20T02:00:00")
    walk.reports(
        *[f"{y}-{m}-15" for y in (2026, 2027, 2028) for m in ("03", "06", "09", "12")][1:9]
    )
    message = refused(walk, "list_as_target", "secretary", TARGET, files=["target_minutes"])
    assert "No half-yearly assessment is recorded for 2027-03-21 to 2027-09-20" in message
    for day in ("2027-08-10", "2028-02-10"):
        walk.step(
            "record_assessment", "member", {"assessment_date": day, "assessment_opinion": "好"}
        )
    walk.step("list_as_target", "secretary", TARGET, files=["target_minutes"])
    assert walk.state == "target_filing"


def test_thought_reports_at_least_quarterly_from_an_activist(walk, world, clock):
    walk.to_activist()
    for day in ("2026-09-15", "2027-03-15"):
        clock.set(f"{day}T02:00:00")
        walk.step(
            "record_assessment", "member", {"assessment_date": day, "assessment_opinion": "好"}
        )
    clock.set("2027-03-20T02:00:00")
    walk.reports("2026-06-15", "2026-09-15", "2027-03-15")
    values = {**TARGET, "target_decided_on": "2027-03-20"}
    message = refused(walk, "list_as_target", "secretary", values, files=["target_minutes"])
    assert "No thought report is recorded for 2026-09-21 to 2026-12-20" in message
    # The committee does not require them: the step goes through.
    settings.set_value(
        world["admin"], world.committee.id, "member_development", "thought_report_months", "0"
    )
    walk.step("list_as_target", "secretary", values, files=["target_minutes"])


def test_thought_reports_through_probation_before_the_conversion(walk, clock):
    walk.to_probation()
    clock.set("2028-03-05T02:00:00")
    walk.step("apply_for_conversion", "applicant", files=["conversion_application"])
    clock.set("2028-04-02T02:00:00")
    walk.reports("2027-06-20", "2027-09-20", "2028-03-20")  # nothing for the third quarter
    values = {
        "proposed_outcome": "convert",
        "party_group_opinion": "同意",
        "conversion_review": "合格",
    }
    message = refused(walk, "propose_conversion_outcome", "secretary", values)
    assert "No thought report is recorded for 2027-10-03 to 2028-01-02" in message
    walk.reports("2027-12-20")
    walk.step("propose_conversion_outcome", "secretary", values)
    assert walk.state == "conversion_meeting"


def test_a_branch_without_a_committee_decides_in_its_general_meeting(walk, world, clock):
    walk.apply()
    walk.step("record_talk", "secretary", {"talk_date": "2026-03-02"})
    values = {
        "recommended_by": "members",
        "decided_by": "branch_committee",
        "activist_decided_on": "2026-03-02",
    }
    message = refused(walk, "list_as_activist", "secretary", values, files=["activist_minutes"])
    assert "4 full members, fewer than seven, so it has no branch committee" in message
    # With seven full members the branch has a committee, and it may decide.
    for i in range(3):
        make_user(f"full{i}", [(world.branch, "member")], person_org=world.branch)
    walk.step("list_as_activist", "secretary", values, files=["activist_minutes"])
    assert walk.state == "activist_filing"


def test_the_political_review_is_dated_after_becoming_an_activist(walk):
    walk.to_target()  # activist since 2026-03-20
    message = refused(
        walk,
        "record_political_review",
        "secretary",
        {"review_concluded_on": "2026-03-01", "review_conclusion": "qualified"},
    )
    assert "must be dated after Applicant became an activist on 2026-03-20" in message


def test_the_political_review_is_valid_for_a_year_by_default(walk, clock):
    walk.to_prereview()  # review of 2027-03-22
    walk.step("pass_prereview", "committee_a", {"prereview_on": "2027-03-29"})
    walk.step("submit_admission_form", "applicant", files=["admission_form_file"])
    walk.step("give_introducer_opinion", "member", {"introducer_opinion": "同意"})
    walk.step("give_introducer_opinion", "deputy", {"introducer_opinion": "同意"})
    clock.set("2028-03-23T02:00:00")
    message = refused(walk, "submit_to_meeting", "secretary")
    assert "expired on 2028-03-22" in message


def test_leaving_the_unit_within_three_months_of_the_admission_decision(walk, world, clock):
    walk.to_prereview()  # pre-review requested on 2027-03-29
    walk.step(
        "record_leaving",
        "secretary",
        {"leaves_unit_on": "2027-06-15", "leaving_destination": "调往集团机关"},
    )
    assert walk.state == "prereview"
    message = refused(walk, "pass_prereview", "committee_a", {"prereview_on": "2027-03-29"})
    assert "expected to leave the unit on 2027-06-15, within 3 months" in message
    # Leaving later than three months after the decision does not stand in the way.
    walk.step("record_leaving", "secretary", {"leaves_unit_on": "2027-07-30"})
    walk.step("pass_prereview", "committee_a", {"prereview_on": "2027-03-29"})
    walk.step("submit_admission_form", "applicant", files=["admission_form_file"])
    walk.step("give_introducer_opinion", "member", {"introducer_opinion": "同意"})
    walk.step("give_introducer_opinion", "deputy", {"introducer_opinion": "同意"})
    clock.set("2027-05-10T02:00:00")  # the general meeting would decide within three months
    message = refused(walk, "submit_to_meeting", "secretary")
    assert "2027-07-30, within 3 months of this admission decision (2027-05-10)" in message
    walk.step("withdraw_leaving", "secretary", comment="留任本单位")
    walk.step("submit_to_meeting", "secretary")
    assert walk.state == "admission_meeting"


def test_a_public_notice_before_listing_an_activist_where_the_committee_requires_it(
    walk, world, clock
):
    walk.apply()
    walk.step("record_talk", "secretary", {"talk_date": "2026-03-02"})
    assert "start_public_notice" not in actions(walk, "secretary")  # not required by default
    settings.set_value(
        world["admin"], world.committee.id, "member_development", "activist_notice_working_days", 5
    )
    assert "start_public_notice" in actions(walk, "secretary")
    values = {
        "recommended_by": "members",
        "decided_by": "general_meeting",
        "activist_decided_on": "2026-03-02",
    }
    message = refused(walk, "list_as_activist", "secretary", values, files=["activist_minutes"])
    assert "public notice of 5 working days must be given first" in message
    walk.step("start_public_notice", "secretary", {"activist_notice_start": "2026-03-02"})
    clock.set("2026-03-06T02:00:00")
    message = refused(
        walk,
        "list_as_activist",
        "secretary",
        {**values, "activist_decided_on": "2026-03-06"},
        files=["activist_minutes"],
    )
    assert "runs until 2026-03-08" in message
    clock.set("2026-03-09T02:00:00")
    walk.step(
        "list_as_activist",
        "secretary",
        {**values, "activist_decided_on": "2026-03-09"},
        files=["activist_minutes"],
    )
    assert walk.person.activist_on == date(2026, 3, 9)


def test_a_public_notice_before_the_conversion_where_the_committee_requires_it(walk, world, clock):
    walk.to_probation()
    world.branch.settings = {"member_development": {"conversion_notice_working_days": 5}}
    db.session.commit()
    clock.set("2028-03-05T02:00:00")
    walk.step("apply_for_conversion", "applicant", files=["conversion_application"])
    clock.set("2028-04-03T02:00:00")
    walk.probation_reports()
    values = {
        "proposed_outcome": "convert",
        "party_group_opinion": "同意",
        "conversion_review": "合格",
    }
    message = refused(walk, "propose_conversion_outcome", "secretary", values)
    assert "public notice of 5 working days must be given first" in message
    walk.step("start_public_notice", "secretary", {"conversion_notice_start": "2028-04-03"})
    clock.set("2028-04-10T02:00:00")
    walk.step("propose_conversion_outcome", "secretary", values)


def test_withdrawing_a_departure_never_recorded_names_the_field_by_its_label(walk, world, clock):
    """Withdrawing a departure that was never recorded is not offered (show_blocked: false),
    and, sent anyway, is refused naming the field as its form does, not by its key
    ('leaves_unit_on' has not been recorded yet)."""
    walk.to_prereview()
    offered = actions(walk, "secretary")
    assert offered["record_leaving"].enabled
    assert "withdraw_leaving" not in offered
    with pytest.raises(GuardRefused) as exc:
        walk.step("withdraw_leaving", "secretary", comment="留任本单位")
    assert exc.value.message == "'Expected to leave on' has not been recorded yet."


def test_withdrawing_a_departure_is_offered_once_one_is_recorded(walk, world, clock):
    walk.to_prereview()
    walk.step("record_leaving", "secretary", {"leaves_unit_on": "2027-09-30"})
    action = actions(walk, "secretary")["withdraw_leaving"]
    assert action.enabled and action.reason is None
    walk.step("withdraw_leaving", "secretary", comment="留任本单位")
    assert "withdraw_leaving" not in actions(walk, "secretary")
