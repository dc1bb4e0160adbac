"""The opinion book and the opinion figures read indexes, never the opinions' documents
(issue 16): a page of entries in the order of ``ix_case_workflow_created_org`` without
sorting, the next page entered at its cursor; the book's figures and those per month from the
counts kept as data by their key and the opinions next to a month boundary by
``ix_case_workflow_created_org``; counted from every opinion, from ``ix_case_opinion_facts``
alone (the generated columns hold the facts).
Checked on the query plans of both databases.

SQLite's planner goes by the shape of the query (and the seed's ANALYZE): the plan is the
one a large database gets. PostgreSQL's weighs costs, and a test's few hundred rows make any
index or none look as good; there the plan is asked with the table's other indexes dropped
and sequential and bitmap scans off (in a transaction that is rolled back), which shows that
these indexes serve the statements as intended: the counts from the index alone, the
entries in order. On a seeded database of 20,000 cases PostgreSQL picks them by itself.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import text

from pbflow.extensions import db
from pbflow.procedures.opinion_box import services as opinions
from pbflow.services import pagination, seed
from tests.scale.recording import plan, recorded


def _statements(call) -> list[tuple[str, object]]:
    return recorded(call)[1]


PERIOD = opinions.Period(date(2023, 3, 1), date(2026, 3, 2))


OURS = ("ix_case_opinion_facts", "ix_case_workflow_created_org", "pk_process_instance")


def _only_ours(conn) -> None:
    """Drop (within the transaction) every index of the cases but those the opinion figures
    should walk, so that PostgreSQL shows whether they can."""
    others = conn.execute(
        text(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'process_instance'"
            " AND NOT indexname = ANY(:ours)"
        ),
        {"ours": list(OURS)},
    ).scalars()
    for name in list(others):
        conn.execute(text(f'DROP INDEX "{name}"'))


def _plan(statement: str, parameters: object) -> str:
    return plan(statement, parameters, before=_only_ours)


def _counting(statements) -> tuple[str, object]:
    (found,) = [(s, p) for s, p in statements if "count(*)" in s]
    return found


def _entries(statements) -> tuple[str, object]:
    (found,) = [(s, p) for s, p in statements if "ORDER BY process_instance.created_at" in s]
    return found


def test_the_book_and_the_figures_read_their_indexes(app, world, clock):
    seed.seed(300, 1)
    postgres = db.engine.dialect.name == "postgresql"
    admin = world["admin"]
    first: list[opinions.Book] = []
    statements = _statements(
        lambda: first.append(opinions.book("coal", PERIOD, viewer=admin, page_size=20))
    )
    assert first[0].next_after is not None
    after = pagination.parse_cursor(first[0].next_after)
    following = _statements(
        lambda: opinions.book("coal", PERIOD, viewer=admin, after=after, page_size=20)
    )
    ids = [f.org_id for f in first[0].by_org]
    figures = _statements(lambda: opinions.figures(ids, PERIOD.start, PERIOD.end, "month"))
    scanned = _statements(lambda: opinions.figures_by_scan(ids, PERIOD.start, PERIOD.end, "period"))

    # Counted from every opinion (``figures_by_scan``, when the days to an answer were kept
    # in another time zone): from the generated columns in ``ix_case_opinion_facts``.
    counting = _counting(scanned)
    assert "process_instance.data" not in counting[0]
    plan = _plan(*counting)
    if postgres:
        assert "Index Only Scan using ix_case_opinion_facts" in plan, plan
    else:
        # Every column the count reads is in the index: the table is never visited
        # (SQLite says "USING INDEX" when an index holds generated columns).
        assert "USING INDEX ix_case_opinion_facts" in plan, plan
        assert "SCAN process_instance" not in plan, plan
    assert "TEMP B-TREE" not in plan  # grouped in index order

    # The figures per month, and the book's over its period, read the counts kept as data
    # (pbflow.engine.tally) by their key, and the opinions received next to a month boundary
    # by the index of received times: never a document, never every opinion of the period.
    for these in (figures, statements):
        kept = [(s, p) for s, p in these if "FROM case_tally" in s]
        near = [(s, p) for s, p in these if "FROM process_instance" in s and "ORDER BY" not in s]
        assert len(kept) == 1 and len(near) == 1, [s[:80] for s, _p in these]
        assert not any("count(*)" in s for s, _p in these)  # no opinion counted one by one
        assert all("data" not in s.split("FROM")[0] for s, _p in (*kept, *near))
        plan = _plan(*kept[0])
        assert ("pk_case_tally" if postgres else "USING PRIMARY KEY") in plan, plan
        plan = _plan(*near[0])
        if postgres:
            # A few hundred rows make both of the opinions' indexes cost the same to
            # PostgreSQL: either is read alone, never the table.
            assert "Index Only Scan using ix_case_" in plan, plan
        else:
            assert "ix_case_workflow_created_org" in plan, plan
        assert "Seq Scan" not in plan and "SCAN process_instance" not in plan, plan

    for entries, cursor in ((_entries(statements), False), (_entries(following), True)):
        plan = _plan(*entries)
        if postgres:
            assert "Index Scan using ix_case_workflow_created_org" in plan, plan
            assert "Sort" not in plan, plan
            if cursor:
                assert f"created_at >= '{after[0]:%Y-%m-%d %H:%M:%S}" in plan, plan
        else:
            assert "USING INDEX ix_case_workflow_created_org" in plan, plan
            assert "TEMP B-TREE" not in plan, plan
