"""A member's day of training is at most 24 hours, whichever way it is entered (DOMAIN.md 3:
a day's training cannot exceed the day): a training record is refused when it would take the
member's day over 24 hours with the study meetings they attended, and a study meeting, when
recorded or corrected, is refused when it would take any member present over 24 hours with
their records and other meetings of that day. A refusal writes nothing: no meeting, no edit,
no audit event, and the members' yearly minutes kept as data unchanged."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from pbflow.engine.errors import ValidationFailed
from pbflow.extensions import db
from pbflow.models import Meeting, MeetingEdit, TrainingRecord, User
from pbflow.procedures.three_meetings import services as meetings
from pbflow.procedures.three_meetings import training
from pbflow.procedures.three_meetings.services import MeetingInput
from pbflow.procedures.three_meetings.training import TrainingInput
from pbflow.services import training_totals
from tests.conftest import audit_actions, csrf_token
from tests.three_meetings.helpers import chair_and_recorder, leave_fields, on_leave

DAY = "2026-05-06"


def pid(world, name: str) -> str:
    return str(world[name].person.id)


def lecture(world, hours: str, present=("member", "deputy"), on: str = DAY, **more):
    return on_leave(
        world.branch.id,
        MeetingInput(
            meeting_type=more.pop("meeting_type", "party_lecture"),
            held_on=on,
            topic=more.pop("topic", "党课：学习党章"),
            training_hours=hours,
            present=[pid(world, u) for u in present],
            **more,
        ),
    )


def other(world, who: str, hours: str, on: str = DAY, course: str = "党校轮训"):
    return training.record_training(
        world["secretary"],
        world.branch.id,
        TrainingInput(person=pid(world, who), taken_on=on, course=course, hours=hours),
    )


def written() -> tuple:
    """Everything a refused meeting must leave as it was."""

    def count(model) -> int:
        return db.session.execute(select(func.count()).select_from(model)).scalar()

    versions = dict(db.session.execute(select(Meeting.id, Meeting.version)).all())
    return (
        audit_actions(),
        count(Meeting),
        count(MeetingEdit),
        count(TrainingRecord),
        versions,
        training_totals.stored(),
    )


def test_a_meeting_that_would_take_a_members_day_over_24_hours_is_refused(world, clock):
    clock.set("2026-06-01T02:00:00")
    other(world, "member", "20")  # a day at the party school
    other(world, "deputy", "10")
    before = written()
    with pytest.raises(ValidationFailed) as exc:  # 20 + 4.5 > 24 for the member
        meetings.record_meeting(world["secretary"], world.branch.id, lecture(world, "4.5"))
    problem = exc.value.field_errors["training_hours"]
    assert problem == (
        f"would make the training on {DAY} of Member (20 hours recorded already) more than 24 hours"
    )
    assert problem in exc.value.message and "at most 24 hours" in exc.value.message
    db.session.rollback()
    assert written() == before
    # Exactly 24 hours: the day is full, and taken.
    meetings.record_meeting(world["secretary"], world.branch.id, lecture(world, "4"))
    assert training_totals.stored()[(2026, world["member"].person.id)] == 24 * 60
    # Then the smallest step more is refused, from the meeting side as from the record side.
    before = written()
    with pytest.raises(ValidationFailed) as exc:
        meetings.record_meeting(
            world["secretary"],
            world.branch.id,
            lecture(world, "0.5", meeting_type="theme_day", topic="主题党日"),
        )
    assert "Member (24 hours recorded already)" in exc.value.field_errors["training_hours"]
    assert "Deputy" not in exc.value.field_errors["training_hours"]  # 14.5 hours: room left
    with pytest.raises(ValidationFailed) as exc:
        other(world, "member", "0.5", course="网上专题班")
    assert "24 hours are recorded already" in exc.value.field_errors["hours"]
    db.session.rollback()
    assert written() == before
    # Another day, and a meeting without hours, are not counted against the full day.
    meetings.record_meeting(
        world["secretary"], world.branch.id, lecture(world, "8", on="2026-05-07")
    )
    meetings.record_meeting(world["secretary"], world.branch.id, lecture(world, ""))


def test_every_member_over_is_named_and_the_meetings_of_the_day_count(world, clock):
    clock.set("2026-06-01T02:00:00")
    meetings.record_meeting(
        world["secretary"], world.branch.id, lecture(world, "12", present=("member", "deputy"))
    )
    other(world, "deputy", "2.5")
    before = written()
    general = on_leave(
        world.branch.id,
        MeetingInput(  # a general meeting with its collective study, quorum present
            meeting_type="general_meeting",
            held_on=DAY,
            topic="集中学习",
            training_hours="12.5",
            present=[pid(world, u) for u in ("member", "deputy", "secretary")],
        ),
    )
    with pytest.raises(ValidationFailed) as exc:
        meetings.record_meeting(world["secretary"], world.branch.id, general)
    assert exc.value.field_errors["training_hours"] == (
        f"would make the training on {DAY} of Deputy (14.5 hours recorded already), "
        "Member (12 hours recorded already) more than 24 hours"
    )
    db.session.rollback()
    assert written() == before
    general.training_hours = "9.5"  # the deputy's day exactly 24 hours
    meetings.record_meeting(world["secretary"], world.branch.id, general)


def test_a_correction_that_adds_to_a_members_day_is_checked(world, clock):
    """Hours raised, a member added, the day moved: each refused past 24 hours, with the
    meeting, its history, the audit trail and the kept minutes as they were; the meeting's
    own hours before the correction are not counted with its new ones."""
    clock.set("2026-06-01T02:00:00")
    other(world, "member", "19.5")
    other(world, "branch_member", "22", on="2026-05-08")
    m = meetings.record_meeting(world["secretary"], world.branch.id, lecture(world, "4"))

    def edit(data: MeetingInput, version: int):
        return meetings.edit_meeting(
            world["secretary"], m.id, data, reason="更正", expected_version=version
        )

    before = written()
    refusals = (
        (lecture(world, "5"), "Member (19.5 hours recorded already)"),  # hours raised
        (
            lecture(world, "4", present=("member", "branch_member"), on="2026-05-08"),
            "Branch Member (22 hours recorded already)",  # day moved, a member added
        ),
    )
    for data, named in refusals:
        with pytest.raises(ValidationFailed) as exc:
            edit(data, 1)
        assert named in exc.value.field_errors["training_hours"]
        db.session.rollback()
        assert written() == before
    m = edit(lecture(world, "4.5"), 1)  # 19.5 + 4.5: exactly 24, its old 4 not counted
    assert m.version == 2
    m = edit(lecture(world, "4.5", topic="党课：学习党章和准则"), 2)  # adds nothing: taken
    # A member added on the same day, and the day moved onto a fuller one.
    other(world, "secretary", "20")
    other(world, "deputy", "20", on="2026-05-07")
    before = written()
    with pytest.raises(ValidationFailed) as exc:
        edit(lecture(world, "4.5", present=("member", "deputy", "secretary")), 3)
    assert exc.value.field_errors["training_hours"] == (
        f"would make the training on {DAY} of Secretary (20 hours recorded already) "
        "more than 24 hours"
    )
    db.session.rollback()
    assert written() == before
    with pytest.raises(ValidationFailed) as exc:
        edit(lecture(world, "4.5", on="2026-05-07"), 3)
    assert exc.value.field_errors["training_hours"] == (
        "would make the training on 2026-05-07 of Deputy (20 hours recorded already) "
        "more than 24 hours"
    )
    db.session.rollback()
    assert written() == before
    # Lower hours and one member less are never refused; the moved day at its boundary.
    m = edit(lecture(world, "4", present=("member",)), 3)
    m = edit(lecture(world, "4", present=("member", "deputy"), on="2026-05-07"), 4)
    assert m.version == 5
    member, deputy = world["member"].person.id, world["deputy"].person.id
    assert training_totals.stored()[(2026, member)] == 19.5 * 60 + 4 * 60
    assert training_totals.stored()[(2026, deputy)] == 24 * 60


def test_the_form_says_who_and_which_day_in_both_languages(world, clock, client, auth):
    clock.set("2026-06-01T02:00:00")
    other(world, "member", "23")
    auth.login("secretary")
    url = f"/meetings/new?org={world.branch.id}"
    token = csrf_token(client.get(url).get_data(as_text=True))
    before = written()
    form = {
        "csrf_token": token,
        "meeting_type": "party_lecture",
        "held_on": DAY,
        "topic": "党课",
        "present": [pid(world, "member"), pid(world, "deputy")],
        **chair_and_recorder(world.branch.id, "party_lecture", [pid(world, "member")]),
        **leave_fields(
            world.branch.id, "party_lecture", [pid(world, "member"), pid(world, "deputy")]
        ),
        "training_hours": "2",
    }
    for lang, said in (
        ("en", f"would make the training on {DAY} of Member (23 hours recorded already) more"),
        ("zh", f"将使Member（当天已记录 23 学时）在 {DAY} 的培训超过 24 学时"),
    ):
        client.set_cookie("pbflow_lang", lang)
        page = client.post(url, data=form)
        html = page.get_data(as_text=True)
        assert page.status_code == 422 and html.count(said) == 2, lang  # the form and its field
        assert 'value="2"' in html  # what was typed is kept
    assert written() == before


@pytest.mark.parametrize("first", ["meeting", "record"])
def test_a_meeting_and_a_record_at_once_cannot_both_pass_the_day(app, world, clock, first):
    """A secretary records a study meeting while another enters the training of one of its
    members for the same day (two workers): the meeting holds its members, the record its
    member, so the second waits for the first, sees it, and is refused."""
    from tests.test_concurrency import _race

    clock.set("2026-06-01T02:00:00")
    member, deputy, branch = world["member"].person.id, world["deputy"].person.id, world.branch.id

    def as_secretary() -> User:
        return db.session.execute(select(User).where(User.username == "secretary")).scalar_one()

    def meeting():
        data = on_leave(
            branch,
            MeetingInput(
                meeting_type="party_lecture",
                held_on=DAY,
                topic="党课",
                training_hours="16",
                present=[str(deputy), str(member)],
            ),
        )
        return meetings.record_meeting(as_secretary(), branch, data).id

    def record():
        data = TrainingInput(person=str(member), taken_on=DAY, course="党校轮训", hours="16")
        return training.record_training(as_secretary(), branch, data).id

    calls = [meeting, record] if first == "meeting" else [record, meeting]
    results = _race(app, calls)
    refused = [r for r in results if isinstance(r, ValidationFailed)]
    assert len(refused) == 1 and sum(isinstance(r, int) for r in results) == 1, results
    assert "more than 24 hours" in " ".join(refused[0].field_errors.values())
    db.session.expire_all()
    counted = db.session.execute(select(func.count()).select_from(Meeting)).scalar()
    counted += db.session.execute(select(func.count()).select_from(TrainingRecord)).scalar()
    assert counted == 1


def test_two_meetings_at_once_hold_their_members_in_one_order(app, world, clock):
    """Two meetings of one day with the same members, named in opposite orders, recorded at
    once: the members are held in the order of their ids, so neither waits for the other's
    rows in the opposite order (no deadlock); the second sees the first and is refused."""
    from tests.test_concurrency import _race

    clock.set("2026-06-01T02:00:00")
    people = [world[u].person.id for u in ("member", "deputy", "branch_member")]
    branch = world.branch.id

    def meeting(order: list[int], mtype: str):
        def call():
            secretary = db.session.execute(
                select(User).where(User.username == "secretary")
            ).scalar_one()
            data = on_leave(
                branch,
                MeetingInput(
                    meeting_type=mtype,
                    held_on=DAY,
                    topic="学习",
                    training_hours="13",
                    present=[str(p) for p in order],
                ),
            )
            return meetings.record_meeting(secretary, branch, data).id

        return call

    results = _race(app, [meeting(people, "party_lecture"), meeting(people[::-1], "theme_day")])
    refused = [r for r in results if isinstance(r, ValidationFailed)]
    assert len(refused) == 1 and sum(isinstance(r, int) for r in results) == 1, results
    db.session.expire_all()
    assert db.session.execute(select(func.count()).select_from(Meeting)).scalar() == 1
