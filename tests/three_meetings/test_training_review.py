"""What a hostile review of the training hours found: each problem, with the input or the
sequence of events that showed it."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from pbflow.extensions import db
from pbflow.models import Meeting, TrainingRecord
from tests.conftest import audit_actions, csrf_token


def _count(model) -> int:
    return db.session.execute(select(func.count()).select_from(model)).scalar()


BAD_HOURS = (
    ("1e-999999999", "such as 2 or 2.5"),  # underflowed to 0 minutes: a 500 on the CHECK
    ("1_0", "such as 2 or 2.5"),  # read as 10
    ("２", "such as 2 or 2.5"),  # full-width digits
    ("2.50000000000000000000000000001", "such as 2 or 2.5"),
    ("0.00", "must be more than 0 hours"),
    ("100", "such as 2 or 2.5"),
    (" 2.5.1", "such as 2 or 2.5"),
)


@pytest.mark.parametrize(("typed", "problem"), BAD_HOURS)
def test_bad_hours_are_refused_on_both_forms(world, clock, client, auth, typed, problem):
    clock.set("2026-06-01T02:00:00")
    client.set_cookie("pbflow_lang", "en")
    auth.login("secretary")
    url = f"/meetings/training/{world.branch.id}/new"
    token = csrf_token(client.get(url).get_data(as_text=True))
    before, records, meetings = audit_actions(), _count(TrainingRecord), _count(Meeting)
    page = client.post(
        url,
        data={
            "csrf_token": token,
            "person": str(world["member"].person.id),
            "taken_on": "2026-05-06",
            "course": "党校轮训",
            "hours": typed,
        },
    )
    html = page.get_data(as_text=True)
    assert page.status_code == 422 and problem in html
    assert f'value="{typed}"' in html
    page = client.post(
        f"/meetings/new?org={world.branch.id}",
        data={
            "csrf_token": token,
            "meeting_type": "party_lecture",
            "held_on": "2026-05-10",
            "topic": "党课",
            "present": [str(world["member"].person.id)],
            "training_hours": typed,
        },
    )
    html = page.get_data(as_text=True)
    assert page.status_code == 422 and problem in html
    assert f'value="{typed}"' in html
    assert audit_actions() == before
    assert (_count(TrainingRecord), _count(Meeting)) == (records, meetings)


def test_good_hours_still_read():
    from pbflow.procedures.three_meetings.hours import parse_hours

    assert parse_hours(" 2,5 ") == (150, None)
    assert parse_hours("24") == (1440, None)
    assert parse_hours("0.5") == (30, None)
    assert parse_hours("")[0] is None and parse_hours("")[1] is None
