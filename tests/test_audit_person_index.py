"""The audit search by person reads the index ``audit_person`` (issue 16): the same events,
newest first, as the payload match it replaces, in the reader's scope, page after page, at a
constant number of statements; the index is checked and rebuilt from the events."""

from __future__ import annotations

from sqlalchemy import event, or_, select, text

from pbflow import audit
from pbflow.extensions import db
from pbflow.models import AuditEvent, AuditPerson, ProcessInstance
from pbflow.services import audit_search, seed
from tests.conftest import csrf_token, make_user


def _old_search(reader, person_id: int) -> list[int]:
    """The search as it was: a text match of the person's id in every payload."""
    cases = select(ProcessInstance.id).where(ProcessInstance.subject_person_id == person_id)
    key = f'"person_id":{person_id}'
    condition = or_(
        AuditEvent.instance_id.in_(cases),
        AuditEvent.payload.like(f"%{key},%"),
        AuditEvent.payload.like(f"%{key}}}%"),
    )
    stmt = audit_search._events_query(reader, audit_search.Filters(), select(AuditEvent.seq))
    return list(db.session.execute(stmt.where(condition).order_by(AuditEvent.seq.desc())).scalars())


def _pages(reader, person_id: int, per_page: int) -> tuple[list[int], set[int]]:
    """Every page of the new search; the statements each page took."""
    seqs: list[int] = []
    counts: set[int] = set()
    count = [0]

    def counter(*_args):
        count[0] += 1

    before = None
    while True:
        f = audit_search.Filters(person=person_id, before=before)
        event.listen(db.engine, "before_cursor_execute", counter)
        try:
            count[0] = 0
            rows, before = audit_search.search_events(reader, f, per_page=per_page)
        finally:
            event.remove(db.engine, "before_cursor_execute", counter)
        counts.add(count[0])
        seqs += [r.seq for r in rows]
        if before is None:
            return seqs, counts


def _varied_events(world, persons: list[int], cases: list[tuple[int, int]]) -> None:
    """Payloads naming people at the top, nested, in lists, several at once, and near
    misses (a string id, a boolean, another key ending in person_id)."""
    at = db.session.execute(select(AuditEvent.at).order_by(AuditEvent.seq.desc())).scalar()
    a, b, c = persons[:3]
    case_id, org_id = cases[0]
    payloads = [
        {"person_id": a},
        {"person_id": b, "z": 1},
        {"detail": {"person_id": c}},
        {"members": [{"person_id": a}, {"person_id": b}]},
        {"person_id": str(c)},
        {"person_id": True},
        {"subject_person_id": a},
        {"person_id": a, "note": '"person_id":' + str(b) + ","},
        {"other": [1, 2, {"deep": {"person_id": c, "x": [a]}}]},
    ]
    events = []
    for i, payload in enumerate(payloads * 3):
        org = (world.branch.id, world.other_branch.id, org_id)[i % 3]
        events.append(
            audit.make_event(
                "test_person_event",
                at=at,
                org_id=org,
                instance_id=case_id if i % 4 == 0 else None,
                payload=payload,
            )
        )
    audit.append_bulk(events)
    db.session.commit()


def test_person_search_by_index_matches_the_payload_match(app, world, clock):
    seed.seed(30, 1)
    db.session.commit()
    cases = [
        tuple(r)
        for r in db.session.execute(
            select(ProcessInstance.id, ProcessInstance.org_id)
            .where(ProcessInstance.subject_person_id.is_not(None))
            .order_by(ProcessInstance.id)
        )
    ]
    subjects = db.session.execute(
        select(ProcessInstance.subject_person_id).where(
            ProcessInstance.subject_person_id.is_not(None)
        )
    ).scalars()
    named = db.session.execute(select(AuditPerson.person_id).distinct()).scalars()
    persons = sorted(set(subjects) | set(named))
    assert len(persons) >= 3 and cases
    _varied_events(world, persons, cases)

    branch_auditor = make_user("branch_auditor", [(world.branch, "auditor")])
    db.session.commit()
    readers = [world.users["auditor"], branch_auditor, world.users["admin"]]
    checked = 0
    for person_id in persons[:25] + [10**9]:
        for reader in readers:
            old = _old_search(reader, person_id)
            new, counts = _pages(reader, person_id, per_page=4)
            assert new == old, (person_id, reader.username)
            # Every page, whatever the person and the page, costs the same statements.
            assert len(counts) == 1, counts
            checked += len(old)
    assert checked > 50
    # The branch auditor sees less than the committee's auditor (scoped as before).
    a = persons[0]
    assert set(_old_search(branch_auditor, a)) <= set(_old_search(world.users["auditor"], a))
    assert audit.check_person_index() == (0, 0)


