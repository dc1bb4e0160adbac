"""The supervision dashboard and the meetings calendar as pages: who sees what, refusals of
bad input with a clear 4xx, no inline script or style (CSP), colour never the only signal,
overdue work and the development pipeline counted right, and a number of SQL statements per
request that does not grow with the number of branches, people, meetings or cases."""

from __future__ import annotations

import re
from contextlib import contextmanager
from datetime import date

import pytest
from sqlalchemy import event

from pbflow.engine import runtime
from pbflow.extensions import db
from pbflow.procedures.supervision.dashboard import SECTIONS, dashboard
from pbflow.services import accounts, periods
from tests.conftest import make_user
from tests.pages_helpers import forget_kept_figures, funding_case, text, walk
from tests.supervision import helpers as h


@contextmanager
def count_queries():
    seen: list[str] = []

    def before(_conn, _cursor, statement, *_args):
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", before)


def no_inline_code(html: str) -> None:
    """What a Content-Security-Policy without 'unsafe-inline' would block."""
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script"
    assert not re.search(r"\sstyle=", html), "style attribute"
    assert not re.search(r"<style", html), "style element"
    assert not re.search(r"\son[a-z]+=", html), "event handler attribute"


def test_the_dashboard_is_for_readers_of_an_organization(world, client, auth):
    auth.login("member")
    assert 'href="/supervision/"' not in text(client.get("/inbox"))
    page = client.get("/supervision/")
    assert page.status_code == 403 and "read an organization" in text(page)
    # Told so whatever the query asks for (not that a section is unknown).
    for query in ("section=work", "section=bogus", "period=decade"):
        page = client.get(f"/supervision/?{query}")
        assert page.status_code == 403 and "read an organization" in text(page), query
    auth.logout()
    auth.login("secretary")
    assert 'href="/supervision/"' in text(client.get("/inbox"))
    page = text(client.get("/supervision/"))
    assert "Supervision: Mining team 1 branch" in page
    assert client.get(f"/supervision/?org={world.other_branch.id}").status_code == 404
    auth.logout()
    auth.login("committee_a")
    page = client.get("/supervision/?period=month&on=2026-03-05")
    html = text(page)
    assert page.status_code == 200 and "2026-03" in html
    assert 'id="compliance"' in html and 'class="sv-summary"' in html
    assert page.headers.get("Cache-Control") in (None, "no-store")  # sec branch sets no-store
    # Each concern on its own page of the dashboard, for the same organization and period.
    sections = ("work", "development", "opinions", "rectification", "membership", "training")
    for section in (*sections, "notices"):
        page = client.get(f"/supervision/?period=month&on=2026-03-05&section={section}")
        html = text(page)
        assert page.status_code == 200 and "2026-03" in html
        assert f'id="{section}"' in html
        assert 'id="compliance"' not in html and 'class="sv-summary"' not in html
        others = {*sections, "notices"}
        for other in others - {section}:
            assert f'<section class="card" id="{other}"' not in html, (section, other)


