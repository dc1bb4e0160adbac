"""Compliance grids: obligations (rows) over months or quarters (columns), one coloured cell
per period, for the meetings calendar of a branch and the supervision dashboard alike (the
template macro ``macros/grid.html`` draws them).

A cell spans the columns of its period (a quarterly meeting spans three month columns, the
yearly life meeting twelve); where a column holds several periods (monthly meetings in a
quarter column) or several organizations (a general branch's branches, a branch's party
groups), they are summed into one cell that says how many of how many were held.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pbflow.engine.definitions import ASIDE_CLOSE, ASIDE_OPEN, LABEL_SEPARATOR
from pbflow.services.periods import Column, Obligation, ObligationCell

Link = tuple[str, dict[str, Any]]  # (endpoint, arguments) for url_for


@dataclass
class GridCell:
    status: str  # ok | missing | open | future | not_required (periods.STATUSES)
    span: int = 1
    held: int = 0  # periods (or organizations) held
    required: int = 0  # periods (or organizations) that owed it
    label: str = ""  # the period(s): "2026-03", "2026 Q1"
    link: Link | None = None
    count_of: str = "periods"  # periods | orgs: what held/required count

    @property
    def text(self) -> str:
        if self.status in ("not_required", "future") and not self.held:
            return ""
        return f"{self.held}/{self.required}" if self.required else str(self.held)


@dataclass
class GridRow:
    key: str
    label: str
    cells: list[GridCell]

    @property
    def missed(self) -> int:
        return sum(1 for c in self.cells if c.status == "missing")


@dataclass
class GridGroup:
    """The rows of one organization (or of one organization's aggregate)."""

    org_id: int
    label: str
    rows: list[GridRow] = field(default_factory=list)
    link: Link | None = None
    kind: str = "branch"

    @property
    def missed(self) -> int:
        return sum(r.missed for r in self.rows)


@dataclass
class Grid:
    columns: list[Column]
    groups: list[GridGroup]


def combined_status(statuses: Iterable[str]) -> str:
    """One status for several periods or organizations: missed if any was missed, due while
    any is still open or only partly begun, held when all that were owed were held."""
    found = set(statuses)
    if not found or found == {"not_required"}:
        return "not_required"
    if "missing" in found:
        return "missing"
    if "open" in found:
        return "open"
    if found <= {"future", "not_required"}:
        return "future"
    if "future" in found:  # some held, the rest still to come: the column is not over
        return "open"
    return "ok"


def _held(cell: ObligationCell) -> bool:
    return cell.status == "ok" and cell.required > 0


def obligation_cells(
    obligation: Obligation, columns: Sequence[Column], link: Callable[..., Link | None]
) -> list[GridCell]:
    """An obligation's cells laid over the columns: a period longer than a column spans the
    columns it covers; several periods inside one column are summed into it. ``link(cells)``
    gives the link of a grid cell from the obligation cells behind it."""
    result: list[GridCell] = []
    cells = obligation.cells  # in order, one after another
    first = 0  # the first cell not over before the current column
    i = 0
    while i < len(columns):
        col = columns[i]
        while first < len(cells) and cells[first].end < col.start:
            first += 1
        inside = []
        for c in cells[first:]:
            if c.start > col.end:
                break
            inside.append(c)
        if len(inside) == 1 and inside[0].start <= col.start and inside[0].end >= col.end:
            period = inside[0]
            span = 1
            while (
                i + span < len(columns)
                and columns[i + span].start >= period.start
                and columns[i + span].end <= period.end
            ):
                span += 1
            result.append(
                GridCell(
                    status=period.status,
                    span=span,
                    held=period.held,
                    required=period.required,
                    label=period.label,
                    link=link([period]),
                )
            )
            i += span
            continue
        owed = [c for c in inside if c.required > 0]
        result.append(
            GridCell(
                status=combined_status(c.status for c in inside),
                held=sum(1 for c in owed if _held(c)),
                required=len(owed),
                label=col.label,
                link=link(inside) if inside else None,
            )
        )
        i += 1
    return result


def combine_rows(
    key: str, label: str, rows: Sequence[GridRow], columns: Sequence[Column], link: Link | None
) -> GridRow:
    """Several organizations' rows of one obligation as one row: per column, how many of the
    organizations that owed it held it (a general branch over its branches, a branch over its
    party groups). Where the organizations' periods differ, spans are undone to single columns
    so that they line up."""
    spans = {tuple(c.span for c in row.cells) for row in rows}
    layout = list(next(iter(spans))) if len(spans) == 1 else [1] * len(columns)
    slots: list[list[GridCell]] = [[] for _ in layout]
    starts = [sum(layout[:k]) for k in range(len(layout))]
    slot_at = {j: k for k, j in enumerate(starts)}  # the slot starting at each column
    for row in rows:
        i = 0
        for cell in row.cells:
            for j in range(i, i + cell.span):
                k = slot_at.get(j)
                if k is not None:
                    slots[k].append(cell)
            i += cell.span
    cells = []
    for k, found in enumerate(slots):
        owed = [c for c in found if c.status != "not_required"]
        first = columns[starts[k]]
        cells.append(
            GridCell(
                status=combined_status(c.status for c in found),
                span=layout[k],
                held=sum(1 for c in owed if c.status == "ok"),
                required=len(owed),
                label=found[0].label if found and layout[k] > 1 else first.label,
                link=link,
                count_of="orgs",
            )
        )
    return GridRow(key, label, cells)


def words(locale: str) -> dict[str, str]:
    """The grid's words in the reader's language (``locale``), looked up once per grid rather
    than once per cell: the status names, the two count phrases (formatted with ``%``) and
    the punctuation of a cell's description."""
    from flask_babel import gettext as _

    return {
        "ok": _("held"),
        "missing": _("missed"),
        "open": _("due"),
        "future": _("not yet"),
        "not_required": _("not required"),
        "periods": _("held %(held)s of %(required)s"),
        "orgs": _("%(held)s of %(required)s organizations"),
        "colon": LABEL_SEPARATOR.get(locale),
        "aside_open": ASIDE_OPEN.get(locale),
        "aside_close": ASIDE_CLOSE.get(locale),
    }
