"""The public opinion box (no login needed) and the branch's opinion book.

Public pages: ``/opinions/`` (pick the organization), ``/opinions/<org code>`` (its box),
``/opinions/track`` (follow an opinion with its tracking code). The code travels only in
form posts, never in a URL or the session, and these pages are sent with ``no-store`` so
the slip is not kept in caches. The organization's own steps are taken on the generic case
page; the book (``/opinions/<org code>/book``, printable, and ``book.csv``) is for those who
may read the organization.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, render_template, request
from flask_babel import get_locale
from flask_login import current_user, login_required

from pbflow.engine.errors import DomainError, NotAllowed, NotFound
from pbflow.procedures.opinion_box import services as opinions
from pbflow.services import exports, pagination
from pbflow.web.cases import parse_fields, parse_version

bp = Blueprint("opinions", __name__, url_prefix="/opinions")


def _locale() -> str:
    return str(get_locale() or "zh")


def _user() -> Any:
    return current_user._get_current_object() if current_user.is_authenticated else None


def _private(body: str, status: int = 200) -> Response:
    """Pages that show a tracking code or a followed opinion: kept out of caches and out of
    the Referer header of any link followed from them."""
    response = Response(body, status=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _submit_page(org, *, status=200, raw=None, errors=None, message=None, chosen=None):
    default = {"anonymous": ["1"]} if not current_user.is_authenticated else {}
    return _private(
        render_template(
            "opinion_box/submit.html",
            org=org,
            orgs=opinions.public_orgs() if org is None else [],
            chosen=chosen,
            fields=opinions.form_fields(),
            values=raw if raw is not None else default,
            errors=errors or {},
            message=message,
            honeypot=opinions.HONEYPOT,
        ),
        status,
    )


def _submit(org_code: str | None, org):
    values, raw = parse_fields(request.form)
    values[opinions.HONEYPOT] = request.form.get(opinions.HONEYPOT, "")
    try:
        slip = opinions.submit(
            org_code or "", values, user=_user(), client=request.remote_addr or ""
        )
    except DomainError as exc:
        if org is None and isinstance(exc, NotFound):
            exc.field_errors = {**(exc.field_errors or {}), "org": exc.message}
        return _submit_page(
            org,
            status=exc.status,
            raw=raw,
            errors=exc.field_errors,
            message=exc.message,
            chosen=org_code,
        )
    return _private(render_template("opinion_box/slip.html", slip=slip))


@bp.route("/", methods=["GET", "POST"])
def index():
    """The general box: the submitter picks a branch or the party committee."""
    if request.method == "POST":
        return _submit(request.form.get("org"), None)
    return _submit_page(None, chosen=request.args.get("org"))


@bp.route("/track", methods=["GET", "POST"])
def track():
    if request.method == "GET":
        return _private(render_template("opinion_box/track.html", message=None))
    code = request.form.get("code", "")
    try:
        seen = opinions.follow(code, user=_user(), client=request.remote_addr or "")
    except DomainError as exc:
        page = render_template("opinion_box/track.html", message=exc.message, code=code)
        return _private(page, exc.status)
    return _private(render_template("opinion_box/follow.html", o=seen, code=code, done=None))


@bp.post("/track/<trigger>")
def act(trigger: str):
    code = request.form.get("code", "")
    values, raw = parse_fields(request.form)
    user, client = _user(), request.remote_addr or ""
    try:
        seen = opinions.act(
            code,
            trigger,
            values,
            expected_version=parse_version(request.form),
            user=user,
            client=client,
        )
    except (NotFound, opinions.RateLimited) as exc:  # the code itself was not accepted
        page = render_template("opinion_box/track.html", message=exc.message, code=code)
        return _private(page, exc.status)
    except DomainError as exc:
        seen = opinions.follow(code, user=user, client=client)
        refused = {
            "form": trigger,
            "values": raw,
            "errors": exc.field_errors,
            "message": exc.message,
        }
        page = render_template("opinion_box/follow.html", o=seen, code=code, refused=refused)
        return _private(page, exc.status)
    return _private(render_template("opinion_box/follow.html", o=seen, code=code, done=trigger))


def _book(org_code: str, *, whole: bool = False):
    try:
        period = (request.args.get("from"), request.args.get("to"))
        if whole:  # the exports: every entry of the period
            return opinions.book(org_code, period, viewer=_user(), page_size=None)
        after = pagination.parse_cursor(request.args.get("after"))
        return opinions.book(org_code, period, viewer=_user(), after=after)
    except NotFound:
        abort(404)
    except NotAllowed:
        abort(403)


@bp.get("/<org_code>/book")
@login_required
def book(org_code: str):
    """The opinion book with its figures; printable (the print style hides the controls)."""
    try:
        b = _book(org_code)
    except DomainError as exc:
        return render_template("opinion_box/book.html", b=None, message=exc.message), exc.status
    return render_template("opinion_box/book.html", b=b, message=None)


@bp.get("/<org_code>/book.<any(csv, xlsx):fmt>")
@login_required
def book_export(org_code: str, fmt: str):
    """The book as CSV or as an Excel workbook: the same rows, rights and period as the page."""
    try:
        b = _book(org_code, whole=True)
    except DomainError as exc:
        abort(exc.status)
    return exports.send(opinions.book_table(b, _locale()), fmt)


@bp.route("/<org_code>", methods=["GET", "POST"])
def box(org_code: str):
    """One organization's opinion box."""
    try:
        org = opinions.public_org(org_code)
    except NotFound:
        abort(404)
    if request.method == "POST":
        return _submit(org.code, org)
    return _submit_page(org)
