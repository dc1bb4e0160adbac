"""Append to and verify the hash-chained audit trail (DESIGN section 5).

Callers never write ``audit_event`` rows themselves: they call :func:`record`, which queues
the event on the current database session. The queue is written by a ``before_commit`` hook
inside the same transaction as the change it describes, so a change and its event are
committed together or not at all, and the chain head is locked only for the last moment of
the transaction.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TextIO

from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from pbflow.clock import now
from pbflow.extensions import db
from pbflow.models.audit import GENESIS_HASH, AuditEvent, AuditHead

_PENDING = "pbflow_audit_pending"

SYSTEM = "system"
ANONYMOUS = "anonymous"


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return sorted(value) if isinstance(value, set | frozenset) else list(value)
    raise TypeError(f"cannot encode {type(value).__name__} in an audit payload")


def canonical_payload(payload: dict[str, Any] | None) -> str:
    return json.dumps(
        payload or {},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=_json_default,
    )


def format_time(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_hash(prev_hash: str, row: dict[str, Any]) -> str:
    """SHA-256 over the previous hash and a canonical encoding of the event's fields."""
    body = json.dumps(
        [
            row["seq"],
            format_time(row["at"]) if isinstance(row["at"], datetime) else row["at"],
            row["actor_user_id"],
            row["actor_label"],
            row["org_id"],
            row["instance_id"],
            row["action"],
            row["from_state"],
            row["to_state"],
            row["payload"],
        ],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def actor_fields(actor: Any) -> tuple[int | None, str]:
    """(user id, label) for a User, the string "anonymous", or None/"system"."""
    if actor is None or actor == SYSTEM:
        return None, SYSTEM
    if actor == ANONYMOUS:
        return None, ANONYMOUS
    return actor.id, actor.username


def record(
    action: str,
    *,
    actor: Any = None,
    org_id: int | None = None,
    instance_id: int | None = None,
    from_state: str | None = None,
    to_state: str | None = None,
    payload: dict[str, Any] | None = None,
    session: Session | None = None,
) -> None:
    """Queue an audit event; it is written when (and only if) the session commits."""
    sess = session if session is not None else db.session()
    actor_id, label = actor_fields(actor)
    sess.info.setdefault(_PENDING, []).append(
        {
            "at": now(),
            "actor_user_id": actor_id,
            "actor_label": label,
            "org_id": org_id,
            "instance_id": instance_id,
            "action": action,
            "from_state": from_state,
            "to_state": to_state,
            "payload": canonical_payload(payload),
        }
    )


def pending(session: Session | None = None) -> list[dict[str, Any]]:
    sess = session if session is not None else db.session()
    return list(sess.info.get(_PENDING, ()))


_HEAD_LOCK = text("UPDATE audit_head SET seq = seq + :n WHERE id = 1 RETURNING seq, hash")
_HEAD_SET = text("UPDATE audit_head SET hash = :hash WHERE id = 1")


def _flush(session: Session) -> None:
    queued = session.info.pop(_PENDING, None)
    if not queued:
        return
    conn = session.connection()
    # Taking the head row first serializes appenders across processes (see models.audit).
    last_seq, prev = conn.execute(_HEAD_LOCK, {"n": len(queued)}).one()
    seq = last_seq - len(queued)
    for row in queued:
        seq += 1
        row["seq"] = seq
        row["prev_hash"] = prev
        prev = row["hash"] = event_hash(prev, row)
    conn.execute(AuditEvent.__table__.insert(), queued)
    conn.execute(_HEAD_SET, {"hash": prev})


def _discard(session: Session, *_args: Any) -> None:
    session.info.pop(_PENDING, None)


def install_session_hooks(session_class: type[Session]) -> None:
    if not event.contains(session_class, "before_commit", _flush):
        event.listen(session_class, "before_commit", _flush)
        event.listen(session_class, "after_rollback", _discard)
        event.listen(session_class, "after_soft_rollback", _discard)


# --- append-only enforcement ------------------------------------------------------------

SQLITE_TRIGGERS = [
    """CREATE TRIGGER IF NOT EXISTS audit_event_no_update BEFORE UPDATE ON audit_event
       BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS audit_event_no_delete BEFORE DELETE ON audit_event
       BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS audit_head_no_delete BEFORE DELETE ON audit_head
       BEGIN SELECT RAISE(ABORT, 'audit_head cannot be deleted'); END""",
    """CREATE TRIGGER IF NOT EXISTS audit_head_forward BEFORE UPDATE ON audit_head
       WHEN NEW.seq < OLD.seq
       BEGIN SELECT RAISE(ABORT, 'audit_head only moves forward'); END""",
]

POSTGRES_TRIGGERS = [
    """CREATE OR REPLACE FUNCTION pbflow_audit_append_only() RETURNS trigger AS $$
       BEGIN RAISE EXCEPTION 'audit_event is append-only'; END; $$ LANGUAGE plpgsql""",
    """CREATE OR REPLACE FUNCTION pbflow_audit_head_guard() RETURNS trigger AS $$
       BEGIN
         IF TG_OP <> 'UPDATE' OR NEW.seq < OLD.seq THEN
           RAISE EXCEPTION 'audit_head only moves forward';
         END IF;
         RETURN NEW;
       END; $$ LANGUAGE plpgsql""",
    "DROP TRIGGER IF EXISTS audit_event_no_change ON audit_event",
    """CREATE TRIGGER audit_event_no_change BEFORE UPDATE OR DELETE ON audit_event
       FOR EACH ROW EXECUTE FUNCTION pbflow_audit_append_only()""",
    "DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_event",
    """CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
       FOR EACH STATEMENT EXECUTE FUNCTION pbflow_audit_append_only()""",
    "DROP TRIGGER IF EXISTS audit_head_guard ON audit_head",
    """CREATE TRIGGER audit_head_guard BEFORE UPDATE OR DELETE ON audit_head
       FOR EACH ROW EXECUTE FUNCTION pbflow_audit_head_guard()""",
    "DROP TRIGGER IF EXISTS audit_head_no_truncate ON audit_head",
    """CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head
       FOR EACH STATEMENT EXECUTE FUNCTION pbflow_audit_append_only()""",
]


def install_triggers(conn: Any) -> None:
    """Create the append-only triggers and the chain's genesis head (idempotent)."""
    statements = POSTGRES_TRIGGERS if conn.dialect.name == "postgresql" else SQLITE_TRIGGERS
    for stmt in statements:
        conn.exec_driver_sql(stmt)
    exists = conn.execute(text("SELECT 1 FROM audit_head WHERE id = 1")).first()
    if not exists:
        conn.execute(
            text("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, :h)"), {"h": GENESIS_HASH}
        )


# --- verification -------------------------------------------------------------------------

EXPORT_FIELDS = (
    "seq",
    "at",
    "actor_user_id",
    "actor_label",
    "org_id",
    "instance_id",
    "action",
    "from_state",
    "to_state",
    "payload",
    "prev_hash",
    "hash",
)


@dataclass
class VerifyResult:
    ok: bool
    count: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    broken_seq: int | None = None
    problem: str | None = None
    found_heads: set[str] = field(default_factory=set)

    def summary(self) -> str:
        if self.ok:
            return f"OK: {self.count} events, chain intact; head {self.head_seq} {self.head_hash}"
        return f"BROKEN at event {self.broken_seq}: {self.problem}"


def verify_rows(rows: Iterable[dict[str, Any]], expect_heads: Iterable[str] = ()) -> VerifyResult:
    """Walk events in sequence order, naming the first one that breaks the chain.

    ``expect_heads`` are hashes printed earlier (for example in a meeting's minutes); each must
    still be found in the chain, which proves nothing before it changed.
    """
    wanted = set(expect_heads)
    expected_seq = 1
    prev = GENESIS_HASH
    count = 0
    for row in rows:
        seq = row["seq"]
        if seq != expected_seq:
            if seq > expected_seq:
                problem = f"event {expected_seq} is missing (the next event is {seq}): deleted"
            else:
                problem = f"event {seq} appears out of order after event {expected_seq - 1}"
            return VerifyResult(False, count, expected_seq - 1, prev, expected_seq, problem)
        if row["prev_hash"] != prev:
            return VerifyResult(
                False,
                count,
                seq - 1,
                prev,
                seq,
                f"event {seq} does not link to event {seq - 1}: inserted, removed or reordered",
            )
        computed = event_hash(prev, row)
        if computed != row["hash"]:
            return VerifyResult(
                False,
                count,
                seq - 1,
                prev,
                seq,
                f"event {seq} was altered: its content does not match its hash",
            )
        wanted.discard(computed)
        prev = computed
        count += 1
        expected_seq += 1
    result = VerifyResult(True, count, expected_seq - 1, prev)
    if wanted:
        result.ok = False
        result.broken_seq = None
        result.problem = "expected head hash not found in the chain: " + ", ".join(sorted(wanted))
    return result


def _db_rows(batch: int = 5000) -> Iterator[dict[str, Any]]:
    cols = [AuditEvent.__table__.c[name] for name in EXPORT_FIELDS]
    stmt = select(*cols).order_by(AuditEvent.seq).execution_options(yield_per=batch)
    for row in db.session.execute(stmt):
        yield row._asdict()


def verify_database(expect_heads: Iterable[str] = ()) -> VerifyResult:
    result = verify_rows(_db_rows(), expect_heads)
    if not result.ok:
        return result
    head = db.session.get(AuditHead, 1)
    if head is None:
        return VerifyResult(
            False,
            result.count,
            result.head_seq,
            result.head_hash,
            1,
            "the chain head record is missing",
        )
    if head.seq != result.head_seq or head.hash != result.head_hash:
        missing_from = result.head_seq + 1
        return VerifyResult(
            False,
            result.count,
            result.head_seq,
            result.head_hash,
            missing_from if head.seq > result.head_seq else head.seq,
            f"the chain head records event {head.seq} but the trail ends at event "
            f"{result.head_seq}: events removed from the end, or the head was altered",
        )
    return result


def head() -> tuple[int, str]:
    row = db.session.get(AuditHead, 1)
    return (row.seq, row.hash) if row else (0, GENESIS_HASH)


def export(out: TextIO) -> int:
    """Write every event as one JSON object per line, in order; return how many."""
    n = 0
    for row in _db_rows():
        row["at"] = format_time(row["at"])
        out.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
        n += 1
    return n


def read_export(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"line {number}: not valid JSON ({exc.msg})") from exc
        missing = [f for f in EXPORT_FIELDS if f not in row]
        if missing:
            raise ValueError(f"line {number}: missing fields {', '.join(missing)}")
        yield row
