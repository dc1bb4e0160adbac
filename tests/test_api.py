"""The JSON API: session login, CSRF in the X-CSRFToken header, the same services and the
same refusals as the pages."""

from __future__ import annotations

from pbflow.engine import runtime
from tests.pages_helpers import funding_case, walk


def _token(client) -> str:
    return client.get("/api/csrf").get_json()["csrf_token"]


def test_needs_a_login(world, client):
    case = funding_case(world)
    for url in ("/api/cases", f"/api/cases/{case.id}", f"/api/cases/{case.id}/actions"):
        response = client.get(url)
        assert response.status_code == 401 and response.get_json()["status"] == 401


def test_list_only_what_the_user_may_see(world, auth, client):
    mine = funding_case(world, purpose="本支部")
    funding_case(world, by="other_secretary", org=world.other_branch, purpose="外支部")
    auth.login("secretary")
    body = client.get("/api/cases?lang=en").get_json()
    assert body["total"] == 1 and [c["id"] for c in body["cases"]] == [mine.id]
    assert body["cases"][0]["state_label"] == "Draft"
    assert body["counts"] == [
        {"workflow": "activity_funding", "state": "draft", "label": "Draft", "count": 1}
    ]
    bad = client.get("/api/cases?date_from=soon")
    assert bad.status_code == 422 and "date_from" in bad.get_json()["field_errors"]


def test_get_a_case_and_its_actions(world, auth, client):
    case = funding_case(world)
    walk(case.id, world, ("submit", "branch_member"))
    auth.login("secretary")
    body = client.get(f"/api/cases/{case.id}?lang=en").get_json()
    assert body["state"] == "secretary_review" and body["version"] == 2
    assert body["data"]["amount"] == "1200.5" and "_by" not in body["data"]
    assert [e["action"] for e in body["timeline"]] == ["case_started", "transition"]
    actions = client.get(f"/api/cases/{case.id}/actions?lang=en").get_json()
    triggers = {a["trigger"]: a for a in actions["actions"]}
    assert set(triggers) == {"secretary_approve", "return_for_changes", "reject"}
    assert triggers["return_for_changes"]["comment"] == "required"
    auth.logout()
    auth.login("other_secretary")
    assert client.get(f"/api/cases/{case.id}").status_code == 404
    assert client.get(f"/api/cases/{case.id}/actions").status_code == 404


def test_fire_needs_the_csrf_header(world, auth, client):
    case = funding_case(world)
    walk(case.id, world, ("submit", "branch_member"))
    auth.login("secretary")
    refused = client.post(f"/api/cases/{case.id}/fire", json={"trigger": "secretary_approve"})
    assert refused.status_code == 400
    assert runtime.load_case(case.id).state == "secretary_review"
    done = client.post(
        f"/api/cases/{case.id}/fire",
        json={"trigger": "secretary_approve", "version": 2, "comment": "同意"},
        headers={"X-CSRFToken": _token(client)},
    )
    assert done.status_code == 200
    assert done.get_json() == {"id": case.id, "state": "superior_review", "version": 3}


def test_fire_refusals_carry_status_and_reasons(world, auth, client):
    case = funding_case(world)
    walk(case.id, world, ("submit", "branch_member"))
    auth.login("secretary")
    headers = {"X-CSRFToken": _token(client)}
    url = f"/api/cases/{case.id}/fire?lang=en"
    no_reason = client.post(url, json={"trigger": "return_for_changes"}, headers=headers)
    assert no_reason.status_code == 422
    assert no_reason.get_json()["field_errors"] == {"comment": "is required"}
    wrong_state = client.post(url, json={"trigger": "accept_report"}, headers=headers)
    assert wrong_state.status_code == 409
    not_json = client.post(url, data="trigger=x", headers=headers)
    assert not_json.status_code == 422
    bad_version = client.post(
        url, json={"trigger": "secretary_approve", "version": "two"}, headers=headers
    )
    assert bad_version.status_code == 422
    runtime.fire(case.id, "return_for_changes", world["deputy"], comment="退回")
    stale = client.post(url, json={"trigger": "secretary_approve", "version": 2}, headers=headers)
    body = stale.get_json()
    assert stale.status_code == 409
    assert body["details"]["current_version"] == 3
    assert [c["text"] for c in body["details"]["changes"]] == ["Return for changes"]
    auth.logout()
    auth.login("gb_secretary")
    not_allowed = client.post(
        url,
        json={"trigger": "submit"},
        headers={"X-CSRFToken": _token(client)},
    )
    assert not_allowed.status_code == 403
    assert runtime.load_case(case.id).state == "draft"
