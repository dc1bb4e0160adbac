"""A case's data are sealed by its events: a date, an amount or a vote count changed with SQL,
with no event, is named by ``audit verify``, as a state or a version changed so already was.

Each event that leaves a case's data changed carries the digest of the data as the row holds
them (``data_digest``); the engine's steps write it into their own event, a change made
through the ORM has it sealed at commit into the last event of its case, and a change with no
event of its case in the transaction is refused."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import select, text

from pbflow import audit, audit_state
from pbflow.engine import runtime
from pbflow.extensions import db
from pbflow.models import AuditEvent, Person, ProcessInstance
from tests.conftest import PASSWORD
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


# --- people's records ---------------------------------------------------------------------------


def _person_sql(person_id: int, column: str, value) -> None:
    db.session.rollback()
    with db.engine.begin() as conn:
        conn.execute(
            text(f"UPDATE person SET {column} = :v WHERE id = :id"), {"v": value, "id": person_id}
        )


@pytest.fixture
def registered(world):
    """A person the office registered (an audited creation), then corrected (audited)."""
    from pbflow.services import people

    person = people.create_person(
        {"org_id": world.branch.id, "name": "秦岭", "birth_date": "1990-05-01"},
        actor=world["admin"],
    )
    people.correct_status(
        person,
        {"party_status": "applicant", "applied_on": "2026-01-05"},
        "纸质档案补录",
        actor=world["admin"],
    )
    return person.id


def test_each_audited_change_of_a_person_seals_their_record(registered):
    payloads = [
        json.loads(p)
        for (p,) in db.session.execute(
            select(AuditEvent.payload)
            .where(AuditEvent.action.in_(["person_created", "person_status_corrected"]))
            .order_by(AuditEvent.seq)
        )
    ]
    assert [p["person_id"] for p in payloads[-2:]] == [registered, registered]
    digests = [p[audit.PERSON_DIGEST] for p in payloads[-2:]]
    assert digests[0] != digests[1]
    assert audit.verify_database().ok


@pytest.mark.parametrize(
    "column, value",
    [
        ("party_status", "full"),  # an applicant made a full member: now votes, introduces
        ("applied_on", date(2024, 1, 5)),  # a longer standing, to pass a time limit
        ("org_id", None),  # moved to another branch (its officers then read and act)
        ("user_id", None),  # tied to another's account (who then acts as the subject)
    ],
)
def test_a_person_changed_through_the_orm_without_an_event_naming_them_is_refused(
    registered, world, column, value
):
    """As a case's data: code that changes a record no event names is refused at commit,
    and the transaction rolls back, the record and the trail as they were."""
    value = {"org_id": world.other_branch.id, "user_id": world["admin"].id}.get(column, value)
    person, head = db.session.get(Person, registered), audit.head()
    before = audit_state.person_digest(person)
    setattr(person, column, value)
    with pytest.raises(audit.UnauditedChange, match=f"person {registered}: their record"):
        db.session.commit()
    db.session.rollback()
    db.session.expire_all()
    assert audit_state.person_digest(db.session.get(Person, registered)) == before
    assert audit.head() == head
    assert audit.verify_database().ok


def test_the_same_change_with_an_event_naming_them_is_sealed_into_it(registered, world):
    person = db.session.get(Person, registered)
    person.applied_on = date(2024, 1, 5)
    change = {"person_id": person.id, "changes": {"applied_on": "2024-01-05"}}
    audit.record("person_updated", actor=world["admin"], org_id=person.org_id, payload=change)
    db.session.commit()
    payload = json.loads(
        db.session.execute(
            select(AuditEvent.payload).order_by(AuditEvent.seq.desc()).limit(1)
        ).scalar_one()
    )
    assert payload[audit.PERSON_DIGEST] == audit_state.person_digest(person)
    assert audit.verify_database().ok


def test_a_person_made_bare_in_the_transaction_needs_no_event(world):
    """A record built with its transaction (the tests' fixtures, the seed's bulk rows) is
    not a change of a record that was there: nothing to refuse."""
    person = Person(name="新建", org_id=world.branch.id, party_status="applicant")
    db.session.add(person)
    db.session.flush()
    person.phone = "13800000000"
    db.session.commit()
    assert db.session.get(Person, person.id).phone == "13800000000"


@pytest.mark.parametrize(
    "column, value",
    [
        ("party_status", "full"),  # an applicant made a full member: now votes, introduces
        ("applied_on", "2024-01-05"),  # a longer standing, to pass a time limit
        ("on_party_probation", True),
        ("birth_date", "2010-05-01"),
    ],
)
def test_a_person_changed_with_sql_is_named(registered, column, value, runner):
    _person_sql(registered, column, value)
    result = audit.verify_database()
    assert not result.ok and f"person {registered}: their record" in result.problem
    cli = runner.invoke(args=["pbflow", "audit", "verify"])
    assert cli.exit_code == 1 and f"person {registered}: their record" in cli.output


def test_a_development_step_seals_the_new_party_status(world, clock):
    """The development effects move a person's status in the step's transaction: the
    ``person_updated`` event seals it; a date changed afterwards with SQL is named."""
    from datetime import date

    from tests.conftest import make_user
    from tests.member_development.test_member_development import person_of

    clock.set("2026-09-20T02:00:00")
    person = person_of(
        make_user(
            "candidate", person_org=world.branch, party_status="none", birth_date=date(1998, 1, 1)
        )
    )
    sec = world["secretary"]
    case = runtime.start(
        "member_development",
        world.branch,
        sec,
        {"person": person.id, "application_date": "2025-01-10", "part_way": True},
    )
    runtime.fire(
        case.id,
        "adopt_as_target",
        sec,
        {"talk_date": "2025-01-20", "activist_on": "2025-03-01", "target_on": "2026-03-10"},
    )
    updated = db.session.execute(
        select(AuditEvent.payload)
        .where(AuditEvent.action == "person_updated")
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    ).scalar_one()
    assert json.loads(updated)[audit.PERSON_DIGEST]
    assert audit.verify_database().ok
    _person_sql(person.id, "activist_on", "2024-01-01")
    assert f"person {person.id}: their record" in audit.verify_database().problem


def test_a_seeded_person_changed_with_sql_is_named(world, runner):
    from pbflow.models import Person

    result = runner.invoke(args=["pbflow", "seed", "--scale", "40", "--seed", "8"])
    assert result.exit_code == 0, result.output
    assert audit.verify_database().ok
    person_id = db.session.execute(
        select(Person.id).where(Person.party_status == "full").order_by(Person.id.desc()).limit(1)
    ).scalar_one()
    _person_sql(person_id, "party_status", "probationary")
    assert f"person {person_id}: their record" in audit.verify_database().problem


# --- accounts' passwords ------------------------------------------------------------------------


def test_a_password_hash_replaced_with_sql_is_named(world, runner):
    """An insider who copies a known password's hash onto the committee secretary's account
    can log in as them; verify names the account (the hash is sealed, never shown)."""
    from pbflow.services import accounts

    accounts.set_password(world["secretary"], "a-new-password-1", actor=world["admin"])
    assert audit.verify_database().ok
    victim, known = world["secretary"].id, world["member"].password_hash
    db.session.rollback()
    with db.engine.begin() as conn:
        conn.execute(
            text("UPDATE user_account SET password_hash = :h WHERE id = :id"),
            {"h": known, "id": victim},
        )
    result = audit.verify_database()
    assert not result.ok and f"account {victim}: its password" in result.problem
    assert known not in result.problem


def test_ones_own_password_change_is_sealed(world):
    from pbflow.services import accounts

    member = world["member"]
    accounts.change_own_password(member, PASSWORD, "a-new-password-2", "a-new-password-2")
    last = _events_named("password_changed")[-1]
    assert last["user_id"] == member.id and last["own"] is True
    assert last[audit.CREDENTIAL_DIGEST] == audit.credential_digest(
        db.session.get(type(member), member.id).password_hash
    )
    assert audit.verify_database().ok


def _events_named(action: str) -> list[dict]:
    rows = db.session.execute(
        select(AuditEvent.payload).where(AuditEvent.action == action).order_by(AuditEvent.seq)
    ).scalars()
    return [json.loads(p) for p in rows]
