"""The inbox and notifications, through pbflow.services.inbox like the pages."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _

from pbflow import validation
from pbflow.api import schemas as s
from pbflow.api.cases import summary
from pbflow.api.core import (
    N_,
    Problem,
    decode_cursor,
    encode_cursor,
    iso,
    locale,
    operation,
    user,
)
from pbflow.services import inbox, notifications

TAGS = ("inbox",)


def note_out(n: Any) -> dict[str, Any]:
    return {
        "id": n.id,
        "case_id": n.instance_id,
        "kind": n.kind,
        "text": notifications.text(n),
        "created_at": iso(n.created_at),
        "read_at": iso(n.read_at),
    }


def _item_out(i: Any) -> dict[str, Any]:
    return {
        "case": summary(
            i.case,
            workflow=i.workflow,
            state=i.state,
            org=i.org_name,
            subject=i.subject_name,
            overdue=i.overdue,
        ),
        "title": i.title,
        "steps": [step.trigger for step in i.steps if step.trigger],
        "options": [step.trigger for step in i.options if step.trigger],
        "vote": any(step.anchor == "vote" for step in i.steps),
        "record": any(step.anchor == "resolution" for step in i.steps),
    }


def _inbox_cursor(raw: str | None) -> inbox.Cursor | None:
    if raw is None:
        return None
    cursor = inbox.parse_cursor(raw)
    if cursor is None:
        raise Problem(400, _("The cursor is not valid; start again without one."))
    return cursor


@operation(
    "GET",
    "/inbox",
    "read",
    ok=s.InboxOut,
    tags=TAGS,
    query=s.InboxQuery,
    summary=N_(
        "What waits on the caller (steps that move a case on, ballots, meeting results), the "
        "earliest time limit first, a page at a time; apart, the cases where the caller merely may "
        "take a step. With ``cursor`` (or ``possible_cursor``) the next page of that list alone."
    ),
)
def my_inbox(query: s.InboxQuery):
    box = inbox.inbox(
        user(),
        locale(),
        after=_inbox_cursor(query.cursor),
        possible_after=_inbox_cursor(query.possible_cursor),
    )
    return {
        "items": [_item_out(i) for i in box.items],
        "total": box.total,
        "total_exact": box.total_exact,
        "possible": [_item_out(i) for i in box.possible],
        "possible_total": box.possible_total,
        "possible_total_exact": box.possible_total_exact,
        "unread": box.unread,
        "next_cursor": box.next_after,
        "next_possible_cursor": box.next_possible_after,
    }


@operation(
    "GET",
    "/notifications",
    "read",
    ok=s.NotificationList,
    tags=TAGS,
    query=s.PageQuery,
    summary=N_("The caller's notifications, newest first, in the language asked for."),
)
def list_notifications(query: s.PageQuery):
    position = decode_cursor(query.cursor)
    before = position.get("before")
    if before is not None and validation.parse_id(before) is None:
        raise Problem(400, _("The cursor is not valid; start again without one."))
    page = inbox.notification_list(user(), before_id=before, size=query.limit)
    older = page.next_before
    return {
        "items": [note_out(n) for n in page.notes],
        "unread": page.unread,
        "next_cursor": None if older is None else encode_cursor({"before": older}),
    }


@operation(
    "POST",
    "/notifications/<int:notification_id>/read",
    "act",
    ok=s.NotificationOut,
    tags=TAGS,
    summary=N_("Mark one notification read."),
)
def read_notification(notification_id: int):
    return note_out(inbox.open_notification(user(), notification_id))


@operation(
    "POST",
    "/notifications/read-all",
    "act",
    ok=s.ReadCount,
    tags=TAGS,
    summary=N_("Mark every notification read."),
)
def read_all():
    return {"marked": inbox.mark_all_read(user())}
