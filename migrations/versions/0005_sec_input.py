"""a stored file belongs to one owner for good (issue 10)

Revision ID: 0005_sec_input
Revises: 0004_sec_audit
Create Date: 2026-11-28

Adds ``attachment.owner`` ('case' or 'meeting'; existing meeting files become 'meeting'),
the checks that a meeting's file has no case, a unique index so a file is linked to one
meeting at most, and the triggers that keep a stored file's owner kind, organization and
(once set) case fixed. SQLite cannot add table constraints without rebuilding the table, and
rebuilding a table that other tables reference would run their ON DELETE actions, so there
the checks ride on the added column instead (same names, same effect).
"""
from alembic import op
import sqlalchemy as sa


revision = "0005_sec_input"
down_revision = "0004_sec_audit"
branch_labels = None
depends_on = None


# Frozen copies of pbflow.models.process.ATTACHMENT_*_TRIGGERS as of this revision.
SQLITE_TRIGGERS = [
    """CREATE TRIGGER IF NOT EXISTS attachment_owner_fixed BEFORE UPDATE ON attachment
       WHEN NEW.owner IS NOT OLD.owner OR NEW.org_id IS NOT OLD.org_id
         OR (OLD.instance_id IS NOT NULL AND NEW.instance_id IS NOT OLD.instance_id)
       BEGIN SELECT RAISE(ABORT, 'a stored file keeps its owner'); END""",
    """CREATE TRIGGER IF NOT EXISTS meeting_attachment_owner BEFORE INSERT ON meeting_attachment
       WHEN (SELECT owner FROM attachment WHERE id = NEW.attachment_id) IS NOT 'meeting'
       BEGIN SELECT RAISE(ABORT, 'only a meeting''s own file can be linked to it'); END""",
    """CREATE TRIGGER IF NOT EXISTS meeting_attachment_fixed BEFORE UPDATE ON meeting_attachment
       BEGIN SELECT RAISE(ABORT, 'a stored file keeps its owner'); END""",
]
POSTGRES_TRIGGERS = [
    """CREATE OR REPLACE FUNCTION pbflow_attachment_owner_fixed() RETURNS trigger AS $$
       BEGIN
         IF NEW.owner IS DISTINCT FROM OLD.owner OR NEW.org_id IS DISTINCT FROM OLD.org_id
            OR (OLD.instance_id IS NOT NULL AND NEW.instance_id IS DISTINCT FROM OLD.instance_id)
         THEN
           RAISE EXCEPTION 'a stored file keeps its owner';
         END IF;
         RETURN NEW;
       END; $$ LANGUAGE plpgsql""",
    "DROP TRIGGER IF EXISTS attachment_owner_fixed ON attachment",
    """CREATE TRIGGER attachment_owner_fixed BEFORE UPDATE ON attachment
       FOR EACH ROW EXECUTE FUNCTION pbflow_attachment_owner_fixed()""",
    """CREATE OR REPLACE FUNCTION pbflow_meeting_attachment_owner() RETURNS trigger AS $$
       BEGIN
         IF TG_OP = 'UPDATE' THEN
           RAISE EXCEPTION 'a stored file keeps its owner';
         END IF;
         IF (SELECT owner FROM attachment WHERE id = NEW.attachment_id) IS DISTINCT FROM 'meeting'
         THEN
           RAISE EXCEPTION 'only a meeting''s own file can be linked to it';
         END IF;
         RETURN NEW;
       END; $$ LANGUAGE plpgsql""",
    "DROP TRIGGER IF EXISTS meeting_attachment_owner ON meeting_attachment",
    """CREATE TRIGGER meeting_attachment_owner BEFORE INSERT OR UPDATE ON meeting_attachment
       FOR EACH ROW EXECUTE FUNCTION pbflow_meeting_attachment_owner()""",
]
OWNER_CHECK = "owner in ('case','meeting')"
MEETING_FILE_CHECK = "owner = 'case' OR instance_id IS NULL"
MEETING_FILES = "id IN (SELECT attachment_id FROM meeting_attachment)"


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute(
            "ALTER TABLE attachment ADD COLUMN owner VARCHAR(10) DEFAULT 'case' NOT NULL"
            f" CONSTRAINT ck_attachment_owner CHECK ({OWNER_CHECK})"
            f" CONSTRAINT ck_attachment_meeting_file_no_case CHECK ({MEETING_FILE_CHECK})"
        )
        op.execute(f"UPDATE attachment SET owner = 'meeting' WHERE {MEETING_FILES}")
    else:
        op.add_column(
            "attachment",
            sa.Column("owner", sa.String(length=10), nullable=False, server_default="case"),
        )
        op.execute(f"UPDATE attachment SET owner = 'meeting' WHERE {MEETING_FILES}")
        op.alter_column("attachment", "owner", server_default=None)
        op.create_check_constraint("ck_attachment_owner", "attachment", OWNER_CHECK)
        op.create_check_constraint(
            "ck_attachment_meeting_file_no_case", "attachment", MEETING_FILE_CHECK
        )
    op.create_index(
        "uq_meeting_attachment_file", "meeting_attachment", ["attachment_id"], unique=True
    )
    for stmt in POSTGRES_TRIGGERS if bind.dialect.name == "postgresql" else SQLITE_TRIGGERS:
        bind.exec_driver_sql(stmt)


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS pbflow_attachment_owner_fixed() CASCADE")
        op.execute("DROP FUNCTION IF EXISTS pbflow_meeting_attachment_owner() CASCADE")
        op.drop_constraint("ck_attachment_meeting_file_no_case", "attachment", type_="check")
        op.drop_constraint("ck_attachment_owner", "attachment", type_="check")
    else:
        for name in ("attachment_owner_fixed", "meeting_attachment_owner",
                     "meeting_attachment_fixed"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_index("uq_meeting_attachment_file", table_name="meeting_attachment")
    with op.batch_alter_table("attachment", schema=None) as batch_op:
        batch_op.drop_column("owner")
