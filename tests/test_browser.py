"""Smoke test in a real browser: log in, open a case, open its full state diagram and see it
drawn by the locally served mermaid library (loaded only then), the current state highlighted.

Needs Debian's chromium at /usr/bin/chromium (never downloads a browser) and the front-end
libraries installed by ``make install`` (npm ci + copy into pbflow/static/vendor/).
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.conftest import PASSWORD
from tests.pages_helpers import funding_case, walk

CHROMIUM = Path("/usr/bin/chromium")
MERMAID = Path(__file__).resolve().parent.parent / "pbflow" / "static" / "vendor" / "mermaid.min.js"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium"),
]


@pytest.fixture
def live_server(app):
    """The app served by a real threaded server on 127.0.0.1 and a random port."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        pytest.skip("the browser test serves a file SQLite database")
    if not MERMAID.exists():
        pytest.fail("pbflow/static/vendor/mermaid.min.js is missing: run `make install`")
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture
def browser():
    playwright_sync = pytest.importorskip("playwright.sync_api")
    with playwright_sync.sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            yield chromium
        finally:
            chromium.close()


def test_case_page_draws_the_diagram_with_the_current_state(world, live_server, browser):
    case = funding_case(world)
    walk(case.id, world, ("submit", "branch_member"))
    page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    requests: list[str] = []
    page.on("request", lambda req: requests.append(req.url))

    page.goto(f"{live_server}/login?lang=en")
    page.fill("#username", "secretary")
    page.fill("#password", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(f"{live_server}/")
    assert page.locator(".inbox-item").count() == 1

    page.goto(f"{live_server}/cases/{case.id}?lang=en")
    # The progress line shows the current step; the 2.7 MB library is not loaded yet.
    assert "Branch secretary review" in page.locator(".pg-current").first.text_content()
    assert not [url for url in requests if url.endswith("mermaid.min.js")]
    page.click("details.diagram-full summary")
    page.wait_for_selector('pre.mermaid[data-rendered="1"] svg', timeout=20000)
    svg = page.locator("pre.mermaid svg")
    assert svg.get_attribute("data-current-state") == "secretary_review"
    # The current state's node carries the highlighting class from the diagram text.
    active = page.locator("pre.mermaid svg g.s_active")
    assert active.count() == 1
    assert "Branch secretary review" in (active.first.text_content() or "")
    assert page.locator("pre.mermaid svg g.s_default").count() >= 5
    # Every asset came from this server: no CDN.
    assert requests and all(url.startswith(live_server) for url in requests)
    assert errors == []


VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__violations.push({directive: e.violatedDirective, source: e.sourceFile || ""});
});
"""


def test_the_diagram_renders_under_the_content_security_policy(world, live_server, browser):
    """The policy allows no inline script and no inline style but the page's nonced style
    elements; the diagram still renders, with mermaid's own styles applied (issue 10)."""
    case = funding_case(world)
    walk(case.id, world, ("submit", "branch_member"))
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.add_init_script(VIOLATIONS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server}/login?lang=en")
    page.fill("#username", "secretary")
    page.fill("#password", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(f"{live_server}/")

    response = page.goto(f"{live_server}/cases/{case.id}?lang=en")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert response.headers["cache-control"] == "no-store"
    page.click("details.diagram-full summary")
    page.wait_for_selector('pre.mermaid[data-rendered="1"] svg', timeout=20000)
    # The highlight comes from mermaid's <style> element: it applies only with the nonce.
    fill = page.evaluate(
        "getComputedStyle(document.querySelector("
        "'pre.mermaid svg g.s_active rect, pre.mermaid svg g.s_active path')).fill"
    )
    assert fill == "rgb(233, 150, 122)"  # darksalmon, the current state's class
    # Nothing is refused by the policy (and so nothing lands in the console as an error).
    assert page.evaluate("window.__violations") == []
    assert errors == []


def test_print_buttons_work_without_inline_handlers(world, live_server, browser):
    """The opinion slip's print button is wired by pbflow.js (no onclick under the policy)."""
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.add_init_script(VIOLATIONS + "window.print = function () { window.__printed = true; };")
    page.goto(f"{live_server}/opinions/b1?lang=en")
    page.fill("[name='f.subject']", "食堂")
    page.fill("[name='f.text']", "食堂饭菜太贵了，请改进")
    page.select_option("[name='f.category']", "welfare")
    page.click("form.opinion-form button[type=submit]")
    page.wait_for_selector("button[data-print]")
    page.click("button[data-print]")
    assert page.evaluate("window.__printed") is True
    assert page.evaluate("window.__violations") == []
