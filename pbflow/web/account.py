"""My account: page language, e-mail and password; confirming the password again.

The language is chosen, in order, by ``?lang=`` (remembered in a cookie from then on), the
cookie, the user's saved choice, then the browser (see ``pbflow.select_locale``).
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import refresh
from flask_login import current_user, login_required, login_user

from pbflow.config import LOCALES
from pbflow.engine.errors import DomainError
from pbflow.services import accounts
from pbflow.web.access import (
    note_password_entered,
    password_confirmed,
    render_confirm_page,
)
from pbflow.web.auth import safe_next

bp = Blueprint("account", __name__, url_prefix="/account")

LANG_COOKIE = "pbflow_lang"
LANG_COOKIE_AGE = 365 * 24 * 3600


@bp.before_app_request
def choose_locale_per_request() -> None:
    """Choose the language anew for each request.

    Flask-Babel caches the choice on ``g``, which lives as long as the application context;
    where one context serves several requests (the test client inside an app context, a
    worker reusing a context) the first request's language would otherwise stick.
    """
    refresh()


@bp.after_app_request
def remember_lang(response):
    """A ``?lang=`` switch sticks for the following pages, not only this one."""
    chosen = request.args.get("lang")
    if chosen in LOCALES and request.cookies.get(LANG_COOKIE) != chosen:
        response.set_cookie(
            LANG_COOKIE, chosen, max_age=LANG_COOKIE_AGE, httponly=True, samesite="Lax"
        )
    return response


def _me():
    return current_user._get_current_object()


def _render(status: int = 200, errors=None, form=None):
    return (
        render_template(
            "account/index.html", locales=LOCALES, errors=errors or {}, form=form or {}
        ),
        status,
    )


@bp.route("/")
@login_required
def index():
    return _render()


@bp.route("/language", methods=["POST"])
@login_required
def language():
    choice = request.form.get("locale", "")
    try:
        accounts.set_locale(_me(), choice or None)
    except DomainError as exc:
        flash(exc.message, "error")
        return _render(exc.status, exc.field_errors, request.form)
    refresh()
    response = redirect(url_for("account.index"))
    # The saved choice wins over an older ?lang= cookie; "browser" clears it.
    if choice:
        response.set_cookie(
            LANG_COOKIE, choice, max_age=LANG_COOKIE_AGE, httponly=True, samesite="Lax"
        )
    else:
        response.delete_cookie(LANG_COOKIE)
    flash(_("Language saved."), "info")
    return response


@bp.route("/email", methods=["POST"])
@login_required
@password_confirmed(_l("send your notifications to an e-mail address"))
def email():
    form = request.form
    try:
        accounts.set_email_preferences(_me(), form.get("email", ""), form.get("email_mode", ""))
    except DomainError as exc:
        flash(exc.message, "error")
        return _render(exc.status, exc.field_errors, form)
    flash(_("E-mail settings saved."), "info")
    return redirect(url_for("account.index"))


@bp.route("/password", methods=["POST"])
@login_required
def password():
    form = request.form
    try:
        accounts.change_own_password(
            _me(), form.get("current", ""), form.get("new", ""), form.get("confirm", "")
        )
    except DomainError as exc:
        flash(exc.message, "error")
        # Passwords are never echoed back into the page.
        return _render(exc.status, exc.field_errors)
    # The change ended every session of the account; this browser goes on under the new token,
    # its password just entered.
    login_user(_me())
    note_password_entered()
    flash(_("Your password was changed."), "info")
    return redirect(url_for("account.index"))


@bp.route("/confirm")
@login_required
def confirm():
    """Confirm the password ahead, for what asks for it without a page of its own to ask on
    (the JSON API's session path): ``next`` is where to go on to."""
    return _render_confirm(200)


def _render_confirm(status: int, errors=None):
    target = url_for("account.confirm", next=safe_next(request.args.get("next")))
    return render_confirm_page(status, target=target, errors=errors, carry=False)


@bp.route("/confirm", methods=["POST"])
@login_required
def confirm_post():
    try:
        accounts.confirm_password(
            _me(), request.form.get("confirm_password", ""), purpose="account.confirm"
        )
    except DomainError as exc:
        flash(exc.message, "error")
        return _render_confirm(exc.status, exc.field_errors)
    note_password_entered()
    flash(_("Password confirmed."), "info")
    return redirect(safe_next(request.args.get("next")))
