"""On PostgreSQL a request that wrote nothing ends its transaction in COMMIT, so that psycopg
keeps the statements it prepared for the next request (pbflow.prepared); one that wrote
anything, however it wrote it, still ends in ROLLBACK: nothing left uncommitted by a request
is kept."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from pbflow import prepared
from pbflow.engine import fastsql
from pbflow.extensions import db
from tests.conftest import PASSWORD, csrf_token


@pytest.fixture
def pg(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("prepared statements are psycopg's, on PostgreSQL")
    return app


def _prepared_count() -> int:
    return db.session.execute(text("SELECT count(*) FROM pg_prepared_statements")).scalar()


def _org_name(org_id: int) -> str:
    return db.session.execute(
        text("SELECT name FROM organization WHERE id = :id"), {"id": org_id}
    ).scalar()


def _end_request() -> None:
    """What the end of a request's application context does: pbflow's teardown, then
    Flask-SQLAlchemy's (the session removed, its transaction rolled back)."""
    prepared._end_read_only()
    db.session.remove()


def test_a_request_that_only_read_keeps_its_prepared_statements(pg, world):
    for _ in range(8):  # psycopg prepares a statement after a few executions
        _org_name(world.branch.id)
    assert _prepared_count() >= 1
    _end_request()
    assert _prepared_count() >= 1  # the next request finds them


def test_without_the_commit_the_rollback_drops_them(pg, world):
    """The reason for pbflow.prepared: psycopg deallocates everything at a ROLLBACK."""
    for _ in range(8):
        _org_name(world.branch.id)
    assert _prepared_count() >= 1
    db.session.remove()
    assert _prepared_count() == 0


def test_a_write_sent_through_the_session_is_rolled_back_not_committed(pg, world):
    name = _org_name(world.branch.id)
    db.session.execute(
        text("UPDATE organization SET name = name || '!' WHERE id = :id"), {"id": world.branch.id}
    )
    _end_request()
    assert _org_name(world.branch.id) == name


def test_a_write_flushed_by_the_orm_is_rolled_back_not_committed(pg, world):
    org = db.session.get(type(world.branch), world.branch.id)
    name = org.name
    org.name = name + "!"
    db.session.flush()
    _end_request()
    assert _org_name(world.branch.id) == name


def test_a_write_on_the_engines_own_connection_is_rolled_back_not_committed(pg, world):
    name = _org_name(world.branch.id)
    fastsql.read(  # the engine's statements share the session's connection
        "UPDATE organization SET name = name || '!' WHERE id = %s RETURNING id",
        [world.branch.id],
    )
    _end_request()
    assert _org_name(world.branch.id) == name


def test_a_row_lock_is_left_to_the_rollback(pg, world):
    db.session.execute(
        text("SELECT id FROM organization WHERE id = :id FOR UPDATE"), {"id": world.branch.id}
    )
    raw = db.session.connection().connection.driver_connection
    prepared._end_read_only()
    from psycopg import pq

    assert raw.info.transaction_status == pq.TransactionStatus.INTRANS  # not committed
    db.session.remove()


def test_a_failed_transaction_is_left_to_the_rollback(pg, world):
    with pytest.raises(Exception):  # noqa: B017 - any database error
        db.session.execute(text("SELECT 1 / 0"))
    prepared._end_read_only()  # no error of its own
    db.session.remove()
    assert _org_name(world.branch.id) == world.branch.name


def test_it_runs_before_the_session_is_removed(app):
    """Flask calls the teardown functions in the reverse order of their registration."""
    names = [f.__name__ for f in app.teardown_appcontext_funcs]
    assert names.index("_end_read_only") > names.index("_teardown_session")


def test_on_sqlite_nothing_changes(app, world):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite")
    name = _org_name(world.branch.id)
    db.session.execute(
        text("UPDATE organization SET name = name || '!' WHERE id = :id"), {"id": world.branch.id}
    )
    _end_request()
    assert _org_name(world.branch.id) == name


