"""The security log: its own hash chain, append-only, written with the change it records,
verifiable from the database and from an export, and shown to auditors on the audit pages."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from pbflow import audit, security_log
from pbflow.extensions import db
from pbflow.models import SecurityEvent, User
from pbflow.models.security import SECURITY_GENESIS_HASH
from pbflow.services import accounts
from tests.conftest import PASSWORD, Auth, csrf_token, make_user

WRONG = "not-the-password-7"


def _fresh(username: str) -> User:
    db.session.expire_all()
    return db.session.execute(select(User).where(User.username == username)).scalar_one()


def _count() -> int:
    return db.session.execute(select(func.count()).select_from(SecurityEvent)).scalar_one()


@pytest.fixture
def activity(world, app):
    """Logins, failures, a lockout, logouts, a language change: a log of a dozen events."""
    for name in ("member", "secretary", "auditor", "admin"):
        browser = Auth(app.test_client())
        browser.login(name, WRONG)
        browser.login(name)
        browser.logout()
    for _ in range(3):
        Auth(app.test_client()).login("deputy", WRONG)
    Auth(app.test_client()).login("nobody", WRONG)
    accounts.set_locale(_fresh("member"), "en")
    return world


def test_the_log_is_a_chain_that_verifies(activity):
    n, head_hash = security_log.head()
    assert n == _count() == 18
    result = security_log.verify_database()
    assert result.ok and result.count == n and result.head_hash == head_hash
    rows = db.session.execute(select(SecurityEvent).order_by(SecurityEvent.seq)).scalars().all()
    assert rows[0].prev_hash == SECURITY_GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in zip(rows, rows[1:], strict=False))
    assert [r.seq for r in rows] == list(range(1, n + 1))


def test_an_event_is_written_with_its_change_or_not_at_all(world, monkeypatch):
    accounts.record_logout(_fresh("member"))  # an event whose hash the next one will reuse
    taken = db.session.execute(select(SecurityEvent.hash)).scalars().first()
    head_before = security_log.head()
    token_before = _fresh("member").session_token
    # The event's INSERT fails in the database (its hash must be unique), after the head row
    # was moved: the whole transaction goes, the ended sessions with it.
    monkeypatch.setattr(security_log, "event_hash", lambda prev, row: taken)
    with pytest.raises(IntegrityError):
        accounts.record_logout(_fresh("member"))
    monkeypatch.undo()
    assert _fresh("member").session_token == token_before
    assert security_log.head() == head_before
    assert security_log.verify_database().ok


def test_a_refused_change_writes_no_event(world):
    head_before = security_log.head()
    with pytest.raises(accounts.ValidationFailed):
        accounts.set_locale(_fresh("member"), "fr")
    assert security_log.head() == head_before
    # Nothing queued rides along with the next commit either.
    accounts.set_locale(_fresh("member"), "en")
    assert security_log.head()[0] == head_before[0] + 1


def _refused_statements(dialect: str) -> list[str]:
    statements = [
        "UPDATE security_event SET payload = '{}' WHERE seq = 2",
        "DELETE FROM security_event WHERE seq = 2",
        "DELETE FROM security_event",
        "DELETE FROM security_head",
        "UPDATE security_head SET seq = seq - 1",
    ]
    if dialect == "postgresql":
        statements += ["TRUNCATE security_event", "TRUNCATE security_head"]
    return statements


def test_triggers_keep_the_log_append_only(activity):
    before = (_count(), security_log.head())
    db.session.rollback()
    for stmt in _refused_statements(db.engine.dialect.name):
        with db.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SET lock_timeout = '10s'"))
            with pytest.raises(DBAPIError, match="append-only|only moves forward|cannot be"):
                conn.execute(text(stmt))
            conn.rollback()
    assert (_count(), security_log.head()) == before
    assert security_log.verify_database().ok


DROP = {
    "sqlite": ["DROP TRIGGER security_event_no_update", "DROP TRIGGER security_event_no_delete"],
    "postgresql": ["DROP TRIGGER security_event_no_change ON security_event"],
}


@pytest.fixture
def tamper(activity):
    """Someone with the database: triggers dropped, put back afterwards."""
    db.session.rollback()
    with db.engine.begin() as conn:
        for stmt in DROP[conn.dialect.name]:
            conn.execute(text(stmt))

    def sql(stmt: str, **params) -> None:
        db.session.rollback()
        with db.engine.begin() as conn:
            conn.execute(text(stmt), params)

    yield sql
    db.session.rollback()
    with db.engine.begin() as conn:
        security_log.install_triggers(conn)


@pytest.mark.parametrize(
    ("statement", "seq", "problem"),
    [
        # Hiding that a failed login happened: edit it into something harmless.
        ("UPDATE security_event SET action = 'logout' WHERE seq = 4", 4, "altered"),
        ("DELETE FROM security_event WHERE seq = 4", 4, "missing"),
        ("DELETE FROM security_event WHERE seq >= 17", 17, "log ends at event"),
    ],
)
def test_verify_names_the_first_broken_event(tamper, runner, statement, seq, problem):
    tamper(statement)
    result = security_log.verify_database()
    assert not result.ok and result.broken_seq == seq and problem in result.problem
    out = runner.invoke(args=["pbflow", "security", "verify"])
    assert out.exit_code == 1 and f"BROKEN at security event {seq}:" in out.output


def test_export_verifies_offline_and_a_changed_line_does_not(activity, runner, tmp_path):
    path = tmp_path / "security.jsonl"
    out = runner.invoke(args=["pbflow", "security", "export", "--out", str(path)])
    assert out.exit_code == 0, out.output
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 18
    ok = runner.invoke(args=["pbflow", "security", "verify", "--file", str(path)])
    assert ok.exit_code == 0 and "OK: 18 security events" in ok.output
    head = runner.invoke(args=["pbflow", "security", "head"])
    assert head.output.strip() == f"18 {security_log.head()[1]}"

    row = json.loads(lines[5])
    row["username"] = "someone-else"
    lines[5] = json.dumps(row, ensure_ascii=False)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    bad = runner.invoke(args=["pbflow", "security", "verify", "--file", str(path)])
    assert bad.exit_code == 1 and "BROKEN at security event 6:" in bad.output

    path.write_text('{"seq": "one"}\n', encoding="utf-8")
    bad = runner.invoke(args=["pbflow", "security", "verify", "--file", str(path)])
    assert bad.exit_code == 1 and "line 1: missing fields" in bad.output
    assert "Traceback" not in bad.output


# --- the audit pages' security tab ------------------------------------------------------------


def _rows(html: str) -> list[tuple[int, str, str]]:
    return [
        (int(seq), user.strip(), action)
        for seq, user, action in re.findall(
            r"<tr>\s*<td[^>]*>(\d+)</td>\s*<td[^>]*>[^<]*</td>\s*<td[^>]*>([^<]*)"
            r"(?:<span[^>]*>[^<]*</span>)?</td>\s*<td[^>]*><code>([^<]+)</code>",
            html,
        )
    ]


def test_auditors_search_the_log_by_user_and_date(activity, auth, client, clock):
    auth.login("auditor")
    page = client.get("/audit/security/?lang=en")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert security_log.head()[1] in html and "Process audit trail" in html

    mine = _rows(client.get("/audit/security/?user=auditor").get_data(as_text=True))
    assert [a for _s, _u, a in mine] == ["login", "logout", "login", "login_failed"]
    assert {u for _s, u, _a in mine} == {"auditor"}
    unknown = _rows(client.get("/audit/security/?user=nobody").get_data(as_text=True))
    assert [(u, a) for _s, u, a in unknown] == [("nobody", "login_failed")]

    # The clock stands on 2026-03-02 (local): a day later nothing, that day everything.
    assert _rows(client.get("/audit/security/?from=2026-03-03").get_data(as_text=True)) == []
    day = _rows(client.get("/audit/security/?from=2026-03-02&to=2026-03-02").get_data(as_text=True))
    assert len(day) == security_log.head()[0]
    bad = client.get("/audit/security/?from=2026-02-31&lang=en").get_data(as_text=True)
    assert "is not a date" in bad


def test_the_log_is_paginated_newest_first(world, auth, client, app):
    for _ in range(30):
        browser = Auth(app.test_client())
        browser.login("secretary")
        browser.logout()
    auth.login("auditor")
    first = _rows(client.get("/audit/security/").get_data(as_text=True))
    assert len(first) == 50 and [s for s, *_ in first] == sorted(
        (s for s, *_ in first), reverse=True
    )
    older = re.search(
        r'href="(/audit/security/\?before=\d+)"',
        client.get("/audit/security/").get_data(as_text=True),
    )
    assert older
    second = _rows(client.get(older.group(1).replace("&amp;", "&")).get_data(as_text=True))
    assert second and max(s for s, *_ in second) == min(s for s, *_ in first) - 1
    assert len(first) + len(second) == security_log.head()[0]


def test_a_branch_admin_sees_only_the_events_of_the_accounts_in_the_branch(activity, app):
    make_user("branch_admin", [(activity.branch, "admin")])
    admin = Auth(app.test_client())
    admin.login("branch_admin")
    html = admin.client.get("/audit/security/?lang=en").get_data(as_text=True)
    users = {u for _s, u, _a in _rows(html)}
    assert users == {"member", "secretary", "deputy", "branch_admin"}
    assert admin.client.get("/audit/security/export.jsonl").status_code == 403
    assert "Export (JSON Lines)" not in html


def test_the_committee_auditor_exports_the_whole_log(activity, auth, client, runner, tmp_path):
    auth.login("auditor")
    response = client.get("/audit/security/export.jsonl")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    path = tmp_path / "downloaded.jsonl"
    path.write_bytes(response.data)
    result = runner.invoke(args=["pbflow", "security", "verify", "--file", str(path)])
    assert result.exit_code == 0, result.output


def test_verify_on_the_page(activity, auth, client):
    auth.login("auditor")
    token = csrf_token(client.get("/audit/security/").get_data(as_text=True))
    html = client.post("/audit/security/verify?lang=en", data={"csrf_token": token}).get_data(
        as_text=True
    )
    assert "The security log is intact" in html


@pytest.mark.parametrize("username", ["member", "secretary", "committee_a"])
def test_the_security_log_is_refused_to_non_auditors(world, auth, client, username):
    auth.login(username)
    assert client.get("/audit/security/").status_code == 403
    assert client.get("/audit/security/export.jsonl").status_code == 403


def test_process_audit_pages_link_to_the_security_log(world, auth, client):
    auth.login("auditor")
    html = client.get("/audit/?lang=en").get_data(as_text=True)
    assert 'href="/audit/security/"' in html and "Security log" in html
    assert PASSWORD not in html
    assert audit.verify_database().ok


def test_a_rewritten_log_no_longer_matches_the_signed_checkpoint(tamper, runner):
    """An insider rewrites a failed login into a logout and recomputes every later hash and the
    head: the chain alone verifies, but the head that a signed process-chain checkpoint
    recorded does not match any more."""
    assert audit.checkpoint() is not None
    anchored_seq, anchored_hash = security_log.head()
    result = security_log.verify_database()
    assert result.ok and result.anchored == anchored_seq
    assert f"events 1-{anchored_seq} match the signed audit checkpoint" in result.summary()

    rows = list(security_log._db_rows())
    prev = rows[2]["hash"]
    for row in rows[3:]:
        if row["seq"] == 4:
            row["action"] = "logout"
        row["prev_hash"] = prev
        row["hash"] = prev = security_log.event_hash(prev, row)
        tamper(
            "UPDATE security_event SET action = :a, prev_hash = :p, hash = :h WHERE seq = :s",
            a=row["action"],
            p=row["prev_hash"],
            h=row["hash"],
            s=row["seq"],
        )
    tamper("UPDATE security_head SET hash = :h WHERE id = 1", h=prev)
    assert prev != anchored_hash
    assert security_log.verify_rows(security_log._db_rows()).ok  # the chain alone is fooled

    result = security_log.verify_database()
    assert not result.ok and result.broken_seq == anchored_seq
    assert "the log was rewritten" in result.problem
    out = runner.invoke(args=["pbflow", "security", "verify"])
    assert out.exit_code == 1 and f"BROKEN at security event {anchored_seq}:" in out.output


def test_a_log_cut_below_a_signed_checkpoint_is_named(tamper):
    assert audit.checkpoint() is not None
    anchored_seq = security_log.head()[0]
    tamper("DELETE FROM security_event WHERE seq >= 17")
    keep = db.session.execute(select(SecurityEvent.hash).where(SecurityEvent.seq == 16)).scalar()
    tamper("UPDATE security_head SET hash = :h WHERE id = 1", h=keep)
    # The head cannot move back (a trigger), so the cut shows at the head first ...
    result = security_log.verify_database()
    assert not result.ok and result.broken_seq == 17
    # ... and against the checkpoint when only the anchors are consulted.
    chain = security_log.verify_rows(security_log._db_rows())
    assert chain.ok and chain.head_seq == 16
    checked = security_log._check_anchors(chain)
    assert not checked.ok and "events removed" in checked.problem and anchored_seq == 18
