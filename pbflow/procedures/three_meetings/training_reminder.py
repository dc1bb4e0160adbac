"""The fourth quarter's reminder of members' training hours (DOMAIN.md 3): ``pbflow tick``
tells each branch's secretaries, once a year, how many members are still below the year's
threshold (``remind_once``: the mark, the notices and the audit event in one transaction)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import ngettext

from pbflow import clock
from pbflow.engine import actors
from pbflow.extensions import db
from pbflow.procedures.three_meetings.hours import hours_text
from pbflow.procedures.three_meetings.training import BRANCH_KINDS, THRESHOLD_HOURS
from pbflow.procedures.three_meetings.training_figures import training_hours
from pbflow.services import notifications
from pbflow.services.reminders import remind_once

REMIND_FROM_MONTH = 10  # the fourth quarter, as the secretary's lecture
REMIND_ROLES = ("secretary", "deputy_secretary")


@dataclass
class TrainingReport:
    sent: list[int] = field(default_factory=list)
    failed: list[tuple[int | None, str]] = field(default_factory=list)  # None: every branch

    def summary(self) -> str:
        return f"training hours: reminded {len(self.sent)}"


def tick(now: datetime | None = None) -> TrainingReport:
    """From the fourth quarter, tell each branch's secretaries once a year how many of its
    members are still below the year's training hours (none below: no reminder)."""
    report = TrainingReport()
    now = now or clock.now()
    today = clock.to_local(now).date()
    if today.month < REMIND_FROM_MONTH:
        return report
    branches = [n for n in actors.org_index().values() if n.kind in BRANCH_KINDS and n.active]
    try:
        figures = training_hours([n.id for n in branches], today.year)
    except Exception as exc:  # noqa: BLE001 - the other procedures' ticks go on
        db.session.rollback()
        report.failed.append((None, f"the year's training hours could not be read: {exc}"))
        return report
    for node in sorted(branches, key=lambda n: n.path):
        fig = figures.get(node.id)
        users = {u for role in REMIND_ROLES for u in actors.users_with_role(role, [node.id])}
        if fig is None or fig.below == 0 or not users:
            continue
        try:
            sent = remind_once(
                f"th:{node.id}:{today.year}",
                org_id=node.id,
                users=users,
                kind="training_hours_due",
                params={
                    "org_id": node.id,
                    "year": today.year,
                    "below": fig.below,
                    "hours": hours_text(int(fig.threshold_hours * 60)),
                },
                payload={"kind": "training_hours", "year": today.year, "below": fig.below},
                now=now,
            )
        except Exception as exc:  # noqa: BLE001 - one branch must not hold back the others
            report.failed.append((node.id, str(exc)))
            continue
        if sent is not None:
            report.sent.append(node.id)
    return report


def _training_due(p) -> str:
    return ngettext(
        "%(org)s: %(num)s member is still below %(hours)s hours of training this year (%(year)s).",
        "%(org)s: %(num)s members are still below %(hours)s hours of training this year "
        "(%(year)s).",
        int(p.get("below") or 0),
        org=notifications.org_name(p.get("org_id")),
        hours=p.get("hours", THRESHOLD_HOURS),
        year=p.get("year", ""),
    )


NOTICES = {"training_hours_due": _training_due}
