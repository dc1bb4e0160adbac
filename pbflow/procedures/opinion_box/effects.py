"""Effects of the opinion box (DOMAIN.md section 4, ``workflows/opinion.yaml``).

What the public follow page, the opinion book and the figures read is kept in the case's
``data``: ``clock_from``/``answer_due`` (the time limit in force), ``additions`` (what the
submitter added), ``published_answer`` (only what was published, never a draft),
``first_published_on``/``on_time`` (for "answered on time"), ``reopen_count``/``rejections``
and ``transfers``.
"""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import update

from pbflow import audit
from pbflow.engine import actors, calendar
from pbflow.engine.context import Context
from pbflow.engine.errors import ConcurrentChange, ValidationFailed
from pbflow.engine.rules import Rule, registrar
from pbflow.extensions import db
from pbflow.models import ProcessInstance

REGISTRY: dict[str, Rule] = {}
effect = registrar(REGISTRY)


@effect("opinion_answer_due")
def opinion_answer_due(ctx: Context, *, setting: str) -> None:
    """The date the answer is due: ``clock_from`` (set on receipt, transfer and reopening)
    plus the answer time limit in working days."""
    start = ctx.date_value("clock_from") or ctx.today
    due = calendar.add(start, int(ctx.setting(setting)), "working_days")
    ctx.data["answer_due"] = due.isoformat()


@effect("opinion_append_info")
def opinion_append_info(ctx: Context, *, field: str) -> None:
    """Keep each addition of the submitter, dated, instead of overwriting the last one."""
    text = ctx.data.pop(field, None)
    if text:
        ctx.data["additions"] = [
            *(ctx.data.get("additions") or []),
            {"on": ctx.today.isoformat(), "text": text},
        ]


@effect("opinion_published")
def opinion_published(ctx: Context) -> None:
    """Publish the reviewed answer; the first publication decides "answered on time"."""
    today = ctx.today.isoformat()
    ctx.data["published_answer"] = ctx.data.get("answer")
    ctx.data["published_on"] = today
    if "first_published_on" not in ctx.data:
        ctx.data["first_published_on"] = today
        ctx.data["on_time"] = today <= (ctx.data.get("answer_due") or today)


@effect("opinion_reopened")
def opinion_reopened(ctx: Context, *, field: str) -> None:
    """The submitter rejected the answer: count it and keep their reason, dated."""
    reason = ctx.data.pop(field, None)
    ctx.data["reopen_count"] = int(ctx.data.get("reopen_count") or 0) + 1
    ctx.data["rejections"] = [
        *(ctx.data.get("rejections") or []),
        {"on": ctx.today.isoformat(), "reason": reason},
    ]


@effect("opinion_transfer")
def opinion_transfer(ctx: Context, *, field: str) -> None:
    """Move the case to another organization (the guard ``opinion_transfer_target`` has
    checked it), recorded as its own audit event at the organization it leaves."""
    from pbflow.procedures.opinion_box.guards import _target

    code = ctx.data.pop(field, None)
    target = _target(code)
    if target is None:
        raise ValidationFailed(_("There is no organization with the code '%(code)s'.", code=code))
    case = ctx.case
    table = ProcessInstance.__table__
    result = db.session.execute(
        update(table)
        .where(table.c.id == case.id, table.c.version == case.version)
        .values(org_id=target.id)
    )
    if result.rowcount != 1:
        raise ConcurrentChange(
            _("This case changed since you opened it; please reload it and try again.")
        )
    source = actors.org_index()[case.org_id]
    audit.record(
        "case_transferred",
        actor=ctx.actor,
        org_id=case.org_id,
        instance_id=case.id,
        to_state=case.state,
        payload={"from_org": source.id, "to_org": target.id, "to_code": target.code},
        at=ctx.now,
    )
    ctx.data["transfers"] = [
        *(ctx.data.get("transfers") or []),
        {"on": ctx.today.isoformat(), "from": source.name, "to": target.name},
    ]
    case.org_id = target.id
    case.assignee_user_id = None
    ctx.assignee_changed = True
