"""Confirming the password again before a sensitive action ("sudo mode", hostile review).

A session stolen, or a computer left logged in, must not be enough to make an access token,
create an account, reset a password, grant or revoke a role, (de)activate or unlock an
account, change a workflow setting or one's own e-mail address: when the password was last
entered (at login, or confirming it) more than PBFLOW_REAUTH_MINUTES ago, the action is not
done and the page asks for the password, then sends the form on with all it carried. A wrong
password counts toward the login lockout and is in the security log.
"""

from __future__ import annotations

import html as htmllib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from werkzeug.security import check_password_hash

from pbflow.config import build_config
from pbflow.engine import runtime
from pbflow.extensions import db
from pbflow.models import AuditEvent, RoleAssignment, SecurityEvent, User
from pbflow.models.api_token import ApiToken
from pbflow.services import accounts
from pbflow.web.access import PASSWORD_AT
from tests.conftest import PASSWORD, csrf_token
from tests.pages_helpers import funding_case, walk

WRONG = "not-the-password-7"
NEW_PASSWORD = "a-brand-new-pass-1"


# --- the sensitive actions, as a person does them in the pages ------------------------------


@dataclass
class Sensitive:
    """One sensitive action: who does it, where, with what form; whether it is done; the
    event that records it (``log``: "audit" or "security")."""

    name: str
    endpoint: str
    who: str
    url: Callable[[Any], str]
    data: Callable[[Any], dict[str, str]]
    done: Callable[[Any], bool]
    event: str
    log: str = "audit"
    retype: tuple[str, ...] = ()
    setup: Callable[[Any], None] = field(default=lambda world: None)


def _user(name: str) -> User:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.username == name))


def _token_of(owner: str, name: str) -> bool:
    return bool(
        db.session.scalar(
            select(func.count())
            .select_from(ApiToken)
            .join(User, User.id == ApiToken.user_id)
            .where(User.username == owner, ApiToken.name == name)
        )
    )


def _holds(username: str, org, role: str) -> bool:
    return bool(
        db.session.scalar(
            select(func.count())
            .select_from(RoleAssignment)
            .where(
                RoleAssignment.user_id == _user(username).id,
                RoleAssignment.org_id == org.id,
                RoleAssignment.role == role,
            )
        )
    )


def _secretary_role(world) -> int:
    return db.session.scalar(
        select(RoleAssignment.id).where(
            RoleAssignment.user_id == world["secretary"].id, RoleAssignment.role == "secretary"
        )
    )


def _deactivate_member(world) -> None:
    accounts.set_active(world["member"], False)


def _lock_member(world) -> None:
    from pbflow import clock

    member = world["member"]
    member.failed_logins, member.locked_until = 3, clock.now() + timedelta(hours=1)
    db.session.commit()


def _setting(world) -> Any:
    from pbflow.services import settings

    db.session.expire_all()
    for workflow, _title, rows in settings.rows_for(world.branch):
        for row in rows:
            if workflow == "member_development" and row.name == "thought_report_months":
                return row.value
    raise AssertionError("no such setting")


