"""The public opinion box pages and the opinion book, through the real routes."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import event, func, select

from pbflow.engine import runtime
from pbflow.extensions import db
from pbflow.models import ProcessInstance
from pbflow.procedures.opinion_box import services as opinions
from tests.conftest import csrf_token

OWN_PAGE = {"Origin": "http://localhost"}  # what a browser sends from our own page
FORM = {
    "f.subject": "食堂饭菜价格偏高",
    "f.text": "最近食堂套餐涨价，希望支部了解情况并反映。",
    "f.category": "welfare",
    "f.anonymous": "1",
}
IP = {"REMOTE_ADDR": "203.0.113.50"}


@pytest.fixture(autouse=True)
def english(client):
    """Pages in English, so assertions can quote the messages; every request (a login too)
    comes from the visitor's one address, as in a browser (a session moved to another address
    ends under Flask-Login's strong session protection)."""
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    client.environ_base.update(IP)


def post_opinion(client, url="/opinions/b1", **changes):
    token = csrf_token(client.get(url).get_data(as_text=True))
    data = {**FORM, "csrf_token": token, **changes}
    return client.post(url, data={k: v for k, v in data.items() if v is not None}, environ_base=IP)


def code_on(page) -> str:
    match = re.search(r'class="code"[^>]*>([0-9A-Z-]{19})<', page.get_data(as_text=True))
    assert match, "no tracking code on the page"
    return match.group(1)


def track(client, code):
    token = csrf_token(client.get("/opinions/track").get_data(as_text=True))
    return client.post("/opinions/track", data={"code": code, "csrf_token": token}, environ_base=IP)


def act(client, code, trigger, fields, version=None):
    page = track(client, code)
    html = page.get_data(as_text=True)
    if version is None:
        version = re.search(r'name="version" value="(\d+)"', html).group(1)
    token = csrf_token(client.get("/opinions/track").get_data(as_text=True))
    data = {"code": code, "csrf_token": token, "version": version}
    data.update({f"f.{k}": v for k, v in fields.items()})
    return client.post(f"/opinions/track/{trigger}", data=data, environ_base=IP)


def publish(world, code):
    case_id = opinions._case_for_code(code)
    runtime.fire(case_id, "accept", world["secretary"])
    runtime.fire(case_id, "assign", world["secretary"], {"handler": world["branch_member"].id})
    runtime.fire(
        case_id, "answer", world["branch_member"], {"answer": "已与食堂协商，下月起降价。"}
    )
    runtime.fire(case_id, "approve_answer", world["secretary"])
    runtime.fire(case_id, "publish", world["secretary"])
    return case_id


def cases_count() -> int:
    return db.session.execute(select(func.count()).select_from(ProcessInstance)).scalar()


def test_general_box_lists_branches_and_committee_and_defaults_to_anonymous(client, world):
    html = client.get("/opinions/").get_data(as_text=True)
    for org in (world.committee, world.general_branch, world.branch, world.other_branch):
        assert f'value="{org.code}"' in html
    assert re.search(r'name="f.anonymous" value="1" checked', html)
    assert 'name="website"' in html  # the honeypot


def test_logged_in_user_sees_the_box_unticked_and_is_told(client, world, auth):
    auth.login("member")
    html = client.get("/opinions/b1").get_data(as_text=True)
    assert not re.search(r'name="f.anonymous" value="1" checked', html)
    assert "carries your name" in html


def test_a_logged_in_user_is_warned_that_device_and_network_may_still_link_them(
    client, world, auth
):
    warning = 'id="op-anonymous-warning"'
    assert warning not in client.get("/opinions/b1").get_data(as_text=True)  # no login, no link
    auth.login("member")
    html = client.get("/opinions/b1").get_data(as_text=True)
    assert warning in html
    assert "Your own device and network may still link you to it" in html
    assert "log out first" in html
    # Shown while the box is ticked, by the stylesheet (no inline script or style).
    css = client.get("/static/opinions.css").get_data(as_text=True)
    assert "#op-anonymous:not(:checked)) .anon-warning { display: none; }" in css
    # The same warning in Chinese, and again when a refused form comes back ticked.
    page = client.get("/opinions/b1?lang=zh").get_data(as_text=True)
    assert "您自己的设备和网络仍可能把您与这条意见联系起来" in page
    refused = post_opinion(client, **{"f.subject": ""})
    assert refused.status_code == 422 and warning in refused.get_data(as_text=True)


