"""Developing a new member (DOMAIN.md section 1): five stages, 25 steps.

Every step is a transition of ``workflows/member_development.yaml`` taken on the generic case
page; the package adds the rules of those steps, the effects that move a person's party status
and key dates, and the pages that read across cases: the branch's pipeline, the committee's
view, a person's progress, and the import of people part-way through.
"""

from datetime import datetime

from flask_babel import lazy_gettext as _l

from pbflow.procedures import NavEntry, Procedure
from pbflow.procedures.member_development import (
    demo,
    effects,
    guards,
    reminders,
    services,
    views,
)


def tick(now: datetime | None) -> tuple[str, list[str]]:
    """Its part of ``pbflow tick``: reminders of assessments, thought reports and the
    conversion window."""
    report = reminders.tick(now)
    return report.summary(), [f"case {case}: {problem}" for case, problem in report.failed]


procedure = Procedure(
    name="member_development",
    workflows=("member_development",),
    guards=guards.REGISTRY,
    effects=effects.REGISTRY,
    blueprint=views.bp,
    demo=demo.load,
    tick=tick,
    notices=reminders.NOTICES,
    # "Development" in the top bar, short enough to keep it one row (the pages say in full).
    nav=(NavEntry("development.index", _l("Development")),),
    figures={"development": services.pipeline_figures},
    audit_actions={
        "development_import": _l("Development history imported"),
        "obligation_reminder": _l("Reminder of an obligation sent"),
    },
)
