"""The phone sweep in a real browser at 390 x 844, in both languages: no page scrolls sideways
(the page's own scrolling element no wider than the phone), a folded form or filter shows that
it opens, the small links a newcomer taps (home, pages, periods, downloads, state chips,
attendance) are at least 40 px tall, the check boxes in them drawn at 24 px, and every link or
button standing alone on the pages each role walks is at least 44 px tall; on a desktop the
top bar is one row."""

from __future__ import annotations

import re

import pytest

from tests.ui.conftest import PASSWORD, WIDTHS

pytestmark = pytest.mark.browser

SECTIONS = ("work", "development", "opinions", "rectification", "membership", "training")
PUBLIC = ["/login", "/opinions/", "/opinions/b1", "/opinions/track"]


def _committee_pages(b1: int) -> list[str]:
    return [
        "/",
        "/cases",
        "/cases/new",
        "/supervision/",
        *(f"/supervision/?section={s}" for s in SECTIONS),
        "/supervision/?section=notices",
        "/supervision/rectification",
        "/meetings/",
        f"/meetings/compliance/{b1}",
        f"/meetings/training/{b1}",
        "/development/",
        f"/development/org/{b1}",
        "/opinions/b1/book",
        "/assessment/",
        "/admin/orgs",
        "/admin/people",
        "/admin/users",
        "/admin/settings",
        "/admin/calendar",
        "/account/",
    ]


