"""What the assessment pages show: the rounds a reader sees, a round's ranking, a branch's
result sheet and its scorecard over time, and the exports (``pbflow.services.exports``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from pbflow.engine import actors
from pbflow.engine.definitions import joined
from pbflow.engine.errors import NotFound
from pbflow.engine.registry import registry
from pbflow.extensions import db
from pbflow.models import AssessmentResult, ProcessInstance, User
from pbflow.procedures.assessment import access, rounds
from pbflow.procedures.assessment import scheme as schemes
from pbflow.services import exports


def org_name(org_id: int, locale: str) -> str:
    node = actors.org_index().get(org_id)
    if node is None:
        return ""
    return node.name_en if locale == "en" and node.name_en else node.name


def state_label(case: ProcessInstance, locale: str) -> str:
    spec = registry().stored(case.definition_id).states.get(case.state)
    return spec.label.get(locale) if spec else case.state


@dataclass
class RoundRow:
    case: ProcessInstance
    state: str
    branches: int


def round_list(viewer: User, locale: str) -> list[RoundRow]:
    found = rounds.readable_rounds(viewer)
    counts: dict[int, int] = {}
    if found:
        for (rid,) in db.session.execute(
            select(AssessmentResult.round_id).where(
                AssessmentResult.round_id.in_([c.id for c in found])
            )
        ):
            counts[rid] = counts.get(rid, 0) + 1
    return [RoundRow(c, state_label(c, locale), counts.get(c.id, 0)) for c in found]


def latest_published(viewer: User) -> list[rounds.Round]:
    """The latest published round of each committee the viewer reads (or whose branches
    they read), as the viewer may see it: the first page's rankings."""
    seen, found = set(), []
    for case in rounds.readable_rounds(viewer):
        if case.state in rounds.PUBLISHED and case.org_id not in seen:
            seen.add(case.org_id)
            found.append(rounds.get(viewer, case.id))
    return found


def committees(viewer: User) -> list[int]:
    return access.committees_of(viewer)


def branches_below(committee_id: int) -> list[int]:
    index = actors.org_index()
    return sorted(
        (n.id for n in index.values() if n.kind == "branch" and committee_id in n.ancestor_ids()),
        key=lambda i: index[i].path,
    )


def may_see_totals(viewer: User, r: rounds.Round) -> bool:
    """The committee's readers see the totals at once; a branch once they are published."""
    return r.published or access.reads(viewer, r.case.org_id)


@dataclass
class Line:
    group: dict[str, Any]
    criterion: dict[str, Any]
    score: float | None
    entry: dict[str, Any]

    @property
    def computed(self) -> dict[str, Any] | None:
        return self.entry.get("computed")


def lines(r: rounds.Round, result: AssessmentResult) -> list[Line]:
    out = []
    for g in r.body["groups"]:
        for c in g["criteria"]:
            entry = (result.scores or {}).get(c["key"]) or {}
            out.append(Line(g, c, entry.get("score"), entry))
    return out


@dataclass
class Sheet:
    """A branch's result sheet as its reader sees it, with what the reader may do on it."""

    r: rounds.Round
    result: AssessmentResult
    lines: list[Line]
    name: str
    state: str
    show_totals: bool
    speaks: bool  # the branch's secretary or deputy: self-assessment, appeal
    assessor: bool  # a member of the round's committee: scores, vetoes, awards
    appeals: list[ProcessInstance]
    awards: list[Any]


def sheet(viewer: User, round_id: int, org_id: int, locale: str) -> Sheet:
    r = rounds.get(viewer, round_id)
    result = r.result_of(org_id)
    if result is None:
        raise NotFound(_("That branch is not assessed in this round."))
    return Sheet(
        r,
        result,
        lines(r, result),
        org_name(org_id, locale),
        state_label(r.case, locale),
        may_see_totals(viewer, r),
        access.speaks_for(viewer, org_id),
        access.is_assessor(viewer, r.case.org_id),
        [a for a in rounds.appeals_of(round_id) if a.org_id == org_id],
        [a for a in rounds.awards_of([org_id]) if a.round_id == round_id],
    )


@dataclass
class ScorecardRow:
    case: ProcessInstance
    result: AssessmentResult
    change: float | None  # against the previous round shown


@dataclass
class Scorecard:
    org_id: int
    rows: list[ScorecardRow] = field(default_factory=list)
    awards: list[Any] = field(default_factory=list)

    @property
    def trend(self) -> list[tuple[str, float]]:
        return [(r.case.title or str(r.case.id), r.result.total) for r in reversed(self.rows)]


def scorecard(viewer: User, org_id: int) -> Scorecard:
    """A branch's published results over time, newest first, with the change each time."""
    node = actors.org_index().get(org_id)
    if node is None or node.kind != "branch" or not access.reads(viewer, org_id):
        raise NotFound(_("No such organization."))
    found = db.session.execute(
        select(ProcessInstance, AssessmentResult)
        .join(AssessmentResult, AssessmentResult.round_id == ProcessInstance.id)
        .where(
            AssessmentResult.org_id == org_id,
            ProcessInstance.state.in_(rounds.PUBLISHED),
        )
        .order_by(
            ProcessInstance.data["year"].as_integer(),
            ProcessInstance.data["quarter"].as_integer(),
            ProcessInstance.id,
        )
    ).all()
    card = Scorecard(org_id)
    before = None
    ordered = []
    for case, result in found:
        ordered.append(
            ScorecardRow(case, result, None if before is None else round(result.total - before, 2))
        )
        before = result.total
    card.rows = list(reversed(ordered))
    card.awards = rounds.awards_of([org_id])
    return card


def ranking_table(viewer: User, r: rounds.Round, locale: str) -> exports.Table:
    crit = schemes.criteria(r.body)
    columns = [
        exports.Column(_("Rank"), "int", 6),
        exports.Column(_("Branch"), "text", 24),
        *[exports.Column(c["label"].get(locale, c["key"]), "number", 12) for c in crit],
        exports.Column(_("Veto"), "text", 16),
        exports.Column(_("Total"), "number", 10),
        exports.Column(_("Passed"), "bool", 8),
        exports.Column(_("Stars"), "int", 8),
    ]
    show = may_see_totals(viewer, r)
    veto_labels = {v["key"]: v["label"].get(locale, v["key"]) for v in r.body.get("vetoes", [])}

    def rows():
        for rank, x in enumerate(r.ranked(), 1):
            yield [
                rank if show else None,
                org_name(x.org_id, locale),
                *[
                    ((x.scores or {}).get(c["key"]) or {}).get("score")
                    if show or c["measure"]
                    else None
                    for c in crit
                ],
                joined((veto_labels.get(v["key"], v["key"]) for v in x.vetoes or []), locale)
                if show
                else None,
                x.total if show else None,
                x.passed if show else None,
                x.stars if show else None,
            ]

    return exports.Table(f"assessment-{r.case.id}", columns, rows())


def scorecard_table(card: Scorecard, locale: str) -> exports.Table:
    columns = [
        exports.Column(_("Period"), "text", 14),
        exports.Column(_("Total"), "number", 10),
        exports.Column(_("Net change"), "number", 10),
        exports.Column(_("Passed"), "bool", 8),
        exports.Column(_("Stars"), "int", 8),
    ]
    rows = (
        [r.case.title, r.result.total, r.change, r.result.passed, r.result.stars] for r in card.rows
    )
    return exports.Table(f"scorecard-{card.org_id}", columns, rows)
