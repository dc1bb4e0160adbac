"""Turn what a person typed (or an API sent) into typed, JSON-storable field values.

Values are stored in a case's ``data`` as JSON: dates as ISO strings, numbers as decimal
strings (money must not pass through binary floats), people and users as integer ids.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select

from pbflow import validation
from pbflow.engine.definitions import FieldSpec
from pbflow.engine.errors import ValidationFailed
from pbflow.extensions import db

_TRUE = {"1", "true", "yes", "on", "y"}
_FALSE = {"0", "false", "no", "off", "n", ""}


def _blank(raw: Any) -> bool:
    if isinstance(raw, Mapping):  # a per-person field with no line filled in
        return all(_blank(v) for v in raw.values())
    return raw is None or (isinstance(raw, str) and not raw.strip()) or raw == []


def _as_list(raw: Any) -> list[Any]:
    if isinstance(raw, list | tuple):
        return [r for r in raw if not _blank(r)]
    return [part.strip() for part in str(raw).split(",") if part.strip()]


def _int(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueError
    if isinstance(raw, int):
        return raw
    text = str(raw).strip()
    if not text.lstrip("-").isascii() or not text.lstrip("-").isdigit():
        raise ValueError
    return int(text)


def _ref(raw: Any) -> int:
    """The id of a user, person or file; ValueError unless a row could have it."""
    value = validation.parse_id(raw)
    if value is None:
        raise ValueError
    return value


# Money and counts: 15 digits before the point and 6 after are plenty, and a bound keeps an
# input like "1e999999999" from being expanded into a gigabyte of zeros when stored.
_MAX_INTEGER_DIGITS = 15
_MAX_DECIMAL_PLACES = 6
# Dates: the one parser of the whole application (ISO forms, years 1900-2999).
parse_date = validation.parse_date


def _line(spec: FieldSpec, raw: Any) -> str:
    """One line of a per-person field: a single line of text, within the field's length."""
    if isinstance(raw, Mapping | list | tuple):
        raise ValidationFailed(_("must be a single value"))
    value = str(raw).strip()
    if validation.has_nul(value):
        raise ValidationFailed(validation.text_problem(value))
    if "\n" in value or "\r" in value:
        raise ValidationFailed(_("must be a single line"))
    limit = spec.max_length or 200
    if len(value) > limit:
        raise ValidationFailed(_("must be at most %(n)s characters", n=limit))
    return value


def _per_person(spec: FieldSpec, raw: Any) -> dict[str, str]:
    """``{person id: text}`` with the blank lines left out, ids as strings (JSON's keys)."""
    if not isinstance(raw, Mapping):
        raise ValidationFailed(_("must give a line for each person, by their id"))
    lines: dict[str, str] = {}
    for key, text in raw.items():
        if _blank(text):
            continue
        try:
            who = str(_ref(key))
        except ValueError:
            raise ValidationFailed(_("must be chosen from the list")) from None
        if who in lines:
            raise ValidationFailed(_("names the same person twice"))
        lines[who] = _line(spec, text)
    return lines


def _coerce(spec: FieldSpec, raw: Any) -> Any:
    t = spec.type
    if t == "per_person_text":
        return _per_person(spec, raw)
    if isinstance(raw, Mapping) or (
        isinstance(raw, list | tuple) and t not in ("multichoice", "persons")
    ):
        raise ValidationFailed(_("must be a single value"))
    if t in ("string", "text"):
        value = str(raw).strip()
        if validation.has_nul(value):
            raise ValidationFailed(validation.text_problem(value))
        if spec.type == "string" and ("\n" in value or "\r" in value):
            raise ValidationFailed(_("must be a single line"))
        if spec.min_length is not None and len(value) < spec.min_length:
            raise ValidationFailed(_("must be at least %(n)s characters", n=spec.min_length))
        limit = spec.max_length or (200 if t == "string" else 20000)
        if len(value) > limit:
            raise ValidationFailed(_("must be at most %(n)s characters", n=limit))
        return value
    if t == "integer":
        try:
            value = _int(raw)
        except ValueError:
            raise ValidationFailed(_("must be a whole number")) from None
        if validation.parse_int(value) is None:
            raise ValidationFailed(_("is too large"))
        _check_range(spec, Decimal(value))
        return value
    if t == "number":
        try:
            value = Decimal(str(raw).strip())
        except InvalidOperation:
            raise ValidationFailed(_("must be a number")) from None
        if not value.is_finite():
            raise ValidationFailed(_("must be a number"))
        # Bounds checked before normalize(), which itself overflows on extreme exponents.
        if value and value.adjusted() >= _MAX_INTEGER_DIGITS:
            raise ValidationFailed(_("is too large"))
        if value and value.adjusted() < -_MAX_DECIMAL_PLACES:
            raise ValidationFailed(
                _("may have at most %(n)s decimal places", n=_MAX_DECIMAL_PLACES)
            )
        value = value.normalize()
        if -value.as_tuple().exponent > _MAX_DECIMAL_PLACES:
            raise ValidationFailed(
                _("may have at most %(n)s decimal places", n=_MAX_DECIMAL_PLACES)
            )
        _check_range(spec, value)
        return format(value, "f")
    if t == "date":
        try:
            value = parse_date(raw)
        except ValueError:
            raise ValidationFailed(_("must be a date like 2026-03-01")) from None
        return value.isoformat()
    if t == "boolean":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValidationFailed(_("must be yes or no"))
    if t == "choice":
        value = str(raw).strip()
        if value not in spec.choice_values():
            raise ValidationFailed(_("is not one of the choices"))
        return value
    if t == "multichoice":
        values = [str(v) for v in _as_list(raw)]
        if any(v not in spec.choice_values() for v in values):
            raise ValidationFailed(_("is not one of the choices"))
        values = list(dict.fromkeys(values))  # ticking a box twice is still one choice
        _check_items(spec, values)
        return values
    if t in ("user", "person", "file"):
        try:
            return _ref(raw)
        except ValueError:
            raise ValidationFailed(_("must be chosen from the list")) from None
    if t == "persons":
        try:
            ids = [_ref(v) for v in _as_list(raw)]
        except ValueError:
            raise ValidationFailed(_("must be chosen from the list")) from None
        if len(set(ids)) != len(ids):
            raise ValidationFailed(_("names the same person twice"))
        _check_items(spec, ids)
        return ids
    raise ValidationFailed(_("has an unknown type"))  # parse() refuses unknown types first


