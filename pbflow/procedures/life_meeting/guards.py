"""Guards of the life meeting and rectification workflows (DOMAIN.md section 2).

The lists a life meeting collects (heart-to-heart talks, inspection materials, appraisal
grades) live in the case's ``data``, written by the effects in ``effects.py``; these
guards read them. Several guards take ``only_if: "field=value"`` so one workflow serves both
the democratic and the organizational life meeting (a rule that applies to one kind only).
"""

from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction
from typing import Any

from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from pbflow.engine import actors
from pbflow.engine.context import Block, Context
from pbflow.engine.fields import parse_date
from pbflow.engine.guards import person_ids, person_names
from pbflow.engine.rules import Rule, registrar
from pbflow.extensions import db

REGISTRY: dict[str, Rule] = {}
guard = registrar(REGISTRY)

APPRAISAL_STATUSES = ("full", "probationary")
GRADES = ("excellent", "qualified", "basically_qualified", "unqualified")


def _applies(ctx: Context, only_if: str | None) -> bool:
    """``only_if: "kind=democratic"``: the guard applies only when the field has that value."""
    if not only_if:
        return True
    name, _sep, expected = only_if.partition("=")
    value = ctx.value(name.strip())
    if isinstance(value, bool):
        return str(value).lower() == expected.strip().lower()
    return str(value) == expected.strip()


def ratio(text: Any) -> Fraction:
    """A share written as "2/3" or 0.5 in a setting."""
    return Fraction(str(text).strip())


def participants(ctx: Context) -> list[int]:
    return person_ids(ctx.data.get("participants"))


def missing_talks(ctx: Context) -> list[tuple[int, int]]:
    """Pairs of participants that still have to talk, by the ``talks_rule`` setting.

    ``principal_with_each`` (default): the principal leader (the secretary) with every other
    participant. ``every_pair``: every two participants with each other.
    """
    people = participants(ctx)
    principal = ctx.data.get("principal")
    held: set[frozenset[int]] = set()
    for talk in ctx.data.get("talks") or []:
        for other in person_ids(talk.get("talked_with")):
            held.add(frozenset((int(talk["talker"]), other)))
    if ctx.setting("talks_rule") == "every_pair":
        wanted = [(a, b) for i, a in enumerate(people) for b in people[i + 1 :]]
    else:
        wanted = [(principal, p) for p in people if p != principal]
    return [pair for pair in wanted if frozenset(pair) not in held]


def missing_materials(ctx: Context) -> list[int]:
    materials = ctx.data.get("materials") or {}
    return [
        p for p in participants(ctx) if (materials.get(str(p)) or {}).get("status") != "submitted"
    ]


@guard("talks_complete")
def talks_complete(ctx: Context) -> Block | None:
    """Every heart-to-heart talk the rule asks for has been recorded."""
    missing = missing_talks(ctx)
    if missing:
        others = [b for _a, b in missing]
        return Block(
            _(
                "Heart-to-heart talks are not complete: %(n)s still to hold (with %(names)s).",
                n=len(missing),
                names=person_names(others),
            )
        )
    return None


@guard("materials_complete")
def materials_complete(ctx: Context) -> Block | None:
    """Every participant's comparison and inspection material is in (and not sent back)."""
    missing = missing_materials(ctx)
    if missing:
        return Block(
            _(
                "Inspection material is missing for %(names)s.",
                names=person_names(missing),
            )
        )
    return None


@guard("materials_reviewed")
def materials_reviewed(ctx: Context, *, setting: str, flag: str) -> Block | None:
    """Where the superior reviews the materials (a setting), the review must have passed."""
    if ctx.setting(setting) and not ctx.data.get(flag):
        return Block(_("The superior has not yet approved the inspection materials."))
    return None


@guard("participants_only")
def participants_only(ctx: Context, *, field: str) -> Block | None:
    """The people named in ``field`` must be participants of the meeting."""
    people = set(participants(ctx))
    outsiders = [p for p in person_ids(ctx.value(field)) if p not in people]
    if outsiders:
        return Block(
            _("%(names)s are not participants of this meeting.", names=person_names(outsiders))
        )
    return None


