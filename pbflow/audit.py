"""Append to and verify the hash-chained audit trail (DESIGN section 5).

Callers never write ``audit_event`` rows themselves: they call :func:`record`, which queues
the event on the current database session. The queue is written by a ``before_commit`` hook
inside the same transaction as the change it describes, so a change and its event are
committed together or not at all, and the chain head is locked only for the last moment of
the transaction.

Hash formats. Format 1 (events written before the switch): hash = SHA-256(previous hash +
canonical JSON of the event). Format 2 (every event from the recorded switch on, and every
event of a chain started after it): digest = SHA-256(canonical JSON of the event and its random
salt), hash = SHA-256(previous hash + digest). An export may therefore withhold an event it
must not show and keep only its digest: the chain still verifies, and the salt keeps the digest
from confirming a guess at the content. The switch is the event ``audit_format_changed``.

Trust. Each new event is also sealed (HMAC with a key outside the database, audit_keys.py), and
:func:`checkpoint` signs (seq, hash, time) of the chain with the Ed25519 key; ``pbflow audit
verify`` checks every checkpoint signature, the seals of the events after the last checkpoint,
and that every case, meeting and training record is what its events say (audit_state.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TextIO

from flask import current_app
from sqlalchemy import delete, event, func, insert, inspect, select, text
from sqlalchemy.orm import Session

from pbflow import audit_keys, audit_state, security_log
from pbflow.clock import now
from pbflow.engine import fastsql
from pbflow.extensions import db
from pbflow.extensions import session as current_session
from pbflow.models.audit import (
    GENESIS_HASH,
    AuditCheckpoint,
    AuditEvent,
    AuditHead,
    AuditPerson,
)

_PENDING = "pbflow_audit_pending"

SYSTEM = "system"
ANONYMOUS = "anonymous"
CHAIN = "audit"  # this chain's name in audit_checkpoint
CHECKPOINT_ACTION = "audit_checkpoint"
SWITCH_ACTION = "audit_format_changed"
# Events that belong to no organization and tell nothing about anyone: every reader sees them.
NEUTRAL_ACTIONS = frozenset({CHECKPOINT_ACTION, SWITCH_ACTION, "definition_loaded"})


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


def _walk_encoder() -> Any:
    """The C encoder behind _EVENT_ENCODER, built once: JSONEncoder.encode builds one per
    call, which costs more than hashing the row. Same output for the flat rows it encodes."""
    from json import encoder

    if encoder.c_make_encoder is None:  # pragma: no cover - CPython always has it
        return _EVENT_ENCODER.encode
    make = encoder.c_make_encoder(
        None, None, encoder.encode_basestring, None, ":", ",", False, False, True
    )
    return lambda row: "".join(make(row, 0))


_encode_row = _walk_encoder()


def _payload_encoder() -> Any:
    """_PAYLOAD_ENCODER's C encoder, built once (``encode`` builds one per call): the same
    text for the dictionaries it encodes."""
    from json import encoder

    if encoder.c_make_encoder is None:  # pragma: no cover - CPython always has it
        return _PAYLOAD_ENCODER.encode
    # No circular-reference markers (a payload is a tree the engine builds; a shared markers
    # table would keep stale entries after an encoding error).
    make = encoder.c_make_encoder(
        None, _json_default, encoder.encode_basestring, None, ":", ",", True, False, True
    )
    return lambda payload: "".join(make(payload, 0))


_encode_payload = _payload_encoder()


def canonical_payload(payload: dict[str, Any] | None) -> str:
    return _encode_payload(payload or {})


def format_time(at: datetime) -> str:
    if at.tzinfo is None and at.year >= 1000:  # the same text, without strftime's cost
        return at.isoformat("T", "microseconds") + "Z"
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _content(row: dict[str, Any]) -> list[Any]:
    return [
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


def _row_dict(row: tuple) -> dict[str, Any]:
    """A walked row (``fastsql.WALK_COLUMNS``) as the mapping ``event_hash`` reads."""
    return dict(zip(fastsql.WALK_COLUMNS, row[:14], strict=True))


def content_digest(row: dict[str, Any]) -> str:
    """Format 2: SHA-256 over the canonical encoding of the event's fields and its salt."""
    return hashlib.sha256(_encode_row([*_content(row), row["salt"]]).encode()).hexdigest()


def event_hash(prev_hash: str, row: dict[str, Any]) -> str:
    """The event's hash over the previous one: format 2 when it has a salt, else format 1."""
    if row.get("salt") is not None:
        return hashlib.sha256((prev_hash + content_digest(row)).encode()).hexdigest()
    body = _EVENT_ENCODER.encode(_content(row))
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def actor_fields(actor: Any) -> tuple[int | None, str]:
    """(user id, label) for a User, the string "anonymous", or None/"system"."""
    if actor is None or isinstance(actor, str):  # no account model __eq__ per event
        if actor is None or actor == SYSTEM:
            return None, SYSTEM
        if actor == ANONYMOUS:
            return None, ANONYMOUS
    return actor.id, actor.username


_attribution: Callable[[], dict[str, Any] | None] | None = None


def attribute_with(source: Callable[[], dict[str, Any] | None] | None) -> None:
    """Name what a logged-in actor acted through (the JSON API's token: its id and name): the
    source's answer goes into each such event's payload as ``via``, so every use of a token
    is attributed to its owner (the actor) and the token."""
    global _attribution
    _attribution = source


def acting_through() -> dict[str, Any] | None:
    """What the current actor acts through (the JSON API's token: ``{"token_id", "token"}``),
    or None: a person in the pages or the API's session path, or the command line."""
    return _attribution() if _attribution is not None else None


