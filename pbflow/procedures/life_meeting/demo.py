"""Demo data for life meetings: the organizational life meetings of the past two years (held
every December by the branches that keep them, one rectification item still open and
overdue), and this year's meeting of the mining team branch in preparation, its plan approved
and a first heart-to-heart talk recorded."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta

from pbflow import clock
from pbflow.engine import runtime
from pbflow.procedures.life_meeting.guards import branch_committee_people, has_branch_committee
from pbflow.services import attachments
from pbflow.services.attachments import Upload

# branch -> (secretary, two more participants, rectification owner, the superior who approves,
#            the years ago it held its meeting)
BRANCHES = {
    "b1": ("chen.shuji", ("liu.fushuji", "yang.zuzhi"), "huang.dangyuan", "zhou.zongzhi", (2, 1)),
    "b3": (
        "gao.shuji",
        ("tang.dangyuan", "song.dangyuan"),
        "tang.dangyuan",
        "zhou.zongzhi",
        (2, 1),
    ),
    "b4": (
        "feng.shuji",
        ("qin.dangyuan", "jiang.dangyuan"),
        "qin.dangyuan",
        "zhou.zongzhi",
        (2, 1),
    ),
    "b2": ("guo.shuji", ("he.dangyuan", "lin.dangyuan"), "he.dangyuan", "wang.shuji", (2,)),
}
OPEN_ITEM = ("b3", 1)  # this branch's item of last year's list is still open, past its deadline
# This branch's meeting of that year missed its last participant, on leave (DOMAIN 3: each
# absence with its reason).
ON_LEAVE = (("b4", 2), "外出参加安全培训，已请假")


def _file(world, who: str, org, case_id: int, name: str, text: str) -> int:
    stored = attachments.store(
        world.user(who),
        Upload(name, io.BytesIO(text.encode("utf-8"))),
        org_id=org.id,
        instance_id=case_id,
        purpose="demo",
    )
    return stored.id


def _at(day: date, hour: int = 2):
    return clock.frozen(datetime(day.year, day.month, day.day, hour, 0))


def _past_meeting(world, code: str, years_ago: int) -> None:
    """One year's organizational life meeting, walked from the plan to the closed
    rectification list, each step on its own day."""
    secretary, others, owner, superior, years = BRANCHES[code]
    u, p, org = world.user, world.persons, world.orgs[code]
    held = date(clock.today().year - years_ago, 12, 12)
    people = [p[secretary].id, *(p[n].id for n in others)]
    with _at(held - timedelta(days=30)):
        case = runtime.start(
            "life_meeting",
            org,
            u(secretary),
            {
                "kind": "organizational",
                "theme": f"{held.year}年度组织生活会",
                "planned_date": held.isoformat(),
                "principal": people[0],
                "participants": people,
                "with_appraisal": False,
            },
        ).id
        runtime.fire(case, "submit_plan", u(secretary))
    with _at(held - timedelta(days=28)):
        runtime.fire(case, "approve_plan", u(superior), {"superior_attendee": u(superior).id})
    with _at(held - timedelta(days=20)):
        runtime.fire(
            case,
            "record_talk",
            u(secretary),
            {
                "talker": people[0],
                "talked_with": people[1:],
                "talk_date": (held - timedelta(days=20)).isoformat(),
            },
        )
        for pid in people:
            material = _file(
                world, secretary, org, case, "对照检查材料.txt", "对照检查材料（示例）"
            )
            runtime.fire(
                case, "upload_material", u(secretary), {"participant": pid, "material": material}
            )
        runtime.fire(
            case,
            "link_opinions",
            u(secretary),
            {"opinion_summary": "征求意见四条：学习不深入、联系群众不够、整改跟踪不及时。"},
        )
        runtime.fire(case, "submit_materials", u(secretary))
    with _at(held - timedelta(days=15)):
        runtime.fire(case, "approve_materials", u(superior))
    if has_branch_committee(org.id):  # the branch committee meets first (DOMAIN 2)
        with _at(held - timedelta(days=1), 8):
            runtime.fire(
                case,
                "record_committee_session",
                u(secretary),
                {
                    "committee_session_on": (held - timedelta(days=1)).isoformat(),
                    "committee_session_present": branch_committee_people(org.id),
                },
            )
    with _at(held, 8):
        minutes = _file(world, secretary, org, case, "会议记录.txt", "组织生活会会议记录（示例）")
        # The second participant keeps the minutes (DOMAIN 2: a recorder).
        attendees, reasons = people, {}
        if (code, years_ago) == ON_LEAVE[0]:
            attendees, reasons = people[:-1], {str(people[-1]): ON_LEAVE[1]}
        values = {
            "held_on": held.isoformat(),
            "place": "支部活动室",
            "attendees": attendees,
            "absence_reasons": reasons,
            "recorder": people[1],
            "superior_present": u(superior).id,
            "minutes": minutes,
        }
        if years_ago < max(years):  # the year before drew up a list: reported on (DOMAIN 2)
            values["last_rectification"] = "上年度整改清单两项：学习制度已落实，走访已完成。"
        runtime.fire(case, "hold_meeting", u(secretary), values)
    with _at(held + timedelta(days=6)):
        report = _file(world, secretary, org, case, "会议情况报告.txt", "会议情况报告（示例）")
        runtime.fire(
            case,
            "submit_report",
            u(secretary),
            {
                "report": report,
                "problems_found": "理论学习不够深入；联系群众不够紧密。",
                "measures_planned": "每月集中学习；每季度走访职工家庭。",
            },
        )
        for problem, months in (("理论学习不够深入", 2), ("联系群众不够紧密", 4)):
            deadline = held + timedelta(days=30 * months)
            runtime.fire(
                case,
                "add_item",
                u(secretary),
                {
                    "problem": problem,
                    "measures": "制定计划，逐月落实。",
                    "owner": u(owner).id,
                    "deadline": deadline.isoformat(),
                },
            )
    from sqlalchemy import select

    from pbflow.extensions import db
    from pbflow.models import ProcessInstance

    items = db.session.execute(
        select(ProcessInstance.id, ProcessInstance.data)
        .where(ProcessInstance.parent_id == case)
        .order_by(ProcessInstance.id)
    ).all()
    # Steps are taken on their day; none after today (early in a year, last year's list is
    # still being worked on).
    today = clock.today()
    left_open = (code, years_ago) == OPEN_ITEM
    done = 0
    for n, (item, data) in enumerate(items):
        deadline = date.fromisoformat(data["deadline"])
        if deadline - timedelta(days=50) > today:
            continue
        with _at(deadline - timedelta(days=50)):
            runtime.fire(item, "start_work", u(owner), {"note": "已制定整改计划。"})
        if (left_open and n == len(items) - 1) or deadline - timedelta(days=7) > today:
            continue
        with _at(deadline - timedelta(days=10)):
            evidence = _file(world, owner, org, item, "整改佐证.txt", "整改佐证材料（示例）")
            runtime.fire(
                item, "report_done", u(owner), {"summary": "已按计划完成。", "evidence": evidence}
            )
        with _at(deadline - timedelta(days=7)):
            runtime.fire(item, "accept", u(secretary))
        done += 1
    last = date.fromisoformat(items[-1].data["deadline"]) - timedelta(days=5)
    if done == len(items) and last <= today:
        with _at(last):
            runtime.fire(
                case,
                "close",
                u(secretary),
                {"announced_on": last.isoformat(), "announcement_scope": "支部全体党员"},
            )


def history(world) -> None:
    for code, (*_rest, years) in BRANCHES.items():
        if code in world.orgs:
            for years_ago in years:
                _past_meeting(world, code, years_ago)


def load(world) -> None:
    history(world)
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
