"""Named effects a transition applies after its guards pass, inside the same transaction.

An effect takes the context and its keyword parameters from the workflow file. It changes the
case's data (``ctx.data``), the assignee, or other records, and records an audit event for any
record outside the case that it changes.

These are the engine's generic effects, registered with ``@effect``. A procedure's own effects
live in its package and register into its own ``REGISTRY`` the same way (``registrar``); the
app's rulebook gathers both (``registry.gather_rules``). Effects date what they write with
``ctx.now`` and ``ctx.today`` (never the clock itself): an anonymous step's time is coarsened
there (``anonymous_time``).
"""

from __future__ import annotations

from flask_babel import gettext as _

from pbflow.engine.context import Context
from pbflow.engine.errors import ValidationFailed
from pbflow.engine.rules import Rule, registrar

REGISTRY: dict[str, Rule] = {}
effect = registrar(REGISTRY)


@effect("set_date")
def set_date(ctx: Context, *, field: str, source: str | None = None) -> None:
    """Record a date on the case: today, or copied from another (submitted) date field."""
    ctx.data[field] = (ctx.value(source) if source else None) or ctx.today.isoformat()


@effect("assign")
def assign(ctx: Context, *, field: str | None = None) -> None:
    """Make the user in ``field`` (or, without a field, the actor) the case's assignee."""
    user_id = ctx.value(field) if field else getattr(ctx.actor, "id", None)
    if field and not isinstance(user_id, int):
        raise ValidationFailed(_("Choose whom to assign."), field_errors={field: _("is required")})
    ctx.case.assignee_user_id = user_id
    ctx.assignee_changed = True


@effect("unassign")
def unassign(ctx: Context) -> None:
    """Clear the assignee (the case waits on a role again, not on one person)."""
    ctx.case.assignee_user_id = None
    ctx.assignee_changed = True


@effect("clear")
def clear(ctx: Context, *, fields: list[str]) -> None:
    """Forget fields of an earlier round (for example a returned draft's decision)."""
    for name in fields:
        ctx.data.pop(name, None)


@effect("append_record")
def append_record(ctx: Context, *, target: str, fields: list[str]) -> None:
    """Append the step's fields as one record to the list ``target`` (and keep them out of
    the case's top-level data, where the next record would overwrite them)."""
    entry = {name: ctx.values.get(name) for name in fields}
    entry["recorded_on"] = ctx.today.isoformat()
    entry["by"] = getattr(ctx.actor, "id", None)
    ctx.data[target] = [*(ctx.data.get(target) or []), entry]
    for name in fields:
        ctx.data.pop(name, None)
