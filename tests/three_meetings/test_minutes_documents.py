"""Minutes on paper: one meeting with its attendance and corrections, and the bound yearly
volume of a branch (contents with page numbers, every meeting of the year, the life meetings
among them), read back from the PDFs' text in both languages."""

from __future__ import annotations

import io
import json
import re

from pypdf import PdfReader
from sqlalchemy import select

from pbflow.extensions import db
from pbflow.models import AuditEvent
from pbflow.procedures.three_meetings import services as meetings
from tests.life_meeting.test_life_meeting import record_peer_appraisal, to_held
from tests.three_meetings.test_meetings import pid, theme_day


def pages(data: bytes) -> list[str]:
    return [re.sub(r"\s+", "", p.extract_text()) for p in PdfReader(io.BytesIO(data)).pages]


def get(client, url: str) -> bytes:
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/pdf"
    return response.data


def test_one_meetings_minutes_show_attendance_and_every_correction(world, client, auth):
    m = meetings.record_meeting(world["secretary"], world.branch.id, theme_day(world))
    meetings.edit_meeting(
        world["secretary"],
        m.id,
        theme_day(world, topic="学习新修订的《支部工作条例》"),
        reason="题目写错",
    )
    auth.login("deputy")
    zh = "".join(pages(get(client, f"/meetings/{m.id}/minutes.pdf?lang=zh")))
    for fact in (
        "主题党日",
        "2026-03-01",
        "会议室",
        "应到4人，实到3人",
        "BranchMember（井下值班）",  # absent, with the reason
        "书记领学，大家交流",
        "题目写错",  # the correction, its reason, before and after
        "学习新修订的《条例》",
        "学习新修订的《支部工作条例》",
        "第1页，共1页",
    ):
        assert fact in zh, fact
    en = "".join(pages(get(client, f"/meetings/{m.id}/minutes.pdf?lang=en")))
    assert "Themepartyday" in en and "3of4present" in en and "Historyofcorrections" in en
    payloads = [
        json.loads(p)
        for p in db.session.execute(
            select(AuditEvent.payload).where(AuditEvent.action == "document_printed")
        ).scalars()
    ]
    assert [(p["document"], p["meeting_id"], p["version"]) for p in payloads] == [
        ("meeting_minutes", m.id, 2),
        ("meeting_minutes", m.id, 2),
    ]
    auth.logout()
    auth.login("other_secretary")
    assert client.get(f"/meetings/{m.id}/minutes.pdf").status_code == 404


def test_the_yearly_volume_binds_the_branchs_meetings_with_contents(world, clock, client, auth):
    meetings.record_meeting(world["secretary"], world.branch.id, theme_day(world))
    meetings.record_meeting(
        world["secretary"],
        world.branch.id,
        theme_day(
            world,
            meeting_type="general_meeting",
            held_on="2026-02-10",
            topic="讨论发展党员",
            resolutions="同意接收，赞成4票",
        ),
    )
    life = to_held(world, clock)  # an organizational life meeting held 2026-03-20
    auth.login("secretary")
    case_page = client.get(f"/cases/{life}").get_data(as_text=True)
    assert f"/life-meetings/{life}/minutes.pdf" in case_page
    life_pdf = "".join(pages(get(client, f"/life-meetings/{life}/minutes.pdf?lang=zh")))
    assert "组织生活会" in life_pdf and "2026-03-20" in life_pdf and "应到4人，实到3人" in life_pdf
    volume = pages(get(client, f"/documents/minutes/{world.branch.id}/2026.pdf?lang=zh"))
    assert "2026年会议记录汇编" in volume[0] and "共3次会议" in volume[0]
    contents = volume[1]
    assert "目录" in contents
    # In date order, each with the page it starts on.
    order = [contents.index(t) for t in ("讨论发展党员", "学习新修订的《条例》", "学思想、强党性")]
    assert order == sorted(order)
    # The contents give each meeting's first page (cover and contents are pages 1 and 2).
    raw = PdfReader(io.BytesIO(get(client, f"/documents/minutes/{world.branch.id}/2026.pdf")))
    dots = re.findall(r"(?:\.\s*){3,}(\d+)\s*$", raw.pages[1].extract_text(), re.M)
    numbers = [int(n) for n in dots]
    assert numbers == [3, 4, 5]
    topics = ("讨论发展党员", "学习新修订的《条例》", "学思想、强党性")
    for topic, page in zip(topics, numbers, strict=True):
        assert topic in volume[page - 1], topic
    assert f"第{len(volume)}页，共{len(volume)}页" in volume[-1]
    assert "同意接收，赞成4票" in "".join(volume)
    en = pages(get(client, f"/documents/minutes/{world.branch.id}/2026.pdf?lang=en"))
    assert "Minutesof2026" in en[0] and "Contents" in en[1]
    assert client.get(f"/documents/minutes/{world.branch.id}/1900.pdf").status_code == 422
    auth.logout()
    auth.login("member")  # a plain member does not read the branch's books
    assert client.get(f"/documents/minutes/{world.branch.id}/2026.pdf").status_code == 404
    auth.logout()
    auth.login("committee_a")  # the committee's office prints its branches'
    assert client.get(f"/documents/minutes/{world.branch.id}/2026.pdf").status_code == 200
    printed = db.session.execute(
        select(AuditEvent.actor_label, AuditEvent.org_id, AuditEvent.payload).where(
            AuditEvent.action == "document_printed"
        )
    ).all()
    volumes = [
        (who, org) for who, org, p in printed if json.loads(p)["document"] == "minutes_volume"
    ]
    assert volumes == [("secretary", world.branch.id)] * 3 + [("committee_a", world.branch.id)]
    assert pid(world, "secretary")  # the helper module stays in use


def test_a_life_meetings_minutes_carry_its_peer_appraisal(world, clock, client, auth):
    life = to_held(world, clock)  # with the democratic appraisal of members
    record_peer_appraisal(world, life, peer_appraisal_summary="收回互评表4份，意见两条")
    auth.login("secretary")
    text = "".join(pages(get(client, f"/life-meetings/{life}/minutes.pdf?lang=zh")))
    assert "互评情况（收回评议表份数、主要意见）" in text
    assert "收回互评表4份，意见两条" in text
