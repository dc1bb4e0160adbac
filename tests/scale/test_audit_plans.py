"""The audit search by a period that has ended finds its page in ``ix_audit_at_seq`` and
reads only the page's events (issue 16): a walk back along the sequence from the newest
event read and dropped every newer one (280,000 on PostgreSQL for a month a year ago).
Checked on the results and on the plans of both databases (on PostgreSQL with sequential
and bitmap scans off, as a test's few rows make any plan look as good)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from pbflow import clock as pbclock
from pbflow.extensions import db
from pbflow.models import AuditEvent
from pbflow.services import audit_search, seed
from tests.scale.recording import plan, recorded


def test_a_past_period_is_found_in_its_index_newest_first(app, world, clock):
    seed.seed(300, 1)  # three years of history
    auditor = world["auditor"]
    start, end = date(2025, 1, 1), date(2025, 3, 31)
    assert end < pbclock.today()
    f = audit_search.Filters(date_from=start, date_to=end)
    (rows, following), seen = recorded(lambda: audit_search.search_events(auditor, f, 20))
    low, high = pbclock.local_midnight_utc(start), pbclock.local_midnight_utc(date(2025, 4, 1))
    expected = (
        db.session.execute(
            select(AuditEvent.seq)
            .where(AuditEvent.at >= low, AuditEvent.at < high)
            .order_by(AuditEvent.seq.desc())
        )
        .scalars()
        .all()
    )
    assert len(expected) > 40
    assert [e.seq for e in rows] == expected[:20] and following == expected[19]
    later = audit_search.Filters(date_from=start, date_to=end, before=following)
    assert [e.seq for e in audit_search.search_events(auditor, later, 20)[0]] == expected[20:40]
    ((statement, parameters),) = [(s, p) for s, p in seen if "FROM audit_event" in s]
    assert "ix_audit_at_seq" in plan(statement, parameters)
