"""Recording "three meetings and one lesson" (DOMAIN.md section 3): one function per use case,
each one transaction with its audit event, each refusing with a readable reason.

Attendance is computed from the membership on the day the meeting is recorded: everyone who
should attend gets a row, present or absent with the reason, so a member's page can show the
meetings they attended and missed without guessing who belonged when.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, select, tuple_
from sqlalchemy.orm import selectinload

from pbflow import audit, clock, validation
from pbflow.engine import actors, fastsql, locks, votes
from pbflow.engine.definitions import aside, joined
from pbflow.engine.errors import ConcurrentChange, NotAllowed, NotFound, ValidationFailed
from pbflow.engine.fields import parse_date
from pbflow.extensions import db
from pbflow.models import (
    Attachment,
    Meeting,
    MeetingAttachment,
    MeetingAttendance,
    MeetingEdit,
    Organization,
    Person,
    RoleAssignment,
    User,
)
from pbflow.models.meetings import MEETING_TYPES
from pbflow.procedures.three_meetings import corrections, meeting_votes, training_day
from pbflow.procedures.three_meetings.hours import STUDY_TYPES, parse_hours
from pbflow.procedures.three_meetings.meeting_votes import VoteInput
from pbflow.services import pagination, training_totals

# Who may write a meeting record of an organization (at it, or at the branch above a group).
RECORDER_ROLES = ("secretary", "deputy_secretary", "organizing_member", "branch_committee")
COMMITTEE_ROLES = actors.BRANCH_COMMITTEE_ROLES
ATTENDING_STATUSES = ("full", "probationary")
# A record written more than this many days after the meeting is marked as written late
# (补记): written up months later, just before an inspection or an assessment, is the
# commonest way a branch's calendar is made to look kept. The record still counts; the
# reader sees when it was written.
LATE_RECORD_DAYS = 7
# Which meetings each kind of organization holds (DOMAIN.md 3).
TYPES_BY_KIND = {
    "branch": ("general_meeting", "committee_meeting", "party_lecture", "theme_day"),
    "general_branch": ("general_meeting", "committee_meeting", "party_lecture", "theme_day"),
    "party_group": ("group_meeting",),
    "committee": ("committee_meeting", "party_lecture"),
}
TYPE_LABELS = {
    "general_meeting": _l("Branch general meeting"),
    "committee_meeting": _l("Branch committee meeting"),
    "group_meeting": _l("Party group meeting"),
    "party_lecture": _l("Party lecture"),
    "theme_day": _l("Theme party day"),
}


def type_label(meeting_type: str) -> str:
    return str(TYPE_LABELS.get(meeting_type, meeting_type))


@dataclass
class MeetingInput:
    """What a person typed into the meeting form (strings as received)."""

    meeting_type: str = ""
    held_on: str = ""
    topic: str = ""
    place: str = ""
    chair: str = ""
    recorder: str = ""
    agenda: str = ""
    minutes: str = ""
    resolutions: str = ""
    training_hours: str = ""  # hours of training each member present received (study only)
    present: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)
    votes: list[VoteInput] = field(default_factory=list)


# --- rights ---------------------------------------------------------------------------------


def may_record(user: User, org_id: int) -> bool:
    node = actors.org_index().get(org_id)
    if node is None:
        return False
    scope = [org_id] + ([node.parent_id] if node.kind == "party_group" and node.parent_id else [])
    if any(actors.has_role(user.id, role, scope) for role in RECORDER_ROLES):
        return True
    return node.kind == "party_group" and actors.has_role(user.id, "group_leader", [org_id])


def _require_record(user: User, org_id: int) -> None:
    if not may_record(user, org_id):
        raise NotAllowed(
            _("Only the secretary or a committee member of this organization records meetings.")
        )


def _require_read(user: User, org_id: int) -> None:
    if not actors.can_read_org(user, org_id):
        raise NotFound(_("No such meeting."))


# --- who should attend ----------------------------------------------------------------------


def expected_attendees(org_id: int, meeting_type: str) -> list[Person]:
    """The members who should attend: the committee for a committee meeting (a committee
    role held on an active account, as whether the branch has a committee is read),
    otherwise the full and probationary members of the organization and the groups below
    it."""
    if meeting_type == "committee_meeting":
        stmt = (
            select(Person)
            .join(RoleAssignment, RoleAssignment.user_id == Person.user_id)
            .join(User, User.id == Person.user_id)
            .where(
                RoleAssignment.org_id == org_id,
                RoleAssignment.role.in_(COMMITTEE_ROLES),
                User.active,
            )
            .distinct()
        )
    else:
        node = actors.org_index()[org_id]
        stmt = (
            select(Person)
            .join(Organization, Organization.id == Person.org_id)
            .where(
                Organization.path.startswith(node.path),
                Person.party_status.in_(ATTENDING_STATUSES),
            )
        )
    stmt = stmt.where(Person.active).order_by(Person.name, Person.id)
    return list(db.session.execute(stmt).scalars())


def quorum_problem(meeting_type: str, expected: list[Person], present: set[int]) -> str | None:
    """A branch general meeting needs more than half of its voting members (full members not
    under party probation) present, a committee meeting more than half of the committee
    (DOMAIN.md 3): without that quorum it was not held, and is not recorded as held."""
    counted = meeting_votes.voting_members(meeting_type, expected)
    there = sum(1 for p in counted if p.id in present)
    if not counted or votes.more_than("half", there, len(counted)):
        return None
    if meeting_type == "general_meeting":
        return _(
            "No quorum: %(present)s of %(total)s voting members present; more than half "
            "must attend.",
            present=there,
            total=len(counted),
        )
    return _(
        "No quorum: %(present)s of %(total)s committee members present; more than half "
        "must attend.",
        present=there,
        total=len(counted),
    )


def group_leaders(org_id: int) -> list[Person]:
    """The party group's leaders: people whose active account holds the group leader's
    role at the group."""
    users = actors.users_with_role(actors.GROUP_LEADER, [org_id])
    if not users:
        return []
    return list(
        db.session.execute(
            select(Person)
            .where(Person.user_id.in_(users), Person.active)
            .order_by(Person.name, Person.id)
        ).scalars()
    )


def group_chair_problem(org_id: int, chair: int) -> str | None:
    """A party group meeting is chaired by the group leader (DOMAIN 3): the chair named,
    if any, is one of the group's leaders."""
    leaders = group_leaders(org_id)
    if any(p.id == chair for p in leaders):
        return None
    if not leaders:
        return _("a party group meeting is chaired by its group leader, and this group has none")
    return _(
        "a party group meeting is chaired by its group leader (%(names)s)",
        names=joined([p.name for p in leaders], str(get_locale() or "zh")),
    )


