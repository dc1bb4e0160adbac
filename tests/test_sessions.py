"""Revocable sessions: a cookie captured before logout, a password change or reset, or a
deactivation logs nobody in afterwards; nor does a remember cookie made before."""

from __future__ import annotations

import pytest
from flask_login.utils import encode_cookie
from sqlalchemy import select

from pbflow import security_log
from pbflow.extensions import db
from pbflow.models import SecurityEvent, User
from pbflow.services import accounts
from tests.conftest import PASSWORD, Auth, csrf_token

NEW_PASSWORD = "brand-new-pass-1"


def _fresh(username: str) -> User:
    db.session.expire_all()
    return db.session.execute(select(User).where(User.username == username)).scalar_one()


class Browser:
    """A client of its own, logged in as ``username``; its session cookie can be captured."""

    def __init__(self, app, username: str | None = None):
        self.client = app.test_client()
        self.client.set_cookie("pbflow_lang", "en")
        self.auth = Auth(self.client)
        if username:
            assert self.auth.login(username).status_code == 302

    def cookie(self) -> str:
        return self.client.get_cookie("session").value

    def logged_in(self) -> bool:
        return self.client.get("/").status_code == 200

    def post_form(self, page: str, url: str, data: dict):
        token = csrf_token(self.client.get(page).get_data(as_text=True))
        return self.client.post(url, data={"csrf_token": token, **data})


def _replay(app, cookie: str) -> Browser:
    """A thief's browser carrying the captured session cookie."""
    thief = Browser(app)
    thief.client.set_cookie("session", cookie)
    return thief


def _logout(app, member: Browser) -> None:
    assert member.auth.logout().status_code == 302


def _change_own_password(app, member: Browser) -> None:
    response = member.post_form(
        "/account/",
        "/account/password",
        {"current": PASSWORD, "new": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert member.logged_in()  # the browser that changed it goes on


def _admin_resets(app, member: Browser) -> None:
    admin = Browser(app, "admin")
    user = _fresh("member")
    response = admin.post_form(
        f"/admin/users/{user.id}", f"/admin/users/{user.id}/password", {"password": NEW_PASSWORD}
    )
    assert response.status_code == 302


def _admin_deactivates(app, member: Browser) -> None:
    admin = Browser(app, "admin")
    user = _fresh("member")
    response = admin.post_form(
        f"/admin/users/{user.id}", f"/admin/users/{user.id}/active", {"active": "0"}
    )
    assert response.status_code == 302
    # Even reactivated at once, the account's old sessions stay ended.
    response = admin.post_form(
        f"/admin/users/{user.id}", f"/admin/users/{user.id}/active", {"active": "1"}
    )
    assert response.status_code == 302


EVENTS = {
    "logout": _logout,
    "own password change": _change_own_password,
    "admin reset": _admin_resets,
    "deactivation": _admin_deactivates,
}


@pytest.mark.parametrize("event", list(EVENTS))
def test_a_captured_cookie_no_longer_works_after(app, world, event):
    member = Browser(app, "member")
    elsewhere = Browser(app, "member")  # the same account on another device
    captured = member.cookie()
    assert _replay(app, captured).logged_in()  # the replay works before the event...

    EVENTS[event](app, member)

    assert not _replay(app, captured).logged_in()  # ...and not after it
    assert not elsewhere.logged_in()
    response = _replay(app, captured).client.get("/api/cases")
    assert response.status_code == 401


@pytest.mark.parametrize("event", list(EVENTS))
def test_a_remember_cookie_made_before_no_longer_works_after(app, world, event):
    member = Browser(app, "member")
    remember = encode_cookie(_fresh("member").get_id())
    holder = Browser(app)
    holder.client.set_cookie("remember_token", remember)
    assert holder.logged_in()

    EVENTS[event](app, member)

    late = Browser(app)
    late.client.set_cookie("remember_token", remember)
    assert not late.logged_in()


@pytest.mark.parametrize(
    ("event", "reason"),
    [("admin reset", "password_reset"), ("deactivation", "deactivated")],
)
def test_ending_sessions_is_recorded_in_the_security_log(app, world, event, reason):
    member = Browser(app, "member")
    start, _ = security_log.head()
    EVENTS[event](app, member)
    events = db.session.execute(
        select(SecurityEvent).where(
            SecurityEvent.seq > start, SecurityEvent.action == "sessions_revoked"
        )
    ).scalars()
    assert [(e.username, f'"reason":"{reason}"' in e.payload) for e in events] == [("member", True)]


def test_a_session_id_of_another_shape_logs_nobody_in(app, world):
    member = _fresh("member")
    for forged in [
        str(member.id),  # a session from before tokens
        f"{member.id}:",
        f"{member.id}:{'x' * 32}",
        f"{world['admin'].id}:{member.session_token}",  # someone else's token
        "9" * 40 + ":x",
        "١:x",  # a digit, but not an ASCII one
        "",
    ]:
        assert accounts.session_user(forged) is None, forged
    assert accounts.session_user(member.get_id()) == member
