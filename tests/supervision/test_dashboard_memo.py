"""The dashboard's meetings calendar and training hours, kept between views until the audit
chain moves or the day changes (``pbflow.services.head_memo``): a second view at the same head
reads no meeting, a meeting recorded shows on the next view, a period that ends overnight is
missed the next day, a training recorded counts on the next view, each language keeps its own
labels, a store of N keeps N, and 0 keeps none."""

from __future__ import annotations

import re
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from pbflow import audit
from pbflow.config import build_config
from pbflow.engine import horizon, runtime
from pbflow.extensions import db
from pbflow.models import AuditEvent, Person, ProcessInstance
from pbflow.procedures.supervision import notices
from pbflow.procedures.supervision.dashboard import dashboard
from pbflow.procedures.three_meetings import training as th
from pbflow.procedures.three_meetings.services import MeetingInput, record_meeting
from pbflow.procedures.three_meetings.training import TrainingInput
from pbflow.services import head_memo, periods
from tests.conftest import WORLD_TIME
from tests.pages_helpers import funding_case, text, walk
from tests.supervision import helpers as h

YEAR = "/supervision/?period=year&on=2026-01-01"


@contextmanager
def statements():
    seen: list[str] = []

    def before(_conn, _cursor, statement, *_args):
        seen.append(" ".join(statement.split()))

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", before)


def reads_meetings(seen: list[str]) -> bool:
    return any(re.search(r"FROM meeting\b(?!_)", s) for s in seen)


def missed(client, url: str = YEAR) -> int:
    """The overview's headline: meeting periods missed."""
    found = re.search(r'<span class="n">(\d+)</span> meeting periods missed', text(client.get(url)))
    assert found, "no headline of missed periods"
    return int(found.group(1))


def events() -> int:
    return db.session.execute(select(func.count()).select_from(AuditEvent)).scalar_one()


@pytest.fixture
def branches(world, clock):
    """Both branches set up in June 2025; the first held January's theme day."""
    h.set_up_on(world.branch, "2025-06-01T00:00:00")
    h.set_up_on(world.other_branch, "2025-06-01T00:00:00")
    h.hold(clock, world["secretary"], world.branch, "theme_day", "2026-01-20")
    clock.set("2026-03-10T02:00:00")
    return world


def test_a_view_at_the_same_head_reads_no_meeting_and_shows_the_same(branches, client, auth):
    auth.login("committee_a")
    with statements() as first:
        before = missed(client)
    assert reads_meetings(first)
    with statements() as again:
        assert missed(client) == before
    assert not reads_meetings(again)
    assert len(again) < len(first)
    assert any("FROM audit_head" in s for s in again)  # the head is read on every view


def test_a_meeting_recorded_shows_on_the_next_view(branches, clock, client, auth):
    world = branches
    auth.login("committee_a")
    before = missed(client)
    missed(client)  # kept
    written = events()
    secretary, branch = world["other_secretary"], world.other_branch
    h.hold(clock, secretary, branch, "theme_day", "2026-02-12", recorded="2026-03-10")
    assert events() == written + 1  # the record moved the head
    with statements() as seen:
        assert missed(client) == before - 1  # the second branch's February is held now
    assert reads_meetings(seen)


def test_a_refused_record_changes_nothing_and_the_kept_figures_stand(branches, client, auth):
    world = branches
    auth.login("committee_a")
    before = missed(client)
    written = events()
    with pytest.raises(Exception, match="correct"):
        record_meeting(
            world["other_secretary"],
            world.other_branch.id,
            MeetingInput(meeting_type="theme_day", held_on="not a day", topic="x"),
        )
    db.session.rollback()
    assert events() == written
    with statements() as seen:
        assert missed(client) == before
    assert not reads_meetings(seen)


def test_the_next_day_counts_again_without_any_change(branches, clock, client, auth):
    auth.login("committee_a")
    before = missed(client)
    missed(client)
    written = events()
    # March ends overnight: its theme day is missed by the branch that held none, and its
    # committee meetings by those that owe them; nothing was recorded meanwhile.
    clock.set("2026-04-01T02:00:00")
    with statements() as seen:
        after = missed(client)
    assert events() == written
    assert reads_meetings(seen)
    assert after > before


