"""The rectification list on a life meeting's case page: its items, owners and progress."""

from __future__ import annotations

import re

from flask import render_template_string
from sqlalchemy import event

from pbflow.extensions import db
from pbflow.procedures.life_meeting import services


def test_rectification_panel_shows_the_items_of_a_case(world, clock, app):
    from pbflow.engine import runtime
    from tests.life_meeting.test_life_meeting import report_values, to_held

    case_id = to_held(world, clock, with_appraisal=False)
    runtime.fire(case_id, "submit_report", world["secretary"], report_values(world))
    for owner in ("member", "deputy"):
        runtime.fire(
            case_id,
            "add_item",
            world["secretary"],
            {
                "problem": f"问题-{owner}",
                "measures": "m",
                "owner": world[owner].id,
                "deadline": "2026-04-30",
            },
        )
    panel = services.rectification_panel(case_id)
    assert [(i.title, i.owner, i.state) for i in panel.items] == [
        ("问题-member", "Member", "open"),
        ("问题-deputy", "Deputy", "open"),
    ]
    with app.test_request_context("/?lang=en"):
        html = render_template_string(
            '{% include "life_meeting/_rectification_panel.html" %}',
            case={"id": case_id},
            v={"child_workflows": frozenset({"rectification"})},  # as the case page gives it
        )
    assert "0 of 2 items ticked off" in html
    assert re.search(r'问题-deputy</a></td>\s*<td data-label="Owner">Deputy</td>', html)


def _meeting_with_one_item(world, clock) -> int:
    """A life meeting held and reported, with one rectification item on its list."""
    from pbflow.engine import runtime
    from tests.life_meeting.test_life_meeting import report_values, to_held

    case_id = to_held(world, clock, with_appraisal=False)
    runtime.fire(case_id, "submit_report", world["secretary"], report_values(world))
    runtime.fire(
        case_id,
        "add_item",
        world["secretary"],
        {
            "problem": "整改问题一",
            "measures": "m",
            "owner": world["member"].id,
            "deadline": "2026-04-30",
        },
    )
    return case_id


def test_case_page_of_a_life_meeting_shows_its_rectification_list(world, clock, client, auth):
    from pbflow.engine import runtime

    case_id = _meeting_with_one_item(world, clock)
    auth.login("secretary")
    page = client.get(f"/cases/{case_id}?lang=en").get_data(as_text=True)
    assert 'id="rectification"' in page and "0 of 1 items ticked off" in page
    assert "整改问题一" in page
    # A case without items shows no such panel.
    other = runtime.start(
        "activity_funding",
        world.branch,
        world["secretary"],
        {"purpose": "p", "activity_date": "2026-03-20", "amount": "10", "budget": "b"},
    )
    reads = []

    def record(_conn, _cursor, statement, parameters, *_args):
        reads.append((statement, repr(parameters)))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        page = client.get(f"/cases/{other.id}?lang=en").get_data(as_text=True)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert 'id="rectification"' not in page
    # ...nor looks for items: the case page knows its child cases' workflows already.
    assert reads and not [r for r in reads if "'rectification'" in r[1]]


def test_rectification_list_and_related_cases_read_as_cards_on_a_phone(world, clock, client, auth):
    """On a narrow page a table.list row becomes a card whose values show their column's
    name (data-label, pbflow.css): the items' owner, deadline, state and notes, and the
    related cases' columns, are not bare values there."""
    case_id = _meeting_with_one_item(world, clock)
    auth.login("secretary")
    page = client.get(f"/cases/{case_id}?lang=en").get_data(as_text=True)
    panel = page.split('id="rectification"', 1)[1].split("</section>", 1)[0]
    row = next(r for r in re.findall(r"<tr.*?</tr>", panel, re.S) if "整改问题一" in r)
    assert re.findall(r'<td data-label="([^"]+)"', row) == [
        "#",
        "Problem",
        "Owner",
        "Deadline",
        "State",
        "Progress notes",
    ]
    related = page.split("Related cases", 1)[1].split("</section>", 1)[0]
    row = next(r for r in re.findall(r"<tr.*?</tr>", related, re.S) if "整改问题一" in r)
    assert re.findall(r'<td data-label="([^"]+)"', row) == ["#", "Title", "Procedure", "State"]
    zh = client.get(f"/cases/{case_id}?lang=zh").get_data(as_text=True)
    assert '<td data-label="责任人">' in zh
