"""The member's development record and the standard forms, printed from the records: the
text extracted from each PDF names the facts of the case, in Chinese and in English; the
person prints their own record, the branch and the committee theirs, others nobody's; every
print is audited."""

from __future__ import annotations

import io
import json
import re
from datetime import datetime

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from pbflow.extensions import db
from pbflow.models import AuditEvent, Person
from tests.conftest import make_user
from tests.member_development.test_member_development import Walk


def pdf_text(data: bytes) -> str:
    """All the text of a PDF, pages joined, without white space: a name or phrase wrapped
    over two lines of a table cell reads as one (compare with :func:`squash` of the fact)."""
    reader = PdfReader(io.BytesIO(data))
    return squash("".join(page.extract_text() for page in reader.pages))


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def info(data: bytes) -> dict:
    return dict(PdfReader(io.BytesIO(data)).metadata)


@pytest.fixture
def admitted(world, clock):
    """A candidate admitted and on probation, with the oath taken (2027-04-20)."""
    walk = Walk(world, clock)
    walk.to_probation()
    return walk


def get_pdf(client, url: str, lang: str) -> bytes:
    response = client.get(f"{url}?lang={lang}" if "?" not in url else f"{url}&lang={lang}")
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/pdf"
    assert response.headers["Cache-Control"] == "no-store"
    return response.data


def printed(document: str) -> list[dict]:
    rows = db.session.execute(
        select(AuditEvent.actor_label, AuditEvent.payload)
        .where(AuditEvent.action == "document_printed")
        .order_by(AuditEvent.seq)
    ).all()
    return [
        {"by": who, **json.loads(p)} for who, p in rows if json.loads(p)["document"] == document
    ]


def test_the_development_record_names_every_fact_in_both_languages(admitted, client, auth):
    pid = admitted.person.id
    auth.login("secretary")
    zh = pdf_text(get_pdf(client, f"/development/person/{pid}/record.pdf", "zh"))
    for fact in (
        "发展党员全程纪实",
        "采煤一队党支部",
        "Applicant",  # the person's name as the test made it
        "2026-03-02",  # applied
        "2026-03-10",  # the talk
        "2026-03-20",  # activist
        "2027-03-22",  # development target; political review; notice
        "表现积极",  # the first half-yearly assessment
        "继续进步",
        "同意介绍",  # the introducers' opinions
        "入党动机端正",  # the superior's talk
        "2027-04-02",  # the branch general meeting's resolution
        "4票赞成",
        "第一党小组",
        "24",  # class hours
        "支部党员大会",  # the deciding body (four full members: no branch committee)
        "第 1 页",
        "Secretary",  # who took steps
        "Organizer",
        "talk_record.pdf",  # documents on file
        "admission_form_file.pdf",
    ):
        assert squash(fact) in zh, fact
    assert "谈话在递交申请后一个月内" in zh and "已满足" in zh
    en = pdf_text(get_pdf(client, f"/development/person/{pid}/record.pdf", "en"))
    for fact in (
        "Record of the development of a party member",
        "Mining team 1 branch",
        "Talk within one month of the application",
        "4 for, 0 against, 0 abstaining",
        "Passed by the branch general meeting",
        "met",
        "Page 1 of",
        "Member: 同意介绍",  # an introducer and their opinion, with the page's colon
    ):
        assert squash(fact) in en, fact
    assert "Member：" not in en and squash("Member：同意介绍") in zh
    meta = info(get_pdf(client, f"/development/person/{pid}/record.pdf", "en"))
    assert meta["/Title"] == "Record of the development of a party member"
    assert meta["/Author"] == "Mining team 1 branch"