def test_the_slip_says_an_anonymous_opinion_is_dated_to_the_hour(client, world, clock):
    clock.set("2026-03-02T02:47:13")
    html = post_opinion(client).get_data(as_text=True)
    assert "2026-03-02 10:00" in html and "dated to the hour" in html
    assert "10:47" not in html


def test_submit_shows_the_code_once_and_keeps_it_out_of_cache_and_session(client, app, world):
    page = post_opinion(client)
    assert page.status_code == 200
    code = code_on(page)
    assert page.headers["Cache-Control"] == "no-store"
    assert "Print the slip" in page.get_data(as_text=True)
    cookie = client.get_cookie("session")
    session = app.session_interface.get_signing_serializer(app).loads(cookie.value)
    assert set(session) <= {"csrf_token", "_flashes"}
    assert code not in str(session) and code.replace("-", "") not in str(session)
    # Nothing on the follow page's URL either: it is a form post.
    followed = track(client, code.lower().replace("-", " "))
    assert followed.status_code == 200
    assert "食堂饭菜价格偏高" in followed.get_data(as_text=True)


def test_general_box_needs_an_organization_and_keeps_the_text(client, world):
    page = post_opinion(client, url="/opinions/", org="")
    assert page.status_code == 404
    html = page.get_data(as_text=True)
    # It says what to do, not that the (unchosen) organization has no box.
    assert "Choose where the opinion goes: your branch or the party committee." in html
    assert "There is no opinion box for this organization" not in html
    assert "最近食堂套餐涨价" in html
    page = post_opinion(client, url="/opinions/", org="nowhere")
    assert page.status_code == 404
    assert "There is no opinion box for this organization" in page.get_data(as_text=True)
    page = post_opinion(client, url="/opinions/", org="b2")
    assert page.status_code == 200
    case = db.session.get(ProcessInstance, opinions._case_for_code(code_on(page)))
    assert case.org_id == world.other_branch.id


def test_unknown_box_is_404(client, world):
    assert client.get("/opinions/nowhere").status_code == 404


def test_public_forms_need_the_csrf_token(client, world):
    page = client.post("/opinions/b1", data=FORM, environ_base=IP)
    assert page.status_code == 400 and cases_count() == 0
    page = client.post("/opinions/track", data={"code": opinions.new_code()})
    assert page.status_code == 400


def test_unknown_wrong_and_malformed_codes_answer_the_same(client, world):
    code = code_on(post_opinion(client))
    near = code[:-1] + ("0" if code[-1] != "0" else "1")
    pages = [track(client, c) for c in (opinions.new_code(), near, "hello", "")]
    assert {p.status_code for p in pages} == {404}
    bodies = {
        re.sub(
            r'name="csrf_token" value="[^"]+"|value="[^"]*" placeholder',
            "",
            p.get_data(as_text=True),
        )
        for p in pages
    }
    assert len(bodies) == 1
    assert "No opinion matches this tracking code" in bodies.pop()


def test_follow_add_information_then_rate(client, world):
    code = code_on(post_opinion(client))
    page = act(client, code, "add_information", {"more_info": "晚班套餐尤其贵。"})
    assert page.status_code == 200
    assert "晚班套餐尤其贵。" in page.get_data(as_text=True)
    publish(world, code)
    html = track(client, code).get_data(as_text=True)
    assert "已与食堂协商，下月起降价。" in html and "Please rate by" in html
    page = act(client, code, "accept_answer", {"rating": "9", "rating_comment": "还可以"})
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    assert "must be at most 5" in html and "还可以" in html  # typed comment kept
    page = act(client, code, "accept_answer", {"rating": "4", "rating_comment": "还可以"})
    assert page.status_code == 200 and "Thank you for your rating" in page.get_data(as_text=True)
    # A second rating: the case is closed, no form is offered, a forged post is refused.
    html = track(client, code).get_data(as_text=True)
    assert 'action="/opinions/track/accept_answer"' not in html
    page = act(client, code, "accept_answer", {"rating": "1"}, version="99")
    assert page.status_code == 409
    assert opinions.follow(code, user=None, client="x").rating == 4


