"""The member's development record (发展党员全程纪实) and the standard forms filled from it.

One function reads everything a document of a person's development shows
(:func:`development_record`): the person, every step of their case with its date and who took
it, the branch general meeting's resolutions with their vote counts, contacts and introducers,
talks, assessments, training, public notice, political review, the time limits and when they
were met, and the files attached. The screen page, the record's PDF and the four forms are drawn
from it, so they never disagree:

- the registration form (党员基本信息登记表),
- the branch general meeting's resolution on an admission or a conversion (支部大会决议),
- the talk record (谈话记录) of the branch's talk with the applicant or the superior's talk,
- the notice of probationary or full membership to the person (通知书).

Who may print: the person themself, and those who read the person's branch (the branch's
officers and the offices above it), as on the progress page. Every print is audited.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from pbflow import clock
from pbflow.documents import pdf, printing
from pbflow.documents.pdf import Field
from pbflow.engine import actors, calendar
from pbflow.engine.definitions import Definition, joined, labelled
from pbflow.engine.errors import NotFound
from pbflow.engine.fields import parse_date
from pbflow.engine.registry import registry
from pbflow.extensions import db
from pbflow.models import Attachment, Person, ProcessInstance, Resolution, User
from pbflow.procedures.member_development import services as development
from pbflow.services import cases
from pbflow.services.people import gender_label

# The events that are steps of the record (files are listed apart; reading and printing it
# are not part of it).
_STEP_ACTIONS = frozenset(
    {
        "case_started",
        "transition",
        "resolution_recorded",
        "ballot_cast",
        "comment_added",
        "reminder_sent",
        "case_overdue",
        "escalated",
    }
)
FORMS = ("registration_form", "admission_resolution", "conversion_resolution", "talk_record")
TALKS = ("application", "superior")
NOTICES = ("probationary", "full")


def _d(value: Any) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return parse_date(str(value))
    except ValueError:
        return None


def _iso(value: Any) -> str:
    day = _d(value)
    return day.isoformat() if day else ""


@dataclass
class StepRow:
    at: str
    stage: str
    step: str
    actor: str
    details: list[tuple[str, str]]
    comment: str | None


@dataclass
class ResolutionRow:
    kind: str  # admission | conversion
    label: str
    meeting_date: date
    should_attend: int
    attended: int
    votes_for: int
    votes_against: int
    votes_abstain: int
    written_for: int
    written_against: int
    written_abstain: int
    passed: bool


@dataclass
class TimeLimit:
    rule: str
    since: str
    limit: str
    done: str
    status: str  # met | missed | pending | not_applicable

    @property
    def status_text(self) -> str:
        return {
            "met": _("met"),
            "missed": _("not met"),
            "pending": _("pending"),
        }.get(self.status, "—")


@dataclass
class Talk:
    kind: str
    on: str
    by: str
    notes: str


@dataclass
class DevelopmentRecord:
    person: Person
    case: ProcessInstance
    definition: Definition
    locale: str
    org_name: str
    committee_name: str
    state_label: str
    party_status: str
    facts: list[tuple[str, str]]
    steps: list[StepRow]
    resolutions: list[ResolutionRow]
    contacts: list[str]
    introducers: list[tuple[str, str]]  # name, opinion
    talks: list[Talk]
    assessments: list[tuple[str, str]]
    training: list[tuple[str, str]]
    notice: list[tuple[str, str]]
    review: list[tuple[str, str]]
    limits: list[TimeLimit]
    files: list[tuple[str, str, str, str]]  # name, purpose, uploaded, sha256
    data: dict[str, Any] = field(default_factory=dict)

    def resolution(self, kind: str) -> ResolutionRow | None:
        found = [r for r in self.resolutions if r.kind == kind and r.passed]
        return found[-1] if found else None


STATUS_LABELS = {
    "none": lambda: _("not in the procedure"),
    "applicant": lambda: _("applicant"),
    "activist": lambda: _("activist"),
    "target": lambda: _("development target"),
    "probationary": lambda: _("probationary member"),
    "full": lambda: _("full member"),
}


def status_label(status: str | None) -> str:
    return STATUS_LABELS.get(status or "none", lambda: status or "")()


# --- reading ---------------------------------------------------------------------------------


def _person_for(viewer: User, person_id: int) -> Person:
    person = db.session.get(Person, person_id)
    if person is None or not (
        person.user_id == viewer.id or actors.can_read_org(viewer, person.org_id)
    ):
        raise NotFound(_("No such person, or you may not see them."))
    return person


def _case_of(person: Person) -> ProcessInstance:
    case = db.session.execute(
        select(ProcessInstance)
        .where(
            ProcessInstance.workflow_id == development.WORKFLOW,
            ProcessInstance.subject_person_id == person.id,
        )
        .order_by(ProcessInstance.closed_at.is_(None).desc(), ProcessInstance.id.desc())
        .limit(1)
    ).scalar()
    if case is None:
        raise NotFound(_("%(name)s has no development record yet.", name=person.name))
    return case


def _org_name(org_id: int, locale: str) -> str:
    node = actors.org_index().get(org_id)
    if node is None:
        return ""
    return node.name_en if locale == "en" and node.name_en else node.name


def _committee_name(org_id: int, locale: str) -> str:
    index = actors.org_index()
    for oid in reversed(index[org_id].ancestor_ids()):
        if index[oid].kind == "committee":
            return _org_name(oid, locale)
    return _org_name(org_id, locale)


def _names(ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(db.session.execute(select(Person.id, Person.name).where(Person.id.in_(ids))).all())


def development_record(viewer: User, person_id: int, locale: str) -> DevelopmentRecord:
    """Everything the record and the forms show of one person's development, for ``viewer``
    (NotFound when they may not see the person or there is no case)."""
    person = _person_for(viewer, person_id)
    case = _case_of(person)
    d = registry().stored(case.definition_id)
    data = dict(case.data or {})
    entries = [e for e in cases.timeline(case, d, locale) if e.action in _STEP_ACTIONS]
    steps = []
    for e in entries:
        state = d.states.get(_state_key(d, e.to_state, locale) or "")
        stage = d.stages.get(state.stage).get(locale) if state and state.stage in d.stages else ""
        details = [(f.label, f.text) for f in e.fields if f.text]
        details += e.details
        steps.append(
            StepRow(
                at=clock.to_local(e.at).strftime("%Y-%m-%d %H:%M"),
                stage=stage,
                step=e.text,
                actor=e.actor,
                details=details,
                comment=e.comment,
            )
        )
    contacts_ids = [int(v) for v in data.get("contacts") or []]
    introducer_ids = [int(v) for v in data.get("introducers") or []]
    names = _names(contacts_ids + introducer_ids)
    opinions = data.get("introducer_opinions") or {}
    record = DevelopmentRecord(
        person=person,
        case=case,
        definition=d,
        locale=locale,
        org_name=_org_name(case.org_id, locale),
        committee_name=_committee_name(case.org_id, locale),
        state_label=d.states[case.state].label.get(locale),
        party_status=status_label(person.party_status),
        facts=_facts(person, case, locale),
        steps=steps,
        resolutions=_resolutions(case, d, locale),
        contacts=[names.get(i, f"#{i}") for i in contacts_ids],
        introducers=[
            (names.get(i, f"#{i}"), (opinions.get(str(i)) or {}).get("opinion") or "")
            for i in introducer_ids
        ],
        talks=_talks(case, data, entries, d, locale),
        assessments=[
            (_iso(a.get("assessment_date")), a.get("assessment_opinion") or "")
            for a in data.get("assessments") or []
        ],
        training=_pairs(
            (_("Training from"), _iso(data.get("training_start"))),
            (_("Training until"), _iso(data.get("training_end"))),
            (_("Class hours"), str(data.get("training_hours") or "")),
        ),
        notice=_pairs(
            (_("Public notice from"), _iso(data.get("notice_start"))),
            (_("Where it was posted"), data.get("notice_scope") or ""),
        ),
        review=_pairs(
            (_("Political review concluded on"), _iso(data.get("review_concluded_on"))),
            (
                _("Conclusion"),
                _choice(d, "review_conclusion", data.get("review_conclusion"), locale),
            ),
        ),
        limits=_limits(person, data, d),
        files=_files(case, d, locale),
        data=data,
    )
    return record


def _pairs(*pairs: tuple[str, str]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in pairs if v]


def _state_key(d: Definition, label: str | None, locale: str) -> str | None:
    if label is None:
        return None
    for name, spec in d.states.items():
        if spec.label.get(locale) == label:
            return name
    return None


def _choice(d: Definition, name: str, value: Any, locale: str) -> str:
    if value in (None, ""):
        return ""
    spec = cases.field_specs(d).get(name)
    if spec is None:
        return str(value)
    return cases.display_value(spec, value, cases.Refs(), locale).text


def _facts(person: Person, case: ProcessInstance, locale: str) -> list[tuple[str, str]]:
    rows = [
        (_("Name"), person.name),
        (_("Gender"), gender_label(person.gender) if person.gender else ""),
        (_("Date of birth"), _iso(person.birth_date)),
        (_("Ethnicity"), person.ethnicity or ""),
        (_("Education"), person.education or ""),
        (_("Job"), person.job or ""),
        (_("Branch"), _org_name(case.org_id, locale)),
        (_("Party status"), status_label(person.party_status)),
        (_("Applied"), _iso(person.applied_on)),
        (_("Activist since"), _iso(person.activist_on)),
        (_("Development target since"), _iso(person.target_on)),
        (_("Admitted (branch resolution)"), _iso(person.admitted_on)),
        (_("Probation ends"), _iso(person.probation_end_on)),
        (_("Full member since"), _iso(person.full_member_on)),
    ]
    return rows


def _resolutions(case: ProcessInstance, d: Definition, locale: str) -> list[ResolutionRow]:
    rows = db.session.execute(
        select(Resolution).where(Resolution.instance_id == case.id).order_by(Resolution.id)
    ).scalars()
    result = []
    for r in rows:
        kind = "conversion" if r.state.startswith("conversion") else "admission"
        spec = d.states.get(r.state)
        result.append(
            ResolutionRow(
                kind=kind,
                label=spec.label.get(locale) if spec else r.state,
                meeting_date=r.meeting_date,
                should_attend=r.should_attend,
                attended=r.attended,
                votes_for=r.votes_for,
                votes_against=r.votes_against,
                votes_abstain=r.votes_abstain,
                written_for=r.written_for,
                written_against=r.written_against,
                written_abstain=r.written_abstain,
                passed=r.outcome == "passed",
            )
        )
    return result


def _talks(case, data, entries, d: Definition, locale: str) -> list[Talk]:
    """The branch's talk with the applicant (step 2) and the superior's talk before approval
    (step 16), with who held them (the one who recorded the step)."""
    by_step = {}
    for e in entries:
        if e.action == "transition":
            by_step.setdefault(e.text, e.actor)
    talks = []
    step_label = {t.trigger: t.label.get(locale) for t in d.transitions}
    if data.get("talk_date"):
        talks.append(
            Talk(
                "application",
                _iso(data["talk_date"]),
                by_step.get(step_label.get("record_talk"))
                or by_step.get(step_label.get("adopt_as_applicant"), ""),
                data.get("talk_notes") or "",
            )
        )
    if data.get("superior_talk_on"):
        talks.append(
            Talk(
                "superior",
                _iso(data["superior_talk_on"]),
                by_step.get(step_label.get("record_superior_talk"), ""),
                data.get("superior_talk_opinion") or "",
            )
        )
    return talks


def _limit(rule: str, since: date | None, limit: date | None, done: date | None, *, at_least=False):
    """A time limit: done by ``limit`` (or, ``at_least``, not before it)."""
    if since is None:
        return None
    if done is None:
        status = "pending"
    elif limit is None:
        status = "met"
    elif at_least:
        status = "met" if done >= limit else "missed"
    else:
        status = "met" if done <= limit else "missed"
    return TimeLimit(
        rule, since.isoformat(), limit.isoformat() if limit else "", _iso(done), status
    )


def _training_limit(start: date | None, end: date | None, hours: int) -> TimeLimit | None:
    """Centralized training of at least 3 days or 24 class hours (DOMAIN 1.11)."""
    if start is None:
        return None
    days = (end - start).days + 1 if end else 0
    return TimeLimit(
        _("Centralized training of at least 3 days or 24 class hours"),
        start.isoformat(),
        _("%(days)s days, %(hours)s class hours", days=days, hours=hours),
        _iso(end),
        "met" if days >= 3 or hours >= 24 else ("pending" if end is None else "missed"),
    )


def _limits(person: Person, data: dict[str, Any], d: Definition) -> list[TimeLimit]:
    """The time limits of DOMAIN.md section 1 that the record can be checked against."""
    settings = development.settings_for({person.org_id}).get(person.org_id, {})
    applied = _d(data.get("application_date")) or person.applied_on
    activist = person.activist_on
    resolution = _d(data.get("admission_resolution_date"))
    months = int(settings.get("min_months_application_to_activist") or 0)
    notice_days = int(settings.get("public_notice_working_days") or 0)
    notice = _d(data.get("notice_start"))
    training_start, training_end = _d(data.get("training_start")), _d(data.get("training_end"))
    deadline = _d(data.get("approval_deadline"))
    conversion = _d(data.get("conversion_resolution_date"))
    rows = [
        _limit(
            _("Talk within one month of the application"),
            applied,
            calendar.add_months(applied, 1) if applied else None,
            _d(data.get("talk_date")),
        ),
        _limit(
            _("Activist no earlier than %(n)s months after the application", n=months),
            applied,
            calendar.add_months(applied, months) if applied else None,
            activist,
            at_least=True,
        ),
        _limit(
            _("Development target at least one year after becoming an activist"),
            activist,
            calendar.add_months(activist, 12) if activist else None,
            _d(data.get("target_decided_on")),
            at_least=True,
        ),
        _limit(
            _("Public notice of %(n)s working days before pre-review", n=notice_days),
            notice,
            calendar.add_working_days(notice, notice_days) if notice else None,
            _d(data.get("prereview_on")),
            at_least=True,
        ),
        _training_limit(training_start, training_end, int(data.get("training_hours") or 0)),
        _limit(
            _("Approval by the superior within three months of the resolution"),
            resolution,
            deadline or (calendar.add_months(resolution, 3) if resolution else None),
            _d(data.get("admission_approved_on")),
        ),
        _limit(
            _("Probation of one year from the resolution"),
            person.admitted_on,
            person.probation_end_on,
            conversion,
            at_least=True,
        ),
        _limit(
            _("Conversion approved within three months of the resolution"),
            conversion,
            calendar.add_months(conversion, 3) if conversion else None,
            _d(data.get("conversion_approved_on")),
        ),
    ]
    return [r for r in rows if r is not None]


def _files(case: ProcessInstance, d: Definition, locale: str) -> list[tuple[str, str, str, str]]:
    specs = cases.field_specs(d)
    purposes: dict[int, str] = {}
    for name, value in (case.data or {}).items():
        spec = specs.get(name)
        if spec is not None and spec.type == "file":
            for v in value if isinstance(value, list) else [value]:
                if isinstance(v, int):
                    purposes[v] = spec.label.get(locale)
    rows = db.session.execute(
        select(Attachment).where(Attachment.instance_id == case.id).order_by(Attachment.id)
    ).scalars()
    return [
        (
            a.filename,
            purposes.get(a.id) or (a.purpose or ""),
            clock.to_local(a.created_at).strftime("%Y-%m-%d"),
            a.sha256[:16],
        )
        for a in rows
    ]


# --- the record as PDF -----------------------------------------------------------------------


def _meta(record: DevelopmentRecord, title: str, viewer: User) -> pdf.Meta:
    return pdf.Meta(
        title=title,
        organization=record.org_name,
        locale=record.locale,
        subject=f"{title} · {record.person.name}",
        printed_by=viewer.display_name,
        keywords=("pbflow", record.person.name),
    )


def record_pdf(viewer: User, record: DevelopmentRecord) -> bytes:
    """The development record for the personnel file."""
    t = _("Record of the development of a party member")
    story: list[Any] = pdf.title(t, f"{record.person.name} · {record.org_name}")
    story.append(pdf.heading(_("The person"), toc=False))
    story.append(pdf.fields_table(Field(k, v) for k, v in record.facts))
    story.append(pdf.para(_("Where the case stands: %(state)s", state=record.state_label)))
    story.append(pdf.heading(_("Steps, dates and who took them"), toc=False))
    story.append(
        pdf.grid(
            [_("Date and time"), _("Stage"), _("Step"), _("Taken by"), _("Details")],
            [[s.at, s.stage, s.step, s.actor, _details_text(s)] for s in record.steps],
            [0.15, 0.15, 0.22, 0.13, 0.35],
        )
    )
    story.append(pdf.heading(_("Resolutions of the branch general meeting"), toc=False))
    story.append(_resolutions_grid(record))
    story.append(pdf.heading(_("Cultivation contacts and introducers"), toc=False))
    people = [
        Field(_("Cultivation contacts"), joined(record.contacts, record.locale) or "—", wide=True)
    ]
    people += [
        Field(_("Introducer"), labelled(n, o, record.locale) if o else n, wide=True)
        for n, o in record.introducers
    ]
    story.append(pdf.fields_table(people))
    story.append(pdf.heading(_("Talks"), toc=False))
    story.append(
        pdf.grid(
            [_("Talk"), _("Date"), _("Held by"), _("Notes")],
            [[_talk_label(t.kind), t.on, t.by, t.notes] for t in record.talks],
            [0.25, 0.13, 0.14, 0.48],
        )
    )
    story.append(pdf.heading(_("Half-yearly assessments"), toc=False))
    story.append(pdf.grid([_("Date"), _("Assessment")], record.assessments, [0.18, 0.82]))
    story.append(pdf.heading(_("Training, public notice and political review"), toc=False))
    rest = [Field(k, v) for k, v in record.training + record.notice + record.review]
    story.append(pdf.fields_table(rest or [Field("—", "—")]))
    story.append(pdf.heading(_("Time limits and when they were met"), toc=False))
    story.append(
        pdf.grid(
            [_("Rule"), _("From"), _("Limit"), _("Done on"), _("Status")],
            [[r.rule, r.since, r.limit, r.done, r.status_text] for r in record.limits],
            [0.40, 0.14, 0.14, 0.14, 0.18],
        )
    )
    story.append(pdf.heading(_("Documents on file"), toc=False))
    story.append(
        pdf.grid(
            [_("File"), _("What it is"), _("Uploaded"), _("SHA-256 (start)")],
            record.files,
            [0.32, 0.30, 0.14, 0.24],
        )
    )
    story.append(pdf.spacer(8))
    sign = [pdf.signatures([_("Branch secretary"), _("Organization office")])]
    story.append(pdf.keep([*sign, pdf.seal_area(record.org_name)]))  # never a lone seal
    return pdf.render(_meta(record, t, viewer), story)


def _details_text(step: StepRow) -> str:
    lines = [f"{k}：{v}" for k, v in step.details]
    if step.comment:
        lines.append(f"{_('Comment')}：{step.comment}")
    return "\n".join(lines)


def _talk_label(kind: str) -> str:
    if kind == "application":
        return _("Talk with the applicant (branch)")
    return _("Talk before approval (superior committee)")


def _votes(r: ResolutionRow) -> str:
    text = _(
        "%(for)s for, %(against)s against, %(abstain)s abstaining",
        **{"for": r.votes_for, "against": r.votes_against, "abstain": r.votes_abstain},
    )
    written = r.written_for + r.written_against + r.written_abstain
    if written:
        text += "；" + _(
            "written opinions of absent members: %(for)s for, %(against)s against, "
            "%(abstain)s abstaining",
            **{"for": r.written_for, "against": r.written_against, "abstain": r.written_abstain},
        )
    return text


def _resolutions_grid(record: DevelopmentRecord) -> Any:
    return pdf.grid(
        [_("Meeting"), _("Date"), _("Should attend"), _("Attended"), _("Votes"), _("Outcome")],
        [
            [
                r.label,
                r.meeting_date.isoformat(),
                str(r.should_attend),
                str(r.attended),
                _votes(r),
                _("passed") if r.passed else _("failed"),
            ]
            for r in record.resolutions
        ],
        [0.22, 0.13, 0.1, 0.1, 0.33, 0.12],
    )


# --- the forms -------------------------------------------------------------------------------


def registration_form_pdf(viewer: User, record: DevelopmentRecord) -> bytes:
    """党员基本信息登记表: the person's details, dates and introducers, to sign and seal."""
    t = _("Party member registration form")
    p, data = record.person, record.data
    fields = [
        Field(_("Name"), p.name),
        Field(_("Gender"), gender_label(p.gender) if p.gender else ""),
        Field(_("Date of birth"), _iso(p.birth_date)),
        Field(_("Ethnicity"), p.ethnicity or ""),
        Field(_("ID number"), p.id_number or ""),
        Field(_("Education"), p.education or ""),
        Field(_("Job"), p.job or ""),
        Field(_("Phone"), p.phone or ""),
        Field(_("Branch"), record.org_name, wide=True),
        Field(_("Party group"), data.get("party_group") or ""),
        Field(_("Party status"), record.party_status),
        Field(_("Applied"), _iso(p.applied_on)),
        Field(_("Activist since"), _iso(p.activist_on)),
        Field(_("Development target since"), _iso(p.target_on)),
        Field(_("Admitted (branch resolution)"), _iso(p.admitted_on)),
        Field(_("Admission approved on"), _iso(data.get("admission_approved_on"))),
        Field(_("Admission oath"), _iso(data.get("oath_date"))),
        Field(_("Probation ends"), _iso(p.probation_end_on)),
        Field(_("Full member since"), _iso(p.full_member_on)),
        Field(
            _("Introducers"), joined((n for n, _o in record.introducers), record.locale), wide=True
        ),
        Field(_("Cultivation contacts"), joined(record.contacts, record.locale), wide=True),
    ]
    story: list[Any] = pdf.title(t)
    story.append(pdf.fields_table(fields))
    story.append(pdf.spacer(10))
    story.append(pdf.signatures([_("The member"), _("Branch secretary")]))
    story.append(pdf.seal_area(record.org_name))
    return pdf.render(_meta(record, t, viewer), story)


