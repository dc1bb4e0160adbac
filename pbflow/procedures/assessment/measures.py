"""The measures a computed criterion can name, each a rate (0 to 1) of one branch (with its
party groups) over one period, read from the figures other procedures offer
(``pbflow.procedures.figure``; never by importing them) and from the satisfaction surveys.

Each result carries what was done and what was owed, and links to the records behind it. A
branch that owed nothing (no meeting required, no opinion received) has no rate: the
criterion scores in full, and the page says why. A measure whose procedure is not installed
is "not measured" and scores in full as well.

What each measure counts:

- ``three_meetings``: meetings held of those required, per period fully inside the
  assessment period (each required meeting counted once, extra ones not);
- ``opinions_on_time``: opinions received in the period and answered, answered on time;
- ``opinion_satisfaction``: opinions received in the period and rated, rated 4 or 5;
- ``satisfaction``: the satisfaction survey of the period (rated 4 or 5 of all ratings), or
  when no survey of the period has enough answers for the branch, ``opinion_satisfaction``;
- ``development_on_time``: open member development cases (now) not past their time limit;
- ``rectification_on_time``: rectification items open at the end of the period or ticked
  off during it, not overdue at its end;
- ``notices_on_time``: supervision notices to the branch open during the period, not
  escalated (a notice escalates exactly when it was not handled in time).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from pbflow import clock
from pbflow.engine import actors
from pbflow.extensions import db
from pbflow.models import Escalation, ProcessInstance
from pbflow.procedures import figure
from pbflow.services.periods import Period

MEASURES = {
    "three_meetings": _l("Three meetings and one lesson held as required"),
    "opinions_on_time": _l("Opinions answered on time"),
    "opinion_satisfaction": _l("Opinion box satisfaction (rated 4-5)"),
    "satisfaction": _l("Satisfaction rate (survey, else opinion box)"),
    "development_on_time": _l("Development cases within their time limits"),
    "rectification_on_time": _l("Rectification items not overdue"),
    "notices_on_time": _l("Supervision notices handled on time"),
}


@dataclass
class Link:
    label: str
    endpoint: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Measured:
    measure: str
    done: int = 0
    owed: int = 0
    available: bool = True
    source: str = ""  # which records: "survey", "opinions" ...
    links: list[Link] = field(default_factory=list)

    @property
    def rate(self) -> float | None:
        if not self.available or self.owed == 0:
            return None
        return self.done / self.owed

    def stored(self) -> dict[str, Any]:
        return {
            "measure": self.measure,
            "done": self.done,
            "owed": self.owed,
            "available": self.available,
            "source": self.source,
            "rate": self.rate,
            "links": [[ln.label, ln.endpoint, ln.params] for ln in self.links],
        }


def units(branch_ids: Iterable[int]) -> dict[int, list[int]]:
    """Each branch with its party groups."""
    index = actors.org_index()
    out = {b: [b] for b in branch_ids}
    for node in index.values():
        if node.kind == "party_group" and node.parent_id in out:
            out[node.parent_id].append(node.id)
    return out


def _three_meetings(u: dict[int, list[int]], period: Period) -> dict[int, Measured]:
    fn = figure("meetings")
    out = {b: Measured("three_meetings", available=fn is not None) for b in u}
    if fn is None:
        return out
    found = fn([o for ids in u.values() for o in ids], period.start, period.end)
    for b, ids in u.items():
        m = out[b]
        for oid in ids:
            for ob in found.get(oid, []):
                for cell in ob.cells:
                    if cell.start >= period.start and cell.end <= period.end and cell.required:
                        m.owed += cell.required
                        m.done += min(cell.held, cell.required)
        m.source = "meetings"
        m.links.append(
            Link(
                "meetings",
                "meetings.index",
                {"org": b, "from": period.start.isoformat(), "to": period.end.isoformat()},
            )
        )
        m.links.append(
            Link("calendar", "meetings.calendar", {"org_id": b, "year": period.start.year})
        )
    return out


def _opinions(u: dict[int, list[int]], period: Period) -> dict[int, tuple[int, int, int, int]]:
    """(answered, on time, rated, satisfied) per branch, or {} without the opinion box."""
    fn = figure("opinions")
    if fn is None:
        return {}
    found = fn([o for ids in u.values() for o in ids], period.start, period.end)
    out = {}
    for b, ids in u.items():
        answered = on_time = rated = satisfied = 0
        for oid in ids:
            fig = found.by_org.get(oid)
            if fig is None:
                continue
            answered += fig.answered
            on_time += fig.answered_on_time
            rated += fig.rated
            satisfied += fig.satisfied
        out[b] = (answered, on_time, rated, satisfied)
    return out


def _opinion_links(b: int) -> list[Link]:
    node = actors.org_index()[b]
    return [
        Link("opinions", "cases.index", {"workflow": "opinion", "org": node.id, "status": "all"})
    ]


def _development(u: dict[int, list[int]], period: Period) -> dict[int, Measured]:
    fn = figure("development")
    out = {b: Measured("development_on_time", available=fn is not None) for b in u}
    if fn is None:
        return out
    found = fn([o for ids in u.values() for o in ids], period.start, period.end)
    for b, ids in u.items():
        m = out[b]
        m.owed = sum(sum(found.per_stage.get(o, {}).values()) for o in ids)
        m.done = m.owed - sum(found.overdue.get(o, 0) for o in ids)
        m.source = "development"
        m.links.append(Link("cases", "cases.index", {"workflow": "member_development", "org": b}))
    return out


def _rectification(u: dict[int, list[int]], period: Period) -> dict[int, Measured]:
    fn = figure("rectification")
    out = {b: Measured("rectification_on_time", available=fn is not None) for b in u}
    if fn is None:
        return out
    found = fn([o for ids in u.values() for o in ids], period.start, period.end)
    for b, ids in u.items():
        m = out[b]
        for o in ids:
            c = found.get(o)
            if c is not None:
                m.owed += c.open + c.closed
                m.done += c.open + c.closed - c.overdue
        m.source = "rectification"
        m.links.append(
            Link("cases", "cases.index", {"workflow": "rectification", "org": b, "status": "all"})
        )
    return out


def _notices(u: dict[int, list[int]], period: Period) -> dict[int, Measured]:
    start, end = period.utc_bounds()
    end = min(end, clock.now())
    ids = [o for ids in u.values() for o in ids]
    P = ProcessInstance
    escalated = (
        select(Escalation.instance_id)
        .where(Escalation.escalated_at < end)
        .group_by(Escalation.instance_id)
        .subquery()
    )
    rows = db.session.execute(
        select(P.org_id, func.count(), func.count(escalated.c.instance_id))
        .outerjoin(escalated, escalated.c.instance_id == P.id)
        .where(
            P.workflow_id == "supervision_notice",
            P.org_id.in_(ids),
            P.created_at < end,
            (P.closed_at.is_(None)) | (P.closed_at >= start),
        )
        .group_by(P.org_id)
    ).all()
    per_org = {oid: (int(n), int(late)) for oid, n, late in rows}
    out = {}
    for b, oids in u.items():
        m = out[b] = Measured("notices_on_time", source="notices")
        for o in oids:
            n, late = per_org.get(o, (0, 0))
            m.owed += n
            m.done += n - late
        m.links.append(
            Link(
                "cases",
                "cases.index",
                {"workflow": "supervision_notice", "org": b, "status": "all"},
            )
        )
    return out


def survey_question(branch_id: int, question: str, survey_rates: Any) -> Measured | None:
    """The survey's rate of one question for a branch (a criterion with ``question``), or
    None when the period's survey has too few answers for the branch (the criterion then
    reads the branch's overall satisfaction)."""
    survey = (survey_rates or {}).get(branch_id)
    if survey is None:
        return None
    sat, n = survey[3].get(question, (0, 0))
    link = Link("survey", "satisfaction.show", {"survey_id": survey[2]})
    return Measured("satisfaction", sat, n, True, "survey", [link])


