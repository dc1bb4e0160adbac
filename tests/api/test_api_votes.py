"""Ballots and meeting resolutions over the API (the test workflows' motion), and the
figures: meetings, the compliance calendar and the supervision dashboard."""

from __future__ import annotations

import pytest

from pbflow.engine import runtime
from pbflow.extensions import db
from pbflow.models import Person
from tests.api.helpers import Api, token
from tests.conftest import TEST_WORKFLOWS


def _motion(world):
    for name in ("老张", "老王", "老李"):
        db.session.add(Person(name=name, org_id=world.branch.id, party_status="full"))
    db.session.commit()
    case = runtime.start("motion", world.branch, world["secretary"], {"topic": "换届选举方案"})
    runtime.fire(case.id, "put_to_vote", world["secretary"])
    return case.id


@pytest.mark.workflows_dir(TEST_WORKFLOWS)
def test_ballots_over_the_api(world, client):
    """The branch's four full members with an account vote; the third ballot for makes more
    than half and decides the motion, after which no vote is open to ballot in."""
    case_id = _motion(world)
    url = f"/api/v1/cases/{case_id}/ballot"
    reader = Api(client, token(world, "branch_member", "read"))
    r, problem = reader.post(url, json={"choice": "for"})
    assert r.status_code == 403 and "scope" in problem["detail"]
    voters = {
        who: Api(client, token(world, who, "act"))
        for who in ("secretary", "deputy", "member", "branch_member")
    }
    r, body = voters["secretary"].post(url, json={"choice": "for"})
    assert r.status_code == 200 and body == {"id": case_id, "choice": None}  # still open
    r, problem = voters["secretary"].post(url, json={"choice": "against"})
    assert r.status_code == 409 and problem["detail"] == "You have already voted on this."
    r, problem = voters["deputy"].post(url, json={"choice": "maybe"})
    assert r.status_code == 422 and "choice" in problem["field_errors"]
    r, body = voters["deputy"].post(url, json={"choice": "for"})
    assert r.status_code == 200 and body == {"id": case_id, "choice": None}
    r, body = voters["member"].post(url, json={"choice": "for"})
    assert r.status_code == 200 and body == {"id": case_id, "choice": "passed"}
    r, problem = voters["branch_member"].post(url, json={"choice": "for"})
    assert r.status_code == 409 and problem["detail"] == "No vote is open on this case now."
    r, case = reader.get(f"/api/v1/cases/{case_id}")
    assert case["state"] == "carried" and case["vote"] is None
    assert runtime.load_case(case_id).state == "carried"


@pytest.mark.workflows_dir(TEST_WORKFLOWS)
def test_a_meeting_resolution_over_the_api(world, client):
    case_id = _motion(world)
    api = Api(client, token(world, "secretary", "act"))
    counts = {
        "meeting_date": "2026-03-01",
        "attended": 5,
        "votes_for": 3,
        "votes_against": 2,
        "votes_abstain": 0,
    }
    r, body = api.post(f"/api/v1/cases/{case_id}/resolution", json={**counts, "attended": -1})
    assert r.status_code == 422
    r, body = api.post(f"/api/v1/cases/{case_id}/resolution", json=counts)
    assert r.status_code == 200 and body["result"] == "failed"
    assert runtime.load_case(case_id).state == "returned"


def test_meetings_compliance_and_supervision_figures(world, client):
    api = Api(client, token(world, "committee_a"))
    r, meetings = api.get("/api/v1/meetings")
    assert r.status_code == 200 and meetings["items"] == []
    r, calendar = api.get(f"/api/v1/compliance?org={world.branch.id}&year=2026")
    assert r.status_code == 200 and calendar["year"] == 2026
    r, board = api.get("/api/v1/supervision?period=year")
    assert r.status_code == 200 and {"compliance", "work", "membership"} <= set(board)
    member = Api(client, token(world, "member"))
    assert member.get("/api/v1/supervision")[0].status_code == 403
    outsider = Api(client, token(world, "other_secretary"))
    assert outsider.get(f"/api/v1/compliance?org={world.branch.id}")[0].status_code == 404


def test_a_meeting_recorded_and_read_over_the_api(world, client):
    people = {u: world[u].person.id for u in ("secretary", "deputy", "member", "branch_member")}
    api = Api(client, token(world, "secretary", "act"))
    meeting = {
        "org_id": world.branch.id,
        "meeting_type": "general_meeting",
        "held_on": "2026-02-27",
        "topic": "学习党章",
        "minutes": "会议学习了党章第一章。",
        "chair": people["secretary"],
        "recorder": people["deputy"],
        "present": [people["secretary"], people["deputy"], people["member"]],
        "reasons": {str(people["branch_member"]): "出差"},
    }
    r, body = api.post("/api/v1/meetings", json=meeting)
    assert r.status_code == 201, body
    assert body["topic"] == "学习党章" and body["absent"][0]["reason"] == "出差"
    r, listed = api.get("/api/v1/meetings?year=2026")
    assert [m["id"] for m in listed["items"]] == [body["id"]]
    r, again = Api(client, token(world, "committee_a")).get(f"/api/v1/meetings/{body['id']}")
    assert r.status_code == 200 and len(again["present"]) == 3
    # Another branch's secretary: the meeting is not there for them (as a case would not
    # be), and they may not record one for this branch.
    outsider = Api(client, token(world, "other_secretary", "act"))
    r, problem = outsider.get(f"/api/v1/meetings/{body['id']}")
    assert r.status_code == 404 and problem["detail"] == "No such meeting."
    r, problem = outsider.post("/api/v1/meetings", json=meeting)
    assert r.status_code == 403 and "records meetings" in problem["detail"]
    r, listed = api.get("/api/v1/meetings?year=2026")
    assert [m["id"] for m in listed["items"]] == [body["id"]]
