"""The numbers must be right: a known set of organizations, people, meetings, opinions and
rectification items across three branches and several months, and every figure of the
dashboard for the first quarter of 2026 checked cell by cell, edges included: a branch set up
in the middle of the quarter, a meeting written down weeks late, an opinion transferred to
another branch, a member converted (and one admitted) during the quarter, an item closed only
after the quarter ended. Then the same figures in the exports, cell by cell."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest

from pbflow.engine import runtime
from pbflow.extensions import db
from pbflow.models import Person
from pbflow.procedures.supervision.dashboard import dashboard
from pbflow.services import accounts, periods
from tests.conftest import make_user, recorded_set_up
from tests.supervision import helpers as h

Q1 = periods.Period(date(2026, 1, 1), date(2026, 3, 31), "quarter")


@pytest.fixture
def known(world, clock):
    """Everything the figures are computed from (see the module docstring)."""
    for org in (world.committee, world.general_branch, world.branch, world.other_branch):
        h.set_up_on(org, "2025-06-01T00:00:00")
    clock.set("2026-02-10T02:00:00")
    b3 = accounts.create_org("b3", "通风队党支部", "branch", world.general_branch)
    b3_secretary = make_user("b3_secretary", [(b3, "secretary")], person_org=b3)
    world.users["b3_secretary"] = b3_secretary
    b1, b2 = world.branch, world.other_branch
    secretary, other = world["secretary"], world["other_secretary"]

    # --- meetings (b1 has a branch committee member, so owes a monthly committee meeting)
    h.hold(clock, secretary, b1, "theme_day", "2026-01-15")
    h.hold(clock, secretary, b1, "theme_day", "2026-02-20", recorded="2026-03-12")  # late
    for day in ("2026-01-08", "2026-02-06", "2026-03-06"):
        h.hold(clock, secretary, b1, "committee_meeting", day)
    h.hold(clock, secretary, b1, "general_meeting", "2026-03-25")
    h.hold(clock, other, b2, "theme_day", "2026-01-20")
    h.hold(clock, other, b2, "party_lecture", "2026-02-12")
    h.hold(clock, other, b2, "theme_day", "2025-12-18")  # before the quarter
    h.hold(clock, b3_secretary, b3, "theme_day", "2026-03-16")

    # --- opinions
    handler = world["branch_member"]
    a, code_a = h.opinion(clock, "b1", "2026-01-12T02:00:00", "client-a")
    h.answer(clock, a, "2026-01-22T02:00:00", secretary, handler)
    h.submitter(clock, code_a, "accept_answer", {"rating": 5}, "2026-01-23T02:00:00")
    b, code_b = h.opinion(clock, "b1", "2026-02-02T02:00:00", "client-b")
    h.answer(clock, b, "2026-03-10T02:00:00", secretary, handler)  # late
    h.submitter(clock, code_b, "reject_answer", {"reject_reason": "没解决"}, "2026-03-11T02:00:00")
    h.answer(clock, b, "2026-03-13T02:00:00", secretary, handler, first=False)
    h.submitter(clock, code_b, "accept_answer", {"rating": 3}, "2026-03-14T02:00:00")
    c, _code_c = h.opinion(clock, "b1", "2026-03-02T02:00:00", "client-c")
    clock.set("2026-03-03T02:00:00")
    runtime.fire(c, "transfer", secretary, {"transfer_to": "b2"}, comment="归机电队办理")
    b2_member = make_user("b2_member", [(b2, "member")], person_org=b2)
    d, _code_d = h.opinion(clock, "b2", "2025-12-20T02:00:00", "client-d")  # before Q1
    h.answer(clock, d, "2026-01-05T02:00:00", other, b2_member)

    # --- rectification items of b1 and b2
    member = world["member"]
    h.rectification_item(clock, b1, secretary, member, opened="2026-01-05", deadline="2026-02-28")
    r2 = h.rectification_item(
        clock, b1, secretary, member, opened="2026-01-05", deadline="2026-03-20"
    )
    h.tick_off(clock, r2, b1, member, secretary, "2026-03-15")
    h.rectification_item(clock, b1, secretary, member, opened="2026-02-01", deadline="2026-05-30")
    r4 = h.rectification_item(
        clock, b2, other, b2_member, opened="2026-03-01", deadline="2026-03-31"
    )
    h.tick_off(clock, r4, b2, b2_member, other, "2026-04-05")  # after the quarter
    h.rectification_item(clock, b2, other, b2_member, opened="2026-04-05", deadline="2026-06-30")

    # --- people of b1: key dates, ages, sex and education as their profiles say
    profile = {
        "secretary": {
            "full_member_on": date(2010, 7, 1),
            "birth_date": date(1980, 5, 1),
            "gender": "男",
            "education": "本科",
        },
        "deputy": {
            "full_member_on": date(2024, 1, 1),
            "birth_date": date(1995, 2, 1),
            "gender": "女",
            "education": "大专",
        },
        "branch_member": dict.fromkeys(("full_member_on", "birth_date", "gender", "education")),
        "member": {
            "admitted_on": date(2025, 2, 15),
            "full_member_on": date(2026, 2, 15),
            "birth_date": date(2000, 1, 1),
            "gender": "女",
            "education": "本科",
        },
    }
    for name, values in profile.items():
        person = world[name].person
        for key, value in values.items():
            setattr(person, key, value)
        recorded_set_up(person)
    db.session.add(
        Person(
            name="新党员",
            org_id=b1.id,
            party_status="probationary",
            admitted_on=date(2026, 3, 10),
            birth_date=date(2001, 6, 1),
            gender="男",
            education="高中",
        )
    )
    db.session.add(Person(name="积极分子", org_id=b1.id, party_status="activist"))
    db.session.commit()
    clock.set("2026-04-10T02:00:00")
    world.orgs = {"b1": b1, "b2": b2, "b3": b3, "gb1": world.general_branch}
    return world


def grid_of(grid, org) -> dict[str, list[tuple[str, int, int, int]]]:
    """Rows of one organization's group: (status, span, held, required) per cell."""
    (group,) = [g for g in grid.groups if g.org_id == org.id]
    return {r.key: [(c.status, c.span, c.held, c.required) for c in r.cells] for r in group.rows}


