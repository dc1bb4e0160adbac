"""Meeting pages: recording, refusals that keep what was typed, corrections with history,
the compliance calendar, a member's own page, rights, and bounded SQL per page."""

from __future__ import annotations

import re
from contextlib import contextmanager

import pytest
from sqlalchemy import event, update

from pbflow.extensions import db
from pbflow.models import MeetingAttendance
from pbflow.procedures.three_meetings import services as meetings
from pbflow.procedures.three_meetings.services import MeetingInput
from tests.conftest import csrf_token, make_user
from tests.three_meetings.helpers import branch_meeting, on_leave


def pid(world, name: str) -> str:
    return str(world[name].person.id)


def form(world, token: str, **extra):
    data = {
        "csrf_token": token,
        "meeting_type": "theme_day",
        "held_on": "2026-03-01",
        "topic": "主题党日：学习安全规程",
        "place": "学习室",
        "chair": pid(world, "secretary"),
        "recorder": pid(world, "deputy"),
        "present": [pid(world, u) for u in ("secretary", "deputy", "member")],
        f"reason_{pid(world, 'branch_member')}": "夜班",
        "minutes": "要点",
    }
    data.update(extra)
    return data


def theme_day(world, present=("member",), held_on="2026-03-01", topic="安全规程"):
    """A theme party day of the branch recorded by its secretary, the rest on leave."""
    return branch_meeting(world, "theme_day", held_on, present, topic=topic)


def test_secretary_records_and_corrects_a_meeting_through_the_pages(world, client, auth):
    client.set_cookie("pbflow_lang", "en")
    auth.login("secretary")
    page = client.get(f"/meetings/new?org={world.branch.id}")
    assert page.status_code == 200
    token = csrf_token(page.get_data(as_text=True))

    bad = client.post(
        f"/meetings/new?org={world.branch.id}", data=form(world, token, held_on="2026-04-01")
    )
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422
    assert "cannot lie in the future" in html
    assert "主题党日：学习安全规程" in html and "夜班" in html  # nothing typed is lost

    ok = client.post(f"/meetings/new?org={world.branch.id}", data=form(world, token))
    assert ok.status_code == 302
    meeting_id = int(ok.headers["Location"].rsplit("/", 1)[1])
    shown = client.get(f"/meetings/{meeting_id}").get_data(as_text=True)
    assert "主题党日：学习安全规程" in shown and "Branch Member (夜班)" in shown
    assert "3 / 4" in shown

    edit = client.get(f"/meetings/{meeting_id}/edit").get_data(as_text=True)
    assert 'value="夜班"' in edit
    refused = client.post(
        f"/meetings/{meeting_id}/edit", data=form(world, token, topic="新题目", version="1")
    )
    assert refused.status_code == 422 and "新题目" in refused.get_data(as_text=True)
    done = client.post(
        f"/meetings/{meeting_id}/edit",
        data=form(world, token, topic="新题目", version="1", reason="题目记错"),
    )
    assert done.status_code == 302
    shown = client.get(f"/meetings/{meeting_id}").get_data(as_text=True)
    assert "题目记错" in shown and "主题党日：学习安全规程" in shown and "新题目" in shown
    stale = client.post(
        f"/meetings/{meeting_id}/edit",
        data=form(world, token, topic="再改", version="1", reason="x"),
    )
    assert stale.status_code == 409 and "reload" in stale.get_data(as_text=True)


def test_a_correction_reads_in_labels_and_names_not_field_codes_and_ids(world, client, auth):
    """The history of corrections names each changed field as the form does and each person
    by name (someone taken off the list too), hours as hours, in the page's language; it
    showed the stored record: ``chair 17 -> 18``, ``present [17, 18, 19]``."""
    import re

    auth.login("secretary")
    page = client.get(f"/meetings/new?org={world.branch.id}")
    token = csrf_token(page.get_data(as_text=True))
    ok = client.post(
        f"/meetings/new?org={world.branch.id}", data=form(world, token, training_hours="2")
    )
    meeting_id = int(ok.headers["Location"].rsplit("/", 1)[1])
    moved = form(
        world,
        token,
        version="1",
        reason="主持人记错",
        chair=pid(world, "deputy"),
        present=[pid(world, u) for u in ("secretary", "deputy")],
        training_hours="2.5",
    )
    moved[f"reason_{pid(world, 'member')}"] = "病假"
    assert client.post(f"/meetings/{meeting_id}/edit", data=moved).status_code == 302

    def history(lang: str) -> list[list[str]]:
        html = client.get(f"/meetings/{meeting_id}?lang={lang}").get_data(as_text=True)
        section = re.search(r'<section class="card" id="history">.*?</section>', html, re.S)
        rows = re.findall(r"<tr>(.*?)</tr>", section.group(0), re.S)
        return [cells for r in rows if (cells := re.findall(r"<td[^>]*>(.*?)</td>", r))]

    secretary, deputy = world["secretary"].person.name, world["deputy"].person.name
    member, branch_member = world["member"].person.name, world["branch_member"].person.name
    assert history("en") == [
        ["Chair or presenter", secretary, deputy],
        ["Training hours for each member present", "2", "2.5"],
        ["Present", f"{secretary}, {deputy}, {member}", f"{secretary}, {deputy}"],
        ["Absent", f"{branch_member} (夜班)", f"{branch_member} (夜班), {member} (病假)"],
    ]
    assert history("zh") == [
        ["主持人或主讲人", secretary, deputy],
        ["每名到会党员的培训学时", "2", "2.5"],
        ["出席", f"{secretary}、{deputy}、{member}", f"{secretary}、{deputy}"],
        ["缺席", f"{branch_member}（夜班）", f"{branch_member}（夜班）、{member}（病假）"],
    ]


