"""What a hostile review of the training hours found: each problem, with the input or the
sequence of events that showed it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from pbflow.extensions import db
from pbflow.models import Meeting, TrainingRecord
from tests.conftest import audit_actions, csrf_token, recorded_set_up
from tests.three_meetings.helpers import chair_and_recorder, leave_fields, on_leave


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
        on_leave(
            world.branch.id,
            MeetingInput(
                meeting_type="party_lecture",
                held_on="2026-05-06",
                topic="党课",
                training_hours="4",
                present=[str(world["member"].person.id)],
            ),
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


def test_a_refused_correction_takes_no_lock(world, clock, monkeypatch):
    """Another branch's secretary is told the record does not exist, the auditor (who reads
    it) that they may not change it; neither holds the record's row nor writes anything."""
    from pbflow.engine.errors import NotAllowed, NotFound
    from pbflow.procedures.three_meetings import training

    clock.set("2026-06-01T02:00:00")
    record = _other(world, "member", "2026-05-06", "4")
    held = []
    monkeypatch.setattr(training.locks, "hold_record", lambda *a: held.append(a) or True)
    before = audit_actions()
    with pytest.raises(NotFound):
        _edit(world, record, "2026-05-06", "5", by="other_secretary")
    with pytest.raises(NotAllowed):
        _edit(world, record, "2026-05-06", "5", by="auditor")
    with pytest.raises(NotAllowed):
        training.delete_training(world["auditor"], record.id, expected_version=1)
    assert held == [] and audit_actions() == before
    assert _edit(world, record, "2026-05-06", "5").version == 2 and len(held) == 1


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


def test_a_resubmit_after_a_conflict_is_refused_again(world, clock, client, auth):
    """Two secretaries correct the same record: the second is told (409) and sees the first
    one's values; sending the same form again is refused again, nothing of the first lost."""
    clock.set("2026-06-01T02:00:00")
    record = _other(world, "member", "2026-05-06", "4", course="党校轮训")
    client.set_cookie("pbflow_lang", "en")
    auth.login("secretary")
    edit = f"/meetings/training/record/{record.id}/edit"
    token = csrf_token(client.get(edit).get_data(as_text=True))
    form = {
        "csrf_token": token,
        "person": str(world["member"].person.id),
        "taken_on": "2026-05-06",
        "provider": "",
        "note": "",
        "version": "1",
    }
    first = client.post(edit, data={**form, "course": "党校轮训（春季）", "hours": "6"})
    assert first.status_code == 302
    mine = {**form, "course": "党校轮训", "hours": "3.5", "note": "我的更正"}
    stale = client.post(edit, data=mine)
    html = stale.get_data(as_text=True)
    assert stale.status_code == 409 and "reload" in html
    assert 'name="version" value="1"' in html  # the version read, not the record's now
    assert "我的更正" in html and 'value="3.5"' in html  # what was typed
    assert "It now says:" in html and "党校轮训（春季）" in html  # the other's correction
    again = client.post(edit, data=mine)
    assert again.status_code == 409
    db.session.expire_all()
    kept = db.session.get(TrainingRecord, record.id)
    assert (kept.course, kept.minutes, kept.version, kept.note) == (
        "党校轮训（春季）",
        360,
        2,
        None,
    )
    # Reloaded, the correction goes through.
    fresh = client.get(edit).get_data(as_text=True)
    assert 'name="version" value="2"' in fresh
    assert client.post(edit, data={**mine, "version": "2"}).status_code == 302


