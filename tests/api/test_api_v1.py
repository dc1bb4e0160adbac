"""The versioned API: a funding request from start to approval with tokens, scopes, problem
details in the asked language, cursors, the audit trail's attribution to the token, the
public opinion box, the auditors' operations, rate limits and the session path."""

from __future__ import annotations

import base64
import html as html_module
import json
import re

from sqlalchemy import func, select
from werkzeug.test import TestResponse

from pbflow.engine import runtime
from pbflow.extensions import db
from pbflow.models import AuditEvent, Person, ProcessInstance
from pbflow.services import inbox as inbox_service
from tests.api.helpers import Api, token
from tests.conftest import Auth
from tests.pages_helpers import FUNDING, funding_case


def test_the_document_is_openapi_3_1_and_served_with_a_reference_page(client):
    doc = client.get("/api/openapi.json").get_json()
    assert doc["openapi"] == "3.1.0"
    assert "/api/v1/cases/{case_id}/steps" in doc["paths"]
    assert doc["paths"]["/api/v1/opinions"]["post"]["security"] == [{}, {"token": []}]
    page = client.get("/api/docs")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "vendor/swagger-ui-bundle.js" in html
    assert "<script>" not in html  # the CSP forbids inline scripts
    assert client.get("/static/api_reference.js").status_code == 200


def _reference_document(client, lang):
    """The document the reference page at /api/docs gives Swagger UI to draw, in ``lang``."""
    html = client.get(f"/api/docs?lang={lang}").get_data(as_text=True)
    spec_url = html_module.unescape(re.search(r'data-spec="([^"]+)"', html)[1])
    answer = client.get(spec_url)
    assert answer.status_code == 200
    return answer.get_json()


def _words(doc):
    """Each operation's summary and description, by method and path."""
    return {
        (method, path): (op["summary"], op.get("description", ""))
        for path, item in doc["paths"].items()
        for method, op in item.items()
    }


def test_the_reference_page_describes_the_operations_in_the_readers_language(client):
    """The reference page shows each operation's summary and scope in the page's language;
    /api/openapi.json, for machines, stays English whatever the language asked for."""
    english = _words(client.get("/api/openapi.json?lang=zh").get_json())
    assert client.get("/api/openapi.json", headers={"Accept-Language": "zh"}).get_json() == (
        client.get("/api/openapi.json?lang=en").get_json()
    )
    cases, step = ("get", "/api/v1/cases"), ("post", "/api/v1/cases/{case_id}/steps")
    assert english[cases][0].startswith("The cases the caller may see")
    assert english[step][1].strip() == "Token scope needed: `act`."

    assert _words(_reference_document(client, "en")) == english

    chinese_doc = _reference_document(client, "zh")
    chinese = _words(chinese_doc)
    assert (
        chinese[cases][0]
        == "调用方可查看的案件，按条件筛选，最新的在前；翻页请使用 `next_cursor`。"
    )
    assert chinese[step][0].startswith("办理一个步骤：字段放在 `values` 中")
    assert chinese[step][1].strip() == "所需令牌权限范围：`act`。"
    assert chinese_doc["info"]["description"].startswith("pbflow 面向其他系统的 JSON API。")
    shown = json.dumps(chinese_doc, ensure_ascii=False)
    sentences = {summary for summary, _description in english.values()}
    sentences |= {"Token scope needed", "The JSON API of pbflow", "a pbf_... access token"}
    assert not [sentence for sentence in sentences if sentence in shown]