def test_compliance_grid_cell_by_cell(known):
    d = dashboard(known["committee_a"], None, Q1)
    assert [c.label for c in d.compliance.branches.columns] == ["2026-01", "2026-02", "2026-03"]
    quarter = lambda status, held, required: [(status, 3, held, required)]  # noqa: E731
    assert grid_of(d.compliance.branches, known.orgs["b1"]) == {
        "general_meeting": quarter("ok", 1, 1),
        "committee_meeting": [("ok", 1, 1, 1)] * 3,
        "party_lecture": quarter("missing", 0, 1),
        # February's theme day was written down in March: it counts in February.
        "theme_day": [("ok", 1, 1, 1), ("ok", 1, 1, 1), ("missing", 1, 0, 1)],
        # The year 2026 runs on: its life meeting is due, the cell spans the quarter.
        "organizational_life_meeting": quarter("open", 0, 1),
    }
    assert grid_of(d.compliance.branches, known.orgs["b2"]) == {
        "general_meeting": quarter("missing", 0, 1),
        "party_lecture": quarter("ok", 1, 1),
        "theme_day": [("ok", 1, 1, 1), ("missing", 1, 0, 1), ("missing", 1, 0, 1)],
        "organizational_life_meeting": quarter("open", 0, 1),
    }
    # Set up on 10 February: owes nothing of January and February, nor of the first quarter
    # or the year (a period counts only when the branch existed for all of it).
    assert grid_of(d.compliance.branches, known.orgs["b3"]) == {
        "general_meeting": quarter("not_required", 0, 0),
        "party_lecture": quarter("not_required", 0, 0),
        "theme_day": [("not_required", 1, 0, 0), ("not_required", 1, 0, 0), ("ok", 1, 1, 1)],
        "organizational_life_meeting": quarter("not_required", 0, 0),
    }
    assert d.compliance.missed == 2 + 3  # b1: lecture, March theme day; b2: meeting, 2 days