def test_a_resubmit_of_a_meeting_after_a_conflict_is_refused_again(world, clock, client, auth):
    from pbflow.procedures.three_meetings import services as meetings
    from pbflow.procedures.three_meetings.services import MeetingInput

    clock.set("2026-06-01T02:00:00")
    present = [str(world[u].person.id) for u in ("secretary", "deputy", "member")]
    meeting = meetings.record_meeting(
        world["secretary"],
        world.branch.id,
        on_leave(
            world.branch.id,
            MeetingInput(
                meeting_type="party_lecture", held_on="2026-05-10", topic="党课", present=present
            ),
        ),
    )
    client.set_cookie("pbflow_lang", "en")
    auth.login("secretary")
    edit = f"/meetings/{meeting.id}/edit"
    token = csrf_token(client.get(edit).get_data(as_text=True))
    form = {
        "csrf_token": token,
        "meeting_type": "party_lecture",
        "held_on": "2026-05-10",
        "present": present,
        **chair_and_recorder(world.branch.id, "party_lecture", present),
        **leave_fields(world.branch.id, "party_lecture", present),
        "version": "1",
    }
    first = client.post(edit, data={**form, "topic": "党课：党史", "reason": "题目补全"})
    assert first.status_code == 302
    mine = {**form, "topic": "党课：新党章", "reason": "我的更正"}
    stale = client.post(edit, data=mine)
    html = stale.get_data(as_text=True)
    assert stale.status_code == 409 and 'name="version" value="1"' in html
    assert "党课：新党章" in html and "Someone else corrected this record" in html
    assert client.post(edit, data=mine).status_code == 409
    db.session.expire_all()
    kept = db.session.get(Meeting, meeting.id)
    assert (kept.topic, kept.version) == ("党课：党史", 2)


def test_a_record_is_the_members_branch_now(world, clock, client, auth):
    """A member moved from b1 to b2: b2's secretary corrects and deletes their records
    (wherever entered), b1's no longer does, and the buttons follow."""
    from pbflow.engine.errors import NotAllowed, NotFound
    from pbflow.procedures.three_meetings import training

    clock.set("2026-06-01T02:00:00")
    record = _other(world, "member", "2026-05-06", "4")
    second = _other(world, "member", "2026-05-07", "2")
    person = world["member"].person
    person.org_id = world.other_branch.id
    recorded_set_up(person)
    db.session.commit()
    with pytest.raises(NotFound):
        training.get_record(world["secretary"], record.id)
    with pytest.raises((NotFound, NotAllowed)):
        training.delete_training(world["secretary"], record.id, expected_version=1)
    client.set_cookie("pbflow_lang", "en")
    auth.login("secretary")
    edit = f"/meetings/training/record/{record.id}/edit"
    assert client.get(edit).status_code == 404
    token = csrf_token(client.get(f"/meetings/training/{world.branch.id}").get_data(as_text=True))
    gone = client.post(
        f"/meetings/training/record/{record.id}/delete", data={"csrf_token": token, "version": "1"}
    )
    assert gone.status_code == 404 and db.session.get(TrainingRecord, record.id) is not None
    auth.logout()
    auth.login("other_secretary")
    page = client.get(
        f"/meetings/training/{world.other_branch.id}/member/{person.id}?year=2026"
    ).get_data(as_text=True)
    assert edit in page and f"/meetings/training/record/{record.id}/delete" in page
    token = csrf_token(client.get(edit).get_data(as_text=True))
    saved = client.post(
        edit,
        data={
            "csrf_token": token,
            "person": str(person.id),
            "taken_on": "2026-05-06",
            "course": "党校轮训（补）",
            "hours": "4",
            "version": "1",
        },
    )
    assert saved.status_code == 302
    assert saved.headers["Location"].startswith(
        f"/meetings/training/{world.other_branch.id}/member/{person.id}"
    )
    done = client.post(
        f"/meetings/training/record/{second.id}/delete",
        data={"csrf_token": token, "version": "1"},
    )
    assert done.status_code == 302 and db.session.get(TrainingRecord, second.id) is None
    # A reader above b1 only (the general branch's secretary) reads nothing of them now.
    auth.logout()
    auth.login("gb_secretary")
    assert client.get(edit).status_code == 404
    # The member page shows no buttons to one who may read but not change.
    auth.logout()
    auth.login("committee_a")
    page = client.get(
        f"/meetings/training/{world.other_branch.id}/member/{person.id}?year=2026"
    ).get_data(as_text=True)
    assert "党校轮训（补）" in page and edit not in page
    assert client.get(edit).status_code == 403
    assert "Only the secretary or a committee member" in client.get(edit).get_data(as_text=True)


