"""Past the counted part, lists go on page by page through a cursor: every row once, in
order, none skipped, whatever the size (COUNT_LIMIT lowered here to keep the data small)."""

from __future__ import annotations

import re

import pytest

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
