"""When the clock alone next changes a count of open cases.

Overdue work, stuck work, notices past their deadline and development cases past their time
limit are counted "as of now" (the supervision dashboard, the development pipeline). Between
two recorded changes (``head_memo`` keys figures by the audit chain's head) such a count
changes only when an open case falls due or has waited the threshold: at the earliest time
limit from now on, or ``stuck_days`` after the earliest entry into a state that is not yet that
old. Until that instant a count made now is still the count, so it can be kept
(``head_memo.remembered(..., until=...)``) instead of read again on every view.

Read over every open case, not the scope's: an instant too early only costs a count made
afresh, and one statement reading the first entry of two indexes of the open cases
(``ix_case_open_due``, ``ix_case_open_waiting``) serves every organization. SQLite is told
that about half the cases are open, as ``work.items`` tells it: taking "closed_at IS NULL"
for one in thousands, it would read and sort every open case instead.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, literal_column, select

from pbflow.extensions import db
from pbflow.models import ProcessInstance as P


def next_change(now: datetime, stuck_days: int | None = None) -> datetime | None:
    """The first instant from ``now`` on at which an open case falls due (its time limit
    reached), or, with ``stuck_days``, has been that many days in its state: a count made
    at ``now`` holds while the clock is before it. From the instant itself, not after it:
    the dashboard's work counts "due at or before now" and the development pipeline "due
    before now", which change at that instant and a microsecond later. None when no open
    case ever will."""
    is_open = P.closed_at.is_(None)
    if db.session.get_bind().dialect.name == "sqlite":
        is_open = func.likelihood(is_open, literal_column("0.5"))
    due = (
        select(P.due_at).where(is_open, P.due_at >= now).order_by(P.due_at).limit(1)
    ).scalar_subquery()
    columns = [due]
    if stuck_days is not None:
        since = now - timedelta(days=stuck_days)
        columns.append(
            select(P.state_entered_at)
            .where(is_open, P.state_entered_at >= since)
            .order_by(P.state_entered_at)
            .limit(1)
            .scalar_subquery()
        )
    found = db.session.execute(select(*columns)).one()
    instants = [found[0]]
    if stuck_days is not None and found[1] is not None:
        instants.append(found[1] + timedelta(days=stuck_days))
    return min((t for t in instants if t is not None), default=None)
