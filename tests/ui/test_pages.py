"""Issue 15 through the routes (no browser): case details in human form, the procedure's
progress line, the language switch, the audit page after "Verify", the favicon, the step
flashes, the handler lists and the opinion form's errors all at once."""

from __future__ import annotations

import re

import pytest

from pbflow.engine.definitions import DefinitionError, parse
from pbflow.engine.registry import registry
from pbflow.services import cases, procedure_view
from tests.conftest import csrf_token
from tests.pages_helpers import funding_case, text, walk

IP = {"REMOTE_ADDR": "203.0.113.60"}


def test_internal_values_are_hidden_and_records_read_as_lists(world):
    d = registry().current["opinion"]
    data = {
        "subject": "食堂",
        "anonymous": False,
        "clock_from": "2024-12-13",
        "answer_due": "2025-01-06",
        "on_time": True,
        "reopen_count": 1,
        "rejections": [{"on": "2025-04-22", "reason": "问题没有解决"}],
        "transfers": [{"on": "2025-05-01", "from": "A", "to": "B"}],
        "_by": {"start": 1},
        "not_declared": {"x": 1},
    }
    specs = cases.field_specs(d)
    rows = {r.name: r for r in cases.case_fields(d, data, cases.Refs.load(specs, data), "en")}
    assert set(rows) == {"subject", "anonymous", "rejections", "transfers"}
    assert rows["anonymous"].text == "No"  # a boolean as a word
    assert rows["rejections"].items == ["问题没有解决 (2025-04-22)"]
    assert rows["transfers"].items == ["A · B (2025-05-01)"]
    assert rows["rejections"].label == "Answers found unsatisfactory"


def test_records_name_who_recorded_them(world):
    d = registry().current["life_meeting"]
    secretary = world["secretary"]
    data = {"talks": [{"talk_date": "2024-11-22", "talk_note": "谈心", "by": secretary.id}]}
    specs = cases.field_specs(d)
    (row,) = cases.case_fields(d, data, cases.Refs.load(specs, data), "en")
    assert row.items[0].startswith("Date: 2024-11-22")
    assert secretary.display_name in row.items[0]
    # In Chinese the label takes a full-width colon, as the forms' labels do.
    (row,) = cases.case_fields(d, data, cases.Refs.load(specs, data), "zh")
    assert row.items[0].startswith("谈话日期：2024-11-22 · 要点：谈心"), row.items[0]
    assert ": " not in row.items[0]


def _parse(extra: str):
    source = f"""
id: tiny
version: "1"
title: {{zh: 小, en: Tiny}}
run_by: [branch]
start:
  by: [secretary]
  fields:
    - {{name: note, type: string, internal: true, label: {{zh: 备注, en: Note}}}}
{extra}
initial: a
states:
  a: {{label: {{zh: 甲, en: A}}}}
  b: {{label: {{zh: 乙, en: B}}, final: true}}
transitions:
  - trigger: go
    source: a
    dest: b
    label: {{zh: 走, en: Go}}
    by: [secretary]
"""
    return parse(source, "tiny.yaml", registry().rules)


def test_workflow_files_mark_fields_internal_and_declare_stored_values(app):
    d = _parse(
        "data:\n  - {name: log, type: records, label: {zh: 记录, en: Log}}\n"
        "  - {name: clock, type: date, internal: true, label: {zh: 钟, en: Clock}}"
    )
    assert d.start_fields[0].internal is True
    assert [(f.name, f.type, f.internal) for f in d.data_fields] == [
        ("log", "records", False),
        ("clock", "date", True),
    ]
    assert cases.hidden_fields(d) == {"note", "clock"}
    with pytest.raises(DefinitionError, match="unknown type"):
        _parse("data:\n  - {name: log, type: scroll, label: {zh: 记录, en: Log}}")


def test_the_case_page_shows_progress_and_loads_no_diagram_library(world, auth, client):
    case = funding_case(world)
    walk(case.id, world, ("submit", "branch_member"))
    auth.login("secretary")
    html = text(client.get(f"/cases/{case.id}?lang=en"))
    assert '<li class="pg-step pg-done"' in html and 'aria-current="step"' in html
    assert "What can come next" in html
    assert not re.search(r"<script[^>]+mermaid", html)  # only a data-src for pbflow.js
    assert 'data-src="/static/vendor/mermaid.min.js"' in html


