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
from flask_babel import ngettext

from pbflow.engine import actors, fastsql, tally
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


# DOMAIN, organizations and people: "A branch has at least 3 full members and normally at
# most 50; a branch of seven or more full members has a branch committee; a smaller one
# decides in its branch general meeting."
FEWEST_FULL = 3
USUAL_MOST_FULL = 50
COMMITTEE_FROM_FULL = 7
SIZE_RULE = {"least": FEWEST_FULL, "most": USUAL_MOST_FULL, "seven": COMMITTEE_FROM_FULL}
# What a branch's size can say, worst first: fewer full members than a branch has (a rule
# broken), seven or more without a committee (a rule broken), more than normal (a warning:
# "normally", so a committee may keep a larger one for a reason).
SIZE_FINDINGS = ("too_few", "no_committee", "many")


@dataclass(frozen=True)
class BranchSize:
    """A branch whose number of full members breaks DOMAIN's rule or passes its normal
    limit: ``finding`` one of ``SIZE_FINDINGS``, ``breach`` when a rule is broken (else a
    warning)."""

    org_id: int
    label: str
    full: int
    finding: str
    breach: bool

    @property
    def text(self) -> str:
        """The finding as the pages and the download say it."""
        n = self.full
        if self.finding == "too_few":
            return ngettext(
                "%(num)s full member: a branch has at least %(least)s.",
                "%(num)s full members: a branch has at least %(least)s.",
                n,
                least=FEWEST_FULL,
            )
        if self.finding == "no_committee":
            return ngettext(
                "%(num)s full member and no branch committee: a branch of %(seven)s or more "
                "full members has one (no active account holds a committee post there "
                "besides the secretaries).",
                "%(num)s full members and no branch committee: a branch of %(seven)s or more "
                "full members has one (no active account holds a committee post there "
                "besides the secretaries).",
                n,
                seven=COMMITTEE_FROM_FULL,
            )
        return ngettext(
            "%(num)s full member: a branch normally has at most %(most)s.",
            "%(num)s full members: a branch normally has at most %(most)s.",
            n,
            most=USUAL_MOST_FULL,
        )


def branch_sizes(scope: Scope, rows: list[MembershipRow]) -> list[BranchSize]:
    """The active branches of the scope whose full members at the end of the period (each
    branch with its party groups, as ``rows`` count them) are fewer than 3, more than 50,
    or seven or more without a branch committee (the committee from the roles held today:
    pbflow keeps no history of them); breaches first. One statement, the branches with a
    committee, whatever their number (issued even when no branch is that large, so that a
    page's statements do not depend on its data)."""
    branches = [r for r in rows if scope.index[r.org_id].kind == "branch"]
    branches = [r for r in branches if scope.index[r.org_id].active]
    committees = actors.with_branch_committee([r.org_id for r in branches])
    found = []
    for r in branches:
        full = r.end.full
        if full < FEWEST_FULL:
            found.append(BranchSize(r.org_id, r.label, full, "too_few", True))
        elif full >= COMMITTEE_FROM_FULL and r.org_id not in committees:
            found.append(BranchSize(r.org_id, r.label, full, "no_committee", True))
        if full > USUAL_MOST_FULL:
            found.append(BranchSize(r.org_id, r.label, full, "many", False))
    order = {f: i for i, f in enumerate(SIZE_FINDINGS)}
    # The emptiest first, then the largest without a committee, then the largest (equals in
    # tree order: the sort is stable).
    return sorted(
        found, key=lambda b: (order[b.finding], b.full if b.finding == "too_few" else -b.full)
    )


@dataclass
class Membership:
    period: Period
    by_unit: list[MembershipRow]
    total: MembershipRow
    values: dict[str, list[str]]  # dimension -> the values seen, in order
    # The branches too small, too large or without the committee their size requires.
    sizes: list[BranchSize] = field(default_factory=list)


def _years_before(day: date, years: int) -> date:
    """The latest birth (or conversion) date of someone ``years`` old (or standing) on ``day``:
    ``_years(born, day) >= years`` exactly when ``born <= _years_before(day, years)``."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year - years, day=28)


def membership(scope: Scope, period: Period, *, per_unit: bool = True) -> Membership:
    """The statistics for the scope, from the figures kept as data (``counted``): a fixed
    number of statements whatever the number of people. Without ``per_unit`` (the
    dashboard) the structure by age, sex, education and standing is counted for the whole
    scope only; the members of each organization always."""
    return counted(scope, period, per_unit=per_unit)


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


def _count(row: Structure, status: str, _p: Any, _day: date, sign: int) -> None:
    """``_add`` without the structure: the count of members of ``status`` only."""
    if status == "full":
        row.full += sign
    else:
        row.probationary += sign


def _structure_from(row: MembershipRow, found: dict[tuple[str, str], list[int]]) -> None:
    """An organization's (or the scope's) structure on both days, from its kept figures as
    ``counted`` reads them: members per status and sex or education, and per status the
    members born (or made full members) before each band's limit on each day."""
    members = dict.fromkeys(STATUSES, 0)
    for (m, state), values in found.items():
        if m == GENDER:
            members[state.split("|", 1)[0]] += values[0]
    for d, attr in enumerate(("start", "end")):
        by = getattr(row, attr).by
        for (m, state), values in found.items():
            if m in (GENDER, EDUCATION):
                _status, value = state.split("|", 1)
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


