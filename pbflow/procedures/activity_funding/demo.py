"""Demo funding requests of three branches, at every step from draft to the party committee."""

from __future__ import annotations

from datetime import timedelta

from pbflow import clock
from pbflow.engine import runtime


def load(world) -> None:
    u = world.user
    base = {"venue": "矿史馆", "budget": "交通、资料、场地布置", "participants": "30"}
    day = (clock.today() + timedelta(days=20)).isoformat()

    def new(purpose: str, amount: str, who: str = "yang.zuzhi", org: str = "b1") -> int:
        case = runtime.start(
            "activity_funding",
            world.orgs[org],
            u(who),
            {**base, "purpose": purpose, "amount": amount, "activity_date": day},
        )
        return case.id

    new("“七一”主题党日参观学习", "1800")
    c = new("安全生产知识竞赛", "2600")
    runtime.fire(c, "submit", u("yang.zuzhi"))
    c = new("党史学习教育专题讲座", "3200")
    runtime.fire(c, "submit", u("yang.zuzhi"))
    runtime.fire(c, "secretary_approve", u("chen.shuji"))
    c = new("红色教育基地研学", "12000")
    runtime.fire(c, "submit", u("yang.zuzhi"))
    runtime.fire(c, "secretary_approve", u("chen.shuji"))
    runtime.fire(c, "forward_to_committee", u("zhou.zongzhi"))
    c = new("退休老党员慰问", "1500", who="guo.shuji", org="b2")
    runtime.fire(c, "submit", u("guo.shuji"))
    c = new("书记讲党课资料印制", "600", who="gao.shuji", org="b3")
    runtime.fire(c, "submit", u("gao.shuji"))
    runtime.fire(c, "return_for_changes", u("gao.shuji"), comment="预算请列明印制数量")
