"""What pbflow's access logs write, under gunicorn (``make serve``) and Flask's dev server.

- Requests to the opinion box (``/opinions`` and below, and the JSON API's opinion box,
  ``/api/v1/opinions`` and below: submit, follow, the submitter's steps), to the
  satisfaction surveys (``/survey`` and below) and to static files are never
  written, whatever the settings. Even without an address, the time of such a line (to the
  second) and its place between other lines could be matched against a known person's login
  or other requests; static files are left out too because some (``opinions.css``) are only
  fetched by the opinion box's pages.
- For every other request the log says when, what (method, path, status, size, duration) and
  nothing about the client: no address, user agent, referrer or other request header. pbflow
  needs none of them (sessions are signed cookies, rate limits live in the database). An
  operator who wants addresses and user agents for the other pages sets
  ``PBFLOW_ACCESS_LOG_CLIENTS=1``.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from pbflow.config import env_setting

UNLOGGED = ("/opinions", "/api/v1/opinions", "/static", "/survey")

# Atoms of gunicorn's log format that describe the client, and the prefixes of the atoms it
# makes from every request header and environ variable (``{x-forwarded-for}i`` and so on).
CLIENT_ATOMS = ("h", "u", "f", "a")
_REQUEST_HEADER = re.compile(r"^\{.*\}[ie]$")
_SECRET_HEADERS = ("{cookie}i", "{authorization}i")


def unlogged(path: str) -> bool:
    """Is a request for ``path`` left out of the access log altogether?"""
    path = (path or "/").split("?", 1)[0]
    return any(path == p or path.startswith(p + "/") for p in UNLOGGED)


def keep_clients() -> bool:
    return bool(env_setting("PBFLOW_ACCESS_LOG_CLIENTS"))


def redact_atoms(atoms: dict[str, Any], keep: bool) -> dict[str, Any]:
    """gunicorn's log atoms without what identifies the client (all of it unless ``keep``;
    session cookies and credentials always)."""
    if keep:
        return {k: v for k, v in atoms.items() if k not in _SECRET_HEADERS}
    clean = {k: v for k, v in atoms.items() if not _REQUEST_HEADER.match(k)}
    clean.update(dict.fromkeys(CLIENT_ATOMS, "-"))
    return clean


# --- Flask's development server (``make run``) ------------------------------------------------

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_REQUEST_LINE = re.compile(r"^[A-Z]+ (\S+)")
_LEADING_ADDRESS = re.compile(r"^\S+ (?=- - \[)")


class DevServerFilter(logging.Filter):
    """The same rules for werkzeug's request log: its records look like
    ``'ADDRESS - - [DATE] "%s" %s %s'`` with the request line as the first argument."""

    def __init__(self, keep: bool) -> None:
        super().__init__("pbflow.access")
        self.keep = keep

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        if args and isinstance(args[0], str):
            line = _REQUEST_LINE.match(_ANSI.sub("", args[0]))
            if line and unlogged(line.group(1)):
                return False
        if not self.keep and isinstance(record.msg, str):
            record.msg = _LEADING_ADDRESS.sub("- ", record.msg, count=1)
        return True


def install_dev_server_filter(keep: bool) -> None:
    """Put the filter on werkzeug's logger (once, with the current setting)."""
    logger = logging.getLogger("werkzeug")
    for old in [f for f in logger.filters if isinstance(f, DevServerFilter)]:
        logger.removeFilter(old)
    logger.addFilter(DevServerFilter(keep))
