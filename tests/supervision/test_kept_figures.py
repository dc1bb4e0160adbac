"""Figures kept as data (``case_tally``, pbflow.engine.tally): after every kind of change of a
case or a person the rows equal a recomputation from the cases and people (``pbflow figures
check``), whatever wrote them (a step, a vote, a timer, an escalation, a transfer, the ORM, the
seed, the migration); a rolled-back change leaves them as they were; drift is found and
repaired. And the dashboard's figures read from them equal a plain count of the cases, at
instants on either side of a month's middle (the part of a month counted from the cases)."""

from __future__ import annotations

import importlib.util
import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from pbflow import audit
from pbflow import clock as pbclock
from pbflow.engine import actors, fastsql, runtime, tally, timers, votes
from pbflow.engine.errors import NotAllowed
from pbflow.extensions import db
from pbflow.models import AuditEvent, CaseTally, Organization, Person, ProcessInstance, User
from pbflow.procedures.member_development import services as development
from pbflow.procedures.opinion_box import services as opinions
from pbflow.procedures.supervision import compliance as compliance_figures
from pbflow.procedures.supervision import notices, work
from pbflow.procedures.supervision.dashboard import dashboard
from pbflow.procedures.supervision.scope import resolve
from pbflow.services import people, periods, seed
from pbflow.services.grids import GridCell, GridRow, combine_rows
from tests.conftest import recorded_set_up
from tests.pages_helpers import PAGES_WORKFLOWS, funding_case, walk
from tests.scale.recording import recorded
from tests.supervision import helpers as h

WORKFLOWS = str(Path(__file__).parent.parent / "workflows")


def consistent() -> int:
    """The rows are what a recomputation gives; the number of rows."""
    db.session.expire_all()
    report = tally.check()
    assert report.ok, report.summary()
    return report.rows


def counted(measure: str, workflow: str) -> int:
    """Everything the table counts of a measure (all months, states and organizations)."""
    return sum(
        r.c12
        for r in db.session.execute(
            select(CaseTally).where(CaseTally.measure == measure, CaseTally.workflow_id == workflow)
        ).scalars()
    )


def test_a_case_is_counted_through_its_steps_and_its_closing(world, clock):
    case = funding_case(world)
    assert counted("open", "activity_funding") == 1 == counted("created", "activity_funding")
    consistent()
    walk(case.id, world, ("submit", "branch_member"))
    consistent()
    clock.advance(days=40)
    walk(case.id, world, ("secretary_approve", "secretary"))
    consistent()
    runtime.fire(case.id, "superior_reject", world["gb_secretary"], comment="不合规")
    assert counted("open", "activity_funding") == 0
    assert counted("closed", "activity_funding") == 1
    consistent()


@pytest.mark.workflows_dir(PAGES_WORKFLOWS)
def test_a_vote_decided_by_ballots(world):
    member = world["member"]
    witness = world["other_secretary"].person.id
    case = runtime.start("pages_request", world.branch, member, {"topic": "表决"})
    runtime.fire(
        case.id, "accept", world["secretary"], {"witness": witness, "handler": world["auditor"].id}
    )
    runtime.fire(case.id, "confirm", world["other_secretary"])
    runtime.fire(case.id, "to_vote", world["auditor"])
    consistent()
    cs = runtime.load_case(case.id)
    from pbflow.engine.registry import registry

    vote = registry().stored(cs.definition_id).states[cs.state].vote
    for uid in votes.electorate_users(vote, cs):
        if runtime.load_case(case.id).closed_at is not None:
            break
        votes.cast_ballot(case.id, db.session.get(User, uid), "for")
    assert runtime.load_case(case.id).state == "done"
    consistent()


