"""A token cannot make tokens (hostile review): a stolen token with the admin scope would
otherwise mint tokens of up to 366 days that outlive its own revocation. Tokens are made by a
person logged in (the pages, or the API's session path) or by the command line; a token may
still list and revoke them."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from pbflow.extensions import db
from pbflow.models import AuditEvent
from pbflow.models.api_token import ApiToken
from pbflow.models.security import SecurityEvent
from tests.api.helpers import Api, token


def _tokens() -> int:
    return db.session.scalar(select(func.count()).select_from(ApiToken))


def test_a_token_cannot_make_tokens_and_its_revocation_leaves_nothing_behind(world, client):
    stolen = token(world, "admin", "admin")
    thief = Api(client, stolen)
    before = _tokens()
    created_before = AuditEvent.query.filter_by(action="api_token_created").count()
    r, problem = thief.post("/api/v1/tokens", json={"name": "backdoor", "days": 366})
    assert r.status_code == 403
    assert problem["detail"] == (
        "A token cannot make tokens: log in and make it on My account, or ask the operator."
    )
    r, problem = Api(client, stolen, lang="zh").post(
        "/api/v1/tokens", json={"name": "backdoor", "owner": "secretary"}
    )
    assert r.status_code == 403
    assert (
        problem["detail"] == "访问令牌不能生成令牌：请登录后在“我的账号”中生成，或请运维人员生成。"
    )
    # Refused before the owner is looked up: a name that is no account is no 422.
    r, problem = thief.post("/api/v1/tokens", json={"name": "x", "owner": "nobody"})
    assert r.status_code == 403 and problem["detail"].startswith("A token cannot make tokens")
    assert _tokens() == before
    assert AuditEvent.query.filter_by(action="api_token_created").count() == created_before
    # Each refusal is in the security log, under the token's owner, naming the token.
    refused = db.session.scalars(
        select(SecurityEvent)
        .where(SecurityEvent.action == "api_token_refused")
        .order_by(SecurityEvent.seq)
    ).all()
    assert [e.username for e in refused] == ["admin", "admin", "admin"]
    held = db.session.scalar(select(ApiToken).where(ApiToken.name == "admin-admin"))
    payloads = [json.loads(e.payload) for e in refused]
    assert payloads[0] == {"token_id": held.id, "token": "admin-admin", "owner": "admin"}
    assert [p["owner"] for p in payloads[1:]] == ["secretary", "nobody"]
    # Revoking the token (it may still revoke tokens) leaves no token of its making alive.
    r, _ = thief.delete(f"/api/v1/tokens/{held.id}")
    assert r.status_code == 200
    assert thief.get("/api/v1/me")[0].status_code == 401
    assert _tokens() == before


def test_a_person_logged_in_makes_tokens_through_the_api_and_the_pages(world, client, auth):
    auth.login("admin")
    csrf = client.get("/api/csrf").get_json()["csrf_token"]
    r = client.post(
        "/api/v1/tokens",
        json={"name": "hr", "owner": "secretary", "scope": "act"},
        headers={"X-CSRFToken": csrf},
    )
    assert r.status_code == 201, r.get_json()
    made = r.get_json()
    mine = Api(client, made["secret"])
    assert mine.get("/api/v1/me")[1]["username"] == "secretary"
    event = AuditEvent.query.filter_by(action="api_token_created").all()[-1]
    payload = json.loads(event.payload)
    assert payload["owner"] == "secretary" and "via" not in payload
    # A token the person made may revoke itself, or another of theirs.
    assert mine.delete(f"/api/v1/tokens/{made['id']}")[0].status_code == 200
    assert mine.get("/api/v1/me")[0].status_code == 401


def _minted_the_old_way(world, owner: str, name: str, through: ApiToken) -> ApiToken:
    """A token made through ``through`` before that was refused: its row, and its making in the
    audit trail as every request with a token wrote it (``via``, audit.attribute_with)."""
    from datetime import timedelta

    from pbflow import audit, clock
    from pbflow.services import api_tokens

    made = ApiToken(
        user_id=world[owner].id,
        name=name,
        scope="admin",
        prefix=name[:8],
        secret_hash=api_tokens.secret_hash(f"pbf_{name}"),
        created_by_id=world[owner].id,
        expires_at=clock.now() + timedelta(days=366),
    )
    db.session.add(made)
    db.session.flush()
    audit.record(
        "api_token_created",
        actor=world[owner],
        payload={
            "token_id": made.id,
            "name": name,
            "owner": owner,
            "scope": "admin",
            "kind": "personal",
            "expires_at": made.expires_at,
            "via": {"token_id": through.id, "token": through.name},
        },
    )
    db.session.commit()
    return made


def test_tokens_made_through_a_token_before_the_rule_are_found_and_revoked(
    world, client, auth, runner
):
    """``pbflow token made-by-tokens`` finds them by their making's ``via`` in the audit
    trail, exits 1 while one is live, and ``--revoke`` revokes them (audited); tokens made
    by a person or the command line are left alone."""
    from pbflow.services import api_tokens

    token(world, "admin", "admin")
    stolen = db.session.scalar(select(ApiToken).where(ApiToken.name == "admin-admin"))
    backdoor = _minted_the_old_way(world, "admin", "backdoor", stolen)
    second = _minted_the_old_way(world, "admin", "second", backdoor)  # made by the first
    revoked = _minted_the_old_way(world, "admin", "dropped", stolen)
    api_tokens.revoke_token(None, revoked.id)
    auth.login("admin")
    csrf = client.get("/api/csrf").get_json()["csrf_token"]
    by_person = client.post(
        "/api/v1/tokens", json={"name": "by hand"}, headers={"X-CSRFToken": csrf}
    )
    assert by_person.status_code == 201
    listed = runner.invoke(args=["pbflow", "token", "made-by-tokens"])
    assert listed.exit_code == 1
    lines = listed.output.splitlines()
    assert [line.split("\t")[3] for line in lines[:3]] == ["backdoor", "second", "dropped"]
    assert lines[0].endswith(f"through token {stolen.id} (admin-admin)\tLIVE")
    assert lines[1].endswith(f"through token {backdoor.id} (backdoor)\tLIVE")
    assert lines[2].endswith("\trevoked")
    assert "2 live token(s) made through a token: run with --revoke" in listed.output
    # Made by the command line (the stolen one) and by a person logged in: not listed.
    assert len(lines) == 4 and "by hand" not in listed.output
    done = runner.invoke(args=["pbflow", "token", "made-by-tokens", "--revoke"])
    assert done.exit_code == 0, done.output
    assert done.output.count("revoked now") == 2
    db.session.expire_all()
    assert db.session.get(ApiToken, backdoor.id).revoked_at is not None
    assert db.session.get(ApiToken, second.id).revoked_at is not None
    assert db.session.get(ApiToken, stolen.id).revoked_at is None  # the operator's own
    events = AuditEvent.query.filter_by(action="api_token_revoked").all()
    assert [json.loads(e.payload).get("reason") for e in events] == [
        None,
        "made through a token",
        "made through a token",
    ]
    again = runner.invoke(args=["pbflow", "token", "made-by-tokens"])
    assert again.exit_code == 0 and "no live token made through a token" in again.output
