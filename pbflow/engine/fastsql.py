"""The engine's hot-path statements, run on the session's own DBAPI connection.

Why: a transition writes a handful of rows, and on SQLite SQLAlchemy's per-statement
machinery costs several times what the database itself spends (bench/engine.py measures it).
These few statements therefore bypass SQLAlchemy's execution layer but not its transaction:
they run on the very connection the ORM session holds, so they commit or roll back with
everything else the session does. Values are encoded exactly as SQLAlchemy's column types
store them (JSON text, SQLite's datetime text format), so ORM reads see the same data; the
test suite reads every such write back through the ORM on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from pbflow.extensions import session as current_session

CASE_COLUMNS = (
    "id",
    "definition_id",
    "workflow_id",
    "org_id",
    "state",
    "data",
    "version",
    "entered_version",
    "subject_person_id",
    "submitter_user_id",
    "assignee_user_id",
    "parent_id",
    "created_at",
    "state_entered_at",
    "closed_at",
    "title",
    "due_at",
)
# Where the datetime columns sit in a CASE_COLUMNS row.
_DATETIME_AT = tuple(
    CASE_COLUMNS.index(c) for c in ("created_at", "state_entered_at", "closed_at", "due_at")
)
_DATA_AT = CASE_COLUMNS.index("data")
# The columns a new case is written with (runtime.start).
INSERT_COLUMNS = (
    "definition_id",
    "workflow_id",
    "org_id",
    "subject_person_id",
    "submitter_user_id",
    "assignee_user_id",
    "parent_id",
    "title",
    "state",
    "data",
    "version",
    "entered_version",
    "created_at",
    "updated_at",
    "state_entered_at",
    "closed_at",
    "due_at",
    "reminded_at",
    "overdue_at",
)
_INSERT_DATETIMES = {
    "created_at",
    "updated_at",
    "state_entered_at",
    "closed_at",
    "due_at",
    "reminded_at",
    "overdue_at",
}

_MONTHS = tuple(f"c{i}" for i in range(1, 13))  # pbflow.models.tally.MONTHS
_SQL = {
    "load": f"SELECT {', '.join(CASE_COLUMNS)} FROM process_instance WHERE id = ?",
    "move": "UPDATE process_instance SET state = ?, data = ?, version = ?, entered_version = ?,"
    " updated_at = ?, state_entered_at = ?, due_at = ?, reminded_at = NULL, overdue_at = NULL,"
    " closed_at = ?, assignee_user_id = ? WHERE id = ? AND version = ?",
    "head_lock": "UPDATE audit_head SET seq = seq + ? WHERE id = 1 RETURNING seq, hash,"
    " hash_format",
    "head_switch": "UPDATE audit_head SET seq = seq + 1, hash_format = 2 WHERE id = 1"
    " RETURNING seq",
    "head_set": "UPDATE audit_head SET hash = ? WHERE id = 1",
    "audit_insert": "INSERT INTO audit_event (seq, at, actor_user_id, actor_label, org_id,"
    " instance_id, action, from_state, to_state, payload, salt, prev_hash, hash, seal)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "audit_person_insert": "INSERT INTO audit_person (seq, person_id) VALUES (?, ?)",
    "case_insert": f"INSERT INTO process_instance ({', '.join(INSERT_COLUMNS)}) VALUES"
    f" ({', '.join('?' for _ in INSERT_COLUMNS)}) RETURNING id",
    "tasks_load": "SELECT id, holder, kind, trigger FROM case_task WHERE instance_id = ?",
    "tasks_delete_all": "DELETE FROM case_task WHERE instance_id = ?",
    "tasks_delete_key": "DELETE FROM case_task WHERE instance_id = ? AND holder = ?"
    " AND kind = ? AND trigger = ?",
    "tasks_insert": "INSERT INTO case_task (instance_id, holder, kind, trigger, since, due_at)"
    " VALUES (?, ?, ?, ?, ?, ?)",
    "tasks_set_due": "UPDATE case_task SET due_at = ? WHERE instance_id = ?",
    "notify": "INSERT INTO notification (user_id, instance_id, kind, params, created_at,"
    " mail_state) VALUES (?, ?, ?, ?, ?, 'new')",
    # Figures kept as data (pbflow.engine.tally): a row's running counts moved by a change.
    "tally_add": "INSERT INTO case_tally (measure, workflow_id, state, org_id, year, "
    + ", ".join(_MONTHS)
    + ") VALUES ("
    + ", ".join("?" for _ in range(5 + len(_MONTHS)))
    + ") ON CONFLICT (measure, workflow_id, org_id, state, year) DO UPDATE SET "
    + ", ".join(f"{m} = case_tally.{m} + excluded.{m}" for m in _MONTHS),
}
_PG_SQL = {name: sql.replace("?", "%s") for name, sql in _SQL.items()}
# SQLite gives the new row's id as the cursor's lastrowid: no RETURNING to step through.
_SQL["case_insert"] = _SQL["case_insert"].removesuffix(" RETURNING id")
_PG_SQL["load_for_update"] = _PG_SQL["load"] + " FOR UPDATE"
_SQL["load_for_update"] = _SQL["load"]  # SQLite locks the whole database on write anyway


class _Sqlite:
    sql = _SQL
    placeholder = "?"

    @staticmethod
    def canonical_time(value: str) -> str:
        # Stored as "YYYY-MM-DD HH:MM:SS.ffffff"; the hash covers "YYYY-MM-DDTHH:MM:SS.ffffffZ".
        return value.replace(" ", "T") + "Z"

    # The hashed text form of ``at``, made by the database: no Python work per walked row.
    at_text = "replace(at, ' ', 'T') || 'Z'"

    @staticmethod
    def walk_cursor(raw: Any) -> Any:
        return raw.cursor()

    @staticmethod
    def dt(value: datetime | None) -> str | None:
        # SQLAlchemy's SQLite DATETIME storage format, microseconds always present.
        return None if value is None else value.isoformat(" ", "microseconds")

    @staticmethod
    def day(value: date | None) -> str | None:
        return None if value is None else value.isoformat()

    @staticmethod
    def read_day(value: Any) -> date | None:
        return date.fromisoformat(value) if isinstance(value, str) else value

    @staticmethod
    def read_dt(value: Any) -> datetime | None:
        return datetime.fromisoformat(value) if isinstance(value, str) else value

    @staticmethod
    def json(value: Any) -> str:
        return json.dumps(value)

    @staticmethod
    def read_json(value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    @staticmethod
    def read_case(row: tuple) -> list[Any]:
        out = list(row)
        data = out[_DATA_AT]
        out[_DATA_AT] = json.loads(data) if data is not None else {}
        for i in _DATETIME_AT:
            if out[i] is not None:
                out[i] = datetime.fromisoformat(out[i])
        return out


class _Postgres:
    sql = _PG_SQL
    placeholder = "%s"

    @staticmethod
    def canonical_time(value: datetime) -> str:
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    at_text = """to_char(at, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""

    @staticmethod
    def walk_cursor(raw: Any) -> Any:
        # A server-side cursor: walking a million events must not load them all at once.
        return raw.cursor(name="pbflow_audit_walk")

    @staticmethod
    def dt(value: datetime | None) -> datetime | None:
        return value

    @staticmethod
    def day(value: date | None) -> date | None:
        return value

    @staticmethod
    def read_day(value: Any) -> date | None:
        return value

    @staticmethod
    def read_dt(value: Any) -> datetime | None:
        return value

    @staticmethod
    def json(value: Any) -> Any:
        from psycopg.types.json import Json

        return Json(value)

    @staticmethod
    def read_json(value: Any) -> Any:
        return value

    @staticmethod
    def read_case(row: tuple) -> list[Any]:
        out = list(row)
        if out[_DATA_AT] is None:
            out[_DATA_AT] = {}
        return out


def flavour(dialect_name: str | None = None) -> type[_Sqlite] | type[_Postgres]:
    """The parameter style and value encoding of a database (by its dialect's name; the
    session's by default)."""
    if dialect_name is None:
        dialect_name = current_session().get_bind().dialect.name
    return _Postgres if dialect_name == "postgresql" else _Sqlite


class _ReadContext:
    """What a figure read gives SQLAlchemy's cursor listeners in place of an execution
    context: the statement, its parameters, and room for what a listener keeps between
    ``before_cursor_execute`` and ``after_cursor_execute`` (Flask-SQLAlchemy's recorded
    queries, a tracer's span)."""

    executemany = False

    def __init__(self, statement: str, parameters: tuple) -> None:
        self.statement = statement
        self.parameters = parameters


def read(sql: str, params: list[Any] | tuple = ()) -> list[tuple]:
    """A read for figures, in the flavour's parameter style, on the session's connection: the
    rows as the driver gives them, values decoded by the caller with the flavour's
    ``read_*``. It runs on the transaction's own DBAPI cursor, as the engine's statements do
    (SQLAlchemy's result machinery cost more than the statement: 70 -> 28 us a statement of
    thirteen columns on PostgreSQL), and goes through SQLAlchemy's cursor events as
    ``exec_driver_sql`` would (before, which may rewrite it, and after), so that a page's
    statements are counted and recorded with it. A driver error is the driver's own, not
    wrapped in ``sqlalchemy.exc``."""
    cur, _f = _cursor()
    conn = current_session().info[_RAW][4]  # the SQLAlchemy connection _cursor's is from
    params = tuple(params)
    context = _ReadContext(sql, params)
    for listener in conn.dispatch.before_cursor_execute:
        sql, params = listener(conn, cur, sql, params, context, False)
    cur.execute(sql, params)
    rows = cur.fetchall()
    conn.dispatch.after_cursor_execute(conn, cur, sql, params, context, False)
    return rows


def read_flushed(sql: str, params: list[Any] | tuple = ()) -> list[tuple]:
    """``read`` after the session's pending changes are flushed, as an ORM query would
    (autoflush; not from within a flush, nor under ``no_autoflush``): for a read that a
    change made earlier in the transaction may answer differently (a role just granted, an
    organization just added). Every page reads the reader's roles and the organizations
    this way, each at a fifth to two fifths of what the ORM's statement cost."""
    current_session()._autoflush()
    return read(sql, params)


def marks(values: list[Any], f: Any) -> str:
    """Placeholders for ``IN (...)`` over ``values``."""
    return ", ".join([f.placeholder] * len(values))


def any_of(column: str, values: list[Any], f: Any) -> tuple[str, list[Any]]:
    """``column IN (...)`` over (a non-empty list of) ``values`` and its parameters: on
    PostgreSQL one array (``= ANY``), which it plans as one value however many there are (a
    committee's hundred organizations: 0.65 -> 0.3 ms a statement)."""
    if f is _Postgres:
        return f"{column} = ANY({f.placeholder})", [list(values)]
    return f"{column} IN ({marks(values, f)})", list(values)


def among(column: Any, values: Any) -> Any:
    """``column IN values`` for an ORM statement. On PostgreSQL one array parameter
    (``= ANY``): an IN list is rendered anew by SQLAlchemy at every execution, and past 50
    parameters psycopg parses the statement's text again each time and the server plans a
    new text (a committee reads a hundred organizations: about 1 ms of the page's CPU per
    such statement). SQLite keeps the IN list (it has no arrays)."""
    values = list(values)
    if flavour() is _Postgres:
        from sqlalchemy import any_, bindparam
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)


