"""Three meetings and one lesson (DOMAIN.md section 3): records of meetings, not a workflow.

The branch records each meeting held (with attendance and minutes); the compliance calendar
shows what each organization owes per month and quarter, and ``pbflow tick`` reminds
secretaries before a period ends and records what was missed.
"""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l

from pbflow.procedures import NavEntry, Procedure
from pbflow.procedures.three_meetings import (
    cli,
    compliance,
    demo,
    documents,
    secretary_lecture,
    training_figures,
    training_reminder,
    views,
)


def tick(now: datetime | None) -> tuple[str, list[str]]:
    """Its part of ``pbflow tick``: remind of and record the meetings still owed, of the
    secretaries' yearly party lectures and of the members' yearly training hours."""
    report = compliance.tick(now)
    lectures = secretary_lecture.tick(now)
    hours = training_reminder.tick(now)
    failed = [
        f"organization {org}: {problem}" if org is not None else f"training hours: {problem}"
        for org, problem in [*report.failed, *lectures.failed, *hours.failed]
    ]
    return f"{report.summary()}; {lectures.summary()}; {hours.summary()}", failed


procedure = Procedure(
    name="three_meetings",
    blueprint=views.bp,
    cli=cli.cli,
    demo=demo.load,
    tick=tick,
    notices={**compliance.NOTICES, **secretary_lecture.NOTICES, **training_reminder.NOTICES},
    nav=(NavEntry("meetings.index", _l("Meetings")),),
    minutes=documents.minutes_sections,
    figures={
        "meetings": compliance.obligations,
        "secretary_lectures": secretary_lecture.lecture_days,
        "training_hours": training_figures.training_hours,
    },
    audit_actions={
        "meeting_recorded": _l("Meeting recorded"),
        "meeting_edited": _l("Meeting record corrected"),
        "meeting_requirement_set": _l("Meeting requirement set"),
        "meeting_reminder": _l("Meeting reminder sent"),
        "meeting_missed": _l("Meeting marked missed"),
        "training_recorded": _l("Training recorded"),
        "training_edited": _l("Training record corrected"),
        "training_deleted": _l("Training record deleted"),
        "training_threshold_set": _l("Yearly training hours set"),
    },
)