def test_stale_form_is_refused_with_a_reload_message(client, world):
    code = code_on(post_opinion(client))
    page = act(client, code, "add_information", {"more_info": "第一次"}, version="1")
    assert page.status_code == 200
    page = act(client, code, "add_information", {"more_info": "重复提交"}, version="1")
    assert page.status_code == 409
    html = page.get_data(as_text=True)
    assert "reload" in html and "重复提交" in html


def test_reject_reopens_until_the_limit(client, world):
    world.committee.settings = {"opinion": {"max_reopens": 1}}
    db.session.commit()
    code = code_on(post_opinion(client))
    case_id = publish(world, code)
    page = act(client, code, "reject_answer", {"reject_reason": "价格没有变化"})
    assert page.status_code == 200 and "reopened" in page.get_data(as_text=True)
    runtime.fire(case_id, "answer", world["branch_member"], {"answer": "已调整价格表"})
    runtime.fire(case_id, "approve_answer", world["secretary"])
    runtime.fire(case_id, "publish", world["secretary"])
    html = track(client, code).get_data(as_text=True)
    assert "the most allowed" in html  # shown as blocked, with the reason
    version = str(runtime.load_case(case_id).version)
    page = act(client, code, "reject_answer", {"reject_reason": "还是贵"}, version=version)
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    assert "the most allowed" in html
    assert runtime.load_case(case_id).data["reopen_count"] == 1


def test_rate_limit_says_why_and_keeps_the_text(client, app, world):
    app.config["PBFLOW_OPINION_SUBMIT_LIMIT"] = 1
    assert post_opinion(client).status_code == 200
    page = post_opinion(client)
    assert page.status_code == 429
    html = page.get_data(as_text=True)
    assert "Too many opinions" in html and "最近食堂套餐涨价" in html
    assert cases_count() == 1


def test_honeypot_is_refused_and_keeps_the_text(client, world):
    page = post_opinion(client, website="http://spam.example")
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    assert "Leave this empty" in html and "最近食堂套餐涨价" in html
    assert cases_count() == 0


def test_oversize_text_is_refused_and_kept(client, world):
    page = post_opinion(client, **{"f.text": "长" * 5001})
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    assert "must be at most 5000 characters" in html and "长" * 5001 in html
    assert cases_count() == 0


def test_named_without_contact_is_refused_with_the_reason(client, world):
    page = post_opinion(client, **{"f.anonymous": None})
    assert page.status_code == 422
    assert "how to reach you" in page.get_data(as_text=True)


# --- the opinion book ------------------------------------------------------------------------


def _rated_opinion(world, rating: int | None, org="b1"):
    slip = opinions.submit(
        org,
        {
            "subject": "意见",
            "text": '=HYPERLINK("http://x")',
            "category": "other",
            "anonymous": "1",
        },
        user=None,
        client=f"rated-{rating}-{org}-{opinions.new_code()}",
    )
    case_id = opinions._case_for_code(slip.code)
    if rating is not None:
        publish(world, slip.code)
        opinions.act(
            slip.code,
            "accept_answer",
            {"rating": rating},
            expected_version=None,
            user=None,
            client="x",
        )
    return case_id


def test_book_shows_answers_ratings_and_figures(client, world, auth):
    for rating in (5, 4, 2, None):
        _rated_opinion(world, rating)
    auth.login("secretary")
    page = client.get("/opinions/b1/book")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "已与食堂协商，下月起降价。" in html
    assert html.count('class="book-entry"') == 4
    # The answer's day and whether it was on time, in the page's punctuation.
    on = opinions.book("b1", opinions.parse_period(None, None), viewer=world["secretary"])
    day = next(r.answered_on for r in on.rows if r.answer)
    for lang, said in (("zh", f"答复（{day}，按期）："), ("en", f"Answer ({day}, on time):")):
        client.set_cookie("pbflow_lang", lang)
        assert said in client.get("/opinions/b1/book").get_data(as_text=True), lang
    b = opinions.book("b1", opinions.parse_period(None, None), viewer=world["secretary"])
    assert (b.total.received, b.total.answered, b.total.answered_on_time) == (4, 3, 3)
    assert b.total.mean_rating == pytest.approx(11 / 3)
    assert b.total.satisfied_share == pytest.approx(2 / 3)
    assert b.total.average_days == 0


