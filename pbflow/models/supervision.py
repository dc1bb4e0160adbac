"""Supervision notices (督办): what each notice case concerns, so that the case or the
meeting it is about can show it, and the dashboard can count notices per organization
without reading every case's data."""

from __future__ import annotations

from datetime import date

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from pbflow.extensions import db
from pbflow.models.meetings import MEETING_TYPES

CONCERNS = ("case", "meeting", "general")
_TYPES_SQL = ",".join(f"'{t}'" for t in MEETING_TYPES)


class SupervisionNotice(db.Model):
    """The link of one notice case (``workflows/supervision_notice.yaml``) to what it is about:
    another case (overdue work, an open rectification item), a meeting missed (organization,
    meeting type, period), or nothing in particular."""

    __tablename__ = "supervision_notice"
    __table_args__ = (
        CheckConstraint("concerns in ('case','meeting','general')", name="notice_concerns"),
        CheckConstraint(
            f"meeting_type IS NULL OR meeting_type in ({_TYPES_SQL})", name="notice_meeting_type"
        ),
        CheckConstraint("level >= 0", name="notice_level"),
        Index("ix_supervision_notice_meeting", "concerns_org_id", "meeting_type", "period_start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(
        ForeignKey("process_instance.id", ondelete="CASCADE"), unique=True
    )
    concerns: Mapped[str] = mapped_column(String(10))
    concerns_case_id: Mapped[int | None] = mapped_column(
        ForeignKey("process_instance.id", ondelete="SET NULL"), index=True
    )
    # The organization whose work it is about (a missed meeting's branch, a case's org).
    concerns_org_id: Mapped[int] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), index=True
    )
    meeting_type: Mapped[str | None] = mapped_column(String(30))
    period_start: Mapped[date | None]
    period_end: Mapped[date | None]
    # 0: issued by a person; n: opened by the n-th escalation up the tree.
    level: Mapped[int] = mapped_column(default=0)
    # The notice whose lapse opened this one (an escalation repeated upward).
    escalated_from_id: Mapped[int | None] = mapped_column(
        ForeignKey("process_instance.id", ondelete="SET NULL")
    )
