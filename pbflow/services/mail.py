"""Notifications by e-mail: queued in the database, sent by ``pbflow tick`` or
``pbflow mail send``, never inside a request.

A step only writes its notifications (``mail_state`` ``new``). :func:`run` then, outside any
request:

1. queues: each new notification of a user who gave an address and chose ``immediate`` gets a
   message of its own; those of a user who chose ``daily`` wait for the digest, which gathers
   a local day's notifications once the next day has reached ``PBFLOW_MAIL_DIGEST_HOUR``;
   everyone else's are marked ``none``. A notification about a case that the public may have
   started anonymously (a workflow with ``anonymous_time`` and no submitting account) is never
   mailed: an e-mail's content and the minute it is sent could point at the submitter.
2. sends what is due over SMTP (Python's ``smtplib``, configured by ``PBFLOW_SMTP_*``), each
   message rendered in its reader's language at that moment. A message is claimed (committed
   as ``sending``) before it goes out, so two senders never send it twice; a failure puts it
   back with a growing pause (``PBFLOW_MAIL_MAX_ATTEMPTS`` tries); a permanent refusal (5xx)
   ends it as ``failed``. One whose sender died after claiming it is marked ``uncertain``
   after an hour and not sent again: a lost e-mail is better than a doubled one.

Nothing here can make a step fail: the step has committed before any of this runs.
"""

from __future__ import annotations

import smtplib
import ssl
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from pbflow import clock
from pbflow.engine.registry import registry
from pbflow.extensions import db
from pbflow.models import MailMessage, Notification, ProcessInstance, User
from pbflow.services import notifications, rehearsal

BATCH = 500
STALE_CLAIM = timedelta(hours=1)
FIRST_PAUSE = timedelta(minutes=5)


@dataclass
class MailReport:
    queued: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    uncertain: int = 0
    note: str | None = None
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.note:
            return f"mail: {self.note}"
        return (
            f"mail: queued {self.queued}, sent {self.sent}, retrying {self.retrying}, "
            f"failed {self.failed}, uncertain {self.uncertain}"
        )


def configured() -> bool:
    return bool(current_app.config.get("PBFLOW_SMTP_HOST"))


def run(now: datetime | None = None) -> MailReport:
    """Queue what new notifications call for, then send what is due."""
    now = now or clock.now()
    report = MailReport()
    if rehearsal.is_rehearsal():
        report.note = "nothing sent (this database is a rehearsal copy)"
        return report
    if not configured():
        _mark_all_new("none")
        report.note = "off (PBFLOW_SMTP_HOST is not set)"
        return report
    queue(now, report)
    send(now, report)
    return report


def _mark_all_new(state: str) -> None:
    try:
        db.session.execute(
            update(Notification).where(Notification.mail_state == "new").values(mail_state=state)
        )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise


# --- queuing ------------------------------------------------------------------------------


def _protected_cases(case_ids: set[int]) -> set[int]:
    """Cases the public may have started anonymously: never mailed about."""
    if not case_ids:
        return set()
    rows = db.session.execute(
        select(ProcessInstance.id, ProcessInstance.definition_id).where(
            ProcessInstance.id.in_(case_ids), ProcessInstance.submitter_user_id.is_(None)
        )
    ).all()
    reg = registry()
    return {r.id for r in rows if reg.stored(r.definition_id).anonymous_time}


