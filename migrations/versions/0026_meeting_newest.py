"""meeting newest: the meetings list read in its order, by an index

Revision ID: 0026_meeting_newest
Revises: 0025_notification_pages
Create Date: 2026-12-07 19:15:00

The meetings list shows the meetings a reader may read, newest first (held on, then id).
``ix_meeting_held`` (held_on, id) gives a page's rows in that order: with only
``ix_meeting_org_held`` (organization, held on) a committee's every page read and sorted
every meeting of its organizations, a number that grows with each year of meetings.
"""

from alembic import op

revision = "0026_meeting_newest"
down_revision = "0025_notification_pages"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_meeting_held", "meeting", ["held_on", "id"], unique=False)


def downgrade():
    op.drop_index("ix_meeting_held", table_name="meeting")
