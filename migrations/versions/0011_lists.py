"""lists: indexes for the case list and the audit search at scale (issue 16)

Revision ID: 0011_lists
Revises: 0010_tasks
Create Date: 2026-12-04 22:00:00

The case list sorts by the last change (newest first) over all cases, open cases, an
organization's cases and a workflow state's cases; its keyset pages walk these indexes. The
audit search reads newest first by sequence number for an actor, an action or organizations.
"""
from alembic import op


revision = "0011_lists"
down_revision = "0010_tasks"
branch_labels = None
depends_on = None

CASE_INDEXES = {
    "ix_case_updated": ["updated_at", "id"],
    "ix_case_open_updated": ["closed_at", "updated_at", "id"],
    "ix_case_org_open_updated": ["org_id", "closed_at", "updated_at"],
    "ix_case_workflow_state_updated": ["workflow_id", "state", "updated_at"],
    "ix_case_workflow_updated": ["workflow_id", "updated_at", "id"],
    "ix_case_workflow_open": ["workflow_id", "closed_at", "org_id", "state", "due_at"],
}
AUDIT_INDEXES = {
    "ix_audit_actor_label_seq": ["actor_label", "seq"],
    "ix_audit_action_seq": ["action", "seq"],
    "ix_audit_org_seq": ["org_id", "seq"],
}


def upgrade():
    with op.batch_alter_table("process_instance", schema=None) as batch_op:
        for name, columns in CASE_INDEXES.items():
            batch_op.create_index(name, columns, unique=False)
    # audit_event is append-only (triggers): indexes are added without rebuilding the table.
    for name, columns in AUDIT_INDEXES.items():
        op.create_index(name, "audit_event", columns, unique=False)


def downgrade():
    for name in AUDIT_INDEXES:
        op.drop_index(name, table_name="audit_event")
    with op.batch_alter_table("process_instance", schema=None) as batch_op:
        for name in CASE_INDEXES:
            batch_op.drop_index(name)