def test_tick_reports_a_figure_that_cannot_be_read_and_goes_on(world, runner, monkeypatch):
    """The figure is read before any reminder: its failure is one line of the tick's report,
    the other procedures' reminders are kept, the mail and checkpoint still run."""
    from pbflow.procedures.three_meetings import training_reminder

    def broken(org_ids, year):
        raise RuntimeError("the figure broke")

    monkeypatch.setattr(training_reminder, "training_hours", broken)
    runner.invoke(args=["pbflow", "rehearsal", "start"])
    result = runner.invoke(args=["pbflow", "tick", "--now", "2026-10-05T02:00:00"])
    assert result.exit_code == 0, result.output
    assert "training hours: reminded 0" in result.output
    assert "training hours: the year's training hours could not be read: the figure broke" in (
        result.output
    )
    assert "meetings: reminded" in result.output and "mail:" in result.output
    report = training_reminder.tick(datetime(2026, 10, 5, 2, 0, tzinfo=UTC))
    assert report.sent == [] and report.failed[0][0] is None


def test_the_threshold_is_the_highest_at_or_above(world, clock):
    """A lower level may only raise what applies from above; the top organization's own
    setting replaces the 32 hours; a change that changes nothing is refused, unaudited."""
    from pbflow.engine.errors import ValidationFailed
    from pbflow.procedures.three_meetings import training, training_figures

    def at(org) -> float:
        return training_figures.training_hours([org.id], 2026)[org.id].threshold_hours

    committee = world["committee_a"]
    training.set_threshold(committee, world.general_branch.id, "40")
    before = audit_actions()
    with pytest.raises(ValidationFailed) as exc:  # half an hour under a 40-hour branch
        training.set_threshold(committee, world.branch.id, "0.5")
    assert "would not raise the 40 hours that apply from above" in exc.value.message
    with pytest.raises(ValidationFailed) as exc:  # 20 under the default 32
        training.set_threshold(committee, world.other_branch.id, "20")
    assert "32 hours" in exc.value.message
    with pytest.raises(ValidationFailed) as exc:
        training.set_threshold(committee, world.general_branch.id, "40")  # no change
    assert "Nothing was changed" in exc.value.message
    with pytest.raises(ValidationFailed):
        training.set_threshold(committee, world.branch.id, None)  # nothing to clear
    for typed in ("1e1", "4_0", "４０", "40.000001"):
        with pytest.raises(ValidationFailed):
            training.set_threshold(committee, world.branch.id, typed)
    assert audit_actions() == before
    assert at(world.branch) == 40 and at(world.other_branch) == 32
    # The top organization sets the base: lower than 32 too; a level below still raises it.
    training.set_threshold(committee, world.committee.id, "24")
    assert at(world.other_branch) == 24 and at(world.branch) == 40
    training.set_threshold(committee, world.committee.id, "48")
    assert at(world.other_branch) == 48 and at(world.branch) == 48  # 40 below is overtaken
    # A setting stored before (or by hand) below what applies is ignored, not obeyed.
    from pbflow.models import Organization

    org = db.session.get(Organization, world.branch.id)
    org.settings = {"three_meetings": {"training_hours": 0.5}}
    db.session.commit()
    assert at(world.branch) == 48


