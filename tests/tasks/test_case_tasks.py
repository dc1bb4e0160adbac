"""Work waiting, as data: the ``case_task`` rows match a recomputation after every kind of
change (start, step, reassignment, transfer, vote, timer, closing), roles and people change
without rewriting them, and drift is found and repaired."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from pbflow import audit
from pbflow.engine import runtime, tasks, timers, votes
from pbflow.extensions import db
from pbflow.models import AuditEvent, CaseTask, Person, ProcessInstance, User
from pbflow.procedures.opinion_box import services as opinions
from pbflow.services import accounts
from tests.conftest import make_user, recorded_set_up
from tests.pages_helpers import PAGES_WORKFLOWS, funding_case, walk

WORKFLOWS = str(Path(__file__).parent.parent / "workflows")


def rows(case_id: int) -> set[tuple[str, str, str]]:
    return set(
        db.session.execute(
            select(CaseTask.holder, CaseTask.kind, CaseTask.trigger).where(
                CaseTask.instance_id == case_id
            )
        ).all()
    )


def consistent() -> None:
    db.session.expire_all()
    report = tasks.check()
    assert report.ok, report.summary()


def holders(case_id: int, kind: str | None = None) -> set[str]:
    return {h for h, k, _t in rows(case_id) if kind is None or k == kind}


def test_funding_rows_follow_each_step_and_vanish_when_closed(world):
    b, gb = world.branch.id, world.general_branch.id
    case = funding_case(world)
    me = world["branch_member"].id
    assert rows(case.id) == {(f"u:{me}", "step", "submit"), (f"u:{me}", "option", "withdraw")}
    consistent()
    walk(case.id, world, ("submit", "branch_member"))
    assert f"r:secretary@{b}" in holders(case.id, "step")
    assert (f"u:{me}", "option", "withdraw") in rows(case.id)
    consistent()
    walk(case.id, world, ("secretary_approve", "secretary"))
    assert any(h.endswith(f"@{gb}") for h in holders(case.id, "step"))
    consistent()
    runtime.fire(case.id, "superior_reject", world["gb_secretary"], comment="不合规")
    assert rows(case.id) == set()
    consistent()


@pytest.mark.workflows_dir(PAGES_WORKFLOWS)
def test_every_actor_rule_and_a_vote_decided_by_ballots(world):
    sec, member = world["secretary"], world["member"]
    witness = world["other_secretary"].person.id
    case = runtime.start("pages_request", world.branch, member, {"topic": "全部规则"})
    b = world.branch.id
    assert rows(case.id) == {
        (f"r:secretary@{b}", "step", "accept"),
        (f"r:secretary@{b}", "option", "refuse"),  # a way out of several states
    }
    runtime.fire(case.id, "accept", sec, {"witness": witness, "handler": world["auditor"].id})
    assert (f"p:{witness}", "step", "confirm") in rows(case.id)  # a person field
    consistent()
    runtime.fire(case.id, "confirm", world["other_secretary"])
    assert {(h, t) for h, k, t in rows(case.id) if k == "step"} == {
        (f"u:{world['auditor'].id}", "to_vote"),  # a user field
        (f"u:{world['auditor'].id}", "close_after_a_year"),  # its guard waits for the step
    }
    runtime.fire(case.id, "to_vote", world["auditor"])
    assert (f"m:{b}", "ballot", "") in rows(case.id)  # the branch's full members
    assert (f"r:secretary@{b}", "record", "") in rows(case.id)
    consistent()
    for uid in votes.electorate_users(_vote(case.id), _state(case.id)):
        if _state(case.id).closed_at is not None:
            break
        votes.cast_ballot(case.id, db.session.get(User, uid), "for")
        consistent()  # a ballot changes no row; the inbox leaves out what I have cast
    assert _state(case.id).state == "done"
    assert rows(case.id) == set()
    consistent()


def _state(case_id):
    return runtime.load_case(case_id)


def _vote(case_id):
    from pbflow.engine.registry import registry

    cs = _state(case_id)
    return registry().stored(cs.definition_id).states[cs.state].vote


def test_roles_and_people_change_without_rewriting_rows(world, client, auth):
    case = funding_case(world)
    walk(case.id, world, ("submit", "branch_member"))
    before = rows(case.id)
    newcomer = make_user("newcomer", [(world.branch, "secretary")])
    assert rows(case.id) == before  # nothing rewritten: the role at the branch is the holder
    auth.login("newcomer")
    assert f'href="/cases/{case.id}"' in client.get("/inbox").get_data(as_text=True)
    accounts.revoke_role(newcomer, world.branch, "secretary")
    html = client.get("/inbox").get_data(as_text=True)
    assert f'href="/cases/{case.id}"' not in html
    consistent()


@pytest.mark.workflows_dir(PAGES_WORKFLOWS)
def test_a_person_given_an_account_finds_the_work_named_for_them(world, client, auth):
    person = Person(name="王见证", org_id=world.other_branch.id, party_status="full")
    db.session.add(person)
    db.session.commit()
    case = runtime.start("pages_request", world.branch, world["member"], {"topic": "见证"})
    runtime.fire(
        case.id, "accept", world["secretary"], {"witness": person.id, "handler": world["member"].id}
    )
    user = make_user("late_account")
    person.user_id = user.id
    recorded_set_up(person)
    db.session.commit()
    auth.login("late_account")
    assert f'href="/cases/{case.id}"' in client.get("/inbox").get_data(as_text=True)
    consistent()


def test_assignment_reassignment_and_transfer(world):
    slip = opinions.submit(
        "b1",
        {"subject": "通风", "text": "井下通风差。", "category": "welfare", "anonymous": "1"},
        user=None,
        client="198.51.100.7",
    )
    case_id = opinions._case_for_code(slip.code)
    runtime.fire(case_id, "accept", world["secretary"])
    runtime.fire(case_id, "assign", world["secretary"], {"handler": world["branch_member"].id})
    assert (f"u:{world['branch_member'].id}", "step", "answer") in rows(case_id)
    assert (f"r:secretary@{world.branch.id}", "option", "reassign") in rows(case_id)
    consistent()
    runtime.fire(case_id, "reassign", world["secretary"], {"handler": world["deputy"].id})
    assert (f"u:{world['deputy'].id}", "step", "answer") in rows(case_id)
    assert not any(h == f"u:{world['branch_member'].id}" for h in holders(case_id))
    consistent()
    slip2 = opinions.submit(
        "b1",
        {"subject": "转办", "text": "应由机电队办理。", "category": "welfare", "anonymous": "1"},
        user=None,
        client="198.51.100.7",
    )
    other_id = opinions._case_for_code(slip2.code)
    runtime.fire(other_id, "transfer", world["secretary"], {"transfer_to": "b2"}, comment="转")
    assert all(f"@{world.branch.id}" not in h for h in holders(other_id))
    assert any(h.endswith(f"@{world.other_branch.id}") for h in holders(other_id))
    consistent()


@pytest.mark.workflows_dir(WORKFLOWS)
def test_a_timer_that_fires_a_step_updates_the_rows(world, clock):
    case = runtime.start("timed", world.branch, world["secretary"], {"meeting_on": "2026-03-10"})
    for trigger in ("acknowledge", "answer", "file_report"):
        runtime.fire(case.id, trigger, world["secretary"])
    assert holders(case.id) == {f"r:secretary@{world.branch.id}"}
    clock.advance(days=40)
    timers.tick()
    assert _state(case.id).state == "lapsed"
    assert rows(case.id) == set()
    consistent()


def test_check_finds_drift_and_fix_repairs_it(world, runner):
    case = funding_case(world)
    walk(case.id, world, ("submit", "branch_member"))
    other = funding_case(world, purpose="第二件")
    db.session.execute(delete(CaseTask).where(CaseTask.instance_id == case.id))
    db.session.add(
        CaseTask(
            instance_id=other.id, holder="u:999", kind="step", trigger="x", since=other.created_at
        )
    )
    db.session.commit()
    result = runner.invoke(args=["pbflow", "tasks", "check"])
    assert result.exit_code == 1
    assert f"{case.id}, {other.id}" in result.output
    result = runner.invoke(args=["pbflow", "tasks", "check", "--fix"])
    assert result.exit_code == 0, result.output
    consistent()
    # The repair is recorded as any change is (the inboxes kept until the next recorded
    # change are read afresh after it); a check that finds nothing records nothing.
    repaired = _last_event()
    assert (repaired.action, repaired.actor_label) == ("work_waiting_repaired", audit.SYSTEM)
    assert json.loads(repaired.payload) == {"cases": 2}
    assert runner.invoke(args=["pbflow", "tasks", "check"]).exit_code == 0
    assert runner.invoke(args=["pbflow", "tasks", "check", "--fix"]).exit_code == 0
    assert _last_event().seq == repaired.seq


def _last_event() -> AuditEvent:
    db.session.expire_all()
    return db.session.execute(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).scalar()


def dues(case_id: int) -> set:
    return set(
        db.session.execute(select(CaseTask.due_at).where(CaseTask.instance_id == case_id)).scalars()
    )


def due_of(case_id: int):
    db.session.expire_all()
    return db.session.get(ProcessInstance, case_id).due_at


def test_rows_carry_the_case_time_limit_through_every_step(world, clock):
    """The inbox sorts by the rows' time limit: each step that sets the case's limit sets
    every row's, the rows kept across the step (withdrawing) included."""
    case = funding_case(world)
    assert dues(case.id) == {None}
    withdraw = (f"u:{world['branch_member'].id}", "option", "withdraw")
    walk(case.id, world, ("submit", "branch_member"))
    first = due_of(case.id)
    assert first is not None and withdraw in rows(case.id)
    assert dues(case.id) == {first}
    clock.advance(days=3)
    walk(case.id, world, ("secretary_approve", "secretary"))
    second = due_of(case.id)
    assert second is not None and second != first
    assert dues(case.id) == {second}
    consistent()


