"""audit: hash format 2 (salt), seals, signed checkpoints

Revision ID: 0004_sec_audit
Revises: 0003_sec_anon
Create Date: 2026-12-01 10:00:00

An existing chain is not rewritten (it is append-only): its head is marked format 1, and the
first event pbflow appends after this upgrade records the switch (``audit_format_changed``);
from there on every event is in format 2. A chain with no events starts in format 2.
"""
from alembic import op
import sqlalchemy as sa


revision = "0004_sec_audit"
down_revision = "0003_sec_anon"
branch_labels = None
depends_on = None


# Frozen as written for this revision; pbflow.audit.install_triggers holds the same statements
# for databases built from the models.
SQLITE_TRIGGERS = [
    "DROP TRIGGER IF EXISTS audit_head_forward",
    "CREATE TRIGGER audit_head_forward BEFORE UPDATE ON audit_head WHEN NEW.seq < OLD.seq OR NEW.hash_format < OLD.hash_format BEGIN SELECT RAISE(ABORT, 'audit_head only moves forward'); END",
    "DROP TRIGGER IF EXISTS audit_checkpoint_no_update",
    "CREATE TRIGGER audit_checkpoint_no_update BEFORE UPDATE ON audit_checkpoint BEGIN SELECT RAISE(ABORT, 'audit_checkpoint is append-only'); END",
    "DROP TRIGGER IF EXISTS audit_checkpoint_no_delete",
    "CREATE TRIGGER audit_checkpoint_no_delete BEFORE DELETE ON audit_checkpoint BEGIN SELECT RAISE(ABORT, 'audit_checkpoint is append-only'); END",
]

POSTGRES_TRIGGERS = [
    "CREATE OR REPLACE FUNCTION pbflow_audit_append_only() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION USING MESSAGE = TG_TABLE_NAME || ' is append-only'; END; $$ LANGUAGE plpgsql",
    "CREATE OR REPLACE FUNCTION pbflow_audit_head_guard() RETURNS trigger AS $$ BEGIN IF TG_OP <> 'UPDATE' OR NEW.seq < OLD.seq OR NEW.hash_format < OLD.hash_format THEN RAISE EXCEPTION 'audit_head only moves forward'; END IF; RETURN NEW; END; $$ LANGUAGE plpgsql",
    "DROP TRIGGER IF EXISTS audit_checkpoint_no_change ON audit_checkpoint",
    "CREATE TRIGGER audit_checkpoint_no_change BEFORE UPDATE OR DELETE ON audit_checkpoint FOR EACH ROW EXECUTE FUNCTION pbflow_audit_append_only()",
    "DROP TRIGGER IF EXISTS audit_checkpoint_no_truncate ON audit_checkpoint",
    "CREATE TRIGGER audit_checkpoint_no_truncate BEFORE TRUNCATE ON audit_checkpoint FOR EACH STATEMENT EXECUTE FUNCTION pbflow_audit_append_only()",
]


def upgrade():
    op.add_column("audit_event", sa.Column("salt", sa.String(length=32), nullable=True))
    op.add_column("audit_event", sa.Column("seal", sa.String(length=32), nullable=True))
    op.add_column(
        "audit_head",
        sa.Column("hash_format", sa.Integer(), server_default="2", nullable=False),
    )
    # A chain with events was written in format 1: the next append records the switch.
    op.execute("UPDATE audit_head SET hash_format = 1 WHERE seq > 0")
    op.create_table(
        "audit_checkpoint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chain", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoint")),
        sa.UniqueConstraint("chain", "seq", name="uq_audit_checkpoint_chain_seq"),
    )
    bind = op.get_bind()
    for stmt in POSTGRES_TRIGGERS if bind.dialect.name == "postgresql" else SQLITE_TRIGGERS:
        bind.exec_driver_sql(stmt)


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_checkpoint_no_change ON audit_checkpoint")
        op.execute("DROP TRIGGER IF EXISTS audit_checkpoint_no_truncate ON audit_checkpoint")
    op.drop_table("audit_checkpoint")
    with op.batch_alter_table("audit_head") as batch_op:
        batch_op.drop_column("hash_format")
    with op.batch_alter_table("audit_event") as batch_op:
        batch_op.drop_column("seal")
        batch_op.drop_column("salt")
