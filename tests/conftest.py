"""Fixtures: a fresh database per test (SQLite always, PostgreSQL when configured), a clock
for time travel, factories for organizations and people, and logged-in clients.

The schema is built once per session from the models (``create_all`` plus the audit triggers
and the index of the titles;
tests/test_migrations.py proves the migrations build the same schema), then each test gets
its own copy: a file copy on SQLite, emptied tables on PostgreSQL. The small organization
most tests stand in (``world``) is made once per worker too, and copied in with the schema
for the tests that ask for it.
"""

from __future__ import annotations

import gc
import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from jinja2 import BytecodeCache
from sqlalchemy import create_engine, text

from pbflow import create_app
from pbflow.extensions import db

PG_URL = os.environ.get("PBFLOW_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
PASSWORD = "correct-horse-42"
WORLD_TIME = "2026-03-02T02:00:00"  # a Monday, 10:00 in Beijing: the clock of every test at start


# The collector's thresholds for a process that runs a thousand tests: Python's default
# collects the youngest generation every 700 new objects, and a test that requests a page
# makes tens of thousands (its app, rows, template output), nearly all gone with the test.
# At the default the workers spent a quarter of their time in collections; at these, a tenth
# of that. A young collection waits for 50,000 new objects (a few megabytes) and the oldest
# for a hundred middle ones: the workers' peak memory did not grow.
gc.set_threshold(50_000, 20, 100)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The long tests (browsers, sweeps over every route) first, in their order: run last,
    one of them keeps a parallel worker busy after the others have finished."""
    items.sort(
        key=lambda item: not (item.get_closest_marker("slow") or item.get_closest_marker("browser"))
    )


def _pg_admin_url(url: str) -> str:
    return url.rsplit("/", 1)[0] + "/postgres"


@pytest.fixture(scope="session")
def pg_database():
    """A private PostgreSQL database for this test run (parallel runs do not collide)."""
    if not PG_URL:
        yield None
        return
    name = f"pbflow_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(_pg_admin_url(PG_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
        # A commit need not wait for its WAL to reach the disk: a test never survives a
        # server crash, and the transactions, locks and triggers are the same. The suite
        # commits tens of thousands of times (each step is one), 1-2 ms each otherwise.
        conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    url = PG_URL.rsplit("/", 1)[0] + "/" + name
    yield url
    with admin.connect() as conn:
        conn.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
            {"n": name},
        )
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


def _migrate(app) -> None:
    from pbflow import audit, security_log, title_search

    with app.app_context(), db.engine.begin() as conn:
        db.metadata.create_all(conn)
        audit.install_triggers(conn)
        security_log.install_triggers(conn)
        title_search.install(conn)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    folder = tmp_path_factory.mktemp("template")
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": folder,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'template.sqlite3'}",
            "SECRET_KEY": "test",
        }
    )
    _migrate(app)
    with app.app_context():
        db.engine.dispose()
    return folder / "template.sqlite3"


@pytest.fixture(scope="session")
def pg_template(pg_database):
    if pg_database is None:
        return None
    app = create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": pg_database, "SECRET_KEY": "test"}
    )
    _migrate(app)
    with app.app_context():
        db.engine.dispose()
    return pg_database


def _copy_audit_key(source: Path, target: Path) -> None:
    key = source / "audit_key.pem"
    if key.exists():
        shutil.copy(key, target / "audit_key.pem")


def _empty_pg(app, world: PgWorld | None = None) -> None:
    """Every table emptied, every sequence back to 1, the two chains' heads at their start;
    or, given the world, its rows and sequences as they were when it had just been made.

    DELETE rather than TRUNCATE: a test leaves a few rows, and TRUNCATE gives each of the
    tables and indexes a new file, 0.5 s a test on the CI machine against 10 ms (a thousand
    tests run on PostgreSQL). Triggers are off (replica role), as for a restore: the audit
    tables refuse deletes otherwise, and no foreign key is checked mid-way."""
    with app.app_context(), db.engine.begin() as conn:
        tables = [t.name for t in db.metadata.sorted_tables]
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text("; ".join(f'DELETE FROM "{t}"' for t in tables)))
        conn.execute(
            text(
                "SELECT setval(c.oid, 1, false) FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE c.relkind = 'S' AND n.nspname = current_schema()"
            )
        )
        if world is not None:
            for table, rows in world.rows:
                conn.execute(table.insert(), rows)
            for name, value in world.sequences.items():
                conn.execute(text("SELECT setval(:s, :v)"), {"s": name, "v": value})
            return
        conn.execute(
            text("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, :h)"), {"h": "0" * 64}
        )
        conn.execute(
            text("INSERT INTO security_head (id, seq, hash) VALUES (1, 0, :h)"), {"h": "0" * 64}
        )


def _test_config(folder: Path) -> dict[str, Any]:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "INSTANCE_PATH": folder,
        "PBFLOW_UPLOAD_DIR": str(folder / "uploads"),
        "WTF_CSRF_ENABLED": True,
        "PBFLOW_LOGIN_MAX_FAILURES": 3,
        "PBFLOW_PASSWORD_METHOD": "pbkdf2:sha256:1000",
    }


@pytest.fixture(scope="session")
def sqlite_world(sqlite_template, tmp_path_factory) -> Path:
    """A folder holding the schema with the world made in it (test.sqlite3), and the audit
    key that sealed the world's events: a test that asks for the world gets copies of both."""
    folder = tmp_path_factory.mktemp("world")
    shutil.copy(sqlite_template, folder / "test.sqlite3")
    app = create_app(
        {
            **_test_config(folder),
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'test.sqlite3'}",
            "PBFLOW_FAKE_NOW": datetime.fromisoformat(WORLD_TIME),
        }
    )
    with app.app_context():
        _make_world()
        db.session.remove()
        db.engine.dispose()
    return folder


