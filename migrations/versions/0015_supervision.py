"""supervision: the indexes the dashboard's figures read at 100,000 cases (issue 16)

Revision ID: 0015_supervision
Revises: 0014_task_due
Create Date: 2026-12-05 02:00:00

``ix_case_workflow_org`` holds, per workflow and organization, every column the supervision
figures count (closed, state, due, waiting since, created): open and overdue or stuck work,
supervision notices and rectification items per organization are counted from the index
alone, in the order they are grouped, instead of reading every case.
``ix_person_org_members`` (replacing ``ix_person_org_id``, its first column) holds what the
membership statistics count of each organization's people. ``ix_case_open_waiting``
(replacing ``ix_case_open_since``) holds the open cases only, by how long they have waited:
PostgreSQL reads "the open cases waiting longest" from it in order, which it did not from
(closed_at, state_entered_at).
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_supervision"
down_revision = "0014_task_due"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "ix_case_workflow_org",
        "process_instance",
        [
            "workflow_id",
            "org_id",
            "closed_at",
            "state",
            "due_at",
            "state_entered_at",
            "created_at",
        ],
        unique=False,
    )
    op.drop_index("ix_person_org_id", table_name="person")
    op.create_index(
        "ix_person_org_members",
        "person",
        [
            "org_id",
            "party_status",
            "active",
            "admitted_on",
            "full_member_on",
            "birth_date",
            "gender",
            "education",
        ],
        unique=False,
    )
    op.drop_index("ix_case_open_since", table_name="process_instance")
    op.create_index(
        "ix_case_open_waiting",
        "process_instance",
        ["state_entered_at", "id"],
        unique=False,
        sqlite_where=sa.text("closed_at IS NULL"),
        postgresql_where=sa.text("closed_at IS NULL"),
    )
    # The planner weighs the new indexes by their statistics (SQLite keeps none until asked).
    op.execute("ANALYZE process_instance")
    op.execute("ANALYZE person")


def downgrade():
    op.drop_index("ix_case_open_waiting", table_name="process_instance")
    op.create_index(
        "ix_case_open_since", "process_instance", ["closed_at", "state_entered_at"], unique=False
    )
    op.drop_index("ix_person_org_members", table_name="person")
    op.create_index("ix_person_org_id", "person", ["org_id"], unique=False)
    op.drop_index("ix_case_workflow_org", table_name="process_instance")
