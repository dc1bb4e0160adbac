"""Developing new members around the ``member_development`` workflow (DOMAIN.md section 1).

What this module adds to the generic case machinery: the applicant's own application, the
earliest date someone can become a full member if every later step goes as fast as the rules
allow, the branch's pipeline, a person's progress through the five stages, the committee's
view across its branches, and the import of people already part-way through.

Every step itself is a transition of ``workflows/member_development.yaml``; nothing here
moves a case or a person's status except through ``engine.runtime``.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import select

from pbflow import audit, clock, validation
from pbflow.engine import actors, calendar, fastsql, horizon, runtime, tally
from pbflow.engine.definitions import Definition
from pbflow.engine.errors import NotAllowed, NotFound, ValidationFailed
from pbflow.engine.fields import parse_date
from pbflow.engine.registry import registry
from pbflow.extensions import db
from pbflow.models import Organization, Person, ProcessInstance, User
from pbflow.services import head_memo

WORKFLOW = "member_development"
STAGES = ("application", "activist", "target", "admission", "probation")
ENDED = ("rejected", "withdrawn", "cancelled")
BRANCH_ROLES = ("secretary", "deputy_secretary", "organizing_member")
# States in which the admission resolution is passed and probation is dated from it.
_AWAITING_APPROVAL = ("superior_talk", "admission_approval", "approval_correction")
_ON_PROBATION = (
    "admission_filing",
    "probation",
    "conversion_discussion",
    "conversion_meeting",
    "conversion_approval",
    "archiving",
)
_BEFORE_ACTIVIST = ("applied", "application_returned", "applicant")
_BEFORE_TARGET = (*_BEFORE_ACTIVIST, "activist_filing", "activist", "target_filing")
_PREREVIEW_ON = ("prereview", "admission_form", "introducer_opinions", "admission_meeting")


def definition() -> Definition:
    return registry().get(WORKFLOW)


def _date(value: Any) -> date | None:
    if value in (None, ""):
        return None
    return value if isinstance(value, date) else parse_date(value)


# --- applying -------------------------------------------------------------------------------


def apply(user: User, values: Mapping[str, Any], *, uploads: Mapping[str, Any] | None = None):
    """The applicant's own written application to the branch their member profile is in."""
    from pbflow.services import cases

    pid = actors.person_id_of_user(user.id)
    if pid is None:
        raise ValidationFailed(_("Your account has no member profile to apply with."))
    org_id = db.session.execute(select(Person.org_id).where(Person.id == pid)).scalar_one()
    values = {**dict(values), "person": pid}
    return cases.start_case(user, WORKFLOW, org_id, values, uploads=uploads)


# --- the earliest date of full membership ----------------------------------------------------


@dataclass(frozen=True)
class KeyDates:
    """A person's party status and key dates, as the workflow keeps them."""

    party_status: str
    applied_on: date | None = None
    activist_on: date | None = None
    target_on: date | None = None
    admitted_on: date | None = None
    probation_end_on: date | None = None
    full_member_on: date | None = None

    @classmethod
    def of(cls, person: Any) -> KeyDates:
        return cls(
            person.party_status,
            person.applied_on,
            person.activist_on,
            person.target_on,
            person.admitted_on,
            person.probation_end_on,
            person.full_member_on,
        )


def earliest_full_membership(
    state: str,
    data: Mapping[str, Any],
    person: KeyDates,
    settings: Mapping[str, Any],
    today: date,
) -> date | None:
    """The earliest date the person can become a full member if every later step is taken as
    soon as the rules allow; None once the case has ended without it.

    The chain of minimum times (DOMAIN 1.3-1.24): activist no earlier than the configured
    months after the application; development target one year after becoming an activist;
    pre-review after the public notice's working days (and, if no training is recorded yet,
    after a three-day training starting today); the admission resolution at the earliest on
    the day of pre-review; probation of one year from the resolution (plus an extension
    proposed or approved); party standing counts from the day probation ends.
    """
    if state in ENDED:
        return None
    if person.party_status == "full" or state == "archived":
        return person.full_member_on
    if state in _ON_PROBATION and person.probation_end_on:
        end = person.probation_end_on
        if state in ("conversion_meeting", "conversion_approval") and (
            data.get("proposed_outcome") == "extend"
        ):
            end = calendar.add_months(end, int(data.get("extension_months") or 0))
        return end
    resolution = _date(data.get("admission_resolution_date"))
    if state in _AWAITING_APPROVAL and resolution:
        return calendar.add_months(resolution, 12)
    return calendar.add_months(_earliest_admission(state, data, person, settings, today), 12)


