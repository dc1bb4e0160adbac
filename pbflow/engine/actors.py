"""Who may act and who may see: roles resolved against the organization tree.

Both lookups are cached on the database session (one request, one CLI command), so a page or a
batch of transitions asks the database once for the tree and once per user for roles.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy import select

from pbflow.engine import fastsql
from pbflow.engine.definitions import ActorRule
from pbflow.extensions import db
from pbflow.extensions import session as current_session
from pbflow.models import Organization, Person, RoleAssignment, User

_ORGS = "pbflow_org_index"
_ROLES = "pbflow_roles"

# The roles that make someone a member of a branch's committee (支部委员会): the three
# meetings' committee meeting and a life meeting's committee session are theirs.
BRANCH_COMMITTEE_ROLES = ("secretary", "deputy_secretary", "organizing_member", "branch_committee")
# Whether a branch *has* a committee: someone holds a committee post there other than the
# secretary's and the deputy's (they lead a branch with or without one), the organizing
# member's or a committee member's, on an account that is active. The three meetings'
# requirements (a committee meeting a month), a life meeting's committee session and the
# supervision's branch sizes read it so.
COMMITTEE_POSTS = ("organizing_member", "branch_committee")

# Roles that let their holder read the whole subtree of their organization. A plain member
# (or applicant) sees only their own records (DOMAIN: "a member sees their own records").
READ_ROLES = frozenset(
    {
        "admin",
        "committee",
        "organizer",
        "secretary",
        "deputy_secretary",
        "organizing_member",
        "branch_committee",
        "group_leader",
        "auditor",
    }
)
# A party group leader (党小组组长) reads their party group: the role is a reading role only
# where it is held at a party group organization (the group's meetings, its members). Held at
# a branch it reads nothing there: not the branch's cases, not the opinion box's case pages.
GROUP_LEADER = "group_leader"


def reads_from(org_id: int, role: str, index: dict[int, OrgNode] | None = None) -> bool:
    """Whether holding ``role`` at ``org_id`` lets its holder read that subtree."""
    if role not in READ_ROLES:
        return False
    if role != GROUP_LEADER:
        return True
    node = (index if index is not None else org_index()).get(org_id)
    return node is not None and node.kind == "party_group"


def read_roots(user_id: int) -> set[int]:
    """The organizations whose subtree the user reads (see ``reads_from``). The tree is
    consulted only for a group leader's role."""
    held = roles_of(user_id)
    index = org_index() if any(role == GROUP_LEADER for _oid, role in held) else None
    return {oid for oid, role in held if reads_from(oid, role, index)}


def reads_anything(user_id: int) -> bool:
    """Whether the user reads any organization (``read_roots`` reads the tree only for a
    group leader's role)."""
    return bool(read_roots(user_id))


@dataclass(frozen=True)
class OrgNode:
    id: int
    parent_id: int | None
    kind: str
    path: str
    name: str
    name_en: str | None
    active: bool = True  # lists to choose from mark deactivated ones
    # When it was set up (naive UTC): obligations count from then. In the index, so that the
    # figures of a tree need not read it again per procedure.
    created_at: datetime | None = None
    code: str | None = None  # as in the addresses of the pages of an organization

    def ancestor_ids(self) -> list[int]:
        return list(self.ancestors)

    @cached_property
    def ancestors(self) -> tuple[int, ...]:
        """The organization's path as ids, root first, itself last (parsed once per node)."""
        return tuple(int(p) for p in self.path.strip("/").split("/") if p)

    def display_name(self, locale: str | None = None) -> str:
        """The name in the reader's language: the English name on an English page where the
        organization has one (``locale`` defaults to the request's)."""
        if locale is None:
            from flask_babel import get_locale

            locale = str(get_locale() or "zh")
        return self.name_en if locale == "en" and self.name_en else self.name


def org_index() -> dict[int, OrgNode]:
    session = current_session()
    index = session.info.get(_ORGS)
    if index is None:
        f = fastsql.flavour()
        index = {}
        for r in fastsql.read_flushed(_ORG_INDEX_SQL):
            node = _NODES.get(r)
            if node is None:
                if len(_NODES) >= _NODES_KEPT:
                    _NODES.clear()
                node = _NODES[r] = OrgNode(
                    r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), f.read_dt(r[7]), r[8]
                )
            index[r[0]] = node
        session.info[_ORGS] = index
    return index


_ORG_INDEX_SQL = (
    "SELECT id, parent_id, kind, path, name, name_en, active, created_at, code"
    f" FROM {Organization.__tablename__}"
)
# Each organization's node by the row it was read from, shared by every request of the
# process while the row reads the same (a node is frozen; a changed row makes a new one):
# a hundred nodes made anew, and their paths parsed again, were a tenth of a millisecond of
# every page. Emptied when it holds more than rows that have ever been read would explain.
_NODES: dict[tuple, OrgNode] = {}
_NODES_KEPT = 10_000


