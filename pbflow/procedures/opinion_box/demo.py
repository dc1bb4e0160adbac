"""Demo opinions in every state of the opinion box, dropped and handled through the same
service functions and transitions as real use. Their tracking codes are printed once (as a
real submitter would see them) so the follow page can be tried."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import click

from pbflow import clock
from pbflow.engine import runtime
from pbflow.procedures.opinion_box import services as opinions

# Two years of opinions before this quarter: org -> (secretary, handler, days to answer,
# ratings given). The mining team answers fast and well; the electromechanical team late.
HISTORY = {
    "b1": ("chen.shuji", "yang.zuzhi", (2, 8), (4, 5, 5, 4, 5, 3)),
    "b3": ("gao.shuji", "tang.dangyuan", (6, 16), (3, 4, 5, 4, 2)),
    "b4": ("feng.shuji", "qin.dangyuan", (3, 10), (5, 4, 4, 5)),
    "b2": ("guo.shuji", "he.dangyuan", (12, 30), (2, 3, 4, 2, 3, 1)),
}
PAST = [
    ("食堂菜品单一", "建议食堂增加面食品种。", "welfare"),
    ("更衣室热水不足", "夜班下井前更衣室经常没有热水。", "welfare"),
    ("安全帽配发不及时", "新进职工安全帽要等一周才发。", "production_safety"),
    ("学习资料更新慢", "支部学习资料还是去年的。", "party_building"),
    ("加班通知太晚", "加班安排常在下班前才通知。", "work_style"),
    ("井口照明不足", "二号井口夜间照明不足。", "production_safety"),
]

OPINIONS = [
    # org, subject, text, category, contact (None: anonymous), how far it gets
    ("b1", "井下休息室通风差", "三号井下休息室通风不好，夏天闷热。", "welfare", None, "received"),
    ("b1", "班车时间不合理", "夜班下班后要等四十分钟班车。", "welfare", None, "assigned"),
    (
        "b1",
        "安全培训流于形式",
        "安全培训只念文件，建议多做实操演练。",
        "production_safety",
        None,
        "in_review",
    ),
    (
        "b1",
        "党员活动室开放时间",
        "希望党员活动室周末也开放。",
        "party_building",
        "黄磊 13800000001",
        "published",
    ),
    ("b1", "食堂饭菜价格偏高", "最近套餐涨价，希望支部了解情况。", "welfare", None, "rated_5"),
    (
        "b1",
        "班组长态度粗暴",
        "班组长经常训斥工人，希望加强作风建设。",
        "work_style",
        None,
        "reopened_rated_3",
    ),
    ("b1", "想咨询工资问题", "我的工资条看不懂。", "other", None, "set_aside"),
    (
        "b2",
        "检修工具老化",
        "机电队检修工具老化，存在安全隐患。",
        "production_safety",
        "何平 13800000002",
        "received",
    ),
    (
        "b3",
        "通风设备采购",
        "通风队需要新的风速仪，支部解决不了。",
        "production_safety",
        None,
        "transferred",
    ),
    ("coal", "职工体检安排", "建议体检增加职业病筛查项目。", "welfare", None, "received"),
]


def _answer(world, case_id: int, text: str) -> None:
    u = world.user
    runtime.fire(case_id, "answer", u("yang.zuzhi"), {"answer": text})
    runtime.fire(case_id, "approve_answer", u("chen.shuji"))
    runtime.fire(case_id, "publish", u("chen.shuji"))


def _handle(world, case_id: int, code: str, goal: str) -> None:
    u = world.user
    if goal == "received":
        return
    if goal == "set_aside":
        reason = "属个人工资咨询，请向劳资科反映，电话 6201。"
        runtime.fire(case_id, "set_aside", u("chen.shuji"), {"set_aside_reason": reason})
        return
    if goal == "transferred":
        runtime.fire(
            case_id, "transfer", u("gao.shuji"), {"transfer_to": "gb1"}, comment="需总支协调采购"
        )
        return
    runtime.fire(case_id, "accept", u("chen.shuji"))
    runtime.fire(case_id, "assign", u("chen.shuji"), {"handler": u("yang.zuzhi").id})
    if goal == "assigned":
        return
    if goal == "in_review":
        runtime.fire(case_id, "answer", u("yang.zuzhi"), {"answer": "下月起每季度组织实操演练。"})
        return
    _answer(world, case_id, "已与相关部门协调，下月起落实。")
    if goal == "reopened_rated_3":
        opinions.act(
            code,
            "reject_answer",
            {"reject_reason": "没有当面道歉"},
            expected_version=None,
            user=None,
            client="demo",
        )
        _answer(world, case_id, "班组长已在班前会公开道歉，并纳入考核。")
    if goal.endswith(("_5", "_3")):
        opinions.act(
            code,
            "accept_answer",
            {"rating": goal[-1], "rating_comment": "答复及时"},
            expected_version=None,
            user=None,
            client="demo",
        )


def _at(when: datetime):
    return clock.frozen(when)


def history(world) -> None:
    """An opinion every six weeks or so per branch, for two years up to this quarter: dropped,
    accepted, answered in each branch's usual time, published and rated by the submitter
    (one reopened first), each step on its own day."""
    from pbflow.demo import months_ago

    u = world.user
    rng = random.Random(20240915)
    today = clock.today()
    quarter = opinions.quarter_of(today).start
    start = months_ago(24)
    n = 0
    for code, (secretary, handler, (fast, slow), ratings) in HISTORY.items():
        when = start + timedelta(days=rng.randint(0, 20))
        k = 0
        while when.date() < quarter - timedelta(days=40):
            subject, text, category = PAST[(k + n) % len(PAST)]
            n += 1
            with _at(when):
                slip = opinions.submit(
                    code,
                    {"subject": subject, "text": text, "category": category, "anonymous": "1"},
                    user=None,
                    client=f"demo-history-{n}",
                )
            case = opinions._case_for_code(slip.code)
            with _at(when + timedelta(days=1)):
                runtime.fire(case, "accept", u(secretary))
                runtime.fire(case, "assign", u(secretary), {"handler": u(handler).id})
            answered = when + timedelta(days=rng.randint(fast, slow))
            k += 1
            when += timedelta(days=rng.randint(30, 60))
            if answered.date() >= today - timedelta(days=40):
                continue  # never a step after today: this one is still being handled
            with _at(answered):
                runtime.fire(case, "answer", u(handler), {"answer": "已调查核实并落实整改。"})
                runtime.fire(case, "approve_answer", u(secretary))
                runtime.fire(case, "publish", u(secretary))
            rated = answered + timedelta(days=rng.randint(1, 6))
            if k % 7 == 4:  # now and then the submitter is not satisfied at first
                with _at(rated):
                    opinions.act(
                        slip.code,
                        "reject_answer",
                        {"reject_reason": "问题没有解决"},
                        expected_version=None,
                        user=None,
                        client=f"demo-history-{n}",
                    )
                answered = rated + timedelta(days=rng.randint(fast, slow))
                with _at(answered):
                    runtime.fire(case, "answer", u(handler), {"answer": "已再次落实。"})
                    runtime.fire(case, "approve_answer", u(secretary))
                    runtime.fire(case, "publish", u(secretary))
                rated = answered + timedelta(days=2)
            with _at(rated):
                opinions.act(
                    slip.code,
                    "accept_answer",
                    {"rating": str(ratings[k % len(ratings)])},
                    expected_version=None,
                    user=None,
                    client=f"demo-history-{n}",
                )


def load(world) -> None:
    history(world)
    codes = []
    for i, (org, subject, text, category, contact, goal) in enumerate(OPINIONS):
        form = {"subject": subject, "text": text, "category": category}
        form.update({"contact": contact} if contact else {"anonymous": "1"})
        # Each demo submitter counts as its own client, as different visitors would.
        slip = opinions.submit(org, form, user=None, client=f"demo-{i}")
        codes.append((slip.code, org, goal))
        _handle(world, opinions._case_for_code(slip.code), slip.code, goal)
    click.echo("Demo opinion tracking codes (follow at /opinions/track):")
    for code, org, goal in codes:
        click.echo(f"  {code}  {org:<5} {goal}")