def test_a_funding_request_from_start_to_approval(world, client):
    starter = Api(client, token(world, "branch_member", "act"))
    r, body = starter.post(
        "/api/v1/cases",
        json={"workflow": "activity_funding", "org_id": world.branch.id, "values": FUNDING},
    )
    assert r.status_code == 201, body
    case_id = body["id"]
    r, body = starter.post(f"/api/v1/cases/{case_id}/steps", json={"trigger": "submit"})
    assert body["state"] == "secretary_review"
    secretary = Api(client, token(world, "secretary", "act"))
    r, actions = secretary.get(f"/api/v1/cases/{case_id}/actions")
    assert {a["trigger"] for a in actions["actions"]} >= {"secretary_approve"}
    r, body = secretary.post(
        f"/api/v1/cases/{case_id}/steps",
        json={"trigger": "secretary_approve", "version": actions["version"]},
    )
    assert body["state"] == "superior_review"
    superior = Api(client, token(world, "gb_secretary", "act"))
    r, body = superior.post(f"/api/v1/cases/{case_id}/steps", json={"trigger": "superior_approve"})
    assert r.status_code == 200 and body["state"] == "approved"
    r, case = starter.get(f"/api/v1/cases/{case_id}")
    assert case["state"] == "approved" and case["created_at"].endswith("+00:00")
    # Every step made with a token is attributed to its owner and the token's name.
    via = [
        json.loads(e.payload).get("via")
        for e in AuditEvent.query.filter_by(instance_id=case_id, action="transition")
    ]
    assert {v["token"] for v in via} == {
        "branch_member-act",
        "secretary-act",
        "gb_secretary-act",
    }


def test_a_step_from_a_stale_version_is_refused_with_what_changed(world, client):
    """The secretary and the deputy both open the request; the deputy returns it first. The
    secretary's approval, sent with the version they read, is a 409 whose details say where
    the case is now and what happened since that version; the case stays where it went."""
    case = funding_case(world)
    starter = Api(client, token(world, "branch_member", "act"))
    r, submitted = starter.post(f"/api/v1/cases/{case.id}/steps", json={"trigger": "submit"})
    secretary = Api(client, token(world, "secretary", "act"))
    deputy = Api(client, token(world, "deputy", "act"))
    read = secretary.get(f"/api/v1/cases/{case.id}/actions")[1]["version"]
    assert read == submitted["version"] == deputy.get(f"/api/v1/cases/{case.id}")[1]["version"]
    r, returned = deputy.post(
        f"/api/v1/cases/{case.id}/steps",
        json={"trigger": "return_for_changes", "version": read, "comment": "预算不清楚"},
    )
    assert r.status_code == 200 and returned["state"] == "draft"
    r, problem = secretary.post(
        f"/api/v1/cases/{case.id}/steps", json={"trigger": "secretary_approve", "version": read}
    )
    assert r.status_code == 409 and problem["title"] == "Changed meanwhile"
    assert problem["detail"].startswith("This case changed since you opened it")
    details = problem["details"]
    assert details["expected_version"] == read
    assert details["current_version"] == returned["version"] == read + 1
    assert details["current_state"] == "draft"
    (change,) = details["changes"]
    assert change["actor"] == world["deputy"].display_name
    assert change["text"] == "Return for changes" and change["comment"] == "预算不清楚"
    assert change["at"].endswith("+00:00")
    assert runtime.load_case(case.id).state == "draft"
    # Sent with the version now current, the step is judged on its own: not from a draft.
    r, problem = secretary.post(
        f"/api/v1/cases/{case.id}/steps",
        json={"trigger": "secretary_approve", "version": returned["version"]},
    )
    assert r.status_code == 409 and "details" not in problem


def test_scopes_and_bad_tokens(world, client):
    case = funding_case(world)
    reader = Api(client, token(world, "branch_member", "read"))
    r, body = reader.get(f"/api/v1/cases/{case.id}")
    assert r.status_code == 200
    r, body = reader.post(f"/api/v1/cases/{case.id}/steps", json={"trigger": "submit"})
    assert r.status_code == 403 and body["status"] == 403
    r, body = reader.post(f"/api/v1/cases/{case.id}/comments", json={"body": "hi"})
    assert r.status_code == 403
    r, body = Api(client, "pbf_nope").get("/api/v1/cases")
    assert r.status_code == 401 and r.mimetype == "application/problem+json"
    r, body = Api(client, None).get("/api/v1/cases")
    assert r.status_code == 401
    # Another branch's case is not there for this token's owner.
    other = Api(client, token(world, "other_secretary", "act"))
    r, body = other.get(f"/api/v1/cases/{case.id}")
    assert r.status_code == 404