def test_person_index_is_checked_and_rebuilt(app, world, clock, runner):
    seed.seed(10, 1)
    db.session.commit()
    rows = db.session.execute(select(AuditPerson.seq, AuditPerson.person_id)).all()
    assert rows and audit.check_person_index() == (0, 0)
    db.session.execute(text("DELETE FROM audit_person WHERE seq = :s"), {"s": rows[0].seq})
    db.session.execute(text("INSERT INTO audit_person (seq, person_id) VALUES (1, 424242)"))
    db.session.commit()
    missing, extra = audit.check_person_index()
    assert missing >= 1 and extra == 1
    check = runner.invoke(args=["pbflow", "audit", "reindex", "--check"])
    assert check.exit_code == 1 and "1 rows too many" in check.output
    assert runner.invoke(args=["pbflow", "audit", "reindex"]).exit_code == 0
    db.session.expire_all()
    assert audit.check_person_index() == (0, 0)
    assert runner.invoke(args=["pbflow", "audit", "reindex", "--check"]).exit_code == 0
    assert db.session.execute(select(AuditPerson.seq, AuditPerson.person_id)).all() == rows


def test_verify_checks_the_person_index(app, world, clock, runner, client, auth, tmp_path):
    """Rows deleted from the index hide their events from the search by person; a row added
    shows an event under someone it does not name. ``audit verify`` (and the audit page's)
    names both; ``audit reindex`` repairs the index; an export does not hold it."""
    seed.seed(10, 1)
    db.session.commit()
    ok = runner.invoke(args=["pbflow", "audit", "verify"])
    rows = db.session.execute(select(AuditPerson.seq, AuditPerson.person_id)).all()
    assert ok.exit_code == 0 and f"the search index of persons matches ({len(rows)} rows)" in (
        ok.output
    )

    # Hide two events of the first person from the search, and add a row beyond the head.
    person = rows[0].person_id
    hidden = sorted({r.seq for r in rows if r.person_id == person})[:2]
    deleted = [r for r in rows if r.seq in hidden]
    head_seq, _hash = audit.head()
    db.session.execute(
        text("DELETE FROM audit_person WHERE seq IN (:a, :b)"), {"a": hidden[0], "b": hidden[-1]}
    )
    db.session.execute(
        text("INSERT INTO audit_person (seq, person_id) VALUES (:s, 424242)"),
        {"s": head_seq + 1000},
    )
    db.session.commit()
    events, persons = len(hidden) + 1, len({r.person_id for r in deleted}) + 1
    message = (
        f"the search index of persons (audit_person) does not match the events: "
        f"{len(deleted)} rows missing and 1 rows too many, for {events} events and "
        f"{persons} persons; searching by person hides those events"
    )
    broken = runner.invoke(args=["pbflow", "audit", "verify"])
    assert broken.exit_code == 1 and message in broken.output, broken.output
    assert "pbflow audit reindex" in broken.output

    auth.login("auditor")
    token = csrf_token(client.get("/audit/").get_data(as_text=True))
    page = client.post("/audit/verify?lang=en", data={"csrf_token": token})
    html = page.get_data(as_text=True)
    assert "verify-broken" in html and "Records do not match their audit trail." in html
    assert message in html

    # The export has no index: its verification is as before, and says so.
    export = tmp_path / "audit.jsonl"
    assert runner.invoke(args=["pbflow", "audit", "export", "--out", str(export)]).exit_code == 0
    offline = runner.invoke(args=["pbflow", "audit", "verify", "--file", str(export)])
    assert offline.exit_code == 0 and offline.output.startswith("OK: "), offline.output
    assert "the search index of persons is not in exports" in offline.output

    assert runner.invoke(args=["pbflow", "audit", "reindex"]).exit_code == 0
    db.session.expire_all()
    assert runner.invoke(args=["pbflow", "audit", "verify"]).exit_code == 0
    assert audit.verify_database().person_index == len(rows)
    token = csrf_token(client.get("/audit/").get_data(as_text=True))
    html = client.post("/audit/verify?lang=en", data={"csrf_token": token}).get_data(as_text=True)
    assert f"The search index of persons matches the events ({len(rows)} rows)." in html


def test_payload_persons():
    assert audit.payload_persons("{}") == []
    assert audit.payload_persons('{"a":[{"person_id":3},{"person_id":1}],"person_id":3}') == [1, 3]
    assert audit.payload_persons('{"person_id":"3","b":true}') == []
    assert audit.payload_persons('{"person_id":true}') == []