def _earliest_admission(state, data, person: KeyDates, settings, today: date) -> date:
    if state in _PREREVIEW_ON:
        return today
    applied = person.applied_on or _date(data.get("application_date")) or today
    if state in _BEFORE_ACTIVIST or person.activist_on is None:
        months = int(settings.get("min_months_application_to_activist") or 0)
        activist = max(today, calendar.add_months(applied, months))
    else:
        activist = person.activist_on
    if state in _BEFORE_TARGET or person.target_on is None:
        target = max(today, calendar.add_months(activist, 12))
    else:
        target = person.target_on
    prereview = max(today, target)
    notice_days = int(settings.get("public_notice_working_days") or 0)
    if notice_days > 0:
        started = _date(data.get("notice_start")) if state == "target" else None
        prereview = max(prereview, calendar.add_working_days(started or prereview, notice_days))
    if not data.get("training_end"):
        prereview = max(prereview, today + timedelta(days=2))
    return prereview


def settings_for(org_ids: set[int]) -> dict[int, dict[str, Any]]:
    """The workflow's settings as they apply at each organization (overrides of the nearest
    organization above win), read in one statement for any number of organizations (on
    PostgreSQL one array of them: a committee page's fifty were an IN list SQLAlchemy
    rendered anew at every request)."""
    d = definition()
    index = actors.org_index()
    chains = {oid: index[oid].ancestor_ids() for oid in org_ids if oid in index}
    needed = {a for chain in chains.values() for a in chain}
    rows = (
        dict(
            db.session.execute(
                select(Organization.id, Organization.settings).where(
                    fastsql.among(Organization.id, sorted(needed))
                )
            ).all()
        )
        if needed
        else {}
    )
    result = {}
    for oid, chain in chains.items():
        values = {name: spec.default for name, spec in d.settings.items()}
        for ancestor in chain:  # root first, so the nearest override is applied last
            values.update((rows.get(ancestor) or {}).get(WORKFLOW) or {})
        result[oid] = values
    return result


# --- reading rights ---------------------------------------------------------------------------


def require_read(viewer: User, org_id: int) -> None:
    if not actors.can_read_org(viewer, org_id):
        raise NotAllowed(_("You may not see this organization's member development."))


def _next_step(d: Definition, state: str) -> Any:
    """The step that moves a case forward from ``state`` (not a return, rejection or
    automatic outcome): what the pipeline says a case is waiting for."""
    for t in d.transitions_from(state):
        if t.system_only or t.comment == "required" or t.trigger.startswith("adopt_"):
            continue
        if t.dest != state:
            return t
    return None


# --- the branch's pipeline ------------------------------------------------------------------


@dataclass
class PipelineRow:
    case_id: int
    person_id: int | None
    name: str
    org_name: str
    state: str
    state_label: Any
    stage: str | None
    next_step: Any
    due_at: datetime | None
    overdue: bool
    earliest_full: date | None
    key_dates: KeyDates


@dataclass
class OpenCounts:
    """Open development cases per (organization, state), and per organization those past
    their time limit (as of now)."""

    per_state: dict[tuple[int, str], int]
    overdue: dict[int, int]


def open_counts(org_ids: list[int]) -> OpenCounts:
    """``OpenCounts`` of the organizations, from the figures kept as data (pbflow.engine.tally:
    a row per organization and state, the time limits by month, the rest of the month up to
    now from the open cases' index of time limits): one statement of the kept figures and one
    of the window, whatever the number of cases. No rights are checked: the caller has."""
    found = OpenCounts({}, {})
    ids = sorted(set(org_ids))
    if not ids:
        return found
    counted = tally.counts_at(
        {tally.OPEN: (None,), tally.DUE: (clock.now(),)}, WORKFLOW, ids, by_state=[tally.OPEN]
    )
    for (measure, state, org_id), (count,) in counted.items():
        if not count:
            continue
        if measure == tally.OPEN:
            found.per_state[(org_id, state)] = count
        else:
            found.overdue[org_id] = found.overdue.get(org_id, 0) + count
    return found


@dataclass
class Pipeline:
    """Open cases per stage. ``counts``: every open case per stage; the rows are all of them,
    or (``per_stage``) the most urgent few of each stage, for pages above a branch.
    ``open``: the counts per organization they were summed from (``overview`` reads them)."""

    org: actors.OrgNode
    stages: list[tuple[str, Any, list[PipelineRow]]]
    total: int
    overdue: int
    counts: dict[str, int] = field(default_factory=dict)
    per_stage: int | None = None
    open: OpenCounts | None = None


# Above a branch, each stage lists this many of its most urgent cases; the branches' own
# pages list everyone (issue 16: a committee of 100,000 cases had a 4 MB page).
PREVIEW_PER_STAGE = 20


def _subtree(org: actors.OrgNode) -> list[int]:
    return [n.id for n in actors.org_index().values() if n.path.startswith(org.path)]


def _open_where(org: actors.OrgNode) -> tuple:
    """The open development cases of the organization's subtree (a branch's page lists them
    all)."""
    return (
        ProcessInstance.workflow_id == WORKFLOW,
        ProcessInstance.closed_at.is_(None),
        ProcessInstance.org_id.in_(_subtree(org)),
    )


