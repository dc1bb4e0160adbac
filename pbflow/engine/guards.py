"""Named rules that may refuse a step, each returning a reason a person can read.

A guard takes the context and its keyword parameters from the workflow file and returns
``None`` when the rule is met, or a :class:`Block` with the reason and, where the rule is a
matter of time, the date from which it will be met.

These are the engine's generic guards, registered with ``@guard``. A procedure's own guards
live in its package and register into its own ``REGISTRY`` the same way (``registrar``); the
app's rulebook gathers both (``registry.gather_rules``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from sqlalchemy import func, select

from pbflow.engine import calendar
from pbflow.engine.context import Block, Context
from pbflow.engine.rules import Rule, registrar
from pbflow.extensions import db

REGISTRY: dict[str, Rule] = {}
guard = registrar(REGISTRY)


def person_ids(value: Any) -> list[int]:
    """The people a person or persons field names (or a per-person field has lines for)."""
    if value is None or value == "":
        return []
    items = value if isinstance(value, list | dict) else [value]
    return [int(v) for v in items]


def person_names(ids: list[int]) -> str:
    """ "A, B, C and 2 more" for refusal messages (one query)."""
    from pbflow.models import Person

    shown = ids[:5]
    names = dict(
        db.session.execute(select(Person.id, Person.name).where(Person.id.in_(shown))).all()
    )
    text = _(", ").join(names.get(i, f"#{i}") for i in shown)
    if len(ids) > len(shown):
        text += _(" and %(n)s more", n=len(ids) - len(shown))
    return text


def _label(ctx: Context, field: str) -> str:
    return ctx.definition.field_label(field, str(get_locale() or "zh"))


@guard("not_submitter")
def not_submitter(ctx: Context) -> Block | None:
    """Whoever submitted the case may not decide on it (no approving one's own request)."""
    if ctx.actor is not None and getattr(ctx.actor, "id", None) == ctx.case.submitter_user_id:
        return Block(_("You submitted this case, so someone else must decide on it."))
    return None


@guard("not_subject")
def not_subject(ctx: Context) -> Block | None:
    """The person a case is about may not take this step on it."""
    from pbflow.engine.actors import person_id_of_user

    actor_id = getattr(ctx.actor, "id", None)
    if actor_id and ctx.case.subject_person_id == person_id_of_user(actor_id):
        return Block(_("This case is about you, so someone else must take this step."))
    return None


@guard("not_actor_of")
def not_actor_of(ctx: Context, *, trigger: str) -> Block | None:
    """Four eyes: the actor must not be the one who took an earlier step ``trigger``."""
    earlier = (ctx.data.get("_by") or {}).get(trigger)
    if earlier is not None and earlier == getattr(ctx.actor, "id", None):
        return Block(
            _("You took the earlier step of this case, so someone else must take this one.")
        )
    return None


@guard("amount_above", one_of=("setting", "value"))
def amount_above(
    ctx: Context, *, field: str, setting: str | None = None, value: int | None = None
) -> Block | None:
    """The field must exceed a limit (a fixed value or a setting): routes large amounts up."""
    limit = Decimal(str(ctx.setting(setting) if setting else value))
    amount = Decimal(str(ctx.value(field) or 0))
    if amount <= limit:
        return Block(_("Only for amounts above %(limit)s.", limit=limit))
    return None


@guard("amount_at_most", one_of=("setting", "value"))
def amount_at_most(
    ctx: Context, *, field: str, setting: str | None = None, value: int | None = None
) -> Block | None:
    """The field must not exceed a limit (a fixed value or a setting)."""
    limit = Decimal(str(ctx.setting(setting) if setting else value))
    amount = Decimal(str(ctx.value(field) or 0))
    if amount > limit:
        return Block(
            _(
                "The amount %(amount)s is above %(limit)s: the party committee must also approve.",
                amount=amount,
                limit=limit,
            )
        )
    return None


@guard("field_present", pure=True)
def field_present(ctx: Context, *, field: str) -> Block | None:
    """A field recorded at an earlier step must be there (a document, a conclusion)."""
    if ctx.value(field) in (None, "", []):
        label = ctx.definition.field_label(field, str(get_locale() or "zh"))
        return Block(_("'%(field)s' has not been recorded yet.", field=label))
    return None


@guard("date_not_future")
def date_not_future(ctx: Context, *, field: str) -> Block | None:
    """A date that records something done cannot lie in the future."""
    d = ctx.date_value(field)
    if d and d > ctx.today:
        return Block(_("The date %(date)s is in the future.", date=d.isoformat()))
    return None


@guard("date_not_past")
def date_not_past(ctx: Context, *, field: str) -> Block | None:
    """A date that sets a time limit from now on (a rectification item's deadline) is today
    or later: one already past would be overdue the moment it is set."""
    d = ctx.date_value(field)
    if d and d < ctx.today:
        label = ctx.definition.field_label(field, str(get_locale() or "zh"))
        return Block(
            _(
                "'%(field)s' cannot lie in the past (%(date)s): today at the earliest.",
                field=label,
                date=d.isoformat(),
            )
        )
    return None


@guard("min_time_since", one_of=("days", "months", "years", "setting"))
def min_time_since(
    ctx: Context,
    *,
    field: str,
    days: int | None = None,
    months: int | None = None,
    years: int | None = None,
    setting: str | None = None,
    unit: str = "months",
) -> Block | None:
    """At least a period must have passed since a date (a field, or ``subject.<key date>``)."""
    start = ctx.date_value(field)
    if start is None:
        return Block(_("'%(field)s' has not been recorded yet.", field=field))
    if setting:
        amount, unit_ = int(ctx.setting(setting)), unit
    elif years is not None:
        amount, unit_ = years, "years"
    elif months is not None:
        amount, unit_ = months, "months"
    else:
        amount, unit_ = int(days or 0), "days"
    earliest = calendar.add(start, amount, unit_)
    if ctx.today < earliest:
        return Block(
            _("Possible from %(date)s.", date=earliest.isoformat()), available_from=earliest
        )
    return None


@guard("max_time_since", one_of=("days", "months", "setting"))
def max_time_since(
    ctx: Context,
    *,
    field: str,
    days: int | None = None,
    months: int | None = None,
    setting: str | None = None,
    unit: str = "months",
) -> Block | None:
    """No more than a period may have passed since a date (for example approval in 6 months)."""
    start = ctx.date_value(field)
    if start is None:
        return Block(_("'%(field)s' has not been recorded yet.", field=field))
    if setting:
        amount, unit_ = int(ctx.setting(setting)), unit
    elif months is not None:
        amount, unit_ = months, "months"
    else:
        amount, unit_ = int(days or 0), "days"
    latest = calendar.add(start, amount, unit_)
    if ctx.today > latest:
        return Block(_("Too late: the time limit ended on %(date)s.", date=latest.isoformat()))
    return None


@guard("all_children_closed")
def all_children_closed(ctx: Context, *, workflow: str | None = None) -> Block | None:
    """Every child case (for example each item of a list the case opened) must be closed first."""
    from pbflow.models import ProcessInstance

    stmt = select(func.count()).where(
        ProcessInstance.parent_id == ctx.case.id, ProcessInstance.closed_at.is_(None)
    )
    if workflow:
        stmt = stmt.where(ProcessInstance.workflow_id == workflow)
    open_count = db.session.execute(stmt).scalar_one()
    if open_count:
        return Block(_("%(n)s linked item(s) are still open.", n=open_count))
    return None


@guard("person_among")
def person_among(ctx: Context, *, field: str, among: str) -> Block | None:
    """The people named in ``field`` (a person or persons field) are among those of another
    field (a meeting's recorder among those present)."""
    allowed = set(person_ids(ctx.value(among)))
    outside = [p for p in person_ids(ctx.value(field)) if p not in allowed]
    if not outside:
        return None
    return Block(
        ngettext(
            "'%(field)s' must be one of '%(among)s': %(names)s is not.",
            "'%(field)s' must be among '%(among)s': %(names)s are not.",
            len(outside),
            field=_label(ctx, field),
            among=_label(ctx, among),
            names=person_names(outside),
        )
    )


@guard("absences_explained")
def absences_explained(ctx: Context, *, field: str, expected: str, present: str) -> Block | None:
    """Each absence keeps its reason (DOMAIN 3: members ask for leave): every person of
    ``expected`` not among ``present`` has a line in the per-person field ``field``, which
    may be that they were absent without leave; and a line there is for an absence only."""
    present_ids = set(person_ids(ctx.value(present)))
    lines = ctx.value(field) or {}
    given = {int(k) for k, text in lines.items() if str(text or "").strip()}
    missing = [p for p in person_ids(ctx.value(expected)) if p not in present_ids | given]
    if missing:
        return Block(
            _(
                "Give the reason for the absence of %(names)s in '%(field)s': the leave asked "
                "for, or absent without leave.",
                names=person_names(missing),
                field=_label(ctx, field),
            )
        )
    there = sorted(p for p in given if p in present_ids)
    if there:
        return Block(
            ngettext(
                "%(names)s is marked present: '%(field)s' is for those absent.",
                "%(names)s are marked present: '%(field)s' is for those absent.",
                len(there),
                names=person_names(there),
                field=_label(ctx, field),
            )
        )
    return None
