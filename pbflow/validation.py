"""Bounds on what comes in from outside (pages, API, CLI, imported files): ids, whole
numbers, dates and text.

Each kind is checked in one place, so a huge id, a year 0 or a NUL byte gets a readable
refusal at the edge instead of an overflow deep in the database driver (issue 10):

- ids: positive and within the database's INTEGER columns (PostgreSQL's 32-bit ``integer``),
  ``parse_id``; the web app's ``int`` URL converter and the CLI's id arguments use the same
  bound;
- whole numbers that are not ids (counts, versions, page numbers): ``parse_int`` with bounds;
- dates: the ISO forms ``fields`` accepts, with years from 1900 to 2999, ``parse_date`` and
  ``parse_datetime``;
- text: no NUL characters (PostgreSQL refuses them in text) and no longer than its column
  (SQLite would silently keep any length). ``install_flush_checks`` checks every row the
  ORM writes against its columns, so a service that forgot a limit still answers with a
  refusal naming the field rather than a server error or an over-long value.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Integer, String, event, inspect
from sqlalchemy.orm import Session

from pbflow.engine.errors import ValidationFailed

# INTEGER columns: 32 bits on PostgreSQL (SQLite would take 64, but both must behave alike).
MAX_ID = 2**31 - 1
MIN_INT = -(2**31)
MAX_INT = 2**31 - 1
MIN_YEAR, MAX_YEAR = 1900, 2999
MAX_PAGE = 1_000_000  # beyond every list; an OFFSET past it would only overflow
NUL = "\x00"

_DIGITS = re.compile(r"[0-9]{1,10}")
_SIGNED = re.compile(r"-?[0-9]{1,10}")
_DATE = re.compile(r"(\d{4})([-/.])(\d{1,2})\2(\d{1,2})")


def parse_id(raw: Any) -> int | None:
    """The id in ``raw`` (text or int), or None when it is not one a row could have."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw if 1 <= raw <= MAX_ID else None
    text = str(raw if raw is not None else "").strip()
    if not _DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ID else None


def parse_int(raw: Any, *, low: int = MIN_INT, high: int = MAX_INT) -> int | None:
    """A whole number between ``low`` and ``high`` (ASCII digits only), or None."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        value = raw
    else:
        text = str(raw if raw is not None else "").strip()
        if not _SIGNED.fullmatch(text):
            return None
        value = int(text)
    return value if low <= value <= high else None


def parse_page(raw: Any) -> int:
    """A page number of a list: 1 when missing or out of range."""
    return parse_int(raw, low=1, high=MAX_PAGE) or 1


def parse_year(raw: Any) -> int | None:
    """A year from 1900 to 2999, or None."""
    return parse_int(raw, low=MIN_YEAR, high=MAX_YEAR)


def year_ok(value: date) -> bool:
    return MIN_YEAR <= value.year <= MAX_YEAR


def parse_date(raw: Any) -> date:
    """A calendar date from ISO text (2026-03-01) or the common 2026/3/1 and 2026.3.1 forms,
    with a year from 1900 to 2999.

    Anything else (week dates, 20260301, times, a date that does not exist such as
    2026-02-30) is refused with ValueError rather than guessed at.
    """
    if isinstance(raw, datetime):
        raw = raw.date()
    if isinstance(raw, date):
        value = raw
    else:
        match = _DATE.fullmatch(str(raw if raw is not None else "").strip())
        if match is None:
            raise ValueError(f"not a date: {raw!r}")
        value = date(int(match[1]), int(match[3]), int(match[4]))
    if not year_ok(value):
        raise ValueError(f"year out of range: {raw!r}")
    return value


def parse_datetime(raw: str) -> datetime:
    """An ISO 8601 time (2027-01-31T08:00, with or without an offset), years 1900 to 2999;
    ValueError otherwise."""
    value = datetime.fromisoformat(raw.strip())
    if not year_ok(value):
        raise ValueError(f"year out of range: {raw!r}")
    return value


def has_nul(value: Any) -> bool:
    return isinstance(value, str) and NUL in value


def text_problem(value: str, limit: int | None = None) -> str | None:
    """Why this text cannot be stored (a NUL character, longer than ``limit``), or None."""
    if NUL in value:
        return _("contains a character that is not allowed (NUL)")
    if limit is not None and len(value) > limit:
        return _("must be at most %(n)s characters", n=limit)
    return None


def column_length(column: Any) -> int | None:
    """The length of a String column (``Model.attr`` or a Column), or None."""
    col = getattr(column, "expression", column)
    kind = getattr(col, "type", None)
    return kind.length if isinstance(kind, String) else None


# --- every ORM write, against its columns ---------------------------------------------------


def _column_problem(column: Any, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return text_problem(value, column_length(column))
    whole = isinstance(value, int) and not isinstance(value, bool)
    if isinstance(column.type, Integer) and whole and not MIN_INT <= value <= MAX_INT:
        return _("is too large")
    return None


# The (attribute, column) pairs check_row looks at, per mapper and choice of columns: what
# the mapper says, read once (every flush checks every object it writes).
_CHECKED: dict[tuple[Any, tuple[str, ...] | None], list[tuple[str, Any]]] = {}


def _checked_columns(mapper: Any, only: tuple[str, ...] | None) -> list[tuple[str, Any]]:
    found = _CHECKED.get((mapper, only))
    if found is None:
        found = _CHECKED[(mapper, only)] = [
            (attr.key, attr.columns[0])
            for attr in mapper.column_attrs
            if len(attr.columns) == 1 and (only is None or attr.key in only)
        ]
    return found


def check_row(obj: Any, only: tuple[str, ...] | None = None) -> dict[str, str]:
    """Field errors of one ORM object about to be written, by column name (of the columns
    ``only`` names, when given)."""
    errors: dict[str, str] = {}
    state = inspect(obj)
    values = state.dict
    for key, column in _checked_columns(state.mapper, only):
        problem = _column_problem(column, values.get(key))
        if problem:
            errors[key] = problem
    return errors


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    errors: dict[str, str] = {}
    refused_new, refused_dirty = [], []
    for obj in session.new:
        if problems := check_row(obj):
            errors.update(problems)
            refused_new.append(obj)
    for obj in session.dirty:
        if problems := check_row(obj):
            errors.update(problems)
            refused_dirty.append(obj)
    if errors:
        # Leave nothing behind that a later flush of the same session would try again (a
        # view that shows the refusal still queries): the refused rows are dropped, the
        # refused changes forgotten. The caller's rollback discards the rest.
        for obj in refused_new:
            session.expunge(obj)
        for obj in refused_dirty:
            session.expire(obj)
        raise ValidationFailed(_("Some fields need correcting."), field_errors=errors)


def install_flush_checks(session_class: type[Session]) -> None:
    if not event.contains(session_class, "before_flush", _before_flush):
        event.listen(session_class, "before_flush", _before_flush)
