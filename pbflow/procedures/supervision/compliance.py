"""The compliance grid: did every branch hold what it must, month by month (DOMAIN 3 and 2)?

Rows are branches (each with one row per obligation: the three meetings and one lesson, the
theme party day, its party groups' meetings, the yearly organizational life meeting),
columns are the months (or quarters) of the period. The same grid one level up sums each
child of the chosen organization: a general branch over its branches. Over many branches the
dashboard shows sums of fixed size instead: per obligation and month, how many branches held
it; per branch, how many periods it missed (the full grid is on each branch's own dashboard
and in the export). The meeting
obligations come from the three meetings procedure, the life meeting from the life meeting
procedure (``pbflow.procedures.figure``); either left out, its rows are left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cached_property

from flask_babel import lazy_gettext as _l

from pbflow import clock
from pbflow.engine.actors import OrgNode
from pbflow.procedures import figure
from pbflow.procedures.supervision.scope import Scope
from pbflow.services import head_memo
from pbflow.services.grids import (
    Grid,
    GridCell,
    GridGroup,
    GridRow,
    Link,
    combine_rows,
    combined_status,
    obligation_cells,
)
from pbflow.services.periods import Column, Obligation, ObligationCell, Period

LABELS = {
    "general_meeting": _l("Branch general meeting"),
    "committee_meeting": _l("Branch committee meeting"),
    "group_meeting": _l("Party group meetings"),
    "party_lecture": _l("Party lecture"),
    "theme_day": _l("Theme party day"),
    "organizational_life_meeting": _l("Organizational life meeting"),
}
ORDER = tuple(LABELS)


@dataclass
class BranchMisses:
    """One branch's line in the dashboard's table: the periods it missed, per obligation."""

    org_id: int
    label: str
    parent_id: int | None  # the organization above it, when that is not the one chosen
    missed: dict[str, int]  # obligation -> missed cells (only the obligations it owes)

    @property
    def total(self) -> int:
        return sum(self.missed.values())


@dataclass
class SecretaryLectures:
    """DOMAIN 3: each branch's secretary gives at least one party lecture a year. The year
    of the period: the branches that owed it (active, set up before the year began), those
    whose secretary gave it, and the others (named, tree order)."""

    year: int
    owed: int
    given: int
    not_given: list[tuple[int, str]]  # (branch id, name)
    over: bool  # the year has ended: the others missed it


@dataclass
class Compliance:
    """The obligations of the scope's branches over the period's columns. The grids are built
    when asked for: the dashboard of many branches shows the sums (``by_obligation``, the
    table ``by_branch``), a branch's own dashboard and the exports the full grid."""

    scope: Scope
    columns: list[Column]
    owed: dict[int, list[Obligation]]
    year: int | None = None  # the period's (the secretaries' lectures are counted by year)

    @cached_property
    def lectures(self) -> SecretaryLectures | None:
        """The secretaries' party lectures of the period's year, from the procedure that
        offers them (None when none does); one statement."""
        fn = figure("secretary_lectures")
        if fn is None or self.year is None:
            return None
        first = date(self.year, 1, 1)
        owing = [
            b for b in self._branches if b.active and clock.to_local(b.created_at).date() <= first
        ]
        given = fn([b.id for b in owing], first, date(self.year, 12, 31))
        others = [(b.id, self.scope.name(b.id)) for b in owing if b.id not in given]
        return SecretaryLectures(
            self.year, len(owing), len(owing) - len(others), others, clock.today().year > self.year
        )

    @cached_property
    def branches(self) -> Grid:
        """One group per branch, every cell linked to its meetings (or calendar)."""
        names = labels()
        groups = [
            _branch_group(self.scope, b.id, self.owed, self.columns, names=names)
            for b in self._branches
        ]
        return Grid(self.columns, groups)

    @cached_property
    def _plain(self) -> list[GridGroup]:
        """The same groups without links (cheaper), for the sums."""
        if "branches" in self.__dict__ or len(self._branches) <= 1:
            return self.branches.groups
        names = labels()
        return [
            _branch_group(self.scope, b.id, self.owed, self.columns, linked=False, names=names)
            for b in self._branches
        ]

    @property
    def _branches(self) -> list[OrgNode]:
        return self.scope.branches

    @cached_property
    def _rows(self) -> dict[int, dict[str, list[tuple]]]:
        """Each branch's rows, as ``_plain`` has them, but their cells plain tuples (status,
        span, held, required, label): what the sums read, without building a grid cell per
        branch, obligation and month (``_lean_cells``; tests compare the two)."""
        if "_plain" in self.__dict__:
            return {
                g.org_id: {
                    r.key: [(c.status, c.span, c.held, c.required, c.label) for c in r.cells]
                    for r in g.rows
                }
                for g in self._plain
            }
        plans: dict[tuple, list[tuple]] = {}
        columns = self.columns
        found = {}
        for b in self._branches:
            rows = {o.key: _lean_cells(o, columns, plans) for o in self.owed.get(b.id, [])}
            groups = [
                _lean_cells(o, columns, plans)
                for g in self.scope.groups_of(b.id)
                for o in self.owed.get(g, [])
                if o.key == "group_meeting"
            ]
            if groups:
                rows["group_meeting"] = _lean_combine(groups, columns, self._names)
            found[b.id] = {k: rows[k] for k in ORDER if k in rows}
        return found

    @cached_property
    def _names(self) -> list[str]:
        """The columns' labels, worked out once."""
        return [c.label for c in self.columns]

    @cached_property
    def missed(self) -> int:
        return sum(b.total for b in self.by_branch)

    @cached_property
    def keys(self) -> list[str]:
        """The obligations any branch here owes, in the grid's order."""
        found = {k for rows in self._rows.values() for k in rows}
        return [k for k in ORDER if k in found]

    @cached_property
    def by_obligation(self) -> Grid:
        """One row per obligation over the columns: of the branches that owed it, how many
        held it (a grid of fixed size whatever the number of branches)."""
        group = GridGroup(self.scope.org.id, _all_branches(len(self._rows)))
        names = labels()
        for key in self.keys:
            rows = [r[key] for r in self._rows.values() if key in r]
            cells = [
                GridCell(status, span, held, required, label, None, "orgs")
                for status, span, held, required, label in _lean_combine(
                    rows, self.columns, self._names
                )
            ]
            group.rows.append(GridRow(key, names[key], cells))
        return Grid(self.columns, [group] if group.rows else [])

    @cached_property
    def by_branch(self) -> list[BranchMisses]:
        """Every branch with its misses per obligation, those that missed most first."""
        found = []
        for org_id, rows in self._rows.items():
            found.append(
                BranchMisses(
                    org_id,
                    self.scope.name(org_id),
                    self.scope.parent_shown(org_id),
                    {k: [c[0] for c in cells].count("missing") for k, cells in rows.items()},
                )
            )
        order = {n.id: i for i, n in enumerate(self.scope.nodes)}
        return sorted(found, key=lambda b: (-b.total, order[b.org_id]))

    @property
    def branches_missing(self) -> int:
        return sum(1 for b in self.by_branch if b.total)

    @cached_property
    def above(self) -> Grid:
        """One group per child of the chosen organization (its branches summed)."""
        groups = {g.org_id: g for g in self.branches.groups}
        scope, columns, names = self.scope, self.columns, labels()
        above = []
        for child in scope.children:
            inside = [groups[b.id] for b in scope.below(child.id) if b.id in groups]
            if child.kind == "branch":
                summed = GridGroup(
                    child.id, scope.name(child.id), groups[child.id].rows, kind="branch"
                )
            else:
                summed = GridGroup(child.id, scope.name(child.id), kind=child.kind)
                for key in ORDER:
                    rows = [r for g in inside for r in g.rows if r.key == key]
                    if rows:
                        summed.rows.append(
                            combine_rows(
                                key,
                                names[key],
                                rows,
                                columns,
                                ("supervision.dashboard", {"org": child.id}),
                            )
                        )
            summed.link = ("supervision.dashboard", {"org": child.id})
            above.append(summed)
        return Grid(columns, above)


