"""Generated bad input for every route and every CLI command (issue 10).

The routes are enumerated from ``app.url_map``; which parameters each one takes is learnt the
way a client would: by reading the forms of every page (input names, and their offered values
as the valid half of the mix) and the names the view reads from ``request``. Every request is
sent logged in with a role drawn from several, with a valid CSRF token, so the handlers
really run; the values mix what the forms offer with hostile ones (huge and odd numbers,
years outside 1900-2999, NUL bytes, over-long text, deep JSON).

A request must never answer 5xx or show a traceback, and one that is refused (4xx) must
leave the database as it was, apart from what a refusal writes on purpose (see
``REFUSALS_MAY_WRITE``). Hypothesis settings live in the ``pbflow`` profiles below: a bounded,
derandomized number of examples per route so the suite stays fast and CI reproducible
(``PBFLOW_FUZZ_PROFILE=thorough`` for a longer local run).
"""

from __future__ import annotations

import hashlib
import inspect
import io
import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from sqlalchemy import select

from pbflow.extensions import db

settings.register_profile(
    "pbflow",
    max_examples=8,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)
settings.register_profile(
    "thorough",
    parent=settings.get_profile("pbflow"),
    max_examples=60,
    derandomize=False,
)
PROFILE = os.environ.get("PBFLOW_FUZZ_PROFILE", "pbflow")

# What a refused request still writes, on purpose: failed-login counters and their events in
# the security log (a wrong current password on /account/password counts toward the lockout),
# the opinion box's rate-limit counters and windows, and the chain heads those events move.
REFUSALS_MAY_WRITE = {
    "tables": {"rate_counter", "rate_window", "audit_head", "security_event", "security_head"},
    "columns": {"user_account": {"failed_logins", "locked_until", "last_login_at"}},
    "audit_actions": {"login_failed"},
}

# --- hostile values --------------------------------------------------------------------------

HUGE_NUMBERS = [
    "9" * 20,
    str(2**31),
    str(2**63),
    "1" + "0" * 400,
    "-1",
    "0",
    "-0",
    "1e309",
    "NaN",
    "²",
    "١٢",
    "0x1F",
    " 7 ",
    "3.5",
]
ODD_DATES = [
    "0001-01-01",
    "9999-12-31",
    "1899-12-31",
    "3000-01-01",
    "2026-02-30",
    "2026-13-01",
    "20260301",
    "2026-W10-1",
    "-2026-01-01",
    "+12026-01-01",
    "2026-03-01T25:00",
    "9999-12-31T23:59:59",
]
NASTY_TEXT = [
    "\x00",
    "a\x00b",
    "名" * 5000,
    "x" * 70000,
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "\u202e\ufeff",
    "\ud7ff",
    "../../etc/passwd",
    "",
    " ",
]

hostile = st.one_of(
    st.sampled_from(HUGE_NUMBERS),
    st.sampled_from(ODD_DATES),
    st.sampled_from(NASTY_TEXT),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.text(max_size=40),
)


def deep_json(depth: int) -> str:
    return '{"trigger": "x", "values": ' + "[" * depth + "]" * depth + "}"


# --- learning the routes -----------------------------------------------------------------------


