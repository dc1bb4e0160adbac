"""The demo site served to Debian's chromium, for the accessibility check and the journeys.

One SQLite demo database for the whole session (the demo is loaded once: it is what a new
user sees after ``make run``), served by a threaded server on 127.0.0.1. These tests check
pages, not the database: they serve SQLite whether or not PBFLOW_TEST_DATABASE_URL is set
(they were once skipped when it was, which left them out of every CI run).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
HERE = Path(__file__).resolve().parent
AXE = HERE / "vendor" / "axe.min.js"
SHOTS = HERE / "screenshots"
PASSWORD = "pbflow-demo"
WIDTHS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@dataclass
class Site:
    base: str
    app: Any

    def query(self, fn):
        """Run ``fn()`` in the served app's context (to look up demo ids)."""
        with self.app.app_context():
            return fn()


@pytest.fixture(scope="session")
def demo_site(tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.skip("needs /usr/bin/chromium")
    from werkzeug.serving import make_server

    from pbflow import create_app

    folder = tmp_path_factory.mktemp("ui-site")
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "ui-test",
            "INSTANCE_PATH": folder,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'pbflow.sqlite3'}",
            "PBFLOW_UPLOAD_DIR": str(folder / "uploads"),
        }
    )
    with app.app_context():
        from pbflow import demo
        from pbflow.services import setup

        setup.upgrade_database()
        setup.sync_workflows()
        demo.load_if_empty()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Site(f"http://127.0.0.1:{server.server_port}", app)
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def chromium():
    """One browser per module: Playwright's sync API allows one driver at a time, and
    tests/test_browser.py starts its own."""
    playwright_sync = pytest.importorskip("playwright.sync_api")
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(
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
            yield browser
        finally:
            browser.close()


class Watched:
    """A page whose console errors, outside requests and failed loads are collected."""

    def __init__(self, page, base: str, width: str = "desktop", site: Any = None):
        self.page, self.base, self.width, self.site = page, base, width, site
        self.errors: list[str] = []
        self.outside: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on(
            "console",
            lambda msg: (
                self.errors.append(f"console: {msg.text} ({page.url})")
                if msg.type == "error"
                else None
            ),
        )
        page.on(
            "request",
            lambda req: (
                None
                if req.url.startswith((base, "data:", "blob:"))
                else self.outside.append(req.url)
            ),
        )

    def login(self, username: str) -> None:
        page = self.page
        page.context.clear_cookies()
        page.goto(f"{self.base}/login")
        page.fill("#username", username)
        page.fill("#password", PASSWORD)
        page.click("main form button[type=submit]")
        page.wait_for_url(f"{self.base}/")

    def overflow(self) -> int:
        """How far the page is wider than the window (0: no horizontal overflow)."""
        return self.page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )

    def shot(self, name: str) -> None:
        SHOTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}-{self.width}.png"), full_page=True)

    def go(self, path: str) -> None:
        self.page.goto(f"{self.base}{path}")
        self.fits()

    def fits(self) -> None:
        """The page does not overflow sideways (nor has the browser complained so far)."""
        self.page.wait_for_load_state("load")
        assert self.overflow() <= 0, f"{self.page.url} overflows by {self.overflow()} px"
        self.check()

    def check(self) -> None:
        assert self.errors == [], self.errors
        assert self.outside == [], self.outside


@pytest.fixture(params=list(WIDTHS))
def width(request):
    return request.param


@pytest.fixture
def watched(demo_site, chromium, width):
    context = chromium.new_context(viewport=WIDTHS[width], locale="en-US")
    page = context.new_page()
    try:
        yield Watched(page, demo_site.base, width, demo_site)
    finally:
        context.close()
