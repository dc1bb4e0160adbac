"""What waits on me: cases where I may take a step now, open votes I have not cast, and my
notifications.

"May take a step" is the engine's actor rule (``actors.may_act``: roles at their resolved
scopes, submitter, subject, assignee, user and person fields), checked in Python on a
candidate set that one SQL statement narrows down. Guards are not run here (they may need a
query per case); the case page shows a step greyed with its reason when a guard still blocks
it. The number of statements does not grow with the number of cases: candidates come in one
query, electorates are asked once per voting body, my ballots once in all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import String, and_, cast, false, func, or_, select, update

from pbflow import clock
from pbflow.engine import actors, votes
from pbflow.engine.definitions import Definition
from pbflow.engine.errors import NotFound
from pbflow.engine.registry import registry
from pbflow.extensions import db
from pbflow.models import (
    Ballot,
    Notification,
    Organization,
    Person,
    ProcessInstance,
    User,
    WorkflowDefinition,
)
from pbflow.services.cases import is_overdue

P = ProcessInstance
NOTIFICATION_LIMIT = 30
ITEM_LIMIT = 200


@dataclass
class InboxItem:
    case: ProcessInstance
    workflow: str
    state: str
    org_name: str
    subject_name: str | None
    steps: list[str]
    vote: bool = False
    record: bool = False

    @property
    def overdue(self) -> bool:
        return is_overdue(self.case)

    @property
    def due_at(self) -> datetime | None:
        return self.case.due_at


@dataclass
class Inbox:
    items: list[InboxItem]
    total: int
    notifications: list[Notification]
    unread: int
    roles: list[tuple[str, str]] = field(default_factory=list)
    # Overdue cases escalated to my organizations, that no procedure took over (see
    # services.escalations): my task as the superior.
    escalations: list[Any] = field(default_factory=list)


def _json_id_match(name: str, value: int):
    """SQL prefilter: the case's ``data[name]`` is ``value`` or a list holding it. Both
    SQLite and PostgreSQL give the JSON text; spaces are dropped so "[3, 14]" reads "[3,14]".
    The exact check is the engine's, in Python, afterwards."""
    text = func.replace(cast(P.data[name], String), " ", "")
    v = str(value)
    return or_(
        text == v,
        text == f"[{v}]",
        text.like(f"[{v},%"),
        text.like(f"%,{v},%"),
        text.like(f"%,{v}]"),
    )


def _pairs_clause(pairs: dict[int, set[str]]):
    """(definition, state) pairs as SQL: one clause per definition version."""
    if not pairs:
        return false()
    return or_(*[and_(P.definition_id == d, P.state.in_(sorted(s))) for d, s in pairs.items()])


def _definitions() -> dict[int, Definition]:
    reg = registry()
    ids = db.session.execute(select(WorkflowDefinition.id)).scalars().all()
    return {i: reg.stored(i) for i in ids}


def _candidates(user: User, person_id: int | None, person_org: int | None):
    """One query for open cases where the user might be waited on (a superset)."""
    index = actors.org_index()
    held = actors.roles_of(user.id)
    my_roles = {role for _org, role in held}
    subtree = [Organization.path.startswith(index[o].path) for o, _r in held if o in index]
    if person_org is not None and person_org in index:
        subtree.append(P.org_id == person_org)
    role_pairs: dict[int, set[str]] = {}
    field_pairs: dict[tuple[str, str], dict[int, set[str]]] = {}
    for def_id, d in _definitions().items():
        for state, spec in d.states.items():
            if spec.final:
                continue
            if spec.vote is not None:
                role_pairs.setdefault(def_id, set()).add(state)
            for t in d.transitions_from(state):
                for rule in t.by:
                    if rule.kind == "role" and rule.role in my_roles:
                        role_pairs.setdefault(def_id, set()).add(state)
                    elif rule.kind in ("field", "person_field"):
                        pairs = field_pairs.setdefault((rule.kind, rule.field), {})
                        pairs.setdefault(def_id, set()).add(state)
    conditions = [P.submitter_user_id == user.id, P.assignee_user_id == user.id]
    if person_id is not None:
        conditions.append(P.subject_person_id == person_id)
    if subtree and role_pairs:
        conditions.append(and_(_pairs_clause(role_pairs), or_(*subtree)))
    for (kind, name), pairs in field_pairs.items():
        target = user.id if kind == "field" else person_id
        if target is not None:
            conditions.append(and_(_pairs_clause(pairs), _json_id_match(name, target)))
    stmt = (
        select(P, Organization.name, Organization.name_en, Person.name)
        .join(Organization, Organization.id == P.org_id)
        .outerjoin(Person, Person.id == P.subject_person_id)
        .where(P.closed_at.is_(None), or_(*conditions))
    )
    return db.session.execute(stmt).all()


