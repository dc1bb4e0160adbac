"""Demo supervision notices: the party committee's notices to the lagging electromechanical
team about meetings it missed (one answered and accepted months ago, one ignored and now
overdue), the general branch's notice about an overdue rectification item, and then one pass
of ``pbflow tick`` as of now, which escalates whatever is overdue today into notices to the
superior organizations."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from pbflow import clock
from pbflow.engine import runtime, timers
from pbflow.extensions import db
from pbflow.models import ProcessInstance
from pbflow.procedures import figure
from pbflow.procedures.supervision import notices


def _missed(world, code: str, mtype: str) -> list:
    """The periods a branch missed ``mtype`` in the last year, oldest first."""
    fn = figure("meetings")
    if fn is None or code not in world.orgs:
        return []
    today = clock.today()
    org_id = world.orgs[code].id
    found = fn([org_id], today - timedelta(days=365), today).get(org_id, [])
    return [c for o in found if o.key == mtype for c in o.cells if c.status == "missing"]


def _at(day, hour: int = 2):
    return clock.frozen(datetime(day.year, day.month, day.day, hour, 0))


def load(world) -> None:
    u = world.user
    misses = _missed(world, "b2", "theme_day")
    if len(misses) >= 2:
        old, recent = misses[0], misses[-1]
        # Months ago: issued, acknowledged, answered and accepted.
        issued = old.end + timedelta(days=6)
        with _at(issued):
            case = notices.issue(
                u("zhao.zuzhi"),
                notices.about_meeting(u("zhao.zuzhi"), world.orgs["b2"].id, "theme_day", old.start),
                {
                    "problem": f"{old.label} 未按要求开展主题党日活动。",
                    "requirement": "补开主题党日活动，并书面说明原因。",
                    "deadline": (issued + timedelta(days=14)).isoformat(),
                    "recipient": u("guo.shuji").id,
                },
            ).id
        with _at(issued + timedelta(days=2)):
            runtime.fire(case, "acknowledge", u("guo.shuji"))
        with _at(issued + timedelta(days=10)):
            runtime.fire(
                case, "answer", u("guo.shuji"), {"answer": "已补开主题党日活动，今后按月开展。"}
            )
        with _at(issued + timedelta(days=12)):
            runtime.fire(case, "accept", u("zhao.zuzhi"))
        # Last month's miss: issued, never acknowledged, so it is overdue now.
        issued = min(recent.end + timedelta(days=3), clock.today() - timedelta(days=8))
        with _at(issued):
            notices.issue(
                u("zhao.zuzhi"),
                notices.about_meeting(
                    u("zhao.zuzhi"), world.orgs["b2"].id, "theme_day", recent.start
                ),
                {
                    "problem": f"{recent.label} 再次未开展主题党日活动。",
                    "requirement": "立即补开，并报告整改措施。",
                    "deadline": (issued + timedelta(days=10)).isoformat(),
                },
            )
    # The general branch chases an overdue rectification item of the ventilation team.
    item = db.session.execute(
        select(ProcessInstance.id)
        .where(
            ProcessInstance.workflow_id == "rectification",
            ProcessInstance.closed_at.is_(None),
            ProcessInstance.org_id == world.orgs["b3"].id,
        )
        .order_by(ProcessInstance.id)
    ).scalar()
    if item is not None:
        with _at(clock.today() - timedelta(days=5)):
            case = notices.issue(
                u("zhou.zongzhi"),
                notices.about_case(u("zhou.zongzhi"), item),
                {
                    "problem": "整改事项已超过整改时限，尚未销号。",
                    "requirement": "月底前完成整改并提交佐证材料。",
                    "deadline": (clock.today() + timedelta(days=20)).isoformat(),
                    "recipient": u("gao.shuji").id,
                },
            ).id
        with _at(clock.today() - timedelta(days=4)):
            runtime.fire(case, "acknowledge", u("gao.shuji"))
    # Whatever is overdue today escalates, as the first `pbflow tick` would do.
    timers.tick()