def resolution_pdf(viewer: User, record: DevelopmentRecord, kind: str) -> bytes:
    """The branch general meeting's resolution on the admission or on the conversion."""
    r = record.resolution(kind)
    if r is None:
        raise NotFound(_("The branch general meeting has passed no such resolution yet."))
    p, data = record.person, record.data
    if kind == "admission":
        t = _("Resolution of the branch general meeting on admitting a probationary member")
        decision = _(
            "The meeting agrees to admit comrade %(name)s as a probationary member of the "
            "Communist Party of China and reports it to the party committee for approval.",
            name=p.name,
        )
    else:
        t = _("Resolution of the branch general meeting on the conversion of a probationary member")
        outcome = data.get("proposed_outcome")
        decision = {
            "extend": _(
                "The meeting agrees to extend the probation of comrade %(name)s by %(n)s months "
                "and reports it to the party committee for approval.",
                name=p.name,
                n=data.get("extension_months") or data.get("probation_extended_months") or "",
            ),
            "cancel": _(
                "The meeting agrees to cancel the probationary membership of comrade %(name)s "
                "and reports it to the party committee for approval.",
                name=p.name,
            ),
        }.get(
            outcome,
            _(
                "The meeting agrees to convert comrade %(name)s to full membership on time and "
                "reports it to the party committee for approval.",
                name=p.name,
            ),
        )
    body = _(
        "On %(date)s the %(branch)s held its general meeting. Of %(should)s full members with "
        "voting rights who should attend, %(attended)s attended. The secret ballot gave "
        "%(votes)s.",
        date=r.meeting_date.isoformat(),
        branch=record.org_name,
        should=r.should_attend,
        attended=r.attended,
        votes=_votes(r),
    )
    fields = [
        Field(_("Name"), p.name),
        Field(_("Branch"), record.org_name),
        Field(_("Meeting date"), r.meeting_date.isoformat()),
        Field(_("Should attend"), str(r.should_attend)),
        Field(_("Attended"), str(r.attended)),
        Field(_("For"), str(r.votes_for + r.written_for)),
        Field(_("Against"), str(r.votes_against + r.written_against)),
        Field(_("Abstain"), str(r.votes_abstain + r.written_abstain)),
        Field(
            _("Introducers"), joined((n for n, _o in record.introducers), record.locale), wide=True
        ),
    ]
    story: list[Any] = pdf.title(t)
    story.append(pdf.fields_table(fields))
    story.append(pdf.spacer(4))
    story.append(pdf.para(body))
    story.append(pdf.para(decision))
    story.append(pdf.spacer(10))
    story.append(pdf.signatures([_("Branch secretary")]))
    story.append(pdf.seal_area(record.org_name, r.meeting_date.isoformat()))
    return pdf.render(_meta(record, t, viewer), story)


