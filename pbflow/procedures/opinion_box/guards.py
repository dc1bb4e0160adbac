"""Guards of the opinion box (DOMAIN.md section 4, ``workflows/opinion.yaml``)."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from pbflow.engine import actors
from pbflow.engine.context import Block, Context
from pbflow.engine.rules import Rule, registrar
from pbflow.extensions import db
from pbflow.models import Organization, User

REGISTRY: dict[str, Rule] = {}
guard = registrar(REGISTRY)


@guard("opinion_anonymity")
def opinion_anonymity(ctx: Context) -> Block | None:
    """An anonymous opinion carries no identity; a named one says who sent it.

    Anonymous: the case must be started by "anonymous" (never a logged-in user, so no user id
    is stored) and must not carry a contact. Named without a login: a contact is needed, or
    nobody could reply "in person or in writing" (DOMAIN 4).
    """
    anonymous = bool(ctx.value("anonymous"))
    contact = (ctx.value("contact") or "").strip()
    if anonymous and ctx.actor != "anonymous":
        return Block(_("An anonymous opinion must not be linked to an account."))
    if anonymous and contact:
        return Block(
            _(
                "You chose to stay anonymous, so leave the contact empty, or untick "
                "'Submit anonymously' to give your name."
            )
        )
    if not anonymous and ctx.actor == "anonymous" and not contact:
        return Block(_("Give your name and how to reach you, or tick 'Submit anonymously'."))
    return None


@guard("opinion_reopen_limit")
def opinion_reopen_limit(ctx: Context, *, setting: str) -> Block | None:
    """The submitter may reject an answer (reopening the case) only so many times."""
    limit = int(ctx.setting(setting))
    done = int(ctx.data.get("reopen_count") or 0)
    if done >= limit:
        return Block(
            _(
                "This opinion has already been reopened %(n)s time(s), the most allowed. "
                "You may still accept the answer with a rating.",
                n=done,
            )
        )
    return None


def _target(code: str | None) -> Organization | None:
    if not code:
        return None
    return db.session.execute(
        select(Organization).where(Organization.code == code.strip())
    ).scalar()


@guard("opinion_transfer_target")
def opinion_transfer_target(ctx: Context, *, field: str) -> Block | None:
    """A transfer goes to another active organization of the same party committee that runs
    the opinion box: the branch responsible, or a superior (DOMAIN 4: "handled or forwarded
    to the body responsible"; what a branch cannot solve goes to its general branch)."""
    code = ctx.value(field)
    target = _target(code)
    if target is None or not target.active:
        return Block(_("There is no active organization with the code '%(code)s'.", code=code))
    if target.id == ctx.case.org_id:
        return Block(_("The opinion is already at this organization."))
    if target.kind not in ctx.definition.run_by:
        return Block(_("%(org)s does not keep an opinion box.", org=target.name))
    here = actors.org_index().get(ctx.case.org_id)
    if here is None or here.ancestor_ids()[:1] != target.ancestor_ids()[:1]:
        return Block(_("%(org)s belongs to another party committee.", org=target.name))
    return None


@guard("opinion_handler_here")
def opinion_handler_here(ctx: Context, *, field: str) -> Block | None:
    """The handler must hold a role at the case's organization or one above it."""
    user_id = ctx.value(field)
    node = actors.org_index().get(ctx.case.org_id)
    if not isinstance(user_id, int) or node is None:
        return Block(_("Choose a handler."))
    user = db.session.get(User, user_id)
    if user is None or not user.active:
        return Block(_("Choose a handler whose account is active."))
    ancestors = set(node.ancestor_ids())
    if not any(oid in ancestors for oid, _role in actors.roles_of(user_id)):
        return Block(_("The handler must belong to this organization or one above it."))
    return None
