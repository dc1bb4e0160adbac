"""The database session keeps its pooled connection between transactions (pbflow/extensions.py),
and the hot path's look-ups of the app context's session and app.

A kept connection must behave as one fresh from the pool: each transaction begun, committed or
rolled back on it; nothing held between two transactions; given back when the session closes;
replaced when it broke or, on a server database, when it waited too long."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from pbflow import extensions
from pbflow.extensions import db


def _dbapi():
    return db.session.connection().connection.driver_connection


def _count(action: str, conn=None) -> int:
    sql = text("SELECT count(*) FROM audit_event WHERE action = :a")
    return (conn or db.session).execute(sql, {"a": action}).scalar_one()


def test_a_session_keeps_its_connection_between_transactions(app):
    first = _dbapi()
    db.session.commit()
    second = _dbapi()
    db.session.rollback()
    third = _dbapi()
    db.session.commit()
    assert first is second is third


def test_each_transaction_still_commits_or_rolls_back_on_the_kept_connection(app):
    from pbflow import audit

    db.session.commit()
    audit.record("probe_rolled_back")
    db.session.execute(text("UPDATE audit_head SET hash = hash WHERE id = 1"))
    db.session.rollback()
    audit.record("probe_committed")
    db.session.commit()
    with db.engine.connect() as other:  # another connection sees the commit, not the other
        assert _count("probe_committed", other) == 1
        assert _count("probe_rolled_back", other) == 0


def test_between_transactions_the_kept_connection_holds_nothing(app):
    from pbflow import audit

    audit.record("probe")
    db.session.commit()
    conn = db.session.connection()
    db.session.commit()
    assert not conn.in_transaction()
    raw = conn.connection.driver_connection
    if db.engine.dialect.name == "sqlite":
        assert not raw.in_transaction
    else:
        assert raw.info.transaction_status.name == "IDLE"
    # Another connection may write at once: no lock is left behind (SQLite would wait for
    # its busy timeout, PostgreSQL for the row).
    with db.engine.begin() as other:
        other.execute(text("UPDATE audit_head SET hash = hash WHERE id = 1"))


def test_closing_the_session_gives_the_connection_back(app):
    db.session.connection()
    db.session.commit()
    pool = db.engine.pool
    assert pool.checkedout() == 1
    db.session.close()
    assert pool.checkedout() == 0
    db.session.connection()  # the next transaction takes one again
    assert pool.checkedout() == 1
    db.session.commit()
    db.session.remove()
    assert pool.checkedout() == 0


def test_a_broken_connection_is_replaced(app):
    conn = db.session.connection()
    db.session.commit()
    conn.invalidate()
    assert db.session.connection() is not conn
    db.session.commit()


def test_a_connection_left_in_a_transaction_is_not_reused(app):
    conn = db.session.connection()
    db.session.commit()
    trans = conn.begin()  # only a misuse could leave one open between two transactions
    assert db.session.connection() is not conn
    db.session.commit()
    assert conn.closed and not trans.is_active  # given back to the pool, rolled back


def test_a_connection_changed_by_execution_options_is_not_reused(app):
    # An isolation level asked for one transaction must not outlive it: the pool resets it.
    conn = db.session.connection(execution_options={"isolation_level": "SERIALIZABLE"})
    db.session.commit()
    again = db.session.connection()
    assert again is not conn and conn.closed
    assert again.get_execution_options() == db.engine.get_execution_options()
    db.session.commit()


def test_a_server_connection_that_waited_goes_back_through_the_pool(app, monkeypatch):
    conn = db.session.connection()
    db.session.commit()
    monkeypatch.setattr(extensions, "RECHECK_AFTER", 0.0)
    again = db.session.connection()
    db.session.commit()
    if db.engine.dialect.name == "sqlite":
        assert again is conn  # a file has no server to drop the connection
    else:
        assert again is not conn  # checked out anew: the pool's ping runs
        assert conn.closed


def test_a_savepoint_runs_on_the_kept_connection(app):
    from pbflow import audit

    conn = db.session.connection()
    with db.session.begin_nested():
        assert db.session.connection() is conn
    audit.record("probe")
    db.session.commit()
    assert _count("probe") == 1


def test_session_and_app_context_lookups(app):
    assert extensions.session() is db.session()
    assert extensions.app_context().app is app
    db.session.remove()
    fresh = extensions.session()  # the context had none left: one is made, as db.session() does
    assert fresh is db.session()
    with app.app_context():  # a context of its own has a session of its own
        inner = extensions.session()
        assert inner is db.session() and inner is not fresh
        inner_conn = db.session.connection()
        db.session.commit()
    assert inner_conn.closed  # given back when that context ended
    assert extensions.session() is fresh


def test_outside_an_app_context():
    assert extensions.app_context() is None
    with pytest.raises(RuntimeError):
        extensions.session()


FUNDING = {"purpose": "Party day", "activity_date": "2026-03-01", "amount": "100", "budget": "b"}


def test_a_started_case_is_the_sessions_persistent_copy_of_its_row(world):
    from sqlalchemy import inspect

    from pbflow.models import ProcessInstance
    from pbflow.services import cases

    requester = world["branch_member"]
    case = cases.start_case(requester, "activity_funding", world.branch.id, FUNDING)
    state = inspect(case)
    assert state.persistent and state.key[1] == (case.id,)
    assert db.session.get(ProcessInstance, case.id) is case  # no second copy, no query
    # Its relationships load as a loaded object's do, and it writes through the ORM.
    assert case.org.id == world.branch.id and case.submitter.id == requester.id
    assert case.definition.workflow_id == "activity_funding"
    assert case.subject is None and case.parent is None and case.assignee is None
    case.title = "Renamed"
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(ProcessInstance, case.id).title == "Renamed"


# --- a start whose transaction rolls back -----------------------------------------------------


def _failing_commit(monkeypatch):
    """The next commit fails in its audit hook (after the case's INSERT), as a lost connection
    or a refused write would."""
    from pbflow import audit

    def refuse(_events):
        raise RuntimeError("the audit append failed")

    monkeypatch.setattr(audit, "_append", refuse)


def test_a_start_rolled_back_leaves_the_session_and_the_next_start_joins_it(world, monkeypatch):
    from pbflow.engine import runtime
    from pbflow.models import ProcessInstance

    request = {
        "purpose": "主题党日",
        "activity_date": "2026-03-20",
        "amount": "300",
        "budget": "资料 300",
    }
    with monkeypatch.context() as m:
        _failing_commit(m)
        with pytest.raises(RuntimeError, match="audit append failed"):
            runtime.start("activity_funding", world.branch, world["branch_member"], request)
    assert not [o for o in db.session.identity_map.values() if isinstance(o, ProcessInstance)]
    assert db.session.execute(text("SELECT count(*) FROM process_instance")).scalar_one() == 0

    # The next start (given the same id on SQLite, which reuses a rolled-back rowid) joins
    # the session and commits with its audit event.
    case = runtime.start("activity_funding", world.branch, world["branch_member"], request)
    assert db.session.get(ProcessInstance, case.id) is case
    assert _count("case_started") == 1


def test_a_start_in_a_savepoint_rolled_back_leaves_the_session_the_outer_one_stays(world):
    from pbflow.engine import runtime
    from pbflow.models import ProcessInstance

    request = {
        "purpose": "主题党日",
        "activity_date": "2026-03-20",
        "amount": "300",
        "budget": "资料 300",
    }
    kept = runtime.start(
        "activity_funding", world.branch, world["branch_member"], request, commit=False
    )
    savepoint = db.session.begin_nested()
    dropped = runtime.start(
        "activity_funding", world.branch, world["branch_member"], request, commit=False
    )
    savepoint.rollback()
    assert dropped not in db.session
    assert kept in db.session
    db.session.commit()
    ids = db.session.execute(text("SELECT id FROM process_instance")).scalars().all()
    assert ids == [kept.id]
    assert db.session.get(ProcessInstance, kept.id) is kept
