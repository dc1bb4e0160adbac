"""Whoever may not open a page is refused as such, whatever its query says.

A page checks who asks before it reads what they typed: a member who may not see the
supervision dashboard gets 403 for it, not a 400 about its period, and a visitor who is not
logged in is sent to the login page. Otherwise a refusal about the input would tell someone
with no rights there what the page takes (and an auditor testing the rights would see a
different answer for the same forbidden page). Every GET route of the small site
(tests/site.py), as each role that is refused it, with every query parameter its pages send
and the common ones, each given a value no page would send.

A refusal is a 401, a 403 or the login page; for a visitor and a plain member, who open
none of the office's pages, a 404 too (the answer of a page about something they may not
see). The JSON API is left out: it checks the request's shape against its published schema
(422) before the service checks the rights, as OpenAPI services do; the login still comes
first (401), and the shape it checks is the one /api/v1/openapi.json publishes.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.site import ROLES, Site, build_site

# Query parameters many pages read, besides those the crawled pages were seen to send.
COMMON = (
    "from",
    "to",
    "page",
    "after",
    "before",
    "org",
    "year",
    "month",
    "quarter",
    "period",
    "stuck_days",
    "status",
    "workflow",
    "person",
    "actor",
    "action",
    "case",
    "q",
    "format",
    "lang",
)
GARBAGE = "☃-not-a-value"
REFUSALS = {302, 401, 403}
STRANGERS = {"anonymous", "member"}  # for whom a 404 is a refusal too


@pytest.fixture
def site(app, world) -> Site:
    return build_site(app, world)


def _path(site: Site, route) -> str:
    path = route.rule
    sample = route.samples[0] if route.samples else {}
    for arg, kind in route.arguments.items():
        value = sample.get(arg) or (site.pools.get(arg) or ["1"])[0]
        converter = "int:" if kind == "int" else ""
        path = path.replace(f"<{converter}{arg}>", quote(str(value), safe=""))
    return path


@pytest.mark.slow
def test_a_refusal_for_rights_comes_before_any_complaint_about_the_input(site):
    checked, wrong = 0, []
    for route in site.routes:
        if route.method != "GET" or route.endpoint == "static" or route.rule.startswith("/api/"):
            continue
        path = _path(site, route)
        names = sorted({*COMMON, *route.query} - {"lang"})
        noisy = dict.fromkeys(names, GARBAGE)
        for role in ROLES:
            plain = site.send(role, "GET", path)
            refusals = REFUSALS | ({404} if role in STRANGERS else set())
            if plain.status_code not in refusals or (
                plain.status_code == 302 and "/login" not in plain.headers.get("Location", "")
            ):
                continue
            checked += 1
            answer = site.send(role, "GET", path, query_string=noisy)
            if answer.status_code != plain.status_code:
                wrong.append(f"{path} as {role}: {plain.status_code} -> {answer.status_code}")
    assert checked > 50
    assert not wrong, "\n".join(wrong)
