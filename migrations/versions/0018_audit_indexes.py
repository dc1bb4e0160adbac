"""audit indexes: the audit search by dates from the index alone, two indexes fewer per event

Revision ID: 0018_audit_indexes
Revises: 0017_dev_urgent
Create Date: 2026-12-05 22:30:00

``ix_audit_at_seq`` (at, seq) replaces ``ix_audit_at`` (at): the search by dates finds a
page's sequence numbers in the index alone (PostgreSQL; SQLite's index holds the row id
already) and reads only those rows, where it read every event of the period to sort them.
``ix_audit_action`` and ``ix_audit_org`` go: ``ix_audit_action_seq`` and ``ix_audit_org_seq``
begin with the same column and serve every look-up they served, and each index is one more
write for every event appended.
"""

from alembic import op

revision = "0018_audit_indexes"
down_revision = "0017_dev_urgent"
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index("ix_audit_action", table_name="audit_event")
    op.drop_index("ix_audit_org", table_name="audit_event")
    op.drop_index("ix_audit_at", table_name="audit_event")
    op.create_index("ix_audit_at_seq", "audit_event", ["at", "seq"], unique=False)
    op.execute("ANALYZE audit_event")


def downgrade():
    op.drop_index("ix_audit_at_seq", table_name="audit_event")
    op.create_index("ix_audit_at", "audit_event", ["at"], unique=False)
    op.create_index("ix_audit_org", "audit_event", ["org_id"], unique=False)
    op.create_index("ix_audit_action", "audit_event", ["action"], unique=False)
