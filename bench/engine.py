"""Engine throughput against the floor a bare database loop sets, in the same run.

Three measurements, each printed as a ratio to a bare loop doing the same writes:

1. **engine only** (SQLite): ``runtime.fire`` by case id, alternating two steps on one case.
2. **the approval walk through the service functions** (SQLite): what a page or the CLI does,
   ``cases.start_case`` and then five ``cases.take_step`` calls (submit, branch approval,
   superior approval, spending report, acceptance) on the activity funding workflow, each
   one transaction with its hash-chained audit event, its work-waiting rows (case_task) and
   its notices. Beside it, on the same walk:

   - the **bare sqlite3 loop**: per transaction it inserts or updates the case row (with the
     version check), locks the chain head, hashes and appends the audit row, moves the head,
     rewrites the case's work-waiting rows and, at the end, inserts the requester's notice:
     the same writes pbflow makes, and nothing else;
   - **python-statemachine** driving the same walk, each transition persisted by the same
     sqlite3 writes (its machine in place of pbflow's engine). python-statemachine is not a
     dependency of pbflow: ``pip install -e .[bench]`` (or ``pip install python-statemachine``)
     puts it in the virtualenv for this script; without it that line is skipped.

3. ``--postgres URL``: the walk through the service functions on PostgreSQL against a bare
   psycopg loop doing the same writes (a scratch database is created and dropped: give a URL
   whose role may CREATE DATABASE, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/postgres).

The figure that matters is the ratio, which is stable across noisy machines; absolute numbers
are printed for context. Both wall-clock and CPU-time rates are shown (a busy machine distorts
CPU time least; with WAL and synchronous=NORMAL a commit does not wait for the disk).

    python bench/engine.py [--transitions 3000] [--walks 500] [--rounds 3] [--postgres URL]
    python bench/engine.py --profile      # cProfile of the service walk, top functions
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON")
GENESIS = "0" * 64

# The walk: (trigger, from, to, actor); the first is the start.
WALK = (
    ("start", None, "draft", "requester"),
    ("submit", "draft", "secretary_review", "requester"),
    ("secretary_approve", "secretary_review", "superior_review", "secretary"),
    ("superior_approve", "superior_review", "approved", "superior"),
    ("report_spending", "approved", "report_review", "requester"),
    ("accept_report", "report_review", "closed", "secretary"),
)
START = {
    "purpose": "bench",
    "activity_date": "2026-01-10",
    "amount": "100",
    "budget": "b",
}
FIELDS = {"report_spending": {"spent": "90", "spending_report": "spent on leaflets"}}
# Who each state then waits on, as work-waiting rows: what pbflow's case_task holds.
WAITS = {
    "draft": [("u:1", "step", "submit"), ("u:1", "option", "withdraw")],
    "secretary_review": [
        ("r:secretary@3", "step", "secretary_approve"),
        ("r:deputy_secretary@3", "step", "secretary_approve"),
        ("u:1", "option", "withdraw"),
    ],
    "superior_review": [("r:secretary@2", "step", "superior_approve")],
    "approved": [("u:1", "step", "report_spending"), ("r:secretary@3", "step", "report_spending")],
    "report_review": [("r:secretary@3", "step", "accept_report")],
    "closed": [],
}


# --- the bare loops ---------------------------------------------------------------------------


class _Bare:
    """The writes of one walk, on a DBAPI connection (sqlite3 or psycopg)."""

    SCHEMA = """
        CREATE TABLE cases (id INTEGER PRIMARY KEY, state TEXT, data TEXT, version INTEGER,
                            updated_at TEXT, closed_at TEXT);
        CREATE TABLE audit (seq INTEGER PRIMARY KEY, at TEXT, actor TEXT, instance_id INTEGER,
                            action TEXT, from_state TEXT, to_state TEXT, payload TEXT,
                            salt TEXT, prev_hash TEXT, hash TEXT UNIQUE);
        CREATE TABLE head (id INTEGER PRIMARY KEY, seq INTEGER, hash TEXT);
        CREATE TABLE task (id INTEGER PRIMARY KEY, instance_id INTEGER, holder TEXT, kind TEXT,
                           trigger TEXT, since TEXT);
        CREATE INDEX ix_task_instance ON task (instance_id);
        CREATE TABLE note (id INTEGER PRIMARY KEY, user_id INTEGER, instance_id INTEGER,
                           kind TEXT, params TEXT, created_at TEXT);
    """

    def __init__(self, conn, placeholder="?"):
        self.conn = conn
        self.p = placeholder

    def q(self, sql: str) -> str:
        return sql.replace("?", self.p)

    def audit(self, cur, case_id, action, src, dst, payload):
        now = datetime.now(UTC).isoformat()
        cur.execute(self.q("UPDATE head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash"))
        seq, prev = cur.fetchone()
        body = json.dumps(
            [seq, now, "user", case_id, action, src, dst, payload, os.urandom(16).hex()],
            separators=(",", ":"),
        )
        digest = hashlib.sha256((prev + hashlib.sha256(body.encode()).hexdigest()).encode())
        digest = digest.hexdigest()
        cur.execute(
            self.q("INSERT INTO audit VALUES (?,?,?,?,?,?,?,?,?,?,?)"),
            (seq, now, "user", case_id, action, src, dst, payload, "salt", prev, digest),
        )
        cur.execute(self.q("UPDATE head SET hash = ? WHERE id = 1"), (digest,))

    def tasks(self, cur, case_id, state, now):
        cur.execute(self.q("DELETE FROM task WHERE instance_id = ?"), (case_id,))
        cur.executemany(
            self.q("INSERT INTO task (instance_id, holder, kind, trigger, since) VALUES (?,?,?,?,?)"),
            [(case_id, h, k, t, now) for h, k, t in WAITS[state]],
        )

    def step(self, case_id, version, trigger, src, dst, data):
        cur = self.conn.cursor()
        now = datetime.now(UTC).isoformat()
        self.begin()
        if src is None:
            cur.execute(
                self.q("INSERT INTO cases VALUES (?, ?, ?, 1, ?, NULL)"),
                (case_id, dst, json.dumps(data), now),
            )
        else:
            cur.execute(
                self.q(
                    "UPDATE cases SET state=?, data=?, version=version+1, updated_at=?,"
                    " closed_at=? WHERE id=? AND version=?"
                ),
                (dst, json.dumps(data), now, now if dst == "closed" else None, case_id, version),
            )
            assert cur.rowcount == 1
        payload = json.dumps({"trigger": trigger}, sort_keys=True, separators=(",", ":"))
        self.audit(cur, case_id, "transition" if src else "case_started", src, dst, payload)
        self.tasks(cur, case_id, dst, now)
        if dst == "closed":
            cur.execute(
                self.q(
                    "INSERT INTO note (user_id, instance_id, kind, params, created_at)"
                    " VALUES (?,?,?,?,?)"
                ),
                (1, case_id, "result", json.dumps({"state": dst}), now),
            )
        self.conn.commit()

    def begin(self):
        pass


def _sqlite(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    conn.isolation_level = None
    for p in PRAGMAS:
        conn.execute(p)
    conn.executescript(_Bare.SCHEMA)
    conn.execute("INSERT INTO head VALUES (1, 0, ?)", (GENESIS,))
    conn.isolation_level = "DEFERRED"
    conn.commit()
    return conn


def bare_walks(bare: _Bare, n: int) -> tuple[float, float]:
    start, cpu = time.perf_counter(), time.process_time()
    for case_id in range(1, n + 1):
        data = dict(START)
        for version, (trigger, src, dst, _who) in enumerate(WALK):
            data.update(FIELDS.get(trigger, {}))
            bare.step(case_id, version, trigger, src, dst, data)
    return _rates(n * len(WALK), start, cpu)


def statemachine_walks(bare: _Bare, n: int) -> tuple[float, float] | None:
    """python-statemachine on the same walk, each transition persisted by the bare writes."""
    try:
        from statemachine import State, StateMachine
    except ImportError:
        return None

    class Funding(StateMachine):
        draft = State(initial=True)
        secretary_review = State()
        superior_review = State()
        approved = State()
        report_review = State()
        closed = State(final=True)

        submit = draft.to(secretary_review)
        secretary_approve = secretary_review.to(superior_review)
        superior_approve = superior_review.to(approved)
        report_spending = approved.to(report_review)
        accept_report = report_review.to(closed)

        def __init__(self, case_id, store):
            self.case_id, self.store, self.version, self.data = case_id, store, 1, dict(START)
            super().__init__()

        def on_transition(self, event, source, target):
            self.data.update(FIELDS.get(event, {}))
            self.store.step(self.case_id, self.version, event, source.id, target.id, self.data)
            self.version += 1

    start, cpu = time.perf_counter(), time.process_time()
    for case_id in range(1, n + 1):
        bare.step(case_id, 0, "start", None, "draft", dict(START))
        machine = Funding(case_id, bare)
        for trigger, *_rest in WALK[1:]:
            machine.send(trigger)
    return _rates(n * len(WALK), start, cpu)


def _rates(transactions: int, start: float, cpu: float) -> tuple[float, float]:
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    return transactions / elapsed, transactions / cpu


# --- pbflow -----------------------------------------------------------------------------------


def _app(uri: str, folder: Path):
    from pbflow import create_app

    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": uri,
            "INSTANCE_PATH": folder,
            "SECRET_KEY": "bench",
            "PBFLOW_PASSWORD_METHOD": "pbkdf2:sha256:1000",
        }
    )


def _world():
    """A committee, a general branch, a branch; the requester, its secretary, the superior."""
    from pbflow import audit
    from pbflow.extensions import db
    from pbflow.services import accounts

    with db.engine.begin() as conn:
        db.metadata.create_all(conn)
        audit.install_triggers(conn)
    committee = accounts.create_org("c", "Committee", "committee")
    general = accounts.create_org("g", "General branch", "general_branch", committee)
    branch = accounts.create_org("b", "Branch", "branch", general)
    people = {
        "requester": accounts.create_user("requester", "Requester", "password-1"),
        "secretary": accounts.create_user("secretary", "Secretary", "password-1"),
        "superior": accounts.create_user("superior", "Superior", "password-1"),
    }
    accounts.grant_role(people["requester"], branch, "branch_committee")
    accounts.grant_role(people["secretary"], branch, "secretary")
    accounts.grant_role(people["superior"], general, "secretary")
    return branch.id, people


def service_walks(n: int, branch_id: int, people: dict) -> tuple[float, float]:
    """The walk as pages and the CLI make it: through pbflow.services.cases."""
    from pbflow.services import cases

    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        case_id = cases.start_case(people["requester"], "activity_funding", branch_id, START).id
        for trigger, _src, _dst, who in WALK[1:]:
            cases.take_step(people[who], case_id, trigger, FIELDS.get(trigger))
    return _rates(n * len(WALK), start, cpu)


def _check_chain() -> None:
    from pbflow import audit
    from pbflow.engine import tasks

    result = audit.verify_database()
    assert result.ok, result.summary()
    report = tasks.check()
    assert report.ok, report.summary()


def pbflow_sqlite(folder: Path, n: int, profile: bool = False) -> tuple[float, float]:
    from pbflow.extensions import db

    app = _app(f"sqlite:///{folder / 'pbflow.sqlite3'}", folder)
    with app.app_context():
        branch_id, people = _world()
        service_walks(5, branch_id, people)  # warm the caches a long-running worker has
        if profile:
            import cProfile
            import pstats

            prof = cProfile.Profile()
            prof.enable()
            rates = service_walks(n, branch_id, people)
            prof.disable()
            pstats.Stats(prof).sort_stats("cumulative").print_stats(45)
            pstats.Stats(prof).sort_stats("tottime").print_stats(25)
        else:
            rates = service_walks(n, branch_id, people)
        _check_chain()
        db.session.remove()
        db.engine.dispose()
    return rates


def engine_loop(folder: Path, n: int) -> tuple[float, float]:
    from pbflow.engine import runtime
    from pbflow.extensions import db

    app = _app(f"sqlite:///{folder / 'engine.sqlite3'}", folder)
    with app.app_context():
        branch_id, people = _world()
        case_id = runtime.start("activity_funding", branch_id, people["requester"], START).id
        steps = [("submit", people["requester"], None), ("return_for_changes", people["secretary"], "fix")]
        start, cpu = time.perf_counter(), time.process_time()
        for i in range(n):
            trigger, actor, comment = steps[i % 2]
            runtime.fire(case_id, trigger, actor, comment=comment)
        rates = _rates(n, start, cpu)
        _check_chain()
        db.session.remove()
        db.engine.dispose()
    return rates


def bare_engine_loop(path: Path, n: int) -> tuple[float, float]:
    """The engine-only floor: one case, two steps back and forth."""
    bare = _Bare(_sqlite(path))
    bare.step(1, 0, "start", None, "draft", dict(START))
    states = ("draft", "secretary_review")
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        bare.step(1, i + 1, "t", states[i % 2], states[(i + 1) % 2], {"n": i})
    rates = _rates(n, start, cpu)
    bare.conn.close()
    return rates


# --- PostgreSQL -------------------------------------------------------------------------------


def postgres(url: str, n: int) -> tuple[tuple[float, float], tuple[float, float]]:
    import psycopg
    from sqlalchemy.engine import make_url

    base = make_url(url)
    name = f"pbflow_bench_{os.getpid()}"
    plain = base.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        target = base.set(database=name)
        with psycopg.connect(target.set(drivername="postgresql").render_as_string(
            hide_password=False)) as conn:
            bare = _Bare(conn, "%s")
            with conn.cursor() as cur:
                for statement in _Bare.SCHEMA.split(";"):
                    if statement.strip():
                        cur.execute(statement.replace("INTEGER PRIMARY KEY", "SERIAL PRIMARY KEY")
                                    .replace("seq SERIAL", "seq INTEGER")
                                    .replace("id SERIAL PRIMARY KEY, state", "id INTEGER PRIMARY KEY, state"))
                cur.execute("INSERT INTO head VALUES (1, 0, %s)", (GENESIS,))
            conn.commit()
            bare_rates = bare_walks(bare, n)
        with tempfile.TemporaryDirectory() as tmp:
            from pbflow.extensions import db

            app = _app(target.render_as_string(hide_password=False), Path(tmp))
            with app.app_context():
                branch_id, people = _world()
                service_walks(5, branch_id, people)
                pb_rates = service_walks(n, branch_id, people)
                _check_chain()
                db.session.remove()
                db.engine.dispose()
    finally:
        with psycopg.connect(plain, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    return bare_rates, pb_rates


# --- main -------------------------------------------------------------------------------------


def _line(label: str, rates: tuple[float, float], floor: tuple[float, float]) -> str:
    return (
        f"  {label:34} {rates[0]:7.0f}/s wall {rates[1]:7.0f}/s cpu"
        f"  ratio wall {rates[0] / floor[0]:.3f} cpu {rates[1] / floor[1]:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transitions", type=int, default=3000)
    parser.add_argument("--walks", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres", help="SQLAlchemy URL of a PostgreSQL server")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    if args.profile:
        with tempfile.TemporaryDirectory() as tmp:
            pbflow_sqlite(Path(tmp), args.walks, profile=True)
        return
    ratios: dict[str, list[float]] = {"engine": [], "service": [], "statemachine": [], "pg": []}
    for r in range(args.rounds):
        print(f"round {r + 1} (transactions per second; ratio to the bare loop of the same run)")
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            floor = bare_engine_loop(folder / "bare-engine.sqlite3", args.transitions)
            eng = engine_loop(folder, args.transitions)
            print(_line("bare sqlite3, one case back+forth", floor, floor))
            print(_line("pbflow runtime.fire", eng, floor))
            ratios["engine"].append(eng[1] / floor[1])

            bare = _Bare(_sqlite(folder / "bare-walk.sqlite3"))
            walk_floor = bare_walks(bare, args.walks)
            bare.conn.close()
            sm_bare = _Bare(_sqlite(folder / "sm-walk.sqlite3"))
            sm = statemachine_walks(sm_bare, args.walks)
            sm_bare.conn.close()
            pb = pbflow_sqlite(folder, args.walks)
            print(_line("bare sqlite3, approval walk", walk_floor, walk_floor))
            if sm is not None:
                print(_line("python-statemachine + sqlite3", sm, walk_floor))
                ratios["statemachine"].append(sm[1] / walk_floor[1])
            print(_line("pbflow services (start_case+take_step)", pb, walk_floor))
            ratios["service"].append(pb[1] / walk_floor[1])
        if args.postgres:
            pg_floor, pg = postgres(args.postgres, args.walks)
            print(_line("bare psycopg, approval walk", pg_floor, pg_floor))
            print(_line("pbflow services on PostgreSQL", pg, pg_floor))
            ratios["pg"].append(pg[1] / pg_floor[1])
    print(f"median of {args.rounds} rounds, CPU-time ratios (aim: service walk >= 0.25, ahead of"
          " python-statemachine):")
    for key, values in ratios.items():
        if values:
            print(f"  {key:13} {statistics.median(values):.3f}")


if __name__ == "__main__":
    main()
