"""WCAG 2.1 AA over every main page, both languages, desktop and phone (issue 15).

axe-core (npm, vendored into tests/ui/vendor by ``make install``) is evaluated in the page
through the DevTools protocol, so the page's Content-Security-Policy stays as it is. A
serious or critical violation fails; the pages must also not overflow sideways.
"""

from __future__ import annotations

import re

import pytest

from tests.ui.conftest import AXE

pytestmark = pytest.mark.browser

RUN_AXE = """async () => {
  const result = await axe.run(document, {
    runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    resultTypes: ["violations"],
  });
  return result.violations
    .filter(v => v.impact === "serious" || v.impact === "critical")
    .map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))}));
}"""

PUBLIC = ["/login", "/opinions/", "/opinions/b1", "/opinions/track"]


def _audit(watched, path: str, lang: str, found: dict) -> None:
    page = watched.page
    sep = "&" if "?" in path else "?"
    page.goto(f"{watched.base}{path}{sep}lang={lang}")
    page.wait_for_load_state("load")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    for v in page.evaluate(RUN_AXE):
        found.setdefault(f"{path} [{lang}] {v['id']} ({v['impact']})", v["nodes"])
    if watched.overflow() > 0:
        found[f"{path} [{lang}] overflows sideways by {watched.overflow()} px"] = []


def _main_pages(watched) -> list[str]:
    page = watched.page
    page.goto(f"{watched.base}/?lang=en")
    paths = page.eval_on_selector_all("#site-nav a", "els => els.map(a => a.getAttribute('href'))")
    page.goto(f"{watched.base}/cases?lang=en")
    cases = page.eval_on_selector_all(
        "main a[href^='/cases/']", "els => els.map(a => a.getAttribute('href'))"
    )
    shown = [c for c in dict.fromkeys(cases) if re.fullmatch(r"/cases/\d+", c)][:3]
    # One page of each kind the lists lead to: a meeting, a person's development progress.
    for listing, pattern in (
        ("/meetings/", r"/meetings/\d+"),
        ("/development/", r"/development/person/\d+"),
    ):
        page.goto(f"{watched.base}{listing}?lang=en")
        links = page.eval_on_selector_all("main a", "els => els.map(a => a.getAttribute('href'))")
        shown += [link for link in links if link and re.fullmatch(pattern, link)][:1]
    b1 = watched.site.query(lambda: _org_id("b1"))
    more = [
        f"/meetings/compliance/{b1}",
        "/meetings/mine",
        "/opinions/b1/book",
        "/supervision/rectification",
        "/admin/people",
        "/admin/settings",
        "/account/",
    ]
    return list(dict.fromkeys([p for p in paths if p and p.startswith("/")] + shown + more))


def _org_id(code: str) -> int:
    from sqlalchemy import select

    from pbflow.extensions import db
    from pbflow.models import Organization

    return db.session.execute(select(Organization.id).where(Organization.code == code)).scalar_one()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_main_pages_pass_wcag_aa(watched, width, lang):
    if not AXE.exists():
        pytest.fail("tests/ui/vendor/axe.min.js is missing: run `make install`")
    found: dict = {}
    for path in PUBLIC:
        _audit(watched, path, lang, found)
    watched.login("wang.shuji")
    for path in _main_pages(watched):
        _audit(watched, path, lang, found)
    watched.login("han.shenji")
    for path in ("/audit/", "/audit/security/"):
        _audit(watched, path, lang, found)
    watched.check()
    assert not found, "\n".join(f"{k}: {v}" for k, v in found.items())
