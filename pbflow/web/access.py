"""Access decorators, so a route's rights are visible on its first line (CTFd style).

    @bp.route("/admin/people")
    @roles_required("admin", "committee")
    def people(): ...

A visitor who is not logged in is sent to the login page (Flask-Login's ``login_required``);
a logged-in user who holds none of the roles, at any organization, gets a 403 page. These
decorators only answer "may this user open this kind of page at all"; which organizations'
data a page shows is still decided per record with ``engine.actors`` (``can_read_org``,
``readable_org_ids``) or :func:`require_org_read`.

:func:`password_confirmed` marks the sensitive actions, those a stolen session or a computer
left logged in must not be enough for: they ask for the password again when it was not
entered in the last ``PBFLOW_REAUTH_MINUTES`` (GitHub's "sudo mode").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import abort, current_app, flash, render_template, request, session, url_for
from flask_babel import ngettext
from flask_login import current_user, login_required

from pbflow import audit
from pbflow.engine import actors
from pbflow.engine.errors import DomainError, NotAllowed
from pbflow.models.people import ROLES
from pbflow.services import accounts


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


# --- confirming the password again before a sensitive action ---------------------------------
#
# The sensitive actions, each marked with @password_confirmed on its view (tests/test_reauth.py
# lists them, and makes every administrator's change be counted in or out):
#
#   making an access token (own or another's; the page and the API's session path),
#   creating an account (it gets a password and its first role), resetting a password,
#   granting or revoking a role, deactivating or reactivating an account, unlocking one
#   (that lifts the lockout against guessing), changing a workflow setting (thresholds and
#   reviews are controls), and one's own e-mail address (notifications would go on reaching
#   it after the session is over).
#
# Not so: revoking a token (takes power away, must stay quick), organizations, people's
# records, the calendar, workflow steps, the language. Changing one's own password asks for
# the current one itself. The command line runs on the server and is not asked; a request
# with an API token is not either (a token cannot make tokens, the one thing here it could).

PASSWORD_AT = "pbflow_password_at"
"""Session key: ``{"user": id, "at": seconds}``, when this session last had the password."""

CONFIRM_FIELD = "confirm_password"


class PasswordNotConfirmed(NotAllowed):
    """The JSON API's session path asked for a sensitive action with a stale password."""


def note_password_entered(user: Any = None) -> None:
    """The password was just entered in this session (a login, a confirmation, a change)."""
    user = current_user if user is None else user
    session[PASSWORD_AT] = {"user": user.id, "at": accounts.password_entered_at()}


def password_recent() -> bool:
    """Did the logged-in user of this session enter their password within the window?"""
    held = session.get(PASSWORD_AT)
    if not isinstance(held, dict) or not current_user.is_authenticated:
        return False
    return held.get("user") == current_user.id and accounts.password_recent(held.get("at"))


def _needs_confirmation() -> bool:
    if request.method in ("GET", "HEAD", "OPTIONS") or not current_user.is_authenticated:
        return False
    if audit.acting_through() is not None:  # an API token: its own rules apply
        return False
    return not password_recent()


def form_page() -> str | None:
    """The page (path and query) the refused form was on, when this site's page sent its
    address along (the Referer, same-origin only): the "Form expired" page links back to it,
    to load the form afresh with a new token. None from anywhere else, or with no Referer
    (the opinion box's pages send none)."""
    referrer = urlsplit(request.headers.get("Referer") or "")
    if f"{referrer.scheme}://{referrer.netloc}" != request.host_url.rstrip("/"):
        return None
    path = referrer.path
    # A link must stay on this site: not "//host", nor a backslash browsers read as a slash.
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        return None
    return path + (f"?{referrer.query}" if referrer.query else "")


def _back_link() -> str:
    """Where "Cancel" leads: the page the form was on (same site only), else the start."""
    return form_page() or url_for("home.index")


def render_confirm_page(
    status: int,
    *,
    action: Any = None,
    target: str,
    retype: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
    carry: bool = True,
):
    """The page that asks for the password, posting to ``target``. With ``carry``, the refused
    form goes with it, every field in a hidden input but those of ``retype`` (passwords are
    never written into a page), which it asks for again. No sensitive form sends a file: a
    page could not carry one on."""
    retype = retype or {}
    carried = (
        [
            (name, value)
            for name, value in request.form.items(multi=True)
            if name not in ("csrf_token", CONFIRM_FIELD) and name not in retype
        ]
        if carry
        else []
    )
    return (
        render_template(
            "auth/confirm.html",
            action=action,
            target=target,
            carried=carried,
            retype=list(retype.items()),
            errors=errors or {},
            minutes=current_app.config["PBFLOW_REAUTH_MINUTES"],
            back=_back_link(),
        ),
        status,
    )


def password_confirmed(action: Any, *, retype: Mapping[str, Any] | None = None) -> Callable:
    """Route decorator (below the roles' one): a sensitive action. When this session's
    password is older than ``PBFLOW_REAUTH_MINUTES``, nothing is done: the page asks for the
    password (``action``, "make an access token", says what for) and sends the form on, all
    of it kept, with ``retype``'s password fields asked for again. The right password is the
    confirmation for the next minutes too; a wrong one counts toward the lockout and is in the
    security log (``accounts.confirm_password``). The JSON API's session path is refused with
    a 403 problem naming the page to confirm on."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if _needs_confirmation():
                if request.path.startswith("/api/"):
                    raise PasswordNotConfirmed(
                        ngettext(
                            "Confirm your password first (you have not entered it in the last "
                            "%(num)s minute): open %(url)s, then send this again.",
                            "Confirm your password first (you have not entered it in the last "
                            "%(num)s minutes): open %(url)s, then send this again.",
                            current_app.config["PBFLOW_REAUTH_MINUTES"],
                            url=url_for("account.confirm"),
                        ),
                        details={"confirm_url": url_for("account.confirm")},
                    )
                target = request.full_path if request.query_string else request.path
                page = {"action": action, "target": target, "retype": retype}
                given = request.form.get(CONFIRM_FIELD)
                if given is None:
                    return render_confirm_page(401, **page)
                try:
                    accounts.confirm_password(
                        current_user._get_current_object(), given, purpose=request.endpoint or ""
                    )
                except DomainError as exc:
                    flash(exc.message, "error")
                    return render_confirm_page(exc.status, errors=exc.field_errors, **page)
                note_password_entered()
            return view(*args, **kwargs)

        wrapper.confirms_password = action  # type: ignore[attr-defined]
        return wrapper

    return decorator
