"""Figures kept as data: cases counted per measure, workflow, state, organization and month
(pbflow.engine.tally).

One row per (measure, workflow, state, organization, year) with running counts over the
months of that year (UTC months): ``c1`` .. ``c12``, ``ck`` counting months 1 to k, so that
whatever a count is taken over (the months before one, a whole year, a few months) it reads
one or two columns of a row. A measure counts something of a case at a time: an
open case at its time limit (``due``) and at the time it entered its state (``entered``),
every case at its start (``created``) and a closed one at its end (``closed``, per final
state), an open case per state (``open``: a timeless measure, year 0, month 1),
and what a procedure counts of its own cases (an opinion's facts at its receipt, a
rectification item's deadline, a life meeting's day), and what a procedure counts of people
(members by status, sex, education, birth and full membership, kept for each organization
above them too; ``workflow_id`` ""). ``state`` is "" for measures not counted per state (or
names the value counted). A count over a time range reads a few rows per organization (one per
year) instead of every case; the engine changes them in the same transaction as every
change of a case, and ``pbflow figures check`` recomputes them from the cases.
"""

from __future__ import annotations

from sqlalchemy import Integer, PrimaryKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from pbflow.extensions import db

MONTHS = tuple(f"c{i}" for i in range(1, 13))  # running counts: months 1 to k of the year


class CaseTally(db.Model):
    __tablename__ = "case_tally"
    __table_args__ = (
        # Read by measure and workflow, then organization: a figure reads one range of it.
        PrimaryKeyConstraint("measure", "workflow_id", "org_id", "state", "year"),
        # The rows are the primary key's own (no separate table on SQLite).
        {"sqlite_with_rowid": False},
    )

    measure: Mapped[str] = mapped_column(String(24))
    workflow_id: Mapped[str] = mapped_column(String(64))
    org_id: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(120), default="")
    year: Mapped[int] = mapped_column(Integer)
    c1: Mapped[int] = mapped_column(default=0)
    c2: Mapped[int] = mapped_column(default=0)
    c3: Mapped[int] = mapped_column(default=0)
    c4: Mapped[int] = mapped_column(default=0)
    c5: Mapped[int] = mapped_column(default=0)
    c6: Mapped[int] = mapped_column(default=0)
    c7: Mapped[int] = mapped_column(default=0)
    c8: Mapped[int] = mapped_column(default=0)
    c9: Mapped[int] = mapped_column(default=0)
    c10: Mapped[int] = mapped_column(default=0)
    c11: Mapped[int] = mapped_column(default=0)
    c12: Mapped[int] = mapped_column(default=0)
