"""Two people acting on the same case at the same moment (DESIGN section 4): exactly one wins,
the other is told the case changed; nothing is lost or doubled, on SQLite and PostgreSQL.

Each thread has its own application context, hence its own database session and connection,
as two requests in two gunicorn workers would.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from pbflow import audit
from pbflow.engine import runtime, votes
from pbflow.engine.errors import ConcurrentChange, DomainError, InvalidState
from pbflow.extensions import db
from pbflow.models import AuditEvent, Ballot, User

REQUEST = {
    "purpose": "主题党日",
    "activity_date": "2026-03-20",
    "amount": "8000",
    "budget": "场地 8000",
}


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
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    return results


def _as(username: str) -> User:
    """The user loaded in the calling thread's own session."""
    return db.session.execute(select(User).where(User.username == username)).scalar_one()


def _transitions(case_id: int) -> int:
    return db.session.execute(
        select(func.count()).where(
            AuditEvent.instance_id == case_id, AuditEvent.action == "transition"
        )
    ).scalar_one()


def _at_secretary_review(world) -> int:
    case = runtime.start("activity_funding", world.branch, world["branch_member"], REQUEST)
    runtime.fire(case.id, "submit", world["branch_member"])
    return case.id


@pytest.mark.parametrize("round_", range(3))
def test_two_people_deciding_at_once_one_wins(app, world, round_):
    case_id = _at_secretary_review(world)
    before = runtime.load_case(case_id)
    transitions_before = _transitions(case_id)

    def approve():
        return runtime.fire(
            case_id, "secretary_approve", _as("secretary"), expected_version=before.version
        )

    def send_back():
        return runtime.fire(
            case_id,
            "return_for_changes",
            _as("deputy"),
            expected_version=before.version,
            comment="预算不清",
        )

    results = _race(app, [approve, send_back])
    errors = [r for r in results if isinstance(r, Exception)]
    wins = [r for r in results if isinstance(r, runtime.Outcome)]
    assert len(wins) == 1 and len(errors) == 1, results
    assert isinstance(errors[0], ConcurrentChange)
    assert "changed since you opened it" in errors[0].message

    db.session.expire_all()
    after = runtime.load_case(case_id)
    assert after.version == before.version + 1
    assert after.state == wins[0].state
    assert _transitions(case_id) == transitions_before + 1
    assert audit.verify_database().ok


def test_the_same_step_twice_at_once_happens_once(app, world):
    case_id = _at_secretary_review(world)
    version = runtime.load_case(case_id).version

    def approve(name):
        return lambda: runtime.fire(
            case_id, "secretary_approve", _as(name), expected_version=version
        )

    results = _race(app, [approve("secretary"), approve("deputy")])
    assert sorted(type(r).__name__ for r in results) == ["ConcurrentChange", "Outcome"]
    db.session.expire_all()
    assert runtime.load_case(case_id).version == version + 1
    assert _transitions(case_id) == 2  # submit, and one approval
    assert audit.verify_database().ok


def _at_committee_vote(world) -> int:
    case_id = _at_secretary_review(world)
    runtime.fire(case_id, "secretary_approve", world["secretary"])
    runtime.fire(case_id, "forward_to_committee", world["gb_secretary"])
    return case_id


def test_ballots_that_together_decide_fire_the_outcome_once(app, world):
    case_id = _at_committee_vote(world)
    version = runtime.load_case(case_id).version

    def ballot(name):
        return lambda: votes.cast_ballot(case_id, _as(name), "for")

    results = _race(app, [ballot("committee_a"), ballot("committee_b")])
    # Two of three committee members for: whichever ballot is counted second decides.
    assert sorted(results, key=str) == [None, "passed"], results
    db.session.expire_all()
    case = runtime.load_case(case_id)
    assert case.state == "approved" and case.version == version + 1
    assert _transitions(case_id) == 4  # submit, approve, forward, and the decision once
    assert audit.verify_database().ok


def test_a_ballot_racing_the_deciding_one_finds_the_vote_closed(app, world):
    case_id = _at_committee_vote(world)

    def ballot(name):
        return lambda: votes.cast_ballot(case_id, _as(name), "for")

    results = _race(app, [ballot("committee_a"), ballot("committee_b"), ballot("committee_c")])
    outcomes = [r for r in results if not isinstance(r, Exception)]
    errors = [r for r in results if isinstance(r, Exception)]
    assert sorted(outcomes, key=str) == [None, "passed"], results
    assert len(errors) == 1 and isinstance(errors[0], InvalidState), results
    assert "No vote is open" in errors[0].message
    db.session.expire_all()
    # The late ballot was not kept: the round counts exactly the two that decided it.
    assert (
        db.session.execute(
            select(func.count()).select_from(Ballot).where(Ballot.instance_id == case_id)
        ).scalar_one()
        == 2
    )
    assert _transitions(case_id) == 4
    assert audit.verify_database().ok


def test_many_cases_at_once_all_commit(app, world):
    """Writers on different cases wait for each other instead of failing ("database is
    locked" on SQLite), and the audit chain stays one unbroken line."""
    case_ids = [_at_secretary_review(world) for _ in range(6)]

    def approve(case_id):
        return lambda: runtime.fire(case_id, "secretary_approve", _as("secretary"))

    results = _race(app, [approve(c) for c in case_ids])
    assert not [r for r in results if isinstance(r, DomainError | Exception)], results
    db.session.expire_all()
    assert {runtime.load_case(c).state for c in case_ids} == {"superior_review"}
    result = audit.verify_database()
    assert result.ok and result.count == audit.head()[0]
