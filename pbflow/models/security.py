"""The security log: authentication and self-service account events, in a hash chain of its own.

Kept apart from the process audit chain (``models.audit``) on purpose: logins, failed logins,
logouts and the like must not sit in one ordered sequence with anonymous opinion submissions,
where their order and times would link a person to an "anonymous" event.

``SecurityHead`` is a single row holding the last sequence number and hash; appending moves it
first, which takes the write lock, so appenders in several processes never fork the chain.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pbflow.extensions import db

SECURITY_GENESIS_HASH = "0" * 64


class SecurityEvent(db.Model):
    __tablename__ = "security_event"
    __table_args__ = (
        Index("ix_security_user", "user_id", "seq"),
        Index("ix_security_username", "username"),
        Index("ix_security_at", "at"),
    )

    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    at: Mapped[datetime]
    # The account concerned. No foreign key: the log outlives what it describes. An attempt
    # on an unknown name has no user id and keeps the name typed.
    user_id: Mapped[int | None]
    username: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text, default="{}")  # canonical JSON, hashed as stored
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class SecurityHead(db.Model):
    __tablename__ = "security_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    seq: Mapped[int]
    hash: Mapped[str] = mapped_column(String(64))
