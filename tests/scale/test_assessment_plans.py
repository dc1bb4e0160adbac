"""The assessment rounds are found by their workflow's index, not by walking every case
(issue 16): asked for the rounds newest first, SQLite, whose statistics give each workflow a
share of the cases, walked the whole case table backwards by id to find the few rounds."""

from __future__ import annotations

from sqlalchemy import select

from pbflow.extensions import db
from pbflow.models import User
from pbflow.procedures.assessment import rounds
from pbflow.services import seed
from tests.scale.recording import plan, recorded


def test_the_rounds_are_read_from_the_workflows_index(app, world, clock):
    seed.seed(600, 1)
    committee = db.session.execute(select(User).where(User.username == "committee_a")).scalar()
    _found, seen = recorded(lambda: rounds.readable_rounds(committee))
    statements = [(s, p) for s, p in seen if "FROM process_instance" in s]
    assert statements, seen
    statement, parameters = statements[0]
    found = plan(statement, parameters)
    if db.engine.dialect.name == "sqlite":
        assert "SEARCH process_instance USING" in found and "SCAN process_instance" not in found
    else:
        assert "Index" in found and "Seq Scan" not in found, found
