"""The opinion box across branches (DOMAIN 4): received, answered on time, average days to
answer, reopened, satisfaction rate (rated 4-5 of all rated), per organization and over time.
The counting is the opinion box's own (``figure("opinions")``); this module folds it into
the dashboard's rows and columns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pbflow.procedures import figure
from pbflow.procedures.supervision.scope import Scope
from pbflow.services import head_memo
from pbflow.services.periods import Column, Period


@dataclass
class Tally:
    """Figures summed over organizations or months: the opinion box's counts (the figure's
    ``COUNTS`` name them; a count it adds that is not here fails loudly), with
    ``days_to_answer`` the sum over the answered."""

    label: str
    received: int = 0
    set_aside: int = 0
    answered: int = 0
    answered_on_time: int = 0
    days_to_answer: int = 0
    reopened: int = 0
    rated: int = 0
    rating_sum: int = 0
    satisfied: int = 0
    unrated_closed: int = 0
    key: Any = None

    def add(self, fig: Any) -> None:
        mine, theirs = self.__dict__, fig.__dict__  # plain attributes, read without lookups
        for name in fig.COUNTS:
            mine[name] += theirs[name]

    @property
    def on_time_share(self) -> float | None:
        return self.answered_on_time / self.answered if self.answered else None

    @property
    def average_days(self) -> float | None:
        if not self.answered:
            return None
        return round(self.days_to_answer / self.answered, 1)

    @property
    def satisfaction(self) -> float | None:
        """Rated 4 or 5 of all rated: the satisfaction rate of DOMAIN 4."""
        return self.satisfied / self.rated if self.rated else None


@dataclass
class Opinions:
    by_unit: list[Tally]
    over_time: list[Tally]  # one per column, summed over the scope
    total: Tally
    columns: list[Column]


def opinions(scope: Scope, period: Period, *, by_unit: bool = True) -> Opinions | None:
    """None when the opinion box is not installed. The opinion box's statements (its
    columns summed over the organizations). Without ``by_unit`` (a page that shows the sums)
    the total alone: no row per unit, none per column. Kept until the next recorded change
    (``head_memo``): what is counted of an opinion is fixed when it is recorded (answered on
    time or not, its rating), and the period's days by the day."""
    fn = figure("opinions")
    if fn is None:
        return None
    key = ("opinions", scope.org.id, period.start, period.end, period.kind, by_unit, scope.locale)
    return head_memo.remembered(key, lambda: _opinions(scope, period, fn, by_unit))


def _opinions(scope: Scope, period: Period, fn: Any, by_unit: bool) -> Opinions:
    columns = period.columns()
    if not by_unit:
        found = fn(scope.ids, period.start, period.end, "period", by_org=False)
        total = Tally(scope.name(scope.org.id), key=scope.org.id)
        for fig in found.by_column.values():
            total.add(fig)
        return Opinions([], [], total, columns)
    found = fn(scope.ids, period.start, period.end, columns[0].kind, columns_by_org=False)
    units = {n.id: Tally(scope.name(n.id), key=n.id) for n in scope.units}
    over_time = {c.start: Tally(c.label, key=c.start) for c in columns}
    total = Tally(scope.name(scope.org.id), key=scope.org.id)
    for org_id, fig in found.by_org.items():
        if fig.received:  # every opinion counted is received: nothing to add otherwise
            units[scope.unit_of(org_id)].add(fig)
            total.add(fig)
    for (_org_id, start), fig in found.by_column.items():
        if start in over_time:
            over_time[start].add(fig)
    return Opinions(list(units.values()), list(over_time.values()), total, columns)