def test_revoked_and_expired_tokens_are_refused(world, client, clock):
    from pbflow.services import api_tokens

    made = api_tokens.create_token(None, world["secretary"], "ci", days=1)
    api = Api(client, made.secret)
    assert api.get("/api/v1/me")[1]["token"]["name"] == "ci"
    clock.advance(days=2)
    r, problem = api.get("/api/v1/me")
    assert r.status_code == 401 and problem["detail"]
    clock.advance(days=-2)
    assert api.get("/api/v1/me")[0].status_code == 200
    api_tokens.revoke_token(world["secretary"], made.token.id)
    assert api.get("/api/v1/me")[0].status_code == 401
    # Only a hash is stored.
    assert made.secret not in (made.token.secret_hash, made.token.prefix)


def test_problems_speak_the_asked_language(world, client):
    secret = token(world, "branch_member", "act")
    en = Api(client, secret, lang="en")
    zh = Api(client, secret, lang="zh")
    body = {"workflow": "activity_funding", "org_id": world.branch.id, "values": {}}
    r, problem = en.post("/api/v1/cases", json=body)
    assert r.status_code == 422 and "purpose" in problem["field_errors"]
    r2, problem_zh = zh.post("/api/v1/cases", json=body)
    assert problem_zh["detail"] != problem["detail"]
    r, problem = en.post("/api/v1/cases", json={"workflow": 5})
    assert r.status_code == 422 and problem["title"]


def test_lists_follow_cursors(world, client):
    for n in range(3):
        funding_case(world, purpose=f"活动{n}")
    api = Api(client, token(world, "secretary"))
    seen, url = [], "/api/v1/cases?limit=2"
    while url:
        r, body = api.get(url)
        seen += [c["id"] for c in body["items"]]
        url = f"/api/v1/cases?limit=2&cursor={body['next_cursor']}" if body["next_cursor"] else None
    assert len(seen) == 3 == len(set(seen))
    r, body = api.get("/api/v1/cases?cursor=%%%")
    assert r.status_code == 400


def test_comments_files_and_the_inbox(world, client):
    case = funding_case(world)
    api = Api(client, token(world, "branch_member", "act"))
    r, c = api.post(f"/api/v1/cases/{case.id}/comments", json={"body": "请审核"})
    assert r.status_code == 201 and c["body"] == "请审核"
    pdf = base64.b64encode(b"%PDF-1.4\n%\xe2\xe3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n").decode()
    r, att = api.post(
        f"/api/v1/cases/{case.id}/attachments",
        json={"filename": "budget.pdf", "content_base64": pdf},
    )
    assert r.status_code == 201, att
    assert (att["filename"], att["content_type"]) == ("budget.pdf", "application/pdf")
    assert att["size"] == len(base64.b64decode(pdf))
    assert att["uploaded_by"] == world["branch_member"].display_name
    # A file whose content is not what its name says is refused, and not kept.
    fake = base64.b64encode(b"just some text, not a PDF").decode()
    r, problem = api.post(
        f"/api/v1/cases/{case.id}/attachments",
        json={"filename": "minutes.pdf", "content_base64": fake},
    )
    assert r.status_code == 422 and problem["detail"] == "The file was not accepted."
    assert set(problem["field_errors"]) == {"file"} and ".pdf" in problem["field_errors"]["file"]
    r, files = api.get(f"/api/v1/cases/{case.id}/attachments")
    assert [f["filename"] for f in files["items"]] == ["budget.pdf"]
    r, body = api.get(f"/api/v1/cases/{case.id}/comments")
    assert [x["body"] for x in body["items"]] == ["请审核"]
    r, box = api.get("/api/v1/inbox")
    assert r.status_code == 200 and case.id in [i["case"]["id"] for i in box["items"]]
    mine = next(i for i in box["items"] if i["case"]["id"] == case.id)
    assert mine["steps"] == ["submit"] and "withdraw" in mine["options"]
    assert not mine["vote"] and not mine["record"]
    r, notes = api.get("/api/v1/notifications")
    assert r.status_code == 200
    r, marked = api.post("/api/v1/notifications/read-all")
    assert r.status_code == 200