def test_check_finds_a_stale_time_limit_and_fix_repairs_it(world, runner):
    case = funding_case(world)
    walk(case.id, world, ("submit", "branch_member"))
    db.session.execute(
        update(CaseTask)
        .where(CaseTask.instance_id == case.id, CaseTask.kind == "option")
        .values(due_at=None)
    )
    db.session.commit()
    result = runner.invoke(args=["pbflow", "tasks", "check"])
    assert result.exit_code == 1
    assert f"{case.id}." in result.output
    assert runner.invoke(args=["pbflow", "tasks", "check", "--fix"]).exit_code == 0
    assert dues(case.id) == {due_of(case.id)}
    consistent()


def test_the_migration_backfills_open_cases(world):
    open_case = funding_case(world)
    walk(open_case.id, world, ("submit", "branch_member"))
    closed = funding_case(world, purpose="已撤回")
    runtime.fire(closed.id, "withdraw", world["branch_member"], comment="不办了")
    expected = rows(open_case.id)
    db.session.execute(delete(CaseTask))
    db.session.commit()
    versions = Path(__file__).parent.parent.parent / "migrations" / "versions"
    with db.engine.begin() as conn:
        # The table's rows (0010), then their time limits (0014).
        for name in ("0010_tasks", "0014_task_due"):
            spec = importlib.util.spec_from_file_location(name, versions / f"{name}.py")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            module._backfill(conn)
    db.session.expire_all()
    assert rows(open_case.id) == expected and rows(closed.id) == set()
    consistent()
