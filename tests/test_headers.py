"""Security headers on every route (issue 10).

Every response carries a Content-Security-Policy that allows scripts and styles only from the
app itself (style elements also with the response's nonce: mermaid's diagram styles), and
every page the app generates is ``Cache-Control: no-store``, so a shared computer keeps no
copy of a case, a file or an opinion's tracking code. No page has an inline script, an
inline event handler or an inline style left that the policy would refuse.
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import csrf_token
from tests.pages_helpers import text as body
from tests.site import Site, build_site


@pytest.fixture
def site(app, world) -> Site:
    return build_site(app, world)


def directives(policy: str) -> dict[str, list[str]]:
    out = {}
    for part in policy.split(";"):
        name, *values = part.split()
        out[name] = values
    return out


def check_policy(response, where: str) -> str:
    """The policy's shape; returns its nonce."""
    policy = response.headers.get("Content-Security-Policy", "")
    d = directives(policy)
    assert d["default-src"] == ["'self'"], where
    assert d["script-src"] == ["'self'"], where
    assert d["style-src"][0] == "'self'" and len(d["style-src"]) == 2, where
    nonce = d["style-src"][1]
    assert re.fullmatch(r"'nonce-[A-Za-z0-9_-]{20,}'", nonce), where
    assert d["object-src"] == ["'none'"] and d["frame-ancestors"] == ["'none'"], where
    assert d["base-uri"] == ["'none'"] and d["form-action"] == ["'self'"], where
    # The nonce is random letters: it may spell "http" (a CI run once failed on one).
    sources = policy.replace(nonce, "'nonce'")
    assert "unsafe" not in sources and "*" not in sources and "http" not in sources, where
    return nonce[len("'nonce-") : -1]


@pytest.mark.slow
def test_every_route_sends_the_policy_and_no_store(site):
    """Every rule and method, as a visitor and as several roles, answered or refused."""
    checked = 0
    for route in site.routes:
        args = route.samples[0] if route.samples else {}
        path = route.rule
        for arg in route.arguments:
            value = args.get(arg) or site.pools.get(arg, ["1"])[0]
            path = re.sub(r"<[^>]*\b" + arg + ">", value, path)
        for role in ("anonymous", "admin", "secretary", "member"):
            if route.method == "GET":
                response = site.send(role, "GET", path)
            else:
                token = site.tokens[role]
                response = site.send(
                    role, "POST", path, data={"csrf_token": token}, headers={"X-CSRFToken": token}
                )
            where = f"{route} as {role}: {response.status_code}"
            check_policy(response, where)
            assert response.headers["Cache-Control"] == "no-store", where
            assert response.headers["X-Content-Type-Options"] == "nosniff", where
            assert response.headers["X-Frame-Options"] == "DENY", where
            if route.endpoint == "auth.logout":
                site.login(role)
            checked += 1
    assert checked > 250
    # Static files may be cached (they carry no one's data), and carry the policy too.
    static = site.send("anonymous", "GET", "/static/pbflow.js")
    assert static.status_code == 200 and "no-store" not in static.headers.get("Cache-Control", "")
    check_policy(static, "static")


INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.I)
HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.I)
STYLE_ATTRIBUTE = re.compile(r"<[^>]*\sstyle\s*=", re.I)
STYLE_ELEMENT = re.compile(r"<style\b", re.I)


@pytest.mark.slow
def test_no_page_has_inline_script_handlers_or_styles(site):
    """What the policy would refuse is gone from the templates: every page, every role."""
    assert len(site.pages) > 100
    for url, html in site.pages:
        assert not INLINE_SCRIPT.search(html), url
        assert not HANDLER.search(html), url
        assert not STYLE_ATTRIBUTE.search(html), url
        assert not STYLE_ELEMENT.search(html), url


def _get(app, client, url: str, **kw):
    with app.app_context():  # a request of its own: a fresh nonce, as in production
        return client.open(url, **kw)


def test_the_scripts_tag_hands_over_this_responses_nonce(app, world, client, auth):
    auth.login("secretary")
    response = _get(app, client, "/inbox")
    nonce = check_policy(response, "inbox")
    assert f'src="/static/pbflow.js" nonce="{nonce}"' in body(response)
    again = check_policy(_get(app, client, "/inbox"), "inbox")
    assert again != nonce  # a fresh nonce for every response


def test_the_opinion_box_pages_with_a_tracking_code_are_not_stored(app, world, client):
    page = _get(app, client, "/opinions/b1")
    token = csrf_token(body(page))
    slip = _get(
        app,
        client,
        "/opinions/b1",
        method="POST",
        data={
            "csrf_token": token,
            "f.subject": "食堂",
            "f.text": "食堂饭菜太贵了，请改进",
            "f.category": "welfare",
            "f.anonymous": "1",
        },
    )
    assert slip.status_code == 200 and "data-print" in body(slip)
    code = re.search(r"[A-Z0-9]{4}(?:-[A-Z0-9]{4}){3}", body(slip)).group(0)
    follow = _get(
        app, client, "/opinions/track", method="POST", data={"csrf_token": token, "code": code}
    )
    assert follow.status_code == 200 and code in body(follow)
    for response in (slip, follow):
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        check_policy(response, "opinion box")
