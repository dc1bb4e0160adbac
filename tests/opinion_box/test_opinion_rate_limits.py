"""The opinion box's rate limits: exact under parallel requests, and irreversible once their
window is over (issue 10, "Anonymous opinions must be unlinkable").

The parallel tests use real threads, each with its own application context, database session
and connection, as requests in several gunicorn workers would; they run on SQLite and, when
configured, on PostgreSQL.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from pbflow.engine.errors import NotFound
from pbflow.extensions import db
from pbflow.models import ProcessInstance, RateCounter, RateWindow
from pbflow.procedures.opinion_box import services as opinions

OPINION = {
    "subject": "食堂排队太久",
    "text": "午饭时食堂只开一个窗口，排队要二十分钟。",
    "category": "welfare",
    "anonymous": "1",
}
ADDRESS = "10.20.31.47"


def _race(app, calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls in threads released together; each result is a value or the exception."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def worker(i: int, call: Callable[[], Any]) -> None:
        with app.app_context():
            try:
                barrier.wait(timeout=30)
                results[i] = call()
            except Exception as exc:  # the result under test, kept for the assertions
                results[i] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    return results


def _submit(client: str = ADDRESS) -> opinions.Submitted:
    return opinions.submit("b1", dict(OPINION), user=None, client=client)


def _cases() -> int:
    return db.session.execute(select(func.count()).select_from(ProcessInstance)).scalar_one()


def test_sixteen_parallel_submissions_against_a_limit_of_five_let_exactly_five_through(app, world):
    app.config["PBFLOW_OPINION_SUBMIT_LIMIT"] = 5
    results = _race(app, [_submit] * 16)

    slips = [r for r in results if isinstance(r, opinions.Submitted)]
    refused = [r for r in results if isinstance(r, opinions.RateLimited)]
    assert len(slips) == 5 and len(refused) == 11, results
    assert "Too many opinions" in refused[0].message
    db.session.expire_all()
    assert _cases() == 5
    counts = db.session.execute(select(RateCounter.bucket, RateCounter.count)).all()
    assert counts == [("submit", 5)]  # refused attempts were rolled back, not counted
    # Another address is not held back by this one.
    assert isinstance(_submit("10.20.31.48"), opinions.Submitted)


def test_sixteen_parallel_wrong_codes_against_a_limit_of_five_check_exactly_five(app, world):
    app.config["PBFLOW_OPINION_TRACK_LIMIT"] = 5
    right = _submit().code
    guesses = [opinions.new_code() for _ in range(16)]

    def guess(code: str) -> Callable[[], Any]:
        return lambda: opinions.follow(code, user=None, client=ADDRESS)

    results = _race(app, [guess(code) for code in guesses])
    checked = [r for r in results if isinstance(r, NotFound)]
    refused = [r for r in results if isinstance(r, opinions.RateLimited)]
    assert len(checked) == 5 and len(refused) == 11, results
    assert "Too many tracking codes" in refused[0].message
    # The limit holds for the right code too until the window is over...
    with pytest.raises(opinions.RateLimited):
        opinions.follow(right, user=None, client=ADDRESS)
    # ...while a right code from elsewhere is not counted at all.
    for _ in range(8):
        assert opinions.follow(right, user=None, client="10.20.31.48").state == "received"
    rows = dict(db.session.execute(select(RateCounter.key_hash, RateCounter.count)).all())
    assert sorted(rows.values()) == [1, 5]  # the submission, and the five wrong guesses


def _old_scheme(secret: str, bucket: str, window_start, address: str) -> str:
    """How counters were keyed before: HMAC(secret key, bucket | window | address)."""
    message = f"{bucket}|{window_start.isoformat()}|{address}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _reverse(app) -> set[str]:
    """The insider with the database and the secret key: try every address of the /16
    against every counter, under the secret key and under every key the database holds."""
    rows = db.session.execute(
        select(RateCounter.bucket, RateCounter.key_hash, RateCounter.window_start)
    ).all()
    keys = [bytes.fromhex(k) for k in db.session.execute(select(RateWindow.key)).scalars()]
    secret = str(app.config["SECRET_KEY"])
    found = set()
    for bucket, key_hash, window_start in rows:
        for host in ipaddress.ip_network("10.20.0.0/16"):
            address = str(host)
            candidates = {_old_scheme(secret, bucket, window_start, address)}
            candidates |= {
                hmac.new(k, f"{bucket}|{address}".encode(), hashlib.sha256).hexdigest()
                for k in keys
            }
            if key_hash in candidates:
                found.add(address)
    return found


def test_counters_cannot_be_reversed_once_their_window_is_over(app, world, clock, runner):
    clock.set("2026-03-02T02:10:00")
    _submit()
    # While the window runs, its key is in the database: an insider holding it now can tell
    # which address a counter belongs to (the documented limit; also proof the search works).
    assert _reverse(app) == {ADDRESS}
    window = db.session.execute(select(RateWindow.window_start)).scalar_one()
    assert str(window) == "2026-03-02 02:00:00"

    # The window ends; no request comes, but `pbflow tick` runs (from cron): key and
    # counters are gone, and nothing is left to try addresses against.
    clock.set("2026-03-02T03:05:00")
    result = runner.invoke(args=["pbflow", "tick"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert db.session.execute(select(RateWindow)).first() is None
    assert db.session.execute(select(RateCounter)).first() is None
    assert _reverse(app) == set()


def test_the_next_request_forgets_the_windows_that_are_over(app, world, clock):
    clock.set("2026-03-02T02:10:00")
    _submit()
    old_key = db.session.execute(select(RateWindow.key)).scalar_one()
    clock.advance(hours=1)
    _submit("10.20.99.1")
    windows = db.session.execute(select(RateWindow.window_start, RateWindow.key)).all()
    assert [str(w) for w, _k in windows] == ["2026-03-02 03:00:00"]
    assert windows[0][1] != old_key  # a fresh random key for every window
    rows = db.session.execute(select(RateCounter.window_start, RateCounter.count)).all()
    assert [(str(w), c) for w, c in rows] == [("2026-03-02 03:00:00", 1)]


def test_a_counter_in_a_new_window_starts_again(app, world, clock):
    app.config["PBFLOW_OPINION_SUBMIT_LIMIT"] = 1
    clock.set("2026-03-02T02:59:00")
    _submit()
    with pytest.raises(opinions.RateLimited, match="after 11:00"):  # local time, UTC+8
        _submit()
    clock.set(clock.app.config["PBFLOW_FAKE_NOW"] + timedelta(minutes=2))
    assert isinstance(_submit(), opinions.Submitted)