def absence_problems(
    expected: list[Person], present: set[int], reasons: dict[str, str], errors: dict[str, str]
) -> dict[str, str]:
    """Each meeting keeps the absences with their reason (DOMAIN 3: members ask for leave):
    every member who should attend and is not marked present needs one, which may be that
    they did not ask for leave. The problem goes under that member's row of the form."""
    return {
        f"reason_{p.id}": _(
            "give the reason for the absence (the leave asked for, or absent without leave)"
        )
        for p in expected
        if p.id not in present
        and not (reasons.get(str(p.id)) or "").strip()
        and f"reason_{p.id}" not in errors
    }


# --- parsing and checking input -------------------------------------------------------------


def _person_id(raw: str, name: str, errors: dict[str, str], allowed: set[int]) -> int | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    value = validation.parse_id(raw)
    if value is None or value not in allowed:
        errors[name] = _("must be chosen from the list")
        return None
    return value


def _clean(org_id: int, data: MeetingInput) -> tuple[dict[str, Any], list[Person], set[int]]:
    """Checked values, the people who should attend, and who was present; or a
    ValidationFailed naming every field to correct (the form is shown again as typed)."""
    errors: dict[str, str] = {}
    node = actors.org_index()[org_id]
    kinds = TYPES_BY_KIND.get(node.kind, ())
    if not (data.meeting_type or "").strip():
        errors["meeting_type"] = _("is required")
    elif data.meeting_type not in kinds:
        errors["meeting_type"] = _("is not a meeting this organization holds")
    held_on: date | None = None
    try:
        held_on = parse_date(data.held_on)
        if held_on > clock.today():
            errors["held_on"] = _("cannot lie in the future")
    except ValueError:
        errors["held_on"] = _("must be a date like 2026-03-01")
    topic = (data.topic or "").strip()
    if not topic:
        errors["topic"] = _("is required")
    elif len(topic) > 300:
        errors["topic"] = _("must be at most %(n)s characters", n=300)
    for name, limit in (("place", 200), ("agenda", 20000), ("minutes", 50000)):
        if len(getattr(data, name) or "") > limit:
            errors[name] = _("must be at most %(n)s characters", n=limit)
    if len(data.resolutions or "") > 20000:
        errors["resolutions"] = _("must be at most %(n)s characters", n=20000)
    training, problem = parse_hours(data.training_hours)
    if problem:
        errors["training_hours"] = problem
    elif training is not None and data.meeting_type not in STUDY_TYPES:
        errors["training_hours"] = _(
            "only a study meeting (general meeting, party group meeting, party lecture, theme "
            "party day) gives training hours"
        )
    expected = expected_attendees(org_id, data.meeting_type) if "meeting_type" not in errors else []
    members = {p.id for p in expected}
    everyone = set(
        db.session.execute(
            select(Person.id)
            .join(Organization, Organization.id == Person.org_id)
            .where(Organization.path.startswith(node.path), Person.active)
        ).scalars()
    )
    # Each meeting keeps its chair and its recorder (DOMAIN 3): a record naming no chair
    # let a party group meeting pass without its group leader in the chair.
    chair = _person_id(data.chair, "chair", errors, everyone)
    if chair is None and "chair" not in errors:
        errors["chair"] = _("name who chaired the meeting (or gave the lecture)")
    elif chair is not None and data.meeting_type == "group_meeting":
        problem = group_chair_problem(org_id, chair)
        if problem:
            errors["chair"] = problem
    recorder = _person_id(data.recorder, "recorder", errors, everyone)
    if recorder is None and "recorder" not in errors:
        errors["recorder"] = _("name who kept the record of the meeting")
    present: set[int] = set()
    for raw in data.present:
        person_id = validation.parse_id(raw)
        if person_id is None or person_id not in members:
            errors["present"] = _("names someone who is not expected at this meeting")
            break
        present.add(person_id)
    if expected and not present and "present" not in errors:
        errors["present"] = _("nobody is marked present")
    for key, reason in data.reasons.items():
        if len(reason or "") > 300:
            errors[f"reason_{key}"] = _("must be at most %(n)s characters", n=300)
    if "present" not in errors:
        errors.update(absence_problems(expected, present, data.reasons, errors))
    voting = meeting_votes.voting_members(data.meeting_type, expected)
    resolutions, problems = meeting_votes.parse(data.meeting_type, data.votes, len(voting))
    errors.update(problems)
    if errors:
        raise ValidationFailed(_("Some fields need correcting."), field_errors=errors)
    # Only a form with nothing else to correct is judged for its quorum (every problem of
    # the fields said at once first).
    quorum = quorum_problem(data.meeting_type, expected, present)
    if quorum is not None:
        raise ValidationFailed(quorum, field_errors={"present": quorum})
    values = {
        "meeting_type": data.meeting_type,
        "held_on": held_on,
        "topic": topic,
        "place": (data.place or "").strip() or None,
        "chair_person_id": chair,
        "recorder_person_id": recorder,
        "agenda": (data.agenda or "").strip() or None,
        "minutes": (data.minutes or "").strip(),
        "resolutions": (data.resolutions or "").strip() or None,
        "votes": resolutions or None,
        "training_minutes": training,
    }
    return values, expected, present


