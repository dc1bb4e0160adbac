"""Assessment rounds: opening one, the branches' self-assessment, the assessors' scores and
vetoes, the totals and stars, rewards and penalties, and reading the results.

A round is a case of ``workflows/assessment_round.yaml`` at the party committee; its steps
(to scoring, review, the committee's decision or vote, publication, closing) are that
workflow's transitions, taken on the case page. What belongs to one branch (its figures, its
self-assessment, each score with its justification) is an ``AssessmentResult`` row, changed
only here, each change in one transaction with its audit event, and only in the state the
workflow allows it in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from pbflow import audit, clock, validation
from pbflow.engine import actors, locks, runtime
from pbflow.engine.errors import InvalidState, NotAllowed, NotFound, ValidationFailed
from pbflow.extensions import db
from pbflow.models import (
    AssessmentAward,
    AssessmentResult,
    AssessmentScheme,
    ProcessInstance,
    User,
)
from pbflow.models.assessment import AWARD_KINDS
from pbflow.procedures import figure
from pbflow.procedures.assessment import access, measures, notices
from pbflow.procedures.assessment import scheme as schemes
from pbflow.services.periods import Period, bounds

ROUND = "assessment_round"
APPEAL = "assessment_appeal"
PUBLISHED = ("published", "closed")
MAX_TEXT = 4000


def period_of(year: int, quarter: int) -> Period:
    if quarter:
        first, last = bounds(date(year, 3 * quarter - 1, 1), "quarter")
        return Period(first, last, "quarter")
    first, last = bounds(date(year, 6, 1), "year")
    return Period(first, last, "year")


def _bad(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(_("Some fields need correcting."), field_errors={field: message})


def _text(value: Any, field: str, *, required: bool) -> str:
    text = str(value or "").strip()
    if required and not text:
        raise _bad(field, _("is required"))
    problem = validation.text_problem(text, MAX_TEXT)
    if problem:
        raise _bad(field, problem)
    return text


# --- scoring ---------------------------------------------------------------------------------


def total_of(result: AssessmentResult, body: Mapping[str, Any]) -> None:
    """Work out the total, pass and stars of a result from its scores and vetoes."""
    total = 0.0
    for c in schemes.criteria(body):
        s = (result.scores or {}).get(c["key"]) or {}
        if s.get("score") is not None:
            total += float(s["score"])
    total = round(total, 2)
    caps = [v["cap"] for v in body["vetoes"] if v["key"] in {x["key"] for x in result.vetoes or []}]
    if caps:
        total = min(total, min(caps))
    result.total = total
    result.passed = total >= body["pass_mark"] and not caps
    stars = 0
    if result.passed:
        for low, n in body["stars"]:
            if total >= low:
                stars = max(stars, n)
    result.stars = stars


def computed_score(most: float, m: measures.Measured) -> float:
    rate = m.rate
    return round(most if rate is None else most * rate, 2)


def _fill(
    results: list[AssessmentResult], body: Mapping[str, Any], period: Period, committee_id: int
) -> None:
    wanted = {c["measure"] for c in schemes.criteria(body) if c["measure"]}
    survey = figure("survey_satisfaction")
    survey_rates = (
        survey(committee_id, [r.org_id for r in results], period) if survey is not None else {}
    )
    found = measures.compute(wanted, [r.org_id for r in results], period, survey_rates)
    for r in results:
        scores = dict(r.scores or {})
        for c in schemes.criteria(body):
            if not c["measure"]:
                continue
            m = found[r.org_id][c["measure"]]
            if c.get("question"):
                m = measures.survey_question(r.org_id, c["question"], survey_rates) or m
            scores[c["key"]] = {
                "score": computed_score(c["max"], m),
                "computed": m.stored(),
            }
        r.scores = scores
        total_of(r, body)


def open_round(
    actor: User,
    committee_id: int,
    year: int,
    quarter: int,
    branch_ids: Iterable[int] | None = None,
) -> ProcessInstance:
    """Open a round (one transaction): the case, a result per branch with every computed
    criterion filled from the records as of the period's end, and their audit events."""
    index = actors.org_index()
    node = index.get(committee_id)
    if node is None or node.kind != "committee":
        raise NotFound(_("No such organization."))
    if not access.is_assessor(actor, committee_id):
        raise NotAllowed(_("Only the party committee's members open an assessment round."))
    if not validation.MIN_YEAR <= year <= validation.MAX_YEAR:
        raise _bad("year", _("out of range"))
    if quarter not in (0, 1, 2, 3, 4):
        raise _bad("quarter", _("is not one of the choices"))
    scheme = schemes.current(year)
    if scheme is None:
        raise _bad("year", _("There is no assessment scheme for that year yet."))
    period = period_of(year, quarter)
    if period.end >= clock.today():
        raise _bad("quarter", _("The period is not over yet."))
    below = [
        n.id for n in index.values() if n.kind == "branch" and committee_id in n.ancestor_ids()
    ]
    chosen = sorted(set(branch_ids)) if branch_ids else sorted(below)
    if not chosen or any(b not in below for b in chosen):
        raise _bad("branches", _("Choose branches under this committee."))
    try:
        # One round per committee and period: openings of the committee's rounds wait for
        # each other here, so the second sees the first's round (engine/locks.py).
        locks.hold_organization(committee_id)
        if any(
            (c.data or {}).get("year") == year
            and int((c.data or {}).get("quarter") or 0) == quarter
            for c in rounds_of(committee_id)
            if c.state != "cancelled"
        ):
            raise _bad("quarter", _("A round for that period is already open or done."))
        case = runtime.start(
            ROUND,
            committee_id,
            runtime.SYSTEM,
            {
                "period_label": period.label,
                "year": year,
                "quarter": quarter,
                "scheme_id": scheme.id,
            },
            commit=False,
        )
        results = [
            AssessmentResult(round_id=case.id, org_id=b, scores={}, vetoes=[]) for b in chosen
        ]
        db.session.add_all(results)
        _fill(results, scheme.body, period, committee_id)
        db.session.flush()
        audit.record(
            "assessment_round_opened",
            actor=actor,
            org_id=committee_id,
            instance_id=case.id,
            payload={
                "scheme_id": scheme.id,
                "scheme_version": scheme.version,
                "period": [period.start.isoformat(), period.end.isoformat()],
                "branches": chosen,
                "computed": {
                    str(r.org_id): {k: v["score"] for k, v in r.scores.items()} for r in results
                },
            },
        )
        for r in results:
            notices.opened(case.id, r.org_id, period.label)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return case


