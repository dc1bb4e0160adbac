"""The dashboard's figures are counted by the database, reading as little as it can; recounted
here the plain way, row by row in Python, over a seeded committee and people with awkward
dates (29 February, birthdays and conversions on the period's first and last days, missing
dates), for several periods: the same numbers."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from pbflow import clock as pbclock
from pbflow.engine import runtime
from pbflow.extensions import db
from pbflow.models import Person, ProcessInstance
from pbflow.procedures import figure
from pbflow.procedures.member_development import services as development
from pbflow.procedures.supervision import membership as m
from pbflow.procedures.supervision.scope import resolve
from pbflow.services import periods, seed

PERIODS = [
    periods.Period(date(2026, 1, 1), date(2026, 12, 31), "year"),
    periods.Period(date(2026, 1, 1), date(2026, 3, 31), "quarter"),
    periods.Period(date(2025, 2, 1), date(2025, 2, 28), "month"),
    periods.Period(date(2024, 2, 29), date(2027, 2, 28), "range"),
    periods.Period(date(2027, 1, 1), date(2027, 12, 31), "year"),
]


@pytest.fixture
def seeded(world, clock):
    clock.set("2026-06-15T02:00:00")
    seed.seed(400, 3)
    b1 = world.branch
    awkward = [
        ("full", date(1996, 2, 29), date(2024, 2, 29), date(2025, 2, 28)),
        ("full", date(1996, 1, 1), date(2021, 1, 1), date(2026, 1, 1)),
        ("full", date(1986, 12, 31), None, date(2026, 12, 31)),
        ("full", None, date(2016, 1, 2), None),
        ("probationary", date(1966, 1, 1), date(2026, 3, 31), None),
        ("probationary", date(2000, 3, 31), None, None),
        ("full", date(1965, 12, 31), date(2025, 2, 1), date(2027, 2, 28)),
    ]
    for i, (status, born, admitted, full_on) in enumerate(awkward):
        db.session.add(
            Person(
                name=f"边界{i}",
                org_id=b1.id,
                party_status=status,
                birth_date=born,
                admitted_on=admitted,
                full_member_on=full_on,
                gender="女" if i % 2 else None,
                education="" if i == 3 else "本科",
            )
        )
    db.session.commit()
    # Probationary members whose earliest full membership falls in some of the periods.
    for i, resolved in enumerate(
        ("2024-02-29", "2025-03-01", "2025-06-20", "2025-12-31", "2026-01-01")
    ):
        person = Person(
            name=f"预备{i}", org_id=b1.id, party_status="none", birth_date=date(1998, 1, 1)
        )
        db.session.add(person)
        db.session.commit()
        case = runtime.start(
            "member_development",
            b1,
            world["secretary"],
            {"person": person.id, "application_date": "2022-01-10", "part_way": True},
            commit=False,
        )
        runtime.fire_in_transaction(
            case.id,
            "adopt_as_probationary",
            world["secretary"],
            {
                "talk_date": "2022-02-01",
                "activist_on": "2022-03-01",
                "target_on": "2023-03-10",
                "admission_resolution_date": resolved,
            },
        )
        db.session.commit()
    return world


def _membership_by_rows(scope, period):
    """The statistics the way they were first counted: every member read, in Python."""
    units = {n.id: m.MembershipRow(n.id, scope.name(n.id)) for n in scope.units}
    rows = db.session.execute(
        select(
            Person.org_id,
            Person.party_status,
            Person.gender,
            Person.education,
            Person.birth_date,
            Person.admitted_on,
            Person.full_member_on,
        ).where(
            Person.org_id.in_(scope.ids),
            Person.active,
            Person.party_status.in_(("full", "probationary")),
        )
    )
    for org_id, status, gender, education, born, admitted_on, full_on in rows:
        unit = units[scope.unit_of(org_id)]
        for attr, day in (("start", period.start), ("end", period.end)):
            then = m.status_on(status, admitted_on, full_on, day)
            if then is None:
                continue
            into = getattr(unit, attr)
            if then == "full":
                into.full += 1
                standing = (
                    m._band(m._years(full_on, day), m.STANDING_BANDS) if full_on else "unknown"
                )
            else:
                into.probationary += 1
                standing = "probationary"
            into.by["status"][then] += 1
            into.by["age"][m._band(m._years(born, day), m.AGE_BANDS) if born else "unknown"] += 1
            into.by["gender"][gender or "unknown"] += 1
            into.by["education"][education or "unknown"] += 1
            into.by["standing"][standing] += 1
        unit.joined += bool(admitted_on and admitted_on in period)
        unit.converted += bool(full_on and full_on in period and status == "full")
    return units


def _figures(row):
    return (
        row.start.full,
        row.start.probationary,
        row.end.full,
        row.end.probationary,
        row.joined,
        row.converted,
        {k: dict(v) for k, v in row.start.by.items()},
        {k: dict(v) for k, v in row.end.by.items()},
    )


@pytest.mark.parametrize("period", PERIODS, ids=lambda p: f"{p.start}..{p.end}")
def test_membership_is_counted_as_member_by_member(seeded, period):
    scope = resolve(seeded["committee_a"], None, "en")
    expected = _membership_by_rows(scope, period)
    found = m.membership(scope, period)
    assert {r.org_id: _figures(r) for r in found.by_unit} == {
        oid: _figures(r) for oid, r in expected.items()
    }
    assert sum(r.end.members for r in found.by_unit) > 100
    page = m.membership(scope, period, per_unit=False)
    total = Counter()
    for r in expected.values():
        for key, values in r.end.by.items():
            total.update({(key, v): n for v, n in values.items()})
    assert {(k, v): n for k, c in page.total.end.by.items() for v, n in c.items()} == dict(total)
    assert [r.end.members for r in page.by_unit] == [r.end.members for r in found.by_unit]


@pytest.mark.parametrize("period", PERIODS, ids=lambda p: f"{p.start}..{p.end}")
def test_rectification_is_counted_as_item_by_item(seeded, period):
    scope = resolve(seeded["committee_a"], None, "en")
    start = pbclock.local_midnight_utc(period.start)
    as_of = min(pbclock.now(), pbclock.local_midnight_utc(period.end + timedelta(days=1)))
    day = pbclock.to_local(as_of).date()
    expected: dict[int, list[int]] = {}
    P = ProcessInstance
    for org_id, state, created, closed, data in db.session.execute(
        select(P.org_id, P.state, P.created_at, P.closed_at, P.data).where(
            P.workflow_id == "rectification", P.org_id.in_(scope.ids)
        )
    ):
        counts = expected.setdefault(org_id, [0, 0, 0, 0])
        if created >= as_of or (closed is not None and closed < start):
            continue
        if closed is None or closed >= as_of:
            counts[0] += 1
            deadline = (data or {}).get("deadline")
            counts[1] += bool(deadline and date.fromisoformat(deadline) < day)
        else:
            counts[2 if state == "closed" else 3] += 1
    found = figure("rectification")(scope.ids, period.start, period.end)
    got = {
        o: [c.open, c.overdue, c.closed, c.cancelled]
        for o, c in found.items()
        if any((c.open, c.overdue, c.closed, c.cancelled))
    }
    assert got == {o: c for o, c in expected.items() if any(c)}
    assert sum(c[0] for c in expected.values()) > 0


@pytest.mark.parametrize("period", PERIODS, ids=lambda p: f"{p.start}..{p.end}")
def test_life_meetings_held_are_counted_meeting_by_meeting(seeded, period):
    scope = resolve(seeded["committee_a"], None, "en")
    ids = [n.id for n in scope.branches]
    held = Counter()
    P = ProcessInstance
    for org_id, data in db.session.execute(
        select(P.org_id, P.data).where(P.workflow_id == "life_meeting", P.org_id.in_(ids))
    ):
        data = data or {}
        if data.get("kind") == "organizational" and data.get("held_on"):
            held[(org_id, date.fromisoformat(data["held_on"]).year)] += 1
    found = figure("life_meetings")(ids, period.start, period.end)
    got = {
        (oid, c.start.year): c.held for oid, rows in found.items() for c in rows[0].cells if c.held
    }
    years = range(period.start.year, period.end.year + 1)
    assert got == {k: n for k, n in held.items() if k[1] in years}
    assert held


@pytest.mark.parametrize("period", PERIODS, ids=lambda p: f"{p.start}..{p.end}")
def test_full_memberships_coming_are_all_found(seeded, period, monkeypatch):
    scope = resolve(seeded["committee_a"], None, "en")
    found = development.pipeline_figures(scope.ids, period.start, period.end)
    if period == PERIODS[0]:
        assert len(found.upcoming) >= 2  # 20 June and 31 December 2026
    monkeypatch.setattr(development, "_candidates", lambda *_a: None)
    every = development.pipeline_figures(scope.ids, period.start, period.end)
    assert found.upcoming == every.upcoming
    assert found.per_stage == every.per_stage