@dataclass
class Form:
    action: str
    method: str
    names: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    files: set[str] = field(default_factory=set)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(a.get("action", ""), (a.get("method") or "get").upper()))
            return
        if not self.forms:
            return
        form = self.forms[-1]
        name = a.get("name")
        if tag == "input" and name:
            if a.get("type") == "file":
                form.files.add(name)
            form.names[name].add(a.get("value", ""))
        elif tag == "textarea" and name:
            form.names[name].add("")
        elif tag == "select" and name:
            self._select = name
            form.names[name]
        elif tag == "option" and self._select:
            form.names[self._select].add(a.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


def forms_of(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


_READS = re.compile(r"request\.(args|form|values|files)\.get(?:list)?\(\s*\"([^\"]+)\"")


def names_read_by(view: Any) -> dict[str, set[str]]:
    """Parameter names a view reads from the request itself, by where it reads them."""
    try:
        source = inspect.getsource(inspect.unwrap(view))
    except (OSError, TypeError):
        return {}
    found: dict[str, set[str]] = defaultdict(set)
    for where, name in _READS.findall(source):
        found[where].add(name)
    return found


@dataclass
class Route:
    endpoint: str
    rule: str
    method: str
    arguments: dict[str, str]  # argument name -> converter kind ("int" or "str")
    query: dict[str, set[str]]  # query parameter -> values the pages offer
    form: dict[str, set[str]]  # form field -> values the pages offer (POST)
    files: set[str]
    samples: list[dict[str, str]] = field(default_factory=list)  # URL arguments pages use

    def __str__(self) -> str:
        return f"{self.method} {self.rule}"


def learn_routes(app: Any, pages: list[tuple[str, str]]) -> list[Route]:
    """Every (rule, method) of the app, with the parameters its forms and view take.

    ``pages`` are (url, html) pairs; a form without an action posts to its page's URL."""
    adapter = app.url_map.bind("localhost")
    query: dict[tuple[str, str], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    form_fields: dict[tuple[str, str], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    files: dict[tuple[str, str], set[str]] = defaultdict(set)
    samples: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    for url, html in pages:
        for form in forms_of(html):
            target = urlsplit(form.action or url)
            try:
                endpoint, args = adapter.match(target.path or "/", method=form.method)
            except Exception:  # noqa: BLE001 - a form pointing elsewhere is simply not learnt
                continue
            key = (endpoint, form.method)
            sample = {k: str(v) for k, v in args.items()}
            if sample and sample not in samples[key]:
                samples[key].append(sample)
            for name, values in parse_qs(target.query).items():
                query[key][name] |= set(values)
            into = query if form.method == "GET" else form_fields
            for name, values in form.names.items():
                into[key][name] |= values
            files[key] |= form.files
    routes = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint == "static":
            continue
        read = names_read_by(app.view_functions[rule.endpoint])
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            key = (rule.endpoint, method)
            q = defaultdict(set, {k: set(v) for k, v in query[key].items()})
            for k, v in query[(rule.endpoint, "GET")].items():  # a page's filters, on its POST
                q[k] |= v
            f = defaultdict(set, {k: set(v) for k, v in form_fields[key].items()})
            for name in read.get("args", set()) | read.get("values", set()):
                q[name]
            if method != "GET":
                for name in read.get("form", set()) | read.get("values", set()):
                    f[name]
            f.pop("csrf_token", None)
            arguments = {
                arg: ("int" if type(conv).__name__ == "IdConverter" else "str")
                for arg, conv in rule._converters.items()
            }
            uploads = files[key] | read.get("files", set())
            routes.append(
                Route(
                    rule.endpoint,
                    rule.rule,
                    method,
                    arguments,
                    dict(q),
                    dict(f),
                    uploads,
                    samples[key] or samples[(rule.endpoint, "GET")],
                )
            )
    return routes


# --- the database before and after ---------------------------------------------------------


def _table_reads(dialect: Any) -> list[tuple[str, str]]:
    """Each table's read as SQL text, compiled once per kind of database. The fingerprint is
    taken around every fuzzed request, thousands a run, and sixty statements a time through
    the ORM were most of the fuzz test's time; read through the driver's own cursor they
    cost a tenth of that."""
    from pbflow.models import AuditEvent

    found = _TABLE_READS.get(dialect.name)
    if found is not None:
        return found
    skip_columns = REFUSALS_MAY_WRITE["columns"]
    found = []
    for table in db.metadata.sorted_tables:
        if table.name in REFUSALS_MAY_WRITE["tables"]:
            continue
        cols = [c for c in table.columns if c.name not in skip_columns.get(table.name, set())]
        stmt = select(*cols).order_by(*table.primary_key.columns)
        if table.name == AuditEvent.__tablename__:
            stmt = stmt.where(AuditEvent.action.not_in(REFUSALS_MAY_WRITE["audit_actions"]))
        sql = stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
        found.append((table.name, str(sql)))
    _TABLE_READS[dialect.name] = found
    return found


_TABLE_READS: dict[str, list[tuple[str, str]]] = {}


def fingerprint() -> str:
    """A digest of every row, leaving out what a refusal may write on purpose."""
    digest = hashlib.sha256()
    connection = db.session.connection()
    cursor = connection.connection.dbapi_connection.cursor()
    try:
        for name, sql in _table_reads(connection.dialect):
            cursor.execute(sql)
            for row in cursor.fetchall():
                digest.update(repr(tuple(row)).encode())
            digest.update(b"|" + name.encode())
    finally:
        cursor.close()
    db.session.rollback()  # end the read transaction: the next request must see fresh data
    return digest.hexdigest()


def upload_for(name: str, data: Any) -> tuple[io.BytesIO, str]:
    """A file for a file input: CSV with a late NUL, a fake PDF, a binary blob, odd names."""
    content = data.draw(
        st.sampled_from(
            [
                ("a,b\n" + "x" * 5000 + "\x00,1\n").encode(),
                b"%PDF-1.4\n%%EOF\n",
                b"\xff\xfe\x00\x00" * 10,
                b"",
                "姓名,组织\n张三,b1\n".encode("gb18030"),
            ]
        ),
        label=f"{name} content",
    )
    filename = data.draw(
        st.sampled_from(["a.csv", "a.pdf", "x" * 300 + ".pdf", "a\x00.pdf", ".pdf", "名.txt"]),
        label=f"{name} filename",
    )
    return io.BytesIO(content), filename


# --- the command line -----------------------------------------------------------------------


def commands(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """Every leaf command under a click group, with its full name."""
    import click

    found = []
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            found += commands(command, (*prefix, name))
        else:
            found.append(((*prefix, name), command))
    return found


# Command-line arguments cannot carry a NUL byte (the operating system's argv ends strings at
# one), so the CLI's hostile text is everything else.
cli_text = st.one_of(
    st.sampled_from(HUGE_NUMBERS + ODD_DATES + [t for t in NASTY_TEXT if "\x00" not in t]),
    st.text(alphabet=st.characters(blacklist_characters="\x00"), max_size=30),
)
