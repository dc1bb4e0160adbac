"""The compliance grid: did every branch hold what it must, month by month (DOMAIN 3 and 2)?

Rows are branches (each with one row per obligation: the three meetings and one lesson, the
theme party day, its party groups' meetings, the yearly organizational life meeting),
columns are the months (or quarters) of the period. The same grid one level up sums each
child of the chosen organization: a general branch over its branches. The meeting
obligations come from the three meetings procedure, the life meeting from the life meeting
procedure (``pbflow.procedures.figure``); either left out, its rows are left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from pbflow.procedures import figure
from pbflow.procedures.supervision.scope import Scope
from pbflow.services.grids import Grid, GridGroup, GridRow, Link, combine_rows, obligation_cells
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
class Compliance:
    branches: Grid  # one group per branch
    above: Grid  # one group per child of the chosen organization (summed)

    @property
    def missed(self) -> int:
        return sum(g.missed for g in self.branches.groups)


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
    scope: Scope, branch_id: int, owed: dict[int, list[Obligation]], columns: list[Column]
) -> GridGroup:
    rows = {
        o.key: GridRow(
            o.key,
            str(LABELS.get(o.key, o.key)),
            obligation_cells(o, columns, _link(branch_id, o.key)),
        )
        for o in owed.get(branch_id, [])
    }
    group_rows = [
        GridRow(o.key, "", obligation_cells(o, columns, _link(g, o.key)))
        for g in scope.groups_of(branch_id)
        for o in owed.get(g, [])
        if o.key == "group_meeting"
    ]
    if group_rows:
        rows["group_meeting"] = combine_rows(
            "group_meeting",
            str(LABELS["group_meeting"]),
            group_rows,
            columns,
            ("meetings.calendar", {"org_id": branch_id}),
        )
    return GridGroup(
        org_id=branch_id,
        label=scope.name(branch_id),
        rows=[rows[k] for k in ORDER if k in rows],
        link=("meetings.calendar", {"org_id": branch_id}),
    )


def compliance(scope: Scope, period: Period) -> Compliance:
    """The branch grid and the grid one level up, for the scope and the period. A fixed
    number of statements whatever the number of branches, meetings or months."""
    columns = period.columns()
    ids = [n.id for n in scope.nodes if n.kind in ("branch", "party_group")]
    owed = _obligations(ids, period)
    groups = {b.id: _branch_group(scope, b.id, owed, columns) for b in scope.branches}
    above = []
    for child in scope.children:
        inside = [groups[b.id] for b in scope.below(child.id) if b.id in groups]
        if child.kind == "branch":
            summed = GridGroup(child.id, scope.name(child.id), groups[child.id].rows, kind="branch")
        else:
            summed = GridGroup(child.id, scope.name(child.id), kind=child.kind)
            for key in ORDER:
                rows = [r for g in inside for r in g.rows if r.key == key]
                if rows:
                    summed.rows.append(
                        combine_rows(
                            key,
                            str(LABELS[key]),
                            rows,
                            columns,
                            ("supervision.dashboard", {"org": child.id}),
                        )
                    )
        summed.link = ("supervision.dashboard", {"org": child.id})
        above.append(summed)
    return Compliance(Grid(columns, list(groups.values())), Grid(columns, above))
