"""A member's training of one day is at most 24 hours, whichever way it is entered (a
day's training cannot exceed the day): the hours of the study meetings they attended that
day and of their other training records of that day, together.

Both ways of entering hours check it under a lock on each member whose day they add to
(``locks.hold_person`` for a training record, ``locks.hold_people`` for a meeting's members
present, in the order of their ids): two entries at the same moment would each read the day
without the other's hours and both pass. A change that adds nothing to a member's day (a
meeting's topic corrected, its hours lowered, a member marked absent) is not refused, even
where the day was already over 24 hours when this was first checked.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import func, select, union_all

from pbflow.engine import fastsql, locks
from pbflow.extensions import db
from pbflow.models import Meeting, MeetingAttendance, Person, TrainingRecord
from pbflow.procedures.three_meetings.hours import MAX_MINUTES, hours_text


def minutes_of_day(
    person_ids: Iterable[int],
    day: date,
    *,
    meeting_id: int | None = None,
    record_id: int | None = None,
) -> dict[int, int]:
    """Each member's minutes of training on ``day`` (those with none left out): the study
    meetings they attended and their training records, leaving out the meeting or the
    record being corrected. One statement whatever the number of members."""
    ids = sorted(set(person_ids))
    if not ids:
        return {}
    met = (
        select(
            MeetingAttendance.person_id.label("person_id"),
            Meeting.training_minutes.label("minutes"),
        )
        .join(Meeting, Meeting.id == MeetingAttendance.meeting_id)
        .where(
            fastsql.among(MeetingAttendance.person_id, ids),
            MeetingAttendance.present,
            Meeting.held_on == day,
            Meeting.training_minutes.is_not(None),
            Meeting.id != (meeting_id or 0),
        )
    )
    recorded = select(
        TrainingRecord.person_id.label("person_id"), TrainingRecord.minutes.label("minutes")
    ).where(
        fastsql.among(TrainingRecord.person_id, ids),
        TrainingRecord.taken_on == day,
        TrainingRecord.id != (record_id or 0),
    )
    both = union_all(met, recorded).subquery()
    rows = db.session.execute(
        select(both.c.person_id, func.sum(both.c.minutes)).group_by(both.c.person_id)
    )
    return {person_id: int(minutes) for person_id, minutes in rows if minutes}


def meeting_problem(
    day: date, minutes: int | None, people: Iterable[int], *, meeting_id: int | None = None
) -> str | None:
    """Why a study meeting of ``day`` giving ``minutes`` to each of ``people`` (the members
    present whose day it adds to) would take a member's training of that day over 24 hours,
    naming them with the hours they have already; or None. Holds the members (in the order
    of their ids) until the transaction ends: the caller writes the meeting in the same
    transaction. ``meeting_id``: the meeting being corrected, whose old hours are not counted
    with its new ones."""
    ids = sorted(set(people))
    if not minutes or not ids:
        return None
    locks.hold_people(ids)
    already = minutes_of_day(ids, day, meeting_id=meeting_id)
    over = [pid for pid in ids if already.get(pid, 0) + minutes > MAX_MINUTES]
    if not over:
        return None
    names = dict(
        db.session.execute(
            select(Person.id, Person.name).where(fastsql.among(Person.id, over))
        ).all()
    )
    members = _(", ").join(
        _(
            "%(name)s (%(hours)s hours recorded already)",
            name=names.get(pid, f"#{pid}"),
            hours=hours_text(already.get(pid, 0)),
        )
        for pid in sorted(over, key=lambda pid: (names.get(pid, ""), pid))
    )
    return _(
        "would make the training on %(day)s of %(members)s more than 24 hours",
        day=day.isoformat(),
        members=members,
    )
