"""A meeting's history of corrections as a person reads it: each changed field by its label,
people by name, hours as hours, files by name, in the reader's language.

The record keeps what changed as it was stored (``MeetingEdit.before``/``after``: person ids,
minutes, attachment ids); the meeting's page and its PDF minutes both show it through here,
so neither shows an internal field name or a number where a name belongs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import gettext as _

from pbflow.engine.definitions import aside, joined
from pbflow.models import MeetingEdit
from pbflow.procedures.three_meetings import meeting_votes
from pbflow.procedures.three_meetings.hours import hours_text

# The record's fields by their labels on the meeting form.
_FIELD_LABELS = {
    "meeting_type": lambda: _("Meeting"),
    "held_on": lambda: _("Held on"),
    "topic": lambda: _("Topic"),
    "place": lambda: _("Place"),
    "chair": lambda: _("Chair or presenter"),
    "recorder": lambda: _("Recorder"),
    "agenda": lambda: _("Agenda"),
    "minutes": lambda: _("Minutes (main points)"),
    "resolutions": lambda: _("Resolutions"),
    "votes": lambda: _("Votes on resolutions"),
    "training_minutes": lambda: _("Training hours for each member present"),
    "present": lambda: _("Present"),
    "absent": lambda: _("Absent"),
    "attachments_added": lambda: _("Attachments"),
}
# The order the form shows them in (a correction stores its fields sorted by name).
_ORDER = {name: i for i, name in enumerate(_FIELD_LABELS)}


@dataclass(frozen=True)
class FieldChange:
    label: str
    before: str
    after: str


@dataclass(frozen=True)
class Correction:
    edited_at: datetime
    editor: str | None  # None: made by the system
    reason: str
    changes: list[FieldChange]


def person_ids(history: Iterable[MeetingEdit]) -> set[int]:
    """Everyone a correction names (chair, recorder, present, absent, before or after), so that
    the page reads their names with the rest: someone taken off the list is named too."""
    ids: set[int] = set()
    for edit in history:
        for side in (edit.before, edit.after):
            for key in ("chair", "recorder"):
                if isinstance(side.get(key), int):
                    ids.add(side[key])
            ids.update(v for v in side.get("present") or () if isinstance(v, int))
            ids.update(int(k) for k in side.get("absent") or {} if str(k).isdigit())
    return ids


@dataclass(frozen=True)
class _Reader:
    """What a stored value is read with: people's and files' names, the meetings' labels."""

    names: dict[int, str]
    files: dict[int, str]
    type_label: Callable[[str], str]
    locale: str


def _value(name: str, value: Any, r: _Reader) -> str:
    names, files, locale = r.names, r.files, r.locale
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if name in ("chair", "recorder") and isinstance(value, int):
        return names.get(value, f"#{value}")
    if name == "present" and isinstance(value, list):
        return joined((names.get(v, f"#{v}") for v in value), locale)
    if name == "absent" and isinstance(value, dict):
        return joined(
            (aside(names.get(int(k), f"#{k}"), why, locale) for k, why in value.items()), locale
        )
    if name == "attachments_added" and isinstance(value, list):
        return joined((files.get(v, f"#{v}") for v in value), locale)
    if name == "votes" and isinstance(value, list):
        return joined((meeting_votes.line(v, locale) for v in value), locale)
    if name == "training_minutes" and isinstance(value, int):
        return hours_text(value)
    if name == "meeting_type":
        return r.type_label(str(value))
    return str(value)


def of(
    history: Iterable[MeetingEdit],
    names: dict[int, str],
    files: dict[int, str],
    type_label: Callable[[str], str],
    locale: str,
) -> list[Correction]:
    """The corrections in the order given, each field as a person reads it (``names``: the
    people ``person_ids`` found; ``files``: attachment id -> file name)."""
    r = _Reader(names, files, type_label, locale)
    result = []
    for edit in history:
        changes = [
            FieldChange(
                _FIELD_LABELS[key]() if key in _FIELD_LABELS else key,
                _value(key, edit.before.get(key), r),
                _value(key, edit.after[key], r),
            )
            for key in sorted(edit.after, key=lambda k: (_ORDER.get(k, len(_ORDER)), k))
        ]
        editor = edit.editor.display_name if edit.editor else None
        result.append(Correction(edit.edited_at, editor, edit.reason, changes))
    return result