def _event(
    action: str,
    actor: Any = None,
    org_id: int | None = None,
    instance_id: int | None = None,
    from_state: str | None = None,
    to_state: str | None = None,
    payload: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    actor_id, label = actor_fields(actor)
    via = _attribution() if _attribution is not None and actor_id is not None else None
    if via:
        payload = {**(payload or {}), "via": via}
    return {
        "at": at if at is not None else now(),
        "actor_user_id": actor_id,
        "actor_label": label,
        "org_id": org_id,
        "instance_id": instance_id,
        "action": action,
        "from_state": from_state,
        "to_state": to_state,
        "payload": canonical_payload(payload),
        "salt": os.urandom(16).hex(),
    }


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
    sess = session if session is not None else current_session()
    sess.info.setdefault(_PENDING, []).append(
        _event(action, actor, org_id, instance_id, from_state, to_state, payload, at)
    )


def pending(session: Session | None = None) -> list[dict[str, Any]]:
    sess = session if session is not None else db.session()
    return list(sess.info.get(_PENDING, ()))


def _switch_event() -> dict[str, Any]:
    return _event(SWITCH_ACTION, payload={"format": 2})


PERSON_KEY = "person_id"
_PERSON_MARK = f'"{PERSON_KEY}":'


def _collect_persons(value: Any, found: set[int]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == PERSON_KEY and type(item) is int:
                found.add(item)
            else:
                _collect_persons(item, found)
    elif isinstance(value, list):
        for item in value:
            _collect_persons(item, found)


def payload_persons(payload: str) -> list[int]:
    """The people an event's canonical payload names: every integer ``person_id`` value, at
    any depth (the audit search's rule; they go into the index ``audit_person``)."""
    if _PERSON_MARK not in payload:
        return []
    found: set[int] = set()
    _collect_persons(json.loads(payload), found)
    return sorted(found)


def _append(events: list[dict[str, Any]]) -> None:
    fastsql.append_audit(
        events, event_hash, audit_keys.current().seal, _switch_event, payload_persons
    )


_INDEX_BATCH = 5000


def _person_index_batches() -> Iterator[tuple[int, int, set[tuple[int, int]]]]:
    """The events in batches by sequence number: (first seq exclusive, last seq, the index
    rows they call for)."""
    after = 0
    while True:
        rows = db.session.execute(
            select(AuditEvent.seq, AuditEvent.payload)
            .where(AuditEvent.seq > after)
            .order_by(AuditEvent.seq)
            .limit(_INDEX_BATCH)
        ).all()
        if not rows:
            return
        yield after, rows[-1].seq, {(r.seq, p) for r in rows for p in payload_persons(r.payload)}
        after = rows[-1].seq


def check_person_index() -> tuple[int, int]:
    """Compare the search's index ``audit_person`` with what the events call for: the rows
    missing and the rows too many (both 0 when the index is right)."""
    missing = extra = 0
    last = 0
    for after, last, expected in _person_index_batches():
        actual = {
            (r.seq, r.person_id)
            for r in db.session.execute(
                select(AuditPerson.seq, AuditPerson.person_id).where(
                    AuditPerson.seq > after, AuditPerson.seq <= last
                )
            )
        }
        missing += len(expected - actual)
        extra += len(actual - expected)
    extra += db.session.execute(
        select(func.count()).select_from(AuditPerson).where(AuditPerson.seq > last)
    ).scalar_one()
    return missing, extra


def rebuild_person_index() -> int:
    """Rebuild ``audit_person`` from the events (in the caller's transaction); the rows."""
    db.session.execute(delete(AuditPerson))
    written = 0
    for _after, _last, expected in _person_index_batches():
        if expected:
            db.session.execute(
                insert(AuditPerson), [{"seq": s, "person_id": p} for s, p in sorted(expected)]
            )
            written += len(expected)
    return written


def make_event(action: str, *, at: datetime, **fields: Any) -> dict[str, Any]:
    """An event as :func:`record` queues it, for :func:`append_bulk` (bulk loaders)."""
    return _event(action, at=at, **fields)


def append_bulk(events: Iterable[dict[str, Any]]) -> None:
    """Hash, seal and append events now, inside the caller's transaction, exactly as queued
    events are appended at commit (``pbflow seed`` writes its history this way)."""
    _append(list(events))


# --- a case's data, sealed by its events -----------------------------------------------------
# Each event that leaves a case's data changed carries the digest of the data as the row now
# holds it (``data_digest``): ``audit verify`` compares the rows with the last digest their
# events recorded, so a date, a vote count or an introducer changed with SQL, with no event,
# is named (audit_state). The engine's steps put it in their own event; a change made through
# the ORM (a resolution recorded on a case, a procedure's own write) is noted when flushed and
# sealed at commit into the last event of that case in the transaction, and a change that has
# no event of its case there is refused: no change without its event.

DATA_DIGEST = audit_state.DATA_DIGEST
data_digest = audit_state.data_digest
PERSON_DIGEST = audit_state.PERSON_DIGEST
person_digest = audit_state.person_digest
CREDENTIAL_DIGEST = audit_state.CREDENTIAL_DIGEST
credential_digest = audit_state.credential_digest
# session.info: case id -> (digest, whether an existing case changed) written via the ORM
_CASE_DATA = "pbflow_audit_case_data"
# person id -> (digest of their record as written, whether it was there before the transaction)
_PERSON_DATA = "pbflow_audit_person_data"


class UnauditedChange(RuntimeError):
    """A case's data, or a person's record, was changed in a transaction that records no
    event of that case, or naming that person."""


def _note_case_data(session: Session, _context: Any) -> None:
    """After a flush: the data of cases and the records of people the ORM inserted or
    changed, as written."""
    from pbflow.models import Person, ProcessInstance

    for obj in (*session.new, *session.dirty):
        if isinstance(obj, Person) and obj.id is not None:
            state = inspect(obj)
            if obj in session.new or any(
                state.attrs[c].history.has_changes() for c in audit_state.PERSON_SEALED
            ):
                people = session.info.setdefault(_PERSON_DATA, {})
                before = people.get(obj.id)
                # Made in this transaction: a record built bare (tests) needs no event.
                existed = before[1] if before else obj not in session.new
                people[obj.id] = (audit_state.person_digest(obj), existed)
            continue
        if not isinstance(obj, ProcessInstance) or obj.id is None:
            continue
        if obj in session.new:  # sealed if its start is recorded (tests build rows bare)
            session.info.setdefault(_CASE_DATA, {})[obj.id] = (data_digest(obj.data), False)
        elif inspect(obj).attrs.data.history.has_changes():
            session.info.setdefault(_CASE_DATA, {})[obj.id] = (data_digest(obj.data), True)


def data_written(case_id: int, data: Any) -> str:
    """The engine wrote ``data`` as the case's row with its own statement: what the ORM
    flushed of it earlier in the transaction is superseded. The digest, for the step's event."""
    written = current_session().info.get(_CASE_DATA)
    if written:
        written.pop(case_id, None)
    return data_digest(data)


def _seal_case_data(queued: list[dict[str, Any]], written: dict[int, tuple[str, bool]]) -> None:
    last: dict[int, dict[str, Any]] = {}
    for e in queued:
        if e["instance_id"] is not None:
            last[e["instance_id"]] = e
    for case_id, (digest, changed) in written.items():
        e = last.get(case_id)
        if e is None:
            if not changed:
                continue
            raise UnauditedChange(
                f"case {case_id}: its data changed in a transaction without an event of it"
            )
        payload = json.loads(e["payload"]) if e["payload"] else {}
        if payload.get(DATA_DIGEST) != digest:
            payload[DATA_DIGEST] = digest
            e["payload"] = canonical_payload(payload)


def _seal_people(queued: list[dict[str, Any]], written: dict[int, tuple[str, bool]]) -> None:
    """Each person's record, as written, into the last event of the transaction that names
    them (``person_id`` in its payload: a person created, a record changed, a development
    step's new party status). A change of a record that was there before, which no event
    names, is refused (the transaction rolls back), as a case's data changed without its
    event is; a record changed with SQL is named by verify."""
    for person_id, (digest, existed) in written.items():
        mark = f'"person_id":{person_id}'
        for e in reversed(queued):
            if e["payload"] and mark in e["payload"]:
                payload = json.loads(e["payload"])
                if payload.get("person_id") == person_id:
                    payload[audit_state.PERSON_DIGEST] = digest
                    e["payload"] = canonical_payload(payload)
                    break
        else:
            if existed:
                raise UnauditedChange(
                    f"person {person_id}: their record changed in a transaction without an"
                    " event naming them"
                )


def _flush(session: Session) -> None:
    queued = session.info.pop(_PENDING, None)
    written = session.info.pop(_CASE_DATA, None)
    people = session.info.pop(_PERSON_DATA, None)
    if people:
        _seal_people(queued or [], people)
    if written:
        _seal_case_data(queued or [], written)
    if queued:
        _append(queued)


def _discard(session: Session, *_args: Any) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_CASE_DATA, None)
    session.info.pop(_PERSON_DATA, None)


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
        event.listen(session_class, "after_flush", _note_case_data)


# --- append-only enforcement ------------------------------------------------------------

SQLITE_TRIGGERS = [
    "DROP TRIGGER IF EXISTS audit_event_no_update",
    """CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event
       BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END""",
    "DROP TRIGGER IF EXISTS audit_event_no_delete",
    """CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event
       BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END""",
    "DROP TRIGGER IF EXISTS audit_head_no_delete",
    """CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
       BEGIN SELECT RAISE(ABORT, 'audit_head cannot be deleted'); END""",
    "DROP TRIGGER IF EXISTS audit_head_forward",
    """CREATE TRIGGER audit_head_forward BEFORE UPDATE ON audit_head
       WHEN NEW.seq < OLD.seq OR NEW.hash_format < OLD.hash_format
       BEGIN SELECT RAISE(ABORT, 'audit_head only moves forward'); END""",
    "DROP TRIGGER IF EXISTS audit_checkpoint_no_update",
    """CREATE TRIGGER audit_checkpoint_no_update BEFORE UPDATE ON audit_checkpoint
       BEGIN SELECT RAISE(ABORT, 'audit_checkpoint is append-only'); END""",
    "DROP TRIGGER IF EXISTS audit_checkpoint_no_delete",
    """CREATE TRIGGER audit_checkpoint_no_delete BEFORE DELETE ON audit_checkpoint
       BEGIN SELECT RAISE(ABORT, 'audit_checkpoint is append-only'); END""",
]

POSTGRES_TRIGGERS = [
    """CREATE OR REPLACE FUNCTION pbflow_audit_append_only() RETURNS trigger AS $$
       BEGIN RAISE EXCEPTION USING MESSAGE = TG_TABLE_NAME || ' is append-only'; END;
       $$ LANGUAGE plpgsql""",
    """CREATE OR REPLACE FUNCTION pbflow_audit_head_guard() RETURNS trigger AS $$
       BEGIN
         IF TG_OP <> 'UPDATE' OR NEW.seq < OLD.seq OR NEW.hash_format < OLD.hash_format THEN
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
    "DROP TRIGGER IF EXISTS audit_checkpoint_no_change ON audit_checkpoint",
    """CREATE TRIGGER audit_checkpoint_no_change BEFORE UPDATE OR DELETE ON audit_checkpoint
       FOR EACH ROW EXECUTE FUNCTION pbflow_audit_append_only()""",
    "DROP TRIGGER IF EXISTS audit_checkpoint_no_truncate ON audit_checkpoint",
    """CREATE TRIGGER audit_checkpoint_no_truncate BEFORE TRUNCATE ON audit_checkpoint
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
            text("INSERT INTO audit_head (id, seq, hash, hash_format) VALUES (1, 0, :h, 2)"),
            {"h": GENESIS_HASH},
        )


# --- PostgreSQL privileges of the application's role --------------------------------------

APPEND_ONLY_TABLES = ("audit_event", "audit_checkpoint")
HEAD_TABLE = "audit_head"
_ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def postgres_grants(role: str, tables: Iterable[str]) -> list[str]:
    """The GRANT statements that let ``role`` run pbflow and nothing more on the audit tables.

    Run by the role that owns the tables (the one that runs the migrations), after every
    upgrade. The application's role may read and change ordinary tables, only read and append
    to the append-only ones, and only move the chain head forward (its columns, not its row).
    It owns nothing, so it can neither drop nor disable the triggers.
    """
    if not _ROLE_NAME.fullmatch(role):
        raise ValueError(f"'{role}' is not a plain role name (lower-case letters, digits, _)")
    quoted = f'"{role}"'
    audit = {*APPEND_ONLY_TABLES, HEAD_TABLE}
    plain = sorted(t for t in tables if t not in audit and t != "alembic_version")
    statements = [
        f"REVOKE ALL ON {', '.join(sorted(audit))} FROM {quoted}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON {', '.join(plain)} TO {quoted}",
        f"GRANT SELECT, INSERT ON {', '.join(APPEND_ONLY_TABLES)} TO {quoted}",
        f"GRANT SELECT ON {HEAD_TABLE} TO {quoted}",
        f"GRANT UPDATE (seq, hash, hash_format) ON {HEAD_TABLE} TO {quoted}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {quoted}",
    ]
    return statements


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
    "salt",
    "prev_hash",
    "hash",
)
_REQUIRED_FIELDS = tuple(f for f in EXPORT_FIELDS if f != "salt")  # exports before format 2


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement: the chain had this hash at this event, at this time."""

    seq: int
    hash: str
    at: str
    key_id: str
    signature: str
    chain: str = CHAIN

    def message(self) -> bytes:
        return audit_keys.checkpoint_message(self.chain, self.seq, self.hash, self.at)

    def as_line(self) -> dict[str, Any]:
        return {
            "kind": "checkpoint",
            "chain": self.chain,
            "seq": self.seq,
            "hash": self.hash,
            "at": self.at,
            "key_id": self.key_id,
            "signature": self.signature,
        }


@dataclass(frozen=True)
class Withheld:
    """An event outside the reader's scope, reduced to what the chain needs."""

    seq: int
    prev_hash: str
    hash: str
    digest: str | None  # None: a format 1 event, whose hash cannot be recomputed