_CASE_COLUMNS = (
    ProcessInstance.id,
    ProcessInstance.definition_id,
    ProcessInstance.org_id,
    ProcessInstance.state,
    ProcessInstance.data,
    ProcessInstance.due_at,
    Person.id.label("person_id"),
    Person.name,
    Person.party_status,
    Person.applied_on,
    Person.activist_on,
    Person.target_on,
    Person.admitted_on,
    Person.probation_end_on,
    Person.full_member_on,
)


def _open_cases(org: actors.OrgNode):
    return (
        select(*_CASE_COLUMNS)
        .outerjoin(Person, Person.id == ProcessInstance.subject_person_id)
        .where(*_open_where(org))
    )


@dataclass(frozen=True)
class _CaseRow:
    """An open case and its person's key dates, as the pipeline reads them (``_CASE_COLUMNS``)."""

    id: int
    definition_id: int
    org_id: int
    state: str
    data: Any
    due_at: datetime | None
    person_id: int | None
    name: str | None
    party_status: str | None
    applied_on: date | None
    activist_on: date | None
    target_on: date | None
    admitted_on: date | None
    probation_end_on: date | None
    full_member_on: date | None


@functools.lru_cache(maxsize=64)
def _most_urgent_sql(stages: tuple[tuple[str, ...], ...], per_stage: int, p: str) -> str:
    """The statement of ``_most_urgent`` for one shape (the states of each stage) and
    placeholder, built once; its parameters are the organization's path and "%", then for
    each walk the workflow and the state (on PostgreSQL, whatever the shape: the states,
    the stage of each, the workflow and the subtree's organizations)."""
    n = int(per_stage)
    if p == "%s":  # PostgreSQL
        return (
            _SELECT_URGENT + "SELECT id FROM (SELECT w.id, row_number() OVER (PARTITION BY s.stage"
            " ORDER BY w.due_at, w.id) AS rank FROM unnest(%s::text[], %s::int[])"
            " AS s(state, stage) CROSS JOIN LATERAL (SELECT id, due_at FROM process_instance"
            " WHERE workflow_id = %s AND closed_at IS NULL AND state = s.state"
            f" AND org_id = ANY(%s) ORDER BY due_at, id LIMIT {n}) AS w) AS soonest"
            f" WHERE rank <= {n})"
        )
    here = f"workflow_id = {p} AND closed_at IS NULL AND state = {p}"
    # Named: SQLite's statistics pick ix_case_workflow_org and a sort of the subtree's cases.
    hint = " INDEXED BY ix_case_open_state_due"
    subtree = "org_id IN subtree"  # the list read once for the forty walks, not by each
    kept = []
    for states in stages:
        walks = []
        for _state in states:
            walks.append(
                f"SELECT id, due_at FROM (SELECT id, due_at FROM process_instance{hint}"
                f" WHERE {here} AND due_at IS NOT NULL AND {subtree}"
                f" ORDER BY due_at, id LIMIT {n}) AS timed"
            )
            walks.append(
                f"SELECT id, due_at FROM (SELECT id, due_at FROM process_instance{hint}"
                f" WHERE {here} AND due_at IS NULL AND {subtree} ORDER BY id LIMIT {n}) AS untimed"
            )
        kept.append(
            f"SELECT id FROM (SELECT id FROM ({' UNION ALL '.join(walks)}) AS stage"
            f" ORDER BY due_at IS NULL, due_at, id LIMIT {n}) AS soonest"
        )
    # The pattern is the path and "%" joined by the database: SQLite prepares a statement
    # again for each value of a bare parameter on the right of LIKE (to try an index).
    return (
        "WITH subtree(id) AS MATERIALIZED (SELECT id FROM organization"
        f" WHERE path LIKE {p} || {p}) " + _SELECT_URGENT + " UNION ALL ".join(kept) + ")"
    )


_SELECT_URGENT = (
    "SELECT pi.id, pi.definition_id, pi.org_id, pi.state, pi.data, pi.due_at, p.id,"
    " p.name, p.party_status, p.applied_on, p.activist_on, p.target_on, p.admitted_on,"
    " p.probation_end_on, p.full_member_on FROM process_instance pi"
    " LEFT OUTER JOIN person p ON p.id = pi.subject_person_id WHERE pi.id IN ("
)


