"""Scoped administrators (issue 10, High 1), through the real admin pages.

An administrator of a branch manages only accounts that belong wholly inside the branch's
subtree (every role, and the person, there); the committee's administrator manages everyone.
An account outside an admin's reach is not even shown to them (404); an admin who may see it,
through another reading role, is refused by the service (403). Either way nothing is written.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from werkzeug.security import check_password_hash

from pbflow import audit, clock, security_log
from pbflow.extensions import db
from pbflow.models import AuditEvent, Organization, Person, RoleAssignment, User
from pbflow.services import accounts
from tests.conftest import PASSWORD, csrf_token, make_user

NEW_PASSWORD = "taken-over-123"


@pytest.fixture
def scoped(world):
    """Add to the small world: admins of one branch, and accounts at its edges."""
    make_user("branch_admin", [(world.branch, "admin")], person_org=world.branch)
    # Administers the branch, and reads the whole committee as one of its members.
    make_user("reading_admin", [(world.branch, "admin"), (world.committee, "committee")])
    # An applicant with an account but no role yet: belongs where their person is.
    make_user("applicant", person_org=world.branch, party_status="applicant")
    # Holds a role in the branch and one in another branch.
    make_user("two_branches", [(world.branch, "member"), (world.other_branch, "group_leader")])
    # No role and no person (the command line made it): the committee's admins only.
    make_user("loose")
    return world


def _user(username: str) -> User:
    db.session.expire_all()
    return db.session.execute(select(User).where(User.username == username)).scalar_one()


def _roles(username: str) -> set[tuple[int, str]]:
    user = _user(username)
    return set(
        db.session.execute(
            select(RoleAssignment.org_id, RoleAssignment.role).where(
                RoleAssignment.user_id == user.id
            )
        ).all()
    )


def _token(client) -> str:
    return csrf_token(client.get("/account/").get_data(as_text=True))


# --- the account actions, each: prepare the target, post, and say whether it took effect -----


def _lock(target: User, world) -> dict:
    target.failed_logins, target.locked_until = 3, clock.now() + timedelta(minutes=10)
    db.session.commit()
    return {}


def _deactivate(target: User, world) -> dict:
    accounts.set_active(target, False)  # the command line: trusted
    return {}


def _give_branch_role(target: User, world) -> dict:
    ra = accounts.grant_role(target, world.branch, "deputy_secretary")
    return {"assignment": ra.id}


ACTIONS = {
    "reset password": (
        None,
        lambda u, ctx: f"/admin/users/{u.id}/password",
        lambda w: {"password": NEW_PASSWORD},
        lambda name: check_password_hash(_user(name).password_hash, NEW_PASSWORD),
    ),
    "deactivate": (
        None,
        lambda u, ctx: f"/admin/users/{u.id}/active",
        lambda w: {"active": "0"},
        lambda name: not _user(name).active,
    ),
    "reactivate": (
        _deactivate,
        lambda u, ctx: f"/admin/users/{u.id}/active",
        lambda w: {"active": "1"},
        lambda name: _user(name).active,
    ),
    "unlock": (
        _lock,
        lambda u, ctx: f"/admin/users/{u.id}/unlock",
        lambda w: {},
        lambda name: _user(name).locked_until is None,
    ),
    "grant a role": (
        None,
        lambda u, ctx: f"/admin/users/{u.id}/roles",
        lambda w: {"role": "organizing_member", "org_id": w.branch.id},
        lambda name: any(role == "organizing_member" for _o, role in _roles(name)),
    ),
    "revoke a role": (
        _give_branch_role,
        lambda u, ctx: f"/admin/users/{u.id}/roles/{ctx['assignment']}/revoke",
        lambda w: {},
        lambda name: not any(role == "deputy_secretary" for _o, role in _roles(name)),
    ),
}

# (acting admin, target account) pairs that must work...
IN_SCOPE = [
    ("branch_admin", "member"),  # a role in the branch
    ("branch_admin", "applicant"),  # no role, a person in the branch
    ("admin", "two_branches"),  # the committee's admin manages everyone...
    ("admin", "loose"),  # ...including an account that belongs nowhere
]
# ...and pairs refused: not visible to the actor (404), or visible but not theirs (403).
OUT_OF_SCOPE = [
    ("branch_admin", "admin", 404),  # the attack of the issue: POST /admin/users/1/password
    ("branch_admin", "two_branches", 404),  # partly inside is not inside
    ("branch_admin", "loose", 404),
    ("branch_admin", "other_secretary", 404),
    ("reading_admin", "admin", 403),
    ("reading_admin", "two_branches", 403),
]


def _act(client, auth, world, actor: str, target_name: str, action: str):
    prepare, url, data, _changed = ACTIONS[action]
    target = _user(target_name)
    ctx = prepare(target, world) if prepare else {}
    auth.login(actor)
    token = _token(client)
    before = (audit.head(), security_log.head())
    response = client.post(url(target, ctx) + "?lang=en", data={"csrf_token": token, **data(world)})
    return response, before


@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.parametrize(("actor", "target"), IN_SCOPE)
def test_an_admin_manages_an_account_inside_their_scope(
    scoped, auth, client, actor, target, action
):
    response, before = _act(client, auth, scoped, actor, target, action)
    assert response.status_code == 302, response.get_data(as_text=True)[:400]
    assert ACTIONS[action][3](target)
    assert audit.head()[0] > before[0][0]  # an admin's act: in the process audit chain


@pytest.mark.parametrize(
    ("actor", "target", "status", "action"),
    [
        (*pair, action)
        for pair in OUT_OF_SCOPE
        for action in ACTIONS
        # A branch role given to "loose" first would bring it inside the branch.
        if not (pair[1] == "loose" and action == "revoke a role")
    ],
)
def test_an_admin_cannot_touch_an_account_outside_their_scope(
    scoped, auth, client, actor, target, status, action
):
    response, before = _act(client, auth, scoped, actor, target, action)
    assert response.status_code == status
    if status == 403:
        assert "Only an administrator of every organization where" in response.get_data(
            as_text=True
        )
    assert not ACTIONS[action][3](target)
    assert (audit.head(), security_log.head()) == before  # nothing written, not even half


def test_the_committee_admin_keeps_their_password_and_session(scoped, auth, client, app):
    """The very attack of the issue, step by step."""
    admin_client = app.test_client()
    from tests.conftest import Auth

    Auth(admin_client).login("admin")
    admin = _user("admin")
    auth.login("branch_admin")
    token = _token(client)
    for path, data in [
        ("password", {"password": NEW_PASSWORD}),
        ("active", {"active": "0"}),
        ("unlock", {}),
    ]:
        response = client.post(
            f"/admin/users/{admin.id}/{path}", data={"csrf_token": token, **data}
        )
        assert response.status_code == 404
    assert check_password_hash(_user("admin").password_hash, PASSWORD)
    assert _user("admin").active
    assert admin_client.get("/admin/users").status_code == 200  # still logged in


# --- creating accounts ----------------------------------------------------------------------


def _create(client, **fields):
    token = csrf_token(client.get("/admin/users/new").get_data(as_text=True))
    data = {"username": "newbie", "display_name": "新同志", "password": "long-enough-1"}
    return client.post("/admin/users/new?lang=en", data={"csrf_token": token, **data, **fields})


def test_a_branch_admin_creates_an_account_with_its_first_role_in_the_branch(scoped, auth, client):
    auth.login("branch_admin")
    seq, _ = audit.head()
    response = _create(client, role="member", org_id=scoped.branch.id)
    assert response.status_code == 302
    assert _roles("newbie") == {(scoped.branch.id, "member")}
    # One transaction: the account and its role, next to each other in the chain.
    events = db.session.execute(
        select(AuditEvent.action, AuditEvent.actor_label).where(AuditEvent.seq > seq)
    ).all()
    assert [tuple(e) for e in events] == [
        ("user_created", "branch_admin"),
        ("role_granted", "branch_admin"),
    ]
    # And it is theirs to manage from the start.
    page = client.get(response.headers["Location"] + "?lang=en").get_data(as_text=True)
    assert "Reset password" in page and "Grant a role" in page


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        ({}, 422, "choose the organization where the account holds its first role"),
        ({"role": "member"}, 422, "choose an organization"),
        ({"org_id": "BRANCH"}, 422, "choose a role"),
        ({"role": "member", "org_id": "OTHER"}, 403, "Only an administrator of this organization"),
        ({"role": "admin", "org_id": "COMMITTEE"}, 403, "Only an administrator of this"),
    ],
)
def test_a_branch_admin_cannot_create_an_account_outside_the_branch(
    scoped, auth, client, fields, status, message
):
    ids = {
        "BRANCH": scoped.branch.id,
        "OTHER": scoped.other_branch.id,
        "COMMITTEE": scoped.committee.id,
    }
    fields = {k: str(ids.get(v, v)) for k, v in fields.items()}
    auth.login("branch_admin")
    before = audit.head()
    response = _create(client, **fields)
    assert response.status_code == status
    assert message in response.get_data(as_text=True)
    assert db.session.execute(select(User).where(User.username == "newbie")).first() is None
    assert audit.head() == before


def test_the_committee_admin_may_create_an_account_without_a_role(scoped, auth, client):
    auth.login("admin")
    response = _create(client)
    assert response.status_code == 302
    assert _roles("newbie") == set()
    auth.logout()
    auth.login("branch_admin")
    assert client.get(f"/admin/users/{_user('newbie').id}").status_code == 404


def test_the_new_user_form_offers_only_the_admins_own_organizations(scoped, auth, client):
    auth.login("branch_admin")
    html = client.get("/admin/users/new?lang=en").get_data(as_text=True)
    assert f'<option value="{scoped.branch.id}"' in html
    assert f'<option value="{scoped.other_branch.id}"' not in html
    assert f'<option value="{scoped.committee.id}"' not in html


# --- roles: only inside the granter's subtree -------------------------------------------------


@pytest.mark.parametrize(
    ("org", "status"),
    [("branch", 302), ("general_branch", 403), ("committee", 403), ("other_branch", 403)],
)
def test_admin_is_granted_only_inside_the_granters_subtree(scoped, auth, client, org, status):
    member = _user("member")
    auth.login("branch_admin")
    token = _token(client)
    target_org = getattr(scoped, org)
    response = client.post(
        f"/admin/users/{member.id}/roles?lang=en",
        data={"csrf_token": token, "role": "admin", "org_id": target_org.id},
    )
    assert response.status_code == status
    assert ((target_org.id, "admin") in _roles("member")) == (status == 302)


def test_revoking_the_last_role_in_reach_leads_back_to_the_list(scoped, auth, client):
    member = _user("member")
    db.session.delete(db.session.get(Person, member.person.id))
    db.session.commit()
    ra = db.session.execute(
        select(RoleAssignment).where(RoleAssignment.user_id == member.id)
    ).scalar_one()
    auth.login("branch_admin")
    response = client.post(
        f"/admin/users/{member.id}/roles/{ra.id}/revoke", data={"csrf_token": _token(client)}
    )
    assert response.status_code == 302 and response.headers["Location"] == "/admin/users"
    # The account now belongs nowhere: only the committee's administrators manage it.
    assert client.get(f"/admin/users/{member.id}").status_code == 404


# --- what each admin sees ---------------------------------------------------------------------


def _listed(client) -> set[str]:
    import re

    html = client.get("/admin/users").get_data(as_text=True)
    return set(re.findall(r'href="/admin/users/\d+">([^<]+)</a>', html))


def test_the_users_list_shows_a_branch_admin_only_the_branchs_accounts(scoped, auth, client):
    auth.login("branch_admin")
    assert _listed(client) == {
        "applicant",
        "branch_admin",
        "branch_member",
        "deputy",
        "member",
        "secretary",
    }
    total = db.session.execute(select(func.count(User.id))).scalar_one()
    auth.logout()
    auth.login("admin")
    assert len(_listed(client)) == total


def test_a_reader_sees_an_account_without_the_forms_to_change_it(scoped, auth, client):
    admin = _user("admin")
    auth.login("reading_admin")
    assert "admin" in _listed(client)
    page = client.get(f"/admin/users/{admin.id}?lang=en").get_data(as_text=True)
    assert "holds roles outside the organizations you administer" in page
    assert "/password" not in page and "Grant a role" not in page
    own = client.get(f"/admin/users/{_user('member').id}?lang=en").get_data(as_text=True)
    assert "Reset password" in own


def test_the_command_line_remains_the_trusted_operator(scoped, runner):
    result = runner.invoke(args=["pbflow", "user", "deactivate", "two_branches"])
    assert result.exit_code == 0, result.output
    assert not _user("two_branches").active


def test_an_organization_is_read_below_its_reader_not_beside_whose_id_shares_its_digits(world):
    """Readable organizations are found by their paths' prefixes ("/1/4/"): a branch whose id
    begins with another's digits ("/1/40/") is no organization below that one. Checked for
    every account against the definition: a READ_ROLES role at the organization or above."""
    from pbflow.engine import actors

    made = [
        accounts.create_org(f"t{i}", f"测试支部{i}", "branch", world.committee) for i in range(45)
    ]
    ids = {o.id for o in made} | {world.branch.id, world.other_branch.id}
    first, second = next(
        (a, b) for a in sorted(ids) for b in sorted(ids) if a != b and str(b).startswith(str(a))
    )
    branch = db.session.get(Organization, first)
    group = accounts.create_org("g-first", "第一党小组", "party_group", branch)
    reader = make_user("reader", [(branch, "secretary")])
    db.session.commit()
    actors.forget_orgs()
    assert actors.readable_org_ids(reader) == {first, group.id}
    assert second not in actors.readable_org_ids(reader)
    index = actors.org_index()
    for user in db.session.scalars(select(User)):
        roots = {o for o, role in actors.roles_of(user.id) if role in actors.READ_ROLES}
        below = {n.id for n in index.values() if roots & set(n.ancestors)}
        assert actors.readable_org_ids(user) == below, user.username
