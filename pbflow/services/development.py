"""Developing new members around the ``member_development`` workflow (DOMAIN.md section 1).

What this module adds to the generic case machinery: the applicant's own application, the
earliest date someone can become a full member if every later step goes as fast as the rules
allow, the branch's pipeline, a person's progress through the five stages, the committee's
view across its branches, and the import of people already part-way through.

Every step itself is a transition of ``workflows/member_development.yaml``; nothing here
moves a case or a person's status except through ``engine.runtime``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from pbflow.engine import actors, calendar
from pbflow.engine.definitions import Definition
from pbflow.engine.errors import ValidationFailed
from pbflow.engine.fields import parse_date
from pbflow.engine.registry import registry
from pbflow.extensions import db
from pbflow.models import Organization, Person, User

WORKFLOW = "member_development"
STAGES = ("application", "activist", "target", "admission", "probation")
ENDED = ("rejected", "withdrawn", "cancelled")
BRANCH_ROLES = ("secretary", "deputy_secretary", "organizing_member")
# States in which the admission resolution is passed and probation is dated from it.
_AWAITING_APPROVAL = ("superior_talk", "admission_approval", "approval_correction")
_ON_PROBATION = (
    "admission_filing",
    "probation",
    "conversion_discussion",
    "conversion_meeting",
    "conversion_approval",
    "archiving",
)
_BEFORE_ACTIVIST = ("applied", "application_returned", "applicant")
_BEFORE_TARGET = (*_BEFORE_ACTIVIST, "activist_filing", "activist", "target_filing")
_PREREVIEW_ON = ("prereview", "admission_form", "introducer_opinions", "admission_meeting")


def definition() -> Definition:
    return registry().get(WORKFLOW)


def _date(value: Any) -> date | None:
    if value in (None, ""):
        return None
    return value if isinstance(value, date) else parse_date(value)


# --- applying -------------------------------------------------------------------------------


def apply(user: User, values: Mapping[str, Any], *, uploads: Mapping[str, Any] | None = None):
    """The applicant's own written application to the branch their member profile is in."""
    from pbflow.services import cases

    pid = actors.person_id_of_user(user.id)
    if pid is None:
        raise ValidationFailed(_("Your account has no member profile to apply with."))
    org_id = db.session.execute(select(Person.org_id).where(Person.id == pid)).scalar_one()
    values = {**dict(values), "person": pid}
    return cases.start_case(user, WORKFLOW, org_id, values, uploads=uploads)


# --- the earliest date of full membership ----------------------------------------------------


@dataclass(frozen=True)
class KeyDates:
    """A person's party status and key dates, as the workflow keeps them."""

    party_status: str
    applied_on: date | None = None
    activist_on: date | None = None
    target_on: date | None = None
    admitted_on: date | None = None
    probation_end_on: date | None = None
    full_member_on: date | None = None

    @classmethod
    def of(cls, person: Any) -> KeyDates:
        return cls(
            person.party_status,
            person.applied_on,
            person.activist_on,
            person.target_on,
            person.admitted_on,
            person.probation_end_on,
            person.full_member_on,
        )


def earliest_full_membership(
    state: str,
    data: Mapping[str, Any],
    person: KeyDates,
    settings: Mapping[str, Any],
    today: date,
) -> date | None:
    """The earliest date the person can become a full member if every later step is taken as
    soon as the rules allow; None once the case has ended without it.

    The chain of minimum times (DOMAIN 1.3-1.24): activist no earlier than the configured
    months after the application; development target one year after becoming an activist;
    pre-review after the public notice's working days (and, if no training is recorded yet,
    after a three-day training starting today); the admission resolution at the earliest on
    the day of pre-review; probation of one year from the resolution (plus an extension
    proposed or approved); party standing counts from the day probation ends.
    """
    if state in ENDED:
        return None
    if person.party_status == "full" or state == "archived":
        return person.full_member_on
    if state in _ON_PROBATION and person.probation_end_on:
        end = person.probation_end_on
        if state in ("conversion_meeting", "conversion_approval") and (
            data.get("proposed_outcome") == "extend"
        ):
            end = calendar.add_months(end, int(data.get("extension_months") or 0))
        return end
    resolution = _date(data.get("admission_resolution_date"))
    if state in _AWAITING_APPROVAL and resolution:
        return calendar.add_months(resolution, 12)
    return calendar.add_months(_earliest_admission(state, data, person, settings, today), 12)


def _earliest_admission(state, data, person: KeyDates, settings, today: date) -> date:
    if state in _PREREVIEW_ON:
        return today
    applied = person.applied_on or _date(data.get("application_date")) or today
    if state in _BEFORE_ACTIVIST or person.activist_on is None:
        months = int(settings.get("min_months_application_to_activist") or 0)
        activist = max(today, calendar.add_months(applied, months))
    else:
        activist = person.activist_on
    if state in _BEFORE_TARGET or person.target_on is None:
        target = max(today, calendar.add_months(activist, 12))
    else:
        target = person.target_on
    prereview = max(today, target)
    notice_days = int(settings.get("public_notice_working_days") or 0)
    if notice_days > 0:
        started = _date(data.get("notice_start")) if state == "target" else None
        prereview = max(prereview, calendar.add_working_days(started or prereview, notice_days))
    if not data.get("training_end"):
        prereview = max(prereview, today + timedelta(days=2))
    return prereview


def settings_for(org_ids: set[int]) -> dict[int, dict[str, Any]]:
    """The workflow's settings as they apply at each organization (overrides of the nearest
    organization above win), read in one statement for any number of organizations."""
    d = definition()
    index = actors.org_index()
    chains = {oid: index[oid].ancestor_ids() for oid in org_ids if oid in index}
    needed = {a for chain in chains.values() for a in chain}
    rows = (
        dict(
            db.session.execute(
                select(Organization.id, Organization.settings).where(Organization.id.in_(needed))
            ).all()
        )
        if needed
        else {}
    )
    result = {}
    for oid, chain in chains.items():
        values = {name: spec.default for name, spec in d.settings.items()}
        for ancestor in chain:  # root first, so the nearest override is applied last
            values.update((rows.get(ancestor) or {}).get(WORKFLOW) or {})
        result[oid] = values
    return result
