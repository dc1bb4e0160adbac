"""Figures kept as data: what the dashboards count of cases, per organization and month
(``case_tally``, pbflow.models.tally), kept by the engine in the same transaction as every
change of a case, so that a count over a committee's 100,000 cases reads a few rows per
organization and year instead of every case.

A case *contributes* to measures: while open, one to ``open`` (per state, timeless), one to
``due`` at its time limit and one to ``entered`` at the time it entered its state; always one
to ``created`` at its start; once closed, one to ``closed`` (per final state) at its end.
An installed procedure adds measures of its own workflows (``Procedure.tallies``: a
function of the case alone, its row and its ``data``, never of anything else that could
change without the case changing). What a case contributes is a function of the case, so a
change is the difference between what it contributed before and what it contributes after:
``record`` queues it, and the queue is written at commit (rows in key order, before the audit
chain's head is locked: two transactions never wait on each other's rows in opposite orders),
or before a figure is read in the same transaction. A rollback drops it with the changes.

Who writes: ``runtime.start`` and ``runtime.fire_in_transaction`` (every step, vote decision,
timer, reassignment and transfer), a case added, changed or deleted through the ORM (the
session's flush), and ``pbflow seed`` (``fill``). ``check`` recomputes every case and compares
(``pbflow figures check``); ``--fix`` rewrites the rows that differ.

Times are counted in UTC months. A count up to any instant is the months before the nearest
month boundary and, between that boundary and the instant, a *window* counted from the cases
themselves (``Cut``): a few hours' worth at a local month's start, at most half a month's for
an arbitrary day. Local months, quarters and years are counted exactly, whatever the zone.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import accumulate
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from pbflow import audit
from pbflow.engine import actors, fastsql
from pbflow.extensions import db
from pbflow.models import Person, ProcessInstance
from pbflow.models.tally import MONTHS, CaseTally

OPEN, DUE, ENTERED, CREATED, CLOSED = "open", "due", "entered", "created", "closed"
ENGINE_MEASURES = (OPEN, DUE, ENTERED, CREATED, CLOSED)

# A contribution: (measure, state, when, weight); ``when`` a naive UTC datetime, a date, or
# None for a timeless measure (counted in year 0, month 1).
Contribution = tuple[str, str, "datetime | date | None", int]
# A row of the table and a month of it: (measure, workflow, state, organization, year).
RowKey = tuple[str, str, str, int, int]
Measures = Callable[[Any], Iterable[Contribution]]

_PENDING = "pbflow_tally_pending"
_BEFORE = "pbflow_tally_orm_before"


def _procedure_measures() -> dict[str, tuple[Measures, ...]]:
    from pbflow.engine.registry import registry

    return registry().tallies


def _person_measures() -> tuple[Callable[[Any, Any], Iterable[tuple]], ...]:
    from pbflow.engine.registry import registry

    return registry().person_tallies


def _add(found: dict[tuple, int], key: tuple, when: Any, weight: int) -> None:
    key = (*key, 0, 1) if when is None else (*key, when.year, when.month)
    found[key] = found.get(key, 0) + weight


def contributions(case: Any, measures: dict[str, tuple[Measures, ...]] | None = None) -> dict:
    """What a case counts for: {(measure, workflow, state, org, year, month): weight}. The
    engine's own measures, for any workflow: while open, ``open`` (per state, timeless),
    ``due`` at its time limit and ``entered`` at the time it entered its state; once
    closed, ``closed`` (per final state) at its end; always ``created`` at its start. Then
    the installed procedures' measures of its workflow. Runs twice a step: written out."""
    wf, org = case.workflow_id, case.org_id
    found: dict[tuple, int] = {}
    if case.closed_at is None:
        found[(OPEN, wf, case.state, org, 0, 1)] = 1
        due = case.due_at
        if due is not None:
            found[(DUE, wf, "", org, due.year, due.month)] = 1
        entered = case.state_entered_at
        found[(ENTERED, wf, "", org, entered.year, entered.month)] = 1
    else:
        closed = case.closed_at
        found[(CLOSED, wf, case.state, org, closed.year, closed.month)] = 1
    created = case.created_at
    found[(CREATED, wf, "", org, created.year, created.month)] = 1
    own = (measures if measures is not None else _procedure_measures()).get(wf)
    if own:
        for fn in own:
            for measure, state, when, weight in fn(case):
                if weight:
                    _add(found, (measure, wf, state, org), when, weight)
    return found


