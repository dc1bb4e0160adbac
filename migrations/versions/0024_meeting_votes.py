"""meeting votes: the resolutions a meeting put to the vote, with their counts and outcome

Revision ID: 0024_meeting_votes
Revises: 0023_training_total
Create Date: 2026-12-07 06:00:00

DOMAIN.md 3: a meeting keeps its resolutions with their vote counts, and the branch general
meeting decides by more than half of the voting members who should attend. ``meeting.votes``
holds, per resolution put to the vote at a general or committee meeting, its wording, the
votes for, against and abstaining, how many were entitled to vote and whether it passed
(``pbflow.procedures.three_meetings.meeting_votes``). Records made before have none (NULL):
their resolutions stay in the text they were written in.
"""

import sqlalchemy as sa
from alembic import op

revision = "0024_meeting_votes"
down_revision = "0023_training_total"
branch_labels = None
depends_on = None


def upgrade():
    # Added in place on SQLite too: a batch rebuild of ``meeting`` would drop the table its
    # attendance, files and corrections refer to.
    op.add_column("meeting", sa.Column("votes", sa.JSON(), nullable=True))


def downgrade():
    op.execute("ALTER TABLE meeting DROP COLUMN votes")  # SQLite 3.35+ and PostgreSQL alike
