"""Minutes of "three meetings and one lesson" on paper: one meeting, and its part of the bound
yearly volume (``pbflow/documents/volume.py``), each with its attendance and the history of the
corrections made to the record after it was written."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from pbflow import clock
from pbflow.documents import pdf, printing
from pbflow.documents.pdf import Field
from pbflow.documents.volume import Section
from pbflow.engine import actors
from pbflow.engine.definitions import aside, joined
from pbflow.extensions import db
from pbflow.models import Meeting, User
from pbflow.procedures.three_meetings import meeting_votes
from pbflow.procedures.three_meetings import services as meetings


def _org_name(org_id: int, locale: str) -> str:
    node = actors.org_index()[org_id]
    return node.name_en if locale == "en" and node.name_en else node.name


def meeting_story(page: meetings.MeetingPage, locale: str) -> list[Any]:
    """The minutes of one meeting: the table of facts, attendance, agenda, minutes,
    resolutions, files, and every correction with its reason."""
    m = page.meeting
    present = joined((page.names[a.person_id] for a in page.present), locale) or "—"
    absent = (
        joined(
            (aside(page.names[a.person_id], a.reason, locale) for a in page.absent),
            locale,
        )
        or "—"
    )
    count = len(page.present) + len(page.absent)
    story: list[Any] = [
        pdf.fields_table(
            [
                Field(_("Organization"), _org_name(m.org_id, locale)),
                Field(_("Meeting"), meetings.type_label(m.meeting_type)),
                Field(_("Held on"), m.held_on.isoformat()),
                Field(_("Place"), m.place or "—"),
                Field(_("Chair or presenter"), page.names.get(m.chair_person_id, "—")),
                Field(_("Recorder"), page.names.get(m.recorder_person_id, "—")),
                Field(_("Topic"), m.topic, wide=True),
                Field(
                    _("Attendance"),
                    _("%(present)s of %(count)s present", present=len(page.present), count=count),
                ),
                Field(_("Version"), str(m.version)),
                Field(_("Present"), present, wide=True),
                Field(_("Absent"), absent, wide=True),
            ]
        ),
    ]
    for label, body in (
        (_("Agenda"), m.agenda),
        (_("Minutes (main points)"), m.minutes),
        (_("Resolutions"), m.resolutions),
    ):
        if body:
            story.append(pdf.heading(label, 2, toc=False))
            story.append(pdf.para(body))
    if m.votes:
        story.append(pdf.heading(_("Votes on resolutions"), 2, toc=False))
        story.append(
            pdf.grid(
                [_("Resolution"), _("Votes"), _("Outcome")],
                [
                    [v["text"], meeting_votes.counts_text(v), meeting_votes.outcome(v)]
                    for v in m.votes
                ],
                [0.45, 0.25, 0.3],
            )
        )
    story.append(pdf.heading(_("Attachments"), 2, toc=False))
    story.append(
        pdf.grid(
            [_("File"), _("SHA-256 (start)")],
            [[f.filename, f.sha256[:16]] for f in page.files],
            [0.7, 0.3],
        )
    )
    story.append(pdf.heading(_("History of corrections"), 2, toc=False))
    rows = []
    for edit in reversed(page.corrections(locale)):  # oldest first, as a record reads
        who = edit.editor or _("System")
        when = clock.to_local(edit.edited_at).strftime("%Y-%m-%d %H:%M")
        rows.extend(
            [f"{when}\n{who}", edit.reason, c.label, c.before, c.after] for c in edit.changes
        )
    if rows:
        story.append(
            pdf.grid(
                [_("When, by whom"), _("Reason"), _("Field"), _("Before"), _("After")],
                rows,
                [0.17, 0.2, 0.13, 0.25, 0.25],
            )
        )
    else:
        story.append(pdf.para(_("Not corrected since it was recorded.")))
    return story


def meeting_pdf(reader: User, meeting_id: int, locale: str) -> tuple[bytes, str]:
    """One meeting's minutes as PDF, audited (NotFound for a meeting the reader may not see)."""
    page = meetings.meeting_page(reader, meeting_id)
    m = page.meeting
    title = f"{meetings.type_label(m.meeting_type)} · {m.topic}"
    story: list[Any] = pdf.title(_("Minutes"), title)
    story += meeting_story(page, locale)
    story.append(pdf.spacer(8))
    story.append(pdf.signatures([_("Chair or presenter"), _("Recorder")]))
    data = pdf.render(
        pdf.Meta(
            title=_("Minutes") + f" · {title}",
            organization=_org_name(m.org_id, locale),
            locale=locale,
            subject=title,
            printed_by=reader.display_name,
        ),
        story,
    )
    printing.record_print(
        reader,
        "meeting_minutes",
        org_id=m.org_id,
        record={"meeting_id": m.id, "version": m.version},
        content=data,
    )
    return data, f"minutes-{m.held_on.isoformat()}-{m.id}.pdf"


def minutes_sections(reader: User, org_id: int, year: int, locale: str) -> list[Section]:
    """Every meeting the organization itself held in ``year``, for its bound volume."""
    ids = db.session.execute(
        select(Meeting.id)
        .where(
            Meeting.org_id == org_id,
            Meeting.held_on >= date(year, 1, 1),
            Meeting.held_on <= date(year, 12, 31),
        )
        .order_by(Meeting.held_on, Meeting.id)
    ).scalars()
    sections = []
    for meeting_id in ids:
        page = meetings.meeting_page(reader, meeting_id)
        m = page.meeting
        sections.append(
            Section(
                m.held_on, meetings.type_label(m.meeting_type), m.topic, meeting_story(page, locale)
            )
        )
    return sections
