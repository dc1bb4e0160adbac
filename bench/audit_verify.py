"""Audit verification speed: events per second walked and re-hashed by ``verify_database``.

Builds a chain of N events (default 1,000,000) in a fresh SQLite file through the same append
path the application uses (hashed, salted and sealed): 5,000 cases started, then steps moving
them back and forth, and the 5,000 case rows those events describe. Then it times a full
verification: the walk (links, hashes, seals, replaying the cases) and the record check. As a
ratio it prints verification speed against a bare loop that reads the same rows and does the
same hashing (each event's digest and its link: two SHA-256 per event) and nothing else, in
the same run.

    python bench/audit_verify.py [--events 1000000] [--persons-every N] [--keep FOLDER]
                                 [--profile]

``--persons-every N`` makes every Nth step name a person in its payload (the 100,000-case
data set: about 1 event in 10), so that verification also has the search's index of persons
(``audit_person``) to compare; without it no event names anyone and the index is empty.

``--keep`` builds into FOLDER (or reuses the chain already there), to time verification again
without building; ``--profile`` prints where verification spends its time (cProfile).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CASES = 5000


def build(events: int, batch: int, persons_every: int = 0) -> None:
    from pbflow import audit
    from pbflow.extensions import db

    with db.engine.begin() as conn:
        db.metadata.create_all(conn)
        audit.install_triggers(conn)
    state: dict[int, list] = {}
    start = time.perf_counter()
    for i in range(0, events, batch):
        for n in range(i, min(i + batch, events)):
            case = n % CASES + 1
            if n < CASES:
                audit.record(
                    "case_started",
                    org_id=1,
                    instance_id=case,
                    to_state="draft",
                    payload={"workflow": "bench"},
                )
                state[case] = ["draft", 1]
                continue
            old, new = state[case][0], "review" if state[case][0] == "draft" else "draft"
            payload: dict = {"trigger": "submit", "n": n}
            if persons_every and n % persons_every == 0:
                payload["values"] = {"person_id": n % 20000 + 1}
            audit.record(
                "transition",
                org_id=1,
                instance_id=case,
                from_state=old,
                to_state=new,
                payload=payload,
            )
            state[case] = [new, state[case][1] + 1]
        db.session.commit()
    raw = db.session.connection().connection.driver_connection
    raw.execute("PRAGMA foreign_keys = OFF")  # the bench has no organizations
    stamp = "2026-01-01 00:00:00.000000"
    raw.executemany(
        "INSERT INTO process_instance (id, definition_id, workflow_id, org_id, title,"
        " state, data, version, entered_version, created_at, updated_at,"
        " state_entered_at) VALUES (?, 1, 'bench', 1, '', ?, '{}', ?, ?, ?, ?, ?)",
        [(c, st, v, v, stamp, stamp, stamp) for c, (st, v) in state.items()],
    )
    db.session.commit()
    # As in production, where every tick signs one: verification then checks the
    # checkpoint's signature instead of the seal of every event before it.
    audit.checkpoint()
    print(f"built {events} events in {time.perf_counter() - start:.1f}s")


def bare_read_and_hash() -> tuple[int, float]:
    """The floor: read every event's hashed columns and hash them as verification does (the
    canonical encoding of the row and its salt, then the link), checking nothing."""
    from pbflow.audit import _encode_row
    from pbflow.engine import fastsql

    sha = hashlib.sha256
    start = time.perf_counter()
    prev, count = "0" * 64, 0
    for row in fastsql.walk_audit():
        prev = sha((prev + sha(_encode_row(row[:11]).encode()).hexdigest()).encode()).hexdigest()
        count += 1
    return count, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument(
        "--persons-every", type=int, default=0, help="every Nth step names a person"
    )
    parser.add_argument("--keep", help="build into (or reuse) this folder")
    parser.add_argument("--profile", action="store_true", help="cProfile the verification")
    args = parser.parse_args()

    from pbflow import audit, create_app
    from pbflow.extensions import db

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep) if args.keep else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        exists = (folder / "audit.sqlite3").exists()
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'audit.sqlite3'}",
                "INSTANCE_PATH": folder,
                "SECRET_KEY": "bench",
            }
        )
        with app.app_context():
            if not exists:
                build(args.events, args.batch, args.persons_every)
            if args.profile:
                import cProfile
                import pstats

                prof = cProfile.Profile()
                prof.enable()
            start = time.perf_counter()
            result = audit.verify_database()
            verify = time.perf_counter() - start
            if args.profile:
                prof.disable()
                pstats.Stats(prof).sort_stats("tottime").print_stats(20)
            assert result.ok, result.summary()
            db.session.rollback()
            count, floor = bare_read_and_hash()
            assert count == result.count
            db.session.remove()
            db.engine.dispose()
    print(result.summary())
    print(
        f"verify: {count:,} events, {count / verify:,.0f} events/s ({verify:.1f}s); bare read"
        f" and hash: {count / floor:,.0f} events/s; ratio {floor / verify:.3f} (aim: at least"
        " 200,000 events/s)"
    )


if __name__ == "__main__":
    main()