# --- reading ---------------------------------------------------------------------------------


@dataclass
class Round:
    case: ProcessInstance
    scheme: AssessmentScheme
    period: Period
    results: list[AssessmentResult]

    @property
    def body(self) -> dict[str, Any]:
        return self.scheme.body

    @property
    def published(self) -> bool:
        return self.case.state in PUBLISHED

    @property
    def appeal_until(self) -> date | None:
        raw = (self.case.data or {}).get("appeal_until")
        return date.fromisoformat(raw) if raw else None

    def result_of(self, org_id: int) -> AssessmentResult | None:
        return next((r for r in self.results if r.org_id == org_id), None)

    def ranked(self) -> list[AssessmentResult]:
        return sorted(self.results, key=lambda r: (-r.total, r.org_id))


def _load(round_id: int, *, lock: bool = False) -> Round:
    case = db.session.get(ProcessInstance, round_id)
    if case is None or case.workflow_id != ROUND:
        raise NotFound(_("No such assessment round."))
    if lock:
        # Changes to a round's results wait for each other (engine/locks.py); the results
        # are read after the lock.
        locks.hold_case(round_id)
        db.session.refresh(case)
    data = case.data or {}
    scheme = db.session.get(AssessmentScheme, int(data["scheme_id"]))
    results = list(
        db.session.execute(
            select(AssessmentResult)
            .where(AssessmentResult.round_id == round_id)
            .order_by(AssessmentResult.org_id)
            .execution_options(populate_existing=lock)
        ).scalars()
    )
    return Round(case, scheme, period_of(int(data["year"]), int(data.get("quarter") or 0)), results)


