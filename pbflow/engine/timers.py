"""``pbflow tick``: reminders before a due time, and what happens once it has passed.

Safe to run twice or from two hosts at once: each case's reminder and overdue marks are set
with a conditional UPDATE (only where still unset and the case unchanged), so only one run
acts on a case, and every mark is cleared when the case moves to another state. Each case is
handled in its own transaction so one failure does not hold back the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update

from pbflow import audit, clock
from pbflow.engine import actors, calendar
from pbflow.engine.context import CaseState
from pbflow.engine.errors import DomainError
from pbflow.engine.registry import registry
from pbflow.engine.runtime import (
    _COLS,
    _T,
    SYSTEM,
    _notify,
    expire_cached,
    fire_in_transaction,
    notice_params,
    waiting_users,
)
from pbflow.extensions import db

ESCALATION_ROLES = ("secretary", "committee")


@dataclass
class TickReport:
    reminded: list[int] = field(default_factory=list)
    overdue: list[int] = field(default_factory=list)
    escalated: list[int] = field(default_factory=list)
    fired: list[tuple[int, str]] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"reminded {len(self.reminded)}, overdue {len(self.overdue)}, escalated "
            f"{len(self.escalated)}, fired {len(self.fired)}, failed {len(self.failed)}"
        )


def _mark(case: CaseState, column: str, now: datetime) -> bool:
    result = db.session.execute(
        update(_T)
        .where(_T.c.id == case.id, _T.c.version == case.version, _T.c[column].is_(None))
        .values({column: now})
    )
    expire_cached(case.id)
    return result.rowcount == 1


def _superior_users(case: CaseState) -> set[int]:
    parent = actors.org_index()[case.org_id].parent_id
    if parent is None:
        return set()
    users: set[int] = set()
    for role in ESCALATION_ROLES:
        users.update(actors.users_with_role(role, [parent]))
    return users


def tick(now: datetime | None = None) -> TickReport:
    """One pass over the cases with a time limit; ``now`` makes everything act as of then."""
    if now is None:
        return _tick(clock.now())
    with clock.frozen(now):
        return _tick(now)


def _tick(now: datetime) -> TickReport:
    report = TickReport()
    reg = registry()
    max_remind = max(
        (s.remind_before or 0 for d in reg.current.values() for s in d.states.values()), default=0
    )
    horizon = now + timedelta(days=max(max_remind, 31))
    marks = (_T.c.due_at, _T.c.reminded_at, _T.c.overdue_at)
    rows = db.session.execute(
        select(*_COLS, *marks)
        .where(
            _T.c.closed_at.is_(None),
            _T.c.due_at.is_not(None),
            _T.c.due_at <= horizon,
            # Only cases with something left to do: a reminder before the limit, or the
            # overdue mark after it (a case overdue before any reminder is not read forever).
            ((_T.c.reminded_at.is_(None)) & (_T.c.due_at > now))
            | ((_T.c.overdue_at.is_(None)) & (_T.c.due_at <= now)),
        )
        .order_by(_T.c.due_at)
    ).all()
    db.session.rollback()
    for row in rows:
        values = row._asdict()
        timer = {k: values.pop(k) for k in ("due_at", "reminded_at", "overdue_at")}
        case = CaseState(**values)
        try:
            _tick_case(case, timer, now, report)
            db.session.commit()
        except DomainError as exc:
            db.session.rollback()
            report.failed.append((case.id, str(exc)))
    return report


def _tick_case(case: CaseState, marks: dict, now: datetime, report: TickReport) -> None:
    d = registry().stored(case.definition_id)
    state = d.states[case.state]
    due_at = marks["due_at"]
    # One date everywhere: the last local day of the limit, as the case page shows it.
    due = calendar.last_day(due_at).isoformat()
    if (
        marks["reminded_at"] is None
        and state.remind_before
        and due_at > now
        and due_at - timedelta(days=state.remind_before) <= now
        and _mark(case, "reminded_at", now)
    ):
        users = waiting_users(case)
        _notify(users, case, "reminder", notice_params(case, due=due))
        audit.record(
            "reminder_sent",
            actor=SYSTEM,
            org_id=case.org_id,
            instance_id=case.id,
            from_state=case.state,
            to_state=case.state,
            payload={"due_at": due_at, "notified": sorted(users)},
        )
        report.reminded.append(case.id)
    if marks["overdue_at"] is None and due_at <= now and _mark(case, "overdue_at", now):
        payload: dict = {"due_at": due_at, "actions": list(state.on_overdue)}
        report.overdue.append(case.id)
        if "notify" in state.on_overdue:
            users = waiting_users(case)
            _notify(users, case, "overdue", notice_params(case, due=due))
            payload["notified"] = sorted(users)
        if "escalate" in state.on_overdue:
            users = _superior_users(case)
            _notify(users, case, "escalation", notice_params(case, due=due, org_id=case.org_id))
            payload["escalated_to"] = sorted(users)
            report.escalated.append(case.id)
        audit.record(
            "overdue",
            actor=SYSTEM,
            org_id=case.org_id,
            instance_id=case.id,
            from_state=case.state,
            to_state=case.state,
            payload=payload,
        )
        if state.overdue_trigger:
            # The marks above leave the version alone, so the snapshot is still current.
            fire_in_transaction(case.id, state.overdue_trigger, SYSTEM, case=case)
            report.fired.append((case.id, state.overdue_trigger))
