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
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, func, literal_column, or_, select

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


def _banded(column, day: date, bands, unknown: int) -> Any:
    """The index of the band a date column falls in on ``day`` (``unknown`` when empty), as
    SQL: band i holds those at most its upper bound old, i.e. born after the day that many
    years and one before."""
    whens = [(column.is_(None), literal_column(str(unknown)))]
    for i, (_low, high, _name) in enumerate(bands[:-1]):
        whens.append((column > _years_before(day, high + 1), literal_column(str(i))))
    return case(*whens, else_=literal_column(str(len(bands) - 1)))


FULL, PROBATIONARY_ = 1, 2


def _full_at(day: date) -> Any:
    """A full member on ``day`` (``status_on``, for the full and probationary of today)."""
    P = Person
    return and_(P.party_status == "full", or_(P.full_member_on.is_(None), P.full_member_on <= day))


def _admitted_by(day: date) -> Any:
    return or_(Person.admitted_on.is_(None), Person.admitted_on <= day)


def _status_at(day: date) -> Any:
    """1 full, 2 probationary, NULL not yet a member on ``day``."""
    return case(
        (_full_at(day), literal_column(str(FULL))),
        (_admitted_by(day), literal_column(str(PROBATIONARY_))),
    )


def _standing_at(day: date) -> Any:
    """The standing band on ``day`` of one full then (``len(STANDING_BANDS)`` when the date
    of conversion is not recorded), one more for probationary."""
    return case(
        (_full_at(day), _banded(Person.full_member_on, day, STANDING_BANDS, len(STANDING_BANDS))),
        else_=literal_column(str(len(STANDING_BANDS) + 1)),
    )


def _members(scope: Scope):
    return (
        Person.org_id.in_(scope.ids),
        Person.active,
        Person.party_status.in_(("full", "probationary")),
    )


def _counts(scope: Scope, period: Period, units: dict[int, MembershipRow], unit_of) -> None:
    """Full and probationary members at the start and the end, joined and converted, per
    organization: one statement, counted by the database."""
    P = Person

    def count(condition) -> Any:
        return func.sum(case((condition, 1), else_=0))

    start, end = period.start, period.end
    full_at = {day: _full_at(day) for day in (start, end)}
    admitted_by = {day: _admitted_by(day) for day in (start, end)}
    rows = db.session.execute(
        select(
            P.org_id,
            count(full_at[start]),
            count(and_(~full_at[start], admitted_by[start])),
            count(full_at[end]),
            count(and_(~full_at[end], admitted_by[end])),
            count(and_(P.admitted_on >= start, P.admitted_on <= end)),
            count(
                and_(P.party_status == "full", P.full_member_on >= start, P.full_member_on <= end)
            ),
        )
        .where(*_members(scope))
        .group_by(P.org_id)
    )
    for org_id, s_full, s_prob, e_full, e_prob, joined, converted in rows:
        unit = units[unit_of[org_id]]
        unit.start.full += int(s_full or 0)
        unit.start.probationary += int(s_prob or 0)
        unit.end.full += int(e_full or 0)
        unit.end.probationary += int(e_prob or 0)
        unit.joined += int(joined or 0)
        unit.converted += int(converted or 0)


def _structure(scope: Scope, period: Period, into, per_unit: bool) -> None:
    """Members on the first and the last day by status, age band, sex, education and
    standing: one statement grouping by what each member was on both days (and by
    organization with ``per_unit``), counted by the database. ``into(org_id)`` gives the
    rows to add to."""
    P = Person
    first, last = period.start, period.end
    keys = [
        _status_at(first).label("s0"),
        _status_at(last).label("s1"),
        _banded(P.birth_date, first, AGE_BANDS, len(AGE_BANDS)).label("a0"),
        _banded(P.birth_date, last, AGE_BANDS, len(AGE_BANDS)).label("a1"),
        _standing_at(first).label("t0"),
        _standing_at(last).label("t1"),
        P.gender.label("g"),
        P.education.label("e"),
    ]
    if per_unit:
        keys.insert(0, P.org_id.label("org"))
    inner = select(*keys).where(*_members(scope)).subquery()
    cols = [inner.c[k.name] for k in keys]
    rows = db.session.execute(select(*cols, func.count()).group_by(*cols))
    age_names = [b[2] for b in AGE_BANDS] + ["unknown"]
    standing_names = [b[2] for b in STANDING_BANDS] + ["unknown", "probationary"]
    status_names = {FULL: "full", PROBATIONARY_: "probationary"}
    for row in rows:
        org_id, rest = (row[0], row[1:]) if per_unit else (None, row)
        s0, s1, a0, a1, t0, t1, gender, education, n = rest
        for attr, status, age, standing in (("start", s0, a0, t0), ("end", s1, a1, t1)):
            if status is None:
                continue
            for target in into(org_id):
                by = getattr(target, attr).by
                by["status"][status_names[status]] += n
                by["age"][age_names[age]] += n
                by["gender"][gender or "unknown"] += n
                by["education"][education or "unknown"] += n
                by["standing"][standing_names[standing]] += n


def membership(scope: Scope, period: Period, *, per_unit: bool = True) -> Membership:
    """The statistics for the scope: two statements whatever the number of people (the
    structure by age, sex, education and standing per organization only with
    ``per_unit``; the totals always)."""
    units = {n.id: MembershipRow(n.id, scope.name(n.id)) for n in scope.units}
    unit_of = {oid: scope.unit_of(oid) for oid in scope.ids}
    _counts(scope, period, units, unit_of)
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

    _structure(scope, period, into, per_unit)
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
