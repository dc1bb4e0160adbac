"""Developing a new member (DOMAIN.md section 1): the full walk from application to full
membership with time travel, then the extension and cancellation paths."""

from __future__ import annotations

import io
from datetime import date

import pytest

from pbflow import audit
from pbflow.engine import runtime
from pbflow.engine.errors import GuardRefused
from pbflow.extensions import db
from pbflow.models import Person, ProcessInstance
from pbflow.procedures.member_development import services as development
from pbflow.services import cases
from pbflow.services.attachments import Upload
from tests.conftest import audit_actions, make_user


def clock_today() -> date:
    from pbflow import clock

    return clock.today()


def pdf(name: str = "doc.pdf") -> Upload:
    return Upload(name, io.BytesIO(b"%PDF-1.4\n% " + name.encode() + b"\n%%EOF\n"))


def person_of(user) -> Person:
    person = db.session.execute(db.select(Person).where(Person.user_id == user.id)).scalar_one()
    db.session.refresh(person)
    return person


class Walk:
    """Steps of one development case, taken through the same service the case page uses."""

    def __init__(self, world, clock):
        self.world, self.clock = world, clock
        self.applicant = make_user(
            "applicant",
            person_org=world.branch,
            party_status="none",
            birth_date=date(2000, 5, 1),
        )
        self.organizer = make_user("organizer", [(world.committee, "organizer")])
        self.case_id: int | None = None

    def user(self, name):
        return (
            self.applicant
            if name == "applicant"
            else (self.organizer if name == "organizer" else self.world[name])
        )

    def pid(self, name) -> int:
        return person_of(self.user(name)).id

    def step(self, trigger, who, values=None, files=(), comment=None):
        uploads = {name: pdf(f"{name}.pdf") for name in files}
        return cases.take_step(
            self.user(who), self.case_id, trigger, values or {}, uploads=uploads, comment=comment
        )

    def resolution(self, day, attended, votes_for, against=0, abstain=0, written_for=0):
        return cases.record_resolution(
            self.world["secretary"],
            self.case_id,
            {
                "meeting_date": day,
                "attended": attended,
                "votes_for": votes_for,
                "votes_against": against,
                "votes_abstain": abstain,
                "written_for": written_for,
            },
            pdf("minutes.pdf"),
        )

    def reports(self, *days: str) -> None:
        """Thought reports handed in on these days (at least quarterly, DOMAIN 1.6, 1.21),
        entered by the branch from the paper reports; those after today are left out."""
        done = {
            r["report_date"]
            for r in runtime.load_case(self.case_id).data.get("thought_reports") or []
        }
        today = clock_today()
        for day in days:
            if day not in done and date.fromisoformat(day) <= today:
                self.step("record_thought_report", "secretary", {"report_date": day})

    def probation_reports(self) -> None:
        self.reports(
            "2027-06-20", "2027-09-20", "2027-12-20", "2028-03-20", "2028-06-20", "2028-09-20"
        )

    @property
    def state(self) -> str:
        return runtime.load_case(self.case_id).state

    @property
    def person(self) -> Person:
        return person_of(self.applicant)

    # --- stages, each usable by later tests as a shortcut to a point in the procedure ----------

    def apply(self):
        case = development.apply(self.applicant, {}, uploads={"application_letter": pdf()})
        self.case_id = case.id
        return case

    def to_activist(self):
        self.apply()
        self.clock.set("2026-03-10T02:00:00")
        self.step("record_talk", "secretary", {"talk_date": "2026-03-10"}, files=["talk_record"])
        self.clock.set("2026-03-20T02:00:00")
        self.step(
            "list_as_activist",
            "secretary",
            {
                "recommended_by": "youth_league",
                "decided_by": "general_meeting",  # four full members: no branch committee
                "activist_decided_on": "2026-03-20",
            },
            files=["activist_minutes"],
        )
        self.step("file_activist", "deputy", {"activist_filed_on": "2026-03-20"})
        self.step("assign_contacts", "secretary", {"contacts": [self.pid("member")]})

    def to_target(self, accept=True):
        self.to_activist()
        self.clock.set("2026-09-15T02:00:00")
        self.step(
            "record_assessment",
            "member",
            {"assessment_date": "2026-09-15", "assessment_opinion": "表现积极"},
        )
        self.clock.set("2027-03-15T02:00:00")
        self.step(
            "record_assessment",
            "member",
            {"assessment_date": "2027-03-15", "assessment_opinion": "继续进步"},
        )
        self.clock.set("2027-03-20T02:00:00")
        self.reports("2026-06-15", "2026-09-15", "2026-12-15", "2027-03-15")
        self.step(
            "list_as_target",
            "secretary",
            {"opinions_heard": "党小组、联系人、群众均同意", "target_decided_on": "2027-03-20"},
            files=["target_minutes"],
        )
        self.clock.set("2027-03-22T02:00:00")
        if accept:
            self.step("accept_target_filing", "committee_a")

    def to_branch_review(self):
        """A development target with introducers, political review, notice and training:
        what the branch's review before the pre-review needs (the day: 2027-03-29)."""
        self.to_target()
        self.step(
            "assign_introducers",
            "secretary",
            {"introducers": [self.pid("member"), self.pid("deputy")]},
        )
        self.step(
            "record_political_review",
            "organizer",
            {"review_concluded_on": "2027-03-22", "review_conclusion": "qualified"},
        )
        self.step("start_public_notice", "secretary", {"notice_start": "2027-03-22"})
        self.clock.set("2027-03-24T02:00:00")
        self.step(
            "record_training",
            "organizer",
            {"training_start": "2027-03-22", "training_end": "2027-03-24", "training_hours": "24"},
        )
        self.clock.set("2027-03-29T02:00:00")

    def to_prereview(self):
        self.to_branch_review()
        self.step(
            "request_prereview",
            "secretary",
            {"branch_review_on": "2027-03-29", "branch_review_opinions": "无不同意见"},
            files=["branch_review_minutes"],
        )

    def to_meeting(self):
        self.to_prereview()
        self.step("pass_prereview", "committee_a", {"prereview_on": "2027-03-29"})
        self.step("submit_admission_form", "applicant", files=["admission_form_file"])
        self.step("give_introducer_opinion", "member", {"introducer_opinion": "同意介绍"})
        self.step("give_introducer_opinion", "deputy", {"introducer_opinion": "同意介绍"})
        self.step("submit_to_meeting", "secretary")

    def to_probation(self):
        self.to_meeting()
        self.clock.set("2027-04-02T02:00:00")
        assert self.resolution("2027-04-02", attended=4, votes_for=4) == "passed"
        self.clock.set("2027-04-20T02:00:00")
        self.step(
            "record_superior_talk",
            "organizer",
            {"superior_talk_on": "2027-04-20", "superior_talk_opinion": "入党动机端正"},
        )
        self.step("approve_admission", "committee_a", {"admission_approved_on": "2027-04-20"})
        self.step("record_admission_filing", "organizer", {"admission_filed_on": "2027-04-20"})
        self.step("place_in_group", "secretary", {"party_group": "第一党小组"})
        self.step("record_oath", "secretary", {"oath_date": "2027-04-20"})

    def to_conversion_approval(self, outcome="convert", months=None):
        self.clock.set("2028-03-05T02:00:00")
        self.step("apply_for_conversion", "applicant", files=["conversion_application"])
        end = self.person.probation_end_on.isoformat()
        self.clock.set(f"{end}T02:00:00")
        self.probation_reports()
        values = {
            "proposed_outcome": outcome,
            "party_group_opinion": "同意",
            "conversion_review": "符合条件",
        }
        if months:
            values["extension_months"] = str(months)
        self.step("propose_conversion_outcome", "secretary", values)
        return self.resolution(end, attended=4, votes_for=3)


