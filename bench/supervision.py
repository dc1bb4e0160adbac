"""The supervision dashboard at scale: 50 branches (under 5 general branches), 5,000 people,
100,000 cases and two years of meetings, in a fresh SQLite file.

Rows are written with bulk inserts (the dashboard reads them; how they were made does not
matter here), with the shapes real use leaves: opinions with their answer dates, on-time
flags, ratings and reopenings; rectification items with deadlines; development cases in
every stage; funding requests waiting, overdue or closed. Then it times, over repeated
requests through the test client: the dashboard for a year and for a month, against a
trivial page of the same app in the same run (the ratio is what to compare between runs),
and the SQL statements each request issues; then a CSV and an Excel export of all 100,000
cases, with the peak memory Python allocated while writing each.

    python bench/supervision.py [--cases 100000] [--branches 50] [--runs 15]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PASSWORD = "bench-password-1"


def build(app, args) -> None:
    from sqlalchemy import insert

    from pbflow import audit, security_log
    from pbflow.engine.registry import registry
    from pbflow.extensions import db
    from pbflow.models import Meeting, Organization, Person, ProcessInstance, RoleAssignment
    from pbflow.services import accounts

    rng = random.Random(12)
    with db.engine.begin() as conn:
        db.metadata.create_all(conn)
        audit.install_triggers(conn)
        security_log.install_triggers(conn)
    now = datetime(2026, 6, 15, 2, 0)
    app.config["PBFLOW_FAKE_NOW"] = now
    set_up = datetime(2024, 3, 1)
    committee = accounts.create_org("coal", "党委", "committee")
    reader = accounts.create_user("reader", "Reader", PASSWORD, commit=False)
    accounts.grant_role(reader, committee, "committee", commit=False)
    db.session.commit()
    branches = []
    for g in range(5):
        general = accounts.create_org(f"g{g}", f"总支{g}", "general_branch", committee)
        for b in range(args.branches // 5):
            branches.append(accounts.create_org(f"b{g}-{b}", f"支部{g}-{b}", "branch", general))
    db.session.execute(Organization.__table__.update().values(created_at=set_up))
    db.session.execute(
        insert(RoleAssignment),
        [{"user_id": reader.id, "org_id": b.id, "role": "branch_committee"} for b in branches[:1]],
    )
    ids = [b.id for b in branches]
    statuses = ["full"] * 7 + ["probationary", "activist", "applicant"]
    db.session.execute(
        insert(Person),
        [
            {
                "name": f"人{i}",
                "org_id": ids[i % len(ids)],
                "party_status": (status := rng.choice(statuses)),
                "gender": rng.choice(["男", "女"]),
                "education": rng.choice(["大专", "本科", "高中", "硕士研究生"]),
                "birth_date": date(1960 + rng.randint(0, 45), rng.randint(1, 12), 1),
                "admitted_on": date(2000 + rng.randint(0, 25), 1, 1)
                if status in ("full", "probationary")
                else None,
                "full_member_on": date(2001 + rng.randint(0, 24), 6, 1)
                if status == "full"
                else None,
                "active": True,
                "created_at": set_up,
            }
            for i in range(args.people)
        ],
    )
    reg = registry()
    defs = {w: reg.ensure_stored(reg.get(w)) for w in reg.current}
    db.session.commit()
    meetings = []
    for oid in ids:
        keeps = rng.random()
        month = date(2024, 4, 1)
        while month < date(2026, 6, 1):
            for mtype in ("theme_day", "committee_meeting"):
                if rng.random() < keeps:
                    meetings.append((oid, mtype, month + timedelta(days=rng.randint(0, 25))))
            if month.month % 3 == 0:
                for mtype in ("general_meeting", "party_lecture"):
                    if rng.random() < keeps:
                        meetings.append((oid, mtype, month + timedelta(days=rng.randint(0, 25))))
            month = (month + timedelta(days=32)).replace(day=1)
    db.session.execute(
        insert(Meeting),
        [
            {
                "org_id": o,
                "meeting_type": t,
                "held_on": d,
                "topic": "会议",
                "minutes": "",
                "created_at": now,
                "updated_at": now,
                "version": 1,
            }
            for o, t, d in meetings
        ],
    )
    # As two years of use leave them: opinions and funding requests most, then rectification
    # items and development cases, two life meetings a year per branch; older cases mostly
    # closed, recent ones half open.
    open_states = {
        "opinion": ["received", "accepted", "assigned", "published"],
        "rectification": ["open", "in_progress", "checking"],
        "member_development": ["applied", "activist", "target", "probation"],
        "activity_funding": ["draft", "secretary_review", "superior_review", "approved"],
    }
    closed_states = {
        "opinion": "closed",
        "rectification": "closed",
        "member_development": "archived",
        "activity_funding": "closed",
    }
    weights = {"opinion": 38, "activity_funding": 32, "rectification": 16, "member_development": 14}
    pool = [w for w, n in weights.items() for _ in range(n)]
    rows = []
    for i in range(args.cases):
        workflow = rng.choice(pool)
        created = now - timedelta(days=rng.randint(0, 730), hours=rng.randint(0, 23))
        recent = (now - created).days < 90
        is_open = rng.random() < (0.5 if recent else 0.05)
        state = rng.choice(open_states[workflow]) if is_open else closed_states[workflow]
        data: dict = {}
        answered = created.date() + timedelta(days=rng.randint(2, 30))
        if workflow == "opinion" and (state in ("published", "closed")) and answered < now.date():
            data = {
                "first_published_on": answered.isoformat(),
                "on_time": rng.random() < 0.8,
                "rating": rng.randint(1, 5) if state == "closed" else None,
                "reopen_count": 1 if rng.random() < 0.1 else 0,
            }
        elif workflow == "rectification":
            deadline = created.date() + timedelta(days=rng.randint(20, 120))
            data = {"deadline": deadline.isoformat()}
        closed = None if is_open else min(now, created + timedelta(days=rng.randint(1, 60)))
        rows.append(
            {
                "definition_id": defs[workflow],
                "workflow_id": workflow,
                "org_id": ids[i % len(ids)],
                "title": f"{workflow} {i}",
                "state": state,
                "data": data,
                "version": 2,
                "entered_version": 2,
                "created_at": created,
                "updated_at": closed or created,
                "state_entered_at": created + timedelta(days=1),
                "closed_at": closed,
                "due_at": None if closed else created + timedelta(days=rng.randint(5, 90)),
            }
        )
        if len(rows) == 5000:
            db.session.execute(insert(ProcessInstance), rows)
            rows = []
    for oid in ids:
        for year in (2024, 2025):
            held = date(year, 12, 10)
            rows.append(
                {
                    "definition_id": defs["life_meeting"],
                    "workflow_id": "life_meeting",
                    "org_id": oid,
                    "title": f"{year} 组织生活会",
                    "state": "closed",
                    "data": {"kind": "organizational", "held_on": held.isoformat()},
                    "version": 20,
                    "entered_version": 20,
                    "created_at": datetime(year, 11, 1),
                    "updated_at": datetime(year + 1, 2, 1),
                    "state_entered_at": datetime(year + 1, 2, 1),
                    "closed_at": datetime(year + 1, 2, 1),
                    "due_at": None,
                }
            )
    if rows:
        db.session.execute(insert(ProcessInstance), rows)
    db.session.commit()
    print(
        f"built: {len(branches)} branches, {args.people} people, {args.cases} cases, "
        f"{len(meetings)} meetings"
    )


def timed(client, url: str, runs: int) -> tuple[list[float], int, list[float]]:
    from sqlalchemy import event

    from pbflow.extensions import db

    seen: list[str] = []

    def before(_conn, _cursor, statement, *_args):
        seen.append(statement)

    client.get(url)  # warm up
    times, cpu = [], []
    for _ in range(runs):
        seen.clear()
        event.listen(db.engine, "before_cursor_execute", before)
        start, start_cpu = time.perf_counter(), time.process_time()
        res = client.get(url)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        event.remove(db.engine, "before_cursor_execute", before)
        assert res.status_code == 200, (url, res.status_code)
    return times, len(seen), cpu


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def export(client, url: str) -> tuple[float, int, float]:
    """Time one export; then the peak memory Python allocates while writing it, in a second
    run under tracemalloc (which slows Python down too much to time the same run)."""
    start = time.perf_counter()
    res = client.get(url)
    size = sum(len(chunk) for chunk in res.response)
    elapsed = time.perf_counter() - start
    tracemalloc.start()
    res = client.get(url)
    for _chunk in res.response:
        pass
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return elapsed, size, peak / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--branches", type=int, default=50)
    parser.add_argument("--people", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    from pbflow import create_app

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'bench.sqlite3'}",
                "INSTANCE_PATH": folder,
                "SECRET_KEY": "bench",
                "WTF_CSRF_ENABLED": False,
                "PBFLOW_PASSWORD_METHOD": "pbkdf2:sha256:1000",
            }
        )
        with app.app_context():
            start = time.perf_counter()
            build(app, args)
            print(f"build took {time.perf_counter() - start:.1f} s")
        with app.app_context():
            measure(app, args)


def measure(app, args) -> None:
    client = app.test_client()
    client.set_cookie("pbflow_lang", "en")
    client.post("/login", data={"username": "reader", "password": PASSWORD})
    trivial, _n, _cpu = timed(client, "/account/", args.runs)
    base = statistics.median(trivial)
    print(f"trivial page (/account/): p50 {base * 1000:.1f} ms")
    for label, url in (
        ("dashboard, year", "/supervision/?period=year&on=2026-01-01"),
        ("dashboard, month", "/supervision/?period=month&on=2026-06-01"),
        ("dashboard, 3 years by quarter", "/supervision/?from=2023-07-01&to=2026-06-30"),
    ):
        times, statements, cpu = timed(client, url, args.runs)
        p50, p95 = statistics.median(times), pct(times, 0.95)
        print(
            f"{label}: p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms "
            f"(CPU p50 {statistics.median(cpu) * 1000:.0f} ms), "
            f"{p50 / base:.1f}x the trivial page, {statements} SQL statements"
        )
    for label, url in (
        ("export of all cases, CSV", "/cases?status=all&format=csv"),
        ("export of all cases, Excel", "/cases?status=all&format=xlsx"),
    ):
        elapsed, size, peak = export(client, url)
        print(
            f"{label}: {elapsed:.1f} s, {size / 1e6:.1f} MB, "
            f"peak Python memory while writing {peak:.1f} MB"
        )


if __name__ == "__main__":
    main()
