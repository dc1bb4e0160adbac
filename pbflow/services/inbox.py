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

import functools
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import (
    ARRAY,
    DateTime,
    Integer,
    String,
    and_,
    any_,
    bindparam,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
    true,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.orm import aliased

from pbflow import clock, prepared, validation
from pbflow.engine import actors, fastsql, tasks
from pbflow.engine.errors import NotFound
from pbflow.engine.registry import registry
from pbflow.extensions import db
from pbflow.models import (
    Ballot,
    CaseTask,
    Notification,
    Person,
    ProcessInstance,
    User,
)
from pbflow.services import head_memo, pagination
from pbflow.services.cases import is_overdue

P = ProcessInstance
T = CaseTask
NOTIFICATION_LIMIT = 10  # the inbox's newest notifications, unread first; the rest a click away
ITEM_PAGE = 25  # cases shown at a time of those waiting on me
OPTION_PAGE = 10  # cases shown at a time of those where I merely may act
# The lists are counted no further than this (then "more than"): the cases waiting on me as
# every long list is; the merely possible ones less far, as each needs a look at the case's
# other rows of mine to know that nothing of mine waits on it.
COUNT_LIMITS = {0: pagination.COUNT_LIMIT, 1: 100}
Cursor = tuple[datetime | None, int]  # (time limit, case id) of the last case shown


@dataclass(frozen=True)
class Step:
    """One thing I may do on a case, linking to its form on the case page (``anchor``)."""

    trigger: str
    label: str
    anchor: str


@dataclass
class InboxItem:
    case: Any  # the case's columns the lists show (CASE_COLUMNS), by name
    title: str  # whom or what the case is about
    workflow: str
    state: str
    org_name: str
    subject_name: str | None
    steps: list[Step] = field(default_factory=list)  # steps that move the case forward
    options: list[Step] = field(default_factory=list)  # steps I merely may take

    @cached_property
    def overdue(self) -> bool:
        return is_overdue(self.case)

    @property
    def due_at(self) -> datetime | None:
        return self.case.due_at


@dataclass
class Inbox:
    items: list[InboxItem]  # cases waiting on me, earliest time limit first
    total: int
    notifications: list[Any]  # rows of NOTE_COLUMNS, unread first, newest first
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

    @property
    def total_exact(self) -> bool:
        """False when more cases wait than the list counts (``total`` is then its limit + 1)."""
        return self.total <= COUNT_LIMITS[0]

    @property
    def possible_total_exact(self) -> bool:
        return self.possible_total <= COUNT_LIMITS[1]


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


def _voted(user_id: Any, task):
    """The ballot of ``task``'s case that the user has cast in the current round."""
    this_round = (
        select(P.entered_version).where(P.id == task.instance_id).correlate(task).scalar_subquery()
    )
    return (
        exists()
        .where(
            Ballot.instance_id == task.instance_id,
            Ballot.voter_user_id == user_id,
            Ballot.round == this_round,
        )
        .correlate(task)
    )


# The statement that finds both lists is built once per shape (number of holders, pages and
# cursors asked) with its values as parameters: building it takes longer than running it.
_UID = bindparam("uid", type_=Integer)


@dataclass(frozen=True)
class _Holders:
    """My holders in the statement. On SQLite one parameter each, every holder a walk of its
    own in a compound statement. On PostgreSQL one array parameter whose elements the walks
    join to (LATERAL), so the statement's shape no longer grows with my holders: PostgreSQL
    plans a statement at every execution (custom plans, even when it is kept prepared:
    pbflow.prepared), and planning the twenty to thirty walks of a committee secretary's inbox
    took 8 ms for 2-6 ms of reading."""

    count: int  # parameters k0... on SQLite; 0 on PostgreSQL, the array ``keys``

    def params(self, keys: list[str]) -> dict[str, Any]:
        if not self.count:
            return {"keys": keys}
        return {f"k{i}": key for i, key in enumerate(keys)}

    def contain(self, column: Any) -> Any:
        """``column`` is one of my holders."""
        if not self.count:
            return column == any_(bindparam("keys", type_=ARRAY(String)))
        return column.in_([bindparam(f"k{i}", type_=String) for i in range(self.count)])

    def walk(self, only_options: int, limit: int, *conditions) -> list[Any]:
        """Per holder of mine, the first ``limit`` cases of a list in the index's order
        (time limit, case): each a short walk of ix_case_task_holder_due that stops at
        ``limit``, whatever the number of rows the holder has; row sources for a compound
        statement."""

        def first(holder: Any):
            return (
                select(T.due_at, T.instance_id)
                .distinct()
                .where(T.holder == holder, _in_list(self, only_options), *conditions)
                .order_by(T.due_at, T.instance_id)
                .limit(limit)
            )

        if not self.count:
            keys = bindparam("keys", type_=ARRAY(String))
            mine = func.unnest(keys).table_valued("key").render_derived(name="mine")
            walked = first(mine.c.key).lateral()
            return [
                select(walked.c.due_at, walked.c.instance_id).select_from(mine).join(walked, true())
            ]
        return [
            select(first(bindparam(f"k{i}", type_=String)).subquery()) for i in range(self.count)
        ]


def _in_list(holders: _Holders, only_options: int):
    """My rows that put their case in a list: 0, waiting on me (a step, a ballot not cast, a
    resolution to record); 1, merely possible (an option, on a case with nothing of mine
    that waits). Every row of a case carries the case's time limit."""
    if not only_options:
        return and_(T.kind != tasks.OPTION, or_(T.kind != tasks.BALLOT, ~_voted(_UID, T)))
    other = aliased(CaseTask)
    waits = (
        exists()
        .where(
            other.instance_id == T.instance_id,
            holders.contain(other.holder),
            other.kind != tasks.OPTION,
            or_(other.kind != tasks.BALLOT, ~_voted(_UID, other)),
        )
        .correlate(T)
    )
    return and_(T.kind == tasks.OPTION, ~waits)


def _page(holders: _Holders, only_options: int, size: int, cursor: str | None):
    """A page of a list after the cursor (``cursor``: None, "timed" or "untimed", the kind
    of the last case shown), in the inbox's order (time limit, none last; case): each
    holder's first cases with a time limit and its first without, merged."""
    due = bindparam(f"due{only_options}", type_=DateTime)
    after_id = bindparam(f"after{only_options}", type_=Integer)
    timed: list[Any] = []
    if cursor != "untimed":
        after = [tuple_(T.due_at, T.instance_id) > tuple_(due, after_id)] if cursor else []
        timed = holders.walk(only_options, size + 1, T.due_at.is_not(None), *after)
    after = [T.instance_id > after_id] if cursor == "untimed" else []
    untimed = holders.walk(only_options, size + 1, T.due_at.is_(None), *after)
    merged = union_all(*timed, *untimed).subquery()
    return select(
        select(literal(only_options).label("part"), merged.c.instance_id, merged.c.due_at)
        .group_by(merged.c.instance_id, merged.c.due_at)  # a case held by two of my holders
        .order_by(merged.c.due_at.is_(None), merged.c.due_at, merged.c.instance_id)
        .limit(size + 1)
        .subquery()
    )


def _count(holders: _Holders, only_options: int, limit: int):
    """How many cases a list holds, counted no further than its limit + 1: each holder's
    walk stops there, so a holder with 10,000 cases costs what one with 1,001 does. When no
    holder reaches the limit the union is whole and the count exact; when one does, the
    list holds more than the limit either way. The cases are counted as they come, up to
    the limit + 1 as well: once the first holder's walk has found that many, the others are
    not walked (SQLite reads the union as it counts), where a committee secretary's inbox
    walked two holders' 1,001 cases each to say "more than 1,000"."""
    merged = union_all(*holders.walk(only_options, limit + 1)).subquery()
    first = select(merged.c.instance_id).distinct().limit(limit + 1).subquery()
    return select(
        literal(-1 - only_options).label("part"),
        func.count(first.c.instance_id),
        cast(literal(None), DateTime),
    )


@functools.lru_cache(maxsize=128)
def _statement(
    holders: int, pages: tuple[tuple[int, int, str | None], ...], limits: tuple[int, int]
):
    mine = _Holders(holders)
    parts = [_count(mine, 0, limits[0]), _count(mine, 1, limits[1])]
    parts += [_page(mine, o, size, cursor) for o, size, cursor in pages]
    return union_all(*parts)


@dataclass
class _Found:
    counts: dict[int, int] = field(default_factory=dict)  # only_options -> cases (capped)
    pages: dict[int, list[tuple[int, datetime | None]]] = field(
        default_factory=lambda: {0: [], 1: []}
    )  # only_options -> (case id, time limit) in order


def _find(user: User, keys: list[str], pages: dict[int, tuple[int, Cursor | None]]) -> _Found:
    """The counts of both lists (at most their COUNT_LIMITS + 1) and the ids of the pages asked for
    (``pages``: only_options -> (size, cursor)), in one statement of short index walks per
    holder; kept until the next recorded change (``head_memo``).

    What it reads changes only with a recorded change: the work-waiting rows are written in
    the step's transaction, a ballot with its event, and the holder keys (roles, membership)
    are part of the key. Nothing in it reads the clock: the lists are in time-limit order,
    and what is overdue is told when the page is drawn. A committee secretary's inbox spent
    5 ms of PostgreSQL's work on every view counting 1,000 cases that had not changed."""
    asked = tuple(sorted(pages.items()))
    limits = (COUNT_LIMITS[0], COUNT_LIMITS[1])
    return head_memo.remembered(
        ("inbox", user.id, tuple(keys), asked, limits),
        lambda: _search(user, keys, pages),
        store="inbox",
    )


def _search(user: User, keys: list[str], pages: dict[int, tuple[int, Cursor | None]]) -> _Found:
    # One parameter per holder on SQLite, one array of them on PostgreSQL (see _Holders).
    holders = 0 if db.session.get_bind().dialect.name == "postgresql" else len(keys)
    params: dict[str, Any] = {"uid": user.id, **_Holders(holders).params(keys)}
    shape = []
    for only_options, (size, cursor) in sorted(pages.items()):
        kind = None
        if cursor is not None:
            kind = "untimed" if cursor[0] is None else "timed"
            params[f"due{only_options}"], params[f"after{only_options}"] = cursor
        shape.append((only_options, size, kind))
    found = _Found()
    limits = (COUNT_LIMITS[0], COUNT_LIMITS[1])
    with prepared.planned_once():  # the same index walks whoever asks
        found_rows = db.session.execute(_statement(holders, tuple(shape), limits), params).all()
    for part, a, due_at in found_rows:
        if part < 0:
            only_options = -1 - int(part)
            found.counts[only_options] = min(int(a), limits[only_options] + 1)
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


# What an item shows of its case (and the API's summary of it): the columns alone, read as
# rows; loading each case as an object (its data, the session's bookkeeping) cost more than
# the rest of the page's reading together.
CASE_COLUMNS = (
    P.id,
    P.definition_id,
    P.workflow_id,
    P.org_id,
    P.title,
    P.state,
    P.version,
    P.created_at,
    P.updated_at,
    P.due_at,
    P.closed_at,
)


def _rows(ids: list[int]) -> list[Any]:
    """The cases of a page, in the page's order: rows of CASE_COLUMNS with the name of the
    case's subject (``subject_name``); organizations are named from the organization index."""
    if not ids:
        return []
    rows = db.session.execute(
        select(
            *CASE_COLUMNS,
            Person.name.label("subject_name"),
        )
        .outerjoin(Person, Person.id == P.subject_person_id)
        .where(fastsql.among(P.id, ids))
    ).all()
    order = {case_id: i for i, case_id in enumerate(ids)}
    return sorted(rows, key=lambda row: order[row.id])


def counts(user: User) -> tuple[int, int]:
    """(cases waiting on me, cases where I merely may act): one indexed query."""
    found = _find(user, tasks.holder_keys(user.id), {})
    return found.counts.get(0, 0), found.counts.get(1, 0)


def _step(d, state: str, kind: str, trigger: str, locale: str) -> Step:
    if kind == tasks.BALLOT:
        return Step("", _("Cast your ballot"), "vote")
    if kind == tasks.RECORD:
        return Step("", _("Record the meeting's resolution"), "resolution")
    t = d.transition(state, trigger)
    label = t.label.get(locale) if t is not None else trigger
    return Step(trigger, label, f"step-{trigger}")


_ORDER = {tasks.STEP: 0, tasks.BALLOT: 1, tasks.RECORD: 2, tasks.OPTION: 3}


def _items(user: User, keys: list[str], rows: list[Any], locale: str) -> list[InboxItem]:
    if not rows:
        return []
    ids = [row.id for row in rows]
    found: dict[int, set[tuple[str, str]]] = {}
    # The page's cases' rows of mine, through ix_case_task_instance: asked as ``holder IN``
    # SQLite walked every row of my holders (30,000 for a committee) to find the page's;
    # ``holder || ''`` is no column an index holds, so it only filters the page's rows (a
    # tenth of them mine for a committee: the rest were read and dropped here).
    work = db.session.execute(
        select(T.instance_id, T.kind, T.trigger).where(
            fastsql.among(T.instance_id, ids),
            T.holder.concat("").in_(keys),
            or_(T.kind != tasks.BALLOT, ~_voted(user.id, T)),
        )
    )
    for case_id, kind, trigger in work:
        found.setdefault(case_id, set()).add((kind, trigger))
    reg, index = registry(), actors.org_index()
    # What every case of one workflow revision in one state shares, looked up once a page.
    shared: dict[tuple[int, str], tuple[Any, str, str, dict[str, int]]] = {}
    steps: dict[tuple[int, str, str, str], Step] = {}
    items = []
    for case_row in rows:
        shape = (case_row.definition_id, case_row.state)
        known = shared.get(shape)
        if known is None:
            d = reg.stored(case_row.definition_id)
            order = {t.trigger: i for i, t in enumerate(d.transitions_from(case_row.state))}
            known = shared[shape] = (
                d,
                d.title.get(locale),
                d.states[case_row.state].label.get(locale),
                order,
            )
        d, workflow, state, order = known
        subject_name = case_row.subject_name
        own_title = case_row.title if d.title_template and case_row.title else None
        item = InboxItem(
            case=case_row,
            title=own_title or subject_name or workflow,
            workflow=workflow,
            state=state,
            org_name=index[case_row.org_id].display_name(locale),
            subject_name=subject_name,
        )
        for kind, trigger in sorted(
            found.get(case_row.id, ()), key=lambda w: (_ORDER[w[0]], order.get(w[1], 0))
        ):
            step = steps.get((*shape, kind, trigger))
            if step is None:
                step = steps[(*shape, kind, trigger)] = _step(d, shape[1], kind, trigger, locale)
            (item.options if kind == tasks.OPTION else item.steps).append(step)
        items.append(item)
    return items


# What the inbox shows of a notification (its words are made from kind, params and message).
NOTE_COLUMNS = (
    Notification.id,
    Notification.instance_id,
    Notification.kind,
    Notification.params,
    Notification.message,
    Notification.created_at,
    Notification.read_at,
)


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
    # Both pages' cases in one statement: a case waits on me or merely lets me act, never
    # both (the lists exclude each other in the statement that found them).
    rows = _rows(waiting_ids + possible_ids)
    waiting_set = set(waiting_ids)
    waiting = [row for row in rows if row.id in waiting_set]
    possible = [row for row in rows if row.id not in waiting_set]
    items = _items(user, keys, waiting + possible, locale)
    first_page = continued is None
    notes = (
        list(
            db.session.execute(
                select(*NOTE_COLUMNS)
                .where(Notification.user_id == user.id)
                .order_by(Notification.read_at.is_not(None), Notification.created_at.desc())
                .limit(NOTIFICATION_LIMIT)
            )
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
    """The top bar's count, on every page: read on the transaction's own cursor (a third of
    what the ORM's statement cost), after the session's pending changes, as the ORM's would."""
    sql = _UNREAD_SQL + fastsql.flavour().placeholder
    return fastsql.read_flushed(sql, (user.id,))[0][0]


_UNREAD_SQL = (
    f"SELECT count(*) FROM {Notification.__tablename__} WHERE read_at IS NULL AND user_id = "
)


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


NOTIFICATIONS_PAGE = 30  # notifications a page of them lists (the inbox: NOTIFICATION_LIMIT)


@dataclass
class NotificationPage:
    notes: list[Any]  # rows of NOTE_COLUMNS, newest first
    unread: int
    next_before: int | None  # the cursor of the next (older) page, None on the last


def notification_list(
    user: User, *, before_id: int | None = None, size: int = NOTIFICATIONS_PAGE
) -> NotificationPage:
    """Every notification of the user, newest first, ``size`` at a time, older than
    ``before_id`` (the page's and the API's cursor). The inbox shows the first few, unread
    first; this is where the rest are read. Walks ix_notification_user_newest, so a page
    costs the same after years of notifications."""
    stmt = select(*NOTE_COLUMNS).where(Notification.user_id == user.id)
    if before_id is not None:
        stmt = stmt.where(Notification.id < before_id)
    found = list(db.session.execute(stmt.order_by(Notification.id.desc()).limit(size + 1)))
    notes, next_before = pagination.cut(found, size, lambda n: n.id)
    return NotificationPage(notes, unread_count(user), next_before)
