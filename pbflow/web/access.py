"""Access decorators, so a route's rights are visible on its first line (CTFd style).

    @bp.route("/admin/people")
    @roles_required("admin", "committee")
    def people(): ...

A visitor who is not logged in is sent to the login page (Flask-Login's ``login_required``);
a logged-in user who holds none of the roles, at any organization, gets a 403 page. These
decorators only answer "may this user open this kind of page at all"; which organizations'
data a page shows is still decided per record with ``engine.actors`` (``can_read_org``,
``readable_org_ids``) or :func:`require_org_read`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort
from flask_login import current_user, login_required

from pbflow.engine import actors
from pbflow.models.people import ROLES


def held_roles(user: Any = None) -> frozenset[str]:
    """Role names the user holds anywhere (cached per request through ``actors.roles_of``)."""
    user = current_user if user is None else user
    if not getattr(user, "is_authenticated", False):
        return frozenset()
    return frozenset(role for _org, role in actors.roles_of(user.id))


def has_any_role(*roles: str, user: Any = None) -> bool:
    """True when the (current) user holds at least one of ``roles`` at some organization."""
    return bool(held_roles(user) & set(roles))


def roles_required(*roles: str) -> Callable:
    """Route decorator: login required, and at least one of ``roles`` held somewhere."""
    unknown = set(roles) - set(ROLES)
    if not roles or unknown:
        # A typo here would silently lock everybody out (or in): fail at import time instead.
        raise ValueError(f"roles_required: unknown roles {sorted(unknown) or 'none given'}")

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not has_any_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        wrapper.required_roles = frozenset(roles)  # type: ignore[attr-defined]
        return login_required(wrapper)

    return decorator


admin_required = roles_required("admin")
"""Changes to organizations, people, users and roles."""

admin_or_committee_required = roles_required("admin", "committee")
"""Reading the administration pages: committee members may look, admins may change."""

auditor_required = roles_required("auditor", "admin")
"""The audit trail pages: search, verify, export."""


def require_org_read(org_id: int) -> None:
    """Abort with 403 unless the current user may read this organization's data."""
    if not current_user.is_authenticated or not actors.can_read_org(current_user, org_id):
        abort(403)
