"""Guards and effects of supervision notices (``workflows/supervision_notice.yaml``)."""

from __future__ import annotations

from flask_babel import gettext as _

from pbflow.engine import actors
from pbflow.engine.context import Block, Context
from pbflow.engine.errors import ValidationFailed
from pbflow.engine.fields import parse_date
from pbflow.engine.rules import Rule, registrar
from pbflow.extensions import db
from pbflow.models import User

GUARDS: dict[str, Rule] = {}
EFFECTS: dict[str, Rule] = {}
guard = registrar(GUARDS)
effect = registrar(EFFECTS)


@guard("notice_deadline_ahead")
def notice_deadline_ahead(ctx: Context, *, field: str) -> Block | None:
    """A notice sets a new deadline: today at the earliest, never one already past."""
    value = ctx.value(field)
    if value and parse_date(value) < ctx.today:
        return Block(_("The new deadline must not lie in the past."))
    return None


@guard("notice_recipient_here")
def notice_recipient_here(ctx: Context, *, field: str) -> Block | None:
    """The responsible person, when named, belongs to the organization (a role there or in a
    party group below it), and their account is active."""
    user_id = ctx.value(field)
    if user_id in (None, ""):
        return None
    node = actors.org_index().get(ctx.case.org_id)
    user = db.session.get(User, user_id) if isinstance(user_id, int) else None
    if node is None or user is None or not user.active:
        return Block(_("Choose a responsible person whose account is active."))
    index = actors.org_index()
    if not any(
        oid in index and node.id in index[oid].ancestor_ids()
        for oid, _role in actors.roles_of(user.id)
    ):
        return Block(_("The responsible person must belong to the organization the notice is for."))
    return None


@effect("notice_recipient")
def notice_recipient(ctx: Context, *, field: str) -> None:
    """The responsible person, when named, is the notice's assignee; otherwise it waits on the
    organization's secretaries."""
    user_id = ctx.value(field)
    if isinstance(user_id, int):
        ctx.case.assignee_user_id = user_id
        ctx.assignee_changed = True


@effect("notice_new_deadline")
def notice_new_deadline(ctx: Context, *, field: str) -> None:
    """Sending an answer back may set a new deadline (today or later)."""
    value = ctx.value(field)
    if not value:
        return
    if parse_date(value) < ctx.today:
        raise ValidationFailed(
            _("Some fields need correcting."),
            field_errors={field: _("must not lie in the past")},
        )
    ctx.data["deadline"] = value
