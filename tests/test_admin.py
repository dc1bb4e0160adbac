"""Administration pages through the real routes: organizations, people, users, roles."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select

from pbflow.extensions import db
from pbflow.models import AuditEvent, Organization, Person, RoleAssignment, SecurityEvent, User
from tests.conftest import PASSWORD, audit_actions, csrf_token

READ_PAGES = ["/admin/orgs", "/admin/people", "/admin/users"]


def _token(client, url: str) -> str:
    page = client.get(url)
    assert page.status_code == 200, page.get_data(as_text=True)[:500]
    return csrf_token(page.get_data(as_text=True))


def _last_event(action: str) -> dict:
    event = db.session.execute(
        select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq.desc())
    ).scalar()
    assert event is not None, f"no {action} event"
    return json.loads(event.payload)


def _person(world, name="张三", **kw) -> Person:
    person = Person(name=name, org_id=world.branch.id, party_status="activist", **kw)
    db.session.add(person)
    db.session.commit()
    return person


# --- who may see what -----------------------------------------------------------------------


@pytest.mark.parametrize("url", READ_PAGES)
def test_admin_pages_for_admin(world, auth, client, url):
    auth.login("admin")
    page = client.get(url + "?lang=en")
    assert page.status_code == 200
    assert "Administration" in page.get_data(as_text=True)


@pytest.mark.parametrize("url", READ_PAGES)
def test_committee_member_reads_but_gets_no_forms(world, auth, client, url):
    auth.login("committee_a")
    page = client.get(url + "?lang=en")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'action="/admin/' not in html  # no change forms for a reader


@pytest.mark.parametrize("username", ["member", "secretary", "auditor"])
@pytest.mark.parametrize(
    "url", READ_PAGES + ["/admin/people/new", "/admin/users/new", "/admin/people/import"]
)
def test_admin_pages_refused_to_others(world, auth, client, username, url):
    auth.login(username)
    assert client.get(url).status_code == 403


def test_committee_member_may_not_change(world, auth, client):
    auth.login("committee_a")
    token = _token(client, "/admin/orgs")
    resp = client.post(
        "/admin/orgs",
        data={
            "csrf_token": token,
            "parent_id": world.committee.id,
            "kind": "branch",
            "code": "b9",
            "name": "新支部",
        },
    )
    assert resp.status_code == 403
    assert db.session.execute(select(Organization).where(Organization.code == "b9")).first() is None


def test_anonymous_is_sent_to_login(world, client):
    resp = client.get("/admin/orgs")
    assert resp.status_code == 302
    assert "/login" in resp.headers["Location"]


# --- organizations --------------------------------------------------------------------------


def test_create_rename_deactivate_org(world, auth, client):
    auth.login("admin")
    token = _token(client, "/admin/orgs")
    resp = client.post(
        "/admin/orgs",
        data={
            "csrf_token": token,
            "parent_id": world.general_branch.id,
            "kind": "branch",
            "code": "b3",
            "name": "掘进队党支部",
            "name_en": "Tunnelling team branch",
        },
    )
    assert resp.status_code == 302
    org = db.session.execute(select(Organization).where(Organization.code == "b3")).scalar_one()
    assert org.path == f"{world.general_branch.path}{org.id}/"
    tree = client.get("/admin/orgs?lang=zh").get_data(as_text=True)
    assert "掘进队党支部" in tree

    resp = client.post(
        f"/admin/orgs/{org.id}",
        data={"csrf_token": token, "name": "掘进一队党支部", "name_en": "Tunnelling 1"},
    )
    assert resp.status_code == 302
    assert _last_event("org_renamed") == {
        "before": {"name": "掘进队党支部", "name_en": "Tunnelling team branch"},
        "after": {"name": "掘进一队党支部", "name_en": "Tunnelling 1"},
    }
    resp = client.post(f"/admin/orgs/{org.id}/active", data={"csrf_token": token, "active": "0"})
    assert resp.status_code == 302
    db.session.refresh(org)
    assert org.active is False
    assert "org_deactivated" in audit_actions()


def test_two_tabs_renaming_one_organization_the_second_is_refused_and_kept(world, auth, client):
    """The first tab corrects the English name; the second, still showing the old names,
    corrects the Chinese one: refused (409) with what it typed kept, not saved back over the
    first's English name. After a reload it goes through."""
    auth.login("admin")
    url = f"/admin/orgs/{world.other_branch.id}"
    token, seen = _opened(client, url, "seen_names")
    names = {"csrf_token": token, "name": "机电队党支部", "name_en": "Electrical team branch"}
    first = client.post(
        url, data={**names, "name_en": "Electrical Team Branch", "seen_names": seen}
    )
    assert first.status_code == 302
    second = client.post(
        f"{url}?lang=en", data={**names, "name": "机电一队党支部", "seen_names": seen}
    )
    html = second.get_data(as_text=True)
    assert second.status_code == 409
    assert "renamed since you opened the page" in html and 'value="机电一队党支部"' in html
    db.session.refresh(world.other_branch)
    assert (world.other_branch.name, world.other_branch.name_en) == (
        "机电队党支部",
        "Electrical Team Branch",
    )
    assert _events("org_renamed") == 1
    token, seen = _opened(client, url, "seen_names")
    again = {**names, "name": "机电一队党支部", "name_en": "Electrical Team Branch"}
    assert client.post(url, data={**again, "seen_names": seen}).status_code == 302
    db.session.refresh(world.other_branch)
    assert world.other_branch.name == "机电一队党支部"
    stale = client.post(f"{url}?lang=zh", data={**names, "seen_names": seen})
    assert stale.status_code == 409 and "此组织在您打开页面后已被他人改名" in stale.get_data(
        as_text=True
    )


