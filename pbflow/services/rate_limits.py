"""Rate limits for the pages anyone may use without an account (the opinion box, the
satisfaction survey), kept so that nothing links a limit to a person afterwards.

Each fixed window (an hour by default, ``PBFLOW_OPINION_WINDOW_MINUTES``) has its own random
key, made by the window's first counted request and stored in ``rate_window`` so that every
worker uses the same one. A client's counter is keyed by HMAC(window key, bucket | address).
When the window is over the key is deleted together with its counters (by the next request,
or by ``pbflow tick``), so afterwards no key exists under which an address could be tried
against a counter. One table and one window length for every bucket: whoever runs first may
delete every past window.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete, select, text
from sqlalchemy.dialects import postgresql, sqlite

from pbflow import clock
from pbflow.extensions import db
from pbflow.models import RateCounter, RateWindow

WINDOW_DEFAULT_MINUTES = 60


def window(now: datetime) -> tuple[datetime, timedelta]:
    """The window ``now`` falls in: its start and its length."""
    minutes = int(current_app.config.get("PBFLOW_OPINION_WINDOW_MINUTES", WINDOW_DEFAULT_MINUTES))
    epoch, step = datetime(2000, 1, 1), timedelta(minutes=minutes)
    return epoch + ((now - epoch) // step) * step, step


def _insert(model: type) -> Any:
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(model)


def _drop_windows_before(window_start: datetime) -> int:
    """Delete the keys and counters of every window that began before ``window_start``."""
    db.session.execute(delete(RateCounter).where(RateCounter.window_start < window_start))
    result = db.session.execute(delete(RateWindow).where(RateWindow.window_start < window_start))
    return result.rowcount or 0


def _window_key(window_start: datetime) -> bytes:
    """The window's random key: made by whichever request (in whichever worker) comes first;
    a concurrent first request waits for it and then reads the same key."""
    db.session.execute(
        _insert(RateWindow)
        .values(window_start=window_start, key=secrets.token_hex(32))
        .on_conflict_do_nothing(index_elements=["window_start"])
    )
    key = db.session.execute(
        select(RateWindow.key).where(RateWindow.window_start == window_start)
    ).scalar_one()
    return bytes.fromhex(key)


def take(bucket: str, client: str, limit: int) -> datetime | None:
    """Count one attempt of ``client`` in ``bucket`` in the current window: None when it is
    within ``limit``, else the local time the window ends (when to try again).

    One statement adds one and returns the new count (an UPSERT, which makes simultaneous
    requests from any worker wait for each other on the counter's row), so with a limit of 5
    exactly five of any number of simultaneous attempts get through. Part of the caller's
    transaction: an attempt that is refused or rolled back is not counted.
    """
    start, step = window(clock.now())
    _drop_windows_before(start)
    key_hash = hmac.new(
        _window_key(start), f"{bucket}|{client}".encode(), hashlib.sha256
    ).hexdigest()
    count = db.session.execute(
        _insert(RateCounter)
        .values(bucket=bucket, key_hash=key_hash, window_start=start, count=1)
        .on_conflict_do_update(
            index_elements=["bucket", "key_hash", "window_start"],
            set_={"count": RateCounter.count + 1},
        )
        .returning(RateCounter.count)
    ).scalar_one()
    return None if count <= limit else clock.to_local(start + step)


def forget_past_windows(now: datetime | None = None) -> int:
    """Delete the keys and counters of windows that are over (``pbflow tick`` runs this, so a
    key outlives its window by one tick at most even when no request comes); returns how
    many windows were forgotten. Commits. On SQLite the deleted rows are overwritten
    (``secure_delete``) and the write-ahead log is then checkpointed and truncated, so the
    key does not linger in the database files either."""
    start, _step = window(now or clock.now())
    try:
        forgotten = _drop_windows_before(start)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    if forgotten and db.engine.dialect.name == "sqlite":
        db.session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        db.session.commit()
    return forgotten
