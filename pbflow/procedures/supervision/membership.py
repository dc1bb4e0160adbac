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
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, literal_column, select

from pbflow.engine import fastsql, tally
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


class _Dimensions(dict):
    """``Structure.by`` with each dimension's counter made when first asked for: the
    dashboard counts the structure of the whole scope only, not of each of its hundred
    organizations (``counted``), whose rows read as empty all the same."""

    def __missing__(self, key: str) -> Counter:
        found = self[key] = Counter()
        return found


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
        # ``band`` per (bucket, day, bands): a few dozen answers, asked for by every group
        # of members (thousands per organization tree).
        self._banded: dict[tuple[int, date, int], str] = {}

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
        key = (bucket, day, id(bands))
        found = self._banded.get(key)
        if found is None:
            found = self._banded[key] = self._band(bucket, day, bands)
        return found

    def _band(self, bucket: int, day: date, bands) -> str:
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
    ``per_unit``; the totals always). Without ``per_unit`` (the dashboard) they are counted
    from the figures kept as data instead (``counted``): the same numbers."""
    if not per_unit:
        return counted(scope, period)
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
    return Membership(period, list(units.values()), total, _values(total))


def _values(total: MembershipRow) -> dict[str, list[str]]:
    """Per dimension, the values seen on either day, in the order they are shown."""
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
    return values


# --- the same, from the figures kept as data ------------------------------------------------
# What each member counts for is kept by the engine (pbflow.engine.tally, ``person_tally``):
# per organization its members by status; per organization *and every organization above
# it* its members by status and sex, by status and education, by status and month of birth,
# and its full members by month of full membership. A committee's statistics read its own
# few rows instead of its 20,000 members. On each day of the period every member is first
# taken to be what they are today; those admitted or made full members after that day (the
# few since the period began) are read one by one and moved; and the members born (or made
# full members) in the part of a month next to a band's limit are read by their dates.

MEMBER, GENDER, EDUCATION, BORN, FULL_ON = (
    "m_member",
    "m_gender",
    "m_education",
    "m_born",
    "m_full_on",
)
STATUSES = ("full", "probationary")


def person_tally(person: Any, index: dict) -> Iterator[tuple[str, str, int, date | None, int]]:
    """What one person counts for (``Procedure.person_tallies``): (measure, state,
    organization, date, weight); nothing unless an active full or probationary member."""
    status = person.party_status
    if not person.active or status not in STATUSES:
        return
    yield MEMBER, status, person.org_id, None, 1
    node = index.get(person.org_id)
    for org in node.ancestor_ids() if node is not None else (person.org_id,):
        yield GENDER, f"{status}|{person.gender or ''}", org, None, 1
        yield EDUCATION, f"{status}|{person.education or ''}", org, None, 1
        if person.birth_date is not None:
            yield BORN, status, org, person.birth_date, 1
        if status == "full" and person.full_member_on is not None:
            yield FULL_ON, status, org, person.full_member_on, 1


# The years the bands' limits are at: 31, 41, 51, 61 of age; 5, 10, 20, 30 of standing.
_AGE_YEARS = tuple(high + 1 for _low, high, _name in AGE_BANDS[:-1])
_STANDING_YEARS = tuple(high + 1 for _low, high, _name in STANDING_BANDS[:-1])


def _limits(day: date, years: tuple[int, ...]) -> list[date]:
    """For each number of years, the first date less than that many years before ``day``:
    a date before it is that many years or more before ``day`` (``_years_before``)."""
    return [_years_before(day, n) + timedelta(days=1) for n in years]


def _banded(known: int, before: list[int], bands) -> dict[str, int]:
    """Counts per band from the dates known and the counts before each limit (youngest band
    first, as ``bands`` are)."""
    names = [name for _low, _high, name in bands]
    found = {names[0]: known - before[0]}
    for i in range(1, len(before)):
        found[names[i]] = before[i - 1] - before[i]
    found[names[-1]] = before[-1]
    return found


@dataclass(frozen=True)
class _Someone:
    """A person as the statistics read them."""

    id: int
    org_id: int
    party_status: str
    active: bool
    gender: str | None
    education: str | None
    birth_date: date | None
    admitted_on: date | None
    full_member_on: date | None


def _people(ranges: list[tuple[str, date | None, date | None]]) -> list[_Someone]:
    """The people with a date in any of ``ranges`` ((column, from, before): ``from <= date <
    before``, an end None left open), each once: one statement, each range read from its
    index."""
    if not ranges:
        return []
    f = fastsql.flavour()
    terms, params = [], []
    for column, low, high in ranges:
        parts = []
        if low is not None:
            parts.append(f"{column} >= {f.placeholder}")
            params.append(f.day(low))
        if high is not None:
            parts.append(f"{column} < {f.placeholder}")
            params.append(f.day(high))
        terms.append(f"({' AND '.join(parts)})")
    rows = fastsql.read(
        f"SELECT {', '.join(tally.PERSON_COLUMNS)} FROM person WHERE {' OR '.join(terms)}",
        params,
    )
    day = f.read_day
    return list(
        {
            r[0]: _Someone(
                r[0], r[1], r[2], bool(r[3]), r[4], r[5], day(r[6]), day(r[7]), day(r[8])
            )
            for r in rows
        }.values()
    )


def _add(row: Structure, status: str, p: Any, day: date, sign: int) -> None:
    """Count (``sign`` 1) or take off (-1) a member of ``status`` on ``day`` in ``row``."""
    if status == "full":
        row.full += sign
        f = p.full_member_on
        standing = _band(_years(f, day), STANDING_BANDS) if f else "unknown"
    else:
        row.probationary += sign
        standing = "probationary"
    by = row.by
    by["status"][status] += sign
    by["age"][_band(_years(p.birth_date, day), AGE_BANDS) if p.birth_date else "unknown"] += sign
    by["gender"][p.gender or "unknown"] += sign
    by["education"][p.education or "unknown"] += sign
    by["standing"][standing] += sign


def _count(row: Structure, status: str, sign: int) -> None:
    """``_add`` without the structure: the count of members of ``status`` only."""
    if status == "full":
        row.full += sign
    else:
        row.probationary += sign


def counted(scope: Scope, period: Period) -> Membership:
    """``membership`` without the structure per organization, from the figures kept as data:
    four statements whatever the number of people."""
    first, last = period.start, period.end
    days = (first, last)
    units = {
        n.id: MembershipRow(
            n.id, scope.name(n.id), Structure(by=_Dimensions()), Structure(by=_Dimensions())
        )
        for n in scope.units
    }
    unit_of = {oid: scope.unit_of(oid) for oid in scope.ids}
    top = scope.org.id
    # Each organization's members as they are today, on both days.
    for (_m, _wf, status, org), (n,) in tally.sums_before(
        {MEMBER: (None,)}, scope.ids, [tally.PERSON], by_state=True
    ).items():
        unit = units[unit_of[org]]
        for row in (unit.start, unit.end):
            if status == "full":
                row.full += n
            else:
                row.probationary += n
    # The scope's: by status and sex, education, birth, full membership (before the limits).
    born = [tally.Cut.of(c) for day in days for c in _limits(day, _AGE_YEARS)]
    full_on = [tally.Cut.of(c) for day in days for c in _limits(day, _STANDING_YEARS)]
    sums = tally.sums_before(
        {GENDER: (None,), EDUCATION: (None,), BORN: (None, *born), FULL_ON: (None, *full_on)},
        [top],
        [tally.PERSON],
        by_state=True,
    )
    found = {(m, state): values for (m, _wf, state, _org), values in sums.items()}
    # The parts of a month between a limit and the nearest month boundary, from the people.
    windows = [(BORN, i, c) for i, c in enumerate(born, 1) if c.sign]
    windows += [(FULL_ON, i, c) for i, c in enumerate(full_on, 1) if c.sign]
    column = {BORN: "birth_date", FULL_ON: "full_member_on"}
    for p in _people([(column[m], c.low, c.high) for m, _i, c in windows]):
        if p.org_id not in unit_of or not p.active or p.party_status not in STATUSES:
            continue
        for m, i, c in windows:
            value = p.birth_date if m == BORN else p.full_member_on
            if m == FULL_ON and p.party_status != "full" or value is None:
                continue
            if c.low <= value < c.high:
                found.setdefault((m, p.party_status), [0] * (1 + len(born)))[i] += c.sign
    total = MembershipRow(top, scope.name(top))
    members = dict.fromkeys(STATUSES, 0)
    for (m, state), values in found.items():
        if m == GENDER:
            members[state.split("|", 1)[0]] += values[0]
    for d, attr in enumerate(("start", "end")):
        by = getattr(total, attr).by
        for (m, state), values in found.items():
            if m in (GENDER, EDUCATION):
                status, value = state.split("|", 1)
                by["gender" if m == GENDER else "education"][value or "unknown"] += values[0]
        for status in STATUSES:
            by["status"][status] += members[status]
            known = found.get((BORN, status), [0] * 9)
            ages = _banded(known[0], known[1 + 4 * d : 5 + 4 * d], AGE_BANDS)
            ages["unknown"] = members[status] - known[0]
            by["age"].update(ages)
        known = found.get((FULL_ON, "full"), [0] * 9)
        standing = _banded(known[0], known[1 + 4 * d : 5 + 4 * d], STANDING_BANDS)
        standing["unknown"] = members["full"] - known[0]
        standing["probationary"] = members["probationary"]
        by["standing"].update(standing)
    # Those admitted or made full members since the first day: on a day before that they
    # were not what they are today (nor members at all); and who joined and converted.
    for p in _people([("admitted_on", first, None), ("full_member_on", first, None)]):
        if p.org_id not in unit_of or not p.active or p.party_status not in STATUSES:
            continue
        unit = units[unit_of[p.org_id]]
        for day, attr in zip(days, ("start", "end"), strict=True):
            then = status_on(p.party_status, p.admitted_on, p.full_member_on, day)
            if then == p.party_status:
                continue
            # the scope's structure; an organization's counts only (its structure not shown)
            _add(getattr(total, attr), p.party_status, p, day, -1)
            _count(getattr(unit, attr), p.party_status, -1)
            if then is not None:
                _add(getattr(total, attr), then, p, day, 1)
                _count(getattr(unit, attr), then, 1)
        unit.joined += bool(p.admitted_on and first <= p.admitted_on <= last)
        unit.converted += bool(
            p.party_status == "full" and p.full_member_on and first <= p.full_member_on <= last
        )
    for attr in ("start", "end"):
        row = getattr(total, attr)
        row.full = sum(getattr(u, attr).full for u in units.values())
        row.probationary = sum(getattr(u, attr).probationary for u in units.values())
        for key in row.by:
            row.by[key] = +row.by[key]  # the values with members only
    total.joined = sum(u.joined for u in units.values())
    total.converted = sum(u.converted for u in units.values())
    return Membership(period, list(units.values()), total, _values(total))