def test_general_branch_book_has_figures_per_branch(client, world, auth):
    _rated_opinion(world, 5, org="b1")
    slip = opinions.submit(
        "gb1",
        {"subject": "总支意见", "text": "内容内容内容", "category": "other", "anonymous": "1"},
        user=None,
        client="gb",
    )
    auth.login("gb_secretary")
    html = client.get("/opinions/gb1/book").get_data(as_text=True)
    # An English page names the branches by their English names, in the figures too.
    assert "总支意见" in html and world.branch.name_en in html and world.branch.name not in html
    b = opinions.book("gb1", opinions.parse_period(None, None), viewer=world["gb_secretary"])
    assert {f.org_id: f.received for f in b.by_org} == {
        world.general_branch.id: 1,
        world.branch.id: 1,
    }
    assert slip.org_name == world.general_branch.name


def test_the_case_history_names_the_tracking_code_holder_in_the_page_language(client, world, auth):
    case_id = _rated_opinion(world, 5)
    auth.login("secretary")
    page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "<strong>Anonymous</strong>" in page and "<strong>anonymous</strong>" not in page
    page = client.get(f"/cases/{case_id}?lang=zh").get_data(as_text=True)
    assert "<strong>匿名</strong>" in page and "<strong>anonymous</strong>" not in page


def test_book_csv_export_escapes_formulas(client, world, auth):
    _rated_opinion(world, 5)
    auth.login("secretary")
    page = client.get("/opinions/b1/book.csv")
    assert page.status_code == 200 and page.mimetype == "text/csv"
    text = page.get_data(as_text=True)
    assert text.startswith("\ufeff")
    assert "'=HYPERLINK" in text and ",=HYPERLINK" not in text
    assert "attachment" in page.headers["Content-Disposition"]


def test_book_of_another_branch_is_refused(client, world, auth):
    _rated_opinion(world, 5)
    assert client.get("/opinions/b1/book").status_code == 302  # to the login page
    auth.login("other_secretary")
    assert client.get("/opinions/b1/book").status_code == 403
    assert client.get("/opinions/b1/book.csv").status_code == 403
    auth.logout()
    auth.login("member")  # a plain member of the branch reads no book
    assert client.get("/opinions/b1/book").status_code == 403
    auth.logout()
    auth.login("gb_secretary")  # the superior may
    assert client.get("/opinions/b1/book").status_code == 200


def test_the_book_of_an_organization_that_is_not_there_is_not_found(client, world, auth):
    """The book's organization is found by its code in the organizations each request reads:
    a code no organization has, a code in other letters, or an organization just added."""
    from pbflow.services import accounts

    auth.login("secretary")
    for code in ("no-such", "B1", "b1 "):
        assert client.get(f"/opinions/{code}/book").status_code == 404, code
    assert client.get("/opinions/b1/book").status_code == 200
    accounts.create_org("b9", "Branch nine", "branch", world.general_branch)
    auth.logout()
    auth.login("gb_secretary")  # the general branch's secretary reads the new branch's book
    assert client.get("/opinions/b9/book").status_code == 200


def test_book_period_is_checked(client, world, auth):
    auth.login("secretary")
    page = client.get("/opinions/b1/book?from=2026-03-10&to=2026-03-01")
    assert page.status_code == 400 and "ends before it starts" in page.get_data(as_text=True)
    page = client.get("/opinions/b1/book?from=yesterday")
    assert page.status_code == 400


