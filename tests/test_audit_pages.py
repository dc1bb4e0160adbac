"""The audit trail page: who may open it, search, verify (intact and broken), export, head."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text

from pbflow import audit
from pbflow.extensions import db
from pbflow.models import AuditEvent, Person
from pbflow.services import accounts, people
from tests.conftest import csrf_token


@pytest.mark.parametrize("username", ["member", "secretary", "committee_a", "gb_secretary"])
def test_refused_for_non_auditors(world, auth, client, username):
    auth.login(username)
    assert client.get("/audit/").status_code == 403
    assert client.get("/audit/export.jsonl").status_code == 403


@pytest.mark.parametrize("username", ["auditor", "admin"])
def test_open_for_auditors_and_admins(world, auth, client, username):
    auth.login(username)
    page = client.get("/audit/?lang=en")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    seq, head_hash = audit.head()
    assert head_hash in html and f"#{seq}" in html


def _rows(html: str) -> list[str]:
    import re

    return re.findall(r"<tr>\s*<td>(\d+)</td>", html)


def test_search_by_actor_action_org_and_newest_first(world, auth, client):
    auth.login("auditor")
    html = client.get("/audit/?action=role_granted&lang=en").get_data(as_text=True)
    seqs = [int(s) for s in _rows(html)]
    assert seqs and seqs == sorted(seqs, reverse=True)
    granted = db.session.execute(
        select(AuditEvent.seq).where(AuditEvent.action == "role_granted")
    ).scalars()
    assert set(seqs) == set(granted)

    # The auditor's own login went to the security log (tests/test_security_log.py searches
    # it there); here an actor of the process chain: the set-up, done by the system.
    html = client.get("/audit/?actor=system").get_data(as_text=True)
    seqs = [int(s) for s in _rows(html)]
    labels = set(
        db.session.execute(select(AuditEvent.actor_label).where(AuditEvent.seq.in_(seqs))).scalars()
    )
    assert seqs and labels == {"system"}
    assert _rows(client.get("/audit/?actor=auditor").get_data(as_text=True)) == []

    html = client.get(f"/audit/?org={world.general_branch.id}").get_data(as_text=True)
    orgs = set(
        db.session.execute(
            select(AuditEvent.org_id).where(AuditEvent.seq.in_([int(s) for s in _rows(html)]))
        ).scalars()
    )
    assert orgs == {world.general_branch.id, world.branch.id}


def test_the_action_is_chosen_from_a_list_in_words_and_an_unknown_one_is_kept(world, auth, client):
    """An auditor picks the action by its words (the key beside them), in the page's
    language, from everything pbflow and its procedures record; they had to type a key
    ("transition, person_updated, ...") they could only learn from the page's examples."""
    import re

    auth.login("auditor")
    html = client.get("/audit/?action=role_granted&lang=en").get_data(as_text=True)
    select_ = re.search(r'<select id="f-action" name="action".*?</select>', html, re.S).group(0)
    options = dict(re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', select_))
    assert options[""] == "all"
    assert options["transition"] == "Step taken (transition)"
    assert options["role_granted"] == "Role granted (role_granted)"
    assert options["meeting_recorded"] == "Meeting recorded (meeting_recorded)"  # a procedure's
    assert re.search(r'<option value="role_granted" selected>', select_)
    labels = [text for value, text in options.items() if value]
    assert labels == sorted(labels)
    zh = client.get("/audit/?lang=zh").get_data(as_text=True)
    assert '<option value="transition" >办理步骤（transition）</option>' in zh

    # An action none of them names (a procedure since removed) is searched and shown chosen.
    gone = client.get("/audit/?action=retired_procedure_event&lang=en").get_data(as_text=True)
    assert (
        '<option value="retired_procedure_event" selected>retired_procedure_event</option>' in gone
    )
    assert _rows(gone) == []
    # ... on that page only: the list of actions is made once per language and kept.
    again = client.get("/audit/?lang=en").get_data(as_text=True)
    assert 'value="retired_procedure_event"' not in again
    assert '<option value="transition" >Step taken (transition)</option>' in again


def test_search_by_person_and_date_range(world, auth, client, clock):
    person = people.create_person({"org_id": world.branch.id, "name": "被查的人"})
    clock.advance(days=3)
    people.update_profile(person, {"name": "被查的人", "job": "电工", "org_id": world.branch.id})
    other = people.create_person({"org_id": world.branch.id, "name": "别人"})
    assert other.id != person.id
    auth.login("auditor")
    html = client.get(f"/audit/?person={person.id}&action=").get_data(as_text=True)
    actions = [db.session.get(AuditEvent, int(s)).action for s in _rows(html)]
    assert actions == ["person_updated", "person_created"]

    # 2026-03-05 local is the day of the edit (the clock moved three days).
    html = client.get(f"/audit/?person={person.id}&from=2026-03-05&to=2026-03-05").get_data(
        as_text=True
    )
    assert [db.session.get(AuditEvent, int(s)).action for s in _rows(html)] == ["person_updated"]


def test_a_search_by_dates_lists_events_by_time_and_says_so(world, auth, client, clock):
    """Times need not rise with the numbers (overlapping commits; the opinion box's times
    coarsened to the hour or day): a search by dates lists by time, and the page says so;
    the other searches list by number."""
    for when in ("2026-03-04T05:00:00", "2026-03-03T05:00:00", "2026-03-05T05:00:00"):
        clock.set(when)
        audit.record("test_event", actor=audit.SYSTEM)
    db.session.commit()
    newest_first = list(
        db.session.execute(
            select(AuditEvent.seq)
            .where(AuditEvent.action == "test_event")
            .order_by(AuditEvent.seq.desc())
        ).scalars()
    )
    third, second, first = newest_first  # recorded in this order, at 4, 3 and 5 March
    auth.login("auditor")
    by_time = client.get("/audit/?action=test_event&from=2026-03-01&to=2026-03-31&lang=en")
    html = by_time.get_data(as_text=True)
    assert [int(s) for s in _rows(html)] == [third, first, second]
    assert "listed by their time" in html
    by_number = client.get("/audit/?action=test_event&lang=en").get_data(as_text=True)
    assert [int(s) for s in _rows(by_number)] == [third, second, first]
    assert "listed by their time" not in by_number
    zh = client.get("/audit/?action=test_event&from=2026-03-01&lang=zh").get_data(as_text=True)
    assert "记录按时间排列" in zh
    # The search's export lists as its page does.
    for dates, expected in (("&to=2026-03-31", [third, first, second]), ("", newest_first)):
        csv = client.get(f"/audit/?format=csv&action=test_event{dates}&lang=en")
        listed = [int(line.split(",")[0]) for line in csv.get_data(as_text=True).splitlines()[1:]]
        assert listed == expected, dates


def test_search_bad_input_is_said_and_kept(world, auth, client):
    auth.login("auditor")
    resp = client.get("/audit/?case=abc&from=2026-02-31&lang=en")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "could not be read" in html
    assert "&#39;abc&#39; is not a number" in html
    assert 'value="2026-02-31"' in html


def test_pagination_newest_first_with_older_link(world, auth, client):
    for i in range(60):
        audit.record("test_event", payload={"i": i})
    db.session.commit()
    auth.login("auditor")
    html = client.get("/audit/?action=test_event&lang=en").get_data(as_text=True)
    first = [int(s) for s in _rows(html)]
    assert len(first) == 50 and "Older" in html
    last = first[-1]
    html = client.get(f"/audit/?action=test_event&before={last}&lang=en").get_data(as_text=True)
    second = [int(s) for s in _rows(html)]
    assert len(second) == 10 and max(second) < last and "Older" not in html


def _verify(client, expect: str = ""):
    token = csrf_token(client.get("/audit/").get_data(as_text=True))
    return client.post("/audit/verify?lang=en", data={"csrf_token": token, "expect": expect})


def test_verify_intact_chain(world, auth, client):
    auth.login("auditor")
    seq, head_hash = audit.head()
    resp = _verify(client, head_hash)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "The chain is intact" in html and "verify-broken" not in html


def test_verify_names_first_broken_event(world, auth, client, app):
    auth.login("auditor")
    # Tamper as an attacker with database access would: switch the triggers off, edit event 5.
    with db.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("DROP TRIGGER audit_event_no_update")
        else:
            conn.exec_driver_sql("ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_change")
        conn.execute(text("UPDATE audit_event SET action = 'forged' WHERE seq = 5"))
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("ALTER TABLE audit_event ENABLE TRIGGER audit_event_no_change")
    resp = _verify(client)
    html = resp.get_data(as_text=True)
    assert "The chain is broken at event #5" in html
    assert "event 5 was altered" in html


def test_verify_with_unknown_expected_head(world, auth, client):
    auth.login("auditor")
    html = _verify(client, "ab" * 32).get_data(as_text=True)
    assert "does not contain a head hash recorded earlier" in html
    resp = _verify(client, "not-a-hash")
    assert resp.status_code == 422
    assert "is not a head hash" in resp.get_data(as_text=True)


def test_export_jsonl_verifies_offline(world, auth, client):
    accounts.set_active(world["member"], False)
    auth.login("auditor")
    resp = client.get("/audit/export.jsonl")
    assert resp.status_code == 200
    assert resp.mimetype == "application/x-ndjson"
    assert "attachment" in resp.headers["Content-Disposition"]
    lines = resp.get_data(as_text=True).splitlines()
    rows = list(audit.read_export(lines))
    count = db.session.execute(select(AuditEvent.seq).order_by(AuditEvent.seq.desc())).scalar()
    assert len(rows) == count
    assert audit.verify_rows(rows).ok
    assert any(json.loads(r["payload"]).get("username") == "member" for r in rows)


def test_person_profile_links_to_history(world, auth, client):
    person = Person(name="某人", org_id=world.branch.id)
    db.session.add(person)
    db.session.commit()
    auth.login("admin")
    html = client.get(f"/admin/people/{person.id}").get_data(as_text=True)
    assert f"/audit/?person={person.id}" in html


def _row_of(html: str, seq: int) -> str:
    import re

    found = re.search(rf"<tr>\s*<td>{seq}</td>.*?</tr>", html, re.S)
    assert found, f"event {seq} is not on the page"
    return found.group(0)


def test_events_are_told_in_words_with_their_keys(world, auth, client):
    """An auditor reads what happened: the action named, a step by its label in the case's
    workflow, states by their labels; the stored key beside the words (it is what the search
    takes); an action nothing names shows its key."""
    from tests.pages_helpers import funding_case, walk

    case = funding_case(world)
    walk(case.id, world, ("submit", "branch_member"))
    step = db.session.execute(
        select(AuditEvent.seq).where(
            AuditEvent.instance_id == case.id, AuditEvent.action == "transition"
        )
    ).scalar_one()
    started = db.session.execute(
        select(AuditEvent.seq).where(
            AuditEvent.instance_id == case.id, AuditEvent.action == "case_started"
        )
    ).scalar_one()
    audit.record("made_up_action", actor=None, payload={"note": "x"})
    db.session.commit()
    odd = audit.head()[0]
    auth.login("auditor")
    html = client.get("/audit/?lang=en").get_data(as_text=True)
    row = _row_of(html, step)
    assert (
        "Step taken: Submit for review" in row
        and '<code class="action-key">transition</code>' in row
    )
    assert "Draft → Branch secretary review" in row  # states by label, not by key
    assert "Case started" in _row_of(html, started)
    assert '<code class="action-key">made_up_action</code>' in _row_of(html, odd)
    html = client.get("/audit/?lang=zh").get_data(as_text=True)
    assert "办理步骤" in _row_of(html, step) and "发起事项" in _row_of(html, started)


def test_a_case_timeline_names_actions_as_the_audit_page_does(world):
    """The timeline keeps its own verbs; an action it does not word is named as on the audit
    page (a procedure's own action included), and one nothing names shows its key."""
    from pbflow.engine.registry import registry
    from pbflow.services import cases
    from tests.pages_helpers import funding_case

    case = funding_case(world)
    for action in ("tracking_code_issued", "made_up_action"):
        audit.record(action, actor=None, org_id=case.org_id, instance_id=case.id, payload={})
    db.session.commit()
    d = registry().stored(case.definition_id)
    texts = [e.text for e in cases.timeline(case, d, "en")]
    assert texts == ["Started the case", "Tracking code issued", "made_up_action"]


def test_actors_without_an_account_are_named_in_the_page_language_with_their_key(
    world, auth, client
):
    """The scheduler and a tracking-code holder are 'system' and 'anonymous' in the trail
    (what the search by actor takes): the page says 系统 / 匿名 beside the key, in Chinese."""
    audit.record("made_up_action", actor=None, payload={})
    audit.record("made_up_action", actor=audit.ANONYMOUS, payload={})
    db.session.commit()
    by_system, by_anonymous = audit.head()[0] - 1, audit.head()[0]
    auth.login("auditor")
    html = client.get("/audit/?lang=zh").get_data(as_text=True)
    assert '系统 <code class="action-key">system</code>' in _row_of(html, by_system)
    assert '匿名 <code class="action-key">anonymous</code>' in _row_of(html, by_anonymous)
    html = client.get("/audit/?lang=en&actor=anonymous").get_data(as_text=True)
    assert 'Anonymous <code class="action-key">anonymous</code>' in _row_of(html, by_anonymous)
    assert [int(s) for s in _rows(html)] == [by_anonymous]