def test_each_form_is_filled_from_the_records(admitted, client, auth):
    pid = admitted.person.id
    auth.login("secretary")
    base = f"/development/person/{pid}/forms"
    form = pdf_text(get_pdf(client, f"{base}/registration_form.pdf", "zh"))
    for fact in ("党员基本信息登记表", "Applicant", "2000-05-01", "第一党小组", "2027-04-20"):
        assert squash(fact) in form, fact
    assert "（签字）" in form and "（盖章）" in form
    resolution = pdf_text(get_pdf(client, f"{base}/admission_resolution.pdf", "zh"))
    assert "支部党员大会关于接收预备党员的决议" in resolution
    assert "2027-04-02" in resolution and "同意接收Applicant同志为中国共产党预备党员" in resolution
    talk = pdf_text(get_pdf(client, f"{base}/talk_record.pdf?variant=superior", "zh"))
    assert "谈话记录" in talk and "入党动机端正" in talk and "2027-04-20" in talk
    notice = pdf_text(get_pdf(client, f"{base}/membership_notice.pdf?variant=probationary", "en"))
    assert squash("Notice of admission as a probationary member") in notice
    end = admitted.person.probation_end_on.isoformat()  # one year from the resolution
    assert "2027-04-02" in notice and end in notice and end.startswith("2028-04")
    # Not yet: no conversion resolution, no full membership.
    assert client.get(f"{base}/conversion_resolution.pdf").status_code == 404
    assert client.get(f"{base}/membership_notice.pdf?variant=full").status_code == 404
    assert client.get(f"{base}/nonsense.pdf").status_code == 404
    kinds = [p["document"] for p in printed("registration_form") + printed("talk_record")]
    assert kinds == ["registration_form", "talk_record"]


def test_the_person_prints_their_own_record_and_strangers_none(admitted, client, auth, world):
    pid = admitted.person.id
    auth.login("applicant")
    assert client.get(f"/development/person/{pid}/record.pdf").status_code == 200
    page = client.get(f"/development/person/{pid}/record")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "style=" not in html and "onclick" not in html
    auth.logout()
    auth.login("other_secretary")  # another branch's secretary
    assert client.get(f"/development/person/{pid}/record.pdf").status_code == 404
    assert client.get(f"/development/person/{pid}/forms/registration_form.pdf").status_code == 404
    auth.logout()
    auth.login("committee_a")  # the committee's office reads its branches
    assert client.get(f"/development/person/{pid}/record.pdf").status_code == 200
    who = [(p["by"], p["format"]) for p in printed("development_record")]
    assert who == [("applicant", "pdf"), ("applicant", "html"), ("committee_a", "pdf")]


def test_a_member_without_a_case_has_no_record(world, client, auth):
    auth.login("secretary")
    member = make_user("loner", person_org=world.branch)
    person = db.session.execute(select(Person).where(Person.user_id == member.id)).scalar_one()
    response = client.get(f"/development/person/{person.id}/record.pdf?lang=en")
    assert response.status_code == 404
    assert "Loner has no development record yet." in response.get_data(as_text=True)
    assert printed("development_record") == []  # a refusal prints nothing


def test_the_same_record_printed_at_the_same_time_gives_the_same_bytes(admitted, client, auth):
    pid = admitted.person.id
    auth.login("secretary")
    first = get_pdf(client, f"/development/person/{pid}/record.pdf", "zh")
    second = get_pdf(client, f"/development/person/{pid}/record.pdf", "zh")
    assert first == second
    assert info(first)["/CreationDate"].startswith(datetime(2027, 4, 20, 2).strftime("D:%Y%m%d%H"))


def test_the_case_history_says_a_document_was_printed_in_words(admitted, client, auth):
    """The print's audit event shows on the case's history as words in the reader's
    language, not as its key 'document_printed'."""
    pid = admitted.person.id
    auth.login("secretary")
    get_pdf(client, f"/development/person/{pid}/record.pdf", "en")
    en = client.get(f"/cases/{admitted.case_id}?lang=en").get_data(as_text=True)
    assert "Printed or downloaded a document" in en
    zh = client.get(f"/cases/{admitted.case_id}?lang=zh").get_data(as_text=True)
    for page in (en, zh):
        assert "document_printed" not in page.replace("event-document_printed", ""), page


def test_the_record_page_writes_its_colons_in_the_pages_language(admitted, client, auth):
    """The record page's 'label: value' lines take the colon of the page's language: the
    full-width '：' in Chinese, ': ' in English (it wrote 'Applicant：…' in English)."""
    pid = admitted.person.id
    auth.login("secretary")
    en = client.get(f"/development/person/{pid}/record?lang=en").get_data(as_text=True)
    assert "：" not in en and "Date of the talk: " in en
    zh = client.get(f"/development/person/{pid}/record?lang=zh").get_data(as_text=True)
    assert "谈话日期：" in zh
