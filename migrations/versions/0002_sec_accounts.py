"""sec-accounts: revocable sessions and the security log

Adds ``user_account.session_token`` (every existing account gets its own random token, which
ends the sessions opened before the upgrade) and the security log: ``security_event`` and its
single-row ``security_head``, append-only by triggers on SQLite and PostgreSQL, like the
process audit chain. Authentication events recorded before this revision stay where they were
written, in the process audit chain.

Revision ID: 0002_sec_accounts
Revises: 0001
Create Date: 2026-12-01 10:00:00

"""
import secrets

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0002_sec_accounts'
down_revision = '0001'
branch_labels = None
depends_on = None


# Frozen here as they were when this revision was written; pbflow.security_log.install_triggers
# holds the same statements for databases built from the models.
SQLITE_TRIGGERS = [
    "CREATE TRIGGER IF NOT EXISTS security_event_no_update BEFORE UPDATE ON security_event BEGIN SELECT RAISE(ABORT, 'security_event is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS security_event_no_delete BEFORE DELETE ON security_event BEGIN SELECT RAISE(ABORT, 'security_event is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS security_head_no_delete BEFORE DELETE ON security_head BEGIN SELECT RAISE(ABORT, 'security_head cannot be deleted'); END",
    "CREATE TRIGGER IF NOT EXISTS security_head_forward BEFORE UPDATE ON security_head WHEN NEW.seq < OLD.seq BEGIN SELECT RAISE(ABORT, 'security_head only moves forward'); END",
]

POSTGRES_TRIGGERS = [
    "CREATE OR REPLACE FUNCTION pbflow_security_append_only() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'security_event is append-only'; END; $$ LANGUAGE plpgsql",
    "CREATE OR REPLACE FUNCTION pbflow_security_head_guard() RETURNS trigger AS $$ BEGIN IF TG_OP <> 'UPDATE' OR NEW.seq < OLD.seq THEN RAISE EXCEPTION 'security_head only moves forward'; END IF; RETURN NEW; END; $$ LANGUAGE plpgsql",
    'DROP TRIGGER IF EXISTS security_event_no_change ON security_event',
    'CREATE TRIGGER security_event_no_change BEFORE UPDATE OR DELETE ON security_event FOR EACH ROW EXECUTE FUNCTION pbflow_security_append_only()',
    'DROP TRIGGER IF EXISTS security_event_no_truncate ON security_event',
    'CREATE TRIGGER security_event_no_truncate BEFORE TRUNCATE ON security_event FOR EACH STATEMENT EXECUTE FUNCTION pbflow_security_append_only()',
    'DROP TRIGGER IF EXISTS security_head_guard ON security_head',
    'CREATE TRIGGER security_head_guard BEFORE UPDATE OR DELETE ON security_head FOR EACH ROW EXECUTE FUNCTION pbflow_security_head_guard()',
    'DROP TRIGGER IF EXISTS security_head_no_truncate ON security_head',
    'CREATE TRIGGER security_head_no_truncate BEFORE TRUNCATE ON security_head FOR EACH STATEMENT EXECUTE FUNCTION pbflow_security_append_only()',
]

GENESIS_HASH = "0" * 64


def upgrade():
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_token', sa.String(length=64), nullable=True))
    bind = op.get_bind()
    accounts = sa.table('user_account', sa.column('id', sa.Integer), sa.column('session_token', sa.String))
    for (user_id,) in bind.execute(sa.select(accounts.c.id)).all():
        bind.execute(
            accounts.update()
            .where(accounts.c.id == user_id)
            .values(session_token=secrets.token_urlsafe(24))
        )
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.alter_column('session_token', existing_type=sa.String(length=64), nullable=False)

    op.create_table('security_event',
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('username', sa.String(length=120), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_security_event')),
    sa.UniqueConstraint('hash', name=op.f('uq_security_event_hash'))
    )
    with op.batch_alter_table('security_event', schema=None) as batch_op:
        batch_op.create_index('ix_security_at', ['at'], unique=False)
        batch_op.create_index('ix_security_user', ['user_id', 'seq'], unique=False)
        batch_op.create_index('ix_security_username', ['username'], unique=False)

    op.create_table('security_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.CheckConstraint('id = 1', name=op.f('ck_security_head_single_row')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_security_head'))
    )
    for stmt in POSTGRES_TRIGGERS if bind.dialect.name == "postgresql" else SQLITE_TRIGGERS:
        bind.exec_driver_sql(stmt)
    op.execute(
        sa.text("INSERT INTO security_head (id, seq, hash) VALUES (1, 0, :h)").bindparams(
            h=GENESIS_HASH
        )
    )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS pbflow_security_append_only() CASCADE")
        op.execute("DROP FUNCTION IF EXISTS pbflow_security_head_guard() CASCADE")
    op.drop_table('security_head')
    with op.batch_alter_table('security_event', schema=None) as batch_op:
        batch_op.drop_index('ix_security_username')
        batch_op.drop_index('ix_security_user')
        batch_op.drop_index('ix_security_at')
    op.drop_table('security_event')
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_column('session_token')
