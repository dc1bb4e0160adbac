"""Supervision pages: the dashboard, its exports, the rectification list, issuing a notice.

Each view parses the request, calls one service function and renders; a refusal is a clear
4xx page (or the form again, as typed, with the reason)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required

from pbflow.engine import actors
from pbflow.engine.errors import DomainError, NotAllowed, NotFound, ValidationFailed
from pbflow.engine.fields import parse_date
from pbflow.procedures.supervision import charts, notices, tables
from pbflow.procedures.supervision import rectification as rect
from pbflow.procedures.supervision.compliance import labels as obligation_labels
from pbflow.procedures.supervision.dashboard import TOP, branch_page, sections, tops
from pbflow.procedures.supervision.dashboard import dashboard as build_dashboard
from pbflow.procedures.supervision.membership import DIMENSIONS, SIZE_RULE, value_label
from pbflow.procedures.supervision.scope import (
    may_supervise,
    readable_roots,
    require_supervisor,
    resolve,
)
from pbflow.procedures.supervision.work import STUCK_DAYS
from pbflow.services import exports, periods
from pbflow.services.cases import picker_options
from pbflow.web.cases import parse_fields

bp = Blueprint("supervision", __name__, url_prefix="/supervision")
LIST_PAGE = 50  # rectification items a page (the next page follows the last one's position)


@bp.app_template_filter("num")
def num(value: float | int | None) -> str:
    return "—" if value is None else str(value)


def _locale() -> str:
    return str(get_locale() or "zh")


def _int_arg(name: str) -> int | None:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 9:
        raise ValidationFailed(
            _("Some fields need correcting."), field_errors={name: _("must be a whole number")}
        )
    return int(raw)


def _refusal(exc: DomainError, status: int | None = None):
    if isinstance(exc, NotFound):
        abort(404)
    return (
        render_template("supervision/refused.html", message=exc.message, errors=exc.field_errors),
        status or exc.status,
    )


def _dashboard(*, detail: bool = True, by_unit: bool = True):
    require_supervisor(current_user)
    stuck = _int_arg("stuck_days")
    stuck = STUCK_DAYS if stuck is None else stuck
    if not 1 <= stuck <= 3650:
        raise ValidationFailed(
            _("Some fields need correcting."),
            field_errors={"stuck_days": _("must be from 1 to 3650")},
        )
    period = periods.parse(request.args)
    return build_dashboard(
        current_user,
        _int_arg("org"),
        period,
        locale=_locale(),
        stuck_days=stuck,
        detail=detail,
        by_unit=by_unit,
    )


def _args(d, **changes: Any) -> dict[str, Any]:
    args = {"org": d.scope.org.id, **d.period.query_args()}
    if d.stuck_days != STUCK_DAYS:
        args["stuck_days"] = d.stuck_days
    args.update(changes)
    return args


def _section() -> str:
    """The section of the dashboard asked for (the overview when none is)."""
    chosen = request.args.get("section") or "overview"
    if chosen not in sections():
        raise ValidationFailed(
            _("Some fields need correcting."),
            field_errors={"section": _("is not one of the choices")},
        )
    return chosen


@bp.get("/")
@login_required
def dashboard():
    try:
        require_supervisor(current_user)  # whoever may not open the page is told so first
        section = _section()
        d = _dashboard(detail=False, by_unit=section != "overview")
        page = _int_arg("page")
    except DomainError as exc:
        return _refusal(exc)
    here = {} if section == "overview" else {"section": section}
    return render_template(
        "supervision/dashboard.html",
        d=d,
        section=section,
        sections=sections(),
        args=_args(d),  # the figures' choices (the exports take these)
        here=here,
        prev_args=_args(d, **d.period.shifted(-1).query_args(), **here),
        next_args=_args(d, **d.period.shifted(1).query_args(), **here),
        charts=charts.charts(d, section),
        orgs=[(n.id, n) for n in _choosable(d.scope.org.id)],
        may_issue=notices.may_issue,
        dimensions=DIMENSIONS,
        value_label=value_label,
        size_rule=SIZE_RULE,
        tops=tops(d, section),
        upcoming_limit=TOP,
        branches=branch_page(d, page)
        if section == "overview" and len(d.scope.branches) > 1
        else None,
        labels=obligation_labels(),
    )


CHOOSABLE_BELOW = 30  # organizations right below the chosen one offered in its list


def _choosable(org_id: int):
    """The organizations the reader may go to from ``org_id``'s page, in tree order: the
    highest ones they read, those above ``org_id`` up to them, it and the first ones right
    below it (a bounded list however large the tree; the tables link every branch)."""
    roots = {r.id for r in readable_roots(current_user)}
    index = actors.org_index()
    below = sorted(
        (n for n in index.values() if n.parent_id == org_id and n.kind != "party_group"),
        key=lambda n: n.path,
    )[:CHOOSABLE_BELOW]
    near = set(roots) | set(index[org_id].ancestor_ids()) | {n.id for n in below}
    return sorted(
        (
            index[o]
            for o in near
            if o in index
            and index[o].kind != "party_group"
            and any(a in roots for a in index[o].ancestor_ids())
        ),
        key=lambda n: n.path,
    )


@bp.get("/export/<table>.<fmt>")
@login_required
def export(table: str, fmt: str):
    """One table of the dashboard, with the same rights and the same choices as the page."""
    if table not in tables.TABLES or fmt not in exports.FORMATS:
        abort(404)
    try:
        d = _dashboard()
    except DomainError as exc:
        return _refusal(exc)
    found = tables.TABLES[table](d)
    if found is None:
        abort(404)
    return exports.send(found, fmt)


@bp.get("/rectification")
@login_required
def rectification():
    """Rectification items across the organization's tree, deadline first."""
    status = request.args.get("status") or "open"
    fmt = request.args.get("format")
    try:
        require_supervisor(current_user)
        if status not in rect.STATUSES:
            raise ValidationFailed(
                _("Some fields need correcting."),
                field_errors={"status": _("is not one of the choices")},
            )
        scope = resolve(current_user, _int_arg("org"), _locale())
    except DomainError as exc:
        return _refusal(exc)
    if fmt in exports.FORMATS:
        return exports.send(tables.rectification_items(scope, status, _locale()), fmt)
    if fmt:
        abort(404)
    after = (request.args.get("after") or "")[:80] or None
    rows = list(rect.items(scope, status, limit=LIST_PAGE + 1, after=after))
    more = len(rows) > LIST_PAGE
    rows = rows[:LIST_PAGE]
    return render_template(
        "supervision/rectification.html",
        scope=scope,
        status=status,
        statuses=rect.STATUSES,
        rows=rows,
        page=None if after else 1,
        next_after=rows[-1].position if more and rows else None,
        orgs=[(n.id, n) for n in _choosable(scope.org.id)],
    )


