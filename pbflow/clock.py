"""The one source of "now", so tests (and `pbflow tick --now`) can travel in time.

Times are naive UTC in the database; local dates (for day-based limits such as "one year as
an activist") are computed in the configured time zone.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from pbflow.extensions import app_context

_FROZEN: ContextVar[datetime | None] = ContextVar("pbflow_frozen_now", default=None)


@contextmanager
def frozen(at: datetime) -> Iterator[datetime]:
    """Inside the block ``now()`` is ``at`` (naive UTC): ``pbflow tick --now`` acts, dates its
    marks, steps and audit events as of the time it was told, all alike."""
    token = _FROZEN.set(at)
    try:
        yield at
    finally:
        _FROZEN.reset(token)


def now() -> datetime:
    """Current UTC time as a naive datetime (the form stored in the database)."""
    pinned = _FROZEN.get()
    if pinned is not None:
        return pinned
    ctx = app_context()
    if ctx is not None:
        fake = ctx.app.config.get("PBFLOW_FAKE_NOW")
        if fake is not None:
            return fake
    return datetime.now(UTC).replace(tzinfo=None)


def local_tz() -> ZoneInfo:
    ctx = app_context()
    name = ctx.app.config.get("PBFLOW_TIMEZONE", "Asia/Shanghai") if ctx is not None else "UTC"
    return ZoneInfo(name)


def to_local(dt: datetime, tz: ZoneInfo | None = None) -> datetime:
    """``dt`` (naive UTC) in the local time zone (``tz``: ``local_tz()``, when the caller
    converts many times and has looked it up once)."""
    return dt.replace(tzinfo=UTC).astimezone(tz or local_tz())


def today() -> date:
    """Today's date where the organization is (not in UTC)."""
    return to_local(now()).date()


def local_midnight_utc(d: date) -> datetime:
    """The UTC instant at which local date ``d`` begins."""
    return datetime(d.year, d.month, d.day, tzinfo=local_tz()).astimezone(UTC).replace(tzinfo=None)


COARSE_UNITS = ("hour", "day")


def coarse(dt: datetime, unit: str) -> datetime:
    """``dt`` (naive UTC) cut down to the start of its local hour or day: the time recorded
    for what must not be dated more finely (an anonymous step). Cut in local time, so the
    local date of the result is the date of ``dt`` even where the offset is not whole hours."""
    if unit not in COARSE_UNITS:
        raise ValueError(f"unknown time unit {unit!r}")
    local = to_local(dt).replace(minute=0, second=0, microsecond=0)
    if unit == "day":
        local = local.replace(hour=0)
    return local.astimezone(UTC).replace(tzinfo=None)