def _check_days(values: dict[str, Any], present: set[int], meeting: Meeting | None = None) -> None:
    """Refuse a study meeting that would take a member present over 24 hours of training
    that day (``training_day``), counting only the members whose day it adds to: all those
    present for a new record; for a correction, those newly present, or all present when
    the hours were raised or the day moved (a correction that gives nobody more is never
    refused). The members are held until the transaction ends."""
    minutes, day = values["training_minutes"], values["held_on"]
    adds = set(present)
    if (
        meeting is not None
        and meeting.held_on == day
        and (minutes or 0) <= (meeting.training_minutes or 0)
    ):
        adds -= {a.person_id for a in meeting.attendance if a.present}
    problem = training_day.meeting_problem(
        day, minutes, adds, meeting_id=meeting.id if meeting is not None else None
    )
    if problem is not None:
        raise ValidationFailed(
            _(
                "This meeting %(problem)s: a member's training of one day is at most 24 hours.",
                problem=problem,
            ),
            field_errors={"training_hours": problem},
        )


def _attendance_rows(expected: list[Person], present: set[int], reasons: dict[str, str]):
    return [
        MeetingAttendance(
            person_id=p.id,
            present=p.id in present,
            reason=None if p.id in present else ((reasons.get(str(p.id)) or "").strip() or None),
        )
        for p in expected
    ]