PERSON = ""  # the workflow column of what is counted of people (no workflow's)


def person_contributions(person: Any, measures: tuple | None = None, index: Any = None) -> dict:
    """What a person counts for (the installed procedures' ``person_tallies``: functions of
    the person and the organization index giving (measure, state, org, when, weight)):
    {(measure, "", state, org, year, month): weight}."""
    found: dict[tuple, int] = {}
    if index is None:
        from pbflow.engine import actors

        index = actors.org_index()
    for fn in measures if measures is not None else _person_measures():
        for measure, state, org, when, weight in fn(person, index):
            if weight:
                _add(found, (measure, PERSON, state, org), when, weight)
    return found


# --- writing ---------------------------------------------------------------------------------


def record(before: dict | None, after: Any | None) -> None:
    """Queue the change of a case from what it contributed (``before``, from
    ``contributions``; None for a new case) to what ``after`` contributes (None: deleted)."""
    _queue_change(before, contributions(after) if after is not None else {})


def _queue_change(before: dict | None, after: dict) -> None:
    delta = dict(after)
    for key, weight in (before or {}).items():
        delta[key] = delta.get(key, 0) - weight
    _queue(delta)


def _queue(delta: dict[tuple, int]) -> None:
    pending: dict[RowKey, list[int]] | None = None
    for (measure, wf, state, org, year, month), weight in delta.items():
        if not weight:
            continue
        if pending is None:
            pending = db.session.info.setdefault(_PENDING, {})
        row = pending.get((measure, wf, state, org, year))
        if row is None:
            row = pending[(measure, wf, state, org, year)] = [0] * 12
        row[month - 1] += weight


def _running(months: list[int]) -> list[int]:
    """Counts per month as the table keeps them: running totals (months 1 to k)."""
    return list(accumulate(months))


def _write(rows: dict[RowKey, list[int]]) -> None:
    """Add counts per month (a row's change, or what a bulk load contributes) to the rows."""
    params = [(*key, *_running(months)) for key, months in sorted(rows.items()) if any(months)]
    if params:
        cur, f = fastsql._cursor()
        cur.executemany(f.sql["tally_add"], params)


def flush_pending(session: Session | None = None) -> None:
    """Write the queued changes now (at commit, and before a figure is read)."""
    session = session or db.session()
    if session.new or session.dirty or session.deleted:
        session.flush()  # cases and people changed through the ORM queue theirs when flushed
    rows = session.info.pop(_PENDING, None)
    if rows:
        _write(rows)


def _before_commit(session: Session) -> None:
    flush_pending(session)


def _discard(session: Session, *_args: Any) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_BEFORE, None)


