"""Cases of workflows and what hangs off them: ballots, resolutions, comments, files, notices."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    Computed,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal

from pbflow.clock import now
from pbflow.extensions import db
from pbflow.models.org import Organization
from pbflow.models.people import Person, User


class WorkflowDefinition(db.Model):
    """One stored version of a workflow file; running cases keep the version they started on."""

    __tablename__ = "workflow_definition"
    __table_args__ = (UniqueConstraint("workflow_id", "revision", name="uq_workflow_revision"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(64), index=True)
    revision: Mapped[int]
    declared_version: Mapped[str] = mapped_column(String(32))
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(Text)
    loaded_at: Mapped[datetime] = mapped_column(default=now)


OPINION_WORKFLOW = "opinion"  # the opinion box's workflow (procedures/opinion_box)


class OpinionText(ColumnElement[str]):
    """For a case of one workflow (an opinion by default), the text of one top-level key of
    its ``data``, what ``ProcessInstance.data[key].as_string()`` reads; NULL for any other
    case, whose document is then not parsed for it. Spelled for a generated column:
    ``json_extract`` on SQLite, ``->>`` on PostgreSQL (immutable, as its generated columns
    must be)."""

    inherit_cache = True
    _traverse_internals = [
        ("json_key", InternalTraversal.dp_string),
        ("workflow_id", InternalTraversal.dp_string),
    ]
    type = String()

    def __init__(self, json_key: str, workflow_id: str = "") -> None:
        self.json_key = json_key
        self.workflow_id = workflow_id or OPINION_WORKFLOW


@compiles(OpinionText)
def _opinion_text(element: OpinionText, compiler: Any, **kw: Any) -> str:
    return (
        f"CASE WHEN workflow_id = '{element.workflow_id}'"
        f" THEN json_extract(data, '$.{element.json_key}') END"
    )


@compiles(OpinionText, "postgresql")
def _opinion_text_postgresql(element: OpinionText, compiler: Any, **kw: Any) -> str:
    # As PostgreSQL prints it back, so that comparing models with the database agrees.
    return (
        f"CASE WHEN ((workflow_id)::text = '{element.workflow_id}'::text)"
        f" THEN (data ->> '{element.json_key}'::text) ELSE NULL::text END"
    )


class OpinionFact(Computed):
    """A generated column of a case's ``data`` (an opinion's by default): STORED on
    PostgreSQL (whose virtual columns, from 18, cannot be indexed), VIRTUAL on SQLite (whose
    ALTER TABLE can add only those)."""

    def __init__(self, json_key: str, workflow_id: str = "") -> None:
        super().__init__(OpinionText(json_key, workflow_id), persisted=True)


@compiles(OpinionFact, "sqlite")
def _opinion_fact_sqlite(element: OpinionFact, compiler: Any, **kw: Any) -> str:
    sql = compiler.sql_compiler.process(element.sqltext, include_table=False, literal_binds=True)
    return f"GENERATED ALWAYS AS ({sql}) VIRTUAL"


# The facts the opinion box counts (``procedures/opinion_box/services.py``: its book and
# figures), each a generated column of an opinion's ``data`` key (NULL for other cases), so
# that the database keeps them with every write of ``data`` and no code has to: VIRTUAL on
# SQLite (computed when read, kept in the index below), STORED on PostgreSQL. Not mapped on
# the class: loading a case never reads them, and nothing can write them.
OPINION_FACTS = {
    "opinion_answered_on": "first_published_on",
    "opinion_on_time": "on_time",
    "opinion_rating": "rating",
    "opinion_reopened": "reopen_count",
}


# A rectification item's deadline (``life_meeting`` procedure), a generated column as the
# opinion facts are: the items overdue on a day are read from its index (the open ones only)
# by the supervision figures, for the part of a month that the counts kept as data do not
# cover (pbflow.engine.tally).
RECTIFICATION_DEADLINE = "rectification_deadline"


class ProcessInstance(db.Model):
    """A case: one run of a workflow for one organization (and usually one person)."""

    __tablename__ = "process_instance"
    __table_args__ = (
        *(Column(name, String(), OpinionFact(key)) for name, key in OPINION_FACTS.items()),
        Column(RECTIFICATION_DEADLINE, String(), OpinionFact("deadline", "rectification")),
        Index(
            "ix_case_open_deadline",
            RECTIFICATION_DEADLINE,
            "org_id",
            sqlite_where=text(f"closed_at IS NULL AND {RECTIFICATION_DEADLINE} IS NOT NULL"),
            postgresql_where=text(f"closed_at IS NULL AND {RECTIFICATION_DEADLINE} IS NOT NULL"),
        ),
        Index("ix_case_org_state", "org_id", "state"),
        Index("ix_case_workflow_state", "workflow_id", "state"),
        # Open cases by time limit (the timers, the overdue filter), with their workflow and
        # organization: the figures count those due between a month's start and now from the
        # index alone (pbflow.engine.tally).
        Index(
            "ix_case_open_due",
            "due_at",
            "workflow_id",
            "org_id",
            "closed_at",  # always NULL here: the counts read the index alone on SQLite too
            sqlite_where=text("closed_at IS NULL"),
            postgresql_where=text("closed_at IS NULL"),
        ),
        # Open cases waiting longest first (supervision's stuck work): only open cases, so
        # that PostgreSQL too reads them in that order (it does not for "closed_at IS NULL"
        # as the first column of an index), with their workflow and organization (the stuck
        # ones of part of a month are counted from the index alone); and a workflow's cases
        # in the order they came in, with their organization (the opinion book's entries: a
        # keyset page of a subtree's opinions read in order, filtered in the index).
        Index(
            "ix_case_open_waiting",
            "state_entered_at",
            "id",
            "workflow_id",
            "org_id",
            "closed_at",
            sqlite_where=text("closed_at IS NULL"),
            postgresql_where=text("closed_at IS NULL"),
        ),
        Index("ix_case_workflow_created_org", "workflow_id", "created_at", "id", "org_id"),
        # The case list (issue 16): newest change first, over everything, over open cases,
        # within organizations, within a workflow's state; keyset pages walk these.
        Index("ix_case_updated", "updated_at", "id"),
        Index("ix_case_open_updated", "closed_at", "updated_at", "id"),
        Index("ix_case_org_open_updated", "org_id", "closed_at", "updated_at"),
        Index("ix_case_workflow_state_updated", "workflow_id", "state", "updated_at"),
        Index("ix_case_workflow_updated", "workflow_id", "updated_at", "id"),
        # A workflow's cases by whether and when they closed, per state by due date, with
        # their organization: a workflow's open cases (notices, items, the figures' counts)
        # and those closed in a stretch of time (the figures' windows), from the index alone.
        Index(
            "ix_case_workflow_state_due",
            "workflow_id",
            "closed_at",
            "state",
            "due_at",
            "id",
            "org_id",
        ),
        # A workflow's open cases per state by due date: the most urgent few of each state
        # across a committee (member development's pipeline) walk it in order and stop.
        # Partial, not keyed by closed_at: PostgreSQL gives no order after "IS NULL" in the
        # index above (closed_at comes last, for SQLite to read the walks from the index).
        Index(
            "ix_case_open_state_due",
            "workflow_id",
            "state",
            "due_at",
            "id",
            "org_id",
            "closed_at",
            sqlite_where=text("closed_at IS NULL"),
            postgresql_where=text("closed_at IS NULL"),
        ),
        # The opinion box's figures per organization over a period, from the index alone.
        Index(
            "ix_case_opinion_facts",
            "workflow_id",
            "org_id",
            "created_at",
            "state",
            *OPINION_FACTS,
        ),
        # A workflow's cases per organization with what the supervision figures count, from
        # the index alone and in the order they are grouped: open and overdue or stuck work,
        # notices issued, open and accepted, rectification items open and ticked off.
        Index(
            "ix_case_workflow_org",
            "workflow_id",
            "org_id",
            "closed_at",
            "state",
            "due_at",
            "state_entered_at",
            "created_at",
        ),
    )
    __mapper_args__ = {"exclude_properties": [*OPINION_FACTS, RECTIFICATION_DEADLINE]}

    id: Mapped[int] = mapped_column(primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("workflow_definition.id"), index=True)
    workflow_id: Mapped[str] = mapped_column(String(64))
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="RESTRICT"))
    subject_person_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="RESTRICT"), index=True
    )
    submitter_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    assignee_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("process_instance.id", ondelete="RESTRICT"), index=True
    )
    title: Mapped[str] = mapped_column(String(300), default="")
    state: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Optimistic lock: every change bumps it; a change made against an older value is refused.
    version: Mapped[int] = mapped_column(default=1)
    # Version at which the current state was entered: ballots of one voting round carry it,
    # so re-entering a voting state starts a fresh round.
    entered_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now)
    state_entered_at: Mapped[datetime] = mapped_column(default=now)
    closed_at: Mapped[datetime | None]
    due_at: Mapped[datetime | None]
    # Timer marks, cleared on every state change, make `pbflow tick` idempotent.
    reminded_at: Mapped[datetime | None]
    overdue_at: Mapped[datetime | None]

    definition: Mapped[WorkflowDefinition] = relationship()
    org: Mapped[Organization] = relationship()
    subject: Mapped[Person | None] = relationship()
    submitter: Mapped[User | None] = relationship(foreign_keys=[submitter_user_id])
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_user_id])
    parent: Mapped[ProcessInstance | None] = relationship(remote_side=[id])

    @property
    def is_closed(self) -> bool:
        return self.closed_at is not None


class Ballot(db.Model):
    """One voter's online ballot in one voting round of a case."""

    __tablename__ = "ballot"
    __table_args__ = (
        UniqueConstraint("instance_id", "round", "voter_user_id", name="uq_ballot_voter"),
        CheckConstraint("choice in ('for','against','abstain')", name="choice"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(64))
    round: Mapped[int]
    voter_user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    choice: Mapped[str] = mapped_column(String(10))
    cast_at: Mapped[datetime] = mapped_column(default=now)

    voter: Mapped[User] = relationship()


class Resolution(db.Model):
    """A vote taken at a meeting, recorded once per voting round by the secretary."""

    __tablename__ = "resolution"
    __table_args__ = (
        UniqueConstraint("instance_id", "round", name="uq_resolution_round"),
        CheckConstraint("outcome in ('passed','failed')", name="outcome"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(64))
    round: Mapped[int]
    meeting_date: Mapped[date]
    should_attend: Mapped[int]
    attended: Mapped[int]
    votes_for: Mapped[int]
    votes_against: Mapped[int]
    votes_abstain: Mapped[int]
    # Written opinions of absent voting members, counted with the votes (DOMAIN 1.15).
    written_for: Mapped[int] = mapped_column(default=0)
    written_against: Mapped[int] = mapped_column(default=0)
    written_abstain: Mapped[int] = mapped_column(default=0)
    outcome: Mapped[str] = mapped_column(String(10))
    minutes_attachment_id: Mapped[int | None] = mapped_column(ForeignKey("attachment.id"))
    recorded_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=now)


class Comment(db.Model):
    __tablename__ = "comment"

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("process_instance.id", ondelete="CASCADE"), index=True
    )
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=now)

    author: Mapped[User | None] = relationship()