def test_the_grid_one_level_up_sums_the_branches_of_a_general_branch(known):
    d = dashboard(known["committee_a"], None, Q1)
    assert [g.org_id for g in d.compliance.above.groups] == [
        known.orgs["gb1"].id,
        known.orgs["b2"].id,
    ]
    # gb1 = b1 + b3 (set up mid-quarter, so it counts only where it owed something).
    assert grid_of(d.compliance.above, known.orgs["gb1"]) == {
        "general_meeting": [("ok", 3, 1, 1)],
        "committee_meeting": [("ok", 1, 1, 1)] * 3,
        "party_lecture": [("missing", 3, 0, 1)],
        "theme_day": [("ok", 1, 1, 1), ("ok", 1, 1, 1), ("missing", 1, 1, 2)],
        "organizational_life_meeting": [("open", 3, 0, 1)],
    }
    # A branch directly under the committee is its own row group, as in the branch grid.
    assert grid_of(d.compliance.above, known.orgs["b2"]) == grid_of(
        d.compliance.branches, known.orgs["b2"]
    )


def test_the_general_branch_sees_its_branches_and_a_branch_only_itself(known):
    gb = dashboard(known["gb_secretary"], None, Q1)
    assert [g.org_id for g in gb.compliance.branches.groups] == [
        known.orgs["b1"].id,
        known.orgs["b3"].id,
    ]
    own = dashboard(known["secretary"], None, Q1)
    assert [g.org_id for g in own.compliance.branches.groups] == [known.orgs["b1"].id]
    assert own.compliance.above.groups == []


def test_opinion_figures_per_branch_and_over_time(known):
    d = dashboard(known["committee_a"], None, Q1)
    rows = {t.key: t for t in d.opinions.by_unit}
    b1, b2 = rows[known.orgs["b1"].id], rows[known.orgs["b2"].id]
    # b1: one answered in 10 days on time and rated 5; one answered late after 36 days,
    # reopened, rated 3. The one transferred to b2 counts at b2, where it is answered.
    assert (b1.received, b1.answered, b1.answered_on_time, b1.reopened) == (2, 2, 1, 1)
    assert (b1.on_time_share, b1.average_days, b1.rated, b1.satisfied) == (0.5, 23.0, 2, 1)
    assert b1.satisfaction == 0.5
    # b2's December opinion was received before the quarter: not counted.
    assert (b2.received, b2.answered, b2.on_time_share, b2.satisfaction) == (1, 0, None, None)
    assert rows[known.orgs["b3"].id].received == 0
    total = d.opinions.total
    assert (total.received, total.answered, total.rated, total.satisfaction) == (3, 2, 2, 0.5)
    over = [
        (t.label, t.received, t.answered, t.on_time_share, t.satisfaction)
        for t in d.opinions.over_time
    ]
    assert over == [
        ("2026-01", 1, 1, 1.0, 1.0),
        ("2026-02", 1, 1, 0.0, 0.0),
        ("2026-03", 1, 0, None, None),
    ]


def test_rectification_is_counted_as_at_the_end_of_the_period(known):
    d = dashboard(known["committee_a"], None, Q1)
    rows = {r.org_id: r for r in d.rectification.by_unit}
    b1, b2 = rows[known.orgs["b1"].id], rows[known.orgs["b2"].id]
    assert (b1.open, b1.overdue, b1.closed) == (2, 1, 1)
    # Ticked off on 5 April, past its deadline of 31 March: open and overdue at the end of
    # the quarter. The item opened in April is not counted at all.
    assert (b2.open, b2.overdue, b2.closed) == (1, 1, 0)
    # Seen for April (to date), the same items: b2's is now ticked off, a new one is open.
    april = dashboard(
        known["committee_a"], None, periods.Period(date(2026, 4, 1), date(2026, 4, 30), "month")
    )
    b2_now = {r.org_id: r for r in april.rectification.by_unit}[known.orgs["b2"].id]
    assert (b2_now.open, b2_now.overdue, b2_now.closed) == (1, 0, 1)


