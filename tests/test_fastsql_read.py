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