_RAW = "pbflow_raw_connection"


def _raw() -> tuple[Any, type[_Sqlite] | type[_Postgres]]:
    """The DBAPI connection of the session's transaction (begun if need be). Asking the
    session for it costs more than a statement, so it is kept for the transaction's life:
    a step asks a handful of times."""
    session = current_session()
    tx = session.get_transaction()
    cached = session.info.get(_RAW)
    if tx is not None and cached is not None and cached[0] is tx:
        return cached[1], cached[2]
    conn = session.connection()
    flavour = _Postgres if conn.dialect.name == "postgresql" else _Sqlite
    raw = conn.connection.driver_connection
    session.info[_RAW] = (session.get_transaction(), raw, flavour, raw.cursor(), conn)
    return raw, flavour


def _cursor() -> tuple[Any, type[_Sqlite] | type[_Postgres]]:
    """One cursor for the transaction's hot-path statements (each fetches what it reads
    before the next runs), kept with its connection."""
    session = current_session()
    tx = session.get_transaction()
    cached = session.info.get(_RAW)
    if tx is None or cached is None or cached[0] is not tx:
        _raw()
        cached = session.info[_RAW]
    return cached[3], cached[2]


def org_settings(org_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The settings overrides of these organizations (a guard reading a workflow setting)."""
    cur, f = _cursor()
    marks = ", ".join([f.placeholder] * len(org_ids))
    cur.execute(f"SELECT id, settings FROM organization WHERE id IN ({marks})", list(org_ids))
    return {oid: f.read_json(value) or {} for oid, value in cur.fetchall()}


def load_case(case_id: int, for_update: bool = False) -> list[Any] | None:
    """The case row's values in ``CASE_COLUMNS`` order (the fields of ``CaseState``, in
    theirs), its data decoded and its times read; None when there is no such case."""
    cur, f = _cursor()
    cur.execute(f.sql["load_for_update" if for_update else "load"], (case_id,))
    row = cur.fetchone()
    return f.read_case(row) if row is not None else None


def insert_case(values: dict[str, Any]) -> int:
    """A new case row (``INSERT_COLUMNS``); returns its id."""
    cur, f = _cursor()
    params = []
    for name in INSERT_COLUMNS:
        value = values[name]
        if name in _INSERT_DATETIMES:
            value = f.dt(value)
        elif name == "data":
            value = f.json(value)
        params.append(value)
    cur.execute(f.sql["case_insert"], params)
    return cur.lastrowid if f is _Sqlite else cur.fetchone()[0]


def move_case(
    *,
    case_id: int,
    old_version: int,
    state: str,
    data: dict[str, Any],
    new_version: int,
    now: datetime,
    due_at: datetime | None,
    closed_at: datetime | None,
    assignee_user_id: int | None,
) -> int:
    """The version-checked UPDATE; returns the number of rows changed (0 = changed meanwhile)."""
    cur, f = _cursor()
    at = f.dt(now)
    cur.execute(
        f.sql["move"],
        (
            state,
            f.json(data),
            new_version,
            new_version,
            at,
            at,
            f.dt(due_at),
            f.dt(closed_at),
            assignee_user_id,
            case_id,
            old_version,
        ),
    )
    return cur.rowcount


def task_rows(case_id: int) -> list[tuple[int, str, str, str]]:
    """(id, holder, kind, trigger) of a case's work-waiting rows (pbflow.engine.tasks)."""
    cur, f = _cursor()
    cur.execute(f.sql["tasks_load"], (case_id,))
    return cur.fetchall()


