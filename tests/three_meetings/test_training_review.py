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


def _other(world, who, on, hours, course="党校轮训", by="secretary"):
    from pbflow.procedures.three_meetings import training
    from pbflow.procedures.three_meetings.training import TrainingInput

    return training.record_training(
        world[by],
        world.branch.id,
        TrainingInput(person=str(world[who].person.id), taken_on=on, course=course, hours=hours),
    )


def _edit(world, record, on, hours, course="党校轮训", by="secretary"):
    from pbflow.procedures.three_meetings import training
    from pbflow.procedures.three_meetings.training import TrainingInput

    return training.edit_training(
        world[by],
        record.id,
        TrainingInput(person=str(record.person_id), taken_on=on, course=course, hours=hours),
        expected_version=record.version,
    )


def test_a_day_holds_at_most_24_hours_and_a_course_once(world, clock):
    from pbflow.engine.errors import ValidationFailed
    from pbflow.procedures.three_meetings import services as meetings
    from pbflow.procedures.three_meetings.services import MeetingInput

    clock.set("2026-06-01T02:00:00")
    meetings.record_meeting(
        world["secretary"],
        world.branch.id,
        MeetingInput(
            meeting_type="party_lecture",
            held_on="2026-05-06",
            topic="党课",
            training_hours="4",
            present=[str(world["member"].person.id)],
        ),
    )
    first = _other(world, "member", "2026-05-06", "12", course="党校轮训")
    before, rows = audit_actions(), _count(TrainingRecord)
    with pytest.raises(ValidationFailed) as exc:  # 4 + 12 + 8.5 > 24
        _other(world, "member", "2026-05-06", "8.5", course="网上专题班")
    assert "more than 24 hours" in exc.value.field_errors["hours"]
    assert "16 hours are recorded already" in exc.value.field_errors["hours"]
    with pytest.raises(ValidationFailed) as exc:  # the same course that day, however typed
        _other(world, "member", "2026-05-06", "1", course=" 党校轮训 ")
    assert exc.value.field_errors == {"course": "is already recorded for this member on this day"}
    with pytest.raises(ValidationFailed) as exc:  # an edit counts the others, not itself
        _edit(world, first, "2026-05-06", "20.5")
    assert "more than 24 hours" in exc.value.field_errors["hours"]
    assert audit_actions() == before and _count(TrainingRecord) == rows
    _other(world, "member", "2026-05-06", "8", course="网上专题班")  # exactly 24: taken
    _other(world, "member", "2026-05-07", "1", course="党校轮训")  # another day
    _other(world, "deputy", "2026-05-06", "1", course="党校轮训")  # another member
    _edit(world, first, "2026-05-06", "11.5")  # its own hours are not counted twice


def test_a_year_closes_a_month_after_it_ends(world, clock, client, auth):
    from pbflow.engine.errors import ValidationFailed
    from pbflow.procedures.three_meetings import training

    clock.set("2026-01-31T08:00:00")
    last_year = _other(world, "member", "2025-12-20", "2")  # still open on January 31
    clock.set("2026-02-01T08:00:00")
    before, rows = audit_actions(), _count(TrainingRecord)
    with pytest.raises(ValidationFailed) as exc:
        _other(world, "member", "2025-12-21", "2")
    assert exc.value.field_errors == {"taken_on": "the year 2025 is closed since 2026-01-31"}
    with pytest.raises(ValidationFailed) as exc:  # a record of the closed year
        _edit(world, last_year, "2026-01-20", "2")
    assert "the year 2025 is closed since 2026-01-31" in exc.value.message
    this_year = _other(world, "member", "2026-01-20", "2", course="网上专题班")
    before, rows = audit_actions(), _count(TrainingRecord)
    with pytest.raises(ValidationFailed) as exc:  # moved into the closed year
        _edit(world, this_year, "2025-12-30", "2", course="网上专题班")
    assert exc.value.field_errors == {"taken_on": "the year 2025 is closed since 2026-01-31"}
    with pytest.raises(ValidationFailed):
        training.delete_training(world["secretary"], last_year.id, expected_version=1)
    assert audit_actions() == before and _count(TrainingRecord) == rows
    # Through the page: said, and what was typed kept.
    client.set_cookie("pbflow_lang", "en")
    auth.login("secretary")
    url = f"/meetings/training/{world.branch.id}/new"
    token = csrf_token(client.get(url).get_data(as_text=True))
    page = client.post(
        url,
        data={
            "csrf_token": token,
            "person": str(world["member"].person.id),
            "taken_on": "2025-11-03",
            "course": "冬训",
            "hours": "3",
        },
    )
    html = page.get_data(as_text=True)
    assert page.status_code == 422 and "the year 2025 is closed since 2026-01-31" in html
    assert "冬训" in html and _count(TrainingRecord) == rows
