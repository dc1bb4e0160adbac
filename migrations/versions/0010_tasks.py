"""tasks: work waiting, as data (case_task), filled for every open case

Revision ID: 0010_tasks
Revises: 0009_api
Create Date: 2026-12-04 22:00:00

``case_task`` holds who each open case waits on (pbflow.engine.tasks): the engine keeps it in
the same transaction as every step; this migration fills it for the cases already open, with
the same computation, on the migration's own connection.
"""
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0010_tasks"
down_revision = "0009_api"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "case_task",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("trigger", sa.String(length=64), nullable=False),
        sa.Column("since", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["instance_id"], ["process_instance.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("case_task", schema=None) as batch_op:
        batch_op.create_index("ix_case_task_holder", ["holder", "instance_id"], unique=False)
        batch_op.create_index("ix_case_task_instance", ["instance_id"], unique=False)
    _backfill(op.get_bind())


def _backfill(conn):
    from pbflow.engine import tasks
    from pbflow.engine.actors import OrgNode
    from pbflow.engine.definitions import parse
    from pbflow.engine.registry import registry

    org = sa.table(
        "organization",
        sa.column("id"),
        sa.column("parent_id"),
        sa.column("kind"),
        sa.column("path"),
        sa.column("name"),
        sa.column("name_en"),
    )
    index = {r.id: OrgNode(*r) for r in conn.execute(sa.select(org))}
    wd = sa.table("workflow_definition", sa.column("id"), sa.column("workflow_id"),
                  sa.column("revision"), sa.column("source"))
    rules = registry().rules
    definitions = {}
    for r in conn.execute(sa.select(wd)):
        definitions[r.id] = parse(r.source, f"{r.workflow_id} (stored revision {r.revision})",
                                  rules)
    pi = sa.table(
        "process_instance",
        sa.column("id"),
        sa.column("definition_id"),
        sa.column("org_id"),
        sa.column("state"),
        sa.column("data", sa.JSON),
        sa.column("subject_person_id"),
        sa.column("submitter_user_id"),
        sa.column("assignee_user_id"),
        sa.column("closed_at"),
    )
    ct = sa.table(
        "case_task",
        sa.column("instance_id"),
        sa.column("holder"),
        sa.column("kind"),
        sa.column("trigger"),
        sa.column("since", sa.DateTime),
    )
    now = datetime.now(UTC).replace(tzinfo=None)
    batch = []
    for case in conn.execute(sa.select(pi).where(pi.c.closed_at.is_(None)).order_by(pi.c.id)):
        d = definitions.get(case.definition_id)
        if d is None or case.state not in d.states:
            continue
        for holder, kind, trigger in sorted(tasks.compute(d, case, index)):
            batch.append({"instance_id": case.id, "holder": holder, "kind": kind,
                          "trigger": trigger, "since": now})
        if len(batch) >= 5000:
            conn.execute(ct.insert(), batch)
            batch = []
    if batch:
        conn.execute(ct.insert(), batch)


def downgrade():
    with op.batch_alter_table("case_task", schema=None) as batch_op:
        batch_op.drop_index("ix_case_task_instance")
        batch_op.drop_index("ix_case_task_holder")
    op.drop_table("case_task")
