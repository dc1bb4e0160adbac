"""Reminders of obligations that have no case state to hang on (a yearly life meeting, the
secretary's lecture, an activist's half-yearly assessment...): each is sent once, its
``ReminderMark`` keyed by the obligation and its period, with its notices and its audit
event in one transaction, however often ``pbflow tick`` runs and from however many hosts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from pbflow import audit
from pbflow.extensions import db
from pbflow.models import ReminderMark
from pbflow.services import notifications


def remind_once(
    key: str,
    *,
    org_id: int | None,
    users: Iterable[int],
    kind: str,
    params: Mapping[str, Any],
    payload: Mapping[str, Any],
    now: datetime,
    instance_id: int | None = None,
    state: str | None = None,
) -> list[int] | None:
    """Notify ``users`` of ``kind`` and record the ``obligation_reminder`` (``payload`` and
    who was notified), committed with the mark ``key``; None, and nothing written, when the
    mark exists: it was sent already, by this tick or another."""
    try:
        db.session.add(
            ReminderMark(key=key, org_id=org_id, instance_id=instance_id, created_at=now)
        )
        db.session.flush()
        sent = notifications.notify(users, kind, params, instance_id=instance_id, at=now)
        audit.record(
            "obligation_reminder",
            actor=audit.SYSTEM,
            org_id=org_id,
            instance_id=instance_id,
            from_state=state,
            to_state=state,
            payload={**payload, "notified": sent},
            at=now,
        )
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return None
    except BaseException:
        db.session.rollback()
        raise
    return sent
