"""The rectification list of a life meeting (DOMAIN.md section 2): its items are child cases of
``workflows/rectification.yaml``, each closed on its own; the case page shows how far they are."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select, tuple_

from pbflow import clock
from pbflow.engine import actors, fastsql, tally
from pbflow.engine.registry import registry
from pbflow.extensions import db
from pbflow.models import ProcessInstance, User
from pbflow.models.process import RECTIFICATION_DEADLINE
from pbflow.procedures.life_meeting import tallies
from pbflow.services.periods import Obligation, ObligationCell, obligation_status


@dataclass
class RectificationItem:
    id: int
    title: str
    state: str
    state_label: Any
    owner: str | None
    deadline: str | None
    overdue: bool
    closed: bool
    notes: int


@dataclass
class RectificationPanel:
    items: list[RectificationItem]
    closed: int
    total: int

    @property
    def percent(self) -> int:
        return round(100 * self.closed / self.total) if self.total else 0


def rectification_panel(case_id: int) -> RectificationPanel:
    """All rectification items of a case and how far they are (two queries), for the panel
    the case page includes; the case page has already checked the reader's rights."""
    rows = db.session.execute(
        select(
            ProcessInstance.id,
            ProcessInstance.title,
            ProcessInstance.state,
            ProcessInstance.definition_id,
            ProcessInstance.data,
            ProcessInstance.closed_at,
            ProcessInstance.overdue_at,
            User.display_name,
        )
        .outerjoin(User, User.id == ProcessInstance.assignee_user_id)
        .where(ProcessInstance.parent_id == case_id, ProcessInstance.workflow_id == "rectification")
        .order_by(ProcessInstance.id)
    ).all()
    reg = registry()
    items = []
    for r in rows:
        definition = reg.stored(r.definition_id)
        spec = definition.states.get(r.state)
        data = r.data or {}
        items.append(
            RectificationItem(
                id=r.id,
                title=r.title,
                state=r.state,
                state_label=spec.label if spec else r.state,
                owner=r.display_name,
                deadline=data.get("deadline"),
                overdue=r.overdue_at is not None and r.closed_at is None,
                closed=r.closed_at is not None,
                notes=len(data.get("progress") or []),
            )
        )
    return RectificationPanel(
        items=items, closed=sum(1 for i in items if i.closed), total=len(items)
    )


# --- figures for supervision and assessment ---------------------------------------------------
# No rights are checked here: the caller (the supervision dashboard, the assessment, the API)
# has decided which organizations its reader may see.

LIFE_MEETING = "life_meeting"
RECTIFICATION = "rectification"


_ONCE_HELD: dict[str, list[str]] = {}  # per definition (its content hash): never changes


def _states_once_held() -> list[str]:
    """The states a life meeting can be in once it is held (its date recorded): those the
    step recording ``held_on`` leads to, and every state after them."""
    d = registry().current.get(LIFE_MEETING)
    if d is None:
        return []
    known = _ONCE_HELD.get(d.content_hash)
    if known is None:
        known = _ONCE_HELD[d.content_hash] = _once_held(d)
    return known


def _once_held(d: Any) -> list[str]:
    found: set[str] = set()
    todo = [t.dest for t in d.transitions if any(f.name == "held_on" for f in t.fields)]
    while todo:
        state = todo.pop()
        if state not in found:
            found.add(state)
            todo.extend(t.dest for t in d.transitions_from(state))
    return sorted(found)


def organizational_life_meetings(
    org_ids: list[int], first: date, last: date, today: date | None = None
) -> dict[int, list[Obligation]]:
    """The organizational life meeting each branch holds at least once a year (DOMAIN 2):
    for every year overlapping ``first``..``last``, held (the meeting's date recorded in that
    year) or not. One statement whatever the number of branches or cases (when each was set
    up is in the organization index)."""
    index = actors.org_index()
    ids = sorted({o for o in org_ids if o in index and index[o].kind == "branch"})
    if not ids:
        return {}
    # The meetings held in the years asked for, per branch and year: counted from the
    # figures kept as data (pbflow.engine.tally: a row per branch, state and year, each
    # meeting at its day), those in a state the meeting is held in.
    once_held = set(_states_once_held())
    held: dict[tuple[int, int], int] = {}
    for _m, state, org_id, year, n in tally.year_sums(
        [tallies.HELD], LIFE_MEETING, ids, first.year, last.year
    ):
        if n and state in once_held:
            held[(org_id, year)] = held.get((org_id, year), 0) + n
    today = today or clock.today()
    result = {}
    for oid in ids:
        born = clock.to_local(index[oid].created_at).date()
        cells = []
        for year in range(first.year, last.year + 1):
            start, end = date(year, 1, 1), date(year, 12, 31)
            n = held.get((oid, year), 0)
            cells.append(
                ObligationCell(
                    label=str(year),
                    start=start,
                    end=end,
                    required=0 if start < born else 1,
                    held=n,
                    status=obligation_status(start, end, born, today, 1, n),
                )
            )
        result[oid] = [Obligation(oid, "organizational_life_meeting", "year", 1, cells)]
    return result


