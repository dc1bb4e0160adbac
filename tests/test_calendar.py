"""China's working-day calendar: public holidays and the make-up working days on weekends
(调休) from the official calendar, local days an administrator sets (audited), a year nobody
covers said so on the case page, and the warning before the calendar runs out."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from pbflow import audit
from pbflow.engine import calendar, runtime
from pbflow.engine.errors import GuardRefused, NotAllowed, NotFound, ValidationFailed
from pbflow.extensions import db
from pbflow.models import CalendarDay, Notification, ProcessInstance
from pbflow.services import notifications, workcalendar
from tests.conftest import audit_actions, csrf_token, make_user
from tests.member_development.test_member_development import person_of


def test_national_day_2026_is_seven_days_off_with_two_make_up_days():
    off = [date(2026, 10, d) for d in range(1, 8)]
    assert not any(calendar.is_working_day(d) for d in off)
    # Sunday 2026-09-20 and Saturday 2026-10-10 are worked in exchange.
    assert calendar.is_working_day(date(2026, 9, 20))
    assert calendar.is_working_day(date(2026, 10, 10))
    assert not calendar.is_working_day(date(2026, 10, 11))
    # Five working days of notice from Monday 2026-09-28: 28, 29, 30 September, 8 and 9
    # October; a step waiting for it is possible on the make-up Saturday, 10 October.
    assert calendar.working_days_from(date(2026, 9, 28), 5) == (
        date(2026, 10, 9),
        date(2026, 10, 10),
    )


def test_spring_festival_2026_with_its_make_up_saturdays():
    assert calendar.is_working_day(date(2026, 2, 14))  # Saturday before: worked
    assert not any(calendar.is_working_day(date(2026, 2, d)) for d in range(15, 24))
    assert calendar.is_working_day(date(2026, 2, 28))  # Saturday after: worked
    assert calendar.add_working_days(date(2026, 2, 13), 1) == date(2026, 2, 14)
    assert calendar.add_working_days(date(2026, 2, 14), 1) == date(2026, 2, 24)
    assert calendar.day_name(date(2026, 2, 17)) == "春节"
    assert calendar.day_name(date(2026, 2, 17), "en") == "Spring Festival"


def test_a_year_boundary_with_new_year_and_its_make_up_sunday():
    # 1-3 January 2026 off, Sunday 4 January worked.
    assert calendar.add_working_days(date(2025, 12, 31), 1) == date(2026, 1, 4)
    assert calendar.add_working_days(date(2025, 12, 30), 3) == date(2026, 1, 5)


def test_an_opinion_received_before_spring_festival_is_due_after_it(world, clock):
    clock.set("2026-02-12T02:00:00")  # Thursday before the holidays
    case = runtime.start(
        "opinion",
        world.branch,
        world["member"],
        {"subject": "食堂", "text": "请改善夜班伙食", "category": "welfare", "contact": "张三"},
    )
    db.session.refresh(case)
    # Acknowledge within 3 working days: 13 February, the make-up Saturday 14th, then the 24th.
    assert calendar.last_day(case.due_at) == date(2026, 2, 24)
    # Answer within 15 working days: counted over the festival and both make-up Saturdays.
    assert case.data["answer_due"] == "2026-03-11"


def _target_case(world, clock):
    """A development target entered part-way (paper records), ready for the public notice."""
    clock.set("2026-09-20T02:00:00")
    person = person_of(
        make_user(
            "candidate", person_org=world.branch, party_status="none", birth_date=date(1998, 1, 1)
        )
    )
    sec = world["secretary"]
    case = runtime.start(
        "member_development",
        world.branch,
        sec,
        {"person": person.id, "application_date": "2025-01-10", "part_way": True},
    )
    runtime.fire(
        case.id,
        "adopt_as_target",
        sec,
        {
            "talk_date": "2025-01-20",
            "activist_on": "2025-03-01",
            "target_on": "2026-03-10",
        },
    )
    member, deputy = person_of(world["member"]).id, person_of(world["deputy"]).id
    runtime.fire(case.id, "assign_introducers", sec, {"introducers": [member, deputy]})
    runtime.fire(
        case.id,
        "record_political_review",
        sec,
        {"review_concluded_on": "2026-09-01", "review_conclusion": "qualified"},
    )
    runtime.fire(
        case.id,
        "record_training",
        sec,
        {"training_start": "2026-09-14", "training_end": "2026-09-16", "training_hours": "24"},
    )
    return case.id


def _review(world, day="2026-10-05"):
    from pbflow.services import attachments
    from tests.member_development.test_member_development import pdf

    minutes = attachments.store(world["secretary"], pdf(), org_id=world.branch.id, instance_id=None)
    db.session.commit()
    return {
        "branch_review_on": day,
        "branch_review_opinions": "无不同意见",
        "branch_review_minutes": minutes.id,
    }


def test_a_notice_started_before_national_day_does_not_allow_pre_review_on_5_october(world, clock):
    case_id = _target_case(world, clock)
    sec = world["secretary"]
    clock.set("2026-09-28T02:00:00")
    runtime.fire(case_id, "start_public_notice", sec, {"notice_start": "2026-09-28"})
    clock.set("2026-10-05T02:00:00")
    with pytest.raises(GuardRefused) as refused:
        runtime.fire(case_id, "request_prereview", sec, _review(world))
    assert refused.value.available_from == date(2026, 10, 10)
    assert "runs until 2026-10-09" in refused.value.message
    assert "Monday to Friday" not in refused.value.message  # 2026 is covered: no guess
    assert runtime.load_case(case_id).state == "target"
    clock.set("2026-10-10T02:00:00")  # the make-up Saturday is a working day
    runtime.fire(case_id, "request_prereview", sec, _review(world, "2026-10-10"))
    assert runtime.load_case(case_id).state == "prereview"


def test_a_limit_in_a_year_no_calendar_covers_says_so(world, clock, auth, client):
    case_id = _target_case(world, clock)
    sec = world["secretary"]
    clock.set("2026-12-28T02:00:00")
    runtime.fire(case_id, "start_public_notice", sec, {"notice_start": "2026-12-28"})
    clock.set("2026-12-30T02:00:00")
    with pytest.raises(GuardRefused) as refused:
        runtime.fire(case_id, "request_prereview", sec, _review(world))
    assert "counted Monday to Friday in 2027" in refused.value.message
    auth.login("secretary")
    page = client.get(f"/cases/{case_id}?lang=en").get_data(as_text=True)
    assert 'id="calendar-gap"' in page and "reach into 2027" in page

    # The administrator enters 2027's New Year (from the State Council's announcement) and
    # marks the year as entered: no more guessing, and the day off counts.
    workcalendar.set_day(world["admin"], "2027-01-01", working=False, name="元旦")
    workcalendar.confirm_year(world["admin"], 2027, "国办发明电〔2026〕X号")
    assert calendar.working_days_from(date(2026, 12, 28), 5) == (date(2027, 1, 4), date(2027, 1, 5))
    page = client.get(f"/cases/{case_id}?lang=en").get_data(as_text=True)
    assert 'id="calendar-gap"' not in page
    with pytest.raises(GuardRefused) as refused:
        runtime.fire(case_id, "request_prereview", sec, _review(world))
    assert refused.value.available_from == date(2027, 1, 5)
    assert "Monday to Friday" not in refused.value.message


def test_a_working_day_deadline_into_an_uncovered_year_is_flagged_on_the_case_page(
    world, clock, auth, client
):
    clock.set("2026-12-29T02:00:00")
    case = runtime.start(
        "opinion",
        world.branch,
        world["member"],
        {"subject": "年终", "text": "年底加班安排", "category": "welfare", "contact": "李四"},
    )
    auth.login("secretary")
    page = client.get(f"/cases/{case.id}?lang=en").get_data(as_text=True)
    # Acknowledge within 3 working days of 29 December: into 2027, counted Monday to Friday.
    assert "reach into 2027" in page


def test_local_days_are_audited_and_only_a_committee_administrator_sets_them(world, clock):
    branch_admin = make_user("branch_admin", [(world.branch, "admin")])
    with pytest.raises(NotAllowed):
        workcalendar.set_day(branch_admin, "2026-11-02", working=False, name="矿山安全日")
    with pytest.raises(NotAllowed):
        workcalendar.set_day(world["committee_a"], "2026-11-02", working=False)
    assert calendar.is_working_day(date(2026, 11, 2))
    workcalendar.set_day(world["admin"], "2026-11-02", working=False, name="矿山安全日")
    assert not calendar.is_working_day(date(2026, 11, 2))
    # A local day wins over the official calendar both ways.
    workcalendar.set_day(world["admin"], "2026-10-06", working=True, name="抢险")
    assert calendar.is_working_day(date(2026, 10, 6))
    workcalendar.unset_day(world["admin"], "2026-10-06")
    assert not calendar.is_working_day(date(2026, 10, 6))
    assert audit_actions().count("calendar_day_set") == 2
    assert audit_actions().count("calendar_day_unset") == 1
    with pytest.raises(NotFound):
        workcalendar.unset_day(world["admin"], "2026-10-06")
    with pytest.raises(ValidationFailed) as bad:
        workcalendar.set_day(world["admin"], "2026-13-01", working=False)
    assert "day" in bad.value.field_errors
    with pytest.raises(ValidationFailed, match="already covered by the official calendar"):
        workcalendar.confirm_year(world["admin"], 2026)
    with pytest.raises(ValidationFailed) as bad:
        workcalendar.confirm_year(world["admin"], "twenty")
    assert "year" in bad.value.field_errors
    assert audit.verify_database().ok


def test_the_calendar_page_and_its_refusals(world, clock, auth, client):
    auth.login("admin")
    page = client.get("/admin/calendar?year=2026&lang=en")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "2026-10-10" in html and "Spring Festival" in html
    token = csrf_token(html)
    bad = client.post(
        "/admin/calendar/days?year=2026",
        data={"csrf_token": token, "day": "not a day", "working": "0"},
    )
    assert bad.status_code == 422 and "a date like 2027-10-01" in bad.get_data(as_text=True)
    done = client.post(
        "/admin/calendar/days?year=2027",
        data={"csrf_token": token, "day": "2027-02-06", "working": "0", "name": "春节"},
    )
    assert done.status_code == 302
    assert db.session.get(CalendarDay, date(2027, 2, 6)).name == "春节"
    page = client.get("/admin/calendar?year=2027&lang=en").get_data(as_text=True)
    assert "No calendar covers 2027 yet" in page
    client.post(
        "/admin/calendar/years?year=2027",
        data={"csrf_token": token, "year": "2027", "entered": "1"},
    )
    assert calendar.covered(2027)
    assert client.get("/admin/calendar?year=99999").status_code == 404
    auth.logout()
    auth.login("committee_a")  # may read, not change
    assert client.get("/admin/calendar?year=2027").status_code == 200
    token = csrf_token(client.get("/admin/calendar").get_data(as_text=True))
    refused = client.post(
        "/admin/calendar/days", data={"csrf_token": token, "day": "2027-02-07", "working": "0"}
    )
    assert refused.status_code == 403
    auth.logout()
    auth.login("member")
    assert client.get("/admin/calendar").status_code == 403


def test_the_calendar_from_the_command_line(world, runner):
    result = runner.invoke(
        args=["pbflow", "calendar", "set", "2027-10-01", "--off", "--name", "国庆节"]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["pbflow", "calendar", "confirm", "2027"])
    assert result.exit_code == 0, result.output
    shown = runner.invoke(args=["pbflow", "calendar", "show", "--year", "2027"])
    assert "2027: covered" in shown.output and "2027-10-01  off" in shown.output
    refused = runner.invoke(args=["pbflow", "calendar", "set", "2027-10-02"])
    assert refused.exit_code == 2 and "--off or --working" in refused.output
    refused = runner.invoke(args=["pbflow", "calendar", "unset", "2027-10-05"])
    assert refused.exit_code == 1 and "has no local setting" in refused.output
    assert audit_actions()[-2:] == ["calendar_day_set", "calendar_year_confirmed"]


def test_tick_warns_the_administrators_before_the_calendar_runs_out(world, clock, runner):
    from pbflow.engine import timers  # noqa: F401 - tick's engine part runs alongside

    clock.set("2026-10-01T02:00:00")  # more than eight weeks before 2026 ends
    assert workcalendar.warn_if_running_out() is None
    clock.set("2026-11-10T02:00:00")  # within eight weeks
    result = runner.invoke(args=["pbflow", "tick"])
    assert result.exit_code == 0, result.output
    assert "administrators warned about 2027" in result.output
    again = runner.invoke(args=["pbflow", "tick"])
    assert "warned" not in again.output
    notes = (
        db.session.execute(select(Notification).where(Notification.kind == "calendar_running_out"))
        .scalars()
        .all()
    )
    assert [n.user_id for n in notes] == [world["admin"].id]
    assert "2026-12-31" in notifications.text(notes[0], "en")
    assert "工作日" in notifications.text(notes[0], "zh")
    assert audit_actions().count("calendar_running_out") == 1
    # Once 2027 is entered, the warning moves on to 2028 (in its own time).
    workcalendar.confirm_year(None, 2027)
    assert workcalendar.warn_if_running_out() is None
    assert db.session.execute(select(ProcessInstance.id)).first() is None


def test_a_working_day_found_again_in_a_request_notes_its_guessed_years_again(app):
    """``add_working_days`` keeps what it found for the request, also across years no
    calendar covers (a page asks a hundred times for the same day): each use still notes the
    years counted Monday to Friday, and gives the day counting afresh gives."""
    start = date(max(calendar.OFFICIAL_YEARS) + 1, 12, 28)  # into two uncovered years
    with app.test_request_context("/"):
        with calendar.noting_guesses() as first:
            found = calendar.add_working_days(start, 5)
        with calendar.noting_guesses() as again:
            assert calendar.add_working_days(start, 5) == found
        with calendar.noting_guesses() as covered:
            calendar.add_working_days(date(min(calendar.OFFICIAL_YEARS), 3, 2), 5)
    assert first == again == {start.year, start.year + 1} and not covered
    day, left = start, 5
    while left:
        day += timedelta(days=1)
        left -= day.weekday() < 5
    assert found == day
