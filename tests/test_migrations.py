"""The migrations build exactly the schema the models declare, triggers included."""

from __future__ import annotations

import json
import uuid
import warnings

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import DBAPIError

from pbflow import create_app, title_search
from pbflow.extensions import db
from pbflow.models.process import OPINION_FACTS
from pbflow.models.process import RECTIFICATION_DEADLINE as DEADLINE
from tests.conftest import PG_URL


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


@pytest.fixture
def empty_pg_app():
    """A private, empty PostgreSQL database (when the tests have a server)."""
    if not PG_URL:
        pytest.skip("PBFLOW_TEST_DATABASE_URL is not set")
    name = f"pbflow_migrate_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "t",
            "SQLALCHEMY_DATABASE_URI": PG_URL.rsplit("/", 1)[0] + "/" + name,
        }
    )
    try:
        with app.app_context():
            yield app
            db.session.remove()
            db.engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _same_as_the_models() -> None:
    """No difference alembic can see, generated columns' expressions included (it only
    warns when those differ)."""
    with warnings.catch_warnings(record=True) as warned, db.engine.connect() as conn:
        warnings.simplefilter("always")
        context = MigrationContext.configure(
            conn, opts={"include_name": lambda name, *_: not title_search.is_search_object(name)}
        )
        diff = compare_metadata(context, db.metadata)
    assert diff == [], f"models and migrations differ: {diff}"
    assert [str(w.message) for w in warned] == []


def test_upgrade_from_nothing_matches_the_models(empty_app):
    upgrade()
    _same_as_the_models()
    with db.engine.connect() as conn:
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


def test_upgrade_leaves_pbflow_logging_on(empty_app):
    """Alembic's logging set-up once disabled every logger already made: after an
    in-process ``flask pbflow init``, pbflow logged nothing more (a migration's own warning
    that the titles' index was left out among it, and the demo's load after it)."""
    import logging

    upgrade()
    loggers = logging.root.manager.loggerDict.items()
    assert not [n for n, lg in loggers if n.startswith("pbflow") and getattr(lg, "disabled", 0)]
    heard: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: heard.append(record.getMessage())  # type: ignore[method-assign]
    logging.root.addHandler(handler)  # where the set-up's own console handler is
    try:
        logging.getLogger("pbflow.title_search").warning("the titles' index is left out")
    finally:
        logging.root.removeHandler(handler)
    assert heard == ["the titles' index is left out"]


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


def test_upgrade_on_postgresql_matches_the_models(empty_pg_app):
    upgrade()
    _same_as_the_models()


def _insert_branch(conn) -> None:
    """Organization 1, a branch."""
    conn.execute(
        text(
            "INSERT INTO organization (id, code, name, kind, path, active, settings,"
            " created_at) VALUES (1, 'b1', 'b1', 'branch', '/1/', true, '{}', '2026-01-01')"
        )
    )


def _insert_cases(conn, data: dict) -> None:
    """An opinion with ``data``, and a case of another workflow with the same document."""
    _insert_branch(conn)
    conn.execute(
        text(
            "INSERT INTO workflow_definition (id, workflow_id, revision, declared_version,"
            " content_hash, source, loaded_at)"
            " VALUES (1, 'opinion', 1, '1', 'h', '', '2026-01-01')"
        )
    )
    conn.execute(
        text(
            "INSERT INTO process_instance (id, definition_id, workflow_id, org_id, title,"
            " state, data, version, entered_version, created_at, updated_at,"
            " state_entered_at) VALUES (:id, 1, :workflow, 1, 't', 'closed', :data, 1, 1,"
            " '2026-03-01', '2026-03-01', '2026-03-01')"
        ),
        [
            {"id": 1, "workflow": "opinion", "data": json.dumps(data)},
            {"id": 2, "workflow": "rectification", "data": json.dumps(data)},
        ],
    )


