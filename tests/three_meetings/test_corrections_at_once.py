"""Two secretaries correct the same record at the same moment, each from the version they
opened: the first correction is kept, the second is refused as a concurrent change (it
would otherwise overwrite the first without having seen it). A meeting, a training record's
correction and its deletion; both databases (the ``app`` fixture)."""

from __future__ import annotations

from sqlalchemy import func, select

from pbflow.engine.errors import ConcurrentChange, NotFound
from pbflow.extensions import db
from pbflow.models import AuditEvent, Meeting, MeetingEdit, TrainingRecord, User
from pbflow.procedures.three_meetings import services as meetings
from pbflow.procedures.three_meetings import training
from pbflow.procedures.three_meetings.training import TrainingInput
from pbflow.services import training_totals
from tests.test_concurrency import _race
from tests.three_meetings.test_training_day import lecture


def _secretary() -> User:
    return db.session.execute(select(User).where(User.username == "secretary")).scalar_one()


def _events(action: str) -> int:
    return db.session.execute(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
    ).scalar_one()


def test_two_corrections_of_one_meeting_at_once(app, world, clock):
    clock.set("2026-06-01T02:00:00")
    meeting = meetings.record_meeting(
        world["secretary"], world.branch.id, lecture(world, "2", present=("member",))
    )
    db.session.commit()
    meeting_id = meeting.id

    def correct(topic: str):
        data = lecture(world, "2", present=("member",), topic=topic)  # read in this thread

        def call():
            edited = meetings.edit_meeting(
                _secretary(), meeting_id, data, reason="更正议题", expected_version=1
            )
            return edited.topic

        return call

    results = _race(app, [correct("党课：第一位的更正"), correct("党课：第二位的更正")])
    refused = [r for r in results if isinstance(r, ConcurrentChange)]
    kept = [r for r in results if isinstance(r, str)]
    assert len(refused) == 1 and len(kept) == 1, results
    db.session.expire_all()
    stored = db.session.get(Meeting, meeting_id)
    assert (stored.topic, stored.version) == (kept[0], 2)
    edits = db.session.execute(select(MeetingEdit).where(MeetingEdit.meeting_id == meeting_id))
    assert [e.after["topic"] for e in edits.scalars()] == [kept[0]]
    assert _events("meeting_edited") == 1


def test_a_training_record_corrected_and_deleted_at_once(app, world, clock):
    clock.set("2026-06-01T02:00:00")
    member = world["member"].person.id
    record = training.record_training(
        world["secretary"],
        world.branch.id,
        TrainingInput(person=str(member), taken_on="2026-05-06", course="党校轮训", hours="4"),
    )
    db.session.commit()
    record_id = record.id

    def correct():
        data = TrainingInput(
            person=str(member), taken_on="2026-05-06", course="党校轮训", hours="6"
        )
        return training.edit_training(_secretary(), record_id, data, expected_version=1).minutes

    def delete():
        return training.delete_training(_secretary(), record_id, expected_version=1)

    results = _race(app, [correct, delete])
    # Deleted first, the correction finds no record; corrected first, the deletion finds
    # another version. Either way it is refused and nothing of it is written.
    refused = [r for r in results if isinstance(r, ConcurrentChange | NotFound)]
    assert len(refused) == 1 and sum(isinstance(r, int) for r in results) == 1, results
    db.session.expire_all()
    left = db.session.get(TrainingRecord, record_id)
    kept = training_totals.stored().get((2026, member), 0)
    if left is None:  # deleted first
        assert kept == 0 and _events("training_edited") == 0
    else:  # corrected first: the deletion was refused
        assert (left.minutes, left.version, kept) == (6 * 60, 2, 6 * 60)
        assert _events("training_deleted") == 0