def talk_pdf(viewer: User, record: DevelopmentRecord, kind: str) -> bytes:
    """The record of a talk with the applicant or candidate."""
    found = [t for t in record.talks if t.kind == kind]
    if not found:
        raise NotFound(_("No such talk is recorded yet."))
    talk = found[-1]
    t = _("Record of a talk")
    fields = [
        Field(_("Talk"), _talk_label(kind), wide=True),
        Field(_("Talked with"), record.person.name),
        Field(_("Held by"), talk.by),
        Field(_("Date"), talk.on),
        Field(_("Place"), ""),
        Field(_("Notes"), talk.notes or "", wide=True),
    ]
    story: list[Any] = pdf.title(t)
    story.append(pdf.fields_table(fields))
    story.append(pdf.spacer(10))
    story.append(pdf.signatures([_("Held by"), _("Talked with")]))
    org = record.committee_name if kind == "superior" else record.org_name
    story.append(pdf.seal_area(org))
    return pdf.render(_meta(record, t, viewer), story)


def notice_pdf(viewer: User, record: DevelopmentRecord, kind: str) -> bytes:
    """The branch's notice to the person of their admission or their conversion."""
    p, data = record.person, record.data
    if kind == "probationary":
        approved = _iso(data.get("admission_approved_on"))
        if not approved or p.admitted_on is None:
            raise NotFound(_("The admission has not been approved yet."))
        t = _("Notice of admission as a probationary member")
        body = _(
            "Comrade %(name)s: the general meeting of %(branch)s resolved on %(resolved)s to "
            "admit you as a probationary member of the Communist Party of China, and "
            "%(committee)s approved it on %(approved)s. Your probation runs from %(start)s to "
            "%(end)s.",
            name=p.name,
            branch=record.org_name,
            resolved=_iso(p.admitted_on),
            committee=record.committee_name,
            approved=approved,
            start=_iso(data.get("probation_start") or p.admitted_on),
            end=_iso(data.get("probation_end") or p.probation_end_on),
        )
    else:
        approved = _iso(data.get("conversion_approved_on"))
        if p.party_status != "full" or not p.full_member_on:
            raise NotFound(_("The conversion to full membership has not been approved yet."))
        t = _("Notice of conversion to full membership")
        body = _(
            "Comrade %(name)s: the general meeting of %(branch)s resolved on %(resolved)s to "
            "convert you to full membership, and %(committee)s approved it on %(approved)s. "
            "You are a full member of the Communist Party of China from %(full)s; your party "
            "standing counts from that day.",
            name=p.name,
            branch=record.org_name,
            resolved=_iso(data.get("conversion_resolution_date")),
            committee=record.committee_name,
            approved=approved,
            full=_iso(p.full_member_on),
        )
    story: list[Any] = pdf.title(t)
    story.append(pdf.spacer(6))
    story.append(pdf.para(body))
    story.append(pdf.spacer(6))
    story.append(pdf.fields_table([Field(_("Name"), p.name), Field(_("Branch"), record.org_name)]))
    story.append(pdf.spacer(10))
    story.append(pdf.signatures([_("Received by")]))
    story.append(pdf.seal_area(record.org_name, approved))
    return pdf.render(_meta(record, t, viewer), story)


