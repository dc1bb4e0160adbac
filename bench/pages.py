"""Every main page at scale, served the way production serves it (issue 16).

For each database (SQLite file, PostgreSQL database) and each size, it builds a data set once
(``pbflow init --demo`` then ``pbflow seed --scale N --seed 1``; reused when it is already
there), starts gunicorn with 4 workers and production's settings (pbflow/gunicorn_conf.py,
the access log to /dev/null), logs in 8 concurrent clients as the demo's committee
secretary, a branch secretary and the auditor, and requests each page in turn (after two
untimed requests per client, so that every worker has compiled the page's templates and
filled its caches, as a long-running server has). It prints per
page and user: p50 and p95 of the response time, the response size, the SQL statements the
page issues (counted once in-process, through the same app) and the CPU time of one request
made alone (in-process, the collector set as a worker's: the app's Python, with SQLite's work,
plus on PostgreSQL the server process's, read from /proc when the server runs on this
machine); then the peak RSS of each gunicorn worker. With C clients on N CPUs a page's p95
is roughly C / N times its CPU time: the CPU columns are the figure that the machine's other
work disturbs least. The dashboard's pages, the development page and the inbox add "afresh":
their CPU time with nothing kept between requests (``PBFLOW_DASHBOARD_MEMO=0``,
``PBFLOW_INBOX_MEMO=0``), as the first view
after a recorded change costs; the timed requests read the figures kept at the audit chain's
head, as every view does until the next change (or, for the counts of open cases, until the
next one falls due).

    python bench/pages.py [--sizes 1000,100000] [--db sqlite,postgres]
        [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
        [--requests 30] [--workers 4] [--clients 8] [--dir /tmp/pbflow-bench-pages]
        [--skip 'REGEX']   (e.g. --skip ' /$' leaves out the inbox)

A 2-CPU machine shared with other work measures contention as much as pbflow; compare pages
with each other and sizes with each other within one run.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv" / "bin"
PASSWORD = "pbflow-demo"

# (user, path): the main pages as the people who use them see them.
PAGES = [
    ("wang.shuji", "/"),
    ("wang.shuji", "/cases"),
    ("wang.shuji", "/cases?page=40"),
    ("wang.shuji", "/cases?status=all&workflow=opinion"),
    ("wang.shuji", "/cases?org=2&status=all"),
    ("wang.shuji", "/opinions/coal/book"),
    ("wang.shuji", "/opinions/coal/book?from=2024-01-01&to=2026-12-31"),
    ("wang.shuji", "/meetings/"),
    ("wang.shuji", "/admin/people"),
    ("wang.shuji", "/development/org/1"),
    ("wang.shuji", "/supervision/"),
    ("wang.shuji", "/supervision/?section=work"),
    ("wang.shuji", "/supervision/?section=development"),
    ("wang.shuji", "/supervision/?section=opinions"),
    ("wang.shuji", "/supervision/?section=rectification"),
    ("wang.shuji", "/supervision/?section=membership"),
    ("wang.shuji", "/supervision/?section=training"),
    ("wang.shuji", "/supervision/?section=notices"),
    ("wang.shuji", "/cases/{case}"),
    ("chen.shuji", "/"),
    ("chen.shuji", "/cases"),
    ("chen.shuji", "/cases?status=all&page=3"),
    ("chen.shuji", "/meetings/"),
    ("chen.shuji", "/supervision/"),
    ("chen.shuji", "/supervision/?section=work"),
    ("han.shenji", "/audit/"),
    ("han.shenji", "/audit/?actor=system"),
    ("han.shenji", "/audit/?action=transition"),
    ("han.shenji", "/audit/?from=2025-01-01&to=2025-02-01"),
    ("han.shenji", "/audit/?from=2024-01-01&to=2024-12-31"),
    ("han.shenji", "/audit/?person=5"),
]


def run(cmd: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def database(kind: str, size: int, args) -> str:
    if kind == "sqlite":
        Path(args.dir).mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{Path(args.dir) / f'pages-{size}.sqlite3'}"
    import psycopg

    name = f"pbflow_bench_pages_{size}"
    base = args.pg_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(base, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    return args.pg_url.rsplit("/", 1)[0] + "/" + name


def prepare(url: str, size: int, env: dict[str, str]) -> None:
    flask = [str(VENV / "flask"), "--app", "app", "pbflow"]
    marker = run(
        [str(VENV / "python"), "-c", _HAS_SEED],
        env,
    ).strip()
    if marker == "seeded":
        run([*flask, "init"], env)  # brings a data set built earlier to the latest migration
        print(f"  reusing {url}")
        return
    started = time.perf_counter()
    run([*flask, "init", "--demo"], env)
    print("  " + run([*flask, "seed", "--scale", str(size), "--seed", "1"], env).strip())
    print(f"  built in {time.perf_counter() - started:.0f} s")


_HAS_SEED = """
from app import app
from sqlalchemy import inspect, text
from pbflow.extensions import db
with app.app_context():
    ok = "organization" in inspect(db.engine).get_table_names() and db.session.execute(
        text("SELECT 1 FROM organization WHERE code LIKE 'seed1-%' LIMIT 1")).first()
    print("seeded" if ok else "empty")
