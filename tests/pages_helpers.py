"""Helpers shared by the page, inbox, attachment and API tests (logged-in clients, cases)."""

from __future__ import annotations

import re
from pathlib import Path

from pbflow.engine import runtime
from tests.conftest import csrf_token

PAGES_WORKFLOWS = str(Path(__file__).parent / "workflows_pages")

FUNDING = {
    "purpose": "七一主题党日活动",
    "activity_date": "2026-03-20",
    "venue": "矿史馆",
    "amount": "1200.50",
    "budget": "交通 600；资料 600.50",
}


def funding_case(world, by="branch_member", org=None, **changes):
    """A funding request started through the engine (pages are tested, not starting)."""
    return runtime.start("activity_funding", org or world.branch, world[by], {**FUNDING, **changes})


def walk(case_id, world, *steps):
    """Fire (trigger, username) steps through the engine."""
    for trigger, who in steps:
        runtime.fire(case_id, trigger, world[who])


def page_token(client, url="/inbox") -> str:
    return csrf_token(client.get(url).get_data(as_text=True))


def text(response) -> str:
    return response.get_data(as_text=True)


def version_of(html: str) -> int:
    match = re.search(r'name="version" value="(\d+)"', html)
    assert match, "the page has no versioned form"
    return int(match.group(1))


def forget_kept_figures(client) -> None:
    """The figures kept until the next change (``head_memo``) dropped, so that the next view
    counts them afresh, as the first view after a change does: what a statement count must
    measure, before and after the data grows."""
    from pbflow.services import head_memo

    with client.application.app_context():
        head_memo.forget()
