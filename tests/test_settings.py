"""Workflow settings an office may change per organization: shown with the default, the
inherited value and the organization it comes from; checked against type and bounds;
audited; used by steps taken after the change while running cases keep their dates."""

from __future__ import annotations

import json
import re

import pytest

from pbflow import audit
from pbflow.engine import calendar, runtime
from pbflow.engine.errors import NotAllowed, NotFound, ValidationFailed
from pbflow.engine.registry import registry
from pbflow.extensions import db
from pbflow.models import AuditEvent, ProcessInstance
from pbflow.services import settings
from tests.conftest import audit_actions, csrf_token, make_user

WF = "member_development"


def _row(org, name, workflow=WF):
    for wf, _title, rows in settings.rows_for(org):
        for r in rows:
            if wf == workflow and r.name == name:
                return r
    raise AssertionError(name)


def test_a_value_set_above_is_inherited_below_until_overridden(world):
    row = _row(world.branch, "public_notice_working_days")
    assert (row.value, row.default, row.from_org, row.has_own) == (5, 5, None, False)
    settings.set_value(world["admin"], world.committee.id, WF, "public_notice_working_days", "7")
    row = _row(world.branch, "public_notice_working_days")
    assert (row.value, row.from_org.id, row.has_own) == (7, world.committee.id, False)
    branch_admin = make_user("branch_admin", [(world.branch, "admin")])
    settings.set_value(branch_admin, world.branch.id, WF, "public_notice_working_days", "3")
    assert _row(world.branch, "public_notice_working_days").value == 3
    assert _row(world.other_branch, "public_notice_working_days").value == 7
    settings.unset(branch_admin, world.branch.id, WF, "public_notice_working_days")
    assert _row(world.branch, "public_notice_working_days").value == 7
    events = [
        e.payload
        for e in db.session.execute(
            db.select(AuditEvent).where(AuditEvent.action.in_(["setting_changed", "setting_unset"]))
        ).scalars()
    ]
    payloads = [p if isinstance(p, dict) else json.loads(p) for p in events]
    assert [(p["own_after"], p["effective_after"]) for p in payloads] == [(7, 7), (3, 3), (None, 7)]
    assert audit.verify_database().ok


@pytest.mark.parametrize(
    "workflow, name, raw, problem",
    [
        (WF, "public_notice_working_days", "31", "must be at most 30"),
        (WF, "public_notice_working_days", "-1", "must be at least 0"),
        (WF, "public_notice_working_days", "five", "must be a whole number"),
        ("activity_funding", "committee_threshold", "lots", "must be a number"),
        ("life_meeting", "superior_reviews_materials", "maybe", "must be yes or no"),
        ("life_meeting", "min_attendance", "3/2", "must be at most 1"),
        ("life_meeting", "talks_rule", "everyone", "must be one of principal_with_each"),
        (WF, "thought_report_months", "", "give a value"),
        # The supervision notice's time limits (unbounded before: -5 would have made every
        # notice overdue at once, escalating up the tree).
        ("supervision_notice", "ack_days", "-5", "must be at least 1"),
        ("supervision_notice", "ack_days", "0", "must be at least 1"),
        ("supervision_notice", "review_days", "1000000", "must be at most 30"),
        ("supervision_notice", "escalation_days", "61", "must be at most 60"),
    ],
)
def test_a_value_is_checked_against_its_type_and_bounds(world, workflow, name, raw, problem):
    before = audit.head()
    with pytest.raises(ValidationFailed) as refused:
        settings.set_value(world["admin"], world.committee.id, workflow, name, raw)
    assert problem in refused.value.field_errors["value"]
    assert audit.head() == before


def test_who_may_change_what(world):
    branch_admin = make_user("branch_admin", [(world.branch, "admin")])
    with pytest.raises(NotAllowed):
        settings.set_value(branch_admin, world.committee.id, WF, "thought_report_months", "6")
    with pytest.raises(NotAllowed):
        settings.set_value(world["secretary"], world.branch.id, WF, "thought_report_months", "6")
    with pytest.raises(NotFound):
        settings.set_value(world["admin"], world.branch.id, WF, "no_such_setting", "1")
    with pytest.raises(NotFound):
        settings.set_value(world["admin"], world.branch.id, "no_such_workflow", "x", "1")
    with pytest.raises(ValidationFailed, match="does not set"):
        settings.unset(world["admin"], world.branch.id, WF, "thought_report_months")


def test_steps_after_a_change_use_it_and_running_cases_keep_their_dates(world, clock):
    values = {"subject": "食堂", "text": "请改善夜班伙食", "category": "welfare", "contact": "张三"}
    first = runtime.start("opinion", world.branch, world["member"], values)
    settings.set_value(world["admin"], world.committee.id, "opinion", "ack_days", "10")
    second = runtime.start("opinion", world.branch, world["member"], values)
    db.session.expire_all()
    due = {
        c.id: calendar.last_day(db.session.get(ProcessInstance, c.id).due_at)
        for c in (first, second)
    }
    assert due[first.id].isoformat() == "2026-03-05"  # 3 working days, fixed at receipt
    assert due[second.id].isoformat() == "2026-03-16"  # 10 working days


