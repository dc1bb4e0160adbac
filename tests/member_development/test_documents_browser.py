"""In a real browser: the development record's print view (on screen, and as the printer sees
it: no top bar, no buttons) and its PDF, fetched with the browser's own session.

Needs Debian's chromium at /usr/bin/chromium (never downloads a browser)."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from tests.conftest import PASSWORD
from tests.member_development.test_member_development import Walk
from tests.test_browser import CHROMIUM, browser, live_server  # noqa: F401 (fixtures)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium"),
]


def test_the_record_prints_from_the_browser_and_its_pdf_opens(
    world,
    clock,
    live_server,  # noqa: F811 - the fixture imported above
    browser,  # noqa: F811
    tmp_path,
):
    walk = Walk(world, clock)
    walk.apply()
    clock.set("2026-03-10T02:00:00")
    walk.step("record_talk", "secretary", {"talk_date": "2026-03-10", "talk_notes": "动机端正"})
    pid = walk.person.id

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server}/login?lang=zh")
    page.fill("#username", "applicant")  # the person prints their own record
    page.fill("#password", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(f"{live_server}/")

    page.goto(f"{live_server}/development/person/{pid}/record?lang=zh")
    assert page.locator("article.document h1").inner_text() == "发展党员全程纪实"
    assert "动机端正" in page.locator("article.document").inner_text()
    page.screenshot(path=str(tmp_path / "record-1280.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(tmp_path / "record-390.png"), full_page=True)
    page.emulate_media(media="print")
    assert not page.locator(".topbar").is_visible()
    assert not page.locator(".print-actions").is_visible()
    assert page.locator("article.document").is_visible()

    pdf_link = page.locator(".print-actions a", has_text="纪实（PDF）")
    response = page.context.request.get(live_server + pdf_link.get_attribute("href"))
    assert response.status == 200 and response.headers["content-type"] == "application/pdf"
    body = response.body()
    assert body.startswith(b"%PDF")
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(body)).pages)
    assert "发展党员全程纪实" in text and "2026-03-10" in text
    assert errors == []