def test_the_progress_line_of_a_staged_procedure(world):
    d = registry().current["member_development"]
    moves = [(None, "applied", None), ("applied", "applicant", None)]
    p = procedure_view.progress(d, "applicant", moves, "en", closed=False)
    assert p.staged and [s.status for s in p.stages][:2] == ["current", "later"]
    steps = p.stages[0].steps
    assert [s.status for s in steps] == ["done", "current"]  # the detour is left out
    assert p.stages[1].steps[0].status == "next"
    assert "application_returned" in procedure_view.detours(d)
    text_ = procedure_view.diagram(d, "applicant", {"applied"}, "en")
    assert "Class applicant s_active" in text_ and "Class applied s_done" in text_
    assert "applied --> applicant: Record the talk" in text_


def test_language_switch_keeps_the_page_and_its_query(world, auth, client):
    auth.login("secretary")
    html = text(client.get(f"/cases/new?workflow=activity_funding&org={world.branch.id}&lang=en"))
    assert (
        f'href="/cases/new?workflow=activity_funding&amp;org={world.branch.id}&amp;lang=zh"' in html
    )
    # A form shown in answer to a POST switches on the page the form came from.
    case = funding_case(world)
    walk(case.id, world, ("submit", "branch_member"))
    page = client.post(
        f"/cases/{case.id}/steps/return_for_changes?lang=en",
        data={"csrf_token": csrf_token(html), "version": "2"},
        headers={"Referer": f"http://localhost/cases/{case.id}?x=1"},
    )
    assert page.status_code == 422
    assert f'href="/cases/{case.id}?x=1&amp;lang=zh"' in text(page)


def test_search_after_verify_goes_to_the_list(world, auth, client):
    auth.login("auditor")
    html = text(client.get("/audit/?lang=en"))
    page = client.post("/audit/verify?lang=en", data={"csrf_token": csrf_token(html)})
    assert page.status_code == 200
    assert re.search(r'<form method="get" action="/audit/"', text(page))
    assert client.get("/audit/?actor=secretary&lang=en").status_code == 200


def test_favicon_is_served(client):
    page = client.get("/favicon.ico")
    assert page.status_code == 200 and page.data[:4] == b"\x00\x00\x01\x00"


def test_a_step_says_what_happened_and_what_comes_next(world, auth, client):
    case = funding_case(world)
    walk(case.id, world, ("submit", "branch_member"))
    auth.login("secretary")
    html = text(client.get(f"/cases/{case.id}?lang=en"))
    client.post(
        f"/cases/{case.id}/steps/secretary_approve?lang=en",
        data={"csrf_token": csrf_token(html), "version": "2"},
    )
    shown = text(client.get(f"/cases/{case.id}?lang=en"))
    assert "Done: " in shown
    assert "The case is now: " in shown and "Next: " in shown


def test_handler_lists_offer_working_roles_by_branch_and_name(world):
    options = cases.picker_options(world.branch.id, {"user"})["user"]
    ids = [uid for uid, _name in options]
    assert world["admin"].id not in ids and world["auditor"].id not in ids
    assert world["secretary"].id in ids


def test_the_opinion_form_names_every_bad_field_at_once(world, client):
    client.environ_base.update(IP)
    html = text(client.get("/opinions/?lang=en"))
    page = client.post(
        "/opinions/?lang=en",
        data={"csrf_token": csrf_token(html), "org": "", "f.subject": "", "f.text": ""},
    )
    assert page.status_code in (404, 422)
    body = text(page)
    assert body.count('class="field-error"') >= 3  # the organization, the subject, the text


def test_the_audit_export_names_organizations_in_the_readers_language(world, auth, client):
    auth.login("auditor")
    csv = client.get("/audit/?format=csv&lang=en").get_data(as_text=True)
    assert "Coal mine committee" in csv and "煤矿党委," not in csv
