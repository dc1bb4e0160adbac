"""DOMAIN, organizations and people: "A branch has at least 3 full members and normally at
most 50; a branch of seven or more full members has a branch committee; a smaller one decides
in its branch general meeting." Branches are set up empty and filled afterwards, so the rule
is supervised, not refused: the dashboard's membership section (the committee's, and each
branch's own) names each branch below 3 full members and each of seven or more without a
committee (against the rule), and each above 50 (above the normal), at their exact
boundaries, in its download and in both languages."""

from __future__ import annotations

from datetime import date

from pbflow.procedures.supervision.dashboard import dashboard
from pbflow.services import accounts, people, periods
from tests.conftest import make_user
from tests.pages_helpers import text


def findings(world, org_id: int | None = None, period=None) -> dict[str, tuple[str, int]]:
    """What the committee's dashboard (or ``org_id``'s) finds about each branch's size."""
    d = dashboard(world["committee_a"], org_id, period or periods.of("month"), locale="en")
    return {b.label: (b.finding, b.full) for b in d.membership.sizes}


def join(world, org, n: int, status: str = "full", **dates: str) -> list:
    """The administrator enters ``n`` people of ``org`` with party status ``status`` (and
    their key dates, entered as a correction of the record)."""
    found = []
    for i in range(n):
        person = people.create_person(
            {"org_id": org.id, "name": f"党员{org.id}-{i}", "party_status": status},
            actor=world["admin"],
        )
        if dates:
            people.correct_status(
                person, {"party_status": status, **dates}, "补录", actor=world["admin"]
            )
        found.append(person)
    return found


def test_a_branch_below_three_full_members_is_against_the_rule(world, clock):
    b2 = world.other_branch  # its secretary: one full member
    assert findings(world) == {"Electrical team branch": ("too_few", 1)}  # b1 has 4
    join(world, b2, 2, status="probationary")  # probationary members are not counted
    join(world, b2, 1)
    assert findings(world) == {"Electrical team branch": ("too_few", 2)}
    # A full member of one of its party groups counts in the branch: 3, and the finding goes.
    group = accounts.create_org("b2g1", "机电队第一党小组", "party_group", b2, name_en="Group 1")
    (third,) = join(world, group, 1)
    assert findings(world) == {}
    # A member who leaves takes the branch back below the rule.
    people.set_person_active(third, False, actor=world["admin"])
    assert findings(world) == {"Electrical team branch": ("too_few", 2)}
    # Its own dashboard says so too; a general branch is no branch of this rule.
    assert findings(world, b2.id) == {"Electrical team branch": ("too_few", 2)}
    assert findings(world, world.general_branch.id) == {}


def test_the_count_is_at_the_end_of_the_period(world, clock):
    """A member who became a full member on 1 March counts at the end of March, not of
    February (the month's table shows the same figure)."""
    clock.set("2026-03-10T02:00:00")
    join(world, world.other_branch, 1)
    join(world, world.other_branch, 1, admitted_on="2025-02-20", full_member_on="2026-03-01")
    assert findings(world) == {}
    february = periods.of("month", date(2026, 2, 1))
    assert findings(world, period=february) == {"Electrical team branch": ("too_few", 2)}


def test_seven_full_members_need_a_branch_committee(world, clock):
    b2 = world.other_branch
    join(world, b2, 5)  # 6 with its secretary: its general meeting decides, no committee due
    assert findings(world) == {}
    (seventh,) = join(world, b2, 1)
    assert findings(world) == {"Electrical team branch": ("no_committee", 7)}
    # The branch elects its committee: someone holds the role of committee member there.
    elected = make_user("b2_committee", [(b2, "branch_committee")], person_org=b2)
    assert findings(world) == {}  # 8 full members with their committee
    people.set_person_active(seventh, False, actor=world["admin"])
    assert findings(world) == {}  # 7 with their committee
    people.set_person_active(elected.person, False, actor=world["admin"])
    assert findings(world) == {}  # 6 with a committee (its member still holds the role)
    # The committee is the role's: without it, seven again is against the rule.
    accounts.revoke_role(elected, b2, "branch_committee", actor=world["admin"])
    people.set_person_active(seventh, True, actor=world["admin"])
    assert findings(world) == {"Electrical team branch": ("no_committee", 7)}


