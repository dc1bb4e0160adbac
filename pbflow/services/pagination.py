"""Long lists, page by page, at the same cost on every page (issue 16).

Counting: a list counts at most ``COUNT_LIMIT`` rows (a short walk of an index, whatever the
table's size) and says "more than" above that. Paging: numbered pages (an offset) only within
the counted part; beyond it, and wherever a list can be long, the next page follows a cursor,
the sort key of the last row shown (keyset pagination), so an index takes the query straight
to it. A cursor is ``<microseconds since 1970>-<id>`` for lists sorted by a time and an id.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Select, func, select

from pbflow import validation
from pbflow.extensions import db

T = TypeVar("T")

COUNT_LIMIT = 1000
_EPOCH = datetime(1970, 1, 1)
_MAX_MICROS = (datetime(9999, 1, 1) - _EPOCH) // timedelta(microseconds=1)
_MICROS = re.compile(r"[0-9]{1,18}")


def parse_cursor(raw: Any) -> tuple[datetime, int] | None:
    """A (time, id) cursor from its text; None when missing or unreadable (the first page)."""
    raw = str(raw or "").strip()
    micros, sep, ident_text = raw.partition("-")
    if not sep:
        return None
    ident = validation.parse_id(ident_text)
    if not _MICROS.fullmatch(micros) or int(micros) > _MAX_MICROS or ident is None:
        return None
    moment = int(micros)
    return _EPOCH + timedelta(microseconds=moment), ident


def format_cursor(cursor: tuple[datetime, int] | None) -> str | None:
    if cursor is None:
        return None
    moment, ident = cursor
    if moment.tzinfo is not None:  # PostgreSQL may hand back aware times
        moment = moment.replace(tzinfo=None) - (moment.utcoffset() or timedelta())
    return f"{(moment - _EPOCH) // timedelta(microseconds=1)}-{ident}"


def bounded_count(stmt: Select, limit: int = COUNT_LIMIT) -> int:
    """How many rows ``stmt`` gives, counting no further than ``limit + 1``."""
    inner = stmt.limit(limit + 1).subquery()
    return db.session.execute(select(func.count()).select_from(inner)).scalar_one()


def cut(rows: list[T], size: int, key: Callable[[T], Any]) -> tuple[list[T], Any | None]:
    """A page read with one row more than it shows (``LIMIT size + 1``): its ``size`` rows,
    and the cursor of the next page (``key`` of the last row shown), None on the last."""
    more = len(rows) > size
    rows = rows[:size]
    return rows, (key(rows[-1]) if more and rows else None)
