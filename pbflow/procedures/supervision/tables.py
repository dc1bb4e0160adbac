"""Every table of the dashboard (and the rectification list) as an export table: the same
figures, from the same services, with typed columns (``pbflow.services.exports``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from flask_babel import gettext as _

from pbflow.procedures.supervision import rectification as rect
from pbflow.procedures.supervision import work as work_
from pbflow.procedures.supervision.dashboard import Dashboard
from pbflow.procedures.supervision.membership import DIMENSIONS, value_label
from pbflow.services.exports import Column, Table
from pbflow.services.grids import Grid

STATUS_WORDS = {
    "ok": lambda: _("held"),
    "missing": lambda: _("missed"),
    "open": lambda: _("due"),
    "future": lambda: _("not yet"),
    "not_required": lambda: _("not required"),
}


def status_word(status: str) -> str:
    return STATUS_WORDS[status]()


def _name(d: Dashboard, table: str) -> str:
    return f"supervision-{table}-{d.scope.org.id}-{d.period.start}-{d.period.end}"


def _grid_rows(grid: Grid) -> Iterator[list[Any]]:
    for group in grid.groups:
        for row in group.rows:
            i = 0
            for cell in row.cells:
                first, last = grid.columns[i], grid.columns[i + cell.span - 1]
                i += cell.span
                yield [
                    group.label,
                    row.label,
                    cell.label,
                    first.start,
                    last.end,
                    cell.required,
                    cell.held,
                    status_word(cell.status),
                ]


def _grid(d: Dashboard, grid: Grid, table: str) -> Table:
    return Table(
        _name(d, table),
        [
            Column(_("Organization"), width=24),
            Column(_("Obligation"), width=22),
            Column(_("Period")),
            Column(_("From"), "date", 12),
            Column(_("To"), "date", 12),
            Column(_("Required"), "int", 10),
            Column(_("Held"), "int", 10),
            Column(_("Status"), width=12),
        ],
        _grid_rows(grid),
        sheet=_("Compliance"),
    )


def compliance(d: Dashboard) -> Table:
    return _grid(d, d.compliance.branches, "compliance")


def compliance_above(d: Dashboard) -> Table:
    return _grid(d, d.compliance.above, "compliance-summary")


def work_items(d: Dashboard) -> Table:
    """Every overdue or stuck case (the dashboard lists the oldest; the export all)."""
    rows = (
        [
            i.case_id,
            i.title,
            i.workflow,
            i.state,
            i.org_name,
            i.subject,
            i.due_at,
            i.overdue,
            i.waiting_since,
            i.days_waiting,
        ]
        for i in work_.items(d.scope, d.stuck_days)
    )
    return Table(
        _name(d, "overdue-work"),
        [
            Column(_("No."), "int", 8),
            Column(_("Title"), width=30),
            Column(_("Procedure"), width=18),
            Column(_("Step"), width=18),
            Column(_("Organization"), width=20),
            Column(_("Person"), width=12),
            Column(_("Due"), "datetime", 16),
            Column(_("Overdue"), "bool", 9),
            Column(_("Waiting since"), "datetime", 16),
            Column(_("Days waiting"), "int", 10),
        ],
        rows,
        sheet=_("Overdue and stuck work"),
    )


def _counts(d: Dashboard, table: str, counts, key_header: str) -> Table:
    return Table(
        _name(d, table),
        [
            Column(key_header, width=24),
            Column(_("Overdue"), "int", 10),
            Column(_("Waiting more than %(n)s days", n=d.stuck_days), "int", 14),
        ],
        ([c.label, c.overdue, c.stuck] for c in counts),
        sheet=_("Overdue and stuck work"),
    )


def work_by_unit(d: Dashboard) -> Table:
    return _counts(d, "work-by-organization", d.work.by_unit, _("Organization"))


def work_by_procedure(d: Dashboard) -> Table:
    return _counts(d, "work-by-procedure", d.work.by_workflow, _("Procedure"))


def pipeline(d: Dashboard) -> Table | None:
    p = d.pipeline
    if p is None:
        return None
    columns = [Column(_("Organization"), width=24)]
    columns += [Column(label.get(d.scope.locale), "int", 12) for _key, label in p.stages]
    columns += [Column(_("Open cases"), "int", 10), Column(_("Past the time limit"), "int", 12)]
    rows = [
        [r.label, *(r.per_stage.get(k, 0) for k, _l in p.stages), r.total, r.overdue]
        for r in [*p.by_unit, p.total]
    ]
    return Table(_name(d, "development"), columns, rows, sheet=_("Member development"))


def upcoming(d: Dashboard) -> Table | None:
    p = d.pipeline
    if p is None:
        return None
    return Table(
        _name(d, "full-membership-dates"),
        [
            Column(_("No."), "int", 8),
            Column(_("Name"), width=14),
            Column(_("Organization"), width=24),
            Column(_("Earliest full membership"), "date", 14),
        ],
        ([u.case_id, u.name, u.org_name, u.earliest_full] for u in p.upcoming),
        sheet=_("Member development"),
    )


def _opinion_columns(first: str) -> list[Column]:
    return [
        Column(first, width=24),
        Column(_("Received"), "int", 10),
        Column(_("Answered"), "int", 10),
        Column(_("Answered on time"), "int", 10),
        Column(_("On time"), "percent", 10),
        Column(_("Average days to answer"), "number", 12),
        Column(_("Reopened"), "int", 10),
        Column(_("Rated"), "int", 10),
        Column(_("Rated 4–5"), "int", 10),
        Column(_("Satisfaction rate"), "percent", 12),
    ]


def _opinion_row(t) -> list[Any]:
    return [
        t.label,
        t.received,
        t.answered,
        t.answered_on_time,
        t.on_time_share,
        t.average_days,
        t.reopened,
        t.rated,
        t.satisfied,
        t.satisfaction,
    ]


def opinions(d: Dashboard) -> Table | None:
    o = d.opinions
    if o is None:
        return None
    rows = [_opinion_row(t) for t in [*o.by_unit, o.total]]
    return Table(
        _name(d, "opinions"), _opinion_columns(_("Organization")), rows, sheet=_("Opinion box")
    )


def opinions_over_time(d: Dashboard) -> Table | None:
    o = d.opinions
    if o is None:
        return None
    rows = [_opinion_row(t) for t in o.over_time]
    return Table(
        _name(d, "opinions-over-time"), _opinion_columns(_("Period")), rows, sheet=_("Opinion box")
    )


def rectification(d: Dashboard) -> Table | None:
    r = d.rectification
    if r is None:
        return None
    return Table(
        _name(d, "rectification"),
        [
            Column(_("Organization"), width=24),
            Column(_("Open"), "int", 10),
            Column(_("Overdue"), "int", 10),
            Column(_("Ticked off"), "int", 10),
            Column(_("Cancelled"), "int", 10),
        ],
        ([x.label, x.open, x.overdue, x.closed, x.cancelled] for x in [*r.by_unit, r.total]),
        sheet=_("Rectification"),
    )


def training(d: Dashboard) -> Table | None:
    """Every branch's year of training: who owes it, who reached it, the threshold."""
    t = d.training
    if t is None:
        return None
    return Table(
        _name(d, "training"),
        [
            Column(_("Branch"), width=24),
            Column(_("Year"), "int", 8),
            Column(_("Members who owe it"), "int", 12),
            Column(_("Reached"), "int", 10),
            Column(_("Below"), "int", 10),
            Column(_("Hours a year"), "number", 10),
        ],
        ([r.label, t.year, r.owed, r.reached, r.below, r.threshold_hours] for r in t.by_branch),
        sheet=_("Training hours"),
    )


