"""Satisfaction survey pages: answering with a one-time code (no login; the code only in
POST bodies; left out of the access log), and the committee's pages to run a survey, see
its codes once and read its rates."""

from __future__ import annotations

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from pbflow import clock, validation
from pbflow.engine import actors
from pbflow.engine.errors import DomainError, NotFound, ValidationFailed
from pbflow.engine.fields import parse_date
from pbflow.procedures.satisfaction import services

bp = Blueprint("satisfaction", __name__, url_prefix="/survey")


def _private(body: str, status: int = 200) -> Response:
    response = Response(body, status=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _org_name(org_id: int) -> str:
    from flask_babel import get_locale

    node = actors.org_index().get(org_id)
    if node is None:
        return ""
    return node.name_en if str(get_locale() or "zh") == "en" and node.name_en else node.name


@bp.route("/", methods=["GET", "POST"])
def answer():
    """Enter a code (POST), then answer the questions it opens (POST with the ratings)."""
    if request.method == "GET":
        return _private(render_template("satisfaction/code.html", message=None))
    code = str(request.form.get("code") or "")[:64]
    client = request.remote_addr or ""
    if request.form.get("answer") == "1":
        ratings = {k[7:]: v for k, v in request.form.items() if k.startswith("rating_")}
        try:
            services.answer(code, ratings, client)
        except ValidationFailed as exc:
            try:
                slip = services.open_slip(code, client)
            except DomainError as again:
                return _private(
                    render_template("satisfaction/code.html", message=again.message), again.status
                )
            page = render_template(
                "satisfaction/questions.html",
                slip=slip,
                code=code,
                org_name=_org_name,
                message=exc.message,
                errors=exc.field_errors,
                chosen=ratings,
            )
            return _private(page, exc.status)
        except DomainError as exc:
            return _private(
                render_template("satisfaction/code.html", message=exc.message), exc.status
            )
        return _private(render_template("satisfaction/thanks.html"))
    try:
        slip = services.open_slip(code, client)
    except DomainError as exc:
        return _private(render_template("satisfaction/code.html", message=exc.message), exc.status)
    page = render_template(
        "satisfaction/questions.html",
        slip=slip,
        code=code,
        org_name=_org_name,
        message=None,
        errors={},
        chosen={},
    )
    return _private(page)


@bp.get("/manage")
@login_required
def manage():
    return render_template(
        "satisfaction/manage.html",
        surveys=services.surveys_of(current_user),
        committees=services.committees_of(current_user),
        org_name=_org_name,
        year=clock.today().year,
        errors={},
        message=None,
    )


def _int(name: str, low: int, high: int) -> int:
    value = validation.parse_int(str(request.form.get(name) or "").strip(), low=low, high=high)
    if value is None:
        raise ValidationFailed(
            _("Some fields need correcting."),
            field_errors={
                name: _("must be a whole number from %(low)s to %(high)s", low=low, high=high)
            },
        )
    return value


@bp.post("/manage")
@login_required
def create():
    try:
        committee = _int("committee", 1, validation.MAX_ID)
        try:
            closes = parse_date(str(request.form.get("closes_on") or "")[:20])
        except (TypeError, ValueError):
            raise ValidationFailed(
                _("Some fields need correcting."),
                field_errors={"closes_on": _("must be a date like 2026-03-01")},
            ) from None
        if not validation.year_ok(closes):
            raise ValidationFailed(
                _("Some fields need correcting."), field_errors={"closes_on": _("out of range")}
            )
        made = services.create(
            current_user,
            committee,
            title=request.form.get("title"),
            year=_int("year", validation.MIN_YEAR, validation.MAX_YEAR),
            quarter=_int("quarter", 0, 4),
            sample_size=_int("sample_size", 1, 500),
            min_count=_int("min_count", 1, 100),
            closes_on=closes,
        )
    except DomainError as exc:
        if isinstance(exc, NotFound):
            abort(404)
        page = render_template(
            "satisfaction/manage.html",
            surveys=services.surveys_of(current_user),
            committees=services.committees_of(current_user),
            org_name=_org_name,
            year=clock.today().year,
            errors=exc.field_errors,
            message=exc.message,
        )
        return page, exc.status
    # The codes are shown this once: they are kept nowhere in clear.
    page = render_template("satisfaction/codes.html", made=made, org_name=_org_name)
    return _private(page)


@bp.get("/manage/<int:survey_id>")
@login_required
def show(survey_id: int):
    try:
        view = services.get(current_user, survey_id)
    except NotFound:
        abort(404)
    return render_template("satisfaction/show.html", v=view, org_name=_org_name)


@bp.get("/manage/<int:survey_id>/recheck")
@login_required
def recheck(survey_id: int):
    try:
        services.get(current_user, survey_id)
        same = services.recheck(survey_id)
    except NotFound:
        abort(404)
    return redirect(url_for(".show", survey_id=survey_id, recheck="ok" if same else "differs"))
