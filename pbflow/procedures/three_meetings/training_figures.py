"""Members' training hours as read (DOMAIN.md 3, ``training``'s rules): each member's hours
of a year from the study meetings they attended and their other training, the supervision's
figure per branch (``figure("training_hours")``), a branch's year page, a member's year.
No writes here: entering, correcting and deleting records, and the threshold, are
``training``'s; the fourth-quarter reminder is ``training_reminder``'s."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from pbflow.engine import actors, fastsql
from pbflow.engine.errors import NotFound
from pbflow.extensions import db
from pbflow.models import Meeting, MeetingAttendance, Organization, Person, TrainingRecord, User
from pbflow.procedures.three_meetings.training import (
    MEMBER_STATUSES,
    PAGE_SIZE,
    SHOWS,
    _threshold,
    branch_node,
    branch_of,
    closed_reason,
    may_record,
    member_orgs,
    owed_minutes,
)


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
    """For a figure, no row per member, in four parts told apart by the second column: 0,
    per organization how many members owe the year's training (read from the index of an
    organization's members alone); 2, per organization and day of admission how many of
    those were admitted on or after the year's first (a few, from the index of the days of
    admission: grouping every member by a day that is mostly of no interest sorted them
    all); 1, per (organization, day of admission when in the year, minutes) how many of
    those with any training that year have that many (read from the year's kept totals,
    ``training_total``: a row per member who trained, where summing the year's attendance
    read 18,000 rows for a committee); NULL, the settings."""
    f = fastsql.flavour()
    p = f.placeholder
    first = f.day(date(year, 1, 1))
    orgs, org_params = fastsql.any_of("p.org_id", sorted(set(org_ids)), f)
    admitted = f"CASE WHEN p.admitted_on >= {p} THEN p.admitted_on END"
    members = f"{orgs} AND p.active = {p} AND p.party_status IN ({p}, {p})"
    member_params = [*org_params, True, *MEMBER_STATUSES]
    above, above_params = _settings_part(org_ids, f)
    sql = (
        "SELECT p.org_id, 0, NULL, 0, COUNT(*), NULL, NULL, NULL FROM person p"
        f" WHERE {members} GROUP BY 1"
        " UNION ALL SELECT p.org_id, 2, p.admitted_on, 0, COUNT(*), NULL, NULL, NULL"
        f" FROM person p WHERE p.admitted_on >= {p} AND {members} GROUP BY 1, 3"
        f" UNION ALL SELECT p.org_id, 1, {admitted}, x.minutes, COUNT(*), NULL, NULL, NULL"
        " FROM training_total x CROSS JOIN person p"
        f" WHERE x.year = {p} AND x.minutes > 0 AND p.id = x.person_id AND {members}"
        " GROUP BY 1, 3, 4"
        f" UNION ALL {above}"
    )
    params = [
        *member_params,
        first,
        *member_params,
        first,
        year,
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
        elif part == 2:  # admitted during the year: owe a share, not the whole year's
            owing += [(org_id, day(admitted), 0, int(n)), (org_id, None, 0, -int(n))]
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
        closed=closed_reason(first),
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
