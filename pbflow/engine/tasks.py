"""Work waiting, as data: the ``case_task`` rows of every open case (pbflow.models.tasks).

Who may act on a case now is a function of the case alone (its definition, state,
organization, submitter, assignee, subject and data) once actor rules are resolved to
*holders* that stay true when people change: a role at an organization, an account, a
person, the full members of an organization. The engine computes them whenever a case
changes (``runtime.start`` and ``runtime.fire_in_transaction``, which every step, vote
decision, timer and reassignment goes through) and writes the difference in the same
transaction. A role granted or revoked, an account linked to a person, a member becoming a
full member: none of these rewrites a row, the inbox resolves the holders of the reader
(``holder_keys``) and reads the rows with one indexed query, as a BPMN engine keeps its task
table with candidate groups.

The table says who is waited on, not who will be allowed: the engine still checks the right
(and every guard) when a step is taken. Guards are not decided here, except the pure ones
(``@guard(..., pure=True)``: they read only the case's data, so their answer changes only
when the case does): a step such a guard refuses is nobody's work.

``check`` recomputes every open case and compares (``pbflow tasks check``); with ``fix`` it
rewrites the rows that differ (the migration's backfill, ``pbflow tasks check --fix``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from pbflow import audit, clock
from pbflow.engine import actors, fastsql
from pbflow.engine.context import Context
from pbflow.engine.definitions import ActorRule, Definition, parse_role_electorate
from pbflow.engine.registry import registry
from pbflow.extensions import db
from pbflow.models import CaseTask, ProcessInstance

Key = tuple[str, str, str]  # (holder, kind, trigger)

# Who may record a meeting's resolution (the vote machinery checks the same tuple).
RECORDER_ROLES = ("secretary", "deputy_secretary", "organizing_member", "committee")
STEP, OPTION, BALLOT, RECORD = "step", "option", "ballot", "record"
_PLAN = "_pbflow_task_plan"


def is_option(d: Definition, t: Any) -> bool:
    """A merely possible step: marked ``waits: false``, or a way out of several states into a
    final one (withdraw, cancel, drop): possible all along, never what the case waits for."""
    if t.waits is not None:
        return not t.waits
    return d.states[t.dest].final and len(t.sources) > 1


@dataclass(frozen=True)
class _Entry:
    trigger: str
    kind: str
    rules: tuple[ActorRule, ...]
    transition: Any
    pure_guards: tuple[Any, ...]


@dataclass
class _StatePlan:
    entries: list[_Entry] = field(default_factory=list)
    ballot: tuple[str, str] | None = None  # ("role", name@scope) or ("members", "")
    ballot_scope: str | None = None
    record_scope: str | None = None  # scope of the voting body, for recorders
    # Whether the keys depend on the case's data (a field rule, a pure guard); if not they
    # are a function of (organization, submitter, assignee, subject) under one organization
    # index, remembered in ``memo`` as (index, {key: keys}) so a step does not redo them.
    reads_data: bool = True
    memo: tuple[Any, dict] = field(default_factory=lambda: (None, {}))


_MEMO_LIMIT = 4096


def _plan(d: Definition, state: str) -> _StatePlan:
    """What a state's tasks are made of, worked out once per definition and state."""
    plans = d.__dict__.setdefault(_PLAN, {})
    plan = plans.get(state)
    if plan is not None:
        return plan
    named = registry().rules.guards
    plan = _StatePlan()
    spec = d.states[state]
    if not spec.final:
        for t in d.transitions_from(state):
            rules = tuple(r for r in t.by if r.kind not in ("system", "anyone", "code_holder"))
            if not rules:
                continue
            own = {f.name for f in t.fields}
            pure = tuple(
                g for g in t.guards if named[g.name].pure and g.params.get("field") not in own
            )
            kind = OPTION if is_option(d, t) else STEP
            plan.entries.append(_Entry(t.trigger, kind, rules, t, pure))
        vote = spec.vote
        if vote is not None:
            parsed = parse_role_electorate(vote.electorate)
            scope = parsed[1] if parsed else "org"
            if "ballot" in vote.mode:
                plan.ballot = ("role", parsed[0]) if parsed else ("members", "")
                plan.ballot_scope = scope
            if "meeting" in vote.mode:
                plan.record_scope = scope
    plan.reads_data = any(
        e.pure_guards or any(r.kind in ("field", "person_field") for r in e.rules)
        for e in plan.entries
    )
    plans[state] = plan
    return plan


def _ids(value: Any) -> list[int]:
    values = value if isinstance(value, list) else [value]
    return [v for v in values if isinstance(v, int) and not isinstance(v, bool)]


