"""The inbox reads its two lists in one statement of short walks of ``ix_case_task_holder_due``,
one per holder of the reader (issue 16). On PostgreSQL the holders are one array parameter that
the walks join to (LATERAL), so the statement is the same text whatever the number of holders:
PostgreSQL plans the statement at every request, and planning a committee secretary's twenty
to thirty walks took 8 ms for 2-6 ms of reading. Checked on the results (the array form against
one walk per holder, for every account of a seeded committee) and on the plans."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from pbflow.engine import tasks
from pbflow.extensions import db
from pbflow.models import User
from pbflow.services import inbox, seed
from tests.scale.recording import plan, recorded

LIMITS = (inbox.COUNT_LIMITS[0], inbox.COUNT_LIMITS[1])
FIRST_PAGES = ((0, inbox.ITEM_PAGE, None), (1, inbox.OPTION_PAGE, None))


def _accounts() -> list[User]:
    return list(db.session.scalars(select(User).order_by(User.id)))


def _found(user: User, holders: int, pages=FIRST_PAGES) -> list[tuple]:
    keys = tasks.holder_keys(user.id)
    params = {"uid": user.id, **inbox._Holders(holders).params(keys)}
    statement = inbox._statement(holders, pages, LIMITS)
    return sorted(tuple(row) for row in db.session.execute(statement, params))


def _busiest(users: list[User]) -> User:
    """The account with the most holders among those with cases waiting."""
    waiting = [u for u in users if inbox.counts(u)[0]]
    return max(waiting, key=lambda u: (len(tasks.holder_keys(u.id)), u.id))


def test_every_account_finds_the_same_cases_through_the_array_as_through_one_walk_each(
    app, world, clock
):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the array form is PostgreSQL's (SQLite has no LATERAL join)")
    seed.seed(300, 1)
    users = _accounts()
    compared = 0
    for user in users:
        holders = len(tasks.holder_keys(user.id))
        for pages in ((), FIRST_PAGES):
            array, walks = _found(user, 0, pages), _found(user, holders, pages)
            assert array == walks, user.username
            compared += bool(array)
    assert compared > 20  # accounts with something in their lists


def test_the_inbox_statement_walks_the_holder_index_and_does_not_grow_with_holders(
    app, world, clock
):
    seed.seed(300, 1)
    users = _accounts()
    busiest = _busiest(users)
    fewest = min(users, key=lambda u: (len(tasks.holder_keys(u.id)), u.id))
    assert len(tasks.holder_keys(busiest.id)) > len(tasks.holder_keys(fewest.id))
    texts = []
    for user in (busiest, fewest):
        found, seen = recorded(lambda user=user: inbox.inbox(user, "en"))
        ((statement, parameters),) = [(s, p) for s, p in seen if " AS part" in s]
        texts.append(statement)
        if user is busiest:
            assert found.total and found.items
            assert "ix_case_task_holder_due" in plan(statement, parameters)
    if db.engine.dialect.name == "postgresql":
        assert texts[0] == texts[1]
        assert "LATERAL" in texts[0]
    else:
        assert len(texts[0]) > len(texts[1])  # one walk per holder
