"""An insider with the database (and sometimes the audit key) against the audit trail: forged
appends with the head moved and the case moved to match, records changed with no event,
checkpoints forged or removed, and what verification now says about each."""

from __future__ import annotations

import json
import os
import stat
from datetime import date, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import select, text

from pbflow import audit, audit_keys
from pbflow.engine import runtime
from pbflow.extensions import db
from pbflow.procedures.three_meetings import services as meetings
from pbflow.procedures.three_meetings.services import MeetingInput
from tests.test_audit import REQUEST

CHECKPOINT_TRIGGERS = {
    "sqlite": [
        "DROP TRIGGER audit_checkpoint_no_update",
        "DROP TRIGGER audit_checkpoint_no_delete",
    ],
    "postgresql": [
        "ALTER TABLE audit_checkpoint DISABLE TRIGGER audit_checkpoint_no_change",
    ],
}


class Insider:
    """Runs SQL with the application's own database access: no trigger is switched off."""

    def sql(self, statement: str, **params) -> None:
        db.session.rollback()
        with db.engine.begin() as conn:
            conn.execute(text(statement), params)

    def last_event(self) -> dict:
        cols = [audit.AuditEvent.__table__.c[name] for name in audit.EXPORT_FIELDS]
        with db.engine.connect() as conn:
            stmt = select(*cols).order_by(audit.AuditEvent.seq.desc()).limit(1)
            return conn.execute(stmt).one()._asdict()

    def append(self, **content) -> dict:
        """A well-formed next event with a correct (unkeyed) hash, the head moved to it."""
        last = self.last_event()
        row = {**last, **content, "seq": last["seq"] + 1, "prev_hash": last["hash"]}
        row["salt"] = os.urandom(16).hex()
        row["hash"] = audit.event_hash(row["prev_hash"], row)
        with db.engine.begin() as conn:
            conn.execute(audit.AuditEvent.__table__.insert(), [row])
            conn.execute(
                text("UPDATE audit_head SET seq = :s, hash = :h WHERE id = 1"),
                {"s": row["seq"], "h": row["hash"]},
            )
        return row


@pytest.fixture
def insider(world):
    return Insider()


@pytest.fixture
def case_at_review(world):
    case = runtime.start("activity_funding", world.branch, world["branch_member"], REQUEST)
    runtime.fire(case.id, "submit", world["branch_member"])
    return case.id


def _checkpoint(runner) -> int:
    result = runner.invoke(args=["pbflow", "audit", "head"])
    assert result.exit_code == 0, result.output
    return int(result.output.split()[0])


def _verify(runner, *args: str):
    result = runner.invoke(args=["pbflow", "audit", "verify", *args])
    assert "Traceback" not in result.output
    return result


# --- forged events ----------------------------------------------------------------------------


def test_a_forged_step_with_the_head_moved_and_the_case_moved_is_named(
    insider, case_at_review, runner, tmp_path, world
):
    checkpointed = _checkpoint(runner)
    assert audit.verify_database().ok
    # The insider approves the request in the secretary's name: an event that links and hashes
    # correctly, the head moved to it, and the case moved to match, all allowed by the triggers.
    forged = insider.append(
        actor_user_id=None,
        actor_label="secretary",
        org_id=world.branch.id,
        instance_id=case_at_review,
        action="transition",
        from_state="secretary_review",
        to_state="superior_review",
        payload=json.dumps({"trigger": "secretary_approve"}),
    )
    insider.sql(
        "UPDATE process_instance SET state = 'superior_review', version = version + 1"
        " WHERE id = :id",
        id=case_at_review,
    )

    result = audit.verify_database()
    assert not result.ok
    assert result.broken_seq == forged["seq"]
    assert "does not carry pbflow's seal" in result.problem
    cli = _verify(runner)
    assert cli.exit_code == 1
    assert f"BROKEN at event {forged['seq']}: event {forged['seq']} does not carry" in cli.output

    # The next tick refuses to sign over the forgery, and says why.
    tick = runner.invoke(args=["pbflow", "tick"])
    assert tick.exit_code == 1
    assert "audit checkpoint refused" in tick.output and "seal" in tick.output
    assert audit.verify_database().checkpointed == checkpointed

    # Offline, with the public key only, the forged event is not covered by any checkpoint.
    export = tmp_path / "audit.jsonl"
    assert runner.invoke(args=["pbflow", "audit", "export", "--out", str(export)]).exit_code == 0
    public = audit_keys.current().public_text
    offline = _verify(runner, "--file", str(export), "--public-key", public)
    assert offline.exit_code == 0
    assert f"cover events 1-{checkpointed}" in offline.output
    assert f"events {forged['seq']} not yet checkpointed" in offline.output


