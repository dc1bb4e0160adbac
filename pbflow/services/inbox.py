"""What waits on me: the steps that move a case forward and wait on me, apart from the
steps I merely may take (withdraw, change the handler), open votes I have not cast, and my
notifications.

Who is waited on is data (pbflow.engine.tasks): the engine keeps a ``case_task`` row per
holder of every open case in the same transaction as each step, so the inbox resolves my
holders (my account, my roles at organizations, my person, my organization's members when I
have a vote) and reads the rows with indexed queries; nothing is evaluated per case in
Python. Guards are not run here (they may need a query per case); the case page shows a step
greyed with its reason when a guard still blocks it. The number of statements does not grow
with the number of cases: counts in one query, a page of each group in one, their steps in
one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import (
    DateTime,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
    true,
    union_all,
    update,
)

from pbflow import clock, validation
from pbflow.engine import actors, tasks
from pbflow.engine.errors import NotFound
from pbflow.engine.registry import registry
from pbflow.extensions import db
from pbflow.models import (
    Ballot,
    CaseTask,
    Notification,
    Organization,
    Person,
    ProcessInstance,
    User,
)
from pbflow.services import pagination
from pbflow.services.cases import is_overdue

P = ProcessInstance
T = CaseTask
NOTIFICATION_LIMIT = 30
ITEM_PAGE = 50  # cases shown at a time of those waiting on me
OPTION_PAGE = 20  # cases shown at a time of those where I merely may act
Cursor = tuple[datetime | None, int]  # (time limit, case id) of the last case shown


@dataclass
class Step:
    """One thing I may do on a case, linking to its form on the case page (``anchor``)."""

    trigger: str
    label: str
    anchor: str


@dataclass
class InboxItem:
    case: ProcessInstance
    title: str  # whom or what the case is about
    workflow: str
    state: str
    org_name: str
    subject_name: str | None
    steps: list[Step] = field(default_factory=list)  # steps that move the case forward
    options: list[Step] = field(default_factory=list)  # steps I merely may take

    @property
    def overdue(self) -> bool:
        return is_overdue(self.case)

    @property
    def due_at(self) -> datetime | None:
        return self.case.due_at


@dataclass
class Inbox:
    items: list[InboxItem]  # cases waiting on me, earliest time limit first
    total: int
    notifications: list[Notification]
    unread: int
    roles: list[tuple[str, str]] = field(default_factory=list)  # (role key, organization)
    # Overdue cases escalated to my organizations, that no procedure took over (see
    # services.escalations): my task as the superior.
    escalations: list[Any] = field(default_factory=list)
    possible: list[InboxItem] = field(default_factory=list)  # cases where I merely may act
    possible_total: int = 0
    # Cursors of the next page of each list (None: nothing more), and whether this is a
    # later page of one list (the other sections are on the first page only).
    next_after: str | None = None
    next_possible_after: str | None = None
    continued: str | None = None  # "waiting" or "possible" on a later page


def format_cursor(cursor: Cursor) -> str:
    due, case_id = cursor
    return f"none-{case_id}" if due is None else pagination.format_cursor((due, case_id)) or ""


def parse_cursor(raw: Any) -> Cursor | None:
    """A cursor from its text; None when missing or unreadable (the first page)."""
    text = str(raw or "").strip()
    if text.startswith("none-"):
        case_id = validation.parse_id(text[5:])
        return None if case_id is None else (None, case_id)
    return pagination.parse_cursor(text)


def _mine(user: User, keys: list[str]):
    """My task rows: rows of my holders, less the ballots I have cast in the current round."""
    # Asked only of ballot rows (the OR stops at the first true term): the other rows need
    # no look at their case.
    this_round = (
        select(P.entered_version).where(P.id == T.instance_id).correlate(T).scalar_subquery()
    )
    voted = (
        exists()
        .where(
            Ballot.instance_id == T.instance_id,
            Ballot.voter_user_id == user.id,
            Ballot.round == this_round,
        )
        .correlate(T)
    )
    return and_(T.holder.in_(keys), or_(T.kind != tasks.BALLOT, ~voted))


def _per_case(user: User, keys: list[str]):
    """One row per case with work of mine, with its time limit (every row of a case carries
    the case's): ``only_options`` is 1 when all of it is optional. Read from the task index
    alone (ix_case_task_holder_due), whatever the number of cases; materialized, as the
    counts and both pages read it."""
    only_options = func.min(case((T.kind == tasks.OPTION, 1), else_=0)).label("only_options")
    return (
        select(
            T.instance_id.label("case_id"),
            func.max(T.due_at).label("due_at"),
            only_options,
        )
        .where(_mine(user, keys))
        .group_by(T.instance_id)
        .cte("mine")
        .prefix_with("MATERIALIZED")
    )


def _after(mine, cursor: Cursor | None):
    """The cases after ``cursor`` in the inbox's order: time limit (none last), then case."""
    if cursor is None:
        return true()
    due, case_id = cursor
    if due is None:
        return and_(mine.c.due_at.is_(None), mine.c.case_id > case_id)
    return or_(
        mine.c.due_at > due,
        and_(mine.c.due_at == due, mine.c.case_id > case_id),
        mine.c.due_at.is_(None),
    )


@dataclass
class _Found:
    counts: dict[int, int] = field(default_factory=dict)  # only_options -> cases
    pages: dict[int, list[tuple[int, datetime | None]]] = field(
        default_factory=lambda: {0: [], 1: []}
    )  # only_options -> (case id, time limit) in order


def _find(user: User, keys: list[str], pages: dict[int, tuple[int, Cursor | None]]) -> _Found:
    """The counts of both lists and the ids of the pages asked for (``pages``: only_options
    -> (size, cursor)), in one statement over the task index."""
    mine = _per_case(user, keys)
    no_time = cast(literal(None), DateTime)
    parts = [
        select(
            literal(-1).label("part"),
            mine.c.only_options.label("a"),
            func.count().label("n"),
            no_time.label("due_at"),
        ).group_by(mine.c.only_options)
    ]
    for only_options, (size, cursor) in pages.items():
        page = (
            select(
                literal(only_options).label("part"),
                mine.c.case_id.label("a"),
                literal(0).label("n"),
                mine.c.due_at,
            )
            .where(mine.c.only_options == only_options, _after(mine, cursor))
            .order_by(mine.c.due_at.is_(None), mine.c.due_at, mine.c.case_id)
            .limit(size + 1)
            .subquery()
        )
        parts.append(select(page))
    found = _Found()
    for part, a, n, due_at in db.session.execute(union_all(*parts)):
        if part == -1:
            found.counts[int(a)] = int(n)
        else:
            found.pages[int(part)].append((int(a), due_at))
    for rows in found.pages.values():
        rows.sort(key=lambda r: (r[1] is None, r[1] or datetime.min, r[0]))
    return found


def _cases(found: list[tuple[int, datetime | None]], limit: int) -> tuple[list[int], str | None]:
    """A page's case ids and the cursor of the next page (None on the last)."""
    if len(found) <= limit:
        return [case_id for case_id, _due in found], None
    found = found[:limit]
    return [case_id for case_id, _due in found], format_cursor((found[-1][1], found[-1][0]))


def _rows(ids: list[int]) -> list[Any]:
    """The cases of a page, in the page's order, with their organization and subject."""
    if not ids:
        return []
    rows = db.session.execute(
        select(P, Organization.name, Organization.name_en, Person.name)
        .join(Organization, Organization.id == P.org_id)
        .outerjoin(Person, Person.id == P.subject_person_id)
        .where(P.id.in_(ids))
    ).all()
    order = {case_id: i for i, case_id in enumerate(ids)}
    return sorted(rows, key=lambda row: order[row[0].id])


def counts(user: User) -> tuple[int, int]:
    """(cases waiting on me, cases where I merely may act): one indexed query."""
    found = _find(user, tasks.holder_keys(user.id), {})
    return found.counts.get(0, 0), found.counts.get(1, 0)


def _step(d, case: ProcessInstance, kind: str, trigger: str, locale: str) -> Step:
    if kind == tasks.BALLOT:
        return Step("", _("Cast your ballot"), "vote")
    if kind == tasks.RECORD:
        return Step("", _("Record the meeting's resolution"), "resolution")
    t = d.transition(case.state, trigger)
    label = t.label.get(locale) if t is not None else trigger
    return Step(trigger, label, f"step-{trigger}")


_ORDER = {tasks.STEP: 0, tasks.BALLOT: 1, tasks.RECORD: 2, tasks.OPTION: 3}


def _items(user: User, keys: list[str], rows: list[Any], locale: str) -> list[InboxItem]:
    if not rows:
        return []
    ids = [row[0].id for row in rows]
    found: dict[int, set[tuple[str, str]]] = {}
    work = db.session.execute(
        select(T.instance_id, T.kind, T.trigger).where(T.instance_id.in_(ids), _mine(user, keys))
    )
    for case_id, kind, trigger in work:
        found.setdefault(case_id, set()).add((kind, trigger))
    reg = registry()
    items = []
    for case_row, org_name, org_name_en, subject_name in rows:
        d = reg.stored(case_row.definition_id)
        workflow = d.title.get(locale)
        own_title = case_row.title if d.title_template and case_row.title else None
        item = InboxItem(
            case=case_row,
            title=own_title or subject_name or workflow,
            workflow=workflow,
            state=d.states[case_row.state].label.get(locale),
            org_name=org_name_en if locale == "en" and org_name_en else org_name,
            subject_name=subject_name,
        )
        order = {t.trigger: i for i, t in enumerate(d.transitions_from(case_row.state))}
        for kind, trigger in sorted(
            found.get(case_row.id, ()), key=lambda w: (_ORDER[w[0]], order.get(w[1], 0))
        ):
            step = _step(d, case_row, kind, trigger, locale)
            (item.options if kind == tasks.OPTION else item.steps).append(step)
        items.append(item)
    return items


def inbox(
    user: User,
    locale: str,
    *,
    after: Cursor | None = None,
    possible_after: Cursor | None = None,
) -> Inbox:
    """Everything waiting on the user, earliest time limit first (overdue cases first of
    all), a page at a time; apart, the cases where the user merely may take a step. With a
    cursor (``after`` or ``possible_after``), the next page of that list alone."""
    keys = tasks.holder_keys(user.id)
    continued = "waiting" if after is not None else "possible" if possible_after else None
    asked: dict[int, tuple[int, Cursor | None]] = {}
    if continued != "possible":
        asked[0] = (ITEM_PAGE, after)
    if continued != "waiting":
        asked[1] = (OPTION_PAGE, possible_after)
    found = _find(user, keys, asked)
    waiting_ids, next_after = _cases(found.pages[0], ITEM_PAGE)
    possible_ids, next_possible = _cases(found.pages[1], OPTION_PAGE)
    waiting = _rows(waiting_ids)
    possible = _rows(possible_ids)
    items = _items(user, keys, waiting + possible, locale)
    first_page = continued is None
    notes = (
        list(
            db.session.execute(
                select(Notification)
                .where(Notification.user_id == user.id)
                .order_by(Notification.read_at.is_not(None), Notification.created_at.desc())
                .limit(NOTIFICATION_LIMIT)
            ).scalars()
        )
        if first_page
        else []
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
        items[: len(waiting)],
        found.counts.get(0, 0),
        notes,
        unread_count(user),
        [(role, name) for _path, role, name in roles],
        escalations.open_tasks(user, locale) if first_page else [],
        items[len(waiting) :],
        found.counts.get(1, 0),
        next_after,
        next_possible,
        continued,
    )


def check_tasks(*, fix: bool = False) -> tasks.CheckReport:
    """The work-waiting table against a recomputation of every open case (``pbflow tasks
    check``); with ``fix``, the cases that differ are rewritten."""
    return tasks.check(fix=fix)


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
