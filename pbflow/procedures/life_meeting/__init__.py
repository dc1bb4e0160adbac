"""Democratic and organizational life meetings (DOMAIN.md section 2), with rectification.

Two workflows: ``life_meeting`` from the plan to the report, and ``rectification``, one child
case per item of the rectification list, which the life meeting's case page shows as a panel.
The life meeting's steps are taken on the generic case page; its one page of its own is its
minutes as PDF, which also go into the organization's bound yearly volume.
"""

from datetime import datetime

from flask_babel import lazy_gettext as _l

from pbflow.procedures import Procedure
from pbflow.procedures.life_meeting import (
    demo,
    documents,
    effects,
    guards,
    reminders,
    services,
    tallies,
    views,
)


def tick(now: datetime | None) -> tuple[str, list[str]]:
    """Its part of ``pbflow tick``: remind of the year's life meetings not started yet."""
    return reminders.tick(now).summary(), []


procedure = Procedure(
    name="life_meeting",
    workflows=("life_meeting", "rectification"),
    guards=guards.REGISTRY,
    effects=effects.REGISTRY,
    demo=demo.load,
    tick=tick,
    notices=reminders.NOTICES,
    case_panels=("life_meeting/_rectification_panel.html", "life_meeting/_minutes_panel.html"),
    template_globals={"rectification_panel": services.rectification_panel},
    blueprint=views.bp,
    minutes=documents.minutes_sections,
    figures={
        "life_meetings": services.organizational_life_meetings,
        "rectification": services.rectification_figures,
        "rectification_items": services.rectification_items,
    },
    tallies=tallies.TALLIES,
    audit_actions={"obligation_reminder": _l("Reminder of an obligation sent")},
)
