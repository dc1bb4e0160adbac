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

PUBLIC = ["/login", "/opinions/", "/opinions/b1"]


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
    return list(dict.fromkeys([p for p in paths if p and p.startswith("/")] + shown))


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
    _audit(watched, "/audit/", lang, found)
    watched.check()
    assert not found, "\n".join(f"{k}: {v}" for k, v in found.items())
