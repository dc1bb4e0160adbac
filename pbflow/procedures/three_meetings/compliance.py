"""Did each branch hold what it must, every month and quarter (DOMAIN.md section 3)?

Required frequencies come from DOMAIN.md's defaults per kind of organization, overridden by
``MeetingRequirement`` rows (the nearest organization at or above wins). A period counts
only when the organization existed for all of it: a branch created in the middle of a quarter
owes that quarter's general meeting from the next quarter on (what it holds meanwhile is
still shown as held). ``tick`` reminds the secretary before a period ends with something
missing and records the miss once it ended, each exactly once (a unique notice per
organization, type, period and kind).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from pbflow import audit, clock
from pbflow.engine import actors, fastsql, tally
from pbflow.engine.errors import NotAllowed, NotFound, ValidationFailed
from pbflow.extensions import db
from pbflow.models import (
    ComplianceNotice,
    MeetingRequirement,
    Organization,
    User,
)
from pbflow.models.meetings import MEETING_TYPES, PERIODS
from pbflow.procedures.three_meetings import secretary_lecture, training_figures
from pbflow.procedures.three_meetings.secretary_lecture import SecretaryLecture
from pbflow.services import notifications
from pbflow.services.grids import Grid
from pbflow.services.periods import Obligation, ObligationCell

# DOMAIN.md 3 defaults: (period, times per period).
DEFAULTS: dict[str, dict[str, tuple[str, int]]] = {
    "branch": {
        "general_meeting": ("quarter", 1),
        "committee_meeting": ("month", 1),  # only where the branch has a committee
        "party_lecture": ("quarter", 1),
        "theme_day": ("month", 1),
    },
    "party_group": {"group_meeting": ("month", 1)},
}
REMIND_DAYS = 7  # default; Organization.settings["three_meetings"]["remind_days"] overrides
SETTINGS_KEY = "three_meetings"
LOOKBACK_MONTHS = 12  # how far back a late tick still records misses
NOTIFY_ROLES = ("secretary", "deputy_secretary")
SUPERIOR_ROLES = ("secretary", "committee")


# --- periods --------------------------------------------------------------------------------


def period_bounds(day: date, period: str) -> tuple[date, date]:
    """First and last day of the month, quarter or year containing ``day``."""
    if period == "month":
        start = day.replace(day=1)
        months = 1
    elif period == "quarter":
        start = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
        months = 3
    else:
        start = date(day.year, 1, 1)
        months = 12
    month_index = start.month - 1 + months
    nxt = date(start.year + month_index // 12, month_index % 12 + 1, 1)
    return start, nxt - timedelta(days=1)


def periods_of_year(year: int, period: str) -> list[tuple[date, date]]:
    step = {"month": 1, "quarter": 3, "year": 12}[period]
    return [period_bounds(date(year, m, 1), period) for m in range(1, 13, step)]


def period_label(start: date, period: str) -> str:
    if period == "month":
        return f"{start.year}-{start.month:02d}"
    if period == "quarter":
        return f"{start.year} Q{(start.month - 1) // 3 + 1}"
    return str(start.year)


# --- requirements ---------------------------------------------------------------------------


def requirements(org_ids: list[int]) -> dict[int, dict[str, tuple[str, int]]]:
    """Required (period, times) per meeting type for each organization: one statement of
    plain rows (a committee's tree is a hundred organizations), the overrides set at them and
    above them and which branches have a committee."""
    tally.flush_pending()  # changes made in the session written, as a query would
    index = actors.org_index()
    ancestors = {oid: index[oid].ancestor_ids() for oid in org_ids if oid in index}
    all_ids = sorted({a for ids in ancestors.values() for a in ids})
    branches = [o for o in org_ids if index.get(o) and index[o].kind == "branch"]
    overrides: dict[int, dict[str, tuple[str, int]]] = defaultdict(dict)
    committees: set[int] = set()
    if all_ids:
        f = fastsql.flavour()
        where, params = fastsql.any_of("org_id", all_ids, f)
        sql = f"SELECT org_id, meeting_type, period, times FROM meeting_requirement WHERE {where}"
        if branches:  # those with a committee: rows with no meeting type (none is NULL)
            where, values = fastsql.any_of("org_id", branches, f)
            posts = actors.COMMITTEE_POSTS
            sql += (
                " UNION ALL SELECT DISTINCT org_id, CAST(NULL AS VARCHAR(30)),"
                " CAST(NULL AS VARCHAR(10)), CAST(NULL AS INTEGER) FROM role_assignment"
                f" WHERE {where} AND role IN ({', '.join([f.placeholder] * len(posts))})"
                " AND user_id IN (SELECT id FROM user_account WHERE active)"
            )
            params += [*values, *posts]
        for org_id, mtype, period, times in fastsql.read(sql, params):
            if mtype is None:
                committees.add(org_id)
            else:
                overrides[org_id][mtype] = (period, times)
    result: dict[int, dict[str, tuple[str, int]]] = {}
    for oid, chain in ancestors.items():
        kind = index[oid].kind
        reqs = dict(DEFAULTS.get(kind, {}))
        if kind == "branch" and oid not in committees:
            reqs.pop("committee_meeting", None)
        for aid in chain:  # root first, so the nearest override is applied last
            for mtype, value in overrides.get(aid, {}).items():
                reqs[mtype] = value
        result[oid] = {t: v for t, v in reqs.items() if v[1] > 0}
    return result


def set_requirement(
    actor: User, org_id: int, meeting_type: str, period: str, times: int
) -> MeetingRequirement:
    """Set an organization's frequency for one meeting type (for it and those below it)."""
    try:
        index = actors.org_index()
        if org_id not in index:
            raise NotFound(_("No such organization."))
        scope = index[org_id].ancestor_ids()
        if not any(actors.has_role(actor.id, r, scope) for r in ("admin", "committee")):
            raise NotAllowed(_("Only an administrator or the party committee sets requirements."))
        errors = {}
        if meeting_type not in MEETING_TYPES:
            errors["meeting_type"] = _("is not one of the choices")
        if period not in PERIODS:
            errors["period"] = _("is not one of the choices")
        if not isinstance(times, int) or not 0 <= times <= 31:
            errors["times"] = _("must be a whole number from 0 to 31")
        if errors:
            raise ValidationFailed(_("Some fields need correcting."), field_errors=errors)
        row = db.session.execute(
            select(MeetingRequirement).where(
                MeetingRequirement.org_id == org_id, MeetingRequirement.meeting_type == meeting_type
            )
        ).scalar()
        before = (row.period, row.times) if row else None
        if row is None:
            row = MeetingRequirement(org_id=org_id, meeting_type=meeting_type)
            db.session.add(row)
        row.period, row.times = period, times
        audit.record(
            "meeting_requirement_set",
            actor=actor,
            org_id=org_id,
            payload={
                "meeting_type": meeting_type,
                "before": list(before) if before else None,
                "after": [period, times],
            },
        )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return row


# --- the calendar ---------------------------------------------------------------------------

Cell = ObligationCell


@dataclass
class Row:
    meeting_type: str
    period: str
    times: int
    cells: list[Cell]


@dataclass
class Calendar:
    org: Organization
    year: int
    rows: list[Row] = field(default_factory=list)
    groups: list[Calendar] = field(default_factory=list)
    # A branch's: whether its secretary gave the year's party lecture (secretary_lecture.py).
    secretary_lecture: SecretaryLecture | None = None
    # A branch's members who owe the year's training hours and reached them (training.py).
    training: training_figures.TrainingFigure | None = None

    @property
    def missing(self) -> int:
        return sum(c.missing for r in self.rows for c in r.cells if c.status == "missing")


def _first_day(org_created: datetime) -> date:
    return clock.to_local(org_created).date()


def _held_counts(org_ids: list[int], since: date, until: date) -> dict:
    """The days each organization held each meeting type on, ``since``..``until``: one plain
    statement (a committee's year is a thousand meetings, read without row objects)."""
    counts: dict[tuple[int, str], list[date]] = defaultdict(list)
    if not org_ids:
        return counts
    f = fastsql.flavour()
    p = f.placeholder
    orgs, params = fastsql.any_of("org_id", org_ids, f)
    rows = fastsql.read(
        f"SELECT org_id, meeting_type, held_on FROM meeting WHERE {orgs}"
        f" AND held_on >= {p} AND held_on <= {p}",
        [*params, f.day(since), f.day(until)],
    )
    day = f.read_day
    for org_id, mtype, held_on in rows:
        counts[(org_id, mtype)].append(day(held_on))
    return counts


def _notices(org_ids: list[int], since: date) -> dict[tuple[int, str, date, str], datetime]:
    if not org_ids:
        return {}
    f = fastsql.flavour()
    orgs, params = fastsql.any_of("org_id", org_ids, f)
    rows = fastsql.read(
        "SELECT org_id, meeting_type, period_start, kind, created_at FROM compliance_notice"
        f" WHERE {orgs} AND period_start >= {f.placeholder}",
        [*params, f.day(since)],
    )
    day, dt = f.read_day, f.read_dt
    return {(r[0], r[1], day(r[2]), r[3]): dt(r[4]) for r in rows}


def _periods(first: date, last: date, period: str) -> list[tuple[date, date]]:
    """The months, quarters or years that overlap ``first``..``last``."""
    result = []
    start, end = period_bounds(first, period)
    while start <= last:
        result.append((start, end))
        start, end = period_bounds(end + timedelta(days=1), period)
    return result


_FUTURE, _RUNNING, _OVER = "future", "running", "over"


def _phase(start: date, end: date, today: date) -> str:
    """Where a period stands against ``today``, as ``obligation_status`` reads it: not yet
    begun, still running (its last day included), or over."""
    if start > today:
        return _FUTURE
    return _RUNNING if end >= today else _OVER


def obligations(
    org_ids: list[int], first: date, last: date, today: date | None = None
) -> dict[int, list[Obligation]]:
    """What each organization owes of the three meetings and one lesson and the theme party
    day in every period overlapping ``first``..``last``, what it held, and the reminders and
    misses recorded. No rights are checked: the caller has (the calendar, the supervision
    dashboard, the assessment). Four statements whatever the number of organizations,
    periods or meetings (when each was set up is in the organization index)."""
    ids = sorted(set(org_ids))
    if not ids:
        return {}
    index = actors.org_index()
    created = {oid: index[oid].created_at for oid in ids if oid in index}
    reqs = requirements(ids)
    # Quarters and years reach beyond a month-aligned range: count what they hold in full.
    since, until = period_bounds(first, "year")[0], period_bounds(last, "year")[1]
    held = _held_counts(ids, since, until)
    notices = _notices(ids, since)
    today = today or clock.today()
    # The periods of each length, labelled once, each with where it stands against today
    # (obligation_status's order: not yet begun, still running, over); the days held,
    # sorted, counted by bisection. A committee's year is some 2,500 cells, each built here:
    # the per-cell work is a comparison or two (tests compare with obligation_status).
    spans = {
        p: [
            (start, end, period_label(start, p), _phase(start, end, today))
            for start, end in _periods(first, last, p)
        ]
        for p in PERIODS
    }
    for days in held.values():
        days.sort()
    noticed = {(oid, mtype) for oid, mtype, _start, _kind in notices}
    result: dict[int, list[Obligation]] = {}
    for oid in ids:
        if oid not in created:
            continue
        born = _first_day(created[oid])
        owed = reqs.get(oid, {})
        rows = []
        for mtype in MEETING_TYPES:
            if mtype not in owed:
                continue
            period, times = owed[mtype]
            days = held.get((oid, mtype))
            marks = (oid, mtype) in noticed
            cells = []
            for start, end, label, phase in spans[period]:
                n = bisect_right(days, end) - bisect_left(days, start) if days else 0
                if start < born:
                    required, status = 0, "not_required"
                elif phase == _FUTURE:
                    required, status = times, "future"
                elif n >= times:
                    required, status = times, "ok"
                else:
                    required, status = times, ("open" if phase == _RUNNING else "missing")
                if marks:
                    cells.append(
                        Cell(
                            label,
                            start,
                            end,
                            required,
                            n,
                            status,
                            notices.get((oid, mtype, start, "reminder")),
                            notices.get((oid, mtype, start, "miss")),
                        )
                    )
                else:
                    cells.append(Cell(label, start, end, required, n, status))
            rows.append(Obligation(oid, mtype, period, times, cells))
        result[oid] = rows
    return result


def calendar(actor: User, org_id: int, year: int) -> Calendar:
    """The compliance calendar of a branch (and its party groups) for one year: each month
    and quarter, what was required, what was held, what is missing, who was reminded when.
    A fixed number of queries whatever the number of meetings or groups."""
    index = actors.org_index()
    if org_id not in index or not actors.can_read_org(actor, org_id):
        raise NotFound(_("No such organization."))
    group_ids = [n.id for n in index.values() if n.parent_id == org_id and n.kind == "party_group"]
    ids = [org_id, *group_ids]
    orgs = {
        o.id: o
        for o in db.session.execute(select(Organization).where(Organization.id.in_(ids))).scalars()
    }
    owed = obligations(ids, date(year, 1, 1), date(year, 12, 31))

    def build(oid: int) -> Calendar:
        cal = Calendar(org=orgs[oid], year=year)
        cal.rows = [Row(o.key, o.period, o.times, o.cells) for o in owed.get(oid, [])]
        return cal

    result = build(org_id)
    result.groups = [build(g) for g in sorted(group_ids, key=lambda g: index[g].path)]
    result.secretary_lecture = secretary_lecture.of_year(org_id, year)
    result.training = training_figures.training_hours([org_id], year).get(org_id)
    return result


def calendar_grid(cal: Calendar) -> Grid:
    """The calendar as a grid: one screen for a year, months as columns, one row per
    meeting type, a quarterly meeting spanning its three months; one group for the branch
    and one per party group. A cell with meetings held links to them; a missed or due one
    to its line in the list of misses and reminders under the grid."""
    from pbflow.procedures.three_meetings.services import type_label
    from pbflow.services.grids import GridGroup, GridRow, obligation_cells
    from pbflow.services.periods import Period

    columns = Period(date(cal.year, 1, 1), date(cal.year, 12, 31), "year").columns("month")

    def linker(org_id: int, mtype: str):
        def link(cells: list[Cell]):
            first, last = cells[0].start, cells[-1].end
            if any(c.held for c in cells):
                args = {"org": org_id, "type": mtype, "from": first, "to": last}
                return ("meetings.index", {k: str(v) for k, v in args.items()})
            if any(c.status in ("missing", "open") for c in cells):
                anchor = miss_anchor(org_id, mtype, first)
                return (
                    "meetings.calendar",
                    {"org_id": org_id, "year": cal.year, "_anchor": anchor},
                )
            return None

        return link

    def group(c: Calendar) -> GridGroup:
        rows = [
            GridRow(
                r.meeting_type,
                type_label(r.meeting_type),
                obligation_cells(
                    Obligation(c.org.id, r.meeting_type, r.period, r.times, r.cells),
                    columns,
                    linker(c.org.id, r.meeting_type),
                ),
            )
            for r in c.rows
        ]
        return GridGroup(c.org.id, c.org.display_name(_locale()), rows)

    return Grid(columns, [group(cal), *(group(g) for g in cal.groups)])


def calendar_table(cal: Calendar):
    """The calendar as an export table: one line per organization, meeting type and period,
    with what was required and held and when the reminder and the miss were recorded."""
    from pbflow.procedures.three_meetings.services import type_label
    from pbflow.services.exports import Column, Table

    words = {
        "ok": _("held"),
        "missing": _("missed"),
        "open": _("due"),
        "future": _("not yet"),
        "not_required": _("not required"),
    }
    rows = (
        [
            c.org.display_name(_locale()),
            type_label(r.meeting_type),
            cell.label,
            cell.start,
            cell.end,
            cell.required,
            cell.held,
            words[cell.status],
            cell.reminded_at,
            cell.missed_at,
        ]
        for c in [cal, *cal.groups]
        for r in c.rows
        for cell in r.cells
    )
    return Table(
        f"compliance-{cal.org.code}-{cal.year}",
        [
            Column(_("Organization"), width=22),
            Column(_("Meeting"), width=20),
            Column(_("Period")),
            Column(_("From"), "date", 12),
            Column(_("To"), "date", 12),
            Column(_("Required"), "int", 10),
            Column(_("Held"), "int", 8),
            Column(_("Status"), width=12),
            Column(_("Reminded"), "datetime", 16),
            Column(_("Miss recorded"), "datetime", 16),
        ],
        rows,
        sheet=_("Compliance"),
    )


def miss_anchor(org_id: int, meeting_type: str, start: date) -> str:
    """The id of a period's line in the calendar's list of misses and reminders."""
    return f"miss-{org_id}-{meeting_type}-{start.isoformat()}"


def _locale() -> str:
    from flask_babel import get_locale

    return str(get_locale() or "zh")


# --- the timer ------------------------------------------------------------------------------


@dataclass
class ComplianceReport:
    reminded: list[tuple[int, str, date]] = field(default_factory=list)
    missed: list[tuple[int, str, date]] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"meetings: reminded {len(self.reminded)}, missed {len(self.missed)}, "
            f"failed {len(self.failed)}"
        )


