"""open state due: a workflow's open cases per state by due date, in a partial index

Revision ID: 0020_open_state_due
Revises: 0019_people_name
Create Date: 2026-12-06 07:00:00

``ix_case_open_state_due`` (workflow, state, due, id, organization, closed) where the case is
open. PostgreSQL does not take ``closed_at IS NULL`` for an equality that fixes the column, so
``ix_case_workflow_state_due`` (workflow, closed, state, due, id, organization) could not give
an open state's cases in due order: member development's committee page read every open case
of a stage (6,900 on probation at 100,000 cases) and sorted them to keep twenty. Without the
closed column in the key, each state is walked in due order and the walk stops (5 ms of server
work down to 1). SQLite's walks name it (its statistics favour another index and a sort);
closed_at last lets them read it alone.

``ix_case_workflow_state_due`` stays: a workflow's open cases in other orders (the dashboard's
open notices: SQLite, which takes "closed_at IS NULL" for a rare value, walked every open case
by another index without it, 84 ms) and the cases closed in a stretch of time (the figures'
windows) are read from it. A step that changes a case's state or time limit writes one more
index entry (bench/engine.py: within the machine's noise).
"""

from alembic import op
from sqlalchemy import text

revision = "0020_open_state_due"
down_revision = "0019_people_name"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "ix_case_open_state_due",
        "process_instance",
        ["workflow_id", "state", "due_at", "id", "org_id", "closed_at"],
        unique=False,
        sqlite_where=text("closed_at IS NULL"),
        postgresql_where=text("closed_at IS NULL"),
    )
    op.execute("ANALYZE process_instance")


def downgrade():
    op.drop_index("ix_case_open_state_due", table_name="process_instance")
