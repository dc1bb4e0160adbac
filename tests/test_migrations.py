"""The migrations build exactly the schema the models declare, triggers included."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import text

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
