"""notification pages: a reader's notifications newest first, by an index

Revision ID: 0025_notification_pages
Revises: 0024_meeting_votes
Create Date: 2026-12-07 17:00:00

The inbox shows a reader's ten newest notifications, unread first; the notifications page
(``/notifications``) and the API list every one of them, newest first, a page at a time.
``ix_notification_user_newest`` (user, id) gives a page's rows in that order: with only
``ix_notification_user_read`` (user, read time) each page read and sorted every notification
the reader ever had.
"""

from alembic import op

revision = "0025_notification_pages"
down_revision = "0024_meeting_votes"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_notification_user_newest", "notification", ["user_id", "id"], unique=False)


def downgrade():
    op.drop_index("ix_notification_user_newest", table_name="notification")