@guard("self_unless_role")
def self_unless_role(ctx: Context, *, field: str, roles: list[str]) -> Block | None:
    """A participant acts for themselves; only the named roles may act for someone else."""
    actor_id = getattr(ctx.actor, "id", None)
    if actor_id is None:
        return None
    if any(actors.has_role(actor_id, role, [ctx.case.org_id]) for role in roles):
        return None
    if ctx.value(field) != actors.person_id_of_user(actor_id):
        return Block(_("You may only do this for yourself."))
    return None


@guard("attendance_quorum")
def attendance_quorum(ctx: Context, *, field: str, setting: str) -> Block | None:
    """Those present must be at least the set share (two thirds by default) of participants."""
    people = participants(ctx)
    present = set(person_ids(ctx.value(field))) & set(people)
    need = ratio(ctx.setting(setting))
    if not people or Fraction(len(present), len(people)) < need:
        return Block(
            _(
                "Only %(present)s of %(total)s participants attended; at least %(share)s must.",
                present=len(present),
                total=len(people),
                share=str(need),
            )
        )
    return None


@guard("superior_user")
def superior_user(ctx: Context, *, field: str, name_field: str | None = None) -> Block | None:
    """The user in ``field`` must hold a role at an organization above the case's. The top
    organization's superior (the county or group committee above a general party committee)
    is not in pbflow: there its attendee is named in words (``name_field``) instead, and
    only there, since below it the superior is a pbflow organization with its own people."""
    user_id = ctx.value(field)
    node = actors.org_index().get(ctx.case.org_id)
    above = set(node.ancestor_ids()[:-1]) if node else set()
    named = str(ctx.value(name_field) or "").strip() if name_field else ""
    if user_id in (None, ""):
        if not above and named:
            return None
        label = ctx.definition.field_label(
            name_field if not above and name_field else field, str(get_locale() or "zh")
        )
        return Block(_("'%(field)s' has not been recorded yet.", field=label))
    if not any(oid in above for oid, _role in actors.roles_of(int(user_id))):
        if not above and name_field:
            return Block(
                _(
                    "This organization's superior is not in pbflow: name its attendee in "
                    "'%(field)s' instead.",
                    field=ctx.definition.field_label(name_field, str(get_locale() or "zh")),
                )
            )
        return Block(_("The person named must belong to a superior organization."))
    return None


@guard("lead_time")
def lead_time(
    ctx: Context,
    *,
    field: str,
    setting: str,
    since: str | None = None,
    only_if: str | None = None,
) -> Block | None:
    """The date in ``field`` must lie at least the set number of days ahead: of today when
    the plan is reported to the superior, or (``since``) of the day it was reported, for the
    meeting itself, which may be held earlier than planned but not before the superior had
    its time."""
    if not _applies(ctx, only_if):
        return None
    days = int(ctx.setting(setting) or 0)
    when = ctx.date_value(field)
    if when is None:
        return Block(_("'%(field)s' has not been recorded yet.", field=field))
    start = ctx.today if since is None else ctx.date_value(since)
    if not days or start is None:
        return None
    earliest = start + timedelta(days=days)
    if when < earliest:
        return Block(
            _(
                "The plan must reach the superior at least %(n)s days before the meeting; "
                "choose a date from %(date)s.",
                n=days,
                date=earliest.isoformat(),
            ),
            available_from=earliest if since is not None and earliest > ctx.today else None,
        )
    return None


@guard("late_needs_reason")
def late_needs_reason(ctx: Context, *, field: str, setting: str, reason_field: str) -> Block | None:
    """After the time limit from ``field`` a step still goes through, but only with a reason."""
    start = ctx.date_value(field)
    if start is None:
        return Block(_("'%(field)s' has not been recorded yet.", field=field))
    due = start + timedelta(days=int(ctx.setting(setting)))
    if ctx.today > due and not (ctx.value(reason_field) or "").strip():
        return Block(
            _(
                "The report was due on %(date)s; it is late, so give the reason for the delay.",
                date=due.isoformat(),
            )
        )
    return None


