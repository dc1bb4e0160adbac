"""person: the audit search's index of the people each event names (issue 16)

Revision ID: 0012_person
Revises: 0011_lists
Create Date: 2026-12-04 23:40:00

``audit_person`` lists, for each event, the people its payload names (every integer
``person_id``, at any depth); the search by person reads it by (person_id, seq) instead of
matching text in every payload. Backfilled here from the existing events, in batches.
"""

import sqlalchemy as sa
from alembic import op


revision = "0012_person"
down_revision = "0011_lists"
branch_labels = None
depends_on = None

BATCH = 5000


def upgrade():
    op.create_table(
        "audit_person",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("person_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("seq", "person_id"),
    )
    op.create_index(
        "ix_audit_person_person_seq", "audit_person", ["person_id", "seq"], unique=False
    )
    _backfill(op.get_bind())


def _backfill(conn):
    from pbflow.audit import payload_persons

    event = sa.table("audit_event", sa.column("seq"), sa.column("payload"))
    person = sa.table("audit_person", sa.column("seq"), sa.column("person_id"))
    after = 0
    while True:
        rows = conn.execute(
            sa.select(event.c.seq, event.c.payload)
            .where(event.c.seq > after)
            .order_by(event.c.seq)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        after = rows[-1].seq
        named = [{"seq": r.seq, "person_id": p} for r in rows for p in payload_persons(r.payload)]
        if named:
            conn.execute(person.insert(), named)


def downgrade():
    op.drop_index("ix_audit_person_person_seq", table_name="audit_person")
    op.drop_table("audit_person")
