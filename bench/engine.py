"""Engine throughput: committed transitions per second on a SQLite file (WAL), each with its
audit event, against a bare ``sqlite3`` loop doing the same writes in the same run.

The bare loop is the floor any engine must stand on: per transition it updates the case row
(with the version check), reads the chain head, appends the hash-chained audit row and
commits. pbflow does that plus everything a real step needs: loading the case and its
definition, checking the actor's role, validating fields, running guards, moving the cached
``transitions`` machine, and computing the next due time. The figure that matters is the
ratio, which is stable across noisy machines; absolute numbers are printed for context.

    python bench/engine.py [--transitions 3000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON")


def bare_loop(path: Path, n: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    for p in PRAGMAS:
        conn.execute(p)
    conn.executescript(
        """
        CREATE TABLE cases (id INTEGER PRIMARY KEY, state TEXT, data TEXT, version INTEGER,
                            updated_at TEXT);
        CREATE TABLE audit (seq INTEGER PRIMARY KEY, at TEXT, actor TEXT, instance_id INTEGER,
                            action TEXT, from_state TEXT, to_state TEXT, payload TEXT,
                            prev_hash TEXT, hash TEXT UNIQUE);
        CREATE TABLE head (id INTEGER PRIMARY KEY, seq INTEGER, hash TEXT);
        INSERT INTO head VALUES (1, 0, printf('%.64d', 0));
        INSERT INTO cases VALUES (1, 'draft', '{}', 1, '');
        """
    )
    states = ("draft", "secretary_review")
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        src, dst = states[i % 2], states[(i + 1) % 2]
        now = datetime.now(UTC).isoformat()
        conn.execute("BEGIN")
        conn.execute(
            "UPDATE cases SET state=?, data=?, version=version+1, updated_at=? "
            "WHERE id=1 AND version=?",
            (dst, json.dumps({"purpose": "x", "n": i}), now, i + 1),
        )
        seq, prev = conn.execute(
            "UPDATE head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash"
        ).fetchone()
        payload = json.dumps({"trigger": "t"}, sort_keys=True, separators=(",", ":"))
        body = json.dumps(
            [seq, now, "user", 1, "transition", src, dst, payload], separators=(",", ":")
        )
        digest = hashlib.sha256((prev + body).encode()).hexdigest()
        conn.execute(
            "INSERT INTO audit VALUES (?,?,?,?,?,?,?,?,?,?)",
            (seq, now, "user", 1, "transition", src, dst, payload, prev, digest),
        )
        conn.execute("UPDATE head SET hash=? WHERE id=1", (digest,))
        conn.execute("COMMIT")
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    conn.close()
    return n / elapsed, n / cpu


def engine_loop(folder: Path, n: int) -> float:
    from pbflow import audit, create_app
    from pbflow.engine import runtime
    from pbflow.extensions import db
    from pbflow.services import accounts

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'engine.sqlite3'}",
            "INSTANCE_PATH": folder,
            "SECRET_KEY": "bench",
            "PBFLOW_PASSWORD_METHOD": "pbkdf2:sha256:1000",
        }
    )
    with app.app_context():
        with db.engine.begin() as conn:
            db.metadata.create_all(conn)
            audit.install_triggers(conn)
        committee = accounts.create_org("c", "Committee", "committee")
        branch = accounts.create_org("b", "Branch", "branch", committee)
        requester = accounts.create_user("requester", "Requester", "password-1")
        secretary = accounts.create_user("secretary", "Secretary", "password-1")
        accounts.grant_role(requester, branch, "branch_committee")
        accounts.grant_role(secretary, branch, "secretary")
        case = runtime.start(
            "activity_funding",
            branch,
            requester,
            {"purpose": "bench", "activity_date": "2030-01-01", "amount": "100", "budget": "b"},
        )
        # Fire by id, as the CLI and API do: the session holds no loaded copy of the case.
        case_id = case.id
        del case
        steps = [("submit", requester, None), ("return_for_changes", secretary, "fix")]
        start, cpu = time.perf_counter(), time.process_time()
        for i in range(n):
            trigger, actor, comment = steps[i % 2]
            runtime.fire(case_id, trigger, actor, comment=comment)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        assert audit.verify_database().ok
        db.session.remove()
        db.engine.dispose()
    return n / elapsed, n / cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transitions", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    wall_ratios, cpu_ratios = [], []
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            bare_wall, bare_cpu = bare_loop(folder / "bare.sqlite3", args.transitions)
            eng_wall, eng_cpu = engine_loop(folder, args.transitions)
        wall_ratios.append(eng_wall / bare_wall)
        cpu_ratios.append(eng_cpu / bare_cpu)
        print(
            f"bare sqlite3 {bare_wall:7.0f}/s wall {bare_cpu:7.0f}/s cpu | pbflow engine "
            f"{eng_wall:6.0f}/s wall {eng_cpu:6.0f}/s cpu | ratio wall "
            f"{wall_ratios[-1]:.3f} cpu {cpu_ratios[-1]:.3f}"
        )
    # CPU-time rates are what a busy machine distorts least (with WAL and synchronous=NORMAL
    # a commit does not wait for the disk); both are shown.
    print(
        f"median of {args.rounds} rounds x {args.transitions} transitions: ratio wall "
        f"{statistics.median(wall_ratios):.3f}, cpu {statistics.median(cpu_ratios):.3f} "
        f"(aim: >= 0.25)"
    )


if __name__ == "__main__":
    main()