def test_pages_check_rights(world, client, auth):
    client.set_cookie("pbflow_lang", "en")
    m = theme_day(world, present=("secretary",), topic="t")
    # Written before every absence needed its reason: the member's row has none.
    db.session.execute(
        update(MeetingAttendance)
        .where(
            MeetingAttendance.meeting_id == m.id,
            MeetingAttendance.person_id == world["member"].person.id,
        )
        .values(reason=None)
    )
    db.session.commit()
    auth.login("other_secretary")
    assert client.get(f"/meetings/{m.id}").status_code == 404
    assert client.get(f"/meetings/new?org={world.branch.id}").status_code == 403
    assert client.get(f"/meetings/compliance/{world.branch.id}").status_code == 404
    assert client.get(f"/meetings/{m.id}/edit").status_code == 404
    auth.logout()
    auth.login("member")  # a plain member reads no branch records, only their own
    assert client.get(f"/meetings/{m.id}/edit").status_code == 404
    mine = client.get("/meetings/mine").get_data(as_text=True)
    assert "Attended (0)" in mine and "Missed (1)" in mine and "no reason given" in mine
    auth.logout()
    auth.login("gb_secretary")
    cal = client.get(f"/meetings/compliance/{world.branch.id}?year=2026")
    assert cal.status_code == 200 and "Theme party day" in cal.get_data(as_text=True)


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


def _many(world, n: int, start: int = 1) -> list[int]:
    ids = []
    for i in range(start, start + n):
        m = meetings.record_meeting(
            world["secretary"],
            world.branch.id,
            on_leave(
                world.branch.id,
                MeetingInput(
                    meeting_type="theme_day" if i % 2 else "party_lecture",
                    held_on=f"2026-02-{i:02d}",
                    topic=f"会议 {i}",
                    present=[pid(world, "secretary"), pid(world, "member")],
                    reasons={pid(world, "deputy"): "请假"},
                ),
            ),
        )
        ids.append(m.id)
    return ids


def test_pages_issue_a_bounded_number_of_statements(world, client, auth):
    auth.login("gb_secretary")
    first = _many(world, 2)
    for i in range(3):
        make_user(f"extra{i}", person_org=world.branch)
    pages = ["/meetings/", f"/meetings/{first[0]}", f"/meetings/compliance/{world.branch.id}"]
    pages.append("/meetings/mine")
    small = {}
    for url in pages:
        client.get(url)  # warm up caches (login, locale)
        with count_queries() as seen:
            assert client.get(url).status_code == 200
        small[url] = len(seen)
    _many(world, 20, start=3)
    for i in range(3, 10):
        make_user(f"extra{i}", person_org=world.branch)
    for url in pages:
        with count_queries() as seen:
            assert client.get(url).status_code == 200
        assert len(seen) == small[url], (url, small[url], len(seen))
    with count_queries() as seen:
        client.get(f"/meetings/{first[-1] + 15}")
    assert len(seen) == small[f"/meetings/{first[0]}"]


def test_form_refusals_name_a_missing_type_and_label_attendance_on_a_phone(world, client, auth):
    """An empty type is 'required' (not 'not a meeting this organization holds'), and each
    attendance row's checkbox and reason carry their column's name, which a phone shows
    beside them when the row becomes a card (table.list in pbflow.css)."""
    import re

    client.set_cookie("pbflow_lang", "en")
    auth.login("secretary")
    page = client.get(f"/meetings/new?org={world.branch.id}")
    html = page.get_data(as_text=True)
    row = next(r for r in re.findall(r"<tr>.*?</tr>", html, re.S) if 'name="present"' in r)
    assert re.findall(r'<td data-label="([^"]+)"', row) == ["Present", "Reason for absence"]
    bad = client.post(
        f"/meetings/new?org={world.branch.id}",
        data=form(world, csrf_token(html), meeting_type=""),
    )
    text = bad.get_data(as_text=True)
    assert bad.status_code == 422
    assert "is required" in text and "is not a meeting this organization holds" not in text
    assert "主题党日：学习安全规程" in text
    wrong = client.post(
        f"/meetings/new?org={world.branch.id}",
        data=form(world, csrf_token(html), meeting_type="lesson_of_the_moon"),
    )
    assert "is not a meeting this organization holds" in wrong.get_data(as_text=True)