def test_an_opinion_answered_reopened_rated_and_one_transferred(world, clock):
    secretary, handler = world["secretary"], world["branch_member"]
    a, code_a = h.opinion(clock, "b1", "2026-01-30T20:00:00", "client-a")  # 31 Jan in Beijing
    consistent()
    h.answer(clock, a, "2026-02-10T02:00:00", secretary, handler)
    consistent()
    h.submitter(clock, code_a, "reject_answer", {"reject_reason": "没解决"}, "2026-02-11T02:00")
    runtime.fire(a, "reassign", secretary, {"handler": world["deputy"].id})
    h.answer(clock, a, "2026-02-13T02:00:00", secretary, world["deputy"], first=False)
    h.submitter(clock, code_a, "accept_answer", {"rating": 4}, "2026-02-14T02:00:00")
    assert counted("op_rating", "opinion") == 4 and counted("op_reopened", "opinion") == 1
    consistent()
    b, _code_b = h.opinion(clock, "b1", "2026-02-20T02:00:00", "client-b")
    clock.set("2026-02-21T02:00:00")
    runtime.fire(b, "transfer", secretary, {"transfer_to": "b2"}, comment="转机电队")
    consistent()
    assert runtime.load_case(b).org_id == world.other_branch.id
    found = opinions.figures(
        [world.branch.id, world.other_branch.id], date(2026, 1, 1), date(2026, 3, 31)
    )
    scanned = opinions.figures_by_scan(
        [world.branch.id, world.other_branch.id], date(2026, 1, 1), date(2026, 3, 31)
    )
    assert found == scanned
    assert found.by_org[world.branch.id].received == 1
    assert found.by_org[world.other_branch.id].received == 1
    assert (world.branch.id, date(2026, 1, 1)) in found.by_column  # received 31 Jan local


def test_rectification_items_ticked_off_and_cancelled(world, clock):
    secretary, member = world["secretary"], world["member"]
    first = h.rectification_item(
        clock, world.branch, secretary, member, opened="2026-03-02", deadline="2026-03-20"
    )
    second = h.rectification_item(
        clock, world.branch, secretary, member, opened="2026-03-03", deadline="2026-04-30"
    )
    assert counted("deadline", "rectification") == 2
    consistent()
    h.tick_off(clock, first, world.branch, member, secretary, "2026-03-25")
    clock.set("2026-03-26T02:00:00")
    runtime.fire(second, "cancel", world["gb_secretary"], comment="不再需要")
    assert counted("deadline", "rectification") == 0
    consistent()


@pytest.mark.workflows_dir(WORKFLOWS)
def test_a_timer_that_takes_a_step(world, clock):
    case = runtime.start("timed", world.branch, world["secretary"], {"meeting_on": "2026-03-10"})
    for trigger in ("acknowledge", "answer", "file_report"):
        runtime.fire(case.id, trigger, world["secretary"])
    clock.advance(days=40)
    timers.tick()
    assert runtime.load_case(case.id).state == "lapsed"
    consistent()


def test_an_escalation_opens_a_notice(world, clock):
    from tests.supervision.test_notices import overdue_request

    case = overdue_request(world, clock)
    clock.set("2026-03-10T02:00:00")
    assert timers.tick().escalated == [case.id]
    assert counted("open", "supervision_notice") == 1
    consistent()


def test_people_are_counted_through_their_changes(world):
    before = consistent()
    person = people.create_person(
        {
            "org_id": world.branch.id,
            "name": "新党员",
            "party_status": "probationary",
            "gender": "女",
            "birth_date": "1990-02-28",
            "education": "本科",
        }
    )
    assert consistent() > before
    people.update_profile(
        person,
        {
            "org_id": world.other_branch.id,
            "name": "新党员",
            "gender": "男",
            "birth_date": "1991-03-01",
            "education": "硕士研究生",
        },
    )
    consistent()
    people.correct_status(
        person,
        {"party_status": "full", "admitted_on": "2025-01-15", "full_member_on": "2026-01-15"},
        "转正记录补录",
    )
    consistent()
    people.set_person_active(person, False)
    consistent()
    people.set_person_active(person, True)
    consistent()


def test_cases_and_people_written_through_the_orm(world):
    case = funding_case(world)
    template = db.session.get(ProcessInstance, case.id)
    columns = {
        c.key: getattr(template, c.key)
        for c in ProcessInstance.__table__.columns
        if c.computed is None and c.key != "id"
    }
    added = ProcessInstance(**{**columns, "state": "closed", "closed_at": datetime(2026, 2, 1)})
    person = Person(name="直写", org_id=world.branch.id, party_status="full")
    db.session.add_all([added, person])
    db.session.commit()
    consistent()
    added.org_id = world.other_branch.id
    added.closed_at = None
    added.due_at = datetime(2026, 2, 20)
    person.birth_date = date(1980, 5, 5)
    recorded_set_up(person)  # a change no event names is refused (test_audit_case_data)
    db.session.commit()
    consistent()
    db.session.delete(added)
    db.session.delete(person)
    db.session.commit()
    consistent()


