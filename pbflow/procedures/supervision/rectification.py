"""Rectification items per branch (DOMAIN 2): open and overdue at the end of the period (or
now, while it runs), ticked off during it. Counted by the life meeting procedure
(``figure("rectification")``), folded into the dashboard's rows."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pbflow.procedures import figure
from pbflow.procedures.supervision.scope import Scope
from pbflow.services import head_memo
from pbflow.services.periods import Period


@dataclass
class RectificationRow:
    org_id: int
    label: str
    open: int = 0
    overdue: int = 0
    closed: int = 0
    cancelled: int = 0


@dataclass
class Rectification:
    by_unit: list[RectificationRow]
    total: RectificationRow


def rectification(scope: Scope, period: Period, *, by_unit: bool = True) -> Rectification | None:
    """None when the rectification items are not installed. Without ``by_unit`` (a page
    that shows the sums) the total alone, summed by the database. Kept until the next
    recorded change (``head_memo``): an item is overdue from the day after its deadline."""
    fn = figure("rectification")
    if fn is None:
        return None
    key = ("rectification", scope.org.id, period.start, period.end, by_unit, scope.locale)
    return head_memo.remembered(key, lambda: _rectification(scope, period, fn, by_unit))


def _rectification(scope: Scope, period: Period, fn: Any, by_unit: bool) -> Rectification:
    units = {n.id: RectificationRow(n.id, scope.name(n.id)) for n in scope.units} if by_unit else {}
    total = RectificationRow(scope.org.id, scope.name(scope.org.id))
    for org_id, counts in fn(scope.ids, period.start, period.end, by_org=by_unit).items():
        found = (counts.open, counts.overdue, counts.closed, counts.cancelled)
        if not any(found):
            continue  # most organizations: nothing to add
        for row in (units[scope.unit_of(org_id)], total) if by_unit else (total,):
            row.open += found[0]
            row.overdue += found[1]
            row.closed += found[2]
            row.cancelled += found[3]
    return Rectification(list(units.values()), total)


STATUSES = ("open", "overdue", "closed", "all")


def items(
    scope: Scope, status: str = "open", limit: int | None = None, after: str | None = None
) -> Iterator[Any]:
    """The rectification items of the scope (the list page and its export); ``after``: the
    ``position`` of the last item of the page before."""
    fn = figure("rectification_items")
    if fn is None:
        return iter(())
    return fn(scope.ids, status if status in STATUSES else "open", limit, after)