@dataclass
class VerifyResult:
    ok: bool
    count: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    broken_seq: int | None = None
    problem: str | None = None
    found_heads: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)
    checkpointed: int = 0  # events 1..checkpointed are covered by a valid signed checkpoint
    checkpoints: int = 0  # valid checkpoints checked
    sealed: int = 0  # events after the last checkpoint whose seal was checked
    withheld: int = 0
    proven_from: int = 1  # an export withholding format 1 events binds only events from here
    notes: list[str] = field(default_factory=list)
    # Rows of the search index ``audit_person`` found to match the events; None: not checked
    # (an export does not hold the index).
    person_index: int | None = None

    @property
    def head_not_found(self) -> bool:
        """Broken only in that an expected head hash (from the minutes) is not in the chain."""
        return bool(self.problem) and self.problem.startswith("expected head hash not found")

    def summary(self) -> str:
        if not self.ok:
            where = f" at event {self.broken_seq}" if self.broken_seq is not None else ""
            lines = [f"BROKEN{where}: {self.problem}"]
            lines += [f"  also: {p}" for p in self.problems[1:]]
            return "\n".join(lines)
        parts = [f"OK: {self.count} events, chain intact; head {self.head_seq} {self.head_hash}"]
        if self.checkpointed:
            parts.append(
                f"signed checkpoints ({self.checkpoints}) cover events 1-{self.checkpointed}"
            )
        if self.checkpointed < self.head_seq:
            first = self.checkpointed + 1
            tail = f"{first}-{self.head_seq}" if first < self.head_seq else f"{first}"
            sealed = f", their seals checked ({self.sealed})" if self.sealed else ""
            parts.append(f"events {tail} not yet checkpointed{sealed}")
        if self.withheld:
            parts.append(f"{self.withheld} events withheld (outside the reader's scope)")
        if self.proven_from > 1:
            parts.append(
                f"events before {self.proven_from} are vouched for only by the hashes of "
                "withheld events in the old format"
            )
        if self.person_index is not None:
            parts.append(f"the search index of persons matches ({self.person_index} rows)")
        return "; ".join(parts + self.notes)


