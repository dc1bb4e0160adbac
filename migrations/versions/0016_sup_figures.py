"""sup figures: cases counted per measure and month (case_tally), filled from every case

Revision ID: 0016_sup_figures
Revises: 0015_supervision
Create Date: 2026-12-05 22:00:00

``case_tally`` holds what the dashboards count of cases, per measure, workflow, state,
organization and UTC month (pbflow.engine.tally): the engine keeps it in the same transaction
as every change of a case; this migration fills it from every case with the same computation
(the installed procedures' measures included). ``ix_case_open_due`` (replacing
``ix_case_due``) holds the open cases by time limit with their workflow and organization, and
``ix_case_open_waiting`` gains the same two columns (and both the closing time, always NULL
there, which SQLite 3.40 needs to read a partial index alone): the part of a month between its start and
now is counted from those indexes alone. ``rectification_deadline``, a generated column (as
0013's opinion facts), and its index of the open items (``ix_case_open_deadline``) do the same
for the rectification items overdue on a day. ``ix_person_probation_end`` and
``ix_person_full_member`` let the member development figures find the people whose full
membership can fall in a period by their dates; with ``ix_person_admitted`` and
``ix_person_birth`` the membership statistics read the people admitted or made full members
since a day, or born next to an age band's limit, by range (the rest comes from the tally).
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_sup_figures"
down_revision = "0015_supervision"
branch_labels = None
depends_on = None

MONTHS = [f"c{i}" for i in range(1, 13)]  # running counts over a year's months
DEADLINE = "rectification_deadline"


def upgrade():
    op.create_table(
        "case_tally",
        sa.Column("measure", sa.String(length=24), nullable=False),
        sa.Column("workflow_id", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=120), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        *(sa.Column(m, sa.Integer(), nullable=False) for m in MONTHS),
        sa.PrimaryKeyConstraint(
            "measure", "workflow_id", "org_id", "state", "year", name="pk_case_tally"
        ),
        sqlite_with_rowid=False,
    )
    op.drop_index("ix_case_due", table_name="process_instance")
    op.create_index(
        "ix_case_open_due",
        "process_instance",
        ["due_at", "workflow_id", "org_id", "closed_at"],
        unique=False,
        sqlite_where=sa.text("closed_at IS NULL"),
        postgresql_where=sa.text("closed_at IS NULL"),
    )
    op.drop_index("ix_case_open_waiting", table_name="process_instance")
    op.create_index(
        "ix_case_open_waiting",
        "process_instance",
        ["state_entered_at", "id", "workflow_id", "org_id", "closed_at"],
        unique=False,
        sqlite_where=sa.text("closed_at IS NULL"),
        postgresql_where=sa.text("closed_at IS NULL"),
    )
    # A rectification item's deadline as a generated column (as 0013's opinion facts: STORED
    # on PostgreSQL, which rewrites the table once; VIRTUAL on SQLite, added in place), and
    # the open items by it.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"ALTER TABLE process_instance ADD COLUMN {DEADLINE} VARCHAR GENERATED ALWAYS AS"
            " (CASE WHEN workflow_id = 'rectification' THEN data ->> 'deadline' END) STORED"
        )
    else:
        op.add_column(
            "process_instance",
            sa.Column(
                DEADLINE,
                sa.String(),
                sa.Computed(
                    sa.text(
                        "CASE WHEN workflow_id = 'rectification'"
                        " THEN json_extract(data, '$.deadline') END"
                    ),
                    persisted=False,
                ),
            ),
        )
    op.create_index(
        "ix_case_open_deadline",
        "process_instance",
        [DEADLINE, "org_id"],
        unique=False,
        sqlite_where=sa.text(f"closed_at IS NULL AND {DEADLINE} IS NOT NULL"),
        postgresql_where=sa.text(f"closed_at IS NULL AND {DEADLINE} IS NOT NULL"),
    )
    op.create_index("ix_person_probation_end", "person", ["probation_end_on"], unique=False)
    op.create_index("ix_person_full_member", "person", ["full_member_on"], unique=False)
    op.create_index("ix_person_admitted", "person", ["admitted_on"], unique=False)
    op.create_index("ix_person_birth", "person", ["birth_date"], unique=False)
    _backfill()
    op.execute("ANALYZE process_instance")
    op.execute("ANALYZE case_tally")
    op.execute("ANALYZE person")


def _backfill():
    """Every case's and person's contributions, computed by the code that keeps them."""
    from pbflow.engine import tally

    bind = op.get_bind()
    rows = tally.expected(connection=bind)  # on the migration's own connection
    if rows:
        table = sa.table(
            "case_tally",
            *(sa.column(c) for c in ("measure", "workflow_id", "state", "org_id", "year")),
            *(sa.column(m) for m in MONTHS),
        )
        batch = []
        for (measure, wf, state, org, year), months in sorted(rows.items()):
            months = tally._running(months)
            batch.append(
                {
                    "measure": measure,
                    "workflow_id": wf,
                    "state": state,
                    "org_id": org,
                    "year": year,
                    **dict(zip(MONTHS, months, strict=True)),
                }
            )
            if len(batch) == 5000:
                bind.execute(table.insert(), batch)
                batch = []
        if batch:
            bind.execute(table.insert(), batch)


def downgrade():
    op.drop_index("ix_person_birth", table_name="person")
    op.drop_index("ix_person_admitted", table_name="person")
    op.drop_index("ix_person_full_member", table_name="person")
    op.drop_index("ix_person_probation_end", table_name="person")
    op.drop_index("ix_case_open_deadline", table_name="process_instance")
    op.drop_column("process_instance", DEADLINE)
    op.drop_index("ix_case_open_waiting", table_name="process_instance")
    op.create_index(
        "ix_case_open_waiting",
        "process_instance",
        ["state_entered_at", "id"],
        unique=False,
        sqlite_where=sa.text("closed_at IS NULL"),
        postgresql_where=sa.text("closed_at IS NULL"),
    )
    op.drop_index("ix_case_open_due", table_name="process_instance")
    op.create_index("ix_case_due", "process_instance", ["due_at"], unique=False)
    op.drop_table("case_tally")
