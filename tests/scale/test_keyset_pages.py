"""Past the counted part, lists go on page by page through a cursor: every row once, in
order, none skipped, whatever the size (COUNT_LIMIT lowered here to keep the data small)."""

from __future__ import annotations

import re

import pytest

from pbflow.api.core import encode_cursor
from pbflow.procedures.three_meetings import services as meetings_service
from pbflow.services import cases, pagination, seed
from pbflow.services import people as people_service
from tests.conftest import PASSWORD

LIMIT = 40


@pytest.fixture
def small_limit(monkeypatch):
    for module in (pagination, cases, people_service, meetings_service):
        if hasattr(module, "COUNT_LIMIT"):
            monkeypatch.setattr(module, "COUNT_LIMIT", LIMIT)
    monkeypatch.setattr(pagination, "COUNT_LIMIT", LIMIT)


def _login(app, user):
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    client.post("/login", data={"username": user, "password": PASSWORD, "csrf_token": token})
    return client


def _walk(client, url: str, row: str) -> tuple[list[str], list[str]]:
    """Follow "Next" from ``url`` to the end: the rows (by ``row`` regex) and the hints."""
    seen: list[str] = []
    hints: list[str] = []
    for _ in range(200):
        html = client.get(url).get_data(as_text=True)
        seen += re.findall(row, html)
        hints += re.findall(r"More than [0-9,]+", html)
        nxt = re.search(r'<a href="([^"]+)" rel="next">', html)
        if not nxt:
            return seen, hints
        url = nxt.group(1).replace("&amp;", "&")
    raise AssertionError("the pages never end")


def test_lists_go_on_past_the_count_through_a_cursor(app, world, small_limit):
    seed.seed(150, 3)
    committee = _login(app, "committee_a")
    committee.set_cookie("pbflow_lang", "en")
    # The case list: "more than 40", 25 a page, numbered up to the counted part, then cursor.
    ids, hints = _walk(committee, "/cases?status=all", r'<td data-label="#"><a href="/cases/(\d+)"')
    assert hints and hints[0] == "More than 40"
    assert len(ids) == len(set(ids)) == 150
    # The meetings and the people the same way.
    meetings, _hints = _walk(committee, "/meetings/", r'href="/meetings/(\d+)"')
    assert len(meetings) == len(set(meetings)) >= 10
    admin = _login(app, "admin")
    admin.set_cookie("pbflow_lang", "en")
    persons, hints = _walk(admin, "/admin/people", r'href="/admin/people/(\d+)"')
    assert hints and len(persons) == len(set(persons)) > LIMIT
    # The opinion book: 50 entries a page, each opinion once.
    book, _hints = _walk(
        committee,
        "/opinions/coal/book?from=2024-01-01&to=2026-12-31",
        r'<h3><a href="/cases/(\d+)"',
    )
    assert len(book) == len(set(book)) > 0
    # A cursor that is not one is the first page, not an error.
    assert committee.get("/cases?after=99999999999999999999999-1").status_code == 200
    assert committee.get("/cases?after=x-y").status_code == 200


def test_a_list_counted_no_further_than_its_limit_says_what_it_counts(app, world, small_limit):
    """Past the limit the total says "more than" in the list's own words: Chinese counts
    people (人) and cases (个案件) with different measure words."""
    seed.seed(150, 3)
    admin = _login(app, "admin")
    for lang, people, listed in (
        ("en", "More than 40 people found", "More than 40 cases"),
        ("zh", "找到超过 40 人", "超过 40 个案件"),
    ):
        admin.set_cookie("pbflow_lang", lang)
        assert people in admin.get("/admin/people").get_data(as_text=True)
        assert listed in admin.get("/cases?status=all").get_data(as_text=True)
    assert "超过 40 件" not in admin.get("/admin/people").get_data(as_text=True)


def _api_walk(api, path: str) -> tuple[list[int], list[dict]]:
    """Follow ``next_cursor`` from ``path`` to the end: the ids listed and every answer."""
    seen: list[int] = []
    answers: list[dict] = []
    url = path
    for _ in range(200):
        response, body = api.get(url)
        assert response.status_code == 200, body
        answers.append(body)
        seen += [item["id"] for item in body["items"]]
        if not body["next_cursor"]:
            return seen, answers
        url = f"{path}{'&' if '?' in path else '?'}cursor={body['next_cursor']}"
    raise AssertionError("the pages never end")


