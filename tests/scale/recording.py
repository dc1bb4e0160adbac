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


def plan(statement: str, parameters: object, *, before: Callable[[Any], Any] | None = None) -> str:
    """The database's plan of a recorded statement, as text (PostgreSQL: EXPLAIN with sequential
    and bitmap scans turned off, so that a small test database shows the index the statement
    can walk; SQLite: EXPLAIN QUERY PLAN). ``before(connection)`` runs first on PostgreSQL
    (within the same transaction, rolled back afterwards)."""
    conn = db.session.connection()
    if conn.dialect.name == "postgresql":
        if before is not None:
            before(conn)
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        conn.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
        rows = conn.exec_driver_sql("EXPLAIN " + statement, parameters)
    else:
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
    found = "\n".join(str(row[-1]) for row in rows)
    db.session.rollback()
    return found
