"""What the assessment tells the branches (``Procedure.notices``): a round opened for their
self-assessment, and their published result. Stored as kind and parameters, rendered in the
reader's language (``pbflow.services.notifications``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_babel import gettext as _

from pbflow.engine import actors
from pbflow.procedures.assessment.access import BRANCH_ROLES
from pbflow.services import notifications


def speakers(org_id: int) -> list[int]:
    """The accounts that speak for a branch (secretary, deputy)."""
    return sorted({u for role in BRANCH_ROLES for u in actors.users_with_role(role, [org_id])})


def opened(round_id: int, org_id: int, period: str) -> None:
    notifications.notify(
        speakers(org_id),
        "assessment_opened",
        {"round_id": round_id, "org_id": org_id, "period": period},
    )


def published(
    round_id: int, org_id: int, period: str, total: float, stars: int, until: str
) -> None:
    notifications.notify(
        speakers(org_id),
        "assessment_published",
        {
            "round_id": round_id,
            "org_id": org_id,
            "period": period,
            "total": total,
            "stars": stars,
            "until": until,
        },
    )


def awarded(award_id: int, org_id: int, kind: str, text: str, decision: str) -> None:
    notifications.notify(
        speakers(org_id),
        "assessment_award",
        {"award": award_id, "org_id": org_id, "kind": kind, "text": text, "decision": decision},
    )


def _opened(p: Mapping[str, Any]) -> str:
    return _(
        "The %(period)s assessment of %(org)s is open: add the branch's self-assessment and "
        "evidence on its result sheet.",
        period=p.get("period", ""),
        org=notifications.org_name(p.get("org_id")),
    )


def _published(p: Mapping[str, Any]) -> str:
    return _(
        "The %(period)s assessment of %(org)s is published: %(total)s points, %(stars)s stars. "
        "The branch may appeal until %(until)s.",
        period=p.get("period", ""),
        org=notifications.org_name(p.get("org_id")),
        total=p.get("total"),
        stars=p.get("stars"),
        until=p.get("until", ""),
    )


def _awarded(p: Mapping[str, Any]) -> str:
    kinds = {
        "commendation": _("Commendation"),
        "criticism": _("Criticism"),
        "rectification": _("Required rectification"),
        "secretary_appraisal": _("Secretary's appraisal"),
    }
    return _(
        "%(kind)s for %(org)s: %(text)s (decision: %(decision)s).",
        kind=kinds.get(p.get("kind", ""), p.get("kind", "")),
        org=notifications.org_name(p.get("org_id")),
        text=p.get("text", ""),
        decision=p.get("decision", ""),
    )


NOTICES = {
    "assessment_opened": _opened,
    "assessment_published": _published,
    "assessment_award": _awarded,
}