@dataclass
class PgWorld:
    """The world's rows, table by table, and its sequences' values, read once per worker
    from PostgreSQL and written back into each test's emptied database."""

    folder: Path  # the instance folder whose audit key sealed the world's events
    rows: list[tuple[Any, list[dict[str, Any]]]]
    sequences: dict[str, int]


@pytest.fixture(scope="session")
def pg_world(pg_template, tmp_path_factory) -> PgWorld | None:
    if pg_template is None:
        return None
    from sqlalchemy import select

    folder = tmp_path_factory.mktemp("pg_world")
    app = create_app(
        {
            **_test_config(folder),
            "SQLALCHEMY_DATABASE_URI": pg_template,
            "PBFLOW_FAKE_NOW": datetime.fromisoformat(WORLD_TIME),
        }
    )
    _empty_pg(app)
    with app.app_context():
        _make_world()
        with db.engine.connect() as conn:
            rows = [
                (t, [dict(r) for r in conn.execute(select(t)).mappings()])
                for t in db.metadata.sorted_tables
            ]
            sequences = dict(
                conn.execute(
                    text(
                        "SELECT sequencename, last_value FROM pg_sequences"
                        " WHERE schemaname = current_schema() AND last_value IS NOT NULL"
                    )
                ).all()
            )
        db.session.remove()
        db.engine.dispose()
    return PgWorld(folder, [(t, r) for t, r in rows if r], sequences)


class _TemplateCode(BytecodeCache):
    """The templates' compiled code, kept by the worker across tests.

    Every test builds its own app, and each app's Jinja environment would compile again
    every template the test renders: half a dozen a test, about a third of the time of a
    test that requests pages. Every app built here has the same templates and the same
    Jinja options, so the code compiled for one serves them all; a template whose source
    changed has another checksum and is compiled afresh."""

    def __init__(self) -> None:
        self.held: dict[str, tuple[str, Any]] = {}

    def load_bytecode(self, bucket) -> None:
        held = self.held.get(bucket.key)
        if held is not None and held[0] == bucket.checksum:
            bucket.code = held[1]

    def dump_bytecode(self, bucket) -> None:
        self.held[bucket.key] = (bucket.checksum, bucket.code)


