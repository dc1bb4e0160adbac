"""Meeting records as the tests write them."""

from __future__ import annotations

from dataclasses import replace

from pbflow.procedures.three_meetings import services as meetings
from pbflow.procedures.three_meetings.services import MeetingInput


def absences(org_id: int, meeting_type: str, present, why: str = "请假") -> dict[str, str]:
    """A reason (``why``) for every member who should attend and is not in ``present``:
    a record names the reason of each absence (DOMAIN 3, members ask for leave)."""
    here = {str(p) for p in present}
    return {
        str(p.id): why
        for p in meetings.expected_attendees(org_id, meeting_type)
        if str(p.id) not in here
    }


def chair_and_recorder(org_id: int, meeting_type: str, present) -> dict[str, str]:
    """A chair and a recorder for a record whose test is not about them (each meeting keeps
    both, DOMAIN 3): a party group meeting's group leader in the chair, else the first
    present; the first present keeps the record."""
    first = str(next(iter(present), "") or "")
    chair = first
    if meeting_type == "group_meeting":
        leaders = meetings.group_leaders(org_id)
        chair = str(leaders[0].id) if leaders else first
    return {"chair": chair, "recorder": first}


def on_leave(org_id: int, data: MeetingInput, why: str = "请假") -> MeetingInput:
    """``data`` with ``why`` for each absence it gives no reason for (the reasons it gives
    are kept), and a chair and a recorder where it names none (``chair_and_recorder``)."""
    given = {k: v for k, v in data.reasons.items() if (v or "").strip()}
    people = chair_and_recorder(org_id, data.meeting_type, data.present)
    return replace(
        data,
        reasons={**absences(org_id, data.meeting_type, data.present, why), **given},
        chair=data.chair or people["chair"],
        recorder=data.recorder or people["recorder"],
    )


def leave_fields(org_id: int, meeting_type: str, present, why: str = "请假") -> dict[str, str]:
    """The form's reason fields (``reason_<person id>``) for every absence."""
    return {
        f"reason_{key}": value
        for key, value in absences(org_id, meeting_type, present, why).items()
    }


def branch_meeting(world, meeting_type: str, held_on: str, present, **fields):
    """A meeting of the world's branch recorded by its secretary: ``present`` (account
    names) there, the other members on leave, a chair and a recorder where ``fields``
    (MeetingInput's others: the topic, the chair, training hours) name none."""
    fields.setdefault("topic", f"{meeting_type} {held_on}")
    return meetings.record_meeting(
        world["secretary"],
        world.branch.id,
        on_leave(
            world.branch.id,
            MeetingInput(
                meeting_type=meeting_type,
                held_on=held_on,
                present=[str(world[u].person.id) for u in present],
                **fields,
            ),
        ),
    )