def _holders(rule: ActorRule, case: Any, index: dict) -> list[str]:
    kind = rule.kind
    if kind == "role":
        return [f"r:{rule.role}@{o}" for o in actors.resolve_scope(case.org_id, rule.at, index)]
    if kind == "submitter":
        return [f"u:{case.submitter_user_id}"] if case.submitter_user_id else []
    if kind == "assignee":
        return [f"u:{case.assignee_user_id}"] if case.assignee_user_id else []
    if kind == "subject":
        return [f"p:{case.subject_person_id}"] if case.subject_person_id else []
    if kind == "field":
        return [f"u:{v}" for v in _ids((case.data or {}).get(rule.field))]
    if kind == "person_field":
        return [f"p:{v}" for v in _ids((case.data or {}).get(rule.field))]
    return []


def compute(d: Definition, case: Any, index: dict | None = None) -> set[Key]:
    """The task keys of a case as it is now (none once it is closed)."""
    if case.closed_at is not None:
        return set()
    plan = _plan(d, case.state)
    if index is None:
        index = actors.org_index()
    if plan.reads_data:
        return _compute(d, case, plan, index)
    # One read of ``memo``: its dictionary always belongs to the index read with it (another
    # thread may replace the pair, never mix them).
    memo = plan.memo
    if memo[0] is not index or len(memo[1]) > _MEMO_LIMIT:
        memo = plan.memo = (index, {})
    key = (case.org_id, case.submitter_user_id, case.assignee_user_id, case.subject_person_id)
    keys = memo[1].get(key)
    if keys is None:
        keys = memo[1][key] = frozenset(_compute(d, case, plan, index))
    return set(keys)


def _compute(d: Definition, case: Any, plan: _StatePlan, index: dict) -> set[Key]:
    keys: set[Key] = set()
    for entry in plan.entries:
        if entry.pure_guards and _blocked(d, case, entry):
            continue
        for rule in entry.rules:
            for holder in _holders(rule, case, index):
                keys.add((holder, entry.kind, entry.trigger))
    if plan.ballot is not None:
        orgs = actors.resolve_scope(case.org_id, plan.ballot_scope, index)
        if plan.ballot[0] == "role":
            keys.update((f"r:{plan.ballot[1]}@{o}", BALLOT, "") for o in orgs)
        else:
            keys.add((f"m:{case.org_id}", BALLOT, ""))
    if plan.record_scope is not None:
        for o in actors.resolve_scope(case.org_id, plan.record_scope, index):
            keys.update((f"r:{r}@{o}", RECORD, "") for r in RECORDER_ROLES)
    return keys


def _blocked(d: Definition, case: Any, entry: _Entry) -> bool:
    named = registry().rules.guards
    ctx = Context(d, case, None, {}, entry.transition)
    return any(named[g.name].fn(ctx, **g.params) is not None for g in entry.pure_guards)


def write_new(case_id: int, keys: Iterable[Key], now: datetime, due_at: datetime | None) -> None:
    """The rows of a case just started, carrying its time limit."""
    rows = sorted(keys)
    if rows:
        fastsql.insert_tasks(case_id, rows, now, due_at)


def sync(case_id: int, keys: set[Key], now: datetime, due_at: datetime | None) -> None:
    """Bring the case's rows to ``keys`` and its time limit: rows that still hold keep their
    ``since``."""
    stored = fastsql.task_rows(case_id)
    old = {(h, k, t): row_id for row_id, h, k, t in stored}
    gone = [row_id for key, row_id in old.items() if key not in keys]
    added = sorted(key for key in keys if key not in old)
    if gone:
        fastsql.delete_tasks(case_id, gone if len(gone) < len(old) else None)
    if len(gone) < len(old):
        fastsql.set_task_due(case_id, due_at)
    if added:
        fastsql.insert_tasks(case_id, added, now, due_at)


def replace(
    case_id: int,
    before: set[Key],
    after: set[Key],
    now: datetime,
    due: tuple[datetime | None, datetime | None],
) -> None:
    """A step moved the case from ``before`` (its rows as computed from the case as it was)
    to ``after``, and its time limit from ``due[0]`` to ``due[1]``. No read: when nothing
    carries over, every row of the case goes (so a row that drifted goes too); otherwise
    only the keys that ended, rows that still hold keep their ``since`` and take the new
    time limit."""
    kept = before & after
    if not kept:
        fastsql.delete_tasks(case_id, None)
        added = sorted(after)
    else:
        gone = before - after
        if gone:
            fastsql.delete_task_keys(case_id, sorted(gone))
        if due[0] != due[1]:
            fastsql.set_task_due(case_id, due[1])
        added = sorted(after - before)
    if added:
        fastsql.insert_tasks(case_id, added, now, due[1])


