"""The people list of a committee reads its page from ``ix_person_name`` (name, id) in order
(issue 16): without it the list read every person the reader may read (24,000 for a
committee at 100,000 cases) and sorted them to show 25. Checked on the results (against the
straightforward sort) and on the plans of both databases (on PostgreSQL with sequential and
bitmap scans off, as a test's few rows make any plan look as good)."""

from __future__ import annotations

from sqlalchemy import select

from pbflow.engine import actors
from pbflow.extensions import db
from pbflow.models import Person
from pbflow.services import people, seed
from tests.scale.recording import plan, recorded


def test_a_committees_people_are_read_by_name_from_the_index(app, world, clock):
    seed.seed(300, 1)
    admin = world["admin"]
    readable = actors.readable_org_ids(admin)
    expected = (
        db.session.execute(
            select(Person.id).where(Person.org_id.in_(readable)).order_by(Person.name, Person.id)
        )
        .scalars()
        .all()
    )
    assert len(expected) > 60
    first, seen = recorded(lambda: people.search_people(admin, page=1, per_page=25))
    assert [p.id for p in first.items] == expected[:25] and first.total == len(expected)
    second = people.search_people(admin, page=2, per_page=25)
    assert [p.id for p in second.items] == expected[25:50]
    cursor = people.search_people(admin, per_page=25, after=expected[24])
    assert [p.id for p in cursor.items] == expected[25:50]
    ((statement, parameters),) = [(s, p) for s, p in seen if "FROM person" in s and "ORDER BY" in s]
    assert "ix_person_name" in plan(statement, parameters)
