""" "Three meetings and one lesson" (三会一课) and the theme party day: DOMAIN.md section 3.

These meetings are records, not cases of a workflow: a branch holds them, the secretary
writes them down, and supervision asks whether each branch held what it must every month
and quarter. Edits after the fact are kept as ``MeetingEdit`` rows (before/after) besides
their audit events, so a meeting's page can show its history with one query.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pbflow.clock import now
from pbflow.extensions import db
from pbflow.models.org import Organization
from pbflow.models.people import Person, User

MEETING_TYPES = (
    "general_meeting",  # 支部党员大会
    "committee_meeting",  # 支部委员会会议
    "group_meeting",  # 党小组会
    "party_lecture",  # 党课
    "theme_day",  # 主题党日
)
PERIODS = ("month", "quarter", "year")
NOTICE_KINDS = ("reminder", "miss")

_TYPES_SQL = ",".join(f"'{t}'" for t in MEETING_TYPES)


class Meeting(db.Model):
    __tablename__ = "meeting"
    __table_args__ = (
        CheckConstraint(f"meeting_type in ({_TYPES_SQL})", name="meeting_type"),
        CheckConstraint("version >= 1", name="meeting_version"),
        # Half hours from half an hour to a day (pbflow.procedures.three_meetings.training).
        CheckConstraint(
            "training_minutes IS NULL OR (training_minutes > 0 AND training_minutes <= 1440"
            " AND training_minutes % 30 = 0)",
            name="meeting_training_minutes",
        ),
        Index("ix_meeting_org_held", "org_id", "held_on"),
        # The meetings list's order (newest first): a committee's page read in order, not
        # every meeting it reads sorted (migration 0026).
        Index("ix_meeting_held", "held_on", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="RESTRICT"))
    meeting_type: Mapped[str] = mapped_column(String(30))
    held_on: Mapped[date]
    topic: Mapped[str] = mapped_column(String(300))
    place: Mapped[str | None] = mapped_column(String(200))
    chair_person_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="RESTRICT")
    )
    recorder_person_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="RESTRICT")
    )
    agenda: Mapped[str | None] = mapped_column(Text)
    minutes: Mapped[str] = mapped_column(Text, default="")
    resolutions: Mapped[str | None] = mapped_column(Text)
    # The resolutions put to the vote, each with its counts, those entitled to vote and
    # whether it passed (pbflow.procedures.three_meetings.meeting_votes); None: no vote.
    votes: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON(none_as_null=True))
    # The training a study meeting gave each member present, in minutes (whole minutes keep
    # sums exact on every database; the pages speak in hours). None: no training credited.
    training_minutes: Mapped[int | None]
    recorded_by: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now)
    # Optimistic lock: two people editing the same record cannot overwrite each other.
    version: Mapped[int] = mapped_column(default=1)

    org: Mapped[Organization] = relationship()
    chair: Mapped[Person | None] = relationship(foreign_keys=[chair_person_id])
    recorder: Mapped[Person | None] = relationship(foreign_keys=[recorder_person_id])
    attendance: Mapped[list[MeetingAttendance]] = relationship(
        back_populates="meeting", cascade="all, delete-orphan", order_by="MeetingAttendance.id"
    )


class MeetingAttendance(db.Model):
    """Who should have attended, computed from the membership when the meeting is recorded:
    present, or absent with the reason (members ask for leave)."""

    __tablename__ = "meeting_attendance"
    __table_args__ = (
        UniqueConstraint("meeting_id", "person_id", name="uq_meeting_attendance"),
        CheckConstraint("NOT (present AND reason IS NOT NULL)", name="attendance_reason"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meeting.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="RESTRICT"), index=True)
    present: Mapped[bool] = mapped_column(default=True)
    reason: Mapped[str | None] = mapped_column(String(300))

    meeting: Mapped[Meeting] = relationship(back_populates="attendance")
    person: Mapped[Person] = relationship()


class MeetingAttachment(db.Model):
    """A meeting's file (owner ``meeting``); a file belongs to one meeting only."""

    __tablename__ = "meeting_attachment"
    # A unique index rather than a constraint: SQLite can add one to an existing table.
    __table_args__ = (Index("uq_meeting_attachment_file", "attachment_id", unique=True),)

    meeting_id: Mapped[int] = mapped_column(
        ForeignKey("meeting.id", ondelete="CASCADE"), primary_key=True
    )
    attachment_id: Mapped[int] = mapped_column(
        ForeignKey("attachment.id", ondelete="CASCADE"), primary_key=True
    )


