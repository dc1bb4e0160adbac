"""What the opinion box counts of its opinions, kept as data by the engine
(``Procedure.tallies``, pbflow.engine.tally): each opinion's facts at the time it was
received, so that a period's figures read a row per organization and year instead of every
opinion. Each measure means exactly what the database counts from the generated columns
(``services._figure_columns``): the facts are read from ``data`` as the database reads them
as text, then taken as the database casts them.

The days to an answer are counted from the local day of receipt, which depends on the time
zone: that measure carries the zone it was counted in as its state, and the figures use it
only when every row they read was counted in the zone configured now.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from pbflow import clock

SET_ASIDE = "op_set_aside"
ANSWERED = "op_answered"
ON_TIME = "op_on_time"
DAYS = "op_days"
REOPENED = "op_reopened"
RATED = "op_rated"
RATING = "op_rating"
SATISFIED = "op_satisfied"
UNRATED_CLOSED = "op_unrated_closed"
# The figures (services.Figures.COUNTS) and the measure each is read from ("created": the
# engine's count of every case at its start).
MEASURES = {
    "received": "created",
    "set_aside": SET_ASIDE,
    "answered": ANSWERED,
    "answered_on_time": ON_TIME,
    "days_to_answer": DAYS,
    "reopened": REOPENED,
    "rated": RATED,
    "rating_sum": RATING,
    "satisfied": SATISFIED,
    "unrated_closed": UNRATED_CLOSED,
}
_LEADING_INT = re.compile(r"\s*([+-]?\d+)")


def as_text(value: Any) -> str | None:
    """A JSON value as the database reads it as text from a document (a truth value as
    ``true``/``false``; SQLite's 1 and 0 mean the same to the counts below)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def as_int(value: Any) -> int | None:
    """``CAST(NULLIF(text, '') AS INTEGER)`` of a JSON value read as text: the leading whole
    number, 0 when there is none (a truth value: 1 or 0)."""
    if isinstance(value, bool):
        return int(value)
    text = as_text(value)
    if text is None or text == "":
        return None
    found = _LEADING_INT.match(text)
    return int(found.group(1)) if found else 0


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text[:10]) if len(text) >= 10 else None
    except ValueError:
        return None


def opinion(case: Any) -> Iterator[tuple[str, str, datetime, int]]:
    data = case.data or {}
    at = case.created_at
    if case.state == "set_aside":
        yield SET_ASIDE, "", at, 1
    if case.state == "closed_unrated":
        yield UNRATED_CLOSED, "", at, 1
    answered_on = as_text(data.get("first_published_on"))
    if answered_on is not None and answered_on != "":
        yield ANSWERED, "", at, 1
        if as_text(data.get("on_time")) in ("true", "1"):
            yield ON_TIME, "", at, 1
        day = _day(answered_on)
        if day is not None:
            received = clock.to_local(at).date()
            zone = clock.local_tz().key
            yield DAYS, zone, at, day.toordinal() - received.toordinal()
    if (as_int(data.get("reopen_count")) or 0) != 0:
        yield REOPENED, "", at, 1
    rating = as_int(data.get("rating"))
    if rating is not None:
        yield RATED, "", at, 1
        yield RATING, "", at, rating
        if rating >= 4:
            yield SATISFIED, "", at, 1


TALLIES = {"opinion": opinion}
