"""The supervision dashboard: every figure of one organization's tree for one period, from
the service of each concern. Another package (the branch assessment, the API) calls these
same functions: ``dashboard`` for all of them, or the module of one concern."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from pbflow.models import User
from pbflow.procedures.supervision import (
    compliance,
    membership,
    notices,
    opinions,
    pipeline,
    rectification,
    work,
)
from pbflow.procedures.supervision.scope import Scope, resolve
from pbflow.services.periods import Period


class Dashboard:
    """Every figure of one organization's tree for one period, each concern worked out when
    first asked for: the page reads them all, an export only the concern of its table (an
    export of the notices once counted the membership structure of every branch first, a
    fifth of a second at 100,000 cases). Without ``detail`` (the page) the membership
    structure is counted for the whole scope only, not per organization."""

    def __init__(
        self,
        scope: Scope,
        period: Period,
        *,
        stuck_days: int = work.STUCK_DAYS,
        detail: bool = True,
    ) -> None:
        self.scope = scope
        self.period = period
        self.stuck_days = stuck_days
        self.detail = detail

    @cached_property
    def compliance(self) -> compliance.Compliance:
        return compliance.compliance(self.scope, self.period)

    @cached_property
    def work(self) -> work.Work:
        return work.work(self.scope, self.stuck_days)

    @cached_property
    def pipeline(self) -> pipeline.Pipeline | None:
        return pipeline.pipeline(self.scope, self.period)

    @cached_property
    def opinions(self) -> opinions.Opinions | None:
        return opinions.opinions(self.scope, self.period)

    @cached_property
    def rectification(self) -> rectification.Rectification | None:
        return rectification.rectification(self.scope, self.period)

    @cached_property
    def membership(self) -> membership.Membership:
        return membership.membership(self.scope, self.period, per_unit=self.detail)

    @cached_property
    def notices(self) -> notices.Notices:
        return notices.notices(self.scope, self.period)


def dashboard(
    viewer: User,
    org_id: int | None,
    period: Period,
    *,
    locale: str = "zh",
    stuck_days: int = work.STUCK_DAYS,
    detail: bool = True,
) -> Dashboard:
    """Everything the dashboard shows for ``org_id`` (the viewer's highest organization by
    default) in ``period``; the rights are checked here, the figures counted when read. A
    fixed number of statements whatever the number of branches, people, meetings or cases
    (tests/supervision counts them)."""
    return Dashboard(resolve(viewer, org_id, locale), period, stuck_days=stuck_days, detail=detail)


# --- what one screen shows of it --------------------------------------------------------------
# The dashboard of a committee with many branches shows sums and the organizations that need
# attention first, a bounded number of them; every row is in the exports, and each branch's
# own dashboard shows its full grid.

TOP = 10  # rows of each per-organization table
BRANCHES_PER_PAGE = 20  # rows of the branch table of the meetings


@dataclass
class Ranked:
    """The first rows of a per-organization table, most in need of attention first."""

    rows: list[Any]
    total: int  # the rows that qualified

    @property
    def more(self) -> int:
        return self.total - len(self.rows)


def _ranked(rows: Iterable[Any], keep: Callable[[Any], bool], key: Callable[[Any], Any]) -> Ranked:
    found = sorted((r for r in rows if keep(r)), key=key)  # stable: tree order among equals
    return Ranked(found[:TOP], len(found))


def tops(d: Dashboard) -> dict[str, Ranked]:
    """Per section, the organizations to show: with something to show, worst first."""
    found = {
        "work": _ranked(
            d.work.by_unit, lambda c: c.overdue or c.stuck, lambda c: (-c.overdue, -c.stuck)
        ),
        "membership": _ranked(
            d.membership.by_unit,
            lambda r: r.start.members or r.end.members,
            lambda r: (-r.end.members, -r.start.members),
        ),
        "notices": _ranked(
            d.notices.by_unit,
            lambda c: c.issued or c.open or c.closed,
            lambda c: (-c.overdue, -c.open, -c.issued),
        ),
    }
    if d.pipeline is not None:
        found["pipeline"] = _ranked(
            d.pipeline.by_unit, lambda r: r.total, lambda r: (-r.overdue, -r.total)
        )
    if d.opinions is not None:
        found["opinions"] = _ranked(d.opinions.by_unit, lambda t: t.received, lambda t: -t.received)
    if d.rectification is not None:
        found["rectification"] = _ranked(
            d.rectification.by_unit,
            lambda r: r.open or r.closed,
            lambda r: (-r.overdue, -r.open, -r.closed),
        )
    return found


@dataclass
class BranchPage:
    """One page of the branch table of the meetings (those that missed most first)."""

    rows: list[compliance.BranchMisses]
    page: int
    pages: int
    total: int


def branch_page(d: Dashboard, page: int | None) -> BranchPage:
    """The branches of ``page`` (1 when None; past the last, the last)."""
    rows = d.compliance.by_branch
    pages = max(1, -(-len(rows) // BRANCHES_PER_PAGE))
    page = min(max(page or 1, 1), pages)
    start = (page - 1) * BRANCHES_PER_PAGE
    return BranchPage(rows[start : start + BRANCHES_PER_PAGE], page, pages, len(rows))
