"""The opinion box over the API without an account, and the token pages under My account."""

from __future__ import annotations

from pbflow.extensions import db
from pbflow.models import ApiToken, ProcessInstance
from pbflow.services import api_tokens
from tests.api.helpers import Api, token
from tests.pages_helpers import page_token, text

OPINION = {
    "subject": "食堂饭菜价格偏高",
    "text": "最近食堂套餐涨价，希望支部了解情况并反映。",
    "category": "welfare",
    "anonymous": True,
}


def test_an_opinion_submitted_and_followed_without_an_account(world, client):
    visitor = Api(client, None, lang="en")
    r, slip = visitor.post("/api/v1/opinions", json={"org_code": "b1", "values": OPINION})
    assert r.status_code == 201, slip
    assert slip["anonymous"] is True and slip["submitted_at"].endswith("+00:00")
    r, seen = visitor.post("/api/v1/opinions/follow", json={"code": slip["code"]})
    assert r.status_code == 200 and seen["state"] == "received" and seen["closed"] is False
    assert "add_information" in [a["trigger"] for a in seen["actions"]]
    r, after = visitor.post(
        "/api/v1/opinions/steps",
        json={
            "code": slip["code"],
            "trigger": "add_information",
            "values": {"more_info": "二十分钟以上。"},
            "version": seen["version"],
        },
    )
    assert r.status_code == 200, after
    assert after["additions"]
    # The branch's own steps are not the submitter's, whoever holds the code: refused as
    # the engine refuses a step it does not know (409), and nothing happens.
    r, problem = visitor.post(
        "/api/v1/opinions/steps",
        json={"code": slip["code"], "trigger": "close_case", "version": after["version"]},
    )
    assert r.status_code == 409 and problem["detail"] == "Unknown step 'close_case'."
    r, seen = visitor.post("/api/v1/opinions/follow", json={"code": slip["code"]})
    assert seen["state"] == after["state"] and seen["version"] == after["version"]
    r, problem = visitor.post("/api/v1/opinions/follow", json={"code": "NOPE-NOPE"})
    assert r.status_code == 404
    assert problem["detail"] == (
        "No opinion matches this tracking code. Check the code and try again."
    )
    r, problem = visitor.post("/api/v1/opinions", json={"org_code": "nope", "values": OPINION})
    assert r.status_code == 404


def test_an_anonymous_opinion_sent_with_a_token_leaves_no_trace_of_the_token(world, client):
    """A member who sends an anonymous opinion with their own token: the opinion carries no
    account, and the token's row no minute of use (its owner's last use, next to an opinion
    dated to the hour, would say who sent it). A page that needs the token still marks it."""
    secret = token(world, "member", "act")
    (made,) = api_tokens.list_tokens(world["member"])
    assert made.last_used_at is None
    member = Api(client, secret, lang="en")
    r, slip = member.post("/api/v1/opinions", json={"org_code": "b1", "values": OPINION})
    assert r.status_code == 201 and slip["anonymous"] is True
    r, seen = member.post("/api/v1/opinions/follow", json={"code": slip["code"]})
    assert r.status_code == 200
    r, seen = member.post(
        "/api/v1/opinions/steps",
        json={
            "code": slip["code"],
            "trigger": "add_information",
            "values": {"more_info": "再补充"},
        },
    )
    assert r.status_code == 200, seen
    db.session.expire_all()
    assert db.session.get(ApiToken, made.id).last_used_at is None
    case = db.session.get(ProcessInstance, seen["case_id"])
    assert case.submitter_user_id is None
    r, _me = member.get("/api/v1/me")
    assert r.status_code == 200
    db.session.expire_all()
    assert db.session.get(ApiToken, made.id).last_used_at is not None


def test_guessing_tracking_codes_is_limited(world, client, app):
    """A wrong code keeps its place in the network's limit: past it, every try is a 429, the
    right code's too, until the window is over."""
    visitor = Api(client, None, lang="en")
    r, slip = visitor.post("/api/v1/opinions", json={"org_code": "b1", "values": OPINION})
    app.config["PBFLOW_OPINION_TRACK_LIMIT"] = 2
    for guess in ("NOPE-0001", "NOPE-0002"):
        r, problem = visitor.post("/api/v1/opinions/follow", json={"code": guess})
        assert r.status_code == 404, guess
    for code in ("NOPE-0003", slip["code"]):
        r, problem = visitor.post("/api/v1/opinions/follow", json={"code": code})
        assert r.status_code == 429 and problem["title"] == "Too many requests"
        assert problem["detail"].startswith("Too many tracking codes were tried")


def test_token_pages_make_show_once_and_revoke(world, auth, client):
    auth.login("secretary")
    page = client.get("/account/tokens")
    assert page.status_code == 200 and "API" in text(page)
    made = client.post(
        "/account/tokens",
        data={
            "name": "reporting",
            "scope": "read",
            "days": "30",
            "csrf_token": page_token(client, "/account/tokens"),
        },
    )
    assert made.status_code == 201
    secret = text(made).split('class="token-secret">')[1].split("<")[0]
    assert secret.startswith("pbf_")
    assert secret not in text(client.get("/account/tokens"))  # shown once
    (token,) = api_tokens.list_tokens(world["secretary"])
    assert token.secret_hash == api_tokens.secret_hash(secret) and token.scope == "read"
    # Nobody else's token can be revoked from here; one's own can.
    other = api_tokens.create_token(None, world["member"], "theirs")
    refused = client.post(
        f"/account/tokens/{other.token.id}/revoke",
        data={"csrf_token": page_token(client, "/account/tokens")},
    )
    assert refused.status_code == 404 and api_tokens.is_live(other.token)
    client.post(
        f"/account/tokens/{token.id}/revoke",
        data={"csrf_token": page_token(client, "/account/tokens")},
    )
    assert not api_tokens.is_live(token)
    bad = client.post(
        "/account/tokens",
        data={
            "name": "",
            "scope": "admin",
            "days": "9999",
            "csrf_token": page_token(client, "/account/tokens"),
        },
    )
    assert bad.status_code == 422


def test_the_cli_makes_lists_and_revokes_tokens(world, runner):
    made = runner.invoke(
        args=["pbflow", "token", "create", "secretary", "hr-sync", "--scope", "act"]
    )
    assert made.exit_code == 0, made.output
    secret = made.output.strip().splitlines()[-1]
    assert secret.startswith("pbf_")
    listed = runner.invoke(args=["pbflow", "token", "list"])
    assert "hr-sync" in listed.output and secret not in listed.output
    token_id = listed.output.split("\t")[0]
    assert runner.invoke(args=["pbflow", "token", "revoke", token_id]).exit_code == 0
    assert "revoked" in runner.invoke(args=["pbflow", "token", "list", "secretary"]).output
    assert runner.invoke(args=["pbflow", "token", "revoke", "99999"]).exit_code == 1


def test_token_list_names_its_scope_and_columns_on_a_phone(world, auth, client):
    """The list says the scope as the form offered it (not the raw 'act'), and each value
    carries its column's name, shown beside it when a phone makes the row a card."""
    import re

    api_tokens.create_token(None, world["secretary"], "报表系统", scope="act")
    auth.login("secretary")
    html = text(client.get("/account/tokens?lang=zh"))
    row = next(r for r in re.findall(r"<tr[^>]*>.*?</tr>", html, re.S) if "报表系统" in r)
    assert "读取并办理" in row and ">act<" not in row
    assert 'class="list tokens"' in html
    assert re.findall(r'<td data-label="([^"]+)"', row) == ["账号", "权限范围", "到期", "最近使用"]
