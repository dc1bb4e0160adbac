"""The supervision dashboard costs the same statements and stays the same size when the data
grows tenfold (cases, people, meetings and branches alike): it shows sums, one page of the
branches that missed most and the first organizations of each table, while its downloads
keep every row (streamed, with the same statements however many rows they hold)."""

from __future__ import annotations

import csv
import io
import re

import pytest
from sqlalchemy import event, func, select

from pbflow.extensions import db
from pbflow.models import Organization, ProcessInstance
from pbflow.procedures.supervision.dashboard import BRANCHES_PER_PAGE, SECTIONS
from pbflow.services import seed
from tests.conftest import PASSWORD

PAGES = [
    ("committee_a", "/supervision/?period=year"),
    ("committee_a", "/supervision/?period=year&page=2"),
    ("committee_a", "/supervision/?period=quarter&stuck_days=10"),
    ("committee_a", "/supervision/?org={general}&period=year"),
    ("committee_a", "/supervision/?org={branch}&period=year"),
    ("seed1.b1.sec", "/supervision/?period=year"),
    *(("committee_a", f"/supervision/?period=year&section={s}") for s in SECTIONS[1:]),
    ("seed1.b1.sec", "/supervision/?period=year&section=work"),
]
EXPORTS = ("compliance", "overdue-work", "membership", "opinions", "notices", "training")


def _client(app, user):
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    password = seed.PASSWORD if user.startswith("seed") else PASSWORD
    client.post("/login", data={"username": user, "password": password, "csrf_token": token})
    return client


def _counted(client, url):
    seen: list[str] = []

    def counter(_conn, _cursor, statement, *_args):
        seen.append(" ".join(statement.split())[:120])

    client.get(url)  # caches warmed as in a running server
    event.listen(db.engine, "before_cursor_execute", counter)
    try:
        response = client.get(url)
    finally:
        event.remove(db.engine, "before_cursor_execute", counter)
    assert response.status_code == 200, (url, response.status_code)
    return seen, response


def _measure(app, world):
    args = {
        "general": world.general_branch.id,
        "branch": db.session.execute(
            select(Organization.id).where(Organization.code == "seed1-b1")
        ).scalar_one(),
    }
    clients, out = {}, {}
    for user, url in PAGES:
        client = clients.setdefault(user, _client(app, user))
        statements, response = _counted(client, url.format(**args))
        out[(user, url)] = (statements, len(response.get_data()))
    committee = clients["committee_a"]
    for table in EXPORTS:
        statements, response = _counted(committee, f"/supervision/export/{table}.csv?period=year")
        rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
        out[("export", table)] = (statements, len(rows))
    return out


@pytest.mark.slow
def test_the_dashboard_costs_the_same_when_the_data_grows_tenfold(app, world, clock):
    seed.seed(800, 1)  # more branches than two pages of them, every table full
    small = _measure(app, world)
    branches = db.session.execute(
        select(func.count()).select_from(Organization).where(Organization.kind == "branch")
    ).scalar()
    assert branches > 2 * BRANCHES_PER_PAGE
    seed.seed(7200, 2)  # ten times the cases, and more branches, people and meetings
    assert db.session.execute(select(func.count(ProcessInstance.id))).scalar() >= 8000
    large = _measure(app, world)
    for key, (statements, size) in small.items():
        grown_statements, grown = large[key]
        more = [s for s in grown_statements if s not in statements]
        assert len(grown_statements) <= len(statements), (key, more)
        if key[0] == "export":
            # Every row, whatever their number: the downloads grow with the data.
            assert grown > size, (key, size, grown)
        else:
            # The same rows shown: only names and numbers grow longer.
            assert grown <= size * 1.05 + 1000, (key, size, grown)
    # The first page of the committee shows one page of branches, the next one the rest.
    committee = _client(app, "committee_a")
    html = committee.get("/supervision/?period=year").get_data(as_text=True)
    table = html[html.index('id="branches"') : html.index("</table>", html.index('id="branches"'))]
    assert table.count('<tr class="is-overdue">') + table.count("<tr>") - 1 == BRANCHES_PER_PAGE
    assert 'rel="next"' in html and "page=2#branches" in html
