"""Workflow settings an office may change (``settings:`` in the workflow files), per
organization.

A setting's value at an organization is the override of the nearest organization at or above
it, else the file's default (``engine.context.Context.setting`` reads it the same way). An
administrator of an organization (or one above it) sets or removes its override; the value is
checked against the setting's type and bounds, and the change is audited in the same
transaction. Steps taken after the change use the new value; a running case keeps the dates
already fixed (a due date is computed when a state is entered).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from pbflow import audit
from pbflow.engine import actors
from pbflow.engine.definitions import Choice, Definition, Label, SettingSpec
from pbflow.engine.errors import NotFound, ValidationFailed
from pbflow.engine.registry import registry
from pbflow.extensions import db
from pbflow.models import Organization
from pbflow.services import accounts

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _invalid(message: str) -> ValidationFailed:
    return ValidationFailed(_("Some fields need correcting."), field_errors={"value": message})


def _in_bounds(spec: SettingSpec, value: Any) -> None:
    lo, hi = spec.min, spec.max
    number = Fraction(str(value))
    if lo is not None and number < Fraction(str(lo)):
        raise _invalid(_("must be at least %(n)s", n=lo))
    if hi is not None and number > Fraction(str(hi)):
        raise _invalid(_("must be at most %(n)s", n=hi))


def parse_value(spec: SettingSpec, raw: Any) -> Any:
    """The typed value of a setting from what was typed, or ValidationFailed."""
    text = str(raw if raw is not None else "").strip()
    if text == "" or "\x00" in text or len(text) > 200:
        raise _invalid(_("give a value"))
    kind = spec.type
    if kind in ("int", "integer"):
        if not text.lstrip("-").isdigit():
            raise _invalid(_("must be a whole number"))
        value: Any = int(text)
        _in_bounds(spec, value)
        return value
    if kind == "number":
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise _invalid(_("must be a number")) from None
        if not number.is_finite():
            raise _invalid(_("must be a number"))
        _in_bounds(spec, number)
        return int(number) if number == number.to_integral_value() else str(number)
    if kind == "bool":
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise _invalid(_("must be yes or no"))
    if kind == "fraction":
        try:
            share = Fraction(text)
        except (ValueError, ZeroDivisionError):
            raise _invalid(_("must be a share such as 2/3 or 0.5")) from None
        _in_bounds(spec, share)
        return text
    if spec.choices and text not in spec.choice_values:
        raise _invalid(_("must be one of %(choices)s", choices=", ".join(spec.choice_values)))
    return text


def _definition(workflow_id: str) -> Definition:
    try:
        return registry().get(workflow_id)
    except NotFound:
        raise NotFound(_("No such workflow: %(id)s.", id=workflow_id)) from None


def _spec(d: Definition, name: str) -> SettingSpec:
    spec = d.settings.get(name)
    if spec is None:
        raise NotFound(_("%(workflow)s has no setting %(name)s.", workflow=d.id, name=name))
    return spec


def _org(org_id: Any) -> Organization:
    org = db.session.get(Organization, org_id) if org_id is not None else None
    if org is None:
        raise NotFound(_("No such organization."))
    return org


def _overrides(org: Organization) -> dict[int, dict[str, Any]]:
    ids = org.ancestor_ids()
    return dict(
        db.session.execute(
            select(Organization.id, Organization.settings).where(Organization.id.in_(ids))
        ).all()
    )


def effective(org: Organization, d: Definition, name: str, rows=None) -> tuple[Any, int | None]:
    """(value, id of the organization whose override it is, or None for the default)."""
    rows = rows if rows is not None else _overrides(org)
    for oid in reversed(org.ancestor_ids()):
        own = (rows.get(oid) or {}).get(d.id) or {}
        if name in own:
            return own[name], oid
    return d.setting_default(name), None


def _change(actor: Any, org: Organization, d: Definition, name: str, value: Any, *, unset: bool):
    before_value, before_from = effective(org, d, name)
    settings = {k: dict(v) if isinstance(v, dict) else v for k, v in (org.settings or {}).items()}
    own = dict(settings.get(d.id) or {})
    had = own.get(name) if name in own else None
    if unset:
        if name not in own:
            raise ValidationFailed(_("This organization does not set %(name)s itself.", name=name))
        own.pop(name)
    else:
        if name in own and own[name] == value:
            raise ValidationFailed(_("%(name)s is already %(value)s here.", name=name, value=value))
        own[name] = value
    if own:
        settings[d.id] = own
    else:
        settings.pop(d.id, None)
    org.settings = settings  # a new dict: JSON columns are not tracked in place
    after_value, after_from = effective(org, d, name, {**_overrides(org), org.id: settings})
    audit.record(
        "setting_unset" if unset else "setting_changed",
        actor=actor if actor is not None else audit.SYSTEM,
        org_id=org.id,
        payload={
            "workflow": d.id,
            "setting": name,
            "own_before": had,
            "own_after": None if unset else value,
            "effective_before": before_value,
            "effective_before_from": before_from,
            "effective_after": after_value,
            "effective_after_from": after_from,
        },
    )
    try:
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return after_value


def set_value(actor: Any, org_id: Any, workflow_id: str, name: str, raw: Any) -> Any:
    """Override a setting at an organization (and below it, unless overridden there)."""
    org = _org(org_id)
    accounts.require_admin(actor, org.id)
    d = _definition(workflow_id)
    spec = _spec(d, name)
    return _change(actor, org, d, name, parse_value(spec, raw), unset=False)


def unset(actor: Any, org_id: Any, workflow_id: str, name: str) -> Any:
    """Remove an organization's own override: it follows the value above it again."""
    org = _org(org_id)
    accounts.require_admin(actor, org.id)
    d = _definition(workflow_id)
    _spec(d, name)
    return _change(actor, org, d, name, None, unset=True)