def _most_urgent(stages: tuple[tuple[str, ...], ...], per_stage: int, org: actors.OrgNode):
    """The ``per_stage`` open cases of each stage (``stages``: the states of each) due first,
    then those without a time limit, in the organization's subtree. Each state is a walk of
    ix_case_open_state_due in due order that stops at ``per_stage``, whatever the number
    of cases; only the rows kept are read from the table. One statement, its text built once
    per shape and read without SQLAlchemy's row machinery (a hundred rows of a statement of
    forty walks: compiling and processing it cost twice what the database spends).

    PostgreSQL plans a statement again at every execution (statements kept prepared across
    requests, pbflow.prepared, are planned for their values each time), and planning forty
    walks took 8 ms for 6 ms of work: there the walks are
    one parameterized walk, joined laterally to the states (an array, with each one's
    stage), and each stage keeps its first ``per_stage`` by rank: about 0.6 ms of planning
    and 1 of work at 100,000 cases, where reading each stage's open cases of the subtree
    and sorting them (a committee's probation stage: 6,900) took 2 and 4."""
    f = fastsql.flavour()
    params: list[Any] = []
    if f.placeholder == "%s":  # PostgreSQL
        params = [
            [state for states in stages for state in states],
            [i for i, states in enumerate(stages) for _state in states],
            WORKFLOW,
            _subtree(org),
        ]
    else:
        params = [org.path, "%"]  # "/1/4/": ids and slashes, nothing LIKE reads as a wildcard
        for states in stages:
            for state in states:
                params += [WORKFLOW, state, WORKFLOW, state]
    rows = fastsql.read(_most_urgent_sql(stages, per_stage, f.placeholder), params)
    day, moment = f.read_day, f.read_dt
    return [
        _CaseRow(
            r[0],
            r[1],
            r[2],
            r[3],
            f.read_json(r[4]) or {},
            moment(r[5]),
            r[6],
            r[7],
            r[8],
            *map(day, r[9:]),
        )
        for r in rows
    ]


def _stage_of(d: Definition, state: str) -> str:
    spec = d.states.get(state)
    return spec.stage if spec and spec.stage else "application"


def pipeline(viewer: User, org_id: int, per_stage: int | None = None) -> Pipeline:
    """Open development cases at the organization and below, per stage, overdue first, then by
    due date: who is due for what; with ``per_stage``, only that many of each stage (the counts
    still cover all). A fixed number of statements whatever the number of cases. Kept until
    the next recorded change, or until the next open case falls due (``head_memo``,
    ``horizon``): a committee's page is read far more often than its cases change."""
    index = actors.org_index()
    org = index.get(org_id)
    if org is None:
        raise NotFound(_("No such organization."))
    require_read(viewer, org_id)
    locale = str(get_locale() or "zh")
    return head_memo.remembered(
        ("development_pipeline", org_id, per_stage, locale),
        lambda: _pipeline(index, org, per_stage, locale),
        until=horizon.next_change,
    )


def _pipeline(
    index: dict[int, actors.OrgNode], org: actors.OrgNode, per_stage: int | None, locale: str
) -> Pipeline:
    now, today = clock.now(), clock.today()
    d = definition()
    counted = open_counts(_subtree(org))
    counts: dict[str, int] = dict.fromkeys(STAGES, 0)
    total = sum(counted.per_state.values())
    overdue = sum(counted.overdue.values())
    stage_of: dict[str, str] = {}
    for (_org, state), count in counted.per_state.items():
        stage = stage_of.get(state)
        if stage is None:
            stage = stage_of[state] = _stage_of(d, state)
        counts[stage] = counts.get(stage, 0) + count
    states = sorted(stage_of)
    if per_stage is None:
        rows = db.session.execute(_open_cases(org)).all()
    elif states:
        grouped = tuple(
            tuple(sorted(st for st in states if stage_of[st] == stage))
            for stage in sorted(set(stage_of.values()))
        )
        rows = _most_urgent(grouped, per_stage, org)
    else:
        rows = []
    settings = settings_for({r.org_id for r in rows})
    reg = registry()
    by_stage: dict[str, list[PipelineRow]] = {s: [] for s in STAGES}
    reckoning: dict[int, tuple[Any, KeyDates]] = {}  # case -> what its earliest date needs
    next_steps: dict[tuple[int, str], Any] = {}  # (definition, state) -> its next step's label
    for r in rows:
        d = reg.stored(r.definition_id)
        spec = d.states[r.state]
        dates = KeyDates(
            r.party_status or "none",
            r.applied_on,
            r.activist_on,
            r.target_on,
            r.admitted_on,
            r.probation_end_on,
            r.full_member_on,
        )
        step = (r.definition_id, r.state)
        if step not in next_steps:
            nxt = _next_step(d, r.state)
            next_steps[step] = nxt.label if nxt else None
        by_stage.setdefault(spec.stage or "application", []).append(
            PipelineRow(
                case_id=r.id,
                person_id=r.person_id,
                name=r.name or "",
                org_name=index[r.org_id].display_name(locale),
                state=r.state,
                state_label=spec.label,
                stage=spec.stage,
                next_step=next_steps[step],
                due_at=r.due_at,
                overdue=r.due_at is not None and r.due_at < now,
                earliest_full=None,
                key_dates=dates,
            )
        )
        reckoning[r.id] = (r, dates)
    d = definition()
    stages = []
    for key, items in by_stage.items():
        items.sort(key=lambda x: (not x.overdue, x.due_at is None, x.due_at or now, x.name))
        shown = items[:per_stage] if per_stage else items
        for item in shown:  # worked out for the rows shown only
            r, dates = reckoning[item.case_id]
            item.earliest_full = earliest_full_membership(
                r.state, r.data or {}, dates, settings[r.org_id], today
            )
        stages.append((key, d.stages.get(key, key), shown))
        counts.setdefault(key, len(items))
    return Pipeline(org, stages, total, overdue, counts, per_stage, counted)