SENSITIVE = [
    Sensitive(
        "own token (a committee member)",
        "api_pages.token_create",
        "committee_a",
        lambda w: "/account/tokens",
        lambda w: {"name": "my script", "scope": "act", "days": "30"},
        lambda w: _token_of("committee_a", "my script"),
        "api_token_created",
    ),
    Sensitive(
        "another's token",
        "api_pages.token_create",
        "admin",
        lambda w: "/account/tokens",
        lambda w: {"name": "hr feed", "scope": "read", "days": "7", "owner": "secretary"},
        lambda w: _token_of("secretary", "hr feed"),
        "api_token_created",
    ),
    Sensitive(
        "create an account with an admin role",
        "admin.user_create",
        "admin",
        lambda w: "/admin/users/new",
        lambda w: {
            "username": "newcomer",
            "display_name": "New Comer",
            "password": NEW_PASSWORD,
            "org_id": str(w.branch.id),
            "role": "admin",
        },
        lambda w: _user("newcomer") is not None,
        "user_created",
        retype=("password",),
    ),
    Sensitive(
        "reset another's password",
        "admin.user_password",
        "admin",
        lambda w: f"/admin/users/{w['secretary'].id}/password",
        lambda w: {"password": NEW_PASSWORD},
        lambda w: check_password_hash(_user("secretary").password_hash, NEW_PASSWORD),
        "password_changed",
        retype=("password",),
    ),
    Sensitive(
        "grant the admin role",
        "admin.user_grant",
        "admin",
        lambda w: f"/admin/users/{w['member'].id}/roles",
        lambda w: {"role": "admin", "org_id": str(w.branch.id)},
        lambda w: _holds("member", w.branch, "admin"),
        "role_granted",
    ),
    Sensitive(
        "grant a committee role",
        "admin.user_grant",
        "admin",
        lambda w: f"/admin/users/{w['member'].id}/roles",
        lambda w: {"role": "committee", "org_id": str(w.committee.id)},
        lambda w: _holds("member", w.committee, "committee"),
        "role_granted",
    ),
    Sensitive(
        "revoke a role",
        "admin.user_revoke",
        "admin",
        lambda w: f"/admin/users/{w['secretary'].id}/roles/{_secretary_role(w)}/revoke",
        lambda w: {},
        lambda w: not _holds("secretary", w.branch, "secretary"),
        "role_revoked",
    ),
    Sensitive(
        "deactivate an account",
        "admin.user_active",
        "admin",
        lambda w: f"/admin/users/{w['member'].id}/active",
        lambda w: {"active": "0"},
        lambda w: not _user("member").active,
        "user_deactivated",
    ),
    Sensitive(
        "reactivate an account",
        "admin.user_active",
        "admin",
        lambda w: f"/admin/users/{w['member'].id}/active",
        lambda w: {"active": "1"},
        lambda w: _user("member").active,
        "user_activated",
        setup=_deactivate_member,
    ),
    Sensitive(
        "unlock an account",
        "admin.user_unlock",
        "admin",
        lambda w: f"/admin/users/{w['member'].id}/unlock",
        lambda w: {},
        lambda w: _user("member").locked_until is None,
        "user_unlocked",
        setup=_lock_member,
    ),
    Sensitive(
        "change a workflow setting",
        "config.settings_change",
        "admin",
        lambda w: f"/admin/settings?org={w.branch.id}",
        lambda w: {"workflow": "member_development", "name": "thought_report_months", "value": "6"},
        lambda w: _setting(w) == 6,
        "setting_changed",
    ),
    Sensitive(
        "own e-mail address",
        "account.email",
        "member",
        lambda w: "/account/email",
        lambda w: {"email": "elsewhere@example.org", "email_mode": "immediate"},
        lambda w: _user("member").email == "elsewhere@example.org",
        "user_email_changed",
        log="security",
    ),
]


def _events(log: str, action: str) -> int:
    model = AuditEvent if log == "audit" else SecurityEvent
    return db.session.scalar(select(func.count()).select_from(model).where(model.action == action))


def _all_rows() -> tuple[int, int]:
    return (
        db.session.scalar(select(func.count()).select_from(AuditEvent)),
        db.session.scalar(select(func.count()).select_from(SecurityEvent)),
    )


def _security(username: str) -> list[tuple[str, dict]]:
    rows = db.session.execute(
        select(SecurityEvent.action, SecurityEvent.payload)
        .where(SecurityEvent.username == username)
        .order_by(SecurityEvent.seq)
    ).all()
    return [(action, json.loads(payload)) for action, payload in rows]


def _page_of(url: str) -> str:
    """The page a sensitive form is on (for its CSRF token)."""
    return "/admin/settings" if url.startswith("/admin/settings") else "/account/"


def _post(client, action: Sensitive, world, extra: dict[str, str] | None = None):
    token = csrf_token(client.get(_page_of(action.url(world))).get_data(as_text=True))
    return client.post(
        action.url(world), data={"csrf_token": token, **action.data(world), **(extra or {})}
    )


def _confirm_form(html: str) -> str:
    match = re.search(r'<form method="post" action="[^"]+" id="confirm-form".*?</form>', html, re.S)
    assert match, "the page has no confirmation form"
    return match.group(0)


def _carried(html: str) -> dict[str, str]:
    """The hidden inputs of the confirmation page's form."""
    html = _confirm_form(html)
    return {
        htmllib.unescape(name): htmllib.unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)">', html)
    }