# --- what the page and the command line show ------------------------------------------------


@dataclass
class SettingRow:
    workflow: str
    name: str
    label: Any
    type: str
    default: Any
    value: Any
    own: Any  # this organization's override, or None
    has_own: bool
    from_org: actors.OrgNode | None  # whose override the value is (None: the default)
    min: Any
    max: Any
    choices: tuple[Choice, ...]  # each value with its label, for the page
    value_label: Label | None  # the value's and the default's labels, if they are choices
    default_label: Label | None


@dataclass
class SettingsPage:
    org: Organization
    orgs: list[Organization]
    groups: list[tuple[str, Any, list[SettingRow]]]  # workflow id, title, rows
    may_edit: bool


def rows_for(org: Organization) -> list[tuple[str, Any, list[SettingRow]]]:
    rows = _overrides(org)
    index = actors.org_index()
    groups = []
    for wf_id in sorted(registry().current):
        d = registry().current[wf_id]
        if not d.settings:
            continue
        own = (rows.get(org.id) or {}).get(d.id) or {}
        items = []
        for name, spec in d.settings.items():
            value, source = effective(org, d, name, rows)
            items.append(
                SettingRow(
                    workflow=d.id,
                    name=name,
                    label=spec.label,
                    type=spec.type,
                    default=spec.default,
                    value=value,
                    own=own.get(name),
                    has_own=name in own,
                    from_org=index.get(source) if source is not None else None,
                    min=spec.min,
                    max=spec.max,
                    choices=spec.choices,
                    value_label=spec.choice_label(value),
                    default_label=spec.choice_label(spec.default),
                )
            )
        groups.append((d.id, d.title, items))
    return groups


def settings_page(reader: Any, org_id: int | None, locale: str) -> SettingsPage:
    readable = actors.readable_org_ids(reader)
    orgs = list(
        db.session.execute(
            select(Organization).where(Organization.id.in_(readable)).order_by(Organization.path)
        ).scalars()
    )
    if org_id is None:
        if not orgs:
            raise NotFound(_("No such organization."))
        org = orgs[0]
    else:
        org = db.session.get(Organization, org_id)
        if org is None or org.id not in readable:
            raise NotFound(_("No such organization."))
    may_edit = org.id in accounts.administered_org_ids(reader)
    return SettingsPage(org, orgs, rows_for(org), may_edit)
