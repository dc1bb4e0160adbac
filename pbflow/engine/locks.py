"""Row locks for a check that must see the other transaction's write (DESIGN section 4).

A rule like "one vote decides", "one assessment round per committee and period" or "one
appeal per branch and round" is checked by reading, then written. Two transactions doing
that at the same moment both read before either writes, both pass, and both write. So the
check takes a lock first, on a row every transaction of that kind must take: the second
waits for the first to commit, then reads what the first wrote, and refuses.

PostgreSQL locks the row (``SELECT ... FOR UPDATE``); its READ COMMITTED statements after
the lock read what was committed before it was granted. SQLite ignores ``FOR UPDATE``: there
a no-op UPDATE of the row comes first. It takes the database's write lock (waiting, with
``busy_timeout``, for any other writer to commit), and pysqlite runs the reads before it
outside any transaction, so the reads after it see the latest commit. The lock is held
until the transaction commits or rolls back.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Column, select, update

from pbflow.engine import fastsql
from pbflow.engine.context import CaseState
from pbflow.engine.errors import NotFound
from pbflow.extensions import db
from pbflow.models import Organization, Person, ProcessInstance


def _sqlite_write_locks(column: Column, row_ids: list[int]) -> int | None:
    """On SQLite, take the database's write lock by writing ``column`` of the rows back
    unchanged (never the key: rewriting a key would make SQLite check every row that
    refers to it), in one statement; how many exist. None elsewhere: nothing done."""
    if db.session.get_bind().dialect.name != "sqlite":
        return None
    table = column.table
    done = db.session.execute(update(table).where(table.c.id.in_(row_ids)).values({column: column}))
    return done.rowcount


def hold_case(case_id: int) -> CaseState:
    """Read the case and hold it until the transaction ends (``NotFound`` if there is none):
    steps that count something of the case (ballots, appeals against it) one after another."""
    _sqlite_write_locks(ProcessInstance.__table__.c.version, [case_id])
    row = fastsql.load_case(case_id, True)  # FOR UPDATE on PostgreSQL
    if row is None:
        raise NotFound(_("No such case."))
    return CaseState(*row)


def _hold(table: Any, row_ids: list[int], column: Column | None = None) -> int:
    """Hold rows until the transaction ends, in the order of their ids; how many exist. On
    SQLite ``column`` (the table's ``active`` unless given) is written back unchanged; on
    PostgreSQL ``FOR NO KEY UPDATE``: holders wait for each other, while rows that only
    refer to them (cases, events) are still written meanwhile."""
    ids = sorted(set(row_ids))
    if not ids:
        return 0
    found = _sqlite_write_locks(table.c.active if column is None else column, ids)
    if found is None:
        found = len(
            db.session.execute(
                select(table.c.id)
                .where(fastsql.among(table.c.id, ids))
                .order_by(table.c.id)
                .with_for_update(key_share=True)
            ).all()
        )
    return found


def hold_organization(org_id: int) -> bool:
    """Hold the organization's row until the transaction ends; False if there is none."""
    return _hold(Organization.__table__, [org_id]) == 1


def hold_record(table: Any, row_id: int) -> bool:
    """Hold a versioned record's row (a meeting, a training record) until the transaction
    ends; False if there is none. A correction compares the version it was opened at with
    the row's under this lock, so two corrections sent at the same moment cannot both pass
    the comparison and the second overwrite the first."""
    return _hold(table, [row_id], table.c.version) == 1


def hold_person(person_id: int) -> bool:
    """Hold a person's row until the transaction ends; False if there is none: checks of
    what one member may still be given (a day's training hours, a course once a day) one
    after another."""
    return _hold(Person.__table__, [person_id]) == 1


def hold_people(person_ids: Iterable[int]) -> int:
    """Hold several people's rows until the transaction ends, in one statement and in the
    order of their ids (every holder of more than one person takes them in that order, so
    two of them never wait for each other's rows in opposite orders: no deadlock); how many
    exist. A meeting that credits a day's training to each member present checks each of
    their days, as ``hold_person`` does for one record."""
    return _hold(Person.__table__, list(person_ids))
