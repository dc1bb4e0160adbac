"""Login and logout; the lockout rules live in services.accounts."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_from_directory,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from pbflow.services import accounts
from pbflow.web.access import PASSWORD_AT, note_password_entered

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=80)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])


def safe_next(target: str | None) -> str:
    """Only same-site paths: never redirect a fresh login to another host.

    Browsers read a backslash as a slash and drop tabs and newlines, so "/\\host" or
    "/<tab>/host" would lead away too: any of those refuses the target.
    """
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and target.isprintable()
        and not urlsplit(target).netloc
    ):
        return target
    return url_for("home.index")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = accounts.authenticate(form.username.data, form.password.data)
        except accounts.LoginRefused as exc:
            flash(exc.message, "error")
            status = 401
        else:
            login_user(user)
            note_password_entered(user)
            return redirect(safe_next(request.args.get("next")))
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    accounts.record_logout(current_user._get_current_object())
    logout_user()
    session.pop(PASSWORD_AT, None)
    flash(_("You have logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.app_template_global()
def lang_switch_url(lang: str) -> str:
    """This page in the other language: the same path and query string with ``lang`` set.

    A page shown in answer to a form (a POST) is switched on the same address when it can be
    read with GET (its query string, such as ``?org=3``, kept), otherwise on the page the form
    was sent from; what was typed is carried over by pbflow.js (sessionStorage).
    """
    args = [(k, v) for k, v in request.args.items(multi=True) if k != "lang"]
    path = request.path
    rule = request.url_rule
    if request.method != "GET" and (rule is None or "GET" not in (rule.methods or ())):
        back = urlsplit(request.referrer or "")
        if back.netloc == request.host and safe_next(back.path) == back.path:
            path = back.path
            args = [(k, v) for k, v in parse_qsl(back.query, keep_blank_values=True) if k != "lang"]
        else:
            path, args = url_for("home.index"), []
    return f"{path}?{urlencode(args + [('lang', lang)])}"


@bp.get("/favicon.ico")
def favicon():
    """Browsers ask for it on their own, page or not: answer instead of a 404."""
    return send_from_directory(
        current_app.static_folder or "", "favicon.ico", mimetype="image/vnd.microsoft.icon"
    )
