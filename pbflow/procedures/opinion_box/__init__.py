"""The opinion box (DOMAIN.md section 4): anyone drops an opinion, the organization answers.

The public pages (submit, follow with the tracking code) and the opinion book are its
blueprint; the organization's own steps are transitions of ``workflows/opinion.yaml`` taken on
the generic case page. Its models (tracking codes, rate counters) are in
``pbflow/models/opinions.py``.
"""

from datetime import datetime

from flask_babel import lazy_gettext as _l

from pbflow.procedures import NavEntry, Procedure
from pbflow.procedures.opinion_box import demo, effects, guards, services, tallies, views


def tick(now: datetime | None) -> tuple[str, list[str]]:
    """Forget the rate-limit windows that are over: their keys must not outlive them."""
    forgotten = services.forget_past_windows(now)
    return f"opinion box: forgot {forgotten} past rate-limit windows", []


procedure = Procedure(
    name="opinion_box",
    workflows=("opinion",),
    guards=guards.REGISTRY,
    effects=effects.REGISTRY,
    blueprint=views.bp,
    demo=demo.load,
    tick=tick,
    nav=(NavEntry("opinions.index", _l("Opinion box"), public=True),),
    figures={"opinions": services.figures},
    tallies=tallies.TALLIES,
    audit_actions={
        "tracking_code_issued": _l("Tracking code issued"),
        "case_transferred": _l("Opinion transferred to another organization"),
    },
)
