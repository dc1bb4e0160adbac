"""A small JSON API over the same services as the pages.

Session authentication (log in through the page first); every POST needs the CSRF token in
the ``X-CSRFToken`` header (``GET /api/csrf`` hands one out). Refusals answer with the
engine's status and ``{"error", "status", "field_errors", ...}``.

    GET  /api/cases?workflow=&state=&org=&person=&q=&overdue=1&status=&date_from=&date_to=&page=
    GET  /api/cases/<id>
    GET  /api/cases/<id>/actions
    POST /api/cases/<id>/fire   {"trigger": "...", "values": {...}, "version": 3, "comment": "..."}
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import Blueprint, jsonify, request
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from pbflow.engine import runtime
from pbflow.engine.errors import ConcurrentChange, DomainError, ValidationFailed
from pbflow.services import cases

bp = Blueprint("api", __name__, url_prefix="/api")


def _locale() -> str:
    return str(get_locale() or "zh")


def _time(value: datetime | None) -> str | None:
    return value.isoformat() + "Z" if value else None


@bp.before_request
def require_login():
    if not current_user.is_authenticated:
        return jsonify({"error": _("Please log in first."), "status": 401}), 401
    return None


@bp.errorhandler(DomainError)
def domain_error(exc: DomainError):
    body: dict[str, Any] = {"error": exc.message, "status": exc.status}
    if exc.field_errors:
        body["field_errors"] = exc.field_errors
    if exc.available_from:
        body["available_from"] = exc.available_from.isoformat()
    if exc.details:
        body["details"] = exc.details
    return jsonify(body), exc.status


def _case_summary(case, **extra: Any) -> dict[str, Any]:
    return {
        "id": case.id,
        "title": case.title,
        "workflow": case.workflow_id,
        "state": case.state,
        "org_id": case.org_id,
        "version": case.version,
        "due_at": _time(case.due_at),
        "closed_at": _time(case.closed_at),
        "created_at": _time(case.created_at),
        "updated_at": _time(case.updated_at),
        **extra,
    }


def _action(a: runtime.Action, locale: str) -> dict[str, Any]:
    return {
        "trigger": a.trigger,
        "label": a.label.get(locale),
        "dest": a.dest,
        "enabled": a.enabled,
        "reason": a.reason,
        "available_from": a.available_from.isoformat() if a.available_from else None,
        "comment": a.comment,
        "fields": [
            {
                "name": f.name,
                "type": f.type,
                "label": f.label.get(locale),
                "required": f.required,
                "choices": [c.value for c in f.choices],
                "people": f.people,
            }
            for f in a.fields
        ],
    }


@bp.get("/csrf")
def csrf():
    return jsonify({"csrf_token": generate_csrf()})


@bp.get("/cases")
def list_cases():
    filters, errors = cases.CaseFilters.parse(request.args)
    if errors:
        raise ValidationFailed(_("Some filters need correcting."), field_errors=errors)
    result = cases.search(current_user, filters, _locale())
    return jsonify(
        {
            "total": result.total,
            "total_exact": result.exact,
            "page": result.page,
            "pages": result.pages,
            "next_after": result.next_after,
            "cases": [
                _case_summary(
                    r.case,
                    workflow_label=r.workflow,
                    state_label=r.state,
                    org=r.org_name,
                    subject=r.subject_name,
                    overdue=r.overdue,
                )
                for r in result.rows
            ],
            "counts": [
                {"workflow": c.workflow_id, "state": c.state, "label": c.label, "count": c.count}
                for c in result.counts
            ],
        }
    )


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


@bp.get("/cases/<int:case_id>")
def get_case(case_id: int):
    locale = _locale()
    view = cases.case_page(current_user, case_id, locale)
    case = view.case
    return jsonify(
        _case_summary(
            case,
            workflow_label=view.workflow_title,
            state_label=view.state.label.get(locale),
            org=view.org_name,
            subject=view.subject_name,
            overdue=view.overdue,
            data={k: _json_value(v) for k, v in view.prefill.items()},
            fields=[{"name": f.name, "label": f.label, "text": f.text} for f in view.fields],
            actions=[_action(a, locale) for a in view.actions],
            parent_id=case.parent_id,
            children=[{"id": c.case.id, "state": c.case.state} for c in view.children],
            timeline=[
                {
                    "seq": e.seq,
                    "at": _time(e.at),
                    "actor": e.actor,
                    "action": e.action,
                    "text": e.text,
                    "from_state": e.from_state,
                    "to_state": e.to_state,
                    "comment": e.comment,
                }
                for e in view.timeline
            ],
        )
    )


@bp.get("/cases/<int:case_id>/actions")
def actions(case_id: int):
    locale = _locale()
    view = cases.case_page(current_user, case_id, locale)
    return jsonify(
        {
            "version": view.case.version,
            "state": view.case.state,
            "actions": [_action(a, locale) for a in view.actions],
        }
    )


@bp.post("/cases/<int:case_id>/fire")
def fire(case_id: int):
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("trigger"), str):
        raise ValidationFailed(
            _("Send a JSON object with a trigger."), field_errors={"trigger": _("is required")}
        )
    values = body.get("values") or {}
    version = body.get("version")
    if not isinstance(values, dict) or (version is not None and not isinstance(version, int)):
        raise ValidationFailed(
            _("Some fields need correcting."),
            field_errors={
                k: _("has the wrong type")
                for k, bad in (
                    ("values", not isinstance(values, dict)),
                    ("version", version is not None and not isinstance(version, int)),
                )
                if bad
            },
        )
    try:
        outcome = cases.take_step(
            current_user,
            case_id,
            body["trigger"],
            values,
            expected_version=version,
            comment=body.get("comment"),
        )
    except ConcurrentChange as exc:
        changed = cases.changes_since(current_user, case_id, version or 1, _locale())
        exc.details = {
            **exc.details,
            "changes": [
                {"seq": e.seq, "at": _time(e.at), "actor": e.actor, "text": e.text} for e in changed
            ],
        }
        raise
    return jsonify({"id": outcome.case_id, "state": outcome.state, "version": outcome.version})
