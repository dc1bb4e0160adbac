"""people by name: the people list reads a page from an index in order

Revision ID: 0019_people_name
Revises: 0018_audit_indexes
Create Date: 2026-12-06 00:40:00

``ix_person_name`` (name, id) is the list's order: a committee secretary's page is read from
the index and stops after it, where every person of the committee (24,000 at 100,000 cases)
was read and sorted to show 25.
"""

from alembic import op

revision = "0019_people_name"
down_revision = "0018_audit_indexes"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_person_name", "person", ["name", "id"], unique=False)
    op.execute("ANALYZE person")


def downgrade():
    op.drop_index("ix_person_name", table_name="person")