class _Walk:
    """State of one pass over the chain (the database's or an export's)."""

    def __init__(
        self,
        *,
        keys: dict[str, bytes] | None,
        checkpoints: list[Checkpoint] | None = None,
        sealer: Any = None,
        replay: audit_state.Replay | None = None,
        expect_heads: Iterable[str] = (),
        start_seq: int = 1,
        start_prev: str = GENESIS_HASH,
    ):
        # Pasted from minutes: tolerate spaces and capitals. The genesis hash is the head of
        # the empty chain, so it is always "found".
        self.wanted = {h.strip().lower() for h in expect_heads if h.strip()} - {GENESIS_HASH}
        self.keys = keys
        self.sealer = sealer  # the server key's seal(hash), or None: seals not checked
        self.replay = replay
        self.next_seq = start_seq
        self.prev = start_prev
        self.count = 0
        self.withheld = 0
        self.proven_from = 1
        self.format2 = False
        self.sealed = 0
        self.broken: tuple[int | None, str] | None = None  # the chain itself is broken here
        self.findings: list[tuple[int | None, str]] = []
        self.checkpoint_seqs: dict[int, Checkpoint] = {}
        self.checkpoint_events: list[int] = []  # events that record a checkpoint taken
        self.valid_checkpoints: dict[int, str] = {}
        self.checkpointed = 0
        self.seal_after = 0
        self.pre_encoded = False
        # With ``collect_persons()``: the index rows the events call for, (seq, person) in
        # order, as two arrays; and those no index row can hold (out of a 64-bit range).
        self.persons: tuple[array, array] | None = None
        self.unindexable: list[tuple[int, int]] = []
        for cp in checkpoints or ():
            self.checkpoint_seqs[cp.seq] = cp
            if self._signature_ok(cp):
                self.valid_checkpoints[cp.seq] = cp.hash
        if self.valid_checkpoints:
            self.seal_after = max(self.valid_checkpoints)

    def collect_persons(self) -> None:
        self.persons = (array("q"), array("q"))

    def _persons_of(self, seq: int, payload: str) -> None:
        seqs, persons = self.persons
        for person in payload_persons(payload):
            try:
                persons.append(person)
            except OverflowError:
                self.unindexable.append((seq, person))
                continue
            seqs.append(seq)

    def _signature_ok(self, cp: Checkpoint) -> bool:
        if self.keys is None:
            return False
        public = self.keys.get(cp.key_id)
        if public is None:
            self.findings.append(
                (cp.seq, f"checkpoint at event {cp.seq} is signed by key {cp.key_id}, "
                 "which is not a trusted audit key: forged, or the key was replaced")
            )  # fmt: skip
            return False
        if not audit_keys.signature_valid(public, cp.message(), cp.signature):
            self.findings.append(
                (cp.seq, f"checkpoint at event {cp.seq}: its signature does not verify: "
                 "forged or altered")
            )  # fmt: skip
            return False
        return True

    def _checkpoint_reached(self, seq: int, computed: str) -> None:
        cp = self.checkpoint_seqs[seq]
        if cp.hash != computed:
            problem = (
                f"checkpoint at event {seq} does not match the chain: the events up to it "
                "were rewritten, or the checkpoint was forged"
            )
            if seq in self.valid_checkpoints:
                self.broken = self.broken or (seq, problem)
            else:
                self.findings.append((seq, problem))
        elif seq in self.valid_checkpoints:
            self.checkpointed = seq

    def walk(self, rows: Iterable[Any]) -> None:
        """Check each event's place, link and hash; note seals, checkpoints and records."""
        enc = _encode_row
        sha = hashlib.sha256
        expected, prev = self.next_seq, self.prev
        cps = self.checkpoint_seqs
        seal_after, sealer = self.seal_after, self.sealer
        replay = self.replay
        special = _SPECIAL if replay is not None else _CHECKPOINT_ONLY
        wanted = self.wanted
        format2 = self.format2
        # Rows of ``fastsql.walk_audit(encoded=True)`` carry their canonical body, encoded by
        # the database (index 14): the same text, without a Python call per event.
        pre = self.pre_encoded
        persons = self.persons is not None
        mark = _PERSON_MARK
        dmark, pmark = audit_state.DIGEST_MARK, audit_state.PERSON_MARK
        cmark = audit_state.CREDENTIAL_MARK
        sealing = '_digest":"'  # what both marks end with: one search for events without
        dlen = len(dmark)
        for row in rows:
            if row.__class__ is not tuple:
                if isinstance(row, Checkpoint):
                    self._file_checkpoint(row, expected - 1, prev)
                    continue
                row = self._withheld(row, expected, prev, format2)
                if row is None:
                    break
                format2 = self.format2
                prev = row
                expected += 1
                continue
            seq = row[0]
            if seq != expected:
                if seq > expected:
                    problem = f"event {expected} is missing (the next event is {seq}): deleted"
                else:
                    problem = f"event {seq} appears out of order after event {expected - 1}"
                self.broken = (expected, problem)
                break
            if row[11] != prev:
                self.broken = (
                    seq,
                    f"event {seq} does not link to event {seq - 1}: inserted, removed or reordered",
                )
                break
            salt = row[10]
            if salt is None:
                if format2:
                    self.broken = (
                        seq,
                        f"event {seq} is in the old hash format after the switch: "
                        "inserted or altered",
                    )
                    break
                computed = sha((prev + (row[14] if pre else enc(row[:10]))).encode()).hexdigest()
            else:
                format2 = True
                body = row[14] if pre else enc(row[:11])
                computed = sha((prev + sha(body.encode()).hexdigest()).encode()).hexdigest()
            if computed != row[12]:
                if pre:  # judge by the reference encoding, never by the database's alone
                    computed = event_hash(prev, _row_dict(row))
                if computed != row[12]:
                    self.broken = (
                        seq,
                        f"event {seq} was altered: its content does not match its hash",
                    )
                    break
            if seq > seal_after and sealer is not None and salt is not None:
                if row[13] != sealer(computed):
                    self.findings.append(
                        (seq, f"event {seq} does not carry pbflow's seal: written outside "
                         "pbflow by someone without the audit key")
                    )  # fmt: skip
                else:
                    self.sealed += 1
            if persons and mark in row[9]:
                self._persons_of(seq, row[9])
            if replay is not None and row[9] and sealing in row[9]:
                if pmark in row[9]:
                    replay.person_event(row[9])  # a person's record as this event left it
                if cmark in row[9]:
                    replay.credential_event(row[9])  # an account's password as it was set
                at = row[9].find(dmark) if row[5] is not None else -1
                if at >= 0:  # the case's data as this event left them
                    replay.case_data[row[5]] = row[9][at + dlen : at + dlen + 32]
            if row[6] in special:
                action = row[6]
                if action == "transition" and replay is not None:
                    known = replay.cases.get(row[5])  # the common case, inline
                    if known is not None and known[1] != -1:
                        known[0] = row[8]
                        known[1] += 1
                        known[2] = row[4]
                    else:
                        replay.apply(action, row[5], row[8], row[4], row[9])
                elif action == CHECKPOINT_ACTION:
                    self.checkpoint_events.append(seq)
                elif replay is not None:
                    replay.apply(action, row[5], row[8], row[4], row[9])
            if seq in cps:
                self._checkpoint_reached(seq, computed)
            if wanted:
                wanted.discard(computed)
            prev = computed
            expected += 1
            self.count += 1
        self.next_seq, self.prev, self.format2 = expected, prev, format2

    def _withheld(self, row: Withheld, expected: int, prev: str, format2: bool) -> str | None:
        seq = row.seq
        if seq != expected:
            self.broken = (expected, f"event {expected} is missing (the next event is {seq})")
            return None
        if row.prev_hash != prev:
            self.broken = (seq, f"event {seq} does not link to event {seq - 1}")
            return None
        if row.digest is None:
            if format2:
                self.broken = (seq, f"event {seq} is withheld without its digest")
                return None
            computed = row.hash  # format 1: only the next event binds it
            self.proven_from = seq + 1
        else:
            self.format2 = True
            computed = hashlib.sha256((prev + row.digest).encode()).hexdigest()
            if computed != row.hash:
                self.broken = (seq, f"event {seq} was altered: its digest does not match its hash")
                return None
        if seq in self.checkpoint_seqs:
            self._checkpoint_reached(seq, computed)
        self.wanted.discard(computed)
        self.count += 1
        self.withheld += 1
        return computed

    def _file_checkpoint(self, cp: Checkpoint, last_seq: int, last_hash: str) -> None:
        """A checkpoint line of an export, written right after the event it covers."""
        if cp.seq != last_seq:
            self.findings.append((cp.seq, f"checkpoint at event {cp.seq} is out of place"))
            return
        self.checkpoint_seqs[cp.seq] = cp
        if self._signature_ok(cp):
            self.valid_checkpoints[cp.seq] = cp.hash
        self._checkpoint_reached(cp.seq, last_hash)

    def result(self, head_seq: int | None = None, head_hash: str | None = None) -> VerifyResult:
        last = self.next_seq - 1
        result = VerifyResult(
            ok=True,
            count=self.count,
            head_seq=last if head_seq is None else head_seq,
            head_hash=self.prev if head_hash is None else head_hash,
            checkpointed=self.checkpointed,
            checkpoints=sum(1 for s in self.valid_checkpoints if s <= last),
            sealed=self.sealed,
            withheld=self.withheld,
            proven_from=self.proven_from,
        )
        findings = ([self.broken] if self.broken else []) + self.findings
        findings += [
            (seq, f"checkpoint at event {seq} is missing: the chain records that it was taken")
            for seq in self.checkpoint_events
            if seq not in self.checkpoint_seqs
        ]
        if self.wanted and not self.broken:
            findings.append(
                (
                    None,
                    "expected head hash not found in the chain: " + ", ".join(sorted(self.wanted)),
                )
            )
        if self.keys is None and (self.checkpoint_seqs or self.checkpointed):
            result.notes.append("checkpoints not checked: no public key given")
        if findings:
            result.ok = False
            result.broken_seq, result.problem = findings[0]
            result.problems = [p for _s, p in findings]
            if self.broken:
                result.head_seq, result.head_hash = self.broken[0] - 1, self.prev
        return result


