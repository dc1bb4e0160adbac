"""What a newcomer met walking the pages in Chinese and English (the phone sweep), through the
real routes: words that meant something else in Chinese, list items joined with an English
comma in Chinese sentences, and tap targets too small on a phone."""

from __future__ import annotations

import re

from tests.conftest import csrf_token

IP = {"REMOTE_ADDR": "203.0.113.70"}
OPINION = {
    "f.subject": "班车时间",
    "f.text": "夜班下班后要等四十分钟班车。",
    "f.category": "welfare",
    "f.anonymous": "1",
}


def _drop(client, url: str, **changes):
    token = csrf_token(client.get(url, environ_base=IP).get_data(as_text=True))
    data = {**OPINION, "csrf_token": token, **changes}
    return client.post(url, data=data, environ_base=IP)


def test_the_opinion_box_names_the_receiving_organization_not_a_deadline(client, world):
    """The English "To" was translated for a date range (截止日期, "closing date"): the
    opinion box's organization field and its slip said a branch's name was a deadline."""
    page = client.get("/opinions/?lang=zh", environ_base=IP).get_data(as_text=True)
    label = re.search(r'<label for="f-org">([^<]*)<', page).group(1).strip()
    assert label == "接收组织"
    slip = _drop(client, "/opinions/?lang=zh", org="b1").get_data(as_text=True)
    assert "<dt>接收组织</dt><dd>采煤一队党支部</dd>" in slip
    # The subject is the title the form asked for, not "对象" (a person, a target).
    assert "<dt>标题</dt><dd>班车时间</dd>" in slip
    assert "截止日期" not in slip and "对象" not in slip
    english = _drop(client, "/opinions/b1?lang=en").get_data(as_text=True)
    assert "<dt>Addressed to</dt>" in english and "<dt>Subject</dt>" in english


def test_the_audit_export_names_states_not_dates(client, world, auth):
    """The export's from/to columns are the states before and after an event."""
    auth.login("auditor")
    head = client.get("/audit/?format=csv&lang=zh").get_data(as_text=True).splitlines()[0]
    assert "原状态" in head and "新状态" in head and "截止日期" not in head
    head = client.get("/audit/?format=csv&lang=en").get_data(as_text=True).splitlines()[0]
    assert "State before" in head and "State after" in head


def test_steps_possible_within_a_step_are_listed_the_chinese_way(client, world, auth):
    """A list of steps in a Chinese sentence is joined with 、, not an English comma."""
    _drop(client, "/opinions/b1?lang=en")
    auth.login("secretary")
    page = client.get("/cases?lang=en").get_data(as_text=True)
    case_id = re.search(r'href="/cases/(\d+)"', page).group(1)
    zh = client.get(f"/cases/{case_id}?lang=zh").get_data(as_text=True)
    line = re.search(r"本步骤中还可以：([^<]*)。", zh).group(1)
    assert "、" in line and ", " not in line
    en = client.get(f"/cases/{case_id}?lang=en").get_data(as_text=True)
    line = re.search(r"Possible here without leaving the step: ([^<]*)\.", en).group(1)
    assert ", " in line


def test_the_meeting_form_attendance_boxes_are_tapped_by_their_line(client, world, auth):
    """Each attendance check box sits in a label of its own (a 44 px line on a phone,
    pbflow.css), named "present" besides the member's name."""
    auth.login("secretary")
    page = client.get(f"/meetings/new?org={world.branch.id}&lang=en").get_data(as_text=True)
    assert '<table class="list attendance">' in page
    boxes = re.findall(r'<label class="check"><input type="checkbox" id="att-\d+"', page)
    assert boxes and len(boxes) == page.count('name="present"')
    assert '<span class="visually-hidden">Present</span></label>' in page
    css = client.get("/static/pbflow.css").get_data(as_text=True)
    assert "table.attendance td > label" in css


def test_an_expired_form_links_back_to_its_page(client, world, auth):
    """The "Form expired" page told to go back and reload, and offered only the start page:
    it now links to the page the form was on (its own site's Referer), to load it afresh."""
    _drop(client, "/opinions/b1?lang=en")
    auth.login("secretary")
    page = client.get("/cases?lang=en").get_data(as_text=True)
    case_id = re.search(r'href="/cases/(\d+)"', page).group(1)
    form_page = f"http://localhost/cases/{case_id}?lang=en"
    refused = client.post(
        f"/cases/{case_id}/comments",
        data={"body": "请尽快处理", "csrf_token": "expired"},
        headers={"Referer": form_page, "Origin": "http://localhost"},
    )
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "security token" in html
    assert f'<a class="button" href="/cases/{case_id}?lang=en">Open the form again</a>' in html
    assert "请尽快处理" in html  # what was typed, still shown to copy
    # Nothing typed (a button's form): the link still comes.
    bare = client.post(
        f"/cases/{case_id}/comments", data={"csrf_token": "expired"}, headers={"Referer": form_page}
    ).get_data(as_text=True)
    assert "Open the form again" in bare
    # Another site's address is never linked to.
    elsewhere = client.post(
        f"/cases/{case_id}/comments",
        data={"csrf_token": "expired"},
        headers={"Referer": f"https://evil.example/cases/{case_id}"},
    ).get_data(as_text=True)
    assert "Open the form again" not in elsewhere and "evil.example" not in elsewhere
    # Nor a path of this site that a browser would read as another host's ("/\\evil").
    for path in ("//evil.example/x", "/\\evil.example/x"):
        sideways = client.post(
            f"/cases/{case_id}/comments",
            data={"csrf_token": "expired"},
            headers={"Referer": f"http://localhost{path}"},
        ).get_data(as_text=True)
        assert "Open the form again" not in sideways and "evil.example" not in sideways, path


def _unmarked_required(html: str) -> list[str]:
    """Ids of required fields whose label does not carry the required-field mark."""
    ids = re.findall(r'<(?:input|select|textarea)[^>]*\sid="([^"]+)"[^>]*\srequired[\s>]', html)
    return [
        i
        for i in ids
        if not re.search(rf'<label for="{re.escape(i)}">[^<]*<span class="req"', html)
    ]


def test_the_meeting_and_training_forms_mark_their_required_fields(client, world, auth):
    """Like the workflow forms and the opinion box, the meeting record's and the training
    record's required fields carry the * in their label (a phone's browser says nothing of
    a missing value until the form is sent)."""
    auth.login("secretary")
    branch = world.branch.id
    meeting = client.get(f"/meetings/new?org={branch}&lang=zh").get_data(as_text=True)
    assert 'id="m-topic"' in meeting and _unmarked_required(meeting) == []
    training = client.get(f"/meetings/training/{branch}/new?lang=zh").get_data(as_text=True)
    assert 'id="t-hours"' in training and _unmarked_required(training) == []
