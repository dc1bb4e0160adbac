"""Building a known world for the supervision figures: organizations set up on a given day,
meetings held and recorded on given days, opinions and rectification items walked with the
clock set to each step's time."""

from __future__ import annotations

from datetime import datetime

from pbflow.engine import runtime
from pbflow.extensions import db
from pbflow.models import Attachment
from pbflow.procedures.opinion_box import services as opinions
from pbflow.procedures.three_meetings import services as meetings
from pbflow.procedures.three_meetings.services import MeetingInput
from tests.three_meetings.helpers import chair_and_recorder


def set_up_on(org, when: str) -> None:
    org.created_at = datetime.fromisoformat(when)
    db.session.commit()


def hold(clock, recorder, org, mtype: str, on: str, recorded: str | None = None) -> None:
    """``recorder`` writes down a meeting held ``on`` (a day), on the day ``recorded``."""
    clock.set(f"{recorded or on}T02:00:00")
    meetings.record_meeting(
        recorder,
        org.id,
        MeetingInput(
            meeting_type=mtype,
            held_on=on,
            topic=f"{mtype} {on}",
            # Everyone who should attend was there: a general or committee meeting needs
            # more than half of its members (its quorum) to count as held.
            present=[str(p.id) for p in meetings.expected_attendees(org.id, mtype)],
            **chair_and_recorder(
                org.id, mtype, [p.id for p in meetings.expected_attendees(org.id, mtype)]
            ),
        ),
    )


def file_id(org, user, name: str = "evidence.pdf") -> int:
    """An attachment row as the upload service leaves it (the file itself is not needed)."""
    att = Attachment(
        org_id=org.id,
        sha256=f"{abs(hash((name, org.id))):064d}"[:64],
        filename=name,
        content_type="application/pdf",
        size=100,
        uploaded_by=user.id,
    )
    db.session.add(att)
    db.session.commit()
    return att.id


def opinion(clock, org_code: str, when: str, client: str) -> tuple[int, str]:
    """An anonymous opinion dropped at ``when``: (case id, tracking code)."""
    clock.set(when)
    slip = opinions.submit(
        org_code,
        {"subject": "意见", "text": "食堂饭菜太贵了", "category": "welfare", "anonymous": "1"},
        user=None,
        client=client,
    )
    return opinions._case_for_code(slip.code), slip.code


def answer(clock, case_id: int, when: str, secretary, handler, *, first: bool = True) -> None:
    """Accepted, assigned, answered, approved and published on the day ``when``."""
    clock.set(when)
    if first:
        runtime.fire(case_id, "accept", secretary)
        runtime.fire(case_id, "assign", secretary, {"handler": handler.id})
    runtime.fire(case_id, "answer", handler, {"answer": "已落实"})
    runtime.fire(case_id, "approve_answer", secretary)
    runtime.fire(case_id, "publish", secretary)


def submitter(clock, code: str, trigger: str, values: dict, when: str) -> None:
    clock.set(when)
    opinions.act(code, trigger, values, expected_version=None, user=None, client="submitter")


def rectification_item(clock, org, secretary, owner, *, opened: str, deadline: str) -> int:
    clock.set(f"{opened}T02:00:00")
    return runtime.start(
        "rectification",
        org,
        secretary,
        {
            "problem": f"整改 {deadline}",
            "measures": "逐项落实",
            "owner": owner.id,
            "deadline": deadline,
        },
    ).id


def tick_off(clock, item: int, org, owner, checker, when: str) -> None:
    clock.set(f"{when}T02:00:00")
    evidence = file_id(org, owner, f"evidence-{item}.pdf")
    runtime.fire(item, "report_done", owner, {"summary": "已完成", "evidence": evidence})
    runtime.fire(item, "accept", checker)