def test_membership_at_the_start_and_end_of_the_period(known):
    d = dashboard(known["committee_a"], None, Q1)
    row = {r.org_id: r for r in d.membership.by_unit}[known.orgs["b1"].id]
    # Start: 3 full (one without a recorded date counts throughout) and the member then
    # still probationary; end: she converted on 15 February, and someone was admitted.
    assert (row.start.full, row.start.probationary) == (3, 1)
    assert (row.end.full, row.end.probationary) == (4, 1)
    assert (row.change, row.joined, row.converted) == (1, 1, 1)
    assert dict(row.end.by["age"]) == {"≤30": 2, "31–40": 1, "41–50": 1, "unknown": 1}
    assert dict(row.end.by["gender"]) == {"男": 2, "女": 2, "unknown": 1}
    assert dict(row.end.by["education"]) == {"本科": 2, "大专": 1, "高中": 1, "unknown": 1}
    assert dict(row.end.by["standing"]) == {"<5": 2, "10–19": 1, "unknown": 1, "probationary": 1}
    assert dict(row.start.by["standing"]) == {"<5": 1, "10–19": 1, "unknown": 1, "probationary": 1}
    assert d.membership.values["age"] == ["≤30", "31–40", "41–50", "unknown"]


def _csv(client, url: str) -> list[list[str]]:
    page = client.get(url)
    assert page.status_code == 200, url
    return list(csv.reader(io.StringIO(page.get_data(as_text=True).lstrip("\ufeff"))))


def test_the_exports_hold_the_same_figures(known, client, auth):
    auth.login("committee_a")
    q = "period=quarter&on=2026-02-01&lang=en"
    rows = _csv(client, f"/supervision/export/compliance.csv?{q}")
    assert rows[0] == [
        "Organization",
        "Obligation",
        "Period",
        "From",
        "To",
        "Required",
        "Held",
        "Status",
    ]
    b1 = [r for r in rows[1:] if r[0] == "Mining team 1 branch"]
    assert b1 == [
        [
            "Mining team 1 branch",
            "Branch general meeting",
            "2026 Q1",
            "2026-01-01",
            "2026-03-31",
            "1",
            "1",
            "held",
        ],
        *[
            [
                "Mining team 1 branch",
                "Branch committee meeting",
                f"2026-0{m}",
                f"2026-0{m}-01",
                end,
                "1",
                "1",
                "held",
            ]
            for m, end in ((1, "2026-01-31"), (2, "2026-02-28"), (3, "2026-03-31"))
        ],
        [
            "Mining team 1 branch",
            "Party lecture",
            "2026 Q1",
            "2026-01-01",
            "2026-03-31",
            "1",
            "0",
            "missed",
        ],
        [
            "Mining team 1 branch",
            "Theme party day",
            "2026-01",
            "2026-01-01",
            "2026-01-31",
            "1",
            "1",
            "held",
        ],
        [
            "Mining team 1 branch",
            "Theme party day",
            "2026-02",
            "2026-02-01",
            "2026-02-28",
            "1",
            "1",
            "held",
        ],
        [
            "Mining team 1 branch",
            "Theme party day",
            "2026-03",
            "2026-03-01",
            "2026-03-31",
            "1",
            "0",
            "missed",
        ],
        [
            "Mining team 1 branch",
            "Organizational life meeting",
            "2026",
            "2026-01-01",
            "2026-03-31",
            "1",
            "0",
            "due",
        ],
    ]
    opinions = _csv(client, f"/supervision/export/opinions.csv?{q}")
    assert opinions[0][:3] == ["Organization", "Received", "Answered"]
    line = [r for r in opinions if r[0] == "Mining team 1 branch"][0]
    assert line == ["Mining team 1 branch", "2", "2", "1", "0.5", "23", "1", "2", "1", "0.5"]
    assert opinions[-1][0] == "Coal mine committee" and opinions[-1][1] == "3"
    rect = _csv(client, f"/supervision/export/rectification.csv?{q}")
    assert ["Electrical team branch", "1", "1", "0", "0"] in rect
    members = _csv(client, f"/supervision/export/membership.csv?{q}")
    mine = [r for r in members if r[0] == "Mining team 1 branch"]
    assert mine[:3] == [
        ["Mining team 1 branch", "Members", "all", "4", "5"],
        ["Mining team 1 branch", "Joined (admitted)", "", "", "1"],
        ["Mining team 1 branch", "Converted to full", "", "", "1"],
    ]
    # The deputy turned 31 on 1 February: counted under 30 at the start, 31-40 at the end.
    assert ["Mining team 1 branch", "Age", "≤30", "2", "2"] in mine
    assert ["Mining team 1 branch", "Age", "31–40", "0", "1"] in mine
