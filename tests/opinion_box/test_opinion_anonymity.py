"""Anonymity is real: after a logged-in user drops an anonymous opinion and follows it to the
end, no row of any table links that user (id, username, name), their address or their browser
to the opinion, and the session cookie carries no link either.

The scan is checked against a named opinion of the same user, where it must find the link:
a scan that could not fail would prove nothing.
"""

from __future__ import annotations

import contextlib
import json
import re
from datetime import UTC
from typing import Any

from sqlalchemy import select

from pbflow.engine import runtime
from pbflow.extensions import db
from pbflow.models import SecurityEvent
from pbflow.procedures.opinion_box import services as opinions
from pbflow.web.access import PASSWORD_AT
from tests.conftest import csrf_token, make_user

IP = "203.0.113.77"
AGENT = "AnonScanBrowser/9.9"
MARKER = "ANONSCAN-7Q2X"
OTHER_MARKER = "NAMEDSCAN-4RTD"


def _walk(value: Any, key: str = ""):
    """Every (key, leaf) inside a value, JSON text included."""
    if isinstance(value, str) and value[:1] in "{[":
        with contextlib.suppress(ValueError):
            value = json.loads(value)
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, str(k))
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v, key)
    else:
        yield key, value


def _user_columns(table) -> set[str]:
    names = {
        c.name
        for c in table.columns
        if any(fk.column.table.name == "user_account" for fk in c.foreign_keys)
    }
    return names | {c.name for c in table.columns if c.name.endswith("user_id")}


def scan(case_id: int, marker: str, user) -> list[str]:
    """Rows (as "table: values") that tie the opinion to the user, their address or browser."""
    identity = {user.username, user.display_name}
    found = []
    for table in db.metadata.sorted_tables:
        user_cols = _user_columns(table)
        for row in db.session.execute(select(table)).mappings():
            values = dict(row)
            text = json.dumps(values, default=str, ensure_ascii=False)
            if IP in text or AGENT in text:  # never stored at all, linked or not
                found.append(f"{table.name}: {text}")
                continue
            about_opinion = (
                marker in text
                or (table.name == "process_instance" and values.get("id") == case_id)
                or values.get("instance_id") == case_id
            )
            if not about_opinion:
                continue
            names_user = any(values.get(c) == user.id for c in user_cols)
            for key, leaf in _walk(values):
                if isinstance(leaf, str) and any(ident in leaf for ident in identity):
                    names_user = True
                if leaf == user.id and "user" in key:
                    names_user = True
            by = (values.get("data") or {}).get("_by") if table.name == "process_instance" else None
            if isinstance(by, dict) and user.id in by.values():
                names_user = True
            if names_user:
                found.append(f"{table.name}: {text}")
    return found


def _english(client):
    client.environ_base.update(
        {"REMOTE_ADDR": IP, "HTTP_USER_AGENT": AGENT, "HTTP_ACCEPT_LANGUAGE": "en"}
    )


def _post(client, url, data):
    token = csrf_token(client.get("/opinions/track").get_data(as_text=True))
    return client.post(url, data={**data, "csrf_token": token})


def _submit(client, marker: str, anonymous: bool, contact: str = "") -> str:
    token = csrf_token(client.get("/opinions/b1").get_data(as_text=True))
    data = {
        "csrf_token": token,
        "f.subject": f"{marker} 班组长态度粗暴",
        "f.text": f"{marker} 希望加强作风建设，班组长经常训斥工人。",
        "f.category": "work_style",
        "f.contact": contact,
    }
    if anonymous:
        data["f.anonymous"] = "1"
    page = client.post("/opinions/b1", data=data)
    assert page.status_code == 200, page.get_data(as_text=True)
    return re.search(r'class="code"[^>]*>([0-9A-Z-]{19})<', page.get_data(as_text=True)).group(1)