def test_full_walk_from_application_to_full_membership(walk):
    d = development.definition()

    # Stage 1: the applicant applies themself; the talk is due within one month.
    case = walk.apply()
    assert walk.state == "applied"
    p = walk.person
    assert (p.party_status, p.applied_on) == ("applicant", date(2026, 3, 2))
    db.session.refresh(case)
    assert case.due_at.date() == date(2026, 4, 2)
    settings = development.settings_for({case.org_id})[case.org_id]
    assert development.earliest_full_membership(
        "applied", case.data, development.KeyDates.of(p), settings, date(2026, 3, 2)
    ) == date(2028, 3, 9)  # activist today, target +1 year, 5 working days' notice, +1 year

    walk.clock.set("2026-03-10T02:00:00")
    walk.step("record_talk", "secretary", {"talk_date": "2026-03-10"}, files=["talk_record"])
    assert walk.state == "applicant"

    # Stage 2: listed as an activist by the branch committee, filed, contacts assigned.
    walk.clock.set("2026-03-20T02:00:00")
    walk.step(
        "list_as_activist",
        "secretary",
        {
            "recommended_by": "members",
            "decided_by": "general_meeting",  # four full members: no branch committee
            "activist_decided_on": "2026-03-20",
        },
        files=["activist_minutes"],
    )
    p = walk.person
    assert (p.party_status, p.activist_on) == ("activist", date(2026, 3, 20))
    walk.step("file_activist", "deputy", {"activist_filed_on": "2026-03-20"})
    walk.step("assign_contacts", "secretary", {"contacts": [walk.pid("member")]})
    assert walk.state == "activist"
    for day in ("2026-09-15", "2027-03-15"):
        walk.clock.set(f"{day}T02:00:00")
        walk.step(
            "record_assessment", "member", {"assessment_date": day, "assessment_opinion": "好"}
        )

    # Stage 3: a development target once the superior accepts the filing (the quarterly
    # thought reports of the year as an activist are on record).
    walk.clock.set("2027-03-20T02:00:00")
    walk.reports("2026-06-15", "2026-09-15", "2026-12-15", "2027-03-15")
    walk.step(
        "list_as_target",
        "secretary",
        {"opinions_heard": "一致同意", "target_decided_on": "2027-03-20"},
        files=["target_minutes"],
    )
    assert walk.person.party_status == "activist"  # not until the filing is accepted
    walk.clock.set("2027-03-22T02:00:00")
    walk.step("accept_target_filing", "committee_a")
    p = walk.person
    assert (p.party_status, p.target_on) == ("target", date(2027, 3, 22))
    walk.step(
        "assign_introducers", "secretary", {"introducers": [walk.pid("member"), walk.pid("deputy")]}
    )
    walk.step(
        "record_political_review",
        "organizer",
        {"review_concluded_on": "2027-03-22", "review_conclusion": "qualified"},
    )
    walk.step("start_public_notice", "secretary", {"notice_start": "2027-03-22"})
    walk.clock.set("2027-03-24T02:00:00")
    walk.step(
        "record_training",
        "organizer",
        {"training_start": "2027-03-22", "training_end": "2027-03-24", "training_hours": "24"},
    )
    walk.clock.set("2027-03-29T02:00:00")
    walk.step(
        "request_prereview",
        "secretary",
        {"branch_review_on": "2027-03-29", "branch_review_opinions": "无不同意见"},
        files=["branch_review_minutes"],
    )

    # Stage 4: pre-review, admission form, introducers, the general meeting, approval.
    walk.step("pass_prereview", "committee_a", {"prereview_on": "2027-03-29"})
    walk.step("submit_admission_form", "applicant", files=["admission_form_file"])
    walk.step("give_introducer_opinion", "member", {"introducer_opinion": "同意介绍"})
    walk.step(
        "give_introducer_opinion",
        "secretary",
        {"introducer_opinion": "同意介绍", "introducer": walk.pid("deputy")},
    )
    walk.step("submit_to_meeting", "secretary")
    walk.clock.set("2027-04-02T02:00:00")
    assert walk.resolution("2027-04-02", attended=4, votes_for=4) == "passed"
    assert walk.state == "superior_talk"
    data = runtime.load_case(walk.case_id).data
    assert data["admission_resolution_date"] == "2027-04-02"
    assert data["approval_deadline"] == "2027-07-02"
    assert walk.person.party_status == "target"  # probationary only once approved
    walk.clock.set("2027-04-20T02:00:00")
    walk.step(
        "record_superior_talk",
        "organizer",
        {"superior_talk_on": "2027-04-20", "superior_talk_opinion": "动机端正"},
    )
    walk.step("approve_admission", "committee_b", {"admission_approved_on": "2027-04-20"})
    p = walk.person
    assert (p.party_status, p.admitted_on, p.probation_end_on) == (
        "probationary",
        date(2027, 4, 2),
        date(2028, 4, 2),
    )
    data = runtime.load_case(walk.case_id).data
    assert (data["probation_start"], data["probation_end"]) == ("2027-04-02", "2028-04-02")
    walk.step("record_admission_filing", "organizer", {"admission_filed_on": "2027-04-20"})

    # Stage 5: probation, oath, conversion.
    assert walk.state == "probation"
    walk.step("place_in_group", "secretary", {"party_group": "第一党小组"})
    walk.clock.set("2027-04-25T02:00:00")
    walk.step("record_oath", "committee_a", {"oath_date": "2027-04-25"})
    walk.step("record_thought_report", "applicant", {"report_date": "2027-04-25"})
    walk.clock.set("2028-03-05T02:00:00")
    walk.step("apply_for_conversion", "applicant", files=["conversion_application"])
    walk.clock.set("2028-04-03T02:00:00")
    walk.probation_reports()
    walk.step(
        "propose_conversion_outcome",
        "secretary",
        {"proposed_outcome": "convert", "party_group_opinion": "同意", "conversion_review": "合格"},
    )
    assert walk.resolution("2028-04-03", attended=4, votes_for=4) == "passed"
    assert walk.state == "conversion_approval"
    walk.clock.set("2028-04-10T02:00:00")
    walk.step("approve_conversion", "committee_a", {"conversion_approved_on": "2028-04-10"})
    p = walk.person
    # Party standing counts from the day probation ended, not from the approval.
    assert (p.party_status, p.full_member_on) == ("full", date(2028, 4, 2))
    walk.step(
        "archive",
        "secretary",
        {
            "archived_documents": [
                c.value for c in d.transition("archiving", "archive").fields[0].choices
            ],
            "archive_location": "党委组织部档案室",
        },
    )

    case = db.session.get(ProcessInstance, walk.case_id)
    db.session.refresh(case)
    assert case.state == "archived" and case.closed_at is not None
    events = audit_actions(walk.case_id)
    assert events[0] == "case_started"
    # Status and dates moved only by the workflow, each change audited with before and after.
    assert events.count("person_updated") == 4  # activist, target, probationary, full
    assert events.count("resolution_recorded") == 2
    assert audit.verify_database().ok


