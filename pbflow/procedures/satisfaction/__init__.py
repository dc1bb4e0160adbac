"""Satisfaction surveys (满意度测评): the party committee draws a sample of each branch's
members and employees, hands each a one-time code, and reads the anonymous answers as a
satisfaction rate per branch and question (none shown below the survey's minimum count).
The branch assessment reads the rates through ``figure("survey_satisfaction")``. See
``services`` for the draw and for what keeps the answers anonymous."""

from flask_babel import lazy_gettext as _l

from pbflow.procedures import NavEntry, Procedure
from pbflow.procedures.satisfaction import services, views


def _tick(now):
    """Forget the rate-limit windows that are over: their keys must not outlive them."""
    forgotten = services.forget_past_windows(now)
    return f"satisfaction surveys: forgot {forgotten} past rate-limit windows", []


procedure = Procedure(
    name="satisfaction",
    blueprint=views.bp,
    tick=_tick,
    nav=(NavEntry("satisfaction.answer", _l("Survey"), public=True),),
    figures={"survey_satisfaction": services.survey_satisfaction},
    audit_actions={
        "survey_drawn": _l("Survey sample drawn"),
        "survey_answered": _l("Survey answered"),
    },
)