def _plan(cells: Sequence[ObligationCell], columns: Sequence[Column]) -> list[tuple]:
    """How ``obligation_cells`` lays an obligation's periods over the columns, from their
    days alone: per grid cell, ("one", period index, span) or ("many", period indexes,
    column index). The same walk as there (kept in step by the tests)."""
    plan: list[tuple] = []
    first = i = 0
    while i < len(columns):
        col = columns[i]
        while first < len(cells) and cells[first].end < col.start:
            first += 1
        inside = []
        for k in range(first, len(cells)):
            if cells[k].start > col.end:
                break
            inside.append(k)
        alone = cells[inside[0]] if len(inside) == 1 else None
        if alone is not None and alone.start <= col.start and alone.end >= col.end:
            period = alone
            span = 1
            while (
                i + span < len(columns)
                and columns[i + span].start >= period.start
                and columns[i + span].end <= period.end
            ):
                span += 1
            plan.append(("one", inside[0], span))
            i += span
            continue
        plan.append(("many", tuple(inside), i))
        i += 1
    return plan


# The plan of a period per column (months over months): each cell as it is.
_CELLWISE: list[tuple] = [("cellwise", (), 0)]


def _lean_cells(
    o: Obligation, columns: Sequence[Column], plans: dict[tuple, list[tuple]]
) -> list[tuple]:
    """``obligation_cells`` of an obligation as tuples (status, span, held, required,
    label), its plan worked out once per layout of periods."""
    cells = o.cells
    key = (o.period, len(cells), cells[0].start, cells[-1].end) if cells else None
    plan = plans.get(key)
    if plan is None:
        plan = plans[key] = _plan(cells, columns)
        if plan == [("one", k, 1) for k in range(len(cells))]:
            plans[key] = plan = _CELLWISE
    if plan is _CELLWISE:
        return [(c.status, 1, c.held, c.required, c.label) for c in cells]
    found = []
    for kind, which, span in plan:
        if kind == "one":
            c = cells[which]
            found.append((c.status, span, c.held, c.required, c.label))
        else:
            inside = [cells[k] for k in which]
            owed = [c for c in inside if c.required > 0]
            found.append(
                (
                    combined_status(c.status for c in inside),
                    1,
                    sum(1 for c in owed if c.status == "ok"),
                    len(owed),
                    columns[span].label,
                )
            )
    return found