def test_a_refused_step_and_a_rolled_back_change_count_nothing(world, clock):
    case = funding_case(world)
    walk(case.id, world, ("submit", "branch_member"))
    rows = consistent()
    before = {(r.measure, r.state, r.year): r.c12 for r in db.session.query(CaseTally)}
    runtime.fire_in_transaction(case.id, "secretary_approve", world["secretary"])
    db.session.rollback()  # the step is not committed: neither are its counts
    person = Person(name="回滚", org_id=world.branch.id, party_status="full")
    db.session.add(person)
    db.session.flush()
    db.session.rollback()
    after = {(r.measure, r.state, r.year): r.c12 for r in db.session.query(CaseTally)}
    assert after == before and consistent() == rows
    with pytest.raises(NotAllowed):
        runtime.fire(case.id, "secretary_approve", world["branch_member"])
    assert consistent() == rows


def test_the_seed_fills_the_counts(world, clock):
    seed.seed(300, 6)
    consistent()
    assert counted("created", "opinion") > 0 and counted("m_member", tally.PERSON) > 0


def test_check_finds_drift_and_fix_repairs_it(world, runner):
    case = funding_case(world)
    walk(case.id, world, ("submit", "branch_member"))
    db.session.execute(update(CaseTally).where(CaseTally.measure == "due").values(c12=7))
    db.session.execute(delete(CaseTally).where(CaseTally.measure == "created"))
    db.session.commit()
    result = runner.invoke(args=["pbflow", "figures", "check"])
    assert result.exit_code == 1
    assert "differ" in result.output and "due/activity_funding" in result.output
    result = runner.invoke(args=["pbflow", "figures", "check", "--fix"])
    assert result.exit_code == 0, result.output
    consistent()
    # The repair is recorded as any change is (the dashboard's figures kept until the next
    # recorded change are counted afresh after it); a check that finds nothing records none.
    db.session.expire_all()
    newest = select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)
    repaired = db.session.execute(newest).scalar()
    assert (repaired.action, repaired.actor_label) == ("figures_repaired", audit.SYSTEM)
    payload = json.loads(repaired.payload)
    assert payload["table"] == "case_tally" and payload["rows"] >= 2
    assert runner.invoke(args=["pbflow", "figures", "check"]).exit_code == 0
    assert runner.invoke(args=["pbflow", "figures", "check", "--fix"]).exit_code == 0
    assert db.session.execute(newest).scalar().seq == repaired.seq


def test_the_migration_fills_the_counts(world, clock):
    funding_case(world)
    h.opinion(clock, "b1", "2026-02-20T02:00:00", "client-m")
    db.session.execute(delete(CaseTally))
    db.session.commit()
    versions = Path(__file__).parent.parent.parent / "migrations" / "versions"
    spec = importlib.util.spec_from_file_location("m", versions / "0016_sup_figures.py")
    module = importlib.util.module_from_spec(spec)
    with db.engine.begin() as conn:
        spec.loader.exec_module(module)
        module.op = _Op(conn)
        module._backfill()
    consistent()


class _Op:
    """The little of alembic's ``op`` the backfill uses, on a plain connection."""

    def __init__(self, conn):
        self.conn = conn

    def get_bind(self):
        return self.conn


# --- the figures read from the counts equal a plain count of the cases ----------------------


def _recount_work(scope, now, stuck_days):
    since = now - timedelta(days=stuck_days)
    found = {}
    P = ProcessInstance
    for wf, org, due, entered in db.session.execute(
        select(P.workflow_id, P.org_id, P.due_at, P.state_entered_at).where(
            P.closed_at.is_(None), P.org_id.in_(scope.ids)
        )
    ):
        late = due is not None and due <= now
        stuck = entered <= since
        if late or stuck:
            row = found.setdefault((wf, org), [0, 0])
            row[0] += late
            row[1] += stuck
    return found


