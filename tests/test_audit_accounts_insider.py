"""An insider with the database against the accounts: a role granted or revoked, or an account
added or switched back on, with SQL and no audit event. Roles decide who may act, so the audit
trail's verification must name such a change as it names a case moved with SQL
(``tests/test_audit_insider.py``)."""

from __future__ import annotations

from sqlalchemy import select

from pbflow import audit
from pbflow.extensions import db
from pbflow.models import RoleAssignment
from pbflow.services import accounts
from tests.test_audit_insider import Insider


def _problems() -> list[str]:
    db.session.rollback()
    result = audit.verify_database()
    return [] if result.ok else result.problems


def test_a_role_granted_with_sql_and_no_event_is_named(world, runner):
    assert audit.verify_database().ok
    member = world["member"]
    Insider().sql(
        "INSERT INTO role_assignment (user_id, org_id, role, created_at)"
        " VALUES (:u, :o, 'admin', CURRENT_TIMESTAMP)",
        u=member.id,
        o=world.committee.id,
    )
    problems = _problems()
    assert any(
        f"account {member.id} holds 'admin' at organization {world.committee.id}" in p
        and "granted outside pbflow" in p
        for p in problems
    ), problems
    cli = runner.invoke(args=["pbflow", "audit", "verify"])
    assert cli.exit_code == 1 and "granted outside pbflow" in cli.output


def test_a_role_revoked_with_sql_and_no_event_is_named(world):
    secretary = world["other_secretary"]
    Insider().sql(
        "DELETE FROM role_assignment WHERE user_id = :u AND role = 'secretary'", u=secretary.id
    )
    problems = _problems()
    assert any(
        f"account {secretary.id} lost 'secretary' at organization {world.other_branch.id}" in p
        and "revoked outside pbflow" in p
        for p in problems
    ), problems


def test_an_account_inserted_or_reactivated_with_sql_is_named(world):
    member = world["member"]
    accounts.set_active(member, False, actor=world["admin"])
    assert audit.verify_database().ok
    Insider().sql("UPDATE user_account SET active = :t WHERE id = :id", t=True, id=member.id)
    problems = _problems()
    assert any(
        f"account {member.id} is active but its audit events say inactive" in p for p in problems
    ), problems
    Insider().sql("UPDATE user_account SET active = :f WHERE id = :id", f=False, id=member.id)
    assert audit.verify_database().ok
    Insider().sql(
        "INSERT INTO user_account (username, display_name, password_hash, active, failed_logins,"
        " email_mode, session_token, locale, created_at) SELECT 'ghost', 'Ghost', password_hash,"
        " active, 0, email_mode, 'x' || session_token, locale, created_at FROM user_account"
        " WHERE id = :id",
        id=world["admin"].id,
    )
    assert any("has no audit events: created outside pbflow" in p for p in _problems())


def test_roles_and_accounts_changed_through_pbflow_verify(world):
    admin, member = world["admin"], world["member"]
    accounts.grant_role(member, world.branch, "group_leader", actor=admin)
    accounts.revoke_role(member, world.branch, "group_leader", actor=admin)
    accounts.grant_role(member, world.branch, "branch_committee", actor=admin)
    accounts.set_active(member, False, actor=admin)
    accounts.set_active(member, True, actor=admin)
    accounts.create_user("newcomer", "Newcomer", "a-long-password-1", actor=admin)
    assert db.session.scalar(
        select(RoleAssignment).where(
            RoleAssignment.user_id == member.id, RoleAssignment.role == "branch_committee"
        )
    )
    result = audit.verify_database()
    assert result.ok, result.problems


def test_an_organization_moved_or_reactivated_with_sql_is_named(world):
    branch, committee, general = world.branch.id, world.committee.id, world.general_branch.id
    path, other_path = world.branch.path, world.other_branch.path
    # Moved under another parent, its members' readers change: the branch's path follows.
    Insider().sql(
        "UPDATE organization SET parent_id = :p, path = :path WHERE id = :id",
        p=committee,
        path=f"/{committee}/{branch}/",
        id=branch,
    )
    problems = _problems()
    assert any(
        f"organization {branch} differs from its audit events (parent" in p
        and "changed outside pbflow" in p
        for p in problems
    ), problems
    Insider().sql(
        "UPDATE organization SET parent_id = :p, path = :path WHERE id = :id",
        p=general,
        path=path,
        id=branch,
    )
    assert audit.verify_database().ok
    # The path alone decides whose subtree an organization is in.
    Insider().sql(
        "UPDATE organization SET path = :path WHERE id = :id",
        path=f"{other_path}{branch}/",
        id=branch,
    )
    assert any("path" in p and "changed outside pbflow" in p for p in _problems())
    Insider().sql(
        "UPDATE organization SET path = :path WHERE id = :id",
        path=path,
        id=branch,
    )
    accounts.set_org_active(world.other_branch, False, actor=world["admin"])
    assert audit.verify_database().ok
    Insider().sql(
        "UPDATE organization SET active = :t WHERE id = :id", t=True, id=world.other_branch.id
    )
    assert any(
        f"organization {world.other_branch.id} differs" in p and "active True" in p
        for p in _problems()
    )
