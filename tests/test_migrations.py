"""The migrations build exactly the schema the models declare, triggers included."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from pbflow import create_app
from pbflow.extensions import db


@pytest.fixture
def empty_app(tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "t",
            "INSTANCE_PATH": tmp_path,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'm.sqlite3'}",
        }
    )
    with app.app_context():
        yield app
        db.engine.dispose()


def test_upgrade_from_nothing_matches_the_models(empty_app):
    upgrade()
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
        assert diff == [], f"models and migrations differ: {diff}"
        triggers = {
            r[0]
            for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
        }
        assert {"audit_event_no_update", "audit_event_no_delete"} <= triggers
        assert conn.execute(text("SELECT seq FROM audit_head")).scalar() == 0


def test_upgrade_twice_changes_nothing(empty_app):
    upgrade()
    upgrade()
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_head")).scalar() == 1


def test_upgrade_gives_existing_files_their_owner_and_keeps_it(empty_app):
    """0005_sec_input: files already linked to a meeting become the meeting's; the database
    then refuses to move any file to another owner."""
    upgrade(revision="0001")
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO organization (id, code, name, kind, path, active, settings,"
                " created_at) VALUES (1, 'b1', 'b1', 'branch', '/1/', 1, '{}', '2026-01-01')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO meeting (id, org_id, meeting_type, held_on, topic, minutes,"
                " created_at, updated_at, version)"
                " VALUES (1, 1, 'theme_day', '2026-03-01', 't', '', '2026-03-01', '2026-03-01', 1)"
            )
        )
        for att in (1, 2):
            conn.execute(
                text(
                    "INSERT INTO attachment (id, org_id, sha256, filename, content_type, size,"
                    " created_at) VALUES (:id, 1, :h, 'm.pdf', 'application/pdf', 1, '2026-03-01')"
                ),
                {"id": att, "h": str(att) * 64},
            )
        conn.execute(text("INSERT INTO meeting_attachment VALUES (1, 1)"))
    upgrade()
    with db.engine.connect() as conn:
        owners = dict(conn.execute(text("SELECT id, owner FROM attachment")).all())
        assert owners == {1: "meeting", 2: "case"}
        triggers = {
            r[0]
            for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
        }
        assert {"attachment_owner_fixed", "meeting_attachment_owner"} <= triggers
    for statement in (
        "UPDATE attachment SET owner = 'case' WHERE id = 1",
        "INSERT INTO meeting_attachment VALUES (1, 2)",
        "UPDATE attachment SET owner = 'meeting' WHERE id = 2",
    ):
        with pytest.raises(DBAPIError), db.engine.begin() as conn:
            conn.execute(text(statement))