def delete_tasks(case_id: int, row_ids: list[int] | None) -> None:
    """Delete some of a case's rows, or all of them (``row_ids`` None): one statement."""
    cur, f = _cursor()
    if row_ids is None:
        cur.execute(f.sql["tasks_delete_all"], (case_id,))
        return
    marks = ", ".join([f.placeholder] * len(row_ids))
    cur.execute(f"DELETE FROM case_task WHERE id IN ({marks})", row_ids)


def delete_task_keys(case_id: int, keys: list[tuple[str, str, str]]) -> None:
    """Delete a case's rows of these (holder, kind, trigger) keys."""
    cur, f = _cursor()
    cur.executemany(f.sql["tasks_delete_key"], [(case_id, h, k, t) for h, k, t in keys])


def insert_tasks(
    case_id: int, keys: list[tuple[str, str, str]], now: datetime, due_at: datetime | None
) -> None:
    cur, f = _cursor()
    at, due = f.dt(now), f.dt(due_at)
    cur.executemany(f.sql["tasks_insert"], [(case_id, h, k, t, at, due) for h, k, t in keys])


def set_task_due(case_id: int, due_at: datetime | None) -> None:
    """Every row of the case takes the case's new time limit (the inbox sorts by it)."""
    cur, f = _cursor()
    cur.execute(f.sql["tasks_set_due"], (f.dt(due_at), case_id))