def test_the_sections_are_tabs_that_keep_the_choices(world, client, auth):
    """The dashboard shows one section at a time (at 50 branches every concern at once was
    twenty phone screens): tabs, the current one marked, each keeping the organization, the
    period and the threshold chosen; the period's arrows and the form keep the section."""

    def tabs(html):
        nav = re.search(r'<nav class="subnav sv-tabs"[^>]*>(.*?)</nav>', html, re.S)[1]
        assert "·" not in nav
        return re.findall(r'<a href="([^"]+)"( aria-current="page")?>', nav)

    auth.login("committee_a")
    query = "period=month&on=2026-03-05&stuck_days=10"
    found = tabs(text(client.get(f"/supervision/?{query}")))
    sections = [re.search(r"section=([a-z]+)", href) for href, _current in found]
    assert [m[1] if m else None for m in sections] == [
        None,
        "work",
        "development",
        "opinions",
        "rectification",
        "membership",
        "training",
        "notices",
    ]
    assert [bool(current) for _href, current in found] == [True] + [False] * 7
    for href, _current in found:
        href = href.replace("&amp;", "&")
        for kept in ("period=month", "on=2026-03-01", "stuck_days=10", f"org={world.committee.id}"):
            assert kept in href, (href, kept)
    html = text(client.get(f"/supervision/?{query}&section=opinions"))
    assert [bool(current) for _href, current in tabs(html)] == [False] * 3 + [True] + [False] * 4
    assert '<input type="hidden" name="section" value="opinions">' in html
    earlier = re.search(r'<a href="([^"]+)" rel="prev">', html)[1].replace("&amp;", "&")
    assert "section=opinions" in earlier and "on=2026-02-01" in earlier
    # The overview's figures lead to their sections.
    overview = text(client.get(f"/supervision/?{query}"))
    assert re.search(r'<a class="sv-fig[^"]*" href="[^"]*section=work[^"]*"', overview)
    assert re.search(r'<a class="sv-fig[^"]*" href="[^"]*section=notices[^"]*"', overview)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=2026-13-01", "must be a date like 2026-03-01"),
        ("from=2026-03-10&to=2026-03-01", "The period ends before it starts."),
        ("from=2020-01-01&to=2026-03-01", "at most three years"),
        ("period=decade", "is not one of the choices"),
        ("on=yesterday", "must be a date like 2026-03-01"),
        ("org=abc", "must be a whole number"),
        ("stuck_days=0", "must be from 1 to 3650"),
        ("page=two", "must be a whole number"),
        ("on=9999-01-01", "is out of range"),
        ("section=everything", "is not one of the choices"),
        ("section=compliance", "is not one of the choices"),
    ],
)
def test_bad_choices_are_refused_with_a_reason(world, client, auth, query, message):
    auth.login("committee_a")
    page = client.get(f"/supervision/?{query}")
    assert page.status_code == 422 and message in text(page)


def test_no_inline_script_or_style_and_words_besides_colours(world, clock, client, auth):
    h.set_up_on(world.branch, "2025-06-01T00:00:00")
    h.hold(clock, world["secretary"], world.branch, "theme_day", "2026-01-20")
    clock.set("2026-03-10T02:00:00")
    auth.login("committee_a")
    for url in (
        "/supervision/?period=year&on=2026-01-01",
        f"/meetings/compliance/{world.branch.id}",
    ):
        html = text(client.get(url))
        no_inline_code(html)
        cells = re.findall(r'<td[^>]*class="cg-cell cg-([a-z_]+)"[^>]*>(.*?)</td>', html, re.S)
        assert cells
        for status, inside in cells:
            # A symbol and the status in words (for screen readers) in every cell.
            word = {
                "ok": "held",
                "missing": "missed",
                "open": "due",
                "future": "not yet",
                "not_required": "not required",
            }[status]
            assert 'class="cg-sym"' in inside and word in inside, (status, inside)
        assert 'class="cg-legend"' in html
    calendar = text(client.get(f"/meetings/compliance/{world.branch.id}?year=2026"))
    assert re.search(
        r'class="cg-cell cg-ok"[^>]*>\s*<a href="/meetings/\?[^"]*type=theme_day', calendar
    )
    # Missed: the committee meetings of January and February, February's theme day.
    assert calendar.count('class="cg-cell cg-missing"') == 3
    for section in ("development", "opinions", "membership"):
        dashboard_html = text(client.get(f"/supervision/?section={section}"))
        no_inline_code(dashboard_html)
        assert "data-chart='{\"" in dashboard_html and "/static/charts.js" in dashboard_html
        assert "Show the table" in dashboard_html
    # A section without charts does not load the charts' scripts.
    for url in ("/supervision/", "/supervision/?section=work"):
        assert "/static/charts.js" not in text(client.get(url))