@pytest.fixture
def phone(demo_site, chromium):
    context = chromium.new_context(viewport=WIDTHS["phone"], locale="zh-CN")
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def _login(page, base: str, username: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url(f"{base}/")


# On a phone a table's cell shows its column's name before its value (``data-label``), in a
# box of fixed width: the labels whose longest part that cannot wrap (a word; in Chinese a
# character) reaches past the start of the value on the label's first line, as drawn (the
# total row's bold "Probationary" ran into its figure).
LABELS_INTO_VALUES = """() => {
  const probe = document.createElement('span');
  probe.style.cssText = 'position:absolute;visibility:hidden;width:min-content';
  document.body.appendChild(probe);
  const found = new Set();
  for (const td of document.querySelectorAll('td[data-label]')) {
    const label = getComputedStyle(td, '::before');
    if (!td.getClientRects().length || label.content === 'none' || !parseFloat(label.width)) {
      continue;
    }
    const cell = getComputedStyle(td), box = td.getBoundingClientRect();
    const left = box.left + parseFloat(cell.borderLeftWidth) + parseFloat(cell.paddingLeft)
      + parseFloat(label.marginLeft);
    const top = box.top + parseFloat(cell.borderTopWidth) + parseFloat(cell.paddingTop);
    probe.style.font = label.font;
    probe.textContent = td.dataset.label;  // at its narrowest
    const right = left + probe.getBoundingClientRect().width;
    const range = document.createRange();
    range.selectNodeContents(td);
    const beside = [...range.getClientRects()].filter(
      r => r.width > 0 && r.top < top + parseFloat(label.fontSize));
    if (beside.length && right > beside[0].left + 0.5) found.add(td.dataset.label);
  }
  probe.remove();
  return [...found];
}"""


# Chinese text with English punctuation: a colon or an opening bracket after a Chinese
# character, a colon or a closing bracket before one ("下载: CSV", "已召开 (应开 1 次"):
# the pages take the language's own from definitions.labelled/aside and the templates'
# ``colon`` and ``bracketed`` filters.
ENGLISH_PUNCTUATION = r"[\u4e00-\u9fff] ?[:(]|[:)] ?[\u4e00-\u9fff]"


def _width(
    page, base: str, path: str, lang: str, labels: dict | None = None, marks: dict | None = None
) -> int:
    sep = "&" if "?" in path else "?"
    page.goto(f"{base}{path}{sep}lang={lang}")
    page.wait_for_load_state("load")
    if labels is not None and (too_wide := page.evaluate(LABELS_INTO_VALUES)):
        labels[path] = too_wide
    if marks is not None and lang == "zh":
        text = page.evaluate("document.body.innerText")
        if found := sorted({m.group(0) for m in re.finditer(ENGLISH_PUNCTUATION, text)}):
            marks[path] = found
    return page.evaluate("document.scrollingElement.scrollWidth")


def _b1(demo_site) -> int:
    from sqlalchemy import select

    from pbflow.extensions import db
    from pbflow.models import Organization

    return demo_site.query(
        lambda: db.session.execute(
            select(Organization.id).where(Organization.code == "b1")
        ).scalar_one()
    )


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_no_page_scrolls_sideways_on_a_phone(phone, demo_site, lang):
    """Nor does a table cell's label run into its value; nor does Chinese text take English
    punctuation."""
    base, wide, labels, marks = demo_site.base, {}, {}, {}
    for path in PUBLIC:
        wide[path] = _width(phone, base, path, lang, labels, marks)
    _login(phone, base, "wang.shuji")
    for path in _committee_pages(_b1(demo_site)):
        wide[path] = _width(phone, base, path, lang, labels, marks)
    _login(phone, base, "chen.shuji")  # a branch secretary's own pages
    phone.goto(f"{base}/cases?lang={lang}")
    case = phone.eval_on_selector("main table a[href^='/cases/']", "a => a.getAttribute('href')")
    for path in ("/", "/cases", case, "/meetings/", "/supervision/", "/development/"):
        wide[f"chen.shuji {path}"] = _width(phone, base, path, lang, labels, marks)
    _login(phone, base, "han.shenji")
    for path in ("/audit/", "/audit/security/"):
        wide[path] = _width(phone, base, path, lang, labels, marks)
    assert {p: w for p, w in wide.items() if w > 390} == {}
    assert labels == {}
    assert marks == {}


def _marker(page, selector: str) -> str:
    return page.eval_on_selector(selector, "e => getComputedStyle(e, '::before').content")


def test_folded_forms_show_that_they_open(phone, demo_site):
    """A summary laid out as flex loses the browser's triangle: pbflow.css draws one, turned
    down when the details are open."""
    base = demo_site.base
    _login(phone, base, "chen.shuji")
    phone.goto(f"{base}/cases?lang=zh")
    assert "▸" in _marker(phone, "details > summary")
    link = phone.eval_on_selector("main table a[href^='/cases/']", "a => a.getAttribute('href')")
    phone.goto(f"{base}{link}?lang=zh")
    summary = "details.action > summary, details.diagram-full > summary"
    assert "▸" in _marker(phone, summary)
    phone.click(summary)
    assert "▾" in _marker(phone, summary)


def test_small_links_are_tap_targets(phone, demo_site):
    base = demo_site.base
    # A check box or radio button in its label is drawn at 1.5rem (24 px), not the browser's
    # 13 px: the opinion box's "anonymous" box, a ballot's choices, the attendance.
    phone.goto(f"{base}/opinions/b1?lang=zh")
    assert phone.locator("#op-anonymous").bounding_box()["width"] >= 24
    _login(phone, base, "wang.shuji")
    heights = {}

    def measure(path: str, selector: str) -> None:
        phone.goto(f"{base}{path}")
        boxes = [e.bounding_box() for e in phone.locator(selector).all()]
        assert boxes, f"{selector} on {path}"
        heights[f"{path} {selector}"] = min(box["height"] for box in boxes if box)

    measure("/cases?lang=zh", ".brand")
    measure("/cases?lang=zh", ".count-chip")
    measure("/cases?lang=zh", ".exports a")
    measure("/supervision/?lang=zh", ".sv-period a")
    measure("/opinions/b1/book?lang=zh", ".period-form > a")
    # The book's figures keep readable columns (an organization's name was one character a
    # line, with ten columns squeezed beside it) and scroll inside the table's box, the
    # name's column staying in place.
    table = phone.locator("table.figures")
    name = phone.locator("table.figures tbody td:first-child").first
    box = name.bounding_box()
    assert box["width"] >= 100 and box["height"] < 60
    assert table.evaluate("t => t.scrollWidth > t.clientWidth")
    table.evaluate("t => { t.scrollLeft = 300; }")
    assert table.evaluate("t => t.scrollLeft") > 0
    assert abs(name.bounding_box()["x"] - box["x"]) < 1
    assert phone.evaluate("document.scrollingElement.scrollWidth") <= 390
    measure(f"/meetings/compliance/{_b1(demo_site)}?lang=zh", ".exports a, main p a[rel]")
    _login(phone, base, "chen.shuji")
    measure(f"/meetings/new?org={_b1(demo_site)}&lang=zh", "table.attendance label")
    box = phone.locator("table.attendance input[type=checkbox]").first.bounding_box()
    assert box["width"] >= 24
    _login(phone, base, "han.shenji")
    measure("/audit/?lang=zh", ".pager a")
    # The tracking slip is shown only in answer to a sent opinion, never at an address of
    # its own: the list of pages above could not reach its "Follow an opinion" (24 px).
    phone.context.clear_cookies()
    _send_opinion(phone, base, "zh")
    heights["slip: follow"] = phone.locator(".slip ~ p a").bounding_box()["height"]
    assert {k: h for k, h in heights.items() if h < 40} == {}
    assert heights["slip: follow"] >= 44


def test_attendance_is_a_line_per_member_and_a_reason_only_for_the_absent(phone, demo_site):
    # A branch secretary ticks who came: a member ticked is one line (name and box), and
    # only an unticked member shows the reason box, under the name.
    _login(phone, demo_site.base, "chen.shuji")
    phone.goto(f"{demo_site.base}/meetings/new?org={_b1(demo_site)}&lang=zh")
    rows = phone.locator("table.attendance tbody tr")
    assert rows.count() >= 3
    rows.nth(0).locator("input[type=checkbox]").check()
    ticked, unticked = rows.nth(0), rows.nth(1)
    assert ticked.locator("input[name^=reason_]").is_hidden()
    assert unticked.locator("input[name^=reason_]").is_visible()
    assert ticked.bounding_box()["height"] < 60 < unticked.bounding_box()["height"]
    name = ticked.locator("td").first.bounding_box()
    box = ticked.locator("input[type=checkbox]").bounding_box()
    assert abs(name["y"] - box["y"]) < 30  # the box beside the name, not under it
    ticked.locator("input[type=checkbox]").uncheck()  # changed their mind: the box is back
    assert ticked.locator("input[name^=reason_]").is_visible()
    assert phone.evaluate("document.scrollingElement.scrollWidth") <= 390


def _send_opinion(page, base: str, lang: str) -> str:
    """Send an opinion to b1 and return the tracking code on the slip it answers with."""
    page.goto(f"{base}/opinions/b1?lang={lang}")
    page.fill("#op-subject", "班车时间")
    page.fill("#op-text", "夜班下班后要等四十分钟班车。")
    page.select_option("#op-category", index=1)
    page.click("main form button[type=submit]")
    page.wait_for_load_state("load")
    return page.inner_text(".slip .code").strip()


# Every link, button and summary that stands alone (not a word inside a sentence, where it
# keeps the sentence's line, nor a name in a table's row) and is shorter than 44 px.
SMALL_TARGETS = """() => {
  const inSentence = el => {
    let block = el.parentElement;
    while (getComputedStyle(block).display.startsWith('inline')) block = block.parentElement;
    const rest = block.cloneNode(true);
    rest.querySelectorAll('a, button, select, input, label, summary').forEach(n => n.remove());
    return rest.textContent.replace(/[\\s·|,，、:：;；()（）\\/]/g, '') !== '';
  };
  const small = [];
  for (const el of document.querySelectorAll('a[href], button, summary')) {
    const r = el.getBoundingClientRect();
    if (!el.getClientRects().length || r.right <= 0 || el.closest('td, th')) continue;
    if (r.height < 44 && !inSentence(el)) {
      small.push(`${el.textContent.trim().slice(0, 30)}: ${Math.round(r.height)} px`);
    }
  }
  return small;
}"""


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_target_standing_alone_is_44_px_tall(phone, demo_site, lang):
    """The check above measured the selectors it named on the pages it named, and let 40 px
    pass: the slip's link (24 px) and a dozen others were in none of them. This one measures
    every link and button that stands alone, on the pages each role walks, the slip and the
    page that follows an opinion included."""
    base, small = demo_site.base, {}

    def check(name: str) -> None:
        found = phone.evaluate(SMALL_TARGETS)
        if found:
            small[name] = found

    def walk(path: str) -> None:
        sep = "&" if "?" in path else "?"
        phone.goto(f"{base}{path}{sep}lang={lang}")
        check(path)

    for path in PUBLIC:
        walk(path)
    code = _send_opinion(phone, base, lang)
    check("the slip")
    phone.goto(f"{base}/opinions/track?lang={lang}")
    phone.fill("#code", code)
    phone.click("main form button[type=submit]")
    phone.wait_for_load_state("load")
    check("the opinion followed")
    _login(phone, base, "wang.shuji")
    for path in _committee_pages(_b1(demo_site)):
        walk(path)
    _login(phone, base, "chen.shuji")
    phone.goto(f"{base}/cases?lang={lang}")
    case = phone.eval_on_selector("main table a[href^='/cases/']", "a => a.getAttribute('href')")
    for path in ("/", case, f"/meetings/new?org={_b1(demo_site)}", "/no-such-page"):
        walk(path)
    _login(phone, base, "han.shenji")
    for path in ("/audit/", "/audit/security/"):
        walk(path)
    assert small == {}


HEADINGS = """() => {
  const size = e => parseFloat(getComputedStyle(e).fontSize);
  const h1 = [...document.querySelectorAll('main h1')].map(size);
  const h2 = [...document.querySelectorAll('main h2')].map(size);
  return {h1: h1.length ? Math.min(...h1) : null, h2: h2.length ? Math.max(...h2) : null};
}"""


@pytest.mark.parametrize("width", list(WIDTHS))
def test_a_page_title_is_larger_than_its_section_titles(demo_site, chromium, width):
    """The browser's h2 (1.5em, 24 px) outsized a case's title (1.4rem) and, on a phone,
    every page title (1.3rem): "您现在可以办理" read as the page's title, not the case's."""
    context = chromium.new_context(viewport=WIDTHS[width], locale="zh-CN")
    page = context.new_page()
    try:
        base, inverted = demo_site.base, {}
        _login(page, base, "chen.shuji")
        page.goto(f"{base}/cases?lang=zh")
        case = page.eval_on_selector("main table a[href^='/cases/']", "a => a.getAttribute('href')")
        for path in ("/", case, "/account/", "/meetings/", "/supervision/", "/opinions/b1/book"):
            page.goto(f"{base}{path}?lang=zh")
            sizes = page.evaluate(HEADINGS)
            if sizes["h1"] and sizes["h2"] and sizes["h1"] <= sizes["h2"]:
                inverted[path] = sizes
        assert inverted == {}
    finally:
        context.close()


TOP_BAR = """() => {
  const shown = [...document.querySelectorAll('.topbar a, .topbar button')]
    .filter(e => e.getClientRects().length).map(e => e.getBoundingClientRect());
  return {height: document.querySelector('.topbar').getBoundingClientRect().height,
          rows: [...new Set(shown.map(r => Math.round(r.top + r.height / 2)))].length};
}"""


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_top_bar_is_one_row_on_a_desktop(demo_site, chromium, lang):
    """At 1280 px the English bar of a committee secretary (the richest menu) wrapped to two
    rows (116 px): every link and button now sits on one row, the bar 60 px tall; the name
    beside "Log out" leads to the account (the menu's "My account" on a phone)."""
    context = chromium.new_context(viewport=WIDTHS["desktop"], locale="zh-CN")
    page = context.new_page()
    try:
        base = demo_site.base
        _login(page, base, "wang.shuji")
        for path in ("/", "/account/", "/admin/settings"):
            page.goto(f"{base}{path}?lang={lang}")
            bar = page.evaluate(TOP_BAR)
            assert bar == {"height": 60, "rows": 1}, (path, bar)
        account = page.locator(".who a.account")
        assert account.is_visible() and account.get_attribute("href") == "/account/"
        assert not page.locator(".topbar nav a.account-menu").is_visible()
    finally:
        context.close()


def test_the_account_stays_in_the_phone_menu(phone, demo_site):
    """On a phone the name is hidden beside "Log out": the account is in the folded menu."""
    _login(phone, demo_site.base, "wang.shuji")
    phone.goto(f"{demo_site.base}/?lang=en")
    assert not phone.locator(".who a.account").is_visible()
    phone.click(".menu-toggle")
    item = phone.locator(".topbar nav a.account-menu")
    assert item.is_visible() and item.inner_text() == "My account"
    assert item.bounding_box()["height"] >= 44
