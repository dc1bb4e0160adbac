"""The case pages through the real routes, as the people who use them: who may see a case,
what the page shows, each form, and every way a form is refused."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from pbflow.engine import runtime
from pbflow.extensions import db
from pbflow.models import Comment, Notification, ProcessInstance
from pbflow.services import notifications
from tests.conftest import audit_actions, csrf_token, make_user
from tests.pages_helpers import PAGES_WORKFLOWS, funding_case, page_token, text, version_of, walk
from tests.scale.recording import recorded

SEES_BRANCH_CASES = [
    "secretary",
    "deputy",
    "branch_member",
    "gb_secretary",
    "committee_a",
    "auditor",
    "admin",
]


@pytest.mark.parametrize("username", SEES_BRANCH_CASES)
def test_case_page_for_each_role_that_may_see_it(world, auth, client, username):
    case = funding_case(world)
    walk(case.id, world, ("submit", "branch_member"))
    auth.login(username)
    page = client.get(f"/cases/{case.id}?lang=en")
    html = text(page)
    assert page.status_code == 200
    assert "七一主题党日活动" in html
    # Fields with the workflow's labels in the page language; internal keys hidden.
    assert "Amount requested (yuan)" in html and "1200.5" in html
    # (the page's random script nonce left out: it may spell anything, '_by' among it)
    assert "_by" not in re.sub(r'nonce="[^"]*"', "", html)
    # The diagram, with the current state marked active, and the history.
    diagram = re.search(r'<pre class="mermaid"[^>]*>(.*?)</pre>', html, re.S).group(1)
    assert "Class secretary_review s_active" in diagram
    assert "Submit for review" in diagram  # steps shown by label, not trigger name
    assert "Started the case" in html and "Draft → Branch secretary review" in html


@pytest.mark.parametrize("username", ["other_secretary", "member"])
def test_case_page_refused_to_whoever_may_not_see_it(world, auth, client, username):
    case = funding_case(world)
    auth.login(username)
    assert client.get(f"/cases/{case.id}").status_code == 404
    assert client.get(f"/api/cases/{case.id}").status_code == 404
    assert client.get("/cases/99999").status_code == 404


def test_case_page_needs_a_login(world, client):
    case = funding_case(world)
    page = client.get(f"/cases/{case.id}")
    assert page.status_code == 302 and "/login" in page.headers["Location"]


def test_actions_shown_with_forms_and_blocked_ones_greyed_with_reason(world, auth, client):
    case = funding_case(world, by="secretary")
    walk(case.id, world, ("submit", "secretary"))
    auth.login("secretary")
    html = text(client.get(f"/cases/{case.id}?lang=en"))
    # The submitter may not approve their own request: shown greyed, with the reason.
    blocked = re.search(r'<div class="action blocked".*?</div>', html, re.S).group(0)
    assert "Agree and send to the superior" in blocked and "disabled" in blocked
    assert "someone else must decide" in blocked
    # Return for changes is open to them, with its required reason field and the version.
    assert f'action="/cases/{case.id}/steps/return_for_changes"' in html
    assert version_of(html) == 2


def test_taking_a_step_through_the_page(world, auth, client):
    case = funding_case(world)
    walk(case.id, world, ("submit", "branch_member"))
    auth.login("secretary")
    html = text(client.get(f"/cases/{case.id}"))
    done = client.post(
        f"/cases/{case.id}/steps/secretary_approve",
        data={"csrf_token": csrf_token(html), "version": "2", "comment": "同意"},
    )
    assert done.status_code == 302
    assert runtime.load_case(case.id).state == "superior_review"
    page = text(client.get(f"/cases/{case.id}?lang=en"))
    assert "同意" in page  # the comment is on the timeline


def test_refused_step_reshows_what_was_typed_with_the_reason(world, auth, client, clock):
    case = funding_case(world)
    walk(
        case.id,
        world,
        ("submit", "branch_member"),
        ("secretary_approve", "secretary"),
        ("superior_approve", "gb_secretary"),
    )
    clock.set("2026-03-21T02:00:00")
    auth.login("branch_member")
    html = text(client.get(f"/cases/{case.id}"))
    refused = client.post(
        f"/cases/{case.id}/steps/report_spending?lang=en",
        data={
            "csrf_token": csrf_token(html),
            "version": str(version_of(html)),
            "f.spent": "about a thousand",
            "f.spending_report": "我们的开支说明，不能丢",
            "comment": "请审核",
        },
    )
    body = text(refused)
    assert refused.status_code == 422
    assert "must be a number" in body
    assert "about a thousand" in body and "我们的开支说明，不能丢" in body and "请审核" in body
    assert runtime.load_case(case.id).state == "approved"


def test_rule_not_met_is_refused_with_its_reason(world, auth, client):
    case = funding_case(world, amount="8000")
    walk(case.id, world, ("submit", "branch_member"), ("secretary_approve", "secretary"))
    auth.login("gb_secretary")
    html = text(client.get(f"/cases/{case.id}"))
    refused = client.post(
        f"/cases/{case.id}/steps/superior_approve?lang=en",
        data={"csrf_token": csrf_token(html), "version": "3", "comment": "好"},
    )
    assert refused.status_code == 422
    assert "the party committee must also approve" in text(refused)
    assert "好" in text(refused)


def test_wrong_role_and_wrong_state_are_refused(world, auth, client):
    case = funding_case(world)
    walk(case.id, world, ("submit", "branch_member"))
    auth.login("gb_secretary")  # may read the branch's cases, may not take the branch's step
    html = text(client.get(f"/cases/{case.id}"))
    token = csrf_token(html)
    wrong_role = client.post(
        f"/cases/{case.id}/steps/secretary_approve?lang=en",
        data={"csrf_token": token, "version": "2"},
    )
    assert wrong_role.status_code == 403
    assert "You may not take this step" in text(wrong_role)
    wrong_state = client.post(
        f"/cases/{case.id}/steps/accept_report?lang=en",
        data={"csrf_token": token, "version": "2"},
    )
    assert wrong_state.status_code == 409
    assert "is not possible while the case is at" in text(wrong_state)
    assert runtime.load_case(case.id).state == "secretary_review"


def test_another_branch_may_not_post_to_a_case(world, auth, client):
    case = funding_case(world)
    walk(case.id, world, ("submit", "branch_member"))
    auth.login("other_secretary")
    token = page_token(client)
    post = client.post(
        f"/cases/{case.id}/steps/secretary_approve", data={"csrf_token": token, "version": "2"}
    )
    assert post.status_code == 404
    assert runtime.load_case(case.id).state == "secretary_review"


def test_stale_form_says_what_changed_meanwhile(world, auth, client):
    case = funding_case(world)
    walk(case.id, world, ("submit", "branch_member"))
    auth.login("secretary")
    html = text(client.get(f"/cases/{case.id}?lang=en"))
    assert version_of(html) == 2
    # Meanwhile the deputy returns the request.
    runtime.fire(case.id, "return_for_changes", world["deputy"], comment="预算太粗")
    stale = client.post(
        f"/cases/{case.id}/steps/secretary_approve?lang=en",
        data={"csrf_token": csrf_token(html), "version": "2", "comment": "我的审核意见"},
    )
    body = text(stale)
    assert stale.status_code == 409
    assert "This case changed meanwhile" in body
    section = re.search(r'<section class="card stale".*?</section>', body, re.S).group(0)
    assert "Deputy" in section and "Return for changes" in section and "预算太粗" in section
    assert "我的审核意见" in section  # what I typed is not lost
    assert "Started the case" not in section  # only what happened since my version
    assert runtime.load_case(case.id).state == "draft"


def test_csrf_token_is_required(world, auth, client):
    case = funding_case(world)
    walk(case.id, world, ("submit", "branch_member"))
    auth.login("secretary")
    for url, data in [
        (f"/cases/{case.id}/steps/secretary_approve", {"version": "2"}),
        (f"/cases/{case.id}/comments", {"body": "hello"}),
    ]:
        assert client.post(url, data=data).status_code == 400
    assert runtime.load_case(case.id).state == "secretary_review"
    assert db.session.execute(select(Comment)).first() is None


def test_comment_is_added_audited_and_shown(world, auth, client):
    case = funding_case(world)
    auth.login("gb_secretary")
    token = page_token(client, f"/cases/{case.id}")
    empty = client.post(f"/cases/{case.id}/comments?lang=en", data={"csrf_token": token})
    assert empty.status_code == 422 and "Please write something first." in text(empty)
    added = client.post(
        f"/cases/{case.id}/comments", data={"csrf_token": token, "body": "请补充预算依据"}
    )
    assert added.status_code == 302
    assert "comment_added" in audit_actions(case.id)
    page = text(client.get(f"/cases/{case.id}"))
    assert page.count("请补充预算依据") >= 2  # in the comments and on the timeline


def test_ballot_and_who_has_not_voted(world, auth, client):
    case = funding_case(world, amount="8000")
    walk(
        case.id,
        world,
        ("submit", "branch_member"),
        ("secretary_approve", "secretary"),
        ("forward_to_committee", "gb_secretary"),
    )
    auth.login("committee_a")
    html = text(client.get(f"/cases/{case.id}?lang=en"))
    vote = re.search(r'<section class="card vote".*?</section>', html, re.S).group(0)
    assert "Not voted yet (3)" in vote and "Committee B" in vote
    bad = client.post(
        f"/cases/{case.id}/ballot?lang=en", data={"csrf_token": csrf_token(html), "choice": "maybe"}
    )
    assert bad.status_code == 422 and "Choose for, against or abstain." in text(bad)
    cast = client.post(
        f"/cases/{case.id}/ballot", data={"csrf_token": csrf_token(html), "choice": "for"}
    )
    assert cast.status_code == 302
    html = text(client.get(f"/cases/{case.id}?lang=en"))
    vote = re.search(r'<section class="card vote".*?</section>', html, re.S).group(0)
    assert "Voted (1)" in vote and "Committee A" in vote and 'name="choice"' not in vote
    again = client.post(
        f"/cases/{case.id}/ballot?lang=en", data={"csrf_token": csrf_token(html), "choice": "for"}
    )
    assert again.status_code == 409 and "You have already voted on this." in text(again)


def test_meeting_resolution_form_refuses_bad_counts_and_records_good_ones(world, auth, client):
    case = funding_case(world, amount="8000")
    walk(
        case.id,
        world,
        ("submit", "branch_member"),
        ("secretary_approve", "secretary"),
        ("forward_to_committee", "gb_secretary"),
    )
    auth.login("committee_b")
    html = text(client.get(f"/cases/{case.id}?lang=en"))
    assert "3 voting members should attend." in html
    form = {
        "csrf_token": csrf_token(html),
        "version": str(version_of(html)),
        "meeting_date": "2026-03-01",
        "attended": "5",
        "votes_for": "2",
        "votes_against": "0",
        "votes_abstain": "0",
    }
    refused = client.post(f"/cases/{case.id}/resolution?lang=en", data=form)
    assert refused.status_code == 422
    assert "cannot exceed the 3 who should attend" in text(refused)
    assert 'name="meeting_date" value="2026-03-01"' in text(refused)
    recorded = client.post(f"/cases/{case.id}/resolution", data={**form, "attended": "3"})
    assert recorded.status_code == 302
    assert runtime.load_case(case.id).state == "approved"


def test_member_sees_only_their_own_cases(world, auth, client):
    mine = runtime.start("activity_funding", world.branch, world["branch_member"], FUNDING_ALT)
    other = funding_case(world, by="secretary", purpose="书记的申请")
    auth.login("branch_member")  # branch_committee: a reading role, sees the branch
    assert "书记的申请" in text(client.get("/cases"))
    auth.logout()
    auth.login("member")
    listing = text(client.get("/cases"))
    assert "书记的申请" not in listing and FUNDING_ALT["purpose"] not in listing
    assert client.get(f"/cases/{mine.id}").status_code == 404
    assert client.get(f"/cases/{other.id}").status_code == 404


FUNDING_ALT = {
    "purpose": "支部委员的申请",
    "activity_date": "2026-03-20",
    "amount": "300",
    "budget": "资料",
}


@pytest.mark.workflows_dir(PAGES_WORKFLOWS)
def test_member_list_shows_the_cases_about_them(world, auth, client):
    own = runtime.start("pages_request", world.branch, world["member"], {"topic": "我的申请"})
    runtime.start("pages_request", world.branch, world["secretary"], {"topic": "书记自己的"})
    auth.login("member")
    listing = text(client.get("/cases"))
    assert "我的申请" in listing and "书记自己的" not in listing
    assert client.get(f"/cases/{own.id}").status_code == 200


def test_case_list_filters_counts_and_pages(world, auth, client, clock):
    ids = [funding_case(world, purpose=f"活动{i:02d}").id for i in range(30)]
    for case_id in ids[:4]:
        walk(case_id, world, ("submit", "branch_member"))
    funding_case(world, by="other_secretary", org=world.other_branch, purpose="机电队活动")
    auth.login("secretary")
    first = text(client.get("/cases?lang=en"))
    assert "30 cases" in first and "Page 1 of 2" in first
    assert "机电队活动" not in first  # another branch
    assert re.search(r"Draft <b>26</b>", first) and re.search(
        r"Branch secretary review <b>4</b>", first
    )
    second = text(client.get("/cases?page=2&lang=en"))
    assert "活动00" in second and "活动29" not in second
    only_review = text(client.get("/cases?workflow=activity_funding&state=secretary_review"))
    assert only_review.count("<tr class") + only_review.count("<tr>") - 1 == 4
    assert "活动07" in text(client.get("/cases?q=活动07")) and "活动08" not in text(
        client.get("/cases?q=活动07")
    )
    assert "活动07" in text(client.get(f"/cases?q=%23{ids[7]}"))
    # Overdue: secretary review is due within 5 working days.
    assert "0 cases" in text(client.get("/cases?overdue=1&lang=en"))
    clock.advance(days=10)
    assert "4 cases" in text(client.get("/cases?overdue=1&lang=en"))
    # Date range over the start date (local dates), and organization.
    assert "30 cases" in text(client.get("/cases?date_from=2026-03-02&date_to=2026-03-02&lang=en"))
    assert "0 cases" in text(client.get("/cases?date_from=2026-03-03&lang=en"))
    assert "0 cases" in text(client.get(f"/cases?org={world.other_branch.id}&lang=en"))
    bad = client.get("/cases?date_from=yesterday&lang=en")
    assert bad.status_code == 200 and "must be a date like 2026-03-01" in text(bad)


def _row(page: str, title: str) -> str:
    return next(r for r in re.findall(r"<tr.*?</tr>", page, re.S) if title in r)


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("en", ("Overdue", "Branch secretary review", "Withdrawn", "Draft", "State")),
        ("zh", ("逾期", "支部书记审核", "已撤回", "草稿", "状态")),
    ],
)
def test_case_list_rows_mark_their_state_and_what_is_overdue(
    world, auth, client, clock, lang, words
):
    """Each row's state as a badge (closed cases' apart), the overdue mark on the late ones,
    and the column's name on each cell for a phone, in the page's language."""
    overdue, review, withdrawn, draft, state = words
    late = funding_case(world, purpose="迟办活动").id
    walk(late, world, ("submit", "branch_member"))
    runtime.fire(
        funding_case(world, purpose="撤回活动").id,
        "withdraw",
        world["branch_member"],
        comment="不办了",
    )
    funding_case(world, purpose="草稿活动")
    clock.advance(days=10)  # past the secretary review's five working days
    auth.login("secretary")
    page = text(client.get(f"/cases?status=all&lang={lang}"))
    row = _row(page, "迟办活动")
    assert f'<span class="badge badge-state">{review}</span>' in row
    assert f'<span class="badge badge-overdue">{overdue}</span>' in row and "is-overdue" in row
    row = _row(page, "撤回活动")
    assert f'<span class="badge badge-closed">{withdrawn}</span>' in row
    assert "badge-overdue" not in row
    row = _row(page, "草稿活动")
    assert f'<span class="badge badge-state">{draft}</span>' in row and "badge-overdue" not in row
    assert f'<td data-label="{state}">' in row


def test_committee_sees_every_branch_in_the_list(world, auth, client):
    funding_case(world, purpose="一支部")
    funding_case(world, by="other_secretary", org=world.other_branch, purpose="机电队")
    auth.login("committee_a")
    listing = text(client.get("/cases"))
    assert "一支部" in listing and "机电队" in listing
    other = text(client.get(f"/cases?org={world.other_branch.id}"))
    assert "机电队" in other and "一支部" not in other


def test_start_a_case_from_the_pages(world, auth, client):
    auth.login("secretary")
    pick = text(client.get("/cases/new?lang=en"))
    assert "Activity funding request" in pick and "Mining team 1 branch" in pick
    url = f"/cases/new?workflow=activity_funding&org={world.branch.id}&lang=en"
    form_page = text(client.get(url))
    assert 'name="f.purpose"' in form_page and 'name="f.budget"' in form_page
    data = {
        "csrf_token": csrf_token(form_page),
        "f.purpose": "读书会",
        "f.activity_date": "2026-04-01",
        "f.amount": "lots",
        "f.budget": "图书若干",
    }
    refused = client.post(url, data=data)
    assert refused.status_code == 422
    assert "must be a number" in text(refused) and "读书会" in text(refused)
    assert "图书若干" in text(refused)
    started = client.post(url, data={**data, "f.amount": "800"})
    assert started.status_code == 302
    case = db.session.execute(select(ProcessInstance)).scalar_one()
    assert started.headers["Location"].endswith(f"/cases/{case.id}")
    assert case.title == "读书会" and case.submitter_user_id == world["secretary"].id


def test_start_refused_where_the_user_may_not_start(world, auth, client):
    auth.login("member")
    assert "Activity funding request" not in text(client.get("/cases/new?lang=en"))
    token = page_token(client)
    refused = client.post(
        f"/cases/new?workflow=activity_funding&org={world.branch.id}",
        data={"csrf_token": token, "f.purpose": "x"},
    )
    assert refused.status_code == 403
    auth.logout()
    auth.login("other_secretary")  # may start, but not at another branch
    token = page_token(client)
    refused = client.post(
        f"/cases/new?workflow=activity_funding&org={world.branch.id}",
        data={"csrf_token": token, "f.purpose": "x"},
    )
    assert refused.status_code == 403
    assert db.session.execute(select(ProcessInstance)).first() is None


@pytest.mark.workflows_dir(PAGES_WORKFLOWS)
def test_generic_workflow_every_field_type_and_actor_rule(world, auth, client, clock):
    """The same page serves any workflow file: every field type is shown and filled in."""
    auth.login("member")
    url = f"/cases/new?workflow=pages_request&org={world.branch.id}&lang=en"
    html = text(client.get(url))
    for name in ("topic", "details", "since", "head_count", "amount", "kind", "tags", "letter"):
        assert f'name="f.{name}"' in html
    started = client.post(
        url,
        data={
            "csrf_token": csrf_token(html),
            "f.topic": "通用事项",
            "f.details": "多行\n说明",
            "f.since": "2026-01-15",
            "f.head_count": "3",
            "f.amount": "12.50",
            "f.urgent": "1",
            "f.kind": "b",
            "f.tags": ["x", "z"],
        },
    )
    assert started.status_code == 302, text(started)
    case = db.session.execute(select(ProcessInstance)).scalar_one()
    assert case.subject_person_id is not None
    page = text(client.get(f"/cases/{case.id}?lang=en"))
    assert "Kind B" in page and "x, z" in page and "Yes" in page and "12.5" in page
    auth.logout()

    # The secretary accepts, naming a witness (person), a handler (user) and helpers (persons).
    auth.login("secretary")
    html = text(client.get(f"/cases/{case.id}?lang=en"))
    witness = world["deputy"].person.id
    helpers = [world["member"].person.id, world["branch_member"].person.id]
    assert f'<option value="{witness}">Deputy</option>' in html
    accepted = client.post(
        f"/cases/{case.id}/steps/accept",
        data={
            "csrf_token": csrf_token(html),
            "version": "1",
            "f.witness": str(witness),
            "f.handler": str(world["branch_member"].id),
            "f.helpers": [str(h) for h in helpers],
        },
    )
    assert accepted.status_code == 302, text(accepted)
    page = text(client.get(f"/cases/{case.id}?lang=en"))
    assert "Witness" in page and "Deputy" in page and "Member, Branch Member" in page
    auth.logout()

    # The witness (a person field) acts; the handler (a user field) sees a blocked step.
    auth.login("deputy")
    html = text(client.get(f"/cases/{case.id}?lang=en"))
    assert (
        client.post(
            f"/cases/{case.id}/steps/confirm", data={"csrf_token": csrf_token(html), "version": "2"}
        ).status_code
        == 302
    )
    auth.logout()
    auth.login("branch_member")
    html = text(client.get(f"/cases/{case.id}?lang=en"))
    blocked = re.search(r'<div class="action blocked".*?</div>', html, re.S).group(0)
    assert "Close after a year" in blocked and "possible from 2027-01-15" in blocked


def test_child_cases_are_listed_and_the_parent_linked(world, auth, client):
    parent = funding_case(world, purpose="父案件")
    child = runtime.start(
        "activity_funding",
        world.branch,
        world["secretary"],
        {**FUNDING_ALT, "purpose": "子案件"},
        parent_id=parent.id,
    )
    auth.login("secretary")
    page = text(client.get(f"/cases/{parent.id}?lang=en"))
    related = re.search(r'<section class="card" id="related">.*?</section>', page, re.S).group(0)
    assert "子案件" in related and "Draft" in related
    child_page = text(client.get(f"/cases/{child.id}?lang=en"))
    assert f'href="/cases/{parent.id}"' in child_page and "父案件" in child_page


def test_notifications_are_marked_read_when_opened(world, auth, client):
    case = funding_case(world)
    walk(case.id, world, ("submit", "branch_member"))
    runtime.fire(case.id, "return_for_changes", world["secretary"], comment="请修改")
    note = db.session.execute(
        select(Notification).where(Notification.user_id == world["branch_member"].id)
    ).scalar_one()
    auth.login("branch_member")
    inbox = text(client.get("/inbox?lang=en"))
    # Stored as what happened, shown in the reader's language.
    assert note.message is None and note.kind == "result"
    assert notifications.text(note, "en") in inbox and "unread" in inbox
    opened = client.get(f"/notifications/{note.id}")
    assert opened.status_code == 302 and opened.headers["Location"].endswith(f"/cases/{case.id}")
    db.session.refresh(note)
    assert note.read_at is not None
    auth.logout()
    auth.login("secretary")
    assert client.get(f"/notifications/{note.id}").status_code == 404


def test_opening_the_case_reads_its_notifications(world, auth, client):
    case = funding_case(world)
    walk(case.id, world, ("submit", "branch_member"))
    runtime.fire(case.id, "return_for_changes", world["secretary"], comment="请修改")
    auth.login("branch_member")
    assert "1</span>" in text(client.get("/cases"))
    client.get(f"/cases/{case.id}")
    unread = db.session.execute(
        select(Notification).where(Notification.read_at.is_(None))
    ).scalars()
    assert list(unread) == []


def test_opening_a_case_with_nothing_unread_writes_nothing(world, auth, client):
    """Most openings find no notification to mark: no UPDATE then (on SQLite it took the
    write lock from every other request, and ending its transaction made the page load the
    case and the reader again). With one unread, it is marked."""
    case = funding_case(world)
    walk(case.id, world, ("submit", "branch_member"))
    runtime.fire(case.id, "return_for_changes", world["secretary"], comment="请修改")
    auth.login("branch_member")

    def opened() -> list[str]:
        _page, seen = recorded(lambda: client.get(f"/cases/{case.id}"))
        assert _page.status_code == 200
        return [statement for statement, _params in seen]

    first = opened()
    assert any(s.startswith("UPDATE notification") for s in first)
    again = opened()
    assert not any(s.lstrip().upper().startswith(("UPDATE", "INSERT", "DELETE")) for s in again)
    assert (
        db.session.scalar(select(func.count(Notification.id)).where(Notification.read_at.is_(None)))
        == 0
    )


def test_everyday_pages_render_on_a_phone_layout(world, auth, client):
    """The pages declare a device-width viewport and the list has labels for narrow screens."""
    funding_case(world)
    auth.login("secretary")
    for url in ("/", "/inbox", "/cases", "/cases/new", "/cases/1"):
        html = text(client.get(url))
        assert 'name="viewport" content="width=device-width, initial-scale=1"' in html, url
    assert 'data-label="Title"' in text(client.get("/cases?lang=en"))


def test_user_without_any_role_sees_empty_pages(world, auth, client):
    make_user("newcomer")  # an account without a role or a member profile
    funding_case(world)
    auth.login("newcomer")
    assert "Nothing waits on you now." in text(client.get("/?lang=en"))
    assert "0 cases" in text(client.get("/cases?lang=en"))
    assert "There is no procedure you may start." in text(client.get("/cases/new?lang=en"))