def test_the_threshold_command(world, runner):
    from pbflow.procedures.three_meetings import training

    def run(*args):
        return runner.invoke(args=["pbflow", "meetings", "training-threshold", *args])

    shown = run("b1")
    assert shown.exit_code == 0, shown.output
    assert "b1: 32 hours of training a year (no own setting, 32 from above)" in shown.output
    done = run("gb1", "40", "--as", "committee_a")
    assert done.exit_code == 0, done.output
    assert "gb1: 40 hours of training a year (own setting 40, 32 from above)" in done.output
    assert training.threshold_at(world.branch.id).minutes == 40 * 60
    assert audit_actions()[-1] == "training_threshold_set"
    before = audit_actions()
    for args, said in (
        (("gb1", "40", "--as", "committee_a"), "Nothing was changed"),
        (("b1", "20", "--as", "committee_a"), "would not raise the 40 hours"),
        (("b1", "45", "--as", "secretary"), "Only an administrator or the party committee"),
        (("b1", "1e3", "--as", "committee_a"), "must be a number of hours from 0.5 to 200"),
        (("nowhere", "40", "--as", "committee_a"), "No organization with code 'nowhere'"),
        (("b1", "45", "--as", "nobody"), "No user named 'nobody'"),
        (("b1", "45"), "needs --as USER"),
        (("b1", "45", "--clear", "--as", "admin"), "not both"),
        (("b1", "--clear", "--as", "admin"), "no yearly training hours are set here"),
    ):
        result = run(*args)
        assert result.exit_code != 0 and said in result.output, (args, result.output)
    assert audit_actions() == before
    cleared = run("gb1", "--clear", "--as", "admin")
    assert cleared.exit_code == 0, cleared.output
    assert "gb1: 32 hours of training a year (no own setting" in cleared.output


def test_the_year_page_says_what_an_hour_is(world, clock, client, auth):
    """学时 can be read as a class period of 45 minutes: the pages say an hour is 60."""
    clock.set("2026-06-01T02:00:00")
    auth.login("secretary")
    url = f"/meetings/training/{world.branch.id}?year=2026"
    assert "One hour of training here is 60 minutes." in client.get(url + "&lang=en").get_data(
        as_text=True
    )
    assert "此处 1 学时按 60 分钟计算。" in client.get(url + "&lang=zh").get_data(as_text=True)
    member = f"/meetings/training/{world.branch.id}/member/{world['member'].person.id}"
    assert "60 分钟" in client.get(member + "?lang=zh").get_data(as_text=True)


def test_the_meeting_form_names_the_study_meetings_from_the_rule(world, client, auth):
    """The hint under a meeting's training hours names the meetings that may carry them, from
    the rule itself (``hours.STUDY_TYPES``), in the reader's language."""
    from pbflow.procedures.three_meetings import services as meetings
    from pbflow.procedures.three_meetings.hours import STUDY_TYPES

    auth.login("secretary")
    for lang, sep in (("en", ", "), ("zh", "、")):
        page = client.get(f"/meetings/new?org={world.branch.id}&lang={lang}").get_data(as_text=True)
        with client.application.test_request_context(f"/?lang={lang}"):
            names = sep.join(meetings.type_label(t) for t in STUDY_TYPES)
        assert f"({names})" in page or f"（{names}）" in page, lang
    assert "committee_meeting" not in STUDY_TYPES


@pytest.mark.parametrize(
    ("courses", "problem"),
    [
        (("党校轮训", "网上专题班"), "more than 24 hours"),  # 16 + 16 in one day
        (("党校轮训", "党校轮训"), "is already recorded for this member on this day"),
    ],
)
def test_two_entries_at_once_cannot_both_pass_a_days_checks(app, world, clock, courses, problem):
    """Two secretaries enter the same member's training of the same day at the same moment
    (two workers): the checks of the day read under a lock on the member, so the second
    waits for the first, sees it, and is refused; one record stands."""
    from pbflow.engine.errors import ValidationFailed
    from pbflow.models import User
    from pbflow.procedures.three_meetings import training
    from pbflow.procedures.three_meetings.training import TrainingInput
    from tests.test_concurrency import _race

    clock.set("2026-06-01T02:00:00")
    member, branch = world["member"].person.id, world.branch.id

    def enter(course: str):
        def call():
            secretary = db.session.execute(
                select(User).where(User.username == "secretary")
            ).scalar_one()
            data = TrainingInput(
                person=str(member), taken_on="2026-05-06", course=course, hours="16"
            )
            return training.record_training(secretary, branch, data).id

        return call

    results = _race(app, [enter(c) for c in courses])
    refused = [r for r in results if isinstance(r, ValidationFailed)]
    assert len(refused) == 1 and sum(isinstance(r, int) for r in results) == 1, results
    assert problem in " ".join(refused[0].field_errors.values())
    db.session.expire_all()
    assert _count(TrainingRecord) == 1