def _form_target(html: str) -> str:
    match = re.search(r'<form method="post" action="([^"]+)"', _confirm_form(html))
    return htmllib.unescape(match.group(1))


def _ids(actions: list[Sensitive]) -> list[str]:
    return [a.name for a in actions]


# --- fresh, stale, confirmed -------------------------------------------------------------------


@pytest.mark.parametrize("action", SENSITIVE, ids=_ids(SENSITIVE))
def test_within_the_window_after_login_the_action_is_done(world, auth, client, clock, action):
    action.setup(world)
    auth.login(action.who)
    clock.advance(minutes=10)  # the window's last moment still counts
    before = _events(action.log, action.event)
    done = _post(client, action, world)
    assert done.status_code in (201, 302), done.get_data(as_text=True)[:2000]
    assert action.done(world)
    assert _events(action.log, action.event) == before + 1


@pytest.mark.parametrize("action", SENSITIVE, ids=_ids(SENSITIVE))
def test_stale_the_page_asks_for_the_password_writes_nothing_then_goes_on(
    world, auth, client, clock, action
):
    action.setup(world)
    auth.login(action.who)
    clock.advance(minutes=10, seconds=1)
    rows = _all_rows()
    client.set_cookie("pbflow_lang", "en")
    before = _events(action.log, action.event)
    refused = _post(client, action, world)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 401
    assert "Confirm your password" in html and 'name="confirm_password"' in html
    assert "You have not entered it in the last 10 minutes." in html
    # Nothing written: no token, no account, no role, no audit or security event at all.
    assert not action.done(world)
    assert _all_rows() == rows
    # Everything the form carried comes back to be sent on, but a password: asked again.
    carried = _carried(html)
    expected = {k: v for k, v in action.data(world).items() if k not in action.retype}
    assert carried == {"csrf_token": carried["csrf_token"], **expected}
    for name in action.retype:
        assert f'name="{name}" type="password"' in html
        assert NEW_PASSWORD not in html
    assert _form_target(html) == action.url(world)
    # The right password: the action is done, with its event; the confirmation is logged.
    retyped = {name: action.data(world)[name] for name in action.retype}
    done = client.post(
        _form_target(html), data={**carried, **retyped, "confirm_password": PASSWORD}
    )
    assert done.status_code in (201, 302), done.get_data(as_text=True)[:2000]
    assert action.done(world)
    assert _events(action.log, action.event) == before + 1
    confirmed = [p for a, p in _security(action.who) if a == "password_confirmed"]
    assert confirmed == [{"for": action.endpoint}]


def test_a_confirmation_counts_for_the_next_minutes_and_a_new_login_too(world, auth, client, clock):
    grant, deactivate = SENSITIVE[4], SENSITIVE[7]
    auth.login("admin")
    clock.advance(minutes=30)
    page = _post(client, grant, world)
    assert page.status_code == 401
    done = client.post(
        _form_target(page.get_data(as_text=True)),
        data={**_carried(page.get_data(as_text=True)), "confirm_password": PASSWORD},
    )
    assert done.status_code == 302 and grant.done(world)
    clock.advance(minutes=9)
    assert _post(client, deactivate, world).status_code == 302  # not asked again
    assert deactivate.done(world)
    clock.advance(minutes=2)  # eleven minutes after the confirmation
    assert _post(client, SENSITIVE[0], world).status_code == 401
    auth.logout()
    auth.login("admin")
    assert _post(client, SENSITIVE[1], world).status_code == 201


def test_changing_ones_own_password_counts_as_entering_it(world, auth, client, clock):
    auth.login("admin")
    clock.advance(hours=2)
    token = csrf_token(client.get("/account/").get_data(as_text=True))
    changed = client.post(
        "/account/password",
        data={
            "csrf_token": token,
            "current": PASSWORD,
            "new": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
        },
    )
    assert changed.status_code == 302
    assert _post(client, SENSITIVE[4], world).status_code == 302


# --- a wrong password ---------------------------------------------------------------------------