def test_org_create_refusal_keeps_input(world, auth, client):
    auth.login("admin")
    token = _token(client, "/admin/orgs")
    resp = client.post(
        "/admin/orgs?lang=en",
        data={
            "csrf_token": token,
            "parent_id": world.branch.id,
            "kind": "general_branch",
            "code": "gb-new",
            "name": "我输入的名字",
        },
    )
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert "must be below its parent" in html
    assert 'value="我输入的名字"' in html and 'value="gb-new"' in html


def test_deactivating_org_with_active_children_is_refused(world, auth, client):
    auth.login("admin")
    token = _token(client, "/admin/orgs")
    resp = client.post(
        f"/admin/orgs/{world.general_branch.id}/active?lang=en",
        data={"csrf_token": token, "active": "0"},
    )
    assert resp.status_code == 400
    assert "Deactivate its sub-organizations first: b1" in resp.get_data(as_text=True)
    db.session.refresh(world.general_branch)
    assert world.general_branch.active is True


# --- people ---------------------------------------------------------------------------------


def test_people_search_and_pagination(world, auth, client):
    for i in range(30):
        db.session.add(Person(name=f"测试{i:02d}", org_id=world.branch.id, phone=f"139{i:08d}"))
    db.session.add(Person(name="另一支部的人", org_id=world.other_branch.id))
    db.session.commit()
    auth.login("admin")
    first = client.get("/admin/people?q=测试&lang=en").get_data(as_text=True)
    assert "30 people found" in first
    assert "测试00" in first and "测试25" not in first
    assert "Page 1 of 2" in first
    second = client.get("/admin/people?q=测试&page=2&lang=en").get_data(as_text=True)
    assert "测试25" in second and "测试00" not in second
    by_phone = client.get("/admin/people?q=13900000007&lang=en").get_data(as_text=True)
    assert "1 person found" in by_phone and "测试07" in by_phone
    by_org = client.get(f"/admin/people?org={world.other_branch.id}").get_data(as_text=True)
    assert "另一支部的人" in by_org and "测试01" not in by_org


