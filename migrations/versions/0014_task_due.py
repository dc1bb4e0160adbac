"""task due: the work-waiting rows carry their case's time limit (issue 16)

Revision ID: 0014_task_due
Revises: 0013_opinion_facts
Create Date: 2026-12-05 02:00:00

The inbox sorts a holder's work by time limit. With the limit in ``case_task`` (copied from
the case by the engine in the same transaction as every step), the sort and the counts read
one index; before, every case waiting on a committee was joined and sorted (0.2 s for a
committee secretary at 100,000 cases). Backfilled from the cases here.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_task_due"
down_revision = "0013_opinion_facts"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("case_task", schema=None) as batch_op:
        batch_op.add_column(sa.Column("due_at", sa.DateTime(), nullable=True))
        batch_op.drop_index("ix_case_task_holder")
    _backfill(op.get_bind())
    op.create_index(
        "ix_case_task_holder_due",
        "case_task",
        ["holder", "due_at", "instance_id", "kind"],
        unique=False,
    )


def _backfill(conn):
    conn.execute(
        sa.text(
            "UPDATE case_task SET due_at = (SELECT process_instance.due_at FROM process_instance"
            " WHERE process_instance.id = case_task.instance_id)"
        )
    )


def downgrade():
    op.drop_index("ix_case_task_holder_due", table_name="case_task")
    with op.batch_alter_table("case_task", schema=None) as batch_op:
        batch_op.create_index("ix_case_task_holder", ["holder", "instance_id"], unique=False)
        batch_op.drop_column("due_at")
