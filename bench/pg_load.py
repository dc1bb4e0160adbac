"""PostgreSQL under load: steps on distinct cases from 1, 2, 4 and 8 concurrent clients
against gunicorn with 4 workers; throughput per level, how the chain head is locked, and
afterwards that the chain verifies and no step was lost or doubled.

Set-up (untimed): a scratch database (created, then dropped) with pbflow's schema, a
committee with 8 branches, one account per client holding the secretary's and a branch
committee member's role at its own branch, and its own activity funding cases. Each client
logs in through the login page and takes steps through the JSON API (``POST
/api/cases/<id>/fire`` with the version it last saw): ``submit`` and ``return_for_changes``
in turn on its own cases, one request after the other, for a fixed time per level.

The chain head (``audit_head``, one row) is locked by ``UPDATE audit_head ... RETURNING`` in
the session's ``before_commit`` hook: the last statements of a step's transaction, after
every other write. So the lock is held only for the append (insert the event, move the head)
and the commit; everything else a step does runs in parallel. While the load runs, the
script samples ``pg_stat_activity`` every 5 ms and reports how often a backend waits for a
lock (``wait_event_type = 'Lock'``), which is the time steps spend queued on the head.

Afterwards it checks, in the scratch database: ``audit verify`` passes; every case's
version is 1 + the steps its client saw succeed (nothing lost, nothing doubled); the number
of transition events equals the steps taken; the work-waiting table and the counts kept as
data (``case_tally``) match a recomputation.

    python bench/pg_load.py [--url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
                            [--seconds 8] [--cases 20]

The URL names a server and a role that may CREATE DATABASE; the machine's CPUs bound what
more clients can add (gunicorn workers, PostgreSQL and the clients share them).
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LEVELS = (1, 2, 4, 8)
PASSWORD = "password-123456"
START = {"purpose": "load", "activity_date": "2026-01-10", "amount": "100", "budget": "b"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def setup(url: str, cases: int, env: dict[str, str]) -> dict[str, list[int]]:
    """Schema, organizations, one account per client, and each client's cases."""
    from pbflow import audit, create_app, security_log
    from pbflow.engine import runtime
    from pbflow.extensions import db
    from pbflow.services import accounts

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": env["PBFLOW_SECRET_KEY"],
            "PBFLOW_AUDIT_KEY_FILE": env["PBFLOW_AUDIT_KEY_FILE"],
            "PBFLOW_PASSWORD_METHOD": "pbkdf2:sha256:1000",
        }
    )
    out: dict[str, list[int]] = {}
    with app.app_context():
        with db.engine.begin() as conn:
            db.metadata.create_all(conn)
            audit.install_triggers(conn)
            security_log.install_triggers(conn)
        committee = accounts.create_org("c", "Committee", "committee")
        for i in range(max(LEVELS)):
            branch = accounts.create_org(f"b{i}", f"Branch {i}", "branch", committee)
            user = accounts.create_user(f"client{i}", f"Client {i}", PASSWORD)
            accounts.grant_role(user, branch, "secretary")
            accounts.grant_role(user, branch, "branch_committee")
            out[user.username] = [
                runtime.start("activity_funding", branch, user, START).id for _ in range(cases)
            ]
        db.session.remove()
        db.engine.dispose()
    return out


class Client:
    """One logged-in browser session taking steps on its own cases."""

    def __init__(self, base: str, username: str, case_ids: list[int]):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.cases = {cid: [1, "draft"] for cid in case_ids}  # id -> [version, state]
        self.done: dict[int, int] = dict.fromkeys(case_ids, 0)
        self.errors = 0
        self._login(username)

    def _get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=30) as r:
            return r.read().decode()

    def _login(self, username: str) -> None:
        page = self._get("/login")
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
        data = urllib.parse.urlencode(
            {"username": username, "password": PASSWORD, "csrf_token": token}
        ).encode()
        self.opener.open(self.base + "/login", data, timeout=30).read()
        self.csrf = json.loads(self._get("/api/csrf"))["csrf_token"]

    def step(self, case_id: int) -> None:
        version, state = self.cases[case_id]
        body = {"trigger": "submit", "version": version}
        if state == "secretary_review":
            body = {"trigger": "return_for_changes", "version": version, "comment": "again"}
        req = urllib.request.Request(
            f"{self.base}/api/cases/{case_id}/fire",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "X-CSRFToken": self.csrf},
            method="POST",
        )
        try:
            with self.opener.open(req, timeout=30) as r:
                answer = json.loads(r.read())
        except urllib.error.HTTPError:
            self.errors += 1
            return
        self.cases[case_id] = [answer["version"], answer["state"]]
        self.done[case_id] += 1

    def run(self, until: float) -> int:
        steps = 0
        ids = list(self.cases)
        i = 0
        while time.perf_counter() < until:
            self.step(ids[i % len(ids)])
            i += 1
            steps += 1
        return steps