# --- records changed with no event -------------------------------------------------------------


def test_a_case_moved_with_sql_and_no_event_is_named(insider, case_at_review, runner):
    assert audit.verify_database().ok
    insider.sql("UPDATE process_instance SET state = 'approved' WHERE id = :id", id=case_at_review)
    result = audit.verify_database()
    assert not result.ok and result.broken_seq is None
    assert f"case {case_at_review} is at 'approved'" in result.problem
    assert "its audit events say 'secretary_review' (version 2" in result.problem
    cli = _verify(runner)
    assert cli.exit_code == 1 and f"BROKEN: case {case_at_review} is at 'approved'" in cli.output


def test_a_case_version_or_organization_changed_with_sql_is_named(insider, case_at_review, world):
    insider.sql("UPDATE process_instance SET version = 7 WHERE id = :id", id=case_at_review)
    assert "version 7" in audit.verify_database().problem
    insider.sql("UPDATE process_instance SET version = 2 WHERE id = :id", id=case_at_review)
    assert audit.verify_database().ok
    insider.sql(
        "UPDATE process_instance SET org_id = :o WHERE id = :id",
        o=world.other_branch.id,
        id=case_at_review,
    )
    assert f"organization {world.other_branch.id}" in audit.verify_database().problem


def _theme_day(world, **extra) -> MeetingInput:
    def pid(name: str) -> str:
        return str(world[name].person.id)

    values = {
        "meeting_type": "theme_day",
        "held_on": "2026-03-01",
        "topic": "学习新修订的《条例》",
        "chair": pid("secretary"),
        "recorder": pid("deputy"),
        "minutes": "书记领学，大家交流",
        "present": [pid(u) for u in ("secretary", "deputy", "member")],
        "reasons": {pid("branch_member"): "井下值班"},
    }
    values.update(extra)
    return MeetingInput(**values)


def test_a_meeting_changed_with_sql_is_named_and_audited_edits_are_not(insider, world, runner):
    m = meetings.record_meeting(world["secretary"], world.branch.id, _theme_day(world))
    meetings.edit_meeting(
        world["deputy"], m.id, _theme_day(world, minutes="补记：会后整改"), reason="补记"
    )
    assert audit.verify_database().ok

    insider.sql("UPDATE meeting SET minutes = '一切正常' WHERE id = :id", id=m.id)
    result = audit.verify_database()
    assert not result.ok
    assert f"meeting {m.id} differs from its last audited edit (minutes)" in result.problem
    insider.sql("UPDATE meeting SET minutes = '补记：会后整改' WHERE id = :id", id=m.id)
    assert audit.verify_database().ok

    # Marking an absent member present is an edit of the record too.
    insider.sql(
        "UPDATE meeting_attendance SET present = :t, reason = NULL WHERE meeting_id = :id",
        t=True,
        id=m.id,
    )
    result = audit.verify_database()
    assert "(absent, present)" in result.problem
    assert _verify(runner).exit_code == 1


def test_the_record_check_matches_the_meeting_snapshot(world):
    """audit_state reads meetings the way three_meetings.services.snapshot writes them."""
    from pbflow import audit_state
    from pbflow.models import Meeting

    m = meetings.record_meeting(world["secretary"], world.branch.id, _theme_day(world))
    rows = {mid: fields for mid, _v, fields, _f in audit_state._meeting_rows()}
    assert rows[m.id] == meetings.snapshot(db.session.get(Meeting, m.id))


