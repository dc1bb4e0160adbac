"""Logging in and out through the real pages: lockout, deactivation, cookies, CSRF, redirects.

Authentication events are written to the security log, never to the process audit chain.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select
from werkzeug.security import check_password_hash

from pbflow import audit, security_log
from pbflow.config import build_config
from pbflow.extensions import db
from pbflow.models import AuditEvent, SecurityEvent, User
from pbflow.services import accounts
from tests.conftest import PASSWORD, csrf_token, security_actions

WRONG = "not-the-password-7"


@pytest.fixture
def english(client):
    """Pages in English, so refusal messages can be read in the assertions."""
    client.set_cookie("pbflow_lang", "en")
    return client


def _fresh(username: str) -> User:
    db.session.expire_all()
    return db.session.execute(select(User).where(User.username == username)).scalar_one()


def _logged_in(client) -> bool:
    page = client.get("/")
    return page.status_code == 200


def _events_since(seq: int) -> list[SecurityEvent]:
    return list(
        db.session.execute(
            select(SecurityEvent).where(SecurityEvent.seq > seq).order_by(SecurityEvent.seq)
        ).scalars()
    )


def _heads() -> tuple[tuple[int, str], tuple[int, str]]:
    return audit.head(), security_log.head()


def test_login_and_logout_are_recorded_in_the_security_log(world, auth, client, clock):
    start, _ = security_log.head()
    audit_before = audit.head()
    response = auth.login("secretary")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    page = client.get("/")
    assert page.status_code == 200 and "Secretary" in page.get_data(as_text=True)
    assert _fresh("secretary").last_login_at == clock.set("2026-03-02T02:00:00")

    response = auth.logout()
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert not _logged_in(client)
    events = _events_since(start)
    assert [(e.action, e.username, e.user_id) for e in events] == [
        ("login", "secretary", world["secretary"].id),
        ("logout", "secretary", world["secretary"].id),
    ]
    # Nothing in the process chain, where anonymous opinions are recorded.
    assert audit.head() == audit_before
    assert security_log.verify_database().ok


def test_no_authentication_event_enters_the_process_audit_chain(world, auth, english):
    auth.login("member", WRONG)
    auth.login("nobody", WRONG)
    auth.login("member")
    token = csrf_token(english.get("/account/").get_data(as_text=True))
    english.post("/account/language", data={"csrf_token": token, "locale": "en"})
    english.post(
        "/account/password",
        data={"csrf_token": token, "current": WRONG, "new": "x" * 10, "confirm": "x" * 10},
    )
    auth.logout()
    chain = set(db.session.execute(select(AuditEvent.action)).scalars())
    assert not chain & {
        "login",
        "login_failed",
        "logout",
        "account_locked",
        "password_change_failed",
        "user_locale_changed",
        "sessions_revoked",
    }
    assert security_actions(world["member"].id) == [
        "login_failed",
        "login",
        "user_locale_changed",
        "password_change_failed",
        "logout",
    ]


def test_wrong_password_and_unknown_user_are_refused_alike(world, auth, english):
    start, _ = security_log.head()
    wrong = auth.login("secretary", WRONG)
    unknown = auth.login("nobody", WRONG)
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert "Wrong username or password." in response.get_data(as_text=True)
    assert not _logged_in(english)

    failed = _events_since(start)
    assert [e.action for e in failed] == ["login_failed", "login_failed"]
    assert failed[0].username == "secretary" and '"wrong password"' in failed[0].payload
    assert failed[1].user_id is None and failed[1].username == "nobody"
    assert '"unknown user"' in failed[1].payload


def test_a_blank_form_is_refused_without_counting_a_failure(world, auth):
    start = _heads()
    response = auth.login("secretary", "")
    assert response.status_code == 400
    assert _heads() == start
    assert _fresh("secretary").failed_logins == 0


def test_three_failures_lock_the_account_even_against_the_right_password(
    world, auth, english, clock
):
    for _ in range(3):
        assert auth.login("member", WRONG).status_code == 401
    user = _fresh("member")
    assert user.failed_logins == 3 and user.locked_until is not None

    response = auth.login("member", PASSWORD)
    assert response.status_code == 401
    assert "locked" in response.get_data(as_text=True)
    assert not _logged_in(english)
    assert security_actions()[-3:] == ["login_failed", "account_locked", "login_failed"]
    last = (
        db.session.execute(select(SecurityEvent).order_by(SecurityEvent.seq.desc()))
        .scalars()
        .first()
    )
    assert '"reason":"locked"' in last.payload

    clock.advance(minutes=14)
    assert auth.login("member", PASSWORD).status_code == 401
    clock.advance(minutes=2)
    assert auth.login("member", PASSWORD).status_code == 302
    assert _logged_in(english)
    user = _fresh("member")
    assert user.failed_logins == 0 and user.locked_until is None


def test_after_the_lock_expires_the_count_starts_again(world, auth, clock):
    for _ in range(3):
        auth.login("member", WRONG)
    clock.advance(minutes=16)
    # One more slip after the lock ran out is one failure, not an instant new lock.
    assert auth.login("member", WRONG).status_code == 401
    assert _fresh("member").locked_until is None
    assert auth.login("member", PASSWORD).status_code == 302


def test_a_successful_login_resets_the_failure_count(world, auth):
    for _ in range(2):
        auth.login("member", WRONG)
    assert auth.login("member", PASSWORD).status_code == 302
    auth.logout()
    for _ in range(2):
        auth.login("member", WRONG)
    assert _fresh("member").locked_until is None
    assert auth.login("member", PASSWORD).status_code == 302


def test_an_administrator_unlocks_an_account(world, auth, english):
    for _ in range(3):
        auth.login("member", WRONG)
    assert auth.login("member", PASSWORD).status_code == 401

    accounts.unlock(_fresh("member"), actor=world["admin"])

    from tests.conftest import audit_actions

    assert audit_actions()[-1] == "user_unlocked"  # an admin's act: the process chain
    assert auth.login("member", PASSWORD).status_code == 302
    assert _logged_in(english)


def test_a_deactivated_user_is_refused_and_their_open_session_ends(world, auth, client, english):
    assert auth.login("member").status_code == 302
    assert _logged_in(client)

    accounts.set_active(_fresh("member"), False, actor=world["admin"])

    page = client.get("/")
    assert page.status_code == 302 and page.headers["Location"].startswith("/login")
    response = auth.login("member")
    assert response.status_code == 401
    assert "deactivated" in response.get_data(as_text=True)
    assert not _logged_in(client)


def test_the_session_cookie_is_httponly_and_samesite_lax(world, auth):
    response = auth.login("secretary")
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert cookies, "login sets the session cookie"
    flags = [part.strip().lower() for part in cookies[-1].split(";")]
    assert "httponly" in flags and "samesite=lax" in flags


def test_secure_cookies_follow_the_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("PBFLOW_SECURE_COOKIES", "1")
    cfg = build_config(tmp_path, {"SECRET_KEY": "x"})
    assert cfg["SESSION_COOKIE_SECURE"] is True
    assert cfg["SESSION_COOKIE_HTTPONLY"] is True and cfg["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_a_login_post_without_csrf_token_is_refused_and_does_nothing(world, client):
    start = _heads()
    response = client.post("/login", data={"username": "secretary", "password": PASSWORD})
    assert response.status_code == 400
    assert not _logged_in(client)
    assert _heads() == start


def test_a_logout_post_without_csrf_token_is_refused_and_does_nothing(world, auth, client):
    auth.login("secretary")
    start = _heads()
    response = client.post("/logout")
    assert response.status_code == 400
    assert _logged_in(client)
    assert _heads() == start


def test_a_stolen_token_from_another_session_is_refused(world, auth, app):
    other = app.test_client()
    token = csrf_token(other.get("/login").get_data(as_text=True))
    response = auth.client.post(
        "/login", data={"username": "secretary", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 400
    assert not _logged_in(auth.client)


def test_logout_is_not_a_get(world, auth, client):
    auth.login("secretary")
    assert client.get("/logout").status_code == 405
    assert _logged_in(client)


def _login_with_next(client, target: str):
    page = client.get("/login", query_string={"next": target})
    token = csrf_token(page.get_data(as_text=True))
    return client.post(
        "/login",
        query_string={"next": target},
        data={"username": "secretary", "password": PASSWORD, "csrf_token": token},
    )


def test_next_leads_back_to_the_page_asked_for(world, client):
    asked = client.get("/cases?state=draft")
    assert asked.status_code == 302
    assert asked.headers["Location"].startswith("/login?next=")
    response = _login_with_next(client, "/cases?state=draft")
    assert response.headers["Location"] == "/cases?state=draft"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "///evil.example/",
        "/\\evil.example/",
        "\\\\evil.example/",
        "/\t/evil.example/",
        "/\n/evil.example/",
        "javascript:alert(1)",
        "evil.example",
    ],
)
def test_next_never_leads_to_another_site(world, client, target):
    response = _login_with_next(client, target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_pages_require_login(world, client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=%2F"
    assert client.get("/login").status_code == 200


def test_the_login_page_sends_a_logged_in_user_home(world, auth, client):
    auth.login("secretary")
    response = client.get("/login")
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_passwords_are_stored_hashed_and_never_written_to_the_trail(world, auth):
    auth.login("secretary", WRONG)
    auth.login("nobody", WRONG)
    auth.login("secretary")
    user = _fresh("secretary")
    assert PASSWORD not in user.password_hash
    assert user.password_hash.startswith("pbkdf2:sha256:")  # the test suite's cheap setting
    assert check_password_hash(user.password_hash, PASSWORD)
    payloads = " ".join(db.session.execute(select(AuditEvent.payload)).scalars())
    payloads += " ".join(db.session.execute(select(SecurityEvent.payload)).scalars())
    assert PASSWORD not in payloads and WRONG not in payloads


def test_production_hashes_with_scrypt(tmp_path):
    assert build_config(tmp_path, {"SECRET_KEY": "x"})["PBFLOW_PASSWORD_METHOD"] == "scrypt"
