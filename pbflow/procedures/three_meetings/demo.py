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
from pbflow.procedures.three_meetings.meeting_votes import VoteInput
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


def _hours(mtype: str, day: date) -> str:
    """The study a meeting gave (training.py): a lecture two to three hours, a theme day
    two, a general meeting's collective study one hour now and then; no random draw, so the
    demo's other choices stay the same."""
    if mtype == "party_lecture":
        return "3" if day.day % 2 else "2.5"
    if mtype == "theme_day":
        return "2"
    if mtype == "general_meeting" and day.day % 3 == 0:
        return "1"
    return ""


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


def _recorder_of(account, expected, absent) -> int:
    """The person who kept the record: the one writing it, when they were there (and among
    those who should attend), else the first of those present."""
    there = [p.id for p in expected if p.id not in absent]
    mine = account.person.id if account.person else None
    return mine if mine in there else there[0]


def _record(rng: random.Random, world, code: str, mtype: str, day: date, recorded: date) -> None:
    org = world.orgs[code]
    recorder = world.user(PROFILES[code][0])
    expected = meetings.expected_attendees(org.id, mtype)
    absent = {p.id: rng.choice(REASONS) for p in expected[1:] if rng.random() < 0.12}
    present = {p.id for p in expected if p.id not in absent}
    if meetings.quorum_problem(mtype, expected, present):
        absent = {}  # the demo's meetings were all quorate: nobody was away that time
    chair = expected[0].id if expected else None
    if mtype == "group_meeting":  # chaired by the group leader (DOMAIN 3)
        chair = next((p.id for p in meetings.group_leaders(org.id)), None)
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
                recorder=str(_recorder_of(recorder, expected, absent)),
                minutes="传达学习上级精神，讨论本月工作安排。",
                training_hours=_hours(mtype, day),
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

    def record(mtype: str, days_ago: int, topic: str, absent: dict[str, str], votes=()) -> int:
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
                training_hours=_hours(mtype, today - timedelta(days=days_ago)),
                present=present,
                reasons={str(p[n].id): why for n, why in absent.items()},
                votes=[VoteInput(*v) for v in votes],
            ),
        )
        return m.id

    record("theme_day", 40, "主题党日：重温入党誓词", {"xu.dangyuan": "井下值班"})
    record(
        "committee_meeting",
        35,
        "研究发展党员工作",
        {},
        votes=[
            ("同意将两名入党申请人列为入党积极分子", "3", "0", "0"),
            ("推荐支部优秀共产党员候选人一名报党总支", "2", "0", "1"),
        ],
    )
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
    _other_training(world)


# (member, days ago, course, provider, hours): what the mining team branch entered this year.
OTHER_TRAINING = (
    ("chen.shuji", 200, "基层党组织书记轮训班", "市委党校", "24"),
    ("chen.shuji", 90, "学习贯彻党的二十届三中全会精神专题班", "集团党委", "8"),
    ("liu.fushuji", 150, "网络专题培训：新修订的《中国共产党纪律处分条例》", "学习强国", "6.5"),
    ("yang.zuzhi", 120, "党务干部培训班", "市委党校", "16"),
    ("huang.dangyuan", 60, "网上党课：安全生产与党员先锋作用", "集团党校网络学院", "4"),
)


def _other_training(world) -> None:
    from pbflow.procedures.three_meetings import training

    today = clock.today()
    b1 = world.orgs["b1"].id
    for i, (name, days_ago, course, provider, hours) in enumerate(OTHER_TRAINING):
        day = today - timedelta(days=days_ago)
        if day.year != today.year:
            # Early in a year: still this year's training, a day each (a day holds 24 hours).
            day = date(today.year, 1, 2) + timedelta(days=i)
        if day > today:
            continue
        training.record_training(
            world.user("chen.shuji"),
            b1,
            training.TrainingInput(
                person=str(world.persons[name].id),
                taken_on=day.isoformat(),
                course=course,
                provider=provider,
                hours=hours,
            ),
        )
