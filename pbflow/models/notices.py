"""What pbflow sends and remembers having sent outside a case's own time limits: the e-mail
outbox, once-only marks of reminders about obligations, and flags of the installation."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pbflow.clock import now
from pbflow.extensions import db

MAIL_STATUSES = ("queued", "sending", "sent", "failed", "uncertain")


class MailMessage(db.Model):
    """One e-mail to send: a notification on its own, or a day's notifications in a digest.

    Its text is rendered when it is sent, in the reader's language, from the notifications
    that point at it (``Notification.mail_id``). ``dedupe_key`` makes queuing the same thing
    twice impossible; a message is claimed (``sending``) and committed before it is handed to
    the SMTP server, so two senders never send it twice, and one whose sender died after
    handing it over is left ``uncertain`` rather than sent again.
    """

    __tablename__ = "mail_outbox"
    __table_args__ = (
        CheckConstraint(
            "status in ('queued','sending','sent','failed','uncertain')", name="status"
        ),
        CheckConstraint("kind in ('notice','digest')", name="kind"),
        Index("ix_mail_outbox_status_next", "status", "next_try_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(10))
    dedupe_key: Mapped[str] = mapped_column(String(80), unique=True)
    digest_day: Mapped[date | None]
    status: Mapped[str] = mapped_column(String(10), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    next_try_at: Mapped[datetime] = mapped_column(default=now)
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    address: Mapped[str | None] = mapped_column(String(254))  # where it went, once sent
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=now)


class ReminderMark(db.Model):
    """A reminder about an obligation without a case state (a half-yearly assessment, a
    thought report, a yearly life meeting...) that has been sent: its key names the obligation
    and its period, so ``pbflow tick`` sends it once however often it runs."""

    __tablename__ = "reminder_mark"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    instance_id: Mapped[int | None] = mapped_column(
        ForeignKey("process_instance.id", ondelete="CASCADE")
    )
    created_at: Mapped[datetime] = mapped_column(default=now)


class SiteFlag(db.Model):
    """A fact about this installation's database, such as "this is a rehearsal copy"."""

    __tablename__ = "site_flag"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    set_at: Mapped[datetime] = mapped_column(default=now)
