"""The main journeys in a real browser, at desktop and phone widths (issue 15): a funding
request to closure with a committee vote, an anonymous opinion to its rating, a development
step, recording a meeting, audit verify and search.

Every page is checked as it comes: no console error, no request leaving 127.0.0.1, no
horizontal overflow. Screenshots land in tests/ui/screenshots/ (git-ignored; CI keeps them
as an artefact).
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from pbflow.extensions import db
from pbflow.models import Organization, ProcessInstance, User, WorkflowDefinition

pytestmark = pytest.mark.browser

COMMITTEE = ("wang.shuji", "zhao.zuzhi", "li.weiyuan", "sun.weiyuan")


def _org_id(site, code: str) -> int:
    return site.query(
        lambda: db.session.execute(
            select(Organization.id).where(Organization.code == code)
        ).scalar_one()
    )


def _user_id(site, username: str) -> int:
    return site.query(
        lambda: db.session.execute(select(User.id).where(User.username == username)).scalar_one()
    )


def _case_id(w) -> int:
    match = re.search(r"/cases/(\d+)", w.page.url)
    assert match, w.page.url
    return int(match.group(1))


def _step(w, case_id: int, trigger: str, fields: dict | None = None, comment: str | None = None):
    """Take a step on the case page through its form; the flash says what happened."""
    page = w.page
    w.go(f"/cases/{case_id}?lang=en")
    form = page.locator(f"form#step-{trigger}")
    details = page.locator(f"details.action:has(form#step-{trigger})")
    if not details.evaluate("d => d.open"):
        details.locator("summary").click()
    for name, value in (fields or {}).items():
        field = form.locator(f"[name='f.{name}']")
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    if comment is not None:
        form.locator("textarea[name=comment]").fill(comment)
    form.locator("button[type=submit]").click()
    page.wait_for_load_state("load")
    flash = page.locator(".flash-success")
    assert flash.count() == 1, page.locator("main").inner_text()[:1500]
    assert flash.first.text_content().startswith("Done:")
    w.fits()


def test_funding_request_to_closure_with_a_committee_vote(watched):
    w, page = watched, watched.page
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    w.login("yang.zuzhi")
    w.go(f"/cases/new?workflow=activity_funding&org={_org_id(w.site, 'b1')}&lang=en")
    page.fill("[name='f.purpose']", f"Visit to the mine museum ({w.width})")
    # Switching the language keeps the page, its query and what was typed.
    for lang in ("zh", "en"):
        page.click("a.lang-switch")
        page.wait_for_url(
            re.compile(rf".*/cases/new\?workflow=activity_funding&org=\d+&lang={lang}$")
        )
        assert page.input_value("[name='f.purpose']") == f"Visit to the mine museum ({w.width})"
    page.fill("[name='f.activity_date']", yesterday)
    page.fill("[name='f.amount']", "8000")
    page.fill("[name='f.budget']", "Bus 5000; tickets 3000")
    page.click("#start-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/cases/\d+$"))
    case_id = _case_id(w)
    w.fits()
    _step(w, case_id, "submit")
    w.login("chen.shuji")
    _step(w, case_id, "secretary_approve")
    w.login("zhou.zongzhi")
    _step(w, case_id, "forward_to_committee")
    for member in COMMITTEE:
        w.login(member)
        w.go(f"/cases/{case_id}?lang=en")
        if not page.locator("form.ballot").count():
            break  # decided
        page.check("form.ballot input[value=for]")
        page.click("form.ballot button[type=submit]")
        page.wait_for_load_state("load")
        w.fits()
    w.shot("funding-after-vote")
    assert "Approved, spending report due" in page.locator(".case-head").text_content()
    w.login("yang.zuzhi")
    _step(
        w,
        case_id,
        "report_spending",
        {"spent": "7800", "spending_report": "Bus 4900; tickets 2900"},
    )
    w.login("chen.shuji")
    _step(w, case_id, "accept_report")
    assert "Closed" in page.locator(".case-head").text_content()
    w.shot("funding-closed")


def test_anonymous_opinion_to_its_rating(watched):
    w, page = watched, watched.page
    w.go("/opinions/b1?lang=en")
    page.fill("[name='f.subject']", "Canteen")
    page.fill("[name='f.text']", f"The canteen is too dear ({w.width}).")
    page.select_option("[name='f.category']", "welfare")
    # The anonymous check box is a 44 px tap target with its label.
    assert page.locator("label[for='op-anonymous']").bounding_box()["height"] >= 44
    w.shot("opinion-form")
    page.click("form.opinion-form button[type=submit]")
    page.wait_for_selector("p.code")
    code = page.locator("p.code").text_content().strip()
    w.fits()
    w.shot("opinion-slip")
    case_id = w.site.query(
        lambda: (
            db.session.execute(
                select(ProcessInstance.id)
                .join(WorkflowDefinition, WorkflowDefinition.id == ProcessInstance.definition_id)
                .where(WorkflowDefinition.workflow_id == "opinion")
                .order_by(ProcessInstance.id.desc())
            )
            .scalars()
            .first()
        )
    )
    w.login("chen.shuji")
    _step(w, case_id, "accept")
    _step(w, case_id, "assign", {"handler": str(_user_id(w.site, "liu.fushuji"))})
    w.login("liu.fushuji")
    _step(w, case_id, "answer", {"answer": "The canteen adds a cheaper set meal from Monday."})
    w.login("chen.shuji")
    _step(w, case_id, "approve_answer")
    _step(w, case_id, "publish")
    w.shot("opinion-case")
    page.context.clear_cookies()
    w.go("/opinions/track?lang=en")
    page.fill("#code", code)
    page.click("main form button[type=submit]")
    page.wait_for_selector("#act-accept_answer")
    w.fits()
    page.locator("#act-accept_answer [name='f.rating']").fill("5")
    page.click("#act-accept_answer button[type=submit]")
    page.wait_for_load_state("load")
    w.fits()
    assert "5 of 5" in page.content()
    w.shot("opinion-rated")


def test_a_development_step_and_the_full_diagram(watched):
    w, page = watched, watched.page
    rows = w.site.query(
        lambda: db.session.execute(
            select(ProcessInstance.id, ProcessInstance.data)
            .join(WorkflowDefinition, WorkflowDefinition.id == ProcessInstance.definition_id)
            .where(
                WorkflowDefinition.workflow_id == "member_development",
                ProcessInstance.state == "applied",
            )
            .order_by(ProcessInstance.id)
        ).all()
    )
    case_id, data = rows[0]  # each width moves its own case on
    w.login("chen.shuji")
    _step(w, case_id, "record_talk", {"talk_date": data["application_date"]})
    current = page.locator(".pg-current .pg-label").first.text_content()
    assert current == "Applicant"
    assert page.locator(".pg-done").count() >= 1
    assert not [
        r
        for r in page.evaluate("performance.getEntriesByType('resource').map(e => e.name)")
        if r.endswith("mermaid.min.js")
    ]
    page.click("details.diagram-full summary")
    page.wait_for_selector('pre.mermaid[data-rendered="1"] svg', timeout=30000)
    assert page.locator("pre.mermaid svg g.s_active").count() == 1
    page.click("button[data-zoom=out]")
    w.fits()
    w.shot("development-diagram")


def test_recording_a_meeting(watched):
    w, page = watched, watched.page
    w.login("chen.shuji")
    w.go(f"/meetings/new?org={_org_id(w.site, 'b1')}&lang=en")
    page.select_option("#m-type", index=1)
    page.fill("#m-held", (date.today() - timedelta(days=1)).isoformat())
    page.fill("#m-topic", f"Study of the new rules ({w.width})")
    page.select_option("#m-chair", index=1)  # each meeting keeps its chair and recorder
    page.select_option("#m-recorder", index=2)
    # Everyone there: the first type offered is the branch general meeting, recorded only
    # with more than half of its voting members present (DOMAIN 3).
    for box in page.locator("input[name=present]").all():
        box.check()
    page.fill("#m-minutes", "Studied the rules; everybody spoke.")
    page.click("main form button[type=submit]")
    page.wait_for_load_state("load")
    w.fits()
    assert f"Study of the new rules ({w.width})" in page.content()
    w.shot("meeting-recorded")


def test_audit_verify_then_search(watched):
    w, page = watched, watched.page
    w.login("han.shenji")
    w.go("/audit/?lang=en")
    if w.width == "phone":  # the navigation folds behind the menu button
        assert not page.locator("#site-nav").is_visible()
        page.click(".menu-toggle")
        assert page.locator("#site-nav a[href='/audit/']").is_visible()
        assert page.get_attribute(".menu-toggle", "aria-expanded") == "true"
    page.click("text=Verify the chain")
    page.wait_for_selector(".verify-ok")
    w.fits()
    page.click("details.search-box summary")
    page.fill("[name=actor]", "chen.shuji")
    page.click("details.search-box button[type=submit]")
    page.wait_for_load_state("load")
    assert "/audit/?" in page.url
    w.fits()
    assert page.locator("table.events tbody tr").count() >= 1
    w.shot("audit-search")
