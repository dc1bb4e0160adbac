"""Who does what in an assessment: the party committee's members assess (open rounds, score,
approve, publish, decide appeals, record rewards and penalties, edit schemes), its
organizers (the organization department) review, a branch's secretary and deputy speak for
the branch (self-assessment, appeal). Reading follows pbflow's rule: a role in READ_ROLES
at an organization reads it and everything below."""

from __future__ import annotations

from pbflow.engine import actors
from pbflow.models import User

BRANCH_ROLES = ("secretary", "deputy_secretary")


def committees_of(user: User) -> list[int]:
    """The party committees where the user is a committee member."""
    if not isinstance(user, User):
        return []
    index = actors.org_index()
    return sorted(
        oid
        for oid, role in actors.roles_of(user.id)
        if role == "committee" and oid in index and index[oid].kind == "committee"
    )


def is_assessor(user: User, committee_id: int | None = None) -> bool:
    ids = committees_of(user)
    return bool(ids) if committee_id is None else committee_id in ids


def speaks_for(user: User, org_id: int) -> bool:
    """The branch's secretary or deputy secretary."""
    return isinstance(user, User) and any(
        actors.has_role(user.id, role, [org_id]) for role in BRANCH_ROLES
    )


def reads(user: User, org_id: int) -> bool:
    return isinstance(user, User) and actors.can_read_org(user, org_id)


def may_see_assessment(user: User) -> bool:
    """Whether the top bar shows the assessment link."""
    return isinstance(user, User) and actors.reads_anything(user.id)
