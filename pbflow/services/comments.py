"""Comments on a case: anyone who may see the case may add one; each is audited."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from pbflow import audit
from pbflow.engine.errors import ValidationFailed
from pbflow.extensions import db
from pbflow.models import Comment, User

MAX_LENGTH = 5000


def add_comment(actor: User, case_id: int, body: str | None) -> Comment:
    """Add a comment to a case the actor may see (one transaction, audited)."""
    from pbflow.services.visibility import get_visible_case

    text = (body or "").strip()
    try:
        case = get_visible_case(actor, case_id)
        if not text:
            raise ValidationFailed(
                _("Please write something first."), field_errors={"body": _("is required")}
            )
        if len(text) > MAX_LENGTH:
            raise ValidationFailed(
                _("Some fields need correcting."),
                field_errors={"body": _("must be at most %(n)s characters", n=MAX_LENGTH)},
            )
        comment = Comment(instance_id=case.id, author_user_id=actor.id, body=text)
        db.session.add(comment)
        db.session.flush()
        audit.record(
            "comment_added",
            actor=actor,
            org_id=case.org_id,
            instance_id=case.id,
            from_state=case.state,
            to_state=case.state,
            payload={"comment_id": comment.id, "body": text},
        )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return comment


def for_case(case_id: int) -> list[Comment]:
    """A case's comments, oldest first, with their authors (two statements in all)."""
    from sqlalchemy.orm import selectinload

    return list(
        db.session.execute(
            select(Comment)
            .where(Comment.instance_id == case_id)
            .options(selectinload(Comment.author))
            .order_by(Comment.created_at, Comment.id)
        ).scalars()
    )
