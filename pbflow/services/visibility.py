"""Who may see a case: the one rule every page, the API and the CLI apply before showing a
case, its comments or its files.

A case the user may not see is answered with "not found" rather than "forbidden", so that case
numbers do not reveal what exists in other organizations. Cases, comments and attachments all
ask here; nothing here asks them back.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _

from pbflow.engine import actors, runtime, votes
from pbflow.engine.context import CaseState
from pbflow.engine.errors import NotFound
from pbflow.engine.registry import registry
from pbflow.extensions import db
from pbflow.models import ProcessInstance, User


def may_vote(user: User, case: Any) -> bool:
    """Whether the user may cast an online ballot in the case's open vote now."""
    if case.closed_at is not None:
        return False
    vote = registry().stored(case.definition_id).states[case.state].vote
    return (
        vote is not None
        and "ballot" in vote.mode
        and user.id in votes.electorate_users(vote, snapshot(case))
    )


def may_record_resolution(user: User, case: Any) -> bool:
    """Whether the user belongs to those who record a meeting's vote on this case now."""
    if case.closed_at is not None:
        return False
    vote = registry().stored(case.definition_id).states[case.state].vote
    if vote is None or "meeting" not in vote.mode:
        return False
    body = votes.vote_org_ids(vote, snapshot(case))
    return any(actors.has_role(user.id, role, body) for role in votes.RECORDER_ROLES)


def can_act_now(user: User, case: Any) -> bool:
    """The engine would let the user take a (non-automatic) step, vote or record a vote."""
    if case.closed_at is not None:
        return False
    d = registry().stored(case.definition_id)
    if any(
        not t.system_only and actors.may_act(t.by, user, case)
        for t in d.transitions_from(case.state)
    ):
        return True
    return may_vote(user, case) or may_record_resolution(user, case)


def can_view(user: User, case: Any) -> bool:
    """THE visibility rule for a case (ProcessInstance or CaseState): a reading role at its
    organization or above; or being its subject, submitter or assignee; or anyone the engine
    lets act on it now (a named field's person, a voter, a recorder)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if actors.can_read_org(user, case.org_id):
        return True
    if user.id in (case.submitter_user_id, case.assignee_user_id):
        return True
    pid = actors.person_id_of_user(user.id)
    if pid is not None and case.subject_person_id == pid:
        return True
    return can_act_now(user, case)


def get_visible_case(user: User, case_id: int) -> ProcessInstance:
    """The case, or NotFound when it does not exist or the user may not see it."""
    case = db.session.get(ProcessInstance, case_id)
    if case is None or not can_view(user, case):
        raise NotFound(_("No such case, or you may not see it."))
    return case


def get_visible_snapshot(user: User, case_id: int) -> CaseState:
    """``get_visible_case`` as the engine's plain snapshot, read with one raw statement: what a
    step needs, without building an ORM object it would throw away (bench/engine.py)."""
    try:
        case = runtime.load_case(case_id)
    except NotFound:
        case = None
    if case is None or not can_view(user, case):
        raise NotFound(_("No such case, or you may not see it."))
    return case


def snapshot(case: Any) -> CaseState:
    """The engine's plain snapshot of a case row (a CaseState is returned as it is)."""
    if isinstance(case, CaseState):
        return case
    return CaseState(
        id=case.id,
        definition_id=case.definition_id,
        workflow_id=case.workflow_id,
        org_id=case.org_id,
        state=case.state,
        data=dict(case.data or {}),
        version=case.version,
        entered_version=case.entered_version,
        subject_person_id=case.subject_person_id,
        submitter_user_id=case.submitter_user_id,
        assignee_user_id=case.assignee_user_id,
        parent_id=case.parent_id,
        created_at=case.created_at,
        state_entered_at=case.state_entered_at,
        closed_at=case.closed_at,
        title=case.title,
        due_at=case.due_at,
    )
