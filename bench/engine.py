"""Engine throughput against the floor a bare database loop sets, in the same run.

Three measurements, each printed as a ratio to a bare loop doing the same writes:

1. **engine only** (SQLite): ``runtime.fire`` by case id, alternating two steps on one case.
2. **the approval walk through the service functions** (SQLite): what a page or the CLI does,
   ``cases.start_case`` and then five ``cases.take_step`` calls (submit, branch approval,
   superior approval, spending report, acceptance) on the activity funding workflow, each
   one transaction with its hash-chained audit event, its work-waiting rows (case_task) and
   its notices. Beside it, on the same walk:

   - the **bare sqlite3 loop**: per transaction it inserts or updates the case row (with the
     version check, the fields and who took each step, the due date of a state with a time
     limit), locks the chain head, hashes and appends the audit row (with the payload pbflow
     records: the start form's fields, a step's own fields), moves the head, rewrites the
     case's work-waiting rows (each with the case's time limit) and, on approval and at the
     end, inserts the requester's notice, and moves the case's counts kept as data
     (``case_tally``, the rows a step changes): the same writes pbflow makes, and nothing else;
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
import hmac
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# The pragmas pbflow sets on every SQLite connection (pbflow/__init__.py): the same database
# settings for the bare loops as for pbflow.
PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=10000",
    "PRAGMA secure_delete=ON",
)

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
# The states with a time limit: pbflow writes the case's due date on entering them.
DUE_STATES = ("secretary_review", "superior_review", "approved", "report_review")
# --- the bare loops ---------------------------------------------------------------------------

CASE_INSERT = (
    "INSERT INTO process_instance (definition_id, workflow_id, org_id, subject_person_id,"
    " submitter_user_id, assignee_user_id, parent_id, title, state, data, version,"
    " entered_version, created_at, updated_at, state_entered_at, closed_at, due_at,"
    " reminded_at, overdue_at) VALUES (?, 'activity_funding', ?, NULL, ?, NULL, NULL, ?, ?, ?,"
    " 1, 1, ?, ?, ?, NULL, NULL, NULL, NULL)"
)
CASE_MOVE = (
    "UPDATE process_instance SET state = ?, data = ?, version = ?, entered_version = ?,"
    " updated_at = ?, state_entered_at = ?, due_at = ?, reminded_at = NULL, overdue_at = NULL,"
    " closed_at = ?, assignee_user_id = ? WHERE id = ? AND version = ?"
)
AUDIT_INSERT = (
    "INSERT INTO audit_event (seq, at, actor_user_id, actor_label, org_id, instance_id, action,"
    " from_state, to_state, payload, salt, prev_hash, hash, seal)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
TASKS_INSERT = (
    "INSERT INTO case_task (instance_id, holder, kind, trigger, since, due_at)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
NOTIFY = (
    "INSERT INTO notification (user_id, instance_id, kind, params, created_at, mail_state)"
    " VALUES (?, ?, 'result', ?, ?, 'new')"
)
_RUNNING = [f"c{i}" for i in range(1, 13)]
# The figures kept as data (pbflow.engine.tally): a row's running counts moved by a step.
TALLY_ADD = (
    "INSERT INTO case_tally (measure, workflow_id, state, org_id, year, "
    + ", ".join(_RUNNING)
    + ") VALUES ("
    + ", ".join("?" for _ in range(5 + len(_RUNNING)))
    + ") ON CONFLICT (measure, workflow_id, org_id, state, year) DO UPDATE SET "
    + ", ".join(f"{c} = case_tally.{c} + excluded.{c}" for c in _RUNNING)
)


class _Bare:
    """The rows pbflow writes for one step, written straight into pbflow's own tables (same
    schema, same indexes, same triggers) over a DBAPI connection (sqlite3 or psycopg): the
    case row (version-checked), its work-waiting rows, the requester's notice where pbflow
    sends one, and the audit event hashed, salted and sealed onto the chain head."""

    def __init__(self, conn, ids: dict, waits: dict, placeholder="?", pg=False):
        self.conn, self.ids, self.waits, self.pg = conn, ids, waits, pg
        self.p = placeholder
        self.key = os.urandom(32)
        self.counted: dict[int, dict] = {}  # case -> what it counts for (the tally's keys)
        self.created: dict[int, datetime] = {}

    def tally(self, cur, case_id, state, now, due, created) -> None:
        """The case's counts kept as data, moved from what it counted for to what it counts
        for now (open per state, time limit, state entry, start; closing): the rows whose
        running counts change, in key order, as pbflow writes them at commit."""
        org, wf = self.ids["org"], "activity_funding"
        after: dict[tuple, int] = {}
        if state == "closed":
            after[("closed", wf, state, org, now.year, now.month)] = 1
        else:
            after[("open", wf, state, org, 0, 1)] = 1
            if due is not None:
                after[("due", wf, "", org, due.year, due.month)] = 1
            after[("entered", wf, "", org, now.year, now.month)] = 1
        after[("created", wf, "", org, created.year, created.month)] = 1
        delta = dict(after)
        for key, n in self.counted.get(case_id, {}).items():
            delta[key] = delta.get(key, 0) - n
        self.counted[case_id] = after
        rows: dict[tuple, list[int]] = {}
        for (m, w, st, o, y, month), n in delta.items():
            if n:
                rows.setdefault((m, w, st, o, y), [0] * 12)[month - 1] += n
        params = []
        for key, months in sorted(rows.items()):
            running, total = [], 0
            for n in months:
                total += n
                running.append(total)
            params.append((*key, *running))
        if params:
            cur.executemany(self.q(TALLY_ADD), params)

    def q(self, sql: str) -> str:
        return sql.replace("?", self.p) if self.p != "?" else sql

    def dt(self, value: datetime):
        return value if self.pg else value.isoformat(" ", "microseconds")

    def audit(self, cur, case_id, action, src, dst, payload, now):
        cur.execute(self.q("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash"))
        seq, prev = cur.fetchone()
        salt = os.urandom(16).hex()
        at = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        body = json.dumps(
            [
                seq,
                at,
                self.ids["user"],
                "requester",
                self.ids["org"],
                case_id,
                action,
                src,
                dst,
                payload,
                salt,
            ],
            separators=(",", ":"),
            ensure_ascii=False,
        )
        digest = hashlib.sha256(body.encode()).hexdigest()
        digest = hashlib.sha256((prev + digest).encode()).hexdigest()
        seal = hmac.digest(self.key, digest.encode(), "sha256")[:16].hex()
        cur.execute(
            self.q(AUDIT_INSERT),
            (
                seq,
                self.dt(now),
                self.ids["user"],
                "requester",
                self.ids["org"],
                case_id,
                action,
                src,
                dst,
                payload,
                salt,
                prev,
                digest,
                seal,
            ),
        )
        cur.execute(self.q("UPDATE audit_head SET hash = ? WHERE id = 1"), (digest,))

    def step(self, case_id, version, trigger, src, dst, data):
        cur = self.conn.cursor()
        now = datetime.now(UTC).replace(tzinfo=None)
        # What pbflow's row holds: the fields, who took each step (``_by``), the due date.
        data.setdefault("_by", {})[trigger] = self.ids["user"]
        text = json.dumps(data)
        due = self.dt(now + timedelta(days=7)) if dst in DUE_STATES else None
        if src is None:
            cur.execute(
                self.q(CASE_INSERT),
                (
                    self.ids["definition"],
                    self.ids["org"],
                    self.ids["user"],
                    "bench",
                    dst,
                    text,
                    self.dt(now),
                    self.dt(now),
                    self.dt(now),
                ),
            )
            if self.pg:
                cur.execute("SELECT lastval()")
                case_id = cur.fetchone()[0]
            else:
                case_id = cur.lastrowid
        else:
            cur.execute(
                self.q(CASE_MOVE),
                (
                    dst,
                    text,
                    version + 1,
                    version + 1,
                    self.dt(now),
                    self.dt(now),
                    due,
                    self.dt(now) if dst == "closed" else None,
                    None,
                    case_id,
                    version,
                ),
            )
            assert cur.rowcount == 1
            cur.execute(self.q("DELETE FROM case_task WHERE instance_id = ?"), (case_id,))
        # Each work-waiting row carries the case's time limit, as pbflow's do (the inbox
        # sorts by it).
        rows = [(case_id, h, k, t, self.dt(now), due) for h, k, t in self.waits[dst]]
        if rows:
            cur.executemany(self.q(TASKS_INSERT), rows)
        if src is None:
            self.created[case_id] = now
        due_at = now + timedelta(days=7) if dst in DUE_STATES else None
        self.tally(cur, case_id, dst, now, due_at, self.created[case_id])
        if dst in ("approved", "closed"):
            params = {"title": "bench", "definition_id": self.ids["definition"], "state": dst}
            cur.execute(
                self.q(NOTIFY), (self.ids["user"], case_id, json.dumps(params), self.dt(now))
            )
        # The payload pbflow records: the start form's fields, a step's own fields.
        if src is None:
            event = {
                "definition_id": self.ids["definition"],
                "fields": START,
                "parent_id": None,
                "workflow": "activity_funding",
            }
        elif trigger in FIELDS:
            event = {"fields": FIELDS[trigger], "trigger": trigger}
        else:
            event = {"trigger": trigger}
        payload = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        self.audit(cur, case_id, "transition" if src else "case_started", src, dst, payload, now)
        self.conn.commit()
        return case_id


def bare_walks(bare: _Bare, n: int) -> tuple[float, float]:
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        data = dict(START)
        case_id = None
        for version, (trigger, src, dst, _who) in enumerate(WALK):
            data.update(FIELDS.get(trigger, {}))
            case_id = bare.step(case_id, version, trigger, src, dst, data)
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

        def __init__(self, case_id, store, data):
            self.case_id, self.store, self.version, self.data = case_id, store, 1, data
            super().__init__()

        def on_transition(self, event, source, target):
            self.data.update(FIELDS.get(event, {}))
            self.store.step(self.case_id, self.version, event, source.id, target.id, self.data)
            self.version += 1

    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        data = dict(START)
        case_id = bare.step(None, 0, "start", None, "draft", data)
        machine = Funding(case_id, bare, data)
        for trigger, *_rest in WALK[1:]:
            machine.send(trigger)
    return _rates(n * len(WALK), start, cpu)


def _rates(transactions: int, start: float, cpu: float) -> tuple[float, float]:
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    return transactions / elapsed, transactions / cpu


def _prepared(uri: str, folder: Path) -> tuple[dict, dict]:
    """A database with pbflow's schema and the bench's world, and what a bare loop needs to
    write into it: the ids, and the work-waiting rows pbflow keeps in each state (read from
    one walk pbflow makes there, untimed)."""
    from sqlalchemy import select

    from pbflow.extensions import db
    from pbflow.models import CaseTask

    app = _app(uri, folder)
    with app.app_context():
        branch_id, people = _world()
        waits: dict[str, list] = {}
        from pbflow.services import cases

        case = cases.start_case(people["requester"], "activity_funding", branch_id, START)
        case_id, definition = case.id, case.definition_id
        for i, (trigger, _src, dst, who) in enumerate(WALK):
            if i:
                cases.take_step(people[who], case_id, trigger, FIELDS.get(trigger))
            waits[dst] = sorted(
                tuple(r)
                for r in db.session.execute(
                    select(CaseTask.holder, CaseTask.kind, CaseTask.trigger).where(
                        CaseTask.instance_id == case_id
                    )
                )
            )
        ids = {"org": branch_id, "user": people["requester"].id, "definition": definition}
        db.session.remove()
        db.engine.dispose()
    return ids, waits


def _sqlite(folder: Path, name: str) -> _Bare:
    path = folder / name
    ids, waits = _prepared(f"sqlite:///{path}", folder)
    conn = sqlite3.connect(path)
    for p in PRAGMAS:
        conn.execute(p)
    return _Bare(conn, ids, waits)


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
    from pbflow import audit, title_search
    from pbflow.extensions import db
    from pbflow.services import accounts

    with db.engine.begin() as conn:  # the schema of the migrations, the titles' index included
        db.metadata.create_all(conn)
        audit.install_triggers(conn)
        title_search.install(conn)
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


def interleaved_walks(folder: Path, n: int, chunks: int = 10):
    """The approval walk by the bare loop, python-statemachine and pbflow's services, in
    ``chunks`` turns each, so that a machine whose load changes during the run weighs on all
    three alike. Returns (wall, cpu) rates of each (python-statemachine's None if absent)."""
    from pbflow.extensions import db

    bare = _sqlite(folder, "bare-walk.sqlite3")
    sm_bare = _sqlite(folder, "sm-walk.sqlite3")
    totals = {"bare": [0.0, 0.0], "sm": [0.0, 0.0], "pb": [0.0, 0.0]}

    def add(key: str, rates: tuple[float, float] | None, count: int) -> None:
        if rates is not None:
            totals[key][0] += count / rates[0]
            totals[key][1] += count / rates[1]

    app = _app(f"sqlite:///{folder / 'pbflow.sqlite3'}", folder)
    have_sm = True
    with app.app_context():
        branch_id, people = _world()
        service_walks(5, branch_id, people)  # warm the caches a long-running worker has
        per = max(1, n // chunks)
        for _ in range(chunks):
            add("bare", bare_walks(bare, per), per * len(WALK))
            sm = statemachine_walks(sm_bare, per)
            have_sm = sm is not None
            add("sm", sm, per * len(WALK))
            add("pb", service_walks(per, branch_id, people), per * len(WALK))
        _check_chain()
        db.session.remove()
        db.engine.dispose()
    bare.conn.close()
    sm_bare.conn.close()
    count = per * chunks * len(WALK)
    rates = {k: (count / w, count / c) if w else None for k, (w, c) in totals.items()}
    return rates["bare"], rates["sm"] if have_sm else None, rates["pb"]


def engine_loop(folder: Path, n: int) -> tuple[float, float]:
    from pbflow.engine import runtime
    from pbflow.extensions import db

    app = _app(f"sqlite:///{folder / 'engine.sqlite3'}", folder)
    with app.app_context():
        branch_id, people = _world()
        case_id = runtime.start("activity_funding", branch_id, people["requester"], START).id
        steps = [
            ("submit", people["requester"], None),
            ("return_for_changes", people["secretary"], "fix"),
        ]
        start, cpu = time.perf_counter(), time.process_time()
        for i in range(n):
            trigger, actor, comment = steps[i % 2]
            runtime.fire(case_id, trigger, actor, comment=comment)
        rates = _rates(n, start, cpu)
        _check_chain()
        db.session.remove()
        db.engine.dispose()
    return rates


def bare_engine_loop(folder: Path, n: int) -> tuple[float, float]:
    """The engine-only floor: one case, two steps back and forth, the same rows as pbflow."""
    bare = _sqlite(folder, "bare-engine.sqlite3")
    case_id = bare.step(None, 0, "start", None, "draft", dict(START))
    states = ("draft", "secretary_review")
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        bare.step(case_id, i + 1, "t", states[i % 2], states[(i + 1) % 2], {"n": i})
    rates = _rates(n, start, cpu)
    bare.conn.close()
    return rates


# --- PostgreSQL -------------------------------------------------------------------------------


def postgres(url: str, n: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """The walk on PostgreSQL: a bare psycopg loop, then pbflow's services, each on a scratch
    database of its own with pbflow's schema (created, then dropped)."""
    import psycopg
    from sqlalchemy.engine import make_url

    base = make_url(url)
    plain = base.set(drivername="postgresql").render_as_string(hide_password=False)
    names = [f"pbflow_bench_{os.getpid()}_{i}" for i in (1, 2)]

    def admin(sql: str) -> None:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(sql)

    for name in names:
        admin(f'DROP DATABASE IF EXISTS "{name}"')
        admin(f'CREATE DATABASE "{name}"')
    try:
        with tempfile.TemporaryDirectory() as tmp:
            bare_url = base.set(database=names[0])
            ids, waits = _prepared(bare_url.render_as_string(hide_password=False), Path(tmp))
            dsn = bare_url.set(drivername="postgresql").render_as_string(hide_password=False)
            with psycopg.connect(dsn) as conn:
                bare_rates = bare_walks(_Bare(conn, ids, waits, "%s", pg=True), n)
            from pbflow.extensions import db

            app = _app(base.set(database=names[1]).render_as_string(hide_password=False), Path(tmp))
            with app.app_context():
                branch_id, people = _world()
                service_walks(5, branch_id, people)
                pb_rates = service_walks(n, branch_id, people)
                _check_chain()
                db.session.remove()
                db.engine.dispose()
    finally:
        for name in names:
            admin(f'DROP DATABASE IF EXISTS "{name}"')
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
            floor = bare_engine_loop(folder, args.transitions)
            eng = engine_loop(folder, args.transitions)
            print(_line("bare sqlite3, one case back+forth", floor, floor))
            print(_line("pbflow runtime.fire", eng, floor))
            ratios["engine"].append(eng[1] / floor[1])

            walk_floor, sm, pb = interleaved_walks(folder, args.walks)
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
    print(
        f"median of {args.rounds} rounds, CPU-time ratios (aim: service walk >= 0.25, ahead of"
        " python-statemachine):"
    )
    for key, values in ratios.items():
        if values:
            print(f"  {key:13} {statistics.median(values):.3f}")


if __name__ == "__main__":
    main()
