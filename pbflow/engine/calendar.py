"""Date arithmetic for time limits: calendar days, working days, calendar months.

Working days follow China's official calendar: public holidays are not working days, and the
weekend days the State Council declares working days in exchange (调休, make-up working days)
are. The official days come from the ``chinesecalendar`` package, which tracks the yearly
announcement; an administrator adds local rules and years the package does not know yet as
days of their own (``CalendarDay``, which win over the package) and marks a year entered by
hand as complete (``CalendarYear``).

A year neither the package nor an administrator covers is counted Monday to Friday, which may
be wrong; the computation notes each such year in the collector opened by
:func:`noting_guesses`, so that whoever shows the result (the case page, a guard's reason) can
say so instead of guessing silently. ``pbflow tick`` warns the administrators some weeks before
the covered years run out (:func:`coverage_end`).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

import chinese_calendar
from sqlalchemy import select

from pbflow.clock import local_tz
from pbflow.extensions import app_context

# Official days of the package: {date: name} of holidays and of make-up working days.
_OFFICIAL_HOLIDAYS: dict[date, str] = dict(chinese_calendar.holidays)
_OFFICIAL_WORKDAYS: dict[date, str] = dict(chinese_calendar.workdays)
OFFICIAL_YEARS = range(
    min(d.year for d in _OFFICIAL_HOLIDAYS), max(d.year for d in _OFFICIAL_HOLIDAYS) + 1
)
OFFICIAL_SOURCE = f"chinesecalendar {chinese_calendar.__version__}"

# The longest run of days off there is (Spring Festival with weekends is 9); a loop that finds
# no working day in a year's worth of days is a broken override table, not a long holiday.
_MAX_DAYS_OFF = 366

_GUESSES: ContextVar[set[int] | None] = ContextVar("pbflow_calendar_guesses", default=None)
# Bumped whenever this process changes the local days, so a cached copy is read afresh.
_generation = 0


@dataclass(frozen=True)
class Local:
    """What administrators set: days (date -> working?) and the years they entered."""

    days: dict[date, bool]
    names: dict[date, str]
    years: frozenset[int]
    # (start, days) -> the working day ``add_working_days`` found and the years it counted
    # Monday to Friday (noted again at each use): these days never change.
    found: dict[tuple[date, int], tuple[date, frozenset[int]]] = field(
        default_factory=dict, compare=False, repr=False
    )


def changed() -> None:
    """The local days changed (called by the service that writes them, after its commit)."""
    global _generation
    _generation += 1


def _local() -> Local:
    """The local days, read once per request (and again after a change in this process)."""
    ctx = app_context()
    if ctx is None:
        return Local({}, {}, frozenset())
    cached = ctx.g.get("pbflow_calendar")
    if cached is not None and cached[0] == _generation:
        return cached[1]
    from pbflow.extensions import db
    from pbflow.models.calendar import CalendarDay, CalendarYear

    rows = db.session.execute(select(CalendarDay.day, CalendarDay.working, CalendarDay.name)).all()
    years = db.session.execute(select(CalendarYear.year)).scalars().all()
    local = Local({r.day: r.working for r in rows}, {r.day: r.name for r in rows}, frozenset(years))
    ctx.g.pbflow_calendar = (_generation, local)
    return local


def covered(year: int, local: Local | None = None) -> bool:
    """Does pbflow know the official working days of ``year``?"""
    return year in OFFICIAL_YEARS or year in (local or _local()).years


def is_working_day(d: date, local: Local | None = None) -> bool:
    """A working day by the local days, else the official calendar, else Monday to Friday
    (noted as a guess when a collector is open)."""
    local = local or _local()
    own = local.days.get(d)
    if own is not None:
        return own
    if d.year in OFFICIAL_YEARS:
        if d in _OFFICIAL_WORKDAYS:
            return True
        return d.weekday() < 5 and d not in _OFFICIAL_HOLIDAYS
    if d.year not in local.years:
        guesses = _GUESSES.get()
        if guesses is not None:
            guesses.add(d.year)
    return d.weekday() < 5


_CHINESE = {h.value: h.chinese for h in chinese_calendar.Holiday}


def day_name(d: date, locale: str = "zh", local: Local | None = None) -> str | None:
    """What a day off (or a make-up working day) is for, when the calendar names it."""
    local = local or _local()
    if local.names.get(d):
        return local.names[d]
    key = _OFFICIAL_HOLIDAYS.get(d) or _OFFICIAL_WORKDAYS.get(d)
    if key is None:
        return None
    return key if locale == "en" else _CHINESE.get(key, key)


@contextmanager
def noting_guesses() -> Iterator[set[int]]:
    """Collect the years counted Monday to Friday because no calendar covers them (an
    enclosing collector gets them too)."""
    found: set[int] = set()
    outer = _GUESSES.get()
    token = _GUESSES.set(found)
    try:
        yield found
    finally:
        _GUESSES.reset(token)
        if outer is not None:
            outer.update(found)


def guess_note(years: set[int] | list[int]) -> str:
    """What to add to a date counted in years no calendar covers."""
    from flask_babel import gettext as _

    return _(
        "(counted Monday to Friday in %(years)s: the public holidays of that year are not "
        "known yet)",
        years=", ".join(str(y) for y in sorted(years)),
    )


def add_months(d: date, months: int) -> date:
    """Same day ``months`` later; the 31st in a shorter month becomes its last day."""
    month_index = d.month - 1 + months
    year, month = d.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def birthday(born: date, years: int) -> date:
    """The day someone born on ``born`` turns ``years`` old. Someone born on 29 February has
    a birthday on 1 March in a common year: on 28 February they have not yet reached the age
    (the membership statistics count their age the same way). This is not ``add_months``,
    which ends a period of months on the last day of a short month."""
    try:
        return born.replace(year=born.year + years)
    except ValueError:  # 29 February in a common year
        return date(born.year + years, 3, 1)


def add_working_days(d: date, days: int) -> date:
    """The ``days``-th working day after ``d`` (``d`` itself not counted)."""
    local = _local()
    known = local.found.get((d, days))
    if known is not None:
        current, guessed = known
        noting = _GUESSES.get() if guessed else None
        if noting is not None:
            noting.update(guessed)
        return current
    current = d
    remaining = days
    idle = 0
    with noting_guesses() as guessed:
        while remaining > 0:
            current += timedelta(days=1)
            if is_working_day(current, local):
                remaining -= 1
                idle = 0
            else:
                idle += 1
                if idle > _MAX_DAYS_OFF:
                    raise ValueError(f"no working day in the year after {current - timedelta(366)}")
    local.found[(d, days)] = (current, frozenset(guessed))
    return current


def working_days_from(start: date, days: int) -> tuple[date, date]:
    """A period of ``days`` working days that begins on ``start`` (counted from ``start`` when
    it is a working day, else from the next one): its last working day, and the next working
    day after it, from which a step that must wait for the period is possible."""
    last = add_working_days(start - timedelta(days=1), days)
    return last, add_working_days(last, 1)


def add(d: date, amount: int, unit: str) -> date:
    if unit == "days":
        return d + timedelta(days=amount)
    if unit == "working_days":
        return add_working_days(d, amount)
    if unit == "months":
        return add_months(d, amount)
    if unit == "years":
        return add_months(d, 12 * amount)
    raise ValueError(f"unknown unit {unit}")


def uncovered_years(start: date, end: date) -> list[int]:
    """The years between two dates (both included) that no calendar covers."""
    local = _local()
    lo, hi = min(start, end).year, max(start, end).year
    return [y for y in range(lo, hi + 1) if not covered(y, local)]


def coverage_end(today: date) -> date:
    """The last day up to which every year from ``today``'s on is covered (the day before
    ``today``'s year began when that year is not covered)."""
    local = _local()
    year = today.year
    while covered(year, local):
        year += 1
    return date(year - 1, 12, 31)


def end_of_day_utc(d: date) -> datetime:
    """The moment a local date ends: a limit "by 2027-03-01" is met until that day is over."""
    return _end_of_day(d, local_tz())


@lru_cache(maxsize=1024)
def _end_of_day(d: date, tz: Any) -> datetime:
    # A pure function of the day and the zone, asked on every step with a time limit.
    following = d + timedelta(days=1)
    start = datetime(following.year, following.month, following.day, tzinfo=tz)
    return start.astimezone(UTC).replace(tzinfo=None)


def last_day(due_at: datetime) -> date:
    """The last local day of a time limit stored as the moment it ends: what every page, notice
    and e-mail shows as "due" (a due time of local midnight belongs to the day before)."""
    from pbflow.clock import to_local

    return to_local(due_at - timedelta(microseconds=1)).date()
