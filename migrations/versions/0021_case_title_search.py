"""case title search: a trigram index of the cases' titles for the case list's text search

Revision ID: 0021_case_title_search
Revises: 0020_open_state_due
Create Date: 2026-12-06 09:45:00

The list's search for a piece of a title read every case (110 ms on SQLite, 45 ms of server
work on PostgreSQL at 100,000 cases, for a text no case holds). PostgreSQL gets pg_trgm's GIN
index on the title (left out, with a warning, where the extension is not offered); SQLite an
FTS5 trigram table over the titles, kept by triggers in each case's own transaction and
filled here from the cases there are (pbflow.title_search).
"""

from alembic import op

from pbflow import title_search

revision = "0021_case_title_search"
down_revision = "0020_open_state_due"
branch_labels = None
depends_on = None


def upgrade():
    title_search.install(op.get_bind())


def downgrade():
    title_search.uninstall(op.get_bind())
