"""Every rule of developing a new member refusing, with a readable reason and, where the rule is
a matter of time, the date from which it is met (DOMAIN.md section 1)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select, update

from pbflow import audit
from pbflow.engine import runtime, timers
from pbflow.engine.errors import GuardRefused, NotAllowed, ValidationFailed
from pbflow.extensions import db
from pbflow.models import Notification, Person, ProcessInstance
from pbflow.procedures.member_development import services as development
from tests.conftest import audit_actions, make_user
from tests.member_development.test_member_development import pdf, person_of, refused


def blocked(walk, who, trigger):
    actions = {a.trigger: a for a in runtime.available_actions(walk.case_id, walk.user(who))}
    return actions[trigger]


# --- stage 1 -------------------------------------------------------------------------------


def test_too_young_to_apply(world, clock):
    young = make_user(
        "young", person_org=world.branch, party_status="none", birth_date=date(2008, 6, 1)
    )
    with pytest.raises(GuardRefused) as exc:
        development.apply(young, {}, uploads={"application_letter": pdf()})
    assert "at least 18" in exc.value.message and "2026-06-01" in exc.value.message
    assert exc.value.available_from == date(2026, 6, 1)
    assert person_of(young).party_status == "none"
    # Entered by the branch with an application date before the birthday: refused too.
    with pytest.raises(GuardRefused, match="at least 18"):
        runtime.start(
            "member_development",
            world.branch,
            world["secretary"],
            {
                "person": person_of(young).id,
                "application_date": "2026-03-01",
                "application_letter": _file(world),
            },
        )
    clock.set("2026-06-01T02:00:00")
    development.apply(young, {}, uploads={"application_letter": pdf()})
    assert person_of(young).party_status == "applicant"


def _file(world):
    from pbflow.services import attachments

    att = attachments.store(world["secretary"], pdf(), org_id=world.branch.id, instance_id=None)
    db.session.commit()
    return att.id


def test_who_may_enter_an_application(world, walk):
    pid = walk.pid("applicant")
    letter = _file(world)
    for who in ("member", "other_secretary"):
        with pytest.raises(GuardRefused, match="Only the applicant themself"):
            runtime.start(
                "member_development",
                world.branch,
                world[who],
                {"person": pid, "application_letter": letter},
            )
    # The applicant may not back-date their own application; the branch may.
    with pytest.raises(GuardRefused, match="dated today"):
        development.apply(
            walk.applicant,
            {"application_date": "2026-02-01"},
            uploads={"application_letter": pdf()},
        )
    case = runtime.start(
        "member_development",
        world.branch,
        world["deputy"],
        {"person": pid, "application_date": "2026-02-20", "application_letter": letter},
    )
    assert person_of(walk.applicant).applied_on == date(2026, 2, 20)
    # One open case per person.
    with pytest.raises(GuardRefused, match="already has an open development case"):
        development.apply(walk.applicant, {}, uploads={"application_letter": pdf()})
    assert runtime.load_case(case.id).data["application_date"] == "2026-02-20"


def test_talk_due_within_a_month_reminds_then_escalates(walk, world, clock):
    walk.apply()
    clock.set("2026-03-27T02:00:00")
    report = timers.tick()
    assert walk.case_id in report.reminded
    clock.set("2026-04-03T02:00:00")
    report = timers.tick()
    assert walk.case_id in report.escalated
    notes = db.session.execute(
        select(Notification.user_id, Notification.kind).where(
            Notification.instance_id == walk.case_id
        )
    ).all()
    assert (world["gb_secretary"].id, "escalation") in notes
    assert (world["secretary"].id, "overdue") in notes
    assert {"reminder_sent", "overdue"} <= set(audit_actions(walk.case_id))


# --- stage 2 -------------------------------------------------------------------------------


def test_minimum_time_from_application_to_activist_is_a_setting(walk, world, clock):
    world.committee.settings = {"member_development": {"min_months_application_to_activist": 6}}
    db.session.commit()
    walk.apply()
    walk.step("record_talk", "secretary", {"talk_date": "2026-03-02"})
    action = blocked(walk, "secretary", "list_as_activist")
    assert not action.enabled and action.available_from == date(2026, 9, 2)
    values = {
        "recommended_by": "members",
        "decided_by": "general_meeting",  # four full members: no branch committee
        "activist_decided_on": "2026-03-02",
    }
    err = refused(walk, "list_as_activist", "secretary", values, files=["activist_minutes"])
    assert err.available_from == date(2026, 9, 2)
    clock.set("2026-09-02T02:00:00")
    # A back-dated decision must respect the rule too.
    err = refused(walk, "list_as_activist", "secretary", values, files=["activist_minutes"])
    assert "cannot be before 2026-09-02" in err.message
    walk.step(
        "list_as_activist",
        "secretary",
        {**values, "activist_decided_on": "2026-09-02"},
        files=["activist_minutes"],
    )
    assert walk.person.activist_on == date(2026, 9, 2)


def _nonmember(name, org, **kw):
    return make_user(name, person_org=org, **kw)


@pytest.mark.parametrize(
    "case, reason",
    [
        ("not_full", "is not a full member"),
        ("on_probation", "under party probation"),
        ("candidate", "cannot be their own"),
        ("other_org", "not a member of this organization"),
        ("three", "1 to 2 cultivation contacts are needed; 3 named"),
    ],
)
def test_wrong_cultivation_contacts(walk, world, case, reason):
    walk.to_activist()
    people = {
        "not_full": [_nonmember("probie", world.branch, party_status="probationary")],
        "on_probation": [_nonmember("lckc", world.branch, on_party_probation=True)],
        "candidate": [walk.applicant],
        "other_org": [world["other_secretary"]],
        "three": [world["member"], world["deputy"], world["branch_member"]],
    }[case]
    ids = [person_of(u).id for u in people]
    err = refused(walk, "assign_contacts", "secretary", {"contacts": ids})
    assert reason in err.message


# --- stage 3 -------------------------------------------------------------------------------


def test_one_year_as_activist_and_half_yearly_assessments(walk, clock):
    walk.to_activist()  # activist from 2026-03-20
    clock.set("2026-09-10T02:00:00")
    walk.step(
        "record_assessment", "member", {"assessment_date": "2026-09-10", "assessment_opinion": "好"}
    )
    values = {"opinions_heard": "同意", "target_decided_on": "2027-03-19"}
    clock.set("2027-03-19T02:00:00")
    action = blocked(walk, "secretary", "list_as_target")
    assert action.available_from == date(2027, 3, 20)
    err = refused(walk, "list_as_target", "secretary", values, files=["target_minutes"])
    assert err.available_from == date(2027, 3, 20)
    clock.set("2027-03-20T02:00:00")
    values["target_decided_on"] = "2027-03-20"
    err = refused(walk, "list_as_target", "secretary", values, files=["target_minutes"])
    assert "No half-yearly assessment is recorded for 2026-09-21 to 2027-03-20" in err.message
    walk.step(
        "record_assessment", "member", {"assessment_date": "2027-03-20", "assessment_opinion": "好"}
    )
    walk.reports("2026-06-15", "2026-09-15", "2026-12-15", "2027-03-15")
    walk.step("list_as_target", "secretary", values, files=["target_minutes"])
    assert walk.state == "target_filing"


def test_contacts_needed_before_listing_and_the_superior_may_return_the_filing(walk, world, clock):
    walk.to_target(accept=False)
    walk.step("return_target_filing", "committee_b", comment="材料不全")
    assert walk.state == "activist" and walk.person.party_status == "activist"
    # A contact put under party probation since no longer qualifies.
    db.session.execute(
        update(Person).where(Person.id == walk.pid("member")).values(on_party_probation=True)
    )
    db.session.commit()
    action = blocked(walk, "secretary", "list_as_target")
    assert "under party probation" in action.reason


@pytest.mark.parametrize(
    "case, reason",
    [
        ("one", "Exactly 2 introducers are needed; 1 named"),
        ("not_full", "is not a full member"),
        ("on_probation", "under party probation"),
        ("candidate", "cannot be their own introducer"),
        ("other_org", "not a member of this organization"),
    ],
)
def test_wrong_introducers(walk, world, case, reason):
    walk.to_target()
    member = person_of(world["member"]).id
    extra = {
        "one": [],
        "not_full": [person_of(_nonmember("act", world.branch, party_status="activist")).id],
        "on_probation": [person_of(_nonmember("lckc2", world.branch, on_party_probation=True)).id],
        "candidate": [walk.pid("applicant")],
        "other_org": [person_of(world["other_secretary"]).id],
    }[case]
    err = refused(walk, "assign_introducers", "secretary", {"introducers": [member, *extra]})
    assert reason in err.message


def test_missing_introducers_review_training_and_notice_block_prereview(walk, world, clock):
    walk.to_target()  # a development target from 2027-03-22
    values = {"branch_review_on": "2027-03-22", "branch_review_opinions": "同意"}

    def reason():
        return refused(
            walk, "request_prereview", "secretary", values, files=["branch_review_minutes"]
        )

    assert "introducers" in reason().message
    walk.step(
        "assign_introducers", "secretary", {"introducers": [walk.pid("member"), walk.pid("deputy")]}
    )
    assert "political review has not been concluded" in reason().message
    walk.step(
        "record_political_review",
        "secretary",
        {"review_concluded_on": "2027-03-22", "review_conclusion": "not_qualified"},
    )
    assert "did not conclude" in reason().message
    walk.step(
        "record_political_review",
        "secretary",
        {"review_concluded_on": "2027-03-22", "review_conclusion": "qualified"},
    )
    assert "training has not been recorded" in reason().message
    walk.step(
        "record_training",
        "secretary",
        {"training_start": "2027-03-21", "training_end": "2027-03-22", "training_hours": "16"},
    )
    assert "short of 3 days or 24 class hours" in reason().message
    walk.step(
        "record_training",
        "secretary",
        {"training_start": "2027-03-20", "training_end": "2027-03-22", "training_hours": "16"},
    )
    assert "public notice of 5 working days must be given" in reason().message
    walk.step("start_public_notice", "secretary", {"notice_start": "2027-03-22"})
    err = reason()
    assert err.available_from == date(2027, 3, 29) and "runs until 2027-03-28" in err.message
    assert blocked(walk, "secretary", "request_prereview").available_from == date(2027, 3, 29)
    # A configured validity of the political review: expired reviews must be redone.
    world.committee.settings = {"member_development": {"political_review_valid_months": 1}}
    db.session.commit()
    clock.set("2027-04-23T02:00:00")
    assert "expired on 2027-04-22" in reason().message
    world.committee.settings = {}
    db.session.commit()
    walk.step(
        "request_prereview",
        "secretary",
        {**values, "branch_review_on": "2027-04-23"},
        files=["branch_review_minutes"],
    )
    assert walk.state == "prereview"


# --- stage 4: the vote ---------------------------------------------------------------------


def _seven_full_members(world):
    for i in range(3):
        make_user(f"voter{i}", [(world.branch, "member")], person_org=world.branch)


def test_no_quorum_is_refused_and_writes_nothing(walk, world, clock):
    _seven_full_members(world)
    walk.to_meeting()
    before = audit.head()
    with pytest.raises(GuardRefused, match="No quorum: 3 of 7"):
        walk.resolution("2027-03-29", attended=3, votes_for=3)
    assert audit.head() == before and walk.state == "admission_meeting"


def test_majority_of_those_present_is_not_enough(walk, world, clock):
    _seven_full_members(world)
    walk.to_meeting()
    # 3 of 5 present say yes, but 3 is not more than half of the 7 who should attend.
    assert walk.resolution("2027-03-29", attended=5, votes_for=3, against=2) == "failed"
    assert walk.state == "not_admitted" and walk.person.party_status == "target"
    walk.step("continue_cultivation", "secretary", comment="继续考察半年")
    assert walk.state == "target"


def test_an_absentees_written_opinion_tips_the_count(walk, world, clock):
    _seven_full_members(world)
    walk.to_meeting()
    assert (
        walk.resolution("2027-03-29", attended=5, votes_for=3, against=2, written_for=1) == "passed"
    )
    assert walk.state == "superior_talk"


def test_members_of_the_branchs_party_groups_count_among_those_who_should_attend(
    walk, world, clock
):
    """The branch general meeting is every full member of the branch, those placed in one of
    its party groups included: three of them in a group make seven who should attend."""
    from pbflow.services import accounts

    group = accounts.create_org("b1g1", "第一党小组", "party_group", world.branch)
    for i in range(3):
        make_user(f"grouped{i}", [(world.branch, "member")], person_org=group)
    walk.to_meeting()
    before = audit.head()
    # Three present and for: a quorum and a majority of four, but not of seven.
    with pytest.raises(GuardRefused, match="No quorum: 3 of 7"):
        walk.resolution("2027-03-29", attended=3, votes_for=3)
    assert audit.head() == before and walk.state == "admission_meeting"
    # Four of seven: more than half present and more than half for.
    assert walk.resolution("2027-03-29", attended=4, votes_for=4) == "passed"
    assert walk.state == "superior_talk"


def test_the_admission_vote_cannot_be_dated_before_the_prereview(walk, clock):
    walk.to_meeting()  # pre-reviewed on 2027-03-29
    before = audit.head()
    with pytest.raises(GuardRefused, match=r"dated before .*\(2027-03-29\)"):
        walk.resolution("2027-03-28", attended=4, votes_for=4)
    assert audit.head() == before and walk.state == "admission_meeting"
    assert walk.resolution("2027-03-29", attended=4, votes_for=4) == "passed"
    assert walk.state == "superior_talk"
    case = runtime.load_case(walk.case_id)
    assert case.data["admission_resolution_date"] == "2027-03-29"


def test_approval_within_three_months_extendable_never_beyond_six(walk, world, clock):
    walk.to_meeting()
    clock.set("2027-04-02T02:00:00")
    walk.resolution("2027-04-02", attended=4, votes_for=4)
    walk.step(
        "record_superior_talk",
        "organizer",
        {"superior_talk_on": "2027-04-02", "superior_talk_opinion": "好"},
    )
    clock.set("2027-07-03T02:00:00")
    action = blocked(walk, "committee_a", "approve_admission")
    assert "had to approve by 2027-07-02" in action.reason
    with pytest.raises(GuardRefused, match="had to approve by 2027-07-02"):
        walk.step("approve_admission", "committee_a", {"admission_approved_on": "2027-07-03"})
    # An extension beyond six months in all is refused; within it, with a reason, accepted.
    err = refused(
        walk,
        "extend_approval_time",
        "committee_a",
        {"approval_deadline": "2027-10-03", "approval_extension_reason": "外调未归"},
    )
    assert "2027-10-02 at the latest" in err.message
    walk.step(
        "extend_approval_time",
        "committee_a",
        {"approval_deadline": "2027-09-30", "approval_extension_reason": "外调未归"},
    )
    clock.set("2027-10-01T02:00:00")
    with pytest.raises(GuardRefused, match="had to approve by 2027-09-30"):
        walk.step("approve_admission", "committee_a", {"admission_approved_on": "2027-10-01"})
    clock.set("2027-10-03T02:00:00")
    err = refused(
        walk,
        "extend_approval_time",
        "committee_a",
        {"approval_deadline": "2027-10-02", "approval_extension_reason": "再延"},
    )
    assert "cannot go beyond 2027-10-02" in err.message
    walk.step("reject_admission", "committee_a", comment="逾期未能审批")
    assert walk.state == "rejected" and walk.person.party_status == "none"


def test_approval_in_the_extended_time(walk, clock):
    walk.to_meeting()
    clock.set("2027-04-02T02:00:00")
    walk.resolution("2027-04-02", attended=4, votes_for=4)
    walk.step(
        "record_superior_talk",
        "organizer",
        {"superior_talk_on": "2027-04-02", "superior_talk_opinion": "好"},
    )
    walk.step(
        "extend_approval_time",
        "committee_a",
        {"approval_deadline": "2027-08-31", "approval_extension_reason": "待补充外调材料"},
    )
    case = db.session.get(ProcessInstance, walk.case_id)
    db.session.refresh(case)
    assert case.due_at.date() == date(2027, 8, 31)
    clock.set("2027-08-30T02:00:00")
    walk.step("approve_admission", "committee_a", {"admission_approved_on": "2027-08-30"})
    assert walk.person.admitted_on == date(2027, 4, 2)
    assert walk.person.probation_end_on == date(2028, 4, 2)


# --- stage 5 -------------------------------------------------------------------------------


def test_conversion_not_before_probation_ends(walk, clock):
    walk.to_probation()  # probation 2027-04-02 .. 2028-04-02
    clock.set("2028-02-29T02:00:00")
    err = refused(walk, "apply_for_conversion", "applicant", files=["conversion_application"])
    assert err.available_from == date(2028, 3, 2)
    clock.set("2028-03-02T02:00:00")
    walk.step("apply_for_conversion", "applicant", files=["conversion_application"])
    values = {
        "proposed_outcome": "convert",
        "party_group_opinion": "同意",
        "conversion_review": "合格",
    }
    err = refused(walk, "propose_conversion_outcome", "secretary", values)
    assert err.available_from == date(2028, 4, 2)
    clock.set("2028-04-02T02:00:00")
    walk.probation_reports()
    walk.step("propose_conversion_outcome", "secretary", values)
    # A meeting dated before the end of probation cannot convert.
    with pytest.raises(GuardRefused, match="before probation ended on 2028-04-02"):
        walk.resolution("2028-04-01", attended=4, votes_for=4)
    assert walk.state == "conversion_meeting"


def test_oath_before_conversion_application(walk, world, clock):
    walk.to_meeting()
    clock.set("2027-04-02T02:00:00")
    walk.resolution("2027-04-02", attended=4, votes_for=4)
    walk.step(
        "record_superior_talk",
        "organizer",
        {"superior_talk_on": "2027-04-02", "superior_talk_opinion": "好"},
    )
    walk.step("approve_admission", "committee_a", {"admission_approved_on": "2027-04-02"})
    walk.step("record_admission_filing", "organizer", {"admission_filed_on": "2027-04-02"})
    clock.set("2028-03-10T02:00:00")
    err = refused(walk, "apply_for_conversion", "applicant", files=["conversion_application"])
    assert "oath has not been recorded" in err.message


def test_extension_path_once_only(walk, clock):
    walk.to_probation()
    assert walk.to_conversion_approval("extend", months=6) == "passed"
    assert walk.person.party_status == "probationary"
    settings = development.settings_for({walk.world.branch.id})[walk.world.branch.id]
    case = runtime.load_case(walk.case_id)
    assert development.earliest_full_membership(
        case.state, case.data, development.KeyDates.of(walk.person), settings, date(2028, 4, 2)
    ) == date(2028, 10, 2)
    walk.step("approve_extension", "committee_a", {"conversion_approved_on": "2028-04-02"})
    p = walk.person
    assert (walk.state, p.party_status, p.probation_end_on) == (
        "probation",
        "probationary",
        date(2028, 10, 2),
    )
    # A second extension is refused.
    clock.set("2028-09-05T02:00:00")
    walk.step("apply_for_conversion", "applicant", files=["conversion_application"])
    clock.set("2028-10-02T02:00:00")
    values = {
        "proposed_outcome": "extend",
        "extension_months": "6",
        "party_group_opinion": "同意",
        "conversion_review": "再考察",
    }
    err = refused(walk, "propose_conversion_outcome", "secretary", values)
    assert "already been extended once" in err.message
    walk.probation_reports()  # the quarters of the extension too
    walk.step("propose_conversion_outcome", "secretary", {**values, "proposed_outcome": "convert"})
    walk.resolution("2028-10-02", attended=4, votes_for=4)
    walk.step("approve_conversion", "committee_a", {"conversion_approved_on": "2028-10-02"})
    p = walk.person
    assert (p.party_status, p.full_member_on) == ("full", date(2028, 10, 2))
    assert audit.verify_database().ok


def test_extension_must_be_six_to_twelve_months(walk):
    walk.to_probation()
    walk.clock.set("2028-03-05T02:00:00")
    walk.step("apply_for_conversion", "applicant", files=["conversion_application"])
    walk.clock.set("2028-04-02T02:00:00")
    values = {
        "proposed_outcome": "extend",
        "party_group_opinion": "同意",
        "conversion_review": "再考察",
    }
    err = refused(walk, "propose_conversion_outcome", "secretary", values)
    assert "6 to 12 months" in err.message
    with pytest.raises(ValidationFailed):
        walk.step("propose_conversion_outcome", "secretary", {**values, "extension_months": "13"})


def test_cancellation_path(walk):
    walk.to_probation()
    assert walk.to_conversion_approval("cancel") == "passed"
    actions = {
        a.trigger for a in runtime.available_actions(walk.case_id, walk.world["committee_a"])
    }
    assert "approve_cancellation" in actions and "approve_conversion" not in actions
    walk.step("approve_cancellation", "committee_a", {"conversion_approved_on": "2028-04-02"})
    case = db.session.get(ProcessInstance, walk.case_id)
    db.session.refresh(case)
    assert case.state == "cancelled" and case.closed_at is not None
    assert walk.person.party_status == "none"
    assert audit_actions(walk.case_id).count("person_updated") == 4
    assert audit.verify_database().ok


def test_conversion_approval_within_three_months(walk, clock):
    walk.to_probation()
    walk.to_conversion_approval("convert")
    clock.set("2028-07-03T02:00:00")
    err = refused(
        walk, "approve_conversion", "committee_a", {"conversion_approved_on": "2028-07-03"}
    )
    assert "had to approve by 2028-07-02" in err.message
    walk.step("return_conversion", "committee_a", comment="请重新讨论")
    assert walk.state == "conversion_discussion"


def test_transferred_in_postponement_at_most_six_months(walk, clock):
    walk.to_probation()
    clock.set("2028-03-05T02:00:00")
    walk.step("apply_for_conversion", "applicant", files=["conversion_application"])
    values = {"discussion_due": "2028-08-01", "postponement_reason": "刚转入"}
    err = refused(walk, "postpone_conversion_discussion", "secretary", values)
    assert "transferred in" in err.message
    # Record the transfer (as the branch would when placing them) and postpone.
    db.session.execute(
        update(ProcessInstance)
        .where(ProcessInstance.id == walk.case_id)
        .values(data={**runtime.load_case(walk.case_id).data, "transferred_in": True})
    )
    db.session.commit()
    err = refused(
        walk,
        "postpone_conversion_discussion",
        "secretary",
        {**values, "discussion_due": "2028-10-03"},
    )
    assert "2028-10-02 at the latest" in err.message
    walk.step("postpone_conversion_discussion", "secretary", values)
    case = db.session.get(ProcessInstance, walk.case_id)
    db.session.refresh(case)
    assert case.due_at.date() == date(2028, 8, 1)


# --- the wrong actor at every step ----------------------------------------------------------


def _transitions():
    from flask import Flask

    from pbflow.config import PROJECT_ROOT
    from pbflow.engine.definitions import load_file
    from pbflow.engine.registry import gather_rules
    from pbflow.procedures.member_development import procedure

    app = Flask(__name__)
    with app.app_context():
        d = load_file(
            PROJECT_ROOT / "workflows" / "member_development.yaml", gather_rules([procedure])
        )
    return [(t.trigger, d.expand_sources(t)[0]) for t in d.transitions]


@pytest.mark.parametrize("trigger, source", _transitions())
def test_wrong_actor_at_every_step(walk, world, trigger, source):
    walk.apply()
    db.session.execute(
        update(ProcessInstance).where(ProcessInstance.id == walk.case_id).values(state=source)
    )
    db.session.commit()
    d = development.definition()
    t = d.transition(source, trigger)
    wrong = ["member", "other_secretary", "gb_secretary"]
    if not any(r.kind == "role" and r.at == "org" for r in t.by):
        wrong.append("secretary")
    if not any(r.kind == "role" and r.at == "committee" for r in t.by):
        wrong.append("committee_a")
    if not any(r.kind == "subject" for r in t.by):
        wrong.append("applicant")
    before = audit.head()
    for who in wrong:
        with pytest.raises(NotAllowed):
            runtime.fire(walk.case_id, trigger, walk.user(who), {})
    assert audit.head() == before


# --- the dates of successive steps keep their order ----------------------------------------


def test_filing_is_not_dated_before_the_decision_it_files(walk, clock):
    walk.apply()
    clock.set("2026-03-10T02:00:00")
    walk.step("record_talk", "secretary", {"talk_date": "2026-03-10"}, files=["talk_record"])
    clock.set("2026-03-20T02:00:00")
    walk.step(
        "list_as_activist",
        "secretary",
        {
            "recommended_by": "members",
            "decided_by": "general_meeting",
            "activist_decided_on": "2026-03-20",
        },
        files=["activist_minutes"],
    )
    err = refused(walk, "file_activist", "deputy", {"activist_filed_on": "2026-03-19"})
    assert "cannot be before 2026-03-20" in err.message
    walk.step("file_activist", "deputy", {"activist_filed_on": "2026-03-20"})
    assert walk.state == "activist"


def test_branch_review_and_prereview_follow_the_listing_as_target(walk, clock):
    walk.to_branch_review()  # a development target from 2027-03-22; today 2027-03-29
    review = {"branch_review_opinions": "无不同意见"}
    err = refused(
        walk,
        "request_prereview",
        "secretary",
        {**review, "branch_review_on": "2027-03-21"},
        files=["branch_review_minutes"],
    )
    assert "cannot be before 2027-03-22" in err.message
    walk.step(
        "request_prereview",
        "secretary",
        {**review, "branch_review_on": "2027-03-22"},
        files=["branch_review_minutes"],
    )
    err = refused(walk, "pass_prereview", "committee_a", {"prereview_on": "2027-03-21"})
    assert "cannot be before 2027-03-22" in err.message
    walk.step("pass_prereview", "committee_a", {"prereview_on": "2027-03-22"})
    assert walk.state == "admission_form"


def test_approval_follows_the_talk_and_the_filing_follows_the_approval(walk, clock):
    walk.to_meeting()
    clock.set("2027-04-02T02:00:00")
    walk.resolution("2027-04-02", attended=4, votes_for=4)
    clock.set("2027-04-20T02:00:00")
    walk.step(
        "record_superior_talk",
        "organizer",
        {"superior_talk_on": "2027-04-15", "superior_talk_opinion": "入党动机端正"},
    )
    err = refused(walk, "approve_admission", "committee_a", {"admission_approved_on": "2027-04-14"})
    assert "cannot be before 2027-04-15" in err.message
    walk.step("approve_admission", "committee_a", {"admission_approved_on": "2027-04-15"})
    err = refused(
        walk, "record_admission_filing", "organizer", {"admission_filed_on": "2027-04-14"}
    )
    assert "cannot be before 2027-04-15" in err.message
    walk.step("record_admission_filing", "organizer", {"admission_filed_on": "2027-04-15"})
    assert walk.state == "probation"