def test_auditors_read_the_trail_others_may_not(world, client):
    funding_case(world)
    auditor = Api(client, token(world, "auditor"))
    r, head = auditor.get("/api/v1/audit/head")
    assert r.status_code == 200 and len(head["hash"]) == 64
    r, events = auditor.get("/api/v1/audit/events?limit=5")
    assert r.status_code == 200 and events["items"]
    r, verified = auditor.get("/api/v1/audit/verify")
    assert verified["ok"] is True
    r, _ = auditor.get("/api/v1/audit/export")
    assert r.status_code == 200 and r.mimetype == "application/x-ndjson"
    member = Api(client, token(world, "member"))
    assert member.get("/api/v1/audit/head")[0].status_code == 403


def test_the_audit_export_streams_and_verifies_offline(
    world, client, runner, tmp_path, monkeypatch
):
    """The API's export is the pages' (audit_search.export_chain): spooled to a temporary
    file, on disk past its memory share, and streamed from it; each reader's copy verifies
    offline, an auditor of one general branch's too, with every other event withheld."""
    from pbflow import audit
    from pbflow.services import api_tokens, audit_search
    from tests.conftest import make_user

    funding_case(world)
    funding_case(world, by="other_secretary", org=world.other_branch)
    gb_auditor = make_user("gb_auditor", [(world.general_branch, "auditor")])
    db.session.commit()
    readers = {
        "auditor": token(world, "auditor"),
        "gb_auditor": api_tokens.create_token(None, gb_auditor, "gb").secret,
    }
    monkeypatch.setattr(audit_search, "EXPORT_IN_MEMORY", 1024)
    spooled = []
    real = audit_search.export_chain

    def export_chain(reader):
        spooled.append(real(reader))
        return spooled[-1]

    monkeypatch.setattr(audit_search, "export_chain", export_chain)
    read_whole = _spy_on_get_data(monkeypatch)
    events = db.session.execute(select(func.count()).select_from(AuditEvent)).scalar()
    for reader, secret in readers.items():
        r, _ = Api(client, secret).get("/api/v1/audit/export")
        assert r.status_code == 200 and r.mimetype == "application/x-ndjson"
        assert read_whole == [] and spooled[-1].file._rolled  # on disk, streamed from there
        assert r.headers["Content-Disposition"].startswith("attachment; filename=pbflow-audit-")
        text = r.get_data(as_text=True)
        assert len(list(audit.read_export(text.splitlines()))) == events
        withheld = [line for line in text.splitlines() if '"kind":"withheld"' in line]
        assert bool(withheld) is (reader == "gb_auditor")
        path = tmp_path / f"{reader}.jsonl"
        path.write_text(text, encoding="utf-8")
        verified = runner.invoke(args=["pbflow", "audit", "verify", "--file", str(path)])
        assert verified.exit_code == 0, verified.output


