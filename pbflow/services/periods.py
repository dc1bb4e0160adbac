"""Periods that figures are counted over: a month, a quarter, a year, or any from-to range of
whole local days, cut into month or quarter columns.

Shared by the supervision dashboard, its exports and whoever reuses its figures (the branch
assessment, the API), so that "the second quarter" means the same days everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask_babel import gettext as _

from pbflow import clock
from pbflow.engine.errors import ValidationFailed

KINDS = ("month", "quarter", "year", "range")
MAX_DAYS = 3 * 366 + 1  # three years at most: the grid stays one screen of quarters


def month_start(day: date) -> date:
    return day.replace(day=1)


def add_months(day: date, months: int) -> date:
    """The first of the month ``months`` after the month of ``day``."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def bounds(day: date, kind: str) -> tuple[date, date]:
    """First and last day of the month, quarter or year containing ``day``."""
    if kind == "month":
        start, months = day.replace(day=1), 1
    elif kind == "quarter":
        start, months = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1), 3
    elif kind == "year":
        start, months = date(day.year, 1, 1), 12
    else:
        raise ValueError(f"unknown period kind {kind!r}")
    return start, add_months(start, months) - timedelta(days=1)


def label(start: date, kind: str) -> str:
    """``2026-03``, ``2026 Q1`` or ``2026``: the same labels as the compliance calendar."""
    if kind == "month":
        return f"{start.year}-{start.month:02d}"
    if kind == "quarter":
        return f"{start.year} Q{(start.month - 1) // 3 + 1}"
    return str(start.year)


@dataclass(frozen=True)
class Column:
    """One column of a grid or one point of a chart: a month or a quarter."""

    start: date
    end: date
    kind: str  # month | quarter

    @property
    def label(self) -> str:
        return label(self.start, self.kind)

    def __contains__(self, day: date) -> bool:
        return self.start <= day <= self.end


@dataclass(frozen=True)
class Period:
    """Whole local days from ``start`` to ``end`` (both included)."""

    start: date
    end: date
    kind: str = "range"  # month | quarter | year | range: how it was chosen

    @property
    def label(self) -> str:
        if self.kind in ("month", "quarter", "year"):
            return label(self.start, self.kind)
        return f"{self.start.isoformat()} – {self.end.isoformat()}"

    @property
    def grain(self) -> str:
        """Months as columns up to a year and a quarter, quarters beyond."""
        months = (self.end.year - self.start.year) * 12 + self.end.month - self.start.month + 1
        return "month" if months <= 15 else "quarter"

    def columns(self, grain: str | None = None) -> list[Column]:
        """The months (or quarters) the period touches, in order."""
        grain = grain or self.grain
        first, _last = bounds(self.start, grain)
        result = []
        while first <= self.end:
            _s, last = bounds(first, grain)
            result.append(Column(first, last, grain))
            first = last + timedelta(days=1)
        return result

    def utc_bounds(self) -> tuple[datetime, datetime]:
        """The UTC instants at which the period begins and after which it is over."""
        return (
            clock.local_midnight_utc(self.start),
            clock.local_midnight_utc(self.end + timedelta(days=1)),
        )

    def __contains__(self, day: date) -> bool:
        return self.start <= day <= self.end

    def shifted(self, steps: int) -> Period:
        """The same kind of period ``steps`` earlier (negative) or later: prev/next links."""
        if self.kind in ("month", "quarter", "year"):
            months = {"month": 1, "quarter": 3, "year": 12}[self.kind] * steps
            start, end = bounds(add_months(self.start, months), self.kind)
            return Period(start, end, self.kind)
        length = (self.end - self.start).days + 1
        delta = timedelta(days=length * steps)
        return Period(self.start + delta, self.end + delta, "range")

    def query_args(self) -> dict[str, str]:
        if self.kind in ("month", "quarter", "year"):
            return {"period": self.kind, "on": self.start.isoformat()}
        return {"from": self.start.isoformat(), "to": self.end.isoformat()}


def of(kind: str, day: date | None = None) -> Period:
    """The month, quarter or year containing ``day`` (today by default)."""
    start, end = bounds(day or clock.today(), kind)
    return Period(start, end, kind)


def parse(args: Mapping[str, Any], default: str = "year") -> Period:
    """A period from query arguments: ``period=month|quarter|year`` with ``on=<a day in it>``
    (today when left out), or ``from=`` and ``to=`` (ISO dates). A bad value is refused with
    a readable reason naming the argument."""
    raw_from = str(args.get("from") or "").strip()
    raw_to = str(args.get("to") or "").strip()
    errors: dict[str, str] = {}
    if raw_from or raw_to:
        days = {}
        for name, raw in (("from", raw_from), ("to", raw_to)):
            try:
                days[name] = date.fromisoformat(raw) if raw else None
            except ValueError:
                errors[name] = _("must be a date like 2026-03-01")
        if errors:
            raise ValidationFailed(_("Some fields need correcting."), field_errors=errors)
        start = days["from"] or date((days["to"] or clock.today()).year, 1, 1)
        end = days["to"] or clock.today()
        if end < start:
            raise ValidationFailed(
                _("The period ends before it starts."), field_errors={"to": _("is before from")}
            )
        if (end - start).days + 1 > MAX_DAYS:
            raise ValidationFailed(
                _("Choose a period of at most three years."),
                field_errors={"from": _("is too far back")},
            )
        return Period(start, end, "range")
    kind = str(args.get("period") or default).strip()
    if kind not in ("month", "quarter", "year"):
        raise ValidationFailed(
            _("Some fields need correcting."),
            field_errors={"period": _("is not one of the choices")},
        )
    raw_on = str(args.get("on") or "").strip()
    try:
        day = date.fromisoformat(raw_on) if raw_on else clock.today()
    except ValueError:
        raise ValidationFailed(
            _("Some fields need correcting."),
            field_errors={"on": _("must be a date like 2026-03-01")},
        ) from None
    if not date(1950, 1, 1) <= day <= date(2200, 12, 31):
        raise ValidationFailed(
            _("Some fields need correcting."), field_errors={"on": _("is out of range")}
        )
    return of(kind, day)


# --- obligations: what an organization owes per period, and whether it did it ---------------

# ok: held as often as required; missing: the period is over and it was not; open: the period
# runs and it is not held yet; future: the period has not begun; not_required: nothing is owed
# (the organization did not exist for the whole period).
STATUSES = ("ok", "missing", "open", "future", "not_required")


def obligation_status(
    start: date, end: date, created: date, today: date, required: int, held: int
) -> str:
    """The status of one period of an obligation. A period counts only when the organization
    existed for all of it: one created mid-quarter owes that quarter's meeting from the next."""
    if start < created:
        return "not_required"
    if start > today:
        return "future"
    if held >= required:
        return "ok"
    return "open" if end >= today else "missing"


@dataclass(slots=True)
class ObligationCell:
    """One period of one obligation of one organization."""

    label: str
    start: date
    end: date
    required: int
    held: int
    status: str
    reminded_at: datetime | None = None
    missed_at: datetime | None = None

    @property
    def missing(self) -> int:
        return max(0, self.required - self.held) if self.status in ("missing", "open") else 0


@dataclass
class Obligation:
    """Something an organization must do ``times`` per ``period`` (a meeting type, the yearly
    organizational life meeting), with its cells over the periods asked for."""

    org_id: int
    key: str
    period: str  # month | quarter | year
    times: int
    cells: list[ObligationCell]