def test_a_refused_book_period_comes_back_in_the_form_to_correct(client, world, auth):
    auth.login("secretary")
    page = client.get("/opinions/b1/book?from=2026-03-10&to=2026-03-01")
    html = page.get_data(as_text=True)
    assert page.status_code == 400 and "ends before it starts" in html
    assert re.search(r'<input type="date" id="from" name="from" value="2026-03-10">', html)
    assert re.search(r'<input type="date" id="to" name="to" value="2026-03-01">', html)


@pytest.mark.parametrize("dates", ["from=2026-03-10&to=2026-03-01", "from=yesterday", ""])
def test_whoever_may_not_read_the_book_is_refused_as_such_whatever_the_dates(
    client, world, auth, dates
):
    """The rights come first: a member, or another branch's secretary, gets 403 for the
    book and its exports, not a 400 about the dates with an empty form."""
    for who in ("member", "other_secretary"):
        auth.login(who)
        for path in ("/opinions/b1/book", "/opinions/b1/book.csv"):
            assert client.get(f"{path}?{dates}").status_code == 403, (who, path)
        auth.logout()


def test_book_issues_a_bounded_number_of_statements(client, world, auth):
    auth.login("secretary")
    _rated_opinion(world, 5)

    def statements() -> int:
        seen = []

        def count(*_args):
            seen.append(1)

        event.listen(db.engine, "before_cursor_execute", count)
        try:
            assert client.get("/opinions/b1/book").status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        return len(seen)

    few = statements()
    for rating in (4, 3, 5, None, 2, 1):
        _rated_opinion(world, rating)
    assert statements() == few


def test_the_generic_case_page_serves_the_organization_side(client, world, auth):
    code = code_on(post_opinion(client))
    case_id = opinions._case_for_code(code)
    auth.login("other_secretary")  # a member of another branch may not read the case
    page = client.get(f"/cases/{case_id}")
    assert page.status_code in (403, 404)  # the case page does not even confirm it exists
    assert "最近食堂套餐涨价" not in page.get_data(as_text=True)
    auth.logout()
    auth.login("secretary")
    page = client.get(f"/cases/{case_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "最近食堂套餐涨价" in html
    for trigger in ("accept", "set_aside", "transfer"):
        assert f"/cases/{case_id}/steps/{trigger}" in html
    # The submitter's own steps are not offered to the organization.
    assert f"/cases/{case_id}/steps/add_information" not in html


@pytest.mark.slow
def test_demo_loads_opinions_in_every_state(app, clock):
    from pbflow import demo
    from pbflow.procedures.opinion_box import services as service

    world = demo.load_if_empty()
    assert world is not None
    states = (
        db.session.execute(
            select(ProcessInstance.state).where(ProcessInstance.workflow_id == service.WORKFLOW)
        )
        .scalars()
        .all()
    )
    assert set(states) == {
        "received",
        "assigned",
        "in_review",
        "published",
        "closed",
        "set_aside",
    }
    b = service.book("b1", service.parse_period(None, None), viewer=world.user("chen.shuji"))
    assert b.total.received == 7 and b.total.reopened == 1
    assert (b.total.rated, b.total.rating_sum, b.total.satisfied) == (2, 8, 1)


def test_a_step_with_a_wrong_code_is_refused_like_a_lookup(client, app, world):
    app.config["PBFLOW_OPINION_TRACK_LIMIT"] = 2
    token = csrf_token(client.get("/opinions/track").get_data(as_text=True))
    data = {"code": opinions.new_code(), "csrf_token": token, "f.more_info": "x"}
    page = client.post("/opinions/track/add_information", data=data, environ_base=IP)
    assert page.status_code == 404
    assert "No opinion matches this tracking code" in page.get_data(as_text=True)
    page = client.post("/opinions/track/add_information", data=data, environ_base=IP)
    assert page.status_code == 404
    # Two wrong codes used up this client's tries: even a right code waits for the window.
    code = code_on(post_opinion(client))
    page = track(client, code)
    assert page.status_code == 429 and "Too many tracking codes" in page.get_data(as_text=True)


def test_an_opinion_posted_after_the_session_ended_is_shown_back_to_copy(client, world):
    # The form's token no longer matches a session (it ended, or the cookie was cleared).
    page = client.post(
        "/opinions/b1", data={**FORM, "csrf_token": "stale"}, environ_base=IP, headers=OWN_PAGE
    )
    html = page.get_data(as_text=True)
    assert page.status_code == 400 and "security token" in html
    assert "What you typed (nothing was saved)" in html
    assert FORM["f.text"] in html and FORM["f.subject"] in html
    assert ">welfare<" not in html and ">1<" not in html  # the choices are not text
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert cases_count() == 0
    # What Chromium sends from the opinion box's own page, which sends no referrer: an opaque
    # Origin, and Sec-Fetch-Site saying the form was this site's own.
    page = client.post(
        "/opinions/b1",
        data={**FORM, "csrf_token": "stale"},
        environ_base=IP,
        headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"},
    )
    assert page.status_code == 400 and FORM["f.text"] in page.get_data(as_text=True)
    assert cases_count() == 0


def test_the_expired_form_page_never_shows_a_password_or_a_tracking_code(client, world):
    secret = "my old secret phrase"
    page = client.post(
        "/account/password",
        data={"current": secret, "new": "new secret phrase", "confirm": "new secret phrase"},
        headers=OWN_PAGE,
    )
    html = page.get_data(as_text=True)
    assert page.status_code == 400 and "security token" in html
    assert "secret phrase" not in html and "What you typed" not in html
    page = client.post("/opinions/track", data={"code": "ABCD EFGH JKMN PQRS"}, headers=OWN_PAGE)
    assert page.status_code == 400 and "ABCD" not in page.get_data(as_text=True)


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://elsewhere.example"},
        {"Referer": "https://elsewhere.example/form.html"},
        {},  # neither: not known to come from pbflow's page
        {"Origin": "null"},  # an opaque origin (a sandboxed frame, a data: page)
        {"Sec-Fetch-Site": "cross-site", "Origin": "https://elsewhere.example"},
        {"Sec-Fetch-Site": "same-site", "Origin": "http://other.localhost"},  # a sibling host
    ],
)
def test_a_form_another_site_posts_is_not_shown_back(client, world, headers):
    """Another site can make a browser post its own text here; the token check refuses it,
    and its text must not then appear on a page of pbflow's (to mislead its reader)."""
    text = "您的账号已被冻结，请致电 400-000-0000 解冻"
    page = client.post(
        "/opinions/b1",
        data={**FORM, "f.text": text, "csrf_token": "forged"},
        environ_base=IP,
        headers=headers,
    )
    html = page.get_data(as_text=True)
    assert page.status_code == 400 and "security token" in html
    assert text not in html and "What you typed" not in html
    assert cases_count() == 0


