"""The security log: authentication and self-service account events in their own hash chain.

Logins, failed logins, logouts, lockouts, confirmations of the password before a sensitive
action (and refused ones), a user's own password or language change and the ending of sessions
are recorded here, not in the process audit chain (``pbflow.audit``):
there they would stand in one ordered sequence with anonymous opinion submissions, and the
order and times would link a logged-in person to an "anonymous" event. Administrative actions
on accounts (an admin resets a password, deactivates, grants a role) stay in the process chain.

The mechanics mirror the process chain, in code of its own: :func:`record` queues an event on
the database session; a ``before_commit`` hook appends the queue in the same transaction as the
change it describes; each event's hash is SHA-256 over the previous hash and a canonical
encoding of the event; a single head row holds the last sequence number and hash; database
triggers make the tables append-only on SQLite and PostgreSQL.

Someone with the database could still rewrite the whole log and recompute every hash. Each
signed checkpoint of the process chain therefore records the security log's head (see
``pbflow.audit.checkpoint``): :func:`verify_database` checks the log against every head so
recorded, and ``audit verify`` checks the signatures that vouch for them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from sqlalchemy import event, func, insert, select, text
from sqlalchemy.orm import Session

from pbflow.clock import now
from pbflow.extensions import db
from pbflow.models.security import SECURITY_GENESIS_HASH, SecurityEvent, SecurityHead

_PENDING = "pbflow_security_pending"

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_PAYLOAD_ENCODER = json.JSONEncoder(
    sort_keys=True,
    separators=(",", ":"),
    ensure_ascii=False,
    default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v),
)

ANCHOR_KEY = "security"  # the key of the security head in a process-chain checkpoint's payload

FIELDS = ("seq", "at", "user_id", "username", "action", "payload", "prev_hash", "hash")


def format_time(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_hash(prev_hash: str, row: dict[str, Any]) -> str:
    """SHA-256 over the previous hash and a canonical encoding of the event's fields."""
    at = row["at"]
    body = _ENCODER.encode(
        [
            row["seq"],
            format_time(at) if isinstance(at, datetime) else at,
            row["user_id"],
            row["username"],
            row["action"],
            row["payload"],
        ]
    )
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def record(
    action: str,
    user: Any = None,
    *,
    username: str | None = None,
    payload: dict[str, Any] | None = None,
    session: Session | None = None,
) -> None:
    """Queue a security event about ``user`` (or, for an unknown account, the name typed).

    It is written when, and only if, the session commits.
    """
    sess = session if session is not None else db.session()
    sess.info.setdefault(_PENDING, []).append(
        {
            "at": now(),
            "user_id": getattr(user, "id", None),
            "username": (user.username if user is not None else (username or ""))[:120],
            "action": action,
            "payload": _PAYLOAD_ENCODER.encode(payload or {}),
        }
    )


def _flush(session: Session) -> None:
    queued = session.info.pop(_PENDING, None)
    if not queued:
        return
    # Write the session's own changes (an account row, say) before locking the head, so every
    # transaction takes its locks in one order: account rows, then the security head. A login
    # attempt locks its account row first; locking the head first here could deadlock with it.
    session.flush()
    head = session.execute(
        text("UPDATE security_head SET seq = seq + :n WHERE id = 1 RETURNING seq, hash"),
        {"n": len(queued)},
    ).first()
    if head is None:
        raise RuntimeError("the security log's head row is missing")
    seq, prev = head[0] - len(queued), head[1]
    for row in queued:
        seq += 1
        row["seq"], row["prev_hash"] = seq, prev
        prev = row["hash"] = event_hash(prev, row)
    session.execute(insert(SecurityEvent), queued)
    session.execute(text("UPDATE security_head SET hash = :h WHERE id = 1"), {"h": prev})


def _discard(session: Session, *_args: Any) -> None:
    session.info.pop(_PENDING, None)


def _transaction_end(session: Session, transaction: Any) -> None:
    # A session closed without commit or rollback must not carry its queue into the next one.
    if transaction.parent is None:
        _discard(session)


def install_session_hooks(session_class: type[Session]) -> None:
    """Append queued events at commit. Install after the process chain's hooks."""
    if not event.contains(session_class, "before_commit", _flush):
        event.listen(session_class, "before_commit", _flush)
        event.listen(session_class, "after_rollback", _discard)
        event.listen(session_class, "after_soft_rollback", _discard)
        event.listen(session_class, "after_transaction_end", _transaction_end)


def pending(session: Session | None = None) -> list[dict[str, Any]]:
    sess = session if session is not None else db.session()
    return list(sess.info.get(_PENDING, ()))


# --- append-only enforcement ------------------------------------------------------------

