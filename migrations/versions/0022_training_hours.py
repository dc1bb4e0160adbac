"""training hours: the hours a study meeting gives, and members' other training

Revision ID: 0022_training_hours
Revises: 0021_case_title_search
Create Date: 2026-12-06 12:00:00

DOMAIN.md 3: each member receives at least 32 hours of training a year. A meeting record
may carry the training it gave each member present (``meeting.training_minutes``, in whole
half hours); ``training_record`` holds the training a member received elsewhere (party
school, online courses, the committee's classes), entered by the branch.
"""

import sqlalchemy as sa
from alembic import op

revision = "0022_training_hours"
down_revision = "0021_case_title_search"
branch_labels = None
depends_on = None


MEETING_CHECK = (
    "training_minutes IS NULL OR (training_minutes > 0 AND training_minutes <= 1440"
    " AND training_minutes % 30 = 0)"
)


def upgrade():
    if op.get_bind().dialect.name == "sqlite":
        # A column with its CHECK added in place: a batch rebuild of ``meeting`` would drop
        # the table its attendance, files and corrections refer to.
        op.execute(
            "ALTER TABLE meeting ADD COLUMN training_minutes INTEGER"
            f" CONSTRAINT ck_meeting_meeting_training_minutes CHECK ({MEETING_CHECK})"
        )
    else:
        op.add_column("meeting", sa.Column("training_minutes", sa.Integer(), nullable=True))
        op.create_check_constraint("ck_meeting_meeting_training_minutes", "meeting", MEETING_CHECK)
    op.create_table(
        "training_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("taken_on", sa.Date(), nullable=False),
        sa.Column("course", sa.String(length=200), nullable=False),
        sa.Column("provider", sa.String(length=200), nullable=True),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("recorded_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "minutes > 0 AND minutes <= 1440 AND minutes % 30 = 0",
            name=op.f("ck_training_record_training_minutes"),
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_training_record_training_version")),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organization.id"],
            name=op.f("fk_training_record_org_id_organization"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_training_record_person_id_person"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"],
            ["user_account.id"],
            name=op.f("fk_training_record_recorded_by_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_record")),
    )
    op.create_index("ix_training_person_day", "training_record", ["person_id", "taken_on"])
    op.create_index("ix_training_org_day", "training_record", ["org_id", "taken_on"])


def downgrade():
    op.drop_index("ix_training_org_day", table_name="training_record")
    op.drop_index("ix_training_person_day", table_name="training_record")
    op.drop_table("training_record")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("ck_meeting_meeting_training_minutes", "meeting", type_="check")
    # SQLite (3.35+) drops a column whose CHECK names only itself.
    op.execute("ALTER TABLE meeting DROP COLUMN training_minutes")