# --- the committee's view across its branches ----------------------------------------------


@dataclass
class BranchRow:
    org: actors.OrgNode
    per_stage: dict[str, int]
    overdue: int

    @property
    def total(self) -> int:
        return sum(self.per_stage.values())


def overview(viewer: User, org_id: int, counted: OpenCounts | None = None) -> list[BranchRow]:
    """For a committee (or general branch): each branch below it with its open cases per stage
    and how many are overdue (``open_counts``; ``counted``: those the organization's pipeline
    has already read, ``Pipeline.open``)."""
    index = actors.org_index()
    org = index.get(org_id)
    if org is None:
        raise NotFound(_("No such organization."))
    require_read(viewer, org_id)
    if counted is None:
        counted = open_counts(_subtree(org))
    d = definition()
    branches = {
        n.id: BranchRow(n, dict.fromkeys(STAGES, 0), 0)
        for n in index.values()
        if n.kind == "branch" and n.path.startswith(org.path)
    }
    for (org_ref, state), count in counted.per_state.items():
        row = branches.get(org_ref)
        if row is not None:
            row.per_stage[_stage_of(d, state)] += count
    for org_ref, late in counted.overdue.items():
        row = branches.get(org_ref)
        if row is not None:
            row.overdue += late
    return sorted(branches.values(), key=lambda b: (-b.overdue, b.org.path))


@dataclass
class UpcomingFull:
    case_id: int
    org_id: int
    name: str
    earliest_full: date


@dataclass
class PipelineFigures:
    """Member development across organizations: open cases per stage (now), those past their
    time limit, and who can become a full member within the period at the earliest."""

    per_stage: dict[int, dict[str, int]]  # org id -> stage -> open cases
    overdue: dict[int, int]
    upcoming: list[UpcomingFull]


# Stages whose cases can reach full membership within a year: the others need at least the
# year of probation after an admission that has not happened yet.
_NEAR_STAGES = ("admission", "probation")


def _extension_months() -> int | None:
    """The longest extension of probation the workflow allows (its field's maximum), None
    when it sets none."""
    found = [
        int(f.max)
        for t in definition().transitions
        for f in t.fields
        if f.name == "extension_months"
    ]
    if not found or any(m is None for m in found):
        return None
    return max(found)


def _candidates(ids: list[int], near: list[str], first: date, last: date, today: date) -> Any:
    """The open cases in ``near`` states whose earliest full membership
    (``earliest_full_membership``) can fall in ``first``..``last`` (None: any can), found by
    their people's dates so that no more are read. Full members (or archived cases) have
    their date of full membership; one on probation with a recorded end has that end, or
    later by at most the longest extension the workflow allows when an extension is
    proposed; awaiting the approval of a resolution, a year after it. Every other case needs
    a year of probation after an admission no earlier than today: it can only fall in a
    period reaching a year ahead, and then every case is read.

    Two statements, each walking indexes: the people by their dates
    (``ix_person_full_member``, ``ix_person_probation_end``), then their cases by person
    (and the cases awaiting approval by state); the rest is sorted out in Python, where the
    planner cannot choose to read every case on probation instead. The case ids."""
    if last >= calendar.add_months(today, 12):
        return None
    f = fastsql.flavour()
    p = f.placeholder
    longest = _extension_months()
    ends = f"probation_end_on <= {p}"
    params = [f.day(first), f.day(last), f.day(last)]
    if longest is not None:
        ends += f" AND probation_end_on >= {p}"
        params.append(f.day(calendar.add_months(first, -longest)))
    people = sorted(
        {
            r[0]
            for r in fastsql.read(
                "SELECT id FROM person WHERE (full_member_on >= ? AND full_member_on <= ?)"
                f" OR ({ends})".replace("?", p),
                params,
            )
        }
    )
    columns = "id, workflow_id, closed_at, org_id, state"
    by_person, person_params = (
        fastsql.any_of("subject_person_id", people, f) if people else ("1 = 0", [])
    )
    states, state_params = fastsql.any_of("state", list(_AWAITING_APPROVAL), f)
    orgs, org_params = fastsql.any_of("org_id", ids, f)
    rows = fastsql.read(
        f"SELECT {columns} FROM process_instance WHERE {by_person}"
        f" UNION ALL SELECT {columns} FROM process_instance WHERE workflow_id = {p}"
        f" AND closed_at IS NULL AND {states} AND {orgs}",
        [*person_params, WORKFLOW, *state_params, *org_params],
    )
    scope, states = set(ids), set(near)
    return sorted(
        {
            case_id
            for case_id, workflow, closed_at, org_id, state in rows
            if workflow == WORKFLOW and closed_at is None and org_id in scope and state in states
        }
    )


_NEAR_COLUMNS = (
    "pi.id, pi.org_id, pi.state, pi.data, p.name, p.party_status, p.applied_on, p.activist_on,"
    " p.target_on, p.admitted_on, p.probation_end_on, p.full_member_on"
)


