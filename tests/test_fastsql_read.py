"""Figures are read on the session's own DBAPI cursor (pbflow.engine.fastsql.read), past
SQLAlchemy's result machinery: the reads must still be inside the session's transaction and
still be seen by whoever counts a page's statements."""

from __future__ import annotations

from sqlalchemy import event

from pbflow.engine import fastsql
from pbflow.extensions import db
from pbflow.models import Organization


def _names(f) -> list[str]:
    return [
        name
        for (name,) in fastsql.read(
            f"SELECT name FROM organization WHERE name LIKE {f.placeholder} ORDER BY name",
            ["Read test%"],
        )
    ]


def test_a_read_sees_what_the_session_wrote_and_not_yet_committed(app, world):
    f = fastsql.flavour()
    assert _names(f) == []
    db.session.add(
        Organization(
            code="read-test", name="Read test branch", kind="branch", parent_id=world.committee.id
        )
    )
    db.session.flush()
    assert _names(f) == ["Read test branch"]
    db.session.rollback()
    assert _names(f) == []  # the new transaction's cursor: the rollback is seen


def test_a_read_is_told_to_the_statement_listeners(app, world):
    seen: list[tuple[str, tuple]] = []

    def listener(_conn, _cursor, statement, parameters, _context, _many):
        seen.append((statement, parameters))

    f = fastsql.flavour()
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        _names(f)
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert seen == [
        (
            f"SELECT name FROM organization WHERE name LIKE {f.placeholder} ORDER BY name",
            ("Read test%",),
        )
    ]


def test_a_read_is_recorded_by_listeners_that_keep_state_between_before_and_after(app, world):
    """Flask-SQLAlchemy's recorded queries (as a tracer would) keep a start time on the
    execution context before the statement and read it after."""
    from flask_sqlalchemy import record_queries

    f = fastsql.flavour()
    record_queries._listen(db.engine)
    try:
        _names(f)
        recorded = [q.statement for q in record_queries.get_recorded_queries()]
    finally:
        event.remove(db.engine, "before_cursor_execute", record_queries._record_start)
        event.remove(db.engine, "after_cursor_execute", record_queries._record_end)
    assert f"SELECT name FROM organization WHERE name LIKE {f.placeholder} ORDER BY name" in (
        recorded
    )


def test_a_listener_may_rewrite_the_read_as_it_may_any_statement(app, world):
    def comment(_conn, _cursor, statement, parameters, _context, _many):
        return statement + " -- figures", parameters

    seen: list[str] = []

    def after(_conn, _cursor, statement, _parameters, _context, _many):
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", comment, retval=True)
    event.listen(db.engine, "after_cursor_execute", after)
    try:
        assert _names(fastsql.flavour()) == []
    finally:
        event.remove(db.engine, "before_cursor_execute", comment)
        event.remove(db.engine, "after_cursor_execute", after)
    assert seen and seen[-1].endswith(" -- figures")
