"""Minutes of a democratic or organizational life meeting on paper, and its part of the
organization's bound yearly volume (``pbflow/documents/volume.py``).

A life meeting is a case: its minutes are read from the case's fields (the meeting as recorded
by the step "record the meeting", the studies, talks, problems and measures), its rectification
items (child cases) and, as its history of corrections, the steps that sent the plan or the
inspection materials back, with their reasons.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from pbflow.documents import pdf, printing
from pbflow.documents.pdf import Field
from pbflow.documents.volume import Section
from pbflow.engine import actors
from pbflow.engine.definitions import aside, joined
from pbflow.engine.errors import NotFound
from pbflow.engine.registry import registry
from pbflow.extensions import db
from pbflow.models import ProcessInstance, User
from pbflow.services import cases
from pbflow.services.visibility import can_view, get_visible_case

WORKFLOW = "life_meeting"
# Steps that correct the record before the meeting: what the superior sent back, and why.
_CORRECTIONS = ("return_plan", "return_materials")


def _org_name(org_id: int, locale: str) -> str:
    node = actors.org_index()[org_id]
    return node.name_en if locale == "en" and node.name_en else node.name


def _text(d, data: dict[str, Any], name: str, refs, locale: str) -> str:
    if data.get(name) in (None, "", []):
        return ""
    return cases.display_value(cases.field_specs(d).get(name), data[name], refs, locale).text


def _held_on(case: ProcessInstance) -> date | None:
    raw = (case.data or {}).get("held_on")
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def meeting_story(case: ProcessInstance, locale: str) -> list[Any]:
    d = registry().stored(case.definition_id)
    data = dict(case.data or {})
    specs = cases.field_specs(d)
    talks = data.get("talks") or []
    refs = cases.Refs.load(
        specs,
        data,
        *[{"talker": t.get("talker"), "talked_with": t.get("talked_with")} for t in talks],
    )

    def t(name: str) -> str:
        return _text(d, data, name, refs, locale)

    participants = set(data.get("participants") or [])
    present = set(data.get("attendees") or [])
    reasons = data.get("absence_reasons") or {}
    absent = joined(
        (
            aside(refs.persons.get(p, f"#{p}"), reasons.get(str(p), ""), locale)
            for p in sorted(participants - present)
        ),
        locale,
    )
    if data.get("absences"):  # a meeting recorded before each absence had its own reason
        absent = aside(absent, data["absences"], locale) if absent else data["absences"]
    story: list[Any] = [
        pdf.fields_table(
            [
                Field(_("Organization"), _org_name(case.org_id, locale)),
                Field(_("Kind of meeting"), t("kind")),
                Field(_("Theme"), t("theme"), wide=True),
                Field(_("Held on"), t("held_on")),
                Field(_("Place"), t("place") or "—"),
                Field(_("Principal leader"), t("principal")),
                Field(_("Recorder"), t("recorder") or "—"),
                Field(
                    _("The superior's attendee"),
                    t("superior_present") or t("superior_present_name") or "—",
                ),
                Field(
                    _("Attendance"),
                    _(
                        "%(present)s of %(count)s present",
                        present=len(present),
                        count=len(participants),
                    ),
                ),
                Field(_("Present"), t("attendees") or "—", wide=True),
                Field(_("Absent"), absent or "—", wide=True),
            ]
        )
    ]
    for name in (
        "last_rectification",
        "problems_found",
        "measures_planned",
        "peer_appraisal_summary",
        "appraisal_decision",
    ):
        if data.get(name):
            story.append(pdf.heading(specs[name].label.get(locale), 2, toc=False))
            story.append(pdf.para(data[name]))
    if data.get("studies"):
        story.append(pdf.heading(_("Study sessions"), 2, toc=False))
        story.append(
            pdf.grid(
                [_("Date"), _("What was studied")],
                [
                    [s.get("study_date") or "", s.get("study_content") or ""]
                    for s in data["studies"]
                ],
                [0.2, 0.8],
            )
        )
    if talks:
        story.append(pdf.heading(_("Heart-to-heart talks"), 2, toc=False))
        story.append(
            pdf.grid(
                [_("Date"), _("Who talked"), _("With whom"), _("Main points")],
                [
                    [
                        tk.get("talk_date") or "",
                        refs.persons.get(tk.get("talker"), ""),
                        joined(
                            (refs.persons.get(p, f"#{p}") for p in tk.get("talked_with") or []),
                            locale,
                        ),
                        tk.get("talk_note") or "",
                    ]
                    for tk in talks
                ],
                [0.15, 0.15, 0.25, 0.45],
            )
        )
    children = db.session.execute(
        select(ProcessInstance)
        .where(ProcessInstance.parent_id == case.id)
        .order_by(ProcessInstance.id)
    ).scalars()
    rows = []
    for child in children:
        cd = registry().stored(child.definition_id)
        cdata = dict(child.data or {})
        crefs = cases.Refs.load(cases.field_specs(cd), cdata)
        rows.append(
            [
                cdata.get("problem") or "",
                cdata.get("measures") or "",
                _text(cd, cdata, "owner", crefs, locale),
                str(cdata.get("deadline") or ""),
                cd.states[child.state].label.get(locale),
            ]
        )
    story.append(pdf.heading(_("Rectification list"), 2, toc=False))
    story.append(
        pdf.grid(
            [_("Problem"), _("Measures"), _("Owner"), _("Deadline"), _("State")],
            rows,
            [0.25, 0.3, 0.13, 0.14, 0.18],
        )
    )
    story.append(pdf.heading(_("History of corrections"), 2, toc=False))
    history = [
        [e.at.strftime("%Y-%m-%d"), e.actor, e.text, e.comment or ""]
        for e in cases.timeline(case, d, locale)
        if e.action == "transition" and e.to_state in _returned_states(d, locale)
    ]
    if history:
        story.append(
            pdf.grid(
                [_("Date"), _("By"), _("Step"), _("Reason")], history, [0.14, 0.16, 0.25, 0.45]
            )
        )
    else:
        story.append(pdf.para(_("Nothing was sent back for correction.")))
    return story


def _returned_states(d, locale: str) -> set[str]:
    return {d.states[t.dest].label.get(locale) for t in d.transitions if t.trigger in _CORRECTIONS}


def minutes_pdf(reader: User, case_id: int, locale: str) -> tuple[bytes, str]:
    """The life meeting's minutes as PDF, audited; NotFound for a case the reader may not see,
    one that is no life meeting, or one whose meeting is not recorded yet."""
    case = get_visible_case(reader, case_id)
    held = _held_on(case)
    if case.workflow_id != WORKFLOW or held is None:
        raise NotFound(_("This case has no recorded life meeting."))
    d = registry().stored(case.definition_id)
    kind = _text(d, case.data or {}, "kind", cases.Refs(), locale)
    story: list[Any] = pdf.title(_("Minutes"), f"{kind} · {case.title}")
    story += meeting_story(case, locale)
    story.append(pdf.spacer(8))
    story.append(pdf.signatures([_("Principal leader"), _("Recorder")]))
    data = pdf.render(
        pdf.Meta(
            title=_("Minutes") + f" · {kind} · {case.title}",
            organization=_org_name(case.org_id, locale),
            locale=locale,
            subject=case.title,
            printed_by=reader.display_name,
        ),
        story,
    )
    printing.record_print(
        reader,
        "life_meeting_minutes",
        org_id=case.org_id,
        instance_id=case.id,
        record={"case_id": case.id},
        content=data,
    )
    return data, f"life-meeting-{held.isoformat()}-{case.id}.pdf"


def minutes_sections(reader: User, org_id: int, year: int, locale: str) -> list[Section]:
    """The life meetings the organization held in ``year`` (by the recorded date)."""
    found = db.session.execute(
        select(ProcessInstance).where(
            ProcessInstance.workflow_id == WORKFLOW, ProcessInstance.org_id == org_id
        )
    ).scalars()
    sections = []
    for case in found:
        held = _held_on(case)
        if held is None or held.year != year or not can_view(reader, case):
            continue
        d = registry().stored(case.definition_id)
        kind = _text(d, case.data or {}, "kind", cases.Refs(), locale)
        sections.append(Section(held, kind, case.title, meeting_story(case, locale)))
    return sections