def _near_cases(ids: list[int], near: list[str], candidates: list[int] | None) -> list[tuple]:
    """The open cases in ``near`` states of the organizations (only ``candidates`` when
    given), with their people's key dates: (id, org, state, data, name, KeyDates)."""
    f = fastsql.flavour()
    p = f.placeholder
    # With candidates, they are looked up by their ids: the other conditions are written so
    # that no index serves them (SQLite would otherwise walk every open case in those states).
    by_id = candidates is not None
    text, number = (" || ''", " + 0") if by_id else ("", "")
    is_open = "CASE WHEN pi.closed_at IS NULL THEN 1 ELSE 0 END = 1" if by_id else None
    orgs, org_params = fastsql.any_of(f"pi.org_id{number}", ids, f)
    states, state_params = fastsql.any_of(f"pi.state{text}", near, f)
    where = (
        f"pi.workflow_id{text} = {p} AND {is_open or 'pi.closed_at IS NULL'}"
        f" AND {orgs} AND {states}"
    )
    params: list[Any] = [WORKFLOW, *org_params, *state_params]
    if candidates is not None:  # none found: the statement all the same (a fixed count)
        if candidates:
            found, found_params = fastsql.any_of("pi.id", candidates, f)
            where += f" AND {found}"
            params.extend(found_params)
        else:
            where += " AND 1 = 0"
    rows = fastsql.read(
        f"SELECT {_NEAR_COLUMNS} FROM process_instance pi"
        f" JOIN person p ON p.id = pi.subject_person_id WHERE {where}",
        params,
    )
    day = f.read_day
    return [
        (r[0], r[1], r[2], f.read_json(r[3]) or {}, r[4], KeyDates(r[5], *map(day, r[6:])))
        for r in rows
    ]


def pipeline_figures(org_ids: list[int], first: date, last: date) -> PipelineFigures:
    """Open development cases of each organization per stage and past their time limit (as of
    now), and the earliest full memberships falling in ``first``..``last``, soonest first.
    No rights are checked: the caller has. The counts come from the figures kept as data
    (pbflow.engine.tally: a row per organization and state, and the time limits by month);
    the full memberships from the cases that can become full within the period, found by
    their people's dates: a fixed number of statements whatever the number of cases."""
    ids = sorted(set(org_ids))
    result = PipelineFigures(
        {oid: dict.fromkeys(STAGES, 0) for oid in ids}, dict.fromkeys(ids, 0), []
    )
    if not ids:
        return result
    today = clock.today()
    d = definition()
    counted = open_counts(ids)
    for (org_id, state), count in counted.per_state.items():
        result.per_stage[org_id][_stage_of(d, state)] += count
    for org_id, count in counted.overdue.items():
        result.overdue[org_id] += count
    if not any(result.per_stage[o][s] for o in ids for s in _NEAR_STAGES):
        return result
    near = [name for name, spec in d.states.items() if spec.stage in _NEAR_STAGES]
    found = _near_cases(ids, near, _candidates(ids, near, first, last, today))
    # the settings where a case is found (one statement whether or not any is)
    settings = settings_for({org_id for _id, org_id, *_rest in found} or {ids[0]})
    for case_id, org_id, state, data, name, dates in found:
        earliest = earliest_full_membership(state, data, dates, settings[org_id], today)
        if earliest is not None and first <= earliest <= last:
            result.upcoming.append(UpcomingFull(case_id, org_id, name, earliest))
    result.upcoming.sort(key=lambda u: (u.earliest_full, u.name, u.case_id))
    return result


# --- a person's progress ------------------------------------------------------------------------


@dataclass
class NextStep:
    label: Any
    who: list[str]
    enabled: bool
    reason: str | None
    available_from: date | None


@dataclass
class Progress:
    person: Person
    case: ProcessInstance | None
    stages: list[tuple[str, Any, str]]  # key, label, done | current | upcoming | ended
    state_label: Any = None
    ended: bool = False
    next_steps: list[NextStep] = field(default_factory=list)
    earliest_full: date | None = None


def _may_see_person(viewer: User, person: Person) -> bool:
    return person.user_id == viewer.id or actors.can_read_org(viewer, person.org_id)


