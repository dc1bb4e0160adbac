"""Overdue and stuck work: open cases of every procedure past their time limit, or waiting in
one state longer than a threshold, per organization and per procedure, oldest first. A query
over the shared case table: it needs no procedure's help."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property

from sqlalchemy import case, func, literal_column, or_, select

from pbflow import clock
from pbflow.engine import actors, fastsql, horizon, tally
from pbflow.engine.registry import registry
from pbflow.extensions import db
from pbflow.models import Person, ProcessInstance
from pbflow.procedures.supervision.scope import Scope
from pbflow.services import head_memo

P = ProcessInstance
STUCK_DAYS = 30  # default threshold: a month in one state
LIMIT = 10  # cases listed on the dashboard (the export has them all)


@dataclass
class WorkCount:
    key: int | str  # an organization id or a workflow id
    label: str
    overdue: int = 0
    stuck: int = 0


@dataclass
class WorkItem:
    case_id: int
    title: str
    workflow: str
    state: str
    org_id: int
    org_name: str
    subject: str | None
    due_at: datetime | None
    waiting_since: datetime
    overdue: bool
    stuck: bool

    @property
    def days_waiting(self) -> int:
        return (clock.now() - self.waiting_since).days


@dataclass
class Work:
    stuck_days: int
    by_unit: list[WorkCount]
    by_workflow: list[WorkCount]
    scope: Scope = field(repr=False)
    limit: int = LIMIT

    @property
    def overdue(self) -> int:
        return sum(c.overdue for c in self.by_workflow)

    @property
    def stuck(self) -> int:
        return sum(c.stuck for c in self.by_workflow)

    @cached_property
    def oldest(self) -> list[WorkItem]:
        """The ``limit`` cases waiting longest, read when first asked for: the dashboard's
        overview shows only the counts, its page of overdue work the cases."""
        return list(items(self.scope, self.stuck_days, self.limit))


def _where(scope: Scope, now: datetime, stuck_days: int):
    since = now - timedelta(days=stuck_days)
    overdue = P.due_at <= now
    stuck = P.state_entered_at <= since
    inside = () if scope.everything else (P.org_id.in_(scope.ids),)
    return (P.closed_at.is_(None), *inside, or_(overdue, stuck)), overdue, stuck


def _workflows() -> dict[str, int]:
    """Every workflow a case may belong to, with its newest stored definition (the title of
    one no longer loaded). One statement over the (small) table of stored definitions."""
    return dict(
        fastsql.read("SELECT workflow_id, MAX(id) FROM workflow_definition GROUP BY workflow_id")
    )


def _label(workflow_id: str, definition_id: int, locale: str) -> str:
    d = registry().current.get(workflow_id) or registry().stored(definition_id)
    return d.title.get(locale)


def counts(
    scope: Scope,
    stuck_days: int = STUCK_DAYS,
    workflows: Iterable[str] | None = None,
    *,
    by_org: bool = True,
) -> dict[tuple[str, int | None], list[int]]:
    """Open cases overdue (due now or before) and stuck (in their state since ``stuck_days``
    ago or longer), [overdue, stuck] per (workflow, organization) with either: counted from
    the figures kept as data (pbflow.engine.tally), the months before the current one from
    its rows and the rest of the way to now from the open cases' indexes. Three statements
    whatever the number of cases. Without ``by_org`` per (workflow, None): the organizations
    summed by the database."""
    now = clock.now()
    cuts = {tally.DUE: now + _INSTANT, tally.ENTERED: now - timedelta(days=stuck_days) + _INSTANT}
    found: dict[tuple[str, int], list[int]] = {}
    flows = sorted(_workflows() if workflows is None else workflows)
    counted = tally.open_counts_before(cuts, scope.ids, flows, by_org=by_org)
    for (measure, workflow_id, org_id), n in counted.items():
        if n:
            row = found.setdefault((workflow_id, org_id), [0, 0])
            row[0 if measure == tally.DUE else 1] += n
    return found


_INSTANT = timedelta(microseconds=1)  # "at or before t" is "before t and a microsecond"


def work(
    scope: Scope, stuck_days: int = STUCK_DAYS, limit: int = LIMIT, *, by_unit: bool = True
) -> Work:
    """Counts per unit and per procedure, and the ``limit`` cases waiting longest (read when
    asked for). A fixed number of statements whatever the number of cases (``counts``).
    Without ``by_unit`` (a page that shows the sums) no row per unit: the database sums the
    organizations. Kept until the next recorded change, or until the next open case falls
    due or becomes stuck (``head_memo``, ``horizon``), with the cases once read."""
    key = ("work", scope.org.id, stuck_days, limit, by_unit, scope.locale)
    return head_memo.remembered(
        key,
        lambda: _work(scope, stuck_days, limit, by_unit),
        until=lambda now: horizon.next_change(now, stuck_days),
    )


def _work(scope: Scope, stuck_days: int, limit: int, by_unit: bool) -> Work:
    workflows = _workflows()
    units = {n.id: WorkCount(n.id, scope.name(n.id)) for n in scope.units} if by_unit else {}
    flows: dict[str, WorkCount] = {}
    found = counts(scope, stuck_days, workflows, by_org=by_unit)
    for (workflow_id, org_id), (late, waiting) in found.items():
        flow = flows.get(workflow_id)
        if flow is None:
            label = _label(workflow_id, workflows[workflow_id], scope.locale)
            flow = flows[workflow_id] = WorkCount(workflow_id, label)
        targets = (units[scope.unit_of(org_id)], flow) if by_unit else (flow,)
        for target in targets:
            target.overdue += late
            target.stuck += waiting
    return Work(
        stuck_days=stuck_days,
        by_unit=list(units.values()),
        by_workflow=sorted(flows.values(), key=lambda f: (-f.overdue - f.stuck, f.label)),
        scope=scope,
        limit=limit,
    )


def items(
    scope: Scope, stuck_days: int = STUCK_DAYS, limit: int | None = None
) -> Iterator[WorkItem]:
    """The overdue or stuck cases, waiting longest first; read in batches (for exports).

    Over most of the tree the open cases are read by the index of their waiting time
    (``ix_case_open_waiting``), the first ones found being those to show; SQLite is told
    that about half the cases are open (it takes "closed_at IS NULL" for one in thousands,
    most closing times being distinct, and would sort every open case instead). In a small
    part of the tree most would be read before ten of its own turned up: there its open
    cases are found by organization and sorted (the condition on ``closed_at`` written so
    that no index is used for it)."""
    now = clock.now()
    where, overdue, stuck = _where(scope, now, stuck_days)
    if len(scope.ids) * 2 < len(actors.org_index()):
        where = (case((P.closed_at.is_(None), 1), else_=0) == 1, *where[1:])
    elif db.session.get_bind().dialect.name == "sqlite":
        where = (func.likelihood(where[0], literal_column("0.5")), *where[1:])
    stmt = (
        select(
            P.id,
            P.title,
            P.workflow_id,
            P.definition_id,
            P.state,
            P.org_id,
            P.due_at,
            P.state_entered_at,
            Person.name,
        )
        .outerjoin(Person, Person.id == P.subject_person_id)
        .where(*where)
        .order_by(P.state_entered_at, P.id)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    reg = registry()
    since = now - timedelta(days=stuck_days)
    for r in db.session.execute(stmt.execution_options(yield_per=1000)):
        d = reg.stored(r.definition_id)
        spec = d.states.get(r.state)
        yield WorkItem(
            case_id=r.id,
            title=r.title or d.title.get(scope.locale),
            workflow=d.title.get(scope.locale),
            state=spec.label.get(scope.locale) if spec else r.state,
            org_id=r.org_id,
            org_name=scope.name(r.org_id),
            subject=r.name,
            due_at=r.due_at,
            waiting_since=r.state_entered_at,
            overdue=r.due_at is not None and r.due_at <= now,
            stuck=r.state_entered_at <= since,
        )
