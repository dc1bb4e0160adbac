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
from datetime import date, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, literal_column, select

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


def _years_before(day: date, years: int) -> date:
    """The latest birth (or conversion) date of someone ``years`` old (or standing) on ``day``:
    ``_years(born, day) >= years`` exactly when ``born <= _years_before(day, years)``."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year - years, day=28)


class _Cuts:
    """Days a date column is compared with. The database gives each member the number of them
    their date lies after (-1 when it is not recorded), so that members are grouped by a
    handful of small numbers rather than by their dates; every question "after this day?"
    is then answered from that number."""

    def __init__(self, days) -> None:
        self.days = sorted(set(days))
        self.index = {d: i for i, d in enumerate(self.days)}

    def sql(self, column) -> Any:
        whens = [(column.is_(None), literal_column("-1"))]
        for i in range(len(self.days) - 1, -1, -1):
            whens.append((column > self.days[i], literal_column(str(i + 1))))
        return case(*whens, else_=literal_column("0"))

    def after(self, bucket: int, day: date) -> bool:
        """Whether a date in ``bucket`` lies after ``day`` (one of the days)."""
        return bucket > self.index[day]

    def band(self, bucket: int, day: date, bands) -> str:
        """The band of the years from the date to ``day`` (``_band(_years(...))``)."""
        if bucket < 0:
            return "unknown"
        for _low, high, name in bands[:-1]:
            if self.after(bucket, _years_before(day, high + 1)):
                return name
        return bands[-1][2]


def _band_days(day: date, bands) -> list[date]:
    return [_years_before(day, high + 1) for _low, high, _name in bands[:-1]]


@dataclass
class _Member:
    """What a group of members was on the first and the last day of the period."""

    status: tuple[str | None, str | None]
    standing: tuple[str | None, str | None]
    joined: bool
    converted: bool


class _Reading:
    """The period's days and what a group of members (status, buckets) was on them."""

    def __init__(self, period: Period) -> None:
        self.first, self.last = period.start, period.end
        self.before = period.start - timedelta(days=1)
        days = (self.first, self.last)
        self.born = _Cuts(d for day in days for d in _band_days(day, AGE_BANDS))
        self.admitted = _Cuts((self.before, *days))
        self.full = _Cuts(
            [self.before, *days, *(d for day in days for d in _band_days(day, STANDING_BANDS))]
        )
        self._seen: dict[tuple[str, int, int], _Member] = {}

    def member(self, party_status: str, full: int, admitted: int) -> _Member:
        key = (party_status, full, admitted)
        found = self._seen.get(key)
        if found is None:
            found = self._seen[key] = self._member(party_status, full, admitted)
        return found

    def _member(self, party_status: str, full: int, admitted: int) -> _Member:
        status, standing = [], []
        for day in (self.first, self.last):  # ``status_on``, from the buckets
            if party_status == "full" and (full < 0 or not self.full.after(full, day)):
                status.append("full")
                standing.append(self.full.band(full, day, STANDING_BANDS))
            elif admitted < 0 or not self.admitted.after(admitted, day):
                status.append("probationary")
                standing.append("probationary")
            else:
                status.append(None)
                standing.append(None)
        joined = (
            admitted >= 0
            and self.admitted.after(admitted, self.before)
            and not self.admitted.after(admitted, self.last)
        )
        converted = (
            party_status == "full"
            and full >= 0
            and self.full.after(full, self.before)
            and not self.full.after(full, self.last)
        )
        return _Member((status[0], status[1]), (standing[0], standing[1]), joined, converted)


def _members(scope: Scope):
    return (
        Person.org_id.in_(scope.ids),
        Person.active,
        Person.party_status.in_(("full", "probationary")),
    )


def _grouped(scope: Scope, keys: list[Any]):
    """Members counted per combination of ``keys`` (labelled SQL expressions): grouped in an
    outer statement, so that the expressions' parameters are bound once."""
    inner = select(*keys).where(*_members(scope)).subquery()
    cols = [inner.c[k.name] for k in keys]
    return db.session.execute(select(*cols, func.count()).group_by(*cols))


def _counts(scope: Scope, reading: _Reading, units: dict[int, MembershipRow], unit_of) -> None:
    """Full and probationary members on the first and the last day, joined and converted,
    per organization: one statement."""
    P = Person
    keys = [
        P.org_id.label("org"),
        P.party_status.label("p"),
        reading.full.sql(P.full_member_on).label("f"),
        reading.admitted.sql(P.admitted_on).label("a"),
    ]
    for org_id, party_status, full, admitted, n in _grouped(scope, keys):
        unit = units[unit_of[org_id]]
        m = reading.member(party_status, full, admitted)
        for attr, status in zip(("start", "end"), m.status, strict=True):
            if status == "full":
                getattr(unit, attr).full += n
            elif status == "probationary":
                getattr(unit, attr).probationary += n
        unit.joined += n if m.joined else 0
        unit.converted += n if m.converted else 0


def _structure(scope: Scope, reading: _Reading, into, per_unit: bool) -> None:
    """Members on the first and the last day by status, age band, sex, education and
    standing: one statement (grouped by organization too with ``per_unit``). ``into(org_id)``
    gives the rows to add to."""
    P = Person
    keys = [
        P.party_status.label("p"),
        reading.full.sql(P.full_member_on).label("f"),
        reading.admitted.sql(P.admitted_on).label("a"),
        reading.born.sql(P.birth_date).label("b"),
        P.gender.label("g"),
        P.education.label("e"),
    ]
    if per_unit:
        keys.insert(0, P.org_id.label("org"))
    for row in _grouped(scope, keys):
        org_id, rest = (row[0], row[1:]) if per_unit else (None, row)
        party_status, full, admitted, born, gender, education, n = rest
        m = reading.member(party_status, full, admitted)
        for i, (attr, day) in enumerate((("start", reading.first), ("end", reading.last))):
            if m.status[i] is None:
                continue
            for target in into(org_id):
                by = getattr(target, attr).by
                by["status"][m.status[i]] += n
                by["age"][reading.born.band(born, day, AGE_BANDS)] += n
                by["gender"][gender or "unknown"] += n
                by["education"][education or "unknown"] += n
                by["standing"][m.standing[i]] += n


def membership(scope: Scope, period: Period, *, per_unit: bool = True) -> Membership:
    """The statistics for the scope: two statements whatever the number of people (the
    structure by age, sex, education and standing per organization only with
    ``per_unit``; the totals always)."""
    units = {n.id: MembershipRow(n.id, scope.name(n.id)) for n in scope.units}
    unit_of = {oid: scope.unit_of(oid) for oid in scope.ids}
    reading = _Reading(period)
    _counts(scope, reading, units, unit_of)
    total = MembershipRow(scope.org.id, scope.name(scope.org.id))
    for unit in units.values():  # every member counts in exactly one unit
        for attr in ("start", "end"):
            mine, all_ = getattr(unit, attr), getattr(total, attr)
            all_.full += mine.full
            all_.probationary += mine.probationary
        total.joined += unit.joined
        total.converted += unit.converted

    def into(org_id: int | None) -> tuple[MembershipRow, ...]:
        return (total,) if org_id is None else (total, units[unit_of[org_id]])

    _structure(scope, reading, into, per_unit)
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