def test_people_read_and_import_for_admins(world, client):
    admin = Api(client, token(world, "admin", "admin"))
    r, body = admin.get("/api/v1/people")
    assert r.status_code == 200 and body["total"] >= 1
    r, orgs = admin.get("/api/v1/organizations")
    assert {o["code"] for o in orgs["items"]} >= {"coal", "b1"}

    def csv(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    def people_named(name: str) -> int:
        return Person.query.filter_by(name=name).count()

    good = csv("name,org_code,party_status\n张三,b1,full\n")
    # A dry run of a good file: checked, nothing written, how many would be created.
    r, report = admin.post("/api/v1/people/import", json={"csv_base64": good, "dry_run": True})
    assert r.status_code == 200, report
    assert report == {"applied": False, "created": 1, "updated": 0, "errors": []}
    assert people_named("张三") == 0
    # A dry run of a file with a bad line: still a check that was made (200), naming the line;
    # the import itself would create nobody (all or nothing).
    bad = csv("name,org_code,party_status\n李四,b1,full\n王五,nope,full\n")
    r, report = admin.post("/api/v1/people/import", json={"csv_base64": bad, "dry_run": True})
    assert r.status_code == 200, report
    assert report["applied"] is False and report["created"] == 0
    assert [(e["line"], e["column"]) for e in report["errors"]] == [(3, "org_code")]
    # The same file imported: refused (422) with the same lines; nobody written.
    r, problem = admin.post("/api/v1/people/import", json={"csv_base64": bad, "dry_run": False})
    assert r.status_code == 422 and problem["detail"].startswith("Nothing was imported")
    assert [(e["line"], e["column"]) for e in problem["errors"]] == [(3, "org_code")]
    assert people_named("李四") == 0
    # A file that cannot be read at all is refused, dry run or not.
    r, problem = admin.post(
        "/api/v1/people/import", json={"csv_base64": csv("who,where\nx,y\n"), "dry_run": True}
    )
    assert r.status_code == 422 and "header" in problem["detail"]
    # The good file imported.
    r, report = admin.post("/api/v1/people/import", json={"csv_base64": good, "dry_run": False})
    assert r.status_code == 200
    assert report == {"applied": True, "created": 1, "updated": 0, "errors": []}
    assert people_named("张三") == 1
    reader = Api(client, token(world, "admin", "act"))
    assert reader.post("/api/v1/people/import", json={"csv_base64": ""})[0].status_code == 403
    member = Api(client, token(world, "member"))
    assert member.get("/api/v1/people")[0].status_code == 403


def test_tokens_made_and_revoked_through_the_api(world, client, auth):
    admin = Api(client, token(world, "admin", "admin"))
    # A token never makes tokens (tests/api/test_token_minting.py): the admin, logged in,
    # makes it through the API's session path; the admin's token lists and revokes it.
    auth.login("admin")
    csrf = {"X-CSRFToken": client.get("/api/csrf").get_json()["csrf_token"]}
    session = Api(client, None)
    r, made = session.post(
        "/api/v1/tokens", json={"name": "hr", "owner": "secretary"}, headers=csrf
    )
    assert r.status_code == 201 and made["secret"].startswith("pbf_")
    r, listed = admin.get("/api/v1/tokens")
    assert "hr" in [t["name"] for t in listed["items"]] and "secret" not in listed["items"][0]
    mine = Api(client, made["secret"])
    assert mine.get("/api/v1/me")[1]["username"] == "secretary"
    r, _ = admin.delete(f"/api/v1/tokens/{made['id']}")
    assert r.status_code == 200
    assert mine.get("/api/v1/me")[0].status_code == 401
    # An owner that is no account is a field to correct; nothing is made.
    made_before = AuditEvent.query.filter_by(action="api_token_created").count()
    r, problem = session.post("/api/v1/tokens", json={"name": "x", "owner": "nobody"}, headers=csrf)
    assert r.status_code == 422 and problem["field_errors"] == {"owner": "No such account."}
    assert AuditEvent.query.filter_by(action="api_token_created").count() == made_before
    assert "x" not in [t["name"] for t in admin.get("/api/v1/tokens")[1]["items"]]
    # A member cannot make a token for somebody else, nor a service token.
    auth.logout()
    auth.login("member")
    csrf = {"X-CSRFToken": client.get("/api/csrf").get_json()["csrf_token"]}
    for asked, why in (
        ({"name": "x", "owner": "secretary"}, "Only the account's owner or an administrator"),
        ({"name": "x", "kind": "service"}, "Only an administrator may make a service token."),
    ):
        r, problem = session.post("/api/v1/tokens", json=asked, headers=csrf)
        assert r.status_code == 403 and problem["detail"].startswith(why)
    member = Api(client, token(world, "member", "act"))
    assert member.post("/api/v1/tokens", json={"name": "x"})[0].status_code == 403


def test_the_rate_limit_is_per_token(world, client, app):
    app.config["PBFLOW_API_RATE_PER_MINUTE"] = 3
    api = Api(client, token(world, "secretary"))
    codes = [api.get("/api/v1/me")[0].status_code for _ in range(4)]
    assert codes[:3] == [200, 200, 200] and codes[3] == 429
    other = Api(client, token(world, "member"))
    assert other.get("/api/v1/me")[0].status_code == 200


def test_the_session_path_needs_the_csrf_header(world, auth, client, app):
    case = funding_case(world)
    auth.login("branch_member")
    url = f"/api/v1/cases/{case.id}/steps"
    refused = client.post(url, json={"trigger": "submit"})
    assert refused.status_code == 400
    assert refused.get_json()["detail"] == "表单缺少安全令牌或已过期。"  # the account's language
    # A header that is no token of ours, or the token of another session: refused alike.
    forged = client.post(url, json={"trigger": "submit"}, headers={"X-CSRFToken": "forged"})
    assert forged.status_code == 400 and forged.mimetype == "application/problem+json"
    elsewhere = app.test_client()
    Auth(elsewhere).login("branch_member")
    theirs = elsewhere.get("/api/csrf").get_json()["csrf_token"]
    mixed = client.post(url, json={"trigger": "submit"}, headers={"X-CSRFToken": theirs})
    assert mixed.status_code == 400 and "安全令牌" in mixed.get_json()["detail"]
    assert runtime.load_case(case.id).state == "draft"
    csrf = client.get("/api/csrf").get_json()["csrf_token"]
    done = client.post(url, json={"trigger": "submit"}, headers={"X-CSRFToken": csrf})
    assert done.status_code == 200 and done.get_json()["state"] == "secretary_review"


def _spy_on_get_data(monkeypatch) -> list[str]:
    """The mimetypes of the answers whose body the app reads whole (``get_data``), up to the
    test's own first read of an answer."""
    from werkzeug.wrappers import Response

    seen: list[str] = []
    real = Response.get_data

    def spy(self, *args, **kwargs):
        if not isinstance(self, TestResponse):
            seen.append(self.mimetype)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Response, "get_data", spy)
    return seen