"""

_STATEMENTS = """
import json, os, sys, time
from sqlalchemy import event, select
from app import app
from pbflow.extensions import db
from pbflow.models import ProcessInstance
pages, reps = json.loads(sys.argv[1]), int(sys.argv[2])
out = {}
count = [0]
backends = set()  # PostgreSQL server processes of this process's connections


def backend_ms():
    # CPU time the server's processes spent for us; None when they cannot be read (no
    # PostgreSQL, or a server on another machine).
    if not backends:
        return None
    total = 0
    for pid in backends:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        total += int(fields[11]) + int(fields[12])
    return total * 1000 / os.sysconf("SC_CLK_TCK")


with app.app_context():
    event.listen(db.engine, "before_cursor_execute", lambda *a: count.__setitem__(0, count[0] + 1))
    if db.engine.dialect.name == "postgresql":
        def noted(dbapi_conn, _record):
            cursor = dbapi_conn.cursor()
            cursor.execute("SELECT pg_backend_pid()")
            backends.add(cursor.fetchone()[0])
            cursor.close()
        event.listen(db.engine, "connect", noted)
        db.engine.dispose()
    newest = select(ProcessInstance.id).order_by(ProcessInstance.id.desc()).limit(1)
    case = db.session.execute(newest).scalar()
clients = {}
import re
for user, path in pages:
    c = clients.get(user)
    if c is None:
        c = clients[user] = app.test_client()
        page = c.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
        c.post("/login", data={"username": user, "password": "pbflow-demo", "csrf_token": token})
    url = path.format(case=case)
    c.get(url)
    count[0] = 0
    r = c.get(url)
    out[f"{user} {path}"] = [count[0], r.status_code, None, None]
# CPU per request, one request at a time, the collector set as a gunicorn worker's (a
# collection, a freeze, young objects collected less often): this process's (Python, and
# SQLite's work) and the PostgreSQL server's.
from pbflow import gunicorn_conf
gunicorn_conf.post_worker_init(None)


def cpu(user, path):
    # (this process's ms, the server's ms or None) per request, over ``reps`` requests
    c, url = clients[user], path.format(case=case)
    started, server = time.process_time(), backend_ms()
    for _ in range(reps):
        c.get(url)
    python = (time.process_time() - started) * 1000 / reps
    after = backend_ms()
    return python, None if server is None else (after - server) / reps


for user, path in pages:
    out[f"{user} {path}"][2:] = list(cpu(user, path))
# The dashboard's pages again with nothing kept between requests (PBFLOW_DASHBOARD_MEMO=0):
# what a view costs right after a change, when the meetings calendar is counted afresh (and
# the committee's development page, kept the same way since stop 37; the inbox's lists,
# kept per reader since stop 38: PBFLOW_INBOX_MEMO=0).
app.config["PBFLOW_DASHBOARD_MEMO"] = 0
app.config["PBFLOW_INBOX_MEMO"] = 0
for user, path in pages:
    if not (path == "/" or path.startswith(("/supervision/", "/development/"))):
        continue
    clients[user].get(path.format(case=case))  # counted once with nothing kept before
    python, server = cpu(user, path)
    out[f"{user} {path}"].append(python + (server or 0))
print(json.dumps({"case": case, "pages": out}))
"""


class Client:
    def __init__(self, base: str, user: str):
        self.base = base
        jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        page = self.get("/login")[1].decode()
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
        data = urllib.parse.urlencode(
            {"username": user, "password": PASSWORD, "csrf_token": token}
        ).encode()
        self.opener.open(self.base + "/login", data=data, timeout=120).read()

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with self.opener.open(self.base + path, timeout=300) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()


def worker_rss(master: int) -> list[int]:
    """Peak resident memory (VmHWM, kB) of the gunicorn workers under ``master``."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid != master:
                continue
            status = Path(f"/proc/{pid}/status").read_text()
            out.append(int(re.search(r"VmHWM:\s+(\d+)", status).group(1)))
        except (OSError, AttributeError):
            continue
    return out


