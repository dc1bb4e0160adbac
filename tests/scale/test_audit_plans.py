"""The audit search by dates lists its events by time, newest first, and finds each page in
``ix_audit_at_seq`` in that order, reading only the page's entries (issue 16): by number, a
walk back from the newest event read and dropped every newer one (280,000 on PostgreSQL for
a month a year ago), and then the period's entries read and sorted (150,000 for a past
year). Checked on the results and on the plans of both databases (on PostgreSQL with
sequential and bitmap scans off, as a test's few rows make any plan look as good)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from pbflow import audit
from pbflow import clock as pbclock
from pbflow.extensions import db
from pbflow.models import AuditEvent
from pbflow.services import audit_search, seed
from tests.scale.recording import plan, recorded


def _by_time(low, high) -> list[int]:
    """The period's events as the search must list them: by time, then number, newest first."""
    stmt = (
        select(AuditEvent.seq)
        .where(AuditEvent.at >= low, AuditEvent.at < high)
        .order_by(AuditEvent.at.desc(), AuditEvent.seq.desc())
    )
    return list(db.session.execute(stmt).scalars())


def test_a_past_period_is_listed_by_time_from_its_index(app, world, clock):
    seed.seed(300, 1)  # three years of history
    # Events whose times do not rise with their numbers (overlapping commits, the opinion
    # box's coarsened times): recorded last, dated inside the period, two at the same time.
    for when in ("2025-02-10T03:00:00", "2025-02-10T03:00:00", "2025-01-05T08:00:00"):
        clock.set(when)
        audit.record("test_event", actor=audit.SYSTEM)
    db.session.commit()
    clock.set("2026-03-02T02:00:00")
    auditor = world["auditor"]
    start, end = date(2025, 1, 1), date(2025, 3, 31)
    assert end < pbclock.today()
    low, high = pbclock.local_midnight_utc(start), pbclock.local_midnight_utc(date(2025, 4, 1))
    expected = _by_time(low, high)
    assert len(expected) > 60 and expected != sorted(expected, reverse=True)

    f = audit_search.Filters(date_from=start, date_to=end)
    (rows, following), seen = recorded(lambda: audit_search.search_events(auditor, f, 20))
    assert [e.seq for e in rows] == expected[:20] and following == expected[19]
    ((statement, parameters),) = [(s, p) for s, p in seen if "FROM audit_event" in s]
    _walks_the_index_in_order(plan(statement, parameters))

    # Page after page from the cursor: every event of the period once, in order.
    listed, before = [e.seq for e in rows], following
    while before is not None:
        later = audit_search.Filters(date_from=start, date_to=end, before=before)
        (rows, before), seen = recorded(lambda f=later: audit_search.search_events(auditor, f, 20))
        listed += [e.seq for e in rows]
        (page,) = [(s, p) for s, p in seen if "LIMIT" in s]
        _walks_the_index_in_order(plan(*page))
        # One upper bound, the cursor's: given the period's end too, SQLite (with a large
        # trail's statistics) started its walk there and read back to the cursor.
        values = page[1].values() if isinstance(page[1], dict) else page[1]
        bounds = {str(v)[:19] for v in values}  # SQLite's are bound as text
        assert str(high) not in bounds and str(low) in bounds
    assert listed == expected

    # By the start alone, and by the end alone, the same order.
    since = audit_search.Filters(date_from=start)
    everything_since = _by_time(low, pbclock.local_midnight_utc(date(9999, 1, 1)))
    assert [e.seq for e in audit_search.search_events(auditor, since, 20)[0]] == (
        everything_since[:20]
    )
    until = audit_search.Filters(date_to=end)
    everything_until = _by_time(pbclock.local_midnight_utc(date(1970, 1, 1)), high)
    rows, following = audit_search.search_events(auditor, until, 20)
    assert [e.seq for e in rows] == everything_until[:20]
    later = audit_search.Filters(date_to=end, before=following)
    rows, _following = audit_search.search_events(auditor, later, 20)
    assert [e.seq for e in rows] == everything_until[20:40]


def _walks_the_index_in_order(found: str) -> None:
    """The page is read from ix_audit_at_seq in its order: walked backwards, not sorted.
    PostgreSQL names the backward walk; SQLite sorts only the page's rows (the outer query),
    not the period's entries (which it would name a second time)."""
    assert "ix_audit_at_seq" in found
    if "Index" in found and "Scan" in found:  # PostgreSQL
        assert "Scan Backward using ix_audit_at_seq" in found, found
        assert "top-N" not in found and "(audit_event_1.seq + 0)" not in found, found
    else:
        assert found.count("USE TEMP B-TREE FOR ORDER BY") == 1, found


def test_a_cursor_outside_the_period_or_past_the_head(app, world, clock):
    """A cursor names an event the page ended on; one typed by hand may lie anywhere: past
    the head, the search starts from the period's newest event; after the period, too;
    before the period, nothing is older."""
    for day in ("2026-01-10", "2026-01-20", "2026-02-05", "2026-02-15", "2026-02-20"):
        clock.set(day + "T03:00:00")
        audit.record("test_event", actor=audit.SYSTEM)
    db.session.commit()
    auditor = world["auditor"]
    clock.set("2026-03-02T02:00:00")
    period = {"date_from": date(2026, 1, 15), "date_to": date(2026, 2, 10), "action": "test_event"}
    before, january, february, _outside, after = _events_of("test_event")
    newest = [february, january]

    def page(cursor):
        f = audit_search.Filters(**period, before=cursor)
        return [e.seq for e in audit_search.search_events(auditor, f)[0]]

    assert page(None) == newest
    assert page(february) == [january]
    assert page(january) == []
    head, _hash = audit.head()
    assert page(head + 1000) == newest  # past the head
    assert page(after) == newest  # an event after the period (and one between)
    assert page(before) == []  # an event before the period


def _events_of(action: str) -> list[int]:
    stmt = select(AuditEvent.seq).where(AuditEvent.action == action).order_by(AuditEvent.seq)
    return list(db.session.execute(stmt).scalars())
