"""Demo assessment: the year's scheme, and the last two quarters that ended at least a month
ago assessed over every branch, walked through the same services and transitions as real
use (self-assessment, scores, the committee's vote, publication, an appeal dismissed,
closing, a commendation and a required rectification), so the rankings, scorecards and
result sheets have something to show on the first `make run`. The satisfaction survey of
the later quarter (when installed) is answered before its round opens."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

from pbflow import clock
from pbflow.engine import runtime, votes
from pbflow.engine.registry import registry
from pbflow.procedures import installed
from pbflow.procedures.assessment import rounds
from pbflow.procedures.assessment import scheme as schemes
from pbflow.services.periods import bounds

VOTERS = ("wang.shuji", "li.weiyuan", "sun.weiyuan")
SECRETARIES = {"b1": "chen.shuji", "b2": "guo.shuji", "b3": "gao.shuji", "b4": "feng.shuji"}
# How the assessors see each branch's own work (out of 10), one value per quarter.
MANUAL = {"b1": (9, 9.5), "b2": (6, 7), "b3": (8, 8), "b4": (8.5, 9), "b5": (7, 7.5)}


def _at(day: date, hour: int = 2):
    return clock.frozen(datetime(day.year, day.month, day.day, hour, 0))


def _quarters(today: date) -> list[tuple[int, int, date]]:
    """(year, quarter, last day) of the two latest quarters that ended 30 days before today."""
    found = []
    day = bounds(today, "quarter")[0] - timedelta(days=1)
    while len(found) < 2:
        start, end = bounds(day, "quarter")
        if end + timedelta(days=30) <= today:
            found.append((end.year, (end.month - 1) // 3 + 1, end))
        day = start - timedelta(days=1)
    return list(reversed(found))


def _survey(world, year: int, quarter: int, end: date) -> None:
    if not any(p.name == "satisfaction" for p in installed()):
        return
    from pbflow.procedures.satisfaction import services as survey

    rng = random.Random(f"{year}-{quarter}")
    with _at(end - timedelta(days=20)):
        made = survey.create(
            world.user("wang.shuji"),
            world.orgs["coal"].id,
            title=f"{year}年第{quarter}季度群众满意度测评",
            year=year,
            quarter=quarter,
            sample_size=4,
            min_count=3,
            closes_on=end,
        )
    # Mostly content; the electromechanical team less so.
    low = {world.orgs["b2"].id: 2}
    for org_id, codes in made.codes.items():
        for i, code in enumerate(codes):
            floor = low.get(org_id, 3)
            ratings = {c["key"]: rng.randint(floor, 5) for c in made.survey.criteria}
            with _at(end - timedelta(days=15 - i), 3 + i):
                survey.answer(code, ratings, f"demo-{org_id}-{i}")


def load(world) -> None:
    if "assessment_round" not in registry().current:
        return
    committee = world.orgs["coal"]
    wang, zhao = world.user("wang.shuji"), world.user("zhao.zuzhi")
    quarters = _quarters(clock.today())
    for year in sorted({y for y, _q, _e in quarters}):
        with _at(date(year, 1, 5)):
            schemes.save(wang, year, schemes.DEFAULT)
    for n, (year, quarter, end) in enumerate(quarters):
        if n == len(quarters) - 1:
            _survey(world, year, quarter, end)
        day = end + timedelta(days=3)
        with _at(day):
            rid = rounds.open_round(wang, committee.id, year, quarter).id
        with _at(day + timedelta(days=2)):
            for code, username in SECRETARIES.items():
                rounds.self_assess(
                    world.user(username),
                    rid,
                    world.orgs[code].id,
                    "本季度按计划开展“三会一课”和主题党日，认真办理群众意见，整改事项按期推进。",
                    "会议记录、意见办理台账均在系统中",
                )
        with _at(day + timedelta(days=6)):
            runtime.fire(rid, "start_scoring", wang)
            for code, scores in MANUAL.items():
                rounds.score(
                    world.user("li.weiyuan"),
                    rid,
                    world.orgs[code].id,
                    "party_building",
                    scores[n],
                    "考核组查阅台账并现场检查后评定。",
                )
            if n == 0:
                rounds.set_veto(
                    world.user("li.weiyuan"),
                    rid,
                    world.orgs["b2"].id,
                    "serious_violation",
                    True,
                    "本季度发生一起违规操作被通报的安全事故，责任人为党员。",
                )
            runtime.fire(rid, "submit_for_review", wang)
        with _at(day + timedelta(days=8)):
            runtime.fire(rid, "review_to_vote", zhao)
        with _at(day + timedelta(days=10)):
            for username in VOTERS:
                if votes.cast_ballot(rid, world.user(username), "for"):
                    break
            runtime.fire(rid, "publish", wang)
        if n == 0:
            with _at(day + timedelta(days=12)):
                appeal = rounds.appeal(
                    world.user("guo.shuji"),
                    rid,
                    world.orgs["b2"].id,
                    "事故责任人已调离本支部，申请撤销一票否决。",
                )
            with _at(day + timedelta(days=14)):
                runtime.fire(
                    appeal.id,
                    "dismiss",
                    world.user("sun.weiyuan"),
                    comment="事故发生时责任人为本支部党员，维持原考核结果。",
                )
            with _at(day + timedelta(days=16)):
                rounds.record_award(
                    wang,
                    rounds.AwardInput(
                        world.orgs["b2"].id,
                        "rectification",
                        "一票否决，限期整改安全生产中的党员责任落实问题。",
                        f"党委会{(day + timedelta(days=16)).isoformat()}决定",
                        rid,
                        problem="党员安全责任落实不到位",
                        measures="召开专题组织生活会，开展党员安全责任区检查",
                        owner_id=world.user("guo.shuji").id,
                        deadline=(day + timedelta(days=75)).isoformat(),
                    ),
                )
        with _at(day + timedelta(days=24)):
            runtime.fire(rid, "close", wang)
            best = max(rounds.get(wang, rid).results, key=lambda r: r.total)
            rounds.record_award(
                wang,
                rounds.AwardInput(
                    best.org_id,
                    "commendation",
                    "本季度考核成绩第一，予以通报表扬。",
                    f"党委会{(day + timedelta(days=24)).isoformat()}决定",
                    rid,
                ),
            )