def measure(kind: str, size: int, args) -> None:
    import json

    url = database(kind, size, args)
    env = {**os.environ, "PBFLOW_DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    env.setdefault("PBFLOW_AUDIT_KEY_FILE", str(Path(args.dir) / "audit_key.pem"))
    print(f"\n== {kind}, {size:,} cases ==")
    prepare(url, size, env)
    counted = json.loads(
        run(
            [str(VENV / "python"), "-c", _STATEMENTS, json.dumps(PAGES), str(args.cpu_requests)],
            env,
        ).strip()
    )
    port = 18700 + (size % 97) + (0 if kind == "sqlite" else 1)
    server = subprocess.Popen(
        [str(VENV / "gunicorn"), "-c", "python:pbflow.gunicorn_conf", "-w", str(args.workers),
         "-b", f"127.0.0.1:{port}", "--access-logfile", "/dev/null", "--timeout", "300",
         "app:app"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/login", timeout=2).read()
                break
            except OSError:
                time.sleep(0.2)
        users = sorted({u for u, _p in PAGES})
        clients = [{u: Client(base, u) for u in users} for _ in range(args.clients)]
        print(
            f"{'page':58} {'p50 ms':>8} {'p95 ms':>8} {'KB':>7} {'stmts':>6} {'CPU ms':>7}"
            f" {'(app':>5} {'+ db)':>6}"
        )
        for user, path in PAGES:
            url_path = path.format(case=counted["case"])
            times: list[float] = []
            sizes: list[int] = []
            lock = threading.Lock()
            per_client = max(1, args.requests // args.clients)

            def hit(
                c: Client, url_path=url_path, times=times, sizes=sizes, lock=lock, n=per_client
            ):
                for _ in range(n):
                    t = time.perf_counter()
                    status, body = c.get(url_path)
                    dt = time.perf_counter() - t
                    with lock:
                        times.append(dt * 1000)
                        sizes.append(len(body) if status == 200 else -status)

            # Warm every worker first (untimed): each compiles a page's templates and fills its
            # caches on its first request for it, as a server does once in its lifetime.
            warm = [
                threading.Thread(target=lambda c=cs[user], u=url_path: [c.get(u) for _ in range(2)])
                for cs in clients
            ]
            for th in warm:
                th.start()
            for th in warm:
                th.join()
            threads = [threading.Thread(target=hit, args=(cs[user],)) for cs in clients]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            times.sort()
            p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
            stmts, status, app_ms, db_ms, *afresh = counted["pages"][f"{user} {path}"]
            label = f"{user} {path}"[:58]
            kb = f"{max(sizes) / 1024:.0f}" if min(sizes) >= 0 else f"HTTP {-min(sizes)}"
            cpu = f"{app_ms + (db_ms or 0):7.1f} {app_ms:5.1f} " + (
                f"{db_ms:6.1f}" if db_ms is not None else f"{'-':>6}"
            )
            print(
                f"{label:58} {statistics.median(times):8.0f} {p95:8.0f} {kb:>7} "
                f"{stmts:>6} {cpu}{'' if status == 200 else f' ({status})'}"
                + (f"  afresh {afresh[0]:.1f}" if afresh else "")
            )
        rss = worker_rss(server.pid)
        print(f"peak RSS of the {len(rss)} workers: {', '.join(f'{r // 1024} MB' for r in rss)}")
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument(
        "--cpu-requests",
        type=int,
        default=20,
        help="Requests per page timed one at a time for the CPU columns.",
    )
    parser.add_argument("--dir", default="/tmp/pbflow-bench-pages")
    parser.add_argument(
        "--skip", default="", help="Leave out the pages whose 'user path' matches this regex."
    )
    args = parser.parse_args()
    if args.skip:
        PAGES[:] = [(u, p) for u, p in PAGES if not re.search(args.skip, f"{u} {p}")]
    for kind in args.db.split(","):
        for size in (int(s) for s in args.sizes.split(",")):
            measure(kind.strip(), size, args)


if __name__ == "__main__":
    main()
