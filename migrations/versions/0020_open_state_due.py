"""open state due: a workflow's open cases per state by due date, in a partial index

Revision ID: 0020_open_state_due
Revises: 0019_people_name
Create Date: 2026-12-06 07:00:00

``ix_case_open_state_due`` (workflow, state, due, id, organization, closed) where the case is
open replaces ``ix_case_workflow_state_due`` (workflow, closed, state, due, id, organization).
PostgreSQL does not take ``closed_at IS NULL`` for an equality that fixes the column, so
the old index could not give an open state's cases in due order: member development's
committee page read every open case of a stage (6,900 on probation at 100,000 cases) and
sorted them to keep twenty. Without the closed column in the key, each state is walked in
due order and the walk stops (5 ms of server work down to 1). SQLite's walks name it (its
statistics favour another index and a sort); closed_at last lets them read it alone. One
index replaces another, and closed cases leave it: a step writes no more than before.

The old index also gave the figures' windows a workflow's cases closed in a stretch of time
(``workflow_id = ? AND closed_at >= ? AND closed_at < ?``, tally.windows): without it
PostgreSQL walked every case of the workflow (the committee's dashboard: 0.2 -> 1.9 ms a
statement). ``ix_case_workflow_closed`` (workflow, closed, state, organization) where the case
is closed keeps them index-only; a case enters it once, when it closes.
"""

from alembic import op
from sqlalchemy import text

revision = "0020_open_state_due"
down_revision = "0019_people_name"
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index("ix_case_workflow_state_due", table_name="process_instance")
    op.create_index(
        "ix_case_open_state_due",
        "process_instance",
        ["workflow_id", "state", "due_at", "id", "org_id", "closed_at"],
        unique=False,
        sqlite_where=text("closed_at IS NULL"),
        postgresql_where=text("closed_at IS NULL"),
    )
    op.create_index(
        "ix_case_workflow_closed",
        "process_instance",
        ["workflow_id", "closed_at", "state", "org_id"],
        unique=False,
        sqlite_where=text("closed_at IS NOT NULL"),
        postgresql_where=text("closed_at IS NOT NULL"),
    )
    op.execute("ANALYZE process_instance")


def downgrade():
    op.drop_index("ix_case_workflow_closed", table_name="process_instance")
    op.drop_index("ix_case_open_state_due", table_name="process_instance")
    op.create_index(
        "ix_case_workflow_state_due",
        "process_instance",
        ["workflow_id", "closed_at", "state", "due_at", "id", "org_id"],
        unique=False,
    )
