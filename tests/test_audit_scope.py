"""A branch-level auditor's export: the whole chain, verifiable offline, with every event of
other branches withheld; and chains begun in the first hash format, switched once, on record."""

from __future__ import annotations

import json
import re

from flask_migrate import upgrade
from sqlalchemy import select, text

from pbflow import audit, audit_keys, create_app
from pbflow.engine import runtime
from pbflow.extensions import db
from pbflow.models import AuditEvent
from pbflow.services import accounts
from tests.conftest import make_user

OUR_PURPOSE = "机电队安全学习"
THEIR_PURPOSE = "采煤队主题党日秘密预算"


def _request(purpose: str) -> dict:
    return {
        "purpose": purpose,
        "activity_date": "2026-03-20",
        "amount": "800",
        "budget": "资料 800",
    }


def _two_branches(world) -> tuple[int, int]:
    """A case at each branch; the other branch's case goes a step further."""
    theirs = runtime.start(
        "activity_funding", world.branch, world["branch_member"], _request(THEIR_PURPOSE)
    )
    runtime.fire(theirs.id, "submit", world["branch_member"], comment="尽快")
    ours = runtime.start(
        "activity_funding", world.other_branch, world["other_secretary"], _request(OUR_PURPOSE)
    )
    return theirs.id, ours.id


def _export_as(client, auth, username: str) -> list[str]:
    auth.login(username)
    resp = client.get("/audit/export.jsonl")
    assert resp.status_code == 200
    return resp.get_data(as_text=True).splitlines()


def test_a_branch_auditors_export_verifies_and_holds_nothing_of_other_branches(
    world, client, auth, runner
):
    make_user("b2_auditor", [(world.other_branch, "auditor")])
    theirs, ours = _two_branches(world)
    assert runner.invoke(args=["pbflow", "audit", "head"]).exit_code == 0
    lines = _export_as(client, auth, "b2_auditor")
    rows = [json.loads(line) for line in lines]

    public = audit_keys.current().public_raw
    result = audit.verify_rows(audit.read_export(lines), public_keys=[public])
    assert result.ok, result.summary()
    # Logins go to the security log, so `audit head` checkpointed the whole process chain.
    assert result.checkpointed == result.head_seq
    assert result.withheld > 0

    shown = [r for r in rows if "kind" not in r]
    withheld = [r for r in rows if r.get("kind") == "withheld"]
    assert {r["org_id"] for r in shown} <= {world.other_branch.id, None}
    assert all(r["action"] in audit.NEUTRAL_ACTIONS for r in shown if r["org_id"] is None)
    assert any(r["instance_id"] == ours for r in shown)
    assert not any(r["instance_id"] == theirs for r in shown)
    for r in withheld:  # only what the chain needs
        assert set(r) == {"kind", "seq", "digest", "prev_hash", "hash"}
    text_of_export = "\n".join(lines)
    assert OUR_PURPOSE in text_of_export
    for secret in (THEIR_PURPOSE, "branch_member", "尽快", "secretary_review", "login"):
        assert secret not in text_of_export, secret

    # The same scope from the command line; a committee auditor's export withholds nothing.
    cli = runner.invoke(args=["pbflow", "audit", "export", "--org", "b2"])
    assert [json.loads(line).get("kind") for line in cli.output.splitlines()] == [
        r.get("kind") for r in rows[: len(cli.output.splitlines())]
    ]
    auth.logout()
    full = [json.loads(line) for line in _export_as(client, auth, "auditor")]
    assert not [r for r in full if r.get("kind") == "withheld"]


def test_a_withheld_event_cannot_be_altered_or_dropped(world, client, auth):
    make_user("b2_auditor", [(world.other_branch, "auditor")])
    _two_branches(world)
    lines = _export_as(client, auth, "b2_auditor")
    at = next(i for i, line in enumerate(lines) if '"withheld"' in line)
    row = json.loads(lines[at])
    row["digest"] = "0" * 64
    edited = [*lines[:at], json.dumps(row), *lines[at + 1 :]]
    result = audit.verify_rows(audit.read_export(edited))
    assert not result.ok and result.broken_seq == row["seq"]
    assert "digest does not match its hash" in result.problem
    dropped = audit.verify_rows(audit.read_export([*lines[:at], *lines[at + 1 :]]))
    assert not dropped.ok and dropped.broken_seq == row["seq"]


def test_a_branch_auditors_search_shows_only_their_scope(world, client, auth):
    make_user("b2_auditor", [(world.other_branch, "auditor")])
    theirs, ours = _two_branches(world)
    auth.login("b2_auditor")
    html = client.get(f"/audit/?case={theirs}").get_data(as_text=True)
    assert "No events match" in html or "没有" in html
    html = client.get("/audit/?lang=en").get_data(as_text=True)
    assert "withholds the events of organizations outside your scope" in html
    assert "login" not in [
        e.action
        for e in db.session.execute(select(AuditEvent).where(AuditEvent.instance_id == ours))
        .scalars()
        .all()
    ]


