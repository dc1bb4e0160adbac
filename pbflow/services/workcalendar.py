"""The working-day calendar as administrators keep it: local days over the official calendar,
years entered by hand, and the warning before the covered years run out.

The calendar is the installation's (every organization counts the same working days), so it
is changed by an administrator of a top-level party committee, or by the operator on the
command line. Every change is audited in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from pbflow import audit, clock
from pbflow.engine import actors, calendar
from pbflow.engine.errors import NotAllowed, NotFound, ValidationFailed
from pbflow.extensions import db
from pbflow.models import CalendarDay, CalendarYear, ReminderMark
from pbflow.services import notifications

YEARS = range(2000, 2101)
WARN_ROLES = ("admin",)


def _trusted(actor: Any) -> bool:
    return actor is None or actor == audit.SYSTEM


def may_edit(actor: Any) -> bool:
    """The operator, or an administrator of a top-level party committee."""
    if _trusted(actor):
        return True
    index = actors.org_index()
    return any(
        role == "admin" and oid in index and index[oid].parent_id is None
        for oid, role in actors.roles_of(actor.id)
    )


def _require_edit(actor: Any) -> None:
    if not may_edit(actor):
        raise NotAllowed(
            _("Only an administrator of the party committee may change the working-day calendar.")
        )


def _actor_id(actor: Any) -> int | None:
    return None if _trusted(actor) else actor.id


def parse_day(raw: Any) -> date:
    if isinstance(raw, date):
        return raw
    try:
        day = date.fromisoformat(str(raw or "").strip())
    except ValueError:
        raise ValidationFailed(
            _("Some fields need correcting."),
            field_errors={"day": _("a date like 2027-10-01")},
        ) from None
    if day.year not in YEARS:
        raise ValidationFailed(
            _("Some fields need correcting."),
            field_errors={"day": _("a date between 2000 and 2100")},
        )
    return day


def parse_year(raw: Any) -> int:
    text = str(raw or "").strip()
    if not text.isdigit() or int(text) not in YEARS:
        raise ValidationFailed(
            _("Some fields need correcting."),
            field_errors={"year": _("a year between 2000 and 2100")},
        )
    return int(text)


def _commit() -> None:
    try:
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    calendar.changed()


def set_day(actor: Any, raw_day: Any, working: bool, name: str = "") -> CalendarDay:
    """Make a day a working day or a day off, whatever the official calendar says."""
    _require_edit(actor)
    day = parse_day(raw_day)
    name = (name or "").strip()
    if len(name) > 120 or "\x00" in name:
        raise ValidationFailed(
            _("Some fields need correcting."),
            field_errors={"name": _("must be at most %(n)s characters", n=120)},
        )
    row = db.session.get(CalendarDay, day)
    before = {"working": row.working, "name": row.name} if row else None
    if row is None:
        row = CalendarDay(day=day)
        db.session.add(row)
    row.working, row.name = bool(working), name
    row.set_by, row.set_at = _actor_id(actor), clock.now()
    audit.record(
        "calendar_day_set",
        actor=actor if not _trusted(actor) else audit.SYSTEM,
        payload={"day": day, "working": bool(working), "name": name, "before": before},
    )
    _commit()
    return row


def unset_day(actor: Any, raw_day: Any) -> None:
    """Give a day back to the official calendar."""
    _require_edit(actor)
    day = parse_day(raw_day)
    row = db.session.get(CalendarDay, day)
    if row is None:
        raise NotFound(_("%(day)s has no local setting.", day=day.isoformat()))
    before = {"working": row.working, "name": row.name}
    db.session.delete(row)
    audit.record(
        "calendar_day_unset",
        actor=actor if not _trusted(actor) else audit.SYSTEM,
        payload={"day": day, "before": before},
    )
    _commit()


def confirm_year(actor: Any, raw_year: Any, note: str = "") -> CalendarYear:
    """Declare a year's official days entered (as local days): it counts as covered."""
    _require_edit(actor)
    year = parse_year(raw_year)
    if year in calendar.OFFICIAL_YEARS:
        raise ValidationFailed(
            _(
                "%(year)s is already covered by the official calendar (%(source)s).",
                year=year,
                source=calendar.OFFICIAL_SOURCE,
            )
        )
    if db.session.get(CalendarYear, year) is not None:
        raise ValidationFailed(_("%(year)s is already marked as entered.", year=year))
    note = (note or "").strip()[:300]
    row = CalendarYear(
        year=year, note=note, confirmed_by=_actor_id(actor), confirmed_at=clock.now()
    )
    db.session.add(row)
    audit.record(
        "calendar_year_confirmed",
        actor=actor if not _trusted(actor) else audit.SYSTEM,
        payload={"year": year, "note": note, "local_days": _count_days(year)},
    )
    _commit()
    return row