def _lean_combine(
    rows: Sequence[list[tuple]], columns: Sequence[Column], names: Sequence[str] | None = None
) -> list[tuple]:
    """``combine_rows`` of rows of tuples: per column (or span all rows share), how many of
    the organizations that owed it held it. ``names``: the columns' labels, when the caller
    has them (tests compare with ``combine_rows``)."""
    if names is None:
        names = [c.label for c in columns]
    layout = [c[1] for c in rows[0]]
    if all([c[1] for c in row] == layout for row in rows):
        slots: Iterable[Sequence[tuple]] = zip(*rows, strict=True)  # k-th cell of each row
    else:  # spans undone to single columns, so that they line up
        width = len(columns)
        layout = [1] * width
        slots = [[] for _ in layout]
        for row in rows:
            i = 0
            for cell in row:
                for j in range(i, min(i + cell[1], width)):
                    slots[j].append(cell)
                i += cell[1]
    found = []
    start = 0
    for span, cells in zip(layout, slots, strict=True):
        statuses = [c[0] for c in cells]
        found.append(
            (
                combined_status(statuses),
                span,
                statuses.count("ok"),
                len(statuses) - statuses.count("not_required"),
                cells[0][4] if cells and span > 1 else names[start],
            )
        )
        start += span
    return found


def labels() -> dict[str, str]:
    """The obligations' names in the reader's language (looked up once per grid)."""
    return {k: str(v) for k, v in LABELS.items()}


def _all_branches(n: int) -> str:
    from flask_babel import ngettext

    return ngettext("The branch", "All %(num)s branches", n)


def _no_link(_cells: Sequence[ObligationCell]) -> None:
    return None


def _link(org_id: int, key: str):
    def link(cells: Sequence[ObligationCell]) -> Link | None:
        if not cells:
            return None
        first, last = min(c.start for c in cells), max(c.end for c in cells)
        if key == "organizational_life_meeting":
            return (
                "cases.index",
                {"workflow": "life_meeting", "org": org_id, "status": "all"},
            )
        if any(c.held for c in cells):
            return (
                "meetings.index",
                {"org": org_id, "type": key, "from": first.isoformat(), "to": last.isoformat()},
            )
        return ("meetings.calendar", {"org_id": org_id, "year": first.year})

    return link


def _obligations(ids: list[int], period: Period) -> dict[int, list[Obligation]]:
    """Obligations of each organization, from whichever procedures offer them."""
    owed: dict[int, list[Obligation]] = {}
    first, last = period.start, period.end
    for name in ("meetings", "life_meetings"):
        fn = figure(name)
        if fn is None:
            continue
        for oid, rows in fn(ids, first, last).items():
            owed.setdefault(oid, []).extend(rows)
    return owed


def _branch_group(
    scope: Scope,
    branch_id: int,
    owed: dict[int, list[Obligation]],
    columns: list[Column],
    *,
    linked: bool = True,
    names: dict[str, str] | None = None,
) -> GridGroup:
    names = names or labels()

    def link(org_id: int, key: str):
        return _link(org_id, key) if linked else _no_link

    rows = {
        o.key: GridRow(
            o.key,
            names.get(o.key, o.key),
            obligation_cells(o, columns, link(branch_id, o.key)),
        )
        for o in owed.get(branch_id, [])
    }
    group_rows = [
        GridRow(o.key, "", obligation_cells(o, columns, link(g, o.key)))
        for g in scope.groups_of(branch_id)
        for o in owed.get(g, [])
        if o.key == "group_meeting"
    ]
    if group_rows:
        rows["group_meeting"] = combine_rows(
            "group_meeting",
            names["group_meeting"],
            group_rows,
            columns,
            ("meetings.calendar", {"org_id": branch_id}) if linked else None,
        )
    return GridGroup(
        org_id=branch_id,
        label=scope.name(branch_id),
        rows=[rows[k] for k in ORDER if k in rows],
        link=("meetings.calendar", {"org_id": branch_id}),
    )


def compliance(scope: Scope, period: Period) -> Compliance:
    """The obligations of the scope's branches (and their party groups) in the period; the
    grids and sums are built from them when asked for. A fixed number of statements
    whatever the number of branches, meetings or months.

    Kept, with the grids and sums built from it, until the next recorded change or the
    next day (``head_memo``): who may read the organization is checked before (the
    scope), and nothing here depends on the reader but the language of its labels."""

    def count() -> Compliance:
        ids = [n.id for n in scope.nodes if n.kind in ("branch", "party_group")]
        return Compliance(scope, period.columns(), _obligations(ids, period), period.end.year)

    key = ("compliance", scope.org.id, period.start, period.end, period.kind, scope.locale)
    return head_memo.remembered(key, count)