def test_the_committee_is_its_posts_besides_the_secretaries_on_active_accounts(
    world, clock, client, auth
):
    """A secretary and a deputy lead a branch with or without a committee; an organizing
    member (组织委员) holds a committee post as a committee member does; a post held on a
    deactivated account is held by no one. The finding says so, in both languages."""
    b2 = world.other_branch
    join(world, b2, 6)  # 7 full members with its secretary
    assert findings(world) == {"Electrical team branch": ("no_committee", 7)}
    make_user("b2_deputy", [(b2, "deputy_secretary")])
    assert findings(world) == {"Electrical team branch": ("no_committee", 7)}
    auth.login("committee_a")
    url = "/supervision/?period=month&section=membership"
    client.set_cookie("pbflow_lang", "en")
    assert "no active account holds a committee post there besides the secretaries" in text(
        client.get(url)
    )
    client.set_cookie("pbflow_lang", "zh")
    assert "除书记、副书记外，无启用账号担任支部委员职务" in text(client.get(url))
    organizing = make_user("b2_organizing", [(b2, "organizing_member")])
    assert findings(world) == {}
    accounts.set_active(organizing, False, actor=world["admin"])
    assert findings(world) == {"Electrical team branch": ("no_committee", 7)}
    accounts.set_active(organizing, True, actor=world["admin"])
    assert findings(world) == {}


def test_more_than_fifty_full_members_is_above_the_normal(world, clock):
    b1 = world.branch  # 4 full members, with a committee (its branch committee member)
    join(world, b1, 46)
    assert findings(world) == {"Electrical team branch": ("too_few", 1)}
    (fifty_first,) = join(world, b1, 1)
    assert findings(world) == {
        "Electrical team branch": ("too_few", 1),
        "Mining team 1 branch": ("many", 51),
    }
    d = dashboard(world["committee_a"], None, periods.of("month"), locale="en")
    assert [(b.finding, b.breach) for b in d.membership.sizes] == [
        ("too_few", True),  # against the rule first
        ("many", False),  # "normally": a warning
    ]
    people.set_person_active(fifty_first, False, actor=world["admin"])
    assert "Mining team 1 branch" not in findings(world)


def test_the_membership_section_says_it_in_both_languages(world, clock, client, auth):
    join(world, world.branch, 3)  # 7 full members in b1, which has its committee
    auth.login("committee_a")
    url = "/supervision/?period=month&section=membership"
    html = text(client.get(url))
    assert 'id="branch-size"' in html
    assert "1 finding about the size of branches" in html
    assert "Electrical team branch" in html and "Against the rule" in html
    assert "1 full member: a branch has at least 3." in html
    client.set_cookie("pbflow_lang", "zh")
    html = text(client.get(url))
    assert "正式党员 1 名：支部至少应有 3 名正式党员。" in html and "不符合规定" in html
    # The members' table's change over the period is 增减 (a net change), not 修改 (an edit).
    assert '<th scope="col" class="num">增减</th>' in html and 'data-label="增减"' in html
    assert "修改" not in html
    # The download has a line per finding.
    client.set_cookie("pbflow_lang", "en")
    csv = text(client.get("/supervision/export/membership.csv?period=month"))
    assert "Electrical team branch,Branch size,1 full member: a branch has at least 3.,,1" in csv
    # The branch's secretary sees their own branch's finding; a branch without any, that
    # it has none.
    join(world, world.other_branch, 2)
    auth.logout()
    auth.login("other_secretary")
    html = text(client.get(url))
    assert "The branch has between 3 and 50 full members" in html
    assert "Against the rule" not in html


def test_the_findings_cost_the_same_statements_whatever_the_branches(world, clock, client, auth):
    """One statement more for the membership section (the branches with a committee), the
    same whether no branch, one or many are flagged, with or without committees."""
    from tests.supervision.test_dashboard_pages import count_queries

    auth.login("committee_a")
    urls = (
        "/supervision/?period=month&section=membership",
        "/supervision/export/membership.csv?period=month",
    )

    def statements() -> list[int]:
        counted = []
        for url in urls:
            client.get(url)  # caches warmed as in a running server
            with count_queries() as seen:
                assert client.get(url).status_code == 200
            counted.append(len(seen))
        return counted

    before = statements()
    for i, size in enumerate((0, 2, 7, 8, 51)):
        branch = accounts.create_org(f"s{i}", f"支部{i}", "branch", world.general_branch)
        join(world, branch, size)
        if size == 8:
            make_user(f"s{i}_committee", [(branch, "branch_committee")], person_org=branch)
    d = dashboard(world["committee_a"], None, periods.of("month"), locale="en")
    assert [(b.label, b.finding) for b in d.membership.sizes] == [
        ("支部0", "too_few"),
        ("Electrical team branch", "too_few"),
        ("支部1", "too_few"),
        ("支部4", "no_committee"),
        ("支部2", "no_committee"),
        ("支部4", "many"),
    ]
    assert statements() == before