def _own(
    found: dict[int, dict[tuple[str, str], list[int]]], unit: int, below: list[int]
) -> dict[tuple[str, str], list[int]]:
    """A unit's own figures: those kept for it (its whole subtree) less those of the units
    right below it (a general branch's branches count in their own rows)."""
    own = {key: list(values) for key, values in found.get(unit, {}).items()}
    for child in below:
        for key, values in found.get(child, {}).items():
            mine = own.setdefault(key, [0] * len(values))
            for i, n in enumerate(values):
                mine[i] -= n
    return own


def counted(scope: Scope, period: Period, *, per_unit: bool = False) -> Membership:
    """The statistics from the figures kept as data: four statements whatever the number of
    people. With ``per_unit`` each organization's structure too (the exports, the API): its
    kept rows less those of the organizations right below it."""
    first, last = period.start, period.end
    days = (first, last)

    # Without ``per_unit`` an organization's rows show counts only: their structure stays
    # empty, made when read (``_Dimensions``).
    def new_row(n: Any) -> MembershipRow:
        if per_unit:
            return MembershipRow(n.id, scope.name(n.id))
        lean = Structure(by=_Dimensions()), Structure(by=_Dimensions())
        return MembershipRow(n.id, scope.name(n.id), *lean)

    units = {n.id: new_row(n) for n in scope.units}
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
    # By status and sex, education, birth, full membership (before the limits): the scope's
    # rows, and with ``per_unit`` each unit's (each counts its whole subtree).
    born = [tally.Cut.of(c) for day in days for c in _limits(day, _AGE_YEARS)]
    full_on = [tally.Cut.of(c) for day in days for c in _limits(day, _STANDING_YEARS)]
    read = list(units) if per_unit else [top]
    sums = tally.sums_before(
        {GENDER: (None,), EDUCATION: (None,), BORN: (None, *born), FULL_ON: (None, *full_on)},
        read,
        [tally.PERSON],
        by_state=True,
    )
    found: dict[int, dict[tuple[str, str], list[int]]] = {}
    for (m, _wf, state, org), values in sums.items():
        found.setdefault(org, {})[(m, state)] = list(values)
    # The parts of a month between a limit and the nearest month boundary, from the people:
    # in the rows of every organization read that counts them.
    windows = [(BORN, i, c) for i, c in enumerate(born, 1) if c.sign]
    windows += [(FULL_ON, i, c) for i, c in enumerate(full_on, 1) if c.sign]
    column = {BORN: "birth_date", FULL_ON: "full_member_on"}
    for p in _people([(column[m], c.low, c.high) for m, _i, c in windows]):
        if p.org_id not in unit_of or not p.active or p.party_status not in STATUSES:
            continue
        ancestors = scope.index[p.org_id].ancestor_ids()
        holders = [o for o in ancestors if o in units] if per_unit else [top]
        for m, i, c in windows:
            value = p.birth_date if m == BORN else p.full_member_on
            if m == FULL_ON and p.party_status != "full" or value is None:
                continue
            if c.low <= value < c.high:
                for org in holders:
                    rows = found.setdefault(org, {})
                    rows.setdefault((m, p.party_status), [0] * (1 + len(born)))[i] += c.sign
    total = MembershipRow(top, scope.name(top))
    _structure_from(total, found.get(top, {}))
    if per_unit:
        below: dict[int, list[int]] = {}
        for n in scope.units:
            if n.id != top:
                below.setdefault(unit_of[n.parent_id], []).append(n.id)
        for unit in units.values():
            _structure_from(unit, _own(found, unit.org_id, below.get(unit.org_id, [])))
    # Those admitted or made full members since the first day: on a day before that they
    # were not what they are today (nor members at all); and who joined and converted.
    in_unit = _add if per_unit else _count
    for p in _people([("admitted_on", first, None), ("full_member_on", first, None)]):
        if p.org_id not in unit_of or not p.active or p.party_status not in STATUSES:
            continue
        unit = units[unit_of[p.org_id]]
        for day, attr in zip(days, ("start", "end"), strict=True):
            then = status_on(p.party_status, p.admitted_on, p.full_member_on, day)
            if then == p.party_status:
                continue
            for row, change in ((getattr(total, attr), _add), (getattr(unit, attr), in_unit)):
                change(row, p.party_status, p, day, -1)
                if then is not None:
                    change(row, then, p, day, 1)
        unit.joined += bool(p.admitted_on and first <= p.admitted_on <= last)
        unit.converted += bool(
            p.party_status == "full" and p.full_member_on and first <= p.full_member_on <= last
        )
    structured = [total, *units.values()] if per_unit else [total]
    for attr in ("start", "end"):
        row = getattr(total, attr)
        row.full = sum(getattr(u, attr).full for u in units.values())
        row.probationary = sum(getattr(u, attr).probationary for u in units.values())
        for r in structured:
            by = getattr(r, attr).by
            for key in by:
                by[key] = +by[key]  # the values with members only
    total.joined = sum(u.joined for u in units.values())
    total.converted = sum(u.converted for u in units.values())
    rows = list(units.values())
    return Membership(period, rows, total, _values(total), branch_sizes(scope, rows))