def get(viewer: User, round_id: int) -> Round:
    """A round as its reader may see it: the committee's readers see every branch; a
    branch's readers see only their branch (the totals once published)."""
    r = _load(round_id)
    if access.reads(viewer, r.case.org_id):
        return r
    mine = [x for x in r.results if access.reads(viewer, x.org_id)]
    if not mine:
        raise NotFound(_("No such assessment round."))
    r.results = mine
    return r


def rounds_of(committee_id: int) -> list[ProcessInstance]:
    return list(
        db.session.execute(
            select(ProcessInstance)
            .where(ProcessInstance.workflow_id == ROUND, ProcessInstance.org_id == committee_id)
            .order_by(ProcessInstance.id.desc())
        ).scalars()
    )


def readable_rounds(viewer: User) -> list[ProcessInstance]:
    """Rounds of committees the viewer reads, and published rounds of the branches they read.

    The rounds (a few a year) are read by the workflow's index and put newest first here:
    asked to sort by id, SQLite walked every case of the table backwards instead, taking a
    workflow for a ninth of the cases (23 ms at 100,000 cases)."""
    found = sorted(
        db.session.execute(
            select(ProcessInstance).where(
                ProcessInstance.workflow_id == ROUND, ProcessInstance.state != "cancelled"
            )
        ).scalars(),
        key=lambda c: -c.id,
    )
    readable = actors.readable_org_ids(viewer)
    if not found:
        return []
    mine = {
        rid
        for rid, oid in db.session.execute(
            select(AssessmentResult.round_id, AssessmentResult.org_id).where(
                AssessmentResult.round_id.in_([c.id for c in found])
            )
        )
        if oid in readable
    }
    return [c for c in found if c.org_id in readable or c.id in mine]


# --- the branches and the assessors ----------------------------------------------------------


def _result_for_change(round_id: int, org_id: int, state: str) -> tuple[Round, AssessmentResult]:
    r = _load(round_id, lock=True)
    result = r.result_of(org_id)
    if result is None:
        raise NotFound(_("That branch is not assessed in this round."))
    if r.case.state != state:
        raise InvalidState(
            _(
                "This cannot be done while the round is at \u201c%(state)s\u201d.",
                state=r.case.state,
            )
        )
    return r, result


def self_assess(actor: User, round_id: int, org_id: int, text: Any, evidence: Any) -> None:
    """The branch's self-assessment and its evidence (while the round is at self-assessment)."""
    if not access.speaks_for(actor, org_id):
        raise NotAllowed(_("The branch's secretary or deputy writes its self-assessment."))
    body = _text(text, "self_assessment", required=True)
    proof = _text(evidence, "evidence", required=False)
    try:
        _r, result = _result_for_change(round_id, org_id, "self_assessment")
        result.self_assessment, result.evidence = body, proof or None
        audit.record(
            "assessment_self_assessed",
            actor=actor,
            org_id=org_id,
            instance_id=round_id,
            payload={"self_assessment": body, "evidence": proof},
        )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise


def score(
    actor: User, round_id: int, org_id: int, criterion: str, value: Any, justification: Any
) -> AssessmentResult:
    """An assessor's score of a manual criterion, with its required justification."""
    reason = _text(justification, "justification", required=True)
    try:
        r, result = _result_for_change(round_id, org_id, "scoring")
        if not access.is_assessor(actor, r.case.org_id):
            raise NotAllowed(_("Only the party committee's members score."))
        crit = next((c for c in schemes.criteria(r.body) if c["key"] == criterion), None)
        if crit is None:
            raise _bad("criterion", _("is not one of the choices"))
        if crit["measure"]:
            raise _bad("criterion", _("is computed from the records, not scored by hand"))
        try:
            number = float(str(value).strip())
        except ValueError:
            raise _bad("score", _("must be a number")) from None
        if not 0 <= number <= crit["max"]:
            raise _bad("score", _("must be from 0 to %(max)s", max=f"{crit['max']:g}"))
        number = round(number, 2)
        scores = dict(result.scores or {})
        scores[criterion] = {"score": number, "justification": reason, "by": actor.id}
        result.scores = scores
        total_of(result, r.body)
        audit.record(
            "assessment_scored",
            actor=actor,
            org_id=org_id,
            instance_id=round_id,
            payload={"criterion": criterion, "score": number, "justification": reason},
        )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return result


