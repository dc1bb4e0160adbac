"""Users, organizations and roles, and the login check with its lockout."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from pbflow import audit, clock
from pbflow.engine import actors
from pbflow.engine.errors import DomainError, NotAllowed, NotFound, ValidationFailed
from pbflow.extensions import db
from pbflow.models import Organization, RoleAssignment, User
from pbflow.models.org import ORG_KINDS
from pbflow.models.people import ROLES

# Checked against when the username is unknown, so a wrong name costs as long as a wrong
# password and response times do not reveal which accounts exist.
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


def authenticate(username: str, password: str) -> User:
    """The user for these credentials, or LoginRefused; failures count toward a lockout."""
    now = clock.now()
    user = db.session.execute(
        select(User).where(User.username == (username or "").strip())
    ).scalar()
    if user is None:
        check_password_hash(_DUMMY_HASH, password or "")
        audit.record(
            "login_failed",
            actor=audit.ANONYMOUS,
            payload={"username": (username or "")[:80], "reason": "unknown user"},
        )
        _commit()
        raise LoginRefused(_("Wrong username or password."))
    if user.locked_until and user.locked_until > now:
        audit.record("login_failed", actor=user, payload={"reason": "locked"})
        _commit()
        raise LoginRefused(
            _(
                "This account is locked after repeated failed logins. Try again "
                "later or ask an administrator to unlock it."
            )
        )
    if user.locked_until:
        # The lock has run out: the user starts again with a full set of attempts, so one
        # more slip is one failure, not an instant new lock.
        user.failed_logins = 0
        user.locked_until = None
    if not check_password_hash(user.password_hash, password or ""):
        user.failed_logins += 1
        payload = {"reason": "wrong password", "failures": user.failed_logins}
        limit = current_app.config["PBFLOW_LOGIN_MAX_FAILURES"]
        if user.failed_logins >= limit:
            user.locked_until = now + timedelta(
                minutes=current_app.config["PBFLOW_LOGIN_LOCK_MINUTES"]
            )
            payload["locked_until"] = user.locked_until
        audit.record("login_failed", actor=user, payload=payload)
        _commit()
        raise LoginRefused(_("Wrong username or password."))
    if not user.active:
        audit.record("login_failed", actor=user, payload={"reason": "deactivated"})
        _commit()
        raise LoginRefused(_("This account has been deactivated."))
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    audit.record("login", actor=user)
    _commit()
    return user


def record_logout(user: User) -> None:
    audit.record("logout", actor=user)
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


def create_user(
    username: str,
    display_name: str,
    password: str,
    *,
    actor=None,
    locale: str | None = None,
    commit: bool = True,
) -> User:
    username = (username or "").strip()
    errors = {}
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
    audit.record("user_created", actor=actor, payload={"user_id": user.id, "username": username})
    if commit:
        _commit()
    return user


def set_password(user: User, password: str, *, actor=None) -> None:
    _check_password(password)
    user.password_hash = hash_password(password)
    audit.record("password_changed", actor=actor, payload={"user_id": user.id})
    _commit()


def set_active(user: User, active: bool, *, actor=None) -> None:
    """Deactivate (or reactivate) an account; its history and roles stay for the record."""
    if not active and actor is not None and getattr(actor, "id", None) == user.id:
        raise DomainError(_("You cannot deactivate your own account."))
    user.active = active
    audit.record(
        "user_activated" if active else "user_deactivated",
        actor=actor,
        payload={"user_id": user.id, "username": user.username},
    )
    _commit()


def unlock(user: User, *, actor=None) -> None:
    user.failed_logins = 0
    user.locked_until = None
    audit.record("user_unlocked", actor=actor, payload={"user_id": user.id})
    _commit()


def grant_role(
    user: User, org: Organization, role: str, *, actor=None, commit: bool = True
) -> RoleAssignment:
    require_admin(actor, org.id)
    if role not in ROLES:
        raise ValidationFailed(
            _("Unknown role '%(role)s'.", role=role),
            field_errors={"role": _("is not one of the choices")},
        )
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
    if commit:
        _commit()
    return ra


def revoke_role(user: User, org: Organization, role: str, *, actor=None) -> None:
    require_admin(actor, org.id)
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


def rename_org(org: Organization, name: str, name_en: str | None = None, *, actor=None) -> bool:
    """Change an organization's names; the event keeps the old ones. False if unchanged."""
    require_admin(actor, org.id)
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
    audit.record(
        "org_activated" if active else "org_deactivated",
        actor=actor,
        org_id=org.id,
        payload={"code": org.code},
    )
    _commit()


def change_own_password(user: User, current: str, new: str, confirm: str) -> None:
    """A user changes their own password; the current one must be given."""
    errors = {}
    if not check_password_hash(user.password_hash, current or ""):
        errors["current"] = _("is not your current password")
    if len(new or "") < MIN_PASSWORD:
        errors["new"] = _("must be at least %(n)s characters", n=MIN_PASSWORD)
    elif new != confirm:
        errors["confirm"] = _("does not match the new password")
    if errors:
        raise ValidationFailed(_("Some fields need correcting."), field_errors=errors)
    user.password_hash = hash_password(new)
    audit.record("password_changed", actor=user, payload={"user_id": user.id, "own": True})
    _commit()


def set_locale(user: User, locale: str | None, *, actor=None) -> None:
    """The user's page language; None follows the browser."""
    from pbflow.config import LOCALES

    locale = locale or None
    if locale is not None and locale not in LOCALES:
        raise ValidationFailed(
            _("Some fields need correcting."),
            field_errors={"locale": _("is not one of the choices")},
        )
    if user.locale == locale:
        return
    audit.record(
        "user_locale_changed",
        actor=actor if actor is not None else user,
        payload={"user_id": user.id, "before": user.locale, "after": locale},
    )
    user.locale = locale
    _commit()