TEMPLATE_CODE = _TemplateCode()


@pytest.fixture(params=BACKENDS)
def app(request, tmp_path):
    backend = request.param
    config = _test_config(tmp_path)
    if hasattr(request, "node") and request.node.get_closest_marker("workflows_dir"):
        config["PBFLOW_WORKFLOWS_DIR"] = request.node.get_closest_marker("workflows_dir").args[0]
    if hasattr(request, "node") and request.node.get_closest_marker("procedures"):
        config["PBFLOW_PROCEDURES"] = request.node.get_closest_marker("procedures").args[0]
    # A test that stands in the world gets it with its database, ready made; unless it runs
    # other procedures or workflows than the shipped ones, whose own rows (the kept figures)
    # the world's making writes too.
    world_made = "world" in request.fixturenames and not (
        "PBFLOW_WORKFLOWS_DIR" in config or "PBFLOW_PROCEDURES" in config
    )
    config["PBFLOW_TEST_WORLD_MADE"] = world_made
    if backend == "sqlite":
        if world_made:
            source = request.getfixturevalue("sqlite_world")
            shutil.copy(source / "test.sqlite3", tmp_path / "test.sqlite3")
            _copy_audit_key(source, tmp_path)
        else:
            shutil.copy(request.getfixturevalue("sqlite_template"), tmp_path / "test.sqlite3")
        config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'test.sqlite3'}"
    else:
        config["SQLALCHEMY_DATABASE_URI"] = request.getfixturevalue("pg_template")
    application = create_app(config)
    application.jinja_env.bytecode_cache = TEMPLATE_CODE
    if backend == "postgresql":
        pg_world = request.getfixturevalue("pg_world") if world_made else None
        _empty_pg(application, pg_world)
        if pg_world is not None:
            _copy_audit_key(pg_world.folder, tmp_path)
    with application.app_context():
        yield application
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


class Clock:
    """Time travel: the engine, guards and timers all read pbflow.clock.now()."""

    def __init__(self, app):
        self.app = app

    def set(self, when: datetime | str) -> datetime:
        if isinstance(when, str):
            when = datetime.fromisoformat(when)
        self.app.config["PBFLOW_FAKE_NOW"] = when
        return when

    def advance(self, **delta: float) -> datetime:
        from pbflow import clock

        return self.set(clock.now() + timedelta(**delta))


@pytest.fixture
def clock(app):
    c = Clock(app)
    c.set(WORLD_TIME)
    return c


@dataclass
class World:
    """A small party organization: a committee, a general branch, two branches."""

    committee: Any
    general_branch: Any
    branch: Any
    other_branch: Any
    users: dict[str, Any]

    def __getitem__(self, name: str) -> Any:
        return self.users[name]


def recorded_set_up(*people: Any) -> None:
    """Changes a test's set-up made to people's records by hand, recorded as the office
    records a correction: an event naming each person (pbflow refuses, at commit, a change of
    a person's record that no event names, as it refuses a case's data changed without its
    event)."""
    from pbflow import audit

    for person in people:
        audit.record(
            "person_updated",
            actor=audit.SYSTEM,
            org_id=person.org_id,
            payload={"person_id": person.id, "note": "test set-up"},
        )


def make_user(
    username: str,
    roles: list[tuple[Any, str]] = (),
    *,
    person_org=None,
    party_status: str = "full",
    commit: bool = True,
    **person: Any,
):
    from pbflow.models import Person
    from pbflow.services import accounts

    user = accounts.create_user(
        username, username.replace("_", " ").title(), PASSWORD, commit=False
    )
    for org, role in roles:
        accounts.grant_role(user, org, role, commit=False)
    if person_org is not None:
        db.session.add(
            Person(
                name=user.display_name,
                org_id=person_org.id,
                user_id=user.id,
                party_status=party_status,
                **person,
            )
        )
    if commit:
        db.session.commit()
    else:
        db.session.flush()
    return user


