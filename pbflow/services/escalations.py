"""Escalated cases waiting on a superior organization (``engine.timers``): the superior's
task when no procedure opened a case for it (a supervision notice does that when the
supervision procedure is installed). Shown in the inbox of the superior's secretaries and
committee members while the case still waits in the state that went overdue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from pbflow import clock
from pbflow.engine import actors
from pbflow.engine.registry import registry
from pbflow.engine.timers import ESCALATION_ROLES
from pbflow.extensions import db
from pbflow.models import Escalation, ProcessInstance, User

LIMIT = 100


@dataclass
class EscalationTask:
    escalation_id: int
    case_id: int
    title: str
    workflow: str
    state: str
    case_org: str
    level: int
    escalated_at: datetime
    due_at: datetime

    @property
    def lapsed(self) -> bool:
        return self.due_at <= clock.now()


def open_tasks(user: User, locale: str) -> list[EscalationTask]:
    """Escalations to organizations where the user is a secretary or committee member, not
    taken over by a procedure's case, not lapsed higher, whose case has not moved on; oldest
    first. One statement."""
    orgs = sorted({o for o, role in actors.roles_of(user.id) if role in ESCALATION_ROLES})
    if not orgs:
        return []
    E, P = Escalation, ProcessInstance
    rows = db.session.execute(
        select(E, P.title, P.definition_id, P.org_id)
        .join(P, P.id == E.instance_id)
        .where(
            E.org_id.in_(orgs),
            E.handled_case_id.is_(None),
            E.lapsed_at.is_(None),
            P.closed_at.is_(None),
            P.state == E.state,
            P.entered_version == E.entered_version,
        )
        .order_by(E.escalated_at, E.id)
        .limit(LIMIT)
    ).all()
    index, reg = actors.org_index(), registry()
    tasks = []
    for e, title, definition_id, org_id in rows:
        d = reg.stored(definition_id)
        node = index[org_id]
        tasks.append(
            EscalationTask(
                escalation_id=e.id,
                case_id=e.instance_id,
                title=title or d.title.get(locale),
                workflow=d.title.get(locale),
                state=d.states[e.state].label.get(locale) if e.state in d.states else e.state,
                case_org=node.name_en if locale == "en" and node.name_en else node.name,
                level=e.level,
                escalated_at=e.escalated_at,
                due_at=e.due_at,
            )
        )
    return tasks
