"""The inbox: what waits on me across all workflows, overdue first; my notifications; and a
bounded number of SQL statements whatever the number of cases."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import delete, event, select

from pbflow.engine import runtime, tasks, votes
from pbflow.extensions import db
from pbflow.models import CaseTask, Notification, ProcessInstance
from pbflow.services import inbox as inbox_service
from pbflow.services import notifications
from tests.pages_helpers import PAGES_WORKFLOWS, forget_kept_figures, funding_case, text, walk
from tests.scale.recording import recorded


def _items(html: str, section: str = "waiting") -> list[str]:
    """The cases listed in one section of the inbox: ``waiting`` (what waits on me) or
    ``possible`` (what I merely may do)."""
    found = re.search(rf'<section class="card" id="{section}">.*?</section>', html, re.S)
    return re.findall(r'<a class="title" href="/cases/(\d+)"', found.group(0)) if found else []


def test_secretary_sees_what_waits_on_the_branch_secretary(world, auth, client):
    waiting = funding_case(world, purpose="待审核")
    walk(waiting.id, world, ("submit", "branch_member"))
    funding_case(world, purpose="还是草稿")  # waits on its submitter, not the secretary
    auth.login("secretary")
    html = text(client.get("/inbox?lang=en"))
    assert _items(html) == [str(waiting.id)]
    assert "Agree and send to the superior" in html and "Mining team 1 branch" in html
    assert "due 2026-03-09" in html  # five working days, shown in local time
    assert _items(text(client.get("/?lang=en"))) == [str(waiting.id)]  # the start page


def test_requester_superior_and_strangers(world, auth, client):
    draft = funding_case(world, purpose="我的草稿")
    up = funding_case(world, purpose="报上级")
    walk(up.id, world, ("submit", "branch_member"), ("secretary_approve", "secretary"))
    auth.login("branch_member")
    assert _items(text(client.get("/inbox"))) == [str(draft.id)]
    auth.logout()
    auth.login("gb_secretary")
    assert _items(text(client.get("/inbox"))) == [str(up.id)]
    auth.logout()
    for stranger in ("other_secretary", "member", "auditor"):
        auth.login(stranger)
        assert _items(text(client.get("/inbox"))) == [], stranger
        auth.logout()


def test_overdue_first_with_due_dates(world, auth, client, clock):
    early = funding_case(world, purpose="早提交")
    walk(early.id, world, ("submit", "branch_member"))
    clock.advance(days=6)
    late = funding_case(world, purpose="晚提交")
    walk(late.id, world, ("submit", "branch_member"))
    clock.advance(days=2)  # the early one is past its five working days
    auth.login("secretary")
    html = text(client.get("/inbox?lang=en"))
    assert _items(html) == [str(early.id), str(late.id)]
    first = re.search(r'<li class="inbox-item is-overdue">.*?</li>', html, re.S).group(0)
    assert "早提交" in first and "Overdue" in first


def test_open_ballot_waits_until_cast(world, auth, client):
    case = funding_case(world, amount="8000")
    walk(
        case.id,
        world,
        ("submit", "branch_member"),
        ("secretary_approve", "secretary"),
        ("forward_to_committee", "gb_secretary"),
    )
    auth.login("committee_a")
    html = text(client.get("/inbox?lang=en"))
    assert _items(html) == [str(case.id)]
    assert "Cast your ballot" in html and "Record the meeting" in html
    votes.cast_ballot(case.id, world["committee_a"], "for")
    html = text(client.get("/inbox?lang=en"))
    assert "Cast your ballot" not in html
    assert _items(html) == [str(case.id)]  # still the recorder of a meeting vote
    auth.logout()
    auth.login("auditor")  # reads everything, votes on nothing
    assert _items(text(client.get("/inbox"))) == []


@pytest.mark.workflows_dir(PAGES_WORKFLOWS)
def test_user_and_person_fields_put_cases_in_the_inbox(world, auth, client):
    case = runtime.start("pages_request", world.branch, world["member"], {"topic": "见证"})
    runtime.fire(
        case.id,
        "accept",
        world["secretary"],
        {"witness": world["other_secretary"].person.id, "handler": world["auditor"].id},
    )
    # A witness from another branch: no role there, named by a person field.
    auth.login("other_secretary")
    html = text(client.get("/inbox?lang=en"))
    assert _items(html) == [str(case.id)] and "Confirm as witness" in html
    assert client.get(f"/cases/{case.id}").status_code == 200  # may see what they act on
    auth.logout()
    runtime.fire(case.id, "confirm", world["other_secretary"])
    auth.login("auditor")  # the handler, named by a user field
    html = text(client.get("/inbox?lang=en"))
    assert _items(html) == [str(case.id)] and "Put to the vote" in html
    auth.logout()
    auth.login("other_secretary")
    assert _items(text(client.get("/inbox"))) == []
    assert client.get(f"/cases/{case.id}").status_code == 404  # no longer acting on it


def test_notifications_listed_unread_first_and_mark_all_read(world, auth, client):
    for purpose in ("甲", "乙"):
        case = funding_case(world, purpose=purpose)
        walk(case.id, world, ("submit", "branch_member"))
        runtime.fire(case.id, "return_for_changes", world["secretary"], comment="改")
    auth.login("branch_member")
    html = text(client.get("/inbox?lang=en"))
    assert html.count('class="note note-result unread"') == 2
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    assert client.post("/notifications/read", data={"csrf_token": token}).status_code == 302
    html = text(client.get("/inbox?lang=en"))
    assert "unread" not in re.search(r'id="notifications".*?</section>', html, re.S).group(0)


class StatementCounter:
    def __init__(self):
        self.count = 0

    def __call__(self, *_args):
        self.count += 1


def _count_statements(client, url: str) -> tuple[int, str]:
    """A view's statements, counted afresh: nothing kept from an earlier view (the inbox's
    lists are kept until the next change, as the first view after a change does not)."""
    forget_kept_figures(client)
    db.session.remove()  # like a fresh request in production: no session caches
    counter = StatementCounter()
    event.listen(db.engine, "before_cursor_execute", counter)
    try:
        html = text(client.get(url))
    finally:
        event.remove(db.engine, "before_cursor_execute", counter)
    return counter.count, html


def _batch(world) -> None:
    """Five cases, each waiting on the secretary by a different rule."""
    sec, member = world["secretary"], world["member"]
    me = sec.person.id
    runtime.start("pages_request", world.branch, member, {"topic": "role"})
    runtime.start("pages_request", world.branch, sec, {"topic": "subject"})
    witness = runtime.start("pages_request", world.branch, member, {"topic": "person field"})
    runtime.fire(witness.id, "accept", sec, {"witness": me, "handler": member.id})
    handler = runtime.start("pages_request", world.branch, member, {"topic": "user field"})
    runtime.fire(handler.id, "accept", sec, {"witness": me, "handler": sec.id})
    runtime.fire(handler.id, "confirm", sec)
    vote = runtime.start("pages_request", world.branch, member, {"topic": "ballot"})
    runtime.fire(vote.id, "accept", sec, {"witness": me, "handler": member.id})
    runtime.fire(vote.id, "confirm", sec)
    runtime.fire(vote.id, "to_vote", member)


def _looked_for(client, url: str) -> tuple[bool, str]:
    """Whether a view looked for the reader's lists (the statement that counts and pages
    them), and the page."""
    html, seen = recorded(lambda: text(client.get(url)))
    return any(" AS part" in statement for statement, _params in seen), html


def _case_of(topic: str) -> ProcessInstance:
    return db.session.execute(
        select(ProcessInstance).where(ProcessInstance.title.contains(topic))
    ).scalar_one()


@pytest.mark.workflows_dir(PAGES_WORKFLOWS)
def test_the_inbox_is_kept_until_the_next_recorded_change(world, auth, client, app):
    """Who waits on a case changes only with a recorded change (the work-waiting rows are
    written in the step's transaction, a ballot with its event): the reader's lists are kept
    until the audit chain's head moves, per reader, and read afresh after any change."""
    _batch(world)
    auth.login("secretary")
    looked, html = _looked_for(client, "/inbox?lang=en")
    assert looked and len(_items(html)) == 5
    looked, again = _looked_for(client, "/inbox?lang=en")
    assert not looked and _items(again) == _items(html)

    # Another reader's inbox is their own, not the one kept for the secretary.
    auth.logout()
    auth.login("member")
    looked, theirs = _looked_for(client, "/inbox?lang=en")
    assert looked and set(_items(theirs)) != set(_items(html))
    auth.logout()

    # A ballot cast (its event moves the head): the ballot no longer waits on the secretary.
    ballot = _case_of("ballot")
    assert str(ballot.id) in _items(html) and "Cast your ballot" in html
    votes.cast_ballot(ballot.id, world["secretary"], "for")
    auth.login("secretary")
    looked, html = _looked_for(client, "/inbox?lang=en")
    assert looked and "Cast your ballot" not in html

    # A step taken by someone else: the cases it starts wait on the secretary at once.
    _batch(world)
    looked, html = _looked_for(client, "/inbox?lang=en")
    assert looked and len(_items(html)) == 10 and "Cast your ballot" in html

    # Nothing kept at a size of 0.
    app.config["PBFLOW_INBOX_MEMO"] = 0
    assert _looked_for(client, "/inbox?lang=en")[0] and _looked_for(client, "/inbox")[0]


@pytest.mark.workflows_dir(PAGES_WORKFLOWS)
def test_the_inbox_after_its_rows_are_repaired(world, auth, client, runner):
    """``tasks check --fix`` rewrites the work-waiting rows with an event of its own: the
    inboxes kept before the repair are read afresh after it."""
    _batch(world)
    mine = f"u:{world['secretary'].id}"
    db.session.execute(delete(CaseTask).where(CaseTask.holder == mine))  # drifted, by hand
    db.session.commit()
    auth.login("secretary")
    before = _items(text(client.get("/inbox?lang=en")))
    assert runner.invoke(args=["pbflow", "tasks", "check", "--fix"]).exit_code == 0
    looked, html = _looked_for(client, "/inbox?lang=en")
    assert looked and len(_items(html)) == 5 > len(before)


def test_the_inboxes_are_kept_apart_from_the_dashboards_figures(world, auth, client, app):
    """Two stores, each with its size: a morning of readers opening their inboxes does not
    push the committee's meetings calendars out of theirs."""
    app.config["PBFLOW_INBOX_MEMO"] = 1
    auth.login("committee_a")
    client.get("/supervision/")
    stores = app.extensions["pbflow_head_memo"]
    figures = dict(stores["figures"])
    assert figures
    for reader in ("secretary", "member", "branch_member", "committee_a"):
        auth.logout()
        auth.login(reader)
        client.get("/inbox")
        assert len(stores["inbox"]) == 1
    assert dict(stores["figures"]) == figures


@pytest.mark.workflows_dir(PAGES_WORKFLOWS)
def test_inbox_and_list_issue_a_bounded_number_of_statements(world, auth, client):
    for _ in range(2):
        _batch(world)
    auth.login("secretary")
    client.get("/inbox")  # warm the process-wide definition cache
    small, html = _count_statements(client, "/inbox")
    assert len(_items(html)) == 10
    list_small, _html = _count_statements(client, "/cases?status=all")
    for _ in range(10):
        _batch(world)
    large, html = _count_statements(client, "/inbox")
    # Every case waits on the secretary, by one rule or another: 60, pages of 25 shown.
    first = _items(html)
    assert len(first) == inbox_service.ITEM_PAGE == 25
    assert re.search(r'<p class="hint">[^<]*\b60\b', _section(html, "waiting"))
    seen = set(first)
    for expected in (25, 10):
        following = re.search(r'rel="next" href="/inbox\?after=([^"#]+)#waiting"', html).group(1)
        later, html = _count_statements(client, f"/inbox?after={following}")
        rest = _items(html)
        assert len(rest) == expected and not set(rest) & seen
        assert later <= small
        seen |= set(rest)
    assert len(seen) == 60
    assert 'rel="next"' not in _section(html, "waiting")
    list_large, _html = _count_statements(client, "/cases?status=all")
    assert large == small
    assert list_large == list_small


TASK_WORKFLOWS = str(Path(__file__).parent / "tasks" / "workflows")


def _section(html: str, section: str) -> str:
    found = re.search(rf'<section class="card" id="{section}">.*?</section>', html, re.S)
    return found.group(0) if found else ""


def test_what_waits_comes_first_and_merely_possible_steps_apart(world, auth, client):
    """Issue 15: withdrawing is possible all along but never what a case waits for. A case
    that waits on me shows what I may also do apart from what it waits for, in its own item
    (it was listed a second time below: a committee's inbox showed a third of its cases
    twice); the list below holds the cases where nothing waits on me."""
    draft = funding_case(world, purpose="草稿")
    sent = funding_case(world, purpose="已提交")
    walk(sent.id, world, ("submit", "branch_member"))
    auth.login("branch_member")
    html = text(client.get("/inbox?lang=en"))
    assert _items(html) == [str(draft.id)]  # submitting waits on the requester
    waiting = _section(html, "waiting")
    assert f'href="/cases/{draft.id}#step-submit"' in waiting  # a link to the step's form
    steps, also = waiting.split("You may also:", 1)  # what it waits for first, then apart
    assert f'class="step-link" href="/cases/{draft.id}#step-submit"' in steps
    assert "Withdraw the request" not in steps
    assert f'class="step-link option" href="/cases/{draft.id}#step-withdraw"' in also
    assert _items(html, "possible") == [str(sent.id)]  # not the draft again
    possible = _section(html, "possible")
    assert f'href="/cases/{sent.id}#step-withdraw"' in possible
    assert "1 case waits on you." in html
    roles = _section(html, "roles")  # roles by their names, not their keys
    assert "branch committee member — " in roles and "branch_committee" not in roles


@pytest.mark.workflows_dir(TASK_WORKFLOWS)
def test_cases_titled_by_whom_they_are_about(world, auth, client):
    member = world["member"].person
    case = runtime.start("about_someone", world.branch, world["secretary"], {"person": member.id})
    auth.login("secretary")
    html = text(client.get("/inbox?lang=en"))
    assert re.search(rf'<a class="title" href="/cases/{case.id}">{member.name}</a>', html)
    runtime.fire(case.id, "approve", world["secretary"])
    html = text(client.get("/inbox?lang=en"))
    assert _items(html) == []  # changing the handler or withdrawing: merely possible
    assert _items(html, "possible") == [str(case.id)]
    auth.logout()
    auth.login("member")  # the subject finishes it
    html = text(client.get("/inbox?lang=en"))
    assert _items(html) == [str(case.id)] and "#step-finish" in html


def test_the_inbox_pages_by_time_limit_and_ignores_a_broken_cursor(
    world, auth, client, clock, monkeypatch
):
    """Cases with a time limit first, the earliest first, then those without; each page
    follows the last; a cursor that is not one shows the first page."""
    monkeypatch.setattr(inbox_service, "ITEM_PAGE", 2)
    sent = []
    for i in range(3):
        case = funding_case(world, purpose=f"已提交{i}")
        walk(case.id, world, ("submit", "branch_member"))
        sent.append(case.id)
        clock.advance(days=1)
    drafts = [funding_case(world, by="secretary", purpose=f"草稿{i}").id for i in range(2)]
    auth.login("secretary")
    seen, url = [], "/inbox"
    while url:
        html = text(client.get(url))
        seen += _items(html)
        found = re.search(r'rel="next" href="(/inbox\?after=[^"#]+)#waiting"', html)
        url = found.group(1) if found else None
    assert [int(i) for i in seen] == sent + drafts
    broken = text(client.get("/inbox?after=2024-01-01"))
    assert _items(broken) == [str(i) for i in sent[:2]]
    assert 'id="notifications"' in broken


def test_the_merely_possible_list_pages_on_its_own(world, auth, client, monkeypatch):
    """Cases where I may only withdraw page by their own cursor; that page shows that list
    alone (no waiting list, no notifications)."""
    monkeypatch.setattr(inbox_service, "OPTION_PAGE", 2)
    sent = []
    for i in range(3):
        case = funding_case(world, purpose=f"已提交{i}")
        walk(case.id, world, ("submit", "branch_member"))  # waits on the secretary now
        sent.append(case.id)
    auth.login("branch_member")
    html = text(client.get("/inbox"))
    seen = _items(html, "possible")
    found = re.search(r'href="(/inbox\?possible_after=[^"#]+)#possible"', html)
    later = text(client.get(found.group(1)))
    seen += _items(later, "possible")
    assert sorted(int(i) for i in seen) == sent and len(seen) == 3
    assert 'id="waiting"' not in later and 'id="notifications"' not in later


@pytest.mark.workflows_dir(PAGES_WORKFLOWS)
def test_the_counts_stop_at_their_limits_and_say_so(world, auth, client, monkeypatch):
    """A committee with thousands of cases waiting is counted no further than a limit (each
    holder's walk of the index stops there): the page says "more than" and still lists its
    page; under the limit the count is exact, a case held by two of my holders counted once."""
    for _ in range(2):
        _batch(world)  # ten cases, each waiting on the secretary by a different rule
    secretary = world["secretary"]
    box = inbox_service.inbox(secretary, "en")
    assert (box.total, box.total_exact) == (10, True)
    monkeypatch.setattr(inbox_service, "COUNT_LIMITS", {0: 4, 1: 100})
    box = inbox_service.inbox(secretary, "en")
    assert (box.total, box.total_exact) == (5, False) and len(box.items) == 10
    auth.login("secretary")
    html = text(client.get("/inbox?lang=en"))
    assert "More than 4 cases wait on you." in html and len(_items(html)) == 10
    monkeypatch.setattr(inbox_service, "COUNT_LIMITS", {0: 10, 1: 100})
    box = inbox_service.inbox(secretary, "en")
    assert (box.total, box.total_exact) == (10, True)


@pytest.mark.workflows_dir(PAGES_WORKFLOWS)
def test_the_counts_read_the_walks_only_until_they_pass_the_limit(world, monkeypatch):
    """The count takes the cases of my holders' walks as they come and stops one past the
    limit (the other holders' walks are then not read): at every limit it says what
    counting every case listed, a case held by two holders once, and capping says."""
    for _ in range(2):
        _batch(world)
    secretary = world["secretary"]
    keys = tasks.holder_keys(secretary.id)
    box = inbox_service.inbox(secretary, "en")
    listed = {item.case.id for item in box.items}
    assert len(listed) == box.total == 10
    held = db.session.execute(
        select(CaseTask.holder, CaseTask.instance_id).where(
            CaseTask.holder.in_(keys), CaseTask.instance_id.in_(listed)
        )
    ).all()
    assert len({holder for holder, _case in held}) >= 3  # walks of several holders
    for limit in range(1, 13):
        monkeypatch.setattr(inbox_service, "COUNT_LIMITS", {0: limit, 1: 100})
        box = inbox_service.inbox(secretary, "en")
        assert box.total == min(len(listed), limit + 1), limit
        assert box.total_exact == (len(listed) <= limit)
        assert {item.case.id for item in box.items} == listed


def test_the_merely_possible_count_stops_at_its_limit(world, auth, client, monkeypatch):
    sent = []
    for i in range(3):
        case = funding_case(world, purpose=f"已提交{i}")
        walk(case.id, world, ("submit", "branch_member"))  # the requester may withdraw it
        sent.append(case.id)
    monkeypatch.setattr(inbox_service, "OPTION_PAGE", 1)
    box = inbox_service.inbox(world["branch_member"], "en")
    assert (box.possible_total, box.possible_total_exact) == (3, True)
    monkeypatch.setattr(inbox_service, "COUNT_LIMITS", {0: 1000, 1: 2})
    box = inbox_service.inbox(world["branch_member"], "en")
    assert (box.possible_total, box.possible_total_exact) == (3, False)
    assert [i.case.id for i in box.possible] == sent[:1]
    auth.login("branch_member")
    html = text(client.get("/inbox?lang=en"))
    assert "More than 2 cases in all." in _section(html, "possible")


# --- every notification, a page at a time (/notifications) -----------------------------------
# The inbox shows the ten newest, unread first; the notifications page lists every one, newest
# first, thirty at a time, older pages following a cursor.


def _notes(clock, user, n: int, first: int = 0) -> None:
    """``n`` notifications for ``user``, a minute apart, told apart by the year they name."""
    for i in range(first, first + n):
        clock.advance(minutes=1)
        notifications.notify([user.id], "calendar_running_out", {"ends": "-", "year": 3000 + i})
    db.session.commit()


def _years(html: str) -> list[int]:
    return [int(y) for y in re.findall(r"days of (3\d{3}) \(Administration", html)]


def _older(html: str) -> str | None:
    found = re.search(r'<a href="(/notifications\?before=\d+)" rel="next">', html)
    return found.group(1) if found else None


def test_the_inbox_shows_the_ten_newest_and_every_one_is_a_page_away(world, clock, auth, client):
    _notes(clock, world["member"], 35)
    auth.login("member")
    inbox_html = text(client.get("/inbox?lang=en"))
    assert _years(inbox_html) == list(range(3034, 3024, -1))
    assert '<a href="/notifications">All notifications ›</a>' in inbox_html
    first = text(client.get("/notifications?lang=en"))
    assert _years(first) == list(range(3034, 3004, -1))
    assert "35 unread." in first and 'rel="first"' not in first
    older = _older(first)
    assert older
    second = text(client.get(older))
    assert _years(second) == list(range(3004, 2999, -1))
    assert _older(second) is None and 'rel="first"' in second


def test_a_reader_sees_only_their_own_notifications(world, clock, auth, client):
    _notes(clock, world["member"], 3)
    auth.login("branch_member")
    html = text(client.get("/notifications?lang=en"))
    assert _years(html) == [] and "No notifications." in html
    mine = db.session.execute(select(Notification.id).limit(1)).scalar_one()
    other = text(client.get(f"/notifications?lang=en&before={mine + 1}"))
    assert _years(other) == [] and "No older notifications." in other


@pytest.mark.parametrize("cursor", ["abc", "-5", "0", "1e3", "9" * 30, ""])
def test_an_unreadable_cursor_shows_the_newest(world, clock, auth, client, cursor):
    _notes(clock, world["member"], 3)
    auth.login("member")
    res = client.get(f"/notifications?lang=en&before={cursor}")
    assert res.status_code == 200
    assert _years(text(res)) == [3002, 3001, 3000]


def test_the_notifications_page_needs_a_login(client):
    res = client.get("/notifications")
    assert res.status_code == 302 and "/login" in res.headers["Location"]


def test_mark_all_read_from_the_page_comes_back_to_it(world, clock, auth, client):
    _notes(clock, world["member"], 2)
    auth.login("member")
    html = text(client.get("/notifications?lang=en"))
    assert html.count('class="note note-calendar_running_out unread"') == 2
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    res = client.post("/notifications/read", data={"csrf_token": token, "back": "notifications"})
    assert res.status_code == 302 and res.headers["Location"].endswith("/notifications")
    html = text(client.get("/notifications?lang=en"))
    assert "unread" not in html.split('id="notifications"')[1] and _years(html) == [3001, 3000]
    # Anything else to come back to is the inbox.
    _notes(clock, world["member"], 1, first=2)
    res = client.post("/notifications/read", data={"csrf_token": token, "back": "//evil.example"})
    assert res.status_code == 302 and res.headers["Location"].endswith("/inbox")


def test_a_page_of_notifications_costs_the_same_whatever_their_number(world, clock, auth, client):
    _notes(clock, world["member"], 5)
    auth.login("member")
    client.get("/notifications")
    few, _html = _count_statements(client, "/notifications")
    _notes(clock, world["member"], 60, first=5)
    many, html = _count_statements(client, "/notifications?lang=en")
    assert many == few and len(_years(html)) == inbox_service.NOTIFICATIONS_PAGE