class MeetingEdit(db.Model):
    """One change to a meeting record after it was written: what it was, what it became."""

    __tablename__ = "meeting_edit"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(
        ForeignKey("meeting.id", ondelete="CASCADE"), index=True
    )
    edited_by: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    edited_at: Mapped[datetime] = mapped_column(default=now)
    reason: Mapped[str] = mapped_column(Text)
    before: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    after: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    editor: Mapped[User | None] = relationship()


class MeetingRequirement(db.Model):
    """An organization's own frequency for a meeting type, overriding DOMAIN.md's default for
    itself and every organization below it (the nearest override wins)."""

    __tablename__ = "meeting_requirement"
    __table_args__ = (
        UniqueConstraint("org_id", "meeting_type", name="uq_meeting_requirement"),
        CheckConstraint(f"meeting_type in ({_TYPES_SQL})", name="requirement_type"),
        CheckConstraint("period in ('month','quarter','year')", name="requirement_period"),
        CheckConstraint("times >= 0 and times <= 31", name="requirement_times"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    meeting_type: Mapped[str] = mapped_column(String(30))
    period: Mapped[str] = mapped_column(String(10))
    times: Mapped[int]  # 0: not required here


class ComplianceNotice(db.Model):
    """A reminder sent before a period ended with a meeting missing, or the miss recorded once
    it ended; unique per organization, type, period and kind, so ``pbflow tick`` acts once."""

    __tablename__ = "compliance_notice"
    __table_args__ = (
        UniqueConstraint(
            "org_id", "meeting_type", "period_start", "kind", name="uq_compliance_notice"
        ),
        CheckConstraint("kind in ('reminder','miss')", name="notice_kind"),
        CheckConstraint(f"meeting_type in ({_TYPES_SQL})", name="notice_type"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), index=True
    )
    meeting_type: Mapped[str] = mapped_column(String(30))
    period_start: Mapped[date]
    period_end: Mapped[date]
    kind: Mapped[str] = mapped_column(String(10))
    required: Mapped[int]
    held: Mapped[int]
    notified: Mapped[list[int]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=now)


class TrainingRecord(db.Model):
    """Training a member received outside the branch's meetings (party school, an online
    course, the committee's classes), entered by the branch that counts the member's yearly
    hours (DOMAIN.md 3: at least 32 hours a year). Changes are audited; ``version`` is the
    optimistic lock of an edit, as a meeting's."""

    __tablename__ = "training_record"
    __table_args__ = (
        CheckConstraint(
            "minutes > 0 AND minutes <= 1440 AND minutes % 30 = 0", name="training_minutes"
        ),
        CheckConstraint("version >= 1", name="training_version"),
        Index("ix_training_person_day", "person_id", "taken_on"),
        Index("ix_training_org_day", "org_id", "taken_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="RESTRICT"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="RESTRICT"))
    taken_on: Mapped[date]
    course: Mapped[str] = mapped_column(String(200))
    provider: Mapped[str | None] = mapped_column(String(200))
    minutes: Mapped[int]
    note: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now)
    version: Mapped[int] = mapped_column(default=1)

    person: Mapped[Person] = relationship()


class TrainingTotal(db.Model):
    """A member's training minutes of a year (study meetings attended and training records
    together), kept as data by ``pbflow.services.training_totals`` in the transaction of every
    meeting and record that credits them, so that the committee's figure reads a row per
    member who trained that year instead of every attendance of the year's meetings.
    Recomputed and compared by ``pbflow figures check``."""

    __tablename__ = "training_total"
    __table_args__ = (
        # Read a year at a time (the figure), written a member and year at a time.
        PrimaryKeyConstraint("year", "person_id"),
        {"sqlite_with_rowid": False},
    )

    year: Mapped[int]
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    minutes: Mapped[int] = mapped_column(default=0)