# --- use cases: each prints, audits, and returns the bytes -----------------------------------


def print_document(
    viewer: User, person_id: int, document: str, locale: str, variant: str | None = None
) -> tuple[bytes, str]:
    """One document of a person's development as PDF, audited; returns (bytes, file name)."""
    record = development_record(viewer, person_id, locale)
    if document == "development_record":
        data, stem = record_pdf(viewer, record), "development-record"
    elif document == "registration_form":
        data, stem = registration_form_pdf(viewer, record), "registration-form"
    elif document in ("admission_resolution", "conversion_resolution"):
        kind = document.split("_")[0]
        data, stem = resolution_pdf(viewer, record, kind), f"{kind}-resolution"
    elif document == "talk_record" and variant in TALKS:
        data, stem = talk_pdf(viewer, record, variant), f"talk-{variant}"
    elif document == "membership_notice" and variant in NOTICES:
        data, stem = notice_pdf(viewer, record, variant), f"notice-{variant}"
    else:
        raise NotFound(_("No such document."))
    printing.record_print(
        viewer,
        document,
        org_id=record.case.org_id,
        instance_id=record.case.id,
        record={"person_id": record.person.id, **({"variant": variant} if variant else {})},
        content=data,
    )
    return data, f"{stem}-{record.person.id}.pdf"


def view_record(viewer: User, person_id: int, locale: str) -> DevelopmentRecord:
    """The record on screen (its print view); audited as a print in HTML."""
    record = development_record(viewer, person_id, locale)
    printing.record_print(
        viewer,
        "development_record",
        org_id=record.case.org_id,
        instance_id=record.case.id,
        record={"person_id": record.person.id},
        fmt="html",
    )
    return record