SQLITE_TRIGGERS = [
    """CREATE TRIGGER IF NOT EXISTS security_event_no_update BEFORE UPDATE ON security_event
       BEGIN SELECT RAISE(ABORT, 'security_event is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS security_event_no_delete BEFORE DELETE ON security_event
       BEGIN SELECT RAISE(ABORT, 'security_event is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS security_head_no_delete BEFORE DELETE ON security_head
       BEGIN SELECT RAISE(ABORT, 'security_head cannot be deleted'); END""",
    """CREATE TRIGGER IF NOT EXISTS security_head_forward BEFORE UPDATE ON security_head
       WHEN NEW.seq < OLD.seq
       BEGIN SELECT RAISE(ABORT, 'security_head only moves forward'); END""",
]

POSTGRES_TRIGGERS = [
    """CREATE OR REPLACE FUNCTION pbflow_security_append_only() RETURNS trigger AS $$
       BEGIN RAISE EXCEPTION 'security_event is append-only'; END; $$ LANGUAGE plpgsql""",
    """CREATE OR REPLACE FUNCTION pbflow_security_head_guard() RETURNS trigger AS $$
       BEGIN
         IF TG_OP <> 'UPDATE' OR NEW.seq < OLD.seq THEN
           RAISE EXCEPTION 'security_head only moves forward';
         END IF;
         RETURN NEW;
       END; $$ LANGUAGE plpgsql""",
    "DROP TRIGGER IF EXISTS security_event_no_change ON security_event",
    """CREATE TRIGGER security_event_no_change BEFORE UPDATE OR DELETE ON security_event
       FOR EACH ROW EXECUTE FUNCTION pbflow_security_append_only()""",
    "DROP TRIGGER IF EXISTS security_event_no_truncate ON security_event",
    """CREATE TRIGGER security_event_no_truncate BEFORE TRUNCATE ON security_event
       FOR EACH STATEMENT EXECUTE FUNCTION pbflow_security_append_only()""",
    "DROP TRIGGER IF EXISTS security_head_guard ON security_head",
    """CREATE TRIGGER security_head_guard BEFORE UPDATE OR DELETE ON security_head
       FOR EACH ROW EXECUTE FUNCTION pbflow_security_head_guard()""",
    "DROP TRIGGER IF EXISTS security_head_no_truncate ON security_head",
    """CREATE TRIGGER security_head_no_truncate BEFORE TRUNCATE ON security_head
       FOR EACH STATEMENT EXECUTE FUNCTION pbflow_security_append_only()""",
]


def install_triggers(conn: Any) -> None:
    """Create the append-only triggers and the log's genesis head (idempotent)."""
    statements = POSTGRES_TRIGGERS if conn.dialect.name == "postgresql" else SQLITE_TRIGGERS
    for stmt in statements:
        conn.exec_driver_sql(stmt)
    if not conn.execute(text("SELECT 1 FROM security_head WHERE id = 1")).first():
        conn.execute(
            text("INSERT INTO security_head (id, seq, hash) VALUES (1, 0, :h)"),
            {"h": SECURITY_GENESIS_HASH},
        )


# --- verification and export ---------------------------------------------------------------


@dataclass
class VerifyResult:
    ok: bool
    count: int = 0
    head_seq: int = 0
    head_hash: str = SECURITY_GENESIS_HASH
    broken_seq: int | None = None
    problem: str | None = None
    anchored: int = 0  # events 1..anchored match a head recorded in a signed audit checkpoint
    anchor_event: int = 0  # the process-chain event of that checkpoint

    def summary(self) -> str:
        if self.ok:
            text = (
                f"OK: {self.count} security events, chain intact; "
                f"head {self.head_seq} {self.head_hash}"
            )
            if self.anchored:
                text += (
                    f"; events 1-{self.anchored} match the signed audit checkpoint at "
                    f"audit event {self.anchor_event} (`audit verify` checks its signature)"
                )
            return text
        return f"BROKEN at security event {self.broken_seq}: {self.problem}"


def _broken(result: VerifyResult, seq: int, problem: str) -> VerifyResult:
    return VerifyResult(False, result.count, result.head_seq, result.head_hash, seq, problem)


def anchors() -> list[tuple[int, int, str]]:
    """(process event, security seq, security hash) for each head that a checkpoint of the
    process chain recorded, oldest first."""
    from pbflow.models.audit import AuditCheckpoint, AuditEvent

    rows = db.session.execute(
        select(AuditEvent.seq, AuditEvent.payload)
        .join(AuditCheckpoint, AuditCheckpoint.seq == AuditEvent.seq)
        .where(AuditCheckpoint.chain == "audit")
        .order_by(AuditEvent.seq)
    ).all()
    found = []
    for audit_seq, payload in rows:
        try:
            mark = json.loads(payload).get(ANCHOR_KEY)
        except (ValueError, AttributeError):
            continue  # a damaged checkpoint event is `audit verify`'s to name
        if (
            isinstance(mark, dict)
            and isinstance(mark.get("seq"), int)
            and isinstance(mark.get("hash"), str)
        ):
            found.append((audit_seq, mark["seq"], mark["hash"]))
    return found