def test_a_wrong_password_is_refused_logged_and_counts_toward_the_lockout(
    world, auth, client, clock, app
):
    grant = SENSITIVE[4]
    limit = app.config["PBFLOW_LOGIN_MAX_FAILURES"]
    auth.login("admin")
    clock.advance(minutes=15)
    client.set_cookie("pbflow_lang", "en")
    page = _post(client, grant, world).get_data(as_text=True)
    rows_before = db.session.scalar(select(func.count()).select_from(AuditEvent))
    for attempt in range(1, limit + 1):
        wrong = client.post(_form_target(page), data={**_carried(page), "confirm_password": WRONG})
        html = wrong.get_data(as_text=True)
        assert wrong.status_code == 401
        assert "That is not your password." in html and "is not your password" in html
        assert _carried(html) == {**_carried(page), "csrf_token": _carried(html)["csrf_token"]}
        assert not grant.done(world)
        assert _user("admin").failed_logins == attempt
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == rows_before
    failed = [p for a, p in _security("admin") if a == "password_confirm_failed"]
    assert failed == [
        {"reason": "wrong password", "failures": n, "for": "admin.user_grant"}
        for n in range(1, limit + 1)
    ]
    assert _security("admin")[-1][0] == "account_locked"
    # Locked: the right password is refused too, here and at login.
    locked = client.post(_form_target(page), data={**_carried(page), "confirm_password": PASSWORD})
    assert locked.status_code == 403
    assert "Your account is locked" in locked.get_data(as_text=True)
    assert not grant.done(world)
    assert _security("admin")[-1] == (
        "password_confirm_failed",
        {"reason": "locked", "for": "admin.user_grant"},
    )
    auth.logout()
    assert auth.login("admin").status_code == 401


def test_wrong_logins_and_wrong_confirmations_share_one_count(world, auth, client, clock, app):
    limit = app.config["PBFLOW_LOGIN_MAX_FAILURES"]
    auth.login("admin")
    other = app.test_client()  # someone guessing at the login page meanwhile
    token = csrf_token(other.get("/login").get_data(as_text=True))
    for _ in range(limit - 1):
        other.post("/login", data={"username": "admin", "password": WRONG, "csrf_token": token})
    clock.advance(minutes=11)
    page = _post(client, SENSITIVE[4], world).get_data(as_text=True)
    client.post(_form_target(page), data={**_carried(page), "confirm_password": WRONG})
    assert _user("admin").locked_until is not None
    assert [a for a, _p in _security("admin")][-2:] == ["password_confirm_failed", "account_locked"]


def test_an_empty_password_is_asked_for_again_and_counts_for_nothing(world, auth, client, clock):
    auth.login("admin")
    clock.advance(minutes=11)
    client.set_cookie("pbflow_lang", "en")
    page = _post(client, SENSITIVE[4], world).get_data(as_text=True)
    logged = len(_security("admin"))
    empty = client.post(_form_target(page), data={**_carried(page), "confirm_password": ""})
    assert empty.status_code == 401
    assert "Enter your password to go on." in empty.get_data(as_text=True)
    assert _user("admin").failed_logins == 0 and len(_security("admin")) == logged
    assert not SENSITIVE[4].done(world)


# --- what the confirmation belongs to ----------------------------------------------------------


def test_the_time_entered_belongs_to_the_account_that_entered_it(world, auth, client, clock):
    """A session's time is its user's: copied under another account's id it counts for nothing;
    a session without one (older than this rule) is asked."""
    from pbflow.services.accounts import password_entered_at

    auth.login("admin")
    with client.session_transaction() as sess:
        sess[PASSWORD_AT] = {"user": world["secretary"].id, "at": password_entered_at()}
    assert _post(client, SENSITIVE[4], world).status_code == 401
    with client.session_transaction() as sess:
        sess.pop(PASSWORD_AT)
    assert _post(client, SENSITIVE[4], world).status_code == 401
    with client.session_transaction() as sess:  # a time ahead of the clock (set back) is not
        sess[PASSWORD_AT] = {"user": world["admin"].id, "at": password_entered_at() + 3600}
    assert _post(client, SENSITIVE[4], world).status_code == 401
    with client.session_transaction() as sess:
        sess[PASSWORD_AT] = {"user": world["admin"].id, "at": password_entered_at()}
    assert _post(client, SENSITIVE[4], world).status_code == 302


