"""The audit chain (DESIGN section 5): written in the change's own transaction, append-only at
the database level, and any tampering named by ``pbflow audit verify``."""

from __future__ import annotations

import json
import sqlite3
import threading

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from werkzeug.security import check_password_hash

from pbflow import audit, audit_keys
from pbflow.engine import runtime, votes
from pbflow.extensions import db
from pbflow.models import AuditEvent, Ballot, Organization, ProcessInstance, RoleAssignment, User
from pbflow.models.audit import GENESIS_HASH
from pbflow.services import accounts
from tests.conftest import PASSWORD, audit_actions

try:
    import psycopg

    # The chain's hot path may run on the session's raw DBAPI connection (engine.fastsql).
    DB_ERRORS: tuple[type[Exception], ...] = (DBAPIError, sqlite3.Error, psycopg.Error)
except ImportError:  # pragma: no cover - PostgreSQL driver not installed
    DB_ERRORS = (DBAPIError, sqlite3.Error)

REQUEST = {
    "purpose": "主题党日",
    "activity_date": "2026-03-20",
    "amount": "8000",
    "budget": "交通 8000",
}


def _count(model) -> int:
    return db.session.execute(select(func.count()).select_from(model)).scalar()


def _events() -> list[AuditEvent]:
    return list(db.session.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars())


def _committee_case(world) -> int:
    case = runtime.start("activity_funding", world.branch, world["branch_member"], REQUEST)
    runtime.fire(case.id, "submit", world["branch_member"])
    runtime.fire(case.id, "secretary_approve", world["secretary"])
    runtime.fire(case.id, "forward_to_committee", world["gb_secretary"])
    return case.id


def _user_exists(name: str) -> bool:
    return db.session.execute(select(User.id).where(User.username == name)).first() is not None


def _org_exists(code: str) -> bool:
    return db.session.execute(select(Organization.id).where(Organization.code == code)).first()


def _roles(user) -> set[str]:
    return set(
        db.session.execute(
            select(RoleAssignment.role).where(RoleAssignment.user_id == user.id)
        ).scalars()
    )


def _fresh(user) -> User:
    db.session.expire_all()
    return db.session.get(User, user.id)


# Each kind of change: (prepare, act, the event it writes, whether the change is in the DB).
CHANGES = {
    "user created": (
        None,
        lambda w, _: accounts.create_user("newbie", "New Bie", PASSWORD),
        "user_created",
        lambda w, _: _user_exists("newbie"),
    ),
    "role granted": (
        None,
        lambda w, _: accounts.grant_role(w["member"], w.branch, "group_leader"),
        "role_granted",
        lambda w, _: "group_leader" in _roles(w["member"]),
    ),
    "role revoked": (
        None,
        lambda w, _: accounts.revoke_role(w["member"], w.branch, "member"),
        "role_revoked",
        lambda w, _: "member" not in _roles(w["member"]),
    ),
    "organization created": (
        None,
        lambda w, _: accounts.create_org("b9", "新支部", "branch", w.general_branch),
        "org_created",
        lambda w, _: _org_exists("b9"),
    ),
    "password changed": (
        None,
        lambda w, _: accounts.set_password(w["member"], "another-password-1"),
        "password_changed",
        lambda w, _: check_password_hash(_fresh(w["member"]).password_hash, "another-password-1"),
    ),
    "user deactivated": (
        None,
        lambda w, _: accounts.set_active(w["member"], False),
        "user_deactivated",
        lambda w, _: not _fresh(w["member"]).active,
    ),
    "user unlocked": (
        lambda w: _lock(w["member"]),
        lambda w, _: accounts.unlock(w["member"]),
        "user_unlocked",
        lambda w, _: _fresh(w["member"]).locked_until is None,
    ),
    "case started": (
        None,
        lambda w, _: runtime.start("activity_funding", w.branch, w["branch_member"], REQUEST),
        "case_started",
        lambda w, _: _count(ProcessInstance) == 1,
    ),
    "transition": (
        lambda w: runtime.start("activity_funding", w.branch, w["branch_member"], REQUEST).id,
        lambda w, case_id: runtime.fire(case_id, "submit", w["branch_member"]),
        "transition",
        lambda w, case_id: runtime.load_case(case_id).state == "secretary_review",
    ),
    "ballot cast": (
        _committee_case,
        lambda w, case_id: votes.cast_ballot(case_id, w["committee_a"], "for"),
        "ballot_cast",
        lambda w, case_id: _count(Ballot) == 1,
    ),
}


