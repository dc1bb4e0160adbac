"""A branch secretary's list of open cases starts from the branch's own cases (issue 16).

SQLite's statistics see one ``closed_at`` value among all cases and take the open ones for a
handful; the list then walked every open case of the committee to find the branch's few.
``likely()`` tells it that half the cases are open. Checked on the list itself and on the
plan SQLite makes after the seed's ANALYZE."""

from __future__ import annotations

from sqlalchemy import or_, select

from pbflow.engine import actors
from pbflow.extensions import db
from pbflow.models import ProcessInstance, User
from pbflow.services import cases, seed
from tests.scale.recording import recorded


def test_a_branchs_open_cases_are_found_from_its_own(app, world, clock):
    seed.seed(600, 1)
    secretary = db.session.execute(select(User).where(User.username == "seed1.b1.sec")).scalar()
    filters, errors = cases.CaseFilters.parse({})
    assert not errors and filters.status == "open"
    found, seen = recorded(lambda: cases.search(secretary, filters, "en"))
    P = ProcessInstance
    mine = or_(
        P.org_id.in_(actors.readable_org_ids(secretary)),
        P.submitter_user_id == secretary.id,
        P.assignee_user_id == secretary.id,
    )
    person = actors.person_id_of_user(secretary.id)
    if person is not None:
        mine = or_(mine, P.subject_person_id == person)
    expected = db.session.execute(select(P.id).where(P.closed_at.is_(None), mine)).scalars().all()
    assert expected and found.total == len(expected)
    assert {r.case.id for r in found.rows} <= set(expected)
    if db.engine.dialect.name != "sqlite":
        return  # PostgreSQL keeps the share of NULLs in its statistics
    (statement, parameters), *_ = [(s, p) for s, p in seen if "visible" in s]
    conn = db.session.connection()
    plan = " | ".join(
        r[-1] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
    )
    assert "ix_case_open_updated" not in plan, plan
