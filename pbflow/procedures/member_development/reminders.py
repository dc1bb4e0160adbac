"""Reminders about obligations that are no state of a development case (DOMAIN.md 1.6, 1.21,
1.22): an activist's half-yearly assessment, the thought reports of activists and
probationary members, and a probationary member's conversion window.

``pbflow tick`` runs :func:`tick`. Each reminder is sent once: a ``ReminderMark`` keyed by the
case, the obligation and the end of its period is written in the same transaction as the
notifications and the audit event, and a second run (or a concurrent one) finds it there.
A reminder goes out ``REMIND_DAYS`` before its period ends, while nothing is on record for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from pbflow import clock
from pbflow.engine import actors, calendar
from pbflow.engine.fields import parse_date
from pbflow.engine.registry import registry
from pbflow.extensions import db
from pbflow.models import Person, ProcessInstance
from pbflow.procedures.member_development import services as development
from pbflow.services.reminders import remind_once

REMIND_DAYS = 14
CONVERSION_WINDOW_MONTHS = 1  # apply_for_conversion: from a month before probation ends
ACTIVIST_STATES = ("activist_filing", "activist", "target_filing", "target")
ASSESSED_STATES = ("activist_filing", "activist")
PROBATION_STATES = ("probation", "conversion_discussion")


@dataclass
class ReminderReport:
    sent: list[tuple[int, str]] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)

    def summary(self) -> str:
        return f"development reminders: sent {len(self.sent)}, failed {len(self.failed)}"


def _period_end(start: date, months: int, today: date) -> tuple[date, date]:
    """The period of ``months`` months from ``start`` that contains ``today``."""
    k = 0
    while calendar.add_months(start, months * (k + 1)) < today:
        k += 1
    return calendar.add_months(start, months * k), calendar.add_months(start, months * (k + 1))


def _has_record(records: list[dict], key: str, lo: date, hi: date, first: bool) -> bool:
    for r in records or []:
        d = parse_date(r[key])
        if (lo <= d if first else lo < d) and d <= hi:
            return True
    return False


def _branch_users(org_id: int) -> set[int]:
    users: set[int] = set()
    for role in development.BRANCH_ROLES:
        users.update(actors.users_with_role(role, [org_id]))
    return users


def _person_users(person_ids: list[Any]) -> set[int]:
    ids = [int(p) for p in person_ids or []]
    if not ids:
        return set()
    stmt = select(Person.user_id).where(Person.id.in_(ids), Person.user_id.is_not(None))
    return set(db.session.execute(stmt).scalars())


def _due(case, person: Person, today: date, settings: dict) -> list[tuple[str, dict, set[int]]]:
    """What this case should be reminded of today: (kind, params, recipients)."""
    data = case.data or {}
    out = []
    branch = _branch_users(case.org_id)
    own = {person.user_id} if person.user_id else set()
    base = {"definition_id": case.definition_id, "person": person.name, "case_id": case.id}
    if case.state in ASSESSED_STATES and person.activist_on:
        lo, hi = _period_end(person.activist_on, 6, today)
        first = lo == person.activist_on
        if today >= hi - timedelta(days=REMIND_DAYS) and not _has_record(
            data.get("assessments"), "assessment_date", lo, hi, first
        ):
            users = branch | _person_users(data.get("contacts"))
            out.append(("assessment_due", {**base, "due": hi}, users))
    months = int(settings.get("thought_report_months") or 0)
    since = None
    if case.state in ACTIVIST_STATES:
        since = person.activist_on
    elif case.state in PROBATION_STATES:
        since = person.admitted_on
    if months > 0 and since:
        lo, hi = _period_end(since, months, today)
        if today >= hi - timedelta(days=REMIND_DAYS) and not _has_record(
            data.get("thought_reports"), "report_date", lo, hi, lo == since
        ):
            out.append(("thought_report_due", {**base, "due": hi, "months": months}, own | branch))
    if case.state == "probation" and person.probation_end_on:
        opens = calendar.add_months(person.probation_end_on, -CONVERSION_WINDOW_MONTHS)
        if today >= opens:
            params = {**base, "due": person.probation_end_on, "opens": opens}
            out.append(("conversion_window", params, own | branch))
    return out


def tick(now: datetime | None = None) -> ReminderReport:
    """One pass over the open development cases (see the module's docstring)."""
    report = ReminderReport()
    if development.WORKFLOW not in registry().current:
        return report  # its workflow file is not loaded here: nothing of it to remind of
    now = now or clock.now()
    today = clock.to_local(now).date()
    states = (*ACTIVIST_STATES, *PROBATION_STATES)
    rows = db.session.execute(
        select(ProcessInstance, Person)
        .join(Person, Person.id == ProcessInstance.subject_person_id)
        .where(
            ProcessInstance.workflow_id == development.WORKFLOW,
            ProcessInstance.closed_at.is_(None),
            ProcessInstance.state.in_(states),
        )
        .order_by(ProcessInstance.id)
    ).all()
    all_settings = development.settings_for({case.org_id for case, _p in rows})
    todo = []
    for case, person in rows:
        for kind, params, users in _due(case, person, today, all_settings[case.org_id]):
            todo.append((case.id, case.org_id, case.state, kind, params, users))
    db.session.rollback()
    for case_id, org_id, state, kind, params, users in todo:
        try:
            sent = remind_once(
                f"md:{kind}:{case_id}:{params['due'].isoformat()}",
                org_id=org_id,
                users=users,
                kind=kind,
                params=params,
                payload={"kind": kind, "due": params["due"]},
                now=now,
                instance_id=case_id,
                state=state,
            )
        except Exception as exc:  # noqa: BLE001 - one case must not hold back the others
            report.failed.append((case_id, str(exc)))  # (rolled back)
            continue
        if sent is not None:  # None: reminded already
            report.sent.append((case_id, kind))
    return report


# --- its notices, rendered in the reader's language ------------------------------------------


def _assessment_due(p) -> str:
    return _(
        "%(person)s: the half-yearly assessment as an activist is due by %(date)s.",
        person=p.get("person", ""),
        date=p.get("due", ""),
    )


def _thought_report_due(p) -> str:
    return _(
        "%(person)s: a thought report is due by %(date)s (one at least every %(n)s months).",
        person=p.get("person", ""),
        date=p.get("due", ""),
        n=p.get("months", ""),
    )


def _conversion_window(p) -> str:
    return _(
        "%(person)s may apply for conversion to full membership from %(opens)s; probation "
        "ends on %(date)s.",
        person=p.get("person", ""),
        opens=p.get("opens", ""),
        date=p.get("due", ""),
    )


NOTICES = {
    "assessment_due": _assessment_due,
    "thought_report_due": _thought_report_due,
    "conversion_window": _conversion_window,
}
