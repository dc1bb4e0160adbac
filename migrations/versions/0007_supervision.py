"""supervision: escalations one level up, supervision notices' links

Revision ID: 0007_supervision
Revises: 0006_calendar
Create Date: 2026-12-04 20:00:00

``escalation``: an overdue case taken to its superior organization (pbflow.engine.timers);
``supervision_notice``: what each supervision notice case is about; two indexes on cases
for the dashboard (open cases by how long they wait, a workflow's cases by when they came).
"""
from alembic import op
import sqlalchemy as sa


revision = "0007_supervision"
down_revision = "0006_calendar"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("process_instance", schema=None) as batch_op:
        batch_op.create_index(
            "ix_case_open_since", ["closed_at", "state_entered_at"], unique=False
        )
        batch_op.create_index(
            "ix_case_workflow_created", ["workflow_id", "created_at"], unique=False
        )
    op.create_table(
        "escalation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=64), nullable=False),
        sa.Column("entered_version", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("escalated_at", sa.DateTime(), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("notified", sa.JSON(), nullable=False),
        sa.Column("handled_case_id", sa.Integer(), nullable=True),
        sa.Column("lapsed_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("level >= 1", name="escalation_level"),
        sa.ForeignKeyConstraint(["handled_case_id"], ["process_instance.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["instance_id"], ["process_instance.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["org_id"], ["organization.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("escalation", schema=None) as batch_op:
        batch_op.create_index("ix_escalation_org_open", ["org_id", "lapsed_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_escalation_instance_id"), ["instance_id"], unique=False)

    op.create_table(
        "supervision_notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("concerns", sa.String(length=10), nullable=False),
        sa.Column("concerns_case_id", sa.Integer(), nullable=True),
        sa.Column("concerns_org_id", sa.Integer(), nullable=False),
        sa.Column("meeting_type", sa.String(length=30), nullable=True),
        sa.Column("period_start", sa.Date(), nullable=True),
        sa.Column("period_end", sa.Date(), nullable=True),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("escalated_from_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("concerns in ('case','meeting','general')", name="notice_concerns"),
        sa.CheckConstraint(
            "meeting_type IS NULL OR meeting_type in ('general_meeting','committee_meeting',"
            "'group_meeting','party_lecture','theme_day')",
            name="notice_meeting_type",
        ),
        sa.CheckConstraint("level >= 0", name="notice_level"),
        sa.ForeignKeyConstraint(["case_id"], ["process_instance.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["concerns_case_id"], ["process_instance.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["concerns_org_id"], ["organization.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["escalated_from_id"], ["process_instance.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id"),
    )
    with op.batch_alter_table("supervision_notice", schema=None) as batch_op:
        batch_op.create_index(
            "ix_supervision_notice_meeting",
            ["concerns_org_id", "meeting_type", "period_start"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_supervision_notice_concerns_case_id"), ["concerns_case_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_supervision_notice_concerns_org_id"), ["concerns_org_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("process_instance", schema=None) as batch_op:
        batch_op.drop_index("ix_case_workflow_created")
        batch_op.drop_index("ix_case_open_since")
    op.drop_table("supervision_notice")
    op.drop_table("escalation")
