"""Member development across branches (DOMAIN 1): open cases per stage, those past their
time limit, and the earliest full memberships coming in the period. The counting is member
development's own (``figure("development")``), folded into the dashboard's rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pbflow.engine import horizon
from pbflow.engine.registry import registry
from pbflow.procedures import figure
from pbflow.procedures.supervision.scope import Scope
from pbflow.services import head_memo
from pbflow.services.periods import Period


@dataclass
class PipelineRow:
    org_id: int
    label: str
    per_stage: dict[str, int] = field(default_factory=dict)
    overdue: int = 0

    @property
    def total(self) -> int:
        return sum(self.per_stage.values())


@dataclass
class Upcoming:
    case_id: int
    name: str
    org_name: str
    earliest_full: date


@dataclass
class Pipeline:
    stages: list[tuple[str, Any]]  # key, label
    by_unit: list[PipelineRow]
    total: PipelineRow
    upcoming: list[Upcoming]


def pipeline(scope: Scope, period: Period) -> Pipeline | None:
    """None when member development is not installed. Two statements (its own). Kept until
    the next recorded change, or until the next open case falls due (``head_memo``,
    ``horizon``): the earliest full memberships are worked out from today."""
    fn = figure("development")
    d = registry().current.get("member_development")
    if fn is None or d is None:
        return None
    key = ("development", scope.org.id, period.start, period.end, scope.locale)
    return head_memo.remembered(
        key, lambda: _pipeline(scope, period, fn, d), until=horizon.next_change
    )


def _pipeline(scope: Scope, period: Period, fn: Any, d: Any) -> Pipeline:
    found = fn(scope.ids, period.start, period.end)
    stages = list(d.stages.items())
    empty = {k: 0 for k, _label in stages}
    units = {n.id: PipelineRow(n.id, scope.name(n.id), dict(empty)) for n in scope.units}
    total = PipelineRow(scope.org.id, scope.name(scope.org.id), dict(empty))
    for org_id, per_stage in found.per_stage.items():
        overdue = found.overdue.get(org_id, 0)
        counted = [(stage, n) for stage, n in per_stage.items() if n]
        if not counted and not overdue:
            continue  # nothing to add
        for row in (units[scope.unit_of(org_id)], total):
            for stage, n in counted:
                row.per_stage[stage] = row.per_stage.get(stage, 0) + n
            row.overdue += overdue
    upcoming = [
        Upcoming(u.case_id, u.name, scope.name(u.org_id), u.earliest_full) for u in found.upcoming
    ]
    return Pipeline(stages, list(units.values()), total, upcoming)