def test_a_cursor_naming_an_event_outside_the_scope_tells_nothing_of_its_time(
    world, client, auth, clock
):
    """A search by dates goes on from its cursor's time: a cursor naming another branch's
    event would date it (the page starting just before it), which the scoped export
    withholds. Such a cursor starts the page from the newest, as one past the head does."""
    make_user("b2_auditor", [(world.other_branch, "auditor")])
    ours = []
    for day in ("2026-03-03", "2026-03-05", "2026-03-07"):
        clock.set(day + "T02:00:00")
        ours.append(
            runtime.start(
                "activity_funding", world.other_branch, world["other_secretary"], _request(day)
            ).id
        )
    clock.set("2026-03-06T02:00:00")
    theirs = runtime.start(
        "activity_funding", world.branch, world["branch_member"], _request(THEIR_PURPOSE)
    ).id
    (hidden,) = db.session.execute(
        select(AuditEvent.seq).where(AuditEvent.instance_id == theirs)
    ).scalars()
    auth.login("b2_auditor")
    period = "/audit/?action=case_started&from=2026-03-01&to=2026-03-31&lang=en"

    def cases(url: str) -> list[int]:
        html = client.get(url).get_data(as_text=True)
        return [int(c) for c in re.findall(r"/audit/\?case=(\d+)", html)]

    newest = cases(period)
    assert newest == ours[::-1]
    assert cases(f"{period}&before={hidden}") == newest  # not [ours[1], ours[0]]
    own = db.session.execute(
        select(AuditEvent.seq).where(AuditEvent.instance_id == ours[2])
    ).scalar_one()
    assert cases(f"{period}&before={own}") == [ours[1], ours[0]]  # its own events: as asked


# --- chains begun in the first hash format ------------------------------------------------


def _v1_event(seq: int, prev: str, action: str, org_id: int | None) -> dict:
    row = {
        "seq": seq,
        "at": "2026-01-05T08:00:00.000000Z",
        "actor_user_id": None,
        "actor_label": "system",
        "org_id": org_id,
        "instance_id": None,
        "action": action,
        "from_state": None,
        "to_state": None,
        "payload": json.dumps({"n": seq}, separators=(",", ":")),
        "prev_hash": prev,
    }
    row["hash"] = audit.event_hash(prev, row)  # no salt: format 1
    return row


def test_an_old_chain_is_upgraded_and_switches_format_on_record(tmp_path):
    """Upgrade a database whose chain was written before format 2: the old events stay
    verifiable as they are, the switch is the first new event, and exports still verify."""
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "t",
            "INSTANCE_PATH": tmp_path,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'old.sqlite3'}",
        }
    )
    with app.app_context():
        upgrade(revision="0001")
        prev = audit.GENESIS_HASH
        with db.engine.begin() as conn:
            for seq, (action, org) in enumerate([("org_created", 1), ("login", None)], start=1):
                row = _v1_event(seq, prev, action, org)
                row["at"] = "2026-01-05 08:00:00.000000"
                conn.execute(
                    text(
                        "INSERT INTO audit_event (seq, at, actor_user_id, actor_label, org_id,"
                        " instance_id, action, from_state, to_state, payload, prev_hash, hash)"
                        " VALUES (:seq, :at, :actor_user_id, :actor_label, :org_id,"
                        " :instance_id, :action, :from_state, :to_state, :payload, :prev_hash,"
                        " :hash)"
                    ),
                    row,
                )
                prev = row["hash"]
            conn.execute(text("UPDATE audit_head SET seq = 2, hash = :h"), {"h": prev})
        upgrade()
        assert db.session.execute(text("SELECT hash_format FROM audit_head")).scalar() == 1
        assert audit.verify_database().ok

        accounts.create_org("c7", "新党委", "committee")
        actions = list(db.session.execute(select(AuditEvent.action).order_by(AuditEvent.seq)))
        assert [a for (a,) in actions] == [
            "org_created",
            "login",
            "audit_format_changed",
            "org_created",
        ]
        assert db.session.execute(text("SELECT hash_format FROM audit_head")).scalar() == 2
        result = audit.verify_database()
        assert result.ok, result.summary()
        assert audit.checkpoint() is not None
        assert audit.verify_database().checkpointed == 5

        import io

        out = io.StringIO()
        audit.export(out, org_ids={999})  # a reader of none of these organizations
        lines = out.getvalue().splitlines()
        result = audit.verify_rows(
            audit.read_export(lines), public_keys=[audit_keys.current().public_raw]
        )
        assert result.ok, result.summary()
        assert result.checkpointed == 5
        # The withheld old-format events keep no digest; the part before them is vouched for
        # only by their hashes, and verification says so.
        assert result.proven_from == 3
        assert "events before 3 are vouched for only by the hashes" in result.summary()
        old_withheld = json.loads(lines[0])
        assert old_withheld == {
            "kind": "withheld",
            "seq": 1,
            "digest": None,
            "prev_hash": audit.GENESIS_HASH,
            "hash": old_withheld["hash"],
        }
        db.session.remove()
        db.engine.dispose()