def fill(after_id: int = 0) -> int:
    """Write the rows of the open cases numbered above ``after_id``, for a bulk load that
    wrote its cases without the engine (``pbflow seed``), in the caller's transaction so the
    load and its work waiting land together. Returns how many rows were written."""
    reg = registry()
    index = actors.org_index()
    t = ProcessInstance.__table__
    rows = db.session.execute(
        select(t.c[tuple(fastsql.CASE_COLUMNS)])
        .where(ProcessInstance.closed_at.is_(None), ProcessInstance.id > after_id)
        .order_by(ProcessInstance.id)
    ).all()
    now = clock.now()
    written = 0
    for row in rows:
        keys = compute(reg.stored(row.definition_id), row, index)
        write_new(row.id, keys, now, row.due_at)
        written += len(keys)
    return written


# --- the reader's side --------------------------------------------------------------------


def holder_keys(user_id: int) -> list[str]:
    """Every holder the user answers to now: their account, their roles at organizations,
    their person, and their organization's members when they are a full member with a vote."""
    keys = [f"u:{user_id}"]
    keys.extend(sorted(f"r:{role}@{org}" for org, role in actors.roles_of(user_id)))
    person = actors.membership_of_user(user_id)
    if person is not None:
        keys.append(f"p:{person.id}")
        if person.active and actors.has_voting_rights(person):
            keys.append(f"m:{person.org_id}")
    return keys


# --- recomputation ---------------------------------------------------------------------------


def _open_cases(batch: int = 2000) -> Iterator[Any]:
    t = ProcessInstance.__table__
    stmt = (
        select(t.c[tuple(fastsql.CASE_COLUMNS)])
        .where(ProcessInstance.closed_at.is_(None))
        .order_by(ProcessInstance.id)
        .execution_options(yield_per=batch)
    )
    yield from db.session.execute(stmt)


def _stored() -> dict[int, tuple[set[Key], set[datetime | None]]]:
    """Each case's stored keys, and the time limits its rows carry (one, when right)."""
    out: dict[int, tuple[set[Key], set[datetime | None]]] = {}
    rows = db.session.execute(
        select(
            CaseTask.instance_id, CaseTask.holder, CaseTask.kind, CaseTask.trigger, CaseTask.due_at
        )
    )
    for case_id, holder, kind, trigger, due_at in rows:
        keys, dues = out.setdefault(case_id, (set(), set()))
        keys.add((holder, kind, trigger))
        dues.add(due_at)
    return out


@dataclass
class CheckReport:
    cases: int = 0
    rows: int = 0
    wrong: list[int] = field(default_factory=list)  # case ids whose rows differ

    @property
    def ok(self) -> bool:
        return not self.wrong

    def summary(self) -> str:
        if self.ok:
            return f"work waiting: {self.rows} rows of {self.cases} open cases match."
        shown = ", ".join(str(i) for i in self.wrong[:20])
        more = "" if len(self.wrong) <= 20 else f" and {len(self.wrong) - 20} more"
        return f"work waiting: {len(self.wrong)} cases differ from a recomputation: {shown}{more}."


def check(*, fix: bool = False) -> CheckReport:
    """Recompute every open case and compare with its rows; with ``fix``, rewrite those
    that differ (in one transaction, committed)."""
    reg = registry()
    stored = _stored()
    report = CheckReport(rows=sum(len(keys) for keys, _dues in stored.values()))
    index = actors.org_index()
    expected: dict[int, tuple[set[Key], datetime | None]] = {}
    for row in _open_cases():
        report.cases += 1
        keys = compute(reg.stored(row.definition_id), row, index)
        found, dues = stored.pop(row.id, (set(), set()))
        if keys != found or (found and dues != {row.due_at}):
            report.wrong.append(row.id)
            expected[row.id] = (keys, row.due_at)
    report.wrong.extend(stored)  # rows of closed (or vanished) cases
    for case_id in stored:
        expected[case_id] = (set(), None)
    report.wrong.sort()
    if fix and report.wrong:
        try:
            now = clock.now()
            for case_id in report.wrong:
                keys, due_at = expected[case_id]
                sync(case_id, keys, now, due_at)
            # A repair is a change like any other: with its event, in its transaction (and
            # the inboxes kept until the next recorded change are read afresh after it).
            audit.record(
                "work_waiting_repaired", actor=audit.SYSTEM, payload={"cases": len(report.wrong)}
            )
            db.session.commit()
        except BaseException:
            db.session.rollback()
            raise
    return report