def test_the_people_and_audit_tables_name_organizations_in_the_page_language(world, auth, client):
    """The tables' organization cells, drawn by a macro imported without the page's
    context, follow the page's language like the rest of it."""
    import re

    from pbflow import audit

    db.session.add(Person(name="测试人", org_id=world.branch.id))
    audit.record("test_event", org_id=world.branch.id)
    db.session.commit()
    auth.login("admin")

    def cells(html: str, marker: str) -> str:
        return next(r for r in re.findall(r"<tr.*?</tr>", html, re.S) if marker in r)

    people = client.get("/admin/people?q=测试人&lang=en").get_data(as_text=True)
    assert "Mining team 1 branch" in cells(people, "测试人")
    assert "采煤一队党支部" not in cells(people, "测试人")
    people = client.get("/admin/people?q=测试人&lang=zh").get_data(as_text=True)
    assert "采煤一队党支部" in cells(people, "测试人")
    auth.logout()
    auth.login("auditor")
    events = client.get("/audit/?action=test_event&lang=en").get_data(as_text=True)
    assert "Mining team 1 branch" in cells(events, "test_event")
    assert "采煤一队党支部" not in cells(events, "test_event")


def test_the_people_table_reads_as_cards_on_a_phone(world, auth, client):
    """Each value but the name carries its column's name (data-label), which a phone's
    narrow page shows beside it when a row becomes a card (table.list in pbflow.css)."""
    import re

    db.session.add(Person(name="测试人", org_id=world.branch.id, gender="female"))
    db.session.commit()
    auth.login("admin")
    html = client.get("/admin/people?q=测试人&lang=en").get_data(as_text=True)
    assert '<table class="list people">' in html
    row = next(r for r in re.findall(r"<tr.*?</tr>", html, re.S) if "测试人" in r)
    labels = re.findall(r'<td data-label="([^"]+)"', row)
    assert labels == ["Organization", "Party status", "Gender", "Birth date"]


def test_the_users_table_reads_as_cards_on_a_phone(world, auth, client):
    """As the people table: each value but the username names its column for a phone."""
    import re

    auth.login("admin")
    html = client.get("/admin/users?q=admin&lang=zh").get_data(as_text=True)
    assert '<table class="list users">' in html
    row = next(r for r in re.findall(r"<tr.*?</tr>", html, re.S) if "/admin/users/" in r)
    labels = re.findall(r'<td data-label="([^"]+)"', row)
    assert labels == ["姓名", "状态", "最近登录"]


def test_edit_profile_records_before_and_after(world, auth, client):
    person = _person(world, job="采煤工")
    auth.login("admin")
    token = _token(client, f"/admin/people/{person.id}")
    resp = client.post(
        f"/admin/people/{person.id}",
        data={
            "csrf_token": token,
            "org_id": world.branch.id,
            "name": "张三",
            "job": "班长",
            "birth_date": "1990-05-01",
            "gender": "男",
        },
    )
    assert resp.status_code == 302
    db.session.refresh(person)
    assert (person.job, str(person.birth_date), person.gender) == ("班长", "1990-05-01", "male")
    changes = _last_event("person_updated")["changes"]
    assert changes["job"] == {"before": "采煤工", "after": "班长"}
    assert changes["birth_date"] == {"before": None, "after": "1990-05-01"}
    assert "name" not in changes


def test_edit_profile_refusal_keeps_input(world, auth, client):
    person = _person(world)
    other = _person(world, name="李四", id_number="110101199001011234")
    auth.login("admin")
    token = _token(client, f"/admin/people/{person.id}")
    resp = client.post(
        f"/admin/people/{person.id}?lang=en",
        data={
            "csrf_token": token,
            "org_id": world.branch.id,
            "name": "张三丰",
            "birth_date": "1990-13-40",
            "id_number": other.id_number,
        },
    )
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert "is not a date" in html and "another person already has this ID number" in html
    assert 'value="张三丰"' in html and 'value="1990-13-40"' in html
    db.session.refresh(person)
    assert person.name == "张三"


