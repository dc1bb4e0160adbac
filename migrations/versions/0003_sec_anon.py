"""Rate-limit windows with their own random keys (issue 10, anonymous opinions).

The old counters were keyed by HMAC(secret key, bucket | window | address), which anyone
holding the database and the secret key can reverse by trying addresses; they are dropped,
not converted (they only ever mattered for the current window). New counters hang off a
``rate_window`` row holding that window's random key, deleted with them once it is over.

Revision ID: 0003_sec_anon
Revises: 0002_sec_accounts
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_sec_anon"
down_revision = "0002_sec_accounts"
branch_labels = None
depends_on = None


def _old_counter_table():
    op.create_table(
        "rate_counter",
        sa.Column("bucket", sa.String(length=32), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("window_start", sa.DateTime(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("bucket", "key_hash", "window_start", name=op.f("pk_rate_counter")),
    )
    with op.batch_alter_table("rate_counter", schema=None) as batch_op:
        batch_op.create_index("ix_rate_counter_window", ["window_start"], unique=False)


def _drop_counter_table():
    with op.batch_alter_table("rate_counter", schema=None) as batch_op:
        batch_op.drop_index("ix_rate_counter_window")
    op.drop_table("rate_counter")


def upgrade():
    _drop_counter_table()
    op.create_table(
        "rate_window",
        sa.Column("window_start", sa.DateTime(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("window_start", name=op.f("pk_rate_window")),
    )
    op.create_table(
        "rate_counter",
        sa.Column("bucket", sa.String(length=32), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("window_start", sa.DateTime(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["window_start"],
            ["rate_window.window_start"],
            name=op.f("fk_rate_counter_window_start_rate_window"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("bucket", "key_hash", "window_start", name=op.f("pk_rate_counter")),
    )
    with op.batch_alter_table("rate_counter", schema=None) as batch_op:
        batch_op.create_index("ix_rate_counter_window", ["window_start"], unique=False)


def downgrade():
    _drop_counter_table()
    op.drop_table("rate_window")
    _old_counter_table()