def test_a_file_attached_over_the_api_downloads(world, client, monkeypatch):
    case = funding_case(world)
    api = Api(client, token(world, "branch_member", "act"))
    content = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    r, att = api.post(
        f"/api/v1/cases/{case.id}/attachments",
        json={"filename": "budget.pdf", "content_base64": base64.b64encode(content).decode()},
    )
    assert r.status_code == 201, att
    read_whole = _spy_on_get_data(monkeypatch)
    r, _ = api.get(att["download"])
    assert r.status_code == 200 and r.mimetype == "application/pdf"
    assert read_whole == []  # streamed from its file, not read into memory on the way out
    assert r.data == content
    outsider = Api(client, token(world, "other_secretary"))
    assert outsider.get(att["download"])[0].status_code == 404


def test_a_body_that_is_not_json_is_refused(world, client):
    """415 for any body that is not JSON, whatever it holds (SpecTree alone read a text body
    as an empty object and answered 422 for its missing fields); 400 for JSON that is not an
    object. Nothing is started or submitted."""
    api = Api(client, token(world, "branch_member", "act"))
    r, problem = api.post("/api/v1/cases", data={"workflow": "activity_funding"})
    assert r.status_code == 415 and "JSON" in problem["detail"]
    visitor = Api(client, None)
    opinion = '{"org_code": "b1", "values": {"subject": "s", "text": "t"}}'
    for body, content_type in (
        ("x=1", "application/x-www-form-urlencoded"),
        ("x=1", "text/plain"),
        (opinion, "text/plain"),
        ("", None),
    ):
        r, problem = visitor.post("/api/v1/opinions", data=body, content_type=content_type)
        assert r.status_code == 415, (body, content_type, r.status_code)
        assert problem["title"] and "Content-Type: application/json" in problem["detail"]
    for body in ("{not json", "[]", "null", '"b1"'):
        r, problem = visitor.post("/api/v1/opinions", data=body, content_type="application/json")
        assert r.status_code == 400, (body, r.status_code)
        assert "JSON object" in problem["detail"]
    r, problem = api.post("/api/v1/cases/1/steps", data="{}", content_type="text/plain")
    assert r.status_code == 415
    assert db.session.execute(select(func.count()).select_from(ProcessInstance)).scalar() == 0


