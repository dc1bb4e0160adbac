"""A party group leader reads their party group, not the branch (hostile review): the role
reads only where it is held at a party group organization. Held at a branch (the demo gave
it so, a shortcut from before the group's own meetings were modelled), it reads nothing
there: not the branch's cases, not the anonymous opinions' case pages, not another group's
meetings. What the leader needs for the group (its meetings, their record and calendar)
still works."""

from __future__ import annotations

from sqlalchemy import select

from pbflow import demo
from pbflow.engine import actors
from pbflow.extensions import db
from pbflow.models import Meeting, Organization, ProcessInstance, User
from pbflow.procedures.three_meetings.services import MeetingInput, record_meeting
from pbflow.services import accounts
from tests.conftest import make_user
from tests.pages_helpers import funding_case


def _group_meeting(leader) -> MeetingInput:
    return MeetingInput(
        meeting_type="group_meeting",
        held_on="2026-02-15",
        topic="小组学习",
        chair=str(leader.person.id),
        recorder=str(leader.person.id),
        present=[str(leader.person.id)],
    )


def test_a_group_leader_reads_their_group_not_the_branch_nor_another_group(world, client, auth):
    g1 = accounts.create_org("g1", "第一党小组", "party_group", world.branch)
    g2 = accounts.create_org("g2", "第二党小组", "party_group", world.branch)
    roles = [(world.branch, "member"), (world.branch, "group_leader"), (g1, "group_leader")]
    leader = make_user("leader", roles, person_org=g1)
    other = make_user("other_leader", [(g2, "group_leader")], person_org=g2)
    assert actors.readable_org_ids(leader) == {g1.id}
    assert actors.can_read_org(leader, g1.id)
    assert not actors.can_read_org(leader, world.branch.id)
    assert not actors.can_read_org(leader, g2.id)
    # A group leader's role at a branch gives no reading at all.
    only_branch = make_user("branch_group_leader", [(world.branch, "group_leader")])
    assert actors.readable_org_ids(only_branch) == set()
    # The leader records their group's meeting and reads it; not the other group's.
    mine = record_meeting(leader, g1.id, _group_meeting(leader))
    theirs = record_meeting(other, g2.id, _group_meeting(other))
    grouped = make_user("grouped", person_org=g1, party_status="activist")
    case = funding_case(world)
    auth.login("leader")
    # The members' records: of the leader's own group, not of another group's.
    assert client.get(f"/development/person/{grouped.person.id}").status_code == 200
    assert client.get(f"/development/person/{other.person.id}").status_code in (403, 404)
    assert client.get(f"/meetings/{mine.id}").status_code == 200
    assert client.get(f"/meetings/compliance/{g1.id}").status_code == 200
    assert client.get(f"/meetings/{theirs.id}").status_code == 404
    assert client.get(f"/meetings/compliance/{g2.id}").status_code == 404
    assert client.get(f"/meetings/compliance/{world.branch.id}").status_code == 404
    assert client.get(f"/cases/{case.id}").status_code in (403, 404)


def test_the_demo_group_leader_reads_the_group_not_the_branchs_opinions(app, clock, client, auth):
    demo.load_if_empty()
    org = {o.code: o for o in db.session.execute(select(Organization)).scalars()}
    wu = db.session.execute(select(User).where(User.username == "wu.dangyuan")).scalar_one()
    held = actors.roles_of(wu.id)
    assert (org["b1g1"].id, "group_leader") in held
    assert (org["b1"].id, "group_leader") not in held
    assert actors.readable_org_ids(wu) == {org["b1g1"].id}
    opinions = db.session.execute(
        select(ProcessInstance.id).where(
            ProcessInstance.workflow_id == "opinion", ProcessInstance.org_id == org["b1"].id
        )
    ).scalars()
    group_meeting = db.session.execute(
        select(Meeting.id).where(Meeting.org_id == org["b1g1"].id).limit(1)
    ).scalar_one()
    opinion_ids = list(opinions)
    assert opinion_ids
    auth.login("wu.dangyuan", demo.PASSWORD)
    for case_id in opinion_ids:
        assert client.get(f"/cases/{case_id}").status_code in (403, 404), case_id
    assert client.get(f"/meetings/{group_meeting}").status_code == 200
    assert client.get(f"/meetings/compliance/{org['b1g1'].id}").status_code == 200
