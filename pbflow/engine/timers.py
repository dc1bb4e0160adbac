"""``pbflow tick``: reminders before a due time, and what happens once it has passed.

Safe to run twice or from two hosts at once: each case's reminder and overdue marks are set
with a conditional UPDATE (only where still unset and the case unchanged), so only one run
acts on a case, and every mark is cleared when the case moves to another state. Each case is
handled in its own transaction so one failure does not hold back the others.

Escalation (``on_overdue: escalate``) takes an overdue case one level up the tree as a step
the superior can act on: an ``Escalation`` row to the parent organization, its secretaries and
committee members notified, and each installed procedure's ``on_escalation`` hook asked to
open a case for it (the supervision procedure opens a supervision notice, which escalates
further by its own time limits). When no hook does, the escalation is itself the superior's
task, shown in their inbox while the case still waits in that state; once it lapses
(``PBFLOW_ESCALATION_WORKING_DAYS``) tick takes it one level higher, up to the top. A state
may give the first superior a time of its own (``escalation_due``, a workflow setting: the
opinion box's general branch proposes a solution within 7 working days, DOMAIN 4); the
escalation's limit and the hook's case then use it. The engine knows no procedure: hooks are
registered through the procedures' interface.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update

from pbflow import audit, clock
from pbflow.engine import actors, calendar
from pbflow.engine.context import CaseState, Context
from pbflow.engine.definitions import Definition, StateSpec
from pbflow.engine.errors import DomainError
from pbflow.engine.registry import registry
from pbflow.engine.runtime import (
    _COLS,
    _T,
    SYSTEM,
    _notify,
    due_of,
    expire_cached,
    fire_in_transaction,
    notice_params,
    waiting_users,
)
from pbflow.extensions import db
from pbflow.models import Escalation

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


def _org_users(org_id: int) -> set[int]:
    users: set[int] = set()
    for role in ESCALATION_ROLES:
        users.update(actors.users_with_role(role, [org_id]))
    return users


@dataclass(frozen=True)
class EscalationRequest:
    """What an ``on_escalation`` hook is told: the overdue case (or the lapsed escalation's
    case), the state it waits in, and the superior organization it now goes to."""

    escalation_id: int
    case: CaseState
    definition: Definition
    state: StateSpec
    due_at: datetime | None  # the case's time limit that passed
    level: int  # 1: the case's parent organization, 2: the one above ...
    from_org_id: int
    to_org_id: int
    users: tuple[int, ...]  # who at the superior was notified
    now: datetime
    # The moment the superior's time ends (the escalation's ``due_at``).
    superior_due_at: datetime | None = None

    @property
    def state_limit(self) -> bool:
        """Whether the state fixed the superior's time (its ``escalation_due``, for the first
        superior) rather than the general limit of an escalation."""
        return self.level == 1 and self.state.escalation_due is not None


def escalate(
    case: CaseState,
    d: Definition,
    *,
    from_org_id: int,
    level: int,
    due_at: datetime | None,
    now: datetime,
) -> Escalation | None:
    """Take the case one level above ``from_org_id`` (inside the caller's transaction): the
    escalation row, the hooks, the notification. None at the top of the tree."""
    node = actors.org_index().get(from_org_id)
    if node is None or node.parent_id is None:
        return None
    users = _org_users(node.parent_id)
    state = d.states[case.state]
    own = state.escalation_due if level == 1 else None
    if own is not None:
        superior_due = due_of(own, Context(d, case, SYSTEM, {}, now=now))
    else:
        days = int(current_app.config.get("PBFLOW_ESCALATION_WORKING_DAYS") or 5)
        superior_due = calendar.end_of_day_utc(
            calendar.add(clock.to_local(now).date(), days, "working_days")
        )
    row = Escalation(
        instance_id=case.id,
        state=case.state,
        entered_version=case.entered_version,
        level=level,
        org_id=node.parent_id,
        escalated_at=now,
        due_at=superior_due,
        notified=sorted(users),
    )
    db.session.add(row)
    db.session.flush()
    request = EscalationRequest(
        escalation_id=row.id,
        case=case,
        definition=d,
        state=state,
        due_at=due_at,
        level=level,
        from_org_id=from_org_id,
        to_org_id=node.parent_id,
        users=tuple(sorted(users)),
        now=now,
        superior_due_at=superior_due,
    )
    for hook in registry().escalation_hooks:
        opened = hook(request)
        if opened is not None:
            row.handled_case_id = opened
            break
    due = calendar.last_day(due_at).isoformat() if due_at is not None else ""
    # Rendered in each reader's language: "<case>: overdue at <the organization it was at>".
    _notify(users, case, "escalation", notice_params(case, due=due, org_id=from_org_id), at=now)
    return row


def _escalation_payload(row: Escalation | None, users: set[int] | list[int]) -> dict:
    payload: dict = {"escalated_to": sorted(users)}
    if row is not None:
        payload["escalation"] = {
            "id": row.id,
            "org_id": row.org_id,
            "level": row.level,
            "case": row.handled_case_id,
        }
    return payload


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
    _lapse(now, report)
    for row in rows:
        values = row._asdict()
        timer = {k: values.pop(k) for k in ("reminded_at", "overdue_at")}
        timer["due_at"] = values["due_at"]
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
            row = escalate(case, d, from_org_id=case.org_id, level=1, due_at=due_at, now=now)
            payload.update(_escalation_payload(row, row.notified if row else []))
            if row is not None:  # at the top of the tree there is nobody to escalate to
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


def _lapse(now: datetime, report: TickReport) -> None:
    """Escalations that no procedure took over and that the superior let lapse while the
    case still waits in the same state: one level higher each, once (a conditional mark)."""
    E, index = Escalation, actors.org_index()
    rows = db.session.execute(
        select(
            E.id.label("escalation_id"),
            E.level.label("escalation_level"),
            E.org_id.label("escalation_org"),
            *_COLS,
            _T.c.due_at.label("case_due"),
        )
        .join(_T, _T.c.id == E.instance_id)
        .where(
            E.handled_case_id.is_(None),
            E.lapsed_at.is_(None),
            E.due_at <= now,
            _T.c.closed_at.is_(None),
            _T.c.state == E.state,
            _T.c.entered_version == E.entered_version,
        )
        .order_by(E.id)
    ).all()
    db.session.rollback()
    for r in rows:
        node = index.get(r.escalation_org)
        if node is None or node.parent_id is None:
            continue  # the top of the tree: nobody above to take it
        values = r._asdict()
        escalation_id, level, org_id, case_due = (
            values.pop(k)
            for k in ("escalation_id", "escalation_level", "escalation_org", "case_due")
        )
        case = CaseState(**values, due_at=case_due)
        try:
            marked = db.session.execute(
                update(E).where(E.id == escalation_id, E.lapsed_at.is_(None)).values(lapsed_at=now)
            )
            if marked.rowcount != 1:
                db.session.rollback()
                continue
            d = registry().stored(case.definition_id)
            row = escalate(case, d, from_org_id=org_id, level=level + 1, due_at=case_due, now=now)
            audit.record(
                "escalated",
                actor=SYSTEM,
                org_id=case.org_id,
                instance_id=case.id,
                from_state=case.state,
                to_state=case.state,
                payload={"lapsed": escalation_id, **_escalation_payload(row, row.notified)},
            )
            db.session.commit()
            report.escalated.append(case.id)
        except DomainError as exc:
            db.session.rollback()
            report.failed.append((case.id, str(exc)))