def notify(rows: list[tuple[int, int | None, str, dict[str, Any], datetime]]) -> None:
    """Notifications as (user, case, kind, params, time): what happened, not its text."""
    cur, f = _cursor()
    cur.executemany(f.sql["notify"], [(u, i, k, f.json(p), f.dt(at)) for u, i, k, p, at in rows])


def append_audit(
    events: list[dict[str, Any]],
    chain: Any,
    seal: Any,
    switch_event: Any,
    persons: Any = None,
) -> None:
    """Lock the chain head, hash and seal the queued events onto it, insert them, move the head.

    ``persons(payload)`` names the people each event's payload names: their rows go into the
    audit search's index ``audit_person`` in the same transaction.

    A chain still in the first hash format gets ``switch_event()`` first, once: the recorded
    point from which every event is in format 2.
    """
    cur, f = _cursor()
    cur.execute(f.sql["head_lock"], (len(events),))
    last_seq, prev, hash_format = cur.fetchone()
    if hash_format != 2:
        cur.execute(f.sql["head_switch"])
        last_seq = cur.fetchone()[0]
        events = [switch_event(), *events]
    seq = last_seq - len(events)
    rows = []
    for event in events:
        seq += 1
        event["seq"] = seq
        event["prev_hash"] = prev
        prev = event["hash"] = chain(prev, event)
        rows.append(
            (
                seq,
                f.dt(event["at"]),
                event["actor_user_id"],
                event["actor_label"],
                event["org_id"],
                event["instance_id"],
                event["action"],
                event["from_state"],
                event["to_state"],
                event["payload"],
                event["salt"],
                event["prev_hash"],
                event["hash"],
                seal(event["hash"]),
            )
        )
    if len(rows) == 1:
        cur.execute(f.sql["audit_insert"], rows[0])
    else:
        cur.executemany(f.sql["audit_insert"], rows)
    if persons is not None:
        named = [(row[0], pid) for row in rows for pid in persons(row[9])]
        if named:
            cur.executemany(f.sql["audit_person_insert"], named)
    cur.execute(f.sql["head_set"], (prev,))


