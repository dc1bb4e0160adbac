"""The opinion book's figures are counted by the database (one GROUP BY per organization);
they must be exactly what counting the opinions one by one in Python gives. The Python
counting the book used before is kept here as the oracle: a varied set of opinions (every
state, ratings, reopened, on time or late, received and answered on either side of a local
midnight, transferred ones counting at their new organization), compared figure by figure,
in Beijing time and in a zone with summer time. The same for the figures per organization
and month (or quarter) the dashboard and the assessment read, and for a seeded committee.

The book's figures over its period, like those per month, are read from the counts kept as
data (whole UTC months) and the opinions received between a month boundary and the period's
ends; counted from every opinion (``figures_by_scan``), the database counts from generated
columns of ``process_instance`` (``OPINION_FACTS``) and their index; the oracle reads each
opinion's ``data`` document, and ``facts_match_data`` recomputes every generated column from
the documents in Python."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from pbflow import clock as pbclock
from pbflow.engine import runtime
from pbflow.extensions import db
from pbflow.models import Organization, ProcessInstance
from pbflow.models.process import OPINION_FACTS
from pbflow.procedures.opinion_box import services as opinions
from pbflow.services import seed
from tests.conftest import make_user
from tests.supervision import helpers as h

YEAR = opinions.Period(date(2026, 1, 1), date(2026, 12, 31))
FIELDS = opinions.Figures.COUNTS


def _truthy(value):
    return value in (True, 1, "true", "1")


def oracle(org_ids, start, end, grain=None):
    """The book's former counting, row by row; with ``grain`` ("month", "quarter"): per
    organization and column, as the dashboard's figures counted them."""
    P = ProcessInstance
    out = {} if grain else {oid: dict.fromkeys(FIELDS, 0) for oid in org_ids}
    rows = db.session.execute(
        select(
            P.org_id,
            P.state,
            P.created_at,
            P.data["first_published_on"].as_string(),
            P.data["on_time"].as_string(),
            P.data["rating"].as_string(),
            P.data["reopen_count"].as_string(),
        ).where(
            P.workflow_id == "opinion",
            P.created_at >= start,
            P.created_at < end,
            P.org_id.in_(org_ids),
        )
    )
    for org_id, state, created, answered, on_time, rating, reopened in rows:
        key = org_id
        if grain:
            day = pbclock.to_local(created).date()
            month = 3 * ((day.month - 1) // 3) + 1 if grain == "quarter" else day.month
            key = (org_id, date(day.year, month, 1))
        f = out.setdefault(key, dict.fromkeys(FIELDS, 0))
        rating = int(rating) if rating not in (None, "") else None
        f["received"] += 1
        f["set_aside"] += state == "set_aside"
        if answered:
            f["answered"] += 1
            f["answered_on_time"] += bool(_truthy(on_time))
            received_on = pbclock.to_local(created).date()
            f["days_to_answer"] += (date.fromisoformat(answered) - received_on).days
        f["reopened"] += bool(int(reopened or 0))
        if rating is not None:
            f["rated"] += 1
            f["rating_sum"] += rating
            f["satisfied"] += rating >= 4
        f["unrated_closed"] += state == "closed_unrated"
    return out


def _real_opinions(clock, world):
    """A few opinions walked through the workflow."""
    secretary, handler = world["secretary"], world["branch_member"]
    # received 00:30 local (16:30 UTC the day before), answered 23:59 local two days later
    a, code_a = h.opinion(clock, "b1", "2026-01-12T16:30:00", "c-a")
    h.answer(clock, a, "2026-01-15T15:59:00", secretary, handler)
    h.submitter(clock, code_a, "accept_answer", {"rating": 5}, "2026-01-16T02:00:00")
    # received 23:59:59 local, answered one second later: the next local day
    b, code_b = h.opinion(clock, "b1", "2026-02-02T15:59:59", "c-b")
    h.answer(clock, b, "2026-02-02T16:00:00", secretary, handler)
    # late, reopened, answered again, rated 3
    c, code_c = h.opinion(clock, "b1", "2026-03-02T02:00:00", "c-c")
    h.answer(clock, c, "2026-04-20T02:00:00", secretary, handler)
    h.submitter(clock, code_c, "reject_answer", {"reject_reason": "没解决"}, "2026-04-21T02:00:00")
    h.answer(clock, c, "2026-04-23T02:00:00", secretary, handler, first=False)
    h.submitter(clock, code_c, "accept_answer", {"rating": 3}, "2026-04-24T02:00:00")
    # set aside
    d, _ = h.opinion(clock, "b1", "2026-05-04T02:00:00", "c-d")
    clock.set("2026-05-05T02:00:00")
    runtime.fire(d, "set_aside", secretary, {"set_aside_reason": "非意见"})
    # transferred to b2, answered there, rated 4
    e, code_e = h.opinion(clock, "b1", "2026-06-01T02:00:00", "c-e")
    clock.set("2026-06-02T02:00:00")
    runtime.fire(e, "transfer", secretary, {"transfer_to": "b2"}, comment="归机电队办理")
    b2_member = make_user(
        "b2_member", [(world.other_branch, "member")], person_org=world.other_branch
    )
    h.answer(clock, e, "2026-06-05T02:00:00", world["other_secretary"], b2_member)
    h.submitter(clock, code_e, "accept_answer", {"rating": 4}, "2026-06-06T02:00:00")
    # received, never answered; one in the general branch
    h.opinion(clock, "b1", "2026-07-01T02:00:00", "c-f")
    h.opinion(clock, "gb1", "2026-07-02T02:00:00", "c-g")
    return a


def _many_more(template_id, orgs):
    """Copies of a real opinion row with every combination of facts, received around local
    midnights, summer time changes and the period's ends."""
    rng = random.Random(16)
    template = db.session.get(ProcessInstance, template_id)
    columns = {
        c.key: getattr(template, c.key)
        for c in ProcessInstance.__mapper__.column_attrs
        if c.key not in ("id",)
    }
    instants = [
        datetime(2025, 12, 31, 15, 59, 59),
        datetime(2025, 12, 31, 16, 0, 0),
        datetime(2025, 12, 31, 23, 0, 0),
        datetime(2026, 3, 29, 0, 59, 59),
        datetime(2026, 3, 29, 1, 0, 0),
        datetime(2026, 10, 25, 0, 59, 59),
        datetime(2026, 10, 25, 1, 0, 0),
        datetime(2026, 12, 31, 15, 59, 59),
        datetime(2026, 12, 31, 22, 59, 59),
        datetime(2026, 12, 31, 23, 0, 0),
    ]
    states = ["received", "accepted", "published", "closed", "closed_unrated", "set_aside"]
    for n in range(160):
        created = (
            instants[n % len(instants)]
            if n < 2 * len(instants)
            else datetime(2026, 1, 1) + timedelta(seconds=rng.randrange(365 * 86400))
        )
        data = dict(template.data)
        answered = rng.random() < 0.6
        local = pbclock.to_local(created).date()
        data["first_published_on"] = (
            (local + timedelta(days=rng.choice([0, 0, 1, 3, 40]))).isoformat()
            if answered
            else rng.choice([None, None, ""])
        )
        data["on_time"] = rng.choice([True, False, None]) if answered else None
        data["rating"] = rng.choice([None, None, 1, 2, 3, 4, 5])
        data["reopen_count"] = rng.choice([None, 0, 0, 1, 2])
        for key in ("rating", "reopen_count", "on_time"):
            if data[key] is None and rng.random() < 0.5:
                data.pop(key)
        db.session.add(
            ProcessInstance(
                **{
                    **columns,
                    "org_id": rng.choice(orgs).id,
                    "state": rng.choice(states),
                    "created_at": created,
                    "data": data,
                }
            )
        )
    db.session.commit()


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "Europe/Berlin"])
def test_book_figures_match_counting_row_by_row(app, clock, world, zone):
    template = _real_opinions(clock, world)
    app.config["PBFLOW_TIMEZONE"] = zone
    orgs = [world.committee, world.general_branch, world.branch, world.other_branch]
    _many_more(template, orgs)
    assert facts_match_data() == 7 + 160
    clock.set("2027-01-05T02:00:00")
    for code, period in (
        ("coal", YEAR),
        ("gb1", YEAR),
        ("coal", opinions.Period(date(2026, 3, 29), date(2026, 10, 25))),
        # a period whose ends lie after the nearest month boundary (windows added)
        ("coal", opinions.Period(date(2026, 2, 10), date(2026, 9, 12))),
        ("b1", opinions.Period(date(2026, 1, 13), date(2026, 6, 1))),
    ):
        b = opinions.book(code, period, viewer=world["admin"], page_size=1)
        ids = [f.org_id for f in b.by_org]
        expected = oracle(
            ids,
            pbclock.local_midnight_utc(period.start),
            pbclock.local_midnight_utc(period.end + timedelta(days=1)),
        )
        for f in b.by_org:
            assert {k: getattr(f, k) for k in FIELDS} == expected[f.org_id], (code, f.org_name)
        total = {k: sum(e[k] for e in expected.values()) for k in FIELDS}
        assert {k: getattr(b.total, k) for k in FIELDS} == total
        scanned = opinions.figures_by_scan(ids, period.start, period.end, "period").by_org
        assert b.by_org == [scanned[i] for i in ids]
    ids = [o.id for o in orgs]
    for first, last, grain in (
        (date(2026, 1, 1), date(2026, 12, 31), "month"),
        (date(2026, 2, 15), date(2026, 11, 3), "quarter"),
        (date(2025, 12, 31), date(2026, 3, 29), "month"),
        (date(2026, 3, 1), date(2026, 3, 31), "month"),
        (date(2026, 1, 1), date(2026, 1, 1), "quarter"),
    ):
        found = opinions.figures(ids, first, last, grain)
        start = pbclock.local_midnight_utc(first)
        end = pbclock.local_midnight_utc(last + timedelta(days=1))
        expected = oracle(ids, start, end, grain)
        assert {k: {n: getattr(f, n) for n in FIELDS} for k, f in found.by_column.items()} == (
            expected
        )
        by_org = oracle(ids, start, end)
        assert {o: {n: getattr(f, n) for n in FIELDS} for o, f in found.by_org.items()} == by_org
    whole = opinions.book("coal", YEAR, viewer=world["admin"], page_size=1).total
    assert whole.answered and whole.rated and whole.reopened and whole.set_aside
    assert whole.unrated_closed and whole.days_to_answer and whole.answered_on_time