def _facts(conn) -> tuple:
    """The opinion's facts (the other case has none)."""
    columns = ", ".join(OPINION_FACTS)
    rows = conn.execute(text(f"SELECT {columns} FROM process_instance ORDER BY id")).all()
    assert tuple(rows[1]) == (None, None, None, None)
    return tuple(rows[0])


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_opinion_facts_are_computed_for_cases_that_were_there_before(request, backend):
    """0013_opinion_facts: the generated columns need no backfill, the opinions already there
    have their facts at once (other cases none) and keep them with every write of ``data``;
    VIRTUAL on SQLite, STORED on PostgreSQL; the entries' index replaces the one by received
    time, and a downgrade gives the old schema back with the data untouched."""
    request.getfixturevalue("empty_app" if backend == "sqlite" else "empty_pg_app")
    postgres = backend == "postgresql"
    yes = "true" if postgres else "1"
    upgrade(revision="0012_person")
    data = {"first_published_on": "2026-03-05", "on_time": True, "rating": 4, "text": "长文"}
    with db.engine.begin() as conn:
        _insert_cases(conn, {**data, "reopen_count": 1})
    upgrade()
    with db.engine.begin() as conn:
        assert _facts(conn) == ("2026-03-05", yes, "4", "1")
        conn.execute(text("UPDATE process_instance SET data = :d"), {"d": json.dumps(data)})
        assert _facts(conn) == ("2026-03-05", yes, "4", None)
        if postgres:
            kinds = conn.execute(
                text(
                    "SELECT attname, attgenerated FROM pg_attribute"
                    " WHERE attrelid = 'process_instance'::regclass AND attgenerated != ''"
                )
            ).all()
            # stored (the rectification deadline of 0016 is one more)
            assert dict(kinds) == {**dict.fromkeys(OPINION_FACTS, "s"), DEADLINE: "s"}
        else:
            hidden = {
                r[1]: r[6] for r in conn.execute(text("PRAGMA table_xinfo(process_instance)"))
            }
            assert {n: hidden[n] for n in OPINION_FACTS} == dict.fromkeys(OPINION_FACTS, 2)
        indexes = {
            i["name"]: i["column_names"] for i in inspect(conn).get_indexes("process_instance")
        }
        assert indexes["ix_case_opinion_facts"][4:] == list(OPINION_FACTS)
        assert indexes["ix_case_workflow_created_org"] == [
            "workflow_id",
            "created_at",
            "id",
            "org_id",
        ]
        assert "ix_case_workflow_created" not in indexes
    downgrade(revision="0012_person")
    with db.engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("process_instance")}
        assert not columns & set(OPINION_FACTS)
        indexes = {
            i["name"]: i["column_names"] for i in inspect(conn).get_indexes("process_instance")
        }
        assert indexes["ix_case_workflow_created"] == ["workflow_id", "created_at"]
        assert "ix_case_workflow_created_org" not in indexes
        stored = conn.execute(text("SELECT data FROM process_instance WHERE id = 1")).scalar()
        assert (json.loads(stored) if isinstance(stored, str) else stored) == data
    upgrade()
    with db.engine.connect() as conn:
        assert _facts(conn) == ("2026-03-05", yes, "4", None)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_figures_kept_as_data_are_filled_from_the_cases_and_people_there(request, backend):
    """0016_sup_figures: the counts kept as data are filled from every case and person already
    there (what ``pbflow figures check`` recomputes), the rectification deadline is computed
    for the items already there, and a downgrade gives the old schema back with the data
    untouched."""
    from pbflow.engine import tally

    request.getfixturevalue("empty_app" if backend == "sqlite" else "empty_pg_app")
    upgrade(revision="0015_supervision")
    item = {"problem": "p", "deadline": "2026-02-20", "owner": 1}
    with db.engine.begin() as conn:
        _insert_cases(conn, {"first_published_on": "2026-03-05", "rating": 4})
        conn.execute(
            text("UPDATE process_instance SET data = :d, closed_at = NULL WHERE id = 2"),
            {"d": json.dumps(item)},
        )
        conn.execute(
            text(
                "INSERT INTO person (id, name, org_id, party_status, active, birth_date,"
                " full_member_on, on_party_probation, created_at) VALUES (1, 'p', 1, 'full',"
                " true, '1990-05-01', '2020-07-01', false, '2026-01-01')"
            )
        )
    upgrade()
    report = tally.check()
    db.session.remove()  # its reads end: the downgrade below takes its locks
    assert report.ok and report.cases == 2 and report.people == 1, report.summary()
    assert report.rows > 5
    with db.engine.connect() as conn:
        deadlines = conn.execute(
            text(f"SELECT id, {DEADLINE} FROM process_instance ORDER BY id")
        ).all()
        assert [tuple(r) for r in deadlines] == [(1, None), (2, "2026-02-20")]
    downgrade(revision="0015_supervision")
    with db.engine.connect() as conn:
        assert "case_tally" not in inspect(conn).get_table_names()
        columns = {c["name"] for c in inspect(conn).get_columns("process_instance")}
        assert DEADLINE not in columns
        stored = conn.execute(text("SELECT data FROM process_instance WHERE id = 2")).scalar()
        assert (json.loads(stored) if isinstance(stored, str) else stored) == item
    upgrade()
    assert tally.check().ok
    db.session.remove()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_training_totals_are_filled_from_the_meetings_and_records_there(request, backend):
    """0023_training_total: each member's minutes of a year are filled from the study
    meetings they attended (present, with hours) and their training records, per year; a
    downgrade drops the table and leaves the meetings and records as they were."""
    from pbflow.services import training_totals

    request.getfixturevalue("empty_app" if backend == "sqlite" else "empty_pg_app")
    upgrade(revision="0022_training_hours")
    with db.engine.begin() as conn:
        _insert_branch(conn)
        conn.execute(
            text(
                "INSERT INTO person (id, name, org_id, party_status, active,"
                " on_party_probation, created_at) VALUES (:id, :name, 1, 'full', true, false,"
                " '2026-01-01')"
            ),
            [{"id": 1, "name": "甲"}, {"id": 2, "name": "乙"}],
        )
        conn.execute(
            text(
                "INSERT INTO meeting (id, org_id, meeting_type, held_on, topic, minutes,"
                " created_at, updated_at, version, training_minutes) VALUES (:id, 1, :type,"
                " :on, 't', '', '2026-01-01', '2026-01-01', 1, :minutes)"
            ),
            [
                {"id": 1, "type": "party_lecture", "on": "2025-12-20", "minutes": 120},
                {"id": 2, "type": "theme_day", "on": "2026-03-05", "minutes": 90},
                {"id": 3, "type": "committee_meeting", "on": "2026-03-06", "minutes": None},
            ],
        )
        conn.execute(
            text(
                "INSERT INTO meeting_attendance (id, meeting_id, person_id, present)"
                " VALUES (:id, :meeting, :person, :present)"
            ),
            [
                {"id": 1, "meeting": 1, "person": 1, "present": True},
                {"id": 2, "meeting": 2, "person": 1, "present": True},
                {"id": 3, "meeting": 2, "person": 2, "present": False},
                {"id": 4, "meeting": 3, "person": 2, "present": True},
            ],
        )
        conn.execute(
            text(
                "INSERT INTO training_record (id, org_id, person_id, taken_on, course, minutes,"
                " created_at, updated_at, version) VALUES (1, 1, 2, '2026-05-06', 'c', 480,"
                " '2026-05-06', '2026-05-06', 1)"
            )
        )
    upgrade()
    assert training_totals.stored() == {(2025, 1): 120, (2026, 1): 90, (2026, 2): 480}
    assert training_totals.check().ok
    db.session.remove()  # its reads end: the downgrade below takes its locks
    downgrade(revision="0022_training_hours")
    with db.engine.connect() as conn:
        assert "training_total" not in inspect(conn).get_table_names()
        assert conn.execute(text("SELECT count(*) FROM meeting_attendance")).scalar() == 4
    upgrade()
    assert training_totals.check().ok
    db.session.remove()
