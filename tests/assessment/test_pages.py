"""The assessment and survey pages: what each reader sees, the forms going through the same
services, exports, and refusals (out of scope, wrong role, bad input)."""

from __future__ import annotations

import re
from datetime import date

import pytest

from pbflow.procedures.assessment import rounds
from pbflow.procedures.assessment import scheme as schemes
from pbflow.procedures.satisfaction import services as survey
from tests.assessment import helpers
from tests.assessment.helpers import fire
from tests.conftest import audit_actions, csrf_token


@pytest.fixture
def published(world, clock):
    """A Q1 2026 round over b1 and b2, scored, voted and published on 2 April."""
    return helpers.published_round(world, clock)


def _login(client, auth, user):
    if "Log out" in client.get("/").get_data(as_text=True):
        auth.logout()
    auth.login(user)


def _get(client, auth, user, url, status=200):
    _login(client, auth, user)
    page = client.get(url)
    assert page.status_code == status, (url, page.status_code)
    return page.get_data(as_text=True)


def test_round_pages(client, auth, world, published):
    rid, b1, b2 = published, world.branch.id, world.other_branch.id
    html = _get(client, auth, "committee_a", "/assessment/")
    assert f"/assessment/rounds/{rid}" in html and "Latest ranking" in html
    assert f"/assessment/rounds/{rid}/branches/{b2}" in html
    html = _get(client, auth, "committee_a", f"/assessment/rounds/{rid}")
    assert "Mining team 1 branch" in html and "Electrical team branch" in html
    html = _get(client, auth, "committee_a", f"/assessment/rounds/{rid}/branches/{b1}")
    assert "/meetings/?" in html  # the records behind a computed figure
    assert "Record the decision" in html
    sheet = client.get(f"/assessment/rounds/{rid}/branches/{b1}/sheet.pdf")
    assert sheet.status_code == 200 and sheet.data.startswith(b"%PDF")
    assert "document_printed" in audit_actions(rid)
    csv = client.get(f"/assessment/rounds/{rid}?format=csv")
    assert csv.status_code == 200 and "Mining team 1 branch" in csv.get_data(as_text=True)
    assert client.get(f"/assessment/rounds/{rid}?format=xlsx").status_code == 200
    # A branch sees its own result, not the other's.
    html = _get(client, auth, "secretary", f"/assessment/rounds/{rid}")
    assert "Mining team 1 branch" in html and "Electrical team branch" not in html
    _get(client, auth, "secretary", f"/assessment/rounds/{rid}/branches/{b2}", 404)
    _get(client, auth, "secretary", f"/assessment/rounds/{rid}/branches/{b2}/sheet.pdf", 404)
    html = _get(client, auth, "secretary", f"/assessment/rounds/{rid}/branches/{b1}")
    assert "Lodge the appeal" in html
    _get(client, auth, "secretary", f"/assessment/branches/{b1}")
    _get(client, auth, "secretary", f"/assessment/branches/{b2}", 404)
    assert client.get(f"/assessment/branches/{b1}?format=csv").status_code == 200
    _get(client, auth, "secretary", f"/assessment/rounds/{rid + 999}", 404)
    # The round's case page links to its results.
    html = _get(client, auth, "committee_a", f"/cases/{rid}")
    assert f"/assessment/rounds/{rid}" in html and "Appeals over, close" in html


def test_forms_go_through_the_services(client, auth, world, published):
    rid, b1 = published, world.branch.id
    _login(client, auth, "secretary")
    url = f"/assessment/rounds/{rid}/branches/{b1}"
    token = csrf_token(client.get(url).get_data(as_text=True))
    refused = client.post(
        f"{url}/award",
        data={"csrf_token": token, "kind": "commendation", "text": "自夸", "decision": "无"},
    )
    assert refused.status_code == 403
    ok = client.post(
        f"{url}/appeal", data={"csrf_token": token, "reason": "有异议", "criterion": "opinions"}
    )
    assert ok.status_code == 302 and "/cases/" in ok.headers["Location"]
    again = client.post(f"{url}/appeal", data={"csrf_token": token, "reason": "再次"})
    assert again.status_code == 409 or again.status_code == 422 or again.status_code == 400
    # Scoring is over: refused with the state.
    late = client.post(
        f"{url}/score",
        data={
            "csrf_token": token,
            "criterion": "party_building",
            "score": "10",
            "justification": "x",
        },
    )
    assert late.status_code in (403, 409)


