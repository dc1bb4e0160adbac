"""The opinion box's own records: tracking codes (as hashes only) and rate-limit counters.

Neither table holds anything that identifies a person. A tracking code is stored only as its
SHA-256 (the code has 80 random bits, so the hash cannot be reversed by trying codes). A
rate-limit counter is keyed by a keyed hash of the client address *and* its time window, is
never linked to an opinion, and is deleted once its window is long past.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from pbflow.extensions import db


class OpinionCode(db.Model):
    """The tracking code of one opinion (a case of the ``opinion`` workflow)."""

    __tablename__ = "opinion_code"

    instance_id: Mapped[int] = mapped_column(
        ForeignKey("process_instance.id", ondelete="CASCADE"), primary_key=True
    )
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)


class RateCounter(db.Model):
    """How many times a client did something (``bucket``) in one fixed time window.

    Kept in the database, not in process memory: pbflow runs under several workers.
    """

    __tablename__ = "rate_counter"
    __table_args__ = (Index("ix_rate_counter_window", "window_start"),)

    bucket: Mapped[str] = mapped_column(String(32), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(primary_key=True)
    count: Mapped[int] = mapped_column(default=0)