@dataclass
class RectificationCounts:
    open: int = 0  # not ticked off or cancelled at the end of the period (or now)
    overdue: int = 0  # of those, past their deadline then
    closed: int = 0  # ticked off during the period
    cancelled: int = 0  # cancelled during the period


def _states_due_from_deadline() -> list[str]:
    d = registry().current.get(RECTIFICATION)
    if d is None:
        return []
    return sorted(
        n for n, spec in d.states.items() if spec.due and spec.due.from_field == "deadline"
    )


def rectification_figures(
    org_ids: list[int], first: date, last: date, *, by_org: bool = True
) -> dict[int | None, RectificationCounts]:
    """Rectification items per organization: open and overdue as of the end of the period (or
    now, while it runs), ticked off and cancelled during it. While the period runs they are
    counted from the figures kept as data (pbflow.engine.tally): a fixed number of small
    statements whatever the number of items; a period over (or to come) is counted from the
    items by one statement that reads only those open then (for their deadline). Without
    ``by_org`` the organizations' figures summed, under the key None (while the period runs
    the database sums them: a row per figure rather than one per organization)."""
    ids = sorted(set(org_ids))
    result: dict[int | None, RectificationCounts] = {oid: RectificationCounts() for oid in ids}
    if not ids:
        return result if by_org else {None: RectificationCounts()}
    start = clock.local_midnight_utc(first)
    end = clock.local_midnight_utc(last + timedelta(days=1))
    now = clock.now()
    if start <= now < end:
        if not by_org:
            return _rectification_now(ids, start, now, {None: RectificationCounts()}, False)
        return _rectification_now(ids, start, now, result)
    found = _rectification_as_of(ids, start, min(now, end), result)
    if by_org:
        return found
    total = RectificationCounts()
    for counts in found.values():
        total.open += counts.open
        total.overdue += counts.overdue
        total.closed += counts.closed
        total.cancelled += counts.cancelled
    return {None: total}


def _rectification_now(
    ids: list[int],
    start: datetime,
    now: datetime,
    result: dict[int | None, RectificationCounts],
    by_org: bool = True,
) -> dict[int | None, RectificationCounts]:
    """The figures of a period that runs, as of now: there now are the items started before
    now and not ended before now; overdue those of them whose deadline is before today.
    Without ``by_org`` summed, under the key None."""
    today = clock.to_local(now).date()
    at_start, at_now, on_today = tally.Cut.of(start), tally.Cut.of(now), tally.Cut.of(today)
    sums = tally.sums_before(
        {
            tally.CREATED: (at_now,),
            tally.CLOSED: (at_start, at_now),
            tallies.DEADLINE: (on_today,),
        },
        ids,
        [RECTIFICATION],
        by_state=True,
        by_org=by_org,
    )
    # (measure, state, org) -> counts before each cut, the windows at the cuts added
    found = {(m, state, org): values for (m, _wf, state, org), values in sums.items()}
    windows = [
        ("created_at", tally.CREATED, at_now, 0, 1),
        ("closed_at", tally.CLOSED, at_start, 0, 2),
        ("closed_at", tally.CLOSED, at_now, 1, 2),
    ]
    windows = [w for w in windows if w[2].sign]
    counted = tally.windows(
        [("case", column, cut, RECTIFICATION, True) for column, _m, cut, _i, _w in windows],
        ids,
        by_org=by_org,
    )
    for (_column, measure, cut, i, width), window in zip(windows, counted, strict=True):
        for (state, org), n in window.items():
            found.setdefault((measure, state, org), [0] * width)[i] += cut.sign * n
    between, not_counted = _deadline_reads(ids, on_today if on_today.sign else None, now, today)
    for org, n in between.items():
        key = (tallies.DEADLINE, "", org if by_org else None)
        found.setdefault(key, [0])[0] += on_today.sign * n
    for org, n in not_counted.items():
        found.setdefault((tallies.DEADLINE, "", org if by_org else None), [0])[0] += n
    for (measure, state, org), values in found.items():
        counts = result[org]
        if measure == tally.CREATED:
            counts.open += values[0]
        elif measure == tally.CLOSED:
            counts.open -= values[1]
            ended = values[1] - values[0]
            if state == "closed":
                counts.closed += ended
            else:
                counts.cancelled += ended
        else:
            counts.overdue += values[0]
    return result