class Attachment(db.Model):
    """A file stored on disk under its SHA-256; the row says who may see it (through its owner).

    A file belongs to one owner for good (issue 10): ``owner`` says whether that is a case
    (``instance_id``; empty only inside the transaction of the start form that creates the
    case) or a meeting (``meeting_attachment``). The triggers below keep the owner kind, the
    organization and, once set, the case fixed, and let only a meeting's file be linked to a
    meeting, once.
    """

    __tablename__ = "attachment"
    __table_args__ = (
        CheckConstraint("owner in ('case','meeting')", name="owner"),
        CheckConstraint("owner = 'case' OR instance_id IS NULL", name="meeting_file_no_case"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int | None] = mapped_column(
        ForeignKey("process_instance.id", ondelete="CASCADE"), index=True
    )
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int]
    purpose: Mapped[str | None] = mapped_column(String(64))
    owner: Mapped[str] = mapped_column(String(10), default="case")
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=now)


# A stored file keeps its owner (see Attachment). The migration 0005_sec_input freezes the
# same statements; databases built from the models get them through these DDL events.
ATTACHMENT_SQLITE_TRIGGERS = [
    """CREATE TRIGGER IF NOT EXISTS attachment_owner_fixed BEFORE UPDATE ON attachment
       WHEN NEW.owner IS NOT OLD.owner OR NEW.org_id IS NOT OLD.org_id
         OR (OLD.instance_id IS NOT NULL AND NEW.instance_id IS NOT OLD.instance_id)
       BEGIN SELECT RAISE(ABORT, 'a stored file keeps its owner'); END""",
    """CREATE TRIGGER IF NOT EXISTS meeting_attachment_owner BEFORE INSERT ON meeting_attachment
       WHEN (SELECT owner FROM attachment WHERE id = NEW.attachment_id) IS NOT 'meeting'
       BEGIN SELECT RAISE(ABORT, 'only a meeting''s own file can be linked to it'); END""",
    """CREATE TRIGGER IF NOT EXISTS meeting_attachment_fixed BEFORE UPDATE ON meeting_attachment
       BEGIN SELECT RAISE(ABORT, 'a stored file keeps its owner'); END""",
]
ATTACHMENT_POSTGRES_TRIGGERS = [
    """CREATE OR REPLACE FUNCTION pbflow_attachment_owner_fixed() RETURNS trigger AS $$
       BEGIN
         IF NEW.owner IS DISTINCT FROM OLD.owner OR NEW.org_id IS DISTINCT FROM OLD.org_id
            OR (OLD.instance_id IS NOT NULL AND NEW.instance_id IS DISTINCT FROM OLD.instance_id)
         THEN
           RAISE EXCEPTION 'a stored file keeps its owner';
         END IF;
         RETURN NEW;
       END; $$ LANGUAGE plpgsql""",
    "DROP TRIGGER IF EXISTS attachment_owner_fixed ON attachment",
    """CREATE TRIGGER attachment_owner_fixed BEFORE UPDATE ON attachment
       FOR EACH ROW EXECUTE FUNCTION pbflow_attachment_owner_fixed()""",
    """CREATE OR REPLACE FUNCTION pbflow_meeting_attachment_owner() RETURNS trigger AS $$
       BEGIN
         IF TG_OP = 'UPDATE' THEN
           RAISE EXCEPTION 'a stored file keeps its owner';
         END IF;
         IF (SELECT owner FROM attachment WHERE id = NEW.attachment_id) IS DISTINCT FROM 'meeting'
         THEN
           RAISE EXCEPTION 'only a meeting''s own file can be linked to it';
         END IF;
         RETURN NEW;
       END; $$ LANGUAGE plpgsql""",
    "DROP TRIGGER IF EXISTS meeting_attachment_owner ON meeting_attachment",
    """CREATE TRIGGER meeting_attachment_owner BEFORE INSERT OR UPDATE ON meeting_attachment
       FOR EACH ROW EXECUTE FUNCTION pbflow_meeting_attachment_owner()""",
]


