"""Verification reads each event's canonical body from SQLite (json_array) instead of
encoding it in Python: the two encodings agree on every character, and an event whose
database encoding differed would still be judged by Python's."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from pbflow import audit
from pbflow.audit import _encode_row
from pbflow.engine import fastsql
from pbflow.extensions import db


def test_sqlite_json_array_encodes_like_the_audit_encoder(app):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("the database encodes rows on SQLite only")
    samples = [chr(c) for c in range(0x80)] + ["\u00a0", "\u2028", "\u2029", "\ufeff", "中文"]
    samples += ['{"k":"v\\n"}', "\U0010ffff", ""]
    conn = db.session.connection()
    for s in samples:
        row = [1, f"a{s}b", None, -5, s]
        ours = _encode_row(row)
        theirs = conn.execute(
            text("SELECT json_array(:a, :b, :c, :d, :e)"),
            {"a": 1, "b": f"a{s}b", "c": None, "d": -5, "e": s},
        ).scalar()
        assert ours == theirs, repr(s)


def test_verification_walks_database_encoded_rows_and_finds_an_altered_event(app):
    for n in range(5):
        audit.record("settings_changed", payload={"n": n, "text": '行\n\t"x"'})
    db.session.commit()
    assert audit.verify_database().ok
    rows = list(fastsql.walk_audit(encoded=fastsql.encodes_rows()))
    assert len(rows) == 5
    if fastsql.encodes_rows():
        assert all(r[14] == _encode_row(r[:11]) for r in rows)
    # An altered event is found on the walk the database encodes as on Python's.
    raw = db.session.connection().connection.driver_connection
    cur = raw.cursor()
    if db.engine.dialect.name == "sqlite":
        cur.execute("DROP TRIGGER audit_event_no_update")
        cur.execute("UPDATE audit_event SET payload = '{\"n\":9}' WHERE seq = 3")
    else:
        cur.execute("ALTER TABLE audit_event DISABLE TRIGGER USER")
        cur.execute("UPDATE audit_event SET payload = '{\"n\":9}' WHERE seq = 3")
        cur.execute("ALTER TABLE audit_event ENABLE TRIGGER USER")
    db.session.commit()
    result = audit.verify_database()
    assert not result.ok and result.broken_seq == 3
