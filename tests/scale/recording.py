"""The SQL statements a call issues, as the plan tests read them (statement, parameters)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event

from pbflow.extensions import db


def recorded(call: Callable[[], Any]) -> tuple[Any, list[tuple[str, object]]]:
    """``call()``'s result and every statement it sent to the database, in order."""
    seen: list[tuple[str, object]] = []

    def listener(_conn, _cursor, statement, parameters, _context, _many):
        seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        result = call()
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    return result, seen