def _recount_notices(scope, period, now):
    start, end = period.utc_bounds()
    found = {}
    P = ProcessInstance
    for org, state, created, closed, due in db.session.execute(
        select(P.org_id, P.state, P.created_at, P.closed_at, P.due_at).where(
            P.workflow_id == "supervision_notice", P.org_id.in_(scope.ids)
        )
    ):
        row = found.setdefault(scope.unit_of(org), [0, 0, 0, 0])
        row[0] += start <= created < end
        row[1] += closed is None
        row[2] += closed is None and due is not None and due <= now
        row[3] += state == "closed" and closed is not None and start <= closed < end
    return {k: v for k, v in found.items() if any(v)}


def _recount_pipeline(ids, now):
    d = development.definition()
    per_stage, overdue = {}, {}
    P = ProcessInstance
    for org, state, due in db.session.execute(
        select(P.org_id, P.state, P.due_at).where(
            P.workflow_id == "member_development", P.closed_at.is_(None), P.org_id.in_(ids)
        )
    ):
        spec = d.states.get(state)
        stage = spec.stage if spec and spec.stage else "application"
        per_stage[(org, stage)] = per_stage.get((org, stage), 0) + 1
        overdue[org] = overdue.get(org, 0) + (due is not None and due < now)
    return per_stage, {o: n for o, n in overdue.items() if n}


@pytest.fixture
def busy(world, clock):
    clock.set("2026-06-15T02:00:00")
    seed.seed(500, 8)
    return world


# Instants: right after a month's start (its part of a month counted forward), just before a
# month's end (counted back from the next), exactly on a month boundary.
INSTANTS = ["2026-06-03T05:30:00", "2026-06-27T23:59:59", "2026-07-01T00:00:00"]


@pytest.mark.parametrize("at", INSTANTS)
@pytest.mark.parametrize("stuck_days", [1, 30, 45])
def test_overdue_and_stuck_work_as_counted_case_by_case(busy, clock, at, stuck_days):
    now = clock.set(at)
    scope = resolve(busy["committee_a"], None, "en")
    expected = _recount_work(scope, now, stuck_days)
    assert work.counts(scope, stuck_days) == expected
    assert sum(v[0] for v in expected.values()) > 0 and sum(v[1] for v in expected.values()) > 0


def test_a_few_organizations_read_their_windows_alone_and_count_the_same(busy, clock):
    """Up to ``tally.NARROW`` organizations (a branch's dashboard) read the windows with
    their condition; the counts are those of the whole tree's windows kept for them."""
    clock.set("2026-06-27T23:59:59")
    ids = sorted(resolve(busy["committee_a"], None, "en").ids)
    assert len(ids) > tally.NARROW  # the whole tree is read without the condition
    half_months = [datetime(2026, m, 16, 4) for m in (3, 4, 5, 6)]  # windows of 15 days
    found = [("open", "due_at", tally.Cut.of(at)) for at in half_months]
    found += [("open", "state_entered_at", tally.Cut.of(at)) for at in half_months]
    found += [("case", "created_at", tally.Cut.of(at), "opinion", True) for at in half_months]
    found += [("case", "closed_at", tally.Cut.of(at), "opinion", False) for at in half_months]
    every = tally.windows(found, ids)
    # the organizations with most cases in the windows
    counted = {o: sum(n for w in every for k, n in w.items() if k[-1] == o) for o in ids}
    few = sorted(sorted(ids, key=lambda o: -counted[o])[:3])
    narrow, statements = recorded(lambda: tally.windows(found, few))
    assert narrow == [{k: n for k, n in w.items() if k[-1] in few} for w in every]
    assert sum(len(w) for w in narrow) >= 4 and any(narrow[8:])
    assert "org_id" in statements[0][0].split("WHERE", 1)[1]  # read for them alone


@pytest.mark.parametrize("at", INSTANTS)
def test_notices_and_member_development_as_counted_case_by_case(busy, clock, at):
    now = clock.set(at)
    for who in ("committee_a", "gb_secretary"):
        scope = resolve(busy[who], None, "en")
        for period in (
            periods.of("year", date(2026, 6, 1)),
            periods.of("month", date(2026, 5, 1)),
            periods.Period(date(2026, 2, 14), date(2026, 6, 29)),
        ):
            found = notices.notices(scope, period)
            got = {
                c.org_id: [c.issued, c.open, c.overdue, c.closed]
                for c in found.by_unit
                if any((c.issued, c.open, c.overdue, c.closed))
            }
            assert got == _recount_notices(scope, period, now), (who, period)
        figures = development.pipeline_figures(scope.ids, date(2026, 1, 1), date(2026, 12, 31))
        per_stage, overdue = _recount_pipeline(scope.ids, now)
        got = {(o, s): n for o, stages in figures.per_stage.items() for s, n in stages.items() if n}
        assert got == per_stage
        assert {o: n for o, n in figures.overdue.items() if n} == overdue


