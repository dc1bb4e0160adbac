"""The rectification list of a life meeting (DOMAIN.md section 2): its items are child cases of
``workflows/rectification.yaml``, each closed on its own; the case page shows how far they are."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from pbflow.engine.registry import registry
from pbflow.extensions import db
from pbflow.models import ProcessInstance, User


@dataclass
class RectificationItem:
    id: int
    title: str
    state: str
    state_label: Any
    owner: str | None
    deadline: str | None
    overdue: bool
    closed: bool
    notes: int


@dataclass
class RectificationPanel:
    items: list[RectificationItem]
    closed: int
    total: int

    @property
    def percent(self) -> int:
        return round(100 * self.closed / self.total) if self.total else 0


def rectification_panel(case_id: int) -> RectificationPanel:
    """All rectification items of a case and how far they are (two queries), for the panel
    the case page includes; the case page has already checked the reader's rights."""
    rows = db.session.execute(
        select(
            ProcessInstance.id,
            ProcessInstance.title,
            ProcessInstance.state,
            ProcessInstance.definition_id,
            ProcessInstance.data,
            ProcessInstance.closed_at,
            ProcessInstance.overdue_at,
            User.display_name,
        )
        .outerjoin(User, User.id == ProcessInstance.assignee_user_id)
        .where(ProcessInstance.parent_id == case_id, ProcessInstance.workflow_id == "rectification")
        .order_by(ProcessInstance.id)
    ).all()
    reg = registry()
    items = []
    for r in rows:
        definition = reg.stored(r.definition_id)
        spec = definition.states.get(r.state)
        data = r.data or {}
        items.append(
            RectificationItem(
                id=r.id,
                title=r.title,
                state=r.state,
                state_label=spec.label if spec else r.state,
                owner=r.display_name,
                deadline=data.get("deadline"),
                overdue=r.overdue_at is not None and r.closed_at is None,
                closed=r.closed_at is not None,
                notes=len(data.get("progress") or []),
            )
        )
    return RectificationPanel(
        items=items, closed=sum(1 for i in items if i.closed), total=len(items)
    )
