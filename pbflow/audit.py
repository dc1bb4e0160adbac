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

from sqlalchemy import event, func, select, text
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


# Built once: json.dumps with options constructs a new encoder on every call.
_PAYLOAD_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default
)
_EVENT_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def canonical_payload(payload: dict[str, Any] | None) -> str:
    return _PAYLOAD_ENCODER.encode(payload or {})


def format_time(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_hash(prev_hash: str, row: dict[str, Any]) -> str:
    """SHA-256 over the previous hash and a canonical encoding of the event's fields."""
    body = _EVENT_ENCODER.encode(
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
        ]
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
    at: datetime | None = None,
) -> None:
    """Queue an audit event; it is written when (and only if) the session commits.

    ``at`` dates the event when the caller decides its time (an anonymous step is dated no
    finer than its workflow's ``anonymous_time``); by default it is now.
    """
    sess = session if session is not None else db.session()
    actor_id, label = actor_fields(actor)
    sess.info.setdefault(_PENDING, []).append(
        {
            "at": at if at is not None else now(),
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


def _flush(session: Session) -> None:
    queued = session.info.pop(_PENDING, None)
    if not queued:
        return
    from pbflow.engine import fastsql

    fastsql.append_audit(queued, event_hash)


def _discard(session: Session, *_args: Any) -> None:
    session.info.pop(_PENDING, None)


def _transaction_end(session: Session, transaction: Any) -> None:
    # A session closed without commit or rollback (``Session.close()``) ends its transaction
    # with no rollback event: its queued events must not ride along with the next commit.
    if transaction.parent is None:
        _discard(session)


def install_session_hooks(session_class: type[Session]) -> None:
    if not event.contains(session_class, "before_commit", _flush):
        event.listen(session_class, "before_commit", _flush)
        event.listen(session_class, "after_rollback", _discard)
        event.listen(session_class, "after_soft_rollback", _discard)
        event.listen(session_class, "after_transaction_end", _transaction_end)


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
    # Pasted from minutes: tolerate spaces and capitals. The genesis hash is the head of the
    # empty chain, so it is always "found".
    wanted = {h.strip().lower() for h in expect_heads if h.strip()} - {GENESIS_HASH}
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


def _db_rows(batch: int = 5000, upto: int | None = None) -> Iterator[dict[str, Any]]:
    from pbflow.engine import fastsql

    return fastsql.iter_audit(upto, batch)


def _head_row() -> tuple[int, str] | None:
    # A query, never the session's identity map: a loaded AuditHead would be stale.
    row = db.session.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).first()
    return (row.seq, row.hash) if row else None


def _broken(result: VerifyResult, seq: int, problem: str) -> VerifyResult:
    return VerifyResult(False, result.count, result.head_seq, result.head_hash, seq, problem)


def verify_database(expect_heads: Iterable[str] = ()) -> VerifyResult:
    """Verify the stored chain up to its head, then that no event lies beyond the head.

    The head is read first: every event up to it was committed together with it, so a
    verification running while others append walks a complete chain, not a false alarm.
    """
    found = _head_row()
    if found is None:
        return VerifyResult(False, broken_seq=1, problem="the chain head record is missing")
    head_seq, head_hash = found
    result = verify_rows(_db_rows(upto=head_seq), expect_heads)
    if result.broken_seq is not None:
        return result
    if result.head_seq < head_seq:
        return _broken(
            result,
            result.head_seq + 1,
            f"the chain head records event {head_seq} but the trail ends at event "
            f"{result.head_seq}: events removed from the end, or the head was altered",
        )
    if result.head_hash != head_hash:
        return _broken(
            result,
            head_seq,
            f"event {head_seq} does not match the hash the chain head records: "
            "the head or the last event was altered",
        )
    last = db.session.execute(select(func.max(AuditEvent.seq))).scalar() or 0
    if last > head_seq:
        # Appenders move the head in the same transaction, so a head read now covers every
        # event pbflow wrote up to ``last``; later ones may be appending right now.
        head_seq = (_head_row() or (0, ""))[0]
        beyond = db.session.execute(
            select(func.min(AuditEvent.seq)).where(
                AuditEvent.seq > head_seq, AuditEvent.seq <= last
            )
        ).scalar()
        if beyond is not None:
            return _broken(
                result,
                beyond,
                f"event {beyond} lies beyond the chain head (event {head_seq}): "
                "appended outside pbflow",
            )
    return result


def head() -> tuple[int, str]:
    return _head_row() or (0, GENESIS_HASH)


def export(out: TextIO) -> int:
    """Write every event as one JSON object per line, in order; return how many."""
    n = 0
    for row in _db_rows():  # "at" arrives in its hashed text form
        out.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
        n += 1
    return n


_WHOLE_NUMBERS = {"seq": False, "actor_user_id": True, "org_id": True, "instance_id": True}
_TEXTS = {
    "at": False,
    "actor_label": False,
    "action": False,
    "from_state": True,
    "to_state": True,
    "payload": False,
    "prev_hash": False,
    "hash": False,
}


def _field_type_problem(row: dict[str, Any]) -> str | None:
    """What is wrong with an exported row's field types, so verification never crashes."""
    for name, optional in _WHOLE_NUMBERS.items():
        value = row[name]
        if not (value is None and optional) and (
            not isinstance(value, int) or isinstance(value, bool)
        ):
            return f"'{name}' must be a whole number"
    for name, optional in _TEXTS.items():
        value = row[name]
        if not (value is None and optional) and not isinstance(value, str):
            return f"'{name}' must be text"
    return None


def read_export(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """Rows of an export file, checked for shape; a ValueError names the bad line."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"line {number}: not valid JSON ({exc.msg})") from exc
        if not isinstance(row, dict):
            raise ValueError(f"line {number}: not a JSON object")
        missing = [f for f in EXPORT_FIELDS if f not in row]
        if missing:
            raise ValueError(f"line {number}: missing fields {', '.join(missing)}")
        problem = _field_type_problem(row)
        if problem:
            raise ValueError(f"line {number}: {problem}")
        yield row