_CHECKPOINT_ONLY = frozenset({CHECKPOINT_ACTION})
_SPECIAL = (
    _CHECKPOINT_ONLY
    | audit_state.CASE_ACTIONS
    | audit_state.MEETING_ACTIONS
    | audit_state.TRAINING_ACTIONS
    | audit_state.ACCOUNT_ACTIONS
)


def _row_from_export(row: dict[str, Any]) -> Any:
    kind = row.get("kind")
    if kind == "checkpoint":
        return Checkpoint(
            row["seq"], row["hash"], row["at"], row["key_id"], row["signature"], row["chain"]
        )
    if kind == "withheld":
        return Withheld(row["seq"], row["prev_hash"], row["hash"], row.get("digest"))
    return (*(row.get(name) for name in EXPORT_FIELDS), None)


def _keys(public_keys: Iterable[bytes] = (), server: bool = True) -> dict[str, bytes] | None:
    """Trusted public keys by id: the ones given, else this server's and the configured ones."""
    given = list(public_keys)
    if given:
        return {audit_keys.key_id(raw): raw for raw in given}
    found: dict[str, bytes] = {}
    if server:
        key = audit_keys.current(create=False)
        if key is not None:
            found[key.key_id] = key.public_raw
        for text in (current_app.config.get("PBFLOW_AUDIT_TRUSTED_KEYS") or "").split(","):
            if text.strip():
                raw = audit_keys.parse_public_key(text)
                found[audit_keys.key_id(raw)] = raw
    return found or None