def _check_range(spec: FieldSpec, value: Decimal) -> None:
    if spec.min is not None and value < Decimal(str(spec.min)):
        raise ValidationFailed(_("must be at least %(n)s", n=spec.min))
    if spec.max is not None and value > Decimal(str(spec.max)):
        raise ValidationFailed(_("must be at most %(n)s", n=spec.max))


def _check_items(spec: FieldSpec, items: list[Any]) -> None:
    if spec.min_items is not None and len(items) < spec.min_items:
        raise ValidationFailed(_("needs at least %(n)s", n=spec.min_items))
    if spec.max_items is not None and len(items) > spec.max_items:
        raise ValidationFailed(_("allows at most %(n)s", n=spec.max_items))


_REFERENCE_TYPES = ("user", "person", "persons", "file", "per_person_text")


def _check_references(spec: FieldSpec, value: Any) -> str | None:
    if spec.type not in _REFERENCE_TYPES:  # most fields: no import, no lookup table per call
        return None
    from pbflow.models import Attachment, Person, User

    model = {"user": User, "file": Attachment}.get(spec.type, Person)
    if isinstance(value, dict):  # per_person_text: its lines' people
        ids = [int(k) for k in value]
    else:
        ids = value if isinstance(value, list) else [value]
    if not ids:
        return None
    found = db.session.execute(
        select(func.count()).select_from(model).where(model.id.in_(ids))
    ).scalar_one()
    if found != len(set(ids)):
        return _("names someone or something that does not exist")
    return None


def _gather_lines(specs: tuple[FieldSpec, ...], raw: dict[str, Any]) -> dict[str, Any]:
    """The lines of a per-person field sent one by one, ``<field>.<person id>`` (a form's
    inputs, a command line's ``-f``), gathered into the field's mapping; a mapping sent
    whole (the API) is taken as it is."""
    lined = {s.name for s in specs if s.type == "per_person_text"}
    if not lined:
        return raw
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name, dot, who = key.partition(".")
        if dot and who and name in lined:
            base = out.get(name, raw.get(name))
            if _blank(base):
                base = {}
            if isinstance(base, Mapping):
                out[name] = {**base, who: value}
                continue
        out.setdefault(key, value)
    return out


def _outsiders(
    spec: FieldSpec,
    lines: dict[str, str],
    values: Mapping[str, Any],
    held: Mapping[str, Any] | None,
    label: Callable[[str], str] | None,
) -> str | None:
    """A per-person field has lines only for the people of its ``people`` field: as
    submitted with it, else as the case holds them (``held``)."""
    people = values[spec.people] if spec.people in values else (held or {}).get(spec.people)
    allowed = {str(p) for p in (people if isinstance(people, list) else [people]) if p}
    if set(lines) <= allowed:
        return None
    return _(
        "has a line for someone who is not among '%(field)s'",
        field=label(spec.people) if label else spec.people,
    )


def validate(
    specs: tuple[FieldSpec, ...],
    raw: Mapping[str, Any] | None,
    *,
    held: Mapping[str, Any] | None = None,
    label: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """Typed values for the given specs; raise ValidationFailed naming every bad field.

    ``held``: what the case already holds (the people a per-person field is for), and
    ``label`` the label of a field by its name, for the messages."""
    if not specs and not raw:  # most steps have no fields, and none were sent
        return {}
    raw = _gather_lines(specs, dict(raw or {}))
    known = {s.name for s in specs}
    errors: dict[str, str] = {}
    for name in raw:
        if name not in known:
            errors[name] = _("is not a field of this step")
    values: dict[str, Any] = {}
    for spec in specs:
        given = raw.get(spec.name)
        if _blank(given) and not (spec.type == "boolean" and given is not None):
            if spec.required:
                errors[spec.name] = _("is required")
            elif spec.type == "boolean":
                values[spec.name] = False
            continue
        try:
            value = _coerce(spec, given)
        except ValidationFailed as exc:
            errors[spec.name] = exc.message
            continue
        problem = _check_references(spec, value)
        if problem is None and spec.type == "per_person_text":
            problem = _outsiders(spec, value, values, held, label)
        if problem:
            errors[spec.name] = problem
            continue
        values[spec.name] = value
    if errors:
        raise ValidationFailed(_("Some fields need correcting."), field_errors=errors)
    return values
