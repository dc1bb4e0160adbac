"""Flask extensions, created once here and bound to the app in ``create_app``."""

from __future__ import annotations

import time
from typing import Any

from flask.globals import _cv_app
from flask_babel import Babel
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session as FlaskSession
from flask_sqlalchemy.session import _app_ctx_id
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


# A server database's connection kept by a session goes back to the pool when it waited
# longer than this since its last transaction began, so that the pool's ping checks it
# before it is used again (a file database has no server to drop it: kept for good).
RECHECK_AFTER = 1.0


class Session(FlaskSession):
    """``db.session``'s class. A session keeps the pooled connection it first takes until it
    is closed (at the end of its app context: a request, a command) instead of taking one
    from the pool and handing it back around every transaction: a step is one transaction,
    and that round trip through the pool (with PostgreSQL's ping, a round trip to the
    server) cost more than most statements of the step (bench/engine.py). Each transaction
    is still begun, then committed or rolled back, on it as before; between two of them the
    connection holds no transaction and no lock, as in the pool. On a server database a
    connection that waited longer than ``RECHECK_AFTER`` goes back through the pool."""

    _held: dict[Engine, tuple[Connection, float]] | None = None
    _default_bind: Engine | None = None

    def get_bind(self, mapper: Any = None, clause: Any = None, bind: Any = None, **kw: Any):
        # The app's default engine, asked for by every transaction (``connection()``): a
        # session lives in one app context, so it is looked up once.
        if mapper is None and clause is None and bind is None and not kw:
            engine = self._default_bind
            if engine is None:
                engine = self._default_bind = super().get_bind()
            return engine
        return super().get_bind(mapper, clause, bind, **kw)

    def _connection_for_bind(self, engine: Any, execution_options: Any = None, **kw: Any):
        if type(engine) is Engine:
            root = self._transaction
            while root is not None and root._parent is not None:
                root = root._parent
            if root is None or engine not in root._connections:
                engine = self._hold(engine)
        return super()._connection_for_bind(engine, execution_options, **kw)

    def _hold(self, engine: Engine) -> Connection:
        """The connection this session keeps for ``engine``, taken from the pool if it has
        none it may use: none yet, closed, broken, left in a transaction, changed by
        execution options (an isolation level set for one transaction must not outlive it;
        the pool resets it), or a server's that waited too long."""
        held = self._held
        if held is None:
            held = self._held = {}
        kept = held.get(engine)
        if kept is not None:
            conn, since = kept
            if (
                not conn.closed
                and not conn.invalidated
                and not conn.in_transaction()
                and conn.get_execution_options() == engine.get_execution_options()
            ):
                if engine.dialect.name == "sqlite":
                    return conn
                now = time.monotonic()
                if now - since < RECHECK_AFTER:
                    held[engine] = (conn, now)
                    return conn
            del held[engine]
            conn.close()  # back to the pool, which rolls back anything left open
        conn = engine.connect()
        held[engine] = (conn, time.monotonic())
        return conn

    def _release(self) -> None:
        held, self._held = self._held, None
        for conn, _since in (held or {}).values():
            conn.close()

    def _close_impl(self, *args: Any, **kw: Any) -> None:
        try:
            super()._close_impl(*args, **kw)
        finally:
            self._release()


# Objects stay readable after commit: the engine commits often, and a page rendered after an
# action must not re-query every object it already holds.
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False, "class_": Session})
login_manager = LoginManager()
csrf = CSRFProtect()
migrate = Migrate()
babel = Babel()

# db.session's registry: one session per app context, keyed by the context's id.
_SESSIONS = db.session.registry
_BY_CONTEXT = _SESSIONS.registry if _SESSIONS.scopefunc is _app_ctx_id else None


def app_context() -> Any:
    """The current Flask app context, or None outside one: ``has_app_context()`` and
    ``current_app``/``g`` in one look-up, without werkzeug's proxies (the engine asks for
    the app's registry, settings and clock several times a step)."""
    return _cv_app.get(None)


def session() -> Session:
    """``db.session()``: the app context's session. The engine's hot path asks for it a dozen
    times a step; this finds it in the registry by the context's id directly, where
    ``db.session()`` goes through werkzeug's context proxies for the same id (it still
    creates the session when the context has none yet)."""
    if _BY_CONTEXT is not None:
        ctx = _cv_app.get(None)
        if ctx is not None:
            found = _BY_CONTEXT.get(id(ctx))
            if found is not None:
                return found
    return db.session()