def test_overdue_and_stuck_work_by_branch_and_procedure_oldest_first(world, clock):
    late = funding_case(world)
    walk(late.id, world, ("submit", "branch_member"))  # due end of Monday 9 March
    clock.set("2026-03-05T02:00:00")
    waiting = funding_case(world, purpose="等待中")  # a draft waiting since 5 March
    other = funding_case(world, by="other_secretary", org=world.other_branch, purpose="机电")
    clock.set("2026-04-10T02:00:00")
    fresh = funding_case(world, purpose="新")
    d = dashboard(world["committee_a"], None, periods.of("month"), locale="en")
    units = {c.key: (c.overdue, c.stuck) for c in d.work.by_unit}
    assert units[world.branch.id] == (1, 2)  # the late one is also stuck; the draft stuck
    assert units[world.other_branch.id] == (0, 1)
    assert [(c.label, c.overdue, c.stuck) for c in d.work.by_workflow] == [
        ("Activity funding request", 1, 3)
    ]
    assert [i.case_id for i in d.work.oldest] == [late.id, waiting.id, other.id]
    assert fresh.id not in [i.case_id for i in d.work.oldest]
    assert d.work.oldest[0].overdue and d.work.oldest[0].days_waiting == 39
    shorter = dashboard(world["committee_a"], None, periods.of("month"), stuck_days=40)
    assert (shorter.work.overdue, shorter.work.stuck) == (1, 0)


def test_pipeline_counts_stages_and_the_full_memberships_coming(world, clock):
    from pbflow.models import Person

    person = Person(
        name="预备党员", org_id=world.branch.id, party_status="none", birth_date=date(1998, 1, 1)
    )
    db.session.add(person)
    db.session.commit()
    case = runtime.start(
        "member_development",
        world.branch,
        world["secretary"],
        {"person": person.id, "application_date": "2024-01-10", "part_way": True},
        commit=False,
    )
    runtime.fire_in_transaction(
        case.id,
        "adopt_as_probationary",
        world["secretary"],
        {
            "talk_date": "2024-02-01",
            "activist_on": "2024-03-01",
            "target_on": "2025-03-10",
            "admission_resolution_date": "2025-05-20",
        },
    )
    db.session.commit()
    year = dashboard(world["committee_a"], None, periods.of("year"))
    row = {r.org_id: r for r in year.pipeline.by_unit}[world.branch.id]
    assert row.per_stage["probation"] == 1 and row.total == 1
    assert [(u.case_id, u.earliest_full) for u in year.pipeline.upcoming] == [
        (case.id, date(2026, 5, 20))
    ]
    march = dashboard(world["committee_a"], None, periods.of("month"))
    assert march.pipeline.upcoming == []


def _grow(world, clock, n: int, start: int) -> None:
    """More of everything: branches with people, meetings, cases and opinions."""
    for i in range(start, start + n):
        branch = accounts.create_org(f"x{i}", f"支部{i}", "branch", world.general_branch)
        secretary = make_user(f"x{i}_secretary", [(branch, "secretary")], person_org=branch)
        make_user(f"x{i}_member", [(branch, "member")], person_org=branch)
        h.hold(clock, secretary, branch, "theme_day", "2026-03-01")
        clock.set("2026-03-02T02:00:00")
        runtime.start(
            "activity_funding",
            branch,
            secretary,
            {"purpose": "活动", "activity_date": "2026-03-20", "amount": "10", "budget": "b"},
        )
        h.opinion(clock, f"x{i}", "2026-03-02T03:00:00", f"client-{i}")
    clock.set("2026-03-10T02:00:00")


SECTION_URLS = ["/supervision/?period=quarter"] + [
    f"/supervision/?period=quarter&section={s}"
    for s in SECTIONS[1:]  # after the overview
]


def test_a_dashboard_request_issues_a_bounded_number_of_statements(world, clock, client, auth):
    _grow(world, clock, 2, 0)
    auth.login("committee_a")
    counted = {}
    for url in SECTION_URLS:
        client.get(url)  # warm up the caches (login, locale)
        forget_kept_figures(client)  # counted afresh, as after a change (below, the head moved)
        with count_queries() as seen:
            assert client.get(url).status_code == 200
        counted[url] = len(seen)
    small = counted[SECTION_URLS[0]]
    # A section counts only its own concern: fewer statements than the overview's figures.
    for url in SECTION_URLS[1:]:
        assert counted[url] < small, (url, counted[url], small)
    _grow(world, clock, 6, 2)
    for url in SECTION_URLS:
        with count_queries() as seen:
            assert client.get(url).status_code == 200
        assert len(seen) == counted[url], (url, counted[url], len(seen))
    for table in ("compliance", "opinions", "membership"):
        export = f"/supervision/export/{table}.csv?period=quarter"
        with count_queries() as seen:
            assert client.get(export).status_code == 200
        assert len(seen) <= small