def test_status_correction_needs_reason_and_is_audited(world, auth, client):
    person = _person(world, activist_on=None)
    auth.login("admin")
    token = _token(client, f"/admin/people/{person.id}")
    data = {"csrf_token": token, "party_status": "target", "activist_on": "2024-03-01"}
    resp = client.post(f"/admin/people/{person.id}/status?lang=en", data=data)
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert "say why the record is corrected" in html
    assert 'value="2024-03-01"' in html
    db.session.refresh(person)
    assert person.party_status == "activist"

    data["reason"] = "纸质档案录入错误"
    resp = client.post(f"/admin/people/{person.id}/status", data=data)
    assert resp.status_code == 302
    db.session.refresh(person)
    assert person.party_status == "target" and str(person.activist_on) == "2024-03-01"
    payload = _last_event("person_status_corrected")
    assert payload["reason"] == "纸质档案录入错误"
    assert payload["changes"]["party_status"] == {"before": "activist", "after": "target"}


def test_profile_edit_cannot_change_party_status(world, auth, client):
    person = _person(world)
    auth.login("admin")
    token = _token(client, f"/admin/people/{person.id}")
    client.post(
        f"/admin/people/{person.id}",
        data={
            "csrf_token": token,
            "org_id": world.branch.id,
            "name": "张三",
            "party_status": "full",
        },
    )
    db.session.refresh(person)
    assert person.party_status == "activist"


def _add_person(client, world, path="/admin/people/new", **fields):
    """The new-person form posted as its page sends it (a branch person named 王五)."""
    token = _token(client, "/admin/people/new")
    data = {"org_id": world.branch.id, "name": "王五", "party_status": "applicant", **fields}
    return client.post(path, data={"csrf_token": token, **data})


def _opened(client, url: str, name: str) -> tuple[str, str]:
    """A person's page as one tab shows it: its CSRF token and what its form ``name`` saw."""
    html = client.get(url).get_data(as_text=True)
    return csrf_token(html), re.search(rf'name="{name}" value="([0-9a-f]+)"', html).group(1)


def _events(action: str) -> int:
    return db.session.execute(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
    ).scalar_one()


def test_two_tabs_editing_one_person_the_second_save_is_refused_and_kept(world, auth, client):
    """Two administrators (here two tabs) open the same person; the first changes the phone
    and saves; the second, whose form still shows the old phone, changes the job and saves:
    refused as a concurrent change with what they typed kept, not saved over the first's
    phone. After a reload the second's change goes through."""
    person = _person(world, job="采煤工", phone="13800000001")
    auth.login("admin")
    url = f"/admin/people/{person.id}"
    token, seen_a = _opened(client, url, "seen_profile")
    _token_b, seen_b = _opened(client, url, "seen_profile")
    form = {"csrf_token": token, "org_id": world.branch.id, "name": "张三", "job": "采煤工"}
    first = client.post(url, data={**form, "phone": "13900000002", "seen_profile": seen_a})
    assert first.status_code == 302
    second = client.post(
        f"{url}?lang=en",
        data={**form, "job": "班长", "phone": "13800000001", "seen_profile": seen_b},
    )
    html = second.get_data(as_text=True)
    assert second.status_code == 409
    assert "changed since you opened it" in html and 'value="班长"' in html
    db.session.refresh(person)
    assert (person.phone, person.job) == ("13900000002", "采煤工")
    assert _events("person_updated") == 1

    token, seen = _opened(client, url, "seen_profile")
    assert seen != seen_b
    again = client.post(
        url, data={**form, "job": "班长", "phone": "13900000002", "seen_profile": seen}
    )
    assert again.status_code == 302
    db.session.refresh(person)
    assert (person.phone, person.job) == ("13900000002", "班长")
    zh = client.post(f"{url}?lang=zh", data={**form, "job": "队长", "seen_profile": seen})
    assert zh.status_code == 409
    assert "此人的档案在您打开后已被他人保存" in zh.get_data(as_text=True)


