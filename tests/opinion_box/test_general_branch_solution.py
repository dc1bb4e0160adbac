"""DOMAIN 4: "what a branch cannot solve within 3 days goes to its general branch, which
proposes a solution within 7 days". An opinion the branch leaves unacknowledged past its 3
working days escalates to the general branch with 7 working days of its own (``solution_days``
in workflows/opinion.yaml, the state's ``escalation_due``), not the 5 of any escalation: the
supervision notice that opens there carries that deadline, reminded before it and escalated to
the committee after it; without the supervision procedure the escalation itself is the general
branch's task for that time. Walked with the clock from Monday 2 March 2026."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from pbflow import audit
from pbflow.engine import calendar, runtime, timers
from pbflow.engine.errors import ValidationFailed
from pbflow.extensions import db
from pbflow.models import Escalation, SupervisionNotice
from pbflow.procedures import SHIPPED
from pbflow.services import inbox, settings
from tests.opinion_box.test_opinion_workflow import case_of, submit
from tests.pages_helpers import text


def escalated_to_the_general_branch(world, clock):
    """An opinion dropped on Monday 2 March, due to be acknowledged by the end of Thursday
    the 5th (3 working days), still unacknowledged on Friday the 6th: escalated."""
    case = case_of(submit().code)
    clock.set("2026-03-06T02:00:00")
    assert timers.tick().escalated == [case.id]
    (row,) = db.session.execute(select(Escalation)).scalars()
    assert (row.org_id, row.level) == (world.general_branch.id, 1)
    return case, row


def test_the_general_branch_proposes_a_solution_within_7_working_days(world, clock, client, auth):
    case, row = escalated_to_the_general_branch(world, clock)
    # 7 working days from Friday 6 March: Tuesday the 17th (an escalation's general 5
    # working days would end on Friday the 13th).
    assert calendar.last_day(row.due_at).isoformat() == "2026-03-17"
    notice = runtime.load_case(row.handled_case_id)
    assert (notice.workflow_id, notice.org_id) == ("supervision_notice", world.general_branch.id)
    assert notice.data["deadline"] == "2026-03-17"
    assert notice.data["requirement"] == (
        "总支（上级党组织）提出解决办法时限（工作日）：7，即 2026-03-17 前。请反馈办理情况。"
    )
    link = db.session.execute(
        select(SupervisionNotice).where(SupervisionNotice.case_id == notice.id)
    ).scalar_one()
    assert (link.concerns, link.concerns_case_id, link.level) == ("case", case.id, 1)
    # The general branch takes it on; its inbox and both case pages say until when.
    runtime.fire(notice.id, "acknowledge", world["gb_secretary"])
    (item,) = [i for i in inbox.inbox(world["gb_secretary"], "en").items if i.case.id == notice.id]
    assert calendar.last_day(item.case.due_at).isoformat() == "2026-03-17"
    client.set_cookie("pbflow_lang", "en")
    auth.login("gb_secretary")
    assert "2026-03-17" in text(client.get("/inbox"))
    assert "2026-03-17" in text(client.get(f"/cases/{notice.id}"))
    opinion_page = text(client.get(f"/cases/{case.id}"))
    assert f"#{notice.id}" in opinion_page and "due 2026-03-17" in opinion_page
    # Reminded two days before its last day; nothing more on that day; escalated after it.
    clock.set("2026-03-16T02:00:00")
    report = timers.tick()
    assert report.reminded == [notice.id] and report.escalated == []
    clock.set("2026-03-17T14:00:00")  # 22:00 in Beijing: still the general branch's day
    assert timers.tick().escalated == []
    clock.set("2026-03-18T02:00:00")
    report = timers.tick()
    assert notice.id in report.overdue and report.escalated == [notice.id]
    upper = db.session.execute(
        select(SupervisionNotice).where(SupervisionNotice.level == 2)
    ).scalar_one()
    assert runtime.load_case(upper.case_id).org_id == world.committee.id
    assert (upper.concerns_case_id, upper.escalated_from_id) == (case.id, notice.id)


def test_the_general_branchs_days_are_a_setting_with_bounds(world, clock):
    before = (audit.head(), db.session.scalar(select(func.count(Escalation.id))))
    for bad in ("0", "31"):
        with pytest.raises(ValidationFailed):
            settings.set_value(
                world["admin"], world.general_branch.id, "opinion", "solution_days", bad
            )
    db.session.rollback()
    assert (audit.head(), db.session.scalar(select(func.count(Escalation.id)))) == before
    settings.set_value(world["admin"], world.general_branch.id, "opinion", "solution_days", "10")
    _case, row = escalated_to_the_general_branch(world, clock)
    assert calendar.last_day(row.due_at).isoformat() == "2026-03-20"  # 10 working days
    assert runtime.load_case(row.handled_case_id).data["deadline"] == "2026-03-20"


def test_an_answer_overdue_escalates_with_the_notices_general_time(world, clock):
    """The 7 days are for what the branch could not solve in its first days; an answer
    overdue after 15 working days escalates like any overdue case (5 working days)."""
    case = case_of(submit().code)
    runtime.fire(case.id, "accept", world["secretary"])
    clock.set("2026-03-24T02:00:00")  # the answer was due by the end of Monday 23 March
    assert timers.tick().escalated == [case.id]
    (row,) = db.session.execute(select(Escalation)).scalars()
    assert calendar.last_day(row.due_at).isoformat() == "2026-03-31"
    assert runtime.load_case(row.handled_case_id).data["deadline"] == "2026-03-31"


@pytest.mark.procedures([p for p in SHIPPED if p != "supervision"])
def test_without_supervision_the_general_branch_has_its_7_days_in_its_inbox(
    world, clock, client, auth
):
    case, row = escalated_to_the_general_branch(world, clock)
    assert row.handled_case_id is None
    (task,) = inbox.inbox(world["gb_secretary"], "en").escalations
    assert task.case_id == case.id and calendar.last_day(task.due_at).isoformat() == "2026-03-17"
    auth.login("gb_secretary")
    client.set_cookie("pbflow_lang", "en")
    page = text(client.get("/inbox"))
    assert "Escalated to your organization" in page and "2026-03-17" in page
    # Not lapsed after 5 working days, nor on its last day; one level higher after it.
    clock.set("2026-03-16T02:00:00")
    assert timers.tick().escalated == []
    clock.set("2026-03-17T14:00:00")
    assert timers.tick().escalated == []
    clock.set("2026-03-18T02:00:00")
    assert timers.tick().escalated == [case.id]
    assert [t.level for t in inbox.inbox(world["committee_a"], "en").escalations] == [2]