# The columns of an audit walk, in this order; ``at`` in its hashed text form.
WALK_COLUMNS = (
    "seq",
    "at",
    "actor_user_id",
    "actor_label",
    "org_id",
    "instance_id",
    "action",
    "from_state",
    "to_state",
    "payload",
    "salt",
    "prev_hash",
    "hash",
    "seal",
)


# The canonical encoding of an event (audit._encode_row) made by SQLite's json_array: the
# same text for every string (checked character by character in tests/tasks/test_audit_encoding.py),
# and the walk falls back to Python's encoder before it calls any event altered.
_ENCODED = "CASE WHEN salt IS NULL THEN json_array({ten}) ELSE json_array({ten}, salt) END"


def encodes_rows() -> bool:
    """Whether the database can give each walked event its canonical body (SQLite)."""
    _raw_conn, f = _raw()
    return f is _Sqlite


def walk_audit(
    after: int = 0,
    upto: int | None = None,
    batch: int = 5000,
    instance_ids: Any = None,
    encoded: bool = False,
) -> Iterator[tuple]:
    """Audit events as plain tuples (``WALK_COLUMNS``) in sequence order: seq > ``after``,
    up to ``upto``; with ``instance_ids``, only events of those cases, meeting events and
    training record events.
    With ``encoded`` (SQLite only), each tuple has a 15th item: the event's canonical body."""
    raw, f = _raw()
    p = f.placeholder
    columns = ", ".join(f.at_text if c == "at" else c for c in WALK_COLUMNS)
    if encoded:
        ten = ", ".join(f.at_text if c == "at" else c for c in WALK_COLUMNS[:10])
        columns += ", " + _ENCODED.format(ten=ten)
    sql = f"SELECT {columns} FROM audit_event WHERE seq > {p}"
    params: list[Any] = [after]
    if upto is not None:
        sql += f" AND seq <= {p}"
        params.append(upto)
    if instance_ids is not None:
        ids = sorted(instance_ids)
        marks = ", ".join([p] * len(ids)) or "NULL"
        sql += (
            f" AND (instance_id IN ({marks}) OR action LIKE 'meeting%%'"
            " OR action LIKE 'training%%')"
        )
        params.extend(ids)
    cur = f.walk_cursor(raw)
    cur.execute(sql + " ORDER BY seq", params)
    try:
        while rows := cur.fetchmany(batch):
            yield from rows
    finally:
        cur.close()


def audit_person_columns(upto: int, batch: int = 10000) -> tuple[Any, Any]:
    """The rows of ``audit_person`` up to event ``upto``, by (seq, person_id), as two arrays
    of 64-bit integers: the seqs and the persons (a million rows cost 16 MB, not a tuple
    each)."""
    raw, f = _raw()
    seqs, persons = array("q"), array("q")
    # Server-side on PostgreSQL, as the walk's (whose name it must not take).
    cur = raw.cursor(name="pbflow_audit_person") if f is _Postgres else raw.cursor()
    cur.execute(
        f"SELECT seq, person_id FROM audit_person WHERE seq <= {f.placeholder}"
        " ORDER BY seq, person_id",
        (upto,),
    )
    try:
        while rows := cur.fetchmany(batch):
            for seq, person in rows:
                seqs.append(seq)
                persons.append(person)
    finally:
        cur.close()
    return seqs, persons


def audit_checkpoints(chain: str) -> list[tuple]:
    """(seq, hash, at text, key_id, signature) of every checkpoint of ``chain``, by seq."""
    raw, f = _raw()
    cur = raw.cursor()
    cur.execute(
        f"SELECT seq, hash, {f.at_text}, key_id, signature FROM audit_checkpoint"
        f" WHERE chain = {f.placeholder} ORDER BY seq",
        (chain,),
    )
    try:
        return list(cur.fetchall())
    finally:
        cur.close()