def verify_rows(
    rows: Iterable[dict[str, Any]],
    expect_heads: Iterable[str] = (),
    public_keys: Iterable[bytes] = (),
) -> VerifyResult:
    """Walk an export's lines in order, naming the first one that breaks the chain.

    ``expect_heads`` are hashes printed earlier (for example in a meeting's minutes); each must
    still be found in the chain, which proves nothing before it changed. Checkpoint lines are
    checked against ``public_keys`` (without one, they are not trusted).
    """
    keys = {audit_keys.key_id(raw): raw for raw in public_keys} or None
    walk = _Walk(keys=keys, expect_heads=expect_heads)
    walk.walk(_row_from_export(row) for row in rows)
    return walk.result()


def _head_row() -> tuple[int, str] | None:
    # A query, never the session's identity map: a loaded AuditHead would be stale.
    row = db.session.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).first()
    return (row.seq, row.hash) if row else None


def _broken(result: VerifyResult, seq: int, problem: str) -> VerifyResult:
    result.ok = False
    result.broken_seq, result.problem = seq, problem
    result.problems = [problem, *result.problems]
    return result


def _checkpoints() -> list[Checkpoint]:
    from pbflow.engine import fastsql

    return [Checkpoint(*row) for row in fastsql.audit_checkpoints(CHAIN)]


