"""Each member's training minutes of a year are kept as data (``training_total``) in the
transaction of every meeting and training record that credits them, so that the committee's
figure reads a row per member instead of every attendance of the year. Whatever happens to
a meeting or a record (recorded, corrected, moved to another year, deleted, refused, failed
half-way, two at once), the kept minutes are what the meetings and records credit; ``pbflow
figures check`` finds a drift and ``--fix`` repairs it. (This package's conftest checks the
same after every test.)"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import delete, select, update

from pbflow import audit
from pbflow.engine.errors import ConcurrentChange, ValidationFailed
from pbflow.extensions import db
from pbflow.models import AuditEvent, TrainingTotal, User
from pbflow.procedures.three_meetings import services as meetings
from pbflow.procedures.three_meetings import training
from pbflow.procedures.three_meetings.services import MeetingInput
from pbflow.procedures.three_meetings.training import TrainingInput
from pbflow.services import training_totals
from tests.test_concurrency import _race
from tests.three_meetings.helpers import on_leave
from tests.three_meetings.test_training_hours import hours_of, other, pid, study


def kept(world) -> dict[tuple[int, str], int]:
    """The kept minutes, per (year, username), of the world's people."""
    names = {world[u].person.id: u for u in ("secretary", "deputy", "member")}
    rows = db.session.execute(
        select(TrainingTotal.year, TrainingTotal.person_id, TrainingTotal.minutes)
    )
    return {(y, names.get(p, p)): m for y, p, m in rows if m}


def consistent() -> None:
    db.session.expire_all()
    assert training_totals.stored() == training_totals.expected()


def test_the_kept_minutes_follow_every_change_of_a_meeting_or_a_record(world, clock):
    clock.set("2026-06-01T02:00:00")
    lecture = study(world, "party_lecture", "2026-03-20", "2", present=("secretary", "member"))
    assert kept(world) == {(2026, "secretary"): 120, (2026, "member"): 120}
    school = other(world, "member", "2026-05-06", "16")
    assert kept(world) == {(2026, "secretary"): 120, (2026, "member"): 1080}
    consistent()
    # The lecture corrected: held in December, three hours, the deputy there, not the member.
    meetings.edit_meeting(
        world["secretary"],
        lecture.id,
        on_leave(
            world.branch.id,
            MeetingInput(
                meeting_type="party_lecture",
                held_on="2025-12-20",
                topic="学习 2025-12-20",
                training_hours="3",
                present=[pid(world, "secretary"), pid(world, "deputy")],
            ),
        ),
        reason="记录有误",
        expected_version=1,
    )
    assert kept(world) == {
        (2025, "secretary"): 180,
        (2025, "deputy"): 180,
        (2026, "member"): 960,
    }
    consistent()
    # The record was the deputy's, a day later, eight hours.
    training.edit_training(
        world["secretary"],
        school.id,
        TrainingInput(
            person=pid(world, "deputy"), taken_on="2026-05-07", course="党校轮训", hours="8"
        ),
        expected_version=1,
    )
    assert kept(world) == {(2025, "secretary"): 180, (2025, "deputy"): 180, (2026, "deputy"): 480}
    # A meeting that gives no training credits nothing; its hours added later credit them.
    plain = study(world, "theme_day", "2026-04-02", "", present=("secretary", "member"))
    assert kept(world)[(2026, "deputy")] == 480 and (2026, "member") not in kept(world)
    meetings.edit_meeting(
        world["secretary"],
        plain.id,
        on_leave(
            world.branch.id,
            MeetingInput(
                meeting_type="theme_day",
                held_on="2026-04-02",
                topic="学习 2026-04-02",
                training_hours="1.5",
                present=[pid(world, "secretary"), pid(world, "member")],
            ),
        ),
        reason="补记学习时长",
        expected_version=1,
    )
    assert kept(world)[(2026, "member")] == 90 and kept(world)[(2026, "secretary")] == 90
    training.delete_training(world["secretary"], school.id, expected_version=2)
    assert kept(world) == {
        (2025, "secretary"): 180,
        (2025, "deputy"): 180,
        (2026, "secretary"): 90,
        (2026, "member"): 90,
    }
    consistent()
    # The year page (which sums the meetings and records themselves) says the same.
    assert hours_of(world)["Member"][:2] == ("1.5", "0")