def _check_anchors(result: VerifyResult) -> VerifyResult:
    for audit_seq, seq, digest in anchors():
        if seq > result.head_seq:
            return _broken(
                result,
                result.head_seq + 1,
                f"the signed audit checkpoint at audit event {audit_seq} records security "
                f"event {seq}, but the log ends at event {result.head_seq}: events removed",
            )
        stored = db.session.execute(
            select(SecurityEvent.hash).where(SecurityEvent.seq == seq)
        ).scalar()
        if stored != digest:
            return _broken(
                result,
                seq,
                f"security event {seq} does not match the hash that the signed audit "
                f"checkpoint at audit event {audit_seq} records: the log was rewritten up to here",
            )
        if seq >= result.anchored:
            result.anchored, result.anchor_event = seq, audit_seq
    return result


def verify_rows(rows: Iterable[dict[str, Any]]) -> VerifyResult:
    """Walk events in sequence order; name the first one that breaks the chain."""
    result = VerifyResult(True)
    prev, expected = SECURITY_GENESIS_HASH, 1
    for row in rows:
        seq = row["seq"]
        if seq != expected:
            problem = (
                f"event {expected} is missing (the next event is {seq}): deleted"
                if seq > expected
                else f"event {seq} appears out of order after event {expected - 1}"
            )
            return _broken(result, expected, problem)
        if row["prev_hash"] != prev:
            return _broken(
                result,
                seq,
                f"event {seq} does not link to event {seq - 1}: inserted, removed or reordered",
            )
        computed = event_hash(prev, row)
        if computed != row["hash"]:
            return _broken(
                result, seq, f"event {seq} was altered: its content does not match its hash"
            )
        prev = computed
        result.count += 1
        result.head_seq, result.head_hash = seq, prev
        expected += 1
    return result


def _db_rows(upto: int | None = None, batch: int = 5000) -> Iterator[dict[str, Any]]:
    """Every stored event in order, ``at`` in its hashed text form, read in batches."""
    last = 0
    while True:
        stmt = select(*(getattr(SecurityEvent, f) for f in FIELDS)).where(SecurityEvent.seq > last)
        if upto is not None:
            stmt = stmt.where(SecurityEvent.seq <= upto)
        rows = db.session.execute(stmt.order_by(SecurityEvent.seq).limit(batch)).all()
        if not rows:
            return
        for row in rows:
            out = dict(zip(FIELDS, row, strict=True))
            out["at"] = format_time(out["at"])
            yield out
        last = rows[-1].seq


def head() -> tuple[int, str]:
    # A query, never the identity map: a loaded SecurityHead would be stale.
    row = db.session.execute(
        select(SecurityHead.seq, SecurityHead.hash).where(SecurityHead.id == 1)
    ).first()
    return (row.seq, row.hash) if row else (0, SECURITY_GENESIS_HASH)


def verify_database() -> VerifyResult:
    """Verify the stored log up to its head, then that nothing lies beyond the head."""
    found = db.session.execute(
        select(SecurityHead.seq, SecurityHead.hash).where(SecurityHead.id == 1)
    ).first()
    if found is None:
        return VerifyResult(False, broken_seq=1, problem="the security log's head row is missing")
    head_seq, head_hash = found
    result = verify_rows(_db_rows(upto=head_seq))
    if not result.ok:
        return result
    if result.head_seq < head_seq:
        return _broken(
            result,
            result.head_seq + 1,
            f"the head records event {head_seq} but the log ends at event {result.head_seq}: "
            "events removed from the end, or the head was altered",
        )
    if result.head_hash != head_hash:
        return _broken(
            result,
            head_seq,
            f"event {head_seq} does not match the hash the head records: "
            "the head or the last event was altered",
        )
    last = db.session.execute(select(func.max(SecurityEvent.seq))).scalar() or 0
    if last > head_seq:
        # Appenders move the head in their own transaction: re-read it before crying foul.
        head_seq = head()[0]
        beyond = db.session.execute(
            select(func.min(SecurityEvent.seq)).where(
                SecurityEvent.seq > head_seq, SecurityEvent.seq <= last
            )
        ).scalar()
        if beyond is not None:
            return _broken(
                result,
                beyond,
                f"event {beyond} lies beyond the head (event {head_seq}): appended outside pbflow",
            )
    return _check_anchors(result)


def export(out: TextIO) -> int:
    """Write every event as one JSON object per line, in order; return how many."""
    n = 0
    for row in _db_rows():
        out.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
        n += 1
    return n


_TYPES: dict[str, tuple[type, bool]] = {
    "seq": (int, False),
    "at": (str, False),
    "user_id": (int, True),
    "username": (str, False),
    "action": (str, False),
    "payload": (str, False),
    "prev_hash": (str, False),
    "hash": (str, False),
}


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
        missing = [f for f in FIELDS if f not in row]
        if missing:
            raise ValueError(f"line {number}: missing fields {', '.join(missing)}")
        for name, (kind, optional) in _TYPES.items():
            value = row[name]
            if value is None and optional:
                continue
            if not isinstance(value, kind) or isinstance(value, bool):
                what = "a whole number" if kind is int else "text"
                raise ValueError(f"line {number}: '{name}' must be {what}")
        yield row