# --- issuing a notice -------------------------------------------------------------------------


def _concerns():
    case_id = _int_arg("case")
    org_id = _int_arg("org")
    if case_id is not None:
        return notices.about_case(current_user, case_id)
    if org_id is None:
        raise NotFound(_("No such organization."))
    mtype = request.args.get("type")
    if mtype:
        raw = request.args.get("on") or ""
        try:
            day = parse_date(raw)
        except ValueError:
            raise ValidationFailed(
                _("Some fields need correcting."),
                field_errors={"on": _("must be a date like 2026-03-01")},
            ) from None
        return notices.about_meeting(current_user, org_id, mtype, day)
    return notices.about_org(current_user, org_id)


def _form(concerns, *, raw=None, errors=None, message=None, status=200):
    from pbflow.engine.registry import registry

    d = registry().get(notices.WORKFLOW)
    return (
        render_template(
            "supervision/notice_new.html",
            concerns=concerns,
            fields=d.start_fields,
            values=raw or {},
            errors=errors or {},
            message=message,
            pickers=picker_options(concerns.org_id, {"user"}),
            query=request.args,
        ),
        status,
    )


@bp.route("/notices/new", methods=["GET", "POST"])
@login_required
def notice_new():
    try:
        # Every issuer reads the organizations below; to anyone else the thing a notice
        # would concern is not found, whatever the query names (as for a case they may
        # not read), before the query is read.
        if not may_supervise(current_user):
            raise NotFound(_("No such case."))
        concerns = _concerns()
        if not notices.may_issue(current_user, concerns.org_id):
            raise NotAllowed(
                _("Only the party committee above, or the superior's secretary, issues notices.")
            )
    except DomainError as exc:
        return _refusal(exc)
    if request.method == "GET":
        return _form(concerns)
    values, raw = parse_fields(request.form)
    try:
        notice = notices.issue(current_user, concerns, values)
    except DomainError as exc:
        if isinstance(exc, NotFound):
            abort(404)
        return _form(
            concerns, raw=raw, errors=exc.field_errors, message=exc.message, status=exc.status
        )
    flash(_("The supervision notice is issued."), "success")
    return redirect(url_for("cases.show", case_id=notice.id))