def _deadline_reads(
    ids: list[int], window: tally.Cut | None, now: datetime, today: date
) -> tuple[dict[int, int], dict[int, int]]:
    """In one statement, per organization: the open items with a deadline in the cut's
    ``window`` (from its first day to the day before its last; none without a window), and
    what the deadlines kept as data get wrong about the items there now (below)."""
    f = fastsql.flavour()
    p = f.placeholder
    column = RECTIFICATION_DEADLINE
    columns = f"id, org_id, created_at, closed_at, {column}"
    parts, params = [], []
    if window is not None:
        # From the index of the open items' deadlines alone (``ix_case_open_deadline``; the
        # organizations picked after). SQLite takes "closed_at IS NULL" for one case in
        # thousands and would walk the index of closing times instead: it is told which
        # index to read.
        hint = " INDEXED BY ix_case_open_deadline" if p == "?" else ""
        parts.append(
            f"SELECT 0, NULL, org_id, NULL, NULL, {column} FROM process_instance{hint}"
            f" WHERE closed_at IS NULL AND {column} >= {p} AND {column} < {p}"
        )
        params += [window.low.isoformat(), window.high.isoformat()]
    # What the open items' deadlines kept as data get wrong about the items there now, where
    # the clock was set back before changes already made (tests; a machine's clock
    # corrected): items started after now (kept as open, not there yet) are taken off, items
    # ended after now (no longer kept as open, still there now) are added. None in the
    # normal course: each part an index range (started after now; ended after now) that is
    # empty.
    parts.append(
        f"SELECT 1, {columns} FROM process_instance WHERE workflow_id = {p} AND created_at >= {p}"
    )
    parts.append(
        f"SELECT 1, {columns} FROM process_instance WHERE workflow_id = {p} AND closed_at >= {p}"
    )
    params += [RECTIFICATION, f.dt(now), RECTIFICATION, f.dt(now)]
    scope = set(ids)
    between: dict[int, int] = {}
    after: dict[int, tuple] = {}
    for part, case_id, org_id, *rest in fastsql.read(" UNION ALL ".join(parts), params):
        if part == 0:
            if org_id in scope and tallies.day(rest[2]) is not None:
                between[org_id] = between.get(org_id, 0) + 1
        else:
            after[case_id] = (org_id, *rest)
    found: dict[int, int] = {}
    for org_id, created, closed, deadline in after.values():
        day = tallies.day(deadline)
        if org_id not in scope or day is None or day >= today:
            continue
        created, closed = f.read_dt(created), f.read_dt(closed)
        there = created < now and (closed is None or closed >= now)
        kept = closed is None
        found[org_id] = found.get(org_id, 0) + int(there) - int(kept)
    return between, found


def _rectification_as_of(
    ids: list[int], start: datetime, as_of: datetime, result: dict[int, RectificationCounts]
) -> dict[int, RectificationCounts]:
    """The figures as of ``as_of`` (the end of a period that is over, or now before a period
    to come), counted from the items: one statement, reading only the items open then beyond
    the index (for their deadline)."""
    P = ProcessInstance
    as_of_day = clock.to_local(as_of).date().isoformat()
    deadline = P.data["deadline"].as_string()
    # Items there at ``as_of``: open then, or ended since ``start`` (the rows read). Counted
    # rather than filtered, so that the index of a workflow's cases per organization (with
    # their state, closing and due time) is the one read.
    existed = P.created_at < as_of
    still_open = and_(existed, or_(P.closed_at.is_(None), P.closed_at >= as_of))
    ended = and_(existed, P.closed_at < as_of)
    late = and_(deadline != "", deadline < as_of_day)
    # The deadline never changes, and a state whose time limit runs from it is due at the end
    # of the deadline's day at the earliest (plus days of grace): an item in such a state due
    # before ``as_of_day`` is past its deadline without reading it from the case's data.
    from_deadline = _states_due_from_deadline()
    if from_deadline:
        day_start = clock.local_midnight_utc(date.fromisoformat(as_of_day))
        late = or_(and_(P.state.in_(from_deadline), P.due_at < day_start), late)

    def count(condition) -> Any:
        return func.sum(case((condition, 1), else_=0))

    rows = db.session.execute(
        select(
            P.org_id,
            count(still_open),
            count(and_(still_open, late)),
            count(and_(ended, P.state == "closed")),
            count(and_(ended, P.state != "closed")),
        )
        .where(
            P.workflow_id == RECTIFICATION,
            P.org_id.in_(ids),
            or_(P.closed_at.is_(None), P.closed_at >= start),
        )
        .group_by(P.org_id)
    )
    for org_id, open_, overdue, closed, cancelled in rows:
        result[org_id] = RectificationCounts(
            int(open_ or 0), int(overdue or 0), int(closed or 0), int(cancelled or 0)
        )
    return result