def unconfirm_year(actor: Any, raw_year: Any) -> None:
    _require_edit(actor)
    year = parse_year(raw_year)
    row = db.session.get(CalendarYear, year)
    if row is None:
        raise NotFound(_("%(year)s is not marked as entered.", year=year))
    db.session.delete(row)
    audit.record(
        "calendar_year_unconfirmed",
        actor=actor if not _trusted(actor) else audit.SYSTEM,
        payload={"year": year},
    )
    _commit()


def _count_days(year: int) -> int:
    return len(
        db.session.execute(
            select(CalendarDay.day).where(
                CalendarDay.day >= date(year, 1, 1), CalendarDay.day <= date(year, 12, 31)
            )
        ).all()
    )


# --- what the pages and the command line show ---------------------------------------------


@dataclass
class DayRow:
    day: date
    working: bool
    name: str
    source: str  # official | local
    weekday: int


@dataclass
class YearView:
    year: int
    covered: bool
    official: bool
    entered: CalendarYear | None
    days: list[DayRow]
    official_years: range
    entered_years: list[int]
    coverage_end: date
    source: str
    may_edit: bool


def year_view(actor: Any, year: int, locale: str = "zh") -> YearView:
    """A year's days that are not the plain Monday-to-Friday pattern: official holidays on
    weekdays and make-up working days on weekends (from the package), and the local days."""
    if year not in YEARS:
        raise NotFound(
            _(
                "The calendar covers the years %(first)s to %(last)s.",
                first=YEARS.start,
                last=YEARS.stop - 1,
            )
        )
    local = calendar._local()
    days: dict[date, DayRow] = {}
    if year in calendar.OFFICIAL_YEARS:
        d = date(year, 1, 1)
        while d.year == year:
            working = calendar.is_working_day(d, calendar.Local({}, {}, frozenset()))
            if working != (d.weekday() < 5):
                days[d] = DayRow(
                    d, working, calendar.day_name(d, locale, local) or "", "official", d.weekday()
                )
            d += timedelta(days=1)
    for d, working in local.days.items():
        if d.year == year:
            days[d] = DayRow(d, working, local.names.get(d) or "", "local", d.weekday())
    entered = db.session.get(CalendarYear, year)
    return YearView(
        year=year,
        covered=calendar.covered(year, local),
        official=year in calendar.OFFICIAL_YEARS,
        entered=entered,
        days=[days[k] for k in sorted(days)],
        official_years=calendar.OFFICIAL_YEARS,
        entered_years=sorted(local.years),
        coverage_end=calendar.coverage_end(clock.today()),
        source=calendar.OFFICIAL_SOURCE,
        may_edit=may_edit(actor),
    )


# --- the warning before the calendar runs out ----------------------------------------------


def _admins_of_top_committees() -> list[int]:
    roots = [n.id for n in actors.org_index().values() if n.parent_id is None]
    return sorted(actors.users_with_role("admin", roots)) if roots else []


def warn_if_running_out(now: datetime | None = None) -> str | None:
    """Tell the administrators, once per missing year, that the covered years end within
    ``PBFLOW_CALENDAR_WARN_WEEKS`` weeks. Returns a line for tick's output when it warned."""
    now = now or clock.now()
    today = clock.to_local(now).date()
    ends = calendar.coverage_end(today)
    weeks = int(current_app.config.get("PBFLOW_CALENDAR_WARN_WEEKS", 8))
    if today < ends - timedelta(weeks=weeks):
        return None
    year = ends.year + 1
    try:
        db.session.add(ReminderMark(key=f"calendar:{year}", created_at=now))
        db.session.flush()
        users = notifications.notify(
            _admins_of_top_committees(),
            "calendar_running_out",
            {"year": year, "ends": ends},
            at=now,
        )
        audit.record(
            "calendar_running_out",
            actor=audit.SYSTEM,
            payload={"year": year, "ends": ends, "notified": users},
            at=now,
        )
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # warned already (by this tick or another)
        return None
    except BaseException:
        db.session.rollback()
        raise
    return f"calendar: covered until {ends.isoformat()}; administrators warned about {year}"