def snapshot(meeting: Meeting) -> dict[str, Any]:
    """A meeting as plain JSON-able data, for the audit payload and the edit history."""
    return {
        "meeting_type": meeting.meeting_type,
        "held_on": meeting.held_on.isoformat(),
        "topic": meeting.topic,
        "place": meeting.place,
        "chair": meeting.chair_person_id,
        "recorder": meeting.recorder_person_id,
        "agenda": meeting.agenda,
        "minutes": meeting.minutes,
        "resolutions": meeting.resolutions,
        "votes": meeting.votes,
        "training_minutes": meeting.training_minutes,
        "present": sorted(a.person_id for a in meeting.attendance if a.present),
        "absent": {str(a.person_id): a.reason or "" for a in meeting.attendance if not a.present},
    }


def _attach(actor: User, meeting: Meeting, uploads: list[Any]) -> list[int]:
    from pbflow.services import attachments

    ids = []
    for upload in uploads:
        att = attachments.store(
            actor,
            upload,
            org_id=meeting.org_id,
            instance_id=None,
            purpose="meeting",
            owner="meeting",
        )
        db.session.add(MeetingAttachment(meeting_id=meeting.id, attachment_id=att.id))
        ids.append(att.id)
    return ids


# --- use cases ------------------------------------------------------------------------------


def record_meeting(
    actor: User, org_id: int, data: MeetingInput, uploads: list[Any] = ()
) -> Meeting:
    """Write down a meeting that was held, with its attendance and files (one transaction)."""
    try:
        _require_record(actor, org_id)
        values, expected, present = _clean(org_id, data)
        _check_days(values, present)
        now = clock.now()
        meeting = Meeting(
            org_id=org_id, recorded_by=actor.id, created_at=now, updated_at=now, **values
        )
        meeting.attendance = _attendance_rows(expected, present, data.reasons)
        db.session.add(meeting)
        db.session.flush()
        files = _attach(actor, meeting, list(uploads))
        recorded = snapshot(meeting)
        training_totals.change({}, training_totals.of_meeting(recorded))
        audit.record(
            "meeting_recorded",
            actor=actor,
            org_id=org_id,
            payload={"meeting_id": meeting.id, **recorded, "attachments": files},
        )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return meeting


def edit_meeting(
    actor: User,
    meeting_id: int,
    data: MeetingInput,
    *,
    reason: str,
    expected_version: int | None = None,
    uploads: list[Any] = (),
) -> Meeting:
    """Correct a meeting record after the fact: the reason is required, the before and after
    values are kept in the edit history and the audit trail."""
    try:
        # Who may correct it is asked first, of a plain read: whoever may not read the
        # record is told it does not exist, and whoever may not correct it takes no lock.
        org_id = db.session.execute(select(Meeting.org_id).where(Meeting.id == meeting_id)).scalar()
        if org_id is None:
            raise NotFound(_("No such meeting."))
        _require_read(actor, org_id)
        _require_record(actor, org_id)
        # Then the row held, and read as it is now: its version is compared under the lock.
        locks.hold_record(Meeting.__table__, meeting_id)
        meeting = db.session.get(Meeting, meeting_id, populate_existing=True)
        if meeting is None:
            raise NotFound(_("No such meeting."))
        if expected_version is not None and expected_version != meeting.version:
            raise ConcurrentChange(
                _("This record changed since you opened it; please reload it and try again.")
            )
        reason = (reason or "").strip()
        problems = {}
        if not reason:
            problems["reason"] = _("is required")
        elif len(reason) > 2000:
            problems["reason"] = _("must be at most %(n)s characters", n=2000)
        try:
            values, expected, present = _clean(meeting.org_id, data)
        except ValidationFailed as exc:
            raise ValidationFailed(
                exc.message, field_errors={**exc.field_errors, **problems}
            ) from None
        if problems:
            raise ValidationFailed(_("Some fields need correcting."), field_errors=problems)
        _check_days(values, present, meeting)
        before = snapshot(meeting)
        for key, value in values.items():
            setattr(meeting, key, value)
        old = {a.person_id: a for a in meeting.attendance}
        rows = []
        for new in _attendance_rows(expected, present, data.reasons):
            row = old.get(new.person_id)
            if row is None:
                rows.append(new)
            else:
                row.present, row.reason = new.present, new.reason
                rows.append(row)
        meeting.attendance = rows
        files = _attach(actor, meeting, list(uploads))
        after = snapshot(meeting)
        changed = sorted(k for k in after if after[k] != before[k])
        if not changed and not files:
            raise ValidationFailed(_("Nothing was changed."))
        credited = training_totals.of_meeting
        training_totals.change(credited(before), credited(after))
        old_before = {k: before[k] for k in changed}
        new_after = {k: after[k] for k in changed}
        if files:
            new_after["attachments_added"] = files
        meeting.version += 1
        meeting.updated_at = clock.now()
        db.session.add(
            MeetingEdit(
                meeting_id=meeting.id,
                edited_by=actor.id,
                edited_at=meeting.updated_at,
                reason=reason,
                before=old_before,
                after=new_after,
            )
        )
        audit.record(
            "meeting_edited",
            actor=actor,
            org_id=meeting.org_id,
            payload={
                "meeting_id": meeting.id,
                "reason": reason,
                "before": old_before,
                "after": new_after,
            },
        )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return meeting


