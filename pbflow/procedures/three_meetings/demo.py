"""Demo data for meetings: about two years of "three meetings and one lesson" in five
branches and a party group, some kept faithfully, some lagging (one set up only months ago),
with the reminders and misses ``pbflow tick`` recorded at each month's end; then a few
recent records of the mining team branch (one corrected afterwards)."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

from pbflow import clock
from pbflow.demo import months_ago, set_up_on
from pbflow.engine import actors
from pbflow.procedures.three_meetings import compliance
from pbflow.procedures.three_meetings import services as meetings
from pbflow.procedures.three_meetings.services import MeetingInput

# org code -> (who records, share of meetings held): some compliant, some lagging.
PROFILES = {
    "b1": ("chen.shuji", 0.97),
    "b1g1": ("wu.dangyuan", 0.9),
    "b3": ("gao.shuji", 0.85),
    "b4": ("feng.shuji", 0.93),
    "b2": ("guo.shuji", 0.55),
    "b5": ("qian.shuji", 0.7),
}
TOPICS = {
    "theme_day": ("主题党日：重温入党誓词", "主题党日：安全生产志愿服务", "主题党日：参观矿史馆"),
    "committee_meeting": ("支委会：研究月度工作", "支委会：研究发展党员工作"),
    "general_meeting": ("支部党员大会：季度工作通报", "支部党员大会：民主评议党员"),
    "party_lecture": ("书记讲党课：安全生产与党员责任", "党课：学习党章"),
    "group_meeting": ("党小组学习", "党小组会：交流思想"),
}
REASONS = ("井下值班", "病假", "外出培训", "事假")
QUARTER_MONTH = {"general_meeting": 2, "party_lecture": 1}  # which month of the quarter


def _month_start(n: int) -> date:
    return months_ago(n).date()


def _plan(rng: random.Random, world, code: str, n: int, required: dict) -> list:
    """The meetings a branch holds in the month ``n`` months ago: (type, day, recorded)."""
    first = _month_start(n)
    planned = []
    for mtype, (period, _times) in required.items():
        if period == "quarter" and (first.month - 1) % 3 != QUARTER_MONTH.get(mtype, 2):
            continue
        if rng.random() > PROFILES[code][1]:
            continue  # missed
        day = first + timedelta(days=rng.randint(5, 24))
        # Most are written down within days; now and then a record comes weeks late.
        late = rng.randint(1, 4) if rng.random() > 0.1 else rng.randint(15, 30)
        planned.append((mtype, day, day + timedelta(days=late)))
    return planned


def _record(rng: random.Random, world, code: str, mtype: str, day: date, recorded: date) -> None:
    org = world.orgs[code]
    recorder = world.user(PROFILES[code][0])
    expected = meetings.expected_attendees(org.id, mtype)
    absent = {p.id: rng.choice(REASONS) for p in expected[1:] if rng.random() < 0.12}
    present = {p.id for p in expected if p.id not in absent}
    if meetings.quorum_problem(mtype, expected, present):
        absent = {}  # the demo's meetings were all quorate: nobody was away that time
    chair = expected[0].id if expected else None
    with clock.frozen(datetime(recorded.year, recorded.month, recorded.day, 9, 0)):
        meetings.record_meeting(
            recorder,
            org.id,
            MeetingInput(
                meeting_type=mtype,
                held_on=day.isoformat(),
                topic=rng.choice(TOPICS[mtype]),
                place="党员活动室",
                chair=str(chair or ""),
                minutes="传达学习上级精神，讨论本月工作安排。",
                present=[str(p.id) for p in expected if p.id not in absent],
                reasons={str(k): v for k, v in absent.items()},
            ),
        )


def history(world) -> None:
    """Two years of meetings, month by month, each recorded when it was written down, with
    ``tick``'s reminders and recorded misses at the end of every month."""
    from pbflow.demo import HISTORY_MONTHS

    rng = random.Random(20240601)
    codes = [c for c in PROFILES if c in world.orgs]
    required = compliance.requirements([world.orgs[c].id for c in codes])
    waiting: list[tuple[date, str, str, date]] = []  # records written down later
    for n in range(HISTORY_MONTHS, 0, -1):
        month_end = _month_start(n - 1) - timedelta(days=1)
        for code in codes:
            if set_up_on(code).date() > _month_start(n):
                continue
            for mtype, day, recorded in _plan(rng, world, code, n, required[world.orgs[code].id]):
                waiting.append((recorded, code, mtype, day))
        cutoff = month_end - timedelta(days=4)
        due = sorted(w for w in waiting if w[0] <= cutoff)
        waiting = [w for w in waiting if w[0] > cutoff]
        for recorded, code, mtype, day in due:
            _record(rng, world, code, mtype, day, recorded)
        # The timer at the end of the month (and again on the first of the next).
        for when in (datetime.combine(cutoff, datetime.min.time()), months_ago(n - 1)):
            with clock.frozen(when):
                compliance.tick(when)
    today = clock.today()
    for recorded, code, mtype, day in sorted(waiting):
        if recorded <= today:
            _record(rng, world, code, mtype, day, recorded)
    actors.forget_orgs()


def load(world) -> None:
    history(world)
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
