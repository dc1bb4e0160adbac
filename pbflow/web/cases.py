"""Case pages: the list, the case page with its forms, starting a case, files.

Each view parses the request, calls one service function and renders. A refused form is shown
again with what the user typed, the reason and the field errors, with the engine's status
(403, 409, 422); a stale form (409, "changed meanwhile") also lists what happened since.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required
from markupsafe import Markup, escape
from werkzeug.datastructures import MultiDict

from pbflow import clock, validation
from pbflow.engine.errors import ConcurrentChange, DomainError, NotFound
from pbflow.services import attachments, cases, comments, exports, procedure_view
from pbflow.services.attachments import Upload
from pbflow.web.template_gettext import gettext

bp = Blueprint("cases", __name__)
FIELD_PREFIX = "f."


def locale() -> str:
    return str(get_locale() or "zh")


def parse_fields(form: MultiDict) -> tuple[dict[str, Any], dict[str, Any]]:
    """Workflow field values from a form (inputs named ``f.<field>``), and the raw text to
    show again. A field sent several times (checkboxes, multi-selects) becomes a list; the
    engine's field types accept both. A per-person field's lines (``f.<field>.<person id>``)
    go to the engine one by one, which gathers them, and are shown again as one mapping."""
    values: dict[str, Any] = {}
    raw: dict[str, Any] = {}
    for key in form:
        if key.startswith(FIELD_PREFIX):
            items = form.getlist(key)
            name = key[len(FIELD_PREFIX) :]
            values[name] = items if len(items) > 1 else items[0]
            field, dot, who = name.partition(".")
            if dot and isinstance(raw.setdefault(field, {}), dict):
                raw[field][who] = items[0]
            else:
                raw[name] = items
    return values, raw


def parse_uploads(files: MultiDict) -> dict[str, Upload]:
    return {
        key[len(FIELD_PREFIX) :]: Upload(fs.filename or "", fs.stream)
        for key, fs in files.items()
        if key.startswith(FIELD_PREFIX) and fs and fs.filename
    }


def parse_version(form: MultiDict) -> int | None:
    return validation.parse_id(form.get("version"))


@bp.app_template_filter("due_date")
def due_date(value: datetime | None, tz: ZoneInfo | None = None) -> str:
    """The last local day of a time limit: limits end when their day is over, so a due time
    of local midnight belongs to the day before (``tz``: the local zone, when looked up
    once for many)."""
    if value is None:
        return ""
    return clock.to_local(value - timedelta(seconds=1), tz).strftime("%Y-%m-%d")


@bp.app_template_global()
def due_badge(at: datetime | None, is_overdue: bool = False) -> Markup:
    """A time limit's last day as a badge (``badges.due``): a function, as the inbox shows a
    hundred of them and a macro with its two translations cost a tenth of the page. The
    translations are trusted markup and the day is escaped, as the templates' ``_()`` does."""
    return due_badges()(at, is_overdue)


def due_badges() -> Callable[[datetime | None, bool], Markup]:
    """``due_badge`` for many rows: the translations and the time zone looked up once, not
    per badge (a hundred badges looked them up two hundred times, a third of their cost)."""
    title = gettext("until the end of %(date)s")
    text = gettext("due %(date)s")
    tz = clock.local_tz()

    def badge(at: datetime | None, is_overdue: bool = False) -> Markup:
        if not at:
            return Markup("")
        day = escape(due_date(at, tz))
        late = " late" if is_overdue else ""
        dated = {"date": day}
        return Markup(f'<span class="due{late}" title="{title % dated}">{text % dated}</span>')

    return badge


@bp.app_template_global()
def as_strings(value: Any) -> list[str] | dict[str, str]:
    """A field value as the list of strings a form input compares against (a per-person
    field's: its lines by person id)."""
    if value is None:
        return []
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, bool):
        return ["1"] if value else []
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return [str(value)]


def _render_case(case_id: int, *, status: int = 200, submitted: dict | None = None, stale=None):
    try:
        view = cases.case_page(current_user, case_id, locale())
    except NotFound:
        abort(404)
    shown = {
        "form": None,
        "values": {},
        "errors": {},
        "message": None,
        "comment": None,
        "available_from": None,
        **(submitted or {}),
    }
    return render_template("cases/show.html", v=view, submitted=shown, stale=stale), status


def _refused(case_id: int, form_id: str, exc: DomainError, raw: dict, **extra: Any):
    if isinstance(exc, NotFound):
        abort(404)
    submitted = {
        "form": form_id,
        "values": raw,
        "errors": exc.field_errors,
        "message": exc.message,
        "available_from": exc.available_from,
        **extra,
    }
    return _render_case(case_id, status=exc.status, submitted=submitted)


@bp.get("/cases/<int:case_id>")
@login_required
def show(case_id: int):
    return _render_case(case_id)


@bp.post("/cases/<int:case_id>/steps/<trigger>")
@login_required
def step(case_id: int, trigger: str):
    values, raw = parse_fields(request.form)
    uploads = parse_uploads(request.files)
    raw.update({name: [u.filename] for name, u in uploads.items()})
    version = parse_version(request.form)
    comment = request.form.get("comment")
    try:
        outcome = cases.take_step(
            current_user,
            case_id,
            trigger,
            values,
            uploads=uploads,
            expected_version=version,
            comment=comment,
        )
    except ConcurrentChange as exc:
        stale = cases.changes_since(current_user, case_id, version or 1, locale())
        return _render_case(
            case_id,
            status=409,
            submitted={
                "form": f"step:{trigger}",
                "values": raw,
                "comment": comment,
                "errors": {},
                "message": exc.message,
            },
            stale=stale,
        )
    except DomainError as exc:
        return _refused(case_id, f"step:{trigger}", exc, raw, comment=comment)
    flash(procedure_view.after_step(case_id, trigger, outcome.state, locale()), "success")
    return redirect(url_for(".show", case_id=case_id))