@guard("org_kind_for_choice")
def org_kind_for_choice(ctx: Context, *, field: str, value: str, kinds: list[str]) -> Block | None:
    """A choice (for example a democratic life meeting) is only for some organization kinds."""
    if ctx.value(field) != value:
        return None
    node = actors.org_index().get(ctx.case.org_id)
    if node is None or node.kind not in kinds:
        return Block(_("This kind of meeting is held by a party committee's leadership team."))
    return None


def appraisal_members(org_id: int) -> list[int]:
    """Full and probationary members of the organization and the groups below it."""
    from pbflow.models import Organization, Person

    node = actors.org_index().get(org_id)
    path = node.path if node else "/none/"
    return list(
        db.session.execute(
            select(Person.id)
            .join(Organization, Organization.id == Person.org_id)
            .where(
                Organization.path.startswith(path),
                Person.active,
                Person.party_status.in_(APPRAISAL_STATUSES),
            )
            .order_by(Person.id)
        ).scalars()
    )


def _grades_after(ctx: Context, members_field: str | None, grade_field: str | None) -> dict:
    grades = dict(ctx.data.get("grades") or {})
    if members_field and grade_field:
        for pid in person_ids(ctx.value(members_field)):
            grades[str(pid)] = ctx.value(grade_field)
    return grades


def _fourth_quarter_applies(ctx: Context, only_if: str | None, unless_field: str | None) -> bool:
    return _applies(ctx, only_if) and not (unless_field and ctx.value(unless_field) is True)


@guard("fourth_quarter_or_consent")
def fourth_quarter_or_consent(
    ctx: Context,
    *,
    field: str,
    date_field: str,
    consent_field: str,
    unless_field: str | None = None,
    year_field: str | None = None,
    only_if: str | None = None,
) -> Block | None:
    """A democratic life meeting is held in the fourth quarter (of the year it was planned
    for: ``year_field``); earlier or later only with the superior's consent (DOMAIN 2),
    given when it approves the plan or afterwards. A special meeting (``unless_field``,
    which the superior sees in the plan it approves) is called when it is needed. ``field``:
    the one of ``date_field`` and ``consent_field`` the step's own form asks, so that the
    step is judged once it is filled in."""
    if not _fourth_quarter_applies(ctx, only_if, unless_field):
        return None
    day = ctx.date_value(date_field)
    planned = ctx.date_value(year_field) if year_field else None
    in_season = (
        day is not None and day.month >= 10 and (planned is None or day.year == planned.year)
    )
    if day is None or in_season or ctx.value(consent_field) is True:
        return None
    return Block(
        _(
            "A democratic life meeting is held in the fourth quarter; on %(date)s it needs "
            "the superior's consent.",
            date=day.isoformat(),
        )
    )


@guard("off_season_consent_open", pure=True)
def off_season_consent_open(ctx: Context) -> Block | None:
    """The superior's consent to another quarter is for a yearly democratic life meeting
    that does not have it yet."""
    if ctx.value("kind") != "democratic" or ctx.value("special") is True:
        return Block(_("Only a yearly democratic life meeting is held in the fourth quarter."))
    if ctx.value("off_season_consent") is True:
        return Block(_("The superior has already consented to another quarter."))
    return None


def has_branch_committee(org_id: int) -> bool:
    """A branch with a committee (seven or more full members elect one): an active account
    holds a committee post there (``actors.COMMITTEE_POSTS``), as the three meetings'
    requirements read it."""
    index = actors.org_index()
    if org_id not in index or index[org_id].kind != "branch":
        return False
    return org_id in actors.with_branch_committee([org_id])


