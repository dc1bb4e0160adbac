"""The main pages cost the same statements and stay the same size when the data grows
tenfold: lists count at most COUNT_LIMIT, show one page, and overview pages aggregate."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import event, text

from pbflow.extensions import db
from pbflow.procedures.member_development.services import PREVIEW_PER_STAGE
from pbflow.services import seed
from tests.conftest import PASSWORD

# (login, page): the lists and overview pages of issue 16, as a committee member, an
# administrator, the auditor and a seeded branch secretary.
PAGES = [
    ("committee_a", "/cases"),
    ("committee_a", "/cases?status=all"),
    ("committee_a", "/cases?status=all&page=2"),
    ("committee_a", "/cases?status=all&workflow=opinion"),
    ("committee_a", "/opinions/coal/book?from=2024-01-01&to=2026-12-31"),
    ("committee_a", "/meetings/"),
    ("committee_a", "/development/org/{committee}"),
    ("admin", "/admin/people"),
    ("auditor", "/audit/"),
    ("auditor", "/audit/?action=transition"),
    ("seed1.b1.sec", "/cases?status=all"),
]


def _measure(app) -> dict[tuple[str, str], tuple[int, int, list[str]]]:
    """Per page: its statements, its size (without the rows that grow with the tree) and
    the statements' texts."""
    out = {}
    count = [0]
    texts: list[str] = []

    def counter(_conn, _cursor, statement, *_args):
        count[0] += 1
        texts.append(statement)

    committee = db.session.execute(text("SELECT id FROM organization WHERE code = 'coal'")).scalar()
    for user, url in PAGES:
        url = url.format(committee=committee)
        client = app.test_client()
        page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
        password = seed.PASSWORD if user.startswith("seed") else PASSWORD
        client.post("/login", data={"username": user, "password": password, "csrf_token": token})
        client.get(url)  # caches warmed as in a running server
        event.listen(db.engine, "before_cursor_execute", counter)
        try:
            count[0] = 0
            texts.clear()
            response = client.get(url)
        finally:
            event.remove(db.engine, "before_cursor_execute", counter)
        assert response.status_code == 200, (user, url, response.status_code)
        html = response.get_data(as_text=True)
        # The opinion book's figures have a row per organization: they grow with the tree
        # (each seed adds branches), not with the opinions; the entries are what is paged.
        html = re.sub(r'<table class="figures">.*?</table>', "", html, flags=re.S)
        # Likewise member development's table across the branches (a row per branch); its
        # stages list at most PREVIEW_PER_STAGE cases each, counted below.
        html = re.sub(r'<section class="card" id="branches">.*?</section>', "", html, flags=re.S)
        if "/development/" in url:
            stages = html.count('class="card stage"')
            assert html.count("pipeline-row") <= stages * PREVIEW_PER_STAGE
            html = re.sub(r"<tbody>.*?</tbody>", "", html, flags=re.S)
        out[(user, url)] = (count[0], len(html.encode()), list(texts))
    return out


@pytest.mark.slow
def test_pages_cost_the_same_when_the_data_grows_tenfold(app, world, clock):
    seed.seed(200, 1)  # a full page of every list
    small = _measure(app)
    seed.seed(1800, 2)
    large = _measure(app)
    for key, (statements, size, _texts) in small.items():
        grown_statements, grown_size, _grown_texts = large[key]
        assert grown_statements <= statements, (key, statements, grown_statements)
        # One page of rows in both; the per-state chips and the figures grow with the
        # states and organizations there are, not with the cases.
        assert grown_size <= size * 1.6 + 4000, (key, size, grown_size)


def test_on_postgresql_no_statement_grows_with_the_tree(app, world, clock):
    """A reader's organizations, a page's cases and the chips' cases are one array parameter
    on PostgreSQL (``fastsql.among``), not an IN list as long as the tree: with more than 50
    parameters psycopg parses the statement's text again at every execution, SQLAlchemy
    renders the list anew, and the server plans a text it has not seen. So no statement has
    more than 50 parameters, and the lists send the very same statements when the committee
    has twice the branches (member development's has a walk per stage that has cases: its
    text follows the stages found, at most five)."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no arrays: its IN lists follow the tree")
    seed.seed(200, 1)
    small = _measure(app)
    seed.seed(200, 2)  # another fifty branches
    large = _measure(app)
    for key, (_count, _size, texts) in small.items():
        grown = large[key][2]
        assert all(t.count("%(") + t.count("%s") <= 50 for t in texts + grown), key
        if "/development/" not in key[1]:
            assert grown == texts, key
