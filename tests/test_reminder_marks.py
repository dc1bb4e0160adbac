"""An obligation's reminder is sent once (pbflow.services.reminders.remind_once): its mark,
notices and audit event commit together or not at all."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import func, select

from pbflow import audit
from pbflow.extensions import db
from pbflow.models import Notification, ReminderMark
from pbflow.services import notifications, reminders
from tests.conftest import audit_actions

NOW = datetime(2026, 10, 1, 2, 0)


def _send(world):
    return reminders.remind_once(
        "test:1:2026",
        org_id=world.branch.id,
        users=[world["secretary"].id],
        kind="life_meeting_due",
        params={"org_id": world.branch.id, "kind": "organizational", "year": 2026},
        payload={"kind": "organizational_life_meeting", "year": 2026},
        now=NOW,
    )


def _count(model) -> int:
    return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def test_a_reminder_is_sent_once_with_its_audit_event(world):
    assert _send(world) == [world["secretary"].id]
    assert _send(world) is None  # the mark is there: nothing more is written
    assert (_count(ReminderMark), _count(Notification)) == (1, 1)
    assert audit_actions().count("obligation_reminder") == 1
    assert audit.verify_database().ok


def test_a_failure_leaves_no_mark_so_the_next_tick_sends_it(world, monkeypatch):
    def broken(*_a, **_k):
        raise RuntimeError("mail queue down")

    monkeypatch.setattr(notifications, "notify", broken)
    with pytest.raises(RuntimeError):
        _send(world)
    assert (_count(ReminderMark), _count(Notification)) == (0, 0)
    assert "obligation_reminder" not in audit_actions()
    monkeypatch.undo()
    assert _send(world) == [world["secretary"].id]