@dataclass
class RectificationRow:
    id: int
    org_id: int
    org_name: str
    problem: str
    state: str
    state_label: Any
    owner: str | None
    deadline: date | None
    overdue: bool
    parent_id: int | None
    created_at: datetime
    closed_at: datetime | None
    position: str = ""  # the list's sort key of this item: the next page starts after it


# <closed 0|1>.<id>.<deadline as stored, possibly empty>
_POSITION = re.compile(r"([01])\.([0-9]{1,12})\.([^\x00-\x1f]{0,40})")


def parse_position(raw: Any) -> tuple[int, str, int] | None:
    """A rectification list position from its text (``RectificationRow.position``); None
    when missing or not one (the first page)."""
    found = _POSITION.fullmatch(str(raw or ""))
    if found is None:
        return None
    return int(found.group(1)), found.group(3), int(found.group(2))


def rectification_items(
    org_ids: list[int],
    status: str = "open",
    limit: int | None = None,
    after: str | None = None,
) -> Iterator[RectificationRow]:
    """Rectification items of the organizations, open before closed, deadline first (none
    first), then by number: ``open`` (not ticked off or cancelled), ``overdue`` (open and
    past the deadline), ``closed`` or ``all``; with ``after`` (an item's ``position``; one
    that is not, the start) those after it, so that a page costs the same however far it
    is. Read in batches, so an export of any size runs in flat memory."""
    ids = sorted(set(org_ids))
    if not ids:
        return
    P = ProcessInstance
    today = clock.today()
    closed = case((P.closed_at.is_(None), 0), else_=1)
    deadline_text = func.coalesce(P.data["deadline"].as_string(), "")
    stmt = (
        select(
            P.id,
            P.org_id,
            P.title,
            P.state,
            P.definition_id,
            deadline_text.label("deadline"),
            closed.label("closed"),
            P.parent_id,
            P.created_at,
            P.closed_at,
            User.display_name,
        )
        .outerjoin(User, User.id == P.assignee_user_id)
        .where(P.workflow_id == RECTIFICATION, P.org_id.in_(ids))
        .order_by(closed, deadline_text, P.id)
    )
    start = parse_position(after)
    if start is not None:
        stmt = stmt.where(tuple_(closed, deadline_text, P.id) > tuple_(*start))
    if status in ("open", "overdue"):
        stmt = stmt.where(P.closed_at.is_(None))
    if status == "overdue":
        stmt = stmt.where(P.data["deadline"].as_string() < today.isoformat())
    elif status == "closed":
        stmt = stmt.where(P.closed_at.is_not(None))
    if limit is not None:
        stmt = stmt.limit(limit)
    index, reg = actors.org_index(), registry()
    for r in db.session.execute(stmt.execution_options(yield_per=1000)):
        deadline = date.fromisoformat(r.deadline) if r.deadline else None
        spec = reg.stored(r.definition_id).states.get(r.state)
        yield RectificationRow(
            id=r.id,
            org_id=r.org_id,
            org_name=index[r.org_id].display_name(),
            problem=r.title,
            state=r.state,
            state_label=spec.label if spec else r.state,
            owner=r.display_name,
            deadline=deadline,
            overdue=r.closed_at is None and deadline is not None and deadline < today,
            parent_id=r.parent_id,
            created_at=r.created_at,
            closed_at=r.closed_at,
            position=f"{r.closed}.{r.id}.{r.deadline}",  # the order's key, as sorted
        )