def _training(world, on: str, hours: str, course: str = "党校轮训"):
    from pbflow.procedures.three_meetings import training

    return training.record_training(
        world["secretary"],
        world.branch.id,
        training.TrainingInput(
            person=str(world["member"].person.id), taken_on=on, course=course, hours=hours
        ),
    )


def test_a_training_record_changed_with_sql_is_named_and_audited_changes_are_not(
    insider, world, runner, clock
):
    from pbflow.procedures.three_meetings import training

    clock.set("2026-06-01T02:00:00")
    kept = _training(world, "2026-05-06", "16")
    edited = _training(world, "2026-05-07", "4", course="网上专题班")
    gone = _training(world, "2026-05-08", "2", course="集中轮训")
    kept, edited, gone = kept.id, edited.id, gone.id
    training.edit_training(
        world["deputy"],
        edited,
        training.TrainingInput(
            person=str(world["member"].person.id),
            taken_on="2026-05-07",
            course="网上专题班",
            hours="6",
            note="补记",
        ),
        expected_version=1,
    )
    training.delete_training(world["secretary"], gone, expected_version=1)
    assert audit.verify_database().ok

    # Hours added with SQL: named with the field.
    insider.sql("UPDATE training_record SET minutes = 1440 WHERE id = :id", id=kept)
    result = audit.verify_database()
    assert not result.ok
    assert (
        f"training record {kept} differs from its last audited edit (minutes): "
        "changed outside pbflow" in result.problem
    )
    assert _verify(runner).exit_code == 1
    insider.sql("UPDATE training_record SET minutes = 960 WHERE id = :id", id=kept)
    assert audit.verify_database().ok
    # The version moved without an edit, or an audited edit undone.
    insider.sql("UPDATE training_record SET version = 1, minutes = 240 WHERE id = :id", id=edited)
    problem = audit.verify_database().problem
    assert f"training record {edited} differs" in problem
    assert "minutes" in problem and "version 1, events say 2" in problem
    insider.sql("UPDATE training_record SET version = 2, minutes = 360 WHERE id = :id", id=edited)
    assert audit.verify_database().ok

    # A record inserted with SQL, with no event.
    insider.sql(
        "INSERT INTO training_record (id, org_id, person_id, taken_on, course, minutes,"
        " created_at, updated_at, version) VALUES (:id, :org, :person, :day, '伪造', 600, :at,"
        " :at, 1)",
        id=gone + 100,
        org=world.branch.id,
        person=world["member"].person.id,
        day=date(2026, 5, 9),
        at=datetime(2026, 5, 9, 2, 0),
    )
    result = audit.verify_database()
    assert not result.ok
    assert (
        f"training record {gone + 100} has no audit events: recorded outside pbflow"
        in result.problem
    )
    insider.sql("DELETE FROM training_record WHERE course = '伪造'")
    assert audit.verify_database().ok

    # A record deleted with SQL: its events remain.
    insider.sql("DELETE FROM training_record WHERE id = :id", id=kept)
    result = audit.verify_database()
    assert not result.ok
    assert (
        f"training record {kept} has audit events but no record: deleted outside pbflow"
        in result.problem
    )
    # A deleted record put back with SQL.
    insider.sql(
        "INSERT INTO training_record (id, org_id, person_id, taken_on, course, minutes,"
        " created_at, updated_at, version) VALUES (:id, :org, :person, :day, '集中轮训', 120,"
        " :at, :at, 1)",
        id=gone,
        org=world.branch.id,
        person=world["member"].person.id,
        day=date(2026, 5, 8),
        at=datetime(2026, 5, 8, 2, 0),
    )
    problems = audit.verify_database().problems
    assert any(f"training record {gone} was deleted" in p for p in problems)


def test_the_record_check_matches_the_training_snapshot(world, clock):
    """audit_state reads training records the way training.snapshot writes them."""
    from pbflow import audit_state
    from pbflow.models import TrainingRecord
    from pbflow.procedures.three_meetings import training

    clock.set("2026-06-01T02:00:00")
    record = _training(world, "2026-05-06", "2.5")
    rows = {rid: fields for rid, _v, fields in audit_state._training_rows()}
    assert rows[record.id] == training.snapshot(db.session.get(TrainingRecord, record.id))