@guard("committee_session_due")
def committee_session_due(ctx: Context, *, only_if: str | None = None) -> Block | None:
    """The branch committee's own session is recorded for a branch that has a committee (a
    correction may follow until the meeting is recorded). Not pure: it reads the branch's
    roles, not only the case (the step is ``waits: false``, its meeting is what waits)."""
    if not _applies(ctx, only_if) or not has_branch_committee(ctx.case.org_id):
        return Block(_("Only a branch with a committee holds the committee's session first."))
    return None


def branch_committee_people(org_id: int) -> list[int]:
    """The people of the branch's committee (their active accounts hold a committee role
    there)."""
    from pbflow.models import Person, RoleAssignment, User

    return list(
        db.session.execute(
            select(Person.id)
            .join(RoleAssignment, RoleAssignment.user_id == Person.user_id)
            .join(User, User.id == Person.user_id)
            .where(
                RoleAssignment.org_id == org_id,
                RoleAssignment.role.in_(actors.BRANCH_COMMITTEE_ROLES),
                Person.active,
                User.active,
            )
            .distinct()
            .order_by(Person.id)
        ).scalars()
    )


@guard("committee_session_quorum")
def committee_session_quorum(ctx: Context, *, field: str) -> Block | None:
    """The committee's session is its members' (those named present hold a committee role
    at the branch), with more than half of them there, as a committee meeting needs
    (DOMAIN 3)."""
    committee = branch_committee_people(ctx.case.org_id)
    present = person_ids(ctx.value(field))
    outsiders = [p for p in present if p not in committee]
    if outsiders:
        return Block(
            _("%(names)s are not members of the branch committee.", names=person_names(outsiders))
        )
    there = len(set(present))
    if committee and 2 * there <= len(committee):
        return Block(
            _(
                "No quorum: %(present)s of %(total)s committee members present; more than half "
                "must attend.",
                present=there,
                total=len(committee),
            )
        )
    return None


@guard("committee_met_first")
def committee_met_first(ctx: Context, *, since: str, only_if: str | None = None) -> Block | None:
    """Where the branch has a committee, the committee holds its organizational life meeting
    first (DOMAIN 2): its session (``since``) is recorded before the branch's meeting, which
    the workflow's date guard keeps on or after it. No field of the meeting's own form is
    read: the case page greys the step until then."""
    if not _applies(ctx, only_if) or not has_branch_committee(ctx.case.org_id):
        return None
    if ctx.date_value(since) is None:
        return Block(
            _(
                "The branch has a committee: its committee holds its own session first; record "
                "that session before the branch's meeting."
            )
        )
    return None


KIND_NAMES = {
    "democratic": _l("democratic life meeting"),
    "organizational": _l("organizational life meeting"),
}


def last_rectification_list(case: Any, kind: str, before: date) -> date | None:
    """The day the organization's latest life meeting of this kind held before ``before``
    was held, if it drew up a rectification list (one item or more); None otherwise. One
    organization holds a few life meetings a year."""
    from pbflow.models import ProcessInstance

    rows = db.session.execute(
        select(ProcessInstance.data).where(
            ProcessInstance.workflow_id == case.workflow_id,
            ProcessInstance.org_id == case.org_id,
            ProcessInstance.id != case.id,
            ProcessInstance.parent_id.is_(None),
        )
    ).scalars()
    latest: tuple[date, bool] | None = None
    for data in rows:
        data = data or {}
        if data.get("kind") != kind or not data.get("held_on"):
            continue
        held = parse_date(data["held_on"])
        if held < before and (latest is None or held > latest[0]):
            latest = (held, bool(data.get("children")))
    return latest[0] if latest and latest[1] else None


@guard("last_rectification_reported")
def last_rectification_reported(ctx: Context, *, field: str, held_field: str) -> Block | None:
    """The meeting hears a report on the rectification of last time's problems (DOMAIN 2:
    the meeting opens with it; the rectification is reviewed again at the next meeting):
    where the organization's previous meeting of this kind drew up a rectification list,
    ``field`` says how it was carried out."""
    if str(ctx.value(field) or "").strip():
        return None
    kind = str(ctx.value("kind") or "")
    held = last_rectification_list(ctx.case, kind, ctx.date_value(held_field) or ctx.today)
    if held is None:
        return None
    return Block(
        _(
            "The last %(kind)s of this organization, held on %(date)s, drew up a rectification "
            "list: this meeting hears how it was carried out. Fill in '%(field)s'.",
            kind=KIND_NAMES.get(kind, kind),
            date=held.isoformat(),
            field=ctx.definition.field_label(field, str(get_locale() or "zh")),
        )
    )


