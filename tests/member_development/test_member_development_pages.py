"""Member development pages (pipeline, committee view, progress) and the CSV import of people
already part-way through."""

from __future__ import annotations

import io
import re
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from pbflow import audit
from pbflow.engine import runtime
from pbflow.extensions import db
from pbflow.models import Organization, Person, ProcessInstance
from pbflow.procedures.member_development import services as development
from tests.conftest import audit_actions, csrf_token, make_user, recorded_set_up
from tests.member_development.test_member_development import pdf, person_of
from tests.pages_helpers import forget_kept_figures


@contextmanager
def count_statements():
    counter = {"n": 0}

    def before(*_args, **_kw):
        counter["n"] += 1

    engine = db.engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        yield counter
    finally:
        event.remove(engine, "before_cursor_execute", before)


def _applicants(world, n, start=0):
    for i in range(start, start + n):
        user = make_user(
            f"appl{i}", person_org=world.branch, party_status="none", birth_date=date(1999, 1, 1)
        )
        development.apply(user, {}, uploads={"application_letter": pdf()})


def test_pipeline_shows_people_per_stage_overdue_first(walk, world, auth, client, clock):
    walk.to_activist()
    _applicants(world, 2)
    clock.set("2026-05-01T02:00:00")  # the two applications' talks are now overdue
    auth.login("secretary")
    page = client.get(f"/development/org/{world.branch.id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert html.count('class="pipeline-row is-overdue"') == 2
    assert "Applicant" in html and "Appl0" in html
    assert 'id="stage-activist"' in html
    pipe = development.pipeline(world["secretary"], world.branch.id)
    stages = {key: rows for key, _label, rows in pipe.stages}
    assert [r.name for r in stages["activist"]] == ["Applicant"]
    assert stages["activist"][0].earliest_full == date(2028, 3, 26)
    assert all(r.overdue for r in stages["application"]) and pipe.overdue == 2


def test_the_overview_names_branches_in_the_readers_language(walk, world, auth, client):
    walk.to_activist()
    auth.login("committee_a")
    english = client.get(f"/development/org/{world.committee.id}?lang=en").get_data(as_text=True)
    assert "Mining team 1 branch" in english and "采煤一队党支部" not in english
    chinese = client.get(f"/development/org/{world.committee.id}?lang=zh").get_data(as_text=True)
    assert "采煤一队党支部" in chinese


def test_the_pipeline_reads_as_cards_on_a_phone(walk, world, auth, client):
    """Each stage's people and the branches' figures carry their columns' names
    (data-label), which a phone's narrow page shows beside each value when a row becomes a
    card (table.list in pbflow.css): at 390 px the tables squeezed a column to a character
    a line."""
    import re

    walk.to_activist()
    auth.login("committee_a")
    html = client.get(f"/development/org/{world.committee.id}?lang=en").get_data(as_text=True)
    branches = re.search(r'<section class="card" id="branches">.*?</section>', html, re.S).group(0)
    assert '<table class="table list sv-table">' in branches
    row = next(r for r in re.findall(r"<tr.*?</tr>", branches, re.S) if "Mining team 1" in r)
    assert re.search(r'<th scope="row"><a [^>]*>Mining team 1 branch</a></th>', row)
    assert re.findall(r'data-label="([^"]+)"', row)[-1] == "Overdue"
    assert len(re.findall(r"<td ", row)) == len(re.findall(r'<td class="num" data-label=', row))
    stage = re.search(r'<section class="card stage" id="stage-activist">.*?</section>', html, re.S)
    person = next(r for r in re.findall(r"<tr.*?</tr>", stage.group(0), re.S) if "Applicant" in r)
    labels = re.findall(r'<td data-label="([^"]+)"', person)
    assert labels == ["Person", "State", "Next step", "Due", "Earliest full membership"]
    # The second column holds the case's state (a badge linking to the case), and says so
    # in Chinese too: it was headed 所在组织 (organization), which the person's cell shows.
    zh = client.get(f"/development/org/{world.committee.id}?lang=zh").get_data(as_text=True)
    stage = re.search(r'<section class="card stage" id="stage-activist">.*?</section>', zh, re.S)
    heads = re.findall(r"<th>([^<]+)</th>", stage.group(0))
    assert heads[:2] == ["人员", "状态"]
    assert '<td data-label="状态"><a href="/cases/' in stage.group(0)


def test_who_may_see_the_pages(walk, world, auth, client):
    walk.apply()
    pid = walk.pid("applicant")
    auth.login("member")
    assert client.get(f"/development/org/{world.branch.id}").status_code == 403
    assert client.get(f"/development/person/{pid}").status_code == 404
    auth.logout()
    auth.login("other_secretary")
    assert client.get(f"/development/org/{world.branch.id}").status_code == 403
    auth.logout()
    auth.login("applicant")
    page = client.get(f"/development/person/{pid}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-stage="application" data-status="current"' in html
    assert "2028-03-09" in html  # earliest possible full membership
    assert client.get(f"/development/org/{world.branch.id}").status_code == 403
    auth.logout()
    auth.login("committee_a")
    page = client.get(f"/development/org/{world.committee.id}")
    assert page.status_code == 200
    assert 'id="branches"' in page.get_data(as_text=True)
    assert client.get(f"/development/person/{pid}").status_code == 200


def test_the_case_page_offers_withdrawing_a_departure_only_once_one_is_recorded(
    walk, world, auth, client
):
    """Nothing to withdraw before a departure is recorded: the step is not on the case page
    at all, not even greyed; once recorded, it is there with its form."""
    walk.to_prereview()
    auth.login("secretary")

    def actions_section():
        html = client.get(f"/cases/{walk.case_id}?lang=en").get_data(as_text=True)
        return re.search(r'<section class="card actions" id="actions">.*?</section>', html, re.S)[0]

    before = actions_section()
    assert "Record an expected departure from the unit" in before
    assert "Withdraw the departure" not in before and "withdraw_leaving" not in before
    walk.step("record_leaving", "secretary", {"leaves_unit_on": "2027-09-30"})
    after = actions_section()
    assert f'action="/cases/{walk.case_id}/steps/withdraw_leaving"' in after
    assert "Withdraw the departure (staying after all)" in after


def test_progress_says_what_comes_next_and_from_when(walk, world, clock):
    walk.to_activist()
    progress = development.progress(walk.applicant, walk.pid("applicant"))
    statuses = [status for _key, _label, status in progress.stages]
    assert statuses == ["done", "current", "upcoming", "upcoming", "upcoming"]
    listing = next(s for s in progress.next_steps if "development target" in s.label.en)
    assert not listing.enabled and listing.available_from == date(2027, 3, 20)
    assert progress.earliest_full == date(2028, 3, 26)
    # A step the workflow offers only where it applies is left out as the case page leaves it
    # out (here the public notice: none is required before the listing by default).
    offered = {a.label.en for a in runtime.available_actions(walk.case_id, walk.user("secretary"))}
    assert "Start the public notice" not in offered
    assert "Start the public notice" not in {s.label.en for s in progress.next_steps}


def test_pages_issue_a_bounded_number_of_statements(walk, world, auth, client, clock):
    walk.to_activist()
    _applicants(world, 2)
    auth.login("committee_a")
    urls = [f"/development/org/{world.branch.id}", f"/development/org/{world.committee.id}"]
    few = {}
    for url in urls:
        client.get(url)  # warm caches (definitions) first
        forget_kept_figures(client)  # counted afresh, as after a change (below, the head moved)
        with count_statements() as c:
            assert client.get(url).status_code == 200
        few[url] = c["n"]
    _applicants(world, 12, start=10)
    for url in urls:
        forget_kept_figures(client)
        with count_statements() as c:
            assert client.get(url).status_code == 200
        assert c["n"] == few[url], url


# --- import ----------------------------------------------------------------------------------

HEADER = ",".join(development.CSV_COLUMNS)


def _csv(*lines):
    return ("\n".join([HEADER, *lines]) + "\n").encode()


def _row(**values):
    return ",".join(values.get(c, "") for c in development.CSV_COLUMNS)


def _ids(world):
    for user, number in ((world["member"], "M1"), (world["deputy"], "M2")):
        person = person_of(user)
        person.id_number = number
        recorded_set_up(person)
    db.session.commit()


def test_import_starts_cases_at_their_stage_with_their_dates(world, clock):
    _ids(world)
    data = _csv(
        _row(
            name="张三",
            id_number="P1",
            birth_date="1995-01-01",
            stage="applicant",
            application_date="2025-12-01",
            talk_date="2025-12-20",
        ),
        _row(
            name="李四",
            id_number="P2",
            birth_date="1996-02-02",
            stage="activist",
            application_date="2024-09-01",
            talk_date="2024-09-20",
            activist_on="2025-03-01",
            contacts="M1",
            assessment_dates="2025-08-30;2026-02-27",
        ),
        _row(
            name="王五",
            id_number="P3",
            birth_date="1997-03-03",
            stage="target",
            application_date="2023-09-01",
            talk_date="2023-09-10",
            activist_on="2024-03-01",
            target_on="2025-12-01",
            introducers="M1;M2",
        ),
        _row(
            name="赵六",
            id_number="P4",
            birth_date="1990-04-04",
            stage="probationary",
            application_date="2022-09-01",
            talk_date="2022-09-10",
            activist_on="2023-03-01",
            target_on="2024-03-05",
            admission_resolution_date="2025-06-01",
            oath_date="2025-07-01",
        ),
    )
    report = development.import_csv(world["secretary"], world.branch.id, data, filename="b1.csv")
    assert report.ok, report.errors
    assert len(report.created) == 4
    states = dict(
        db.session.execute(
            select(Person.name, ProcessInstance.state).join(
                ProcessInstance, ProcessInstance.subject_person_id == Person.id
            )
        ).all()
    )
    assert states == {
        "张三": "applicant",
        "李四": "activist",
        "王五": "target",
        "赵六": "probation",
    }
    zhao = db.session.execute(select(Person).where(Person.id_number == "P4")).scalar_one()
    assert (zhao.party_status, zhao.admitted_on, zhao.probation_end_on) == (
        "probationary",
        date(2025, 6, 1),
        date(2026, 6, 1),
    )
    li = db.session.execute(select(Person).where(Person.id_number == "P2")).scalar_one()
    assert (li.party_status, li.activist_on, li.applied_on) == (
        "activist",
        date(2025, 3, 1),
        date(2024, 9, 1),
    )
    # Imported with its assessments, the activist may be listed once the year is over.
    assert "development_import" in audit_actions()
    assert audit.verify_database().ok


def test_import_reports_every_bad_line_and_writes_nothing(world, clock):
    _ids(world)
    before = (audit.head(), db.session.execute(select(func.count()).select_from(Person)).scalar())
    data = _csv(
        _row(
            name="好人",
            id_number="Q1",
            birth_date="1995-01-01",
            stage="applicant",
            application_date="2025-12-01",
            talk_date="2025-12-20",
        ),
        _row(
            name="太小",
            id_number="Q2",
            birth_date="2010-01-01",
            stage="applied",
            application_date="2025-12-01",
        ),
        _row(
            name="日期",
            id_number="Q3",
            birth_date="1995-01-01",
            stage="activist",
            application_date="2025-12-01",
            talk_date="2025-11-20",
            activist_on="2026-01-01",
        ),
        _row(name="阶段", birth_date="1995-01-01", stage="member", application_date="2025-12-01"),
        _row(
            name="介绍",
            id_number="Q5",
            birth_date="1995-01-01",
            stage="target",
            application_date="2023-09-01",
            talk_date="2023-09-10",
            activist_on="2024-03-01",
            target_on="2025-12-01",
            introducers="M1;NOPE",
        ),
        _row(
            name="太早",
            id_number="Q6",
            birth_date="1995-01-01",
            stage="target",
            application_date="2025-01-01",
            talk_date="2025-01-10",
            activist_on="2025-03-01",
            target_on="2025-12-01",
        ),
    )
    report = development.import_csv(world["secretary"], world.branch.id, data)
    lines = {line for line, _message in report.errors}
    assert lines == {5, 6}  # checked row by row first: stage and unknown introducer
    messages = " ".join(m for _l, m in report.errors)
    assert "stage must be one of" in messages and "NOPE" in messages
    # Fix those two; the steps then refuse the others, each named by its line.
    data = _csv(
        _row(
            name="好人",
            id_number="Q1",
            birth_date="1995-01-01",
            stage="applicant",
            application_date="2025-12-01",
            talk_date="2025-12-20",
        ),
        _row(
            name="太小",
            id_number="Q2",
            birth_date="2010-01-01",
            stage="applied",
            application_date="2025-12-01",
        ),
        _row(
            name="日期",
            id_number="Q3",
            birth_date="1995-01-01",
            stage="activist",
            application_date="2025-12-01",
            talk_date="2025-11-20",
            activist_on="2026-01-01",
        ),
        _row(
            name="太早",
            id_number="Q6",
            birth_date="1995-01-01",
            stage="target",
            application_date="2025-01-01",
            talk_date="2025-01-10",
            activist_on="2025-03-01",
            target_on="2025-12-01",
        ),
    )
    report = development.import_csv(world["secretary"], world.branch.id, data)
    errors = dict(report.errors)
    assert set(errors) == {3, 4, 5}
    assert "at least 18" in errors[3]
    assert "is before" in errors[4]
    assert "cannot be before 2026-03-01" in errors[5]
    assert not report.created
    after = (audit.head(), db.session.execute(select(func.count()).select_from(Person)).scalar())
    assert after == before


def test_import_page(world, auth, client):
    auth.login("member")
    assert client.get(f"/development/org/{world.branch.id}/import").status_code == 403
    auth.logout()
    auth.login("secretary")
    page = client.get(f"/development/org/{world.branch.id}/import")
    token = csrf_token(page.get_data(as_text=True))
    bad = _csv(_row(name="x", birth_date="1995-01-01", stage="nope", application_date="2025-01-01"))
    res = client.post(
        f"/development/org/{world.branch.id}/import",
        data={"csrf_token": token, "file": (io.BytesIO(bad), "b1.csv")},
        content_type="multipart/form-data",
    )
    assert res.status_code == 422
    assert 'data-line="2"' in res.get_data(as_text=True)
    good = _csv(
        _row(
            name="新人",
            id_number="N1",
            birth_date="1995-01-01",
            stage="applied",
            application_date="2026-02-20",
        )
    )
    res = client.post(
        f"/development/org/{world.branch.id}/import",
        data={"csrf_token": token, "file": (io.BytesIO(good), "b1.csv")},
        content_type="multipart/form-data",
    )
    assert res.status_code == 200 and 'data-created="1"' in res.get_data(as_text=True)


@pytest.mark.slow
def test_demo_loads_development_cases_in_various_stages(app, clock):
    from pbflow import demo

    world = demo.load_if_empty()
    assert world is not None
    states = sorted(
        db.session.execute(
            select(ProcessInstance.state).where(ProcessInstance.workflow_id == development.WORKFLOW)
        ).scalars()
    )
    assert states == ["activist", "applied", "applied", "probation", "target"]
    ma = world.persons["ma.jiji"]
    db.session.refresh(ma)
    assert ma.party_status == "activist"
    pipe = development.pipeline(world.user("zhao.zuzhi"), world.orgs["coal"].id)
    assert pipe.total == 5 and pipe.overdue == 1
    assert audit.verify_database().ok


def test_a_committee_previews_each_stages_most_urgent_as_the_whole_list_orders_them(world, clock):
    """Above a branch each stage lists its few most urgent cases, found by walking each
    state's cases in due order and stopping: they are the first of the whole list, in its
    order, and the counts still cover every case."""
    from pbflow.services import seed

    seed.seed(600, 3)
    secretary = world["committee_a"]
    general = (
        db.session.execute(select(Organization).where(Organization.code.like("seed3-g%")))
        .scalars()
        .first()
    )
    for org_id in (world.committee.id, general.id):  # all, and part of the committee's
        _preview_is_the_head_of_the_whole_list(secretary, org_id)


def _preview_is_the_head_of_the_whole_list(secretary, org_id: int) -> None:
    whole = development.pipeline(secretary, org_id)
    preview = development.pipeline(secretary, org_id, per_stage=3)
    assert preview.counts == whole.counts and preview.total == whole.total
    listed = {key: rows for key, _label, rows in whole.stages}
    assert sum(len(rows) for rows in listed.values()) == whole.total > 10
    for key, _label, rows in preview.stages:
        first = listed[key][:3]
        assert len(rows) == len(first), key
        # Ties in the time limit may be broken differently; the limits are the same.
        assert [r.due_at for r in rows] == [r.due_at for r in first], key
        assert {r.case_id for r in rows} <= {r.case_id for r in listed[key]}
        assert all(
            r.earliest_full == w.earliest_full
            for r, w in zip(rows, first, strict=True)
            if r.case_id == w.case_id
        )


_REFERENCE = Path(__file__).with_name("pipeline_rows_reference.html")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_tables_rows_are_the_templates_markup(app, world, clock, lang):
    """``pipeline_rows`` and ``branch_rows`` write the stage tables' and the branches'
    table's rows in Python (a committee's page spent half its CPU in the template's loops):
    their markup is the template's, byte for byte, for every row of a seeded committee's
    whole pipeline (every stage, overdue or not, with and without a time limit or a next
    step), and a name needing escaping is escaped."""
    from flask_login import login_user

    from pbflow.services import seed
    from pbflow.web import label

    seed.seed(600, 4)
    secretary = world["committee_a"]
    with app.test_request_context(f"/development/org/{world.committee.id}?lang={lang}"):
        login_user(secretary)
        pipe = development.pipeline(secretary, world.committee.id)
        branches = development.overview(secretary, world.committee.id, pipe.open)
        rows = [r for _key, _label, stage in pipe.stages for r in stage]
        assert len(rows) > 30 and any(b.overdue for b in branches) and len(branches) > 3
        rows[0].name = '<b>"Tom" & Jerry</b>'
        rows[-1].due_at, rows[-1].overdue = None, False  # the seed gives every case a limit
        assert {r.overdue for r in rows} == {True, False}
        assert {r.next_step is None for r in rows} == {True, False}
        reference = app.jinja_env.from_string(_REFERENCE.read_text()).make_module()
        heads = {"person": "Person & co", "where": "W", "next": "N", "due": "D", "full": "F"}
        for key, _label, stage in pipe.stages:
            templated, written = str(reference.stage_rows(stage, heads)).split("|")
            assert written == templated, key
        first = str(reference.stage_rows(rows[:1], heads)).split("|")[1]
        assert "&lt;b&gt;&#34;Tom&#34; &amp; Jerry&lt;/b&gt;</a>" in first
        assert 'data-label="Person &amp; co"' in first
        names = [label(stage_label) for _key, stage_label, _rows in pipe.stages]
        templated, written = str(reference.branch_table_rows(pipe, branches, names)).split("|")
        assert written == templated


@pytest.mark.parametrize("per_stage", [1, 4, 20])
def test_each_stages_most_urgent_are_the_first_by_time_limit(world, clock, per_stage):
    """The walks of ix_case_open_state_due (PostgreSQL: one walk joined laterally to the
    states, ranked per stage; SQLite: a walk per state) keep, of each stage, the open cases
    of the subtree first by time limit, then by id, those without a limit last: the same as
    sorting every open case of the subtree in Python. Ties, missing limits and closed cases
    included."""
    from pbflow import clock as pbflow_clock
    from pbflow.services import seed

    seed.seed(600, 5)
    open_cases = select(ProcessInstance.id).where(
        ProcessInstance.workflow_id == development.WORKFLOW, ProcessInstance.closed_at.is_(None)
    )
    ids = db.session.execute(open_cases.order_by(ProcessInstance.id)).scalars().all()
    now = pbflow_clock.now()
    # Half share the earliest limit (ties across a stage's states), some have none, some close.
    for chosen, values in (
        (ids[::2], {"due_at": now - timedelta(days=400)}),
        (ids[1::4], {"due_at": None}),
        (ids[3::8], {"closed_at": now}),
    ):
        db.session.execute(
            ProcessInstance.__table__.update()
            .where(ProcessInstance.id.in_(chosen))
            .values(**values)
        )
    db.session.commit()
    secretary = world["committee_a"]
    general = (
        db.session.execute(select(Organization).where(Organization.code.like("seed5-g%")))
        .scalars()
        .first()
    )
    d = development.definition()
    for org in (world.committee, general):
        subtree = set(development._subtree(development.actors.org_index()[org.id]))
        reference: dict[str, list] = {}
        for case in db.session.execute(select(ProcessInstance)).scalars():
            if (
                case.workflow_id == development.WORKFLOW
                and case.closed_at is None
                and case.org_id in subtree
            ):
                reference.setdefault(development._stage_of(d, case.state), []).append(case)
        preview = development.pipeline(secretary, org.id, per_stage=per_stage)
        assert sum(len(rows) for _k, _l, rows in preview.stages) > 0
        for key, _label, rows in preview.stages:
            cases = sorted(reference.get(key, []), key=lambda c: (c.due_at is None, c.due_at, c.id))
            assert {r.case_id for r in rows} == {c.id for c in cases[:per_stage]}, (org, key)