def _remind_days(org_id: int, settings: dict[int, dict]) -> int:
    for aid in reversed(actors.org_index()[org_id].ancestor_ids()):
        value = ((settings.get(aid) or {}).get(SETTINGS_KEY) or {}).get("remind_days")
        if value is not None:
            return int(value)
    return REMIND_DAYS


def _recipients(org_id: int, superior: bool) -> list[int]:
    node = actors.org_index()[org_id]
    users: set[int] = set(actors.users_with_role("secretary", [org_id]))
    users.update(actors.users_with_role("deputy_secretary", [org_id]))
    if node.kind == "party_group":
        users.update(actors.users_with_role("group_leader", [org_id]))
        if node.parent_id:
            users.update(actors.users_with_role("secretary", [node.parent_id]))
    if superior and node.parent_id:
        for role in SUPERIOR_ROLES:
            users.update(actors.users_with_role(role, [node.parent_id]))
    return sorted(users)


def tick(now: datetime | None = None) -> ComplianceReport:
    """Remind before a period ends with meetings missing; record each miss once it ended.

    Safe to run twice or from two hosts: a notice is unique per organization, meeting type,
    period and kind, and each organization is handled in its own transaction.
    """
    now = now or clock.now()
    today = clock.to_local(now).date()
    report = ComplianceReport()
    index = actors.org_index()
    org_rows = db.session.execute(
        select(Organization.id, Organization.created_at, Organization.settings).where(
            Organization.active, Organization.kind.in_(tuple(DEFAULTS))
        )
    ).all()
    settings = dict(
        db.session.execute(
            select(Organization.id, Organization.settings).where(
                Organization.kind.in_(("committee", "general_branch"))
            )
        ).all()
    )
    settings.update({r.id: r.settings for r in org_rows})
    ids = [r.id for r in org_rows]
    reqs = requirements(ids)
    since = date(today.year - 1, 1, 1)  # covers every period the lookback reaches
    held = _held_counts(ids, since, today)
    notices = _notices(ids, since)
    lookback = date(today.year - 1, today.month, 1)
    db.session.rollback()  # end the read transaction; each organization gets its own
    for row in org_rows:
        created = _first_day(row.created_at)
        todo = []
        for mtype, (period, times) in reqs.get(row.id, {}).items():
            start, end = period_bounds(today, period)
            n = sum(1 for d in held[(row.id, mtype)] if start <= d <= end)
            remind_from = end - timedelta(days=_remind_days(row.id, settings) - 1)
            if (
                start >= created
                and n < times
                and today >= remind_from
                and (row.id, mtype, start, "reminder") not in notices
            ):
                todo.append(("reminder", mtype, period, start, end, times, n))
            prev_end = start - timedelta(days=1)
            while prev_end >= lookback:
                p_start, p_end = period_bounds(prev_end, period)
                if p_start < created:
                    break
                n = sum(1 for d in held[(row.id, mtype)] if p_start <= d <= p_end)
                if n < times and (row.id, mtype, p_start, "miss") not in notices:
                    todo.append(("miss", mtype, period, p_start, p_end, times, n))
                prev_end = p_start - timedelta(days=1)
        if not todo:
            continue
        try:
            _act(row.id, todo, now, index, report)
            db.session.commit()
        except IntegrityError:
            # Another tick recorded the same notice first: it has done the work.
            db.session.rollback()
        except Exception as exc:  # noqa: BLE001 - one organization must not stop the others
            db.session.rollback()
            report.failed.append((row.id, str(exc)))
    return report