def _lock(user) -> None:
    for _ in range(3):
        with pytest.raises(accounts.LoginRefused):
            accounts.authenticate(user.username, "wrong password")
    assert _fresh(user).locked_until is not None


@pytest.mark.parametrize("kind", list(CHANGES))
def test_each_change_is_committed_together_with_its_event(world, kind):
    prepare, act, action, changed = CHANGES[kind]
    ctx = prepare(world) if prepare else None
    seq_before, _ = audit.head()
    assert not changed(world, ctx)

    act(world, ctx)

    db.session.rollback()  # nothing left pending: both were committed
    assert changed(world, ctx)
    seq_after, head_hash = audit.head()
    assert seq_after > seq_before
    assert action in audit_actions()[seq_before:]
    assert _events()[-1].hash == head_hash
    assert audit.verify_database().ok


@pytest.mark.parametrize("kind", list(CHANGES))
def test_when_the_audit_write_fails_the_change_is_not_written_either(world, kind, monkeypatch):
    prepare, act, _action, changed = CHANGES[kind]
    ctx = prepare(world) if prepare else None
    head_before, count_before = audit.head(), _count(AuditEvent)
    # Make the INSERT of the event itself fail in the database (its hash must be unique),
    # after the head row was already moved: the whole transaction must go.
    taken = _events()[0].hash
    monkeypatch.setattr(audit, "event_hash", lambda prev, row: taken)

    with pytest.raises(DB_ERRORS):
        act(world, ctx)

    monkeypatch.undo()
    assert not changed(world, ctx)
    assert audit.head() == head_before
    assert _count(AuditEvent) == count_before
    assert audit.verify_database().ok


def test_an_exception_after_record_and_a_change_writes_neither(world):
    head_before = audit.head()
    with pytest.raises(RuntimeError):
        try:
            db.session.add(Organization(code="x1", name="x", kind="branch", path="/"))
            db.session.flush()
            audit.record("org_created", payload={"code": "x1"})
            raise RuntimeError("something went wrong half-way")
        except BaseException:
            db.session.rollback()
            raise
    assert not _org_exists("x1")
    assert audit.head() == head_before
    # The queued event is gone for good: the next, unrelated commit does not carry it along.
    accounts.create_user("later", "Later", PASSWORD)
    assert audit_actions()[head_before[0] :] == ["user_created"]


def test_a_session_closed_without_commit_drops_its_queued_events(world):
    head_before = audit.head()
    db.session.add(Organization(code="x2", name="x", kind="branch", path="/"))
    audit.record("org_created", payload={"code": "x2"})
    db.session.close()

    accounts.create_user("later", "Later", PASSWORD)
    assert not _org_exists("x2")
    assert audit_actions()[head_before[0] :] == ["user_created"]


def test_a_failing_flush_of_the_change_writes_no_event(world):
    """The events are inserted first at commit; a change refused afterwards undoes them."""
    head_before, count_before = audit.head(), _count(AuditEvent)
    db.session.add(Organization(code="coal", name="duplicate code", kind="committee", path="/"))
    audit.record("org_created", payload={"code": "coal"})
    with pytest.raises(DB_ERRORS):
        try:
            db.session.commit()
        except BaseException:
            db.session.rollback()
            raise
    assert audit.head() == head_before
    assert _count(AuditEvent) == count_before
    assert audit.verify_database().ok


