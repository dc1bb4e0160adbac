"""Date arithmetic for time limits: calendar days, working days, calendar months.

Working days skip Saturdays and Sundays only; public holidays are not modelled yet (a known
gap, noted in the README), so a limit over a holiday week is stricter than the rule.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta

from pbflow.clock import local_midnight_utc


def add_months(d: date, months: int) -> date:
    """Same day ``months`` later; the 31st in a shorter month becomes its last day."""
    month_index = d.month - 1 + months
    year, month = d.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def add_working_days(d: date, days: int) -> date:
    current = d
    remaining = days
    while remaining > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            remaining -= 1
    return current


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


def end_of_day_utc(d: date) -> datetime:
    """The moment a local date ends: a limit "by 2027-03-01" is met until that day is over."""
    return local_midnight_utc(d + timedelta(days=1))
