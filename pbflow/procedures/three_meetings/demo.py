"""Demo data for meetings: a few "three meetings and one lesson" records of the mining team
branch (one of them corrected afterwards)."""

from __future__ import annotations

from datetime import timedelta

from pbflow import clock
from pbflow.procedures.three_meetings import services as meetings
from pbflow.procedures.three_meetings.services import MeetingInput


def load(world) -> None:
    u, p = world.user, world.persons
    today = clock.today()
    b1 = world.orgs["b1"].id
    everyone = ["chen.shuji", "liu.fushuji", "yang.zuzhi", "huang.dangyuan", "wu.dangyuan"]
    everyone += ["xu.dangyuan", "zheng.yubei"]

    def record(mtype: str, days_ago: int, topic: str, absent: dict[str, str]) -> int:
        present = [str(p[n].id) for n in everyone if n not in absent]
        if mtype == "committee_meeting":
            present = [str(p[n].id) for n in ("chen.shuji", "liu.fushuji", "yang.zuzhi")]
        m = meetings.record_meeting(
            u("chen.shuji"),
            b1,
            MeetingInput(
                meeting_type=mtype,
                held_on=(today - timedelta(days=days_ago)).isoformat(),
                topic=topic,
                place="队部会议室",
                chair=str(p["chen.shuji"].id),
                recorder=str(p["yang.zuzhi"].id),
                minutes="书记传达上级精神，党员逐一发言。",
                present=present,
                reasons={str(p[n].id): why for n, why in absent.items()},
            ),
        )
        return m.id

    record("theme_day", 40, "主题党日：重温入党誓词", {"xu.dangyuan": "井下值班"})
    record("committee_meeting", 35, "研究发展党员工作", {})
    first = record("general_meeting", 20, "支部党员大会：讨论预备党员转正", {})
    record("party_lecture", 10, "书记讲党课：安全生产与党员责任", {"wu.dangyuan": "病假"})
    meetings.edit_meeting(
        u("chen.shuji"),
        first,
        MeetingInput(
            meeting_type="general_meeting",
            held_on=(today - timedelta(days=20)).isoformat(),
            topic="支部党员大会：讨论预备党员郑凯转正",
            place="队部会议室",
            chair=str(p["chen.shuji"].id),
            recorder=str(p["yang.zuzhi"].id),
            minutes="书记传达上级精神，党员逐一发言。",
            present=[str(p[n].id) for n in everyone],
        ),
        reason="补全议题名称",
    )
