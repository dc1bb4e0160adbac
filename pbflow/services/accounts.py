"""Users, organizations and roles; whose accounts an admin manages; the login check with its
lockout; sessions that can be ended.

Authentication and a user's own account changes go to the security log (``security_log``);
administrative actions on accounts go to the process audit chain (``audit``), as every other
administrative change does.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import DateTime, case, exists, false, func, literal, null, or_, select, true, update
from werkzeug.security import check_password_hash, generate_password_hash

from pbflow import audit, clock, security_log, validation
from pbflow.engine import actors, locks
from pbflow.engine.errors import DomainError, NotAllowed, NotFound, ValidationFailed
from pbflow.extensions import db
from pbflow.models import Organization, Person, RoleAssignment, SecurityEvent, User
from pbflow.models.org import ORG_KINDS
from pbflow.models.people import ROLES, new_session_token
from pbflow.services import pagination
from pbflow.services import seen as form_seen

# Checked against when the username is unknown or the account locked, so such an answer costs
# as long as a wrong password and response times do not reveal which accounts exist.
_DUMMY_HASH = generate_password_hash("pbflow-not-a-password")
MIN_PASSWORD = 8


def hash_password(password: str) -> str:
    """scrypt by default (Werkzeug's); tests configure a cheap method to stay fast."""
    return generate_password_hash(password, method=current_app.config["PBFLOW_PASSWORD_METHOD"])


class LoginRefused(DomainError):
    status = 401


def require_admin(actor, org_id: int) -> None:
    """Refuse unless ``actor`` holds ``admin`` at ``org_id`` or above it.

    ``None`` (or "system") is the CLI and the demo loader, which are trusted.
    """
    if actor is None or actor == audit.SYSTEM:
        return
    node = actors.org_index().get(org_id)
    if node is None or not actors.has_role(actor.id, "admin", node.ancestor_ids()):
        raise NotAllowed(_("Only an administrator of this organization may change this."))


def _commit() -> None:
    try:
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise


def _check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise ValidationFailed(
            _("Some fields need correcting."),
            field_errors={"password": _("must be at least %(n)s characters", n=MIN_PASSWORD)},
        )


def _trusted(actor) -> bool:
    """The command line and the demo loader act as ``None`` (or "system"): the operator."""
    return actor is None or actor == audit.SYSTEM


# --- whose accounts an admin manages --------------------------------------------------------
#
# An account belongs where its roles are, and where its person is (an applicant with an
# account but no role yet belongs to their branch). An administrator manages an account when
# every one of those organizations lies in the subtree of an organization where they hold
# ``admin``: an account reaching partly outside a branch is for an admin higher up, whose
# subtree holds all of it. An account that belongs nowhere (no role, no person) is managed
# only by an administrator of a top-level party committee. Readers (committee members,
# auditors) see accounts by the same rule, with their reading roles in place of ``admin``.


def _roots(user: Any, roles: frozenset[str] | set[str]) -> set[int]:
    return {oid for oid, role in actors.roles_of(user.id) if role in roles}


def _covers(roots: set[int], org_ids: set[int]) -> bool:
    """Does every organization in ``org_ids`` lie below one of ``roots``?"""
    if not roots:
        return False
    index = actors.org_index()
    if not org_ids:
        return any(r in index and index[r].parent_id is None for r in roots)
    for oid in org_ids:
        node = index.get(oid)
        if node is None or not roots.intersection(node.ancestor_ids()):
            return False
    return True


def account_org_ids(user: User) -> set[int]:
    """The organizations an account belongs to: those of its roles and of its person."""
    orgs = {oid for oid, _role in actors.roles_of(user.id)}
    person_org = db.session.execute(select(Person.org_id).where(Person.user_id == user.id)).scalar()
    if person_org is not None:
        orgs.add(person_org)
    return orgs


def may_manage_user(actor, user: User) -> bool:
    if _trusted(actor):
        return True
    return _covers(_roots(actor, {"admin"}), account_org_ids(user))


def require_manage_user(actor, user: User) -> None:
    """The one check before any change to an account: the actor's admin scope covers it."""
    if not may_manage_user(actor, user):
        raise NotAllowed(
            _(
                "Only an administrator of every organization where %(name)s holds a role "
                "may change this account.",
                name=user.username,
            )
        )


def may_see_user(reader, user: User) -> bool:
    if _trusted(reader):
        return True
    return _covers(actors.read_roots(reader.id), account_org_ids(user))


def administered_org_ids(actor) -> set[int]:
    """Organizations where ``actor`` may grant roles: the subtrees of their ``admin`` roles."""
    roots = _roots(actor, {"admin"})
    return {n.id for n in actors.org_index().values() if roots.intersection(n.ancestor_ids())}


def may_create_without_role(actor) -> bool:
    """Only the operator and an administrator of a top-level committee (see create_user)."""
    if _trusted(actor):
        return True
    index = actors.org_index()
    return any(r in index and index[r].parent_id is None for r in _roots(actor, {"admin"}))


def _reach(roots: set[int]) -> tuple[set[int], bool, bool]:
    """(organizations below ``roots``, whether a root is a top-level committee, whether that
    is every organization there is)."""
    index = actors.org_index()
    allowed = {n.id for n in index.values() if roots.intersection(n.ancestor_ids())}
    top = any(r in index and index[r].parent_id is None for r in roots)
    return allowed, top, top and len(allowed) == len(index)


def _accounts_within(roots: set[int]):
    """SQL condition on ``User``: the account belongs only to organizations below ``roots``."""
    if not roots:
        return false()
    allowed, top, everything = _reach(roots)
    if everything:
        return true()
    role_outside = exists().where(
        RoleAssignment.user_id == User.id, RoleAssignment.org_id.not_in(allowed)
    )
    person_outside = exists().where(Person.user_id == User.id, Person.org_id.not_in(allowed))
    condition = ~role_outside & ~person_outside
    if not top:  # an account that belongs nowhere is for a top-level committee's eyes only
        somewhere = or_(
            exists().where(RoleAssignment.user_id == User.id),
            exists().where(Person.user_id == User.id),
        )
        condition = condition & somewhere
    return condition


def managed_users(actor):
    """SQL condition on ``User``: the accounts ``actor`` manages (``may_manage_user`` for a
    whole list at once)."""
    if _trusted(actor):
        return true()
    return _accounts_within(_roots(actor, {"admin"}))


def visible_users(reader):
    """SQL condition on ``User``: accounts ``reader`` may see, by the rule above with their
    reading roles (``admin`` among them): an admin sees at least every account they manage."""
    if _trusted(reader):
        return true()
    return _accounts_within(actors.read_roots(reader.id))


def list_users(reader, *, text: str = "", page: int = 1, per_page: int = 25):
    """One page of the accounts ``reader`` may see, by username; and how many there are."""
    stmt = select(User).where(visible_users(reader))
    text = (text or "").strip()
    if text:
        like = f"%{text}%"
        stmt = stmt.where(or_(User.username.ilike(like), User.display_name.ilike(like)))
    total = db.session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = db.session.execute(
        stmt.order_by(User.username).offset((page - 1) * per_page).limit(per_page)
    ).scalars()
    return list(rows), total


def search_security_events(
    reader,
    *,
    username: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
    before: int | None = None,
    per_page: int = 50,
) -> tuple[list[SecurityEvent], int | None]:
    """One page of the security log, newest first, and the sequence number to go on from.

    A reader sees the events of the accounts they may see; attempts on unknown names only
    when they read a top-level committee.
    """
    stmt = select(SecurityEvent)
    if not _trusted(reader):
        roots = actors.read_roots(reader.id)
        _allowed, top, everything = _reach(roots) if roots else (set(), False, False)
        if not everything:
            accounts_seen = SecurityEvent.user_id.in_(
                select(User.id).where(_accounts_within(roots))
            )
            stmt = stmt.where(
                or_(accounts_seen, SecurityEvent.user_id.is_(None)) if top else accounts_seen
            )
    if username:
        stmt = stmt.where(SecurityEvent.username == username)
    if date_from is not None:
        stmt = stmt.where(SecurityEvent.at >= clock.local_midnight_utc(date_from))
    if date_to is not None:
        stmt = stmt.where(SecurityEvent.at < clock.local_midnight_utc(date_to + timedelta(days=1)))
    if before is not None:
        stmt = stmt.where(SecurityEvent.seq < before)
    rows = list(
        db.session.execute(stmt.order_by(SecurityEvent.seq.desc()).limit(per_page + 1)).scalars()
    )
    return pagination.cut(rows, per_page, lambda r: r.seq)


def reads_every_account(reader) -> bool:
    """Whether ``reader`` may see every account (a reader at the top of the only tree): who
    may take the security log away whole, as an export."""
    if _trusted(reader):
        return True
    roots = actors.read_roots(reader.id)
    return bool(roots) and _reach(roots)[2]


def get_visible_user(user_id: int, reader) -> User:
    """An account by id, or NotFound when there is none or ``reader`` may not see it."""
    user = db.session.get(User, user_id)
    if user is None or not may_see_user(reader, user):
        raise NotFound(_("No such user."))
    return user


# --- logging in, the lockout and sessions ---------------------------------------------------


@dataclass(frozen=True)
class _Attempt:
    """One password check the account's failure count allowed (see :func:`_claim_attempt`)."""

    failures: int  # counting this attempt, as if it fails
    locked_until: datetime | None  # set when this attempt, failing, reaches the limit


def refusal_message() -> str:
    """The one answer to every refused login: a wrong password, an unknown name, a locked
    account (checked or not) and a deactivated account given a wrong password all read alike,
    so the answer does not tell whether an account exists or is locked."""
    return _(
        "Wrong username or password. After %(n)s failed logins in a row an account is "
        "locked for %(minutes)s minutes.",
        n=current_app.config["PBFLOW_LOGIN_MAX_FAILURES"],
        minutes=current_app.config["PBFLOW_LOGIN_LOCK_MINUTES"],
    )


def _claim_attempt(user: User | None) -> _Attempt | None:
    """Count a failure before the password is checked, in one conditional UPDATE; None if locked.

    The count is taken in the database, atomically: with the limit at 5, the fifth claim also
    sets the lock, and any claim after it finds the account locked, so at most 5 guesses are
    ever checked however many arrive at once. The claim is committed at once (so the row is
    not held while the slow password hash runs); a successful check then clears the count.
    A lock that has run out gives a fresh set of attempts. For an unknown name the same
    statement runs against no row, so both cost alike.
    """
    now = clock.now()
    limit = current_app.config["PBFLOW_LOGIN_MAX_FAILURES"]
    until = now + timedelta(minutes=current_app.config["PBFLOW_LOGIN_LOCK_MINUTES"])
    unlocked = User.locked_until.is_(None)
    failures = case((unlocked, User.failed_logins + 1), else_=literal(1))
    stmt = (
        update(User)
        .where(User.id == (user.id if user is not None else 0))
        .where(or_(unlocked, User.locked_until <= now))
        .values(
            failed_logins=failures,
            locked_until=case((failures >= limit, literal(until, DateTime())), else_=null()),
        )
        .returning(User.failed_logins, User.locked_until)
        .execution_options(synchronize_session=False)
    )
    row = db.session.execute(stmt).first()
    _commit()
    if user is not None:
        db.session.expire(user, ["failed_logins", "locked_until"])
    return _Attempt(row.failed_logins, row.locked_until) if row is not None else None


def _record_failure(
    user: User, attempt: _Attempt, action: str, reason: str, extra: dict[str, Any] | None = None
) -> None:
    payload = {"reason": reason, "failures": attempt.failures, **(extra or {})}
    security_log.record(action, user, payload=payload)
    if attempt.locked_until is not None:
        security_log.record(
            "account_locked",
            user,
            payload={"failures": attempt.failures, "until": attempt.locked_until},
        )
    _commit()


def authenticate(username: str, password: str) -> User:
    """The user for these credentials, or LoginRefused; failures count toward a lockout."""
    name = (username or "").strip()
    user = None
    if "\x00" in name:  # in no username; PostgreSQL refuses it in a query and in the log
        name = name.replace("\x00", "\ufffd")
    else:
        user = db.session.execute(select(User).where(User.username == name)).scalar()
    attempt = _claim_attempt(user)
    if user is None or attempt is None:
        # Unknown, or locked: no password is checked, yet the answer costs as long as a check.
        check_password_hash(_DUMMY_HASH, password or "")
        if user is None:
            security_log.record(
                "login_failed", username=name[:80], payload={"reason": "unknown user"}
            )
        else:
            security_log.record("login_failed", user, payload={"reason": "locked"})
        _commit()
        raise LoginRefused(refusal_message())
    if not check_password_hash(user.password_hash, password or ""):
        _record_failure(user, attempt, "login_failed", "wrong password")
        raise LoginRefused(refusal_message())
    if not user.active:
        # Only the right password learns that the account is deactivated.
        _record_failure(user, attempt, "login_failed", "deactivated")
        raise LoginRefused(_("This account has been deactivated."))
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = clock.now()
    security_log.record("login", user)
    _commit()
    return user


def _end_sessions(user: User) -> None:
    """Every session and remember cookie of the account stops working (see ``session_user``)."""
    user.session_token = new_session_token()


def session_user(session_id: str | None) -> User | None:
    """The active account a session (or remember cookie) id names, if its token is current.

    The id is ``"<user id>:<session token>"`` (``User.get_id``); a token replaced on logout,
    password change or reset, or deactivation no longer matches.
    """
    raw_id, _sep, token = (session_id or "").partition(":")
    user_id = validation.parse_id(raw_id)
    if user_id is None or not token:
        return None
    user = db.session.get(User, user_id)
    if user is None or not user.active:
        return None
    if not hmac.compare_digest(user.session_token.encode(), token.encode()):
        return None
    return user


def record_logout(user: User) -> None:
    """Log out: this ends every session of the account, on every device."""
    _end_sessions(user)
    security_log.record("logout", user, payload={"sessions_ended": True})
    _commit()


def get_user(username: str) -> User:
    user = db.session.execute(select(User).where(User.username == username)).scalar()
    if user is None:
        raise NotFound(_("No user named '%(name)s'.", name=username))
    return user


def get_org(code: str) -> Organization:
    org = db.session.execute(select(Organization).where(Organization.code == code)).scalar()
    if org is None:
        raise NotFound(_("No organization with code '%(code)s'.", code=code))
    return org


def _role_errors(org: Organization | None, role: str | None) -> dict[str, str]:
    errors = {}
    if role and role not in ROLES:
        errors["role"] = _("is not one of the choices")
    if org is None and role:
        errors["org_id"] = _("choose an organization")
    elif org is not None and not role:
        errors["role"] = _("choose a role")
    return errors


def create_user(
    username: str,
    display_name: str,
    password: str,
    *,
    actor=None,
    locale: str | None = None,
    org: Organization | None = None,
    role: str | None = None,
    commit: bool = True,
) -> User:
    """Create an account, with its first role when ``org`` and ``role`` are given.

    An administrator below a top-level committee must give them, inside their own subtree:
    the role is granted in the same transaction, so the new account is theirs to manage from
    its first moment and never floats outside every branch. The committee's administrator
    and the command line may create an account with no role.
    """
    if org is not None:
        require_admin(actor, org.id)
    username = (username or "").strip()
    errors = _role_errors(org, role)
    if org is None and not role and not may_create_without_role(actor):
        errors["org_id"] = _("choose the organization where the account holds its first role")
    if not username or len(username) > 80 or not all(c.isalnum() or c in "._-" for c in username):
        errors["username"] = _("use letters, digits, '.', '_' or '-' (at most 80)")
    elif db.session.execute(select(User.id).where(User.username == username)).first():
        errors["username"] = _("is already taken")
    if not (display_name or "").strip():
        errors["display_name"] = _("is required")
    if len(password or "") < MIN_PASSWORD:
        errors["password"] = _("must be at least %(n)s characters", n=MIN_PASSWORD)
    if errors:
        raise ValidationFailed(_("Some fields need correcting."), field_errors=errors)
    user = User(
        username=username,
        display_name=display_name.strip(),
        password_hash=hash_password(password),
        locale=locale,
    )
    db.session.add(user)
    db.session.flush()
    audit.record(
        "user_created",
        actor=actor,
        payload={
            "user_id": user.id,
            "username": username,
            audit.CREDENTIAL_DIGEST: audit.credential_digest(user.password_hash),
        },
    )
    if org is not None:
        _add_role(user, org, role, actor)
    if commit:
        _commit()
    return user


def set_password(user: User, password: str, *, actor=None) -> None:
    """An administrator (or the command line) sets a new password; every session ends."""
    require_manage_user(actor, user)
    _check_password(password)
    user.password_hash = hash_password(password)
    audit.record(
        "password_changed",
        actor=actor,
        payload={
            "user_id": user.id,
            audit.CREDENTIAL_DIGEST: audit.credential_digest(user.password_hash),
        },
    )
    _end_sessions(user)
    security_log.record(
        "sessions_revoked",
        user,
        payload={"reason": "password_reset", "by": audit.actor_fields(actor)[1]},
    )
    _commit()


def set_active(user: User, active: bool, *, actor=None) -> None:
    """Deactivate (or reactivate) an account; its history and roles stay for the record.

    Deactivation ends every session of the account.
    """
    require_manage_user(actor, user)
    if not active and actor is not None and getattr(actor, "id", None) == user.id:
        raise DomainError(_("You cannot deactivate your own account."))
    user.active = active
    audit.record(
        "user_activated" if active else "user_deactivated",
        actor=actor,
        payload={"user_id": user.id, "username": user.username},
    )
    if not active:
        _end_sessions(user)
        security_log.record(
            "sessions_revoked",
            user,
            payload={"reason": "deactivated", "by": audit.actor_fields(actor)[1]},
        )
    _commit()


def unlock(user: User, *, actor=None) -> None:
    require_manage_user(actor, user)
    user.failed_logins = 0
    user.locked_until = None
    audit.record("user_unlocked", actor=actor, payload={"user_id": user.id})
    _commit()


def _add_role(user: User, org: Organization, role: str, actor) -> RoleAssignment:
    existing = db.session.execute(
        select(RoleAssignment).where(
            RoleAssignment.user_id == user.id,
            RoleAssignment.org_id == org.id,
            RoleAssignment.role == role,
        )
    ).scalar()
    if existing:
        return existing
    ra = RoleAssignment(user_id=user.id, org_id=org.id, role=role)
    db.session.add(ra)
    db.session.flush()
    audit.record(
        "role_granted",
        actor=actor,
        org_id=org.id,
        payload={"user_id": user.id, "username": user.username, "role": role},
    )
    actors.forget_roles(user.id)
    return ra


def grant_role(
    user: User, org: Organization, role: str, *, actor=None, commit: bool = True
) -> RoleAssignment:
    """Grant ``role`` at ``org``: the actor must administer both ``org`` and the account.

    So a role, ``admin`` included, is granted only inside the granter's own subtree.
    """
    require_admin(actor, org.id)
    require_manage_user(actor, user)
    if role not in ROLES:
        raise ValidationFailed(
            _("Unknown role '%(role)s'.", role=role),
            field_errors={"role": _("is not one of the choices")},
        )
    ra = _add_role(user, org, role, actor)
    if commit:
        _commit()
    return ra


def revoke_role(user: User, org: Organization, role: str, *, actor=None) -> None:
    require_admin(actor, org.id)
    require_manage_user(actor, user)
    ra = db.session.execute(
        select(RoleAssignment).where(
            RoleAssignment.user_id == user.id,
            RoleAssignment.org_id == org.id,
            RoleAssignment.role == role,
        )
    ).scalar()
    if ra is None:
        raise NotFound(_("%(user)s does not hold %(role)s there.", user=user.username, role=role))
    db.session.delete(ra)
    audit.record(
        "role_revoked",
        actor=actor,
        org_id=org.id,
        payload={"user_id": user.id, "username": user.username, "role": role},
    )
    actors.forget_roles(user.id)
    _commit()


def create_org(
    code: str,
    name: str,
    kind: str,
    parent: Organization | None = None,
    *,
    name_en: str | None = None,
    actor=None,
    commit: bool = True,
) -> Organization:
    code = (code or "").strip()
    if parent is not None:
        require_admin(actor, parent.id)
    elif actor is not None and actor != audit.SYSTEM:
        raise NotAllowed(_("A new top-level party committee is created with the command line."))
    errors = {}
    if not code or len(code) > 64 or not all(c.isalnum() or c in "._-" for c in code):
        errors["code"] = _("use letters, digits, '.', '_' or '-' (at most 64)")
    elif db.session.execute(select(Organization.id).where(Organization.code == code)).first():
        errors["code"] = _("is already taken")
    if not (name or "").strip():
        errors["name"] = _("is required")
    if kind not in ORG_KINDS:
        errors["kind"] = _("is not one of the choices")
    elif parent is None and kind != "committee":
        errors["parent"] = _("only a party committee may stand at the top")
    elif parent is not None and ORG_KINDS.index(kind) <= ORG_KINDS.index(parent.kind):
        errors["kind"] = _("must be below its parent's kind (%(kind)s)", kind=parent.kind)
    if errors:
        raise ValidationFailed(_("Some fields need correcting."), field_errors=errors)
    org = Organization(
        code=code,
        name=name.strip(),
        name_en=name_en,
        kind=kind,
        parent_id=parent.id if parent else None,
        settings={},
    )
    db.session.add(org)
    db.session.flush()
    org.path = f"{parent.path if parent else '/'}{org.id}/"
    audit.record(
        "org_created",
        actor=actor,
        org_id=org.id,
        payload={"code": code, "name": org.name, "kind": kind, "parent_id": org.parent_id},
    )
    actors.forget_orgs()
    if commit:
        _commit()
    return org


NAMES_SEEN = ("name", "name_en")


def rename_org(
    org: Organization,
    name: str,
    name_en: str | None = None,
    *,
    actor=None,
    seen: str | None = None,
) -> bool:
    """Change an organization's names; the event keeps the old ones. False if unchanged.
    ``seen``: the digest of the names the form showed (``form_seen.digest(org, NAMES_SEEN)``);
    when given, a rename made by someone else since is refused, not overwritten."""
    require_admin(actor, org.id)
    form_seen.hold_as_shown(
        org,
        locks.hold_organization,
        NAMES_SEEN,
        seen,
        _(
            "This organization was renamed since you opened the page (someone else saved"
            " it); reload the page and make your change again."
        ),
    )
    name = (name or "").strip()
    name_en = (name_en or "").strip() or None
    errors = {}
    if not name:
        errors["name"] = _("is required")
    elif len(name) > 200:
        errors["name"] = _("is longer than %(n)s characters", n=200)
    if name_en and len(name_en) > 200:
        errors["name_en"] = _("is longer than %(n)s characters", n=200)
    if errors:
        raise ValidationFailed(_("Some fields need correcting."), field_errors=errors)
    if (org.name, org.name_en) == (name, name_en):
        return False
    audit.record(
        "org_renamed",
        actor=actor,
        org_id=org.id,
        payload={
            "before": {"name": org.name, "name_en": org.name_en},
            "after": {"name": name, "name_en": name_en},
        },
    )
    org.name, org.name_en = name, name_en
    actors.forget_orgs()
    _commit()
    return True


def set_org_active(org: Organization, active: bool, *, actor=None) -> None:
    """Deactivate (or reactivate) an organization; its people, cases and history stay.

    Refused while it still has active sub-organizations or open cases, so nothing is left
    hanging under an organization nobody can choose any more.
    """
    from pbflow.models import ProcessInstance

    require_admin(actor, org.id)
    if org.active == active:
        return
    if not active:
        children = db.session.execute(
            select(Organization.code).where(
                Organization.parent_id == org.id, Organization.active.is_(True)
            )
        ).scalars()
        children = list(children)
        if children:
            raise DomainError(
                _(
                    "Deactivate its sub-organizations first: %(codes)s.",
                    codes=", ".join(children),
                )
            )
        open_cases = db.session.execute(
            select(func.count(ProcessInstance.id)).where(
                ProcessInstance.org_id == org.id, ProcessInstance.closed_at.is_(None)
            )
        ).scalar_one()
        if open_cases:
            raise DomainError(
                _("It still has %(n)s open cases; close or move them first.", n=open_cases)
            )
    elif org.parent is not None and not org.parent.active:
        raise DomainError(_("Reactivate its parent organization first."))
    org.active = active
    actors.forget_orgs()
    audit.record(
        "org_activated" if active else "org_deactivated",
        actor=actor,
        org_id=org.id,
        payload={"code": org.code},
    )
    _commit()


# --- confirming the password again before a sensitive action ("sudo mode") -----------------
#
# A session stolen, or a computer left logged in, must not be enough to make an access token,
# reset someone's password, grant a role or the like: those ask for the password again when
# it was last entered (at login, or confirming it here) more than PBFLOW_REAUTH_MINUTES ago.
# Which actions are sensitive, and how the pages ask, is pbflow.web.access.password_confirmed.


def reauth_window() -> timedelta:
    return timedelta(minutes=current_app.config["PBFLOW_REAUTH_MINUTES"])


# Workers of one server may read the clock a little apart: a time entered so much "later"
# than now still counts; one further ahead (a clock set back) does not.
_CLOCK_SKEW = timedelta(minutes=1)


def password_entered_at() -> int:
    """Now, as the whole seconds a session keeps for "the password was last entered"."""
    return int(clock.now().replace(tzinfo=UTC).timestamp())


def password_recent(entered_at: Any) -> bool:
    """Was the password entered (``password_entered_at()`` then) within the window?"""
    if isinstance(entered_at, bool) or not isinstance(entered_at, int):
        return False
    age = clock.now() - datetime.fromtimestamp(entered_at, UTC).replace(tzinfo=None)
    return -_CLOCK_SKEW <= age <= reauth_window()


def _locked_message() -> str:
    return _(
        "Your account is locked after repeated wrong passwords. Try again later "
        "or ask an administrator to unlock it."
    )


def confirm_password(user: User, password: str, *, purpose: str) -> None:
    """``user``, logged in, enters their password again before ``purpose`` (the page's
    endpoint, for the security log).

    As at login: a wrong password counts toward the lockout (the same count, so a stolen
    session guesses no faster than anyone at the login page) and is written to the security
    log; a locked account is refused without a check; the right one clears the count and is
    logged too. A password left empty is asked for again and counts for nothing.
    """
    if not password:
        raise LoginRefused(
            _("Enter your password to go on."),
            field_errors={"confirm_password": _("is required")},
        )
    attempt = _claim_attempt(user)
    if attempt is None:
        check_password_hash(_DUMMY_HASH, password)
        security_log.record(
            "password_confirm_failed", user, payload={"reason": "locked", "for": purpose}
        )
        _commit()
        raise NotAllowed(_locked_message())
    if not check_password_hash(user.password_hash, password):
        _record_failure(
            user, attempt, "password_confirm_failed", "wrong password", {"for": purpose}
        )
        raise LoginRefused(
            _(
                "That is not your password. After %(n)s wrong passwords in a row (here or at "
                "login) the account is locked for %(minutes)s minutes.",
                n=current_app.config["PBFLOW_LOGIN_MAX_FAILURES"],
                minutes=current_app.config["PBFLOW_LOGIN_LOCK_MINUTES"],
            ),
            field_errors={"confirm_password": _("is not your password")},
        )
    user.failed_logins = 0
    user.locked_until = None
    security_log.record("password_confirmed", user, payload={"for": purpose})
    _commit()


def change_own_password(user: User, current: str, new: str, confirm: str) -> None:
    """A user changes their own password; the current one must be given.

    A wrong current password counts toward the same lockout as a failed login, and a locked
    account cannot change its password. Success ends every session of the account (the page
    logs the user in again in the browser they used).
    """
    errors = {}
    if len(new or "") < MIN_PASSWORD:
        errors["new"] = _("must be at least %(n)s characters", n=MIN_PASSWORD)
    elif new != confirm:
        errors["confirm"] = _("does not match the new password")
    attempt = _claim_attempt(user)
    if attempt is None:
        security_log.record("password_change_failed", user, payload={"reason": "locked"})
        _commit()
        raise NotAllowed(_locked_message())
    if not check_password_hash(user.password_hash, current or ""):
        _record_failure(user, attempt, "password_change_failed", "wrong current password")
        errors["current"] = _("is not your current password")
        raise ValidationFailed(_("Some fields need correcting."), field_errors=errors)
    # The right current password clears the count, as a successful login does.
    user.failed_logins = 0
    user.locked_until = None
    if errors:
        _commit()
        raise ValidationFailed(_("Some fields need correcting."), field_errors=errors)
    user.password_hash = hash_password(new)
    _end_sessions(user)
    security_log.record("password_changed", user, payload={"own": True, "sessions_ended": True})
    # In the audit trail too, which seals the account's password (audit verify names a
    # password hash replaced with SQL); the security log keeps the login side of it.
    audit.record(
        "password_changed",
        actor=user,
        payload={
            "user_id": user.id,
            "own": True,
            audit.CREDENTIAL_DIGEST: audit.credential_digest(user.password_hash),
        },
    )
    _commit()


def set_locale(user: User, locale: str | None) -> None:
    """The user's page language; None follows the browser. Recorded in the security log."""
    from pbflow.config import LOCALES

    locale = locale or None
    if locale is not None and locale not in LOCALES:
        raise ValidationFailed(
            _("Some fields need correcting."),
            field_errors={"locale": _("is not one of the choices")},
        )
    if user.locale == locale:
        return
    security_log.record(
        "user_locale_changed", user, payload={"before": user.locale, "after": locale}
    )
    user.locale = locale
    _commit()


# local part: printable, no space, quote, bracket or separator; a dotted host name.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(rf"^[^@\s<>,;\"'\x00-\x1f]{{1,64}}@{_LABEL}(?:\.{_LABEL})+$")


def set_email_preferences(user: User, email: str | None, mode: str) -> None:
    """The user's address and whether notifications reach it: ``off``, ``immediate`` (each
    one) or ``daily`` (one digest a day). Recorded in the security log, like the language."""
    from pbflow.models.people import EMAIL_MODES

    email = (email or "").strip() or None
    errors = {}
    if email is not None and (len(email) > 254 or not _EMAIL.match(email)):
        errors["email"] = _("is not an e-mail address")
    if mode not in EMAIL_MODES:
        errors["email_mode"] = _("is not one of the choices")
    elif mode != "off" and email is None and "email" not in errors:
        errors["email"] = _("give the address to send to")
    if errors:
        raise ValidationFailed(_("Some fields need correcting."), field_errors=errors)
    if (user.email, user.email_mode) == (email, mode):
        return
    security_log.record(
        "user_email_changed",
        user,
        payload={
            "before": {"email": user.email, "mode": user.email_mode},
            "after": {"email": email, "mode": mode},
        },
    )
    user.email, user.email_mode = email, mode
    _commit()
