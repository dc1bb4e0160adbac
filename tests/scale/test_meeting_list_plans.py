"""The meetings list of a committee reads its page from ``ix_meeting_held`` (held on, id) in
order (issue 16, migration 0026): with only the organization's index, every page read every
meeting of the committee's organizations and sorted them, a number that grows with each
year of meetings. A branch's few meetings are still read through the organization's index.
Checked on the results (against the straightforward sort) and on the plans of both
databases (on PostgreSQL with sequential and bitmap scans off, as a test's few rows make any
plan look as good)."""

from __future__ import annotations

from sqlalchemy import select

from pbflow.engine import actors
from pbflow.extensions import db
from pbflow.models import Meeting
from pbflow.procedures.three_meetings import services as meetings
from pbflow.services import seed
from tests.scale.recording import plan, recorded


def _newest_first(readable: set[int]) -> list[int]:
    stmt = (
        select(Meeting.id)
        .where(Meeting.org_id.in_(readable))
        .order_by(Meeting.held_on.desc(), Meeting.id.desc())
    )
    return list(db.session.execute(stmt).scalars())


def _page_statement(seen) -> tuple[str, object]:
    ((statement, parameters),) = [
        (s, p) for s, p in seen if "FROM meeting" in s and "ORDER BY meeting.held_on" in s
    ]
    return statement, parameters


def test_a_committees_meetings_are_read_newest_first_from_the_index(app, world, clock, monkeypatch):
    seed.seed(300, 1)
    monkeypatch.setattr(meetings, "PAGE_SIZE", 4)
    admin = world["admin"]
    expected = _newest_first(actors.readable_org_ids(admin))
    assert len(expected) > 8
    first, seen = recorded(lambda: meetings.list_meetings(admin, page=1))
    assert [r.meeting.id for r in first.rows] == expected[:4]
    second = meetings.list_meetings(admin, page=2)
    assert [r.meeting.id for r in second.rows] == expected[4:8]
    found = plan(*_page_statement(seen))
    assert "ix_meeting_held" in found, found
    assert "TEMP B-TREE" not in found and "Sort" not in found, found


def test_a_branchs_meetings_are_read_through_its_organization(app, world, clock, monkeypatch):
    seed.seed(300, 1)
    monkeypatch.setattr(meetings, "PAGE_SIZE", 4)
    secretary = world["secretary"]
    expected = _newest_first(actors.readable_org_ids(secretary))
    first, seen = recorded(lambda: meetings.list_meetings(secretary, page=1))
    assert [r.meeting.id for r in first.rows] == expected[:4]
    assert "ix_meeting_org_held" in plan(*_page_statement(seen))
