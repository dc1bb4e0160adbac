"""An anonymous submitter's steps are dated to the hour, everywhere an admin or auditor looks
(issue 10): the opinion box declares ``anonymous_time: hour`` and the engine applies it to every
step the audit trail records as "anonymous". Named steps and the organization's own steps
keep their exact time.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from pbflow.engine import runtime
from pbflow.engine.definitions import parse
from pbflow.engine.errors import DefinitionError
from pbflow.engine.registry import gather_rules
from pbflow.extensions import db
from pbflow.models import AuditEvent, ProcessInstance, WorkflowDefinition
from pbflow.procedures.opinion_box import services as opinions
from tests.conftest import make_user

GENERIC = gather_rules()  # the engine's own guards and effects (the file names none other)

OPINION = {
    "subject": "澡堂热水不稳定",
    "text": "夜班下井回来洗澡，热水时有时无。",
    "category": "welfare",
    "anonymous": "1",
}
HOUR = datetime(2026, 3, 2, 2, 0)  # 10:00 in Beijing


def _times(case: ProcessInstance) -> set[datetime]:
    db.session.refresh(case)
    return {case.created_at, case.updated_at, case.state_entered_at}


def _event_times(case_id: int) -> dict[str, datetime]:
    rows = db.session.execute(
        select(AuditEvent.action, AuditEvent.at)
        .where(AuditEvent.instance_id == case_id)
        .order_by(AuditEvent.seq)
    ).all()
    return {f"{i}:{action}": at for i, (action, at) in enumerate(rows)}


def test_an_anonymous_submission_and_its_follow_up_are_dated_to_the_hour(world, clock):
    clock.set("2026-03-02T02:47:13.250000")
    slip = opinions.submit("b1", dict(OPINION), user=world["member"], client="10.1.1.1")
    case = db.session.get(ProcessInstance, opinions._case_for_code(slip.code))

    assert slip.submitted_at == HOUR
    assert _times(case) == {HOUR}
    assert set(_event_times(case.id).values()) == {HOUR}  # case_started, tracking_code_issued
    # This was the box's first opinion: its workflow version was stored in the same step,
    # and that record is dated alike (else it would give the minute away).
    loaded = db.session.execute(select(WorkflowDefinition.loaded_at)).scalars().all()
    assert loaded == [HOUR]
    first = db.session.execute(
        select(AuditEvent.at).where(AuditEvent.action == "definition_loaded")
    ).scalar_one()
    assert first == HOUR

    # The submitter adds information with the code at 11:23: dated 11:00.
    clock.set("2026-03-02T03:23:45.000001")
    opinions.act(
        slip.code,
        "add_information",
        {"more_info": "周三最严重。"},
        expected_version=None,
        user=None,
        client="10.1.1.1",
    )
    eleven = datetime(2026, 3, 2, 3, 0)
    assert _times(case) == {HOUR, eleven}  # created at 10:00; updated and re-entered 11:00
    assert list(_event_times(case.id).values())[-1] == eleven

    # The organization's own step keeps its exact time.
    clock.set("2026-03-02T03:31:07.500000")
    runtime.fire(case.id, "accept", world["secretary"])
    assert list(_event_times(case.id).values())[-1] == datetime(2026, 3, 2, 3, 31, 7, 500000)


def test_a_visitor_without_an_account_is_dated_to_the_hour_even_when_named(world, clock):
    clock.set("2026-03-02T02:47:13")
    named = {**OPINION, "anonymous": "", "contact": "李工 13900000000"}
    slip = opinions.submit("b1", named, user=None, client="10.1.1.2")
    case = db.session.get(ProcessInstance, opinions._case_for_code(slip.code))
    assert _times(case) == {HOUR}


def test_a_named_opinion_of_a_logged_in_user_keeps_its_exact_time(world, clock):
    when = clock.set("2026-03-02T02:47:13.250000")
    user = make_user("qian_gong", [(world.branch, "member")], person_org=world.branch)
    slip = opinions.submit("b1", {**OPINION, "anonymous": ""}, user=user, client="10.1.1.3")
    case = db.session.get(ProcessInstance, opinions._case_for_code(slip.code))
    assert _times(case) == {when}
    assert set(_event_times(case.id).values()) == {when}


def test_the_case_page_and_the_follow_page_show_the_hour_only(client, world, clock, auth):
    clock.set("2026-03-02T02:47:13")
    slip = opinions.submit("b1", dict(OPINION), user=None, client="10.1.1.4")
    case_id = opinions._case_for_code(slip.code)
    clock.set("2026-03-02T03:31:07")
    runtime.fire(case_id, "accept", world["secretary"])

    auth.login("secretary")
    html = client.get(f"/cases/{case_id}?lang=en").get_data(as_text=True)
    assert "2026-03-02 10:00" in html and "2026-03-02 11:31" in html
    assert "10:47" not in html and "02:47" not in html

    followed = opinions.follow(slip.code, user=None, client="10.1.1.4")
    assert followed.submitted_at == HOUR


def test_the_declaration_is_checked_when_the_workflow_loads():
    text = (
        "id: box\nversion: '1'\ntitle: {zh: 箱, en: Box}\nrun_by: [branch]\n"
        "anonymous_time: minute\n"
        "start: {by: [anyone]}\ninitial: open\n"
        "states:\n  open: {label: {zh: 开, en: Open}}\n"
        "  shut: {label: {zh: 关, en: Shut}, final: true}\n"
        "transitions:\n  - {trigger: shut, source: open, dest: shut,"
        " label: {zh: 关, en: Shut}, by: [secretary]}\n"
    )
    with pytest.raises(DefinitionError) as exc:
        parse(text, "workflows/box.yaml", GENERIC)
    assert "anonymous_time must be one of hour, day" in str(exc.value)
    assert "workflows/box.yaml:5" in str(exc.value)
    assert (
        parse(text.replace("minute", "day"), "workflows/box.yaml", GENERIC).anonymous_time == "day"
    )
