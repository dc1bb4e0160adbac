"""Votes on a meeting's resolutions (DOMAIN 3): a branch general meeting decides by more than
half of the voting members who should attend, not of those present; a committee meeting by
more than half of the committee. The recorder types the counts, pbflow says what passed, and
the record, its corrections, its PDF, the API and the audit trail all carry the same."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select, text

from pbflow import audit
from pbflow.engine.errors import ValidationFailed
from pbflow.extensions import db
from pbflow.models import AuditEvent, Meeting
from pbflow.procedures.three_meetings import meeting_votes
from pbflow.procedures.three_meetings import services as meetings
from pbflow.procedures.three_meetings.meeting_votes import VoteInput
from pbflow.procedures.three_meetings.services import MeetingInput
from tests.api.helpers import Api, token
from tests.conftest import audit_actions, csrf_token, recorded_set_up
from tests.three_meetings.helpers import chair_and_recorder, leave_fields, on_leave

# b1's four full members: the secretary, the deputy, a committee member and a member; its
# committee: the secretary, the deputy and the committee member.
MEMBERS = ("secretary", "deputy", "branch_member", "member")


def pid(world, name: str) -> str:
    return str(world[name].person.id)


def general_meeting(world, votes, **extra) -> MeetingInput:
    values = {
        "meeting_type": "general_meeting",
        "held_on": "2026-03-01",
        "topic": "支部委员会换届选举",
        "chair": pid(world, "secretary"),
        "present": [pid(world, u) for u in ("secretary", "deputy", "member")],
        "reasons": {pid(world, "branch_member"): "井下值班"},
        "votes": [VoteInput(*row) for row in votes],
    }
    values.update(extra)
    return on_leave(world.branch.id, MeetingInput(**values))


def outcomes(meeting) -> list[tuple[str, int, bool]]:
    return [(v["text"], v["voters"], v["passed"]) for v in meeting.votes]


def test_more_than_half_of_those_who_should_attend_not_of_those_present(world):
    """Three of the four full members came. Two for and one against is a majority of those
    present and of the votes cast, but not more than half of the four: not passed."""
    m = meetings.record_meeting(
        world["secretary"],
        world.branch.id,
        general_meeting(
            world,
            [
                ("选举王明为支部书记", "3", "0", "0"),
                ("推荐李华为优秀党员", "2", "1", "0"),
                ("", "", "", ""),  # a row left empty is no resolution
            ],
        ),
    )
    assert outcomes(m) == [("选举王明为支部书记", 4, True), ("推荐李华为优秀党员", 4, False)]
    payload = json.loads(
        db.session.execute(
            select(AuditEvent.payload).where(AuditEvent.action == "meeting_recorded")
        ).scalar_one()
    )
    assert [v["passed"] for v in payload["votes"]] == [True, False]
    assert meeting_votes.outcome(m.votes[1]) == (
        "Not passed: 2 of the 4 who may vote were for it; more than half must be"
    )


def test_probationary_members_and_those_under_party_probation_do_not_vote(world):
    world["member"].person.party_status = "probationary"
    world["deputy"].person.on_party_probation = True
    recorded_set_up(world["member"].person, world["deputy"].person)
    db.session.commit()
    m = meetings.record_meeting(
        world["secretary"],
        world.branch.id,
        general_meeting(
            world,
            [("表彰先进", "2", "0", "0")],
            present=[pid(world, u) for u in ("secretary", "branch_member", "member")],
            reasons={},
        ),
    )
    # Two may vote (the secretary and the committee member): two for passes.
    assert outcomes(m) == [("表彰先进", 2, True)]
    with pytest.raises(ValidationFailed) as exc:
        meetings.record_meeting(
            world["secretary"],
            world.branch.id,
            general_meeting(
                world,
                [("表彰先进", "2", "1", "0")],
                present=[pid(world, u) for u in ("secretary", "branch_member", "member")],
                reasons={},
            ),
        )
    assert exc.value.field_errors == {"vote_1": "3 votes, but only 2 members may vote"}


def test_a_committee_meeting_counts_its_committee(world):
    committee = ("secretary", "deputy", "branch_member")
    m = meetings.record_meeting(
        world["secretary"],
        world.branch.id,
        general_meeting(
            world,
            [("同意接收张三为入党积极分子", "2", "1", "0"), ("调整党小组", "1", "0", "2")],
            meeting_type="committee_meeting",
            present=[pid(world, u) for u in committee],
            reasons={},
        ),
    )
    assert outcomes(m) == [("同意接收张三为入党积极分子", 3, True), ("调整党小组", 3, False)]


@pytest.mark.parametrize(
    ("meeting_type", "rows", "errors"),
    [
        (
            "theme_day",
            [("组织参观", "3", "0", "0")],
            {
                "votes": "only a branch general meeting or a branch committee meeting "
                "votes on resolutions"
            },
        ),
        (
            "general_meeting",
            [("", "3", "0", "0")],
            {"vote_1": "the resolution's wording is required"},
        ),
        (
            "general_meeting",
            [("选举", "3", "0", "0"), ("表彰", "三", "0", "0"), ("处分", "-1", "0", "0")],
            {
                "vote_2": "votes for, against and abstaining must each be a whole number "
                "from 0 to 9999",
                "vote_3": "votes for, against and abstaining must each be a whole number "
                "from 0 to 9999",
            },
        ),
        (
            "general_meeting",
            [("选举", "2.5", "", "0")],
            {
                "vote_1": "votes for, against and abstaining must each be a whole number "
                "from 0 to 9999"
            },
        ),
        (
            "general_meeting",
            [("选举", "3", "1", "1")],
            {"vote_1": "5 votes, but only 4 members may vote"},
        ),
        (
            "general_meeting",
            [(f"第{n}项决议", "3", "0", "0") for n in range(31)],
            {"votes": "at most 30 resolutions"},
        ),
        (
            "general_meeting",
            [("选" * 501, "3", "0", "0")],
            {"vote_1": "must be at most 500 characters"},
        ),
    ],
)
def test_votes_that_cannot_be_are_refused_and_nothing_is_written(world, meeting_type, rows, errors):
    before, count = audit_actions(), db.session.scalar(select(func.count(Meeting.id)))
    with pytest.raises(ValidationFailed) as exc:
        meetings.record_meeting(
            world["secretary"],
            world.branch.id,
            general_meeting(world, rows, meeting_type=meeting_type),
        )
    assert exc.value.field_errors == errors
    assert audit_actions() == before
    assert db.session.scalar(select(func.count(Meeting.id))) == count


def test_a_correction_of_the_counts_is_kept_readable_and_verified(world, runner):
    m = meetings.record_meeting(
        world["secretary"], world.branch.id, general_meeting(world, [("表彰先进", "2", "1", "0")])
    )
    assert outcomes(m) == [("表彰先进", 4, False)]
    edited = meetings.edit_meeting(
        world["secretary"],
        m.id,
        general_meeting(world, [("表彰先进", "3", "0", "0")]),
        reason="计票有误，重新核对",
        expected_version=1,
    )
    assert outcomes(edited) == [("表彰先进", 4, True)]
    (entry,) = meetings.meeting_page(world["secretary"], m.id).corrections("en")
    (change,) = entry.changes
    assert change.label == "Votes on resolutions"
    assert change.before == "表彰先进: 2 for, 1 against, 0 abstaining (not passed)"
    assert change.after == "表彰先进: 3 for, 0 against, 0 abstaining (passed)"
    assert audit.verify_database().ok

    # Changed with SQL, with no event: verification names the field.
    db.session.rollback()
    forged = [{**edited.votes[0], "for": 4, "against": 0}]
    with db.engine.begin() as conn:
        conn.execute(
            text("UPDATE meeting SET votes = :v WHERE id = :id"),
            {"v": json.dumps(forged), "id": m.id},
        )
    result = audit.verify_database()
    assert not result.ok
    assert f"meeting {m.id} differs from its last audited edit (votes)" in result.problem


def test_the_form_the_page_and_the_pdf(world, client, auth):
    """On the page: rows typed with a mistake come back as typed with the problem beside the
    row; once saved the meeting's page says what passed, in both languages."""
    client.set_cookie("pbflow_lang", "en")
    auth.login("secretary")
    url = f"/meetings/new?org={world.branch.id}"
    page = client.get(url)
    assert page.status_code == 200
    form = {
        "csrf_token": csrf_token(page.get_data(as_text=True)),
        "meeting_type": "general_meeting",
        "held_on": "2026-03-01",
        "topic": "支部委员会换届选举",
        "present": [pid(world, u) for u in ("secretary", "deputy", "member")],
        **chair_and_recorder(world.branch.id, "general_meeting", [pid(world, "secretary")]),
        **leave_fields(
            world.branch.id,
            "general_meeting",
            [pid(world, u) for u in ("secretary", "deputy", "member")],
        ),
        "vote_text": ["选举王明为支部书记", "", "推荐李华为优秀党员"],
        "vote_for": ["3", "", "2"],
        "vote_against": ["0", "", "x"],
        "vote_abstained": ["0", "", "0"],
    }
    refused = client.post(url, data=form)
    body = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert 'value="推荐李华为优秀党员"' in body and 'value="x"' in body
    # The second row typed is the second shown, with its problem after it.
    second = body.index('id="v-text-2"')
    assert body.index('value="推荐李华为优秀党员"') > second
    assert body.index("must each be a whole number", second) < body.index('id="v-text-3"')
    assert db.session.scalar(select(func.count(Meeting.id))) == 0

    form["vote_against"] = ["0", "", "1"]
    saved = client.post(url, data=form)
    assert saved.status_code == 302
    meeting_id = db.session.scalar(select(Meeting.id))
    shown = client.get(f"/meetings/{meeting_id}?lang=en").get_data(as_text=True)
    assert "Votes on resolutions" in shown
    assert "Passed: 3 of the 4 who may vote were for it" in shown
    assert "Not passed: 2 of the 4 who may vote were for it; more than half must be" in shown
    shown = client.get(f"/meetings/{meeting_id}?lang=zh").get_data(as_text=True)
    assert "表决" in shown and "未通过" in shown
    pdf = client.get(f"/meetings/{meeting_id}/minutes.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    # The meetings' download counts the resolutions voted on and those passed.
    csv = client.get(f"/meetings/?org={world.branch.id}&format=csv&lang=en").get_data(as_text=True)
    header, row = [line.split(",") for line in csv.strip().splitlines()[:2]]
    assert dict(zip(header, row, strict=True))["Resolutions voted on"] == "2"
    assert dict(zip(header, row, strict=True))["Resolutions passed"] == "1"
    # A correction starts from the votes on record, with room for more.
    edit = client.get(f"/meetings/{meeting_id}/edit").get_data(as_text=True)
    assert edit.index('value="选举王明为支部书记"') < edit.index('value="推荐李华为优秀党员"')
    assert 'id="v-text-4"' in edit and 'id="v-text-5"' not in edit


def test_votes_over_the_api(world, client):
    api = Api(client, token(world, "secretary", "act"))
    meeting = {
        "org_id": world.branch.id,
        "meeting_type": "general_meeting",
        "held_on": "2026-03-01",
        "topic": "支部委员会换届选举",
        "present": [world[u].person.id for u in ("secretary", "deputy", "member")],
        "chair": world["secretary"].person.id,
        "recorder": world["deputy"].person.id,
        "reasons": {pid(world, "branch_member"): "井下值班"},
        "votes": [{"text": "选举王明为支部书记", "votes_for": 3, "against": 0, "abstained": 0}],
    }
    r, problem = api.post(
        "/api/v1/meetings",
        json={**meeting, "votes": [{**meeting["votes"][0], "votes_for": 5}]},
    )
    assert r.status_code == 422 and problem["field_errors"] == {
        "vote_1": "5 votes, but only 4 members may vote"
    }
    r, body = api.post("/api/v1/meetings", json=meeting)
    assert r.status_code == 201, body
    assert body["votes"] == [
        {
            "text": "选举王明为支部书记",
            "votes_for": 3,
            "against": 0,
            "abstained": 0,
            "entitled": 4,
            "passed": True,
        }
    ]


def test_a_meeting_without_votes_keeps_none_as_the_records_made_before_them(world):
    """No vote is SQL NULL, as in the rows the migration found (not JSON's null): a query
    for the meetings that voted finds only those."""
    m = meetings.record_meeting(world["secretary"], world.branch.id, general_meeting(world, []))
    assert m.votes is None
    stored = db.session.execute(
        text("SELECT COUNT(*) FROM meeting WHERE votes IS NULL AND id = :id"), {"id": m.id}
    ).scalar()
    assert stored == 1
    assert db.session.scalar(select(func.count(Meeting.id)).where(Meeting.votes.is_not(None))) == 0