def verify_database(
    expect_heads: Iterable[str] = (),
    public_keys: Iterable[bytes] = (),
    *,
    person_index: bool = True,
) -> VerifyResult:
    """Verify the stored chain up to its head, that no event lies beyond the head, every
    checkpoint signature, the seals after the last checkpoint, every case and meeting
    record against its events, and (``person_index``) the search's index ``audit_person``
    against the people the events name.

    The head is read first: every event up to it was committed together with it, so a
    verification running while others append walks a complete chain, not a false alarm.
    """
    from pbflow.engine import fastsql

    found = _head_row()
    if found is None:
        return VerifyResult(False, broken_seq=1, problem="the chain head record is missing")
    head_seq, head_hash = found
    key = audit_keys.current(create=False)
    walk = _Walk(
        keys=_keys(public_keys),
        checkpoints=_checkpoints(),
        sealer=key.seal if key is not None else None,
        replay=audit_state.Replay(),
        expect_heads=expect_heads,
    )
    walk.pre_encoded = fastsql.encodes_rows()
    if person_index:
        walk.collect_persons()
    walk.walk(fastsql.walk_audit(upto=head_seq, encoded=walk.pre_encoded))
    result = walk.result()
    if key is None and walk.next_seq - 1 > walk.seal_after:
        result.notes.append("seals not checked: this server has no audit key")
    if walk.broken is not None:
        return result
    last_seq = walk.next_seq - 1
    if last_seq < head_seq:
        return _broken(
            result,
            last_seq + 1,
            f"the chain head records event {head_seq} but the trail ends at event "
            f"{last_seq}: events removed from the end, or the head was altered",
        )
    if walk.prev != head_hash:
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
        now_head = (_head_row() or (0, ""))[0]
        beyond = db.session.execute(
            select(func.min(AuditEvent.seq)).where(
                AuditEvent.seq > now_head, AuditEvent.seq <= last
            )
        ).scalar()
        if beyond is not None:
            return _broken(
                result,
                beyond,
                f"event {beyond} lies beyond the chain head (event {now_head}): "
                "appended outside pbflow",
            )
    problems = audit_state.compare(walk.replay, _later_events(head_seq))
    if person_index:
        rows, problem = _compare_person_index(walk, head_seq)
        if problem:
            problems.append(problem)
        else:
            result.person_index = rows
    if problems:
        result.ok = False
        if result.problem is None:
            result.broken_seq, result.problem = None, problems[0]
        result.problems += problems
    return result


def _compare_person_index(walk: _Walk, head_seq: int) -> tuple[int, str | None]:
    """Compare ``audit_person`` with the rows the walked events call for (collected during the
    walk, so the events are not read twice): its rows up to the head, and any row beyond the
    head whose event does not exist. The rows compared, and the problem if they differ.

    The index is not evidence, but a row deleted from it hides its event from the search by
    person, and a row added shows an event under someone it does not name."""
    expected_seqs, expected_persons = walk.persons
    seqs, persons = fastsql.audit_person_columns(head_seq)
    orphans = db.session.execute(
        select(AuditPerson.seq, AuditPerson.person_id).where(
            AuditPerson.seq > head_seq,
            ~select(AuditEvent.seq).where(AuditEvent.seq == AuditPerson.seq).exists(),
        )
    ).all()
    if seqs == expected_seqs and persons == expected_persons and not (orphans or walk.unindexable):
        return len(seqs), None
    expected = set(zip(expected_seqs, expected_persons, strict=True)) | set(walk.unindexable)
    actual = set(zip(seqs, persons, strict=True)) | {(r.seq, r.person_id) for r in orphans}
    missing, extra = expected - actual, actual - expected
    differ = missing | extra
    events = len({s for s, _p in differ})
    people = len({p for _s, p in differ})
    return len(seqs), (
        f"the search index of persons (audit_person) does not match the events: "
        f"{len(missing)} rows missing and {len(extra)} rows too many, for {events} events and "
        f"{people} persons; searching by person hides those events or shows them under "
        "someone they do not name (an index, not evidence: 'pbflow audit reindex' rebuilds "
        "it from the events)"
    )


def _later_events(head_seq: int):
    def later(
        case_ids: set[int], meeting_ids: set[int], training_ids: set[int], every: bool = False
    ) -> Iterator:
        from pbflow.engine import fastsql

        if not case_ids and not meeting_ids and not training_ids and not every:
            return
        upto = (_head_row() or (head_seq, ""))[0]
        # Accounts' and people's events name no case: for them (every), every later event.
        ids = case_ids if len(case_ids) <= 500 and not every else None
        for row in fastsql.walk_audit(after=head_seq, upto=upto, instance_ids=ids):
            yield row[6], row[5], row[8], row[4], row[9]

    return later


def head() -> tuple[int, str]:
    return _head_row() or (0, GENESIS_HASH)


# --- checkpoints ----------------------------------------------------------------------------