def _person(user: User) -> tuple[int | None, int | None]:
    pid = actors.person_id_of_user(user.id)
    if pid is None:
        return None, None
    org = db.session.execute(select(Person.org_id).where(Person.id == pid)).scalar()
    return pid, org


def inbox(user: User, locale: str) -> Inbox:
    """Everything waiting on the user, overdue first, then by due date."""
    person_id, person_org = _person(user)
    rows = _candidates(user, person_id, person_org)
    reg = registry()
    electorates: dict[tuple[Any, ...], list[int]] = {}
    items: list[InboxItem] = []
    vote_cases: list[InboxItem] = []
    for case, org_name, org_name_en, subject_name in rows:
        d = reg.stored(case.definition_id)
        steps = [
            t.label.get(locale)
            for t in d.transitions_from(case.state)
            if not t.system_only and actors.may_act(t.by, user, case)
        ]
        item = InboxItem(
            case=case,
            workflow=d.title.get(locale),
            state=d.states[case.state].label.get(locale),
            org_name=org_name_en if locale == "en" and org_name_en else org_name,
            subject_name=subject_name,
            steps=steps,
        )
        vote = d.states[case.state].vote
        if vote is not None:
            body = tuple(votes.vote_org_ids(vote, case))
            if "ballot" in vote.mode:
                # One electorate per voting body, not per case.
                key = (vote.electorate, body if vote.electorate != "full_members" else case.org_id)
                if key not in electorates:
                    electorates[key] = votes.electorate_users(vote, case)
                if user.id in electorates[key]:
                    item.vote = True
                    vote_cases.append(item)
            if "meeting" in vote.mode and any(
                actors.has_role(user.id, r, list(body)) for r in votes.RECORDER_ROLES
            ):
                item.record = True
        if item.steps or item.vote or item.record:
            items.append(item)
    if vote_cases:
        voted = set(
            db.session.execute(
                select(Ballot.instance_id, Ballot.round).where(
                    Ballot.voter_user_id == user.id,
                    Ballot.instance_id.in_([i.case.id for i in vote_cases]),
                )
            ).all()
        )
        for item in vote_cases:
            if (item.case.id, item.case.entered_version) in voted:
                item.vote = False
        items = [i for i in items if i.steps or i.vote or i.record]
    far = datetime.max
    items.sort(key=lambda i: (not i.overdue, i.case.due_at or far, -i.case.updated_at.timestamp()))
    notes = list(
        db.session.execute(
            select(Notification)
            .where(Notification.user_id == user.id)
            .order_by(Notification.read_at.is_not(None), Notification.created_at.desc())
            .limit(NOTIFICATION_LIMIT)
        ).scalars()
    )
    index = actors.org_index()
    roles = sorted(
        (
            index[o].path,
            role,
            index[o].name_en if locale == "en" and index[o].name_en else index[o].name,
        )
        for o, role in actors.roles_of(user.id)
        if o in index
    )
    from pbflow.services import escalations

    return Inbox(
        items[:ITEM_LIMIT],
        len(items),
        notes,
        unread_count(user),
        [(role, name) for _path, role, name in roles],
        escalations.open_tasks(user, locale),
    )


def unread_count(user: User) -> int:
    return db.session.execute(
        select(func.count(Notification.id)).where(
            Notification.user_id == user.id, Notification.read_at.is_(None)
        )
    ).scalar_one()


def open_notification(user: User, notification_id: int) -> Notification:
    """Mark one of the user's notifications read and return it (to follow its link)."""
    note = db.session.get(Notification, notification_id)
    if note is None or note.user_id != user.id:
        raise NotFound(_("No such notification."))
    if note.read_at is None:
        try:
            note.read_at = clock.now()
            db.session.commit()
        except BaseException:
            db.session.rollback()
            raise
    return note


def mark_all_read(user: User) -> int:
    try:
        result = db.session.execute(
            update(Notification)
            .where(Notification.user_id == user.id, Notification.read_at.is_(None))
            .values(read_at=clock.now())
        )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return result.rowcount


def notifications_page(user: User, *, before_id: int | None, limit: int) -> list[Notification]:
    """The user's notifications, newest first, older than ``before_id`` (the API's cursor)."""
    stmt = select(Notification).where(Notification.user_id == user.id)
    if before_id is not None:
        stmt = stmt.where(Notification.id < before_id)
    return list(db.session.scalars(stmt.order_by(Notification.id.desc()).limit(limit)))
