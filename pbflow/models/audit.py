"""The audit chain: append-only events, each hashed over its predecessor, and signed checkpoints.

``AuditHead`` is a single row holding the last sequence number and hash. Appending updates it
first, which takes the write lock (row lock on PostgreSQL, database lock on SQLite), so
concurrent writers from several processes append one after another without gaps or forks.

Two hash formats live in one chain (pbflow/audit.py says how each is computed): events written
before the format switch have no ``salt`` (format 1); from the switch on every event has one
(format 2), and the head's ``hash_format`` tells the appender which to write. ``seal`` is a
keyed MAC over an event's hash, made with the key kept outside the database.

``AuditCheckpoint`` rows are Ed25519 signatures over (chain, seq, hash, time) of an event; the
``chain`` column lets other hash chains (a security log, for example) be checkpointed by the
same table and key.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pbflow.extensions import db

GENESIS_HASH = "0" * 64


class AuditEvent(db.Model):
    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_instance", "instance_id", "seq"),
        Index("ix_audit_actor", "actor_user_id"),
        # The audit search (issue 16), newest first by seq: by dates (the sequence numbers
        # of a period from the index alone, then their rows), by actor, by action, by
        # organization (a reader's scope) without sorting what they match.
        Index("ix_audit_at_seq", "at", "seq"),
        Index("ix_audit_actor_label_seq", "actor_label", "seq"),
        Index("ix_audit_action_seq", "action", "seq"),
        Index("ix_audit_org_seq", "org_id", "seq"),
    )

    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    at: Mapped[datetime]
    # No foreign keys: the trail must outlive (and never block) changes to what it describes.
    actor_user_id: Mapped[int | None]
    actor_label: Mapped[str] = mapped_column(String(120))  # username, "anonymous" or "system"
    org_id: Mapped[int | None]
    instance_id: Mapped[int | None]
    action: Mapped[str] = mapped_column(String(64))
    from_state: Mapped[str | None] = mapped_column(String(64))
    to_state: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text, default="{}")  # canonical JSON, hashed as stored
    # Format 2: random, hashed with the content, so a withheld event's digest reveals nothing.
    salt: Mapped[str | None] = mapped_column(String(32))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Format 2: HMAC over ``hash`` with the key outside the database (not part of the hash).
    seal: Mapped[str | None] = mapped_column(String(32))


class AuditPerson(db.Model):
    """The audit search's index of the people an event's payload names (issue 16): one row
    per (event, person), written with the event in its transaction. An index, not evidence:
    not hashed, rebuilt and compared from the events by ``pbflow audit reindex``."""

    __tablename__ = "audit_person"
    __table_args__ = (Index("ix_audit_person_person_seq", "person_id", "seq"),)

    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    person_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)


class AuditHead(db.Model):
    __tablename__ = "audit_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    seq: Mapped[int]
    hash: Mapped[str] = mapped_column(String(64))
    # The hash format of the next event; moves from 1 to 2 once, with a recorded event.
    hash_format: Mapped[int] = mapped_column(default=2, server_default="2")


class AuditCheckpoint(db.Model):
    __tablename__ = "audit_checkpoint"
    __table_args__ = (UniqueConstraint("chain", "seq", name="uq_audit_checkpoint_chain_seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    chain: Mapped[str] = mapped_column(String(32), default="audit")
    seq: Mapped[int]
    hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    key_id: Mapped[str] = mapped_column(String(16))  # which public key verifies it
    signature: Mapped[str] = mapped_column(String(128))  # Ed25519, hex