def test_the_api_lists_go_on_past_the_count_through_a_cursor(app, world, small_limit, monkeypatch):
    """Past the counted part the API's lists carry on by the keyset cursor (they answered
    500 once the count stopped at its limit: no number of pages to compare with) and say
    that the total is a lower bound."""
    from tests.api.helpers import Api, token

    seed.seed(150, 3)
    api = Api(app.test_client(), token(world, "committee_a"))
    ids, answers = _api_walk(api, "/api/v1/cases?status=all&limit=20")
    assert len(ids) == len(set(ids)) == 150
    assert answers[0]["total"] == LIMIT + 1 and answers[0]["total_exact"] is False
    # Within the count, numbered pages as before, and an exact total.
    few, answers = _api_walk(api, "/api/v1/cases?status=all&workflow=life_meeting&limit=5")
    assert answers[0]["total_exact"] is True and len(few) == answers[0]["total"] <= LIMIT
    # The seed holds ten meetings: counted no further than four, three a page.
    monkeypatch.setattr(pagination, "COUNT_LIMIT", 4)
    monkeypatch.setattr(meetings_service, "PAGE_SIZE", 3)
    meetings, answers = _api_walk(api, "/api/v1/meetings")
    assert len(meetings) == len(set(meetings)) == 10 and len(answers) == 4
    assert answers[0]["total"] == 10 and answers[0]["total_exact"] is False
    # A cursor that is not one of ours is refused with a reason, not a 500.
    forged = encode_cursor({"after": "not-a-position"})
    for path in ("/api/v1/cases", "/api/v1/meetings"):
        response, problem = api.get(f"{path}?cursor={forged}")
        assert response.status_code == 400 and problem["detail"]
        response, problem = api.get(f"{path}?cursor={encode_cursor({'page': True})}")
        assert response.status_code == 400


def test_the_rectification_list_goes_page_by_page_in_its_order(app, world, monkeypatch):
    """The supervision's list of rectification items: a page at a time (open before
    closed, deadline first, then by number), each next page after the last item shown, every
    item once; the download still has them all. It showed its first 200 and no more."""
    from pbflow.procedures.supervision import views as supervision_views

    seed.seed(150, 3)
    monkeypatch.setattr(supervision_views, "LIST_PAGE", 4)
    committee = _login(app, "committee_a")
    committee.set_cookie("pbflow_lang", "en")
    row = r'<td data-label="#"><a href="/cases/(\d+)"'
    for status in ("open", "all", "closed"):
        seen, _hints = _walk(committee, f"/supervision/rectification?status={status}", row)
        csv = committee.get(f"/supervision/rectification?status={status}&format=csv")
        in_order = re.findall(r"^(\d+),", csv.get_data(as_text=True), re.M)
        assert seen == in_order, status
        assert len(seen) == len(set(seen))
    assert len(seen) > 4  # more than one page
    everything, _hints = _walk(committee, "/supervision/rectification?status=all", row)
    assert len(everything) > len(seen) and set(seen) <= set(everything)
    # A position that is not one is the first page, not an error.
    first = committee.get("/supervision/rectification?status=all").get_data(as_text=True)
    for forged in ("x", "2.1.2026-01-01", "0.99999999999999.x", "1." + "9" * 50):
        page = committee.get(f"/supervision/rectification?status=all&after={forged}")
        assert page.status_code == 200
        assert re.findall(row, page.get_data(as_text=True)) == re.findall(row, first)


def test_the_rectification_list_refuses_what_it_should(app, world):
    """A status that is not one is refused with the reason, in the page; an organization the
    reader does not read is not found; a member who reads no organization is refused."""
    secretary = _login(app, "secretary")
    secretary.set_cookie("pbflow_lang", "en")
    page = secretary.get("/supervision/rectification?status=bogus")
    assert page.status_code == 422 and "is not one of the choices" in page.get_data(as_text=True)
    assert (
        secretary.get(f"/supervision/rectification?org={world.other_branch.id}").status_code == 404
    )
    assert secretary.get("/supervision/rectification?org=x").status_code == 422
    assert secretary.get(f"/supervision/rectification?org={world.branch.id}").status_code == 200
    member = _login(app, "member")
    assert member.get("/supervision/rectification").status_code == 403
