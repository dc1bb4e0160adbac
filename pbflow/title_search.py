"""An index of the cases' titles for the case list's text search (issue 16: an index for
every filter a page offers).

A search for a piece of a title (``LIKE '%text%'``) can use no ordinary index: at 100,000
cases it read every case, 110 ms on SQLite and 45 ms of server work on PostgreSQL for a text
no case holds. Both databases get a trigram index, which finds the cases whose titles hold
every three-character piece of the text:

- PostgreSQL: ``pg_trgm``'s GIN index on the title. The list's ``ILIKE`` uses it as it is,
  the planner choosing it (or the table, for a text too short to have a trigram or held by
  most cases) for each search's own text. Where the extension is not installed the index is
  left out and the search reads the table, as before (``install`` says so in the log).
- SQLite: an FTS5 table with the trigram tokenizer over the titles, kept by triggers in the
  same transaction as the case (``content=`` the case table: it stores the index only). SQLite
  cannot choose by itself, so ``title_condition`` asks the index first how many cases hold the
  text, and uses it when they are few (``RARE``); a text held by many cases is found as fast by
  reading the newest cases until a page is full, as before.

A text of fewer than three characters, or with ``%`` or ``_`` in it, is searched by reading
the cases as before: trigrams cannot find it (a two-character Chinese name is such a text).
So is every text on a SQLite built without FTS5 or older than 3.34 (``install`` says so in
the log).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import column, func, select, table, text

from pbflow.models import ProcessInstance

TABLE = "case_title_search"  # SQLite: the FTS5 table (its shadow tables start with it)
PG_INDEX = "ix_case_title_trgm"
RARE = 2000  # cases holding a text, at most, for the index to be the way to them
TRIGRAM = 3

log = logging.getLogger(__name__)

SQLITE_DDL = [
    f"""CREATE VIRTUAL TABLE IF NOT EXISTS {TABLE} USING fts5(
        title, content='process_instance', content_rowid='id', tokenize='trigram')""",
    f"""CREATE TRIGGER IF NOT EXISTS {TABLE}_insert AFTER INSERT ON process_instance BEGIN
        INSERT INTO {TABLE} (rowid, title) VALUES (new.id, new.title); END""",
    f"""CREATE TRIGGER IF NOT EXISTS {TABLE}_delete AFTER DELETE ON process_instance BEGIN
        INSERT INTO {TABLE} ({TABLE}, rowid, title) VALUES ('delete', old.id, old.title); END""",
    f"""CREATE TRIGGER IF NOT EXISTS {TABLE}_update AFTER UPDATE OF title ON process_instance
        BEGIN
        INSERT INTO {TABLE} ({TABLE}, rowid, title) VALUES ('delete', old.id, old.title);
        INSERT INTO {TABLE} (rowid, title) VALUES (new.id, new.title); END""",
]

SQLITE_DROP = [
    f"DROP TRIGGER IF EXISTS {TABLE}_insert",
    f"DROP TRIGGER IF EXISTS {TABLE}_delete",
    f"DROP TRIGGER IF EXISTS {TABLE}_update",
    f"DROP TABLE IF EXISTS {TABLE}",
]


def install(conn: Any) -> bool:
    """Create the index of the titles and fill it from the cases there are (idempotent).
    False when PostgreSQL has no ``pg_trgm`` to offer (the search then reads the table)."""
    if conn.dialect.name == "postgresql":
        available = conn.execute(
            text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")
        ).first()
        if not available:
            log.warning(
                "PostgreSQL offers no pg_trgm (package postgresql-contrib): the case list's "
                "text search reads every case"
            )
            return False
        conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        conn.exec_driver_sql(
            f"CREATE INDEX IF NOT EXISTS {PG_INDEX} ON process_instance"
            " USING gin (title gin_trgm_ops)"
        )
        return True
    existed = _has_table(conn)
    if not existed and not _sqlite_has_trigrams(conn):
        log.warning(
            "this SQLite has no FTS5 trigram tokenizer (built without FTS5, or older than "
            "3.34): the case list's text search reads every case"
        )
        return False
    for stmt in SQLITE_DDL:
        conn.exec_driver_sql(stmt)
    if not existed:
        conn.exec_driver_sql(f"INSERT INTO {TABLE} ({TABLE}) VALUES ('rebuild')")
    _INSTALLED.pop(str(conn.engine.url), None)
    return True


def _sqlite_has_trigrams(conn: Any) -> bool:
    """FTS5 compiled in, and a SQLite of 3.34 or later (its trigram tokenizer)."""
    version = conn.execute(text("SELECT sqlite_version()")).scalar() or "0"
    parts = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
    if parts < (3, 34):
        return False
    fts5 = conn.execute(text("SELECT 1 FROM pragma_module_list WHERE name = 'fts5'")).first()
    return fts5 is not None


def _has_table(conn: Any) -> bool:
    found = conn.execute(
        text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :t"), {"t": TABLE}
    ).first()
    return found is not None


# Per SQLite database (its URL): whether it has the index (asked once per process).
_INSTALLED: dict[str, bool] = {}


def uninstall(conn: Any) -> None:
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {PG_INDEX}")
        return
    for stmt in SQLITE_DROP:
        conn.exec_driver_sql(stmt)
    _INSTALLED.pop(str(conn.engine.url), None)


def is_search_object(name: str | None) -> bool:
    """Whether a table or index belongs to this index rather than to the models (the schema
    comparisons leave them out: FTS5 makes five tables of its own)."""
    return bool(name) and (name == PG_INDEX or name.startswith(TABLE))


def searchable(q: str) -> bool:
    """Whether a text can be found through the trigrams: three characters at least, and no
    LIKE wildcard (the FTS5 table takes LIKE without an escape character)."""
    return len(q) >= TRIGRAM and "%" not in q and "_" not in q


def title_condition(session: Any, q: str, memo: dict[str, bool] | None = None) -> Any:
    """On SQLite, the condition "the title holds ``q``" through the index, when few cases
    hold it; None otherwise (the caller then matches the titles one by one). ``memo``
    keeps the answer for the other statements of the same list."""
    bind = session.get_bind()
    if bind.dialect.name != "sqlite" or not searchable(q):
        return None
    url = str(bind.url)
    if url not in _INSTALLED:
        _INSTALLED[url] = _has_table(session.connection())
    if not _INSTALLED[url]:
        return None
    pattern = f"%{q}%"
    rare = None if memo is None else memo.get(q)
    if rare is None:
        hits = select(column("rowid")).select_from(table(TABLE))
        hits = hits.where(column("title").like(pattern)).limit(RARE + 1).subquery()
        rare = session.execute(select(func.count()).select_from(hits)).scalar_one() <= RARE
        if memo is not None:
            memo[q] = rare
    if not rare:
        return None
    found = select(column("rowid")).select_from(table(TABLE)).where(column("title").like(pattern))
    return ProcessInstance.id.in_(found)