def org_by_code(code: str) -> OrgNode | None:
    """The organization of a page's address (``/opinions/<code>/book``), from the index the
    request reads anyway: a statement less for a page that reads the organization's row
    for nothing more than its id and names."""
    return next((n for n in org_index().values() if n.code == code), None)


def forget_orgs() -> None:
    db.session.info.pop(_ORGS, None)


def _forget_changed_orgs(session: Any, _context: Any, _instances: Any) -> None:
    """An organization added, changed or deleted in the session: its index is read again
    (names, places in the tree and founding times are read from it, not from the rows)."""
    for objects in (session.new, session.dirty, session.deleted):
        if any(isinstance(o, Organization) for o in objects):
            session.info.pop(_ORGS, None)
            return


def install_session_hooks(session_class: type) -> None:
    from sqlalchemy import event

    if not event.contains(session_class, "before_flush", _forget_changed_orgs):
        event.listen(session_class, "before_flush", _forget_changed_orgs)


def forget_roles(user_id: int | None = None) -> None:
    if user_id is None:
        db.session.info.pop(_ROLES, None)
    else:
        db.session.info.get(_ROLES, {}).pop(user_id, None)


def roles_of(user_id: int) -> frozenset[tuple[int, str]]:
    """(organization id, role) pairs held by a user."""
    session = current_session()
    cache = session.info.setdefault(_ROLES, {})
    roles = cache.get(user_id)
    if roles is None:
        sql = _ROLES_SQL + fastsql.flavour().placeholder
        roles = cache[user_id] = frozenset(
            (org_id, role) for org_id, role in fastsql.read_flushed(sql, (user_id,))
        )
    return roles


_ROLES_SQL = f"SELECT org_id, role FROM {RoleAssignment.__tablename__} WHERE user_id = "


def resolve_scope(org_id: int, at: str, index: dict[int, OrgNode] | None = None) -> list[int]:
    """Organizations where a role must be held for ``at`` relative to a case's organization."""
    if index is None:
        index = org_index()
    node = index.get(org_id)
    if node is None:
        return []
    if at == "org":
        return [org_id]
    if at == "parent":
        return [node.parent_id] if node.parent_id else []
    if at == "ancestor":
        return node.ancestor_ids()
    kind = "committee" if at == "committee" else "general_branch"
    ancestors = node.ancestor_ids()
    if at == "general_branch":
        ancestors = ancestors[:-1]  # a general branch reviews for the branches below it
    for oid in reversed(ancestors):
        if index[oid].kind == kind:
            return [oid]
    return []


def has_role(user_id: int, role: str, org_ids: list[int]) -> bool:
    held = roles_of(user_id)
    return any((oid, role) in held for oid in org_ids)


def person_user_id(person_id: int | None) -> int | None:
    if person_id is None:
        return None
    return db.session.execute(select(Person.user_id).where(Person.id == person_id)).scalar()


def has_voting_rights(person: Any) -> bool:
    """Whether a member votes: a full member not under party probation (留党察看) whose
    rights are not restored (DOMAIN 1: only full members vote). ``person``: a Person or a
    row with its columns. One rule for a meeting's votes and for the ballots that wait in
    the inbox (``tasks.holder_keys``)."""
    return person.party_status == "full" and not person.on_party_probation


_USER_PERSON = "pbflow_user_person"


def person_id_of_user(user_id: int) -> int | None:
    session = current_session()
    cache = session.info.setdefault(_USER_PERSON, {})
    if user_id not in cache:
        cache[user_id] = session.execute(
            select(Person.id).where(Person.user_id == user_id)
        ).scalar()
    return cache[user_id]


def membership_of_user(user_id: int) -> Any:
    """The user's person as a member (id, organization, party status, active, on party
    probation), or None: one statement, whose id ``person_id_of_user`` then has (the inbox
    asked for the id and then for the rest, two round trips on every view)."""
    session = current_session()
    row = session.execute(
        select(
            Person.id, Person.org_id, Person.party_status, Person.active, Person.on_party_probation
        ).where(Person.user_id == user_id)
    ).first()
    session.info.setdefault(_USER_PERSON, {})[user_id] = row.id if row is not None else None
    return row


@dataclass(frozen=True)
class CodeHolder:
    """Whoever proved they hold the tracking code of case ``case_id``.

    Only a procedure's service makes one, after checking the code for that very case; it
    matches the ``code_holder`` rule of that case and nothing else. It is not a login: the
    audit trail records it as "anonymous" (no user id), so an anonymous submitter stays so.
    """

    case_id: int
    id: None = None
    username: str = "anonymous"