# --- reading --------------------------------------------------------------------------------


def recorded_late(meeting: Meeting) -> int | None:
    """Days between the meeting and its record, when more than LATE_RECORD_DAYS."""
    days = (clock.to_local(meeting.created_at).date() - meeting.held_on).days
    return days if days > LATE_RECORD_DAYS else None


@dataclass
class MeetingPage:
    meeting: Meeting
    present: list[MeetingAttendance]
    absent: list[MeetingAttendance]
    files: list[Attachment]
    history: list[MeetingEdit]
    names: dict[int, str]  # everyone the record and its corrections name
    may_edit: bool
    recorded_late: int | None = None  # days after the meeting, when written late

    def attendance(self, locale: str) -> tuple[str, str]:
        """Who was present and who absent (with their reasons), as the page's language
        writes a list of names."""
        present = joined((self.names[a.person_id] for a in self.present), locale)
        absent = joined(
            (aside(self.names[a.person_id], a.reason, locale) for a in self.absent), locale
        )
        return present, absent or "—"

    def corrections(self, locale: str) -> list[corrections.Correction]:
        """The history of corrections as a person reads it (labels, names, hours)."""
        files = {f.id: f.filename for f in self.files}
        return corrections.of(self.history, self.names, files, type_label, locale)


def meeting_page(actor: User, meeting_id: int) -> MeetingPage:
    """Everything a meeting's page shows, in a fixed number of queries."""
    meeting = db.session.execute(
        select(Meeting)
        .where(Meeting.id == meeting_id)
        .options(
            selectinload(Meeting.attendance).selectinload(MeetingAttendance.person),
            selectinload(Meeting.org),
        )
    ).scalar()
    if meeting is None:
        raise NotFound(_("No such meeting."))
    _require_read(actor, meeting.org_id)
    files = list(
        db.session.execute(
            select(Attachment)
            .join(MeetingAttachment, MeetingAttachment.attachment_id == Attachment.id)
            .where(MeetingAttachment.meeting_id == meeting.id)
            .order_by(Attachment.id)
        ).scalars()
    )
    history = list(
        db.session.execute(
            select(MeetingEdit)
            .where(MeetingEdit.meeting_id == meeting.id)
            .options(selectinload(MeetingEdit.editor))
            .order_by(MeetingEdit.id.desc())
        ).scalars()
    )
    ids = {a.person_id for a in meeting.attendance}
    ids |= {meeting.chair_person_id, meeting.recorder_person_id} - {None}
    ids |= corrections.person_ids(history)
    names = dict(db.session.execute(select(Person.id, Person.name).where(Person.id.in_(ids))).all())
    return MeetingPage(
        meeting=meeting,
        present=[a for a in meeting.attendance if a.present],
        absent=[a for a in meeting.attendance if not a.present],
        files=files,
        history=history,
        names=names,
        may_edit=may_record(actor, meeting.org_id),
        recorded_late=recorded_late(meeting),
    )


