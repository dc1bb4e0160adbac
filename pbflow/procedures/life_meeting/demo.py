"""Demo data for life meetings: an organizational life meeting of the mining team branch in
preparation, its plan approved and a first heart-to-heart talk recorded."""

from __future__ import annotations

from datetime import timedelta

from pbflow import clock
from pbflow.engine import runtime


def load(world) -> None:
    u, p = world.user, world.persons
    today = clock.today()
    participants = [p[n].id for n in ("chen.shuji", "liu.fushuji", "yang.zuzhi")]
    case = runtime.start(
        "life_meeting",
        world.orgs["b1"],
        u("chen.shuji"),
        {
            "kind": "organizational",
            "theme": "年度组织生活会暨民主评议党员",
            "planned_date": (today + timedelta(days=20)).isoformat(),
            "principal": p["chen.shuji"].id,
            "participants": participants,
            "with_appraisal": True,
        },
    )
    runtime.fire(case.id, "submit_plan", u("chen.shuji"))
    runtime.fire(
        case.id, "approve_plan", u("zhou.zongzhi"), {"superior_attendee": u("zhou.zongzhi").id}
    )
    runtime.fire(
        case.id,
        "record_talk",
        u("chen.shuji"),
        {
            "talker": p["chen.shuji"].id,
            "talked_with": [p["liu.fushuji"].id],
            "talk_date": today.isoformat(),
            "talk_note": "交流工作作风方面的问题",
        },
    )