def matches(rule: ActorRule, user: User | None, case: Any) -> bool:
    """Does ``user`` satisfy one ``by`` rule for this case (or case-to-be)?"""
    if isinstance(user, CodeHolder):
        return rule.kind == "code_holder" and case.id is not None and user.case_id == case.id
    if user is None or not isinstance(user, User):
        if rule.kind == "anyone":  # a public form: no login needed
            return user == "anonymous"
        return rule.kind == "system" and user in (None, "system")
    if rule.kind == "role":
        return has_role(user.id, rule.role, resolve_scope(case.org_id, rule.at))
    if rule.kind == "submitter":
        return case.submitter_user_id == user.id
    if rule.kind == "assignee":
        return case.assignee_user_id == user.id
    if rule.kind == "subject":
        # Person.user_id is unique, so "the subject's account is me" is "my person is the
        # subject": the cached per-user lookup keeps lists of cases free of a query per case.
        return (
            case.subject_person_id is not None
            and person_id_of_user(user.id) == case.subject_person_id
        )
    if rule.kind == "field":
        value = (case.data or {}).get(rule.field)
        return user.id in value if isinstance(value, list) else value == user.id
    if rule.kind == "person_field":
        value = (case.data or {}).get(rule.field)
        pid = person_id_of_user(user.id)
        return pid is not None and (pid in value if isinstance(value, list) else value == pid)
    return rule.kind == "anyone"


def may_act(rules: tuple[ActorRule, ...], user: Any, case: Any) -> bool:
    return any(matches(rule, user, case) for rule in rules)


def can_read_org(user: User, org_id: int) -> bool:
    """A role in READ_ROLES at the organization or any organization above it."""
    node = org_index().get(org_id)
    if node is None:
        return False
    return not read_roots(user.id).isdisjoint(node.ancestors)


def readable_org_ids(user: User) -> set[int]:
    """Every organization the user may read: their ``read_roots`` and all below."""
    roots = read_roots(user.id)
    if not roots:
        return set()
    index = org_index()
    # Below a root is what its path starts with (paths end in "/": "/1/4/" is no prefix of
    # "/1/40/"): one C-level test per organization, where walking each one's ancestors was
    # a millisecond of every list a committee reads.
    prefixes = tuple(index[r].path for r in roots if r in index)
    return {node.id for node in index.values() if prefixes and node.path.startswith(prefixes)}


def with_branch_committee(org_ids: list[int]) -> set[int]:
    """The organizations among ``org_ids`` that have a branch committee (one of the
    ``COMMITTEE_POSTS`` held there by an active account): one statement whatever their
    number."""
    rows = db.session.execute(
        select(RoleAssignment.org_id)
        .join(User, User.id == RoleAssignment.user_id)
        .where(
            fastsql.among(RoleAssignment.org_id, org_ids),
            RoleAssignment.role.in_(COMMITTEE_POSTS),
            User.active,
        )
        .distinct()
    )
    return set(rows.scalars())


def users_with_role(role: str, org_ids: list[int]) -> list[int]:
    if not org_ids:
        return []
    rows = db.session.execute(
        select(RoleAssignment.user_id)
        .join(User, User.id == RoleAssignment.user_id)
        .where(RoleAssignment.role == role, RoleAssignment.org_id.in_(org_ids), User.active)
    )
    return sorted({r.user_id for r in rows})


def users_for_rule(rule: ActorRule, case: Any) -> list[int]:
    """The users a rule points at for this case: who a waiting step is waiting on."""
    if rule.kind == "role":
        return users_with_role(rule.role, resolve_scope(case.org_id, rule.at))
    if rule.kind == "submitter":
        return [case.submitter_user_id] if case.submitter_user_id else []
    if rule.kind == "assignee":
        return [case.assignee_user_id] if case.assignee_user_id else []
    if rule.kind == "subject":
        uid = person_user_id(case.subject_person_id)
        return [uid] if uid else []
    if rule.kind == "field":
        value = (case.data or {}).get(rule.field)
        if isinstance(value, list):
            return [v for v in value if isinstance(v, int)]
        return [value] if isinstance(value, int) else []
    if rule.kind == "person_field":
        value = (case.data or {}).get(rule.field)
        ids = value if isinstance(value, list) else [value]
        ids = [v for v in ids if isinstance(v, int)]
        if not ids:
            return []
        rows = db.session.execute(select(Person.user_id).where(Person.id.in_(ids)))
        return sorted({r.user_id for r in rows if r.user_id})
    return []