def test_an_export_counts_only_the_concern_of_its_table(world, clock, client, auth, monkeypatch):
    """Each concern is counted when read: the notices' export does not count the membership
    structure of every branch first (a fifth of a second at 100,000 cases)."""
    from pbflow.procedures.supervision import dashboard as board

    _grow(world, clock, 2, 0)
    auth.login("committee_a")
    counted: list[str] = []
    concerns = ("compliance", "work", "pipeline", "opinions", "rectification", "membership")
    concerns = (*concerns, "training")
    for name in (*concerns, "notices"):
        module = getattr(board, name)
        real = getattr(module, name)

        def spy(*args, _real=real, _name=name, **kw):
            counted.append(_name)
            return _real(*args, **kw)

        monkeypatch.setattr(module, name, spy)
    response = client.get("/supervision/export/notices.csv?period=quarter")
    assert response.status_code == 200 and response.get_data()
    assert counted == ["notices"]
    counted.clear()
    response = client.get("/supervision/export/membership.csv?period=quarter")
    assert response.status_code == 200 and response.get_data()
    assert counted == ["membership"]
    # The overview counts the concerns of its figures (and the meetings), not member
    # development's or the membership's; each section only its own.
    counted.clear()
    assert client.get("/supervision/?period=quarter").status_code == 200
    assert sorted(counted) == sorted(["compliance", "work", "notices", "opinions", "rectification"])
    for section, concern in [
        ("work", "work"),
        ("development", "pipeline"),
        ("opinions", "opinions"),
        ("rectification", "rectification"),
        ("membership", "membership"),
        ("training", "training"),
        ("notices", "notices"),
    ]:
        counted.clear()
        assert client.get(f"/supervision/?period=quarter&section={section}").status_code == 200
        assert counted == [concern], section


def test_the_api_gives_every_branchs_grid_as_before(world, clock, client):
    """The page shows sums over many branches; the API still gives the grids in full: every
    branch's, and summed one level up."""
    from tests.api.helpers import Api, token

    h.set_up_on(world.branch, "2025-06-01T00:00:00")
    h.hold(clock, world["secretary"], world.branch, "theme_day", "2026-01-20")
    clock.set("2026-03-10T02:00:00")
    r, board = Api(client, token(world, "committee_a")).get("/api/v1/supervision?period=year")
    assert r.status_code == 200
    grid = board["compliance"]["branches"]
    assert {g["org_id"] for g in grid["groups"]} == {world.branch.id, world.other_branch.id}
    mine = next(g for g in grid["groups"] if g["org_id"] == world.branch.id)
    theme = next(row for row in mine["rows"] if row["key"] == "theme_day")
    assert [c["status"] for c in theme["cells"][:3]] == ["ok", "missing", "open"]
    above = {g["org_id"] for g in board["compliance"]["above"]["groups"]}
    assert above == {world.general_branch.id, world.other_branch.id}


def test_the_committee_sees_whose_secretary_has_not_given_the_years_lecture(
    world, clock, client, auth
):
    from tests.three_meetings.test_secretary_lecture import lecture

    h.set_up_on(world.branch, "2025-06-01T00:00:00")
    h.set_up_on(world.other_branch, "2025-06-01T00:00:00")
    clock.set("2026-05-10T02:00:00")
    lecture(world, "2026-05-08", by="secretary")
    auth.login("committee_a")
    html = text(client.get("/supervision/?period=year&lang=en"))
    assert "1 of 2 branch secretaries have given the year's party lecture." in html
    part = html[html.index('id="secretary-lectures"') :]
    part = part[: part.index("</div>")]
    assert "Not yet given by:" in part
    assert f"/meetings/compliance/{world.other_branch.id}?year=2026" in part
    assert f"/meetings/compliance/{world.branch.id}?" not in part
    clock.set("2027-01-10T02:00:00")  # the year over: the other branch missed it
    html = text(client.get("/supervision/?period=year&on=2026-06-01&lang=zh"))
    assert "2 个支部中，1 个支部书记本年度已讲党课。" in html and "未讲的支部：" in html
    # The API's dashboard carries the same figures.
    board = client.get("/api/v1/supervision?period=year&on=2026-06-01").get_json()
    lectures = board["compliance"]["secretary_lectures"]
    assert (lectures["year"], lectures["owed"], lectures["given"], lectures["over"]) == (
        2026,
        2,
        1,
        True,
    )
    assert [org for org, _name in lectures["not_given"]] == [world.other_branch.id]