def _transaction_end(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        _discard(session)


# Cases and people written through the ORM (a case outside the engine's path; every change
# of a person): their contributions before the flush are read from the database, after it
# from the objects.
_CASE_COLUMNS = (
    "id",
    "workflow_id",
    "org_id",
    "state",
    "data",
    "created_at",
    "state_entered_at",
    "closed_at",
    "due_at",
)
PERSON_COLUMNS = (
    "id",
    "org_id",
    "party_status",
    "active",
    "gender",
    "education",
    "birth_date",
    "admitted_on",
    "full_member_on",
)


def _stored(session: Session, model: Any, ids: list[int]) -> dict[tuple, dict]:
    t = model.__table__
    cases = model is ProcessInstance
    columns = _CASE_COLUMNS if cases else PERSON_COLUMNS
    rows = session.connection().execute(select(*(t.c[c] for c in columns)).where(t.c.id.in_(ids)))
    if cases:
        return {(model, r.id): contributions(r) for r in rows}
    with session.no_autoflush:
        return {(model, r.id): person_contributions(r) for r in rows}


def _counted(session: Session, obj: Any) -> dict | None:
    if isinstance(obj, ProcessInstance):
        return contributions(obj)
    if isinstance(obj, Person):
        with session.no_autoflush:
            return person_contributions(obj)
    return None


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    known = session.info.get(_BEFORE, {})
    changed: dict[Any, list[int]] = {}
    for o in (*session.dirty, *session.deleted):
        counted = isinstance(o, (ProcessInstance, Person)) and o.id is not None
        if counted and (type(o), o.id) not in known:
            changed.setdefault(type(o), []).append(o.id)
    for model, ids in changed.items():
        session.info.setdefault(_BEFORE, {}).update(_stored(session, model, ids))


def _after_flush(session: Session, _context: Any) -> None:
    before = session.info.pop(_BEFORE, {})
    for o in session.new:
        counted = _counted(session, o)
        if counted is not None:
            _queue_change(None, counted)
    for o in session.dirty:
        if isinstance(o, (ProcessInstance, Person)) and (type(o), o.id) in before:
            _queue_change(before.pop((type(o), o.id)), _counted(session, o) or {})
    for o in session.deleted:
        if isinstance(o, (ProcessInstance, Person)) and (type(o), o.id) in before:
            _queue_change(before.pop((type(o), o.id)), {})


def install_session_hooks(session_class: type[Session]) -> None:
    """Write the queue at commit, before any other hook (the audit head is locked last)."""
    if not event.contains(session_class, "before_commit", _before_commit):
        event.listen(session_class, "before_commit", _before_commit, insert=True)
        event.listen(session_class, "after_rollback", _discard)
        event.listen(session_class, "after_soft_rollback", _discard)
        event.listen(session_class, "after_transaction_end", _transaction_end)
        event.listen(session_class, "before_flush", _before_flush)
        event.listen(session_class, "after_flush", _after_flush)


# --- reading ---------------------------------------------------------------------------------


def _first_of(year: int, month: int, like: datetime | date) -> datetime | date:
    """The first of the month ``month`` of ``year`` (months past 12 roll over), as a
    datetime at midnight or a date, like ``like``."""
    y, m = year + (month - 1) // 12, (month - 1) % 12 + 1
    return datetime(y, m, 1) if isinstance(like, datetime) else date(y, m, 1)


@dataclass(frozen=True)
class Cut:
    """An instant (or a day) counts are taken up to: the nearest month boundary (``year``,
    ``month``: the first month not counted) and the window between it and the instant, to be
    counted from the cases themselves (``sign`` +1: [boundary, instant) is added; -1:
    [instant, boundary) is taken off; 0: none)."""

    at: datetime | date
    year: int
    month: int
    low: datetime | date
    high: datetime | date
    sign: int

    @classmethod
    def of(cls, at: datetime | date) -> Cut:
        first = _first_of(at.year, at.month, at)
        after = _first_of(at.year, at.month + 1, at)
        boundary = first if at - first <= after - at else after
        if boundary == at:
            return cls(at, boundary.year, boundary.month, at, at, 0)
        if boundary < at:
            return cls(at, boundary.year, boundary.month, boundary, at, 1)
        return cls(at, boundary.year, boundary.month, at, boundary, -1)

    @property
    def index(self) -> int:
        """The boundary as a month number (year * 12 + month - 1)."""
        return self.year * 12 + self.month - 1


def _upto(month: int) -> str:
    """A row's running count of its months 1 to ``month`` (0 for none)."""
    return MONTHS[month - 1] if month > 0 else "0"


def _before_sql(cut: Cut | None) -> str:
    """SQL of a row's count in the months before the cut's boundary (all of them for None)."""
    whole = MONTHS[-1]
    if cut is None:
        return whole
    y = int(cut.year)
    return (
        f"CASE WHEN year < {y} THEN {whole} WHEN year = {y} THEN {_upto(cut.month - 1)} ELSE 0 END"
    )


_flavour = fastsql.flavour
_read = fastsql.read


def _in(values: Iterable[Any], f: Any) -> tuple[str, list[Any]]:
    values = list(values)
    return ", ".join([f.placeholder] * len(values)), values


def _matching(column: str, values: list[Any], f: Any) -> tuple[str, list[Any]]:
    """``column = ?`` for one value, ``column IN (...)`` for several."""
    if len(values) == 1:
        return f"{column} = {f.placeholder}", values
    marks, values = _in(values, f)
    return f"{column} IN ({marks})", values


def _org_condition(org_ids: list[int], f: Any) -> tuple[str, list[Any], bool]:
    """The condition on ``org_id`` for the (sorted, distinct) ``org_ids``, its parameters, and
    whether it is exact. Many organizations whose ids lie close together (a committee's tree,
    a branch and its groups) are read as one range of the key per measure and workflow, which
    costs both databases less than a look-up per organization (a committee's figures: 1.0 ->
    0.6 ms a statement); then rows of organizations inside the range but not asked for may
    come back (not exact), and the caller leaves them out."""
    if len(org_ids) == 1:
        return f"org_id = {f.placeholder}", org_ids, True
    low, high = org_ids[0], org_ids[-1]
    if high - low + 1 <= 2 * len(org_ids):
        p = f.placeholder
        return f"org_id >= {p} AND org_id <= {p}", [low, high], high - low + 1 == len(org_ids)
    marks, values = _in(org_ids, f)
    return f"org_id IN ({marks})", values, True


def sums_before(
    cuts: dict[str, tuple[Cut | None, ...]],
    org_ids: Iterable[int],
    workflows: Iterable[str] | None = None,
    by_state: bool | Collection[str] = False,
    *,
    by_org: bool = True,
) -> dict[tuple, list[int]]:
    """For each measure, its count in the months before each of its cuts' boundaries (every
    month for a cut None), per (measure, workflow, organization), or with ``by_state`` per
    (measure, workflow, state, organization): a list, one count per cut (as many as the
    measure with most cuts has: 0 past its own). ``by_state`` may name the measures counted
    per state, the others then keyed with the state "". One statement, grouped in the order
    of the table's key (no sorting); the windows are the caller's. Name the workflows where
    they are known: the organizations are then looked up in the key rather than every row
    of the measure read. Without ``by_org`` the organizations' counts are summed (the key's
    organization is None): a few rows instead of one per organization, for a page that shows
    only the sums."""
    org_ids = sorted(set(org_ids))
    if workflows is not None:
        workflows = sorted(set(workflows))
    if not org_ids or not cuts or workflows == []:
        return {}
    flush_pending()
    f = _flavour()
    width = max(len(c) for c in cuts.values())
    stated = set(cuts) if by_state is True else set(by_state or ())
    org_where, org_params, exact = _org_condition(org_ids, f)
    if not exact and not by_org:  # summed in the statement: only those asked for
        org_where, org_params = fastsql.any_of("org_id", org_ids, f)
        exact = True
    org_key = "org_id" if by_org else "NULL"
    # One part per measure, its sums of its own cuts (padded to the widest measure's count),
    # joined by UNION ALL: one statement, each row read once and summed without asking which
    # measure it is of (a CASE per row and sum costs SQLite more than the rows themselves).
    parts, params = [], []
    for measure, found in cuts.items():
        state = ", state" if measure in stated else ""
        keys = f"measure, workflow_id{', org_id' if by_org else ''}{state}"
        shown = f"measure, workflow_id, {org_key}{state}"
        shown = shown if measure in stated or not by_state else f"{shown}, ''"
        sums = [f"SUM({_before_sql(cut)})" for cut in found] + ["0"] * (width - len(found))
        conditions = [_matching("measure", [measure], f)]
        if workflows is not None:
            conditions.append(_matching("workflow_id", workflows, f))
        conditions.append((org_where, org_params))
        where = " AND ".join(c for c, _v in conditions)
        for _c, values in conditions:
            params.extend(values)
        parts.append(
            f"SELECT {shown}, {', '.join(sums)} FROM case_tally WHERE {where} GROUP BY {keys}"
        )
    # The sums as the drivers give them: whole numbers (SUMs of integer columns, never NULL
    # for a group, which has rows), not converted one by one.
    rows = _read(" UNION ALL ".join(parts), params)
    if not exact:
        asked = set(org_ids)
        rows = [r for r in rows if r[2] in asked]
    if by_state:
        return {(r[0], r[1], r[3], r[2]): list(r[4:]) for r in rows}
    return {r[:3]: list(r[3:]) for r in rows}


def year_sums(
    measures: Iterable[str],
    workflow: str,
    org_ids: Iterable[int],
    first_year: int,
    last_year: int,
) -> list[tuple]:
    """Per row (measure, state, org, year) of one workflow's measures in the years
    ``first_year``..``last_year``, its whole year's count."""
    org_ids = sorted(set(org_ids))
    if not org_ids:
        return []
    flush_pending()
    f = _flavour()
    names, name_params = _in(measures, f)
    orgs, org_params, exact = _org_condition(org_ids, f)
    p = f.placeholder
    rows = _read(
        f"SELECT measure, state, org_id, year, {MONTHS[-1]} FROM case_tally"
        f" WHERE measure IN ({names}) AND workflow_id = {p} AND {orgs}"
        f" AND year >= {p} AND year <= {p}",
        [*name_params, workflow, *org_params, first_year, last_year],
    )
    if not exact:
        asked = set(org_ids)
        rows = [r for r in rows if r[2] in asked]
    return rows


def _range_sql(low: int, high: int) -> str:
    """SQL of a row's count in the months numbered ``low`` <= year * 12 + month - 1 <
    ``high`` (a running count less another)."""
    terms = []
    for year in range(low // 12, (high - 1) // 12 + 1 if high > low else low // 12):
        first, last = max(low - year * 12, 0), min(high - year * 12, 12)
        if first < last:
            amount = _upto(last) if first == 0 else f"{_upto(last)} - {_upto(first)}"
            terms.append(f"WHEN year = {int(year)} THEN {amount}")
    return f"CASE {' '.join(terms)} ELSE 0 END" if terms else "0"


def column_sums(
    measures: Iterable[str],
    workflow: str,
    org_ids: Iterable[int],
    ranges: list[tuple[int, int]],
    *,
    by_org: bool = True,
) -> list[tuple]:
    """Per (measure, state, organization) of one workflow, the sum of the months in each of
    ``ranges`` (month numbers, ``low`` included, ``high`` not): rows (measure, state, org,
    one sum per range); without ``by_org``, summed over the organizations (org None). One
    statement."""
    org_ids = sorted(set(org_ids))
    if not org_ids or not ranges:
        return []
    flush_pending()
    f = _flavour()
    names, name_params = _in(measures, f)
    orgs, org_params, exact = _org_condition(org_ids, f)
    if not exact and not by_org:  # summed over the organizations: only those asked for
        marks, org_params = _in(org_ids, f)
        orgs, exact = f"org_id IN ({marks})", True
    p = f.placeholder
    low, high = min(a for a, _b in ranges), max(b for _a, b in ranges)
    sums = ", ".join(f"SUM({_range_sql(a, b)})" for a, b in ranges)
    keys = "measure, state, org_id" if by_org else "measure, state, NULL"
    groups = "measure, state, org_id" if by_org else "measure, state"
    cur = _read(
        f"SELECT {keys}, {sums} FROM case_tally"
        f" WHERE measure IN ({names}) AND workflow_id = {p} AND {orgs}"
        f" AND year >= {p} AND year <= {p} GROUP BY {groups}",
        [*name_params, workflow, *org_params, low // 12, max(low, high - 1) // 12],
    )
    if not exact:
        asked = set(org_ids)
        return [tuple(r) for r in cur if r[2] in asked]
    return [tuple(r) for r in cur]


# A window of cases to count: ("open", column, cut) the open cases with ``due_at`` or
# ``state_entered_at`` in it, per (workflow, organization); ("case", column, cut, workflow,
# by_state) a workflow's cases with ``created_at`` or ``closed_at`` in it, per (organization,)
# or (state, organization).
Window = tuple


# Up to this many organizations a window is read for them alone: their condition filters
# the index entries (each index below holds the organization), so a branch's dashboard
# reads and groups its own few cases of the window, not the whole committee's.
NARROW = 24


def _window_sql(
    i: int, window: Window, f: Any, orgs: list[int] | None = None, by_org: bool = True
) -> tuple[str, list[Any]]:
    p = f.placeholder
    kind, column, cut = window[:3]
    among, among_params = fastsql.any_of("org_id", orgs, f) if orgs else ("", [])
    among = f" AND {among}" if among else ""
    org, by = ("org_id", ", org_id") if by_org else ("NULL", "")
    if kind == "open":
        # From the open cases' index of that column alone (the organizations and workflows
        # are picked from the counts, so that the planner has no other index to walk every
        # open case of an organization by). SQLite takes "closed_at IS NULL" for one case in
        # thousands (most closing times are distinct) and would walk the index of closing
        # times instead; it is told which to use.
        hint = f" INDEXED BY {_OPEN_INDEXES[column]}" if p == "?" else ""
        return (
            f"SELECT {i}, workflow_id, '', {org}, COUNT(*) FROM process_instance{hint}"
            f" WHERE closed_at IS NULL AND {column} >= {p} AND {column} < {p}{among}"
            f" GROUP BY workflow_id{by}",
            [f.dt(cut.low), f.dt(cut.high), *among_params],
        )
    workflow, by_state = window[3:]
    state = "state" if by_state else "''"
    groups = f"workflow_id, state{by}" if by_state else f"workflow_id{by}"
    # From the indexes by workflow, organization (or time) and time.
    return (
        f"SELECT {i}, workflow_id, {state}, {org}, COUNT(*) FROM process_instance"
        f" WHERE workflow_id = {p} AND {column} >= {p} AND {column} < {p}{among}"
        f" GROUP BY {groups}",
        [workflow, f.dt(cut.low), f.dt(cut.high), *among_params],
    )


def windows(
    found: list[Window],
    org_ids: Iterable[int],
    workflows: Iterable[str] | None = None,
    *,
    by_org: bool = True,
) -> list[dict[tuple, int]]:
    """The counts of each window (``Window``) of the organizations ``org_ids`` (and of the
    open ones, of ``workflows``): {(workflow, organization): n} for an open window,
    {(organization,): n} or {(state, organization): n} for a workflow's. One statement
    whatever their number (each part read by its own index, as alone), none for none.
    Without ``by_org`` summed over the organizations (organization None), which the
    statement then names unless they are every organization there is."""
    results: list[dict[tuple, int]] = [{} for _w in found]
    if not found:
        return results
    f = _flavour()
    orgs = set(org_ids)
    named = not by_org and len(orgs) < len(actors.org_index())  # summed: only those asked
    narrow = sorted(orgs) if len(orgs) <= NARROW or named else None
    parts, params = [], []
    for i, window in enumerate(found):
        sql, values = _window_sql(i, window, f, narrow, by_org)
        parts.append(sql)
        params.extend(values)
    flows = None if workflows is None else set(workflows)
    for i, wf, state, org, n in _read(" UNION ALL ".join(parts), params):
        if by_org and org not in orgs:
            continue
        window = found[i]
        if window[0] == "open":
            if flows is None or wf in flows:
                results[i][(wf, org)] = n
        elif window[4]:
            results[i][(state, org)] = n
        else:
            results[i][(org,)] = n
    return results


_OPEN_COLUMNS = {DUE: "due_at", ENTERED: "state_entered_at"}
# The open cases' indexes of those columns (pbflow.models.process), with workflow and org.
_OPEN_INDEXES = {"due_at": "ix_case_open_due", "state_entered_at": "ix_case_open_waiting"}


def open_counts_before(
    cuts: dict[str, datetime | None],
    org_ids: Iterable[int],
    workflows: Iterable[str] | None = None,
    *,
    by_org: bool = True,
) -> dict[tuple[str, str, int | None], int]:
    """Open cases whose time limit (``due``) or state entry (``entered``) is before each
    measure's instant, per (measure, workflow, organization), and (``open``, instant None)
    all open cases: the months from the tally, and the window between the nearest month
    boundary and the instant from the open cases' indexes (one statement for all windows).
    Exact at any instant. Without ``by_org`` summed over the organizations (organization
    None)."""
    org_ids = sorted(set(org_ids))
    found = {c: (None if at is None else Cut.of(at)) for c, at in cuts.items()}
    sums = {
        k: v[0]
        for k, v in sums_before(
            {c: (f,) for c, f in found.items()}, org_ids, workflows, by_org=by_org
        ).items()
    }
    measured = [(m, cut) for m, cut in found.items() if cut is not None and cut.sign and org_ids]
    counted = windows(
        [("open", _OPEN_COLUMNS[m], cut) for m, cut in measured],
        org_ids,
        workflows,
        by_org=by_org,
    )
    for (measure, cut), window in zip(measured, counted, strict=True):
        for (wf, org), n in window.items():
            key = (measure, wf, org)
            sums[key] = sums.get(key, 0) + cut.sign * n
    return sums


_CASE_COLUMNS_OF = {CREATED: "created_at", CLOSED: "closed_at"}


def _case_windows(
    cuts: dict[str, tuple[Cut | None, ...]],
    workflow: str,
    org_ids: list[int],
    by_state: bool | Collection[str],
    by_org: bool = True,
) -> Iterator[tuple[str, int, Cut, bool, dict[tuple, int]]]:
    """Per measure and cut with a window, (measure, index of the cut, cut, whether counted
    per state, the window's counts): the windows of ``counts_before`` and ``counts_at``, read
    in one statement."""
    found = []
    for measure, measure_cuts in cuts.items():
        stated = by_state is True or measure in (by_state or ())
        for i, cut in enumerate(measure_cuts):
            if cut is None or not cut.sign:
                continue
            if measure in _CASE_COLUMNS_OF:
                window = ("case", _CASE_COLUMNS_OF[measure], cut, workflow, stated)
            else:
                window = ("open", _OPEN_COLUMNS[measure], cut)
            found.append((measure, i, cut, stated, window))
    counted = windows([w[-1] for w in found], org_ids, [workflow], by_org=by_org)
    for (measure, i, cut, stated, _w), window in zip(found, counted, strict=True):
        yield measure, i, cut, stated, window


def counts_before(
    measures: dict[str, tuple[datetime, ...]],
    workflow: str,
    org_ids: Iterable[int],
    by_state: bool = False,
) -> dict[tuple, list[int]]:
    """A workflow's cases ``created`` (or ``closed``) before each of the measure's instants,
    per (measure, organization) or with ``by_state`` (measure, state, organization): a list,
    one count per instant. Exact at any instant (the windows from the indexes)."""
    org_ids = sorted(set(org_ids))
    if not org_ids:
        return {}
    cuts = {m: tuple(Cut.of(at) for at in ats) for m, ats in measures.items()}
    found: dict[tuple, list[int]] = {}
    for key, values in sums_before(cuts, org_ids, [workflow], by_state).items():
        found[(key[0], *key[2:])] = values
    for measure, i, cut, _stated, window in _case_windows(cuts, workflow, org_ids, by_state):
        for key, n in window.items():
            values = found.setdefault((measure, *key), [0] * len(cuts[measure]))
            values[i] += cut.sign * n
    return found


def counts_at(
    measures: dict[str, tuple[datetime | None, ...]],
    workflow: str,
    org_ids: Iterable[int],
    by_state: bool | Collection[str] = False,
    *,
    by_org: bool = True,
) -> dict[tuple, list[int]]:
    """``counts_before`` and ``open_counts_before`` of one workflow in one go: for each
    measure (``created``, ``closed``, ``open``, ``due``, ``entered``) its count before each of
    its instants (None: every month, for ``open``), per (measure, organization) or with
    ``by_state`` (measure, state, organization; naming measures, those per state and the
    others with the state ""): a list, one count per instant. One statement of the kept
    figures, then one of all the windows. Exact at any instant. Without ``by_org`` summed
    over the organizations (organization None)."""
    org_ids = sorted(set(org_ids))
    if not org_ids or not measures:
        return {}
    cuts = {
        m: tuple(None if at is None else Cut.of(at) for at in ats) for m, ats in measures.items()
    }
    found: dict[tuple, list[int]] = {}
    summed = sums_before(cuts, org_ids, [workflow], by_state, by_org=by_org)
    for key, values in summed.items():
        found[(key[0], *key[2:])] = values[: len(cuts[key[0]])]  # the widest measure's width
    for measure, i, cut, stated, window in _case_windows(cuts, workflow, org_ids, by_state, by_org):
        if measure in _CASE_COLUMNS_OF:
            if by_state and not stated:
                window = {("", *key): n for key, n in window.items()}
        else:
            state = ("",) if by_state else ()  # the engine counts these of no state
            window = {(*state, org): n for (_wf, org), n in window.items()}
        for key, n in window.items():
            values = found.setdefault((measure, *key), [0] * len(cuts[measure]))
            values[i] += cut.sign * n
    return found


def counts_between(
    measure: str,
    workflow: str,
    start: datetime,
    end: datetime,
    org_ids: Iterable[int],
    by_state: bool = False,
) -> dict[tuple, int]:
    """A workflow's cases ``created`` or ``closed`` in [start, end), per (organization,) or
    with ``by_state`` per (state, organization)."""
    if end <= start:
        return {}
    found = counts_before({measure: (start, end)}, workflow, org_ids, by_state)
    return {key[1:]: b - a for key, (a, b) in found.items() if b - a}


# --- recomputation ---------------------------------------------------------------------------


def _batches(model: Any, columns: tuple[str, ...], after_id: int, conn: Any) -> Iterator[Any]:
    """Rows numbered above ``after_id``, in batches by id: flat memory, on any connection (a
    migration's)."""
    t = model.__table__
    selected = [t.c[c] for c in columns]
    while True:
        rows = conn.execute(
            select(*selected).where(t.c.id > after_id).order_by(t.c.id).limit(5000)
        ).all()
        yield from rows
        if len(rows) < 5000:
            return
        after_id = rows[-1].id


def _org_index(conn: Any) -> dict[int, Any]:
    from pbflow.engine.actors import OrgNode
    from pbflow.models import Organization

    t = Organization.__table__
    rows = conn.execute(select(t.c.id, t.c.parent_id, t.c.kind, t.c.path, t.c.name, t.c.name_en))
    return {r.id: OrgNode(*r) for r in rows}


def expected(
    after_case: int = 0, after_person: int = 0, connection: Any = None
) -> dict[RowKey, list[int]]:
    """The rows the cases and people numbered above ``after_case`` and ``after_person`` call
    for (read on ``connection``, the session's by default)."""
    conn = connection if connection is not None else db.session.connection()
    rows: dict[RowKey, list[int]] = {}

    def add(found: dict) -> None:
        for (m, wf, state, org, year, month), weight in found.items():
            row = rows.get((m, wf, state, org, year))
            if row is None:
                row = rows[(m, wf, state, org, year)] = [0] * 12
            row[month - 1] += weight

    measures = _procedure_measures()
    for case in _batches(ProcessInstance, _CASE_COLUMNS, after_case, conn):
        add(contributions(case, measures))
    people, index = _person_measures(), _org_index(conn)
    for person in _batches(Person, PERSON_COLUMNS, after_person, conn):
        add(person_contributions(person, people, index))
    return rows


def fill(after_case: int = 0, after_person: int = 0) -> int:
    """Add what the cases and people numbered above ``after_case`` and ``after_person``
    contribute, for a bulk load that wrote them without the engine (``pbflow seed``), in the
    caller's transaction. Returns the number of rows written."""
    flush_pending()
    rows = expected(after_case, after_person)
    _write(rows)
    return len(rows)


def stored() -> dict[RowKey, list[int]]:
    """The rows as counts per month (from their running counts), those with any."""
    flush_pending()
    t = CaseTally.__table__
    found = {}
    for r in db.session.execute(select(t)):
        running = [r._mapping[m] for m in MONTHS]
        months = [n - (running[i - 1] if i else 0) for i, n in enumerate(running)]
        if any(months):
            found[(r.measure, r.workflow_id, r.state, r.org_id, r.year)] = months
    return found


@dataclass
class CheckReport:
    cases: int = 0
    people: int = 0
    rows: int = 0
    wrong: list[RowKey] = field(default_factory=list)  # rows that differ

    @property
    def ok(self) -> bool:
        return not self.wrong

    def summary(self) -> str:
        if self.ok:
            return (
                f"figures: {self.rows} rows over {self.cases} cases and {self.people} people match."
            )
        shown = ", ".join("/".join(str(p) for p in key) for key in self.wrong[:10])
        more = "" if len(self.wrong) <= 10 else f" and {len(self.wrong) - 10} more"
        return f"figures: {len(self.wrong)} rows differ from a recomputation: {shown}{more}."


def check(*, fix: bool = False) -> CheckReport:
    """Recompute what every case and person contributes and compare with the stored rows;
    with ``fix``,
    rewrite those that differ (in one transaction, committed)."""
    want = expected()
    have = stored()
    cases = db.session.execute(select(db.func.count()).select_from(ProcessInstance)).scalar()
    people = db.session.execute(select(db.func.count()).select_from(Person)).scalar()
    report = CheckReport(cases=cases or 0, people=people or 0, rows=len(want))
    report.wrong = sorted(
        k for k in set(want) | set(have) if want.get(k, [0] * 12) != have.get(k, [0] * 12)
    )
    if fix and report.wrong:
        try:
            changes = {}
            for key in report.wrong:
                old, new = have.get(key, [0] * 12), want.get(key, [0] * 12)
                changes[key] = [n - o for n, o in zip(new, old, strict=True)]
            _write(changes)
            # A repair is a change like any other: with its event, in its transaction (and
            # the dashboard's figures kept until the next recorded change are counted afresh).
            audit.record(
                "figures_repaired",
                actor=audit.SYSTEM,
                payload={"table": "case_tally", "rows": len(report.wrong)},
            )
            db.session.commit()
        except BaseException:
            db.session.rollback()
            raise
    return report
