"""The opinion box's own records: tracking codes (as hashes only) and rate-limit counters.

Neither table holds anything that identifies a person. A tracking code is stored only as its
SHA-256 (the code has 80 random bits, so the hash cannot be reversed by trying codes). A
rate-limit counter is keyed by an HMAC of the client address under its window's own random
key (``RateWindow``); the key and every counter of a window are deleted once the window is
over, after which nobody (holding the database and the secret key or not) can tell which
address a counter belonged to. Neither table is ever linked to an opinion.
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


class RateWindow(db.Model):
    """One fixed rate-limit window and its random key (64 hex digits).

    Made by the first counted request of the window, in whichever worker serves it (nothing
    is shared in process memory); deleted with its counters as soon as the window is over.
    """

    __tablename__ = "rate_window"

    window_start: Mapped[datetime] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64))


class RateCounter(db.Model):
    """How many times a client did something (``bucket``) in one fixed time window.

    Kept in the database, not in process memory: pbflow runs under several workers.
    ``key_hash`` is HMAC-SHA256(the window's key, bucket | client address).
    """

    __tablename__ = "rate_counter"
    __table_args__ = (Index("ix_rate_counter_window", "window_start"),)

    bucket: Mapped[str] = mapped_column(String(32), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(
        ForeignKey("rate_window.window_start", ondelete="CASCADE"), primary_key=True
    )
    count: Mapped[int] = mapped_column(default=0)
