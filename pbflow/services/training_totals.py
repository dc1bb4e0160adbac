"""Each member's training minutes of a year (DOMAIN.md 3: 32 hours a year), kept as data in
``training_total``: the committee's figure reads one row per member who trained that year
instead of summing every attendance of the year's study meetings (18,000 rows for 24,000
people: 20 ms a request on both databases).

What a meeting or a training record *credits* is a function of it alone: a study meeting
its ``training_minutes`` to each member marked present, in the year it was held; a record
its minutes to its member, in the year taken. A change is the difference between what it
credited before and what it credits after, added to the rows (``change``) in the same
transaction as the change itself: ``three_meetings``' record and correction of a meeting,
and the entry, correction and deletion of a training record. Differences are added, not
totals written, so that two transactions crediting the same member commute (each waits for
the other's row and adds to it); rows are written in key order, before the audit chain's
head is locked at commit, so two of them never wait on each other's rows in opposite orders.
``pbflow seed`` writes meetings in bulk and calls ``fill``; ``check`` recomputes every
total from the meetings and records (``pbflow figures check``, which ``--fix`` repairs).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import extract, func, select, text, union_all

from pbflow import audit
from pbflow.extensions import db
from pbflow.models import Meeting, MeetingAttendance, TrainingRecord, TrainingTotal

Key = tuple[int, int]  # (year, person id)
Credit = dict[Key, int]  # minutes

_ADD = text(
    "INSERT INTO training_total (year, person_id, minutes) VALUES (:year, :person_id, :minutes)"
    " ON CONFLICT (year, person_id) DO UPDATE"
    " SET minutes = training_total.minutes + excluded.minutes"
)


def credited(day: date | str | None, minutes: int | None, people: Iterable[int]) -> Credit:
    """What a meeting held on ``day`` giving ``minutes`` to each of ``people`` present (or a
    record of one person) credits; nothing without minutes. ``day`` may be given as its ISO
    text (the audit snapshots' form)."""
    if not minutes or day is None:
        return {}
    year = day.year if isinstance(day, date) else date.fromisoformat(day).year
    return {(year, person_id): minutes for person_id in people}


def of_meeting(snapshot: dict[str, Any]) -> Credit:
    """What a meeting credits, from its snapshot (``three_meetings.services.snapshot``)."""
    return credited(snapshot["held_on"], snapshot["training_minutes"], snapshot["present"])


def of_record(snapshot: dict[str, Any]) -> Credit:
    """What a training record credits, from its snapshot (``three_meetings.training``)."""
    return credited(snapshot["taken_on"], snapshot["minutes"], [snapshot["person_id"]])


def change(before: Credit, after: Credit) -> None:
    """Add to the totals what changed from ``before`` to ``after``, in the caller's
    transaction."""
    delta = dict(after)
    for key, minutes in before.items():
        delta[key] = delta.get(key, 0) - minutes
    _add({k: v for k, v in delta.items() if v})


def _add(delta: Credit) -> None:
    if delta:
        db.session.execute(
            _ADD,
            [{"year": y, "person_id": p, "minutes": m} for (y, p), m in sorted(delta.items())],
        )


def expected(year: int | None = None) -> Credit:
    """Every member's minutes per year recomputed from the meetings and the records (of one
    year, or all)."""
    year_of_meeting = extract("year", Meeting.held_on)
    year_of_record = extract("year", TrainingRecord.taken_on)
    meetings = (
        select(
            year_of_meeting.label("year"),
            MeetingAttendance.person_id.label("person_id"),
            Meeting.training_minutes.label("minutes"),
        )
        .join(MeetingAttendance, MeetingAttendance.meeting_id == Meeting.id)
        .where(Meeting.training_minutes.is_not(None), MeetingAttendance.present)
    )
    records = select(
        year_of_record.label("year"),
        TrainingRecord.person_id.label("person_id"),
        TrainingRecord.minutes.label("minutes"),
    )
    if year is not None:
        meetings = meetings.where(year_of_meeting == year)
        records = records.where(year_of_record == year)
    both = union_all(meetings, records).subquery()
    rows = db.session.execute(
        select(both.c.year, both.c.person_id, func.sum(both.c.minutes)).group_by(
            both.c.year, both.c.person_id
        )
    )
    return {(int(y), p): int(m) for y, p, m in rows if m}


def stored(year: int | None = None) -> Credit:
    """The kept totals (those not zero)."""
    query = select(TrainingTotal.year, TrainingTotal.person_id, TrainingTotal.minutes)
    if year is not None:
        query = query.where(TrainingTotal.year == year)
    return {(y, p): m for y, p, m in db.session.execute(query) if m}


def _differences() -> tuple[Credit, Credit]:
    """What the meetings and records credit, and what the kept totals lack of it."""
    want, have = expected(), stored()
    delta = {
        k: want.get(k, 0) - have.get(k, 0)
        for k in set(want) | set(have)
        if want.get(k, 0) != have.get(k, 0)
    }
    return want, delta


def fill() -> int:
    """Bring the totals to what the meetings and records credit, in the caller's transaction
    (after a bulk load that wrote meetings without ``change``: ``pbflow seed``). Returns the
    number of totals changed."""
    _want, delta = _differences()
    _add(delta)
    return len(delta)


@dataclass
class CheckReport:
    totals: int = 0
    wrong: list[Key] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.wrong

    def summary(self) -> str:
        if self.ok:
            return f"training totals: {self.totals} members' years match."
        shown = ", ".join(f"{year}/person {person}" for year, person in self.wrong[:10])
        more = "" if len(self.wrong) <= 10 else f" and {len(self.wrong) - 10} more"
        return (
            f"training totals: {len(self.wrong)} members' years differ from a recomputation:"
            f" {shown}{more}."
        )


def check(*, fix: bool = False) -> CheckReport:
    """Recompute every member's years and compare with the kept totals; with ``fix``, add
    the differences (one transaction, committed)."""
    want, delta = _differences()
    report = CheckReport(totals=len(want), wrong=sorted(delta))
    if fix and delta:
        try:
            _add(delta)
            # Recorded as any change is, so that the dashboard's training hours kept until
            # the next recorded change are counted afresh (as ``tally.check`` does).
            audit.record(
                "figures_repaired",
                actor=audit.SYSTEM,
                payload={"table": "training_total", "rows": len(delta)},
            )
            db.session.commit()
        except BaseException:
            db.session.rollback()
            raise
    return report