def test_head_reads_the_database_not_a_cached_row(world):
    first = audit.head()
    accounts.create_user("another", "Another", PASSWORD)
    second = audit.head()
    assert second[0] == first[0] + 1 and second[1] != first[1]


# --- append-only triggers -----------------------------------------------------------------


def _refused_statements(dialect: str) -> list[str]:
    statements = [
        "UPDATE audit_event SET payload = '{}' WHERE seq = 2",
        "UPDATE audit_event SET seq = seq + 1000",
        "DELETE FROM audit_event WHERE seq = 2",
        "DELETE FROM audit_event",
        "DELETE FROM audit_head",
        "UPDATE audit_head SET seq = seq - 1",
        "UPDATE audit_head SET seq = 0, hash = '" + GENESIS_HASH + "'",
    ]
    if dialect == "postgresql":
        statements += [
            "TRUNCATE audit_event",
            "TRUNCATE audit_head",
            "TRUNCATE audit_event CASCADE",
        ]
    return statements


def test_triggers_refuse_to_change_or_remove_events_and_to_move_the_head_back(world):
    before = (_count(AuditEvent), audit.head())
    db.session.rollback()  # hold no locks: TRUNCATE would wait for them
    for stmt in _refused_statements(db.engine.dialect.name):
        with db.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SET lock_timeout = '10s'"))
            with pytest.raises(DBAPIError, match="append-only|only moves forward|cannot be"):
                conn.execute(text(stmt))
            conn.rollback()
    assert (_count(AuditEvent), audit.head()) == before
    assert audit.verify_database().ok


# --- tampering by someone with database access ----------------------------------------------

DROP_TRIGGERS = {
    "sqlite": [
        "DROP TRIGGER audit_event_no_update",
        "DROP TRIGGER audit_event_no_delete",
        "DROP TRIGGER audit_head_no_delete",
        "DROP TRIGGER audit_head_forward",
    ],
    "postgresql": [
        "DROP TRIGGER audit_event_no_change ON audit_event",
        "DROP TRIGGER audit_event_no_truncate ON audit_event",
        "DROP TRIGGER audit_head_guard ON audit_head",
        "DROP TRIGGER audit_head_no_truncate ON audit_head",
    ],
}


class Attacker:
    """Runs SQL directly, as someone holding the database password could."""

    def sql(self, *statements: str, **params) -> None:
        db.session.rollback()
        with db.engine.begin() as conn:
            for stmt in statements:
                conn.execute(text(stmt), params)

    def row(self, seq: int) -> dict:
        cols = [AuditEvent.__table__.c[name] for name in audit.EXPORT_FIELDS]
        with db.engine.connect() as conn:
            return conn.execute(select(*cols).where(AuditEvent.seq == seq)).one()._asdict()

    def insert(self, row: dict) -> None:
        with db.engine.begin() as conn:
            conn.execute(AuditEvent.__table__.insert(), [row])

    def renumber_from(self, seq: int, by: int) -> None:
        # Two steps, so no intermediate row collides with another's primary key.
        self.sql(
            "UPDATE audit_event SET seq = seq + 1000000 WHERE seq >= :s",
            "UPDATE audit_event SET seq = seq - 1000000 + :by WHERE seq >= 1000000",
            s=seq,
            by=by,
        )

    def forge(
        self, seq: int, prev_hash: str, base: int | None = None, *, key=None, **changes
    ) -> dict:
        """A well-formed event; sealed only by an attacker who also holds the audit ``key``."""
        row = {**self.row(base or seq), **changes, "seq": seq, "prev_hash": prev_hash}
        row["hash"] = audit.event_hash(prev_hash, row)
        if key is not None:
            row["seal"] = key.seal(row["hash"])
        return row


@pytest.fixture
def attacker(world):
    """Drops the append-only triggers first; puts them back afterwards for the next tests."""
    case = runtime.start("activity_funding", world.branch, world["branch_member"], REQUEST)
    runtime.fire(case.id, "submit", world["branch_member"])
    db.session.commit()
    dialect = db.engine.dialect.name
    a = Attacker()
    a.sql(*DROP_TRIGGERS[dialect])
    yield a
    db.session.rollback()
    with db.engine.begin() as conn:
        audit.install_triggers(conn)


