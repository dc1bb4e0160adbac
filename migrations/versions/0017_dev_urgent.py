"""dev urgent: a workflow's open cases per state by due date (issue 16)

Revision ID: 0017_dev_urgent
Revises: 0016_sup_figures
Create Date: 2026-12-05 22:00:00

``ix_case_workflow_state_due`` (workflow, closed, state, due, id, organization) replaces
``ix_case_workflow_open`` (workflow, closed, organization, state, due): member development's
page above a branch lists each state's most urgent cases by walking it in due order and
stopping after a few, where it numbered every open case of the committee (7,500 at 100,000
cases) to keep a few. The counts per organization and state that the old index served are
read from ``ix_case_workflow_org`` (workflow, organization, closed, state, due, ...), so the
number of indexes a step keeps does not grow.
"""

from alembic import op

revision = "0017_dev_urgent"
down_revision = "0016_sup_figures"
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index("ix_case_workflow_open", table_name="process_instance")
    op.create_index(
        "ix_case_workflow_state_due",
        "process_instance",
        ["workflow_id", "closed_at", "state", "due_at", "id", "org_id"],
        unique=False,
    )
    op.execute("ANALYZE process_instance")


def downgrade():
    op.drop_index("ix_case_workflow_state_due", table_name="process_instance")
    op.create_index(
        "ix_case_workflow_open",
        "process_instance",
        ["workflow_id", "closed_at", "org_id", "state", "due_at"],
        unique=False,
    )
