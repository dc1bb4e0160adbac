"""The dashboard and the meetings calendar in a real browser, one session for both: the charts
drawn by the locally served Chart.js from their data attributes without an error, every
asset from this server, a chart's table one click away, and at a phone's width (390 px) the
calendar grid fitting the screen (one screen for a year) with nothing wider than the page."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD
from tests.supervision import helpers as h
from tests.test_browser import CHROMIUM, browser, live_server  # noqa: F401 - fixtures

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium"),
]

WIDER_THAN_PAGE = "document.documentElement.scrollWidth > document.documentElement.clientWidth"


def test_dashboard_charts_and_the_calendar_on_a_desk_and_a_phone(
    world,
    clock,
    live_server,  # noqa: F811 - the fixture imported above
    browser,  # noqa: F811
):
    h.set_up_on(world.branch, "2025-06-01T00:00:00")
    h.hold(clock, world["secretary"], world.branch, "theme_day", "2026-01-20")
    h.hold(clock, world["secretary"], world.branch, "general_meeting", "2026-02-11")
    clock.set("2026-03-10T02:00:00")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    failed: list[str] = []
    page.on(
        "response",
        lambda r: failed.append(r.url) if r.status >= 400 and "favicon" not in r.url else None,
    )
    requests: list[str] = []
    page.on("request", lambda req: requests.append(req.url))
    page.goto(f"{live_server}/login?lang=en")
    page.fill("#username", "committee_a")
    page.fill("#password", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(f"{live_server}/")

    page.goto(f"{live_server}/supervision/?period=year&on=2026-01-01")
    # A section at a time: its tab leads to the opinion box's, which keeps the period.
    page.locator("nav.sv-tabs a", has_text="Opinion box").click()
    page.wait_for_selector('canvas[data-chart][data-rendered="1"]', timeout=20000)
    assert "section=opinions" in page.url and "period=year" in page.url
    table = page.locator("#opinions details.chart-table table")
    assert not table.is_visible()
    page.locator("#opinions details.chart-table summary").click()
    assert table.is_visible()
    page.locator("nav.sv-tabs a", has_text="Membership").click()
    page.wait_for_selector('canvas[data-chart][data-rendered="1"]', timeout=20000)
    charts = page.locator("canvas[data-chart]")
    assert charts.count() >= 4
    assert page.locator('canvas[data-rendered="1"]').count() == charts.count()
    page.locator("nav.sv-tabs a", has_text="Overview").click()
    page.wait_for_selector("#grid-obligations")
    # Over several branches the committee sees sums (per obligation and month, and the
    # branches that missed most first); the full grid is on each branch's own dashboard.
    assert page.locator("#grid-obligations td.cg-missing").count() >= 1
    page.locator("#branches tbody tr.is-overdue th a").first.click()
    page.wait_for_selector("#grid-branches")
    assert "period=year" in page.url and "org=" in page.url
    assert page.locator("#grid-branches td.cg-missing").count() >= 1

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server}/meetings/compliance/{world.branch.id}?year=2026")
    grid = page.locator("#calendar table.cg")
    assert grid.bounding_box()["width"] <= 390
    assert page.evaluate(WIDER_THAN_PAGE) is False
    # The symbols stay visible on the phone; the counts give way to them.
    assert page.locator("td.cg-ok .cg-sym").first.is_visible()
    for section in ("", "?section=development", "?section=membership"):
        page.goto(f"{live_server}/supervision/{section}")
        if section:
            page.wait_for_selector('canvas[data-rendered="1"]', timeout=20000)
        assert page.evaluate(WIDER_THAN_PAGE) is False, section
    assert requests and all(url.startswith(live_server) for url in requests)
    assert errors == [] and failed == []