def test_a_status_correction_on_a_record_changed_meanwhile_is_refused(world, auth, client):
    person = _person(world, activist_on=None)
    auth.login("admin")
    url = f"/admin/people/{person.id}"
    token, seen = _opened(client, url, "seen_status")
    data = {"csrf_token": token, "party_status": "target", "activist_on": "2024-03-01"}
    first = client.post(f"{url}/status", data={**data, "reason": "档案", "seen_status": seen})
    assert first.status_code == 302
    late = {**data, "activist_on": "2024-04-01", "reason": "另一份档案", "seen_status": seen}
    second = client.post(f"{url}/status?lang=en", data=late)
    assert second.status_code == 409 and 'value="2024-04-01"' in second.get_data(as_text=True)
    db.session.refresh(person)
    assert str(person.activist_on) == "2024-03-01"
    assert _events("person_status_corrected") == 1


def test_two_saves_of_one_person_at_once_cannot_both_pass(app, world):
    """The comparison is made under a lock on the person's row: two saves sent at the same
    moment from forms that saw the same record, one is kept and the other refused."""
    from pbflow.engine.errors import ConcurrentChange
    from pbflow.services import people, seen
    from tests.test_concurrency import _race

    person = _person(world, job="采煤工")
    shown = seen.digest(person, people.PROFILE_SEEN)
    db.session.commit()
    person_id, branch = person.id, world.branch.id

    def save(job: str):
        def call():
            admin = db.session.execute(select(User).where(User.username == "admin")).scalar_one()
            raw = {"org_id": branch, "name": "张三", "job": job, "seen_profile": shown}
            return people.update_profile(db.session.get(Person, person_id), raw, actor=admin)

        return call

    results = _race(app, [save("班长"), save("队长")])
    refused = [r for r in results if isinstance(r, ConcurrentChange)]
    assert len(refused) == 1 and sum(isinstance(r, dict) for r in results) == 1, results
    assert _events("person_updated") == 1


def test_add_person(world, auth, client):
    auth.login("admin")
    assert _add_person(client, world).status_code == 302
    person = db.session.execute(select(Person).where(Person.name == "王五")).scalar_one()
    assert person.party_status == "applicant"
    assert _last_event("person_created")["person_id"] == person.id


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("birth_date", "2026-03-03", "2026-03-03 is in the future"),  # the clock: 2026-03-02
        ("birth_date", "1899-12-31", "the year must be from 1900 to 2999"),
        ("birth_date", "yesterday", "is not a date (use YYYY-MM-DD)"),
        ("phone", "abc", "is not a telephone number"),
        ("phone", "12", "is not a telephone number"),
    ],
)
def test_a_person_with_an_impossible_date_or_phone_is_refused_and_kept(
    world, auth, client, clock, field, value, message
):
    """A birth or an application in the future, a year out of range, a phone that is not
    one: the form comes back naming the field's problem, with what was typed, and nothing is
    stored."""
    auth.login("admin")
    resp = _add_person(client, world, "/admin/people/new?lang=en", **{field: value})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and message in html
    assert f'value="{value}"' in html
    assert db.session.execute(select(Person).where(Person.name == "王五")).first() is None


def test_a_person_dated_today_with_a_written_phone_and_a_probation_ahead_is_kept(
    world, auth, client, clock
):
    auth.login("admin")
    resp = _add_person(client, world, birth_date="2008-03-02", phone="0571-8888 6666 转 123")
    assert resp.status_code == 302
    person = db.session.execute(select(Person).where(Person.name == "王五")).scalar_one()
    assert (str(person.birth_date), person.phone) == ("2008-03-02", "0571-8888 6666 转 123")
    # The same checks where the party dates are corrected (and the CSV import): an event of
    # today passes and one of tomorrow does not; the end of probation lies ahead by nature.
    from pbflow.services import people

    names = ("applied_on", "probation_end_on", "phone")
    values, errors = people.clean_fields(
        {"applied_on": "2026-03-02", "probation_end_on": "2027-03-01", "phone": "+86 138 0000"},
        names,
    )
    assert not errors and str(values["probation_end_on"]) == "2027-03-01"
    _values, errors = people.clean_fields({"applied_on": "2026-03-03"}, names)
    assert list(errors) == ["applied_on"] and errors["applied_on"].startswith("2026-03-03 ")


