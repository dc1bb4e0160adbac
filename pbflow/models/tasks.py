"""Work waiting, as data: who may take a step on an open case now (pbflow.engine.tasks).

One row per (case, holder, kind, step). ``holder`` names who the work waits on in a form that
stays true when people change, so that only a change of the case itself rewrites its rows:

- ``r:<role>@<org id>``: whoever holds that role at that organization (the candidate group of
  a BPMN task; a role granted or revoked moves the work with it, nothing is recomputed);
- ``u:<user id>``: one account (the submitter, the assignee, a user field);
- ``p:<person id>``: the account of a person (the subject, a person field), whichever account
  that person has when the inbox is read;
- ``m:<org id>``: the full members of an organization with a vote (a ballot of its members).

``kind`` is ``step`` (a step that moves the case forward), ``option`` (a step that is merely
possible: withdraw, change the handler), ``ballot`` (an online vote open to the holder) or
``record`` (a meeting's resolution to record). ``since`` is when the holder got the work.
``due_at`` is the case's time limit, copied into each row in the same transaction as the
step that sets it, so the inbox sorts a holder's work in the index (the way a BPMN task
table carries its due date) instead of reading every case it waits on.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from pbflow.extensions import db

TASK_KINDS = ("step", "option", "ballot", "record")


class CaseTask(db.Model):
    __tablename__ = "case_task"
    __table_args__ = (
        # The inbox: "holder IN (my keys)", sorted by time limit, reads this index and
        # nothing else (it covers the columns the inbox counts and sorts by).
        Index("ix_case_task_holder_due", "holder", "due_at", "instance_id", "kind"),
        Index("ix_case_task_instance", "instance_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"))
    holder: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(10))
    trigger: Mapped[str] = mapped_column(String(64), default="")
    since: Mapped[datetime]
    due_at: Mapped[datetime | None]
