"""Notifications: stored as what happened (kind, case, parameters), rendered in the reader's
language when shown (the inbox calls :func:`text` through the ``notification_text`` template
global) or mailed (``services.mail``).

Each kind has a renderer: the engine's (reminder, overdue, escalation, result) and pbflow's
own (calendar) are here; a procedure brings renderers for its kinds through
``Procedure.notices``. A renderer takes the parameters and returns the sentence in the
current locale; :func:`text` forces the locale it is asked for. Notifications stored before
this (``message`` set, no parameters) are shown as they were written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from typing import Any

from flask import current_app, has_app_context
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from sqlalchemy import insert

from pbflow import clock
from pbflow.engine import actors
from pbflow.engine.errors import NotFound
from pbflow.engine.registry import registry
from pbflow.extensions import db
from pbflow.models import Notification

Renderer = Callable[[Mapping[str, Any]], str]


def locale() -> str:
    return str(get_locale() or "zh")


def case_label(params: Mapping[str, Any]) -> str:
    """The case a notice is about: its own title, else its workflow's title in this locale."""
    if params.get("title"):
        return str(params["title"])
    d = _definition(params) if params.get("definition_id") else None
    return d.title.get(locale()) if d else _("a case")


def _definition(params: Mapping[str, Any]) -> Any:
    """The workflow revision a notice was written on, or None when it cannot be read."""
    try:
        return registry().stored(int(params["definition_id"]))
    except (KeyError, TypeError, ValueError, NotFound):
        return None


def state_label(params: Mapping[str, Any]) -> str:
    state = params.get("state") or ""
    spec = d.states.get(state) if (d := _definition(params)) else None
    return spec.label.get(locale()) if spec else state


def org_name(org_id: Any) -> str:
    node = actors.org_index().get(int(org_id)) if org_id is not None else None
    if node is None:
        return ""
    return node.name_en if locale() == "en" and node.name_en else node.name


def _reminder(p: Mapping[str, Any]) -> str:
    return _("%(case)s: due %(date)s", case=case_label(p), date=p.get("due", ""))


def _overdue(p: Mapping[str, Any]) -> str:
    return _("%(case)s: overdue (it was due %(date)s)", case=case_label(p), date=p.get("due", ""))


def _escalation(p: Mapping[str, Any]) -> str:
    return _(
        "%(case)s at %(org)s is overdue (it was due %(date)s).",
        case=case_label(p),
        org=org_name(p.get("org_id")),
        date=p.get("due", ""),
    )


def step_label(params: Mapping[str, Any]) -> str | None:
    """The label of the step a notice reports (notices written before steps were named
    have none)."""
    step = params.get("step")
    if not step:
        return None
    d = _definition(params)
    spec = d.transition(str(params.get("from_state") or ""), str(step)) if d else None
    return spec.label.get(locale()) if spec else str(step)


def _result(p: Mapping[str, Any]) -> str:
    step = step_label(p)
    if step is None:
        return _("%(case)s: %(state)s", case=case_label(p), state=state_label(p))
    return _(
        "%(case)s: %(step)s, now %(state)s", case=case_label(p), step=step, state=state_label(p)
    )


def _calendar_running_out(p: Mapping[str, Any]) -> str:
    return _(
        "The working-day calendar ends on %(date)s: enter the public holidays and make-up "
        "working days of %(year)s (Administration, Calendar) so that time limits are counted "
        "right.",
        date=p.get("ends", ""),
        year=p.get("year", ""),
    )


RENDERERS: dict[str, Renderer] = {
    "reminder": _reminder,
    "overdue": _overdue,
    "escalation": _escalation,
    "result": _result,
    "calendar_running_out": _calendar_running_out,
}


def renderers() -> Mapping[str, Renderer]:
    """pbflow's renderers and those of the installed procedures (``Procedure.notices``)."""
    if not has_app_context():
        return RENDERERS
    found = current_app.extensions.get("pbflow_notices")
    if found is None:
        found = dict(RENDERERS)
        for procedure in current_app.extensions.get("pbflow_procedures", ()):
            found.update(procedure.notices)
        current_app.extensions["pbflow_notices"] = found
    return found


def render(kind: str, params: Mapping[str, Any] | None, message: str | None = None) -> str:
    """The sentence for a notice in the current locale."""
    if params is None:
        return message or kind
    fn = renderers().get(kind)
    if fn is None:
        return message or kind
    return fn(params)


def text(note: Any, in_locale: str | None = None) -> str:
    """A stored notification in ``in_locale`` (default: the page's)."""
    if in_locale is None:
        return render(note.kind, note.params, note.message)
    with force_locale(in_locale):
        return render(note.kind, note.params, note.message)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def notify(
    user_ids: Iterable[int],
    kind: str,
    params: Mapping[str, Any],
    *,
    instance_id: int | None = None,
    at: datetime | None = None,
) -> list[int]:
    """Notify users of something that is not a step of a case (a reminder about an obligation,
    a warning to administrators), in the caller's transaction. Returns who was notified."""
    users = sorted(set(user_ids))
    if users:
        when = at or clock.now()
        plain = {k: _plain(v) for k, v in params.items()}
        db.session.execute(
            insert(Notification),
            [
                {
                    "user_id": uid,
                    "instance_id": instance_id,
                    "kind": kind,
                    "params": plain,
                    "created_at": when,
                    "mail_state": "new",
                }
                for uid in users
            ],
        )
    return users
