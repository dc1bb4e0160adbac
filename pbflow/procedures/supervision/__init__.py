"""Supervision (督办): where every branch stands, supervision notices, statistics, exports.

The dashboard (``/supervision/``) reads the figures of one organization's tree for one
period, each from the service of its concern (``compliance``, ``work``, ``pipeline``,
``opinions``, ``rectification``, ``membership``, ``notices``; ``dashboard`` gathers them):
those other procedures count are offered by them (``Procedure.figures``), never imported
from them. Supervision notices are cases of ``workflows/supervision_notice.yaml``; the
procedure also turns every escalation of an overdue case into a notice to the superior
organization (``on_escalation``), which escalates further by its own time limits.
"""

from flask_babel import lazy_gettext as _l

from pbflow.procedures import NavEntry, Procedure
from pbflow.procedures.supervision import demo, membership, notices, rules, scope, views


def _notices_for_meeting(meeting) -> list:
    return notices.for_meeting(meeting.org_id, meeting.meeting_type, meeting.held_on)


procedure = Procedure(
    name="supervision",
    workflows=(notices.WORKFLOW,),
    guards=rules.GUARDS,
    effects=rules.EFFECTS,
    blueprint=views.bp,
    demo=demo.load,
    nav=(NavEntry("supervision.dashboard", _l("Supervision"), visible="may_supervise"),),
    case_panels=("supervision/_case_notices.html",),
    panels={
        "meeting": ("supervision/_meeting_notices.html",),
        "compliance": ("supervision/_calendar_notices.html",),
        "compliance_cell": ("supervision/_calendar_cell.html",),
    },
    template_globals={
        "supervision_notices_for_case": notices.for_case,
        "supervision_notices_for_meeting": _notices_for_meeting,
        "supervision_notices_for_calendar": notices.for_calendar,
        "supervision_may_issue": notices.may_issue,
        "supervision_notice_link": notices.link_of,
        "may_supervise": scope.may_supervise,
        "org_name": scope.org_name,
    },
    on_escalation=notices.on_escalation,
    person_tallies=membership.person_tally,
    audit_actions={"supervision_notice_linked": _l("Notice linked to the matter it concerns")},
)
