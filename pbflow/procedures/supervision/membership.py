"""Membership statistics (the seed's "optimize the age and the cultural structure"): full and
probationary members per organization by age band, sex, education and length of membership,
at the start and the end of the period, and the change between.

Values are kept as recorded (age and standing bands, "unknown", "probationary"): pages and
exports show them through ``value_label``. Who was what on a day comes from the key dates
of the member profiles: probationary from the admission date, full from the date of
conversion (party standing counts from it, DOMAIN 1.24). Counted are the active members of
today; someone converted during the period is probationary at its start and full at its end.
Known limits: a member who left (profile made inactive) is not counted on either day, and a
member counts in the organization their profile is in now (transfers of organizational ties
are not modelled yet, DOMAIN 7).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from pbflow.extensions import db
from pbflow.models import Person
from pbflow.procedures.supervision.scope import Scope
from pbflow.services.periods import Period

AGE_BANDS = (
    (None, 30, "≤30"),
    (31, 40, "31–40"),
    (41, 50, "41–50"),
    (51, 60, "51–60"),
    (61, None, "≥61"),
)
STANDING_BANDS = (
    (None, 4, "<5"),
    (5, 9, "5–9"),
    (10, 19, "10–19"),
    (20, 29, "20–29"),
    (30, None, "≥30"),
)
UNKNOWN = _l("unknown")
PROBATIONARY = _l("probationary")
STATUS_LABELS = {"full": _l("full members"), "probationary": _l("probationary members")}
DIMENSIONS = (
    ("status", _l("Status")),
    ("age", _l("Age")),
    ("gender", _l("Sex")),
    ("education", _l("Education")),
    ("standing", _l("Years of party standing")),
)


def _years(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _band(value: int, bands) -> str:
    for low, high, name in bands:
        if (low is None or value >= low) and (high is None or value <= high):
            return name
    return bands[-1][2]


def status_on(status: str, admitted_on: date | None, full_on: date | None, day: date) -> str | None:
    """Full, probationary or nothing on ``day``, from today's status and the key dates. A
    full member without a recorded conversion date counts as full throughout (imported
    records); likewise a probationary member without an admission date."""
    if status == "full":
        if full_on is None or full_on <= day:
            return "full"
        if admitted_on is None or admitted_on <= day:
            return "probationary"
        return None
    if status == "probationary" and (admitted_on is None or admitted_on <= day):
        return "probationary"
    return None


def value_label(dimension: str, value: str) -> str:
    """A value as shown: "unknown", the statuses and "probationary" (no party standing yet)
    translated, other values (age bands, sexes, education) as recorded."""
    if value == "unknown":
        return str(UNKNOWN)
    if dimension == "status":
        return str(STATUS_LABELS.get(value, value))
    if dimension == "standing" and value == "probationary":
        return str(PROBATIONARY)
    return value


@dataclass
class Structure:
    """Counts of one organization (or all) on one day, per dimension and value."""

    full: int = 0
    probationary: int = 0
    by: dict[str, Counter] = field(default_factory=lambda: {k: Counter() for k, _l in DIMENSIONS})

    @property
    def members(self) -> int:
        return self.full + self.probationary


@dataclass
class MembershipRow:
    org_id: int
    label: str
    start: Structure = field(default_factory=Structure)
    end: Structure = field(default_factory=Structure)
    joined: int = 0  # admitted as probationary members during the period
    converted: int = 0  # became full members during the period

    @property
    def change(self) -> int:
        return self.end.members - self.start.members


@dataclass
class Membership:
    period: Period
    by_unit: list[MembershipRow]
    total: MembershipRow
    values: dict[str, list[str]]  # dimension -> the values seen, in order


def _count(into: Structure, status: str, gender, education, birth, full_on, day: date) -> None:
    by = into.by
    if status == "full":
        into.full += 1
        standing = _band(_years(full_on, day), STANDING_BANDS) if full_on else "unknown"
    else:
        into.probationary += 1
        standing = "probationary"
    by["status"][status] += 1
    by["age"][_band(_years(birth, day), AGE_BANDS) if birth else "unknown"] += 1
    by["gender"][gender or "unknown"] += 1
    by["education"][education or "unknown"] += 1
    by["standing"][standing] += 1


def membership(scope: Scope, period: Period) -> Membership:
    """The statistics for the scope; one statement whatever the number of people."""
    units = {n.id: MembershipRow(n.id, scope.name(n.id)) for n in scope.units}
    unit_of = {oid: scope.unit_of(oid) for oid in scope.ids}
    rows = db.session.execute(
        select(
            Person.org_id,
            Person.party_status,
            Person.gender,
            Person.education,
            Person.birth_date,
            Person.admitted_on,
            Person.full_member_on,
        ).where(
            Person.org_id.in_(scope.ids),
            Person.active,
            Person.party_status.in_(("full", "probationary")),
        )
    )
    days = (("start", period.start), ("end", period.end))
    for org_id, status, gender, education, birth, admitted_on, full_on in rows:
        unit = units[unit_of[org_id]]
        for attr, day in days:
            then = status_on(status, admitted_on, full_on, day)
            if then is not None:
                _count(getattr(unit, attr), then, gender, education, birth, full_on, day)
        unit.joined += bool(admitted_on and admitted_on in period)
        unit.converted += bool(full_on and full_on in period and status == "full")
    total = MembershipRow(scope.org.id, scope.name(scope.org.id))
    for unit in units.values():  # every member counts in exactly one unit
        for attr in ("start", "end"):
            mine, all_ = getattr(unit, attr), getattr(total, attr)
            all_.full += mine.full
            all_.probationary += mine.probationary
            for key in all_.by:
                all_.by[key].update(mine.by[key])
        total.joined += unit.joined
        total.converted += unit.converted
    order = {
        "status": ["full", "probationary"],
        "age": [b[2] for b in AGE_BANDS] + ["unknown"],
        "standing": ["probationary"] + [b[2] for b in STANDING_BANDS] + ["unknown"],
    }
    values = {}
    for key, _label in DIMENSIONS:
        seen = set(total.start.by[key]) | set(total.end.by[key])
        if key in order:
            values[key] = [v for v in order[key] if v in seen]
        else:
            values[key] = sorted(seen, key=lambda v: (v == "unknown", v))
    return Membership(period, list(units.values()), total, values)
