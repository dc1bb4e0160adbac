"""Supervision notices (督办): issued from an overdue case or a missed meeting by the committee
above, acknowledged, answered, accepted or sent back, each step audited; every refusal with
its reason. Escalation: an overdue case opens a notice to the superior organization, and a
notice left to lapse opens the next one a level higher; without the supervision procedure the
escalation is a task in the superior's inbox that lapses upward the same way."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from pbflow.engine import runtime, timers
from pbflow.engine.errors import GuardRefused, NotAllowed, ValidationFailed
from pbflow.extensions import db
from pbflow.models import Escalation, ProcessInstance, SupervisionNotice
from pbflow.procedures import SHIPPED
from pbflow.procedures.supervision import notices
from pbflow.services import inbox
from tests.conftest import audit_actions, csrf_token
from tests.pages_helpers import funding_case, text, walk
from tests.supervision.helpers import hold, set_up_on


def overdue_request(world, clock):
    """A funding request waiting on the branch secretary since Monday 2 March: due at the
    end of Monday 9 March (5 working days), overdue from the 10th."""
    case = funding_case(world)
    walk(case.id, world, ("submit", "branch_member"))
    return case


def issue_form(client, url: str, **fields):
    token = csrf_token(client.get(url).get_data(as_text=True))
    data = {"csrf_token": token, **{f"f.{k}": v for k, v in fields.items()}}
    return client.post(url, data=data)


def notice_of(case_id: int) -> SupervisionNotice:
    return db.session.execute(
        select(SupervisionNotice).where(SupervisionNotice.case_id == case_id)
    ).scalar_one()


def test_the_committee_issues_a_notice_about_an_overdue_case_and_it_is_walked(
    world, clock, client, auth
):
    case = overdue_request(world, clock)
    clock.set("2026-03-10T02:00:00")
    auth.login("committee_a")
    page = client.get(f"/cases/{case.id}")
    assert "Issue a supervision notice" in text(page)
    url = f"/supervision/notices/new?case={case.id}"
    assert f"#{case.id}" in text(client.get(url))
    res = issue_form(
        client,
        url,
        problem="活动经费申请审核超期",
        requirement="三个工作日内完成审核",
        deadline="2026-03-13",
        recipient=str(world["secretary"].id),
    )
    assert res.status_code == 302
    notice = db.session.execute(
        select(ProcessInstance).where(ProcessInstance.workflow_id == "supervision_notice")
    ).scalar_one()
    assert res.headers["Location"].endswith(f"/cases/{notice.id}")
    assert (notice.org_id, notice.state, notice.assignee_user_id) == (
        world.branch.id,
        "issued",
        world["secretary"].id,
    )
    link = notice_of(notice.id)
    assert (link.concerns, link.concerns_case_id, link.level) == ("case", case.id, 0)
    assert audit_actions(notice.id) == ["case_started", "supervision_notice_linked"]
    # The recipient finds it in the inbox; the case it concerns shows it.
    waiting = inbox.inbox(world["secretary"], "en").items
    assert notice.id in [i.case.id for i in waiting]
    assert f"/cases/{notice.id}" in text(client.get(f"/cases/{case.id}"))
    # Its history says in words what the link is, in the reader's language.
    assert "Linked to the matter it concerns" in text(client.get(f"/cases/{notice.id}?lang=en"))
    assert "已关联所督办的事项" in text(client.get(f"/cases/{notice.id}?lang=zh"))
    runtime.fire(notice.id, "acknowledge", world["secretary"])
    runtime.fire(notice.id, "answer", world["secretary"], {"answer": "已完成审核"})
    with pytest.raises(NotAllowed):  # the recipient does not judge their own answer
        runtime.fire(notice.id, "accept", world["secretary"])
    with pytest.raises(ValidationFailed):  # sending back needs a reason
        runtime.fire(notice.id, "send_back", world["committee_a"])
    with pytest.raises(ValidationFailed):
        runtime.fire(
            notice.id,
            "send_back",
            world["committee_a"],
            {"new_deadline": "2026-03-01"},
            comment="请补充说明",
        )
    runtime.fire(
        notice.id,
        "send_back",
        world["committee_a"],
        {"new_deadline": "2026-03-20"},
        comment="请补充说明",
    )
    assert runtime.load_case(notice.id).data["deadline"] == "2026-03-20"
    runtime.fire(notice.id, "answer", world["deputy"], {"answer": "已补充"})
    runtime.fire(notice.id, "accept", world["committee_a"])
    done = runtime.load_case(notice.id)
    assert done.state == "closed" and done.data["closed_on"] == "2026-03-10"
    assert audit_actions(notice.id)[-5:] == ["transition"] * 5


def test_who_may_issue_and_what_is_refused(world, clock, client, auth):
    case = overdue_request(world, clock)
    url = f"/supervision/notices/new?case={case.id}"
    auth.login("member")  # reads no branch records
    assert client.get(url).status_code == 404
    auth.logout()
    auth.login("other_secretary")  # another branch's secretary
    assert client.get(url).status_code == 404
    auth.logout()
    auth.login("secretary")  # the branch itself does not supervise itself
    page = client.get(url)
    assert page.status_code == 403 and "issues notices" in text(page)
    assert "Issue a supervision notice" not in text(client.get(f"/cases/{case.id}"))
    auth.logout()
    auth.login("gb_secretary")  # the superior's secretary may
    res = issue_form(client, url, problem="p", requirement="r", deadline="2026-03-01")
    assert res.status_code == 422 and "must not lie in the past" in text(res)
    res = issue_form(
        client,
        url,
        problem="p",
        requirement="r",
        deadline="2026-03-20",
        recipient=str(world["other_secretary"].id),
    )
    assert res.status_code == 422 and "must belong to the organization" in text(res)
    res = issue_form(client, url, problem="", requirement="r", deadline="2026-03-20")
    assert res.status_code == 422 and "is required" in text(res)
    assert db.session.execute(select(SupervisionNotice)).first() is None
    assert client.get("/supervision/notices/new?case=abc").status_code == 422
    assert client.get("/supervision/notices/new?case=99999").status_code == 404
    with pytest.raises(NotAllowed):
        notices.issue(
            world["member"], notices.about_org(world["gb_secretary"], world.branch.id), {}
        )


def test_a_notice_about_a_missed_meeting_shows_on_the_calendar(world, clock, client, auth):
    set_up_on(world.branch, "2025-06-01T00:00:00")
    hold(clock, world["secretary"], world.branch, "theme_day", "2026-01-20")
    clock.set("2026-03-10T02:00:00")
    auth.login("committee_a")
    # January was held: nothing to supervise there.
    res = client.get(f"/supervision/notices/new?org={world.branch.id}&type=theme_day&on=2026-01-05")
    assert res.status_code == 422 and "not missing" in text(res)
    calendar = text(client.get(f"/meetings/compliance/{world.branch.id}?year=2026"))
    assert "type=theme_day&amp;on=2026-02-01" in calendar
    url = f"/supervision/notices/new?org={world.branch.id}&type=theme_day&on=2026-02-01"
    res = issue_form(
        client, url, problem="二月未开展主题党日", requirement="补开", deadline="2026-03-20"
    )
    assert res.status_code == 302
    (link,) = db.session.execute(select(SupervisionNotice)).scalars()
    assert (link.concerns, link.meeting_type, str(link.period_start), str(link.period_end)) == (
        "meeting",
        "theme_day",
        "2026-02-01",
        "2026-02-28",
    )
    calendar = text(client.get(f"/meetings/compliance/{world.branch.id}?year=2026"))
    assert f"/cases/{link.case_id}" in calendar and "二月未开展主题党日" in calendar
    assert client.get("/supervision/notices/new?org=1&type=bogus&on=2026-02-01").status_code == 422
    res = client.get(f"/supervision/notices/new?org={world.branch.id}&type=theme_day&on=soon")
    assert res.status_code == 422


def test_an_overdue_case_escalates_to_a_notice_and_up_again_when_it_lapses(world, clock):
    case = overdue_request(world, clock)
    clock.set("2026-03-10T02:00:00")
    report = timers.tick()
    assert report.escalated == [case.id]
    (first,) = db.session.execute(select(Escalation)).scalars()
    assert (first.org_id, first.level) == (world.general_branch.id, 1)
    notice = runtime.load_case(first.handled_case_id)
    assert (notice.workflow_id, notice.org_id, notice.state) == (
        "supervision_notice",
        world.general_branch.id,
        "issued",
    )
    assert notice.data["deadline"] == "2026-03-17"  # 5 working days
    assert notice_of(notice.id).concerns_case_id == case.id
    assert audit_actions(notice.id)[:2] == ["case_started", "supervision_notice_linked"]
    assert notice.id in [i.case.id for i in inbox.inbox(world["gb_secretary"], "en").items]
    # Nobody at the general branch acknowledges within 3 working days: one level higher.
    clock.set("2026-03-16T02:00:00")
    report = timers.tick()
    assert report.escalated == [notice.id]
    second = db.session.execute(
        select(SupervisionNotice).where(SupervisionNotice.level == 2)
    ).scalar_one()
    upper = runtime.load_case(second.case_id)
    assert upper.org_id == world.committee.id
    assert (second.concerns_case_id, second.escalated_from_id) == (case.id, notice.id)
    assert upper.id in [i.case.id for i in inbox.inbox(world["committee_b"], "en").items]
    # At the top there is nobody above: the committee's lapsed notice is only overdue.
    clock.set("2026-03-25T02:00:00")
    report = timers.tick()
    assert upper.id in report.overdue and report.escalated == []
    assert timers.tick().escalated == []  # and nothing twice
    # A committee member answers it; another one, not the same, accepts the answer.
    runtime.fire(upper.id, "answer", world["committee_b"], {"answer": "已督促总支办理"})
    with pytest.raises(GuardRefused, match="someone else"):
        runtime.fire(upper.id, "accept", world["committee_b"])
    runtime.fire(upper.id, "accept", world["committee_c"])
    assert runtime.load_case(upper.id).state == "closed"


WITHOUT_SUPERVISION = pytest.mark.procedures([p for p in SHIPPED if p != "supervision"])


@WITHOUT_SUPERVISION
def test_without_supervision_the_escalation_is_a_task_in_the_superiors_inbox(world, clock, app):
    case = overdue_request(world, clock)
    clock.set("2026-03-10T02:00:00")
    assert timers.tick().escalated == [case.id]
    (row,) = db.session.execute(select(Escalation)).scalars()
    assert (row.org_id, row.level, row.handled_case_id) == (world.general_branch.id, 1, None)
    tasks = inbox.inbox(world["gb_secretary"], "en").escalations
    assert [(t.case_id, t.level) for t in tasks] == [(case.id, 1)]
    assert inbox.inbox(world["committee_a"], "en").escalations == []
    # Left for more than 5 working days: it goes to the committee.
    clock.set("2026-03-18T02:00:00")
    assert timers.tick().escalated == [case.id]
    assert inbox.inbox(world["gb_secretary"], "en").escalations == []
    assert [t.level for t in inbox.inbox(world["committee_a"], "en").escalations] == [2]
    assert "escalated" in audit_actions(case.id)
    assert timers.tick().escalated == []  # once
    # The secretary finally acts: the task is gone.
    walk(case.id, world, ("secretary_approve", "secretary"))
    assert inbox.inbox(world["committee_a"], "en").escalations == []
    assert app.extensions["pbflow_registry"].escalation_hooks == []


@WITHOUT_SUPERVISION
def test_the_inbox_page_shows_the_escalated_task(world, clock, client, auth):
    case = overdue_request(world, clock)
    clock.set("2026-03-10T02:00:00")
    timers.tick()
    auth.login("gb_secretary")
    page = text(client.get("/inbox"))
    assert "Escalated to your organization" in page and f"/cases/{case.id}" in page
    assert "Escalated (level 1)" in page
