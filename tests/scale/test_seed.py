"""``pbflow seed``: a data set that keeps every invariant, and ``pbflow audit verify`` accepts."""

from __future__ import annotations

from sqlalchemy import func, select

from pbflow import audit, clock
from pbflow.engine import tasks
from pbflow.engine.registry import registry
from pbflow.extensions import db
from pbflow.models import AuditEvent, Meeting, Organization, Person, ProcessInstance, User
from pbflow.services import inbox, seed


def test_seed_adds_a_committee_that_audit_verify_accepts(world, runner):
    before = db.session.execute(select(func.count(ProcessInstance.id))).scalar()
    result = runner.invoke(args=["pbflow", "seed", "--scale", "300", "--seed", "5"])
    assert result.exit_code == 0, result.output
    assert "300 cases" in result.output
    # Under the existing committee: a tree of branches with their groups.
    branches = (
        db.session.execute(
            select(Organization).where(
                Organization.code.like("seed5-%"), Organization.kind == "branch"
            )
        )
        .scalars()
        .all()
    )
    assert len(branches) == 15
    assert all(b.path.startswith(world.committee.path) for b in branches)
    assert all(b.path == f"{b.parent.path}{b.id}/" for b in branches)
    # Cases of every workflow, in many states, each at the version its events lead to.
    cases = db.session.execute(select(ProcessInstance)).scalars().all()
    assert len(cases) == before + 300
    assert len({c.workflow_id for c in cases}) >= 5
    assert len({(c.workflow_id, c.state) for c in cases}) >= 25
    transitions = dict(
        db.session.execute(
            select(AuditEvent.instance_id, func.count())
            .where(AuditEvent.action == "transition")
            .group_by(AuditEvent.instance_id)
        ).all()
    )
    reg = registry()
    for c in cases:
        assert c.version == 1 + transitions.get(c.id, 0)
        assert (c.closed_at is not None) == reg.stored(c.definition_id).states[c.state].final
    assert db.session.execute(select(func.count(Meeting.id))).scalar() >= 10
    assert db.session.execute(select(func.count(Person.id))).scalar() >= 60
    officer = db.session.execute(select(User).where(User.username == "seed5.b1.sec")).scalar()
    assert officer is not None and officer.person is not None
    # The whole chain, its seals and every case and meeting against its events.
    verified = audit.verify_database()
    assert verified.ok, verified.summary()
    # The seeded cases wait on their officers: the work-waiting rows match a recomputation.
    waiting = tasks.check()
    assert waiting.ok and waiting.rows > 0, waiting.summary()
    assert inbox.inbox(officer, "zh").total > 0
    # The same seed twice is refused, readably; a bad scale is a usage error.
    again = runner.invoke(args=["pbflow", "seed", "--scale", "5", "--seed", "5"])
    assert again.exit_code == 1 and "already holds seed 5" in again.output
    bad = runner.invoke(args=["pbflow", "seed", "--scale", "0"])
    assert bad.exit_code == 2


def test_seed_is_reproducible_from_its_number(world):
    """The same number draws the same organizations, people and case walks."""
    now = clock.now()
    assert _draw(seed._Seeder(40, 9, 3, now)) == _draw(seed._Seeder(40, 9, 3, now))
    assert _draw(seed._Seeder(40, 9, 3, now)) != _draw(seed._Seeder(40, 10, 3, now))
    db.session.rollback()


def _draw(seeder: seed._Seeder) -> list:
    seeder.prefix = "dry"
    seeder.tree(seeder.root())
    d = registry().get("opinion")
    plan = seed._Plan(d)
    walks = [seeder.case(d, 1, seeder.orgs[3], plan) for _ in range(20)]
    return walks + [(r["name"], r["party_status"]) for r in seeder.rows["person"]]
