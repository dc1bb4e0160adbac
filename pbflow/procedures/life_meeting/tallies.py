"""What the life meeting procedure counts of its cases, kept as data by the engine
(``Procedure.tallies``, pbflow.engine.tally): a function of each case alone.

- ``held``: an organizational life meeting whose day is recorded, at that day, per state (the
  figures count those in a state the meeting is held in, as the workflow says now);
- ``deadline``: an open rectification item at its deadline (the figures count those whose
  deadline is before a day: overdue on that day).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

HELD, DEADLINE = "held", "deadline"


def day(value: Any) -> date | None:
    """A recorded day (an ISO date, as the engine stores a date field), None otherwise."""
    if not isinstance(value, str) or len(value) != 10:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def life_meeting(case: Any) -> Iterator[tuple[str, str, date, int]]:
    data = case.data or {}
    if data.get("kind") == "organizational":
        held = day(data.get("held_on"))
        if held is not None:
            yield HELD, case.state, held, 1


def rectification(case: Any) -> Iterator[tuple[str, str, date, int]]:
    if case.closed_at is None:
        deadline = day((case.data or {}).get("deadline"))
        if deadline is not None:
            yield DEADLINE, "", deadline, 1


TALLIES = {"life_meeting": life_meeting, "rectification": rectification}
