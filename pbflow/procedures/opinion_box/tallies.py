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
    """A JSON value as the database reads it as text from a document (``json_extract`` into
    a text column: a truth value as 1 or 0; PostgreSQL's ``true`` means the same to the
    counts below)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def as_int(text: str | None) -> int | None:
    """``CAST(NULLIF(text, '') AS INTEGER)``: the leading whole number, 0 when there is none."""
    if text is None or text == "":
        return None
    found = _LEADING_INT.match(text)
    return int(found.group(1)) if found else 0


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text[:10]) if len(text) >= 10 else None
    except ValueError:
        return None


def facts(data: dict) -> tuple[str | None, str | None, str | None, str | None]:
    """An opinion's facts as the generated columns hold them (``OPINION_FACTS``): first
    answered on, on time, rating, times reopened, as text."""
    return (
        as_text(data.get("first_published_on")),
        as_text(data.get("on_time")),
        as_text(data.get("rating")),
        as_text(data.get("reopen_count")),
    )


def counts(
    state: str,
    received: datetime,
    answered_on: str | None,
    on_time: str | None,
    rating: str | None,
    reopened: str | None,
) -> Iterator[tuple[str, str, datetime, int]]:
    """What an opinion counts for, from its state, time of receipt and facts (as text):
    what ``services._figure_columns`` counts of it."""
    if state == "set_aside":
        yield SET_ASIDE, "", received, 1
    if state == "closed_unrated":
        yield UNRATED_CLOSED, "", received, 1
    if answered_on is not None and answered_on != "":
        yield ANSWERED, "", received, 1
        if on_time in ("true", "1"):
            yield ON_TIME, "", received, 1
        day = _day(answered_on)
        if day is not None:
            local = clock.to_local(received).date()
            yield DAYS, clock.local_tz().key, received, day.toordinal() - local.toordinal()
    if (as_int(reopened) or 0) != 0:
        yield REOPENED, "", received, 1
    rated = as_int(rating)
    if rated is not None:
        yield RATED, "", received, 1
        yield RATING, "", received, rated
        if rated >= 4:
            yield SATISFIED, "", received, 1


def opinion(case: Any) -> Iterator[tuple[str, str, datetime, int]]:
    return counts(case.state, case.created_at, *facts(case.data or {}))


TALLIES = {"opinion": opinion}