def _as_text(value, postgres):
    """A JSON value as the database reads it as text from a document (``->>`` on PostgreSQL,
    ``json_extract`` into a text column on SQLite)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return ("true" if value else "false") if postgres else str(int(value))
    return str(value)


def facts_match_data():
    """Every case's opinion facts hold what its ``data`` says (an opinion's; none for other
    cases): the database computes the generated columns; this recomputes them in Python from
    each document."""
    T = ProcessInstance.__table__
    postgres = db.session.get_bind().dialect.name == "postgresql"
    names = list(OPINION_FACTS)
    rows = db.session.execute(
        select(T.c.id, T.c.workflow_id, T.c.data, *(T.c[n] for n in names))
    ).all()
    for case_id, workflow_id, data, *facts in rows:
        opinion = workflow_id == "opinion"
        expected = [
            _as_text(data.get(OPINION_FACTS[n]), postgres) if opinion else None for n in names
        ]
        assert facts == expected, (case_id, workflow_id, data)
    return sum(r.workflow_id == "opinion" for r in rows)


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "Europe/Berlin"])
def test_seeded_figures_from_the_index_match_counting_row_by_row(app, clock, world, zone):
    """``pbflow seed``'s opinions (three years, fifteen branches, every state; answered, late,
    rated, reopened): what the book and the figures count from the generated columns and
    their index is what counting each opinion's ``data`` one by one gives. (Seed 7: a data
    set in which each of those facts occurs.)"""
    seed.seed(600, 7)
    app.config["PBFLOW_TIMEZONE"] = zone
    assert facts_match_data() > 100
    three_years = opinions.Period(date(2023, 3, 1), date(2026, 3, 2))
    branch = db.session.execute(
        select(Organization.code).where(Organization.code == "seed7-b1")
    ).scalar_one()
    for code, period in (
        ("coal", three_years),
        ("coal", opinions.Period(date(2025, 3, 30), date(2025, 10, 26))),
        ("coal", opinions.Period(date(2024, 7, 9), date(2025, 12, 14))),
        (branch, three_years),
    ):
        b = opinions.book(code, period, viewer=world["admin"], page_size=1)
        expected = oracle(
            [f.org_id for f in b.by_org],
            pbclock.local_midnight_utc(period.start),
            pbclock.local_midnight_utc(period.end + timedelta(days=1)),
        )
        assert {f.org_id: {k: getattr(f, k) for k in FIELDS} for f in b.by_org} == expected
    whole = opinions.book("coal", three_years, viewer=world["admin"], page_size=1).total
    assert whole.received > 100 and whole.answered and whole.rated and whole.reopened
    assert whole.set_aside and whole.days_to_answer and whole.answered_on_time
    ids = list(db.session.execute(select(Organization.id)).scalars())
    for grain in ("month", "quarter"):
        found = opinions.figures(ids, three_years.start, three_years.end, grain)
        start = pbclock.local_midnight_utc(three_years.start)
        end = pbclock.local_midnight_utc(three_years.end + timedelta(days=1))
        assert {k: {n: getattr(f, n) for n in FIELDS} for k, f in found.by_column.items()} == (
            oracle(ids, start, end, grain)
        )