def queue(now: datetime, report: MailReport) -> None:
    while True:
        rows = db.session.execute(
            select(
                Notification.id,
                Notification.user_id,
                Notification.instance_id,
                User.email,
                User.email_mode,
                User.active,
            )
            .join(User, User.id == Notification.user_id)
            .where(Notification.mail_state == "new")
            .order_by(Notification.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        protected = _protected_cases({r.instance_id for r in rows if r.instance_id})
        decided: dict[str, list[int]] = defaultdict(list)
        immediate = []
        for r in rows:
            if not r.active or not r.email or r.email_mode == "off" or r.instance_id in protected:
                decided["none"].append(r.id)
            elif r.email_mode == "daily":
                decided["digest"].append(r.id)
            else:
                immediate.append(r)
        try:
            for state, ids in decided.items():
                db.session.execute(
                    update(Notification)
                    .where(Notification.id.in_(ids), Notification.mail_state == "new")
                    .values(mail_state=state)
                )
            db.session.commit()
        except BaseException:
            db.session.rollback()
            raise
        for r in immediate:
            if _queue_one(f"n:{r.id}", r.user_id, [r.id], "new", now, None):
                report.queued += 1
    _queue_digests(now, report)


def _queue_one(
    key: str, user_id: int, ids: list[int], from_state: str, now: datetime, day: date | None
) -> bool:
    """One message for these notifications, unless another run queued it (or them) first."""
    try:
        message = MailMessage(
            user_id=user_id,
            kind="digest" if day else "notice",
            dedupe_key=key,
            digest_day=day,
            next_try_at=now,
            created_at=now,
        )
        db.session.add(message)
        db.session.flush()
        taken = db.session.execute(
            update(Notification)
            .where(Notification.id.in_(ids), Notification.mail_state == from_state)
            .values(mail_state="mail", mail_id=message.id)
        ).rowcount
        if taken != len(ids):
            db.session.rollback()  # another run took some of them meanwhile
            return False
        db.session.commit()
        return True
    except IntegrityError:
        db.session.rollback()
        return False
    except BaseException:
        db.session.rollback()
        raise


def _queue_digests(now: datetime, report: MailReport) -> None:
    """Each daily reader's notifications of the days before today, once today has reached the
    digest hour: one message per reader and day."""
    local = clock.to_local(now)
    if local.hour < int(current_app.config.get("PBFLOW_MAIL_DIGEST_HOUR", 7)):
        return
    today = local.date()
    before = clock.local_midnight_utc(today)
    rows = db.session.execute(
        select(Notification.id, Notification.user_id)
        .where(Notification.mail_state == "digest", Notification.created_at < before)
        .order_by(Notification.user_id, Notification.id)
    ).all()
    per_user: dict[int, list[int]] = defaultdict(list)
    for r in rows:
        per_user[r.user_id].append(r.id)
    for user_id, ids in per_user.items():
        key = f"d:{user_id}:{today.isoformat()}"
        if _queue_one(key, user_id, ids, "digest", now, today):
            report.queued += 1


# --- sending ------------------------------------------------------------------------------


def _mark_stale(now: datetime, report: MailReport) -> None:
    try:
        result = db.session.execute(
            update(MailMessage)
            .where(MailMessage.status == "sending", MailMessage.claimed_at < now - STALE_CLAIM)
            .values(
                status="uncertain",
                last_error="the sender stopped while sending; not sent again",
            )
        )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    report.uncertain += result.rowcount


def _claim(message_id: int, now: datetime) -> bool:
    try:
        taken = db.session.execute(
            update(MailMessage)
            .where(MailMessage.id == message_id, MailMessage.status == "queued")
            .values(status="sending", claimed_at=now, attempts=MailMessage.attempts + 1)
        ).rowcount
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return taken == 1


def _finish(message_id: int, **values: Any) -> None:
    try:
        db.session.execute(update(MailMessage).where(MailMessage.id == message_id).values(**values))
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise


def send(now: datetime, report: MailReport) -> None:
    _mark_stale(now, report)
    due = (
        db.session.execute(
            select(MailMessage.id)
            .where(MailMessage.status == "queued", MailMessage.next_try_at <= now)
            .order_by(MailMessage.id)
            .limit(BATCH)
        )
        .scalars()
        .all()
    )
    if not due:
        return
    cfg = current_app.config
    connection: smtplib.SMTP | None = None
    try:
        for message_id in due:
            if not _claim(message_id, now):
                continue
            message = db.session.get(MailMessage, message_id)
            db.session.refresh(message)
            user = db.session.get(User, message.user_id)
            if user is None or not user.email or not user.active:
                _finish(message_id, status="failed", last_error="the reader has no address now")
                report.failed += 1
                continue
            try:
                email = compose(message, user)
            except Exception as exc:  # noqa: BLE001 - one unwritable message must not stop the rest
                _finish(message_id, status="failed", last_error=_error_text(exc))
                report.failed += 1
                report.problems.append(f"mail {message_id}: cannot be written: {exc}")
                continue
            try:
                if connection is None:
                    try:
                        connection = _connect(cfg)
                    except (OSError, smtplib.SMTPException) as exc:
                        # The server cannot be reached: try again next run, all of them.
                        _retry_or_fail(message, now, exc, report)
                        break
                connection.send_message(email)
            except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
                _finish(message_id, status="failed", last_error=_error_text(exc))
                report.failed += 1
                report.problems.append(f"mail {message_id}: refused: {_error_text(exc)}")
                continue
            except (OSError, smtplib.SMTPException) as exc:
                connection = _drop(connection)
                _retry_or_fail(message, now, exc, report)
                continue
            _finish(message_id, status="sent", sent_at=clock.now(), address=user.email)
            report.sent += 1
    finally:
        _drop(connection)


def _connect(cfg: Any) -> smtplib.SMTP:
    host, port = cfg["PBFLOW_SMTP_HOST"], int(cfg.get("PBFLOW_SMTP_PORT") or 587)
    timeout = int(cfg.get("PBFLOW_SMTP_TIMEOUT") or 20)
    security = (cfg.get("PBFLOW_SMTP_SECURITY") or "starttls").lower()
    if security == "ssl":
        connection: smtplib.SMTP = smtplib.SMTP_SSL(
            host, port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        connection = smtplib.SMTP(host, port, timeout=timeout)
        if security == "starttls":
            connection.starttls(context=ssl.create_default_context())
    if cfg.get("PBFLOW_SMTP_USER"):
        connection.login(cfg["PBFLOW_SMTP_USER"], cfg.get("PBFLOW_SMTP_PASSWORD") or "")
    return connection


def _drop(connection: smtplib.SMTP | None) -> None:
    if connection is not None:
        try:
            connection.quit()
        except (OSError, smtplib.SMTPException):
            connection.close()
    return None


def _error_text(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:1000]


def _retry_or_fail(message: MailMessage, now: datetime, exc: Exception, report: MailReport):
    limit = int(current_app.config.get("PBFLOW_MAIL_MAX_ATTEMPTS") or 6)
    code = getattr(exc, "smtp_code", 0) or 0
    if message.attempts >= limit or code >= 500:
        _finish(message.id, status="failed", last_error=_error_text(exc))
        report.failed += 1
        report.problems.append(f"mail {message.id}: given up: {_error_text(exc)}")
        return
    pause = FIRST_PAUSE * (2 ** (message.attempts - 1))
    _finish(message.id, status="queued", next_try_at=now + pause, last_error=_error_text(exc))
    report.retrying += 1


# --- what an e-mail says ------------------------------------------------------------------


def _link(path: str) -> str | None:
    base = (current_app.config.get("PBFLOW_BASE_URL") or "").rstrip("/")
    return f"{base}{path}" if base else None


def compose(message: MailMessage, user: User) -> EmailMessage:
    """The e-mail for a queued message, in the reader's language, rendered now."""
    notes = list(
        db.session.execute(
            select(Notification).where(Notification.mail_id == message.id).order_by(Notification.id)
        ).scalars()
    )
    locale = user.locale or current_app.config.get("BABEL_DEFAULT_LOCALE") or "zh"
    with force_locale(locale):
        lines = []
        for note in notes:
            line = notifications.text(note)
            link = _link(f"/cases/{note.instance_id}") if note.instance_id else None
            lines.append(f"- {line}" + (f"\n  {link}" if link else ""))
        if message.kind == "digest":
            subject = _(
                "pbflow: %(n)s notifications of %(date)s",
                n=len(notes),
                date=(message.digest_day - timedelta(days=1)).isoformat()
                if message.digest_day
                else "",
            )
        else:
            first = notifications.text(notes[0]) if notes else ""
            subject = "pbflow: " + (first if len(first) <= 120 else first[:117] + "...")
        inbox = _link("/inbox")
        footer = _("You receive this because you chose it on your account page in pbflow.")
        body = "\n".join(lines) + "\n\n" + (f"{inbox}\n\n" if inbox else "") + footer + "\n"
    email = EmailMessage()
    sender = current_app.config.get("PBFLOW_SMTP_FROM") or "pbflow@localhost"
    email["From"] = sender
    email["To"] = user.email
    email["Subject"] = subject
    email["Date"] = format_datetime(clock.now().replace(tzinfo=UTC))
    domain = sender.rpartition("@")[2] or "localhost"
    email["Message-ID"] = make_msgid(idstring=f"pbflow.{message.id}", domain=domain)
    email.set_content(body)
    return email