def refused(walk, trigger, who, values=None, files=()):
    """The step refused by a guard: its refusal, whose message says why."""
    with pytest.raises(GuardRefused) as exc:
        walk.step(trigger, who, values, files=files)
    return exc.value


def test_the_applicants_notices_name_each_step_taken_on_their_case(walk):
    """An activist's quarterly thought reports leave the case where it was: each notice said
    "member development: activist" again, nine identical lines for the demo's activist. Each
    now names the step and where it left the case, in the reader's language; a notice
    written before steps were named still reads as it did."""
    from pbflow.models import Notification
    from pbflow.services import notifications

    walk.to_activist()
    state = walk.state
    walk.clock.set("2026-06-20T02:00:00")
    walk.reports("2026-06-20")
    walk.clock.set("2026-09-20T02:00:00")
    walk.reports("2026-09-20")
    mine = (
        db.session.execute(
            db.select(Notification)
            .where(Notification.user_id == walk.applicant.id, Notification.kind == "result")
            .order_by(Notification.id)
        )
        .scalars()
        .all()
    )
    reports = [n for n in mine if n.params.get("step") == "record_thought_report"]
    assert len(reports) == 2
    assert {(n.params["from_state"], n.params["state"]) for n in reports} == {(state, state)}
    d = development.definition()
    label = d.states[state].label
    title = d.title
    assert notifications.text(reports[0], "zh") == (
        f"{title.get('zh')}：记录思想汇报，当前为“{label.get('zh')}”"
    )
    assert notifications.text(reports[0], "en") == (
        f"{title.get('en')}: Record a thought report, now {label.get('en')}"
    )
    # Written before: no step in it.
    old = {k: v for k, v in reports[0].params.items() if k not in ("step", "from_state")}
    reports[0].params = old
    assert notifications.text(reports[0], "zh") == f"{title.get('zh')} 进展：{label.get('zh')}"