@dataclass
class MeetingRow:
    meeting: Meeting
    org_name: str
    present: int
    expected: int
    recorded_late: int | None = None  # days after the meeting, when written late


@dataclass
class MeetingList:
    """One page: numbered (``page`` of ``pages``) within the counted part, else a cursor page
    (``page`` None); ``total`` is exact when ``exact``, else "more than" ``limit``."""

    rows: list[MeetingRow]
    page: int | None
    pages: int | None
    total: int
    exact: bool = True
    next_after: str | None = None
    limit: int = pagination.COUNT_LIMIT


PAGE_SIZE = 30


def _list_where(
    actor: User,
    org_id: int | None,
    meeting_type: str | None,
    year: int | None,
    first: date | None,
    last: date | None,
) -> list:
    readable = actors.readable_org_ids(actor)
    if org_id is not None:
        if org_id not in readable:
            raise NotFound(_("No such organization."))
        node = actors.org_index()[org_id]
        scope = [n.id for n in actors.org_index().values() if n.path.startswith(node.path)]
    else:
        scope = sorted(readable)
    where = [fastsql.among(Meeting.org_id, scope)]
    if meeting_type in MEETING_TYPES:
        where.append(Meeting.meeting_type == meeting_type)
    if year:
        where += [Meeting.held_on >= date(year, 1, 1), Meeting.held_on <= date(year, 12, 31)]
    if first:
        where.append(Meeting.held_on >= first)
    if last:
        where.append(Meeting.held_on <= last)
    return where