TRAINING = "/supervision/?period=year&section=training&lang=en"


def reached(client) -> tuple[int, int]:
    """The training section's headline: (members who reached it, members who owe it)."""
    found = re.search(
        r"(\d+) of (\d+) members who owe it have reached it", text(client.get(TRAINING))
    )
    assert found, "no headline of the training hours"
    return int(found.group(1)), int(found.group(2))


def test_training_hours_count_again_once_a_training_is_recorded(branches, clock, client, auth):
    world = branches
    auth.login("committee_a")
    with statements() as first:
        before = reached(client)
    assert any("training_total" in s for s in first)
    with statements() as again:
        assert reached(client) == before
    assert not any("training_total" in s for s in again)
    member = str(world["member"].person.id)
    for day, hours in (("2026-02-02", "24"), ("2026-02-03", "8")):  # the year's 32 hours
        th.record_training(
            world["secretary"],
            world.branch.id,
            TrainingInput(person=member, taken_on=day, course="党校", hours=hours),
        )
    clock.set("2026-03-10T02:00:00")
    assert reached(client) == (before[0] + 1, before[1])


def test_each_language_keeps_its_own_labels(branches, client, auth):
    auth.login("committee_a")
    client.set_cookie("pbflow_lang", "zh")
    assert "主题党日" in text(client.get(YEAR))
    client.set_cookie("pbflow_lang", "en")
    english = text(client.get(YEAR))
    assert "Theme party day" in english and "主题党日" not in english
    client.set_cookie("pbflow_lang", "zh")
    chinese = text(client.get(YEAR))
    assert "主题党日" in chinese and "Theme party day" not in chinese


def test_the_store_keeps_at_most_its_size_the_least_recently_read_dropped(
    branches, app, client, auth
):
    """A store of two views' figures (each view keeps a figure per concern: the calendar,
    overdue work, the notices...) keeps the two organizations read last."""
    world = branches
    auth.login("committee_a")
    committee, branch, other = (
        f"{YEAR}&org={org.id}" for org in (world.committee, world.branch, world.other_branch)
    )
    missed(client, committee)
    store = app.extensions["pbflow_head_memo"]["figures"]
    per_view = len(store)
    assert per_view > 1
    store.clear()
    app.config["PBFLOW_DASHBOARD_MEMO"] = 2 * per_view
    for url in (committee, branch, committee, other):  # the committee's read again: recent
        missed(client, url)
    assert len(store) == 2 * per_view
    assert {key[0][1] for key in store} == {world.committee.id, world.other_branch.id}
    with statements() as seen:
        missed(client, branch)  # dropped: counted again
    assert reads_meetings(seen)
    assert len(store) == 2 * per_view


def test_nothing_is_kept_when_the_size_is_0(branches, app, client, auth):
    app.config["PBFLOW_DASHBOARD_MEMO"] = 0
    auth.login("committee_a")
    missed(client)
    with statements() as seen:
        missed(client)
    assert reads_meetings(seen)
    assert not any("FROM audit_head" in s for s in seen)
    assert not app.extensions.get("pbflow_head_memo", {}).get("figures")


def test_nothing_is_kept_while_the_chain_is_empty(app):
    with app.app_context():
        assert audit.head()[0] == 0
        made = []
        for _ in range(2):
            head_memo.remembered(("x",), lambda: made.append(1) or len(made))
        assert made == [1, 1]


@pytest.mark.parametrize("bad", [-1, 501, "16"])
def test_a_size_out_of_bounds_stops_the_start(tmp_path, bad):
    with pytest.raises(ValueError, match="PBFLOW_DASHBOARD_MEMO must be a whole number"):
        build_config(Path(tmp_path), {"SECRET_KEY": "x", "PBFLOW_DASHBOARD_MEMO": bad})


@pytest.mark.parametrize("bad", [-1, 5001, "256"])
def test_an_inbox_store_out_of_bounds_stops_the_start(tmp_path, bad, monkeypatch):
    with pytest.raises(ValueError, match="^PBFLOW_INBOX_MEMO must be a whole number from 0 to"):
        build_config(Path(tmp_path), {"SECRET_KEY": "x", "PBFLOW_INBOX_MEMO": bad})
    monkeypatch.setenv("PBFLOW_INBOX_MEMO", "5000")
    assert build_config(Path(tmp_path), {"SECRET_KEY": "x"})["PBFLOW_INBOX_MEMO"] == 5000
    assert (
        build_config(Path(tmp_path), {"SECRET_KEY": "x", "PBFLOW_INBOX_MEMO": 0})[
            "PBFLOW_INBOX_MEMO"
        ]
        == 0
    )


