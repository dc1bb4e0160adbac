"""Database connection settings that the pages' speed at scale depends on (issue 16)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from pbflow.config import build_config
from pbflow.extensions import db


def test_postgresql_connections_are_made_without_jit_or_parallel_query(tmp_path):
    """Short index walks over large tables passed jit_above_cost and paid 100-150 ms of
    compiling; a branch's case list started two parallel workers (5-8 ms) for a 0.1 ms
    read; statements kept prepared are planned for their values (pbflow.prepared). Options
    given in the configuration are kept."""
    url = "postgresql+psycopg://pbflow@db.example/pbflow"
    cfg = build_config(tmp_path, {"SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": url})
    assert (
        cfg["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"]["options"]
        == "-c jit=off -c max_parallel_workers_per_gather=0 -c plan_cache_mode=force_custom_plan"
    )
    # A connection the server ended is found by polling its socket when it leaves the pool,
    # not by a statement on every request (pbflow.connection_check; tests/test_bad_input.py's
    # killed connection still costs no request).
    assert cfg["SQLALCHEMY_ENGINE_OPTIONS"]["pool_pre_ping"] is False
    assert cfg["SQLALCHEMY_ENGINE_OPTIONS"]["pool_use_lifo"] is True  # pbflow.prepared
    given = {
        "SECRET_KEY": "x",
        "SQLALCHEMY_DATABASE_URI": url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"options": "-c statement_timeout=5000"}},
    }
    options = build_config(tmp_path, given)["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"]
    assert options["options"] == (
        "-c statement_timeout=5000 -c jit=off -c max_parallel_workers_per_gather=0"
        " -c plan_cache_mode=force_custom_plan"
    )
    sqlite = build_config(tmp_path, {"SECRET_KEY": "x"})["SQLALCHEMY_ENGINE_OPTIONS"]
    assert "connect_args" not in sqlite


def test_the_test_database_runs_without_jit_or_parallel_query_on_postgresql(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")
    assert db.session.execute(text("SHOW jit")).scalar() == "off"
    assert db.session.execute(text("SHOW max_parallel_workers_per_gather")).scalar() == "0"
    assert db.session.execute(text("SHOW plan_cache_mode")).scalar() == "force_custom_plan"


def test_a_gunicorn_worker_freezes_what_it_loaded_after_collecting_garbage():
    """gunicorn calls ``post_worker_init`` once the worker has loaded the app: what is alive
    then stays out of later collections; a cycle already unreachable is collected, not
    frozen; young objects are collected less often than Python's default."""
    import gc
    import weakref

    from pbflow import gunicorn_conf

    class Cycle:
        pass

    garbage = Cycle()
    garbage.me = garbage
    gone = weakref.ref(garbage)
    del garbage
    kept = Cycle()
    gc.unfreeze()
    threshold = gc.get_threshold()
    try:
        gunicorn_conf.post_worker_init(worker=None)
        assert gone() is None
        assert gc.get_freeze_count() > 0
        assert not any(o is kept for o in gc.get_objects())  # frozen: not tracked by generations
        # Young objects collected after thousands of allocations, not 700; the older
        # generations' thresholds as they were.
        assert gc.get_threshold() == (gunicorn_conf.YOUNG_COLLECTION, *threshold[1:])
        assert gunicorn_conf.YOUNG_COLLECTION >= 5_000
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
