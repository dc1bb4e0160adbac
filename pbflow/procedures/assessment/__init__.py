"""Branch assessment (DOMAIN 5): schemes, rounds, results, appeals, rewards and penalties.

The committee publishes a versioned scheme per year (``scheme``); a round is a case of
``workflows/assessment_round.yaml`` opened from ``/assessment/`` (``rounds.open_round``) over
chosen branches, with every computed criterion filled from the records as of the period's end
(``measures``, from the figures other procedures offer, and the satisfaction surveys'
``survey_satisfaction``); the branches assess themselves, the assessors score the rest and
record vetoes, the organization department reviews, the committee approves (by a vote where
the scheme says so) and publishes; a branch appeals once (``workflows/assessment_appeal.yaml``).
Rankings, scorecards, figures, exports and printable result sheets are in ``views``.
"""

from flask_babel import lazy_gettext as _l

from pbflow.procedures import NavEntry, Procedure
from pbflow.procedures.assessment import access, demo, notices, rules, views

procedure = Procedure(
    name="assessment",
    workflows=("assessment_round", "assessment_appeal"),
    guards=rules.GUARDS,
    effects=rules.EFFECTS,
    blueprint=views.bp,
    cli=views.cli,
    demo=demo.load,
    nav=(NavEntry("assessment.index", _l("Assessments"), visible="may_see_assessment"),),
    case_panels=("assessment/_case_round.html",),
    template_globals={"may_see_assessment": access.may_see_assessment},
    notices=notices.NOTICES,
    audit_actions={
        "assessment_round_opened": _l("Assessment round opened"),
        "assessment_scheme_saved": _l("Assessment scheme saved"),
        "assessment_scored": _l("Assessment criterion scored"),
        "assessment_self_assessed": _l("Branch self-assessment recorded"),
        "assessment_veto": _l("Assessment veto applied"),
        "assessment_result_adjusted": _l("Assessment result adjusted after an appeal"),
        "assessment_award": _l("Reward or penalty recorded"),
    },
)
