"""The inbox: what waits on me, and my notifications."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required

from pbflow import validation
from pbflow.engine.errors import NotFound
from pbflow.services import inbox as inbox_service

bp = Blueprint("inbox", __name__)


def render_inbox():
    """The inbox's first page, or with ``after`` / ``possible_after`` the next page of one of
    its lists (an unreadable cursor shows the first page)."""
    data = inbox_service.inbox(
        current_user,
        str(get_locale() or "zh"),
        after=inbox_service.parse_cursor(request.args.get("after")),
        possible_after=inbox_service.parse_cursor(request.args.get("possible_after")),
    )
    return render_template(
        "inbox/index.html",
        inbox=data,
        page_sizes=(inbox_service.ITEM_PAGE, inbox_service.OPTION_PAGE),
        limits=inbox_service.COUNT_LIMITS,
        # The top bar's count is the inbox's own: counted once, not again for the bar.
        unread_notifications=lambda: data.unread,
    )


@bp.get("/inbox")
@login_required
def index():
    return render_inbox()


@bp.get("/notifications")
@login_required
def notifications():
    """Every notification of the reader, newest first, a page at a time (``before``: the
    cursor of an older page; an unreadable one shows the newest)."""
    before = validation.parse_id(request.args.get("before"))
    return render_template(
        "inbox/notifications.html",
        page=inbox_service.notification_list(current_user, before_id=before),
        page_size=inbox_service.NOTIFICATIONS_PAGE,
        continued=before is not None,
    )


@bp.get("/notifications/<int:notification_id>")
@login_required
def open_notification(notification_id: int):
    """Following a notification marks it read and leads to its case."""
    try:
        note = inbox_service.open_notification(current_user, notification_id)
    except NotFound:
        abort(404)
    if note.instance_id:
        return redirect(url_for("cases.show", case_id=note.instance_id))
    return redirect(url_for("inbox.index"))


@bp.post("/notifications/read")
@login_required
def read_all():
    inbox_service.mark_all_read(current_user)
    flash(_("All notifications are marked read."), "info")
    back = "inbox.notifications" if request.form.get("back") == "notifications" else "inbox.index"
    return redirect(url_for(back))


@bp.app_context_processor
def unread_notifications():
    """The unread count in the top bar (one small query per page, only when logged in)."""

    def count() -> int:
        if not getattr(current_user, "is_authenticated", False):
            return 0
        return inbox_service.unread_count(current_user)

    return {"unread_notifications": count}
