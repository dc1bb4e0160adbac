"""pbflow: workflow and approval system for grass-roots party organizations."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from flask import Flask, request
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import event

from pbflow.config import LOCALES, PROJECT_ROOT, build_config
from pbflow.extensions import babel, csrf, db, login_manager, migrate

log = logging.getLogger(__name__)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    # WAL + NORMAL survives a process crash; only an OS crash may lose the last commits.
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    # Deleted rows are overwritten, not left in free pages: an opinion box rate-limit key
    # must be gone from the file once its window is over (pbflow rarely deletes otherwise).
    cur.execute("PRAGMA secure_delete=ON")
    cur.close()


def select_locale() -> str:
    from flask_login import current_user

    if not request:
        return "en"
    chosen = request.args.get("lang") or request.cookies.get("pbflow_lang")
    if chosen in LOCALES:
        return chosen
    if getattr(current_user, "is_authenticated", False) and current_user.locale in LOCALES:
        return current_user.locale
    return request.accept_languages.best_match(LOCALES) or "zh"


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(
        __name__,
        instance_path=str(PROJECT_ROOT / "instance"),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder="static",
    )
    if config and config.get("INSTANCE_PATH"):
        app.instance_path = str(config["INSTANCE_PATH"])
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.update(build_config(Path(app.instance_path), config))

    db.init_app(app)
    from pbflow import connection_check, prepared

    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", _sqlite_pragmas)
            db.engine.dispose()
        elif db.engine.dialect.name == "postgresql":
            event.listen(db.engine, "connect", prepared.keep_prepared)
            connection_check.install(db.engine)
            db.engine.dispose()
    prepared.install(app)  # after Flask-SQLAlchemy's teardown: runs before it
    # Batch mode lets later migrations alter tables on SQLite, which has little ALTER TABLE.
    migrate.init_app(
        app, db, directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True, compare_type=True
    )
    login_manager.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    from pbflow.web import template_gettext

    template_gettext.install(app)

    from pbflow import audit, models, validation  # noqa: F401 - registers the models
    from pbflow.engine.registry import init_registry
    from pbflow.procedures import take_up

    audit.install_session_hooks(FlaskSession)
    from pbflow.engine import tally

    tally.install_session_hooks(FlaskSession)  # first at commit: its rows before the head
    from pbflow.engine import actors, runtime

    actors.install_session_hooks(FlaskSession)  # the organization index follows their changes

    runtime.install_session_hooks(FlaskSession)  # a rolled-back start leaves the session
    from pbflow import security_log

    security_log.install_session_hooks(FlaskSession)  # after audit's: one lock order
    validation.install_flush_checks(FlaskSession)
    procedures, left_out = take_up(app)
    registry = init_registry(app, procedures, left_out)
    for error in registry.errors:
        log.error("workflow definition refused: %s", error)

    from pbflow import access_log

    access_log.install_dev_server_filter(bool(app.config["PBFLOW_ACCESS_LOG_CLIENTS"]))

    from pbflow.web import register_web

    register_web(app, procedures)

    from pbflow.cli import register_cli

    register_cli(app, procedures)
    return app