def _tamper_edit(a: Attacker, n: int) -> int:
    a.sql("UPDATE audit_event SET payload = :p WHERE seq = 5", p='{"amount":"1"}')
    return 5


def _tamper_delete(a: Attacker, n: int) -> int:
    a.sql("DELETE FROM audit_event WHERE seq = 5")
    return 5


def _tamper_insert(a: Attacker, n: int) -> int:
    # A well-formed forgery that links to event 4; the event it displaces no longer links.
    forged = a.forge(5, a.row(4)["hash"], payload='{"username":"ghost"}', action="user_created")
    a.renumber_from(5, by=1)
    a.insert(forged)
    return 6


def _tamper_reorder(a: Attacker, n: int) -> int:
    a.sql(
        "UPDATE audit_event SET seq = -1 WHERE seq = 5",
        "UPDATE audit_event SET seq = 5 WHERE seq = 6",
        "UPDATE audit_event SET seq = 6 WHERE seq = -1",
    )
    return 5


def _tamper_truncate(a: Attacker, n: int) -> int:
    a.sql("DELETE FROM audit_event WHERE seq >= :s", s=n - 1)
    return n - 1


def _tamper_append(a: Attacker, n: int) -> int:
    # Appended with a valid link, but the chain head was not moved.
    a.insert(a.forge(n + 1, a.row(n)["hash"], base=n, action="login", payload="{}"))
    return n + 1


def _tamper_head(a: Attacker, n: int) -> int:
    a.sql("UPDATE audit_head SET hash = :h", h="f" * 64)
    return n


TAMPERING = {
    "payload edited": (_tamper_edit, "altered"),
    "middle event deleted": (_tamper_delete, "missing"),
    "forged event inserted": (_tamper_insert, "does not link"),
    "events reordered": (_tamper_reorder, "does not link"),
    "tail truncated": (_tamper_truncate, "trail ends at event"),
    "event appended behind the head": (_tamper_append, "beyond the chain head"),
    "head hash altered": (_tamper_head, "head"),
}


@pytest.mark.parametrize("kind", list(TAMPERING))
def test_verify_names_the_first_broken_event(attacker, runner, kind):
    tamper, problem = TAMPERING[kind]
    n, _ = audit.head()
    assert n > 10 and audit.verify_database().ok

    broken = tamper(attacker, n)

    result = audit.verify_database()
    assert not result.ok
    assert result.broken_seq == broken
    assert problem in result.problem
    cli = runner.invoke(args=["pbflow", "audit", "verify"])
    assert cli.exit_code == 1
    assert f"BROKEN at event {broken}:" in cli.output
    assert "Traceback" not in cli.output


def test_a_rewritten_chain_is_caught_by_a_head_published_earlier(attacker, runner):
    """Whoever holds the database and the audit key can rewrite every hash, seal and the head
    and defeats the chain alone; a head hash printed into a meeting's minutes beforehand still
    exposes it."""
    n, published = audit.head()
    prev = attacker.row(4)["hash"]
    rows = []
    key = audit_keys.current()
    # A consistent rewrite: the account the event creates keeps its id (verification compares
    # the accounts with their events), under another name.
    ghost = json.dumps({**json.loads(attacker.row(5)["payload"]), "username": "ghost"})
    for seq in range(5, n + 1):
        changes = {"payload": ghost} if seq == 5 else {}
        rows.append(attacker.forge(seq, prev, key=key, **changes))
        prev = rows[-1]["hash"]
    attacker.sql("DELETE FROM audit_event WHERE seq >= 5")
    for row in rows:
        attacker.insert(row)
    attacker.sql("UPDATE audit_head SET hash = :h WHERE id = 1", h=prev)

    assert audit.verify_database().ok  # self-consistent: only an outside record can tell
    result = audit.verify_database([published])
    assert not result.ok and published in result.problem
    cli = runner.invoke(args=["pbflow", "audit", "verify", "--head", published])
    assert cli.exit_code == 1 and "expected head hash not found" in cli.output