def test_scheme_pages(client, auth, world):
    html = _get(client, auth, "committee_a", "/assessment/schemes")
    token = csrf_token(html)
    text = schemes.dump(schemes.DEFAULT)
    bad = client.post(
        "/assessment/schemes",
        data={"csrf_token": token, "year": "2026", "scheme": text.replace("max: 30", "max: 31")},
    )
    assert bad.status_code == 422 and "add up to 101" in bad.get_data(as_text=True)
    ok = client.post(
        "/assessment/schemes", data={"csrf_token": token, "year": "2026", "scheme": text}
    )
    assert ok.status_code == 302
    html = client.get(ok.headers["Location"]).get_data(as_text=True)
    assert "Three meetings and one lesson held" in html
    _get(client, auth, "secretary", "/assessment/schemes")
    token = csrf_token(client.get("/assessment/schemes").get_data(as_text=True))
    refused = client.post(
        "/assessment/schemes", data={"csrf_token": token, "year": "2026", "scheme": text}
    )
    assert refused.status_code == 403
    _get(client, auth, "member", "/assessment/", 403)


def test_survey_pages(client, auth, world, clock):
    clock.set("2026-03-20T02:00:00")
    html = _get(client, auth, "committee_a", "/survey/manage")
    token = csrf_token(html)
    made = client.post(
        "/survey/manage",
        data={
            "csrf_token": token,
            "committee": str(world.committee.id),
            "title": "测评",
            "year": "2026",
            "quarter": "1",
            "sample_size": "3",
            "min_count": "1",
            "closes_on": "2026-03-31",
        },
    )
    assert made.status_code == 200 and made.headers["Cache-Control"] == "no-store"
    assert _print_links(made.get_data(as_text=True)) == ["Print", "The survey"]
    codes = re.findall(
        r"<li>([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})</li>", made.get_data(as_text=True)
    )
    assert len(codes) == 3 + 1
    if "Log out" in client.get("/").get_data(as_text=True):
        auth.logout()
    token = csrf_token(client.get("/survey/").get_data(as_text=True))
    page = client.post("/survey/", data={"csrf_token": token, "code": codes[0]})
    assert page.status_code == 200 and "rating_organization" in page.get_data(as_text=True)
    done = client.post(
        "/survey/",
        data={
            "csrf_token": token,
            "code": codes[0],
            "answer": "1",
            "rating_organization": "5",
            "rating_service": "4",
            "rating_conduct": "3",
        },
    )
    assert done.status_code == 200 and "Thank you" in done.get_data(as_text=True)
    used = client.post("/survey/", data={"csrf_token": token, "code": codes[0]})
    assert used.status_code == 404
    html = _get(client, auth, "committee_a", "/survey/manage/1")
    assert "Check the draw again" in html
    assert client.get("/survey/manage/1/recheck").headers["Location"].endswith("recheck=ok")
    _get(client, auth, "other_secretary", "/survey/manage/1", 404)
    assert survey.recheck(1)
    assert date(2026, 3, 31) == survey.get(world["committee_a"], 1).survey.closes_on


def test_a_branch_sees_no_manual_score_before_publication(client, auth, world, clock):
    clock.set("2026-04-02T02:00:00")
    a = world["committee_a"]
    schemes.save(a, 2026, schemes.DEFAULT)
    rid = rounds.open_round(a, world.committee.id, 2026, 1).id
    fire(rid, "start_scoring", a)
    rounds.score(a, rid, world.branch.id, "party_building", 3, "材料不全")
    url = f"/assessment/rounds/{rid}/branches/{world.branch.id}"
    assert "材料不全" in _get(client, auth, "committee_a", url)
    html = _get(client, auth, "secretary", url)
    assert "材料不全" not in html and "Shown once the results are published." in html
    csv = client.get(f"/assessment/rounds/{rid}?format=csv").get_data(as_text=True)
    assert ",3," not in csv and ",3.0," not in csv
    _get(client, auth, "secretary", f"{url}/sheet.pdf", 404)


def _print_links(html):
    """The items of the result sheet's print bar (the Print button, the PDF link)."""
    bar = re.search(r'<ul class="inline-links no-print">(.*?)</ul>', html, re.S)
    assert bar, "the print bar is a list whose items carry their separators (pbflow.css)"
    assert "·" not in bar[1]  # no separator in the text, to dangle where a line breaks
    return [re.sub(r"<[^>]+>", "", item).strip() for item in re.findall(r"<li>(.*?)</li>", bar[1])]


def test_the_result_sheets_print_bar_has_no_separator_to_dangle(client, auth, world, published):
    """On a phone the Print button filled its line and left the " · " before the PDF link
    alone at the start of the next: the bar is now a list whose separators are drawn by CSS
    for each item after the first, clipped where an item begins a line."""
    url = f"/assessment/rounds/{published}/branches/{world.branch.id}"
    assert _print_links(_get(client, auth, "committee_a", url)) == ["Print", "Result sheet (PDF)"]
    assert f'<li><a href="{url}/sheet.pdf">' in client.get(url).get_data(as_text=True)