def _per_org(found: dict[tuple, list[int]]) -> dict[tuple, list[int]]:
    """Counts per (measure, organization), states summed; those all nought left out."""
    summed: dict[tuple, list[int]] = {}
    for (measure, *_state, org), values in found.items():
        row = summed.setdefault((measure, org), [0] * len(values))
        for i, n in enumerate(values):
            row[i] += n
    return {k: v for k, v in summed.items() if any(v)}


@pytest.mark.parametrize("at", INSTANTS)
def test_counts_at_are_those_counted_one_measure_at_a_time(busy, clock, at):
    """``tally.counts_at`` (several measures in one statement, with their windows) gives
    what ``counts_before`` and ``open_counts_before`` give measure by measure."""
    now = clock.set(at)
    ids = resolve(busy["committee_a"], None, "en").ids
    start, end, waiting = datetime(2026, 2, 14, 16), now + timedelta(days=3), now - timedelta(30)
    for workflow in ("supervision_notice", "member_development"):
        expected: dict[tuple, list[int]] = {}
        for measure, ats in ((tally.CREATED, (start, end)), (tally.CLOSED, (start, now))):
            for by_state in (False, True):
                found = tally.counts_before({measure: ats}, workflow, ids, by_state)
                expected = {**expected, **found} if not by_state else expected
        opened = {tally.OPEN: None, tally.DUE: now, tally.ENTERED: waiting}
        for (measure, _wf, org), n in tally.open_counts_before(opened, ids, [workflow]).items():
            expected[(measure, org)] = [n]
        asked = {
            tally.CREATED: (start, end),
            tally.CLOSED: (start, now),
            tally.OPEN: (None,),
            tally.DUE: (now,),
            tally.ENTERED: (waiting,),
        }
        expected = _per_org(expected)
        assert any(k[0] == tally.DUE for k in expected) and any(
            k[0] == tally.CREATED for k in expected
        )
        assert _per_org(tally.counts_at(asked, workflow, ids)) == expected
        by_state = tally.counts_at(asked, workflow, ids, by_state=True)
        assert _per_org(by_state) == expected
        closed = tally.counts_before({tally.CLOSED: (start, now)}, workflow, ids, by_state=True)
        closed = {k: v for k, v in closed.items() if any(v)}
        assert {k: v for k, v in by_state.items() if k[0] == tally.CLOSED and any(v)} == closed
        # per state for the measures named only, the others with the state ""
        mixed = tally.counts_at(asked, workflow, ids, by_state=[tally.CLOSED])
        assert _per_org(mixed) == expected
        assert {k: v for k, v in mixed.items() if k[0] == tally.CLOSED and any(v)} == closed
        assert all(k[1] == "" for k in mixed if k[0] != tally.CLOSED)