def compute(
    wanted: Iterable[str], branch_ids: list[int], period: Period, survey_rates: Any = None
) -> dict[int, dict[str, Measured]]:
    """Every wanted measure of every branch over the period: {branch: {measure: Measured}}.
    ``survey_rates``: {branch: (satisfied, rated, survey id, per question)} from the period's
    survey, where it has enough answers for the branch (the survey module decides)."""
    wanted = set(wanted)
    u = units(branch_ids)
    result: dict[int, dict[str, Measured]] = {b: {} for b in branch_ids}

    def put(found: dict[int, Measured], key: str) -> None:
        for b, m in found.items():
            result[b][key] = m

    if "three_meetings" in wanted:
        put(_three_meetings(u, period), "three_meetings")
    if "development_on_time" in wanted:
        put(_development(u, period), "development_on_time")
    if "rectification_on_time" in wanted:
        put(_rectification(u, period), "rectification_on_time")
    if "notices_on_time" in wanted:
        put(_notices(u, period), "notices_on_time")
    if wanted & {"opinions_on_time", "opinion_satisfaction", "satisfaction"}:
        ops = _opinions(u, period)
        for b in branch_ids:
            answered, on_time, rated, satisfied = ops.get(b, (0, 0, 0, 0))
            there = bool(ops)
            if "opinions_on_time" in wanted:
                result[b]["opinions_on_time"] = Measured(
                    "opinions_on_time", on_time, answered, there, "opinions", _opinion_links(b)
                )
            opinion_sat = Measured(
                "opinion_satisfaction", satisfied, rated, there, "opinions", _opinion_links(b)
            )
            if "opinion_satisfaction" in wanted:
                result[b]["opinion_satisfaction"] = opinion_sat
            if "satisfaction" in wanted:
                survey = (survey_rates or {}).get(b)
                if survey is not None:
                    sat, n, survey_id = survey[:3]
                    result[b]["satisfaction"] = Measured(
                        "satisfaction",
                        sat,
                        n,
                        True,
                        "survey",
                        [Link("survey", "satisfaction.show", {"survey_id": survey_id})],
                    )
                else:
                    result[b]["satisfaction"] = Measured(
                        "satisfaction", satisfied, rated, there, "opinions", _opinion_links(b)
                    )
    return result
