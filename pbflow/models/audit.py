"""The audit chain: append-only events, each hashed over its predecessor.

``AuditHead`` is a single row holding the last sequence number and hash. Appending updates it
first, which takes the write lock (row lock on PostgreSQL, database lock on SQLite), so
concurrent writers from several processes append one after another without gaps or forks.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pbflow.extensions import db

GENESIS_HASH = "0" * 64


class AuditEvent(db.Model):
    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_instance", "instance_id", "seq"),
        Index("ix_audit_actor", "actor_user_id"),
        Index("ix_audit_action", "action"),
        Index("ix_audit_at", "at"),
        Index("ix_audit_org", "org_id"),
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
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHead(db.Model):
    __tablename__ = "audit_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    seq: Mapped[int]
    hash: Mapped[str] = mapped_column(String(64))
