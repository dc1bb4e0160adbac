"""The supervision dashboard: every figure of one organization's tree for one period, from
the service of each concern. Another package (the branch assessment, the API) calls these
same functions: ``dashboard`` for all of them, or the module of one concern."""

from __future__ import annotations

from dataclasses import dataclass

from pbflow.models import User
from pbflow.procedures.supervision import (
    compliance,
    membership,
    notices,
    opinions,
    pipeline,
    rectification,
    work,
)
from pbflow.procedures.supervision.scope import Scope, resolve
from pbflow.services.periods import Period


@dataclass
class Dashboard:
    scope: Scope
    period: Period
    compliance: compliance.Compliance
    work: work.Work
    pipeline: pipeline.Pipeline | None
    opinions: opinions.Opinions | None
    rectification: rectification.Rectification | None
    membership: membership.Membership
    notices: notices.Notices


def dashboard(
    viewer: User,
    org_id: int | None,
    period: Period,
    *,
    locale: str = "zh",
    stuck_days: int = work.STUCK_DAYS,
) -> Dashboard:
    """Everything the dashboard shows for ``org_id`` (the viewer's highest organization by
    default) in ``period``. A fixed number of statements whatever the number of branches,
    people, meetings or cases (tests/supervision counts them)."""
    scope = resolve(viewer, org_id, locale)
    return Dashboard(
        scope=scope,
        period=period,
        compliance=compliance.compliance(scope, period),
        work=work.work(scope, stuck_days),
        pipeline=pipeline.pipeline(scope, period),
        opinions=opinions.opinions(scope, period),
        rectification=rectification.rectification(scope, period),
        membership=membership.membership(scope, period),
        notices=notices.notices(scope, period),
    )
