"""A case's data are sealed by its events: a date, an amount or a vote count changed with SQL,
with no event, is named by ``audit verify``, as a state or a version changed so already was.

Each event that leaves a case's data changed carries the digest of the data as the row holds
them (``data_digest``); the engine's steps write it into their own event, a change made
through the ORM has it sealed at commit into the last event of its case, and a change with no
event of its case in the transaction is refused."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text

from pbflow import audit
from pbflow.engine import runtime
from pbflow.extensions import db
from pbflow.models import AuditEvent, ProcessInstance
from tests.test_audit import REQUEST


def _stored(case_id: int) -> str:
    """The data as the row stores them (the JSON text, not parsed)."""
    with db.engine.connect() as conn:
        return conn.execute(
            text("SELECT CAST(data AS TEXT) FROM process_instance WHERE id = :id"), {"id": case_id}
        ).scalar_one()


def _write_with_sql(case_id: int, stored: str) -> None:
    """An insider's UPDATE, with the application's own database access (no trigger off)."""
    db.session.rollback()
    cast = "CAST(:d AS JSON)" if db.engine.dialect.name == "postgresql" else ":d"
    with db.engine.begin() as conn:
        conn.execute(
            text(f"UPDATE process_instance SET data = {cast} WHERE id = :id"),
            {"d": stored, "id": case_id},
        )


def _events(case_id: int) -> list[dict]:
    rows = db.session.execute(
        select(AuditEvent.action, AuditEvent.payload)
        .where(AuditEvent.instance_id == case_id)
        .order_by(AuditEvent.seq)
    ).all()
    return [{"action": a, **json.loads(p)} for a, p in rows]


@pytest.fixture
def submitted(world):
    case = runtime.start("activity_funding", world.branch, world["branch_member"], REQUEST)
    runtime.fire(case.id, "submit", world["branch_member"])
    return case.id


def test_each_step_seals_the_data_it_leaves(submitted):
    events = _events(submitted)
    assert [e["action"] for e in events] == ["case_started", "transition"]
    assert events[-1][audit.DATA_DIGEST] == audit.data_digest(json.loads(_stored(submitted)))
    assert events[0][audit.DATA_DIGEST] != events[1][audit.DATA_DIGEST]  # "_by" grew
    assert audit.verify_database().ok


def test_an_amount_changed_with_sql_is_named_and_put_back_is_not(submitted, runner):
    before = _stored(submitted)
    data = json.loads(before)
    assert data["amount"] == "8000"
    _write_with_sql(submitted, json.dumps({**data, "amount": "800"}))
    result = audit.verify_database()
    assert not result.ok and result.broken_seq is None
    assert f"case {submitted}: its data" in result.problem
    assert "changed outside pbflow" in result.problem
    cli = runner.invoke(args=["pbflow", "audit", "verify"])
    assert cli.exit_code == 1 and f"case {submitted}: its data" in cli.output
    _write_with_sql(submitted, before)
    assert audit.verify_database().ok


def test_a_key_added_with_sql_is_named(submitted):
    data = json.loads(_stored(submitted))
    _write_with_sql(submitted, json.dumps({**data, "approved_by_committee": True}))
    assert f"case {submitted}: its data" in audit.verify_database().problem


def test_a_change_through_the_orm_is_sealed_into_its_event_at_commit(submitted, world):
    """A procedure's own write (a resolution's date, kept in the case's data) joins the event
    it records in the same transaction; verify then accepts the row as it is."""
    case = db.session.get(ProcessInstance, submitted)
    case.data = {**case.data, "note": "会议决定"}
    audit.record("comment_added", actor=world["secretary"], org_id=case.org_id, instance_id=case.id)
    db.session.commit()
    last = _events(submitted)[-1]
    assert last["action"] == "comment_added"
    assert last[audit.DATA_DIGEST] == audit.data_digest(json.loads(_stored(submitted)))
    assert audit.verify_database().ok
    data = json.loads(_stored(submitted))
    _write_with_sql(submitted, json.dumps({**data, "note": "会议未决定"}))
    assert f"case {submitted}: its data" in audit.verify_database().problem


def test_a_change_through_the_orm_without_its_event_is_refused(submitted):
    before, head = _stored(submitted), audit.head()
    case = db.session.get(ProcessInstance, submitted)
    case.data = {**case.data, "amount": "1"}
    with pytest.raises(audit.UnauditedChange, match=f"case {submitted}"):
        db.session.commit()
    db.session.rollback()
    assert _stored(submitted) == before and audit.head() == head
    assert audit.verify_database().ok


def test_a_seeded_case_changed_with_sql_is_named(world, runner):
    result = runner.invoke(args=["pbflow", "seed", "--scale", "40", "--seed", "7"])
    assert result.exit_code == 0, result.output
    assert audit.verify_database().ok
    case_id = db.session.execute(
        select(ProcessInstance.id).order_by(ProcessInstance.id.desc()).limit(1)
    ).scalar_one()
    data = json.loads(_stored(case_id))
    _write_with_sql(case_id, json.dumps({**data, "forged": "2020-01-01"}))
    assert f"case {case_id}: its data" in audit.verify_database().problem