@pytest.fixture
def world(app, clock) -> World:
    """The organization of the test, made with its database (``app``): read back here."""
    if app.config.get("PBFLOW_TEST_WORLD_MADE"):
        return _read_world()
    return _make_world()  # asked for by name from inside a test (request.getfixturevalue)


# The world's accounts: (username, the organization of their role, the role, the organization
# of their member profile or None).
WORLD_ACCOUNTS = (
    ("admin", "coal", "admin", None),
    ("committee_a", "coal", "committee", "coal"),
    ("committee_b", "coal", "committee", "coal"),
    ("committee_c", "coal", "committee", "coal"),
    ("gb_secretary", "gb1", "secretary", "gb1"),
    ("secretary", "b1", "secretary", "b1"),
    ("deputy", "b1", "deputy_secretary", "b1"),
    ("branch_member", "b1", "branch_committee", "b1"),
    ("member", "b1", "member", "b1"),
    ("other_secretary", "b2", "secretary", "b2"),
    ("auditor", "coal", "auditor", None),
)


def _read_world() -> World:
    from sqlalchemy import select

    from pbflow.models import Organization, User

    orgs = {o.code: o for o in db.session.scalars(select(Organization))}
    names = [name for name, *_ in WORLD_ACCOUNTS]
    users = {
        u.username: u for u in db.session.scalars(select(User).where(User.username.in_(names)))
    }
    return World(orgs["coal"], orgs["gb1"], orgs["b1"], orgs["b2"], {n: users[n] for n in names})


def _make_world() -> World:
    from pbflow.services import accounts

    one = {"commit": False}  # the world is made in one transaction: a thousand tests make it
    committee = accounts.create_org(
        "coal", "煤矿党委", "committee", name_en="Coal mine committee", **one
    )
    general = accounts.create_org(
        "gb1", "第一党总支", "general_branch", committee, name_en="First general branch", **one
    )
    branch = accounts.create_org(
        "b1", "采煤一队党支部", "branch", general, name_en="Mining team 1 branch", **one
    )
    other = accounts.create_org(
        "b2", "机电队党支部", "branch", committee, name_en="Electrical team branch", **one
    )
    orgs = {o.code: o for o in (committee, general, branch, other)}
    users = {
        name: make_user(
            name,
            [(orgs[org], role)],
            person_org=orgs[profile] if profile else None,
            commit=False,
        )
        for name, org, role, profile in WORLD_ACCOUNTS
    }
    db.session.commit()
    return World(committee, general, branch, other, users)


class Auth:
    def __init__(self, client):
        self.client = client

    def login(self, username: str, password: str = PASSWORD):
        page = self.client.get("/login")
        token = csrf_token(page.get_data(as_text=True))
        return self.client.post(
            "/login", data={"username": username, "password": password, "csrf_token": token}
        )

    def logout(self):
        page = self.client.get("/")
        token = csrf_token(page.get_data(as_text=True))
        return self.client.post("/logout", data={"csrf_token": token})


def csrf_token(html: str) -> str:
    import re

    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html
    )
    assert match, "page has no CSRF token"
    return match.group(1)


@pytest.fixture
def auth(client):
    return Auth(client)


def audit_actions(instance_id: int | None = None) -> list[str]:
    from sqlalchemy import select

    from pbflow.models import AuditEvent

    stmt = select(AuditEvent.action).order_by(AuditEvent.seq)
    if instance_id is not None:
        stmt = stmt.where(AuditEvent.instance_id == instance_id)
    return list(db.session.execute(stmt).scalars())


def security_actions(user_id: int | None = None) -> list[str]:
    """Actions in the security log (logins, lockouts, own account changes), in order."""
    from sqlalchemy import select

    from pbflow.models import SecurityEvent

    stmt = select(SecurityEvent.action).order_by(SecurityEvent.seq)
    if user_id is not None:
        stmt = stmt.where(SecurityEvent.user_id == user_id)
    return list(db.session.execute(stmt).scalars())


TEST_WORKFLOWS = Path(__file__).parent / "workflows"