def test_the_books_table_shows_organizations_with_figures_and_names_the_others(client, world, auth):
    """A committee's party groups rarely receive an opinion: its table lists those with
    something to count and the total, and names the others below it."""
    _rated_opinion(world, 5, org="b1")
    auth.login("committee_a")
    client.set_cookie("pbflow_lang", "en")
    html = client.get("/opinions/coal/book").get_data(as_text=True)
    table = re.search(r'<table class="figures">.*?</table>', html, re.S).group(0)
    quiet = re.search(r'<details class="quiet-orgs">.*?</details>', html, re.S).group(0)
    assert world.branch.name_en in table and "Total" in table
    others = (world.committee, world.general_branch, world.other_branch)
    for org in others:
        assert org.name_en not in table and org.name_en in quiet, org.code
    assert "3 organizations had nothing to count in this period" in quiet
    client.set_cookie("pbflow_lang", "zh")
    html = client.get("/opinions/coal/book").get_data(as_text=True)
    assert "3 个组织在此期间没有可统计的意见" in html
    b = opinions.book("coal", opinions.parse_period(None, None), viewer=world["committee_a"])
    assert [f.org_id for f in b.with_figures] == [world.branch.id]
    assert {f.org_id for f in b.without_figures} == {org.id for org in others}
    assert b.total.received == 1
    # A branch's own book has its one row, the total: nothing named below it.
    auth.logout()
    auth.login("secretary")
    assert 'class="quiet-orgs"' not in client.get("/opinions/b1/book").get_data(as_text=True)
