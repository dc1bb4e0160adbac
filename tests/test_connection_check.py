"""A pooled PostgreSQL connection is lent without a statement sent to check it, unless its
socket has something to read (pbflow.connection_check); a connection the server ended is then
pinged, thrown away and replaced (tests/test_bad_input.py walks that through pages)."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from pbflow.extensions import db


@pytest.fixture
def pings(app, monkeypatch):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the check is PostgreSQL's (a SQLite file has no server to end it)")
    assert db.engine.pool._pre_ping is False  # no statement on every checkout
    counted = []
    real = db.engine.dialect.do_ping
    monkeypatch.setattr(db.engine.dialect, "do_ping", lambda conn: counted.append(1) or real(conn))
    return counted


def _backend() -> int:
    with db.engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


def test_a_live_connection_is_lent_without_a_ping(app, pings):
    with app.app_context():
        first = _backend()
        for _ in range(5):
            assert _backend() == first  # the same pooled connection, lent again and again
    assert pings == []


def test_a_connection_the_server_ended_is_pinged_and_replaced(app, pings):
    with app.app_context():
        first = _backend()
        killer = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
        with killer.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": first}).scalar()
            conn.commit()
        killer.dispose()
        second = _backend()
    assert second != first
    assert pings == [1]  # the ended one, pinged once and thrown away; the new one not