def test_organizations_read_as_a_range_of_the_key_are_those_read_one_by_one(busy, clock):
    """A set of organizations close together is read as one range of the key, those inside
    it but not asked for left out; a scattered one by each organization: either way the
    figures of each organization are those read for it alone."""
    now = clock.set("2026-06-27T23:59:59")
    ids = sorted(resolve(busy["committee_a"], None, "en").ids)
    cuts = {
        tally.DUE: (tally.Cut.of(now), None),
        tally.CREATED: (tally.Cut.of(datetime(2026, 2, 14, 16)), tally.Cut.of(now)),
    }
    ranges = [(2026 * 12 + m, 2026 * 12 + m + 1) for m in range(6)]
    asked_sets = {
        "with gaps": ids[::2],  # a range of the key, those between left out
        "scattered": [ids[0], ids[-1]],  # each organization looked up
        "all": ids,
    }
    exact = {
        n: tally._org_condition(sorted(a), fastsql.flavour())[2] for n, a in asked_sets.items()
    }
    assert exact == {"with gaps": False, "scattered": True, "all": True}  # both ways read
    one = {}
    for org in ids:
        for key, values in tally.sums_before(cuts, [org], by_state=True).items():
            one[("sums", *key)] = values
        for m, state, o, *sums in tally.column_sums(
            ["created", "closed"], "opinion", [org], ranges
        ):
            one[("columns", m, state, o)] = sums
        for m, state, o, year, n in tally.year_sums(["created"], "opinion", [org], 2024, 2026):
            one[("years", m, state, o, year)] = [n]
    assert any(k[0] == "sums" for k in one) and any(k[0] == "columns" for k in one)
    for name, asked in asked_sets.items():
        mine = {k: v for k, v in one.items() if k[-2 if k[0] == "years" else -1] in asked}
        if name != "all":
            assert len(mine) < len(one), name
        found = {("sums", *k): v for k, v in tally.sums_before(cuts, asked, by_state=True).items()}
        for m, state, o, *sums in tally.column_sums(
            ["created", "closed"], "opinion", asked, ranges
        ):
            found[("columns", m, state, o)] = sums
        for m, state, o, year, n in tally.year_sums(["created"], "opinion", asked, 2024, 2026):
            found[("years", m, state, o, year)] = [n]
        assert found == mine, name
        # summed over the organizations asked for, whichever way they are read
        total: dict[tuple, list[int]] = {}
        for (_kind, m, state, _o), sums in ((k, v) for k, v in mine.items() if k[0] == "columns"):
            row = total.setdefault((m, state), [0] * len(ranges))
            for i, n in enumerate(sums):
                row[i] += n
        summed = tally.column_sums(["created", "closed"], "opinion", asked, ranges, by_org=False)
        assert {(m, state): list(sums) for m, state, _none, *sums in summed} == total, name


def _summed(found: dict[tuple, list[int]] | dict[tuple, int], org_at: int) -> dict:
    """Counts with the organization (at position ``org_at`` of the key) summed: the key's
    organization None; those all nought left out."""
    total: dict[tuple, Any] = {}
    for key, values in found.items():
        key = (*key[:org_at], None, *key[org_at + 1 :])
        if isinstance(values, int):
            total[key] = total.get(key, 0) + values
            continue
        row = total.setdefault(key, [0] * len(values))
        for i, n in enumerate(values):
            row[i] += n
    return {k: v for k, v in total.items() if (any(v) if isinstance(v, list) else v)}


def _nonzero(found: dict) -> dict:
    return {k: v for k, v in found.items() if (any(v) if isinstance(v, list) else v)}


@pytest.mark.parametrize("at", INSTANTS)
def test_sums_read_without_the_organizations_are_those_of_every_organization(busy, clock, at):
    """The overview of the dashboard shows only sums: the database sums the organizations
    (``by_org=False``) and gives a row per figure instead of one per organization. The sums
    are those of the counts per organization, for the whole tree (every organization there
    is: the windows read with no condition on them), a part of it (a range of the key), a set
    with gaps and a scattered one (the organizations then named), at instants on either side
    of a month's middle."""
    now = clock.set(at)
    tree = sorted(resolve(busy["committee_a"], None, "en").ids)
    start, end, waiting = datetime(2026, 2, 14, 16), now + timedelta(days=3), now - timedelta(30)
    asked = {
        tally.CREATED: (start, end),
        tally.CLOSED: (start, now),
        tally.OPEN: (None,),
        tally.DUE: (now,),
        tally.ENTERED: (waiting,),
    }
    opened = {tally.OPEN: None, tally.DUE: now, tally.ENTERED: waiting}
    assert len(tree) == len(actors.org_index())  # the whole tree: no condition to name them
    sets = {
        "tree": tree,
        "part": sorted(resolve(busy["gb_secretary"], None, "en").ids),
        "with gaps": tree[::2],
        "scattered": [tree[0], tree[-1]],
    }
    for name, ids in sets.items():
        for workflow in ("supervision_notice", "opinion", "rectification"):
            for by_state in (False, True, [tally.CLOSED]):
                each = tally.counts_at(asked, workflow, ids, by_state)
                summed = tally.counts_at(asked, workflow, ids, by_state, by_org=False)
                assert _nonzero(summed) == _summed(each, 2 if by_state else 1), (name, workflow)
        each = tally.open_counts_before(opened, ids)
        summed = tally.open_counts_before(opened, ids, by_org=False)
        assert _nonzero(summed) == _summed(each, 2), name
        if name == "tree":  # something to sum
            assert any(k[0] == tally.DUE for k in _nonzero(summed))
            assert len(each) > len(summed)
        cuts = {tally.CLOSED: (tally.Cut.of(start), tally.Cut.of(now))}
        summed = tally.sums_before(cuts, ids, by_state=True, by_org=False)
        assert _nonzero(summed) == _summed(tally.sums_before(cuts, ids, by_state=True), 3), name


