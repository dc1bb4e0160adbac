"""Each member receives at least 32 hours of training a year (DOMAIN.md 3): study meetings
credit their hours to each member present, the branch enters the other training, the year's
page lists who reached it, a member sees their own, the supervision reads the figure, and
from the fourth quarter the secretaries are told once how many are still below."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from pbflow import audit
from pbflow.engine.errors import ConcurrentChange, NotAllowed, NotFound, ValidationFailed
from pbflow.extensions import db
from pbflow.models import AuditEvent, Notification, TrainingRecord
from pbflow.procedures import figure
from pbflow.procedures.three_meetings import training, training_figures, training_reminder
from pbflow.procedures.three_meetings.training import TrainingInput
from pbflow.services import notifications
from tests.conftest import audit_actions, csrf_token, make_user, recorded_set_up
from tests.three_meetings.helpers import (
    branch_meeting,
    chair_and_recorder,
    leave_fields,
)
from tests.three_meetings.test_meetings_pages import count_queries


def pid(world, name: str) -> str:
    return str(world[name].person.id)


def study(world, mtype: str, on: str, hours: str, present=("secretary", "deputy", "member")):
    return branch_meeting(world, mtype, on, present, topic=f"学习 {on}", training_hours=hours)


def other(world, who: str, on: str, hours: str, course: str = "党校轮训", by: str = "secretary"):
    return training.record_training(
        world[by],
        world.branch.id,
        TrainingInput(
            person=pid(world, who), taken_on=on, course=course, provider="市委党校", hours=hours
        ),
    )


def hours_of(world, year: int = 2026) -> dict[str, tuple[str, str, bool]]:
    page = training_figures.year_page(world["secretary"], world.branch.id, year)
    return {m.name: (f"{m.meetings / 60:g}", f"{m.other / 60:g}", m.reached) for m in page.rows}


def test_a_years_training_from_meetings_and_other_training(world, clock, client, auth):
    clock.set("2026-06-01T02:00:00")
    lecture = study(world, "party_lecture", "2026-03-20", "2.5")
    study(world, "theme_day", "2026-04-10", "3", present=("secretary", "member"))
    study(world, "committee_meeting", "2026-04-12", "", present=("secretary", "deputy"))
    study(world, "theme_day", "2025-12-10", "4", present=("member",))  # another year
    assert lecture.training_minutes == 150
    school = other(world, "member", "2026-05-06", "16")
    other(world, "member", "2026-05-20", "10,5", course="网上专题班")  # a Chinese comma
    assert hours_of(world) == {
        "Branch Member": ("0", "0", False),  # absent from both
        "Deputy": ("2.5", "0", False),
        "Member": ("5.5", "26.5", True),  # exactly 32 reaches it
        "Secretary": ("5.5", "0", False),
    }

    # The year's page, from the compliance calendar.
    client.set_cookie("pbflow_lang", "en")
    auth.login("secretary")
    cal = client.get(f"/meetings/compliance/{world.branch.id}?year=2026").get_data(as_text=True)
    assert "1 of 4 members have reached 32 hours of training in 2026." in cal
    assert f"/meetings/training/{world.branch.id}?year=2026" in cal
    page = client.get(f"/meetings/training/{world.branch.id}?year=2026").get_data(as_text=True)
    assert "1 of 4 members have reached 32 hours" in page and "26.5 hours to go" in page
    below = client.get(f"/meetings/training/{world.branch.id}?year=2026&show=below")
    assert "Member</a>" not in below.get_data(as_text=True).replace("Branch Member</a>", "")
    zh = client.get(f"/meetings/training/{world.branch.id}?year=2026&lang=zh")
    assert "学时" in zh.get_data(as_text=True)
    client.set_cookie("pbflow_lang", "en")

    # A correction with the version it was read at, then a deletion.
    training.edit_training(
        world["deputy"],
        school.id,
        TrainingInput(
            person=pid(world, "member"),
            taken_on="2026-05-06",
            course="党校轮训（春季）",
            provider="市委党校",
            hours="15.5",
        ),
        expected_version=1,
    )
    assert hours_of(world)["Member"] == ("5.5", "26", False)
    training.delete_training(world["secretary"], school.id, expected_version=2)
    assert hours_of(world)["Member"] == ("5.5", "10.5", False)

    # The member sees their own year where they see their meetings.
    auth.logout()
    auth.login("member")
    mine = client.get("/meetings/mine?year=2026").get_data(as_text=True)
    assert "Training hours 2026" in mine and "16 of 32 hours" in mine
    assert "网上专题班" in mine and "学习 2026-03-20" in mine and "党校轮训" not in mine
    assert client.get(f"/meetings/training/{world.branch.id}").status_code == 404
    member = world["member"].person.id
    assert client.get(f"/meetings/training/{world.branch.id}/member/{member}").status_code == 404

    # The supervision's figure: one statement, per branch.
    read = figure("training_hours")
    assert read is training_figures.training_hours
    with count_queries() as seen:
        found = read([world.branch.id, world.other_branch.id, world.committee.id], 2026)
    assert len(seen) == 1
    assert found == {
        world.branch.id: training_figures.TrainingFigure(owed=4, reached=0, threshold_hours=32),
        world.other_branch.id: training_figures.TrainingFigure(
            owed=1, reached=0, threshold_hours=32
        ),
    }

    # Every change is in the audit trail, and the chain holds.
    actions = audit_actions()
    assert actions.count("training_recorded") == 2
    assert actions.count("training_edited") == 1 and actions.count("training_deleted") == 1
    deleted = json.loads(
        db.session.execute(
            select(AuditEvent.payload).where(AuditEvent.action == "training_deleted")
        ).scalar()
    )
    assert deleted["course"] == "党校轮训（春季）" and deleted["minutes"] == 930
    assert audit.verify_database().ok


def _count() -> int:
    return db.session.execute(select(func.count()).select_from(TrainingRecord)).scalar()


def test_refusals_write_nothing(world, clock):
    clock.set("2026-06-01T02:00:00")
    record = other(world, "member", "2026-05-06", "4")
    before, rows = audit_actions(), _count()
    with pytest.raises(NotAllowed):  # a plain member
        other(world, "member", "2026-05-06", "4", by="member")
    with pytest.raises(NotAllowed):  # another branch's secretary
        other(world, "member", "2026-05-06", "4", by="other_secretary")
    with pytest.raises(NotAllowed):  # the general branch's secretary reads, does not enter
        other(world, "member", "2026-05-06", "4", by="gb_secretary")
    for hours, problem in (
        ("0", "must be more than 0 hours"),
        ("-2", "must be more than 0 hours"),
        ("25", "must be at most 24 hours"),
        ("2.25", "steps of half an hour"),
        ("two", "such as 2 or 2.5"),
        ("NaN", "such as 2 or 2.5"),
        ("", "is required"),
    ):
        with pytest.raises(ValidationFailed) as exc:
            other(world, "member", "2026-05-06", hours)
        assert problem in exc.value.field_errors["hours"], hours
    with pytest.raises(ValidationFailed) as exc:
        other(world, "member", "2026-06-02", "2")
    assert exc.value.field_errors == {"taken_on": "cannot lie in the future"}
    with pytest.raises(ValidationFailed) as exc:
        other(world, "other_secretary", "2026-05-06", "2")  # not of this branch
    assert exc.value.field_errors == {"person": "is not a member of this branch"}
    with pytest.raises(ValidationFailed) as exc:
        training.record_training(
            world["secretary"], world.branch.id, TrainingInput(person="x", taken_on="soon")
        )
    assert set(exc.value.field_errors) == {"person", "taken_on", "course", "hours"}
    edit = TrainingInput(person=pid(world, "member"), taken_on="2026-05-06", course="改", hours="4")
    with pytest.raises(ConcurrentChange):  # stale version
        training.edit_training(world["secretary"], record.id, edit, expected_version=0)
    with pytest.raises(ConcurrentChange):
        training.delete_training(world["secretary"], record.id, expected_version=None)
    with pytest.raises(NotFound):  # a plain member reads no branch's records
        training.delete_training(world["member"], record.id, expected_version=1)
    with pytest.raises(NotAllowed):  # a reader above reads, does not change
        training.delete_training(world["gb_secretary"], record.id, expected_version=1)
    # A meeting's hours: study meetings only, and the same bounds.
    with pytest.raises(ValidationFailed) as exc:
        study(world, "committee_meeting", "2026-05-01", "2", present=("secretary", "deputy"))
    assert "only a study meeting" in exc.value.field_errors["training_hours"]
    with pytest.raises(ValidationFailed) as exc:
        study(world, "party_lecture", "2026-05-01", "30")
    assert exc.value.field_errors["training_hours"] == "must be at most 24 hours"
    assert audit_actions() == before and _count() == rows


def test_pages_keep_what_was_typed_and_check_rights(world, clock, client, auth):
    clock.set("2026-06-01T02:00:00")
    client.set_cookie("pbflow_lang", "en")
    auth.login("secretary")
    url = f"/meetings/training/{world.branch.id}/new"
    token = csrf_token(client.get(url).get_data(as_text=True))
    typed = {
        "csrf_token": token,
        "person": pid(world, "member"),
        "taken_on": "2026-07-01",
        "course": "网络培训：新党章",
        "provider": "学习强国",
        "hours": "2.25",
        "note": "线上完成",
    }
    bad = client.post(url, data=typed)
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422
    assert "cannot lie in the future" in html and "steps of half an hour" in html
    assert "网络培训：新党章" in html and "学习强国" in html and "线上完成" in html
    zh = client.post(url + "?lang=zh", data=typed).get_data(as_text=True)
    assert "不能是将来的日期" in zh
    assert "半小时" in zh
    client.set_cookie("pbflow_lang", "en")
    ok = client.post(url, data={**typed, "taken_on": "2026-05-30", "hours": "2.5"})
    assert ok.status_code == 302
    record = db.session.execute(select(TrainingRecord)).scalar()
    member = client.get(ok.headers["Location"]).get_data(as_text=True)
    assert "网络培训：新党章" in member and "2.5 of 32 hours" in member
    edit = f"/meetings/training/record/{record.id}/edit"
    assert 'value="2.5"' in client.get(edit).get_data(as_text=True)
    done = client.post(edit, data={**typed, "taken_on": "2026-05-30", "hours": "3", "version": "1"})
    assert done.status_code == 302
    stale = client.post(edit, data={**typed, "taken_on": "2026-05-30", "version": "1"})
    assert stale.status_code == 409 and "reload" in stale.get_data(as_text=True)
    assert "网络培训：新党章" in stale.get_data(as_text=True)
    gone = client.post(
        f"/meetings/training/record/{record.id}/delete", data={"csrf_token": token, "version": "1"}
    )
    assert gone.status_code == 302 and db.session.get(TrainingRecord, record.id) is not None
    # A meeting's hours through its form, shown on its page.
    mtoken = csrf_token(client.get(f"/meetings/new?org={world.branch.id}").get_data(as_text=True))
    meeting = {
        "csrf_token": mtoken,
        "meeting_type": "party_lecture",
        "held_on": "2026-05-10",
        "topic": "党课：学习党史",
        "present": [pid(world, u) for u in ("secretary", "deputy", "member")],
        **chair_and_recorder(world.branch.id, "party_lecture", [pid(world, "secretary")]),
        **leave_fields(
            world.branch.id,
            "party_lecture",
            [pid(world, u) for u in ("secretary", "deputy", "member")],
        ),
        "training_hours": "1.75",
    }
    refused = client.post(f"/meetings/new?org={world.branch.id}", data=meeting)
    assert refused.status_code == 422 and 'value="1.75"' in refused.get_data(as_text=True)
    made = client.post(
        f"/meetings/new?org={world.branch.id}", data={**meeting, "training_hours": "2"}
    )
    shown = client.get(made.headers["Location"]).get_data(as_text=True)
    assert "2 hours for each member present" in shown
    # Bad year: said on the page, this year shown.
    bad_year = client.get(f"/meetings/training/{world.branch.id}?year=20x6")
    assert bad_year.status_code == 400
    assert "The year must be a year such as 2026" in bad_year.get_data(as_text=True)
    assert "Training hours 2026" in bad_year.get_data(as_text=True)
    zh_year = client.get(f"/meetings/training/{world.branch.id}?year=99999&lang=zh")
    assert zh_year.status_code == 400 and "年份" in zh_year.get_data(as_text=True)
    # Rights: another branch's secretary sees nothing of this one; a reader above reads but
    # does not enter; a party committee is no branch.
    auth.logout()
    auth.login("other_secretary")
    assert client.get(f"/meetings/training/{world.branch.id}").status_code == 404
    assert client.get(url).status_code == 404
    assert client.get(edit).status_code == 404
    auth.logout()
    auth.login("gb_secretary")
    assert client.get(f"/meetings/training/{world.branch.id}").status_code == 200
    assert client.get(url).status_code == 403
    assert client.get(edit).status_code == 403
    assert client.get(f"/meetings/training/{world.committee.id}").status_code == 404
    other_person = world["other_secretary"].person.id
    assert (
        client.get(f"/meetings/training/{world.branch.id}/member/{other_person}").status_code == 404
    )


def test_who_owes_it_in_a_year(world, clock):
    """Full and probationary members active in the branch; one admitted during the year owes
    the share of the months left; one who left is not listed."""
    from datetime import date

    clock.set("2026-08-01T02:00:00")
    make_user(
        "newcomer",
        person_org=world.branch,
        party_status="probationary",
        admitted_on=date(2026, 7, 15),
    )
    make_user("applicant", person_org=world.branch, party_status="applicant")
    gone = make_user("gone", person_org=world.branch)
    gone.person.active = False
    recorded_set_up(gone.person)
    db.session.commit()
    page = training_figures.year_page(world["secretary"], world.branch.id, 2026)
    owed = {m.name: m.owed / 60 for m in page.rows}
    assert owed == {
        "Branch Member": 32,
        "Deputy": 32,
        "Member": 32,
        "Newcomer": 16,
        "Secretary": 32,
    }
    assert "Newcomer" not in {
        m.name for m in training_figures.year_page(world["secretary"], world.branch.id, 2025).rows
    }


def test_the_threshold_is_set_per_organization_with_its_audit_event(world, clock):
    with pytest.raises(NotAllowed):
        training.set_threshold(world["secretary"], world.branch.id, "20")
    with pytest.raises(ValidationFailed):
        training.set_threshold(world["committee_a"], world.branch.id, "0.3")
    training.set_threshold(world["committee_a"], world.general_branch.id, "40")
    figures = training_figures.training_hours([world.branch.id, world.other_branch.id], 2026)
    assert figures[world.branch.id].threshold_hours == 40  # below the general branch
    assert figures[world.other_branch.id].threshold_hours == 32  # not below it
    with pytest.raises(ValidationFailed):  # a lower level may only raise it
        training.set_threshold(world["committee_a"], world.branch.id, "24.5")
    training.set_threshold(world["committee_a"], world.branch.id, "44.5")
    assert (
        training_figures.year_page(world["secretary"], world.branch.id, 2026).threshold == 44.5 * 60
    )
    training.set_threshold(world["committee_a"], world.branch.id, None)
    assert (
        training_figures.year_page(world["secretary"], world.branch.id, 2026).threshold == 40 * 60
    )
    assert audit_actions().count("training_threshold_set") == 3


def test_pages_issue_a_fixed_number_of_statements(world, clock, client, auth):
    clock.set("2026-06-01T02:00:00")
    auth.login("secretary")
    member = world["member"].person.id
    pages = [
        f"/meetings/training/{world.branch.id}?year=2026",
        f"/meetings/training/{world.branch.id}/member/{member}?year=2026",
        "/meetings/mine?year=2026",
    ]

    def grow(n: int, start: int) -> None:
        for i in range(start, start + n):
            make_user(f"many{i}", person_org=world.branch)
            study(world, "theme_day", f"2026-05-{i:02d}", "1")
            other(world, "member", f"2026-04-{i:02d}", "1")
            other(world, "secretary", f"2026-04-{i:02d}", "1")

    grow(1, 1)
    small = {}
    for url in pages:
        client.get(url)
        with count_queries() as seen:
            assert client.get(url).status_code == 200
        small[url] = len(seen)
    grow(8, 2)
    for url in pages:
        with count_queries() as seen:
            assert client.get(url).status_code == 200
        assert len(seen) == small[url], (url, small[url], len(seen))


def test_tick_tells_the_secretaries_once_from_the_fourth_quarter(world, clock):
    clock.set("2026-09-30T02:00:00")
    assert training_reminder.tick().sent == []
    for who in ("secretary", "deputy", "branch_member", "member"):
        other(world, who, "2026-09-01", "24")
        other(world, who, "2026-09-02", "8")
    clock.set("2026-10-01T02:00:00")
    # b1's members all reached it; the general branch's own member and b2's have not.
    assert training_reminder.tick().sent == [world.general_branch.id, world.other_branch.id]
    assert training_reminder.tick().sent == []  # once a year
    notes = list(
        db.session.execute(
            select(Notification).where(Notification.kind == "training_hours_due")
        ).scalars()
    )
    assert {n.user_id for n in notes} == {world["gb_secretary"].id, world["other_secretary"].id}
    text = notifications.text(notes[0], "en")
    assert "1 member is still below 32 hours of training this year (2026)" in text
    assert "学时" in notifications.text(notes[0], "zh")
    assert audit_actions()[-1] == "obligation_reminder"
    assert audit.verify_database().ok