def test_a_setting_that_is_not_a_number_is_named_at_the_start(tmp_path, monkeypatch):
    monkeypatch.setenv("PBFLOW_DASHBOARD_MEMO", "sixteen")
    with pytest.raises(ValueError, match="^PBFLOW_DASHBOARD_MEMO must be a whole number, not"):
        build_config(Path(tmp_path), {"SECRET_KEY": "x"})
    monkeypatch.setenv("PBFLOW_DASHBOARD_MEMO", "8")
    assert build_config(Path(tmp_path), {"SECRET_KEY": "x"})["PBFLOW_DASHBOARD_MEMO"] == 8


def test_kept_figures_are_read_only_after_the_readers_rights(branches, client, auth):
    """The committee's view of the first branch keeps its calendar; the other branch's
    secretary asking for it is refused as before, the kept figures never reached."""
    world = branches
    url = f"{YEAR}&org={world.branch.id}"
    auth.login("committee_a")
    missed(client, url)
    auth.logout()
    auth.login("other_secretary")
    refused = client.get(url)
    assert refused.status_code == 404
    assert "meeting periods missed" not in refused.get_data(as_text=True)
    assert missed(client, f"{YEAR}&org={world.other_branch.id}") >= 0  # their own, counted


# --- figures that read the clock: kept until the next case falls due or becomes stuck ----------
# Overdue and stuck work, notices and development cases past their time limit are counted as of
# now. They are kept until the audit chain moves or until the first instant at which an open
# case falls due or has waited the threshold (``horizon.next_change``); the engine's time limits
# end at local midnight, but seeded or imported cases and the stuck threshold fall mid-day.

MONTH = periods.of("month")


def committee_view(world):
    return dashboard(world["committee_a"], None, MONTH, by_unit=False)


def reads_case_counts(seen: list[str]) -> bool:
    return any("case_tally" in s for s in seen)


def due_at(case_id: int, when: str) -> None:
    """A time limit that falls mid-day (as a seeded or imported case's may), set before any
    view as the office records a correction: with an event, the kept monthly counts following
    through the ORM."""
    case = db.session.get(ProcessInstance, case_id)
    case.due_at = datetime.fromisoformat(when)
    audit.record(
        "case_updated",
        actor=audit.SYSTEM,
        org_id=case.org_id,
        instance_id=case.id,
        payload={"due_at": when, "note": "test set-up"},
    )
    db.session.commit()


def submitted_request(world):
    case = funding_case(world)  # 2 March, 10:00 in Beijing: due at the end of 9 March
    walk(case.id, world, ("submit", "branch_member"))
    return case


def test_the_next_change_is_the_next_time_limit_or_stuck_day_of_an_open_case(world, clock):
    now = datetime.fromisoformat(WORLD_TIME)
    assert horizon.next_change(now, 30) is None  # no open case
    case = submitted_request(world)
    due = datetime(2026, 3, 9, 16, 0)  # the end of 9 March in Beijing
    assert case.due_at == due
    assert horizon.next_change(now) == due
    assert horizon.next_change(now, 3) == datetime(2026, 3, 5, 2, 0)  # 3 days in its state
    assert horizon.next_change(now, 30) == due
    # At the instant itself: no figure is kept (whether "due at or before now" or "due
    # before now", it changes at or just after it); just after, nothing is left to come.
    assert horizon.next_change(due) == due
    assert horizon.next_change(due + timedelta(microseconds=1)) is None
    assert horizon.next_change(due + timedelta(microseconds=1), 30) == datetime(2026, 4, 1, 2, 0)
    runtime.fire(case.id, "withdraw", world["branch_member"], comment="不再需要")
    assert case.closed_at is not None  # closed: it changes nothing more
    assert horizon.next_change(now, 30) is None