def test_the_settings_page(world, auth, client):
    settings.set_value(world["admin"], world.committee.id, WF, "public_notice_working_days", "7")
    auth.login("admin")
    page = client.get(f"/admin/settings?org={world.branch.id}&lang=en")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "inherited from Coal mine committee" in html and "thought_report_months" in html
    token = csrf_token(html)
    bad = client.post(
        f"/admin/settings?org={world.branch.id}&lang=en",
        data={"csrf_token": token, "workflow": WF, "name": "thought_report_months", "value": "13"},
    )
    assert bad.status_code == 422 and "must be at most 12" in bad.get_data(as_text=True)
    good = client.post(
        f"/admin/settings?org={world.branch.id}",
        data={"csrf_token": token, "workflow": WF, "name": "thought_report_months", "value": "6"},
    )
    assert good.status_code == 302
    assert _row(world.branch, "thought_report_months").value == 6
    assert client.get("/admin/settings?org=999999").status_code == 404
    auth.logout()
    auth.login("committee_a")  # reads, without the forms
    html = client.get(f"/admin/settings?org={world.branch.id}&lang=en").get_data(as_text=True)
    assert "set here" in html and "Use the inherited value" not in html
    token = csrf_token(html)
    refused = client.post(
        f"/admin/settings?org={world.branch.id}",
        data={"csrf_token": token, "workflow": WF, "name": "thought_report_months", "value": "4"},
    )
    assert refused.status_code == 403
    auth.logout()
    auth.login("member")
    assert client.get("/admin/settings").status_code == 403


def _shown_text(html: str) -> str:
    """What a reader sees of a page: its text without tags and their attributes (an
    option's value, a hidden field's name)."""
    return re.sub(r"<[^>]*>", " ", html)


@pytest.mark.parametrize(
    ("lang", "value", "default", "other"),
    [
        ("zh", "参会人员两两之间相互谈话", "主要负责人与每位参会人员谈话", "对照检查材料"),
        ("en", "Every two participants talk with each other", "The principal leader", "inspection"),
    ],
)
def test_the_settings_page_shows_labels_not_codes(world, auth, client, lang, value, default, other):
    """The choices of the life meeting's talks rule read principal_with_each / every_pair,
    as did its value, its default and its label; every choice of every setting now reads as
    its label in the page's language (only an option's value keeps the code)."""
    settings.set_value(
        world["admin"], world.committee.id, "life_meeting", "talks_rule", "every_pair"
    )
    auth.login("admin")
    html = client.get(f"/admin/settings?org={world.branch.id}&lang={lang}").get_data(as_text=True)
    shown = _shown_text(html)
    codes = {
        c.value
        for d in registry().current.values()
        for spec in d.settings.values()
        for c in spec.choices
    }
    assert {"principal_with_each", "every_pair"} <= codes
    assert [c for c in codes if re.search(rf"\b{c}\b", shown)] == []
    row = re.search(
        r'<tr class="setting-row">(?:(?!</tr>).)*<code>talks_rule</code>(?:(?!</tr>).)*</tr>',
        html,
        re.S,
    )
    assert f"<strong>{value}</strong>" in row[0] and default in _shown_text(row[0])
    assert f'<option value="every_pair" selected>{value}</option>' in row[0]
    assert other in shown  # the rest of the page is in the same language
    assert not {"True", "False", "true", "false"} & set(shown.split())  # yes / no, 是 / 否


def test_settings_from_the_command_line(world, runner):
    result = runner.invoke(
        args=["pbflow", "settings", "set", "b1", f"{WF}.thought_report_months", "4"]
    )
    assert result.exit_code == 0, result.output
    listed = runner.invoke(args=["pbflow", "settings", "list", "--org", "b1"])
    assert f"{WF}.thought_report_months = 4  (set here; default 3)" in listed.output
    assert f"{WF}.public_notice_working_days = 5  (default; default 5)" in listed.output
    bad = runner.invoke(
        args=["pbflow", "settings", "set", "b1", f"{WF}.thought_report_months", "x"]
    )
    assert bad.exit_code == 1 and "whole number" in bad.output
    bad = runner.invoke(args=["pbflow", "settings", "set", "b1", "thought_report_months", "4"])
    assert bad.exit_code == 2
    result = runner.invoke(
        args=["pbflow", "settings", "unset", "b1", f"{WF}.thought_report_months"]
    )
    assert result.exit_code == 0 and "= 3 (inherited)" in result.output
    assert audit_actions()[-2:] == ["setting_changed", "setting_unset"]
