"""The supervision dashboard: every figure of one organization's tree for one period, from
the service of each concern. Another package (the branch assessment, the API) calls these
same functions: ``dashboard`` for all of them, or the module of one concern."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from pbflow.engine.registry import registry
from pbflow.models import User
from pbflow.procedures import figure
from pbflow.procedures.supervision import (
    compliance,
    membership,
    notices,
    opinions,
    pipeline,
    rectification,
    training,
    work,
)
from pbflow.procedures.supervision.scope import Scope, resolve
from pbflow.services.periods import Period


class Dashboard:
    """Every figure of one organization's tree for one period, each concern worked out when
    first asked for: the page reads them all, an export only the concern of its table (an
    export of the notices once counted the membership structure of every branch first, a
    fifth of a second at 100,000 cases). Without ``detail`` (the page) the membership
    structure is counted for the whole scope only, not per organization. Without
    ``by_unit`` (the page's overview, which shows the sums) overdue work, the notices, the
    opinions and the rectification items have no row per unit: the database sums the
    organizations."""

    def __init__(
        self,
        scope: Scope,
        period: Period,
        *,
        stuck_days: int = work.STUCK_DAYS,
        detail: bool = True,
        by_unit: bool = True,
    ) -> None:
        self.scope = scope
        self.period = period
        self.stuck_days = stuck_days
        self.detail = detail
        self.by_unit = by_unit

    @cached_property
    def compliance(self) -> compliance.Compliance:
        return compliance.compliance(self.scope, self.period)

    @cached_property
    def work(self) -> work.Work:
        return work.work(self.scope, self.stuck_days, by_unit=self.by_unit)

    @cached_property
    def pipeline(self) -> pipeline.Pipeline | None:
        return pipeline.pipeline(self.scope, self.period)

    @cached_property
    def opinions(self) -> opinions.Opinions | None:
        return opinions.opinions(self.scope, self.period, by_unit=self.by_unit)

    @cached_property
    def rectification(self) -> rectification.Rectification | None:
        return rectification.rectification(self.scope, self.period, by_unit=self.by_unit)

    @cached_property
    def membership(self) -> membership.Membership:
        return membership.membership(self.scope, self.period, per_unit=self.detail)

    @cached_property
    def training(self) -> training.Training | None:
        return training.training(self.scope, self.period)

    @cached_property
    def notices(self) -> notices.Notices:
        return notices.notices(self.scope, self.period, by_unit=self.by_unit)


def dashboard(
    viewer: User,
    org_id: int | None,
    period: Period,
    *,
    locale: str = "zh",
    stuck_days: int = work.STUCK_DAYS,
    detail: bool = True,
    by_unit: bool = True,
) -> Dashboard:
    """Everything the dashboard shows for ``org_id`` (the viewer's highest organization by
    default) in ``period``; the rights are checked here, the figures counted when read. A
    fixed number of statements whatever the number of branches, people, meetings or cases
    (tests/supervision counts them)."""
    return Dashboard(
        resolve(viewer, org_id, locale),
        period,
        stuck_days=stuck_days,
        detail=detail,
        by_unit=by_unit,
    )


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


SECTION_OF = {"branch_size": "membership"}  # the tables that are not their section's name


def tops(d: Dashboard, section: str | None = None) -> dict[str, Ranked]:
    """Per section, the organizations to show: with something to show, worst first. Only
    ``section``'s when one is named (the others' concerns are then not counted at all)."""
    rankings: dict[str, Callable[[], Ranked | None]] = {
        "work": lambda: _ranked(
            d.work.by_unit, lambda c: c.overdue or c.stuck, lambda c: (-c.overdue, -c.stuck)
        ),
        "membership": lambda: _ranked(
            d.membership.by_unit,
            lambda r: r.start.members or r.end.members,
            lambda r: (-r.end.members, -r.start.members),
        ),
        # Already in order (breaches first): the first of them.
        "branch_size": lambda: _ranked(d.membership.sizes, lambda _b: True, lambda _b: 0),
        "notices": lambda: _ranked(
            d.notices.by_unit,
            lambda c: c.issued or c.open or c.closed,
            lambda c: (-c.overdue, -c.open, -c.issued),
        ),
        "development": lambda: (
            d.pipeline
            and _ranked(d.pipeline.by_unit, lambda r: r.total, lambda r: (-r.overdue, -r.total))
        ),
        "opinions": lambda: (
            d.opinions and _ranked(d.opinions.by_unit, lambda t: t.received, lambda t: -t.received)
        ),
        "training": lambda: (
            d.training
            and _ranked(d.training.by_branch, lambda r: r.below, lambda r: (-r.below, -r.owed))
        ),
        "rectification": lambda: (
            d.rectification
            and _ranked(
                d.rectification.by_unit,
                lambda r: r.open or r.closed,
                lambda r: (-r.overdue, -r.open, -r.closed),
            )
        ),
    }
    found = {}
    for key, rank in rankings.items():
        if section is None or SECTION_OF.get(key, key) == section:
            ranked = rank()
            if ranked is not None:
                found[key] = ranked
    return found


# --- the page's sections ------------------------------------------------------------------------
# The page was every concern at once: at 50 branches 90 KB, twenty phone screens, and the page
# that cost most to serve. It shows one section at a time: the overview (the headline figure of
# each concern, linked to its section, and the meetings: did every branch hold what it must),
# then one section per concern, each counting only its own figures.

SECTIONS = (
    "overview",
    "work",
    "development",
    "opinions",
    "rectification",
    "membership",
    "training",
    "notices",
)


def sections() -> list[str]:
    """The sections of the concerns whose procedures are installed, in the page's order."""
    missing = {
        "development": figure("development") is None
        or registry().current.get("member_development") is None,
        "opinions": figure("opinions") is None,
        "rectification": figure("rectification") is None,
        "training": figure("training_hours") is None,
    }
    return [s for s in SECTIONS if not missing.get(s)]


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