@pytest.mark.parametrize("at", INSTANTS)
def test_the_overview_counts_what_the_sections_count(busy, clock, at):
    """The dashboard's overview (``by_unit=False``) shows the totals its sections show,
    counted by the database: overdue work, notices, opinions and rectification items, for a
    period that runs, one that is over and one to come, for a committee and a general
    branch."""
    clock.set(at)
    for who in ("committee_a", "gb_secretary"):
        for period in (
            periods.of("year", date(2026, 6, 1)),
            periods.of("month", date(2026, 5, 1)),
            periods.of("quarter", date(2025, 10, 1)),
            periods.of("quarter", date(2026, 10, 1)),
            periods.Period(date(2026, 2, 14), date(2026, 6, 29)),
        ):
            for stuck_days in (1, 30):
                full = dashboard(busy[who], None, period, stuck_days=stuck_days)
                sums = dashboard(busy[who], None, period, stuck_days=stuck_days, by_unit=False)
                label = (who, str(period.start), str(period.end), stuck_days)
                assert (sums.work.overdue, sums.work.stuck) == (full.work.overdue, full.work.stuck)
                assert [vars(c) for c in sums.work.by_workflow] == [
                    vars(c) for c in full.work.by_workflow
                ], label
                assert sums.notices.total == full.notices.total, label
                assert vars(sums.opinions.total) == vars(full.opinions.total), label
                assert sums.rectification.total == full.rectification.total, label
                assert not (sums.work.by_unit or sums.notices.by_unit or sums.opinions.by_unit)
                assert not sums.rectification.by_unit
    year = dashboard(busy["committee_a"], None, periods.of("year", date(2026, 6, 1)))
    assert year.work.overdue and year.notices.total.issued and year.opinions.total.rated
    assert year.rectification.total.open


@pytest.mark.parametrize("at", INSTANTS)
def test_the_development_pages_count_as_case_by_case(busy, clock, at):
    """Member development above a branch: its counts per stage, the overdue cases and the
    table across the branches, read from the counts kept as data once for both, are what
    counting the open cases one by one gives."""
    now = clock.set(at)
    for who, org in (("committee_a", busy.committee), ("gb_secretary", busy.general_branch)):
        viewer = busy[who]
        ids = [o.id for o in db.session.execute(select(Organization)).scalars()]
        ids = [i for i in ids if db.session.get(Organization, i).path.startswith(org.path)]
        per_stage, overdue = _recount_pipeline(ids, now)
        pipe = development.pipeline(viewer, org.id, development.PREVIEW_PER_STAGE)
        stages: dict[str, int] = {}
        for (_org, stage), n in per_stage.items():
            stages[stage] = stages.get(stage, 0) + n
        assert {k: n for k, n in pipe.counts.items() if n} == stages
        assert pipe.total == sum(stages.values())
        assert pipe.overdue == sum(overdue.values())
        if who == "committee_a":  # the seed's cases are in the committee's branches
            assert pipe.total > pipe.overdue > 0
        rows = development.overview(viewer, org.id, pipe.open)
        assert rows == development.overview(viewer, org.id)  # read again: the same
        for row in rows:
            mine = {s: n for (o, s), n in per_stage.items() if o == row.org.id}
            assert {s: n for s, n in row.per_stage.items() if n} == mine
            assert row.overdue == overdue.get(row.org.id, 0)


