"""Two people doing the same assessment step at the same moment, on SQLite and PostgreSQL:
two committee members opening the same round, a branch's secretary and deputy appealing
against the same result. Exactly one succeeds; the other is told why not; the audit trail
holds one start and still verifies.

Each call runs in its own thread and application context (its own session and connection,
as in two gunicorn workers). The check's read is made to linger (it sleeps after reading),
so that without the lock both calls would read before either wrote and both would pass.
"""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import func, select

from pbflow import audit
from pbflow.engine.errors import GuardRefused, ValidationFailed
from pbflow.engine.registry import registry
from pbflow.extensions import db
from pbflow.models import AssessmentResult, AuditEvent, ProcessInstance
from pbflow.procedures.assessment import rounds, rules
from pbflow.procedures.assessment import scheme as schemes
from tests.assessment import helpers
from tests.test_concurrency import _as, _race

LINGER = 0.3


def _lingering(monkeypatch, module, name: str) -> None:
    """Make ``module.name`` sleep after it has read, while its caller's check is pending."""
    original = getattr(module, name)

    def slow(*args, **kwargs):
        found = original(*args, **kwargs)
        time.sleep(LINGER)
        return found

    monkeypatch.setattr(module, name, slow)


def _stored(workflow_id: str) -> None:
    """Store the workflow's definition before the race, as its first case would: two first
    cases of a new version at once collide on storing it, a different race (the unique
    constraint refuses the second) that would hide the one under test."""
    reg = registry()
    reg.ensure_stored(reg.get(workflow_id))
    db.session.commit()


def _started(workflow_id: str, org_id: int) -> int:
    """How many cases of the workflow at the organization the audit trail records as started."""
    return sum(
        1
        for payload in db.session.execute(
            select(AuditEvent.payload).where(
                AuditEvent.action == "case_started", AuditEvent.org_id == org_id
            )
        ).scalars()
        if json.loads(payload).get("workflow") == workflow_id
    )


def test_two_members_opening_the_same_round_open_one(app, world, clock, monkeypatch):
    clock.set("2026-04-02T02:00:00")
    schemes.save(world["committee_a"], 2026, schemes.DEFAULT)
    committee = world.committee.id
    _stored(rounds.ROUND)
    _lingering(monkeypatch, rounds, "rounds_of")

    def open_as(name):
        return lambda: rounds.open_round(_as(name), committee, 2026, 1).id

    results = _race(app, [open_as("committee_a"), open_as("committee_b")])
    opened = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(opened) == 1 and len(refused) == 1, results
    assert isinstance(refused[0], ValidationFailed), refused
    assert refused[0].field_errors["quarter"] == "A round for that period is already open or done."

    db.session.expire_all()
    found = db.session.execute(
        select(ProcessInstance.id).where(
            ProcessInstance.workflow_id == rounds.ROUND, ProcessInstance.org_id == committee
        )
    ).scalars()
    assert list(found) == opened
    results_of = db.session.execute(select(AssessmentResult.round_id).distinct()).scalars()
    assert list(results_of) == opened
    assert _started(rounds.ROUND, committee) == 1
    opened_events = db.session.execute(
        select(func.count()).where(AuditEvent.action == "assessment_round_opened")
    ).scalar_one()
    assert opened_events == 1
    assert audit.verify_database().ok


@pytest.fixture
def published(world, clock):
    return helpers.published_round(world, clock)


def test_secretary_and_deputy_appealing_at_once_lodge_one_appeal(
    app, world, clock, published, monkeypatch
):
    clock.set("2026-04-05T02:00:00")
    rid, branch = published, world.branch.id
    _stored(rounds.APPEAL)
    _lingering(monkeypatch, rules, "earlier_appeals")

    def appeal_as(name, reason):
        return lambda: rounds.appeal(_as(name), rid, branch, reason).id

    results = _race(app, [appeal_as("secretary", "材料未采纳"), appeal_as("deputy", "再次申诉")])
    lodged = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(lodged) == 1 and len(refused) == 1, results
    assert isinstance(refused[0], GuardRefused), refused
    assert refused[0].message == "The branch has already appealed against this round."

    db.session.expire_all()
    assert [c.id for c in rounds.appeals_of(rid)] == lodged
    assert _started(rounds.APPEAL, branch) == 1
    assert audit.verify_database().ok


def test_closing_holds_the_round_while_it_counts_open_appeals(
    app, world, clock, published, monkeypatch
):
    """An appeal lodged at the last instant of the time for appeals and the round closed at
    the first instant after it would each count before the other wrote: closing takes the
    round's lock (which lodging an appeal holds) before it counts open appeals. Only when the
    step is taken: drawing the round's page weighs the guard without locking anything."""
    from pbflow.engine import locks, runtime

    held: list[int] = []
    original = locks.hold_case

    def spy(case_id):
        held.append(case_id)
        return original(case_id)

    monkeypatch.setattr(locks, "hold_case", spy)
    rid, a = published, world["committee_a"]
    clock.set("2026-04-20T02:00:00")  # the time for appeals is over
    actions = runtime.available_actions(rid, a)
    assert any(x.trigger == "close" and x.enabled for x in actions)
    assert held == []  # weighing the guard for a page locks nothing
    runtime.fire(rid, "close", a)
    assert held == [rid]
    assert db.session.get(ProcessInstance, rid).state == "closed"
    assert audit.verify_database().ok