def test_a_refused_or_failed_change_credits_nothing(world, clock, monkeypatch):
    clock.set("2026-06-01T02:00:00")
    lecture = study(world, "party_lecture", "2026-03-20", "2", present=("secretary", "member"))
    school = other(world, "member", "2026-05-06", "16")
    before = kept(world)
    # Refused: a stale version, a correction that changes nothing, too many hours in a day.
    with pytest.raises(ConcurrentChange):
        training.edit_training(
            world["secretary"],
            school.id,
            TrainingInput(
                person=pid(world, "member"), taken_on="2026-05-06", course="x", hours="2"
            ),
            expected_version=7,
        )
    same = on_leave(
        world.branch.id,
        MeetingInput(
            meeting_type="party_lecture",
            held_on="2026-03-20",
            topic="学习 2026-03-20",
            training_hours="2",
            present=[pid(world, "secretary"), pid(world, "member")],
        ),
    )
    with pytest.raises(ValidationFailed):
        meetings.edit_meeting(world["secretary"], lecture.id, same, reason="无", expected_version=1)
    with pytest.raises(ValidationFailed):
        other(world, "member", "2026-05-06", "9", course="网上专题班")  # 16 + 9 > 24
    assert kept(world) == before

    # Failed after the minutes were added (the audit event cannot be written): all of it is
    # rolled back, the minutes with the rest.
    def broken(*_args, **_kwargs):
        raise RuntimeError("the audit trail is unavailable")

    monkeypatch.setattr(audit, "record", broken)
    with pytest.raises(RuntimeError):
        other(world, "member", "2026-05-20", "4", course="网上专题班")
    with pytest.raises(RuntimeError):
        study(world, "theme_day", "2026-05-21", "3", present=("member",))
    with pytest.raises(RuntimeError):
        training.delete_training(world["secretary"], school.id, expected_version=1)
    monkeypatch.undo()
    db.session.expire_all()
    assert kept(world) == before
    consistent()


def test_two_entries_for_the_same_member_at_once_both_count(app, world, clock):
    """The first training of a member's year entered twice at the same moment (two
    secretaries, two workers): both records stand and the member's minutes are their sum
    (the kept row is added to, not written over)."""
    clock.set("2026-06-01T02:00:00")
    member, branch = world["member"].person.id, world.branch.id

    def enter(course: str, hours: str):
        def call():
            secretary = db.session.execute(
                select(User).where(User.username == "secretary")
            ).scalar_one()
            data = TrainingInput(
                person=str(member), taken_on="2026-05-06", course=course, hours=hours
            )
            return training.record_training(secretary, branch, data).id

        return call

    results = _race(app, [enter("党校轮训", "4"), enter("网上专题班", "3")])
    assert all(isinstance(r, int) for r in results), results
    db.session.expire_all()
    assert kept(world) == {(2026, "member"): 420}
    consistent()


def test_check_finds_a_drift_and_fix_repairs_it(world, clock, runner):
    clock.set("2026-06-01T02:00:00")
    study(world, "party_lecture", "2026-03-20", "2", present=("secretary", "member"))
    member = world["member"].person.id
    db.session.execute(
        update(TrainingTotal).where(TrainingTotal.person_id == member).values(minutes=5)
    )
    db.session.execute(
        delete(TrainingTotal).where(TrainingTotal.person_id == world["secretary"].person.id)
    )
    db.session.add(TrainingTotal(year=2024, person_id=member, minutes=60))
    db.session.commit()
    result = runner.invoke(args=["pbflow", "figures", "check"])
    assert result.exit_code == 1
    assert "training totals: 3 members' years differ" in result.output
    assert f"2026/person {member}" in result.output and f"2024/person {member}" in result.output
    result = runner.invoke(args=["pbflow", "figures", "check", "--fix"])
    assert result.exit_code == 0, result.output
    consistent()
    assert kept(world) == {(2026, "secretary"): 120, (2026, "member"): 120}
    # The repair is recorded as any change is: the training hours the dashboard keeps until
    # the next recorded change are counted afresh after it.
    db.session.expire_all()
    newest = select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)
    repaired = db.session.execute(newest).scalar()
    assert (repaired.action, repaired.actor_label) == ("figures_repaired", audit.SYSTEM)
    assert json.loads(repaired.payload) == {"table": "training_total", "rows": 3}
    result = runner.invoke(args=["pbflow", "figures", "check"])
    assert result.exit_code == 0 and "training totals: 2 members' years match" in result.output