def progress(viewer: User, person_id: int) -> Progress:
    """Where a person stands in the five stages, what comes next and from when, and the
    earliest date they can become a full member. Their own page, or their branch's."""

    person = db.session.get(Person, person_id)
    if person is None or not _may_see_person(viewer, person):
        raise NotFound(_("No such person, or you may not see them."))
    case = db.session.execute(
        select(ProcessInstance)
        .where(
            ProcessInstance.workflow_id == WORKFLOW,
            ProcessInstance.subject_person_id == person.id,
        )
        .order_by(ProcessInstance.closed_at.is_(None).desc(), ProcessInstance.id.desc())
        .limit(1)
    ).scalar()
    d = definition()
    if case is None:
        return Progress(person, None, [(k, d.stages[k], "upcoming") for k in STAGES])
    d = registry().stored(case.definition_id)
    spec = d.states[case.state]
    ended = case.state in ENDED
    current = STAGES.index(spec.stage) if spec.stage in STAGES else None
    if case.state == "archived":
        current = len(STAGES)
    elif ended:
        current = _stage_reached(person)
    stages = []
    for i, key in enumerate(STAGES):
        status = "done" if current is not None and i < current else "upcoming"
        if i == current:
            status = "ended" if ended else "current"
        stages.append((key, d.stages[key], status))
    result = Progress(person, case, stages, spec.label, ended)
    settings = settings_for({case.org_id})[case.org_id]
    result.earliest_full = earliest_full_membership(
        case.state, case.data or {}, KeyDates.of(person), settings, clock.today()
    )
    if case.closed_at is not None:
        return result
    cs = runtime.load_case(case.id)
    for t in d.transitions_from(case.state):
        if t.system_only or t.comment == "required" or t.trigger.startswith("adopt_"):
            continue
        block = runtime.pending_block(d, cs, None, t)
        if block is not None and not t.show_blocked:
            continue  # not offered where it is blocked, as on the case page
        result.next_steps.append(
            NextStep(
                t.label,
                [rule.describe() for rule in t.by],
                block is None,
                block.reason if block else None,
                block.available_from if block else None,
            )
        )
    return result


def _stage_reached(person: Person) -> int:
    for i, key in reversed(
        list(enumerate(("applied_on", "activist_on", "target_on", "admitted_on")))
    ):
        if getattr(person, key):
            return i
    return 0


# --- import of people already part-way through ----------------------------------------------

CSV_COLUMNS = (
    "name",
    "id_number",
    "birth_date",
    "gender",
    "stage",
    "application_date",
    "talk_date",
    "activist_on",
    "target_on",
    "admission_resolution_date",
    "contacts",
    "introducers",
    "assessment_dates",
    "oath_date",
)
# stage -> (adoption step, dates it needs)
IMPORT_STAGES = {
    "applied": (None, ("application_date",)),
    "applicant": ("adopt_as_applicant", ("application_date", "talk_date")),
    "activist": ("adopt_as_activist", ("application_date", "talk_date", "activist_on")),
    "target": ("adopt_as_target", ("application_date", "talk_date", "activist_on", "target_on")),
    "probationary": (
        "adopt_as_probationary",
        ("application_date", "talk_date", "activist_on", "target_on", "admission_resolution_date"),
    ),
}
_DATES = (
    "birth_date",
    "application_date",
    "talk_date",
    "activist_on",
    "target_on",
    "admission_resolution_date",
    "oath_date",
)
MAX_IMPORT_ROWS = 2000
# Later records a line may carry, each only at the stage where its step is taken.
_ONLY_AT = {
    "contacts": "activist",
    "assessment_dates": "activist",
    "introducers": "target",
    "oath_date": "probationary",
}


@dataclass
class ImportReport:
    created: list[int] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _split(value: str) -> list[str]:
    return [v.strip() for v in (value or "").replace(",", ";").split(";") if v.strip()]


def _read_rows(text: str, report: ImportReport) -> list[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in ("name", "stage", "application_date") if c not in header]
    unknown = [h for h in header if h not in CSV_COLUMNS]
    if missing or unknown:
        report.errors.append(
            (
                1,
                _(
                    "The header must name the columns %(cols)s (missing: %(missing)s; "
                    "unknown: %(unknown)s).",
                    cols=", ".join(CSV_COLUMNS),
                    missing=", ".join(missing) or "-",
                    unknown=", ".join(unknown) or "-",
                ),
            )
        )
        return []
    rows = []
    for raw in reader:
        clean = {k.strip(): (v or "").strip() for k, v in raw.items() if k}
        if any(clean.values()):
            rows.append((reader.line_num, clean))
    if len(rows) > MAX_IMPORT_ROWS:
        report.errors.append((1, _("At most %(n)s rows at a time.", n=MAX_IMPORT_ROWS)))
    return rows


def _check_row(row: dict[str, str], known: dict[str, Person], seen: set[str]) -> list[str]:
    """Problems a row has on its own (before any step is tried)."""
    problems = []
    stage = row.get("stage", "")
    if stage not in IMPORT_STAGES:
        problems.append(_("stage must be one of %(stages)s", stages=", ".join(IMPORT_STAGES)))
    for name in _DATES:
        if row.get(name):
            try:
                parse_date(row[name])
            except ValueError:
                problems.append(_("%(col)s must be a date like 2026-03-01", col=name))
    if stage in IMPORT_STAGES:
        for name in IMPORT_STAGES[stage][1]:
            if not row.get(name):
                problems.append(_("%(col)s is needed at stage %(stage)s", col=name, stage=stage))
    number = row.get("id_number", "")
    if number:
        if number in seen:
            problems.append(_("the ID number appears twice in the file"))
        seen.add(number)
    if not number or number not in known:
        if not row.get("name"):
            problems.append(_("name is required"))
        if not row.get("birth_date"):
            problems.append(_("birth_date is required for someone new (the age rule)"))
    for col, only in _ONLY_AT.items():
        if row.get(col) and stage in IMPORT_STAGES and stage != only:
            problems.append(_("%(col)s can only be given at stage %(stage)s", col=col, stage=only))
    for col in ("contacts", "introducers"):
        for ref in _split(row.get(col, "")):
            if ref not in known:
                problems.append(_("%(col)s: no person with ID number %(ref)s", col=col, ref=ref))
    return problems


