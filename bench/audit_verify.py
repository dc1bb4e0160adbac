"""Audit verification speed: events per second walked and re-hashed by ``verify_database``.

Builds a chain of N events (default 1,000,000) in a fresh SQLite file through the same append
path the application uses (hashed, salted and sealed): 5,000 cases started, then steps moving
them back and forth, and the 5,000 case rows those events describe. Then it times a full
verification: the walk (links, hashes, seals, replaying the cases) and the record check. As a
ratio it prints verification speed against a bare loop that only reads the rows and hashes
them (no checking), in the same run.

    python bench/audit_verify.py [--events 1000000]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=5000)
    args = parser.parse_args()

    from pbflow import audit, create_app
    from pbflow.extensions import db

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'audit.sqlite3'}",
                "INSTANCE_PATH": folder,
                "SECRET_KEY": "bench",
            }
        )
        with app.app_context():
            with db.engine.begin() as conn:
                db.metadata.create_all(conn)
                audit.install_triggers(conn)
            cases = 5000
            state = {}
            start = time.perf_counter()
            for i in range(0, args.events, args.batch):
                for n in range(i, min(i + args.batch, args.events)):
                    case = n % cases + 1
                    if n < cases:
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
                    audit.record(
                        "transition",
                        org_id=1,
                        instance_id=case,
                        from_state=old,
                        to_state=new,
                        payload={"trigger": "submit", "n": n},
                    )
                    state[case] = [new, state[case][1] + 1]
                db.session.commit()
            raw = db.session.connection().connection.driver_connection
            raw.execute("PRAGMA foreign_keys = OFF")  # the bench has no organizations
            raw.executemany(
                "INSERT INTO process_instance (id, definition_id, workflow_id, org_id, title,"
                " state, data, version, entered_version, created_at, updated_at,"
                " state_entered_at) VALUES (?, 1, 'bench', 1, '', ?, '{}', ?, ?, ?, ?, ?)",
                [
                    (
                        c,
                        st,
                        v,
                        v,
                        "2026-01-01 00:00:00.000000",
                        "2026-01-01 00:00:00.000000",
                        "2026-01-01 00:00:00.000000",
                    )
                    for c, (st, v) in state.items()
                ],
            )
            db.session.commit()
            built = time.perf_counter() - start
            print(f"built {args.events} events in {built:.1f}s")

            # As in production, where every tick signs one: verification then checks the
            # checkpoint's signature instead of the seal of every event before it.
            audit.checkpoint()
            start = time.perf_counter()
            result = audit.verify_database()
            verify = time.perf_counter() - start
            assert result.ok, result.summary()

            raw = db.session.connection().connection.driver_connection
            start = time.perf_counter()
            digest = hashlib.sha256()
            for row in raw.execute(
                "SELECT seq, at, payload, prev_hash, hash FROM audit_event ORDER BY seq"
            ):
                digest.update((row[3] + row[2]).encode())
            floor = time.perf_counter() - start
            db.session.remove()
            db.engine.dispose()
    print(
        f"verify: {args.events / verify:,.0f} events/s ({verify:.1f}s); bare read+hash: "
        f"{args.events / floor:,.0f} events/s; ratio {floor / verify:.3f}"
    )


if __name__ == "__main__":
    main()
