"""Guards of the member-development workflow (DOMAIN.md section 1, the 25 steps).

Each guard reads the case (``ctx.data``), the person it is about (``ctx.subject()``) and the
workflow's settings, and refuses with a reason a branch secretary can read, plus the date from
which the rule will be met where that is a matter of time. The records they read (assessments,
introducers' opinions, approval extensions) are written by ``effects.py`` and by the
generic ``append_record`` effect.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from pbflow.engine import actors, calendar
from pbflow.engine.context import Block, Context
from pbflow.engine.fields import parse_date
from pbflow.engine.rules import Rule, registrar
from pbflow.extensions import db
from pbflow.models import Organization, Person, ProcessInstance

REGISTRY: dict[str, Rule] = {}
guard = registrar(REGISTRY)

WORKFLOW = "member_development"

# Steps whose record ``step_recorded`` asks for, with the sentence shown when it is missing.
STEPS = {
    "oath": _l("The admission oath has not been recorded yet."),
    "talk": _l("The talk with the applicant has not been recorded yet."),
    "contacts": _l("No cultivation contacts have been assigned yet."),
    "introducers": _l("The two introducers have not been named yet."),
    "admission_form": _l("The admission form has not been submitted yet."),
}


def field_label(ctx: Context, name: str) -> str:
    """The label of a field for messages: as this step's form names it, else as the workflow
    does wherever it asks for it (``Definition.field_label``)."""
    from flask_babel import get_locale

    locale = str(get_locale() or "zh")
    for spec in ctx.transition.fields if ctx.transition else ():
        if spec.name == name:
            return spec.label.get(locale)
    return ctx.definition.field_label(name, locale)


def _period(
    days: int | None, months: int | None, years: int | None, setting: Any, unit: str
) -> tuple[int, str]:
    if setting is not None:
        return int(setting), unit
    if years is not None:
        return years, "years"
    if months is not None:
        return months, "months"
    return int(days or 0), "days"


def _person_ids(value: Any) -> list[int]:
    if value in (None, "", []):
        return []
    items = value if isinstance(value, list) else [value]
    return [int(v) for v in items]


# --- the application (steps 1-2) -------------------------------------------------------------


@guard("applicant_or_branch")
def applicant_or_branch(ctx: Context, *, roles: list[str]) -> Block | None:
    """Only the applicant (for themself) or the branch's handlers may enter an application.

    The start rule is ``anyone`` because an applicant holds no role yet; this guard narrows it.
    """
    actor_id = getattr(ctx.actor, "id", None)
    if actor_id is None:
        return Block(_("Please log in to apply."))
    subject = ctx.subject()
    if subject is not None and subject.user_id == actor_id:
        return None
    if any(actors.has_role(actor_id, role, [ctx.case.org_id]) for role in roles):
        return None
    return Block(
        _(
            "Only the applicant themself, or the branch secretary, deputy secretary or "
            "organizing committee member, may enter an application here."
        )
    )


@guard("required_unless")
def required_unless(ctx: Context, *, field: str, unless: str) -> Block | None:
    """A document is needed unless the case is entered from paper records (``unless`` set)."""
    if not ctx.value(unless) and ctx.value(field) in (None, "", []):
        return Block(_("%(field)s is needed.", field=field_label(ctx, field)))
    return None


@guard("own_application_today")
def own_application_today(ctx: Context, *, field: str) -> Block | None:
    """An applicant applying through pbflow applies today; earlier letters are entered by the
    branch, which vouches for the date it received them."""
    subject = ctx.subject()
    given = ctx.date_value(field)
    if (
        subject is not None
        and subject.user_id is not None
        and subject.user_id == getattr(ctx.actor, "id", None)
        and given is not None
        and given != ctx.today
    ):
        return Block(
            _(
                "When you apply yourself the application is dated today; the branch enters "
                "applications it received earlier."
            )
        )
    return None


@guard("min_age")
def min_age(ctx: Context, *, years: int, at: str) -> Block | None:
    """The applicant is at least ``years`` old on the date in ``at`` (DOMAIN 1.1: 18), from
    their birthday on (1 March for someone born on 29 February, ``calendar.birthday``)."""
    person = ctx.subject()
    if person is None:
        return Block(_("Choose the person who applies."))
    if person.birth_date is None:
        return Block(
            _(
                "%(name)s's birth date is not recorded; it is needed to check the minimum age "
                "of %(years)s.",
                name=person.name,
                years=years,
            )
        )
    on = ctx.date_value(at) or ctx.today
    birthday = calendar.birthday(person.birth_date, years)
    if on < birthday:
        return Block(
            _(
                "The applicant must be at least %(years)s years old when applying; %(name)s "
                "turns %(years)s on %(date)s.",
                years=years,
                name=person.name,
                date=birthday.isoformat(),
            ),
            available_from=birthday if birthday > ctx.today else None,
        )
    return None


@guard("may_start_development")
def may_start_development(ctx: Context, *, part_way: str) -> Block | None:
    """One open development case per person, for a person of this organization who is not a
    member yet. ``part_way`` names the start field saying the person is already part-way
    through (entered from paper records), who may already hold a later status."""
    person = ctx.subject()
    if person is None:
        return Block(_("Choose the person who applies."))
    allowed = ("none", "applicant")
    if ctx.value(part_way):
        allowed = ("none", "applicant", "activist", "target", "probationary")
    if person.party_status not in allowed:
        return Block(
            _(
                "%(name)s is already a party member or further along (status: %(status)s).",
                name=person.name,
                status=person.party_status,
            )
        )
    orgs = actors.org_index()
    node = orgs.get(person.org_id)
    if node is None or ctx.case.org_id not in node.ancestor_ids():
        return Block(_("%(name)s belongs to another organization; apply there.", name=person.name))
    stmt = select(ProcessInstance.id).where(
        ProcessInstance.workflow_id == WORKFLOW,
        ProcessInstance.subject_person_id == person.id,
        ProcessInstance.closed_at.is_(None),
    )
    if ctx.case.id is not None:
        stmt = stmt.where(ProcessInstance.id != ctx.case.id)
    open_case = db.session.execute(stmt).first()
    if open_case is not None:
        return Block(
            _(
                "%(name)s already has an open development case (no. %(id)s).",
                name=person.name,
                id=open_case.id,
            )
        )
    return None


# --- dates and time limits --------------------------------------------------------------------


@guard("date_at_least")
def date_at_least(
    ctx: Context,
    *,
    field: str,
    since: str,
    days: int | None = None,
    months: int | None = None,
    years: int | None = None,
    setting: str | None = None,
    unit: str = "months",
) -> Block | None:
    """A date typed at this step lies on or after another date plus a period (for example the
    decision listing someone as a development target is dated a year after they became an
    activist). With no period it just keeps dates in order."""
    value = ctx.date_value(field)
    start = ctx.date_value(since)
    if value is None or start is None:
        return None
    amount, unit_ = _period(days, months, years, ctx.setting(setting) if setting else None, unit)
    earliest = calendar.add(start, amount, unit_)
    if value < earliest:
        return Block(
            _(
                "%(field)s cannot be before %(date)s.",
                field=field_label(ctx, field),
                date=earliest.isoformat(),
            ),
            available_from=earliest if earliest > ctx.today else None,
        )
    return None


@guard("dates_in_order")
def dates_in_order(ctx: Context, *, fields: list[str]) -> Block | None:
    """Dates of steps taken on paper, given when a case is entered part-way: none in the
    future, each on or after the one before (application, talk, activist, target, admission)."""
    previous: tuple[str, date] | None = None
    for name in fields:
        value = ctx.date_value(name)
        if value is None:
            continue
        if value > ctx.today:
            return Block(
                _(
                    "%(field)s (%(date)s) is in the future.",
                    field=field_label(ctx, name),
                    date=value.isoformat(),
                )
            )
        if previous and value < previous[1]:
            return Block(
                _(
                    "%(field)s (%(date)s) is before %(other)s (%(other_date)s).",
                    field=field_label(ctx, name),
                    date=value.isoformat(),
                    other=field_label(ctx, previous[0]),
                    other_date=previous[1].isoformat(),
                )
            )
        previous = (name, value)
    return None


def _resolution_before(ctx: Context, date_field: str) -> tuple[date, date] | None:
    """(the meeting's date, the date in ``date_field``) when the branch general meeting's
    resolution, applied by the engine, is dated before it; None otherwise."""
    held = ctx.date_value("last_resolution_date")
    limit = ctx.date_value(date_field)
    return (held, limit) if held is not None and limit is not None and held < limit else None


@guard("resolution_not_before")
def resolution_not_before(ctx: Context, *, date_field: str) -> Block | None:
    """The meeting's resolution is dated on or after a date (the conversion vote is taken once
    probation has ended, DOMAIN 1.22-23); checked when the engine applies the vote."""
    found = _resolution_before(ctx, date_field)
    if found is None:
        return None
    held, limit = found
    return Block(
        _(
            "The meeting of %(held)s was held before probation ended on %(end)s; the "
            "conversion can only be discussed after that.",
            held=held.isoformat(),
            end=limit.isoformat(),
        ),
        available_from=limit,
    )


@guard("resolution_after_step")
def resolution_after_step(ctx: Context, *, date_field: str) -> Block | None:
    """The meeting's resolution is dated on or after an earlier step's date (the admission
    vote follows the pre-review that issued the admission form, DOMAIN 1.13-15: its date is
    the admission date, so it cannot precede the steps it rests on)."""
    found = _resolution_before(ctx, date_field)
    if found is None:
        return None
    held, limit = found
    return Block(
        _(
            "The meeting of %(held)s is dated before %(step)s (%(date)s): the branch "
            "general meeting votes after that step.",
            held=held.isoformat(),
            step=field_label(ctx, date_field),
            date=limit.isoformat(),
        ),
        available_from=limit,
    )


def _approval_limit(ctx: Context, resolution: str, deadline: str | None, max_months: int):
    base = ctx.date_value(resolution)
    if base is None:
        return None, None
    hard = calendar.add_months(base, max_months)
    limit = ctx.date_value(deadline) if deadline else None
    return base, min(limit, hard) if limit else hard


@guard("approval_in_time")
def approval_in_time(
    ctx: Context, *, resolution: str, day: str, deadline: str | None = None, max_months: int = 6
) -> Block | None:
    """The superior approves by the deadline (three months from the branch's resolution, or as
    extended), and never more than ``max_months`` after it (DOMAIN 1.17, 1.24)."""
    base, limit = _approval_limit(ctx, resolution, deadline, max_months)
    if base is None:
        return Block(_("The branch general meeting's resolution has not been recorded."))
    when = ctx.date_value(day) or ctx.today
    if when < base:
        return Block(
            _(
                "The approval cannot be dated before the resolution of %(date)s.",
                date=base.isoformat(),
            )
        )
    if when > limit:
        return Block(
            _(
                "Too late: the superior had to approve by %(limit)s (the resolution was passed "
                "on %(date)s; at most %(n)s months in all).",
                limit=limit.isoformat(),
                date=base.isoformat(),
                n=max_months,
            )
        )
    return None


@guard("approval_extension_valid")
def approval_extension_valid(
    ctx: Context, *, resolution: str, field: str, max_months: int = 6
) -> Block | None:
    """An extension of the approval time names a later deadline, at most ``max_months`` after
    the resolution in all, and is decided before that limit has passed."""
    base = ctx.date_value(resolution)
    if base is None:
        return Block(_("The branch general meeting's resolution has not been recorded."))
    hard = calendar.add_months(base, max_months)
    if ctx.today > hard:
        return Block(
            _(
                "Too late: the approval time cannot go beyond %(limit)s, six months after the "
                "resolution.",
                limit=hard.isoformat(),
            )
        )
    new = ctx.date_value(field)
    current = ctx.data.get(field)
    if new is not None and current and new <= parse_date(current):
        return Block(_("The new deadline must be later than %(date)s.", date=current))
    if new is not None and new > hard:
        return Block(
            _(
                "The approval time may be extended to %(limit)s at the latest: never beyond six "
                "months after the resolution of %(date)s.",
                limit=hard.isoformat(),
                date=base.isoformat(),
            )
        )
    return None


# --- contacts, introducers, assessments (steps 5-9) -----------------------------------------

_WHO = {
    "contacts": (_l("cultivation contact"), _l("cultivation contacts")),
    "introducers": (_l("introducer"), _l("introducers")),
}


@guard("members_eligible")
def members_eligible(
    ctx: Context, *, field: str, what: str, min: int = 1, max: int = 2
) -> Block | None:
    """Cultivation contacts (1-2) and introducers (exactly 2) are full members of this
    organization, not under party probation (留党察看), and never the candidate (DOMAIN 1.5,
    1.9)."""
    one, many = _WHO.get(what, (what, what))
    ids = _person_ids(ctx.value(field))
    if not ids:
        return Block(_("No %(who)s named yet.", who=many))
    if not min <= len(ids) <= max:
        if min == max:
            return Block(
                _("Exactly %(n)s %(who)s are needed; %(k)s named.", n=min, who=many, k=len(ids))
            )
        return Block(
            _(
                "%(lo)s to %(hi)s %(who)s are needed; %(k)s named.",
                lo=min,
                hi=max,
                who=many,
                k=len(ids),
            )
        )
    if ctx.case.subject_person_id in ids:
        return Block(_("The candidate cannot be their own %(who)s.", who=one))
    case_org = ctx.case.org_id
    rows = db.session.execute(
        select(Person, Organization.path)
        .join(Organization, Organization.id == Person.org_id)
        .where(Person.id.in_(ids))
    ).all()
    for person, path in rows:
        if f"/{case_org}/" not in path:
            return Block(
                _(
                    "%(name)s is not a member of this organization and cannot be a %(who)s.",
                    name=person.name,
                    who=one,
                )
            )
        if person.party_status != "full" or not person.active:
            return Block(
                _(
                    "%(name)s is not a full member and cannot be a %(who)s.",
                    name=person.name,
                    who=one,
                )
            )
        if person.on_party_probation:
            return Block(
                _(
                    "%(name)s is under party probation (留党察看) and cannot be a %(who)s.",
                    name=person.name,
                    who=one,
                )
            )
    return None


def _missing_period(
    start: date, until: date, months: int, dates: list[date], minimum: int = 0
) -> tuple[date, date] | None:
    """The first period of ``months`` months from ``start`` with no date in it, among the
    periods that ended by ``until`` (at least ``minimum`` of them are checked). The first
    period includes its first day; each period includes its last day."""
    k = 0
    while True:
        lo = calendar.add_months(start, months * k)
        hi = calendar.add_months(start, months * (k + 1))
        if hi > until and k >= minimum:
            return None
        if not any((lo <= d if k == 0 else lo < d) and d <= hi for d in dates):
            return (lo if k == 0 else lo + timedelta(days=1)), hi
        k += 1


@guard("half_yearly_assessments")
def half_yearly_assessments(
    ctx: Context,
    *,
    since: str,
    until: str | None = None,
    periods: int = 2,
    records: str = "assessments",
) -> Block | None:
    """One assessment recorded for each six months since ``since`` (DOMAIN 1.6), for every
    half-year that ended by the date in ``until`` (the decision's date, else today), and at
    least the first ``periods``: the first covers the first six months (their last day
    included), the next the six after, and so on."""
    start = ctx.date_value(since)
    if start is None:
        return Block(_("The date of becoming an activist is not recorded."))
    end = (ctx.date_value(until) if until else None) or ctx.today
    dates = [parse_date(r["assessment_date"]) for r in ctx.data.get(records) or []]
    gap = _missing_period(start, end, 6, dates, periods)
    if gap is not None:
        first_day, hi = gap
        return Block(
            _(
                "No half-yearly assessment is recorded for %(lo)s to %(hi)s.",
                lo=first_day.isoformat(),
                hi=hi.isoformat(),
            ),
            available_from=first_day if first_day > ctx.today else None,
        )
    return None


@guard("thought_reports_regular")
def thought_reports_regular(
    ctx: Context, *, since: str, until: str, setting: str, records: str = "thought_reports"
) -> Block | None:
    """A thought report in every period of the configured months (0: not required) from
    ``since`` (becoming an activist, or admission) up to ``until`` (the decision's date, or the
    end of probation), DOMAIN 1.6 and 1.21."""
    months = int(ctx.setting(setting) or 0)
    if months <= 0:
        return None
    start = ctx.date_value(since)
    if start is None:
        return None
    end = ctx.date_value(until) or ctx.today
    dates = [parse_date(r["report_date"]) for r in ctx.data.get(records) or []]
    gap = _missing_period(start, end, months, dates)
    if gap is not None:
        return Block(
            _(
                "No thought report is recorded for %(lo)s to %(hi)s (one at least every "
                "%(n)s months).",
                lo=gap[0].isoformat(),
                hi=gap[1].isoformat(),
                n=months,
            )
        )
    return None


def full_members_of(org_id: int) -> int:
    """Full members with voting rights in an organization and the party groups below it."""
    from sqlalchemy import func

    node = actors.org_index().get(org_id)
    if node is None:
        return 0
    return db.session.execute(
        select(func.count(Person.id))
        .join(Organization, Organization.id == Person.org_id)
        .where(
            Organization.path.startswith(node.path),
            Person.party_status == "full",
            Person.active.is_(True),
        )
    ).scalar_one()


COMMITTEE_MIN_MEMBERS = 7


@guard("deciding_body_exists")
def deciding_body_exists(ctx: Context, *, field: str) -> Block | None:
    """A branch of fewer than seven full members has no branch committee: its decisions are
    taken by the branch general meeting, never "by the branch committee" (DOMAIN: organizations
    and people, 1.3). Nor does a larger one that has not elected its committee (no active
    account holds a committee post there besides the secretaries', as the supervision's
    branch sizes read it): it is flagged there, and its general meeting decides meanwhile."""
    if ctx.value(field) != "branch_committee":
        return None
    n = full_members_of(ctx.case.org_id)
    if n < COMMITTEE_MIN_MEMBERS:
        return Block(
            _(
                "This branch has %(n)s full members, fewer than seven, so it has no branch "
                "committee: its branch general meeting decides. Record the decision as the "
                "general meeting's.",
                n=n,
            )
        )
    if ctx.case.org_id not in actors.with_branch_committee([ctx.case.org_id]):
        return Block(
            _(
                "This branch has no branch committee: no one holds a committee post there "
                "besides the secretaries (an organizing member or a committee member). Its "
                "branch general meeting decides; record the decision as the general meeting's."
            )
        )
    return None


@guard("review_after_activist")
def review_after_activist(ctx: Context, *, field: str) -> Block | None:
    """The political review is dated after the person became an activist (DOMAIN 1.10)."""
    concluded = ctx.date_value(field)
    activist = ctx.date_value("subject.activist_on")
    if concluded is not None and activist is not None and concluded <= activist:
        return Block(
            _(
                "The political review must be dated after %(name)s became an activist on %(date)s.",
                name=(ctx.subject().name if ctx.subject() else ""),
                date=activist.isoformat(),
            )
        )
    return None


@guard("not_leaving_soon")
def not_leaving_soon(ctx: Context, *, months: int = 3, day: str | None = None) -> Block | None:
    """Someone expected to leave the unit within ``months`` months of an admission decision
    (the date in ``day``, else today) is not admitted (DOMAIN 1.13)."""
    leaves = ctx.date_value("leaves_unit_on")
    if leaves is None:
        return None
    decided = (ctx.date_value(day) if day else None) or ctx.today
    if leaves <= calendar.add_months(decided, months):
        person = ctx.subject()
        return Block(
            _(
                "%(name)s is expected to leave the unit on %(date)s, within %(n)s months of "
                "this admission decision (%(day)s): someone leaving that soon is normally not "
                "admitted. Hand the cultivation over to the organization they go to and end "
                "the development here, or withdraw the departure if they stay.",
                name=person.name if person else "",
                date=leaves.isoformat(),
                n=months,
                day=decided.isoformat(),
            )
        )
    return None


# --- before pre-review (steps 10-13) -----------------------------------------------------------


@guard("political_review_valid")
def political_review_valid(ctx: Context, *, setting: str, day: str | None = None) -> Block | None:
    """A political review concluded favourably, and not older than the configured validity
    (months; 0 means it does not expire), DOMAIN 1.10: on the day in ``day`` (the branch
    general meeting's, whose resolution is the admission), else today."""
    concluded = ctx.date_value("review_concluded_on")
    if concluded is None:
        return Block(_("The political review has not been concluded yet."))
    if ctx.value("review_conclusion") != "qualified":
        return Block(_("The political review did not conclude that the candidate qualifies."))
    too_early = review_after_activist(ctx, field="review_concluded_on")
    if too_early is not None:
        return too_early
    months = int(ctx.setting(setting) or 0)
    if months > 0:
        expires = calendar.add_months(concluded, months)
        if ((ctx.date_value(day) if day else None) or ctx.today) > expires:
            return Block(
                _(
                    "The political review of %(date)s expired on %(expires)s; a new one is needed.",
                    date=concluded.isoformat(),
                    expires=expires.isoformat(),
                )
            )
    return None


@guard("training_complete")
def training_complete(ctx: Context, *, min_days: int = 3, min_hours: int = 24) -> Block | None:
    """Centralized training of at least ``min_days`` days or ``min_hours`` class hours
    (DOMAIN 1.11)."""
    start, end = ctx.date_value("training_start"), ctx.date_value("training_end")
    if start is None or end is None:
        return Block(_("The centralized training has not been recorded yet."))
    days = (end - start).days + 1
    hours = int(ctx.value("training_hours") or 0)
    if days < min_days and hours < min_hours:
        return Block(
            _(
                "The training recorded (%(days)s days, %(hours)s class hours) is short of "
                "%(min_days)s days or %(min_hours)s class hours.",
                days=days,
                hours=hours,
                min_days=min_days,
                min_hours=min_hours,
            )
        )
    return None


@guard("public_notice_served")
def public_notice_served(
    ctx: Context, *, setting: str, field: str = "notice_start"
) -> Block | None:
    """Public notice for the configured working days before the step (0: no notice). The
    notice runs for that many working days from its first day (the next working day when it
    starts on a day off); the step is possible from the next working day after it."""
    days = int(ctx.setting(setting) or 0)
    if days <= 0:
        return None
    started = ctx.date_value(field)
    if started is None:
        return Block(
            _("A public notice of %(n)s working days must be given first.", n=days),
        )
    with calendar.noting_guesses() as guessed:
        last, ends = calendar.working_days_from(started, days)
    if ctx.today < ends:
        reason = _(
            "The public notice of %(n)s working days runs until %(date)s.",
            n=days,
            date=(ends - timedelta(days=1)).isoformat(),
        )
        if guessed:
            reason = f"{reason} {calendar.guess_note(guessed)}"
        return Block(reason, available_from=ends)
    return None


@guard("notice_required")
def notice_required(ctx: Context, *, setting: str) -> Block | None:
    """Only where the organization requires a public notice at this point (the setting > 0)."""
    if int(ctx.setting(setting) or 0) <= 0:
        return Block(_("This organization gives no public notice at this point."))
    return None


@guard("introducer_opinions_complete")
def introducer_opinions_complete(ctx: Context) -> Block | None:
    """Both introducers have written their opinion in the admission form (DOMAIN 1.14)."""
    wanted = _person_ids(ctx.value("introducers"))
    given = set((ctx.data.get("introducer_opinions") or {}).keys())
    missing = [pid for pid in wanted if str(pid) not in given]
    if missing:
        names = db.session.execute(select(Person.name).where(Person.id.in_(missing))).scalars()
        return Block(
            _(
                "Waiting for the opinion of the introducer(s): %(names)s.",
                names=_(", ").join(names),
            )
        )
    return None


@guard("step_recorded")
def step_recorded(ctx: Context, *, field: str, step: str) -> Block | None:
    """An earlier step's record is there (the oath before conversion, for example)."""
    if ctx.value(field) in (None, "", []):
        return Block(str(STEPS.get(step, _("'%(field)s' has not been recorded yet.", field=step))))
    return None


# --- probation and conversion (steps 21-24) ----------------------------------------------------


@guard("field_equals", pure=True)
def field_equals(ctx: Context, *, field: str, value: Any) -> Block | None:
    """Only when an earlier step chose this value (the outcome the branch proposed)."""
    if ctx.value(field) != value:
        return Block(_("Only when '%(value)s' was proposed.", value=value))
    return None


@guard("conversion_proposal_valid")
def conversion_proposal_valid(
    ctx: Context, *, outcome: str, months: str, min_months: int = 6, max_months: int = 12
) -> Block | None:
    """Extending probation is possible once only, by ``min_months`` to ``max_months``
    (DOMAIN 1.23)."""
    if ctx.value(outcome) != "extend":
        return None
    if ctx.data.get("probation_extended_months"):
        return Block(_("Probation has already been extended once; it cannot be extended again."))
    n = ctx.value(months)
    if n is None or not min_months <= int(n) <= max_months:
        return Block(
            _(
                "An extension of probation is for %(lo)s to %(hi)s months.",
                lo=min_months,
                hi=max_months,
            )
        )
    return None


@guard("postponement_allowed")
def postponement_allowed(
    ctx: Context, *, field: str, transferred: str, max_months: int = 6
) -> Block | None:
    """A branch may postpone the conversion discussion of a member who transferred in, by at
    most ``max_months`` after probation ends (DOMAIN 1.23)."""
    if not ctx.value(transferred):
        return Block(
            _("Only the discussion for a probationary member who transferred in may be postponed.")
        )
    end = ctx.date_value("subject.probation_end_on")
    until = ctx.date_value(field)
    if end is None or until is None:
        return None
    limit = calendar.add_months(end, max_months)
    if until > limit:
        return Block(
            _(
                "The discussion may be postponed to %(limit)s at the latest (six months after "
                "probation ends).",
                limit=limit.isoformat(),
            )
        )
    if until <= end:
        return Block(
            _("Postpone to a date after probation ends on %(date)s.", date=end.isoformat())
        )
    return None