def import_csv(actor: User, org_id: int, data: bytes, *, filename: str = "") -> ImportReport:
    """Start cases for people already part-way through the procedure, at the stage each line
    names, with the dates of the steps taken on paper. Every line is checked (and every step
    tried) first; any problem is reported by line number and nothing is written."""
    from pbflow.engine.errors import DomainError

    index = actors.org_index()
    org = index.get(org_id)
    if org is None:
        raise NotFound(_("No such organization."))
    if not any(actors.has_role(actor.id, r, [org_id]) for r in BRANCH_ROLES):
        raise NotAllowed(
            _("Only the branch secretary, deputy secretary or organizing member may import.")
        )
    report = ImportReport()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        report.errors.append((1, _("The file must be UTF-8 encoded CSV.")))
        return report
    if validation.NUL in text:  # PostgreSQL cannot store a NUL; no CSV text has one
        line = text.count("\n", 0, text.index(validation.NUL)) + 1
        report.errors.append(
            (
                line,
                _("This is not a CSV text file (a spreadsheet perhaps). Save it as 'CSV UTF-8'."),
            )
        )
        return report
    rows = _read_rows(text, report)
    if report.errors:
        return report
    numbers = {
        ref
        for _line, row in rows
        for ref in [
            row.get("id_number", ""),
            *_split(row.get("contacts", "")),
            *_split(row.get("introducers", "")),
        ]
        if ref
    }
    known = (
        {
            p.id_number: p
            for p in db.session.execute(
                select(Person).where(Person.id_number.in_(numbers))
            ).scalars()
        }
        if numbers
        else {}
    )
    seen: set[str] = set()
    for line, row in rows:
        for problem in _check_row(row, known, seen):
            report.errors.append((line, problem))
    if report.errors:
        return report
    try:
        for line, row in rows:
            try:
                report.created.append(_import_row(actor, org, row, known))
            except DomainError as exc:
                report.errors.append((line, str(exc)))
        if report.errors:
            db.session.rollback()
            report.created = []
            return report
        audit.record(
            "development_import",
            actor=actor,
            org_id=org_id,
            payload={
                "filename": filename[:200],
                "sha256": hashlib.sha256(data).hexdigest(),
                "cases": report.created,
            },
        )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return report


def _import_row(actor: User, org: actors.OrgNode, row: dict[str, str], known) -> int:
    from pbflow.services.people import _GENDER_INPUT

    number = row.get("id_number") or None
    person = known.get(number) if number else None
    if person is not None and f"/{org.id}/" not in index_path(person.org_id):
        raise ValidationFailed(_("%(name)s belongs to another organization.", name=person.name))
    if person is None:
        person = Person(
            name=row["name"],
            id_number=number,
            org_id=org.id,
            birth_date=parse_date(row["birth_date"]),
            gender=_GENDER_INPUT.get(row.get("gender", "").lower()),
            party_status="none",
        )
        db.session.add(person)
        db.session.flush()
        audit.record(
            "person_created",
            actor=actor,
            org_id=org.id,
            payload={"person_id": person.id, "name": person.name, "via": "development_import"},
        )
    case = runtime.start(
        WORKFLOW,
        org.id,
        actor,
        {"person": person.id, "application_date": row["application_date"], "part_way": True},
        commit=False,
    )
    trigger, needed = IMPORT_STAGES[row["stage"]]
    if trigger:
        values = {k: row[k] for k in needed if k != "application_date"}
        runtime.fire_in_transaction(case.id, trigger, actor, values)
    refs = {
        col: [known[r].id for r in _split(row.get(col, ""))] for col in ("contacts", "introducers")
    }
    if refs["contacts"]:
        runtime.fire_in_transaction(
            case.id, "assign_contacts", actor, {"contacts": refs["contacts"]}
        )
    for day in _split(row.get("assessment_dates", "")):
        runtime.fire_in_transaction(
            case.id,
            "record_assessment",
            actor,
            {"assessment_date": day, "assessment_opinion": _("Recorded on paper; imported.")},
        )
    if refs["introducers"]:
        runtime.fire_in_transaction(
            case.id, "assign_introducers", actor, {"introducers": refs["introducers"]}
        )
    if row.get("oath_date"):
        runtime.fire_in_transaction(case.id, "record_oath", actor, {"oath_date": row["oath_date"]})
    return case.id


def index_path(org_id: int) -> str:
    node = actors.org_index().get(org_id)
    return node.path if node else ""
