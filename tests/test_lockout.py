"""The lockout (issue 10, High 3): counted atomically in the database, and telling nothing.

Many wrong passwords at once for one account: at most the limit is ever checked. The answer
to a locked account reads exactly as the answer to an unknown name; a deactivated account
given a wrong password answers as any wrong password; a wrong current password on the
account page counts toward the same lock.
"""

from __future__ import annotations

import re
import threading

import pytest
from sqlalchemy import select
from werkzeug import security as werkzeug_security

from pbflow import security_log
from pbflow.extensions import db
from pbflow.models import SecurityEvent, User
from pbflow.services import accounts
from tests.conftest import PASSWORD, Auth, csrf_token

WRONG = "not-the-password-7"
GUESSES = 16
LIMIT = 5


def _fresh(username: str) -> User:
    db.session.expire_all()
    return db.session.execute(select(User).where(User.username == username)).scalar_one()


def _answer(response) -> tuple[int, tuple[str, ...]]:
    """What a login answer tells: its status and its messages."""
    html = response.get_data(as_text=True)
    found = re.findall(r'<div class="flash [^"]*"[^>]*>([^<]*)</div>', html)
    return response.status_code, tuple(found)


def _login_page(client) -> str:
    client.set_cookie("pbflow_lang", "en")
    return csrf_token(client.get("/login").get_data(as_text=True))


def _post_login(client, token: str, username: str, password: str):
    return client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )


def _security_reasons(username: str) -> list[str]:
    rows = db.session.execute(
        select(SecurityEvent.action, SecurityEvent.payload)
        .where(SecurityEvent.username == username)
        .order_by(SecurityEvent.seq)
    ).all()
    out = []
    for action, payload in rows:
        match = re.search(r'"reason":"([^"]+)"', payload)
        out.append(f"{action}:{match.group(1)}" if match else action)
    return out


def _count_checks(monkeypatch, username: str) -> list[str]:
    """Passwords checked against this account's hash, by the real check; the stand-in hash
    checked for a locked or unknown account is not a guess at the password."""
    account_hash = _fresh(username).password_hash
    checked: list[str] = []
    real_check = werkzeug_security.check_password_hash

    def counting_check(pwhash: str, password: str) -> bool:
        if pwhash == account_hash:
            checked.append(password)
        return real_check(pwhash, password)

    monkeypatch.setattr(accounts, "check_password_hash", counting_check)
    return checked


@pytest.fixture
def limit_five(app):
    app.config["PBFLOW_LOGIN_MAX_FAILURES"] = LIMIT
    return LIMIT


def test_sixteen_parallel_guesses_check_at_most_five(app, world, limit_five, monkeypatch):
    """16 clients, each its own connection, post a wrong password at the same moment."""
    checked = _count_checks(monkeypatch, "member")
    clients = [app.test_client() for _ in range(GUESSES)]
    tokens = [_login_page(c) for c in clients]
    barrier = threading.Barrier(GUESSES)
    responses: list = [None] * GUESSES

    def guess(i: int) -> None:
        # No application context is shared: each request pushes its own, with its own
        # database session and connection, as requests in several workers would.
        barrier.wait(timeout=30)
        responses[i] = _post_login(clients[i], tokens[i], "member", f"{WRONG}-{i}")

    db.session.remove()  # the test's own connection holds no lock meanwhile
    threads = [threading.Thread(target=guess, args=(i,)) for i in range(GUESSES)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)

    assert len(checked) == LIMIT
    answers = {_answer(r) for r in responses}
    assert len(answers) == 1  # every guess got the same answer, checked or not
    status, messages = answers.pop()
    assert status == 401 and messages == (accounts.refusal_message(),)
    member = _fresh("member")
    assert member.failed_logins == LIMIT and member.locked_until is not None
    reasons = _security_reasons("member")
    assert reasons.count("login_failed:wrong password") == LIMIT
    assert reasons.count("login_failed:locked") == GUESSES - LIMIT
    assert reasons.count("account_locked") == 1
    assert security_log.verify_database().ok