def test_truncating_the_tail_and_rewinding_the_head_is_caught_by_a_published_head(attacker):
    # The last two events describe no record (a case's events would be missed by the record
    # check, see test_audit_insider.py): only the published head can tell they were there.
    for i in range(2):
        audit.record("test_event", payload={"i": i})
        db.session.commit()
    n, published = audit.head()
    earlier = attacker.row(n - 2)
    attacker.sql(
        "DELETE FROM audit_event WHERE seq > :s",
        "UPDATE audit_head SET seq = :s, hash = :h WHERE id = 1",
        s=earlier["seq"],
        h=earlier["hash"],
    )
    assert audit.verify_database().ok
    assert not audit.verify_database([published]).ok


# --- export and offline verification --------------------------------------------------------


def _export(runner, tmp_path) -> list[str]:
    out = tmp_path / "audit.jsonl"
    result = runner.invoke(args=["pbflow", "audit", "export", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out.read_text(encoding="utf-8").splitlines()


def _verify_file(runner, tmp_path, lines: list[str], *heads: str):
    path = tmp_path / "edited.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    args = ["pbflow", "audit", "verify", "--file", str(path)]
    for h in heads:
        args += ["--head", h]
    result = runner.invoke(args=args)
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result


def test_export_verifies_offline_and_an_edited_line_is_named(world, runner, tmp_path):
    lines = _export(runner, tmp_path)
    n, head_hash = audit.head()
    assert len(lines) == n
    assert json.loads(lines[-1])["hash"] == head_hash

    ok = _verify_file(runner, tmp_path, lines, head_hash)
    assert ok.exit_code == 0 and f"OK: {n} events" in ok.output

    row = json.loads(lines[6])
    row["actor_label"] = "someone_else"
    edited = lines[:6] + [json.dumps(row, ensure_ascii=False)] + lines[7:]
    bad = _verify_file(runner, tmp_path, edited)
    assert bad.exit_code == 1
    assert f"BROKEN at event {row['seq']}: event {row['seq']} was altered" in bad.output

    dropped = _verify_file(runner, tmp_path, lines[:3] + lines[4:])
    assert dropped.exit_code == 1 and "BROKEN at event 4:" in dropped.output


def test_export_to_stdout_is_the_same_json_lines(world, runner, tmp_path):
    lines = _export(runner, tmp_path)
    result = runner.invoke(args=["pbflow", "audit", "export"])
    assert result.exit_code == 0
    assert result.output.splitlines() == lines


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("this is not json", "line 3: not valid JSON"),
        ("[1, 2, 3]", "line 3: not a JSON object"),
        ('{"seq": 3}', "line 3: missing fields"),
        ("SEQ_AS_TEXT", "line 3: 'seq' must be a whole number"),
        ("HASH_AS_NUMBER", "line 3: 'hash' must be text"),
    ],
)
def test_a_malformed_export_gives_a_clear_error(world, runner, tmp_path, bad_line, message):
    lines = _export(runner, tmp_path)
    if bad_line == "SEQ_AS_TEXT":
        bad_line = json.dumps({**json.loads(lines[2]), "seq": "three"})
    elif bad_line == "HASH_AS_NUMBER":
        bad_line = json.dumps({**json.loads(lines[2]), "hash": 12})
    result = _verify_file(runner, tmp_path, lines[:2] + [bad_line] + lines[3:])
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_verify_file_that_cannot_be_read(world, runner, tmp_path):
    result = runner.invoke(
        args=["pbflow", "audit", "verify", "--file", str(tmp_path / "missing.jsonl")]
    )
    assert result.exit_code == 1 and "cannot read" in result.output
    (tmp_path / "binary.jsonl").write_bytes(b"\xff\xfe\x00garbage\n")
    result = runner.invoke(
        args=["pbflow", "audit", "verify", "--file", str(tmp_path / "binary.jsonl")]
    )
    assert result.exit_code == 1 and "UTF-8" in result.output
    assert "Traceback" not in result.output


