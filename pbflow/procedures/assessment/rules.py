"""Guards and effects of ``workflows/assessment_round.yaml`` and ``assessment_appeal.yaml``."""

from __future__ import annotations

from datetime import date, timedelta

from flask_babel import gettext as _
from sqlalchemy import func, select

from pbflow.engine import locks
from pbflow.engine.context import Block, Context
from pbflow.engine.errors import NotFound
from pbflow.engine.rules import Rule, registrar
from pbflow.extensions import db
from pbflow.models import AssessmentResult, AssessmentScheme, ProcessInstance
from pbflow.procedures.assessment import notices
from pbflow.procedures.assessment.rounds import (
    APPEAL,
    ROUND,
    adjust_after_appeal,
    missing_scores,
)

GUARDS: dict[str, Rule] = {}
EFFECTS: dict[str, Rule] = {}
guard = registrar(GUARDS)
effect = registrar(EFFECTS)


def _scheme(ctx: Context) -> dict:
    found = db.session.get(AssessmentScheme, int(ctx.data.get("scheme_id") or 0))
    return found.body if found is not None else {}


@guard("assessment_all_scored")
def assessment_all_scored(ctx: Context) -> Block | None:
    """Every branch has a score for every criterion the assessors score."""
    missing = missing_scores(ctx.case.id)
    if missing:
        return Block(
            _(
                "%(n)s scores are still missing (every branch, every manual criterion).",
                n=len(missing),
            )
        )
    return None


@guard("assessment_vote_required")
def assessment_vote_required(ctx: Context) -> Block | None:
    if not _scheme(ctx).get("committee_vote"):
        return Block(_("The scheme has the committee approve without a vote."))
    return None


@guard("assessment_no_vote")
def assessment_no_vote(ctx: Context) -> Block | None:
    if _scheme(ctx).get("committee_vote"):
        return Block(_("The scheme has the committee decide by a vote."))
    return None


@effect("assessment_published")
def assessment_published(ctx: Context) -> None:
    """Publication dates the results and sets the last day a branch may appeal."""
    days = int(_scheme(ctx).get("appeal_days") or 10)
    ctx.data["published_on"] = ctx.today.isoformat()
    ctx.data["appeal_until"] = (ctx.today + timedelta(days=days)).isoformat()
    results = db.session.execute(
        select(AssessmentResult).where(AssessmentResult.round_id == ctx.case.id)
    ).scalars()
    for r in results:
        notices.published(
            ctx.case.id, r.org_id, ctx.case.title, r.total, r.stars, ctx.data["appeal_until"]
        )


def _open_appeals(round_id: int) -> int:
    return db.session.execute(
        select(func.count()).where(
            ProcessInstance.workflow_id == APPEAL,
            ProcessInstance.data["round_id"].as_integer() == round_id,
            ProcessInstance.closed_at.is_(None),
        )
    ).scalar_one()


@guard("assessment_appeals_settled")
def assessment_appeals_settled(ctx: Context) -> Block | None:
    """Closing waits for the time for appeals to run out and every appeal to be decided."""
    until = ctx.data.get("appeal_until")
    if until and ctx.today <= date.fromisoformat(until):
        return Block(
            _("Branches may appeal until %(day)s.", day=until),
            available_from=date.fromisoformat(until) + timedelta(days=1),
        )
    if ctx.taking:
        # An appeal being lodged holds the round (assessment_appeal_allowed): closing waits
        # for it, then counts it; an appeal after the close finds the round closed.
        locks.hold_case(ctx.case.id)
    if _open_appeals(ctx.case.id):
        return Block(_("An appeal is still waiting for its decision."))
    return None


@guard("assessment_appeal_allowed")
def assessment_appeal_allowed(ctx: Context) -> Block | None:
    """Once per branch and round, against a published round that assessed the branch,
    within the scheme's time limit."""
    round_id = ctx.value("round_id")
    found = None
    if isinstance(round_id, int):
        # Appeals against one round are lodged one after another: the second waits here
        # for the first to commit, then counts it (engine/locks.py).
        try:
            found = locks.hold_case(round_id)
        except NotFound:
            found = None
    assessed = (
        found is not None
        and db.session.execute(
            select(AssessmentResult.id).where(
                AssessmentResult.round_id == found.id, AssessmentResult.org_id == ctx.case.org_id
            )
        ).scalar()
    )
    if found is None or found.workflow_id != ROUND or not assessed:
        return Block(_("This branch was not assessed in that round."))
    if found.state != "published":
        return Block(_("Only published results can be appealed against, until the round closes."))
    until = (found.data or {}).get("appeal_until")
    if until and ctx.today > date.fromisoformat(until):
        return Block(_("The time for appeals ended on %(day)s.", day=until))
    if earlier_appeals(found.id, ctx.case.org_id):
        return Block(_("The branch has already appealed against this round."))
    return None


def earlier_appeals(round_id: int, org_id: int) -> int:
    """The branch's appeals against the round (read after the round's lock)."""
    return db.session.execute(
        select(func.count()).where(
            ProcessInstance.workflow_id == APPEAL,
            ProcessInstance.org_id == org_id,
            ProcessInstance.data["round_id"].as_integer() == round_id,
        )
    ).scalar_one()


@effect("assessment_appeal_upheld")
def assessment_appeal_upheld(ctx: Context) -> None:
    adjust_after_appeal(
        ctx.case,
        ctx.actor,
        ctx.value("rescore_criterion") or None,
        ctx.value("new_score"),
        bool(ctx.value("lift_vetoes")),
        str(ctx.value("decision") or ""),
    )