def test_person_of_unreadable_org_is_hidden(world, auth, client, make_admin_of_branch):
    person = Person(name="别处的人", org_id=world.other_branch.id)
    db.session.add(person)
    db.session.commit()
    auth.login("branch_admin")
    assert client.get(f"/admin/people/{person.id}").status_code == 404


@pytest.fixture
def make_admin_of_branch(world):
    from tests.conftest import make_user

    return make_user("branch_admin", [(world.branch, "admin")])


def test_branch_admin_may_not_change_other_branch(world, auth, client, make_admin_of_branch):
    auth.login("branch_admin")
    token = _token(client, "/admin/orgs")
    resp = client.post(
        f"/admin/orgs/{world.other_branch.id}",
        data={"csrf_token": token, "name": "改名"},
    )
    assert resp.status_code == 404  # not even visible to this admin
    user = db.session.execute(select(User).where(User.username == "member")).scalar_one()
    resp = client.post(
        f"/admin/users/{user.id}/roles?lang=en",
        data={"csrf_token": token, "role": "secretary", "org_id": world.other_branch.id},
    )
    assert resp.status_code == 403
    assert "Only an administrator of this organization" in resp.get_data(as_text=True)


# --- users and roles ------------------------------------------------------------------------


def test_create_user_then_login(world, auth, client):
    auth.login("admin")
    token = _token(client, "/admin/users/new")
    resp = client.post(
        "/admin/users/new",
        data={
            "csrf_token": token,
            "username": "newbie",
            "display_name": "新同志",
            "password": "long-enough-1",
            "locale": "en",
        },
    )
    assert resp.status_code == 302
    assert _last_event("user_created")["username"] == "newbie"
    auth.logout()
    assert auth.login("newbie", "long-enough-1").status_code == 302


def test_create_user_refusal_keeps_input_but_not_password(world, auth, client):
    auth.login("admin")
    token = _token(client, "/admin/users/new")
    resp = client.post(
        "/admin/users/new?lang=en",
        data={
            "csrf_token": token,
            "username": "member",
            "display_name": "重名",
            "password": "secret-typed",
        },
    )
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert "is already taken" in html and 'value="重名"' in html
    assert "secret-typed" not in html


def test_reset_password_unlock_and_roles(world, auth, client):
    from datetime import timedelta

    from pbflow import clock

    member = world["member"]
    member.failed_logins, member.locked_until = 5, clock.now() + timedelta(minutes=10)
    db.session.commit()
    auth.login("admin")
    url = f"/admin/users/{member.id}"
    token = _token(client, url)
    assert "Unlock" in client.get(url + "?lang=en").get_data(as_text=True)
    assert client.post(url + "/unlock", data={"csrf_token": token}).status_code == 302
    db.session.refresh(member)
    assert member.locked_until is None and member.failed_logins == 0

    resp = client.post(url + "/password?lang=en", data={"csrf_token": token, "password": "short"})
    assert resp.status_code == 422
    assert "at least 8 characters" in resp.get_data(as_text=True)
    resp = client.post(url + "/password", data={"csrf_token": token, "password": "brand-new-pw"})
    assert resp.status_code == 302

    resp = client.post(
        url + "/roles",
        data={"csrf_token": token, "role": "group_leader", "org_id": world.branch.id},
    )
    assert resp.status_code == 302
    ra = db.session.execute(
        select(RoleAssignment).where(
            RoleAssignment.user_id == member.id, RoleAssignment.role == "group_leader"
        )
    ).scalar_one()
    resp = client.post(f"{url}/roles/{ra.id}/revoke", data={"csrf_token": token})
    assert resp.status_code == 302
    assert db.session.get(RoleAssignment, ra.id) is None
    actions = audit_actions()
    for action in ("user_unlocked", "password_changed", "role_granted", "role_revoked"):
        assert action in actions
    auth.logout()
    assert auth.login("member", "brand-new-pw").status_code == 302


def test_grant_role_refusal_keeps_choice(world, auth, client):
    member = world["member"]
    auth.login("admin")
    token = _token(client, f"/admin/users/{member.id}")
    resp = client.post(
        f"/admin/users/{member.id}/roles?lang=en",
        data={"csrf_token": token, "role": "secretary", "org_id": ""},
    )
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert "choose an organization" in html
    assert '<option value="secretary" selected>' in html


