"""gunicorn settings for ``make serve``: ``gunicorn -c python:pbflow.gunicorn_conf app:app``.

The access log goes to standard output through ``AccessLogger``, which applies
``pbflow.access_log``'s rules: nothing at all for the opinion box and static files, and no
client address, user agent, referrer or request header for the rest (unless
``PBFLOW_ACCESS_LOG_CLIENTS=1``). Options given on the command line (``--workers``,
``--bind``, ``--access-logfile``...) override these.

Each worker, once it has loaded the app, moves the objects it holds for good out of the
garbage collector's reach and collects its young objects less often (``post_worker_init``).
"""

from __future__ import annotations

import gc
from typing import Any

from gunicorn.glogging import Logger

from pbflow import access_log

accesslog = "-"
logger_class = "pbflow.gunicorn_conf.AccessLogger"


class AccessLogger(Logger):
    """gunicorn's logger, writing access lines by ``pbflow.access_log``'s rules."""

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if access_log.unlogged(environ.get("PATH_INFO", "")):
            return
        super().access(resp, req, environ, request_time)

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        return access_log.redact_atoms(atoms, access_log.keep_clients())


# New objects a worker makes before its youngest generation is collected (Python's default:
# 700); see post_worker_init.
YOUNG_COLLECTION = 10_000


def post_worker_init(worker: Any) -> None:
    """The app just loaded (modules, SQLAlchemy's metadata, the workflows' definitions, the
    catalogs) lives as long as the worker: ``gc.freeze()`` takes it out of the collector's
    generations, so that a full collection walks what requests made, not those 160,000
    objects again. The committee's dashboard spent 12 ms a request in collections, 3 after
    (100,000 cases); nothing is kept longer than before (garbage is collected first).

    Then the youngest generation is collected after ``YOUNG_COLLECTION`` new objects instead
    of 700: a page makes tens of thousands (rows, template output) that die with the request
    anyway, and the dashboard still spent 3.3 ms a request in thirteen young collections and
    the older ones they set off; 0.1 ms after. Cycles left unreachable wait for at most that
    many allocations more (a few megabytes at worst)."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION, older, oldest)