# --- checkpoints ------------------------------------------------------------------------------


def test_the_key_is_created_once_private_and_printed_for_the_minutes(app, runner):
    first = runner.invoke(args=["pbflow", "audit", "key"])
    assert first.exit_code == 0
    printed = first.output.splitlines()[0]
    assert printed.startswith("ed25519:")
    path = audit_keys.key_path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = runner.invoke(args=["pbflow", "audit", "key"])
    assert again.output.splitlines()[0] == printed
    assert audit_keys.parse_public_key(printed) == audit_keys.current().public_raw


def test_the_key_file_can_live_outside_the_instance_folder(app, runner, tmp_path, monkeypatch):
    elsewhere = tmp_path / "keys" / "pbflow-audit.pem"
    monkeypatch.setitem(app.config, "PBFLOW_AUDIT_KEY_FILE", str(elsewhere))
    app.extensions.pop("pbflow_audit_key", None)
    printed = runner.invoke(args=["pbflow", "audit", "key"]).output.splitlines()[0]
    assert elsewhere.exists()
    assert audit_keys.public_text(audit_keys.current().public_raw) == printed


def test_checkpoints_are_taken_by_tick_and_head_and_cover_the_chain(world, runner):
    assert audit.verify_database().checkpointed == 0
    tick = runner.invoke(args=["pbflow", "tick"])
    assert tick.exit_code == 0, tick.output
    seq, head_hash = audit.head()
    result = audit.verify_database()
    assert result.ok and result.checkpointed == seq and result.checkpoints == 1
    assert "signed checkpoints (1) cover events 1-" in result.summary()
    # Nothing new: a second tick signs nothing more.
    assert runner.invoke(args=["pbflow", "tick"]).exit_code == 0
    assert audit.head() == (seq, head_hash)

    runtime.start("activity_funding", world.branch, world["branch_member"], REQUEST)
    n = audit.head()[0]
    result = audit.verify_database()
    assert result.checkpointed == seq
    tail = f"events {seq + 1}-{n} not yet checkpointed, their seals checked ({n - seq})"
    assert tail in result.summary()
    assert _checkpoint(runner) == n + 1  # the event recording the checkpoint is covered too
    assert audit.verify_database().checkpointed == n + 1


def test_a_checkpoint_forged_without_the_key_is_named(insider, case_at_review, runner):
    seq = _checkpoint(runner)
    forger = Ed25519PrivateKey.generate()
    forger_raw = forger.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    target = insider.last_event()
    message = audit_keys.checkpoint_message("audit", target["seq"], target["hash"], "x")
    own_key = audit_keys.current()

    # Signed with the forger's own key: not a trusted key.
    insider.sql(
        "INSERT INTO audit_checkpoint (chain, seq, hash, at, key_id, signature)"
        " VALUES ('audit', :s, :h, :at, :k, :sig)",
        s=seq - 1,
        h=audit.head()[1],
        at="2026-03-02 02:00:00.000000",
        k=audit_keys.key_id(forger_raw),
        sig=forger.sign(message).hex(),
    )
    result = audit.verify_database()
    assert not result.ok and result.broken_seq == seq - 1
    assert "which is not a trusted audit key" in result.problem

    # Claiming the server's key id, with a signature it did not make.
    insider.sql(
        "INSERT INTO audit_checkpoint (chain, seq, hash, at, key_id, signature)"
        " VALUES ('audit', :s, :h, :at, :k, :sig)",
        s=seq - 2,
        h="0" * 64,
        at="2026-03-02 02:00:00.000000",
        k=own_key.key_id,
        sig=forger.sign(message).hex(),
    )
    problems = "\n".join(audit.verify_database().problems)
    assert f"checkpoint at event {seq - 2}: its signature does not verify" in problems


