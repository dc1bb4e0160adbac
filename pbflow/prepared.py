"""PostgreSQL keeps a page's statements prepared from one request to the next.

Why: a branch's dashboard sends thirty statements, and the server spent more time parsing and
planning them than running them (4.5 ms of planning for 2 ms of work). psycopg prepares a
statement on a connection once it has run a few times there, so that the server parses and
analyses it once; but every ROLLBACK makes psycopg deallocate all of them, and every request
ended in one (the session's transaction is rolled back when the request's context ends,
whether it read or wrote). So a transaction that wrote nothing ends in COMMIT instead, which
for such a transaction is the same thing (nothing to keep, nothing to undo; row locks, which
``FOR UPDATE`` takes, give the transaction an id and leave it to the rollback).

"Wrote nothing" is asked of the server, not guessed from the session: a transaction that
wrote a row, took a row lock or made anything else it would have to undo has a transaction
id (``txid_current_if_assigned()``), whichever way the write was sent (the ORM, the engine's
own statements on the same connection). The plans stay custom (``plan_cache_mode =
force_custom_plan``, pbflow.config): each execution is planned for its values, as when the
statements were sent as text, so only the parsing and analysis are saved.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, current_app

from pbflow.extensions import db

log = logging.getLogger(__name__)

# Statements kept prepared per connection (psycopg's default, 100, is fewer than the main
# pages send together, and each one pushed out is deallocated by a statement of its own).
KEPT = 400


def _end_read_only(_exc: BaseException | None = None) -> None:
    """At the end of an application context, before the session is removed: COMMIT the
    session's PostgreSQL transaction when the server says it wrote nothing."""
    if not current_app.config["PBFLOW_PG_PREPARED"] or not db.session.registry.has():
        return
    session = db.session()
    if not session.in_transaction():
        return
    try:
        conn = session.connection()
        if conn.dialect.name != "postgresql":
            return
        raw: Any = conn.connection.driver_connection
        from psycopg import pq

        if raw.info.transaction_status != pq.TransactionStatus.INTRANS:
            return  # idle, or failed (its rollback follows)
        if raw.execute("SELECT txid_current_if_assigned()").fetchone()[0] is None:
            raw.commit()  # the session's rollback that follows finds the connection idle
    except Exception:  # a lost connection: the rollback that follows deals with it
        log.warning("could not end a read-only transaction with COMMIT", exc_info=True)


@contextmanager
def planned_once() -> Iterator[None]:
    """For the statements run inside it whose best plan does not depend on their values:
    PostgreSQL plans each once per connection (the generic plan of its prepared statement)
    instead of at every execution, as the session's ``plan_cache_mode = force_custom_plan``
    has it (pbflow.config). The inbox's statement is one: short index walks per holder of
    work, whoever asks, which the server spent more time planning than running (2.1 ms of
    planning a request for a committee secretary's inbox at 100,000 cases).

    The setting is the transaction's (``SET LOCAL``), put back after the statement; a
    statement that fails leaves it to the transaction's rollback. Not on SQLite, nor when
    statements are not kept prepared (``PBFLOW_PG_PREPARED=0``: each is planned anyway)."""
    session = db.session()
    raw: Any = None
    if current_app.config["PBFLOW_PG_PREPARED"]:
        conn = session.connection()
        if conn.dialect.name == "postgresql":
            raw = conn.connection.driver_connection
    if raw is None:
        yield
        return
    raw.execute("SET LOCAL plan_cache_mode = force_generic_plan", prepare=False)
    yield
    raw.execute("SET LOCAL plan_cache_mode = force_custom_plan", prepare=False)


def keep_prepared(dbapi_conn: Any, _record: Any) -> None:
    """On each new PostgreSQL connection: room for the pages' statements."""
    dbapi_conn.prepared_max = KEPT


def install(app: Flask) -> None:
    """Registered after Flask-SQLAlchemy's own teardown, so that it runs before it."""
    app.teardown_appcontext(_end_read_only)
