"""Administration of what an office may change: the working-day calendar and the workflow
settings of each organization. Committee members may read; the service functions decide who
may change what (and audit it)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from pbflow import clock
from pbflow.engine.errors import DomainError, NotFound
from pbflow.models import User
from pbflow.services import settings as settings_service
from pbflow.services import workcalendar
from pbflow.web.access import admin_or_committee_required, admin_required, password_confirmed

bp = Blueprint("config", __name__, url_prefix="/admin")


def _me() -> User:
    return current_user._get_current_object()


def _locale() -> str:
    return str(get_locale() or "zh")


def _refused(exc: DomainError) -> dict[str, Any]:
    flash(exc.message, "error")
    return {"errors": exc.field_errors, "form": request.form}


# --- the working-day calendar ----------------------------------------------------------------


def _year_arg() -> int:
    raw = request.args.get("year", "")
    if raw.isdigit() and len(raw) == 4 and int(raw) in workcalendar.YEARS:
        return int(raw)
    if raw:
        abort(404)
    return clock.today().year


def _render_calendar(year: int, status: int = 200, **ctx: Any):
    ctx.setdefault("errors", {})
    ctx.setdefault("form", {})
    view = workcalendar.year_view(_me(), year, _locale())
    return render_template("admin/calendar.html", v=view, section="calendar", **ctx), status


@bp.get("/calendar")
@admin_or_committee_required
def calendar():
    return _render_calendar(_year_arg())


@bp.post("/calendar/days")
@admin_required
def calendar_set_day():
    form = request.form
    year = _year_arg()
    try:
        day = workcalendar.set_day(
            _me(), form.get("day", ""), form.get("working") == "1", form.get("name", "")
        )
    except DomainError as exc:
        return _render_calendar(year, exc.status, **_refused(exc))
    flash(_("%(day)s saved.", day=day.day.isoformat()), "info")
    return redirect(url_for("config.calendar", year=day.day.year))


@bp.post("/calendar/days/<day>/unset")
@admin_required
def calendar_unset_day(day: str):
    year = _year_arg()
    try:
        workcalendar.unset_day(_me(), day)
    except NotFound:
        abort(404)
    except DomainError as exc:
        return _render_calendar(year, exc.status, **_refused(exc))
    flash(_("%(day)s follows the official calendar again.", day=day), "info")
    return redirect(url_for("config.calendar", year=year))


@bp.post("/calendar/years")
@admin_required
def calendar_year():
    form = request.form
    year = _year_arg()
    try:
        if form.get("entered") == "1":
            workcalendar.confirm_year(_me(), form.get("year", ""), form.get("note", ""))
            flash(_("The year is marked as entered."), "info")
        else:
            workcalendar.unconfirm_year(_me(), form.get("year", ""))
            flash(_("The year is no longer marked as entered."), "info")
    except DomainError as exc:
        return _render_calendar(year, exc.status, **_refused(exc))
    return redirect(url_for("config.calendar", year=year))


# --- workflow settings per organization ---------------------------------------------------------


def _org_arg() -> int | None:
    raw = request.values.get("org", "")
    return int(raw) if raw.isdigit() and len(raw) <= 12 else None


def _render_settings(org_id: int | None, status: int = 200, **ctx: Any):
    ctx.setdefault("errors", {})
    ctx.setdefault("form", {})
    try:
        view = settings_service.settings_page(_me(), org_id, _locale())
    except NotFound:
        abort(404)
    return render_template("admin/settings.html", v=view, section="settings", **ctx), status


@bp.get("/settings")
@admin_or_committee_required
def settings():
    return _render_settings(_org_arg())


@bp.post("/settings")
@admin_required
@password_confirmed(_l("change a workflow setting"))
def settings_change():
    form = request.form
    org_id = _org_arg()
    try:
        if form.get("unset") == "1":
            settings_service.unset(_me(), org_id, form.get("workflow", ""), form.get("name", ""))
            flash(_("The organization now follows the inherited value."), "info")
        else:
            settings_service.set_value(
                _me(), org_id, form.get("workflow", ""), form.get("name", ""), form.get("value")
            )
            flash(_("Saved. Steps taken from now on use the new value."), "info")
    except NotFound:
        abort(404)
    except DomainError as exc:
        return _render_settings(org_id, exc.status, **_refused(exc))
    return redirect(url_for("config.settings", org=org_id))
