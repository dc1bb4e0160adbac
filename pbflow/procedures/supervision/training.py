"""Members' training hours across branches (DOMAIN 3: each member receives at least 32 hours
of training a year). The counting is the three meetings procedure's own
(``figure("training_hours")``): per branch, the members who owe the year's training and
those who reached it; this module folds it into the dashboard's rows. The year is the
period's (its end's, as the secretaries' lectures)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pbflow.procedures import figure
from pbflow.procedures.supervision.scope import Scope
from pbflow.services import head_memo
from pbflow.services.periods import Period


@dataclass
class TrainingRow:
    org_id: int
    label: str
    parent_id: int | None  # the organization above it, when that is not the one chosen
    owed: int  # members who owe the year's training
    reached: int
    threshold_hours: float

    @property
    def below(self) -> int:
        return self.owed - self.reached


@dataclass
class Training:
    year: int
    by_branch: list[TrainingRow]  # tree order

    @property
    def owed(self) -> int:
        return sum(r.owed for r in self.by_branch)

    @property
    def reached(self) -> int:
        return sum(r.reached for r in self.by_branch)

    @property
    def below(self) -> int:
        return self.owed - self.reached

    @property
    def thresholds(self) -> str:
        """The thresholds in force in hours, fewest first ("32", or "32 / 40")."""
        return " / ".join(f"{h:g}" for h in sorted({r.threshold_hours for r in self.by_branch}))


def training(scope: Scope, period: Period) -> Training | None:
    """None when the three meetings procedure is not installed. One statement (its own).

    Kept until the next recorded change (``head_memo``): what each member owes and has
    reached in a year follows from the records alone (members, meetings attended, training
    recorded, the branches' thresholds), not from the day it is read on."""
    fn = figure("training_hours")
    if fn is None:
        return None
    year = period.end.year
    key = ("training", scope.org.id, year, scope.locale)
    return head_memo.remembered(key, lambda: _count(scope, fn, year))


def _count(scope: Scope, fn: Callable[[list[int], int], dict], year: int) -> Training:
    found = fn([n.id for n in scope.nodes], year)
    rows = [
        TrainingRow(
            node.id,
            scope.name(node.id),
            scope.parent_shown(node.id),
            fig.owed,
            fig.reached,
            fig.threshold_hours,
        )
        for node in scope.nodes
        if (fig := found.get(node.id)) is not None
    ]
    return Training(year, rows)