def test_logging_out_forgets_the_time(world, auth, client):
    auth.login("admin")
    with client.session_transaction() as sess:
        assert sess[PASSWORD_AT]["user"] == world["admin"].id
    auth.logout()
    with client.session_transaction() as sess:
        assert PASSWORD_AT not in sess


def test_the_window_is_a_setting_with_bounds(world, auth, client, clock, app, tmp_path):
    app.config["PBFLOW_REAUTH_MINUTES"] = 30
    auth.login("admin")
    clock.advance(minutes=29)
    assert _post(client, SENSITIVE[4], world).status_code == 302
    app.config["PBFLOW_REAUTH_MINUTES"] = 1
    client.set_cookie("pbflow_lang", "en")
    refused = _post(client, SENSITIVE[7], world)
    assert refused.status_code == 401
    assert "You have not entered it in the last minute." in refused.get_data(as_text=True)
    for bad in (0, 121, -5):
        with pytest.raises(ValueError, match="PBFLOW_REAUTH_MINUTES must be"):
            build_config(Path(tmp_path), {"SECRET_KEY": "x", "PBFLOW_REAUTH_MINUTES": bad})
    assert build_config(Path(tmp_path), {"SECRET_KEY": "x"})["PBFLOW_REAUTH_MINUTES"] == 10


# --- what is not asked --------------------------------------------------------------------------


def test_a_workflow_step_and_other_everyday_changes_are_not_asked(world, auth, client, clock):
    case = funding_case(world)
    walk(case.id, world, ("submit", "branch_member"))
    auth.login("secretary")
    clock.advance(hours=3)
    html = client.get(f"/cases/{case.id}").get_data(as_text=True)
    done = client.post(
        f"/cases/{case.id}/steps/secretary_approve",
        data={"csrf_token": csrf_token(html), "version": "2", "comment": "同意"},
    )
    assert done.status_code == 302
    assert runtime.load_case(case.id).state == "superior_review"
    token = csrf_token(client.get("/account/").get_data(as_text=True))
    assert (
        client.post("/account/language", data={"csrf_token": token, "locale": "en"}).status_code
        == 302
    )
    assert "password_confirmed" not in [a for a, _p in _security("secretary")]


def test_revoking_a_token_and_renaming_an_organization_are_not_asked(world, auth, client, clock):
    from pbflow.services import api_tokens

    made = api_tokens.create_token(None, world["admin"], "old script")
    auth.login("admin")
    clock.advance(hours=3)
    token = csrf_token(client.get("/account/tokens").get_data(as_text=True))
    assert (
        client.post(
            f"/account/tokens/{made.token.id}/revoke", data={"csrf_token": token}
        ).status_code
        == 302
    )
    db.session.expire_all()
    assert db.session.get(ApiToken, made.token.id).revoked_at is not None
    renamed = client.post(
        f"/admin/orgs/{world.branch.id}",
        data={"csrf_token": token, "name": "采煤一队支部", "name_en": "Team 1"},
    )
    assert renamed.status_code == 302


# --- the JSON API, the command line -------------------------------------------------------------


def test_the_api_session_path_is_refused_when_stale_until_confirmed(world, auth, client, clock):
    auth.login("admin")
    clock.advance(minutes=11)
    csrf = client.get("/api/csrf").get_json()["csrf_token"]
    headers = {"X-CSRFToken": csrf, "Accept-Language": "en"}
    refused = client.post(
        "/api/v1/tokens", json={"name": "hr", "owner": "secretary"}, headers=headers
    )
    problem = refused.get_json()
    assert refused.status_code == 403
    assert problem["detail"].startswith("Confirm your password first")
    assert problem["details"] == {"confirm_url": "/account/confirm"}
    assert not _token_of("secretary", "hr")
    # The confirmation page, then the API again.
    page = client.get("/account/confirm?next=/account/tokens&lang=en")
    assert page.status_code == 200 and "Confirm your password" in page.get_data(as_text=True)
    html = page.get_data(as_text=True)
    wrong = client.post(_form_target(html), data={**_carried(html), "confirm_password": WRONG})
    assert wrong.status_code == 401 and _user("admin").failed_logins == 1
    confirmed = client.post(
        _form_target(html), data={**_carried(html), "confirm_password": PASSWORD}
    )
    assert confirmed.status_code == 302 and confirmed.location.endswith("/account/tokens")
    made = client.post("/api/v1/tokens", json={"name": "hr", "owner": "secretary"}, headers=headers)
    assert made.status_code == 201 and _token_of("secretary", "hr")


