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

This module holds the rules and the writes (the records, the threshold); the hours as read
(a branch's year, a member's year, the supervision's figure) are ``training_figures``'s,
and the fourth quarter's reminder to the secretaries of those still below is
``training_reminder``'s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from pbflow import audit, clock, validation
from pbflow.engine import actors, fastsql, locks
from pbflow.engine.errors import ConcurrentChange, NotAllowed, NotFound, ValidationFailed
from pbflow.engine.fields import parse_date
from pbflow.extensions import db
from pbflow.models import Organization, Person, TrainingRecord, User
from pbflow.procedures.three_meetings import services as meetings
from pbflow.procedures.three_meetings import training_day
from pbflow.procedures.three_meetings.hours import MAX_MINUTES, hours_text, parse_hours
from pbflow.services import training_totals

THRESHOLD_HOURS = 32  # DOMAIN.md 3's default
SETTINGS_KEY = "three_meetings"
SETTING = "training_hours"
MAX_THRESHOLD_HOURS = 200
BRANCH_KINDS = ("branch", "general_branch")  # the organizations that count their members
MEMBER_STATUSES = ("full", "probationary")
SETTER_ROLES = ("admin", "committee")
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
    """Those who write the branch's meeting records (its secretary, deputy, organizer or
    committee member) enter its members' other training."""
    return branch_node(org_id) is not None and meetings.may_record(user, org_id)


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


def closed_reason(day: date) -> str | None:
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
    study meetings they attended that day (``training_day``: a day's training cannot exceed
    the day)."""
    courses = db.session.execute(
        select(TrainingRecord.course).where(
            TrainingRecord.person_id == person_id,
            TrainingRecord.taken_on == day,
            TrainingRecord.id != (record_id or 0),
        )
    ).scalars()
    errors = {}
    if any(c.strip().casefold() == course.casefold() for c in courses):
        errors["course"] = _("is already recorded for this member on this day")
    total = training_day.minutes_of_day([person_id], day, record_id=record_id).get(person_id, 0)
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
        elif closed_reason(taken_on):
            errors["taken_on"] = closed_reason(taken_on)
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
        # The member's other records of the day are read under a lock on the member: two
        # entries at once would each find the day's hours without the other's and both pass.
        locks.hold_person(person_id)
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
        entered = snapshot(record)
        training_totals.change({}, training_totals.of_record(entered))
        audit.record(
            "training_recorded",
            actor=actor,
            org_id=org_id,
            payload={"training_id": record.id, **entered},
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
    """The record to correct or delete, held until the transaction ends and read as it is
    now: its version is compared under the lock. Who may change it is asked first, of a
    plain read: whoever may not takes no lock."""
    get_record(actor, record_id)
    locks.hold_record(TrainingRecord.__table__, record_id)
    record = get_record(actor, record_id, fresh=True)
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
        closed = closed_reason(record.taken_on)
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
        training_totals.change(training_totals.of_record(before), training_totals.of_record(after))
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
        closed = closed_reason(record.taken_on)
        if closed:
            raise ValidationFailed(_("This record cannot be deleted: %(reason)s.", reason=closed))
        kept = {"training_id": record.id, **snapshot(record)}
        person_id, org_id = record.person_id, record_branch(record)
        db.session.delete(record)
        training_totals.change(training_totals.of_record(kept), {})
        audit.record("training_deleted", actor=actor, org_id=org_id, payload=kept)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return person_id


def get_record(actor: User, record_id: int, *, fresh: bool = False) -> TrainingRecord:
    """A record for its correction form: those who may change it only, the recorders of the
    member's branch now (a member who moved is the new branch's to correct). ``fresh``: read
    from the database even if this session holds it already."""
    record = db.session.get(TrainingRecord, record_id, populate_existing=fresh)
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
            minutes, problem = parse_hours(str(hours), at_most=MAX_THRESHOLD_HOURS)
            if not problem and minutes:  # stored in hours: 40, or 40.5
                value = minutes // 60 if not minutes % 60 else minutes / 60
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