def set_veto(
    actor: User, round_id: int, org_id: int, veto: str, on: bool, justification: Any
) -> AssessmentResult:
    """Record (or withdraw) a veto condition against a branch, with its justification."""
    reason = _text(justification, "justification", required=True)
    try:
        r, result = _result_for_change(round_id, org_id, "scoring")
        if not access.is_assessor(actor, r.case.org_id):
            raise NotAllowed(_("Only the party committee's members score."))
        if veto not in {v["key"] for v in r.body["vetoes"]}:
            raise _bad("veto", _("is not one of the choices"))
        kept = [v for v in result.vetoes or [] if v["key"] != veto]
        if on:
            kept.append({"key": veto, "justification": reason, "by": actor.id})
        result.vetoes = kept
        total_of(result, r.body)
        audit.record(
            "assessment_veto",
            actor=actor,
            org_id=org_id,
            instance_id=round_id,
            payload={"veto": veto, "on": bool(on), "justification": reason},
        )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return result


def missing_scores(round_id: int) -> list[tuple[int, str]]:
    """(branch, criterion) pairs the assessors have yet to score."""
    r = _load(round_id)
    manual = [c["key"] for c in schemes.criteria(r.body) if not c["measure"]]
    return [
        (x.org_id, k)
        for x in r.results
        for k in manual
        if ((x.scores or {}).get(k) or {}).get("score") is None
    ]


# --- appeals ---------------------------------------------------------------------------------


def appeals_of(round_id: int) -> list[ProcessInstance]:
    return list(
        db.session.execute(
            select(ProcessInstance)
            .where(
                ProcessInstance.workflow_id == APPEAL,
                ProcessInstance.data["round_id"].as_integer() == round_id,
            )
            .order_by(ProcessInstance.id)
        ).scalars()
    )


def appeal(
    actor: User, round_id: int, org_id: int, reason: Any, criterion: Any = None
) -> ProcessInstance:
    """Lodge the branch's appeal (the workflow's start guard checks the time limit and that
    it is the branch's first)."""
    values = {"round_id": round_id, "reason": reason}
    if criterion:
        values["criterion"] = criterion
    return runtime.start(APPEAL, org_id, actor, values)


def adjust_after_appeal(
    appeal_case: Any, actor: Any, criterion: str | None, new_score: Any, lift: bool, reason: str
) -> None:
    """Inside the appeal's transition (its effect): rescore one criterion and/or lift the
    vetoes of the branch's result, then work out the total again; audited."""
    round_id = int(appeal_case.data["round_id"])
    r = _load(round_id, lock=False)
    result = r.result_of(appeal_case.org_id)
    if result is None:
        raise NotFound(_("That branch is not assessed in this round."))
    changes: dict[str, Any] = {}
    if criterion:
        crit = next((c for c in schemes.criteria(r.body) if c["key"] == criterion), None)
        if crit is None:
            raise _bad("rescore_criterion", _("is not one of the choices"))
        if new_score is None:
            raise _bad("new_score", _("is required"))
        number = round(float(new_score), 2)
        if not 0 <= number <= crit["max"]:
            raise _bad("new_score", _("must be from 0 to %(max)s", max=f"{crit['max']:g}"))
        scores = dict(result.scores or {})
        before = (scores.get(criterion) or {}).get("score")
        scores[criterion] = {
            **(scores.get(criterion) or {}),
            "score": number,
            "justification": reason,
            "appeal": appeal_case.id,
        }
        result.scores = scores
        changes["criterion"] = [criterion, before, number]
    if lift and result.vetoes:
        changes["vetoes_lifted"] = [v["key"] for v in result.vetoes]
        result.vetoes = []
    total_of(result, r.body)
    changes.update({"total": result.total, "stars": result.stars, "passed": result.passed})
    audit.record(
        "assessment_result_adjusted",
        actor=actor,
        org_id=appeal_case.org_id,
        instance_id=round_id,
        payload={"appeal": appeal_case.id, **changes},
    )