def test_deactivate_keeps_history(world, auth, client):
    member = world["member"]
    auth.login("member")
    auth.logout()
    # The member's login and logout are in the security log; the process chain holds what
    # was done about them (the role granted at set-up).
    before = db.session.execute(
        select(SecurityEvent.seq).where(SecurityEvent.user_id == member.id)
    ).all()
    assert len(before) == 2
    granted = db.session.execute(
        select(AuditEvent.seq).where(AuditEvent.payload.like(f'%"user_id":{member.id},%'))
    ).all()
    assert granted
    auth.login("admin")
    token = _token(client, f"/admin/users/{member.id}")
    resp = client.post(
        f"/admin/users/{member.id}/active", data={"csrf_token": token, "active": "0"}
    )
    assert resp.status_code == 302
    db.session.refresh(member)
    assert member.active is False
    # The account, its roles, its person and every event it caused are still there.
    assert db.session.get(User, member.id) is not None
    assert member.roles and member.person is not None
    after = db.session.execute(
        select(SecurityEvent.seq).where(SecurityEvent.user_id == member.id)
    ).all()
    assert set(before) <= set(after)
    assert set(granted) <= set(
        db.session.execute(
            select(AuditEvent.seq).where(AuditEvent.payload.like(f'%"user_id":{member.id},%'))
        ).all()
    )
    assert _last_event("user_deactivated")["username"] == "member"
    page = client.get(f"/admin/users/{member.id}?lang=en").get_data(as_text=True)
    assert "deactivated" in page and "Reactivate" in page
    auth.logout()
    resp = auth.login("member")
    assert resp.status_code == 401


def test_admin_cannot_deactivate_self(world, auth, client):
    admin = world["admin"]
    auth.login("admin")
    token = _token(client, f"/admin/users/{admin.id}")
    resp = client.post(
        f"/admin/users/{admin.id}/active?lang=en", data={"csrf_token": token, "active": "0"}
    )
    assert resp.status_code == 400
    assert "cannot deactivate your own account" in resp.get_data(as_text=True)
    db.session.refresh(admin)
    assert admin.active is True


# --- CSRF -----------------------------------------------------------------------------------


def test_every_admin_form_refuses_post_without_csrf(world, auth, client):
    person = _person(world)
    member = world["member"]
    auth.login("admin")
    before = audit_actions()
    posts = {
        "/admin/orgs": {
            "parent_id": world.committee.id,
            "kind": "branch",
            "code": "x",
            "name": "x",
        },
        f"/admin/orgs/{world.branch.id}": {"name": "x"},
        f"/admin/orgs/{world.other_branch.id}/active": {"active": "0"},
        "/admin/people/new": {"org_id": world.branch.id, "name": "x"},
        f"/admin/people/{person.id}": {"org_id": world.branch.id, "name": "x"},
        f"/admin/people/{person.id}/status": {"party_status": "full", "reason": "x"},
        f"/admin/people/{person.id}/active": {"active": "0"},
        "/admin/people/import": {},
        "/admin/users/new": {"username": "x1", "display_name": "x", "password": "long-enough"},
        f"/admin/users/{member.id}/password": {"password": "long-enough"},
        f"/admin/users/{member.id}/active": {"active": "0"},
        f"/admin/users/{member.id}/unlock": {},
        f"/admin/users/{member.id}/roles": {"role": "member", "org_id": world.branch.id},
        f"/admin/users/{member.id}/roles/1/revoke": {},
        "/account/language": {"locale": "en"},
        "/account/password": {"current": PASSWORD, "new": "long-enough", "confirm": "long-enough"},
        "/audit/verify": {},
    }
    for url, data in posts.items():
        resp = client.post(url + "?lang=en", data=data)
        assert resp.status_code == 400, url
        assert "security token" in resp.get_data(as_text=True), url
    assert audit_actions() == before
