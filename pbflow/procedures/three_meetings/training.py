"""Each member receives at least 32 hours of training a year (DOMAIN.md 3).

A member's hours of a year are the training hours of the study meetings they attended
(``Meeting.training_minutes``, credited to each member marked present) and the training
they received elsewhere (``TrainingRecord``: party school, online courses, the committee's
classes), which their branch's secretary or organizer enters. The hours follow the person:
a member who moved branches keeps what they attended before.

Who owes it: the full and probationary members active in the branch now (its own members
and those of its party groups). A member admitted during the year owes the share of the
months left from the month of admission (admitted in July: 6/12 of the threshold, rounded
up to the half hour); one who left the party or whose profile was closed is not listed, and
one who moved is counted by the branch they are in now. pbflow keeps no history of who
belonged where, so a past year is read with today's members.

The threshold is 32 hours, set per organization for itself and those below it
(``Organization.settings["three_meetings"]["training_hours"]``) by an administrator or the
party committee with its audit event (``flask --app app pbflow meetings training-threshold``):
the highest setting at or above an organization applies. The top organization's own setting
replaces the 32 hours (higher or lower: the committee answers for it); below it a setting
may only raise what applies from above, never lower it.

From the fourth quarter ``pbflow tick`` tells each branch's secretaries, once a year,
how many members are still below it.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import func, select

from pbflow import audit, clock, validation
from pbflow.engine import actors, fastsql
from pbflow.engine.errors import ConcurrentChange, NotAllowed, NotFound, ValidationFailed
from pbflow.engine.fields import parse_date
from pbflow.extensions import db
from pbflow.models import Organization, Person, TrainingRecord, User
from pbflow.procedures.three_meetings.hours import MAX_MINUTES, hours_text, parse_hours
from pbflow.services import notifications
from pbflow.services.reminders import remind_once

THRESHOLD_HOURS = 32  # DOMAIN.md 3's default
SETTINGS_KEY = "three_meetings"
SETTING = "training_hours"
MAX_THRESHOLD_HOURS = 200
BRANCH_KINDS = ("branch", "general_branch")  # the organizations that count their members
MEMBER_STATUSES = ("full", "probationary")
RECORDER_ROLES = ("secretary", "deputy_secretary", "organizing_member", "branch_committee")
SETTER_ROLES = ("admin", "committee")
REMIND_FROM_MONTH = 10  # the fourth quarter, as the secretary's lecture
REMIND_ROLES = ("secretary", "deputy_secretary")
PAGE_SIZE = 50
SHOWS = ("all", "below", "reached")


# --- the branch, its members and its threshold ------------------------------------------


def branch_node(org_id: int) -> actors.OrgNode | None:
    node = actors.org_index().get(org_id)
    return node if node is not None and node.kind in BRANCH_KINDS else None


def member_orgs(org_id: int) -> list[int]:
    """The organizations whose members the branch counts: itself and its party groups."""
    index = actors.org_index()
    return [org_id] + sorted(
        n.id for n in index.values() if n.parent_id == org_id and n.kind == "party_group"
    )


def branch_of(org_id: int) -> int | None:
    """The branch that counts the members of an organization (a party group's is above)."""
    node = actors.org_index().get(org_id)
    if node is not None and node.kind == "party_group" and node.parent_id is not None:
        node = actors.org_index().get(node.parent_id)
    return node.id if node is not None and node.kind in BRANCH_KINDS else None


def readable(user: User, org_id: int) -> bool:
    """A branch whose training the user may read (its readers and those above)."""
    return branch_node(org_id) is not None and actors.can_read_org(user, org_id)


def may_record(user: User, org_id: int) -> bool:
    """The branch's secretary, deputy, organizer or committee member: those who write its
    meeting records (pbflow.procedures.three_meetings.services.RECORDER_ROLES)."""
    return branch_node(org_id) is not None and any(
        actors.has_role(user.id, role, [org_id]) for role in RECORDER_ROLES
    )


def _own(settings: dict[int, Any], org_id: int) -> int | None:
    """An organization's own setting in minutes, or None (none, or not a valid one)."""
    own = settings.get(org_id) or {}
    value = (own.get(SETTINGS_KEY) or {}).get(SETTING) if isinstance(own, dict) else None
    if isinstance(value, int | float) and 0 < value <= MAX_THRESHOLD_HOURS:
        return int(round(value * 60))
    return None


def _threshold(org_id: int, settings: dict[int, Any]) -> int:
    """The threshold (minutes) at an organization: the highest setting at or above it. The
    top organization's own setting takes the place of DOMAIN.md's 32 hours (the party
    committee answers for its members' training); below it, a setting can only raise what
    applies from above, never lower it (a general branch cannot set half an hour under a
    committee that requires 40)."""
    path = actors.org_index()[org_id].ancestor_ids()
    top = _own(settings, path[0])
    found = [top if top is not None else THRESHOLD_HOURS * 60]
    found += [m for m in (_own(settings, aid) for aid in path[1:]) if m is not None]
    return max(found)


def owed_minutes(threshold: int, admitted_on: date | None, year: int) -> int:
    """What a member owes in ``year``: the threshold, or its share of the months left from
    the month of admission (rounded up to the half hour) for one admitted that year."""
    if admitted_on is None or admitted_on.year < year:
        return threshold
    if admitted_on.year > year:
        return 0
    months = 13 - admitted_on.month
    return int(math.ceil(threshold * months / 12 / 30) * 30)


@dataclass
class MemberHours:
    person_id: int
    name: str
    org_id: int
    party_status: str
    admitted_on: date | None
    meetings: int  # minutes
    other: int
    owed: int

    @property
    def total(self) -> int:
        return self.meetings + self.other

    @property
    def reached(self) -> bool:
        return self.total >= self.owed

    @property
    def missing(self) -> int:
        return max(0, self.owed - self.total)


def _statement(org_ids: list[int], year: int, person_id: int | None) -> tuple[str, list[Any]]:
    """The members of these organizations who owe the year's training (active, full or
    probationary) with their minutes of meetings and of other training, and the settings of
    the organizations at and above them. The year's minutes are summed once for the members
    asked for (grouped, then joined): a subquery per member read each one's attendance, 0.8 s
    on SQLite and 5 s on PostgreSQL for a committee of 24,000 people. The attendance is read
    from the year's study meetings, not from the members (SQLite keeps a CROSS JOIN's order:
    it read every member's attendance; see ``_study_attendance``)."""
    f = fastsql.flavour()
    p = f.placeholder
    first, last = f.day(date(year, 1, 1)), f.day(date(year, 12, 31))
    orgs, org_params = fastsql.any_of("p.org_id", sorted(set(org_ids)), f)
    one = f" AND p.id = {p}" if person_id is not None else ""
    one_params = [person_id] if person_id is not None else []
    members = f"SELECT p.id FROM person p WHERE {orgs}{one}"
    above, above_params = _settings_part(org_ids, f)
    attended, attended_params = _study_attendance(f, first, last)
    sql = (
        "SELECT p.id, p.name, p.org_id, p.party_status, p.admitted_on, met.minutes,"
        " other.minutes, NULL FROM person p"
        f" LEFT JOIN (SELECT a.person_id, SUM(m.training_minutes) AS minutes{attended}"
        f"  AND a.present = {p} AND a.person_id IN ({members})"
        "  GROUP BY a.person_id) met ON met.person_id = p.id"
        " LEFT JOIN (SELECT t.person_id, SUM(t.minutes) AS minutes FROM training_record t"
        f"  WHERE t.taken_on >= {p} AND t.taken_on <= {p} AND t.person_id IN ({members})"
        "  GROUP BY t.person_id) other ON other.person_id = p.id"
        f" WHERE {orgs} AND p.active = {p} AND p.party_status IN ({p}, {p}){one}"
        f" UNION ALL {above}"
    )
    params = [
        *attended_params,
        True,
        *org_params,
        *one_params,
        first,
        last,
        *org_params,
        *one_params,
        *org_params,
        True,
        *MEMBER_STATUSES,
        *one_params,
        *above_params,
    ]
    return sql, params


def _study_attendance(f: Any, first: Any, last: Any) -> tuple[str, list[Any]]:
    """``FROM ... WHERE ...`` of the attendance rows of the year's study meetings (``a`` the
    attendance, ``m`` the meeting), read from the meetings: SQLite keeps a CROSS JOIN's
    order; PostgreSQL is given the meetings' ids as an array, which it looks up in the
    attendance's index (it hashed all of the attendance against them: 15 ms at 150,000
    rows)."""
    p = f.placeholder
    year = f"m.training_minutes IS NOT NULL AND m.held_on >= {p} AND m.held_on <= {p}"
    if p == "?":
        return (
            f" FROM meeting m CROSS JOIN meeting_attendance a WHERE a.meeting_id = m.id AND {year}",
            [first, last],
        )
    ids = year.replace("m.", "s.")
    return (
        " FROM meeting m JOIN meeting_attendance a ON a.meeting_id = m.id"
        f" WHERE a.meeting_id = ANY(ARRAY(SELECT s.id FROM meeting s WHERE {ids})) AND {year}",
        [first, last, first, last],
    )


def _settings_part(org_ids: list[int], f: Any) -> tuple[str, list[Any]]:
    """The settings of the organizations at and above these, as rows of eight columns (the
    id first, the settings last) to follow the members' in a UNION ALL."""
    index = actors.org_index()
    ancestors = sorted({a for oid in org_ids if oid in index for a in index[oid].ancestors})
    above, above_params = fastsql.any_of("o.id", ancestors, f)
    return (
        "SELECT o.id, NULL, NULL, NULL, NULL, NULL, NULL, CAST(o.settings AS TEXT)"
        f" FROM organization o WHERE {above}",
        above_params,
    )


def _counts_statement(org_ids: list[int], year: int) -> tuple[str, list[Any]]:
    """For a figure, no row per member: per (organization, day of admission when on or after
    the year's first, ``NULL`` otherwise) how many members owe the year's training (from the
    index of an organization's members alone), then per (organization, day of admission,
    minutes) how many of those with any training that year have that many (read from the
    year's study meetings and training records, whatever the number of members); then the
    settings. Three parts told apart by the second column (0, 1, NULL)."""
    f = fastsql.flavour()
    p = f.placeholder
    first, last = f.day(date(year, 1, 1)), f.day(date(year, 12, 31))
    orgs, org_params = fastsql.any_of("p.org_id", sorted(set(org_ids)), f)
    admitted = f"CASE WHEN p.admitted_on >= {p} THEN p.admitted_on END"
    members = f"{orgs} AND p.active = {p} AND p.party_status IN ({p}, {p})"
    member_params = [*org_params, True, *MEMBER_STATUSES]
    above, above_params = _settings_part(org_ids, f)
    attended, attended_params = _study_attendance(f, first, last)
    sql = (
        f"SELECT p.org_id, 0, {admitted}, 0, COUNT(*), NULL, NULL, NULL FROM person p"
        f" WHERE {members} GROUP BY 1, 3"
        f" UNION ALL SELECT p.org_id, 1, {admitted}, x.minutes, COUNT(*), NULL, NULL, NULL"
        " FROM (SELECT y.person_id, SUM(y.minutes) AS minutes FROM ("
        f"  SELECT a.person_id, m.training_minutes AS minutes{attended}"
        f"  AND a.present = {p}"
        "  UNION ALL SELECT t.person_id, t.minutes FROM training_record t"
        f"  WHERE t.taken_on >= {p} AND t.taken_on <= {p}"
        " ) y GROUP BY y.person_id) x CROSS JOIN person p"
        f" WHERE p.id = x.person_id AND {members} GROUP BY 1, 3, 4"
        f" UNION ALL {above}"
    )
    params = [
        first,
        *member_params,
        first,
        *attended_params,
        True,
        first,
        last,
        *member_params,
        *above_params,
    ]
    return sql, params


def _read(
    org_ids: list[int], year: int, person_id: int | None = None
) -> tuple[list[MemberHours], dict[int, Any]]:
    """The members of these organizations who owe the year's training, with their hours of
    meetings and of other training, and the settings of the organizations at and above them:
    one statement whatever the number of members, meetings and records (a figure read). The
    members' ``owed`` is filled by the caller, who knows each one's branch."""
    if not org_ids:
        return [], {}
    rows = fastsql.read(*_statement(org_ids, year, person_id))
    members, settings = [], {}
    day = fastsql.flavour().read_day
    for pid, name, org_id, status, admitted, met, other, raw in rows:
        if name is None:
            settings[pid] = json.loads(raw) if raw else {}
            continue
        members.append(
            MemberHours(pid, name, org_id, status, day(admitted), int(met or 0), int(other or 0), 0)
        )
    return members, settings


def _owing(members: list[MemberHours], settings: dict[int, Any], year: int) -> list[MemberHours]:
    """The members who owe training in ``year`` (admitted by then), their ``owed`` set from
    their branch's threshold."""
    thresholds: dict[int, int] = {}
    result = []
    for m in members:
        branch = branch_of(m.org_id) or m.org_id
        if branch not in thresholds:
            thresholds[branch] = _threshold(branch, settings)
        m.owed = owed_minutes(thresholds[branch], m.admitted_on, year)
        if m.owed > 0:
            result.append(m)
    return result


# --- the figure -------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingFigure:
    """A branch's year: how many members owe the training, how many reached what they owe,
    and the branch's threshold in hours."""

    owed: int
    reached: int
    threshold_hours: float

    @property
    def below(self) -> int:
        return self.owed - self.reached


def training_hours(org_ids: list[int], year: int) -> dict[int, TrainingFigure]:
    """Per branch (other kinds of organization are left out), the members who owe the
    year's training and those who reached it: one statement whatever the number of branches
    and members, its rows per organization and total of minutes rather than per member
    (a committee's 24,000 people). No rights are checked: the caller has."""
    branches = [oid for oid in sorted(set(org_ids)) if branch_node(oid) is not None]
    if not branches:
        return {}
    orgs = [o for b in branches for o in member_orgs(b)]
    rows = fastsql.read(*_counts_statement(orgs, year))
    day = fastsql.flavour().read_day
    settings: dict[int, Any] = {}
    owing, trained = [], []
    for org_id, part, admitted, minutes, n, _n2, _n3, raw in rows:
        if part is None:  # an organization's settings
            settings[org_id] = json.loads(raw) if raw else {}
        else:
            (trained if part else owing).append((org_id, day(admitted), int(minutes), int(n)))
    thresholds = {b: _threshold(b, settings) for b in branches}
    counts = {b: [0, 0] for b in branches}
    for i, found in enumerate((owing, trained)):
        for org_id, admitted, minutes, n in found:
            branch = branch_of(org_id)
            if branch not in counts:
                continue
            owed = owed_minutes(thresholds[branch], admitted, year)
            if owed > 0 and (i == 0 or minutes >= owed):
                counts[branch][i] += n
    return {
        b: TrainingFigure(owed, reached, thresholds[b] / 60)
        for b, (owed, reached) in counts.items()
    }


# --- the year of a branch ---------------------------------------------------------------


@dataclass
class TrainingYear:
    org: Organization
    year: int
    threshold: int  # minutes
    rows: list[MemberHours]  # this page's
    owed: int  # members who owe it
    reached: int
    show: str
    page: int
    pages: int
    may_record: bool


def year_page(
    actor: User, org_id: int, year: int, *, page: int = 1, show: str = "all"
) -> TrainingYear:
    """A branch's members who owe the year's training, with their hours, a page at a time
    (all, those still below, or those who reached it); three statements whatever the size of
    the branch."""
    node = branch_node(org_id)
    if node is None or not actors.can_read_org(actor, org_id):
        raise NotFound(_("No such organization."))
    org = db.session.get(Organization, org_id)
    members, settings = _read(member_orgs(org_id), year)
    owing = sorted(_owing(members, settings, year), key=lambda m: (m.name, m.person_id))
    reached = sum(1 for m in owing if m.reached)
    show = show if show in SHOWS else "all"
    chosen = [m for m in owing if show == "all" or (m.reached == (show == "reached"))]
    pages = max(1, -(-len(chosen) // PAGE_SIZE))
    page = min(max(1, page), pages)
    return TrainingYear(
        org=org,
        year=year,
        threshold=_threshold(org_id, settings),
        rows=chosen[(page - 1) * PAGE_SIZE : page * PAGE_SIZE],
        owed=len(owing),
        reached=reached,
        show=show,
        page=page,
        pages=pages,
        may_record=may_record(actor, org_id),
    )


# --- a member's year ----------------------------------------------------------------------


@dataclass
class PersonYear:
    person: Person
    year: int
    hours: MemberHours | None  # None: the member owes no training that year
    meetings: list[tuple[Any, str]]  # (meeting, organization's name) that credited hours
    records: list[TrainingRecord]
    branch_id: int | None
    may_record: bool = False
    closed: str | None = None  # why the year's records can no longer change, if so


def _person_year(person: Person, year: int) -> PersonYear:
    from pbflow.models import Meeting, MeetingAttendance

    first, last = date(year, 1, 1), date(year, 12, 31)
    branch = branch_of(person.org_id)
    members, settings = _read([person.org_id], year, person_id=person.id)
    owing = _owing(members, settings, year)
    meetings = db.session.execute(
        select(Meeting)
        .join(MeetingAttendance, MeetingAttendance.meeting_id == Meeting.id)
        .where(
            MeetingAttendance.person_id == person.id,
            MeetingAttendance.present,
            Meeting.training_minutes.is_not(None),
            Meeting.held_on >= first,
            Meeting.held_on <= last,
        )
        .order_by(Meeting.held_on.desc(), Meeting.id.desc())
    ).scalars()
    records = db.session.execute(
        select(TrainingRecord)
        .where(
            TrainingRecord.person_id == person.id,
            TrainingRecord.taken_on >= first,
            TrainingRecord.taken_on <= last,
        )
        .order_by(TrainingRecord.taken_on.desc(), TrainingRecord.id.desc())
    ).scalars()
    index = actors.org_index()
    return PersonYear(
        person=person,
        year=year,
        hours=owing[0] if owing else None,
        meetings=[(m, index[m.org_id].display_name()) for m in meetings],
        records=list(records),
        branch_id=branch,
        closed=_closed(first),
    )


def my_year(user: User, year: int) -> PersonYear | None:
    """A member's own year of training (None for an account without a member profile)."""
    person = db.session.execute(select(Person).where(Person.user_id == user.id)).scalar()
    if person is None:
        return None
    return _person_year(person, year)


def member_year(actor: User, org_id: int, person_id: int, year: int) -> PersonYear:
    """One member's year as their branch reads it (its readers; its recorders may change the
    other training there)."""
    if branch_node(org_id) is None or not actors.can_read_org(actor, org_id):
        raise NotFound(_("No such organization."))
    person = db.session.get(Person, person_id)
    if person is None or branch_of(person.org_id) != org_id:
        raise NotFound(_("No such member in this branch."))
    result = _person_year(person, year)
    result.may_record = may_record(actor, org_id)
    return result


# --- other training: entering, correcting, deleting ------------------------------------


@dataclass
class TrainingInput:
    """What a person typed into the other-training form (strings as received)."""

    person: str = ""
    taken_on: str = ""
    course: str = ""
    provider: str = ""
    hours: str = ""
    note: str = ""


def members_to_choose(org_id: int) -> list[Person]:
    """The members a branch enters training for: its full and probationary members."""
    return list(
        db.session.execute(
            select(Person)
            .where(
                fastsql.among(Person.org_id, member_orgs(org_id)),
                Person.active,
                Person.party_status.in_(MEMBER_STATUSES),
            )
            .order_by(Person.name, Person.id)
        ).scalars()
    )


def _require_record(actor: User, org_id: int) -> None:
    if not may_record(actor, org_id):
        raise NotAllowed(
            _("Only the secretary or a committee member of this branch records its training.")
        )


def closed_since(year: int) -> date:
    """The day a year's training closes: a month after it ends (entries of December reach the
    branch in January), then its figures are what the branch reported."""
    return date(year + 1, 1, 31)


def _closed(day: date) -> str | None:
    """Why a record of ``day`` cannot be entered, changed or deleted any more, or None."""
    if clock.today() > closed_since(day.year):
        return _(
            "the year %(year)s is closed since %(day)s",
            year=day.year,
            day=closed_since(day.year).isoformat(),
        )
    return None


def _day_problems(
    person_id: int, day: date, course: str, minutes: int, record_id: int | None
) -> dict[str, str]:
    """A member's records of one day: the same course once, and at most 24 hours with the
    study meetings they attended that day (a day's training cannot exceed the day)."""
    from pbflow.models import Meeting, MeetingAttendance

    others = db.session.execute(
        select(TrainingRecord.course, TrainingRecord.minutes).where(
            TrainingRecord.person_id == person_id,
            TrainingRecord.taken_on == day,
            TrainingRecord.id != (record_id or 0),
        )
    ).all()
    met = db.session.execute(
        select(func.coalesce(func.sum(Meeting.training_minutes), 0))
        .join(MeetingAttendance, MeetingAttendance.meeting_id == Meeting.id)
        .where(
            MeetingAttendance.person_id == person_id,
            MeetingAttendance.present,
            Meeting.held_on == day,
            Meeting.training_minutes.is_not(None),
        )
    ).scalar()
    errors = {}
    if any(c.strip().casefold() == course.casefold() for c, _m in others):
        errors["course"] = _("is already recorded for this member on this day")
    total = int(met or 0) + sum(m for _c, m in others)
    if total + minutes > MAX_MINUTES:
        errors["hours"] = _(
            "would make this member's training on %(day)s more than 24 hours "
            "(%(hours)s hours are recorded already)",
            day=day.isoformat(),
            hours=hours_text(total),
        )
    return errors


def _clean(
    org_id: int, data: TrainingInput, record: TrainingRecord | None = None
) -> dict[str, Any]:
    """Checked values, or a ValidationFailed naming every field to correct. ``record``: the
    record being corrected, whose member is accepted even if they have left the branch."""
    errors: dict[str, str] = {}
    person_id = validation.parse_id((data.person or "").strip())
    keep = record.person_id if record is not None else None
    allowed = {p.id for p in members_to_choose(org_id)} | ({keep} if keep else set())
    if not (data.person or "").strip():
        errors["person"] = _("is required")
    elif person_id is None or person_id not in allowed:
        errors["person"] = _("is not a member of this branch")
    taken_on = None
    try:
        taken_on = parse_date(data.taken_on)
        if taken_on > clock.today():
            errors["taken_on"] = _("cannot lie in the future")
        elif _closed(taken_on):
            errors["taken_on"] = _closed(taken_on)
    except ValueError:
        errors["taken_on"] = _("must be a date like 2026-03-01")
    course = (data.course or "").strip()
    if not course:
        errors["course"] = _("is required")
    for name, limit in (("course", 200), ("provider", 200), ("note", 2000)):
        problem = validation.text_problem((getattr(data, name) or "").strip(), limit)
        if problem and name not in errors:
            errors[name] = problem
    minutes, problem = parse_hours(data.hours)
    if problem:
        errors["hours"] = problem
    elif minutes is None:
        errors["hours"] = _("is required")
    if not errors:
        record_id = record.id if record is not None else None
        errors = _day_problems(person_id, taken_on, course, minutes, record_id)
    if errors:
        raise ValidationFailed(_("Some fields need correcting."), field_errors=errors)
    return {
        "person_id": person_id,
        "taken_on": taken_on,
        "course": course,
        "provider": (data.provider or "").strip() or None,
        "minutes": minutes,
        "note": (data.note or "").strip() or None,
    }


def snapshot(record: TrainingRecord) -> dict[str, Any]:
    return {
        "person_id": record.person_id,
        "taken_on": record.taken_on.isoformat(),
        "course": record.course,
        "provider": record.provider,
        "minutes": record.minutes,
        "note": record.note,
    }


def record_training(actor: User, org_id: int, data: TrainingInput) -> TrainingRecord:
    """Enter a member's training outside the meetings, with its audit event (one
    transaction)."""
    try:
        _require_record(actor, org_id)
        values = _clean(org_id, data)
        now = clock.now()
        record = TrainingRecord(
            org_id=org_id, recorded_by=actor.id, created_at=now, updated_at=now, **values
        )
        db.session.add(record)
        db.session.flush()
        audit.record(
            "training_recorded",
            actor=actor,
            org_id=org_id,
            payload={"training_id": record.id, **snapshot(record)},
        )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return record


def record_branch(record: TrainingRecord) -> int:
    """The branch that answers for a record now: the member's branch today (the hours follow
    the person), not the one that entered it; that one only if the member is in none."""
    return branch_of(record.person.org_id) or record.org_id


def _load(actor: User, record_id: int, expected_version: int | None) -> TrainingRecord:
    record = get_record(actor, record_id)
    if expected_version is None or expected_version != record.version:
        raise ConcurrentChange(
            _("This record changed since you opened it; please reload it and try again.")
        )
    return record


def edit_training(
    actor: User, record_id: int, data: TrainingInput, *, expected_version: int | None
) -> TrainingRecord:
    """Correct a training record: the values before and after go into its audit event."""
    try:
        record = _load(actor, record_id, expected_version)
        closed = _closed(record.taken_on)
        if closed:
            raise ValidationFailed(
                _("This record cannot be changed: %(reason)s.", reason=closed),
                field_errors={"taken_on": closed},
            )
        branch = record_branch(record)
        values = _clean(branch, data, record)
        before = snapshot(record)
        for key, value in values.items():
            setattr(record, key, value)
        after = snapshot(record)
        changed = sorted(k for k in after if after[k] != before[k])
        if not changed:
            raise ValidationFailed(_("Nothing was changed."))
        record.version += 1
        record.updated_at = clock.now()
        audit.record(
            "training_edited",
            actor=actor,
            org_id=branch,
            payload={
                "training_id": record.id,
                "before": {k: before[k] for k in changed},
                "after": {k: after[k] for k in changed},
            },
        )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return record


def delete_training(actor: User, record_id: int, *, expected_version: int | None) -> int:
    """Delete a training record entered by mistake; its audit event keeps what it said.
    Returns the member's id."""
    try:
        record = _load(actor, record_id, expected_version)
        closed = _closed(record.taken_on)
        if closed:
            raise ValidationFailed(_("This record cannot be deleted: %(reason)s.", reason=closed))
        kept = {"training_id": record.id, **snapshot(record)}
        person_id, org_id = record.person_id, record_branch(record)
        db.session.delete(record)
        audit.record("training_deleted", actor=actor, org_id=org_id, payload=kept)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return person_id


def get_record(actor: User, record_id: int) -> TrainingRecord:
    """A record for its correction form: those who may change it only, the recorders of the
    member's branch now (a member who moved is the new branch's to correct)."""
    record = db.session.get(TrainingRecord, record_id)
    if record is None:
        raise NotFound(_("No such training record."))
    branch = record_branch(record)
    if not actors.can_read_org(actor, branch):
        raise NotFound(_("No such training record."))
    _require_record(actor, branch)
    return record


@dataclass(frozen=True)
class Threshold:
    """What an organization's members owe a year: in force (minutes), its own setting
    (hours, or None) and what applies from above it (minutes, None for the top)."""

    minutes: int
    own: float | None
    above: int | None


def threshold_at(org_id: int) -> Threshold:
    """The yearly hours in force at an organization and where they come from."""
    index = actors.org_index()
    if org_id not in index:
        raise NotFound(_("No such organization."))
    path = index[org_id].ancestor_ids()
    rows = db.session.execute(
        select(Organization.id, Organization.settings).where(Organization.id.in_(path))
    ).all()
    settings = {oid: raw or {} for oid, raw in rows}
    own = _own(settings, org_id)
    above = _threshold(path[-2], settings) if len(path) > 1 else None
    return Threshold(_threshold(org_id, settings), own / 60 if own is not None else None, above)


def set_threshold(actor: User, org_id: int, hours: str | float | None) -> Threshold:
    """Set the yearly hours an organization's members owe (for it and those below it), or
    with None go back to what applies above; an administrator or the party committee at or
    above it, with its audit event. Below the top organization a setting must raise what
    applies from above (``_threshold``); a change that changes nothing is refused (no event
    for nothing). Returns what is in force after."""
    try:
        index = actors.org_index()
        if org_id not in index:
            raise NotFound(_("No such organization."))
        if not any(
            actors.has_role(actor.id, r, index[org_id].ancestor_ids()) for r in SETTER_ROLES
        ):
            raise NotAllowed(_("Only an administrator or the party committee sets requirements."))
        value: float | None = None
        if hours is not None:
            value = _year_hours(str(hours))
            if value is None:
                problem = _(
                    "must be a number of hours from 0.5 to %(n)s, in steps of half an hour",
                    n=MAX_THRESHOLD_HOURS,
                )
                raise ValidationFailed(
                    _(
                        "The yearly training hours must be a number of hours from 0.5 to "
                        "%(n)s, in steps of half an hour.",
                        n=MAX_THRESHOLD_HOURS,
                    ),
                    field_errors={"hours": problem},
                )
        now = threshold_at(org_id)
        if value == now.own:
            raise ValidationFailed(
                _("Nothing was changed: %(hours)s hours are already set here.", hours=value)
                if value is not None
                else _("Nothing was changed: no yearly training hours are set here.")
            )
        if value is not None and now.above is not None and value * 60 <= now.above:
            raise ValidationFailed(
                _(
                    "%(hours)s hours would not raise the %(above)s hours that apply from above: "
                    "an organization below the top may only require more.",
                    hours=value,
                    above=hours_text(now.above),
                ),
                field_errors={"hours": _("must be more than %(n)s", n=hours_text(now.above))},
            )
        org = db.session.get(Organization, org_id)
        settings = {
            k: dict(v) if isinstance(v, dict) else v for k, v in (org.settings or {}).items()
        }
        own = dict(settings.get(SETTINGS_KEY) or {})
        before = own.get(SETTING)
        if value is None:
            own.pop(SETTING, None)
        else:
            own[SETTING] = value
        settings[SETTINGS_KEY] = own
        org.settings = settings  # a new dict: JSON columns are not tracked in place
        audit.record(
            "training_threshold_set",
            actor=actor,
            org_id=org_id,
            payload={"before": before, "after": value},
        )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return threshold_at(org_id)


YEAR_HOURS = re.compile(r"[0-9]{1,3}(?:[.,][0-9]{1,2})?", re.ASCII)


def _year_hours(raw: str) -> float | None:
    """A year's threshold in hours (half hours, 0.5 to MAX_THRESHOLD_HOURS), or None; typed
    as the hours of a record (``hours.HOURS_PATTERN``), with up to three digits."""
    text = raw.strip()
    if not YEAR_HOURS.fullmatch(text):
        return None
    value = float(text.replace(",", "."))
    if not (0 < value <= MAX_THRESHOLD_HOURS) or (value * 2) % 1:
        return None
    return int(value) if value == int(value) else value


# --- the reminder -----------------------------------------------------------------------


@dataclass
class TrainingReport:
    sent: list[int] = field(default_factory=list)
    failed: list[tuple[int | None, str]] = field(default_factory=list)  # None: every branch

    def summary(self) -> str:
        return f"training hours: reminded {len(self.sent)}"


def tick(now: datetime | None = None) -> TrainingReport:
    """From the fourth quarter, tell each branch's secretaries once a year how many of its
    members are still below the year's training hours (none below: no reminder)."""
    report = TrainingReport()
    now = now or clock.now()
    today = clock.to_local(now).date()
    if today.month < REMIND_FROM_MONTH:
        return report
    branches = [n for n in actors.org_index().values() if n.kind in BRANCH_KINDS and n.active]
    try:
        figures = training_hours([n.id for n in branches], today.year)
    except Exception as exc:  # noqa: BLE001 - the other procedures' ticks go on
        db.session.rollback()
        report.failed.append((None, f"the year's training hours could not be read: {exc}"))
        return report
    for node in sorted(branches, key=lambda n: n.path):
        fig = figures.get(node.id)
        users = {u for role in REMIND_ROLES for u in actors.users_with_role(role, [node.id])}
        if fig is None or fig.below == 0 or not users:
            continue
        try:
            sent = remind_once(
                f"th:{node.id}:{today.year}",
                org_id=node.id,
                users=users,
                kind="training_hours_due",
                params={
                    "org_id": node.id,
                    "year": today.year,
                    "below": fig.below,
                    "hours": hours_text(int(fig.threshold_hours * 60)),
                },
                payload={"kind": "training_hours", "year": today.year, "below": fig.below},
                now=now,
            )
        except Exception as exc:  # noqa: BLE001 - one branch must not hold back the others
            report.failed.append((node.id, str(exc)))
            continue
        if sent is not None:
            report.sent.append(node.id)
    return report


def _training_due(p) -> str:
    return ngettext(
        "%(org)s: %(num)s member is still below %(hours)s hours of training this year (%(year)s).",
        "%(org)s: %(num)s members are still below %(hours)s hours of training this year "
        "(%(year)s).",
        int(p.get("below") or 0),
        org=notifications.org_name(p.get("org_id")),
        hours=p.get("hours", THRESHOLD_HOURS),
        year=p.get("year", ""),
    )


NOTICES = {"training_hours_due": _training_due}
