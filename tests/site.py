"""A small organization with something in every corner, and a logged-in client per role: the
ground on which the fuzz (tests/test_bad_input.py) and the header checks (tests/test_headers.py)
walk every route.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from werkzeug.routing import AnyConverter

from pbflow.engine import runtime
from pbflow.extensions import db
from pbflow.models import ProcessInstance
from pbflow.procedures.opinion_box import services as opinions
from pbflow.procedures.three_meetings import services as meetings
from pbflow.services import accounts
from tests import fuzzing
from tests.conftest import Auth, csrf_token, make_user
from tests.pages_helpers import FUNDING, walk
from tests.pages_helpers import text as body
from tests.three_meetings.helpers import on_leave

ROLES = ("anonymous", "admin", "secretary", "member", "auditor", "committee_a", "gb_secretary")
PDF = b"%PDF-1.4\n%%EOF\n"


@dataclass
class Site:
    """A small organization with something in every corner, and a logged-in client per role."""

    app: Any
    world: Any
    clients: dict[str, Any]
    tokens: dict[str, str]
    pools: dict[str, list[str]]  # URL argument name -> ids/codes of things that exist
    routes: list[fuzzing.Route]
    pages: list[tuple[str, str]] = field(default_factory=list)  # (url, html) crawled
    # The database's fingerprint as the last request left it (None: to be taken afresh).
    last_fingerprint: str | None = None

    def login(self, role: str) -> None:
        client = self.app.test_client()
        with self.app.app_context():
            if role != "anonymous":
                self.last_fingerprint = None  # a login writes (its audit event)
                # Wrong current passwords thrown at /account/password count toward the lockout
                # (as they must); the operator unlocks the account before the next round.
                accounts.unlock(accounts.get_user(role))
                done = Auth(client).login(role)
                assert done.status_code == 302, f"{role} cannot log in: {body(done)}"
            page = client.get("/inbox" if role != "anonymous" else "/login")
        self.clients[role] = client
        self.tokens[role] = csrf_token(body(page))

    def send(self, role: str, method: str, path: str, **kw: Any) -> Any:
        """One request in its own application context, as in production: the tests' shared
        context would carry ``g`` (the logged-in user, the CSRF token) from client to client."""
        with self.app.app_context():
            response = self.clients[role].open(path, method=method, **kw)
            if response.is_streamed:  # run a streamed download to its end inside its context
                response.get_data()
                response.close()
            return response


def populate(world) -> dict[str, list[str]]:
    funding = runtime.start("activity_funding", world.branch, world["branch_member"], FUNDING)
    vote = runtime.start(
        "activity_funding", world.branch, world["branch_member"], {**FUNDING, "amount": "8000"}
    )
    walk(
        vote.id,
        world,
        ("submit", "branch_member"),
        ("secretary_approve", "secretary"),
        ("forward_to_committee", "gb_secretary"),
    )
    from pbflow.services import attachments
    from pbflow.services.attachments import Upload

    att = attachments.store(
        world["secretary"],
        Upload("a.pdf", io.BytesIO(PDF)),
        org_id=world.branch.id,
        instance_id=funding.id,
    )
    db.session.commit()
    present = [str(world[u].person.id) for u in ("secretary", "deputy", "member")]
    meeting = meetings.record_meeting(
        world["secretary"],
        world.branch.id,
        on_leave(
            world.branch.id,
            meetings.MeetingInput(
                meeting_type="theme_day",
                held_on="2026-03-01",
                topic="主题党日",
                chair=present[0],
                present=present,
                minutes="要点",
            ),
        ),
    )
    slip = opinions.submit(
        "b1",
        {"subject": "食堂", "text": "食堂饭菜太贵了", "category": "welfare", "anonymous": "1"},
        user=None,
        client="10.0.0.9",
    )
    victims = [make_user(f"victim{i}", person_org=world.branch) for i in range(2)]
    applicant = make_user(
        "applicant", person_org=world.branch, party_status="none", birth_date=date(1990, 1, 1)
    )
    runtime.start(
        "member_development",
        world.branch,
        world["secretary"],
        {"person": applicant.person.id, "application_date": "2026-03-01", "part_way": "1"},
    )
    cases = [str(c) for c in db.session.execute(select(ProcessInstance.id)).scalars()]
    return {
        "case_id": cases,
        "org_id": [str(world.branch.id), str(world.other_branch.id), str(world.committee.id)],
        "user_id": [str(v.id) for v in victims],
        "person_id": [str(v.person.id) for v in victims] + [str(applicant.person.id)],
        "meeting_id": [str(meeting.id)],
        "attachment_id": [str(att.id)],
        "notification_id": ["1"],
        "assignment_id": ["1"],
        "org_code": ["b1", "coal", "b2"],
        "trigger": ["submit", "secretary_approve", "withdraw", "rate", "add_comment"],
        "code": [slip.code],
    }


def _pool(site: Site, rule: Any, argument: str) -> list[str]:
    """Real values for a route's argument: an ``any(...)`` converter's own choices."""
    converter = rule._converters.get(argument)
    if isinstance(converter, AnyConverter):
        return sorted(converter.items)
    return site.pools.get(argument, ["1"])


def pages(site: Site) -> list[tuple[str, str]]:
    """Every GET page (with real ids) as admin, the branch secretary and a visitor, and the
    form pages that need a query: their forms tell the fuzzer what each route takes."""
    urls = []
    adapter = site.app.url_map.bind("localhost")
    for rule in site.app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        pools = [_pool(site, rule, a) for a in rule.arguments]
        for i in range(max([1, *(len(p) for p in pools)])):
            args = {a: p[i % len(p)] for a, p in zip(rule.arguments, pools, strict=True)}
            urls.append(adapter.build(rule.endpoint, args))
    branch = site.world.branch.id
    urls += [
        f"/meetings/new?org={branch}",
        f"/cases/new?workflow=member_development&org={branch}",
        f"/cases/new?workflow=activity_funding&org={branch}",
        f"/cases/new?workflow=life_meeting&org={branch}",
        "/opinions/b1",
    ]
    pages = []
    for url in dict.fromkeys(urls):
        for role in ("admin", "secretary", "committee_a", "anonymous"):
            response = site.send(role, "GET", url)
            if response.mimetype == "text/html":
                pages.append((url, body(response)))
    code = site.pools["code"][0]
    slip = site.send(
        "anonymous",
        "POST",
        "/opinions/track",
        data={"csrf_token": site.tokens["anonymous"], "code": code},
    )
    pages.append(("/opinions/track", body(slip)))
    return pages


def build_site(app, world) -> Site:
    """The site, logged in as every role, with its routes learnt from its pages."""
    pools = populate(world)
    s = Site(app, world, {}, {}, pools, [])
    for role in ROLES:
        s.login(role)
    s.pages = pages(s)
    s.routes = fuzzing.learn_routes(app, s.pages)
    return s