def test_a_request_with_a_token_is_not_asked_it_is_refused_as_before(world, client, clock):
    from tests.api.helpers import Api, token

    thief = Api(client, token(world, "admin", "admin"))
    clock.advance(days=30)
    r, problem = thief.post("/api/v1/tokens", json={"name": "backdoor"})
    assert r.status_code == 403 and problem["detail"].startswith("A token cannot make tokens")


def test_the_command_line_is_not_asked(world, runner, clock):
    clock.advance(days=30)
    made = runner.invoke(args=["pbflow", "token", "create", "secretary", "cron job"])
    assert made.exit_code == 0, made.output
    assert _token_of("secretary", "cron job")


# --- which actions are sensitive ------------------------------------------------------------------

SENSITIVE_ENDPOINTS = {
    "api_pages.token_create": "make an access token (own, another's, a service's)",
    "api_v1.create_token": "the same, through the API's session path",
    "admin.user_create": "an account with a password and a first role, admin included",
    "admin.user_password": "reset another's password",
    "admin.user_grant": "grant a role",
    "admin.user_revoke": "revoke a role (an admin's, to lock the owners out)",
    "admin.user_active": "deactivate or reactivate an account",
    "admin.user_unlock": "lift the lockout that stops password guessing",
    "config.settings_change": "thresholds and reviews of the procedures are controls",
    "account.email": "notifications would go on reaching an address after the session",
}

NOT_SENSITIVE = {
    "api_pages.token_revoke": "takes power away; must stay quick when a token leaks",
    "api_v1.revoke_token": "the same",
    "account.password": "asks for the current password itself",
    "account.language": "no access",
    "account.confirm_post": "the confirmation itself",
    "admin.org_create": "no account or right changes; audited",
    "admin.org_rename": "the same",
    "admin.org_active": "the same (refused while it has open cases or sub-organizations)",
    "admin.person_create": "people's records, not accounts; audited",
    "admin.person_update": "the same",
    "admin.person_correct_status": "the same",
    "admin.person_active": "the same",
    "admin.people_import": "the same",
    "api_v1.import_people": "the same, for a token with the admin scope or a session",
    "config.calendar_set_day": "working days: dates, not access",
    "config.calendar_unset_day": "the same",
    "config.calendar_year": "the same",
    "audit_pages.verify": "reads the audit trail, changes nothing",
    "security_pages.verify": "the same, for the security log",
}


def test_every_change_an_administrator_or_an_account_makes_is_counted_in_or_out(app):
    """A new administrator's or account's change must be put on one list or the other."""
    marked, to_classify = set(), set()
    for rule in app.url_map.iter_rules():
        if not (rule.methods or set()) - {"GET", "HEAD", "OPTIONS"}:
            continue
        view = app.view_functions[rule.endpoint]
        if getattr(view, "confirms_password", None) is not None:
            marked.add(rule.endpoint)
        roles = getattr(view, "required_roles", frozenset())
        if (
            "admin" in roles
            or rule.rule.startswith(("/account/", "/api/v1/tokens"))
            or getattr(view, "api_scope", None) == "admin"
        ):
            to_classify.add(rule.endpoint)
    assert marked == set(SENSITIVE_ENDPOINTS)
    assert to_classify - set(SENSITIVE_ENDPOINTS) - set(NOT_SENSITIVE) == set()
    assert set(NOT_SENSITIVE) <= to_classify


# --- the page in both languages -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("en", ("Confirm your password", "To grant a role, enter your password again.", "Cancel")),
        ("zh", ("确认密码", "授予角色", "取消")),
    ],
)
def test_the_confirmation_page_in_both_languages(world, auth, client, clock, lang, words):
    auth.login("admin")
    clock.advance(minutes=11)
    client.set_cookie("pbflow_lang", lang)
    html = _post(client, SENSITIVE[4], world).get_data(as_text=True)
    for word in words:
        assert word in html
