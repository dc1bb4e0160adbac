"""The test world is made once per worker and copied into each test's database (conftest):
these check that the copy is the declared world with the ids a world made in the test would
have, that its audit and security chains verify with the test's copy of the key that sealed
them, and that a test's own events chain on from the copied heads."""

from __future__ import annotations

from sqlalchemy import select

from pbflow import audit, security_log
from pbflow.extensions import db
from pbflow.models import Organization, Person, RoleAssignment, User
from pbflow.services import accounts
from tests.conftest import WORLD_ACCOUNTS

CODES = {"coal": 1, "gb1": 2, "b1": 3, "b2": 4}


def test_the_ready_world_is_the_one_declared(app, world):
    """Ids as a world made first in the test's database gives them, as before the copy."""
    assert app.config["PBFLOW_TEST_WORLD_MADE"]
    orgs = db.session.execute(
        select(Organization.id, Organization.code, Organization.parent_id).order_by(Organization.id)
    ).all()
    assert [tuple(o) for o in orgs] == [
        (1, "coal", None),
        (2, "gb1", 1),
        (3, "b1", 2),
        (4, "b2", 1),
    ]
    assert (
        world.committee.id,
        world.general_branch.id,
        world.branch.id,
        world.other_branch.id,
    ) == (
        1,
        2,
        3,
        4,
    )
    names = [name for name, *_ in WORLD_ACCOUNTS]
    users = db.session.execute(select(User.id, User.username).order_by(User.id)).all()
    assert [tuple(u) for u in users] == list(enumerate(names, start=1))
    assert list(world.users) == names
    assert [world[n].id for n in names] == list(range(1, 12))
    roles = db.session.execute(
        select(RoleAssignment.user_id, RoleAssignment.org_id, RoleAssignment.role).order_by(
            RoleAssignment.id
        )
    ).all()
    assert [tuple(r) for r in roles] == [
        (i, CODES[org], role) for i, (_n, org, role, _p) in enumerate(WORLD_ACCOUNTS, start=1)
    ]
    people = db.session.execute(
        select(Person.user_id, Person.org_id, Person.party_status).order_by(Person.id)
    ).all()
    assert [tuple(p) for p in people] == [
        (i, CODES[profile], "full")
        for i, (_n, _o, _r, profile) in enumerate(WORLD_ACCOUNTS, start=1)
        if profile
    ]


def test_the_ready_world_chains_verify_and_go_on(app, world):
    assert app.config["PBFLOW_TEST_WORLD_MADE"]
    assert audit.verify_database().ok
    assert security_log.verify_database().ok
    accounts.grant_role(world["member"], world.branch, "branch_committee", actor=world["admin"])
    result = audit.verify_database()
    assert result.ok, result.problems
    assert security_log.verify_database().ok


def test_a_test_without_the_world_starts_empty(app):
    assert not app.config["PBFLOW_TEST_WORLD_MADE"]
    assert db.session.scalars(select(User)).first() is None
    assert db.session.scalars(select(Organization)).first() is None
