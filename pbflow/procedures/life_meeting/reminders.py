"""The yearly life meetings (DOMAIN.md section 2): a party committee holds its democratic life
meeting and each branch its organizational life meeting once a year, normally in the fourth
quarter. From the first day of that quarter ``pbflow tick`` reminds the secretaries of an
organization that has not started the year's meeting yet, once per organization and year
(a ``ReminderMark``), in the same transaction as its audit event."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from flask_babel import gettext as _
from sqlalchemy import select

from pbflow import clock
from pbflow.engine import actors
from pbflow.extensions import db
from pbflow.models import ProcessInstance
from pbflow.services import notifications
from pbflow.services.reminders import remind_once

WORKFLOW = "life_meeting"
KIND_OF_ORG = {"committee": "democratic", "branch": "organizational"}
REMIND_FROM_MONTH = 10  # the fourth quarter
ROLES = ("secretary", "deputy_secretary")


@dataclass
class LifeMeetingReport:
    sent: list[tuple[int, str]] = field(default_factory=list)

    def summary(self) -> str:
        return f"life meetings: reminded {len(self.sent)}"


def tick(now: datetime | None = None) -> LifeMeetingReport:
    report = LifeMeetingReport()
    now = now or clock.now()
    today = clock.to_local(now).date()
    if today.month < REMIND_FROM_MONTH:
        return report
    year_start = clock.local_midnight_utc(date(today.year, 1, 1))
    # A special democratic life meeting (called when serious problems appear) is not the
    # year's meeting.
    held = {
        (org_id, (data or {}).get("kind"))
        for org_id, data in db.session.execute(
            select(ProcessInstance.org_id, ProcessInstance.data).where(
                ProcessInstance.workflow_id == WORKFLOW, ProcessInstance.created_at >= year_start
            )
        ).all()
        if (data or {}).get("special") is not True
    }
    for node in sorted(actors.org_index().values(), key=lambda n: n.path):
        kind = KIND_OF_ORG.get(node.kind)
        if kind is None or (node.id, kind) in held:
            continue
        sent = remind_once(
            f"lm:{kind}:{node.id}:{today.year}",
            org_id=node.id,
            users={u for role in ROLES for u in actors.users_with_role(role, [node.id])},
            kind="life_meeting_due",
            params={"org_id": node.id, "kind": kind, "year": today.year},
            payload={"kind": f"{kind}_life_meeting", "year": today.year},
            now=now,
        )
        if sent is not None:
            report.sent.append((node.id, kind))
    return report


def _life_meeting_due(p) -> str:
    if p.get("kind") == "democratic":
        return _(
            "%(org)s has not started this year's democratic life meeting (%(year)s); it is "
            "normally held in the fourth quarter.",
            org=notifications.org_name(p.get("org_id")),
            year=p.get("year", ""),
        )
    return _(
        "%(org)s has not started this year's organizational life meeting (%(year)s); it is "
        "normally held in the fourth quarter.",
        org=notifications.org_name(p.get("org_id")),
        year=p.get("year", ""),
    )


NOTICES = {"life_meeting_due": _life_meeting_due}