def test_reading_a_case_through_the_api_leaves_its_notifications_unread(world, client, auth):
    """A machine polling a case is not the person reading it: only the page marks the case's
    notifications read."""
    from pbflow.models import Notification
    from pbflow.services import inbox
    from tests.pages_helpers import walk

    case = funding_case(world)
    walk(case.id, world, ("submit", "branch_member"))
    secretary = world["secretary"]
    db.session.add(
        Notification(user_id=secretary.id, instance_id=case.id, kind="reminder", params={})
    )
    db.session.commit()
    unread = inbox.unread_count(secretary)
    assert unread == 1
    api = Api(client, token(world, "secretary", "read"))
    for path in ("", "/actions", "/comments", "/attachments"):
        r, _body = api.get(f"/api/v1/cases/{case.id}{path}")
        assert r.status_code == 200, path
    r, actions = api.get(f"/api/v1/cases/{case.id}/actions")
    assert "secretary_approve" in [a["trigger"] for a in actions["actions"]]
    assert inbox.unread_count(secretary) == unread
    auth.login("secretary")
    assert client.get(f"/cases/{case.id}").status_code == 200
    assert inbox.unread_count(secretary) == 0


def test_the_inbox_pages_through_every_case_once(world, client, monkeypatch):
    """A page at a time, earliest time limit first, by cursor; a cursor not of ours is a 400."""
    monkeypatch.setattr(inbox_service, "ITEM_PAGE", 2)
    drafts = [funding_case(world, purpose=f"草稿{i}").id for i in range(5)]
    api = Api(client, token(world, "branch_member"))
    seen, cursor, pages = [], None, 0
    while True:
        r, box = api.get("/api/v1/inbox" + (f"?cursor={cursor}" if cursor else ""))
        assert r.status_code == 200 and box["total"] == 5 and box["total_exact"] is True
        assert len(box["items"]) <= 2
        seen += [i["case"]["id"] for i in box["items"]]
        if pages:
            assert box["possible"] == []  # a later page of one list shows that list alone
        pages += 1
        cursor = box["next_cursor"]
        if cursor is None:
            break
    # No time limit on a draft: in the order they were started.
    assert pages == 3 and seen == drafts
    r, problem = api.get("/api/v1/inbox?cursor=not-a-cursor")
    assert r.status_code == 400 and problem["detail"]
    r, problem = api.get("/api/v1/inbox?possible_cursor=none-x")
    assert r.status_code == 400 and problem["detail"]
    # Counted no further than a limit: "more than" is said, not a wrong exact number.
    monkeypatch.setattr(inbox_service, "COUNT_LIMITS", {0: 3, 1: 100})
    r, box = api.get("/api/v1/inbox")
    assert r.status_code == 200 and (box["total"], box["total_exact"]) == (4, False)
    assert box["possible_total_exact"] is True