@pytest.mark.parametrize(
    "period",
    [
        periods.of("year", date(2026, 1, 1)),
        periods.of("quarter", date(2026, 4, 1)),
        periods.of("month", date(2026, 2, 1)),
        periods.Period(date(2025, 11, 20), date(2027, 2, 10)),
        periods.Period(date(2023, 7, 1), date(2026, 6, 30)),
    ],
    ids=lambda p: f"{p.start}..{p.end}",
)
def test_the_meetings_sums_are_those_of_the_full_grid(busy, period):
    """The dashboard's sums per obligation and per branch (counted without building a grid
    cell per branch, obligation and month) are those the full grid gives."""
    missed = {}
    for who in ("committee_a", "gb_secretary"):
        scope = resolve(busy[who], None, "en")
        lean = compliance_figures.compliance(scope, period)
        missed[who] = lean.missed
        full = compliance_figures.compliance(scope, period)
        assert full._plain  # the rows then come from the full grid
        assert lean.keys == full.keys and lean.missed == full.missed
        assert [vars(b) for b in lean.by_branch] == [vars(b) for b in full.by_branch]
        assert [[vars(c) for c in r.cells] for g in lean.by_obligation.groups for r in g.rows] == [
            [vars(c) for c in r.cells] for g in full.by_obligation.groups for r in g.rows
        ]
        # ... and those of the full grid's own cells and combine_rows
        cells = [c for g in full.branches.groups for r in g.rows for c in r.cells]
        assert full.missed == sum(1 for c in cells if c.status == "missing")
        for key, row in zip(full.keys, full.by_obligation.groups[0].rows, strict=True):
            rows = [r for g in full.branches.groups for r in g.rows if r.key == key]
            combined = combine_rows(key, "", rows, full.columns, None)
            assert [_cell(c) for c in row.cells] == [_cell(c) for c in combined.cells]
    if (period.end - period.start).days > 100:
        assert missed["committee_a"] > 0


def _cell(c) -> tuple:
    return (c.status, c.span, c.held, c.required, c.label)


def test_rows_of_tuples_combine_as_grid_rows_do():
    """``_lean_combine`` (the dashboard's sums, over tuples) gives what ``combine_rows`` gives
    over grid rows: rows with the same spans, and rows whose spans differ (undone to single
    columns), every status, one row and many."""
    columns = periods.Period(date(2026, 1, 1), date(2026, 6, 30)).columns("month")
    names = [c.label for c in columns]
    statuses = ["ok", "missing", "open", "future", "not_required"]
    quarters = [
        [GridCell(statuses[(i + k) % 5], 3, k % 2, 1, f"2026 Q{k + 1}") for k in range(2)]
        for i in range(5)
    ]
    months = [
        [GridCell(statuses[(i * k + i) % 5], 1, 1, 1, names[k]) for k in range(6)] for i in range(7)
    ]
    for rows in (quarters, months, quarters[:1], months[:1], quarters + months, months[2:5]):
        expected = combine_rows("k", "", [GridRow("k", "", r) for r in rows], columns, None)
        lean = [[_cell(c) for c in r] for r in rows]
        assert compliance_figures._lean_combine(lean, columns) == [_cell(c) for c in expected.cells]
        assert compliance_figures._lean_combine(lean, columns, names) == [
            _cell(c) for c in expected.cells
        ]


def test_days_to_an_answer_counted_in_another_zone_are_read_again(busy, app, runner):
    """The days to an answer depend on the local day of receipt: counted in Beijing, they are
    not used once the zone is Berlin (every opinion is read instead: the same figures), and
    after ``figures check --fix`` they are counted in Berlin and used again."""
    ids = list(resolve(busy["committee_a"], None, "en").ids)
    first, last = date(2025, 1, 1), date(2026, 6, 30)
    app.config["PBFLOW_TIMEZONE"] = "Europe/Berlin"
    assert opinions.figures(ids, first, last) == opinions.figures_by_scan(ids, first, last)
    assert runner.invoke(args=["pbflow", "figures", "check"]).exit_code == 1
    assert runner.invoke(args=["pbflow", "figures", "check", "--fix"]).exit_code == 0
    calls = []
    real = opinions.figures_by_scan
    opinions.figures_by_scan = lambda *a, **k: calls.append(a) or real(*a, **k)
    try:
        found = opinions.figures(ids, first, last, "quarter")
    finally:
        opinions.figures_by_scan = real
    assert not calls  # the counts kept as data were read
    assert found == real(ids, first, last, "quarter")
    assert pbclock.local_tz().key == "Europe/Berlin"