def test_export_to_an_unwritable_place_is_a_clear_error(world, runner, tmp_path):
    target = tmp_path / "no" / "such" / "folder" / "audit.jsonl"
    result = runner.invoke(args=["pbflow", "audit", "export", "--out", str(target)])
    assert result.exit_code == 1 and "cannot write" in result.output
    assert not isinstance(result.exception, OSError)


# --- the head, for a meeting's minutes ------------------------------------------------------


def test_head_prints_sequence_and_hash_and_verify_checks_a_published_head(world, runner):
    printed = runner.invoke(args=["pbflow", "audit", "head"])
    assert printed.exit_code == 0
    seq_text, published = printed.output.split()
    assert (int(seq_text), published) == audit.head()

    accounts.create_user("later", "Later", PASSWORD)
    assert audit.head()[0] == int(seq_text) + 1

    ok = runner.invoke(args=["pbflow", "audit", "verify", "--head", published])
    assert ok.exit_code == 0, ok.output
    # Pasted from minutes with other capitalization or stray spaces, it is still the same hash.
    ok = runner.invoke(args=["pbflow", "audit", "verify", "--head", f" {published.upper()} "])
    assert ok.exit_code == 0, ok.output
    unknown = runner.invoke(args=["pbflow", "audit", "verify", "--head", "ab" * 32])
    assert unknown.exit_code == 1
    assert "expected head hash not found in the chain: " + "ab" * 32 in unknown.output


def test_the_empty_chain_has_the_genesis_head(app, runner):
    printed = runner.invoke(args=["pbflow", "audit", "head"])
    assert printed.output.strip() == f"0 {GENESIS_HASH}"
    accounts.create_org("root", "党委", "committee")
    result = runner.invoke(args=["pbflow", "audit", "verify", "--head", GENESIS_HASH])
    assert result.exit_code == 0 and "OK: 1 events" in result.output


# --- concurrency ----------------------------------------------------------------------------


def test_concurrent_appenders_leave_a_gapless_valid_chain(app, world):
    db.session.commit()
    start_seq, _ = audit.head()
    per_thread, errors = 40, []
    barrier = threading.Barrier(2)

    def append(name: str) -> None:
        try:
            with app.app_context():
                barrier.wait()
                for i in range(per_thread):
                    audit.record("test_event", payload={"thread": name, "i": i})
                    db.session.commit()
                db.session.remove()
        except Exception as exc:  # reported to the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=append, args=(name,)) for name in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    seqs = list(db.session.execute(select(AuditEvent.seq).order_by(AuditEvent.seq)).scalars())
    assert seqs == list(range(1, start_seq + 2 * per_thread + 1))
    result = audit.verify_database()
    assert result.ok and result.count == start_seq + 2 * per_thread
    mine = [json.loads(e.payload) for e in _events() if e.action == "test_event"]
    for name in ("a", "b"):  # each thread's events are all there, in its own order
        assert [p["i"] for p in mine if p["thread"] == name] == list(range(per_thread))


def test_verifying_while_others_append_is_no_false_alarm(app, world):
    db.session.commit()
    done, errors = threading.Event(), []

    def append() -> None:
        try:
            with app.app_context():
                for i in range(60):
                    audit.record("test_event", payload={"i": i})
                    db.session.commit()
        except Exception as exc:  # reported to the main thread below
            errors.append(exc)
        finally:
            done.set()

    writer = threading.Thread(target=append)
    writer.start()
    results = []
    while not done.is_set() or not results:
        results.append(audit.verify_database())
        db.session.rollback()  # a fresh view of the database for the next walk
    writer.join()

    assert errors == []
    assert [r.problem for r in results if not r.ok] == []
    assert audit.verify_database().ok