def install_attachment_triggers(conn: Any) -> None:
    """Create the file-ownership triggers (idempotent)."""
    postgres = conn.dialect.name == "postgresql"
    for stmt in ATTACHMENT_POSTGRES_TRIGGERS if postgres else ATTACHMENT_SQLITE_TRIGGERS:
        conn.exec_driver_sql(stmt)


@event.listens_for(db.Model.metadata, "after_create")
def _create_attachment_triggers(_metadata: Any, connection: Any, **_kw: Any) -> None:
    install_attachment_triggers(connection)


class Notification(db.Model):
    """What happened, for one reader: its ``kind`` and ``params`` (ids, dates, numbers), rendered
    in the reader's language when shown or mailed (``services.notifications``). ``message``
    holds the text of notifications stored before that (rendered in the actor's language).

    ``mail_state``: ``new`` until the mail queue has looked at it, then ``none`` (not mailed),
    ``mail`` (in the outbox message ``mail_id``).
    """

    __tablename__ = "notification"
    __table_args__ = (
        Index("ix_notification_user_read", "user_id", "read_at"),
        # A reader's notifications newest first, a page at a time (the notifications page,
        # the API): the page's rows, not every notification of the reader sorted.
        Index("ix_notification_user_newest", "user_id", "id"),
        Index("ix_notification_mail_state", "mail_state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    instance_id: Mapped[int | None] = mapped_column(
        ForeignKey("process_instance.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(30))  # reminder, overdue, escalation, result, ...
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=now)
    read_at: Mapped[datetime | None]
    mail_state: Mapped[str] = mapped_column(String(8), default="new", server_default="new")
    mail_id: Mapped[int | None] = mapped_column(
        ForeignKey("mail_outbox.id", ondelete="SET NULL"), index=True
    )


class Escalation(db.Model):
    """An overdue case taken one level up the tree (``on_overdue: escalate``): to which
    organization, at which level, and what was opened there for it.

    When an installed procedure opens a case for the superior to act on (a supervision
    notice), ``handled_case_id`` names it and that case carries the matter further. Otherwise
    the escalation itself is the superior's task (their inbox shows it while the case still
    waits in the same state), and if it lapses, ``pbflow tick`` takes it one level higher.
    """

    __tablename__ = "escalation"
    __table_args__ = (
        Index("ix_escalation_org_open", "org_id", "lapsed_at"),
        CheckConstraint("level >= 1", name="escalation_level"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("process_instance.id", ondelete="CASCADE"), index=True
    )
    # The state entry that went overdue: the task is done once the case has left it.
    state: Mapped[str] = mapped_column(String(64))
    entered_version: Mapped[int]
    level: Mapped[int] = mapped_column(default=1)  # 1: the parent, 2: the grandparent ...
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    escalated_at: Mapped[datetime] = mapped_column(default=now)
    due_at: Mapped[datetime]  # when it lapses and goes one level higher
    notified: Mapped[list[int]] = mapped_column(JSON, default=list)
    handled_case_id: Mapped[int | None] = mapped_column(
        ForeignKey("process_instance.id", ondelete="SET NULL")
    )
    lapsed_at: Mapped[datetime | None]

    org: Mapped[Organization] = relationship()
    case: Mapped[ProcessInstance] = relationship(foreign_keys=[instance_id])