def test_my_meetings_name_their_columns_for_a_phone(world, client, auth):
    """A member's own record is a table with its column names, which a phone shows on each
    row once the row is a card (it had no header at all)."""
    client.set_cookie("pbflow_lang", "en")
    theme_day(world)
    auth.login("member")
    html = client.get("/meetings/mine").get_data(as_text=True)
    attended = html.split("Attended (1)")[1].split("Missed (")[0]
    assert "<th>Date</th><th>Organization</th><th>Type</th><th>Topic</th>" in attended
    assert '<td data-label="Topic">安全规程</td>' in attended
    assert '<td data-label="Date">2026-03-01</td>' in attended
    missed = html.split("Missed (0)")[1]
    assert "<table" not in missed and "None." in missed


def test_the_meetings_list_folds_its_filters_until_one_is_chosen(world, client, auth):
    """On a phone the four filters were a screen of their own before the first meeting: they
    are folded under "Filter" like the case list's, and open when a filter is in use (so what
    is chosen stays in sight)."""
    client.set_cookie("pbflow_lang", "en")
    auth.login("secretary")
    folded = client.get(f"/meetings/?org={world.branch.id}").get_data(as_text=True)
    assert '<details class="filters">' in folded and "<summary>Filter</summary>" in folded
    assert folded.index("<summary>") < folded.index('name="type"')
    for chosen in ("type=theme_day", "year=2026", "from=2026-01-01", "to=2026-12-31"):
        page = client.get(f"/meetings/?org={world.branch.id}&{chosen}").get_data(as_text=True)
        assert '<details class="filters" open>' in page, chosen


def test_a_meeting_recorded_long_after_it_was_held_says_so(world, client, auth, clock):
    """A record written up more than a week after the meeting (补记) still counts, and the
    list and the record say how long after it was written: on the eighth day, not the
    seventh."""

    def record(held_on: str, recorded: str, topic: str) -> int:
        clock.set(f"{recorded}T02:00:00")
        return theme_day(world, held_on=held_on, topic=topic).id

    late = record("2026-03-01", "2026-04-15", "补记的主题党日")
    week = record("2026-04-03", "2026-04-10", "一周内记录")
    eighth = record("2026-04-02", "2026-04-10", "第八天记录")
    auth.login("secretary")
    client.set_cookie("pbflow_lang", "zh")
    listing = client.get(f"/meetings/?org={world.branch.id}").get_data(as_text=True)
    rows = {t: listing.split(t)[0].rsplit("<tr>", 1)[1] for t in ("补记的", "一周内", "第八天")}
    assert "45 天后补记" in rows["补记的"]
    assert "8 天后补记" in rows["第八天"]
    assert "补记" not in rows["一周内"]
    assert "45 天后补记" in client.get(f"/meetings/{late}").get_data(as_text=True)
    assert "补记" not in client.get(f"/meetings/{week}").get_data(as_text=True)
    client.set_cookie("pbflow_lang", "en")
    page = client.get(f"/meetings/{eighth}").get_data(as_text=True)
    assert "recorded 8 days later" in page
    # It still counts in the branch's calendar: a theme party day held in March.
    from datetime import date

    from pbflow.procedures.three_meetings import compliance

    owed = compliance.obligations([world.branch.id], date(2026, 3, 1), date(2026, 3, 31))
    [row] = [o for o in owed[world.branch.id] if o.key == "theme_day"]
    assert [(c.label, c.held) for c in row.cells] == [("2026-03", 1)]


def test_the_records_document_links_leave_no_separator_dangling(world, client, auth):
    """On a phone the two document links wrapped with their "·" left at the end of the first
    line: they are an inline-links list, whose separator a line's start hides."""
    m = theme_day(world)
    auth.login("secretary")
    page = client.get(f"/meetings/{m.id}?lang=en").get_data(as_text=True)
    links = page.split('<ul class="inline-links">')[1].split("</ul>")[0]
    assert links.count("<li>") == 2 and "Minutes (PDF)" in links and "Bound volume" in links
    assert "·" not in links


@pytest.mark.parametrize(
    ("lang", "names"),
    [
        ("en", ["Date", "Organization", "Type", "Topic", "Present"]),
        ("zh", ["日期", "组织", "类型", "主题", "出席"]),
    ],
)
def test_the_meetings_list_names_each_cell_for_a_phone_in_the_pages_language(
    world, client, auth, lang, names
):
    """Every row of the list carries its columns' names (a phone shows them on the card),
    the same as the table's header, in the page's language."""
    theme_day(world)
    auth.login("secretary")
    client.set_cookie("pbflow_lang", lang)
    html = client.get("/meetings/").get_data(as_text=True)
    header = re.search(r"<thead><tr>(.*?)</tr></thead>", html).group(1)
    assert re.findall(r"<th>([^<]+)</th>", header) == names
    rows = re.findall(r"<tr>\s*<td data-label.*?</tr>", html, re.S)
    assert rows and all(re.findall(r'<td data-label="([^"]+)"', r) == names for r in rows)