def test_the_committee_sees_which_branches_members_lack_training(world, clock, client, auth):
    """DOMAIN 3: each member receives at least 32 hours of training a year. The dashboard's
    training section counts, per branch, the members who owe it and those who reached it
    (the three meetings procedure's figure), branches with most members below first, each
    linked to its year's page; the download has every branch."""
    from pbflow.procedures.three_meetings import training as th
    from pbflow.procedures.three_meetings import training_figures
    from pbflow.procedures.three_meetings.training import TrainingInput

    clock.set("2026-09-01T02:00:00")
    th.record_training(
        world["secretary"],
        world.branch.id,
        TrainingInput(
            person=str(world["member"].person.id), taken_on="2026-05-02", course="党校", hours="24"
        ),
    )
    th.record_training(
        world["secretary"],
        world.branch.id,
        TrainingInput(
            person=str(world["member"].person.id), taken_on="2026-05-03", course="网课", hours="8"
        ),
    )
    from pbflow.engine import actors

    figures = training_figures.training_hours(list(actors.org_index()), 2026)  # general branches
    assert world.branch.id in figures and world.general_branch.id in figures
    auth.login("committee_a")
    for lang, words in (("en", "members who owe it have reached it"), ("zh", "已达到")):
        html = text(client.get(f"/supervision/?period=year&section=training&lang={lang}"))
        assert 'id="training"' in html and words in html, lang
    html = text(client.get("/supervision/?period=year&section=training&lang=en"))
    mine = figures[world.branch.id]
    assert mine.reached == 1 and mine.below >= 1
    total_owed = sum(f.owed for f in figures.values())
    total_reached = sum(f.reached for f in figures.values())
    assert f"{total_reached} of {total_owed} members who owe it have reached it" in html
    assert f'href="/meetings/training/{world.branch.id}?year=2026"' in html
    rows = re.findall(r'<tr class="is-overdue"><th scope="row"><a href="[^"]+">([^<]+)</a>', html)
    below = sorted(figures.items(), key=lambda kv: -kv[1].below)
    assert len(rows) == sum(1 for _o, f in below if f.below)
    csv = client.get("/supervision/export/training.csv?period=year").get_data(as_text=True)
    assert csv.count("\n") == 1 + len(figures)  # a header and every branch
    assert ",2026," in csv
    # The API's dashboard carries the same figures.
    board = client.get("/api/v1/supervision?period=year").get_json()["training"]
    assert board["year"] == 2026
    got = {r["org_id"]: (r["owed"], r["reached"]) for r in board["by_branch"]}
    assert got == {o: (f.owed, f.reached) for o, f in figures.items()}
    # A branch secretary sees their own branch only.
    auth.logout()
    auth.login("secretary")
    html = text(client.get("/supervision/?period=year&section=training&lang=en"))
    assert f"1 of {mine.owed} members who owe it have reached it" in html


def test_the_period_is_chosen_by_its_name_in_either_language(world, client, auth):
    """The period's choices are named as choices (capitalised in English), and in Chinese as
    periods (月度, 季度, 年度)."""
    auth.login("secretary")
    page = text(client.get("/supervision/"))
    for value, name in (("month", "Month"), ("quarter", "Quarter"), ("year", "Year")):
        assert re.search(rf'<option value="{value}"( selected)?>{name}</option>', page), value
    client.set_cookie("pbflow_lang", "zh")
    page = text(client.get("/supervision/"))
    for value, name in (("month", "月度"), ("quarter", "季度"), ("year", "年度")):
        assert re.search(rf'<option value="{value}"( selected)?>{name}</option>', page), value