def test_overdue_work_counts_from_the_instant_a_case_falls_due(world, clock):
    case = submitted_request(world)
    due_at(case.id, "2026-03-09T06:00:00")  # 14:00 in Beijing
    clock.set("2026-03-09T05:00:00")
    assert committee_view(world).work.overdue == 0
    with statements() as seen:
        assert committee_view(world).work.overdue == 0
    assert not reads_case_counts(seen)  # kept
    clock.set("2026-03-09T06:00:00")  # the same day, an hour later: nothing recorded
    with statements() as seen:
        assert committee_view(world).work.overdue == 1
    assert reads_case_counts(seen)
    # A clock set back (as tests do) counts afresh, not what was counted later.
    clock.set("2026-03-09T05:30:00")
    assert committee_view(world).work.overdue == 0


def test_stuck_work_counts_from_the_instant_a_case_has_waited_the_threshold(world, clock):
    submitted_request(world)  # in its state since 2 March, 10:00 in Beijing
    clock.set("2026-04-01T01:00:00")  # 9:00 in Beijing: 30 days less an hour
    assert committee_view(world).work.stuck == 0
    assert committee_view(world).work.stuck == 0
    clock.set("2026-04-01T02:00:00")
    assert committee_view(world).work.stuck == 1
    shorter = dashboard(world["committee_a"], None, MONTH, by_unit=False, stuck_days=31)
    assert shorter.work.stuck == 0  # its own threshold, its own instant


def test_a_notice_counts_overdue_from_its_time_limit(world, clock):
    case = submitted_request(world)
    clock.set("2026-03-10T02:00:00")
    concerns = notices.about_case(world["committee_a"], case.id)
    notice = notices.issue(
        world["committee_a"],
        concerns,
        {
            "problem": "活动经费申请审核超期",
            "requirement": "三个工作日内完成审核",
            "deadline": "2026-03-13",
            "recipient": str(world["secretary"].id),
        },
    )
    due_at(notice.id, "2026-03-13T04:00:00")  # noon in Beijing
    clock.set("2026-03-13T03:00:00")
    assert committee_view(world).notices.total.overdue == 0
    assert committee_view(world).notices.total.overdue == 0
    clock.set("2026-03-13T04:00:00")
    assert committee_view(world).notices.total.overdue == 1


def test_a_development_case_counts_overdue_from_its_time_limit(world, clock):
    case = development_case(world)
    due_at(case.id, "2026-03-02T06:00:00")  # 14:00 in Beijing, today
    assert committee_view(world).pipeline.total.overdue == 0
    assert committee_view(world).pipeline.total.overdue == 0
    clock.set("2026-03-02T06:00:01")  # past its time limit
    assert committee_view(world).pipeline.total.overdue == 1


def development_case(world):
    person = Person(
        name="申请人", org_id=world.branch.id, party_status="none", birth_date=date(1998, 1, 1)
    )
    db.session.add(person)
    db.session.commit()
    return runtime.start(
        "member_development",
        world.branch,
        world["secretary"],
        {"person": person.id, "application_date": "2024-01-10", "part_way": True},
    )


def _untokened(html: str) -> str:
    """A page without its CSRF token's value, which is signed with the wall clock's second:
    two views of the same page differ there when a second ticks between them (CI's run
    caught it)."""
    return re.sub(r'name="csrf_token" value="[^"]*"', 'name="csrf_token" value=""', html)


def test_the_development_page_is_kept_until_a_case_falls_due(world, clock, client, auth):
    """The committee's development page (its pipeline, kept like the dashboard's figures):
    a second view reads no case; the case past its time limit is marked so from then on."""
    case = development_case(world)
    due_at(case.id, "2026-03-02T06:00:00")  # 14:00 in Beijing, today
    auth.login("committee_a")
    url = f"/development/org/{world.committee.id}"
    page = text(client.get(url))
    assert f"/cases/{case.id}" in page and "pipeline-row is-overdue" not in page
    with statements() as seen:
        assert _untokened(text(client.get(url))) == _untokened(page)
    assert not any("process_instance" in s for s in seen)
    clock.set("2026-03-02T06:00:01")
    assert "pipeline-row is-overdue" in text(client.get(url))
    # Another reader of another organization is refused before anything kept is read.
    auth.logout()
    auth.login("other_secretary")
    assert client.get(url).status_code == 403