def test_the_basis_of_each_figure_has_no_separator_to_dangle(client, auth, world, published):
    """A computed figure's basis (the count, its source, the records behind it) is a list
    too: a " · " in the text ended a line when the links wrapped, on a phone and at desktop
    width alike."""
    url = f"/assessment/rounds/{published}/branches/{world.branch.id}?lang=en"
    html = _get(client, auth, "committee_a", url)
    cells = re.findall(r'<td data-label="Basis">(.*?)</td>', html, re.S)
    parts = [
        [
            re.sub(r"<[^>]+>", "", item).strip()
            for item in re.findall(r"<li[^>]*>(.*?)</li>", c, re.S)
        ]
        for c in cells
    ]
    assert cells and all("·" not in cell for cell in cells)
    owed_nothing = "Nothing was owed in the period: full marks."
    assert [owed_nothing, "the records", "calendar"] in parts
    assert [owed_nothing, "opinion box ratings", "the records"] in parts
    assert '<li class="no-print"><a href="/meetings/?' in html  # the links stay off paper


def test_the_print_bar_before_publication_is_the_print_button_alone(client, auth, world, clock):
    clock.set("2026-04-02T02:00:00")
    a = world["committee_a"]
    schemes.save(a, 2026, schemes.DEFAULT)
    rid = rounds.open_round(a, world.committee.id, 2026, 1).id
    fire(rid, "start_scoring", a)
    url = f"/assessment/rounds/{rid}/branches/{world.branch.id}"
    assert _print_links(_get(client, auth, "secretary", url)) == ["Print"]


def test_bad_input_is_answered_readably(client, auth, world, published):
    rid, b1 = published, world.branch.id
    html = _get(client, auth, "committee_a", "/assessment/")
    token = csrf_token(html)
    for form in (
        {"committee": str(world.committee.id), "year": "abc", "quarter": "1"},
        {"committee": "99999999999999999999", "year": "2026", "quarter": "1"},
        {"committee": str(world.committee.id), "year": "2026", "quarter": "9"},
        {"committee": str(world.committee.id), "year": "2026", "quarter": "1", "branches": "x"},
    ):
        answer = client.post("/assessment/rounds", data={"csrf_token": token, **form})
        assert answer.status_code == 422, form
    assert client.get("/assessment/rounds/99999999999999999999").status_code == 404
    url = f"/assessment/rounds/{rid}/branches/{b1}"
    award = client.post(
        f"{url}/award",
        data={"csrf_token": token, "kind": "bonus", "text": "x", "decision": "y"},
    )
    assert award.status_code == 422
    long = client.post(
        f"{url}/award",
        data={"csrf_token": token, "kind": "criticism", "text": "x", "decision": "y" * 501},
    )
    assert long.status_code == 422 and "at most 500" in long.get_data(as_text=True)
    nul = client.post(
        f"{url}/award",
        data={"csrf_token": token, "kind": "criticism", "text": "x\x00", "decision": "y"},
    )
    assert nul.status_code in (400, 422)
    html = _get(client, auth, "committee_a", "/survey/manage")
    bad = client.post(
        "/survey/manage",
        data={
            "csrf_token": csrf_token(html),
            "committee": str(world.committee.id),
            "title": "t",
            "year": "2026",
            "quarter": "1",
            "sample_size": "0",
            "min_count": "1",
            "closes_on": "2026-13-45",
        },
    )
    assert bad.status_code == 422
    # The form is still there to correct, with the committee to run it for.
    again = bad.get_data(as_text=True)
    assert 'name="sample_size"' in again and f'value="{world.committee.id}"' in again


def test_the_branch_assessment_is_not_called_an_assessment_opinion_in_chinese(
    client, auth, world, published
):
    """'Assessment' is, in Chinese, a member's 考察意见 (the half-yearly assessment of an
    activist); the branch assessment's menu entry, titles and crumbs say 支部考核."""
    rid, b1 = published, world.branch.id
    _login(client, auth, "committee_a")
    for url in (
        "/assessment/?lang=zh",
        f"/assessment/rounds/{rid}?lang=zh",
        f"/assessment/rounds/{rid}/branches/{b1}?lang=zh",
        f"/assessment/branches/{b1}?lang=zh",
        "/assessment/schemes?lang=zh",
    ):
        html = client.get(url).get_data(as_text=True)
        assert "考察意见" not in html, url
        assert "支部考核" in html, url
    html = client.get("/assessment/?lang=en").get_data(as_text=True)
    assert "<title>Branch assessment" in html


def test_ranking_cards_on_a_phone_keep_labels_beside_the_scores(client, auth, world, published):
    """On a phone each ranked branch is a card whose criterion names sit in the label column:
    the ranking's narrow cell padding (for the wide table) must not apply there, or the long
    names were drawn over the scores (the supervision tables' inline figures)."""
    html = _get(client, auth, "committee_a", f"/assessment/rounds/{published}?lang=en")
    assert 'class="list sv-table as-rank"' in html
    css = client.get("/static/pbflow.css").get_data(as_text=True)
    phone = re.search(
        r"@media \(max-width: 40rem\) \{\s*table\.list\.as-rank td, table\.list\.as-rank td\.num"
        r" \{([^}]*)\}",
        css,
    )
    assert phone, "no phone rule for the ranking's cells"
    assert "display: flow-root" in phone[1] and "padding-left: 6.5rem" in phone[1]