def test_the_guesses_after_the_lock_are_not_checked_even_one_at_a_time(
    world, limit_five, client, monkeypatch
):
    token = _login_page(client)
    for i in range(LIMIT):
        _post_login(client, token, "member", f"{WRONG}-{i}")
    checked = _count_checks(monkeypatch, "member")
    for _ in range(3):
        assert _post_login(client, token, "member", PASSWORD).status_code == 401
    assert checked == []


def test_a_locked_account_answers_exactly_as_an_unknown_name(world, client):
    token = _login_page(client)
    for _ in range(3):
        _post_login(client, token, "member", WRONG)
    assert _fresh("member").locked_until is not None

    locked_right = _answer(_post_login(client, token, "member", PASSWORD))
    locked_wrong = _answer(_post_login(client, token, "member", WRONG))
    unknown = _answer(_post_login(client, token, "nobody-at-all", PASSWORD))
    wrong = _answer(_post_login(client, token, "secretary", WRONG))
    assert locked_right == locked_wrong == unknown == wrong
    assert locked_right[0] == 401
    assert _security_reasons("member")[-2:] == ["login_failed:locked", "login_failed:locked"]


def test_a_deactivated_account_with_a_wrong_password_answers_as_any_wrong_password(world, client):
    accounts.set_active(_fresh("member"), False)
    token = _login_page(client)
    deactivated_wrong = _answer(_post_login(client, token, "member", WRONG))
    wrong = _answer(_post_login(client, token, "secretary", WRONG))
    unknown = _answer(_post_login(client, token, "nobody-at-all", WRONG))
    assert deactivated_wrong == wrong == unknown
    # Only the right password learns that the account is deactivated.
    status, messages = _answer(_post_login(client, token, "member", PASSWORD))
    assert status == 401 and messages == ("This account has been deactivated.",)


def _change_password(client, current: str, new: str = "brand-new-pass-1"):
    token = csrf_token(client.get("/account/?lang=en").get_data(as_text=True))
    return client.post(
        "/account/password?lang=en",
        data={"csrf_token": token, "current": current, "new": new, "confirm": new},
    )


def test_wrong_current_passwords_count_toward_the_same_lock(world, auth, client, app):
    auth.login("member")
    other = Auth(app.test_client())
    assert other.login("member", WRONG).status_code == 401  # one failed login elsewhere
    for _ in range(2):
        response = _change_password(client, WRONG)
        assert response.status_code == 422
        assert "is not your current password" in response.get_data(as_text=True)
    member = _fresh("member")
    assert member.failed_logins == 3 and member.locked_until is not None

    # Locked: the right current password changes nothing now...
    response = _change_password(client, PASSWORD)
    assert response.status_code == 403
    assert "Your account is locked" in response.get_data(as_text=True)
    # The password stays the old one.
    assert werkzeug_security.check_password_hash(_fresh("member").password_hash, PASSWORD)
    # ...and the login page refuses the right password too.
    assert other.login("member", PASSWORD).status_code == 401
    assert _security_reasons("member") == [
        "login",
        "login_failed:wrong password",
        "password_change_failed:wrong current password",
        "password_change_failed:wrong current password",
        "account_locked",
        "password_change_failed:locked",
        "login_failed:locked",
    ]


def test_the_right_current_password_clears_the_count(world, auth, client):
    auth.login("member")
    assert _change_password(client, WRONG).status_code == 422
    assert _fresh("member").failed_logins == 1
    assert _change_password(client, PASSWORD).status_code == 302
    assert _fresh("member").failed_logins == 0


def test_a_name_with_a_nul_byte_is_bad_input_whoever_it_names(world, client):
    """A NUL never reaches the login check: the edge refuses it (400) before any account is
    looked up, so the answer is the same for a real account's name and an unknown one, and no
    attempt is counted."""
    token = _login_page(client)
    real = _answer(_post_login(client, token, "mem\x00ber", PASSWORD))
    unknown = _answer(_post_login(client, token, "nobody\x00at-all", PASSWORD))
    assert real == unknown and real[0] == 400
    assert _fresh("member").failed_logins == 0
    assert security_log.verify_database().ok
