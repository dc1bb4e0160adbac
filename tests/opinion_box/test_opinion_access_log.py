"""The access logs say nothing that links a client to the opinion box (issue 10).

gunicorn (``make serve``, ``pbflow/gunicorn_conf.py``) and Flask's dev server (``make run``)
follow ``pbflow/access_log.py``: no line at all for the opinion box or static files; no client
address, user agent, referrer or request header on the other lines unless
``PBFLOW_ACCESS_LOG_CLIENTS=1``, and even then none for the opinion box. The insider test
(tests/test_opinion_insider.py) runs the real gunicorn; these tests cover the setting and the
dev server.
"""

from __future__ import annotations

import functools
import http.client
import logging
import threading
from datetime import timedelta
from types import SimpleNamespace

import pytest
from gunicorn.config import Config

from pbflow import access_log
from pbflow.gunicorn_conf import AccessLogger

ADDRESS = "127.0.41.7"
FORWARDED = "198.51.100.23"
AGENT = "AccessLogTest/1.0 (zhang's phone)"
COOKIE = "session=eyJfdXNlcl9pZCI6IjcifQ.secret"
REQUESTS = [
    ("GET", "/login", ""),
    ("POST", "/login", ""),
    ("GET", "/cases", "state=received"),
    ("GET", "/opinions/b1", ""),
    ("POST", "/opinions/b1", ""),
    ("POST", "/opinions/track", ""),
    ("POST", "/opinions/track/add_information", ""),
    ("GET", "/opinions/", "org=b1"),
    ("GET", "/opinions/b1/book", ""),
    ("POST", "/api/v1/opinions", ""),
    ("POST", "/api/v1/opinions/follow", ""),
    ("POST", "/api/v1/opinions/steps", ""),
    ("GET", "/static/opinions.css", ""),
    ("GET", "/static/pbflow.css", ""),
]


def _gunicorn_log(tmp_path, keep: bool, monkeypatch) -> list[str]:
    """The lines gunicorn writes for REQUESTS with ``make serve``'s logger and a log format
    that asks for everything about the client."""
    if keep:
        monkeypatch.setenv("PBFLOW_ACCESS_LOG_CLIENTS", "1")
    else:
        monkeypatch.delenv("PBFLOW_ACCESS_LOG_CLIENTS", raising=False)
    path = tmp_path / f"access-{keep}.log"
    cfg = Config()
    cfg.set("accesslog", str(path))
    cfg.set(
        "access_log_format",
        '%(h)s %(u)s %(t)s "%(r)s" %(s)s "%(f)s" "%(a)s" xff=%({x-forwarded-for}i)s '
        "cookie=%({cookie}i)s addr=%({remote_addr}e)s",
    )
    logger = AccessLogger(cfg)
    headers = [
        ("USER-AGENT", AGENT),
        ("REFERER", "http://pbflow.example/opinions/b1"),
        ("X-FORWARDED-FOR", FORWARDED),
        ("COOKIE", COOKIE),
    ]
    for method, path_info, query in REQUESTS:
        environ = {
            "REQUEST_METHOD": method,
            "RAW_URI": path_info + (f"?{query}" if query else ""),
            "PATH_INFO": path_info,
            "QUERY_STRING": query,
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": ADDRESS,
            "HTTP_USER_AGENT": AGENT,
            "HTTP_REFERER": "http://pbflow.example/opinions/b1",
        }
        response = SimpleNamespace(status="200 OK", headers=[], sent=123)
        logger.access(response, SimpleNamespace(headers=headers), environ, timedelta(0, 0, 5))
    for handler in logger.access_log.handlers:
        handler.flush()
    return path.read_text().splitlines()


def test_gunicorn_writes_no_client_details_and_nothing_about_the_opinion_box(tmp_path, monkeypatch):
    lines = _gunicorn_log(tmp_path, keep=False, monkeypatch=monkeypatch)
    assert [line.split('"')[1] for line in lines] == [
        "GET /login HTTP/1.1",
        "POST /login HTTP/1.1",
        "GET /cases?state=received HTTP/1.1",
    ]
    text = "\n".join(lines)
    for trace in (ADDRESS, FORWARDED, AGENT, COOKIE, "pbflow.example"):
        assert trace not in text
    assert all(line.startswith("- - [") for line in lines)


def test_with_the_setting_gunicorn_keeps_clients_outside_the_opinion_box_only(
    tmp_path, monkeypatch
):
    lines = _gunicorn_log(tmp_path, keep=True, monkeypatch=monkeypatch)
    assert len(lines) == 3 and all(ADDRESS in line and AGENT in line for line in lines)
    assert all(f"xff={FORWARDED}" in line for line in lines)
    assert not any("/opinions " in line or "/static" in line for line in lines)
    assert not any("/api/v1/opinions" in line for line in lines)
    assert COOKIE not in "\n".join(lines)  # a session cookie is never written


@pytest.mark.parametrize(
    "path,unlogged",
    [
        ("/opinions", True),
        ("/opinions/", True),
        ("/opinions/track?x=1", True),
        ("/static/vendor/mermaid.min.js", True),
        ("/api/v1/opinions", True),
        ("/api/v1/opinions/follow", True),
        ("/api/v1/opinions/steps", True),
        ("/api/v1/opinionsx", False),
        ("/api/v1/cases", False),
        ("/opinionsx", False),
        ("/cases/opinions", False),
        ("/", False),
        ("", False),
    ],
)
def test_which_paths_are_left_out(path, unlogged):
    assert access_log.unlogged(path) is unlogged


def _request(port: int, method: str, path: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, source_address=(ADDRESS, 0))
    connection.request(method, path, headers={"User-Agent": AGENT})
    status = connection.getresponse().status
    connection.close()
    return status


def test_the_dev_server_log_leaves_out_the_opinion_box_and_client_addresses(
    app, world, caplog, monkeypatch
):
    from werkzeug.serving import make_server

    # Alembic's logging set-up (tests/test_migrations.py) disables loggers it does not name.
    monkeypatch.setattr(logging.getLogger("werkzeug"), "disabled", False)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    request = functools.partial(_request, server.server_port)
    try:
        with caplog.at_level(logging.INFO, logger="werkzeug"):
            assert request("GET", "/login") == 200
            assert request("GET", "/opinions/b1") == 200
            assert request("GET", "/static/opinions.css") == 200
            assert request("POST", "/opinions/track") == 400  # no CSRF token
            assert request("POST", "/api/v1/opinions/follow") == 415  # no JSON body
    finally:
        server.shutdown()
        thread.join(timeout=10)
    lines = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert any('"GET /login HTTP/1.1" 200' in line for line in lines), lines
    assert not any("/opinions" in line or "/static" in line for line in lines), lines
    assert not any(ADDRESS in line for line in lines), lines
