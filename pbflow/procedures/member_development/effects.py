"""Effects of the member-development workflow: the only code that moves a person's party status
and key dates (DOMAIN.md section 1).

Every change to the person is recorded as a ``person_updated`` audit event with the values
before and after, in the same transaction as the step that caused it.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask_babel import gettext as _

from pbflow import audit
from pbflow.engine import actors, calendar
from pbflow.engine.context import Context
from pbflow.engine.errors import ValidationFailed
from pbflow.engine.rules import Rule, registrar
from pbflow.models import User

REGISTRY: dict[str, Rule] = {}
effect = registrar(REGISTRY)

PERSON_KEYS = (
    "party_status",
    "applied_on",
    "activist_on",
    "target_on",
    "admitted_on",
    "probation_end_on",
    "full_member_on",
)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def update_person(ctx: Context, changes: dict[str, Any]) -> None:
    """Apply changes to the case's person and audit them (only what actually changed)."""
    person = ctx.subject()
    if person is None:
        return
    before, after = {}, {}
    for key, value in changes.items():
        if key not in PERSON_KEYS:
            raise ValueError(f"not a person key kept by the workflow: {key}")
        old = getattr(person, key)
        if old != value:
            before[key], after[key] = _plain(old), _plain(value)
            setattr(person, key, value)
    if not after:
        return
    actor = ctx.actor if isinstance(ctx.actor, User) else audit.SYSTEM
    audit.record(
        "person_updated",
        actor=actor,
        org_id=person.org_id,
        instance_id=ctx.case.id,
        from_state=ctx.case.state,
        payload={
            "person_id": person.id,
            "before": before,
            "after": after,
            "step": ctx.transition.trigger if ctx.transition else "start",
        },
        at=ctx.now,
    )


@effect("set_party_status")
def set_party_status(
    ctx: Context, *, status: str | None = None, dates: dict[str, str] | None = None
) -> None:
    """Set the person's party status and key dates; ``dates`` maps a key date of the person
    (``activist_on``) to the case field holding it, or to ``today``."""
    changes: dict[str, Any] = {}
    if status is not None:
        changes["party_status"] = status
    for key, source in (dates or {}).items():
        changes[key] = ctx.today if source == "today" else ctx.date_value(source)
    update_person(ctx, changes)


@effect("start_probation")
def start_probation(ctx: Context, *, resolution: str, months: int = 12) -> None:
    """Approved: a probationary member from the resolution's date for one year (DOMAIN 1.17,
    1.21); the approval states probation's start and end, kept on the case too."""
    start = ctx.date_value(resolution)
    end = calendar.add_months(start, months)
    ctx.data["probation_start"] = start.isoformat()
    ctx.data["probation_end"] = end.isoformat()
    update_person(
        ctx,
        {"party_status": "probationary", "admitted_on": start, "probation_end_on": end},
    )


@effect("extend_probation")
def extend_probation(ctx: Context, *, months: str) -> None:
    """The superior approved extending probation by the proposed months (once only)."""
    person = ctx.subject()
    n = int(ctx.value(months))
    end = calendar.add_months(person.probation_end_on, n)
    ctx.data["probation_extended_months"] = n
    ctx.data["probation_end"] = end.isoformat()
    update_person(ctx, {"probation_end_on": end})


@effect("convert_to_full")
def convert_to_full(ctx: Context) -> None:
    """A full member; party standing counts from the day probation ended (DOMAIN 1.24)."""
    person = ctx.subject()
    update_person(ctx, {"party_status": "full", "full_member_on": person.probation_end_on})


@effect("set_deadline")
def set_deadline(ctx: Context, *, field: str, since: str, months: int) -> None:
    """Record a deadline ``months`` after a date (the superior's approval time)."""
    base = ctx.date_value(since)
    if base is not None:
        ctx.data[field] = calendar.add_months(base, months).isoformat()


@effect("record_introducer_opinion")
def record_introducer_opinion(ctx: Context, *, opinion: str, introducer: str) -> None:
    """An introducer writes their opinion in the admission form (DOMAIN 1.14); the branch may
    record it for an introducer without an account, naming them in ``introducer``."""
    named = [int(v) for v in ctx.data.get("introducers") or []]
    own = actors.person_id_of_user(ctx.actor.id) if isinstance(ctx.actor, User) else None
    who = own if own in named else ctx.value(introducer)
    if who not in named:
        raise ValidationFailed(
            _("Some fields need correcting."),
            field_errors={introducer: _("choose one of the two introducers")},
        )
    opinions = dict(ctx.data.get("introducer_opinions") or {})
    opinions[str(who)] = {
        "opinion": ctx.value(opinion),
        "on": ctx.today.isoformat(),
        "by": getattr(ctx.actor, "id", None),
    }
    ctx.data["introducer_opinions"] = opinions
    ctx.data.pop(opinion, None)
    ctx.data.pop(introducer, None)
