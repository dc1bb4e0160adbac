"""Demo data for a first look: a coal mine's party committee, its branches, people in every
role, and cases in various states. Loaded by ``pbflow init --demo`` only into an empty
database, through the same service functions as real use (so it is all in the audit trail).

The organizations were set up a little over two years ago (one branch only months ago), so
each procedure's ``demo`` hook (see ``pbflow.procedures.Procedure``), called with the
:class:`DemoWorld` in the order the procedures are taken up, adds about two years of history
besides today's cases: some branches keep their meetings, others lag, so the supervision
dashboard, the compliance calendars and the charts show what they are for. History is made
through the same services with the clock set back (``clock.frozen``), as it would have been
recorded then.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from pbflow import clock
from pbflow.extensions import db
from pbflow.models import Organization, Person, User
from pbflow.procedures import installed
from pbflow.services import accounts

PASSWORD = "pbflow-demo"

# username, display name, [(org code, role)], person org code or None, party status
PEOPLE: list[tuple[str, str, list[tuple[str, str]], str | None, str]] = [
    ("admin", "系统管理员", [("coal", "admin")], None, "none"),
    (
        "wang.shuji",
        "王建国（党委书记）",
        [("coal", "committee"), ("coal", "secretary")],
        "coal",
        "full",
    ),
    ("li.weiyuan", "李红梅（党委委员）", [("coal", "committee")], "coal", "full"),
    (
        "zhao.zuzhi",
        "赵立新（组织部）",
        [("coal", "committee"), ("coal", "organizer")],
        "coal",
        "full",
    ),
    ("sun.weiyuan", "孙志强（党委委员）", [("coal", "committee")], "coal", "full"),
    ("zhou.zongzhi", "周海（总支书记）", [("gb1", "secretary")], "gb1", "full"),
    (
        "chen.shuji",
        "陈伟（采煤一队支书）",
        [("b1", "secretary"), ("b1", "branch_committee")],
        "b1",
        "full",
    ),
    (
        "liu.fushuji",
        "刘洋（采煤一队副书记）",
        [("b1", "deputy_secretary"), ("b1", "branch_committee")],
        "b1",
        "full",
    ),
    (
        "yang.zuzhi",
        "杨帆（采煤一队组织委员）",
        [("b1", "organizing_member"), ("b1", "branch_committee")],
        "b1",
        "full",
    ),
    ("huang.dangyuan", "黄磊（党员）", [("b1", "member")], "b1", "full"),
    (
        "wu.dangyuan",
        "吴静（党员）",
        [("b1", "member"), ("b1g1", "group_leader")],
        "b1g1",
        "full",
    ),
    ("xu.dangyuan", "徐明（党员）", [("b1", "member")], "b1g1", "full"),
    ("zheng.yubei", "郑凯（预备党员）", [("b1", "member")], "b1", "probationary"),
    ("ma.jiji", "马超（入党积极分子）", [], "b1", "activist"),
    ("zhu.shenqing", "朱丽（入党申请人）", [], "b1", "applicant"),
    (
        "guo.shuji",
        "郭强（机电队支书）",
        [("b2", "secretary"), ("b2", "branch_committee")],
        "b2",
        "full",
    ),
    ("he.dangyuan", "何平（机电队党员）", [("b2", "member")], "b2", "full"),
    ("lin.dangyuan", "林涛（机电队党员）", [("b2", "member")], "b2", "full"),
    ("luo.dangyuan", "罗军（机电队党员）", [("b2", "member")], "b2", "full"),
    (
        "gao.shuji",
        "高远（通风队支书）",
        [("b3", "secretary"), ("b3", "branch_committee")],
        "b3",
        "full",
    ),
    ("tang.dangyuan", "唐峰（通风队党员）", [("b3", "member")], "b3", "full"),
    ("song.dangyuan", "宋雨（通风队党员）", [("b3", "member")], "b3", "full"),
    ("han.shenji", "韩雪（纪委审计）", [("coal", "auditor")], None, "none"),
    (
        "feng.shuji",
        "冯刚（采煤二队支书）",
        [("b4", "secretary"), ("b4", "branch_committee")],
        "b4",
        "full",
    ),
    ("qin.dangyuan", "秦岭（采煤二队党员）", [("b4", "member")], "b4", "full"),
    ("jiang.dangyuan", "蒋芳（采煤二队党员）", [("b4", "member")], "b4", "full"),
    ("shen.dangyuan", "沈浩（采煤二队预备党员）", [("b4", "member")], "b4", "probationary"),
    ("qian.shuji", "钱进（运输队支书）", [("b5", "secretary")], "b5", "full"),
    ("cao.dangyuan", "曹敏（运输队党员）", [("b5", "member")], "b5", "full"),
    ("peng.dangyuan", "彭亮（运输队党员）", [("b5", "member")], "b5", "full"),
]

# How each person's profile varies (birth year offset, education), by position in PEOPLE:
# enough variety for the membership statistics (age bands, education, party standing).
EDUCATION = ("大专", "本科", "高中", "中专", "本科", "硕士研究生", "大专")
AGES = (52, 47, 38, 44, 29, 35, 41, 33, 56, 27, 31, 45, 24, 26, 22, 39, 58, 30, 49, 28, 36, 54)
# Members who became full members during the last two years (days ago): their conversion
# shows in the membership changes; the probationary ones were admitted this many days ago.
RECENTLY_CONVERTED = {"lin.dangyuan": 150, "jiang.dangyuan": 420, "peng.dangyuan": 95}
ADMITTED_DAYS_AGO = {"shen.dangyuan": 120}

ORGS = [
    ("coal", "红星煤矿党委", "Hongxing Coal Mine Party Committee", "committee", None),
    ("gb1", "综采党总支", "Fully-mechanized Mining General Branch", "general_branch", "coal"),
    ("b1", "采煤一队党支部", "Mining Team 1 Branch", "branch", "gb1"),
    ("b1g1", "采煤一队第一党小组", "Mining Team 1, Party Group 1", "party_group", "b1"),
    ("b3", "通风队党支部", "Ventilation Team Branch", "branch", "gb1"),
    ("b4", "采煤二队党支部", "Mining Team 2 Branch", "branch", "gb1"),
    ("b2", "机电队党支部", "Electromechanical Team Branch", "branch", "coal"),
    ("b5", "运输队党支部", "Transport Team Branch", "branch", "coal"),
]
HISTORY_MONTHS = 26  # the organizations were set up this many months ago ...
NEW_BRANCH = ("b5", 7)  # ... except this branch, set up mid-month this many months ago


@dataclass
class DemoWorld:
    orgs: dict[str, Organization] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    persons: dict[str, Person] = field(default_factory=dict)

    def user(self, username: str) -> User:
        return self.users[username]


def months_ago(n: int, day: int = 1, hour: int = 2) -> datetime:
    """A UTC time ``n`` months before this month, on ``day`` (10:00 in Beijing by default)."""
    today = clock.today()
    index = today.year * 12 + today.month - 1 - n
    return datetime(index // 12, index % 12 + 1, day, hour, 0)


def set_up_on(code: str) -> datetime:
    """When a demo organization was set up."""
    if code == NEW_BRANCH[0]:
        return months_ago(NEW_BRANCH[1], day=14)
    return months_ago(HISTORY_MONTHS) - timedelta(days=3)


def _birth(age: int) -> date:
    return clock.today() - timedelta(days=365 * age + 40)


def _people(world: DemoWorld) -> None:
    today = clock.today()
    for i, (username, name, roles, person_org, status) in enumerate(PEOPLE):
        user = accounts.create_user(username, name, PASSWORD, commit=False)
        world.users[username] = user
        for org_code, role in roles:
            accounts.grant_role(user, world.orgs[org_code], role, commit=False)
        if person_org:
            full_on = None
            if status == "full":
                days = RECENTLY_CONVERTED.get(username, 365 * (3 + (i * 7) % 29))
                full_on = today - timedelta(days=days)
            admitted = ADMITTED_DAYS_AGO.get(username)
            person = Person(
                name=name.split("（")[0],
                org_id=world.orgs[person_org].id,
                user_id=user.id,
                party_status=status,
                birth_date=_birth(AGES[i % len(AGES)]),
                gender="女" if i % 3 == 0 else "男",
                ethnicity="汉族",
                education=EDUCATION[i % len(EDUCATION)],
                job="采煤工" if person_org in ("b1", "b1g1", "b4") else "职工",
                applied_on=today - timedelta(days=900) if status != "none" else None,
                admitted_on=full_on - timedelta(days=365)
                if full_on
                else (today - timedelta(days=admitted) if admitted else None),
                probation_end_on=today - timedelta(days=admitted) + timedelta(days=365)
                if admitted
                else None,
                full_member_on=full_on,
            )
            db.session.add(person)
            world.persons[username] = person
    db.session.commit()


def is_empty() -> bool:
    return not db.session.execute(select(func.count()).select_from(Organization)).scalar()


def load_if_empty() -> DemoWorld | None:
    """Load the demo organization into an empty database; None when data is already there."""
    if not is_empty():
        return None
    world = DemoWorld()
    for code, name, name_en, kind, parent in ORGS:
        with clock.frozen(set_up_on(code)):
            world.orgs[code] = accounts.create_org(
                code,
                name,
                kind,
                world.orgs.get(parent) if parent else None,
                name_en=name_en,
                commit=False,
            )
            db.session.commit()
    _people(world)
    for procedure in installed():
        if procedure.demo is not None:
            procedure.demo(world)
    return world


def logins_text() -> str:
    lines = [f"Demo logins (password for all: {PASSWORD}):"]
    for username, name, roles, _org, _status in PEOPLE:
        where = ", ".join(f"{role}@{org}" for org, role in roles) or "no role (applicant)"
        lines.append(f"  {username:<14} {name}  [{where}]")
    return "\n".join(lines)