def _act(org_id: int, todo: list, now: datetime, index: dict, report: ComplianceReport) -> None:
    for kind, mtype, period_kind, start, end, times, n in todo:
        users = _recipients(org_id, superior=kind == "miss")
        db.session.execute(
            insert(ComplianceNotice).values(
                org_id=org_id,
                meeting_type=mtype,
                period_start=start,
                period_end=end,
                kind=kind,
                required=times,
                held=n,
                notified=users,
                created_at=now,
            )
        )
        if users:
            notifications.notify(
                users,
                f"meeting_{kind}",
                {
                    "org_id": org_id,
                    "meeting_type": mtype,
                    "period_start": start,
                    "period_end": end,
                    "period_kind": period_kind,
                    "held": n,
                    "required": times,
                },
                at=now,
            )
        audit.record(
            "meeting_reminder" if kind == "reminder" else "meeting_missed",
            actor=audit.SYSTEM,
            org_id=org_id,
            payload={
                "meeting_type": mtype,
                "period_start": start,
                "period_end": end,
                "required": times,
                "held": n,
                "notified": users,
            },
        )
        (report.reminded if kind == "reminder" else report.missed).append((org_id, mtype, start))


# --- its notices, rendered in the reader's language ----------------------------------------


def render_reminder(p) -> str:
    from pbflow.procedures.three_meetings.services import type_label

    return _(
        "%(org)s: %(type)s held %(held)s of %(required)s times in %(period)s, which "
        "ends on %(end)s.",
        org=notifications.org_name(p.get("org_id")),
        type=type_label(p.get("meeting_type", "")),
        held=p.get("held"),
        required=p.get("required"),
        period=period_label(date.fromisoformat(p["period_start"]), p.get("period_kind", "")),
        end=p.get("period_end", ""),
    )


def render_miss(p) -> str:
    from pbflow.procedures.three_meetings.services import type_label

    return _(
        "%(org)s missed %(type)s in %(period)s: held %(held)s of %(required)s.",
        org=notifications.org_name(p.get("org_id")),
        type=type_label(p.get("meeting_type", "")),
        period=period_label(date.fromisoformat(p["period_start"]), p.get("period_kind", "")),
        held=p.get("held"),
        required=p.get("required"),
    )


NOTICES = {"meeting_reminder": render_reminder, "meeting_miss": render_miss}