@guard("appraisal_included", pure=True)
def appraisal_included(ctx: Context) -> Block | None:
    """The appraisal's steps belong to a meeting that includes the democratic appraisal of
    members (``with_appraisal``); elsewhere they are not offered."""
    if ctx.value("with_appraisal") is not True:
        return Block(_("This meeting does not include the democratic appraisal of members."))
    return None


@guard("appraisal_not_graded", pure=True)
def appraisal_not_graded(ctx: Context) -> Block | None:
    """The self- and peer appraisal come before the branch's grades (DOMAIN 2) and are not
    rewritten once grades rest on them."""
    if ctx.data.get("grades"):
        return Block(
            _("Grades are recorded: the self-appraisal and peer appraisal before them stand.")
        )
    return None


@guard("appraisal_members_only")
def appraisal_members_only(ctx: Context, *, field: str) -> Block | None:
    """Only members of the organization are appraised here."""
    members = set(appraisal_members(ctx.case.org_id))
    outsiders = [p for p in person_ids(ctx.value(field)) if p not in members]
    if outsiders:
        return Block(
            _(
                "%(names)s are not full or probationary members of this organization.",
                names=person_names(outsiders),
            )
        )
    return None


@guard("excellent_share")
def excellent_share(
    ctx: Context,
    *,
    setting: str,
    members_field: str | None = None,
    grade_field: str | None = None,
) -> Block | None:
    """ "Excellent" may go to at most the set share (one third) of the members appraised."""
    grades = _grades_after(ctx, members_field, grade_field)
    total = len(appraisal_members(ctx.case.org_id))
    limit = int(ratio(ctx.setting(setting)) * total)
    excellent = sum(1 for g in grades.values() if g == "excellent")
    if excellent > limit:
        return Block(
            _(
                "At most %(limit)s of %(total)s members may be rated excellent (%(n)s would be).",
                limit=limit,
                total=total,
                n=excellent,
            )
        )
    return None


@guard("appraisal_complete")
def appraisal_complete(
    ctx: Context,
    *,
    decision_field: str,
    announced_field: str | None = None,
    only_if: str | None = None,
) -> Block | None:
    """Where the meeting includes the democratic appraisal, every member has a grade, the
    branch's decision is recorded and (``announced_field``) the day the grades were fed back
    to each member in writing and announced (DOMAIN 2; that day's place between the meeting
    and today is the workflow's date guards' to check)."""
    if not _applies(ctx, only_if):
        return None
    grades = ctx.data.get("grades") or {}
    missing = [p for p in appraisal_members(ctx.case.org_id) if str(p) not in grades]
    if missing:
        return Block(
            _(
                "The democratic appraisal has no grade yet for %(names)s.",
                names=person_names(missing),
            )
        )
    if not (ctx.value(decision_field) or ""):
        return Block(_("Record the branch's decision on the appraisal."))
    if announced_field and ctx.date_value(announced_field) is None:
        return Block(
            _("Record the day the grades were fed back to each member in writing and announced.")
        )
    return None


@guard("rectification_listed")
def rectification_listed(ctx: Context) -> Block | None:
    """The meeting closes on its rectification list (DOMAIN 2: a list with an owner, measures
    and a deadline per item, ticked off one by one): a list with no item in it has nothing to
    tick off, so at least one item is listed before the case closes."""
    if not ctx.data.get("children"):
        return Block(
            _(
                "No rectification item has been listed yet: list each problem found with its "
                "owner, measures and deadline before closing."
            )
        )
    return None
