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


def test_the_roles_and_the_organizations_are_read_after_the_changes_not_yet_flushed(app, world):
    """Every page reads the reader's roles and the organizations on the raw cursor
    (``read_flushed``): a role granted, or an organization added, earlier in the same
    transaction and not yet flushed is there, as an ORM query's autoflush would have it."""
    from pbflow.engine import actors
    from pbflow.models import RoleAssignment

    member = world["member"]
    before = actors.roles_of(member.id)
    actors.forget_roles(member.id)
    actors.forget_orgs()
    db.session.add(RoleAssignment(user_id=member.id, org_id=world.committee.id, role="auditor"))
    added = Organization(
        code="read-test", name="Read test branch", kind="branch", parent_id=world.committee.id
    )
    db.session.add(added)
    assert added.id is None  # not flushed yet
    assert actors.roles_of(member.id) == before | {(world.committee.id, "auditor")}
    assert added.id is not None and added.id in actors.org_index()
    node = actors.org_index()[world.committee.id]
    assert node.active is True and node.created_at == world.committee.created_at
    db.session.rollback()


def test_a_read_within_a_flush_does_not_flush_again(app, world):
    """A flush hook that reads the organizations (validation's checks may) reads them as
    they stand, without starting a flush inside the flush."""
    from pbflow.engine import actors

    seen = []

    def during_flush(session, _context, _instances):
        actors.forget_orgs()
        seen.append(len(actors.org_index()))

    event.listen(db.session, "before_flush", during_flush)
    try:
        db.session.add(
            Organization(
                code="rt-2", name="Read test 2", kind="branch", parent_id=world.committee.id
            )
        )
        db.session.flush()
    finally:
        event.remove(db.session, "before_flush", during_flush)
    assert seen and seen[0] >= 4
    db.session.rollback()


def test_an_organizations_node_is_shared_while_its_row_reads_the_same(app, world):
    """Each request reads the organizations again; a node whose row has not changed is the
    one made before (with its parsed path), and a renamed organization gets a new one."""
    from pbflow.engine import actors

    first = actors.org_index()[world.branch.id]
    name = first.name
    db.session.remove()  # the next request's session
    again = actors.org_index()[world.branch.id]
    assert again is first
    branch = db.session.get(Organization, world.branch.id)
    branch.name = "Renamed branch"
    db.session.commit()
    renamed = actors.org_index()[world.branch.id]
    assert renamed is not first and (renamed.name, first.name) == ("Renamed branch", name)
    assert renamed.ancestors == first.ancestors