def test_connections_keep_room_for_the_pages_statements(pg):
    raw = db.session.connection().connection.driver_connection
    assert raw.prepared_max == prepared.KEPT
    assert db.session.execute(text("SHOW plan_cache_mode")).scalar() == "force_custom_plan"


def test_requests_served_by_the_app_leave_their_statements_prepared(pg, world):
    """Through whole requests (each with its own application context, as in production):
    the pages' statements are still prepared on the connection when the requests are over."""
    from pbflow import create_app

    db.session.commit()  # the world, seen by the other app's connection
    served = create_app(dict(pg.config))  # its own app: each request its own context
    client = served.test_client()
    token = csrf_token(client.get("/login").get_data(as_text=True))
    form = {"username": "committee_a", "password": PASSWORD, "csrf_token": token}
    assert client.post("/login", data=form).status_code == 302
    for _ in range(8):
        assert client.get("/cases").status_code == 200
    with served.app_context():
        assert _prepared_count() >= 1
        db.session.remove()
        db.engine.dispose()


def test_turned_off_psycopg_prepares_nothing_and_requests_end_as_before(tmp_path):
    """``PBFLOW_PG_PREPARED=0`` (behind a pooler that cannot keep prepared statements)."""
    from pbflow.config import build_config

    url = "postgresql+psycopg://pbflow@db.example/pbflow"
    base = {"SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": url}
    on = build_config(tmp_path, base)["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"]
    off = build_config(tmp_path, {**base, "PBFLOW_PG_PREPARED": False})
    assert "prepare_threshold" not in on  # psycopg's default: after five executions
    assert off["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"]["prepare_threshold"] is None


def test_turned_off_a_read_only_request_ends_in_rollback(pg, world):
    pg.config["PBFLOW_PG_PREPARED"] = False
    _org_name(world.branch.id)
    raw = db.session.connection().connection.driver_connection
    prepared._end_read_only()
    from psycopg import pq

    assert raw.info.transaction_status == pq.TransactionStatus.INTRANS
    db.session.remove()


def test_a_connection_lost_at_the_end_is_left_to_the_rollback(pg, world, monkeypatch):
    """The teardown must not fail: Flask-SQLAlchemy's, which removes the session, runs
    after it."""
    _org_name(world.branch.id)
    raw = db.session.connection().connection.driver_connection

    def lost(*_args, **_kwargs):
        raise OSError("connection lost")

    monkeypatch.setattr(raw, "execute", lost)
    prepared._end_read_only()  # logs, does not raise
    monkeypatch.undo()
    db.session.remove()
    assert _org_name(world.branch.id) == world.branch.name


def test_the_inbox_statement_is_planned_once_per_connection(pg, world, app):
    """The inbox's statement (index walks per holder of work, whoever asks) runs on a
    generic plan once psycopg has prepared it, and the session's custom plans are back for
    whatever the transaction runs next. (Run each time: nothing kept between the calls, as
    after every recorded change.)"""
    from pbflow.services import inbox

    app.config["PBFLOW_INBOX_MEMO"] = 0
    for _ in range(8):  # psycopg prepares a statement after a few executions
        assert inbox.counts(world["secretary"]) == (0, 0)
    plans = db.session.execute(
        text(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
            " WHERE statement LIKE '%AS part%'"
        )
    ).all()
    assert plans and all(generic >= 1 and custom == 0 for generic, custom in plans)
    assert db.session.execute(text("SHOW plan_cache_mode")).scalar() == "force_custom_plan"
    assert _org_name(world.branch.id)  # the transaction goes on


def test_a_failing_statement_leaves_the_plan_setting_to_the_rollback(pg, world):
    """Setting it back inside the failed transaction would raise "current transaction is
    aborted" in place of the statement's own error; the rollback sets it back instead."""
    with pytest.raises(Exception, match="division by zero"), prepared.planned_once():
        db.session.execute(text("SELECT 1 / 0"))
    db.session.rollback()
    assert db.session.execute(text("SHOW plan_cache_mode")).scalar() == "force_custom_plan"