def list_meetings(
    actor: User,
    *,
    org_id: int | None = None,
    meeting_type: str | None = None,
    year: int | None = None,
    page: int = 1,
    first: date | None = None,
    last: date | None = None,
    after: tuple[datetime, int] | None = None,
) -> MeetingList:
    """Meetings of the organizations the actor may read, newest first, a page at a time:
    counted up to COUNT_LIMIT, numbered pages within that, a cursor (``after``: the date and
    id of the last meeting shown) past it."""
    where = _list_where(actor, org_id, meeting_type, year, first, last)
    total = pagination.bounded_count(select(Meeting.id).where(*where))
    exact = total <= pagination.COUNT_LIMIT
    last_numbered = max(1, -(-min(total, pagination.COUNT_LIMIT) // PAGE_SIZE))
    page = None if after is not None else min(max(1, page), last_numbered)
    stmt = select(Meeting).where(*where).order_by(Meeting.held_on.desc(), Meeting.id.desc())
    if after is not None:
        stmt = stmt.where(tuple_(Meeting.held_on, Meeting.id) < tuple_(after[0].date(), after[1]))
    else:
        stmt = stmt.offset((page - 1) * PAGE_SIZE)
    meetings = list(db.session.execute(stmt.limit(PAGE_SIZE + 1)).scalars())
    next_after = None
    if len(meetings) > PAGE_SIZE:
        meetings = meetings[:PAGE_SIZE]
        if page is None or not exact or page >= last_numbered:
            held = datetime.combine(meetings[-1].held_on, time())
            next_after = pagination.format_cursor((held, meetings[-1].id))
    pages = last_numbered if exact and page is not None else None
    counts: dict[int, tuple[int, int]] = {}
    if meetings:
        rows = db.session.execute(
            select(
                MeetingAttendance.meeting_id,
                func.count(),
                func.sum(case((MeetingAttendance.present, 1), else_=0)),
            )
            .where(fastsql.among(MeetingAttendance.meeting_id, [m.id for m in meetings]))
            .group_by(MeetingAttendance.meeting_id)
        )
        counts = {r[0]: (int(r[2] or 0), int(r[1])) for r in rows}
    index = actors.org_index()
    return MeetingList(
        rows=[
            MeetingRow(
                meeting=m,
                org_name=index[m.org_id].display_name(),
                present=counts.get(m.id, (0, 0))[0],
                expected=counts.get(m.id, (0, 0))[1],
                recorded_late=recorded_late(m),
            )
            for m in meetings
        ],
        page=page,
        pages=pages,
        total=total,
        exact=exact,
        next_after=next_after,
        limit=pagination.COUNT_LIMIT,
    )


def export_meetings(
    actor: User,
    *,
    org_id: int | None = None,
    meeting_type: str | None = None,
    year: int | None = None,
    first: date | None = None,
    last: date | None = None,
):
    """Every meeting the list's filters select (not only its page), for CSV or Excel, read
    in batches with its attendance counts and how many resolutions it voted on and passed."""
    from pbflow.services.exports import Column, Table

    where = _list_where(actor, org_id, meeting_type, year, first, last)
    present = func.sum(case((MeetingAttendance.present, 1), else_=0))
    stmt = (
        select(
            Meeting.id,
            Meeting.held_on,
            Meeting.org_id,
            Meeting.meeting_type,
            Meeting.topic,
            Meeting.place,
            present,
            func.count(MeetingAttendance.id),
            Meeting.votes,
            Meeting.created_at,
        )
        .outerjoin(MeetingAttendance, MeetingAttendance.meeting_id == Meeting.id)
        .where(*where)
        .group_by(Meeting.id)
        .order_by(Meeting.held_on.desc(), Meeting.id.desc())
        .execution_options(yield_per=1000)
    )
    index = actors.org_index()
    rows = (
        [
            r[0],
            r[1],
            index[r[2]].display_name(),
            type_label(r[3]),
            r[4],
            r[5],
            int(r[6] or 0),
            int(r[7] or 0),
            len(r[8] or ()),
            sum(1 for v in r[8] or () if v["passed"]),
            r[9],
        ]
        for r in db.session.execute(stmt)
    )
    return Table(
        "meetings",
        [
            Column(_("No."), "int", 8),
            Column(_("Date"), "date", 12),
            Column(_("Organization"), width=20),
            Column(_("Type"), width=18),
            Column(_("Topic"), width=40),
            Column(_("Place"), width=16),
            Column(_("Present"), "int", 9),
            Column(_("Expected"), "int", 9),
            Column(_("Resolutions voted on"), "int", 11),
            Column(_("Resolutions passed"), "int", 11),
            Column(_("Recorded"), "datetime", 16),
        ],
        rows,
        sheet=_("Meetings"),
    )


@dataclass
class MemberRecord:
    person: Person | None
    attended: list[tuple[Meeting, str]]
    missed: list[tuple[Meeting, str, str | None]]


def member_record(user: User, year: int | None = None) -> MemberRecord:
    """A member's own page: the meetings they attended and the ones they missed (with the
    reason given), newest first; two queries whatever the number of meetings."""
    person = db.session.execute(select(Person).where(Person.user_id == user.id)).scalar()
    if person is None:
        return MemberRecord(None, [], [])
    stmt = (
        select(MeetingAttendance, Meeting)
        .join(Meeting, Meeting.id == MeetingAttendance.meeting_id)
        .where(MeetingAttendance.person_id == person.id)
        .order_by(Meeting.held_on.desc(), Meeting.id.desc())
    )
    if year:
        stmt = stmt.where(
            Meeting.held_on >= date(year, 1, 1), Meeting.held_on <= date(year, 12, 31)
        )
    index = actors.org_index()
    attended, missed = [], []
    for att, meeting in db.session.execute(stmt):
        org = index[meeting.org_id].display_name()
        if att.present:
            attended.append((meeting, org))
        else:
            missed.append((meeting, org, att.reason))
    return MemberRecord(person, attended, missed)


def recordable_orgs(user: User) -> list[Organization]:
    """Organizations the user may record meetings for (for the "new meeting" form)."""
    index = actors.org_index()
    # Only where the user holds a role, or at the organization above (a party group's branch),
    # can may_record say yes: the rule is asked of those, not of every organization.
    held = {oid for oid, _role in actors.roles_of(user.id)}
    ids = [
        oid
        for oid, node in index.items()
        if node.kind in TYPES_BY_KIND
        and (oid in held or node.parent_id in held)
        and may_record(user, oid)
    ]
    if not ids:
        return []
    return list(
        db.session.execute(
            select(Organization).where(Organization.id.in_(ids)).order_by(Organization.path)
        ).scalars()
    )


def get_org(org_id: int) -> Organization:
    org = db.session.get(Organization, org_id)
    if org is None:
        raise NotFound(_("No such organization."))
    return org