class CheckpointRefused(Exception):
    """The chain since the last checkpoint does not verify: nothing is signed over it."""


def checkpoint() -> Checkpoint | None:
    """Sign the chain as it is now, after checking everything since the last valid checkpoint.

    Records the checkpoint as an event of the chain (so a removed checkpoint is named) and
    signs that event's hash. Returns None when nothing was appended since the last checkpoint
    (or the chain is empty); raises CheckpointRefused, naming the problem, when the events
    since the last checkpoint do not verify (forged, unsealed, or not linking to it).
    """
    from pbflow.engine import fastsql

    key = audit_keys.current()
    db.session.commit()  # anything queued goes first
    try:
        # Hold the head: nothing is appended while the range is checked and signed.
        head_lock = text("UPDATE audit_head SET seq = seq WHERE id = 1 RETURNING seq")
        head_seq = db.session.execute(head_lock).scalar_one()
        known = _checkpoints()
        keys = _keys()
        start = known[-1] if known else None
        if start is not None:
            walk = _Walk(keys=keys, checkpoints=[start])
            if start.seq not in walk.valid_checkpoints:
                raise CheckpointRefused(walk.result().problem)
        if head_seq == 0 or (start is not None and start.seq == head_seq):
            db.session.rollback()
            return None
        walk = _Walk(
            keys=keys,
            sealer=key.seal,
            start_seq=start.seq + 1 if start else 1,
            start_prev=start.hash if start else GENESIS_HASH,
        )
        walk.walk(fastsql.walk_audit(after=start.seq if start else 0, upto=head_seq))
        result = walk.result()
        if walk.next_seq - 1 != head_seq and result.ok:
            result = _broken(result, walk.next_seq, "the chain ends before its head")
        if not result.ok:
            raise CheckpointRefused(result.summary())
        previous = start.seq if start else 0
        payload: dict[str, Any] = {"chain": CHAIN, "previous": previous}
        # The security log is its own chain (so that logins never sit in one sequence with
        # anonymous opinions); its head goes into the signed event, so a rewritten security log
        # no longer matches what a signature vouches for.
        security_seq, security_hash = security_log.head()
        if security_seq:
            payload[security_log.ANCHOR_KEY] = {"seq": security_seq, "hash": security_hash}
        event = _event(CHECKPOINT_ACTION, payload=payload)
        _append([event])
        at = format_time(event["at"])
        message = audit_keys.checkpoint_message(CHAIN, event["seq"], event["hash"], at)
        signed = Checkpoint(event["seq"], event["hash"], at, key.key_id, key.sign(message))
        db.session.add(
            AuditCheckpoint(
                chain=CHAIN,
                seq=signed.seq,
                hash=signed.hash,
                at=event["at"],
                key_id=signed.key_id,
                signature=signed.signature,
            )
        )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return signed


# --- export ---------------------------------------------------------------------------------


def _in_scope(row: tuple, org_ids: set[int] | None) -> bool:
    if org_ids is None:
        return True
    org_id = row[4]
    return org_id in org_ids if org_id is not None else row[6] in NEUTRAL_ACTIONS


def export(out: TextIO, org_ids: set[int] | None = None) -> int:
    """Write the chain as JSON Lines, in order, with each checkpoint after its event; return
    how many events.

    With ``org_ids`` (a reader's scope), events of other organizations, and events of no
    organization except the neutral ones, are withheld: their line keeps only seq, the link
    hashes and the content digest, so the export still verifies and shows nothing else.
    """
    from pbflow.engine import fastsql

    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    checkpoints = {cp.seq: cp for cp in _checkpoints()}
    fields = EXPORT_FIELDS
    n = 0
    for row in fastsql.walk_audit():
        if _in_scope(row, org_ids):
            line = dict(zip(fields, row, strict=False))
        else:
            digest = None
            if row[10] is not None:
                digest = hashlib.sha256(_encode_row(row[:11]).encode()).hexdigest()
            line = {"kind": "withheld", "seq": row[0], "digest": digest}
            line.update(prev_hash=row[11], hash=row[12])
        out.write(dumps(line) + "\n")
        cp = checkpoints.get(row[0])
        if cp is not None:
            out.write(dumps(cp.as_line()) + "\n")
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
    "salt": True,
    "prev_hash": False,
    "hash": False,
}
_SHAPES = {
    "withheld": {"seq": int, "prev_hash": str, "hash": str},
    "checkpoint": {
        "chain": str,
        "seq": int,
        "hash": str,
        "at": str,
        "key_id": str,
        "signature": str,
    },
}


def _field_type_problem(row: dict[str, Any]) -> str | None:
    """What is wrong with an exported row's field types, so verification never crashes."""
    kind = row.get("kind")
    if kind is not None:
        shape = _SHAPES.get(kind)
        if shape is None:
            return f"unknown kind of line '{kind}'"
        for name, kind_type in shape.items():
            value = row.get(name)
            if not isinstance(value, kind_type) or isinstance(value, bool):
                return f"'{name}' must be {'a whole number' if kind_type is int else 'text'}"
        digest = row.get("digest")
        if kind == "withheld" and digest is not None and not isinstance(digest, str):
            return "'digest' must be text"
        return None
    for name, optional in _WHOLE_NUMBERS.items():
        value = row[name]
        if not (value is None and optional) and (
            not isinstance(value, int) or isinstance(value, bool)
        ):
            return f"'{name}' must be a whole number"
    for name, optional in _TEXTS.items():
        value = row.get(name)
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
        if "kind" not in row:
            missing = [f for f in _REQUIRED_FIELDS if f not in row]
            if missing:
                raise ValueError(f"line {number}: missing fields {', '.join(missing)}")
        problem = _field_type_problem(row)
        if problem:
            raise ValueError(f"line {number}: {problem}")
        yield row