def sample_locks(dsn: str, stop: threading.Event, out: list[tuple[int, list[str]]]) -> None:
    """(active backends, what each backend waiting for a lock waits on) every 20 ms."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        while not stop.is_set():
            rows = conn.execute(
                "SELECT state, wait_event_type, wait_event FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchall()
            active = sum(1 for state, _t, _e in rows if state == "active")
            out.append((active, [event for _s, kind, event in rows if kind == "Lock"]))
            time.sleep(0.02)


def check(url: str, env: dict[str, str], clients: list[Client], warmup_steps: int) -> None:
    from sqlalchemy import func, select

    from pbflow import audit, create_app
    from pbflow.engine import tally, tasks
    from pbflow.extensions import db
    from pbflow.models import AuditEvent, ProcessInstance

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": env["PBFLOW_SECRET_KEY"],
            "PBFLOW_AUDIT_KEY_FILE": env["PBFLOW_AUDIT_KEY_FILE"],
        }
    )
    with app.app_context():
        result = audit.verify_database()
        print(f"audit verify: {result.summary()}")
        assert result.ok
        versions = dict(
            db.session.execute(select(ProcessInstance.id, ProcessInstance.version)).all()
        )
        lost = [cid for c in clients for cid, n in c.done.items() if versions[cid] != 1 + n]
        steps = sum(sum(c.done.values()) for c in clients)
        events = db.session.execute(
            select(func.count()).where(AuditEvent.action == "transition")
        ).scalar()
        print(
            f"steps answered 200: {steps}; transition events: {events}; cases whose version"
            f" is not 1 + their steps: {len(lost)}"
        )
        assert not lost and events == steps
        report = tasks.check()
        print(report.summary())
        assert report.ok
        counted = tally.check()
        print(counted.summary())
        assert counted.ok
        db.session.remove()
        db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()

    import psycopg
    from sqlalchemy.engine import make_url

    base = make_url(args.url)
    name = f"pbflow_load_{os.getpid()}"
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    url = base.set(database=name).render_as_string(hide_password=False)
    dsn = base.set(drivername="postgresql", database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    server = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            env = {
                **os.environ,
                "PBFLOW_DATABASE_URL": url,
                "PBFLOW_SECRET_KEY": "load-bench",
                "PBFLOW_AUDIT_KEY_FILE": str(Path(tmp) / "audit.key"),
                "PBFLOW_LOGIN_MAX_FAILURES": "100",
            }
            owned = setup(url, args.cases, env)
            port = _free_port()
            server = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "gunicorn"),
                    "-c", "python:pbflow.gunicorn_conf",
                    "--workers", str(args.workers),
                    "--bind", f"127.0.0.1:{port}",
                    "--access-logfile", "/dev/null",
                    "app:app",
                ],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=open(os.environ.get("PBFLOW_LOAD_LOG", os.devnull), "w"),  # noqa: SIM115
            )  # fmt: skip
            base_url = f"http://127.0.0.1:{port}"
            for _ in range(200):
                try:
                    urllib.request.urlopen(base_url + "/login", timeout=1).read()
                    break
                except OSError:
                    time.sleep(0.1)
            clients = [Client(base_url, user, ids) for user, ids in owned.items()]
            for c in clients:  # warm every worker's caches: a step or two each
                c.run(time.perf_counter() + 0.3)
            warmup = sum(sum(c.done.values()) for c in clients)
            print(f"gunicorn {args.workers} workers, PostgreSQL; {args.seconds:.0f}s per level")
            base_rate = None
            for level in LEVELS:
                stop, samples = threading.Event(), []
                sampler = threading.Thread(target=sample_locks, args=(dsn, stop, samples))
                sampler.start()
                until = time.perf_counter() + args.seconds
                counts = [0] * level
                threads = [
                    threading.Thread(
                        target=lambda i=i, c=counts, u=until: c.__setitem__(i, clients[i].run(u))
                    )
                    for i in range(level)
                ]
                started = time.perf_counter()
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                elapsed = time.perf_counter() - started
                stop.set()
                sampler.join()
                rate = sum(counts) / elapsed
                base_rate = base_rate or rate
                waiting = sum(1 for _a, w in samples if w) / max(1, len(samples))
                active = sum(a for a, _w in samples) / max(1, len(samples))
                kinds: dict[str, int] = {}
                for _a, events in samples:
                    for event in events:
                        kinds[event] = kinds.get(event, 0) + 1
                print(
                    f"  {level} client(s): {rate:6.1f} steps/s ({rate / base_rate:.2f}x one"
                    f" client); backends active on average {active:.2f}; samples with a"
                    f" backend waiting for a lock: {waiting:.1%} {kinds or ''}"
                )
            errors = sum(c.errors for c in clients)
            print(f"errors answered: {errors} (warm-up steps: {warmup})")
            server.terminate()
            server.wait(timeout=30)
            server = None
            check(url, env, clients, warmup)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