@bp.post("/cases/<int:case_id>/ballot")
@login_required
def ballot(case_id: int):
    choice = request.form.get("choice")
    try:
        outcome = cases.cast_ballot(current_user, case_id, choice)
    except DomainError as exc:
        return _refused(case_id, "ballot", exc, {"choice": [choice or ""]})
    flash(
        _("Your ballot is recorded.")
        if outcome is None
        else _("Your ballot is recorded; it decided the vote: %(outcome)s.", outcome=_(outcome)),
        "success",
    )
    return redirect(url_for(".show", case_id=case_id))


@bp.post("/cases/<int:case_id>/resolution")
@login_required
def resolution(case_id: int):
    raw = {k: [v] for k, v in request.form.items() if k != "csrf_token"}
    minutes = request.files.get("minutes")
    try:
        outcome = cases.record_resolution(
            current_user,
            case_id,
            request.form,
            Upload(minutes.filename or "", minutes.stream)
            if minutes and minutes.filename
            else None,
            expected_version=parse_version(request.form),
        )
    except DomainError as exc:
        return _refused(case_id, "resolution", exc, raw)
    flash(_("The resolution is recorded: %(outcome)s.", outcome=_(outcome)), "success")
    return redirect(url_for(".show", case_id=case_id))


@bp.post("/cases/<int:case_id>/comments")
@login_required
def comment(case_id: int):
    body = request.form.get("body")
    try:
        comments.add_comment(current_user, case_id, body)
    except DomainError as exc:
        return _refused(case_id, "comment", exc, {"body": [body or ""]})
    flash(_("Your comment is added."), "success")
    return redirect(url_for(".show", case_id=case_id) + "#comments")


@bp.post("/cases/<int:case_id>/attachments")
@login_required
def upload(case_id: int):
    fs = request.files.get("file")
    try:
        attachments.attach_to_case(
            current_user, case_id, Upload(fs.filename if fs else "", fs.stream if fs else None)
        )
    except DomainError as exc:
        return _refused(case_id, "upload", exc, {})
    flash(_("The file is attached."), "success")
    return redirect(url_for(".show", case_id=case_id) + "#attachments")


@bp.get("/attachments/<int:attachment_id>")
@login_required
def download(attachment_id: int):
    try:
        found = attachments.open_download(current_user, attachment_id)
    except NotFound:
        abort(404)
    return send_file(
        found.path,
        mimetype=found.attachment.content_type,
        as_attachment=not found.inline,
        download_name=found.attachment.filename,
        conditional=True,
        etag=found.attachment.sha256,
    )


@bp.get("/cases")
@login_required
def index():
    """The case list; with ``format=csv`` or ``xlsx``, every case its filters select."""
    filters, errors = cases.CaseFilters.parse(request.args)
    fmt = request.args.get("format")
    if fmt in exports.FORMATS:
        return exports.send(cases.export_table(current_user, filters, locale()), fmt)
    result = cases.search(current_user, filters, locale())
    return render_template(
        "cases/list.html",
        result=result,
        errors=errors,
        choices=cases.filter_choices(current_user, locale()),
    )


def _start_form(option, org_id: int, *, status=200, raw=None, errors=None, message=None):
    return render_template(
        "cases/start.html",
        option=option,
        org_id=org_id,
        raw=raw or {},
        errors=errors or {},
        message=message,
        accept=attachments.accept_attribute(),
        pickers=cases.picker_options(org_id, {f.type for f in option.definition.start_fields}),
    ), status


def _option(workflow: str | None):
    # The user itself, not the request's proxy to it: the rules are asked of it for every
    # workflow and organization (900 times for a committee secretary), each attribute read
    # through the proxy a lookup of its own (a third of the page's CPU).
    options = cases.start_options(current_user._get_current_object())
    chosen = next((o for o in options if o.definition.id == workflow), None)
    return options, chosen


@bp.route("/cases/new", methods=["GET", "POST"])
@login_required
def new():
    workflow = request.values.get("workflow")
    raw_org = request.values.get("org") or ""
    options, chosen = _option(workflow)
    org_id = validation.parse_id(raw_org)
    if chosen is None or org_id is None or org_id not in {n.id for n in chosen.orgs}:
        if request.method == "POST":
            abort(403)
        return render_template("cases/new.html", options=options, chosen=chosen)
    if request.method == "GET":
        return _start_form(chosen, org_id)
    values, raw = parse_fields(request.form)
    uploads = parse_uploads(request.files)
    raw.update({name: [u.filename] for name, u in uploads.items()})
    try:
        case = cases.start_case(current_user, chosen.definition.id, org_id, values, uploads=uploads)
    except DomainError as exc:
        return _start_form(
            chosen,
            org_id,
            status=exc.status,
            raw=raw,
            errors=exc.field_errors,
            message=exc.message,
        )
    flash(_("The case is started."), "success")
    return redirect(url_for(".show", case_id=case.id))