def test_a_removed_checkpoint_is_named(insider, case_at_review, runner, world):
    seq = _checkpoint(runner)
    runtime.fire(case_at_review, "secretary_approve", world["secretary"])
    for stmt in CHECKPOINT_TRIGGERS[db.engine.dialect.name]:
        insider.sql(stmt)
    insider.sql("DELETE FROM audit_checkpoint WHERE seq = :s", s=seq)
    result = audit.verify_database()
    assert not result.ok and result.broken_seq == seq
    assert f"checkpoint at event {seq} is missing: the chain records that it was taken" in (
        result.problem
    )
    db.session.rollback()  # hold no locks: re-creating a trigger waits for them
    with db.engine.begin() as conn:
        audit.install_triggers(conn)


def test_checkpoints_verify_offline_with_the_public_key_from_the_minutes(
    case_at_review, runner, tmp_path
):
    seq = _checkpoint(runner)
    public = runner.invoke(args=["pbflow", "audit", "key"]).output.splitlines()[0]
    export = tmp_path / "audit.jsonl"
    runner.invoke(args=["pbflow", "audit", "export", "--out", str(export)])
    lines = export.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[-1])["kind"] == "checkpoint"

    ok = _verify(runner, "--file", str(export), "--public-key", public)
    assert ok.exit_code == 0, ok.output
    assert f"signed checkpoints (1) cover events 1-{seq}" in ok.output
    key_file = tmp_path / "minutes-key.txt"
    key_file.write_text(public + "\n", encoding="utf-8")
    assert _verify(runner, "--file", str(export), "--public-key", str(key_file)).exit_code == 0

    stranger = (
        Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    )
    wrong = _verify(runner, "--file", str(export), "--public-key", audit_keys.public_text(stranger))
    assert wrong.exit_code == 1 and "not a trusted audit key" in wrong.output

    cp = json.loads(lines[-1])
    cp["signature"] = cp["signature"][:-2] + ("00" if cp["signature"][-2:] != "00" else "11")
    forged = tmp_path / "forged.jsonl"
    forged.write_text("\n".join([*lines[:-1], json.dumps(cp)]) + "\n", encoding="utf-8")
    bad = _verify(runner, "--file", str(forged), "--public-key", public)
    assert bad.exit_code == 1 and f"checkpoint at event {seq}: its signature" in bad.output

    dropped = tmp_path / "dropped.jsonl"
    dropped.write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
    gone = _verify(runner, "--file", str(dropped), "--public-key", public)
    assert gone.exit_code == 1 and f"checkpoint at event {seq} is missing" in gone.output

    garbage = _verify(runner, "--file", str(export), "--public-key", "ed25519:nonsense")
    assert garbage.exit_code == 2 and "is not a public key" in garbage.output


def test_a_chain_rewritten_by_someone_without_the_key_is_named(insider, case_at_review, world):
    """Rewriting every event from the fifth on, hashes and head included, fails on the seals."""
    from tests.test_audit import Attacker

    a = Attacker()
    for stmt in {
        "sqlite": ["DROP TRIGGER audit_event_no_delete"],
        "postgresql": ["ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_change"],
    }[db.engine.dialect.name]:
        a.sql(stmt)
    n, _ = audit.head()
    prev = a.row(4)["hash"]
    rows = []
    for seq in range(5, n + 1):
        rows.append(a.forge(seq, prev, **({"payload": '{"x":1}'} if seq == 5 else {})))
        prev = rows[-1]["hash"]
    a.sql("DELETE FROM audit_event WHERE seq >= 5")
    for row in rows:
        a.insert(row)
    a.sql("UPDATE audit_head SET hash = :h WHERE id = 1", h=prev)
    result = audit.verify_database()
    assert not result.ok and result.broken_seq == 5 and "seal" in result.problem
    db.session.rollback()  # hold no locks: re-creating a trigger waits for them
    with db.engine.begin() as conn:
        audit.install_triggers(conn)


def test_the_walk_encodes_rows_exactly_as_the_append_path_hashes_them():
    rows = [
        (
            1,
            "2026-01-01T00:00:00.000000Z",
            None,
            "系统",
            3,
            None,
            "x",
            "a",
            None,
            '{"a":"中\\n"}',
            "ab",
        ),
        (2, "t", 5, 'u\u2028\x00"\\', None, 7, "y", None, None, "{}", None),
    ]
    for row in rows:
        assert audit._encode_row(row) == audit._EVENT_ENCODER.encode(list(row))
