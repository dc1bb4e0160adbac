"""My account: page language and password.

The language is chosen, in order, by ``?lang=`` (remembered in a cookie from then on), the
cookie, the user's saved choice, then the browser (see ``pbflow.select_locale``).
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import refresh
from flask_login import current_user, login_required, login_user

from pbflow.config import LOCALES
from pbflow.engine.errors import DomainError
from pbflow.services import accounts

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
    # The change ended every session of the account; this browser goes on under the new token.
    login_user(_me())
    flash(_("Your password was changed."), "info")
    return redirect(url_for("account.index"))
