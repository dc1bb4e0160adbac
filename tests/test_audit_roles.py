"""PostgreSQL: pbflow runs as a role that owns nothing and may only read and append to the
audit tables, so it can neither change history nor switch the triggers off (README,
"Production"). The GRANTs are the ones ``pbflow audit grants`` prints."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from pbflow import audit, create_app
from pbflow.engine import runtime
from pbflow.extensions import db
from pbflow.models import Organization, User
from tests.test_audit import REQUEST

REFUSED = [
    ("UPDATE audit_event SET payload = '{}' WHERE seq = 2", "permission denied"),
    ("DELETE FROM audit_event WHERE seq = 2", "permission denied"),
    ("TRUNCATE audit_event", "permission denied"),
    ("UPDATE audit_checkpoint SET hash = hash", "permission denied"),
    ("DELETE FROM audit_checkpoint", "permission denied"),
    ("TRUNCATE audit_checkpoint", "permission denied"),
    ("INSERT INTO audit_head (id, seq, hash) VALUES (2, 0, 'x')", "permission denied"),
    ("DELETE FROM audit_head", "permission denied"),
    ("TRUNCATE audit_head", "permission denied"),
    ("UPDATE audit_head SET seq = seq - 1", "only moves forward"),
    ("UPDATE audit_head SET hash_format = 1", "only moves forward"),
    ("ALTER TABLE audit_event DISABLE TRIGGER ALL", "must be owner"),
    ("ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_change", "must be owner"),
    ("DROP TRIGGER audit_event_no_change ON audit_event", "must be owner"),
    ("ALTER TABLE audit_checkpoint DISABLE TRIGGER ALL", "must be owner"),
    ("SET session_replication_role = replica", "permission denied"),
    ("DROP TABLE audit_event", "must be owner"),
    ("CREATE TABLE audit_copy (seq integer)", "permission denied"),
]


@pytest.fixture
def app_role(app, world, runner):
    """A login role with pbflow's GRANTs, applied by the owner through the CLI."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("roles and privileges are PostgreSQL's")
    role = f"pbflow_app_{uuid.uuid4().hex[:8]}"
    db.session.commit()
    with db.engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE')
    granted = runner.invoke(args=["pbflow", "audit", "grants", role, "--apply"])
    assert granted.exit_code == 0, granted.output
    yield role
    db.session.rollback()
    with db.engine.begin() as conn:
        conn.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,)
        )
        conn.exec_driver_sql(f'DROP OWNED BY "{role}"')
        conn.exec_driver_sql(f'DROP ROLE "{role}"')


def test_pbflow_runs_as_an_unprivileged_role_that_cannot_touch_history(app, world, app_role):
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).set(username=app_role, password=None)
    as_role = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test",
            "INSTANCE_PATH": app.instance_path,  # the same audit key
            "SQLALCHEMY_DATABASE_URI": url.render_as_string(hide_password=False),
        }
    )
    member, secretary = world["branch_member"].id, world["secretary"].id
    branch = world.branch.id
    with as_role.app_context():
        assert db.session.execute(text("SELECT current_user")).scalar() == app_role
        user = db.session.get(User, member)
        case = runtime.start(
            "activity_funding", db.session.get(Organization, branch), user, REQUEST
        )
        runtime.fire(case.id, "submit", user)
        runtime.fire(case.id, "secretary_approve", db.session.get(User, secretary))
        assert audit.checkpoint() is not None
        result = audit.verify_database()
        assert result.ok, result.summary()
        assert result.checkpointed == result.head_seq
        db.session.remove()
        db.engine.dispose()

    engine = create_engine(url)
    try:
        for statement, refusal in REFUSED:
            with engine.connect() as conn:
                with pytest.raises(DBAPIError, match=refusal):
                    conn.execute(text(statement))
                conn.rollback()
    finally:
        engine.dispose()
    assert audit.verify_database().ok


def test_grants_name_a_plain_role_only(app, runner):
    bad = runner.invoke(args=["pbflow", "audit", "grants", 'x"; DROP TABLE audit_event; --'])
    assert bad.exit_code == 2 and "is not a plain role name" in bad.output
    printed = runner.invoke(args=["pbflow", "audit", "grants", "pbflow_app"])
    assert printed.exit_code == 0
    assert "GRANT SELECT, INSERT ON audit_event, audit_checkpoint TO " in printed.output
    assert "GRANT UPDATE (seq, hash, hash_format) ON audit_head" in printed.output
    assert "UPDATE, DELETE ON audit" not in printed.output
