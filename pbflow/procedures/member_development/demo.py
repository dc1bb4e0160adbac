"""Demo data for developing new members: people of the mining team 1 branch at every stage,
entered as a branch adopting pbflow would (part-way cases with their paper dates), plus a fresh
application and one whose talk is overdue."""

from __future__ import annotations

from datetime import date, timedelta

from pbflow import clock
from pbflow.engine import runtime
from pbflow.extensions import db
from pbflow.models import Person
from pbflow.procedures.member_development import services as development


def _ago(days: int) -> str:
    return (clock.today() - timedelta(days=days)).isoformat()


def load(world) -> None:
    u, p = world.user, world.persons
    b1 = world.orgs["b1"]
    secretary = u("chen.shuji")
    contact, introducer = p["huang.dangyuan"].id, p["wu.dangyuan"].id

    def part_way(person: Person, trigger: str | None, values: dict, applied: str) -> int:
        case = runtime.start(
            development.WORKFLOW,
            b1,
            secretary,
            {"person": person.id, "application_date": applied, "part_way": True},
            commit=False,
        )
        if trigger:
            runtime.fire_in_transaction(case.id, trigger, secretary, values)
        db.session.commit()
        return case.id

    # An application the branch received three days ago: the talk is due within a month.
    runtime.start(
        development.WORKFLOW,
        b1,
        secretary,
        {"person": p["zhu.shenqing"].id, "application_date": _ago(3), "part_way": True},
    )

    def reports(case_id: int, *days_ago: int) -> None:
        """Quarterly thought reports, entered by the branch from the paper ones."""
        for days in days_ago:
            runtime.fire(case_id, "record_thought_report", secretary, {"report_date": _ago(days)})

    # An activist of thirteen months with both half-yearly assessments and a thought report
    # every quarter: ready to be listed.
    case = part_way(
        p["ma.jiji"],
        "adopt_as_activist",
        {"talk_date": _ago(520), "activist_on": _ago(395)},
        _ago(540),
    )
    runtime.fire(case, "assign_contacts", secretary, {"contacts": [contact]})
    for days in (215, 30):
        runtime.fire(
            case,
            "record_assessment",
            u("huang.dangyuan"),
            {"assessment_date": _ago(days), "assessment_opinion": "学习认真，工作积极。"},
        )
    reports(case, 380, 290, 200, 110, 20)
    # A development target with introducers, waiting for the political review and training.
    qian = Person(name="钱敏", org_id=b1.id, birth_date=date(1996, 5, 4), gender="female")
    db.session.add(qian)
    db.session.commit()
    case = part_way(
        qian,
        "adopt_as_target",
        {"talk_date": _ago(800), "activist_on": _ago(760), "target_on": _ago(20)},
        _ago(820),
    )
    runtime.fire(case, "assign_introducers", secretary, {"introducers": [contact, introducer]})
    # A probationary member whose year ends in about two weeks, reporting every quarter.
    case = part_way(
        p["zheng.yubei"],
        "adopt_as_probationary",
        {
            "talk_date": _ago(1200),
            "activist_on": _ago(1100),
            "target_on": _ago(700),
            "admission_resolution_date": _ago(351),
        },
        _ago(1250),
    )
    runtime.fire(case, "record_oath", secretary, {"oath_date": _ago(330)})
    reports(case, 300, 210, 120, 30)
    # An application entered by the branch whose talk is overdue.
    late = Person(name="孙浩", org_id=b1.id, birth_date=date(1999, 8, 8), gender="male")
    db.session.add(late)
    db.session.commit()
    part_way(late, None, {}, _ago(40))