def membership(d: Dashboard) -> Table:
    """One line per organization, dimension and value: members at the start and the end;
    then a line per finding about a branch's size (its full members at the end)."""
    m = d.membership

    def rows() -> Iterator[list[Any]]:
        for row in [*m.by_unit, m.total]:
            yield [row.label, _("Members"), _("all"), row.start.members, row.end.members]
            yield [row.label, _("Joined (admitted)"), "", None, row.joined]
            yield [row.label, _("Converted to full"), "", None, row.converted]
            for key, label in DIMENSIONS:
                for value in m.values[key]:
                    yield [
                        row.label,
                        str(label),
                        value_label(key, value),
                        row.start.by[key].get(value, 0),
                        row.end.by[key].get(value, 0),
                    ]
        for b in m.sizes:  # the branches too small, too large or without their committee
            yield [b.label, _("Branch size"), b.text, None, b.full]

    return Table(
        _name(d, "membership"),
        [
            Column(_("Organization"), width=24),
            Column(_("Dimension"), width=18),
            Column(_("Value"), width=14),
            Column(_("At the start (%(day)s)", day=m.period.start.isoformat()), "int", 14),
            Column(_("At the end (%(day)s)", day=m.period.end.isoformat()), "int", 14),
        ],
        rows(),
        sheet=_("Membership"),
    )


def notices(d: Dashboard) -> Table:
    n = d.notices
    return Table(
        _name(d, "notices"),
        [
            Column(_("Organization"), width=24),
            Column(_("Issued"), "int", 10),
            Column(_("Open"), "int", 10),
            Column(_("Overdue"), "int", 10),
            Column(_("Accepted"), "int", 10),
        ],
        ([c.label, c.issued, c.open, c.overdue, c.closed] for c in [*n.by_unit, n.total]),
        sheet=_("Supervision notices"),
    )


TABLES: dict[str, Callable[[Dashboard], Table | None]] = {
    "compliance": compliance,
    "compliance-summary": compliance_above,
    "overdue-work": work_items,
    "work-by-organization": work_by_unit,
    "work-by-procedure": work_by_procedure,
    "development": pipeline,
    "full-membership-dates": upcoming,
    "opinions": opinions,
    "opinions-over-time": opinions_over_time,
    "rectification": rectification,
    "membership": membership,
    "training": training,
    "notices": notices,
}


def rectification_items(scope, status: str, locale: str) -> Table:
    """The rectification list page's rows, all of them (the page shows the first ones)."""
    rows = (
        [
            r.id,
            r.problem,
            r.org_name,
            r.owner,
            r.deadline,
            r.state_label.get(locale) if hasattr(r.state_label, "zh") else r.state_label,
            r.overdue,
            r.parent_id,
            r.created_at,
            r.closed_at,
        ]
        for r in rect.items(scope, status)
    )
    return Table(
        f"rectification-{scope.org.id}-{status}",
        [
            Column(_("No."), "int", 8),
            Column(_("Problem"), width=40),
            Column(_("Organization"), width=20),
            Column(_("Owner"), width=12),
            Column(_("Deadline"), "date", 12),
            Column(_("Status"), width=14),
            Column(_("Overdue"), "bool", 9),
            Column(_("Life meeting"), "int", 10),
            Column(_("Opened"), "datetime", 16),
            Column(_("Closed"), "datetime", 16),
        ],
        rows,
        sheet=_("Rectification"),
    )