def _follow_to_the_end(client, world, code: str) -> int:
    case_id = opinions._case_for_code(code)
    version = runtime.load_case(case_id).version
    page = _post(
        client,
        "/opinions/track/add_information",
        {"code": code, "version": version, "f.more_info": f"{MARKER} 补充：上周五又发生一次"},
    )
    assert page.status_code == 200
    runtime.fire(case_id, "accept", world["secretary"])
    runtime.fire(case_id, "assign", world["secretary"], {"handler": world["branch_member"].id})
    runtime.fire(case_id, "answer", world["branch_member"], {"answer": "已约谈班组长。"})
    runtime.fire(case_id, "approve_answer", world["secretary"])
    runtime.fire(case_id, "publish", world["secretary"])
    version = runtime.load_case(case_id).version
    page = _post(
        client,
        "/opinions/track/reject_answer",
        {"code": code, "version": version, "f.reject_reason": "没有公开道歉"},
    )
    assert page.status_code == 200
    runtime.fire(case_id, "answer", world["branch_member"], {"answer": "班组长已在班前会道歉。"})
    runtime.fire(case_id, "approve_answer", world["secretary"])
    runtime.fire(case_id, "publish", world["secretary"])
    version = runtime.load_case(case_id).version
    page = _post(
        client,
        "/opinions/track/accept_answer",
        {"code": code, "version": version, "f.rating": "4", "f.rating_comment": "满意"},
    )
    assert page.status_code == 200
    assert runtime.load_case(case_id).state == "closed"
    return case_id


def test_no_table_links_a_logged_in_user_to_their_anonymous_opinion(client, app, world, auth):
    _english(client)
    user = make_user("zhang_weiming", [(world.branch, "member")], person_org=world.branch)
    auth.login("zhang_weiming")
    code = _submit(client, MARKER, anonymous=True)
    case_id = _follow_to_the_end(client, world, code)

    assert scan(case_id, MARKER, user) == []

    # The session cookie holds the login and the CSRF token, nothing about the opinion.
    cookie = client.get_cookie("session")
    session = app.session_interface.get_signing_serializer(app).loads(cookie.value)
    flat = json.dumps(session, default=str)
    assert code not in flat and code.replace("-", "") not in flat
    assert MARKER not in flat
    # Only the login (user id with the account's random session token, freshness,
    # Flask-Login's hashed client id, when its password was entered: the login's own time,
    # already in the security log) and the CSRF token.
    assert set(session) <= {"csrf_token", "_user_id", "_fresh", "_id", PASSWORD_AT}
    assert session["_user_id"] == user.get_id() == f"{user.id}:{user.session_token}"
    login_at = db.session.scalar(
        select(SecurityEvent.at).where(
            SecurityEvent.user_id == user.id, SecurityEvent.action == "login"
        )
    )
    assert session[PASSWORD_AT] == {
        "user": user.id,
        "at": int(login_at.replace(tzinfo=UTC).timestamp()),
    }


def test_the_scan_finds_the_link_of_a_named_opinion(client, world, auth):
    _english(client)
    user = make_user("li_xiaohong", [(world.branch, "member")], person_org=world.branch)
    auth.login("li_xiaohong")
    code = _submit(client, OTHER_MARKER, anonymous=False)
    case_id = opinions._case_for_code(code)
    found = scan(case_id, OTHER_MARKER, user)
    tables = {line.split(":", 1)[0] for line in found}
    assert {"process_instance", "audit_event"} <= tables


def test_the_scan_finds_an_address_stored_anywhere(client, world):
    from pbflow.models import Organization

    _english(client)
    code = _submit(client, MARKER, anonymous=True)
    case_id = opinions._case_for_code(code)
    user = make_user("wang_fang")
    assert scan(case_id, MARKER, user) == []
    # Were the address ever written (here: into an organization's name), the scan says so.
    org = db.session.get(Organization, world.other_branch.id)
    org.name = f"branch seen from {IP}"
    db.session.commit()
    assert any(line.startswith("organization:") for line in scan(case_id, MARKER, user))