# --- rewards and penalties -------------------------------------------------------------------


@dataclass
class AwardInput:
    org_id: int
    kind: str
    text: str
    decision: str
    round_id: int | None = None
    # For a required rectification: the item opened at the branch.
    problem: str | None = None
    measures: str | None = None
    owner_id: int | None = None
    deadline: str | None = None


def record_award(actor: User, award: AwardInput) -> AssessmentAward:
    """A reward or penalty against a branch with the decision behind it (one transaction,
    audited, the branch's secretary and deputy told); a required rectification also opens a
    rectification item at the branch. A commendation for a round needs a result that passed
    without a veto."""
    index = actors.org_index()
    node = index.get(award.org_id)
    if node is None or node.kind != "branch":
        raise NotFound(_("No such organization."))
    committee = next(
        (
            a
            for a in node.ancestor_ids()
            if index[a].kind == "committee" and access.is_assessor(actor, a)
        ),
        None,
    )
    if committee is None:
        raise NotAllowed(
            _("Only the party committee above the branch records rewards and penalties.")
        )
    if award.kind not in AWARD_KINDS:
        raise _bad("kind", _("is not one of the choices"))
    text = _text(award.text, "text", required=True)
    decision = _text(award.decision, "decision", required=True)
    if len(decision) > 500:
        raise _bad("decision", _("at most %(n)s characters", n=500))
    if award.round_id is not None:
        r = _load(award.round_id)
        result = r.result_of(award.org_id)
        if result is None or r.case.state not in PUBLISHED:
            raise _bad("round", _("Choose a published round that assessed this branch."))
        # A veto blocks any good rating, and a branch below the pass mark did not meet the
        # standard (DOMAIN 5): neither is commended for that round.
        if award.kind == "commendation" and (result.vetoes or not result.passed):
            raise _bad(
                "kind",
                _(
                    "The branch is not commended for this round: its result (%(total)s "
                    "points) is vetoed or below the pass mark of %(mark)s.",
                    total=f"{result.total:g}",
                    mark=f"{r.body['pass_mark']:g}",
                ),
            )
    try:
        row = AssessmentAward(
            org_id=award.org_id,
            round_id=award.round_id,
            kind=award.kind,
            text=text,
            decision=decision,
            decided_on=clock.today(),
            decided_by_user_id=actor.id,
        )
        if award.kind == "rectification":
            item = runtime.start(
                "rectification",
                award.org_id,
                actor,
                {
                    "problem": award.problem or text,
                    "measures": award.measures,
                    "owner": award.owner_id,
                    "deadline": award.deadline,
                },
                commit=False,
            )
            row.rectification_case_id = item.id
        db.session.add(row)
        db.session.flush()
        # Rewards and penalties are announced (DOMAIN 5): the branch is told.
        notices.awarded(row.id, award.org_id, award.kind, text, decision)
        audit.record(
            "assessment_award",
            actor=actor,
            org_id=award.org_id,
            instance_id=award.round_id,
            payload={
                "award": row.id,
                "kind": award.kind,
                "text": text,
                "decision": decision,
                "rectification_case": row.rectification_case_id,
            },
        )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return row


def awards_of(org_ids: Iterable[int]) -> list[AssessmentAward]:
    ids = list(org_ids)
    if not ids:
        return []
    return list(
        db.session.execute(
            select(AssessmentAward)
            .where(AssessmentAward.org_id.in_(ids))
            .order_by(AssessmentAward.decided_on.desc(), AssessmentAward.id.desc())
        ).scalars()
    )
