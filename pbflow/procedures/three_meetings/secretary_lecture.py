"""The branch secretary's own party lecture (DOMAIN.md section 3: "the secretary gives at
least one a year"), beside the party lectures the compliance grid counts by quarter.

A lecture counts as the secretary's when the party lecture's record names as its chair or
presenter someone who holds the secretary's role at the branch now (the form asks for the
"chair or presenter"; a lecture's presenter is its lecturer). The calendar says for each
year whether it was given; from the fourth quarter ``pbflow tick`` reminds the secretaries
of a branch whose secretary has not given one yet, once a year (a ``ReminderMark``), in the
same transaction as its audit event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from flask_babel import gettext as _

from pbflow import clock
from pbflow.engine import actors, fastsql
from pbflow.services import notifications
from pbflow.services.reminders import remind_once

REMIND_FROM_MONTH = 10  # the fourth quarter, as the yearly life meetings
ROLES = ("secretary", "deputy_secretary")  # reminded


@dataclass
class SecretaryLecture:
    """One branch's year: the days its secretary gave a party lecture, and what that makes
    of the year: ``ok``, ``open`` (the year runs), ``missing`` (it ended without one),
    ``future`` or ``not_required`` (the branch did not exist for all of it)."""

    year: int
    given_on: list[date]
    status: str


def lecture_days(org_ids: list[int], first: date, last: date) -> dict[int, list[date]]:
    """The days each branch's present secretary (an active account) presented a party
    lecture there, ``first`` to ``last``, in order: one plain statement whatever the number
    of branches (a figure read, as the compliance grid's)."""
    found: dict[int, list[date]] = {}
    if not org_ids:
        return found
    f = fastsql.flavour()
    p = f.placeholder
    orgs, params = fastsql.any_of("m.org_id", sorted(set(org_ids)), f)
    rows = fastsql.read(
        "SELECT DISTINCT m.org_id, m.held_on FROM meeting m"
        " JOIN person p ON p.id = m.chair_person_id"
        " JOIN role_assignment r ON r.user_id = p.user_id AND r.org_id = m.org_id"
        " JOIN user_account u ON u.id = r.user_id"
        f" WHERE m.meeting_type = {p} AND {orgs} AND m.held_on >= {p} AND m.held_on <= {p}"
        f" AND r.role = {p} AND u.active = {p}"
        " ORDER BY m.org_id, m.held_on",
        ["party_lecture", *params, f.day(first), f.day(last), "secretary", True],
    )
    day = f.read_day
    for org_id, held_on in rows:
        found.setdefault(org_id, []).append(day(held_on))
    return found


def of_year(org_id: int, year: int, today: date | None = None) -> SecretaryLecture | None:
    """The year's secretary's lecture of a branch (None for another kind of organization)."""
    node = actors.org_index().get(org_id)
    if node is None or node.kind != "branch":
        return None
    today = today or clock.today()
    given = lecture_days([org_id], date(year, 1, 1), date(year, 12, 31)).get(org_id, [])
    if given:
        status = "ok"
    elif clock.to_local(node.created_at).date() > date(year, 1, 1) or not node.active:
        status = "not_required"
    elif year > today.year:
        status = "future"
    elif year == today.year:
        status = "open"
    else:
        status = "missing"
    return SecretaryLecture(year, given, status)


@dataclass
class LectureReport:
    sent: list[int] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)  # (branch, problem)

    def summary(self) -> str:
        return f"secretaries' lectures: reminded {len(self.sent)}"


def tick(now: datetime | None = None) -> LectureReport:
    """From the fourth quarter, remind once a year the secretaries of each branch whose
    secretary has not given a party lecture this year (a branch set up during the year owes
    it from the next)."""
    report = LectureReport()
    now = now or clock.now()
    today = clock.to_local(now).date()
    if today.month < REMIND_FROM_MONTH:
        return report
    start = date(today.year, 1, 1)
    branches = [
        n
        for n in actors.org_index().values()
        if n.kind == "branch" and n.active and clock.to_local(n.created_at).date() <= start
    ]
    given = lecture_days([n.id for n in branches], start, date(today.year, 12, 31))
    for node in sorted(branches, key=lambda n: n.path):
        users = {u for role in ROLES for u in actors.users_with_role(role, [node.id])}
        if node.id in given or not users:
            continue  # given; or no one to remind yet (a secretary appointed later is)
        try:
            sent = remind_once(
                f"sl:{node.id}:{today.year}",
                org_id=node.id,
                users=users,
                kind="secretary_lecture_due",
                params={"org_id": node.id, "year": today.year},
                payload={"kind": "secretary_lecture", "year": today.year},
                now=now,
            )
        except Exception as exc:  # noqa: BLE001 - one branch must not hold back the others
            report.failed.append((node.id, str(exc)))  # (rolled back: retried next tick)
            continue
        if sent is not None:
            report.sent.append(node.id)
    return report


def _lecture_due(p) -> str:
    return _(
        "The secretary of %(org)s has not given a party lecture this year (%(year)s); the "
        "branch secretary gives at least one a year.",
        org=notifications.org_name(p.get("org_id")),
        year=p.get("year", ""),
    )


NOTICES = {"secretary_lecture_due": _lecture_due}
